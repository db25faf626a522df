//! The zero-copy reader: [`Gguf::parse`] walks the header, metadata and tensor infos of a byte
//! slice and keeps borrowed views into it.
//!
//! Parsing stops at the first structural error (one after which the rest of the file cannot be
//! located). Rules that do not prevent reading on, such as duplicate keys or misplaced tensors,
//! are left to [`Gguf::validate`], which reports them all.

use std::collections::HashMap;

use crate::cursor::{Cursor, MAX_LEN};
use crate::error::{DataError, Entry, GgufError};
use crate::layout::{pad, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC};
use crate::types::{type_info, TypeInfo, ValueType};
use crate::value::{Array, Value};

/// The fewest bytes one metadata pair occupies: key length, type, a one-byte value.
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
/// The fewest bytes one tensor info occupies: name length, `n_dims`, type, offset.
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 4 + 8;

/// One metadata key/value pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetadataEntry<'a> {
    /// The key.
    pub key: &'a str,
    /// The value.
    pub value: Value<'a>,
    /// Absolute offset of the pair (its key length field).
    pub offset: u64,
}

/// One tensor info.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorInfo<'a> {
    /// The name.
    pub name: &'a str,
    n_dims: u8,
    dims: [u64; 4],
    /// The ggml type id.
    pub ggml_type: u32,
    /// Offset of the data, relative to the start of the data section.
    pub offset: u64,
    /// Absolute offset of this tensor info in the file.
    pub info_offset: u64,
}

impl<'a> TensorInfo<'a> {
    /// The dimensions in ggml order (`ne[0]` innermost).
    pub fn ne(&self) -> &[u64] {
        &self.dims[..usize::from(self.n_dims)]
    }

    /// What the type table knows of the type.
    pub fn type_info(&self) -> TypeInfo {
        type_info(self.ggml_type)
    }

    /// The element count, `None` if it overflows `u64` or a dimension exceeds `i64::MAX`.
    pub fn n_elements(&self) -> Option<u64> {
        self.ne().iter().try_fold(1u64, |acc, &d| {
            if d > i64::MAX as u64 {
                None
            } else {
                acc.checked_mul(d)
            }
        })
    }

    /// Columns (`ne[0]`, 1 for a scalar).
    pub fn cols(&self) -> u64 {
        self.ne().first().copied().unwrap_or(1)
    }

    /// Rows: the product of `ne[1..]`, `None` on overflow.
    pub fn rows(&self) -> Option<u64> {
        self.ne()
            .iter()
            .skip(1)
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
    }

    /// The byte size the type and shape fix, `None` for caller-sized, removed and unknown types,
    /// for `ne[0]` not a multiple of the block size, and on overflow.
    pub fn byte_size(&self) -> Option<u64> {
        let TypeInfo::Sized {
            block_elems,
            block_bytes,
            ..
        } = self.type_info()
        else {
            return None;
        };
        let n = self.n_elements()?;
        if !self.cols().is_multiple_of(block_elems) {
            return None;
        }
        (n / block_elems).checked_mul(block_bytes)
    }
}

/// A parsed GGUF file: views into the bytes it was parsed from.
#[derive(Debug, Clone)]
pub struct Gguf<'a> {
    bytes: &'a [u8],
    version: u32,
    metadata: Vec<MetadataEntry<'a>>,
    tensors: Vec<TensorInfo<'a>>,
    /// The index of the first tensor of each name. Lookups by name happen once per tensor (an
    /// I2_S tensor's `.scale` sibling), so a linear search would make checking a hostile file
    /// of many small tensors quadratic.
    tensor_index: HashMap<&'a str, usize>,
    alignment: u64,
    tensor_info_end: u64,
    data_offset: u64,
}

impl<'a> Gguf<'a> {
    /// Parses the header, metadata and tensor infos. Allocates only for the entries it has
    /// read, never for a count it has not checked against the bytes that remain.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, GgufError> {
        let mut c = Cursor::new(bytes);
        let magic: [u8; 4] = c.array("magic")?;
        if magic != MAGIC {
            return Err(GgufError::BadMagic { found: magic });
        }
        let version = c.u32("version")?;
        match version {
            2 | 3 => {}
            v if v.swap_bytes() == 2 || v.swap_bytes() == 3 => {
                return Err(GgufError::BigEndian { raw: v })
            }
            v => return Err(GgufError::UnsupportedVersion { version: v }),
        }
        let tensor_count_at = c.pos();
        let tensor_count = c.u64("tensor count")?;
        let kv_count_at = c.pos();
        let kv_count = c.u64("metadata key count")?;
        check_count(&c, "metadata key", kv_count, kv_count_at, MIN_KV_BYTES)?;
        // The tensor infos come after the metadata, so this bound is loose but already rules
        // out any count the file cannot hold.
        check_count(
            &c,
            "tensor",
            tensor_count,
            tensor_count_at,
            MIN_TENSOR_INFO_BYTES,
        )?;

        let metadata = read_entries(&mut c, "metadata pair", kv_count, read_kv)?;
        let alignment = alignment_of(&metadata)?;

        let tensors = read_entries(&mut c, "tensor info", tensor_count, read_tensor_info)?;
        let tensor_info_end = c.pos();
        let mut tensor_index = HashMap::with_capacity(tensors.len());
        for (i, t) in tensors.iter().enumerate() {
            tensor_index.entry(t.name).or_insert(i);
        }
        // A vocab-only file may end before this offset; that is valid (docs/gguf.md).
        let data_offset = pad(tensor_info_end, alignment).unwrap_or(u64::MAX);
        Ok(Self {
            bytes,
            version,
            metadata,
            tensors,
            tensor_index,
            alignment,
            tensor_info_end,
            data_offset,
        })
    }

    /// The bytes the file was parsed from.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The format version (3, or 2 which has the same layout).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The metadata pairs in file order.
    pub fn metadata(&self) -> &[MetadataEntry<'a>] {
        &self.metadata
    }

    /// The value of the first pair with this key.
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        self.metadata.iter().find(|e| e.key == key).map(|e| e.value)
    }

    /// The tensor infos in file order.
    pub fn tensors(&self) -> &[TensorInfo<'a>] {
        &self.tensors
    }

    /// The first tensor info with this name, with its index.
    pub fn tensor(&self, name: &str) -> Option<(usize, &TensorInfo<'a>)> {
        let &index = self.tensor_index.get(name)?;
        self.tensors.get(index).map(|t| (index, t))
    }

    /// The alignment: `general.alignment`, or 32 when absent.
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Absolute offset of the end of the tensor infos.
    pub fn tensor_info_end(&self) -> u64 {
        self.tensor_info_end
    }

    /// Absolute offset of the data section. For a file without tensors it may lie past the end.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// Absolute start of tensor `index`'s data, `None` for a bad index or on overflow.
    pub fn tensor_start(&self, index: usize) -> Option<u64> {
        self.data_offset
            .checked_add(self.tensors.get(index)?.offset)
    }

    /// The bytes available to tensor `index` (docs/formats.md): up to the next tensor's offset, or to
    /// the end of the file for the last one. Empty when the offsets are out of order or past
    /// the end; [`Gguf::validate`] reports why.
    pub fn tensor_span(&self, index: usize) -> &'a [u8] {
        let start = self.tensor_start(index);
        let end = match self.tensors.get(index + 1) {
            Some(next) => self.data_offset.checked_add(next.offset),
            None => Some(self.bytes.len() as u64),
        };
        let (Some(start), Some(end)) = (start, end) else {
            return &[];
        };
        let start = usize::try_from(start).unwrap_or(usize::MAX);
        let end = usize::try_from(end).unwrap_or(usize::MAX);
        self.bytes.get(start..end).unwrap_or(&[])
    }

    /// The data of tensor `index`, for types whose size the type table fixes.
    pub fn tensor_data(&self, index: usize) -> Result<&'a [u8], DataError> {
        let info = self.tensors.get(index).ok_or(DataError::NoSuchTensor {
            index,
            count: self.tensors.len(),
        })?;
        let size = info.byte_size().ok_or_else(|| DataError::SizeUnknown {
            tensor: info.name.to_owned(),
            type_name: info.type_info().name(),
        })?;
        Ok(self.tensor_bytes(info, size)?)
    }

    /// `size` bytes of `info`'s data, for callers that know the size (I2_S): from the data
    /// section's start plus `info.offset`.
    pub fn tensor_bytes(&self, info: &TensorInfo<'_>, size: u64) -> Result<&'a [u8], GgufError> {
        let out_of_bounds = || GgufError::DataOutOfBounds {
            tensor: info.name.to_owned(),
            tensor_offset: info.offset,
            size,
            file_len: self.bytes.len() as u64,
        };
        let start = self
            .data_offset
            .checked_add(info.offset)
            .and_then(|s| usize::try_from(s).ok())
            .ok_or_else(out_of_bounds)?;
        let len = usize::try_from(size).map_err(|_| out_of_bounds())?;
        self.bytes
            .get(start..)
            .and_then(|b| b.get(..len))
            .ok_or_else(out_of_bounds)
    }
}

fn check_count(
    c: &Cursor<'_>,
    what: &'static str,
    count: u64,
    offset: u64,
    min_each: u64,
) -> Result<(), GgufError> {
    let remaining = c.remaining();
    if count
        .checked_mul(min_each)
        .is_none_or(|need| need > remaining)
    {
        return Err(GgufError::CountExceedsFile {
            what,
            count,
            offset,
            min_each,
            remaining,
        });
    }
    Ok(())
}

/// Reads `count` entries with `read`; a truncation names the entry ("tensor info 3 of 14").
fn read_entries<'a, T>(
    c: &mut Cursor<'a>,
    kind: &'static str,
    count: u64,
    read: fn(&mut Cursor<'a>) -> Result<T, GgufError>,
) -> Result<Vec<T>, GgufError> {
    let mut out = Vec::new();
    for i in 0..count {
        let entry = Entry {
            kind,
            number: i + 1,
            count,
        };
        out.push(read(c).map_err(|e| e.in_entry(entry))?);
    }
    Ok(out)
}

fn read_kv<'a>(c: &mut Cursor<'a>) -> Result<MetadataEntry<'a>, GgufError> {
    let offset = c.pos();
    let (key, _) = c.str("key")?;
    let type_at = c.pos();
    let type_id = c.u32("value type")?;
    let value_type = ValueType::from_u32(type_id).ok_or_else(|| GgufError::InvalidValueType {
        key: key.to_owned(),
        value_type: type_id,
        offset: type_at,
    })?;
    let value = read_value(c, key, value_type)?;
    Ok(MetadataEntry { key, value, offset })
}

fn read_value<'a>(c: &mut Cursor<'a>, key: &str, t: ValueType) -> Result<Value<'a>, GgufError> {
    Ok(match t {
        ValueType::U8 => Value::U8(c.array::<1>("value")?[0]),
        ValueType::I8 => Value::I8(i8::from_le_bytes(c.array("value")?)),
        ValueType::U16 => Value::U16(u16::from_le_bytes(c.array("value")?)),
        ValueType::I16 => Value::I16(i16::from_le_bytes(c.array("value")?)),
        ValueType::U32 => Value::U32(u32::from_le_bytes(c.array("value")?)),
        ValueType::I32 => Value::I32(i32::from_le_bytes(c.array("value")?)),
        ValueType::F32 => Value::F32(f32::from_le_bytes(c.array("value")?)),
        ValueType::Bool => Value::Bool(c.array::<1>("value")?[0] != 0),
        ValueType::U64 => Value::U64(u64::from_le_bytes(c.array("value")?)),
        ValueType::I64 => Value::I64(i64::from_le_bytes(c.array("value")?)),
        ValueType::F64 => Value::F64(f64::from_le_bytes(c.array("value")?)),
        ValueType::String => Value::String(c.str("string value")?.0),
        ValueType::Array => Value::Array(read_array(c, key)?),
    })
}

fn read_array<'a>(c: &mut Cursor<'a>, key: &str) -> Result<Array<'a>, GgufError> {
    let type_at = c.pos();
    let type_id = c.u32("array element type")?;
    let elem_type = match ValueType::from_u32(type_id) {
        Some(ValueType::Array) => {
            return Err(GgufError::NestedArray {
                key: key.to_owned(),
                offset: type_at,
            })
        }
        Some(t) => t,
        None => {
            return Err(GgufError::InvalidValueType {
                key: key.to_owned(),
                value_type: type_id,
                offset: type_at,
            })
        }
    };
    let count_at = c.pos();
    let count = c.u64("array count")?;
    if count > MAX_LEN {
        return Err(GgufError::ArrayTooLong {
            key: key.to_owned(),
            count,
            offset: count_at,
            limit: MAX_LEN,
        });
    }
    // A string element is at least its 8-byte length.
    let min_each = elem_type.fixed_size().unwrap_or(8);
    let min_bytes = count * min_each; // count <= 2^30, min_each <= 8: no overflow
    let remaining = c.remaining();
    if min_bytes > remaining {
        return Err(GgufError::ArrayExceedsFile {
            key: key.to_owned(),
            count,
            offset: count_at,
            min_bytes,
            remaining,
        });
    }
    let start = c.clone();
    match elem_type.fixed_size() {
        Some(_) => {
            c.take(min_bytes, "array elements")?;
        }
        None => match string_run(c.rest(), count) {
            Some(len) => {
                c.take(len as u64, "array elements")?;
            }
            // Not one valid run: read the strings one by one, which either names the first bad
            // one precisely or, where only a length byte broke the run, reads them all.
            None => {
                for _ in 0..count {
                    c.str("string value")?;
                }
            }
        },
    }
    let len = c.pos() - start.pos();
    let raw = start.clone().take(len, "array elements")?;
    Ok(Array {
        elem_type,
        len: count,
        raw,
    })
}

/// The bytes `count` GGUF strings at the start of `bytes` occupy, when each is within the limit,
/// within `bytes`, and valid UTF-8; `None` otherwise, or when this fast path cannot tell.
///
/// This is the hot loop of a tokenizer's vocabulary (32,000 short strings), so it first walks the
/// lengths and then validates the whole run, lengths included, as UTF-8 in one SIMD pass. That
/// is the same as validating each string on its own when every length byte is ASCII (below
/// 0x80): an ASCII byte is never part of a multi-byte sequence, so no sequence can start in one
/// string and end in the next. A run with a longer string falls back to the slow path.
///
/// The walk is one chain of dependent loads (each length says where the next one is), so its
/// loop does nothing else: no branch on a length. A length above [`MAX_LEN`] is capped for the
/// step (so `at` cannot overflow) and caught after the loop through `length_bits`, a string
/// past the end makes the next length's read, or the final slice, fail.
fn string_run(bytes: &[u8], count: u64) -> Option<usize> {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let mut at = 0usize;
    let mut length_bits = 0u64;
    for _ in 0..count {
        let len = u64::from_le_bytes(*bytes.get(at..)?.first_chunk::<8>()?);
        length_bits |= len;
        at += 8 + len.min(MAX_LEN) as usize;
    }
    // Any length above the limit sets a bit above it (and a few allowed ones, such as two
    // lengths of exactly 2^30 and 1, go to the slow path, which reads them right).
    if length_bits & HIGH_BITS != 0 || length_bits > MAX_LEN {
        return None;
    }
    simdutf8::basic::from_utf8(bytes.get(..at)?).ok()?;
    Some(at)
}

fn read_tensor_info<'a>(c: &mut Cursor<'a>) -> Result<TensorInfo<'a>, GgufError> {
    let info_offset = c.pos();
    let (name, _) = c.str("tensor name")?;
    let n_dims_at = c.pos();
    let n_dims = c.u32("tensor n_dims")?;
    if n_dims > 4 {
        return Err(GgufError::TooManyDims {
            tensor: name.to_owned(),
            n_dims,
            offset: n_dims_at,
        });
    }
    let mut dims = [1u64; 4];
    for d in dims.iter_mut().take(n_dims as usize) {
        *d = c.u64("tensor dimension")?;
    }
    let ggml_type = c.u32("tensor type")?;
    let offset = c.u64("tensor offset")?;
    Ok(TensorInfo {
        name,
        n_dims: n_dims as u8,
        dims,
        ggml_type,
        offset,
        info_offset,
    })
}

/// The alignment from `general.alignment` (the first such pair; duplicates are a validation
/// finding), or the default.
fn alignment_of(metadata: &[MetadataEntry<'_>]) -> Result<u64, GgufError> {
    let Some(entry) = metadata.iter().find(|e| e.key == ALIGNMENT_KEY) else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    match entry.value {
        Value::U32(a) if a.is_power_of_two() => Ok(u64::from(a)),
        Value::U32(a) => Err(GgufError::InvalidAlignment {
            alignment: a,
            offset: entry.offset,
        }),
        other => Err(GgufError::AlignmentType {
            found: other.value_type(),
            offset: entry.offset,
        }),
    }
}
