//! The WebAssembly matrix-product sums: [`generic`] in a module compiled with `+simd128`
//! (which LLVM vectorizes into `i16x8`/`i32x4` multiply-adds).

use super::dots::{generic, CodeDots};
use crate::format::TernaryFormat;
use crate::kernels::arch::Simd128;

impl CodeDots for Simd128 {
    fn code_dots(self, format: TernaryFormat, data: &[u8], q: &[i8], out: &mut [i32]) {
        generic::code_dots(format, data, q, out)
    }
}
