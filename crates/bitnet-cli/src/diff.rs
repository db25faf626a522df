//! `diff A B [--json]`: metadata, tensor inventory, and the decoded values of every shared tensor
//! (scales applied), compared by `bitnet_models::diff` (docs/cli.md). Exit 0 when every shared
//! tensor has the same values and no tensor is missing on either side; 1 otherwise; metadata
//! differences are reported and do not change the status.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::anyhow;
use bitnet_gguf::MetadataValue;
use bitnet_models::diff::{diff, ChangedKey, Diff, Outcome, TensorDiff};
use bitnet_models::Model;
use serde_json::{json, Value};

use crate::env::Env;
use crate::input::Input;
use crate::json::{f32_json, f64_json};
use crate::report::coded;
use crate::{Failure, OrExit, EXIT_INVALID};

/// Arguments of `diff`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The first file.
    #[arg(value_name = "A")]
    a: PathBuf,
    /// The second file.
    #[arg(value_name = "B")]
    b: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// A metadata value for a report: JSON, arrays summarized by length past a few items.
fn value_json(value: &MetadataValue) -> Value {
    match value {
        MetadataValue::U8(v) => json!(v),
        MetadataValue::I8(v) => json!(v),
        MetadataValue::U16(v) => json!(v),
        MetadataValue::I16(v) => json!(v),
        MetadataValue::U32(v) => json!(v),
        MetadataValue::I32(v) => json!(v),
        MetadataValue::U64(v) => json!(v),
        MetadataValue::I64(v) => json!(v),
        MetadataValue::F32(v) => f32_json(*v),
        MetadataValue::F64(v) => f64_json(*v),
        MetadataValue::Bool(v) => json!(v),
        MetadataValue::String(s) => json!(s),
        MetadataValue::Array(_, items) => Value::Array(items.iter().map(value_json).collect()),
    }
}

/// A value as one short line of text.
fn value_text(value: &MetadataValue) -> String {
    match value {
        MetadataValue::Array(t, items) => format!("[{} x {}]", items.len(), t.name()),
        MetadataValue::String(s) => format!("{s:?}"),
        other => value_json(other).to_string(),
    }
}

fn tensor_json(t: &TensorDiff) -> Value {
    let mut v = json!({
        "name": t.name,
        "a_type": t.a_type,
        "b_type": t.b_type,
        "a_ne": t.a_ne,
        "b_ne": t.b_ne,
        "equal": t.is_equal(),
    });
    match &t.outcome {
        Outcome::Values {
            count,
            differing,
            max_abs,
            max_rel,
        } => {
            v["compared"] = json!("values");
            v["values"] = json!(count);
            v["differing"] = json!(differing);
            v["max_abs_diff"] = max_abs.map_or(Value::Null, f64_json);
            v["max_rel_diff"] = max_rel.map_or(Value::Null, f64_json);
        }
        Outcome::Bytes { .. } => v["compared"] = json!("bytes"),
        Outcome::Incomparable { reason } => {
            v["compared"] = json!(null);
            v["reason"] = json!(reason);
        }
    }
    v
}

/// A changed key: both values, and for arrays the first differing element.
fn changed_json(c: &ChangedKey) -> Value {
    let mut v = json!({"key": c.key, "a": value_json(&c.a), "b": value_json(&c.b)});
    if let Some(e) = &c.first_difference {
        let side = |x: &Option<MetadataValue>| x.as_ref().map_or(Value::Null, value_json);
        v["first_difference"] = json!({"index": e.index, "a": side(&e.a), "b": side(&e.b)});
    }
    v
}

fn document(a: &str, b: &str, d: &Diff) -> Value {
    json!({
        "a": a,
        "b": b,
        "equal": d.tensors_equal(),
        "metadata": {
            "added": d.added_keys,
            "removed": d.removed_keys,
            "changed": d.changed_keys.iter().map(changed_json).collect::<Vec<_>>(),
        },
        "tensors": {
            "only_in_a": d.only_in_a,
            "only_in_b": d.only_in_b,
            "shared": d.shared.iter().map(tensor_json).collect::<Vec<_>>(),
        },
    })
}

fn write_text(out: &mut impl Write, a: &str, b: &str, d: &Diff) -> io::Result<()> {
    writeln!(out, "a: {a}")?;
    writeln!(out, "b: {b}")?;
    writeln!(
        out,
        "metadata: {} changed, {} added, {} removed",
        d.changed_keys.len(),
        d.added_keys.len(),
        d.removed_keys.len()
    )?;
    for c in &d.changed_keys {
        write!(
            out,
            "  changed {}: {} -> {}",
            c.key,
            value_text(&c.a),
            value_text(&c.b)
        )?;
        if let Some(e) = &c.first_difference {
            let side = |v: &Option<MetadataValue>| v.as_ref().map_or("(none)".into(), value_text);
            write!(
                out,
                ", first at [{}]: {} -> {}",
                e.index,
                side(&e.a),
                side(&e.b)
            )?;
        }
        writeln!(out)?;
    }
    for k in &d.added_keys {
        writeln!(out, "  added   {k}")?;
    }
    for k in &d.removed_keys {
        writeln!(out, "  removed {k}")?;
    }
    let equal = d.shared.iter().filter(|t| t.is_equal()).count();
    writeln!(
        out,
        "tensors: {} shared ({equal} equal), {} only in a, {} only in b",
        d.shared.len(),
        d.only_in_a.len(),
        d.only_in_b.len()
    )?;
    for name in &d.only_in_a {
        writeln!(out, "  only in a: {name}")?;
    }
    for name in &d.only_in_b {
        writeln!(out, "  only in b: {name}")?;
    }
    for t in &d.shared {
        let types = if t.a_type == t.b_type {
            t.a_type.clone()
        } else {
            format!("{} -> {}", t.a_type, t.b_type)
        };
        let verdict = match &t.outcome {
            Outcome::Values {
                count,
                differing: 0,
                ..
            } => format!("bit-equal ({count} values)"),
            Outcome::Values {
                count,
                differing,
                max_abs,
                max_rel,
            } => format!(
                "{differing} of {count} values differ, max abs {}, max rel {}",
                max_abs.map_or("-".to_owned(), |v| format!("{v:e}")),
                max_rel.map_or("-".to_owned(), |v| format!("{v:e}")),
            ),
            Outcome::Bytes { equal: true } => "same bytes".to_owned(),
            Outcome::Bytes { equal: false } => "bytes differ".to_owned(),
            Outcome::Incomparable { reason } => format!("not compared: {reason}"),
        };
        // Equal tensors of the same type are the common case: one line for all of them.
        if t.is_equal() && t.a_type == t.b_type {
            continue;
        }
        writeln!(out, "  {}  {types}  {verdict}", t.name)?;
    }
    let same_type_equal = d
        .shared
        .iter()
        .filter(|t| t.is_equal() && t.a_type == t.b_type)
        .count();
    if same_type_equal > 0 {
        writeln!(
            out,
            "  ({same_type_equal} tensor(s) of the same type with equal contents not listed)"
        )?;
    }
    writeln!(
        out,
        "result: {}",
        if d.tensors_equal() {
            "every tensor decodes to the same values"
        } else {
            "the tensors differ"
        }
    )?;
    Ok(())
}

fn parse<'a>(input: &'a Input, path: &str) -> anyhow::Result<Model<'a>> {
    Model::parse(input.bytes()).map_err(|e| anyhow!(coded(format!("{path}: {e}"), e.code())))
}

/// Runs `diff`.
pub(crate) fn run(args: &Args, env: &Env) -> Result<u8, Failure> {
    let input_a = Input::open(&args.a).or_usage()?;
    let input_b = Input::open(&args.b).or_usage()?;
    let (pa, pb) = (
        input_a.path().display().to_string(),
        input_b.path().display().to_string(),
    );
    let model_a = parse(&input_a, &pa).or_invalid()?;
    let model_b = parse(&input_b, &pb).or_invalid()?;
    let d = diff(&model_a, &model_b, env.kernel)
        .map_err(|e| anyhow!(coded(&e, e.code())))
        .or_invalid()?;
    let mut out = BufWriter::new(io::stdout().lock());
    if args.json {
        writeln!(out, "{}", document(&pa, &pb, &d)).or_usage()?;
    } else {
        write_text(&mut out, &pa, &pb, &d).or_usage()?;
    }
    out.flush().or_usage()?;
    Ok(if d.tensors_equal() { 0 } else { EXIT_INVALID })
}
