//! The WebAssembly kernel: simd128, when the module is compiled with `+simd128`, running the
//! shared 128-bit algorithm of `vector128.rs`.

mod simd128;

simd_kernels!(Simd128(simd128::Simd128));
