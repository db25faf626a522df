#![doc = include_str!("../README.md")]
//!
//! ## What is where
//!
//! Modules, bottom up (each uses only those above it):
//!
//! - [`format`](mod@format): block geometry, code positions, checked sizes and length checks — the numbers.
//! - [`detect`]: which I2_S flavor a tensor is, from its size.
//! - [`pack`]: ternary weights → blocks (for fixtures and tests).
//! - [`scan`](mod@scan): reserved codes, non-finite scales and bad padding in block data.
//! - [`kernels`]: dequantization, a scalar reference plus SIMD kernels chosen at run time, all
//!   bit-identical to the reference.
//! - [`matmul`]: `y = W · x` as ggml and bitnet.cpp compute it, and exactly; the integer sums
//!   by the same kernels (docs/matmul.md).
//! - [`model`]: the same rules applied to a parsed GGUF file ([`Model`]): flavor per I2_S
//!   tensor, the `.scale` sibling, the scan, the required keys, decoding of whole tensors.
//! - [`convert`]: a model re-encoded to another ternary format, exactly or not at all.
//! - [`diff`]: two models compared, metadata, tensors and decoded values.
//! - `files` (feature `files`): an input file mapped read-only, an output written atomically.
//! - `fixtures` (feature `fixtures`): the reference fixtures, built in memory.
//!
//! Codes: 0 → −1, 1 → 0, 2 → +1, 3 reserved (decoded as 0, reported by [`scan()`]); TQ1_0 stores
//! codes 0..2 as base-3 digits, so it has no reserved code. The output of every kernel
//! is `w × scale` as one `f32` multiplication.

pub mod convert;
pub mod detect;
pub mod diff;
#[cfg(feature = "files")]
pub mod files;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod format;
pub mod kernels;
pub mod matmul;
pub mod model;
pub mod pack;
pub mod scan;

pub use detect::{detect_flavor, FlavorError};
pub use format::{Flavor, FormatError, TernaryFormat};
pub use kernels::{Kernel, KernelError, KernelKind};
pub use model::{has_errors, DecodeError, Model, ModelError, TernaryTensor, Values};
pub use pack::{pack_bitnet32f16, pack_bitnetcpp, pack_qk256, pack_tq1_0, pack_tq2_0};
pub use scan::{scan, scan_reference, ScanReport};
