//! AArch64 Advanced SIMD (NEON): the [`V128`] operations, so the kernels are the shared ones of
//! `vector128.rs`.
//!
//! NEON is part of the AArch64 baseline: every target this module compiles for enables it (the
//! assertion below), so its intrinsics run on every CPU this code runs on. They are still
//! `#[target_feature(enable = "neon")]` functions, which a plain function may call only in an
//! `unsafe` block; the [`Neon`] token comes from a run-time check all the same.

use core::arch::aarch64::*;

use crate::kernels::vector128::{Vector128Kernel, V128};

const _: () = assert!(cfg!(target_feature = "neon"), "the NEON kernel needs NEON");

/// Proof that this CPU has NEON (always true on AArch64 Linux, checked anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Neon(());

impl Neon {
    /// `Some` if this CPU has NEON.
    pub(crate) fn detect() -> Option<Self> {
        std::arch::is_aarch64_feature_detected!("neon").then_some(Neon(()))
    }
}

impl Vector128Kernel for Neon {
    type V = Vec128;
}

/// A NEON register, seen as bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vec128(uint8x16_t);

impl V128 for Vec128 {
    #[inline(always)]
    fn f32x4(v: [f32; 4]) -> Self {
        let [a, b, c, d] = v.map(f32::to_bits);
        Self::u64x2(
            u64::from(a) | (u64::from(b) << 32),
            u64::from(c) | (u64::from(d) << 32),
        )
    }

    #[inline(always)]
    fn mul_f32(self, s: f32) -> Self {
        // SAFETY: NEON is enabled for the whole build (asserted above).
        unsafe {
            let product = vmulq_f32(vreinterpretq_f32_u8(self.0), vdupq_n_f32(s));
            Vec128(vreinterpretq_u8_f32(product))
        }
    }

    #[inline(always)]
    fn u64x2(lo: u64, hi: u64) -> Self {
        // SAFETY: NEON is enabled for the whole build (asserted above).
        Vec128(unsafe { vcombine_u8(vcreate_u8(lo), vcreate_u8(hi)) })
    }

    #[inline(always)]
    fn splat_u8(b: u8) -> Self {
        // SAFETY: NEON is enabled for the whole build (asserted above).
        Vec128(unsafe { vdupq_n_u8(b) })
    }

    #[inline(always)]
    fn splat_u32(v: u32) -> Self {
        // SAFETY: NEON is enabled for the whole build (asserted above).
        Vec128(unsafe { vreinterpretq_u8_u32(vdupq_n_u32(v)) })
    }

    #[inline(always)]
    fn and(self, other: Self) -> Self {
        // SAFETY: NEON is enabled for the whole build (asserted above).
        Vec128(unsafe { vandq_u8(self.0, other.0) })
    }

    #[inline(always)]
    fn or(self, other: Self) -> Self {
        // SAFETY: NEON is enabled for the whole build (asserted above).
        Vec128(unsafe { vorrq_u8(self.0, other.0) })
    }

    #[inline(always)]
    fn add_u8(self, other: Self) -> Self {
        // SAFETY: NEON is enabled for the whole build (asserted above).
        Vec128(unsafe { vaddq_u8(self.0, other.0) })
    }

    #[inline(always)]
    fn gt_u8(self, other: Self) -> Self {
        // SAFETY: NEON is enabled for the whole build (asserted above).
        Vec128(unsafe { vcgtq_u8(self.0, other.0) })
    }

    #[inline(always)]
    fn shl2_u8(self) -> Self {
        // SAFETY: NEON is enabled for the whole build (asserted above).
        Vec128(unsafe { vshlq_n_u8::<2>(self.0) })
    }

    #[inline(always)]
    fn shr_u8<const N: u32>(self) -> Self {
        // SAFETY: NEON is enabled for the whole build (asserted above).
        Vec128(unsafe {
            match N {
                2 => vshrq_n_u8::<2>(self.0),
                _ => vshrq_n_u8::<4>(self.0),
            }
        })
    }

    #[inline(always)]
    fn spread4(self) -> [Self; 4] {
        // Two rounds of zip repeat each byte twice, then four times.
        // SAFETY: NEON is enabled for the whole build (asserted above).
        unsafe {
            let lo = vzip1q_u8(self.0, self.0);
            let hi = vzip2q_u8(self.0, self.0);
            [
                Vec128(vzip1q_u8(lo, lo)),
                Vec128(vzip2q_u8(lo, lo)),
                Vec128(vzip1q_u8(hi, hi)),
                Vec128(vzip2q_u8(hi, hi)),
            ]
        }
    }

    #[inline(always)]
    fn lookup(table: Self, idx: Self) -> Self {
        // SAFETY: NEON is enabled for the whole build (asserted above).
        Vec128(unsafe { vqtbl1q_u8(table.0, idx.0) })
    }

    #[inline(always)]
    fn store(self, out: &mut [f32; 4]) {
        // SAFETY: `out` is 4 writable f32s (16 bytes); `vst1q_f32` needs only f32 alignment,
        // which `&mut [f32; 4]` guarantees; NEON is enabled for the whole build.
        unsafe { vst1q_f32(out.as_mut_ptr(), vreinterpretq_f32_u8(self.0)) }
    }
}
