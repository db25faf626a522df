//! The x86-64 kernels: AVX2 and AVX-512F, each with F16C for the block scales. The two stay
//! separate (not one algorithm over a vector trait): their index mappings differ with the width.

use super::blocks::{run_blocks, Blocks};
use super::KernelKind;
use crate::format::TernaryFormat;

mod avx2;
mod avx512;

/// A SIMD kernel of this target, holding the proof that the CPU has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Simd {
    Avx2(avx2::Avx2),
    Avx512(avx512::Avx512),
}

impl Simd {
    /// The kernel of `kind`, if it is one of this target's and the CPU has it.
    pub(crate) fn detect(kind: KernelKind) -> Option<Self> {
        match kind {
            KernelKind::Avx2 => avx2::Avx2::detect().map(Simd::Avx2),
            KernelKind::Avx512 => avx512::Avx512::detect().map(Simd::Avx512),
            _ => None,
        }
    }

    pub(crate) fn kind(self) -> KernelKind {
        match self {
            Simd::Avx2(_) => KernelKind::Avx2,
            Simd::Avx512(_) => KernelKind::Avx512,
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
            Simd::Avx2(token) => run_blocks(token, format, data, rows, cols, scale, out),
            Simd::Avx512(token) => run_blocks(token, format, data, rows, cols, scale, out),
        }
    }

    /// `value` in every element, with the kernel's own stores (see `Kernel::fill`).
    pub(crate) fn fill(self, out: &mut [f32], value: f32, stream: bool) {
        match self {
            Simd::Avx2(token) => token.fill(out, value, stream),
            Simd::Avx512(token) => token.fill(out, value, stream),
        }
    }
}
