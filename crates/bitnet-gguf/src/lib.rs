//! A GGUF v3 container reader, validator and writer that knows nothing of BitNet.
//!
//! - [`Gguf::parse`] reads a `&[u8]` (an mmap of a multi-GB model works: nothing is copied)
//!   into borrowed views of the header, metadata ([`Value`], arrays decoded lazily) and tensor
//!   infos ([`TensorInfo`]). It has no `unsafe`, cannot panic, and allocates only for entries
//!   it has read: every count and length is checked against the bytes that remain first.
//! - [`Gguf::validate`] applies the rest of the container rules (docs/gguf.md) and returns a [`Report`] listing every
//!   finding ([`GgufError`] values with a stable [`GgufError::code`], a message, and the byte
//!   offset, key or tensor). [`Gguf::load`] is parse + validate, failing on the first error.
//! - [`GgufBuilder`] writes files deterministically in exactly that layout.
//! - [`type_info`] is ggml's type table (ids 0..=42, removed ids marked; I2_S = 36 is
//!   caller-sized because its two block flavors differ in size).
//!
//! ```
//! use bitnet_gguf::{ggml_type, Gguf, GgufBuilder, Value};
//!
//! let mut b = GgufBuilder::new();
//! b.kv("general.architecture", "llama");
//! b.tensor("w", &[2, 1], ggml_type::F32, [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect());
//! let bytes = b.build().unwrap();
//! let gguf = Gguf::load(&bytes).unwrap();
//! assert_eq!(gguf.get("general.architecture"), Some(Value::String("llama")));
//! assert_eq!(gguf.alignment(), 32);
//! assert_eq!(gguf.tensor_data(0).unwrap().len(), 8);
//! ```
//!
//! What this crate must not do: interpret tensor data, or guess the size of a caller-sized
//! type. `bitnet-models` builds the I2_S rules on top of [`Gguf::tensor_span`].

#![forbid(unsafe_code)]

mod cursor;
mod error;
mod reader;
mod types;
mod validate;
mod value;
mod write;

pub use cursor::MAX_LEN;
pub use error::{DataError, Finding, GgufError, GgufWarning, Location, Severity};
pub use reader::{
    pad, Gguf, MetadataEntry, TensorInfo, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC, MAX_TENSOR_NAME,
};
pub use types::{file_type_name, ggml_type, other_meaning, type_info, TypeInfo, ValueType};
pub use validate::Report;
pub use value::{Array, ArrayIter, MetadataValue, Value};
pub use write::{BuildError, GgufBuilder, GgufWriter, TensorSpec, WriteError};
