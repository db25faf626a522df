//! Metadata values: borrowed ones as the reader yields them, owned ones for the writer.

use crate::types::ValueType;

/// A metadata value borrowed from the file's bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// UINT8
    U8(u8),
    /// INT8
    I8(i8),
    /// UINT16
    U16(u16),
    /// INT16
    I16(i16),
    /// UINT32
    U32(u32),
    /// INT32
    I32(i32),
    /// FLOAT32
    F32(f32),
    /// BOOL (any non-zero byte is true, as in ggml)
    Bool(bool),
    /// STRING, validated UTF-8
    String(&'a str),
    /// ARRAY, decoded lazily
    Array(Array<'a>),
    /// UINT64
    U64(u64),
    /// INT64
    I64(i64),
    /// FLOAT64
    F64(f64),
}

impl<'a> Value<'a> {
    /// The value's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::F32(_) => ValueType::F32,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Array(_) => ValueType::Array,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
        }
    }

    /// The string, if this is a STRING.
    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The array, if this is an ARRAY.
    pub fn as_array(&self) -> Option<&Array<'a>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Any unsigned or non-negative signed integer, widened to `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// An owned copy, for the writer or for comparison.
    pub fn to_owned_value(&self) -> MetadataValue {
        match *self {
            Value::U8(v) => MetadataValue::U8(v),
            Value::I8(v) => MetadataValue::I8(v),
            Value::U16(v) => MetadataValue::U16(v),
            Value::I16(v) => MetadataValue::I16(v),
            Value::U32(v) => MetadataValue::U32(v),
            Value::I32(v) => MetadataValue::I32(v),
            Value::F32(v) => MetadataValue::F32(v),
            Value::Bool(v) => MetadataValue::Bool(v),
            Value::String(v) => MetadataValue::String(v.to_owned()),
            Value::Array(a) => {
                MetadataValue::Array(a.elem_type, a.iter().map(|v| v.to_owned_value()).collect())
            }
            Value::U64(v) => MetadataValue::U64(v),
            Value::I64(v) => MetadataValue::I64(v),
            Value::F64(v) => MetadataValue::F64(v),
        }
    }
}

/// An array value: element type, count, and the raw bytes of its elements, decoded on demand.
///
/// The reader has already checked every element (string lengths, UTF-8), so iteration only
/// re-reads what is known to be there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Array<'a> {
    pub(crate) elem_type: ValueType,
    pub(crate) len: u64,
    pub(crate) raw: &'a [u8],
}

impl<'a> Array<'a> {
    /// The element type (never ARRAY).
    pub fn elem_type(&self) -> ValueType {
        self.elem_type
    }

    /// The number of elements.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements' bytes as stored in the file.
    pub fn raw_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// The elements, in order.
    pub fn iter(&self) -> ArrayIter<'a> {
        ArrayIter {
            elem_type: self.elem_type,
            rest: self.raw,
            left: self.len,
        }
    }

    /// The elements of a STRING array; `None` for other element types.
    pub fn strings(&self) -> Option<impl Iterator<Item = &'a str> + 'a> {
        (self.elem_type == ValueType::String).then(|| self.iter().filter_map(|v| v.as_str()))
    }
}

/// Iterator over an [`Array`]'s elements.
#[derive(Debug, Clone)]
pub struct ArrayIter<'a> {
    elem_type: ValueType,
    rest: &'a [u8],
    left: u64,
}

fn split<const N: usize>(rest: &mut &[u8]) -> Option<[u8; N]> {
    let (head, tail) = rest.split_first_chunk::<N>()?;
    *rest = tail;
    Some(*head)
}

impl<'a> Iterator for ArrayIter<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Value<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let r = &mut self.rest;
        // The reader validated these bytes; a `None` here ends the iteration rather than panic.
        Some(match self.elem_type {
            ValueType::U8 => Value::U8(split::<1>(r)?[0]),
            ValueType::I8 => Value::I8(i8::from_le_bytes(split(r)?)),
            ValueType::U16 => Value::U16(u16::from_le_bytes(split(r)?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(split(r)?)),
            ValueType::U32 => Value::U32(u32::from_le_bytes(split(r)?)),
            ValueType::I32 => Value::I32(i32::from_le_bytes(split(r)?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(split(r)?)),
            ValueType::Bool => Value::Bool(split::<1>(r)?[0] != 0),
            ValueType::U64 => Value::U64(u64::from_le_bytes(split(r)?)),
            ValueType::I64 => Value::I64(i64::from_le_bytes(split(r)?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(split(r)?)),
            ValueType::String => {
                let len = usize::try_from(u64::from_le_bytes(split(r)?)).ok()?;
                if len > r.len() {
                    return None;
                }
                let (s, tail) = r.split_at(len);
                *r = tail;
                Value::String(std::str::from_utf8(s).ok()?)
            }
            ValueType::Array => return None,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, usize::try_from(self.left).ok())
    }
}

/// An owned metadata value, as the writer takes it.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataValue {
    /// UINT8
    U8(u8),
    /// INT8
    I8(i8),
    /// UINT16
    U16(u16),
    /// INT16
    I16(i16),
    /// UINT32
    U32(u32),
    /// INT32
    I32(i32),
    /// FLOAT32
    F32(f32),
    /// BOOL
    Bool(bool),
    /// STRING
    String(String),
    /// ARRAY: the element type and the elements, which must all have that type and must not
    /// be arrays.
    Array(ValueType, Vec<MetadataValue>),
    /// UINT64
    U64(u64),
    /// INT64
    I64(i64),
    /// FLOAT64
    F64(f64),
}

impl MetadataValue {
    /// An array of strings.
    pub fn strings<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Self {
        MetadataValue::Array(
            ValueType::String,
            items
                .into_iter()
                .map(|s| MetadataValue::String(s.into()))
                .collect(),
        )
    }

    /// The value's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            MetadataValue::U8(_) => ValueType::U8,
            MetadataValue::I8(_) => ValueType::I8,
            MetadataValue::U16(_) => ValueType::U16,
            MetadataValue::I16(_) => ValueType::I16,
            MetadataValue::U32(_) => ValueType::U32,
            MetadataValue::I32(_) => ValueType::I32,
            MetadataValue::F32(_) => ValueType::F32,
            MetadataValue::Bool(_) => ValueType::Bool,
            MetadataValue::String(_) => ValueType::String,
            MetadataValue::Array(..) => ValueType::Array,
            MetadataValue::U64(_) => ValueType::U64,
            MetadataValue::I64(_) => ValueType::I64,
            MetadataValue::F64(_) => ValueType::F64,
        }
    }

    /// An array of one element type built from plain Rust values.
    pub fn array<T: Into<MetadataValue>>(
        elem_type: ValueType,
        items: impl IntoIterator<Item = T>,
    ) -> Self {
        MetadataValue::Array(elem_type, items.into_iter().map(Into::into).collect())
    }
}

impl From<&str> for MetadataValue {
    fn from(s: &str) -> Self {
        MetadataValue::String(s.to_owned())
    }
}

impl From<String> for MetadataValue {
    fn from(s: String) -> Self {
        MetadataValue::String(s)
    }
}

macro_rules! from_scalar {
    ($($t:ty => $v:ident),*) => {$(
        impl From<$t> for MetadataValue {
            fn from(x: $t) -> Self { MetadataValue::$v(x) }
        }
    )*};
}
from_scalar!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, f32 => F32,
    bool => Bool, u64 => U64, i64 => I64, f64 => F64);
