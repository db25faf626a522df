//! A target without SIMD kernels (or a build without the `cpu` feature): only the scalar
//! reference exists, so there is no SIMD kernel to hold.

use super::KernelKind;
use crate::format::TernaryFormat;

/// No SIMD kernel: a value of this type cannot exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Simd {}

impl Simd {
    pub(crate) fn detect(_kind: KernelKind) -> Option<Self> {
        None
    }

    pub(crate) fn kind(self) -> KernelKind {
        match self {}
    }

    pub(crate) fn dequantize(
        self,
        _format: TernaryFormat,
        _data: &[u8],
        _rows: usize,
        _cols: usize,
        _scale: f32,
        _out: &mut [f32],
    ) {
        match self {}
    }

    pub(crate) fn fill(self, _out: &mut [f32], _value: f32, _stream: bool) {
        match self {}
    }
}
