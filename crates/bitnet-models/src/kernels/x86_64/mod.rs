//! The x86-64 kernels: AVX2 and AVX-512F, each with F16C for the block scales. The two stay
//! separate (not one algorithm over a vector trait): their index mappings differ with the width.

/// `impl Blocks for $token`: each method calls the module's function of the same name,
/// instantiated with `STREAM = true` or `false` as the driver asks.
///
/// # Safety
///
/// Only for a token that `detect()` creates after checking every CPU feature the module's
/// `#[target_feature]` functions enable.
macro_rules! streaming_blocks {
    ($token:ty) => {
        impl $crate::kernels::blocks::Blocks for $token {
            fn qk256(self, data: &[u8], scale: f32, out: &mut [f32], stream: bool) {
                streaming_blocks!(@call stream, qk256(data, scale, out))
            }
            fn bitnet32f16(self, data: &[u8], out: &mut [f32], stream: bool) {
                streaming_blocks!(@call stream, bitnet32f16(data, out))
            }
            fn bitnetcpp(self, data: &[u8], scale: f32, out: &mut [f32], stream: bool) {
                streaming_blocks!(@call stream, bitnetcpp(data, scale, out))
            }
            fn tq2_0(self, data: &[u8], out: &mut [f32], stream: bool) {
                streaming_blocks!(@call stream, tq2_0(data, out))
            }
            fn tq1_0(self, data: &[u8], out: &mut [f32], stream: bool) {
                streaming_blocks!(@call stream, tq1_0(data, out))
            }
            fn fill(self, out: &mut [f32], value: f32, stream: bool) {
                streaming_blocks!(@call stream, fill(out, value))
            }
        }
    };
    (@call $stream:ident, $f:ident($($arg:expr),*)) => {
        // SAFETY: the token exists only after `detect` saw on this CPU every feature `$f`
        // enables (the macro's contract).
        unsafe {
            if $stream {
                $f::<true>($($arg),*)
            } else {
                $f::<false>($($arg),*)
            }
        }
    };
}

mod avx2;
mod avx512;

pub(crate) use avx2::Avx2;
pub(crate) use avx512::Avx512;

simd_kernels!(Avx2(Avx2), Avx512(Avx512));
