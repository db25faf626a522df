//! The AArch64 matrix-product sums: [`generic`] compiled with NEON (which LLVM vectorizes into
//! widening multiply-accumulates).

use super::dots::{generic, CodeDots};
use crate::format::TernaryFormat;
use crate::kernels::arch::Neon;

impl CodeDots for Neon {
    fn code_dots(self, format: TernaryFormat, data: &[u8], q: &[i8], out: &mut [i32]) {
        // SAFETY: a `Neon` exists only after `detect` saw NEON on this CPU.
        unsafe { neon(format, data, q, out) }
    }
}

#[target_feature(enable = "neon")]
fn neon(format: TernaryFormat, data: &[u8], q: &[i8], out: &mut [i32]) {
    generic::code_dots(format, data, q, out)
}
