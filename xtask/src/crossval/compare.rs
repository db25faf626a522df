//! Comparing a reference's reading of a file with the project's, and the type tables.
//!
//! Every difference is a [`Mismatch`] unless it is one of the known differences, each recognized
//! by exactly its circumstances and reported on the file's line (docs/xtask.md lists them):
//!
//! - both references reject a file with an I2_S tensor (type 36: a removed id in ggml, not a type
//!   in gguf-py): expected, when the reference's message names type 36;
//! - ggml puts the data section of a file without tensors at the end of its tensor infos, unpadded,
//!   where the project (like gguf-py) pads it to the alignment (docs/gguf.md);
//! - ggml keeps no dimension count, so its `ne` lacks declared trailing 1s: shapes are compared
//!   without them for ggml (a normalization, not reported);
//! - ggml hands out strings as C strings, cut at an embedded NUL byte.
//!
//! Type tables: id 36 is I2_S here and a removed id in ggml; gguf-py 0.19.0 gives Q8_1 40 bytes
//! per block (ggml: 36) and does not know Q2_0 (42).
//!
//! This module runs nothing and reads no file: its inputs are parsed dumps, so its tests need
//! neither reference.

use bitnet_gguf::{pad, TypeInfo};
use serde_json::Value as Json;

use super::ours::Project;
use super::schema::{Decoded, Dump, GgmlTypes, PyTypes, Tensor};

/// A reference reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// Mainline ggml's C reader (`crossval/ggml-dump`).
    Ggml,
    /// The Python package `gguf` (`crossval/gguf_py_dump.py`).
    GgufPy,
}

impl Reference {
    /// Both, in the order the report lists them.
    pub const ALL: [Reference; 2] = [Reference::Ggml, Reference::GgufPy];

    /// `"ggml"` or `"gguf-py"`, as in the dumps' `reference` field.
    pub fn name(self) -> &'static str {
        match self {
            Reference::Ggml => "ggml",
            Reference::GgufPy => "gguf-py",
        }
    }
}

/// A difference that is not a known one: what differs, the reference's value and the project's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The field (`data_offset`, ``tensor `t.f32` ne``, …).
    pub what: String,
    /// The reference's value.
    pub expected: String,
    /// The project's value.
    pub found: String,
}

/// The most mismatches one comparison lists; past it, one more entry counts the rest.
const MAX_MISMATCHES: usize = 40;
/// The longest value a mismatch shows.
const MAX_SHOWN: usize = 160;

/// The result of comparing one file as one reference reads it with the project's reading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Whether the reference accepted the file.
    pub accepted: bool,
    /// The reference rejected the file for its I2_S tensors, as expected.
    pub expected_rejection: bool,
    /// Metadata pairs compared.
    pub keys: usize,
    /// Tensor infos compared.
    pub tensors: usize,
    /// Tensors both decoded, compared bit for bit.
    pub decoded: usize,
    /// Tensors the reference decodes and the project does not (`name (TYPE)`).
    pub reference_only: Vec<String>,
    /// Tensors the project decodes and the reference does not.
    pub project_only: Vec<String>,
    /// Known differences seen.
    pub known: Vec<String>,
    /// Anything else worth a line that is not a difference.
    pub notes: Vec<String>,
    /// Every other difference.
    pub mismatches: Vec<Mismatch>,
}

impl Outcome {
    /// Whether nothing but known differences was found.
    pub fn ok(&self) -> bool {
        self.mismatches.is_empty()
    }

    fn mismatch(&mut self, what: String, expected: impl ToString, found: impl ToString) {
        if self.mismatches.len() == MAX_MISMATCHES {
            self.mismatches.push(Mismatch {
                what: "(more mismatches not listed)".into(),
                expected: String::new(),
                found: String::new(),
            });
        }
        if self.mismatches.len() > MAX_MISMATCHES {
            return;
        }
        self.mismatches.push(Mismatch {
            what,
            expected: shorten(&expected.to_string()),
            found: shorten(&found.to_string()),
        });
    }

    /// Compares two values of a field: a mismatch when they differ.
    fn field<T: PartialEq + std::fmt::Debug>(
        &mut self,
        what: impl Into<String>,
        theirs: T,
        ours: T,
    ) {
        if theirs != ours {
            self.mismatch(what.into(), show(&theirs), show(&ours));
        }
    }
}

/// A value as a mismatch shows it: `Some(3)` as `3`, `None` as `none`, strings quoted.
fn show<T: std::fmt::Debug>(v: &T) -> String {
    let s = format!("{v:?}");
    match s.strip_prefix("Some(").and_then(|r| r.strip_suffix(')')) {
        Some(inner) => inner.to_owned(),
        None if s == "None" => "none".to_owned(),
        None => s,
    }
}

/// `s` on one line (control characters escaped, lines joined by ` | `), cut to
/// [`MAX_SHOWN`] characters.
fn shorten(s: &str) -> String {
    let line = s.trim_end().lines().collect::<Vec<_>>().join(" | ");
    let mut out = String::new();
    for (n, c) in line.chars().enumerate() {
        if n == MAX_SHOWN {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

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

/// Compares `theirs`, one reference's reading of a file, with the project's.
pub fn compare(reference: Reference, theirs: &Dump, ours: &Project) -> Outcome {
    let r = reference.name();
    let mut out = Outcome {
        accepted: theirs.accepted,
        ..Outcome::default()
    };
    let our_error = ours.dump.error.as_deref().unwrap_or("");
    match (theirs.accepted, ours.dump.accepted) {
        (false, _) => {
            let error = theirs.error.as_deref().unwrap_or("");
            if ours.has_i2s && rejects_i2s(reference, error) {
                out.expected_rejection = true;
            } else if !ours.dump.accepted {
                out.notes.push(format!(
                    "rejected by {r} ({}) and by the project ({})",
                    shorten(error),
                    shorten(our_error)
                ));
            } else {
                out.mismatch("accepted".into(), format!("rejected: {error}"), "accepted");
            }
            return out;
        }
        (true, false) => {
            out.mismatch(
                "accepted".into(),
                "accepted",
                format!("rejected: {our_error}"),
            );
            if ours.dump.version.is_none() {
                return out; // not even parsed: nothing to compare
            }
        }
        (true, true) => {}
    }

    out.field("version", theirs.version, ours.dump.version);
    out.field("alignment", theirs.alignment, ours.dump.alignment);
    compare_data_offset(reference, theirs, ours, &mut out);
    compare_metadata(reference, theirs, ours, &mut out);
    compare_tensors(reference, theirs, ours, &mut out);
    out
}

fn compare_data_offset(reference: Reference, theirs: &Dump, ours: &Project, out: &mut Outcome) {
    let (Some(t), Some(o)) = (theirs.data_offset, ours.dump.data_offset) else {
        out.field("data_offset", theirs.data_offset, ours.dump.data_offset);
        return;
    };
    if t == o {
        return;
    }
    let tensorless = theirs.tensors.is_empty() && ours.dump.tensors.is_empty();
    let unpadded = Some(t) == ours.tensor_info_end;
    let padded = ours.dump.alignment.and_then(|a| pad(t, a)) == Some(o);
    if reference == Reference::Ggml && tensorless && unpadded && padded {
        out.known.push(format!(
            "data_offset: ggml {t} (end of the tensor infos), the project {o} (padded to the \
             alignment, as gguf-py): a file without tensors"
        ));
    } else {
        out.mismatch("data_offset".into(), t, o);
    }
}

fn compare_metadata(reference: Reference, theirs: &Dump, ours: &Project, out: &mut Outcome) {
    let ours = &ours.dump.metadata;
    out.field("metadata count", theirs.metadata.len(), ours.len());
    for (i, (t, o)) in theirs.metadata.iter().zip(ours).enumerate() {
        out.keys += 1;
        if !same_name(reference, format!("metadata[{i}] key"), &t.key, &o.key, out) {
            continue;
        }
        let what = format!("metadata `{}`", o.key.escape_debug());
        if t.ty != o.ty {
            out.mismatch(format!("{what} type"), &t.ty, &o.ty);
            continue;
        }
        compare_value(reference, &what, &t.value, &o.value, out);
    }
}

/// Whether `theirs` is `ours` cut at its first NUL byte, as ggml's C strings are.
fn cut_at_nul(reference: Reference, theirs: &str, ours: &str) -> bool {
    reference == Reference::Ggml && ours.find('\0').is_some_and(|nul| theirs == &ours[..nul])
}

/// [`cut_at_nul`] for two JSON strings.
fn json_cut_at_nul(reference: Reference, theirs: &Json, ours: &Json) -> bool {
    match (theirs.as_str(), ours.as_str()) {
        (Some(t), Some(o)) => cut_at_nul(reference, t, o),
        _ => false,
    }
}

/// Compares two names (a key, a tensor name): `true` when they are the same, or the same as
/// ggml's C strings see them (noted as known).
fn same_name(
    reference: Reference,
    what: String,
    theirs: &str,
    ours: &str,
    out: &mut Outcome,
) -> bool {
    if theirs == ours {
        return true;
    }
    if cut_at_nul(reference, theirs, ours) {
        out.known
            .push(format!("{what} {ours:?}: cut at a NUL byte by ggml"));
        return true;
    }
    out.mismatch(what, show(&theirs), show(&ours));
    false
}

fn compare_value(reference: Reference, what: &str, theirs: &Json, ours: &Json, out: &mut Outcome) {
    if theirs == ours {
        return;
    }
    let items = |v: &Json| {
        Some((
            v.get("elem_type")?.clone(),
            v.get("items")?.as_array()?.clone(),
        ))
    };
    if let (Some((t_elem, t_items)), Some((o_elem, o_items))) = (items(theirs), items(ours)) {
        if t_elem != o_elem {
            out.mismatch(format!("{what} element type"), t_elem, o_elem);
            return;
        }
        if t_items.len() != o_items.len() {
            out.mismatch(format!("{what} length"), t_items.len(), o_items.len());
            return;
        }
        let mut cut = 0;
        let mut differ = Vec::new();
        for (i, (t, o)) in t_items.iter().zip(&o_items).enumerate() {
            if t == o {
                continue;
            }
            if json_cut_at_nul(reference, t, o) {
                cut += 1;
            } else {
                differ.push(i);
            }
        }
        if cut > 0 {
            out.known
                .push(format!("{what}: {cut} string(s) cut at a NUL byte by ggml"));
        }
        if let Some(&first) = differ.first() {
            out.mismatch(
                format!("{what} item {first} ({} item(s) differ)", differ.len()),
                &t_items[first],
                &o_items[first],
            );
        }
    } else if json_cut_at_nul(reference, theirs, ours) {
        out.known.push(format!("{what}: cut at a NUL byte by ggml"));
    } else {
        out.mismatch(format!("{what} value"), theirs, ours);
    }
}

fn compare_tensors(reference: Reference, theirs: &Dump, ours: &Project, out: &mut Outcome) {
    let ours = &ours.dump.tensors;
    out.field("tensor count", theirs.tensors.len(), ours.len());
    for (i, (t, o)) in theirs.tensors.iter().zip(ours).enumerate() {
        out.tensors += 1;
        if !same_name(
            reference,
            format!("tensor[{i}] name"),
            &t.name,
            &o.name,
            out,
        ) {
            continue;
        }
        let what = |field: &str| format!("tensor `{}` {field}", o.name.escape_debug());
        out.field(what("type"), t.ty, o.ty);
        out.field(what("type_name"), &t.type_name, &o.type_name);
        let (t_ne, o_ne) = match reference {
            Reference::Ggml => (without_trailing_ones(&t.ne), without_trailing_ones(&o.ne)),
            Reference::GgufPy => (t.ne.clone(), o.ne.clone()),
        };
        out.field(what("ne"), t_ne, o_ne);
        out.field(what("offset"), t.offset, o.offset);
        out.field(what("nbytes"), t.nbytes, o.nbytes);
        compare_decoded(t, o, &what("decoded values"), out);
    }
}

fn compare_decoded(t: &Tensor, o: &Tensor, what: &str, out: &mut Outcome) {
    let label = || format!("{} ({})", o.name.escape_debug(), o.type_name);
    match (&t.decoded, &o.decoded) {
        (Some(Decoded::Values { .. }), Some(Decoded::Values { .. })) => {
            if t.decoded == o.decoded {
                out.decoded += 1;
            } else {
                out.mismatch(what.to_owned(), summary(&t.decoded), summary(&o.decoded));
            }
        }
        (Some(Decoded::Values { .. }), None) => out.reference_only.push(label()),
        (None, Some(Decoded::Values { .. })) => out.project_only.push(label()),
        (None, None) => {}
        (Some(Decoded::Error { error }), _) => {
            out.mismatch(
                what.to_owned(),
                format!("none: the reference failed: {error}"),
                summary(&o.decoded),
            );
        }
        (_, Some(Decoded::Error { error })) => {
            out.mismatch(
                what.to_owned(),
                summary(&t.decoded),
                format!("none: the project failed: {error}"),
            );
        }
    }
}

/// Decoded values as a mismatch shows them.
fn summary(d: &Option<Decoded>) -> String {
    match d {
        Some(Decoded::Values {
            count,
            sha256,
            first,
        }) => format!(
            "{count} values, sha256 {sha256}, first [{}]",
            first.join(", ")
        ),
        Some(Decoded::Error { error }) => format!("error: {error}"),
        None => "not decoded".to_owned(),
    }
}

/// The tensors neither reference's comparison with the project covers, decoded by both
/// references: whether the two agree (`notes`) — a difference between the references, not a
/// mismatch of the project.
pub fn reference_only_agreement(ggml: &Dump, py: &Dump, ours: &Project) -> Vec<String> {
    let mut notes = Vec::new();
    for o in ours.dump.tensors.iter().filter(|o| o.decoded.is_none()) {
        let find = |d: &Dump| d.tensors.iter().find(|t| t.name == o.name).cloned();
        let (Some(g), Some(p)) = (find(ggml), find(py)) else {
            continue;
        };
        let (Some(Decoded::Values { sha256: gs, .. }), Some(Decoded::Values { sha256: ps, .. })) =
            (&g.decoded, &p.decoded)
        else {
            continue;
        };
        notes.push(if gs == ps {
            format!(
                "{} ({}): decoded by the references only; ggml and gguf-py agree (sha256 {})",
                o.name,
                o.type_name,
                &gs[..gs.len().min(16)]
            )
        } else {
            format!(
                "{} ({}): decoded by the references only; ggml and gguf-py DIFFER: {} vs {}",
                o.name,
                o.type_name,
                summary(&g.decoded),
                summary(&p.decoded)
            )
        });
    }
    notes
}

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
                TypeInfo::CallerSized { name: "I2_S" } if id == 36 => out.known.push(
                    "36: I2_S here (bitnet.cpp's id), a removed id in ggml (IQ4_NL_4_4)".into(),
                ),
                _ => out.mismatch(id, format!("removed ({})", g.name), describe(o)),
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
            ) => {
                if p.name == name && elems == block_elems && bytes == block_bytes {
                    continue;
                }
                if id == 9 && name == "Q8_1" && (elems, bytes) == (32, 40) && block_bytes == 36 {
                    out.known.push(
                        "Q8_1 (9): 40 bytes per block in gguf-py 0.19.0, 36 in ggml and here \
                         (ggml's block_q8_1: two f16 and 32 int8)"
                            .into(),
                    );
                    continue;
                }
                out.mismatch(
                    id,
                    format!("{}, {elems} elements in {bytes} bytes", p.name),
                    describe(o),
                );
            }
            (_, None, TypeInfo::Removed { .. } | TypeInfo::Unknown) => {}
            (_, None, TypeInfo::CallerSized { name: "I2_S" }) if id == 36 => out
                .known
                .push("36: I2_S here (bitnet.cpp's id), not a gguf-py type".into()),
            (_, None, TypeInfo::Sized { name: "Q2_0", .. }) if id == 42 => out
                .known
                .push("Q2_0 (42): unknown to gguf-py 0.19.0 (a file using it is rejected)".into()),
            (p, sizes, o) => {
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
mod tests {
    use bitnet_gguf::{ggml_type, type_info, GgufBuilder, MetadataValue};
    use bitnet_models::{pack_tq2_0, Kernel};
    use half::f16;
    use serde_json::json;

    use super::super::ours;
    use super::super::schema::{GgmlType, PyType};
    use super::*;

    /// A file with a trailing-1 shape, a Q8_0 tensor (the project does not decode it), a TQ2_0
    /// weight with a `.scale` sibling, a float, a string and a string array.
    fn sample_bytes() -> Vec<u8> {
        let mut b = GgufBuilder::new();
        b.kv("general.architecture", "test");
        b.kv("test.f32", 0.15625f32);
        b.kv("test.str", "héllo");
        b.kv("test.arr", MetadataValue::strings(["a", "", "ccc"]));
        let f32s: Vec<u8> = [1.0f32, -2.0, 0.5, 3.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        b.tensor("t.f32", &[4, 1], ggml_type::F32, f32s);
        let mut q8 = f16::from_f32(0.5).to_le_bytes().to_vec();
        q8.extend((0..32).map(|i| i as u8));
        b.tensor("t.q8_0", &[32], ggml_type::Q8_0, q8);
        let weights: Vec<i8> = (0..256).map(|i| (i % 3) as i8 - 1).collect();
        let tq = pack_tq2_0(&weights, 1, 256, &[f16::from_f32(0.75)]).unwrap();
        b.tensor("w.weight", &[256, 1], ggml_type::TQ2_0, tq);
        b.tensor(
            "w.scale",
            &[1],
            ggml_type::F32,
            0.5f32.to_le_bytes().to_vec(),
        );
        b.build().unwrap()
    }

    fn project(bytes: &[u8]) -> Project {
        ours::read("sample.gguf", bytes, Kernel::scalar())
    }

    /// What `reference` would print for the file the project read as `ours`: the same, with
    /// ggml's dropped trailing 1s and a Q8_0 decoding the project does not have.
    fn reference_dump(reference: Reference, ours: &Project) -> Dump {
        let mut d = ours.dump.clone();
        d.reference = reference.name().to_owned();
        for t in &mut d.tensors {
            if reference == Reference::Ggml {
                t.ne = without_trailing_ones(&t.ne);
            }
            if t.ty == ggml_type::Q8_0 {
                t.decoded = Some(Decoded::of(&[0.25; 32]));
            }
        }
        d
    }

    fn whats(out: &Outcome) -> Vec<&str> {
        out.mismatches.iter().map(|m| m.what.as_str()).collect()
    }

    #[test]
    fn the_same_reading_matches_and_counts_what_it_compared() {
        let ours = project(&sample_bytes());
        assert!(ours.dump.accepted, "{:?}", ours.dump.error);
        for r in Reference::ALL {
            let out = compare(r, &reference_dump(r, &ours), &ours);
            assert!(out.ok(), "{r:?}: {:?}", out.mismatches);
            assert_eq!((out.keys, out.tensors, out.decoded), (5, 4, 3));
            assert_eq!(out.reference_only, ["t.q8_0 (Q8_0)"]);
            assert!(out.known.is_empty() && out.notes.is_empty());
        }
    }

    /// The TQ2_0 weight alone is `w × d`; the sibling's 0.5 is not applied.
    #[test]
    fn a_tq2_0_weight_is_decoded_without_its_scale_sibling() {
        let ours = project(&sample_bytes());
        let w = ours.dump.tensors.iter().find(|t| t.name == "w.weight");
        let expected: Vec<f32> = (0..256).map(|i| ((i % 3) as f32 - 1.0) * 0.75).collect();
        assert_eq!(w.unwrap().decoded, Some(Decoded::of(&expected)));
    }

    /// gguf-py's own decoding of the third-party file's TQ2_0 tensor is stored beside it; the
    /// project's reading must hash the same.
    #[test]
    fn the_project_decodes_gguf_py_written_tq2_0_as_gguf_py_did() {
        let dir = crate::workspace_root().join("testdata/third-party");
        let bytes = std::fs::read(dir.join("gguf-py-written.gguf")).unwrap();
        let values = std::fs::read(dir.join("gguf-py-written.tq2_0.f32le")).unwrap();
        let values: Vec<f32> = values
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let ours = ours::read("gguf-py-written.gguf", &bytes, Kernel::scalar());
        let t = ours.dump.tensors.iter().find(|t| t.name == "t.tq2_0");
        assert_eq!(t.unwrap().decoded, Some(Decoded::of(&values)));
    }

    /// Each field, changed in the reference's reading, is one mismatch naming it.
    #[test]
    fn a_difference_in_each_compared_field_is_a_mismatch() {
        let ours = project(&sample_bytes());
        type Change = fn(&mut Dump);
        let cases: [(&str, Change); 17] = [
            ("version", |d| d.version = Some(2)),
            ("alignment", |d| d.alignment = Some(64)),
            ("data_offset", |d| {
                d.data_offset = Some(d.data_offset.unwrap() + 32)
            }),
            ("metadata count", |d| {
                d.metadata.pop();
            }),
            ("metadata[2] key", |d| d.metadata[2].key = "test.g32".into()),
            ("metadata `test.f32` type", |d| {
                d.metadata[2].ty = "FLOAT64".into()
            }),
            ("metadata `test.f32` value", |d| {
                d.metadata[2].value = json!({"f32": "0x3e200001"});
            }),
            ("metadata `test.str` value", |d| {
                d.metadata[3].value = json!("hello")
            }),
            ("metadata `test.arr` item 2 (1 item(s) differ)", |d| {
                d.metadata[4].value["items"][2] = json!("cc");
            }),
            ("tensor count", |d| {
                d.tensors.pop();
            }),
            ("tensor[0] name", |d| d.tensors[0].name = "t.f33".into()),
            ("tensor `t.f32` type", |d| d.tensors[0].ty = 1),
            ("tensor `t.f32` type_name", |d| {
                d.tensors[0].type_name = "F16".into()
            }),
            ("tensor `t.f32` ne", |d| d.tensors[0].ne = vec![2, 2]),
            ("tensor `t.f32` offset", |d| d.tensors[0].offset = 32),
            ("tensor `t.f32` nbytes", |d| d.tensors[0].nbytes = Some(8)),
            ("tensor `w.weight` decoded values", |d| {
                let mut values = vec![0.0f32; 256];
                values[255] = -0.0;
                d.tensors[2].decoded = Some(Decoded::of(&values));
            }),
        ];
        for r in Reference::ALL {
            for (what, change) in &cases {
                let mut theirs = reference_dump(r, &ours);
                change(&mut theirs);
                let out = compare(r, &theirs, &ours);
                assert_eq!(whats(&out), [*what], "{r:?}: {:?}", out.mismatches);
                assert!(out.known.is_empty(), "{r:?} {what}: {:?}", out.known);
            }
        }
    }

    #[test]
    fn one_value_bit_differs_or_a_count_differs_in_decoded_values() {
        let ours = project(&sample_bytes());
        let mut theirs = reference_dump(Reference::GgufPy, &ours);
        let Some(Decoded::Values { count, .. }) = &mut theirs.tensors[0].decoded else {
            panic!("t.f32 decoded")
        };
        *count += 1;
        let out = compare(Reference::GgufPy, &theirs, &ours);
        assert_eq!(whats(&out), ["tensor `t.f32` decoded values"]);
        let m = &out.mismatches[0];
        assert!(
            m.expected.starts_with("5 values") && m.found.starts_with("4 values"),
            "{m:?}"
        );
    }

    #[test]
    fn dropped_trailing_ones_are_normal_for_ggml_only() {
        let ours = project(&sample_bytes());
        let theirs = reference_dump(Reference::Ggml, &ours);
        assert_eq!(theirs.tensors[0].ne, [4]);
        assert!(compare(Reference::Ggml, &theirs, &ours).ok());
        let out = compare(Reference::GgufPy, &theirs, &ours);
        assert_eq!(
            whats(&out),
            ["tensor `t.f32` ne", "tensor `w.weight` ne"],
            "gguf-py reports the shape as declared"
        );
    }

    #[test]
    fn a_reference_that_cannot_decode_or_fails_to() {
        let ours = project(&sample_bytes());
        let mut theirs = reference_dump(Reference::GgufPy, &ours);
        theirs.tensors[0].decoded = None;
        let out = compare(Reference::GgufPy, &theirs, &ours);
        assert!(out.ok());
        assert_eq!(out.project_only, ["t.f32 (F32)"]);
        theirs.tensors[0].decoded = Some(Decoded::Error {
            error: "boom".into(),
        });
        let out = compare(Reference::GgufPy, &theirs, &ours);
        assert_eq!(whats(&out), ["tensor `t.f32` decoded values"]);
    }

    fn tensorless() -> Vec<u8> {
        let mut b = GgufBuilder::new();
        b.kv("general.architecture", "llama");
        b.kv("general.name", "abc"); // infos end off the alignment
        let mut bytes = b.build().unwrap();
        // As llama.cpp writes a vocab-only file: nothing after the metadata.
        let end = bitnet_gguf::Gguf::parse(&bytes).unwrap().tensor_info_end();
        bytes.truncate(end as usize);
        bytes
    }

    #[test]
    fn a_tensorless_file_unpadded_data_offset_is_known_for_ggml_only() {
        let bytes = tensorless();
        let ours = project(&bytes);
        let end = ours.tensor_info_end.unwrap();
        assert_ne!(
            Some(end),
            ours.dump.data_offset,
            "the test needs an unaligned end"
        );
        let mut theirs = reference_dump(Reference::Ggml, &ours);
        theirs.data_offset = Some(end);
        let out = compare(Reference::Ggml, &theirs, &ours);
        assert!(out.ok(), "{:?}", out.mismatches);
        assert_eq!(out.known.len(), 1);
        assert!(
            out.known[0].starts_with("data_offset: ggml"),
            "{:?}",
            out.known
        );

        // gguf-py pads: the same value from it is a mismatch.
        theirs.reference = "gguf-py".into();
        assert_eq!(
            whats(&compare(Reference::GgufPy, &theirs, &ours)),
            ["data_offset"]
        );
        // Another value from ggml is a mismatch.
        theirs.data_offset = Some(end - 1);
        assert_eq!(
            whats(&compare(Reference::Ggml, &theirs, &ours)),
            ["data_offset"]
        );
        // A file with tensors: ggml pads like everyone else.
        let ours = project(&sample_bytes());
        let mut theirs = reference_dump(Reference::Ggml, &ours);
        theirs.data_offset = ours.tensor_info_end;
        assert_eq!(
            whats(&compare(Reference::Ggml, &theirs, &ours)),
            ["data_offset"]
        );
    }

    #[test]
    fn a_string_cut_at_nul_is_known_for_ggml_only() {
        let mut b = GgufBuilder::new();
        b.kv("s", "ab\0cd");
        b.kv("arr", MetadataValue::strings(["x\0y", "z"]));
        let ours = project(&b.build().unwrap());
        let mut theirs = reference_dump(Reference::Ggml, &ours);
        let at = |d: &Dump, k: &str| d.metadata.iter().position(|kv| kv.key == k).unwrap();
        let (s, arr) = (at(&theirs, "s"), at(&theirs, "arr"));
        theirs.metadata[s].value = json!("ab");
        theirs.metadata[arr].value["items"][0] = json!("x");
        let out = compare(Reference::Ggml, &theirs, &ours);
        assert!(out.ok(), "{:?}", out.mismatches);
        assert_eq!(out.known.len(), 2, "{:?}", out.known);
        let out = compare(Reference::GgufPy, &theirs, &ours);
        assert_eq!(out.mismatches.len(), 2, "{:?}", out.mismatches);
        // Cut anywhere else: a mismatch for ggml too.
        theirs.metadata[s].value = json!("a");
        let out = compare(Reference::Ggml, &theirs, &ours);
        assert_eq!(whats(&out), ["metadata `s` value"]);
    }

    #[test]
    fn a_key_or_tensor_name_cut_at_nul_is_known_for_ggml_only() {
        let mut b = GgufBuilder::new();
        b.kv("k\0ey", 1u32);
        b.tensor("t\0x", &[1], ggml_type::F32, 1.0f32.to_le_bytes().to_vec());
        let ours = project(&b.build().unwrap());
        let mut theirs = reference_dump(Reference::Ggml, &ours);
        theirs.metadata[1].key = "k".into();
        theirs.tensors[0].name = "t".into();
        let out = compare(Reference::Ggml, &theirs, &ours);
        assert!(out.ok(), "{:?}", out.mismatches);
        assert_eq!((out.known.len(), out.decoded), (2, 1), "{:?}", out.known);
        let out = compare(Reference::GgufPy, &theirs, &ours);
        assert_eq!(whats(&out), ["metadata[1] key", "tensor[0] name"]);
        assert_eq!(
            out.mismatches[1].found, r#""t\0x""#,
            "names are shown escaped"
        );
    }

    fn i2s_file() -> Vec<u8> {
        let weights: Vec<i8> = (0..256).map(|i| (i % 3) as i8 - 1).collect();
        let mut b = GgufBuilder::new();
        b.tensor(
            "w.weight",
            &[256, 1],
            ggml_type::I2_S,
            bitnet_models::pack_qk256(&weights, 1, 256).unwrap(),
        );
        b.build().unwrap()
    }

    fn rejected(reference: Reference, error: &str) -> Dump {
        Dump {
            file: "f.gguf".into(),
            reference: reference.name().into(),
            accepted: false,
            error: Some(error.into()),
            version: None,
            alignment: None,
            data_offset: None,
            metadata: Vec::new(),
            tensors: Vec::new(),
        }
    }

    const GGML_I2S: &str = "gguf_init_from_reader: tensor 'w.weight' of type 36 (TYPE_IQ4_NL_4_4 \
        REMOVED, use IQ4_NL with runtime repacking) has 256 elements per row, not a multiple of \
        block size (0)\ngguf_init_from_reader: failed to read tensor info";
    const PY_I2S: &str = "ValueError: np.uint32(36) is not a valid GGMLQuantizationType";

    #[test]
    fn an_i2s_file_rejected_for_type_36_is_expected_and_nothing_else_is() {
        let i2s = project(&i2s_file());
        assert!(i2s.has_i2s && i2s.dump.accepted, "{:?}", i2s.dump.error);
        for (r, message) in [(Reference::Ggml, GGML_I2S), (Reference::GgufPy, PY_I2S)] {
            let out = compare(r, &rejected(r, message), &i2s);
            assert!(out.ok() && out.expected_rejection, "{r:?}: {out:?}");
            // Rejected for another reason: a mismatch.
            let out = compare(r, &rejected(r, "failed to read key-value pairs"), &i2s);
            assert_eq!(whats(&out), ["accepted"]);
            // The I2_S message for a file without I2_S: a mismatch.
            let plain = project(&sample_bytes());
            let out = compare(r, &rejected(r, message), &plain);
            assert_eq!(whats(&out), ["accepted"]);
            assert!(!out.expected_rejection);
        }
        // Each reference's message is its own.
        assert!(!rejects_i2s(Reference::Ggml, PY_I2S));
        assert!(!rejects_i2s(Reference::GgufPy, GGML_I2S));
        assert!(rejects_i2s(
            Reference::GgufPy,
            "ValueError: 36 is not a valid GGMLQuantizationType"
        ));
        assert!(!rejects_i2s(
            Reference::GgufPy,
            "ValueError: np.uint32(360) is not a valid GGMLQuantizationType"
        ));
    }

    #[test]
    fn accepted_by_one_side_only_is_a_mismatch_and_rejected_by_both_is_not() {
        let mut bytes = sample_bytes();
        bytes[4] = 7; // version 7
        let bad = project(&bytes);
        assert!(!bad.dump.accepted);
        let good = project(&sample_bytes());
        let out = compare(
            Reference::Ggml,
            &reference_dump(Reference::Ggml, &good),
            &bad,
        );
        assert_eq!(whats(&out), ["accepted"]);
        assert!(
            out.mismatches[0].found.contains("unsupported"),
            "{:?}",
            out.mismatches
        );
        let out = compare(
            Reference::Ggml,
            &rejected(Reference::Ggml, "bad version"),
            &good,
        );
        assert_eq!(whats(&out), ["accepted"]);
        let out = compare(
            Reference::Ggml,
            &rejected(Reference::Ggml, "bad version"),
            &bad,
        );
        assert!(out.ok() && !out.expected_rejection);
        assert_eq!(out.notes.len(), 1);
    }

    /// ggml's table as `ggml-dump --types` reports it, built from the project's own table with
    /// ggml's spelling: what a matching ggml looks like.
    fn ggml_table() -> GgmlTypes {
        let types = (0..43)
            .map(|id| match type_info(id) {
                TypeInfo::Sized {
                    name,
                    block_elems,
                    block_bytes,
                } => GgmlType {
                    id,
                    name: name.to_ascii_lowercase(),
                    blck_size: block_elems as i64,
                    type_size: block_bytes,
                },
                _ => GgmlType {
                    id,
                    name: "DEPRECATED".into(),
                    blck_size: 0,
                    type_size: 0,
                },
            })
            .collect();
        GgmlTypes {
            ggml_version: "0.26.0".into(),
            source: "test".into(),
            type_count: 43,
            types,
        }
    }

    #[test]
    fn the_type_table_matches_ggml_with_36_known() {
        let out = compare_ggml_types(&ggml_table(), type_info);
        assert!(out.mismatches.is_empty(), "{:?}", out.mismatches);
        assert_eq!(out.ids, 43);
        assert_eq!(out.known.len(), 1);
        assert!(out.known[0].starts_with("36:"));
    }

    #[test]
    fn a_type_table_difference_is_a_mismatch() {
        let mut g = ggml_table();
        g.types[35].type_size = 68; // TQ2_0
        g.types[9].name = "q8_2".into();
        let out = compare_ggml_types(&g, type_info);
        let ids: Vec<&str> = out.mismatches.iter().map(|m| m.what.as_str()).collect();
        assert_eq!(ids, ["type 9", "type 35"]);

        // An id ggml removed that the project sizes, and an id ggml sizes that it removed.
        let mut g = ggml_table();
        g.types[8].blck_size = 0;
        g.types[4].blck_size = 32;
        g.types[4].type_size = 18;
        let out = compare_ggml_types(&g, type_info);
        let ids: Vec<&str> = out.mismatches.iter().map(|m| m.what.as_str()).collect();
        assert_eq!(ids, ["type 4", "type 8"]);

        // A shorter ggml: the project's ids past its count are mismatches; a missing entry too.
        let mut g = ggml_table();
        g.type_count = 42;
        g.types.truncate(41);
        let out = compare_ggml_types(&g, type_info);
        let ids: Vec<&str> = out.mismatches.iter().map(|m| m.what.as_str()).collect();
        assert_eq!(ids, ["type 41", "type 42"]);
    }

    /// gguf-py 0.19.0's table as `gguf_py_dump.py --types` reports it: ggml's, without the
    /// removed ids, 36 and Q2_0, and with Q8_1 at 40 bytes.
    fn py_table() -> PyTypes {
        let types = ggml_table()
            .types
            .into_iter()
            .filter(|t| t.blck_size != 0 && t.id != 42)
            .map(|t| PyType {
                id: t.id,
                name: t.name.to_ascii_uppercase(),
                blck_size: Some(t.blck_size as u64),
                type_size: Some(if t.id == 9 { 40 } else { t.type_size }),
            })
            .collect();
        PyTypes {
            gguf_version: "0.19.0".into(),
            numpy_version: "2".into(),
            types,
        }
    }

    #[test]
    fn gguf_py_table_differences_are_known_and_nothing_else_is() {
        let out = compare_py_types(&py_table(), 43, type_info);
        assert!(out.mismatches.is_empty(), "{:?}", out.mismatches);
        let known: Vec<&str> = out.known.iter().map(|k| &k[..4]).collect();
        assert_eq!(known, ["Q8_1", "36: ", "Q2_0"]);

        let mut py = py_table();
        let q8_1 = py.types.iter_mut().find(|t| t.id == 9).unwrap();
        q8_1.type_size = Some(41);
        py.types.retain(|t| t.id != 8); // Q8_0 unknown to gguf-py: not a known difference
        py.types.push(PyType {
            id: 50,
            name: "NEW".into(),
            blck_size: Some(1),
            type_size: Some(1),
        });
        let out = compare_py_types(&py, 43, type_info);
        let ids: Vec<&str> = out.mismatches.iter().map(|m| m.what.as_str()).collect();
        assert_eq!(ids, ["type 8", "type 9", "type 50"]);
    }
}
