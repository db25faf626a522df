//! Typed errors of this crate. Every variant carries the facts (expected and found values,
//! indices); messages are lowercase without a trailing period.

use crate::format::TernaryFormat;
use crate::kernels::KernelKind;

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

/// The kernel requested (through `BITNET_KERNEL` or by name) cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// The name is not one of `scalar`, `avx2`, `avx512`, `neon`, `simd128`.
    #[error("unknown kernel {0:?}, expected one of scalar, avx2, avx512, neon, simd128")]
    Unknown(String),
    /// The kernel exists but this CPU or build target lacks it.
    #[error("kernel {kernel} is not supported by this cpu or target")]
    Unsupported {
        /// The kernel asked for.
        kernel: KernelKind,
    },
}
