//! The AArch64 kernel: NEON, little-endian only, running the shared 128-bit algorithm of
//! `vector128.rs`.

mod neon;

pub(crate) use neon::Neon;

simd_kernels!(Neon(Neon));
