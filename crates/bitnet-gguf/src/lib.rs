#![doc = include_str!("../README.md")]
//!
//! ## What is where
//!
//! - [`Gguf::parse`] reads a `&[u8]` into borrowed views of the header, metadata ([`Value`],
//!   arrays decoded lazily) and tensor infos ([`TensorInfo`]). It has no `unsafe`, cannot panic,
//!   and allocates only for entries it has read.
//! - [`Gguf::validate`] applies the rest of the container rules and returns a [`Report`] listing
//!   every [`Finding`]: a [`GgufError`] or a [`GgufWarning`], each with a stable code and its
//!   [`Location`]. [`Gguf::load`] is parse + validate, failing on the first error. Asking for a
//!   tensor's data the wrong way is a [`DataError`].
//! - [`GgufBuilder`] (in memory) and [`GgufWriter`] (streamed) write files in exactly that layout;
//!   what they refuse is a [`BuildError`] / [`WriteError`].
//! - [`type_info`] is ggml's type table (ids 0..=42, removed ids marked; I2_S = 36 is
//!   caller-sized because its flavors differ in size); [`other_meaning`] and [`file_type_name`]
//!   name what other writers mean by an id.
//!
//! What this crate must not do: interpret tensor data, or guess the size of a caller-sized
//! type. `bitnet-models` builds the I2_S rules on top of [`Gguf::tensor_span`].

#![forbid(unsafe_code)]

mod cursor;
mod error;
mod finding;
mod reader;
mod types;
mod validate;
mod value;
mod write;

pub use cursor::MAX_LEN;
pub use error::{DataError, GgufError, GgufWarning};
pub use finding::{Finding, Location, Severity};
pub use reader::{
    pad, Gguf, MetadataEntry, TensorInfo, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC, MAX_TENSOR_NAME,
};
pub use types::{file_type_name, ggml_type, other_meaning, type_info, TypeInfo, ValueType};
pub use validate::Report;
pub use value::{Array, ArrayIter, MetadataValue, Value};
pub use write::{BuildError, GgufBuilder, GgufWriter, TensorSpec, WriteError};
