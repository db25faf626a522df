//! The deterministic writer: [`GgufBuilder`] lays out exactly what docs/gguf.md describes, and
//! [`BuildError`], what it refuses to write.
//!
//! Output depends only on what was added and in which order: no timestamps, no hash-map order.

use crate::reader::{pad, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC, MAX_TENSOR_NAME};
use crate::types::{type_info, TypeInfo, ValueType};
use crate::value::MetadataValue;
use std::collections::HashSet;

/// Why [`GgufBuilder::build`] refused: what was added would make a file the reader rejects.
///
/// Nothing has been written when this is returned, so there are no file offsets: keys and tensors
/// are named, and counted by `index` in the order they were added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A key of length zero.
    #[error("key #{index} is empty")]
    EmptyKey {
        /// Which key, in the order added.
        index: usize,
    },
    /// A key added twice.
    #[error("key {key:?} (#{index}) was already added as #{first_index}")]
    DuplicateKey {
        /// The key.
        key: String,
        /// The second time it was added.
        index: usize,
        /// The first.
        first_index: usize,
    },
    /// `general.alignment` zero or not a power of two.
    #[error("general.alignment (key #{index}) = {alignment} is not a non-zero power of two")]
    InvalidAlignment {
        /// The value given.
        alignment: u32,
        /// Which key.
        index: usize,
    },
    /// `general.alignment` of a type other than UINT32.
    #[error("general.alignment (key #{index}) has type {found:?}, expected UINT32")]
    AlignmentType {
        /// The type given.
        found: ValueType,
        /// Which key.
        index: usize,
    },
    /// An array of arrays.
    #[error("key {key:?}: arrays of arrays are not allowed")]
    NestedArray {
        /// The key.
        key: String,
    },
    /// An array element whose type is not the array's element type.
    #[error("key {key:?}: element {index} has type {found:?}, the array holds {expected:?}")]
    ArrayElementType {
        /// The key.
        key: String,
        /// Which element.
        index: usize,
        /// The array's element type.
        expected: ValueType,
        /// The element's type.
        found: ValueType,
    },
    /// A tensor name that is empty or longer than 63 bytes.
    #[error("tensor name {name:?} (#{index}) is {len} bytes long; names must be 1..=63 bytes")]
    TensorNameLength {
        /// The name.
        name: String,
        /// Its length.
        len: u64,
        /// Which tensor, in the order added.
        index: usize,
    },
    /// A tensor name added twice.
    #[error("tensor name {name:?} (#{index}) was already added")]
    DuplicateTensorName {
        /// The name.
        name: String,
        /// The second time it was added.
        index: usize,
    },
    /// More than 4 dimensions.
    #[error("tensor {tensor:?} has {n_dims} dimensions; at most 4 are allowed")]
    TooManyDims {
        /// The tensor.
        tensor: String,
        /// How many were given.
        n_dims: usize,
    },
    /// A dimension past `i64::MAX`.
    #[error("tensor {tensor:?}: dimension {dim} is {value}, which does not fit in i64")]
    DimensionOutOfRange {
        /// The tensor.
        tensor: String,
        /// Which dimension.
        dim: usize,
        /// The value given.
        value: u64,
    },
    /// The product of the dimensions overflows.
    #[error("tensor {tensor:?}: element count of {ne:?} overflows")]
    ElementCountOverflow {
        /// The tensor.
        tensor: String,
        /// Its dimensions.
        ne: Vec<u64>,
    },
    /// The byte size, or the offset after it, overflows.
    #[error("tensor {tensor:?}: byte size of {ne:?} overflows")]
    ByteSizeOverflow {
        /// The tensor.
        tensor: String,
        /// Its dimensions.
        ne: Vec<u64>,
    },
    /// A type id ggml never had.
    #[error("tensor {tensor:?}: unknown ggml type {type_id}")]
    UnknownType {
        /// The tensor.
        tensor: String,
        /// The id.
        type_id: u32,
    },
    /// A type id ggml removed.
    #[error("tensor {tensor:?}: ggml type {type_id} ({name}) was removed from ggml")]
    RemovedType {
        /// The tensor.
        tensor: String,
        /// The id.
        type_id: u32,
        /// Its old name.
        name: &'static str,
    },
    /// `ne[0]` not a multiple of the type's block size.
    #[error(
        "tensor {tensor:?}: ne[0] = {ne0} is not a multiple of the {type_name} block size {block}"
    )]
    NotBlockMultiple {
        /// The tensor.
        tensor: String,
        /// `ne[0]`.
        ne0: u64,
        /// The block size.
        block: u64,
        /// The type's name.
        type_name: &'static str,
    },
    /// Data of the wrong length for the tensor's type and shape.
    #[error("tensor {tensor:?}: {actual} data bytes given, its type and shape need {expected}")]
    TensorDataLength {
        /// The tensor.
        tensor: String,
        /// Bytes the type and shape need.
        expected: u64,
        /// Bytes given.
        actual: u64,
    },
}

/// A tensor waiting to be written.
#[derive(Debug, Clone, PartialEq)]
struct PendingTensor {
    name: String,
    ne: Vec<u64>,
    ggml_type: u32,
    data: Vec<u8>,
}

/// Builds a GGUF v3 file in memory.
///
/// `general.alignment` is always written: where the caller added it (a UINT32 power of two),
/// or else as the first key, with the default 32. Tensors are laid out in the order added, each
/// at the running sum of the padded sizes before it, each followed by zero padding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GgufBuilder {
    metadata: Vec<(String, MetadataValue)>,
    tensors: Vec<PendingTensor>,
}

impl GgufBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a metadata pair (checked when the file is built).
    pub fn kv(&mut self, key: impl Into<String>, value: impl Into<MetadataValue>) -> &mut Self {
        self.metadata.push((key.into(), value.into()));
        self
    }

    /// Adds a tensor: `ne` in ggml order (`ne[0]` = columns), the ggml type id and the raw data.
    /// For types the table sizes, the data length must match; for I2_S it is the caller's.
    pub fn tensor(
        &mut self,
        name: impl Into<String>,
        ne: &[u64],
        ggml_type: u32,
        data: Vec<u8>,
    ) -> &mut Self {
        self.tensors.push(PendingTensor {
            name: name.into(),
            ne: ne.to_vec(),
            ggml_type,
            data,
        });
        self
    }

    /// The alignment the file will use.
    pub fn alignment(&self) -> Result<u64, BuildError> {
        let Some((index, (_, value))) = self
            .metadata
            .iter()
            .enumerate()
            .find(|(_, (k, _))| k == ALIGNMENT_KEY)
        else {
            return Ok(DEFAULT_ALIGNMENT);
        };
        match *value {
            MetadataValue::U32(a) if a.is_power_of_two() => Ok(u64::from(a)),
            MetadataValue::U32(a) => Err(BuildError::InvalidAlignment {
                alignment: a,
                index,
            }),
            ref other => Err(BuildError::AlignmentType {
                found: other.value_type(),
                index,
            }),
        }
    }

    /// Writes the file, or names the key or tensor that would make it invalid.
    pub fn build(&self) -> Result<Vec<u8>, BuildError> {
        let align = self.alignment()?;
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        put_u32(&mut out, 3);
        put_u64(&mut out, self.tensors.len() as u64);
        let has_alignment = self.metadata.iter().any(|(k, _)| k == ALIGNMENT_KEY);
        put_u64(
            &mut out,
            self.metadata.len() as u64 + u64::from(!has_alignment),
        );
        if !has_alignment {
            put_str(&mut out, ALIGNMENT_KEY);
            put_u32(&mut out, ValueType::U32.id());
            put_u32(&mut out, DEFAULT_ALIGNMENT as u32);
        }
        let mut keys = HashSet::new();
        for (i, (key, value)) in self.metadata.iter().enumerate() {
            if key.is_empty() {
                return Err(BuildError::EmptyKey { index: i });
            }
            if !keys.insert(key.as_str()) {
                return Err(BuildError::DuplicateKey {
                    key: key.clone(),
                    index: i,
                    first_index: self
                        .metadata
                        .iter()
                        .position(|(k, _)| k == key)
                        .unwrap_or(0),
                });
            }
            put_str(&mut out, key);
            put_u32(&mut out, value.value_type().id());
            put_value(&mut out, key, value)?;
        }

        let mut names = HashSet::new();
        let mut offset = 0u64;
        for (i, t) in self.tensors.iter().enumerate() {
            let len = t.name.len() as u64;
            if len == 0 || len > MAX_TENSOR_NAME {
                return Err(BuildError::TensorNameLength {
                    name: t.name.clone(),
                    len,
                    index: i,
                });
            }
            if !names.insert(t.name.as_str()) {
                return Err(BuildError::DuplicateTensorName {
                    name: t.name.clone(),
                    index: i,
                });
            }
            if t.ne.len() > 4 {
                return Err(BuildError::TooManyDims {
                    tensor: t.name.clone(),
                    n_dims: t.ne.len(),
                });
            }
            check_data_len(t)?;
            put_str(&mut out, &t.name);
            put_u32(&mut out, t.ne.len() as u32);
            for &d in &t.ne {
                put_u64(&mut out, d);
            }
            put_u32(&mut out, t.ggml_type);
            put_u64(&mut out, offset);
            let overflow = || BuildError::ByteSizeOverflow {
                tensor: t.name.clone(),
                ne: t.ne.clone(),
            };
            offset = pad(t.data.len() as u64, align)
                .and_then(|p| offset.checked_add(p))
                .ok_or_else(overflow)?;
        }
        pad_to(&mut out, align);
        for t in &self.tensors {
            out.extend_from_slice(&t.data);
            pad_to(&mut out, align);
        }
        Ok(out)
    }
}

fn check_data_len(t: &PendingTensor) -> Result<(), BuildError> {
    let name = || t.name.clone();
    // The shape rules hold whatever the type, caller-sized I2_S included: the reader rejects a
    // dimension past i64::MAX or an element count past u64 before it looks at the type.
    if let Some((dim, &value)) = t.ne.iter().enumerate().find(|(_, &d)| d > i64::MAX as u64) {
        return Err(BuildError::DimensionOutOfRange {
            tensor: name(),
            dim,
            value,
        });
    }
    let n =
        t.ne.iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .ok_or_else(|| BuildError::ElementCountOverflow {
                tensor: name(),
                ne: t.ne.clone(),
            })?;
    let expected = match type_info(t.ggml_type) {
        TypeInfo::CallerSized { .. } => return Ok(()),
        TypeInfo::Unknown => {
            return Err(BuildError::UnknownType {
                tensor: name(),
                type_id: t.ggml_type,
            })
        }
        TypeInfo::Removed { name: type_name } => {
            return Err(BuildError::RemovedType {
                tensor: name(),
                type_id: t.ggml_type,
                name: type_name,
            })
        }
        TypeInfo::Sized {
            name: type_name,
            block_elems,
            block_bytes,
        } => {
            let ne0 = t.ne.first().copied().unwrap_or(1);
            if ne0 % block_elems != 0 {
                return Err(BuildError::NotBlockMultiple {
                    tensor: name(),
                    ne0,
                    block: block_elems,
                    type_name,
                });
            }
            (n / block_elems).checked_mul(block_bytes).ok_or_else(|| {
                BuildError::ByteSizeOverflow {
                    tensor: name(),
                    ne: t.ne.clone(),
                }
            })?
        }
    };
    if expected != t.data.len() as u64 {
        return Err(BuildError::TensorDataLength {
            tensor: name(),
            expected,
            actual: t.data.len() as u64,
        });
    }
    Ok(())
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u64(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn pad_to(out: &mut Vec<u8>, align: u64) {
    let target = pad(out.len() as u64, align).unwrap_or(out.len() as u64);
    out.resize(target as usize, 0);
}

fn put_value(out: &mut Vec<u8>, key: &str, value: &MetadataValue) -> Result<(), BuildError> {
    match value {
        MetadataValue::U8(v) => out.push(*v),
        MetadataValue::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::Bool(v) => out.push(u8::from(*v)),
        MetadataValue::String(s) => put_str(out, s),
        MetadataValue::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::Array(elem_type, items) => {
            if *elem_type == ValueType::Array {
                return Err(BuildError::NestedArray {
                    key: key.to_owned(),
                });
            }
            put_u32(out, elem_type.id());
            put_u64(out, items.len() as u64);
            for (index, item) in items.iter().enumerate() {
                if item.value_type() != *elem_type {
                    return Err(BuildError::ArrayElementType {
                        key: key.to_owned(),
                        index,
                        expected: *elem_type,
                        found: item.value_type(),
                    });
                }
                put_value(out, key, item)?;
            }
        }
    }
    Ok(())
}
