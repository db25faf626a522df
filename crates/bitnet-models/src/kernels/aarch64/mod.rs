//! The AArch64 kernel: NEON, little-endian only, running the shared 128-bit algorithm of
//! `vector128.rs`.

use super::blocks::{run_blocks, Blocks};
use super::KernelKind;
use crate::format::TernaryFormat;

mod neon;

/// A SIMD kernel of this target, holding the proof that the CPU has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Simd {
    Neon(neon::Neon),
}

impl Simd {
    /// The kernel of `kind`, if it is this target's and the CPU has it.
    pub(crate) fn detect(kind: KernelKind) -> Option<Self> {
        match kind {
            KernelKind::Neon => neon::Neon::detect().map(Simd::Neon),
            _ => None,
        }
    }

    pub(crate) fn kind(self) -> KernelKind {
        match self {
            Simd::Neon(_) => KernelKind::Neon,
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
            Simd::Neon(token) => run_blocks(token, format, data, rows, cols, scale, out),
        }
    }

    /// `value` in every element, with the kernel's own stores (see `Kernel::fill`).
    pub(crate) fn fill(self, out: &mut [f32], value: f32, stream: bool) {
        match self {
            Simd::Neon(token) => token.fill(out, value, stream),
        }
    }
}
