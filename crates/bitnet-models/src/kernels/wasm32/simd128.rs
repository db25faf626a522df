//! WebAssembly SIMD (simd128), compiled only when the module is built with `+simd128`: the
//! [`V128`] operations, so the kernels are the shared ones of `vector128.rs`.

use core::arch::wasm32::*;

use crate::kernels::vector128::{Vector128Kernel, V128};

/// Proof that this module was compiled with simd128 (a wasm engine validates the whole module
/// before running any of it, so there is nothing to check at run time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Simd128(());

impl Simd128 {
    /// Always `Some`: this module exists only when simd128 is enabled at compile time.
    pub(crate) fn detect() -> Option<Self> {
        Some(Simd128(()))
    }
}

impl Vector128Kernel for Simd128 {
    type V = Vec128;
}

/// A simd128 value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vec128(v128);

impl V128 for Vec128 {
    #[inline(always)]
    fn f32x4(v: [f32; 4]) -> Self {
        let [a, b, c, d] = v;
        Vec128(f32x4(a, b, c, d))
    }

    #[inline(always)]
    fn mul_f32(self, s: f32) -> Self {
        Vec128(f32x4_mul(self.0, f32x4_splat(s)))
    }

    #[inline(always)]
    fn u64x2(lo: u64, hi: u64) -> Self {
        Vec128(u64x2(lo, hi))
    }

    #[inline(always)]
    fn splat_u8(b: u8) -> Self {
        Vec128(u8x16_splat(b))
    }

    #[inline(always)]
    fn splat_u32(v: u32) -> Self {
        Vec128(u32x4_splat(v))
    }

    #[inline(always)]
    fn and(self, other: Self) -> Self {
        Vec128(v128_and(self.0, other.0))
    }

    #[inline(always)]
    fn or(self, other: Self) -> Self {
        Vec128(v128_or(self.0, other.0))
    }

    #[inline(always)]
    fn add_u8(self, other: Self) -> Self {
        Vec128(u8x16_add(self.0, other.0))
    }

    #[inline(always)]
    fn gt_u8(self, other: Self) -> Self {
        Vec128(u8x16_gt(self.0, other.0))
    }

    #[inline(always)]
    fn shl2_u8(self) -> Self {
        Vec128(u8x16_shl(self.0, 2))
    }

    #[inline(always)]
    fn shr_u8<const N: u32>(self) -> Self {
        Vec128(u8x16_shr(self.0, N))
    }

    #[inline(always)]
    fn spread4(self) -> [Self; 4] {
        let c = self.0;
        [
            Vec128(i8x16_shuffle::<
                0,
                0,
                0,
                0,
                1,
                1,
                1,
                1,
                2,
                2,
                2,
                2,
                3,
                3,
                3,
                3,
            >(c, c)),
            Vec128(i8x16_shuffle::<
                4,
                4,
                4,
                4,
                5,
                5,
                5,
                5,
                6,
                6,
                6,
                6,
                7,
                7,
                7,
                7,
            >(c, c)),
            Vec128(i8x16_shuffle::<
                8,
                8,
                8,
                8,
                9,
                9,
                9,
                9,
                10,
                10,
                10,
                10,
                11,
                11,
                11,
                11,
            >(c, c)),
            Vec128(i8x16_shuffle::<
                12,
                12,
                12,
                12,
                13,
                13,
                13,
                13,
                14,
                14,
                14,
                14,
                15,
                15,
                15,
                15,
            >(c, c)),
        ]
    }

    #[inline(always)]
    fn lookup(table: Self, idx: Self) -> Self {
        Vec128(i8x16_swizzle(table.0, idx.0))
    }

    #[inline(always)]
    fn store(self, out: &mut [f32; 4]) {
        // SAFETY: `out` is 4 writable f32s (16 bytes); `v128_store` has no alignment
        // requirement.
        unsafe { v128_store(out.as_mut_ptr().cast::<v128>(), self.0) }
    }
}
