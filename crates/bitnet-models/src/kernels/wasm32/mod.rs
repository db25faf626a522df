//! The WebAssembly kernel: simd128, when the module is compiled with `+simd128`, running the
//! shared 128-bit algorithm of `vector128.rs`.

use super::blocks::{run_blocks, Blocks};
use super::KernelKind;
use crate::format::TernaryFormat;

mod simd128;

/// A SIMD kernel of this target, holding the proof that it was compiled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Simd {
    Simd128(simd128::Simd128),
}

impl Simd {
    /// The kernel of `kind`, if it is this target's.
    pub(crate) fn detect(kind: KernelKind) -> Option<Self> {
        match kind {
            KernelKind::Simd128 => simd128::Simd128::detect().map(Simd::Simd128),
            _ => None,
        }
    }

    pub(crate) fn kind(self) -> KernelKind {
        match self {
            Simd::Simd128(_) => KernelKind::Simd128,
        }
    }

    /// Dequantizes checked arguments (see `Kernel::dequantize`).
    pub(crate) fn dequantize(
        self,
        format: TernaryFormat,
        data: &[u8],
        rows: usize,
        cols: usize,
        scale: f32,
        out: &mut [f32],
    ) {
        match self {
            Simd::Simd128(token) => run_blocks(token, format, data, rows, cols, scale, out),
        }
    }

    /// `value` in every element, with the kernel's own stores (see `Kernel::fill`).
    pub(crate) fn fill(self, out: &mut [f32], value: f32, stream: bool) {
        match self {
            Simd::Simd128(token) => token.fill(out, value, stream),
        }
    }
}
