//! The ggml tensor type table and the GGUF metadata value types.
//!
//! Sizes follow mainline ggml's `type_traits` (block size, bytes per block). Ids that ggml
//! removed are kept here as [`TypeInfo::Removed`] so a reader can name them. I2_S (36, as
//! bitnet.cpp numbers it) is listed as [`TypeInfo::CallerSized`]: its byte size depends on the
//! flavor, which this crate knows nothing of (see `bitnet-models`). Writers disagree on a few
//! ids ([`other_meaning`], [`file_type_name`]); docs/gguf.md has the table.

/// ggml type ids used by name in this workspace.
pub mod ggml_type {
    /// 32-bit float.
    pub const F32: u32 = 0;
    /// 16-bit IEEE float.
    pub const F16: u32 = 1;
    /// 8-bit blocks of 32 with an f16 scale.
    pub const Q8_0: u32 = 8;
    /// Ternary blocks of 256 (64 code bytes) followed by an f16 scale.
    pub const TQ2_0: u32 = 35;
    /// BitNet's ternary type (bitnet.cpp's id); its flavors are told apart by size.
    pub const I2_S: u32 = 36;
    /// Ternary blocks of 256 in base 3, then an f16 scale (54 bytes).
    pub const TQ1_0: u32 = 34;
    /// 4-bit microscaling floats (32 in 17 bytes); TL2 in older bitnet.cpp builds.
    pub const MXFP4: u32 = 39;
    /// bf16.
    pub const BF16: u32 = 30;
}

/// What the type table knows of a ggml type id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeInfo {
    /// A type whose byte size follows from its element count.
    Sized {
        /// ggml's name (`"Q8_0"`).
        name: &'static str,
        /// Elements per block.
        block_elems: u64,
        /// Bytes per block.
        block_bytes: u64,
    },
    /// A type whose byte size the caller determines (I2_S: by flavor).
    CallerSized {
        /// ggml's name.
        name: &'static str,
    },
    /// An id ggml once used and removed; files must not contain it.
    Removed {
        /// The name it had.
        name: &'static str,
    },
    /// An id this table does not know.
    Unknown,
}

impl TypeInfo {
    /// The type's name, `"unknown"` for an unknown id.
    pub fn name(self) -> &'static str {
        match self {
            TypeInfo::Sized { name, .. }
            | TypeInfo::CallerSized { name }
            | TypeInfo::Removed { name } => name,
            TypeInfo::Unknown => "unknown",
        }
    }

    /// The block size in elements, where the type fixes it.
    pub fn block_elems(self) -> Option<u64> {
        match self {
            TypeInfo::Sized { block_elems, .. } => Some(block_elems),
            _ => None,
        }
    }
}

const fn sized(name: &'static str, block_elems: u64, block_bytes: u64) -> TypeInfo {
    TypeInfo::Sized {
        name,
        block_elems,
        block_bytes,
    }
}

/// What another writer means by a type id this table reads as mainline ggml's, to add to a
/// message about a tensor of that type ("" when the writers agree).
pub fn other_meaning(id: u32) -> &'static str {
    match id {
        37 => "; in bitnet.cpp, 37 is I8_S",
        38 => {
            "; in bitnet.cpp, 38 is TL1, whose layout depends on one build's kernel \
             configuration: not portable, re-quantize to I2_S"
        }
        _ => "",
    }
}

/// The name of a `general.file_type` value (llama.cpp's `llama_ftype`), naming both meanings
/// where bitnet.cpp and mainline llama.cpp differ; `None` for a value neither uses.
pub fn file_type_name(value: u32) -> Option<&'static str> {
    Some(match value {
        0 => "ALL_F32",
        1 => "MOSTLY_F16",
        2 => "MOSTLY_Q4_0",
        3 => "MOSTLY_Q4_1",
        7 => "MOSTLY_Q8_0",
        8 => "MOSTLY_Q5_0",
        9 => "MOSTLY_Q5_1",
        10 => "MOSTLY_Q2_K",
        11 => "MOSTLY_Q3_K_S",
        12 => "MOSTLY_Q3_K_M",
        13 => "MOSTLY_Q3_K_L",
        14 => "MOSTLY_Q4_K_S",
        15 => "MOSTLY_Q4_K_M",
        16 => "MOSTLY_Q5_K_S",
        17 => "MOSTLY_Q5_K_M",
        18 => "MOSTLY_Q6_K",
        19 => "MOSTLY_IQ2_XXS",
        20 => "MOSTLY_IQ2_XS",
        21 => "MOSTLY_Q2_K_S",
        22 => "MOSTLY_IQ3_XS",
        23 => "MOSTLY_IQ3_XXS",
        24 => "MOSTLY_IQ1_S",
        25 => "MOSTLY_IQ4_NL",
        26 => "MOSTLY_IQ3_S",
        27 => "MOSTLY_IQ3_M",
        28 => "MOSTLY_IQ2_S",
        29 => "MOSTLY_IQ2_M",
        30 => "MOSTLY_IQ4_XS",
        31 => "MOSTLY_IQ1_M",
        32 => "MOSTLY_BF16",
        36 => "MOSTLY_TQ1_0",
        37 => "MOSTLY_TQ2_0",
        38 => "MOSTLY_MXFP4_MOE",
        39 => "MOSTLY_NVFP4",
        40 => "MOSTLY_I2_S in bitnet.cpp, MOSTLY_Q1_0 in mainline llama.cpp",
        41 => "MOSTLY_Q2_0",
        1024 => "GUESSED",
        _ => return None,
    })
}

/// Looks up a ggml type id.
pub fn type_info(id: u32) -> TypeInfo {
    match id {
        0 => sized("F32", 1, 4),
        1 => sized("F16", 1, 2),
        2 => sized("Q4_0", 32, 18),
        3 => sized("Q4_1", 32, 20),
        4 => TypeInfo::Removed { name: "Q4_2" },
        5 => TypeInfo::Removed { name: "Q4_3" },
        6 => sized("Q5_0", 32, 22),
        7 => sized("Q5_1", 32, 24),
        8 => sized("Q8_0", 32, 34),
        9 => sized("Q8_1", 32, 36),
        10 => sized("Q2_K", 256, 84),
        11 => sized("Q3_K", 256, 110),
        12 => sized("Q4_K", 256, 144),
        13 => sized("Q5_K", 256, 176),
        14 => sized("Q6_K", 256, 210),
        15 => sized("Q8_K", 256, 292),
        16 => sized("IQ2_XXS", 256, 66),
        17 => sized("IQ2_XS", 256, 74),
        18 => sized("IQ3_XXS", 256, 98),
        19 => sized("IQ1_S", 256, 50),
        20 => sized("IQ4_NL", 32, 18),
        21 => sized("IQ3_S", 256, 110),
        22 => sized("IQ2_S", 256, 82),
        23 => sized("IQ4_XS", 256, 136),
        24 => sized("I8", 1, 1),
        25 => sized("I16", 1, 2),
        26 => sized("I32", 1, 4),
        27 => sized("I64", 1, 8),
        28 => sized("F64", 1, 8),
        29 => sized("IQ1_M", 256, 56),
        30 => sized("BF16", 1, 2),
        31 => TypeInfo::Removed { name: "Q4_0_4_4" },
        32 => TypeInfo::Removed { name: "Q4_0_4_8" },
        33 => TypeInfo::Removed { name: "Q4_0_8_8" },
        34 => sized("TQ1_0", 256, 54),
        35 => sized("TQ2_0", 256, 66),
        36 => TypeInfo::CallerSized { name: "I2_S" },
        37 => TypeInfo::Removed { name: "IQ4_NL_4_8" },
        38 => TypeInfo::Removed { name: "IQ4_NL_8_8" },
        39 => sized("MXFP4", 32, 17),
        40 => sized("NVFP4", 64, 36),
        41 => sized("Q1_0", 128, 18),
        42 => sized("Q2_0", 64, 18),
        _ => TypeInfo::Unknown,
    }
}

/// A GGUF metadata value type (docs/gguf.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ValueType {
    /// `u8`
    U8 = 0,
    /// `i8`
    I8 = 1,
    /// `u16`
    U16 = 2,
    /// `i16`
    I16 = 3,
    /// `u32`
    U32 = 4,
    /// `i32`
    I32 = 5,
    /// `f32`
    F32 = 6,
    /// one byte, 0 or 1
    Bool = 7,
    /// `u64` length + UTF-8 bytes
    String = 8,
    /// element type, `u64` count, elements
    Array = 9,
    /// `u64`
    U64 = 10,
    /// `i64`
    I64 = 11,
    /// `f64`
    F64 = 12,
}

impl ValueType {
    /// The value type for a wire id, `None` for ids past 12.
    pub fn from_u32(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::U8,
            1 => Self::I8,
            2 => Self::U16,
            3 => Self::I16,
            4 => Self::U32,
            5 => Self::I32,
            6 => Self::F32,
            7 => Self::Bool,
            8 => Self::String,
            9 => Self::Array,
            10 => Self::U64,
            11 => Self::I64,
            12 => Self::F64,
            _ => return None,
        })
    }

    /// The wire id.
    pub fn id(self) -> u32 {
        self as u32
    }

    /// The byte size of a fixed-size value, `None` for strings and arrays.
    pub fn fixed_size(self) -> Option<u64> {
        match self {
            Self::U8 | Self::I8 | Self::Bool => Some(1),
            Self::U16 | Self::I16 => Some(2),
            Self::U32 | Self::I32 | Self::F32 => Some(4),
            Self::U64 | Self::I64 | Self::F64 => Some(8),
            Self::String | Self::Array => None,
        }
    }

    /// gguf-py's name for the type (`"UINT32"`).
    pub fn name(self) -> &'static str {
        match self {
            Self::U8 => "UINT8",
            Self::I8 => "INT8",
            Self::U16 => "UINT16",
            Self::I16 => "INT16",
            Self::U32 => "UINT32",
            Self::I32 => "INT32",
            Self::F32 => "FLOAT32",
            Self::Bool => "BOOL",
            Self::String => "STRING",
            Self::Array => "ARRAY",
            Self::U64 => "UINT64",
            Self::I64 => "INT64",
            Self::F64 => "FLOAT64",
        }
    }
}
