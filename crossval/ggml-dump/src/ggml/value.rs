//! Metadata values as ggml's reader returns them, and the names of `enum gguf_type`.

use super::gguf_type;

/// `enum gguf_type` (gguf.h), named as gguf-py's `GGUFValueType` spells it.
pub fn gguf_type_name(ty: i32) -> &'static str {
    const NAMES: [&str; 13] = [
        "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING",
        "ARRAY", "UINT64", "INT64", "FLOAT64",
    ];
    usize::try_from(ty)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("UNKNOWN")
}

/// One metadata value as ggml returns it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(String),
    U64(u64),
    I64(i64),
    F64(f64),
    /// Element type (`enum gguf_type`) and elements.
    Array(i32, Vec<Value>),
}

impl Value {
    /// Decodes one scalar of type `ty` from native-endian bytes (ggml converts on load).
    pub(super) fn scalar(ty: i32, b: &[u8]) -> Option<Self> {
        use gguf_type::*;
        Some(match ty {
            UINT8 => Self::U8(u8::from_ne_bytes(b.try_into().ok()?)),
            INT8 => Self::I8(i8::from_ne_bytes(b.try_into().ok()?)),
            UINT16 => Self::U16(u16::from_ne_bytes(b.try_into().ok()?)),
            INT16 => Self::I16(i16::from_ne_bytes(b.try_into().ok()?)),
            UINT32 => Self::U32(u32::from_ne_bytes(b.try_into().ok()?)),
            INT32 => Self::I32(i32::from_ne_bytes(b.try_into().ok()?)),
            FLOAT32 => Self::F32(f32::from_ne_bytes(b.try_into().ok()?)),
            // gguf.cpp reads a bool as "int8 != 0" and stores a C++ bool (one byte, 0 or 1).
            BOOL => Self::Bool(u8::from_ne_bytes(b.try_into().ok()?) != 0),
            UINT64 => Self::U64(u64::from_ne_bytes(b.try_into().ok()?)),
            INT64 => Self::I64(i64::from_ne_bytes(b.try_into().ok()?)),
            FLOAT64 => Self::F64(f64::from_ne_bytes(b.try_into().ok()?)),
            _ => return None,
        })
    }
}

/// Byte size of a scalar `enum gguf_type`, `None` for STRING, ARRAY and unknown types.
pub(super) fn scalar_size(ty: i32) -> Option<usize> {
    use gguf_type::*;
    match ty {
        UINT8 | INT8 | BOOL => Some(1),
        UINT16 | INT16 => Some(2),
        UINT32 | INT32 | FLOAT32 => Some(4),
        UINT64 | INT64 | FLOAT64 => Some(8),
        _ => None,
    }
}
