//! Comparing a reference's type table with the project's (`bitnet_gguf::type_info`): ggml's
//! (`ggml-dump --types`) for every id below its `GGML_TYPE_COUNT`, and no id past it known here;
//! gguf-py's (`GGML_QUANT_SIZES`) for the same ids and every id it knows. The known differences
//! are recognized in `known.rs`.

use bitnet_gguf::TypeInfo;

use super::{known, Mismatch};
use crate::crossval::schema::{GgmlTypes, PyTypes};

/// The result of comparing a reference's type table with the project's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TypesOutcome {
    /// Ids compared.
    pub ids: u32,
    /// Known differences seen.
    pub known: Vec<String>,
    /// Every other difference.
    pub mismatches: Vec<Mismatch>,
}

impl TypesOutcome {
    fn mismatch(&mut self, id: u32, expected: impl ToString, found: impl ToString) {
        self.mismatches.push(Mismatch {
            what: format!("type {id}"),
            expected: expected.to_string(),
            found: found.to_string(),
        });
    }
}

/// Ids past ggml's `GGML_TYPE_COUNT` up to this one must be unknown to the project too.
const LAST_ID_CHECKED: u32 = 255;

/// A type as the mismatches show it.
pub fn describe(info: TypeInfo) -> String {
    match info {
        TypeInfo::Sized {
            name,
            block_elems,
            block_bytes,
        } => format!("{name}, {block_elems} elements in {block_bytes} bytes"),
        TypeInfo::CallerSized { name } => format!("{name}, sized by the caller"),
        TypeInfo::Removed { name } => format!("removed ({name})"),
        TypeInfo::Unknown => "unknown".to_owned(),
    }
}

/// Compares ggml's type table (`ggml-dump --types`) with `ours` (`bitnet_gguf::type_info`) for
/// every id below `GGML_TYPE_COUNT`, and checks that the project knows no id past it.
pub fn compare_ggml_types(ggml: &GgmlTypes, ours: impl Fn(u32) -> TypeInfo) -> TypesOutcome {
    let mut out = TypesOutcome::default();
    for id in 0..ggml.type_count {
        out.ids += 1;
        let o = ours(id);
        let Some(g) = ggml.types.iter().find(|t| t.id == id) else {
            out.mismatch(id, "an entry in ggml-dump --types", describe(o));
            continue;
        };
        if g.blck_size == 0 {
            match o {
                TypeInfo::Removed { .. } => {}
                _ => match known::ggml_removed_id(id, o) {
                    Some(known) => out.known.push(known.to_owned()),
                    None => out.mismatch(id, format!("removed ({})", g.name), describe(o)),
                },
            }
            continue;
        }
        let name = g.name.to_ascii_uppercase();
        let same = matches!(o, TypeInfo::Sized { name: n, block_elems, block_bytes }
            if n == name && i64::try_from(block_elems).ok() == Some(g.blck_size)
                && block_bytes == g.type_size);
        if !same {
            out.mismatch(
                id,
                format!("{name}, {} elements in {} bytes", g.blck_size, g.type_size),
                describe(o),
            );
        }
    }
    for id in ggml.type_count..=LAST_ID_CHECKED {
        let o = ours(id);
        if o != TypeInfo::Unknown {
            out.mismatch(
                id,
                format!("unknown (ggml's ids end at {})", ggml.type_count - 1),
                describe(o),
            );
        }
    }
    out
}

/// Compares gguf-py's table (`GGML_QUANT_SIZES`) with `ours` for every id below `type_count`
/// (ggml's) and every id gguf-py knows.
pub fn compare_py_types(
    py: &PyTypes,
    type_count: u32,
    ours: impl Fn(u32) -> TypeInfo,
) -> TypesOutcome {
    let mut out = TypesOutcome::default();
    let last = py.types.iter().map(|t| t.id + 1).max().unwrap_or(0);
    for id in 0..type_count.max(last) {
        out.ids += 1;
        let o = ours(id);
        let p = py.types.iter().find(|t| t.id == id);
        let sizes = p.and_then(|p| Some((p.blck_size?, p.type_size?)));
        match (p, sizes, o) {
            (
                Some(p),
                Some((elems, bytes)),
                TypeInfo::Sized {
                    name,
                    block_elems,
                    block_bytes,
                },
            ) if p.name == name && elems == block_elems && bytes == block_bytes => {}
            (_, None, TypeInfo::Removed { .. } | TypeInfo::Unknown) => {}
            (p, sizes, o) => {
                if let Some(known) = known::py_type(id, sizes, o) {
                    out.known.push(known.to_owned());
                    continue;
                }
                let expected = match (p, sizes) {
                    (Some(p), Some((e, b))) => format!("{}, {e} elements in {b} bytes", p.name),
                    (Some(p), None) => format!("{} without a size", p.name),
                    (None, _) => "not a gguf-py type".to_owned(),
                };
                out.mismatch(id, expected, describe(o));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
