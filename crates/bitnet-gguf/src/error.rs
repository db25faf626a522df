//! What can be wrong with a GGUF file, by role: [`GgufError`] (the file breaks a rule),
//! [`GgufWarning`] (the file is valid but odd) and [`DataError`] (a caller asked for tensor data
//! the wrong way). How validation reports the first two, with where they are and how serious, is
//! in `finding.rs` ([`crate::Finding`], [`crate::Severity`]); [`Location`] is in `location.rs`. The writer's errors
//! are [`crate::BuildError`], next to the writer.
//!
//! A field named `offset` is always an absolute byte offset in the file. A tensor's offset field
//! (relative to the data section) is called `tensor_offset`.

use crate::layout::ALIGNMENT_KEY;
use crate::location::Location;
use crate::types::ValueType;

/// A rule of the GGUF format that a file breaks: a parse error (the rest of the file cannot be
/// located) or a validation error.
///
/// Each variant carries the facts: the absolute byte offset where it is known, the key or tensor
/// it concerns, the expected and found values. [`GgufError::code`] is a stable kebab-case code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
#[non_exhaustive]
pub enum GgufError {
    /// The file ends inside a structure.
    #[error(
        "{}truncated {what}: needs {needed} bytes at byte {offset}, the file ends at byte \
         {file_len} ({} bytes short)",
        entry.map(|e| format!("{e}: ")).unwrap_or_default(),
        (offset + needed).saturating_sub(*file_len)
    )]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// The metadata pair or tensor info it belongs to, when it is in one.
        entry: Option<Entry>,
        /// Absolute offset of the read.
        offset: u64,
        /// Bytes the read needs.
        needed: u64,
        /// The file's length: the read is `offset + needed - file_len` bytes short.
        file_len: u64,
    },
    /// The first four bytes are not `GGUF`.
    #[error("bad magic {found:02x?} at byte 0: expected \"GGUF\"")]
    BadMagic {
        /// The bytes found.
        found: [u8; 4],
    },
    /// The version field reads as a byte-swapped version: a big-endian GGUF.
    #[error(
        "big-endian GGUF (version field reads {raw:#010x}); only little-endian files are supported"
    )]
    BigEndian {
        /// The version field as read little-endian.
        raw: u32,
    },
    /// A version other than 2 or 3.
    #[error("unsupported GGUF version {version} at byte 4 (supported: 3, and 2 which has the same layout)")]
    UnsupportedVersion {
        /// The version found.
        version: u32,
    },
    /// A key or tensor count larger than the rest of the file could hold.
    #[error("{what} count {count} at byte {offset} cannot fit: each needs at least {min_each} bytes and {remaining} remain")]
    CountExceedsFile {
        /// `"tensor"` or `"metadata key"`.
        what: &'static str,
        /// The declared count.
        count: u64,
        /// Offset of the count field.
        offset: u64,
        /// Minimum bytes one entry occupies.
        min_each: u64,
        /// Bytes left after the header.
        remaining: u64,
    },
    /// A string length above the 2^30 limit.
    #[error("{what} length {len} at byte {offset} exceeds the limit of {limit} bytes")]
    StringTooLong {
        /// `"key"`, `"string value"` or `"tensor name"`.
        what: &'static str,
        /// Offset of the length field.
        offset: u64,
        /// The declared length.
        len: u64,
        /// The limit (2^30).
        limit: u64,
    },
    /// Bytes that are not UTF-8 where UTF-8 is required.
    #[error("{what} at byte {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// `"key"`, `"string value"` or `"tensor name"`.
        what: &'static str,
        /// Offset of the string's bytes.
        offset: u64,
    },
    /// A metadata value type id past 12.
    #[error("key {key:?}: unknown value type {value_type} at byte {offset}")]
    InvalidValueType {
        /// The key the value belongs to.
        key: String,
        /// The type id found.
        value_type: u32,
        /// Offset of the type field.
        offset: u64,
    },
    /// An array whose element type is ARRAY.
    #[error("key {key:?}: nested array at byte {offset} (arrays of arrays are not allowed)")]
    NestedArray {
        /// The key.
        key: String,
        /// Offset of the element type field.
        offset: u64,
    },
    /// An array count above the 2^30 limit.
    #[error("key {key:?}: array count {count} at byte {offset} exceeds the limit of {limit}")]
    ArrayTooLong {
        /// The key.
        key: String,
        /// The declared count.
        count: u64,
        /// Offset of the count field.
        offset: u64,
        /// The limit (2^30).
        limit: u64,
    },
    /// An array whose elements cannot fit in the rest of the file.
    #[error("key {key:?}: array of {count} elements at byte {offset} needs at least {min_bytes} bytes, {remaining} remain")]
    ArrayExceedsFile {
        /// The key.
        key: String,
        /// The declared count.
        count: u64,
        /// Offset of the count field.
        offset: u64,
        /// The least the elements occupy.
        min_bytes: u64,
        /// Bytes left.
        remaining: u64,
    },
    /// A key of length zero.
    #[error("empty key at byte {offset}")]
    EmptyKey {
        /// Offset of the key's length field.
        offset: u64,
    },
    /// A key that appears twice.
    #[error("duplicate key {key:?} at byte {offset} (first at byte {first_offset})")]
    DuplicateKey {
        /// The key.
        key: String,
        /// Offset of the second occurrence.
        offset: u64,
        /// Offset of the first.
        first_offset: u64,
    },
    /// `general.alignment` of a type other than UINT32.
    #[error("general.alignment at byte {offset} has type {found:?}, expected UINT32")]
    AlignmentType {
        /// The type found.
        found: ValueType,
        /// Offset of the key.
        offset: u64,
    },
    /// `general.alignment` zero or not a power of two.
    #[error("general.alignment = {alignment} at byte {offset} is not a non-zero power of two")]
    InvalidAlignment {
        /// The value found.
        alignment: u32,
        /// Offset of the key.
        offset: u64,
    },
    /// A tensor name that is empty or longer than 63 bytes.
    #[error(
        "tensor name {name:?} at byte {offset} is {len} bytes long; names must be 1..=63 bytes"
    )]
    TensorNameLength {
        /// The name.
        name: String,
        /// Its length.
        len: u64,
        /// Offset of the tensor info.
        offset: u64,
    },
    /// A tensor name that appears twice.
    #[error("duplicate tensor name {name:?} at byte {offset}")]
    DuplicateTensorName {
        /// The name.
        name: String,
        /// Offset of the second tensor info.
        offset: u64,
    },
    /// More than 4 dimensions.
    #[error("tensor {tensor:?} at byte {offset} has {n_dims} dimensions; at most 4 are allowed")]
    TooManyDims {
        /// The tensor.
        tensor: String,
        /// The declared count.
        n_dims: u32,
        /// Offset of the `n_dims` field.
        offset: u64,
    },
    /// A dimension that does not fit ggml's signed 64-bit `ne`.
    #[error("tensor {tensor:?}: dimension {dim} is {value}, which does not fit in i64")]
    DimensionOutOfRange {
        /// The tensor.
        tensor: String,
        /// Which dimension.
        dim: usize,
        /// The value found.
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
    /// The byte size overflows.
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
    #[error("tensor {tensor:?}: ggml type {type_id} ({name}) was removed from ggml{}", crate::types::other_meaning(*.type_id))]
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
    /// A tensor offset not a multiple of the alignment.
    #[error(
        "tensor {tensor:?}: offset {tensor_offset} is not a multiple of the alignment {alignment}"
    )]
    MisalignedOffset {
        /// The tensor.
        tensor: String,
        /// Its offset field (relative to the data section).
        tensor_offset: u64,
        /// The alignment.
        alignment: u64,
    },
    /// A tensor placed after a gap.
    #[error("tensor {tensor:?}: offset {tensor_offset} leaves a gap; expected {expected}")]
    TensorGap {
        /// The tensor.
        tensor: String,
        /// Its offset field (relative to the data section).
        tensor_offset: u64,
        /// Where it should start (relative to the data section).
        expected: u64,
    },
    /// A tensor overlapping the one before.
    #[error(
        "tensor {tensor:?}: offset {tensor_offset} overlaps the previous tensor, which ends at {expected}"
    )]
    TensorOverlap {
        /// The tensor.
        tensor: String,
        /// Its offset field (relative to the data section).
        tensor_offset: u64,
        /// Where it should start (relative to the data section).
        expected: u64,
    },
    /// A tensor placed before the one listed before it.
    #[error(
        "tensor {tensor:?}: offset {tensor_offset} is before the previous tensor's offset {previous}"
    )]
    TensorMisordered {
        /// The tensor.
        tensor: String,
        /// Its offset field (relative to the data section).
        tensor_offset: u64,
        /// The previous tensor's offset field.
        previous: u64,
    },
    /// Tensor data, or its trailing padding, extends past the end of the file.
    #[error("tensor {tensor:?}: data at offset {tensor_offset} ({size} bytes, padded to the alignment) ends past the end of the {file_len}-byte file")]
    DataOutOfBounds {
        /// The tensor.
        tensor: String,
        /// Its offset field (relative to the data section).
        tensor_offset: u64,
        /// The padded byte size, or 0 where the size is not known here.
        size: u64,
        /// The file's length.
        file_len: u64,
    },
}

/// Which entry of the metadata or tensor infos a read belongs to: "tensor info 3 of 14".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// `"metadata pair"` or `"tensor info"`.
    pub kind: &'static str,
    /// Its position, counted from 1.
    pub number: u64,
    /// How many the header declares.
    pub count: u64,
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} of {}", self.kind, self.number, self.count)
    }
}

impl GgufError {
    /// The same error, a truncation naming `entry` as the structure it was read for.
    pub(crate) fn in_entry(self, entry: Entry) -> Self {
        match self {
            Self::Truncated {
                what,
                entry: None,
                offset,
                needed,
                file_len,
            } => Self::Truncated {
                what,
                entry: Some(entry),
                offset,
                needed,
                file_len,
            },
            other => other,
        }
    }

    /// A stable, kebab-case code naming the kind of problem (`"bad-magic"`).
    pub fn code(&self) -> &'static str {
        self.into()
    }

    /// The absolute offset, tensor and key the problem concerns, where known.
    pub fn location(&self) -> Location<'_> {
        match self {
            Self::Truncated { offset, .. }
            | Self::CountExceedsFile { offset, .. }
            | Self::StringTooLong { offset, .. }
            | Self::InvalidUtf8 { offset, .. }
            | Self::EmptyKey { offset } => Location::at(*offset),
            Self::BadMagic { .. } => Location::at(0),
            Self::BigEndian { .. } | Self::UnsupportedVersion { .. } => Location::at(4),
            Self::InvalidValueType { key, offset, .. }
            | Self::NestedArray { key, offset }
            | Self::ArrayTooLong { key, offset, .. }
            | Self::ArrayExceedsFile { key, offset, .. }
            | Self::DuplicateKey { key, offset, .. } => Location::key(key).with_offset(*offset),
            Self::AlignmentType { offset, .. } | Self::InvalidAlignment { offset, .. } => {
                Location::key(ALIGNMENT_KEY).with_offset(*offset)
            }
            Self::TensorNameLength { name, offset, .. }
            | Self::DuplicateTensorName { name, offset }
            | Self::TooManyDims {
                tensor: name,
                offset,
                ..
            } => Location::tensor(name).with_offset(*offset),
            Self::DimensionOutOfRange { tensor, .. }
            | Self::ElementCountOverflow { tensor, .. }
            | Self::ByteSizeOverflow { tensor, .. }
            | Self::UnknownType { tensor, .. }
            | Self::RemovedType { tensor, .. }
            | Self::NotBlockMultiple { tensor, .. }
            | Self::MisalignedOffset { tensor, .. }
            | Self::TensorGap { tensor, .. }
            | Self::TensorOverlap { tensor, .. }
            | Self::TensorMisordered { tensor, .. }
            | Self::DataOutOfBounds { tensor, .. } => Location::tensor(tensor),
        }
    }
}

/// Something odd about a file that does not make it invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
#[non_exhaustive]
pub enum GgufWarning {
    /// Padding that should be zero is not.
    #[error("non-zero padding byte at byte {offset}")]
    NonZeroPadding {
        /// Absolute offset of the first non-zero byte.
        offset: u64,
    },
    /// Bytes after the last tensor's padding.
    #[error("{len} unexpected bytes after the last tensor, from byte {offset}")]
    TrailingBytes {
        /// Absolute offset where they start.
        offset: u64,
        /// How many.
        len: u64,
    },
    /// Version 2 (same layout as 3).
    #[error("GGUF version 2; version 3 is current")]
    OldVersion,
    /// A key or string holding a NUL byte: gguf-py and ggml read strings as C strings and end
    /// them there, so they see a shorter string than this reader.
    #[error("key {key:?}: the {what} holds a NUL byte at byte {offset}; gguf-py and ggml end the string there")]
    NulInString {
        /// The key (the string itself, where the key holds the NUL).
        key: String,
        /// `"key"`, `"string value"`, or `"array element N"`.
        what: String,
        /// Absolute offset of the first NUL byte.
        offset: u64,
    },
}

impl GgufWarning {
    /// A stable, kebab-case code naming the kind of oddity (`"trailing-bytes"`).
    pub fn code(&self) -> &'static str {
        self.into()
    }

    /// The absolute offset the warning concerns.
    pub fn location(&self) -> Location<'_> {
        match self {
            Self::NonZeroPadding { offset } | Self::TrailingBytes { offset, .. } => {
                Location::at(*offset)
            }
            Self::OldVersion => Location::at(4),
            Self::NulInString { key, offset, .. } => Location::key(key).with_offset(*offset),
        }
    }
}

/// Why [`crate::Gguf::tensor_data`] could not hand out a tensor's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The index is not a tensor of this file (a caller's mistake).
    #[error("no tensor #{index}: the file has {count}")]
    NoSuchTensor {
        /// The index asked for.
        index: usize,
        /// How many tensors the file has.
        count: usize,
    },
    /// The tensor's type does not fix its byte size (I2_S): the caller must use
    /// [`crate::Gguf::tensor_bytes`] with the size it determined.
    #[error("tensor {tensor:?}: the size of type {type_name} is determined by the caller")]
    SizeUnknown {
        /// The tensor.
        tensor: String,
        /// The type's name.
        type_name: &'static str,
    },
    /// The file does not hold the data.
    #[error(transparent)]
    File(#[from] GgufError),
}

#[cfg(test)]
mod tests;
