//! BitNet b1.58 ternary weight formats: QK256 and BitNet32F16 (the two flavors of GGUF type
//! I2_S) and ggml's TQ2_0.
//!
//! - [`format`]: block geometry and checked sizes.
//! - [`detect_flavor`]: which I2_S flavor a tensor is, from its size (SPEC §2).
//! - [`pack`]: ternary weights → blocks (for fixtures and tests).
//! - [`Kernel`]: dequantization, a scalar reference plus SIMD kernels chosen at run time,
//!   all bit-identical to the reference.
//! - [`scan`]: validation scan for reserved codes, non-finite scales and bad padding.
//!
//! Codes: 0 → −1, 1 → 0, 2 → +1, 3 reserved (decoded as 0, reported by [`scan`]). The output of
//! every kernel is `w × scale` as one `f32` multiplication.
//!
//! - [`file`]: the same rules applied to a parsed GGUF file (`bitnet-gguf`): flavor per I2_S
//!   tensor, the `.scale` sibling, the scan, the required keys, whole-tensor dequantization.

pub mod detect;
pub mod error;
pub mod file;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod format;
pub mod kernels;
pub mod pack;
pub mod scan;

pub use detect::{detect_flavor, FlavorError};
pub use error::{FormatError, KernelError};
pub use file::{
    check, dequantize_tensor, has_errors, qk256_scale, tensor_flavor, ternary_format, ModelError,
};
pub use format::{Flavor, TernaryFormat};
pub use kernels::{Kernel, KernelKind};
pub use pack::{pack_bitnet32f16, pack_qk256, pack_tq2_0};
pub use scan::{scan, scan_reference, ScanReport};
