//! BitNet b1.58 ternary weight formats: the flavors of GGUF type I2_S (QK256, BitNet32F16) and
//! ggml's TQ2_0 — their layouts, detection, packing, validation and bit-exact dequantization.
//! docs/formats.md describes the formats; this crate implements them.
//!
//! ```
//! use bitnet_gguf::{ggml_type, GgufBuilder};
//! use bitnet_models::{pack_qk256, Flavor, Kernel, Model};
//!
//! // One row of 256 weights, −1, 0, +1 repeating, as QK256 with a tensor scale of 0.5.
//! let weights: Vec<i8> = (0..256).map(|i| (i % 3) as i8 - 1).collect();
//! let mut b = GgufBuilder::new();
//! b.tensor("w.weight", &[256, 1], ggml_type::I2_S, pack_qk256(&weights, 1, 256).unwrap());
//! b.tensor("w.scale", &[1], ggml_type::F32, 0.5f32.to_le_bytes().to_vec());
//! let bytes = b.build().unwrap();
//!
//! let model = Model::parse(&bytes).unwrap();
//! assert!(model.check().is_empty());
//! assert_eq!(model.flavor(0).unwrap(), Some(Flavor::Qk256));
//! let values = model.decode(0, Kernel::selected().unwrap()).unwrap();
//! assert_eq!(values[..3], [-0.5, 0.0, 0.5]);
//! ```
//!
//! Modules, bottom up (each uses only those above it):
//!
//! - [`format`]: block geometry, code positions, checked sizes and length checks — the numbers.
//! - [`detect`]: which I2_S flavor a tensor is, from its size.
//! - [`pack`]: ternary weights → blocks (for fixtures and tests).
//! - [`scan`]: reserved codes, non-finite scales and bad padding in block data.
//! - [`kernels`]: dequantization, a scalar reference plus SIMD kernels chosen at run time, all
//!   bit-identical to the reference.
//! - [`model`]: the same rules applied to a parsed GGUF file ([`Model`]): flavor per I2_S
//!   tensor, the `.scale` sibling, the scan, the required keys, decoding of whole tensors.
//! - [`convert`]: a model re-encoded to another ternary format, exactly or not at all.
//! - `fixtures` (feature `fixtures`): the reference fixtures, built in memory.
//!
//! Codes: 0 → −1, 1 → 0, 2 → +1, 3 reserved (decoded as 0, reported by [`scan`]). The output of
//! every kernel is `w × scale` as one `f32` multiplication.

#![warn(missing_docs)]

pub mod convert;
pub mod detect;
pub mod diff;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod format;
pub mod kernels;
pub mod model;
pub mod pack;
pub mod scan;

pub use detect::{detect_flavor, FlavorError};
pub use format::{Flavor, FormatError, TernaryFormat};
pub use kernels::{Kernel, KernelError, KernelKind};
pub use model::{has_errors, DecodeError, Model, ModelError, TernaryTensor, Values};
pub use pack::{pack_bitnet32f16, pack_bitnetcpp, pack_qk256, pack_tq2_0};
pub use scan::{scan, scan_reference, ScanReport};
