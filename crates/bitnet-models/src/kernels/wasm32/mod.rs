//! The WebAssembly kernel: simd128, when the module is compiled with `+simd128`, running the
//! shared 128-bit algorithm of `vector128.rs`.

mod simd128;

pub(crate) use simd128::Simd128;

simd_kernels!(Simd128(Simd128));
