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
//! ## Module order
//!
//! The files form a line: each uses (through `crate::` or `super::` paths) only files listed
//! above it, so none depends on itself through another (`tests/module_line.rs` checks this
//! list against the sources).
//!
//! 1. `types.rs`: the ggml type table and the metadata value types.
//! 2. `layout.rs`: the magic, the alignment key and default, the name limit, [`pad`].
//! 3. `location.rs`: [`Location`], where in a file something is.
//! 4. `value.rs`: borrowed and owned metadata values.
//! 5. `error.rs`: [`GgufError`], [`GgufWarning`], [`DataError`].
//! 6. `cursor.rs`: the bounds-checked reader of bytes.
//! 7. `finding.rs`: [`Finding`] and [`Severity`].
//! 8. `reader.rs`: [`Gguf::parse`].
//! 9. `validate.rs`: [`Gguf::validate`] and its [`Report`].
//! 10. `write/error.rs`, `write/mod.rs`, `write/builder.rs`, `write/stream.rs`: the writers.
//! 11. `error/tests.rs`: the unit tests of the errors.
//!
//! What this crate must not do: interpret tensor data, or guess the size of a caller-sized
//! type. `bitnet-models` builds the I2_S rules on top of [`Gguf::tensor_span`].

#![forbid(unsafe_code)]

mod cursor;
mod error;
mod finding;
mod layout;
mod location;
mod reader;
mod types;
mod validate;
mod value;
mod write;

pub use cursor::MAX_LEN;
pub use error::{DataError, Entry, GgufError, GgufWarning};
pub use finding::{Finding, Severity};
pub use layout::{pad, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC, MAX_TENSOR_NAME};
pub use location::Location;
pub use reader::{Gguf, MetadataEntry, TensorInfo};
pub use types::{file_type_name, ggml_type, other_meaning, type_info, TypeInfo, ValueType};
pub use validate::Report;
pub use value::{Array, ArrayIter, MetadataValue, Value};
pub use write::{BuildError, GgufBuilder, GgufWriter, TensorSpec, WriteError};
