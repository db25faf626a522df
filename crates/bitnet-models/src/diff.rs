//! Comparing two models (docs/cli.md, `diff`): their metadata, their tensor inventory, and the
//! decoded values of every tensor they share — scales applied, so a conversion that moves a
//! scale between a `.scale` tensor, a bitnetcpp tail and block scales compares equal.
//!
//! A `.scale` sibling of a ternary weight is part of that weight's values, not a tensor of its
//! own: it is left out of the inventory.

use bitnet_gguf::MetadataValue;

use crate::kernels::Kernel;
use crate::model::{DecodeError, Model, ModelError, Values};

/// Values compared per step.
const STEP_VALUES: usize = 1 << 16;

/// A metadata key whose value differs.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangedKey {
    /// The key.
    pub key: String,
    /// Its value in A.
    pub a: MetadataValue,
    /// Its value in B.
    pub b: MetadataValue,
    /// For two arrays, the first element that differs; `None` for other values.
    pub first_difference: Option<ElementChange>,
}

/// The first element at which two array values differ.
#[derive(Debug, Clone, PartialEq)]
pub struct ElementChange {
    /// Its index, from 0.
    pub index: u64,
    /// The element in A, `None` past A's end.
    pub a: Option<MetadataValue>,
    /// The element in B, `None` past B's end.
    pub b: Option<MetadataValue>,
}

/// Where arrays `a` and `b` first differ (compared as [`same_value`] does), `None` when they
/// do not or either is not an array.
fn first_difference(a: &MetadataValue, b: &MetadataValue) -> Option<ElementChange> {
    let (MetadataValue::Array(_, xs), MetadataValue::Array(_, ys)) = (a, b) else {
        return None;
    };
    let n = xs.len().max(ys.len());
    (0..n)
        .find(|&i| match (xs.get(i), ys.get(i)) {
            (Some(x), Some(y)) => !same_value(x, y),
            _ => true,
        })
        .map(|i| ElementChange {
            index: i as u64,
            a: xs.get(i).cloned(),
            b: ys.get(i).cloned(),
        })
}

/// How one tensor present in both files compares.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorDiff {
    /// The tensor's name.
    pub name: String,
    /// Its type in A (ggml's name, with the I2_S flavor: `I2_S(bitnetcpp)`).
    pub a_type: String,
    /// Its type in B.
    pub b_type: String,
    /// Its shape in A.
    pub a_ne: Vec<u64>,
    /// Its shape in B.
    pub b_ne: Vec<u64>,
    /// How the contents compare.
    pub outcome: Outcome,
}

/// How the contents of a shared tensor compare.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Both decode (scales applied); the values compared.
    Values {
        /// How many values.
        count: u64,
        /// How many differ in their bits.
        differing: u64,
        /// The largest `|a − b|` over the differing values that are not NaN.
        max_abs: Option<f64>,
        /// The largest `|a − b| / max(|a|, |b|)` over the same.
        max_rel: Option<f64>,
    },
    /// Neither side's type is decoded here: the stored bytes compared.
    Bytes {
        /// Whether they are the same.
        equal: bool,
    },
    /// The shapes differ, or one side cannot be decoded: not comparable.
    Incomparable {
        /// Why.
        reason: String,
    },
}

impl TensorDiff {
    /// Whether the tensor's contents are the same in both files.
    pub fn is_equal(&self) -> bool {
        match &self.outcome {
            Outcome::Values { differing, .. } => *differing == 0,
            Outcome::Bytes { equal } => *equal,
            Outcome::Incomparable { .. } => false,
        }
    }
}

/// Everything [`diff`] found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Diff {
    /// Keys only in B.
    pub added_keys: Vec<String>,
    /// Keys only in A.
    pub removed_keys: Vec<String>,
    /// Keys in both with different values.
    pub changed_keys: Vec<ChangedKey>,
    /// Tensors only in A (scale siblings aside).
    pub only_in_a: Vec<String>,
    /// Tensors only in B (scale siblings aside).
    pub only_in_b: Vec<String>,
    /// Every tensor in both, in A's order.
    pub shared: Vec<TensorDiff>,
}

impl Diff {
    /// Whether every shared tensor has the same contents and neither file has a tensor the
    /// other lacks (metadata differences do not count).
    pub fn tensors_equal(&self) -> bool {
        self.only_in_a.is_empty()
            && self.only_in_b.is_empty()
            && self.shared.iter().all(TensorDiff::is_equal)
    }
}

/// Compares `a` with `b`, decoding with `kernel`.
pub fn diff(a: &Model<'_>, b: &Model<'_>, kernel: Kernel) -> Result<Diff, ModelError> {
    let mut d = Diff::default();
    let (ga, gb) = (a.gguf(), b.gguf());
    for e in ga.metadata() {
        match gb.get(e.key) {
            None => d.removed_keys.push(e.key.to_owned()),
            Some(v) => {
                let (va, vb) = (e.value.to_owned_value(), v.to_owned_value());
                if !same_value(&va, &vb) {
                    d.changed_keys.push(ChangedKey {
                        key: e.key.to_owned(),
                        first_difference: first_difference(&va, &vb),
                        a: va,
                        b: vb,
                    });
                }
            }
        }
    }
    d.added_keys = gb
        .metadata()
        .iter()
        .filter(|e| ga.get(e.key).is_none())
        .map(|e| e.key.to_owned())
        .collect();

    let siblings_a = siblings(a);
    let siblings_b = siblings(b);
    for (i, t) in ga.tensors().iter().enumerate() {
        if siblings_a[i] {
            continue;
        }
        match gb.tensor(t.name) {
            Some((j, _)) if !siblings_b[j] => d.shared.push(compare(a, i, b, j, kernel)?),
            _ => d.only_in_a.push(t.name.to_owned()),
        }
    }
    for (j, t) in gb.tensors().iter().enumerate() {
        let in_a = ga.tensor(t.name).is_some_and(|(i, _)| !siblings_a[i]);
        if !siblings_b[j] && !in_a {
            d.only_in_b.push(t.name.to_owned());
        }
    }
    Ok(d)
}

/// Metadata values compared by their bits (so NaN equals itself and 0.0 differs from −0.0).
fn same_value(a: &MetadataValue, b: &MetadataValue) -> bool {
    match (a, b) {
        (MetadataValue::F32(x), MetadataValue::F32(y)) => x.to_bits() == y.to_bits(),
        (MetadataValue::F64(x), MetadataValue::F64(y)) => x.to_bits() == y.to_bits(),
        (MetadataValue::Array(ta, xs), MetadataValue::Array(tb, ys)) => {
            ta == tb && xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same_value(x, y))
        }
        _ => a == b,
    }
}

/// Which tensors are the `.scale` sibling a ternary weight of `model` uses
/// ([`Model::used_scale_sibling`]): compared as part of that weight.
fn siblings(model: &Model<'_>) -> Vec<bool> {
    let n = model.gguf().tensors().len();
    let mut out = vec![false; n];
    for s in (0..n).filter_map(|i| model.used_scale_sibling(i)) {
        out[s] = true;
    }
    out
}

/// The type of tensor `i` as a diff shows it.
fn type_label(model: &Model<'_>, i: usize) -> String {
    let t = &model.gguf().tensors()[i];
    match model.flavor(i) {
        Ok(Some(flavor)) => format!("{}({flavor})", t.type_info().name()),
        _ => t.type_info().name().to_owned(),
    }
}

fn compare(
    a: &Model<'_>,
    i: usize,
    b: &Model<'_>,
    j: usize,
    kernel: Kernel,
) -> Result<TensorDiff, ModelError> {
    let (ta, tb) = (&a.gguf().tensors()[i], &b.gguf().tensors()[j]);
    let outcome = if ta.ne() != tb.ne() {
        Outcome::Incomparable {
            reason: "the shapes differ".into(),
        }
    } else {
        match (a.values(i), b.values(j)) {
            (Ok(va), Ok(vb)) => compare_values(&va, &vb, kernel)?,
            (Err(DecodeError::Unsupported { .. }), Err(DecodeError::Unsupported { .. })) => {
                let stored_a = ta
                    .byte_size()
                    .and_then(|s| a.gguf().tensor_bytes(ta, s).ok());
                let stored_b = tb
                    .byte_size()
                    .and_then(|s| b.gguf().tensor_bytes(tb, s).ok());
                Outcome::Bytes {
                    equal: ta.ggml_type == tb.ggml_type
                        && stored_a.is_some()
                        && stored_a == stored_b,
                }
            }
            (ra, rb) => {
                let side = |r: Result<Values<'_>, DecodeError>, which: &str| match r {
                    Ok(_) => None,
                    Err(e) => Some(format!("{which}: {e}")),
                };
                let reasons: Vec<String> = [side(ra, "A"), side(rb, "B")]
                    .into_iter()
                    .flatten()
                    .collect();
                Outcome::Incomparable {
                    reason: reasons.join("; "),
                }
            }
        }
    };
    Ok(TensorDiff {
        name: ta.name.to_owned(),
        a_type: type_label(a, i),
        b_type: type_label(b, j),
        a_ne: ta.ne().to_vec(),
        b_ne: tb.ne().to_vec(),
        outcome,
    })
}

/// Decodes both a chunk at a time and compares the bits of every value.
fn compare_values(a: &Values<'_>, b: &Values<'_>, kernel: Kernel) -> Result<Outcome, ModelError> {
    let (mut ca, mut cb) = (a.chunks(kernel, STEP_VALUES), b.chunks(kernel, STEP_VALUES));
    let (mut pa, mut pb): (Vec<f32>, Vec<f32>) = (Vec::new(), Vec::new());
    let (mut ia, mut ib) = (0, 0);
    let (mut count, mut differing) = (0u64, 0u64);
    let (mut max_abs, mut max_rel): (Option<f64>, Option<f64>) = (None, None);
    loop {
        if ia == pa.len() {
            // An empty chunk (never produced) ends the comparison rather than repeating.
            match ca.next_chunk()?.filter(|c| !c.is_empty()) {
                Some(c) => (pa, ia) = (c.to_vec(), 0),
                None => break,
            }
        }
        if ib == pb.len() {
            match cb.next_chunk()?.filter(|c| !c.is_empty()) {
                Some(c) => (pb, ib) = (c.to_vec(), 0),
                None => break,
            }
        }
        let n = (pa.len() - ia).min(pb.len() - ib);
        for (&x, &y) in pa[ia..ia + n].iter().zip(&pb[ib..ib + n]) {
            if x.to_bits() == y.to_bits() {
                continue;
            }
            differing += 1;
            let (x, y) = (f64::from(x), f64::from(y));
            let abs = (x - y).abs();
            if !abs.is_nan() {
                max_abs = Some(max_abs.map_or(abs, |m| m.max(abs)));
                let scale = x.abs().max(y.abs());
                if scale > 0.0 {
                    let rel = abs / scale;
                    max_rel = Some(max_rel.map_or(rel, |m| m.max(rel)));
                }
            }
        }
        count += n as u64;
        ia += n;
        ib += n;
    }
    Ok(Outcome::Values {
        count,
        differing,
        max_abs,
        max_rel,
    })
}
