//! I2_S flavor detection by size (docs/formats.md) — the one function every caller uses.
//!
//! This module only compares numbers; finding `available` (the distance to the next tensor's
//! offset, or to the end of the file) is the caller's job.

use crate::format::{Flavor, TernaryFormat};

/// Why the size of an I2_S tensor does not identify exactly one flavor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlavorError {
    /// Both flavors fit the bytes available; never resolved by a silent priority pick.
    #[error(
        "ambiguous i2_s flavor: qk256 needs {qk256_bytes} bytes and bitnet32f16 {bitnet32f16_bytes}, \
         both fit the {available} bytes available"
    )]
    Ambiguous {
        /// Size of the tensor as QK256.
        qk256_bytes: u64,
        /// Size of the tensor as BitNet32F16.
        bitnet32f16_bytes: u64,
        /// Bytes available to the tensor.
        available: u64,
    },
    /// Neither flavor fits the bytes available.
    #[error(
        "i2_s size mismatch: {available} bytes available, expected {qk256_bytes} (qk256) \
         or {bitnet32f16_bytes} (bitnet32f16)"
    )]
    SizeMismatch {
        /// Size of the tensor as QK256.
        qk256_bytes: u64,
        /// Size of the tensor as BitNet32F16.
        bitnet32f16_bytes: u64,
        /// Bytes available to the tensor.
        available: u64,
    },
    /// The size of the shape in one of the flavors does not fit in `u64`.
    #[error("i2_s shape {rows}x{cols} overflows")]
    Overflow {
        /// Rows of the shape.
        rows: u64,
        /// Columns of the shape.
        cols: u64,
    },
}

impl FlavorError {
    /// A stable, kebab-case code: `"i2s-ambiguous-flavor"`, `"i2s-size-mismatch"`,
    /// `"i2s-shape-overflow"`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Ambiguous { .. } => "i2s-ambiguous-flavor",
            Self::SizeMismatch { .. } => "i2s-size-mismatch",
            Self::Overflow { .. } => "i2s-shape-overflow",
        }
    }
}

/// Whether a tensor of `size` bytes fits `available` bytes: `size ≤ available < size + alignment`.
///
/// Written as a subtraction so that `size + alignment` cannot overflow. An `alignment` of 0
/// (never valid in GGUF) makes nothing fit.
fn fits(size: u64, available: u64, alignment: u64) -> bool {
    available >= size && available - size < alignment
}

/// Decide the I2_S flavor of a `rows × cols` tensor from the bytes `available` to it and the
/// file's `alignment` (docs/formats.md).
///
/// A flavor fits when `size ≤ available < size + alignment`. Exactly one fits → that flavor;
/// both → [`FlavorError::Ambiguous`]; none → [`FlavorError::SizeMismatch`].
pub fn detect_flavor(
    rows: u64,
    cols: u64,
    available: u64,
    alignment: u64,
) -> Result<Flavor, FlavorError> {
    let size = |format: TernaryFormat| {
        format
            .tensor_bytes(rows, cols)
            .ok_or(FlavorError::Overflow { rows, cols })
    };
    let qk256_bytes = size(TernaryFormat::Qk256)?;
    let bitnet32f16_bytes = size(TernaryFormat::BitNet32F16)?;
    match (
        fits(qk256_bytes, available, alignment),
        fits(bitnet32f16_bytes, available, alignment),
    ) {
        (true, false) => Ok(Flavor::Qk256),
        (false, true) => Ok(Flavor::BitNet32F16),
        (true, true) => Err(FlavorError::Ambiguous {
            qk256_bytes,
            bitnet32f16_bytes,
            available,
        }),
        (false, false) => Err(FlavorError::SizeMismatch {
            qk256_bytes,
            bitnet32f16_bytes,
            available,
        }),
    }
}
