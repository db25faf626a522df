//! What the writers refuse: [`BuildError`] (the file would break a rule) and [`WriteError`]
//! (that, or the output failed, or the streamed data did not match what was declared).

use std::io;

use crate::types::ValueType;

/// Why a file cannot be written: what was added would make a file the reader rejects.
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
    /// A string or array longer than the reader accepts (2^30 bytes or elements).
    #[error("key {key:?}: {what} of length {len} exceeds the limit of {limit}")]
    TooLong {
        /// The key (or tensor name) it belongs to.
        key: String,
        /// `"string"` or `"array"`.
        what: &'static str,
        /// Its length.
        len: u64,
        /// The limit.
        limit: u64,
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

/// Why [`crate::GgufWriter`] stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// What was declared would make a file the reader rejects.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The output could not be written.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// More data than the tensors declared.
    #[error("{extra} bytes of data past the last declared tensor")]
    TooMuchData {
        /// How many bytes too many.
        extra: u64,
    },
    /// The file was finished before every tensor's data was written.
    #[error("tensor {tensor:?}: {written} of its {size} bytes written")]
    Incomplete {
        /// The first tensor not complete.
        tensor: String,
        /// Bytes written of it.
        written: u64,
        /// Its declared size.
        size: u64,
    },
}
