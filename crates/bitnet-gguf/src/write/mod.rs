//! The writers: [`GgufBuilder`] builds a whole file in memory; [`GgufWriter`] streams one to any
//! `Write` without holding the tensor data, for files of any size. Both lay out exactly what
//! docs/gguf.md describes, and produce the same bytes for the same input.
//!
//! Output depends only on what was given and in which order: no timestamps, no hash-map order.
//! `general.alignment` is always written: where the caller gave it (a UINT32 power of two), or
//! else as the first key, with the default 32. Tensors are laid out in the order given, each at
//! the running sum of the padded sizes before it, each followed by zero padding.

mod builder;
mod error;
mod stream;

use std::collections::HashSet;

pub use builder::GgufBuilder;
pub use error::{BuildError, WriteError};
pub use stream::GgufWriter;

use crate::cursor::MAX_LEN;
use crate::layout::{pad, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC, MAX_TENSOR_NAME};
use crate::types::{type_info, TypeInfo, ValueType};
use crate::value::MetadataValue;

/// A tensor to be written: its info and the size of its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// The name (1..=63 bytes, unique).
    pub name: String,
    /// The dimensions in ggml order (`ne[0]` = columns), at most 4.
    pub ne: Vec<u64>,
    /// The ggml type id.
    pub ggml_type: u32,
    /// The data's size in bytes: for types the table sizes, exactly what the type and shape
    /// need; for I2_S, the caller's.
    pub size: u64,
}

/// The alignment `metadata` asks for: its `general.alignment`, or the default.
fn alignment(metadata: &[(String, MetadataValue)]) -> Result<u64, BuildError> {
    let Some((index, (_, value))) = metadata
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

/// Everything before the data section, its padding included, and the alignment: the bytes
/// both writers start with.
fn header(
    metadata: &[(String, MetadataValue)],
    tensors: &[TensorSpec],
) -> Result<(Vec<u8>, u64, u64), BuildError> {
    let align = alignment(metadata)?;
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    put_u32(&mut out, 3);
    put_u64(&mut out, tensors.len() as u64);
    let has_alignment = metadata.iter().any(|(k, _)| k == ALIGNMENT_KEY);
    put_u64(&mut out, metadata.len() as u64 + u64::from(!has_alignment));
    if !has_alignment {
        put_str(&mut out, ALIGNMENT_KEY);
        put_u32(&mut out, ValueType::U32.id());
        put_u32(&mut out, DEFAULT_ALIGNMENT as u32);
    }
    let mut keys = HashSet::new();
    for (i, (key, value)) in metadata.iter().enumerate() {
        if key.is_empty() {
            return Err(BuildError::EmptyKey { index: i });
        }
        if !keys.insert(key.as_str()) {
            return Err(BuildError::DuplicateKey {
                key: key.clone(),
                index: i,
                first_index: metadata.iter().position(|(k, _)| k == key).unwrap_or(0),
            });
        }
        check_len(key, "string", key.len())?;
        put_str(&mut out, key);
        put_u32(&mut out, value.value_type().id());
        put_value(&mut out, key, value)?;
    }

    let mut names = HashSet::new();
    let mut offset = 0u64;
    for (i, t) in tensors.iter().enumerate() {
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
        check_size(t)?;
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
        offset = pad(t.size, align)
            .and_then(|p| offset.checked_add(p))
            .ok_or_else(overflow)?;
    }
    pad_to(&mut out, align);
    Ok((out, align, offset))
}

fn check_size(t: &TensorSpec) -> Result<(), BuildError> {
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
    if expected != t.size {
        return Err(BuildError::TensorDataLength {
            tensor: name(),
            expected,
            actual: t.size,
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

/// Refuses a string or array the reader would reject as too long.
fn check_len(key: &str, what: &'static str, len: usize) -> Result<(), BuildError> {
    if len as u64 > MAX_LEN {
        return Err(BuildError::TooLong {
            key: key.to_owned(),
            what,
            len: len as u64,
            limit: MAX_LEN,
        });
    }
    Ok(())
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
        MetadataValue::String(s) => {
            check_len(key, "string", s.len())?;
            put_str(out, s);
        }
        MetadataValue::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetadataValue::Array(elem_type, items) => {
            if *elem_type == ValueType::Array {
                return Err(BuildError::NestedArray {
                    key: key.to_owned(),
                });
            }
            check_len(key, "array", items.len())?;
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
