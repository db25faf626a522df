//! The ternary block formats (docs/formats.md): block geometry, code positions, checked size
//! arithmetic, and the length checks every user of the formats shares.
//!
//! This module owns the numbers — elements and bytes per block, where each element's code sits,
//! bytes per row and per tensor — and nothing else: no decoding, no I/O, and no import from the
//! rest of the crate (every other module builds on it). Every size is computed with checked
//! arithmetic so a hostile shape turns into `None` instead of a wrapped number.

use core::fmt;

/// The flavors of ggml type 36 (I2_S), told apart by size (see [`crate::detect_flavor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flavor {
    /// 256-element blocks of 64 code bytes, one per-tensor scale from a `.scale` sibling.
    Qk256,
    /// 32-element blocks of 8 code bytes followed by an f16 block scale `d`.
    BitNet32F16,
    /// What bitnet.cpp writes: the whole tensor's codes in 128-element groups of 32 bytes
    /// (high bits first), then one f32 scale and 28 ignored bytes.
    BitnetCpp,
}

impl Flavor {
    /// Every flavor, in the order detection reports them.
    pub const ALL: [Flavor; 3] = [Flavor::Qk256, Flavor::BitNet32F16, Flavor::BitnetCpp];

    /// The lowercase name used in JSON and messages: `"qk256"`, `"bitnet32f16"`, `"bitnetcpp"`.
    pub fn name(self) -> &'static str {
        TernaryFormat::from(self).name()
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every 2-bit ternary format this crate decodes: the three I2_S flavors and ggml's TQ2_0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TernaryFormat {
    /// I2_S, QK256 flavor: 256 elements in 64 bytes, no scale inside the block.
    Qk256,
    /// I2_S, BitNet32F16 flavor: 32 elements in 8 code bytes plus an f16 scale (10 bytes).
    BitNet32F16,
    /// I2_S as bitnet.cpp writes it: the tensor's codes in groups of 128 elements (32 bytes),
    /// then a 32-byte tail holding the tensor's f32 scale.
    BitnetCpp,
    /// ggml TQ2_0 (type 35): a QK256 code block followed by an f16 scale (66 bytes).
    Tq2_0,
}

impl From<Flavor> for TernaryFormat {
    fn from(flavor: Flavor) -> Self {
        match flavor {
            Flavor::Qk256 => TernaryFormat::Qk256,
            Flavor::BitNet32F16 => TernaryFormat::BitNet32F16,
            Flavor::BitnetCpp => TernaryFormat::BitnetCpp,
        }
    }
}

/// Bytes after a bitnetcpp tensor's codes: the f32 scale, then 28 bytes bitnet.cpp leaves
/// uninitialised (for alignment).
pub const BITNETCPP_TAIL: usize = 32;

impl TernaryFormat {
    /// All the formats (in the order the fuzz inputs number them: new ones go last).
    pub const ALL: [TernaryFormat; 4] = [
        TernaryFormat::Qk256,
        TernaryFormat::BitNet32F16,
        TernaryFormat::Tq2_0,
        TernaryFormat::BitnetCpp,
    ];

    /// Elements per block: 256, 32, 128 (a bitnetcpp group), 256.
    pub const fn block_elems(self) -> usize {
        match self {
            TernaryFormat::Qk256 | TernaryFormat::Tq2_0 => 256,
            TernaryFormat::BitNet32F16 => 32,
            TernaryFormat::BitnetCpp => 128,
        }
    }

    /// Bytes per block: 64, 10, 32, 66.
    pub const fn block_bytes(self) -> usize {
        match self {
            TernaryFormat::Qk256 => 64,
            TernaryFormat::BitNet32F16 => 10,
            TernaryFormat::BitnetCpp => 32,
            TernaryFormat::Tq2_0 => 66,
        }
    }

    /// Bytes of 2-bit codes at the start of each block: 64, 8, 32, 64.
    pub const fn code_bytes(self) -> usize {
        self.block_elems() / 4
    }

    /// Whether each block carries its own f16 scale `d` (right after the code bytes).
    pub const fn has_block_scale(self) -> bool {
        matches!(self, TernaryFormat::BitNet32F16 | TernaryFormat::Tq2_0)
    }

    /// Bytes after the blocks, once per tensor: bitnetcpp's 32-byte tail, else 0.
    pub const fn tail_bytes(self) -> usize {
        match self {
            TernaryFormat::BitnetCpp => BITNETCPP_TAIL,
            _ => 0,
        }
    }

    /// Whether rows are padded to whole blocks. bitnetcpp's are not: it needs `cols` to be a
    /// multiple of 128 ([`TernaryFormat::fits_cols`]).
    pub const fn pads_rows(self) -> bool {
        !matches!(self, TernaryFormat::BitnetCpp)
    }

    /// Whether a tensor of `cols` columns can be stored in this format at all.
    pub const fn fits_cols(self, cols: u64) -> bool {
        self.pads_rows() || cols.is_multiple_of(self.block_elems() as u64)
    }

    /// The lowercase name: `"qk256"`, `"bitnet32f16"`, `"bitnetcpp"`, `"tq2_0"`.
    pub fn name(self) -> &'static str {
        match self {
            TernaryFormat::Qk256 => "qk256",
            TernaryFormat::BitNet32F16 => "bitnet32f16",
            TernaryFormat::BitnetCpp => "bitnetcpp",
            TernaryFormat::Tq2_0 => "tq2_0",
        }
    }

    /// Blocks per row: `ceil(cols / block_elems)` (every row starts on a block boundary).
    pub const fn blocks_per_row(self, cols: u64) -> u64 {
        cols.div_ceil(self.block_elems() as u64)
    }

    /// Bytes per row, `ceil(cols / block_elems) × block_bytes`; `None` on overflow or for
    /// `cols` the format cannot hold.
    pub fn row_bytes(self, cols: u64) -> Option<u64> {
        if !self.fits_cols(cols) {
            return None;
        }
        self.blocks_per_row(cols)
            .checked_mul(self.block_bytes() as u64)
    }

    /// Bytes of the blocks of a `rows × cols` tensor, `rows × row_bytes(cols)` — what the
    /// kernels and the scan take; `None` on overflow or for `cols` the format cannot hold.
    pub fn data_bytes(self, rows: u64, cols: u64) -> Option<u64> {
        self.row_bytes(cols)?.checked_mul(rows)
    }

    /// Bytes a `rows × cols` tensor occupies in a file: its blocks and its tail
    /// ([`TernaryFormat::tail_bytes`]); `None` on overflow or for `cols` the format cannot hold.
    pub fn tensor_bytes(self, rows: u64, cols: u64) -> Option<u64> {
        self.data_bytes(rows, cols)?
            .checked_add(self.tail_bytes() as u64)
    }
}

impl fmt::Display for TernaryFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Byte and bit shift of element `e` (`e < 256`) inside a QK256 code block (also TQ2_0's `qs`).
pub const fn qk256_position(e: usize) -> (usize, u32) {
    ((e / 128) * 32 + e % 32, 2 * ((e % 128) / 32) as u32)
}

/// Byte and bit shift of element `e` (`e < 32`) inside a BitNet32F16 block.
pub const fn bitnet32_position(e: usize) -> (usize, u32) {
    (e % 8, 2 * (e / 8) as u32)
}

/// Byte and bit shift of element `e` (`e < 128`) inside a bitnetcpp group: QK256's byte, the
/// shifts in the opposite order (high bits first).
pub const fn bitnetcpp_position(e: usize) -> (usize, u32) {
    (e % 32, 6 - 2 * (e / 32) as u32)
}

/// Byte and bit shift of element `e` of a block of `format`.
pub const fn code_position(format: TernaryFormat, e: usize) -> (usize, u32) {
    match format {
        TernaryFormat::Qk256 | TernaryFormat::Tq2_0 => qk256_position(e),
        TernaryFormat::BitNet32F16 => bitnet32_position(e),
        TernaryFormat::BitnetCpp => bitnetcpp_position(e),
    }
}

/// A bitnetcpp tensor's stored bytes split into its codes and its scale (the first four bytes
/// of the tail, f32 little-endian); `None` when `stored` is shorter than a tail.
pub fn bitnetcpp_split(stored: &[u8]) -> Option<(&[u8], f32)> {
    let codes_len = stored.len().checked_sub(BITNETCPP_TAIL)?;
    let (codes, tail) = stored.split_at(codes_len);
    let (scale, _) = tail.split_first_chunk::<4>()?;
    Some((codes, f32::from_le_bytes(*scale)))
}

/// Checks that `data` is exactly `format.data_bytes(rows, cols)` bytes.
pub fn check_data(
    format: TernaryFormat,
    data: &[u8],
    rows: usize,
    cols: usize,
) -> Result<(), FormatError> {
    if !format.fits_cols(cols as u64) {
        return Err(FormatError::ColsNotSupported { format, cols });
    }
    let expected =
        format
            .data_bytes(rows as u64, cols as u64)
            .ok_or(FormatError::ShapeOverflow {
                rows: rows as u64,
                cols: cols as u64,
            })?;
    if data.len() as u64 != expected {
        return Err(FormatError::WrongDataLength {
            format,
            expected,
            actual: data.len() as u64,
        });
    }
    Ok(())
}

/// Checks `data` (as [`check_data`]) and that `out` holds exactly `rows × cols` values.
pub fn check_args(
    format: TernaryFormat,
    data: &[u8],
    rows: usize,
    cols: usize,
    out: &[f32],
) -> Result<(), FormatError> {
    check_data(format, data, rows, cols)?;
    let expected = rows.checked_mul(cols).ok_or(FormatError::ShapeOverflow {
        rows: rows as u64,
        cols: cols as u64,
    })?;
    if out.len() != expected {
        return Err(FormatError::WrongOutputLength {
            expected: expected as u64,
            actual: out.len() as u64,
        });
    }
    Ok(())
}

/// An argument to a packing, dequantization or scan function does not fit the format.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// `data` is not exactly `format.data_bytes(rows, cols)` bytes long.
    #[error("{format} data is {actual} bytes, expected {expected}")]
    WrongDataLength {
        /// The format the data was read as.
        format: TernaryFormat,
        /// `format.data_bytes(rows, cols)`.
        expected: u64,
        /// The length passed in.
        actual: u64,
    },
    /// The output slice is not exactly `rows × cols` elements long.
    #[error("output holds {actual} values, expected {expected}")]
    WrongOutputLength {
        /// `rows × cols`.
        expected: u64,
        /// The length passed in.
        actual: u64,
    },
    /// The weight slice passed to a packer is not exactly `rows × cols` elements long.
    #[error("weights hold {actual} values, expected {expected}")]
    WrongWeightCount {
        /// `rows × cols`.
        expected: u64,
        /// The length passed in.
        actual: u64,
    },
    /// `rows × cols` or the byte size of the tensor does not fit in `u64`/`usize`.
    #[error("shape {rows}x{cols} overflows")]
    ShapeOverflow {
        /// Rows of the shape.
        rows: u64,
        /// Columns of the shape.
        cols: u64,
    },
    /// A format that does not pad rows (bitnetcpp) given a row length it cannot hold.
    #[error("{format} needs a multiple of {} columns, got {cols}", format.block_elems())]
    ColsNotSupported {
        /// The format.
        format: TernaryFormat,
        /// The columns asked for.
        cols: usize,
    },
    /// A weight passed to a packer is not −1, 0 or +1.
    #[error("weight {index} is {value}, expected -1, 0 or 1")]
    WrongWeightValue {
        /// Row-major index of the weight.
        index: usize,
        /// Its value.
        value: i8,
    },
    /// The number of block scales is not `rows × ceil(cols / block_elems)`.
    #[error("{format} needs {expected} block scales, got {actual}")]
    WrongScaleCount {
        /// The format being packed.
        format: TernaryFormat,
        /// `rows × blocks_per_row`.
        expected: u64,
        /// The count passed in.
        actual: u64,
    },
    /// A per-tensor scale other than exactly 1.0 was passed for a format whose blocks carry
    /// their own scale `d`: the output is `w × d` as a single multiplication, so there is no
    /// place for a second factor.
    #[error("{format} blocks carry their own scale; the tensor scale must be 1.0, got {scale}")]
    ScaleNotApplicable {
        /// The format being decoded.
        format: TernaryFormat,
        /// The scale passed in.
        scale: f32,
    },
}
