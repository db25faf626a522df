//! The known differences between a reference's reading and the project's: each recognized by
//! exactly its circumstances, so that anything else stays a mismatch (docs/xtask.md, "Known
//! differences"). Files:
//!
//! - both references reject a file with an I2_S tensor (type 36: a removed id in ggml, not a type
//!   in gguf-py): expected, when the reference's message names type 36 ([`rejects_i2s`]);
//! - ggml puts the data section of a file without tensors at the end of its tensor infos, unpadded,
//!   where the project (like gguf-py) pads it to the alignment (docs/gguf.md;
//!   [`unpadded_tensorless_data_offset`]);
//! - ggml keeps no dimension count, so its `ne` lacks declared trailing 1s: shapes are compared
//!   without them for ggml (a normalization, not reported; [`without_trailing_ones`]);
//! - ggml hands out strings as C strings, cut at an embedded NUL byte ([`cut_at_nul`]).
//!
//! Type tables: id 36 is I2_S here and a removed id in ggml ([`ggml_removed_id`]); gguf-py 0.19.0
//! gives Q8_1 40 bytes per block (ggml: 36) and does not know Q2_0 (42) ([`py_type`]).
//!
//! This module only recognizes; the comparisons report. A file's known difference is worded
//! where it is found (naming the key or tensor); a type table's comes worded from here.

use bitnet_gguf::{pad, TypeInfo};
use serde_json::Value as Json;

use super::Reference;
use crate::crossval::ours::Project;
use crate::crossval::schema::Dump;

/// Whether `error`, a reference's reason for rejecting a file, is its reason for an I2_S tensor:
/// type 36 named as a removed type (ggml) or as not a type at all (gguf-py).
pub fn rejects_i2s(reference: Reference, error: &str) -> bool {
    match reference {
        // "tensor 'w' of type 36 (TYPE_IQ4_NL_4_4 REMOVED, …) has 256 elements per row, not a
        // multiple of block size (0)"
        Reference::Ggml => error.contains("of type 36 "),
        // "ValueError: np.uint32(36) is not a valid GGMLQuantizationType" (numpy 2; "36 is not
        // a valid …" with numpy 1)
        Reference::GgufPy => {
            error.contains("is not a valid GGMLQuantizationType")
                && (error.contains("(36)") || error.contains(" 36 is not"))
        }
    }
}

/// `ne` without trailing 1s (at least one dimension), as ggml reports it.
pub fn without_trailing_ones(ne: &[u64]) -> Vec<u64> {
    let mut v = ne.to_vec();
    while v.len() > 1 && v.last() == Some(&1) {
        v.pop();
    }
    if v.is_empty() {
        v.push(1);
    }
    v
}

/// Whether the reference's `data_offset` differs from the project's as ggml's does for a file
/// without tensors: ggml's is the end of the tensor infos, unpadded; the project's is that offset
/// padded to the alignment.
pub fn unpadded_tensorless_data_offset(
    reference: Reference,
    theirs: &Dump,
    ours: &Project,
) -> bool {
    let (Some(t), Some(o)) = (theirs.data_offset, ours.dump.data_offset) else {
        return false;
    };
    let tensorless = theirs.tensors.is_empty() && ours.dump.tensors.is_empty();
    let unpadded = Some(t) == ours.tensor_info_end;
    let padded = ours.dump.alignment.and_then(|a| pad(t, a)) == Some(o);
    reference == Reference::Ggml && tensorless && unpadded && padded
}

/// Whether `theirs` is `ours` cut at its first NUL byte, as ggml's C strings are.
pub fn cut_at_nul(reference: Reference, theirs: &str, ours: &str) -> bool {
    reference == Reference::Ggml && ours.find('\0').is_some_and(|nul| theirs == &ours[..nul])
}

/// [`cut_at_nul`] for two JSON strings.
pub fn json_cut_at_nul(reference: Reference, theirs: &Json, ours: &Json) -> bool {
    match (theirs.as_str(), ours.as_str()) {
        (Some(t), Some(o)) => cut_at_nul(reference, t, o),
        _ => false,
    }
}

/// Whether `id`, an id ggml removed, is one the project reads as a type of its own (`ours`): 36,
/// bitnet.cpp's I2_S. The known difference's line, if it is.
pub fn ggml_removed_id(id: u32, ours: TypeInfo) -> Option<&'static str> {
    match ours {
        TypeInfo::CallerSized { name: "I2_S" } if id == 36 => {
            Some("36: I2_S here (bitnet.cpp's id), a removed id in ggml (IQ4_NL_4_4)")
        }
        _ => None,
    }
}

/// Whether gguf-py 0.19.0's entry for `id` (elements and bytes per block; `None` without a size)
/// differs from `ours` as it is known to: Q8_1's size, and 36 and Q2_0 (42) not gguf-py types.
/// The known difference's line, if it does.
pub fn py_type(id: u32, py_sizes: Option<(u64, u64)>, ours: TypeInfo) -> Option<&'static str> {
    match (py_sizes, ours) {
        (
            Some((32, 40)),
            TypeInfo::Sized {
                name: "Q8_1",
                block_bytes: 36,
                ..
            },
        ) if id == 9 => Some(
            "Q8_1 (9): 40 bytes per block in gguf-py 0.19.0, 36 in ggml and here \
             (ggml's block_q8_1: two f16 and 32 int8)",
        ),
        (None, TypeInfo::CallerSized { name: "I2_S" }) if id == 36 => {
            Some("36: I2_S here (bitnet.cpp's id), not a gguf-py type")
        }
        (None, TypeInfo::Sized { name: "Q2_0", .. }) if id == 42 => {
            Some("Q2_0 (42): unknown to gguf-py 0.19.0 (a file using it is rejected)")
        }
        _ => None,
    }
}
