//! The ternary block formats (docs/formats.md): block geometry, code positions, checked size
//! arithmetic, and the length checks every user of the formats shares.
//!
//! This module owns the numbers — elements and bytes per block, where each element's code sits,
//! bytes per row and per tensor — and nothing else: no decoding, no I/O, and no import from the
//! rest of the crate (every other module builds on it). Every size is computed with checked
//! arithmetic so a hostile shape turns into `None` instead of a wrapped number.

use core::fmt;

/// The flavors of ggml type 36 (I2_S), told apart by size (see [`crate::detect_flavor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// 256-element blocks of 64 code bytes, one per-tensor scale from a `.scale` sibling.
    Qk256,
    /// 32-element blocks of 8 code bytes followed by an f16 block scale `d`.
    BitNet32F16,
}

impl Flavor {
    /// Both flavors, in the order detection reports them.
    pub const ALL: [Flavor; 2] = [Flavor::Qk256, Flavor::BitNet32F16];

    /// The lowercase name used in JSON and messages: `"qk256"` or `"bitnet32f16"`.
    pub fn name(self) -> &'static str {
        TernaryFormat::from(self).name()
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every 2-bit ternary block format this crate decodes: the two I2_S flavors and ggml's TQ2_0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TernaryFormat {
    /// I2_S, QK256 flavor: 256 elements in 64 bytes, no scale inside the block.
    Qk256,
    /// I2_S, BitNet32F16 flavor: 32 elements in 8 code bytes plus an f16 scale (10 bytes).
    BitNet32F16,
    /// ggml TQ2_0 (type 35): a QK256 code block followed by an f16 scale (66 bytes).
    Tq2_0,
}

impl From<Flavor> for TernaryFormat {
    fn from(flavor: Flavor) -> Self {
        match flavor {
            Flavor::Qk256 => TernaryFormat::Qk256,
            Flavor::BitNet32F16 => TernaryFormat::BitNet32F16,
        }
    }
}

impl TernaryFormat {
    /// All three formats.
    pub const ALL: [TernaryFormat; 3] = [
        TernaryFormat::Qk256,
        TernaryFormat::BitNet32F16,
        TernaryFormat::Tq2_0,
    ];

    /// Elements per block: 256, 32, 256.
    pub const fn block_elems(self) -> usize {
        match self {
            TernaryFormat::Qk256 | TernaryFormat::Tq2_0 => 256,
            TernaryFormat::BitNet32F16 => 32,
        }
    }

    /// Bytes per block: 64, 10, 66.
    pub const fn block_bytes(self) -> usize {
        match self {
            TernaryFormat::Qk256 => 64,
            TernaryFormat::BitNet32F16 => 10,
            TernaryFormat::Tq2_0 => 66,
        }
    }

    /// Bytes of 2-bit codes at the start of each block: 64, 8, 64.
    pub const fn code_bytes(self) -> usize {
        self.block_elems() / 4
    }

    /// Whether each block carries its own f16 scale `d` (right after the code bytes).
    pub const fn has_block_scale(self) -> bool {
        !matches!(self, TernaryFormat::Qk256)
    }

    /// The lowercase name: `"qk256"`, `"bitnet32f16"`, `"tq2_0"`.
    pub fn name(self) -> &'static str {
        match self {
            TernaryFormat::Qk256 => "qk256",
            TernaryFormat::BitNet32F16 => "bitnet32f16",
            TernaryFormat::Tq2_0 => "tq2_0",
        }
    }

    /// Blocks per row: `ceil(cols / block_elems)` (every row starts on a block boundary).
    pub const fn blocks_per_row(self, cols: u64) -> u64 {
        cols.div_ceil(self.block_elems() as u64)
    }

    /// Bytes per row, `ceil(cols / block_elems) × block_bytes`; `None` on overflow.
    pub fn row_bytes(self, cols: u64) -> Option<u64> {
        self.blocks_per_row(cols)
            .checked_mul(self.block_bytes() as u64)
    }

    /// Bytes of a `rows × cols` tensor, `rows × row_bytes(cols)`; `None` on overflow.
    pub fn tensor_bytes(self, rows: u64, cols: u64) -> Option<u64> {
        self.row_bytes(cols)?.checked_mul(rows)
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

/// Byte and bit shift of element `e` of a block of `format`.
pub const fn code_position(format: TernaryFormat, e: usize) -> (usize, u32) {
    match format {
        TernaryFormat::Qk256 | TernaryFormat::Tq2_0 => qk256_position(e),
        TernaryFormat::BitNet32F16 => bitnet32_position(e),
    }
}

/// Checks that `data` is exactly `format.tensor_bytes(rows, cols)` bytes.
pub fn check_data(
    format: TernaryFormat,
    data: &[u8],
    rows: usize,
    cols: usize,
) -> Result<(), FormatError> {
    let expected =
        format
            .tensor_bytes(rows as u64, cols as u64)
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
    /// `data` is not exactly `format.tensor_bytes(rows, cols)` bytes long.
    #[error("{format} data is {actual} bytes, expected {expected}")]
    WrongDataLength {
        /// The format the data was read as.
        format: TernaryFormat,
        /// `format.tensor_bytes(rows, cols)`.
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
