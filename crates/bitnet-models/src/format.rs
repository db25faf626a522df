//! The ternary block formats (docs/formats.md): block geometry, code positions, checked size
//! arithmetic, and the length checks every user of the formats shares.
//!
//! This module owns the numbers — elements and bytes per block, where each element's code sits
//! ([`code_position`]: a 2-bit field, or for TQ1_0 a base-3 digit of a byte), bytes per row and
//! per tensor — and nothing else: no decoding, no I/O, and no import from the rest of the crate
//! (every other module builds on it). Every size is computed with checked arithmetic so a
//! hostile shape turns into `None` instead of a wrapped number.

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

/// Every ternary format this crate decodes: the three I2_S flavors and ggml's TQ2_0 (2-bit
/// codes), and ggml's TQ1_0 (base-3 digits, five per byte).
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
    /// ggml TQ1_0 (type 34): 256 elements as base-3 digits — `qs[48]` with five per byte, `qh[4]`
    /// with four — followed by an f16 scale (54 bytes). See [`tq1_0_position`].
    Tq1_0,
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

impl TernaryFormat {
    /// The I2_S flavor this format is, `None` for the TQ formats.
    pub const fn flavor(self) -> Option<Flavor> {
        match self {
            TernaryFormat::Qk256 => Some(Flavor::Qk256),
            TernaryFormat::BitNet32F16 => Some(Flavor::BitNet32F16),
            TernaryFormat::BitnetCpp => Some(Flavor::BitnetCpp),
            TernaryFormat::Tq2_0 | TernaryFormat::Tq1_0 => None,
        }
    }
}

/// Bytes after a bitnetcpp tensor's codes: the f32 scale, then 28 bytes bitnet.cpp leaves
/// uninitialised (for alignment).
pub const BITNETCPP_TAIL: usize = 32;

impl TernaryFormat {
    /// All the formats (in the order the fuzz inputs number them: new ones go last).
    pub const ALL: [TernaryFormat; 5] = [
        TernaryFormat::Qk256,
        TernaryFormat::BitNet32F16,
        TernaryFormat::Tq2_0,
        TernaryFormat::BitnetCpp,
        TernaryFormat::Tq1_0,
    ];

    /// Elements per block: 256, 32, 128 (a bitnetcpp group), 256, 256.
    pub const fn block_elems(self) -> usize {
        match self {
            TernaryFormat::Qk256 | TernaryFormat::Tq2_0 | TernaryFormat::Tq1_0 => 256,
            TernaryFormat::BitNet32F16 => 32,
            TernaryFormat::BitnetCpp => 128,
        }
    }

    /// Bytes per block: 64, 10, 32, 66, 54.
    pub const fn block_bytes(self) -> usize {
        match self {
            TernaryFormat::Qk256 => 64,
            TernaryFormat::BitNet32F16 => 10,
            TernaryFormat::BitnetCpp => 32,
            TernaryFormat::Tq2_0 => 66,
            TernaryFormat::Tq1_0 => 54,
        }
    }

    /// Bytes of codes at the start of each block, everything before the block scale: 64, 8, 32,
    /// 64 bytes of 2-bit fields, or TQ1_0's 52 bytes of base-3 digits (`qs` and `qh`).
    pub const fn code_bytes(self) -> usize {
        match self {
            TernaryFormat::Tq1_0 => TQ1_0_QS + TQ1_0_QH,
            _ => self.block_elems() / 4,
        }
    }

    /// Whether each element's code is a 2-bit field ([`CodePosition::Bits`]); TQ1_0's are
    /// base-3 digits ([`CodePosition::Trit`]).
    pub const fn has_2bit_codes(self) -> bool {
        !matches!(self, TernaryFormat::Tq1_0)
    }

    /// Whether each block carries its own f16 scale `d` (right after the code bytes, at
    /// [`TernaryFormat::code_bytes`]).
    pub const fn has_block_scale(self) -> bool {
        matches!(
            self,
            TernaryFormat::BitNet32F16 | TernaryFormat::Tq2_0 | TernaryFormat::Tq1_0
        )
    }

    /// Bytes after the blocks, once per tensor: bitnetcpp's 32-byte tail, else 0.
    pub const fn tail_bytes(self) -> usize {
        match self {
            TernaryFormat::BitnetCpp => BITNETCPP_TAIL,
            _ => 0,
        }
    }

    /// Whether rows are padded to whole blocks. bitnetcpp's are not: it needs `cols` to be a
    /// multiple of 128 ([`TernaryFormat::fits_cols`]); nor are TQ1_0's, whose `cols` ggml requires
    /// to be a multiple of 256 (TQ2_0 rows are padded with code 1, as for the I2_S flavors).
    pub const fn pads_rows(self) -> bool {
        !matches!(self, TernaryFormat::BitnetCpp | TernaryFormat::Tq1_0)
    }

    /// Whether a tensor of `cols` columns can be stored in this format at all.
    pub const fn fits_cols(self, cols: u64) -> bool {
        self.pads_rows() || cols.is_multiple_of(self.block_elems() as u64)
    }

    /// The lowercase name: `"qk256"`, `"bitnet32f16"`, `"bitnetcpp"`, `"tq2_0"`, `"tq1_0"`.
    pub fn name(self) -> &'static str {
        match self {
            TernaryFormat::Qk256 => "qk256",
            TernaryFormat::BitNet32F16 => "bitnet32f16",
            TernaryFormat::BitnetCpp => "bitnetcpp",
            TernaryFormat::Tq2_0 => "tq2_0",
            TernaryFormat::Tq1_0 => "tq1_0",
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

/// Bytes of TQ1_0's `qs`, five digits per byte: elements 0..160 in `qs[0..32]`, 160..240 in
/// `qs[32..48]`.
pub const TQ1_0_QS: usize = 48;
/// Bytes of TQ1_0's `qh`, four digits per byte: elements 240..256.
pub const TQ1_0_QH: usize = 4;

/// Byte and digit of element `e` (`e < 256`) inside a TQ1_0 block, as ggml's
/// `dequantize_row_tq1_0` walks them: digit `n` of byte `m` is element `32n + m` for
/// `qs[0..32]`, `160 + 16n + m` for `qs[32 + m]`, `240 + 4n + m` for `qh[m]`.
///
/// Digit 0 is the most significant of the byte's five base-3 digits (`qh` bytes hold four, so
/// their digit 4 is always 0): a byte holding digits `x0..x4` is `ceil((81·x0 + 27·x1 + 9·x2 +
/// 3·x3 + x4) · 256 / 243)`, and digit `n` of byte `b` is `((b·3ⁿ mod 256) · 3) >> 8`.
pub const fn tq1_0_position(e: usize) -> (usize, u32) {
    if e < 160 {
        (e % 32, (e / 32) as u32)
    } else if e < 240 {
        (32 + (e - 160) % 16, ((e - 160) / 16) as u32)
    } else {
        (TQ1_0_QS + (e - 240) % 4, ((e - 240) / 4) as u32)
    }
}

/// Where the code of one element sits in its block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePosition {
    /// A 2-bit field: bits `shift..shift + 2` of byte `byte` (QK256, BitNet32F16, bitnetcpp,
    /// TQ2_0).
    Bits {
        /// Byte offset in the block.
        byte: usize,
        /// The field's lowest bit.
        shift: u32,
    },
    /// A base-3 digit: digit `digit` of byte `byte`, 0 the most significant (TQ1_0,
    /// [`tq1_0_position`]).
    Trit {
        /// Byte offset in the block.
        byte: usize,
        /// Which of the byte's five digits, 0 the most significant.
        digit: u32,
    },
}

impl CodePosition {
    /// The byte of the block the code is in.
    pub const fn byte(self) -> usize {
        match self {
            CodePosition::Bits { byte, .. } | CodePosition::Trit { byte, .. } => byte,
        }
    }

    /// The code at this position of `block`: 0, 1, 2 or (2-bit fields only) the reserved 3.
    pub const fn read(self, block: &[u8]) -> u8 {
        match self {
            CodePosition::Bits { byte, shift } => (block[byte] >> shift) & 3,
            CodePosition::Trit { byte, digit } => tq1_0_digit(block[byte], digit),
        }
    }
}

/// Digit `n` (0 the most significant) of a TQ1_0 byte, as ggml's `dequantize_row_tq1_0`
/// computes it: `q = (uint8_t)(byte * pow3[n]); xi = ((uint16_t)q * 3) >> 8`. Always 0, 1 or 2,
/// for every byte: the code of the weight (0 → −1, 1 → 0, 2 → +1).
pub const fn tq1_0_digit(byte: u8, n: u32) -> u8 {
    const POW3: [u8; 6] = [1, 3, 9, 27, 81, 243];
    let q = byte.wrapping_mul(POW3[n as usize]);
    ((q as u16 * 3) >> 8) as u8
}

/// Where the code of element `e` of a block of `format` sits.
pub const fn code_position(format: TernaryFormat, e: usize) -> CodePosition {
    let (byte, shift) = match format {
        TernaryFormat::Qk256 | TernaryFormat::Tq2_0 => qk256_position(e),
        TernaryFormat::BitNet32F16 => bitnet32_position(e),
        TernaryFormat::BitnetCpp => bitnetcpp_position(e),
        TernaryFormat::Tq1_0 => {
            let (byte, digit) = tq1_0_position(e);
            return CodePosition::Trit { byte, digit };
        }
    };
    CodePosition::Bits { byte, shift }
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
    /// A format that does not pad rows (bitnetcpp, TQ1_0) given a row length it cannot hold.
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
