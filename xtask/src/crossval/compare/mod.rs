//! Comparing a reference's reading of a file with the project's.
//!
//! Every difference is a [`Mismatch`] unless it is one of the known differences, each recognized
//! by exactly its circumstances (in `known.rs`) and reported on the file's line; docs/xtask.md
//! lists them. The type tables are compared in `types.rs`.
//!
//! This module runs nothing and reads no file: its inputs are parsed dumps, so its tests need
//! neither reference.

mod known;
mod types;

use serde_json::Value as Json;

use super::ours::Project;
use super::schema::{Decoded, Dump, Tensor};

pub use types::{compare_ggml_types, compare_py_types, TypesOutcome};

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
            if ours.has_i2s && known::rejects_i2s(reference, error) {
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
    if known::unpadded_tensorless_data_offset(reference, theirs, ours) {
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
    if known::cut_at_nul(reference, theirs, ours) {
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
            if known::json_cut_at_nul(reference, t, o) {
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
    } else if known::json_cut_at_nul(reference, theirs, ours) {
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
            Reference::Ggml => (
                known::without_trailing_ones(&t.ne),
                known::without_trailing_ones(&o.ne),
            ),
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

#[cfg(test)]
mod tests;
