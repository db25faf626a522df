//! I2_S flavor detection by size (docs/formats.md) — the one function every caller uses.
//!
//! This module only compares numbers; finding `available` (the distance to the next tensor's
//! offset, or to the end of the file) is the caller's job, and so is deciding between several
//! flavors that fit ([`crate::Model`] asks the file's other I2_S tensors).

use std::num::NonZeroU64;

use crate::format::{Flavor, TernaryFormat};

/// The flavors a tensor's size could be, with the bytes each needs. Small shapes can fit
/// several (1×160: QK256 64 and BitNet32F16 50; 1×128: QK256 and bitnetcpp, both 64, and
/// BitNet32F16's 40 padded to 64 at alignment 32; 1×512: BitNet32F16 and bitnetcpp, both 160).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Per flavor of [`Flavor::ALL`], its size plus one (so a size fits the niche of `None`).
    sizes: [Option<NonZeroU64>; 3],
}

impl Sizes {
    /// The size of a `rows × cols` tensor in each flavor that can hold it.
    pub fn iter(&self) -> impl Iterator<Item = (Flavor, u64)> + '_ {
        Flavor::ALL
            .into_iter()
            .zip(self.sizes)
            .filter_map(|(f, s)| Some((f, s?.get() - 1)))
    }

    /// The size of the tensor as `flavor`, if that flavor can hold it.
    pub fn get(&self, flavor: Flavor) -> Option<u64> {
        self.iter().find(|&(f, _)| f == flavor).map(|(_, s)| s)
    }
}

impl Sizes {
    /// `64 (qk256), 50 (bitnet32f16) or 64 (bitnetcpp)`: each size with its flavor, the last
    /// joined by `conjunction`.
    pub fn list(&self, conjunction: &str) -> String {
        let items: Vec<String> = self
            .iter()
            .map(|(flavor, size)| format!("{size} ({flavor})"))
            .collect();
        match items.as_slice() {
            [] => "no flavor".to_owned(),
            [one] => one.clone(),
            [init @ .., last] => format!("{} {conjunction} {last}", init.join(", ")),
        }
    }
}

/// Why the size of an I2_S tensor does not identify exactly one flavor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlavorError {
    /// Several flavors fit the bytes available; never resolved by a silent priority pick.
    #[error(
        "ambiguous i2_s flavor: {available} bytes available fit {}",
        candidates.list("and")
    )]
    Ambiguous {
        /// The flavors that fit, with their sizes.
        candidates: Sizes,
        /// Bytes available to the tensor.
        available: u64,
    },
    /// No flavor fits the bytes available.
    #[error(
        "i2_s size mismatch: {available} bytes available, expected {}",
        expected.list("or")
    )]
    SizeMismatch {
        /// Every flavor that can hold the shape, with its size.
        expected: Sizes,
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
pub fn fits(size: u64, available: u64, alignment: u64) -> bool {
    available >= size && available - size < alignment
}

/// The size of a `rows × cols` tensor in every flavor (`None` where a flavor cannot hold the
/// shape: bitnetcpp needs `cols % 128 == 0`), or an overflow error.
pub fn flavor_sizes(rows: u64, cols: u64) -> Result<Sizes, FlavorError> {
    let mut sizes = [None; 3];
    for (slot, flavor) in sizes.iter_mut().zip(Flavor::ALL) {
        let format = TernaryFormat::from(flavor);
        if format.fits_cols(cols) {
            let size = format
                .tensor_bytes(rows, cols)
                .and_then(|s| s.checked_add(1))
                .ok_or(FlavorError::Overflow { rows, cols })?;
            *slot = NonZeroU64::new(size);
        }
    }
    Ok(Sizes { sizes })
}

/// Decide the I2_S flavor of a `rows × cols` tensor from the bytes `available` to it and the
/// file's `alignment` (docs/formats.md).
///
/// A flavor fits when `size ≤ available < size + alignment`. Exactly one fits → that flavor;
/// several → [`FlavorError::Ambiguous`] naming them; none → [`FlavorError::SizeMismatch`].
pub fn detect_flavor(
    rows: u64,
    cols: u64,
    available: u64,
    alignment: u64,
) -> Result<Flavor, FlavorError> {
    let all = flavor_sizes(rows, cols)?;
    let mut candidates = all;
    for size in &mut candidates.sizes {
        *size = size.filter(|s| fits(s.get() - 1, available, alignment));
    }
    let mut fitting = candidates.iter();
    match (fitting.next(), fitting.next()) {
        (Some((flavor, _)), None) => Ok(flavor),
        (Some(_), Some(_)) => Err(FlavorError::Ambiguous {
            candidates,
            available,
        }),
        _ => Err(FlavorError::SizeMismatch {
            expected: all,
            available,
        }),
    }
}
