//! A target without SIMD kernels (or a build without the `cpu` feature): only the scalar
//! reference exists, so there is no SIMD kernel to hold.

simd_kernels!();
