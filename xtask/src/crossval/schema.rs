//! The JSON the two reference dumpers print, one object per file (crossval/README.md, "Schema"),
//! and their `--types` objects. The project's own reading of a file ([`super::ours`]) is built
//! in the same [`Dump`] shape, so one comparison serves both references.

use serde::Deserialize;
use serde_json::Value as Json;

/// One file as a reader sees it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Dump {
    /// The path as given to the dumper.
    pub file: String,
    /// `"ggml"`, `"gguf-py"` (or `"project"`).
    pub reference: String,
    /// Whether the reader accepted the file; the fields below are empty when not.
    pub accepted: bool,
    /// Why it did not.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub version: Option<u32>,
    #[serde(default)]
    pub alignment: Option<u64>,
    /// Absolute offset of the data section.
    #[serde(default)]
    pub data_offset: Option<u64>,
    /// The key-value pairs in file order.
    #[serde(default)]
    pub metadata: Vec<Kv>,
    /// The tensor infos in file order.
    #[serde(default)]
    pub tensors: Vec<Tensor>,
}

/// One metadata pair. The value is kept as JSON: integers exact, floats as bit patterns
/// (`{"f32": "0x3e200000"}`), arrays as `{"elem_type", "items"}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Kv {
    pub key: String,
    /// The value type as gguf-py spells it (`UINT32`).
    #[serde(rename = "type")]
    pub ty: String,
    pub value: Json,
}

/// One tensor info, and its decoded values.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Tensor {
    pub name: String,
    /// The ggml type id.
    #[serde(rename = "type")]
    pub ty: u32,
    pub type_name: String,
    pub ne: Vec<u64>,
    /// Relative to the data section.
    pub offset: u64,
    /// `None` only in the project's reading, for a type whose size it cannot tell.
    pub nbytes: Option<u64>,
    /// `None` when the reader has no decoder for the type.
    pub decoded: Option<Decoded>,
}

/// A tensor's decoded values, or why decoding failed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Decoded {
    /// `count` values; `sha256` of them as little-endian `f32` bytes; the first few as bit
    /// patterns (`"0x3f800000"`).
    Values {
        count: u64,
        sha256: String,
        first: Vec<String>,
    },
    /// The reader has a decoder for the type but it failed.
    Error { error: String },
}

/// How many leading values a [`Decoded::Values`] shows, as both dumpers do.
pub const FIRST_VALUES: usize = 8;

impl Decoded {
    /// The summary of `values`, as the dumpers compute it.
    pub fn of(values: &[f32]) -> Self {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for v in values {
            hasher.update(v.to_le_bytes());
        }
        Decoded::Values {
            count: values.len() as u64,
            sha256: hex::encode(hasher.finalize()),
            first: values
                .iter()
                .take(FIRST_VALUES)
                .map(|v| format!("{:#010x}", v.to_bits()))
                .collect(),
        }
    }
}

/// `ggml-dump --types`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GgmlTypes {
    /// `GGML_VERSION` of the compiled ggml.
    pub ggml_version: String,
    /// The crates.io package its sources came from, with its version.
    pub source: String,
    /// `GGML_TYPE_COUNT`: every type id is below it.
    pub type_count: u32,
    pub types: Vec<GgmlType>,
}

/// One entry of ggml's `type_traits`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GgmlType {
    pub id: u32,
    /// As ggml spells it (`"tq2_0"`; `"DEPRECATED"` and the like for removed ids).
    pub name: String,
    /// Elements per block; 0 for a removed id.
    pub blck_size: i64,
    /// Bytes per block.
    pub type_size: u64,
}

/// `gguf_py_dump.py --types`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PyTypes {
    pub gguf_version: String,
    pub numpy_version: String,
    /// Every `GGMLQuantizationType`.
    pub types: Vec<PyType>,
}

/// One `GGMLQuantizationType` and its `GGML_QUANT_SIZES` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PyType {
    pub id: u32,
    pub name: String,
    /// `None` for a type without a `GGML_QUANT_SIZES` entry.
    pub blck_size: Option<u64>,
    pub type_size: Option<u64>,
}
