//! The deterministic writer: [`GgufBuilder`] lays out exactly what SPEC §1 describes.
//!
//! Output depends only on what was added and in which order: no timestamps, no hash-map order.

use std::collections::HashSet;

use crate::error::GgufError;
use crate::reader::{pad, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC, MAX_TENSOR_NAME};
use crate::types::{type_info, TypeInfo, ValueType};
use crate::value::MetadataValue;

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
    pub fn alignment(&self) -> Result<u64, GgufError> {
        let Some((offset, (_, value))) = self
            .metadata
            .iter()
            .enumerate()
            .find(|(_, (k, _))| k == ALIGNMENT_KEY)
        else {
            return Ok(DEFAULT_ALIGNMENT);
        };
        match *value {
            MetadataValue::U32(a) if a.is_power_of_two() => Ok(u64::from(a)),
            MetadataValue::U32(a) => Err(GgufError::InvalidAlignment {
                alignment: a,
                offset: offset as u64,
            }),
            ref other => Err(GgufError::AlignmentType {
                found: other.value_type(),
                offset: offset as u64,
            }),
        }
    }

    /// Writes the file. Errors name the offending key or tensor; offsets in them are the index
    /// of the pair or tensor, as nothing has been written yet.
    pub fn build(&self) -> Result<Vec<u8>, GgufError> {
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
                return Err(GgufError::EmptyKey { offset: i as u64 });
            }
            if !keys.insert(key.as_str()) {
                return Err(GgufError::DuplicateKey {
                    key: key.clone(),
                    offset: i as u64,
                    first_offset: self
                        .metadata
                        .iter()
                        .position(|(k, _)| k == key)
                        .unwrap_or(0) as u64,
                });
            }
            put_str(&mut out, key);
            put_u32(&mut out, value.value_type().id());
            put_value(&mut out, key, value)?;
        }

        let mut names = HashSet::new();
        let mut offset = 0u64;
        let mut offsets = Vec::with_capacity(self.tensors.len());
        for (i, t) in self.tensors.iter().enumerate() {
            let len = t.name.len() as u64;
            if len == 0 || len > MAX_TENSOR_NAME {
                return Err(GgufError::TensorNameLength {
                    name: t.name.clone(),
                    len,
                    offset: i as u64,
                });
            }
            if !names.insert(t.name.as_str()) {
                return Err(GgufError::DuplicateTensorName {
                    name: t.name.clone(),
                    offset: i as u64,
                });
            }
            if t.ne.len() > 4 {
                return Err(GgufError::TooManyDims {
                    tensor: t.name.clone(),
                    n_dims: t.ne.len() as u32,
                    offset: i as u64,
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
            offsets.push(offset);
            let overflow = || GgufError::ByteSizeOverflow {
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

fn check_data_len(t: &PendingTensor) -> Result<(), GgufError> {
    let name = || t.name.clone();
    // The shape rules hold whatever the type, caller-sized I2_S included: the reader rejects a
    // dimension past i64::MAX or an element count past u64 before it looks at the type.
    if let Some((dim, &value)) = t.ne.iter().enumerate().find(|(_, &d)| d > i64::MAX as u64) {
        return Err(GgufError::DimensionOutOfRange {
            tensor: name(),
            dim,
            value,
        });
    }
    let n =
        t.ne.iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .ok_or_else(|| GgufError::ElementCountOverflow {
                tensor: name(),
                ne: t.ne.clone(),
            })?;
    let expected = match type_info(t.ggml_type) {
        TypeInfo::CallerSized { .. } => return Ok(()),
        TypeInfo::Unknown => {
            return Err(GgufError::UnknownType {
                tensor: name(),
                type_id: t.ggml_type,
            })
        }
        TypeInfo::Removed { name: type_name } => {
            return Err(GgufError::RemovedType {
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
                return Err(GgufError::NotBlockMultiple {
                    tensor: name(),
                    ne0,
                    block: block_elems,
                    type_name,
                });
            }
            (n / block_elems).checked_mul(block_bytes).ok_or_else(|| {
                GgufError::ByteSizeOverflow {
                    tensor: name(),
                    ne: t.ne.clone(),
                }
            })?
        }
    };
    if expected != t.data.len() as u64 {
        return Err(GgufError::TensorDataLength {
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

fn put_value(out: &mut Vec<u8>, key: &str, value: &MetadataValue) -> Result<(), GgufError> {
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
            let at = out.len() as u64;
            if *elem_type == ValueType::Array {
                return Err(GgufError::NestedArray {
                    key: key.to_owned(),
                    offset: at,
                });
            }
            put_u32(out, elem_type.id());
            put_u64(out, items.len() as u64);
            for item in items {
                if item.value_type() != *elem_type {
                    return Err(GgufError::InvalidValueType {
                        key: key.to_owned(),
                        value_type: item.value_type().id(),
                        offset: out.len() as u64,
                    });
                }
                put_value(out, key, item)?;
            }
        }
    }
    Ok(())
}
