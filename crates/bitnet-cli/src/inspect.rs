//! `inspect FILE [--json] [--ln-stats] [--gate none|auto]`: header, metadata, tensors, kernel.
//!
//! `inspect` lists what it can of any file that parses; it does not validate (that is
//! `compat-check`), so it exits 0 for a parseable file even when that file is invalid, and 1
//! only when the file cannot be parsed or, under `BITNET_STRICT_MODE`, the gate fails. A tensor
//! whose I2_S flavor cannot be detected is listed with flavor and size unknown (`null`), with a
//! note on stderr in text mode; a tensor of an unknown type is listed as `unknown`.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::anyhow;
use bitnet_gguf::{ggml_type, Gguf, MetadataEntry, TensorInfo, Value as GgufValue};
use bitnet_models::{Flavor, Model, ModelError};
use serde_json::{json, Map, Value};

use crate::env::Env;
use crate::input::Input;
use crate::json::value_json;
use crate::stats::{norm_stats, Gate, NormStats};
use crate::{stderr_line, Failure, OrExit, EXIT_INVALID};

/// The key whose value names the file's quantization.
const FILE_TYPE_KEY: &str = "general.file_type";

/// Array elements shown in text mode before the count.
const TEXT_ARRAY_ITEMS: usize = 8;
/// Characters of a string shown in text mode.
const TEXT_STRING_CHARS: usize = 96;

/// Which gate to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum GateMode {
    /// No gate.
    None,
    /// Thresholds chosen by `general.architecture` (bitnet-b1.58: norm RMS in [0.5, 2.0]).
    Auto,
}

/// Arguments of `inspect`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The GGUF file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Add mean, std, RMS, min and max of every norm tensor (name ending in norm.weight).
    #[arg(long)]
    ln_stats: bool,
    /// Check norm statistics against the architecture's thresholds; a failure is a warning,
    /// and exit status 1 under BITNET_STRICT_MODE.
    #[arg(long, value_enum, default_value_t = GateMode::None)]
    gate: GateMode,
}

/// One tensor as listed.
#[derive(Debug)]
struct TensorRow<'a> {
    info: TensorInfo<'a>,
    flavor: Option<Flavor>,
    bytes: Option<u64>,
    problem: Option<ModelError>,
}

fn tensor_rows<'a>(model: &Model<'a>) -> Vec<TensorRow<'a>> {
    model
        .gguf()
        .tensors()
        .iter()
        .enumerate()
        .map(|(i, &info)| {
            let (flavor, problem) = match model.flavor(i) {
                Ok(flavor) => (flavor, None),
                Err(e) => (None, Some(e)),
            };
            TensorRow {
                info,
                flavor,
                bytes: model.byte_size(i),
                problem,
            }
        })
        .collect()
}

/// Runs `inspect`.
pub(crate) fn run(args: &Args, env: &Env) -> Result<u8, Failure> {
    let input = Input::open(&args.file).or_usage()?;
    let path = input.path().display().to_string();
    let model = input.model()?;
    let gguf = model.gguf();
    let rows = tensor_rows(&model);
    let architecture = gguf.get("general.architecture").and_then(|v| v.as_str());
    let want_stats = args.ln_stats || args.gate == GateMode::Auto;
    let stats = want_stats.then(|| norm_stats(&model, env.kernel));
    let gate = (args.gate == GateMode::Auto)
        .then(|| Gate::auto(architecture, stats.as_deref().unwrap_or_default()));
    let shown_stats = stats.as_deref().filter(|_| args.ln_stats);

    let mut out = BufWriter::new(io::stdout().lock());
    if args.json {
        let doc = document(gguf, &rows, env, shown_stats, gate.as_ref());
        writeln!(out, "{doc}").or_usage()?;
    } else {
        write_text(
            &mut out,
            &path,
            gguf,
            &rows,
            env,
            shown_stats,
            gate.as_ref(),
        )
        .or_usage()?;
    }
    out.flush().or_usage()?;
    drop(out);

    if !args.json {
        for row in &rows {
            if let Some(e) = &row.problem {
                stderr_line(&format!("note: {e} [{}]", e.code()));
            }
        }
    }
    match gate {
        Some(gate) if !gate.passed() => {
            if !args.json {
                for (tensor, message) in &gate.failures {
                    stderr_line(&format!("warning: gate: norm {tensor:?}: {message}"));
                }
            }
            if env.strict {
                return Err(Failure::new(
                    EXIT_INVALID,
                    anyhow!(
                        "{path}: {} norm tensor(s) failed the gate under {}",
                        gate.failures.len(),
                        crate::env::STRICT_ENV
                    ),
                ));
            }
            Ok(0)
        }
        _ => Ok(0),
    }
}

fn metadata_json(entries: &[MetadataEntry<'_>]) -> Value {
    let mut map = Map::new();
    for e in entries {
        // A duplicate key is invalid; like `Gguf::get`, the first one wins.
        if !map.contains_key(e.key) {
            map.insert(e.key.to_owned(), value_json(&e.value));
        }
    }
    Value::Object(map)
}

fn document(
    gguf: &Gguf<'_>,
    rows: &[TensorRow<'_>],
    env: &Env,
    stats: Option<&[NormStats]>,
    gate: Option<&Gate>,
) -> Value {
    let tensors: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "name": r.info.name,
                "ggml_type": r.info.ggml_type,
                "type_name": r.info.type_info().name(),
                "ne": r.info.ne(),
                "offset": r.info.offset,
                "bytes": r.bytes,
                "flavor": r.flavor.map(Flavor::name),
            })
        })
        .collect();
    json!({
        "version": gguf.version(),
        "alignment": gguf.alignment(),
        "data_offset": gguf.data_offset(),
        "metadata": metadata_json(gguf.metadata()),
        "file_type_name": gguf.metadata().iter().find_map(file_type_name),
        "tensors": tensors,
        "kernel": env.kernel.name(),
        "ln_stats": stats.map(|s| s.iter().map(NormStats::json).collect::<Vec<_>>()),
        "gate": gate.map(|g| g.json(env.strict)),
    })
}

/// The name of `general.file_type`'s value, naming both meanings where writers differ.
fn file_type_name(e: &MetadataEntry<'_>) -> Option<&'static str> {
    if e.key != FILE_TYPE_KEY {
        return None;
    }
    bitnet_gguf::file_type_name(u32::try_from(e.value.as_u64()?).ok()?)
}

/// A string for a terminal: escaped like Rust's `Debug` (no control characters), shortened.
fn text_str(s: &str) -> String {
    let mut shown: String = s.chars().take(TEXT_STRING_CHARS).collect();
    if shown.len() < s.len() {
        shown.push('…');
        format!("{shown:?} ({} bytes)", s.len())
    } else {
        format!("{shown:?}")
    }
}

fn text_scalar(value: &GgufValue<'_>) -> String {
    match value {
        GgufValue::String(s) => text_str(s),
        GgufValue::Array(_) => "[…]".to_owned(),
        other => value_json(other).to_string(),
    }
}

/// The type and a summary of a value: arrays show their first items and their length.
fn text_value(value: &GgufValue<'_>) -> (String, String) {
    match value {
        GgufValue::Array(a) => {
            let items: Vec<String> = a
                .iter()
                .take(TEXT_ARRAY_ITEMS)
                .map(|v| text_scalar(&v))
                .collect();
            let more = if a.len() > TEXT_ARRAY_ITEMS as u64 {
                format!(", … ({} total)", a.len())
            } else {
                String::new()
            };
            (
                format!("{}[{}]", a.elem_type().name(), a.len()),
                format!("[{}{more}]", items.join(", ")),
            )
        }
        other => (other.value_type().name().to_owned(), text_scalar(other)),
    }
}

fn fmt_stat(v: f64) -> String {
    format!("{v:.6}")
}

fn write_text(
    out: &mut impl Write,
    path: &str,
    gguf: &Gguf<'_>,
    rows: &[TensorRow<'_>],
    env: &Env,
    stats: Option<&[NormStats]>,
    gate: Option<&Gate>,
) -> io::Result<()> {
    writeln!(out, "file:        {path}")?;
    writeln!(out, "version:     {}", gguf.version())?;
    writeln!(out, "alignment:   {}", gguf.alignment())?;
    writeln!(out, "data offset: {}", gguf.data_offset())?;
    writeln!(out, "kernel:      {}", env.kernel.name())?;
    writeln!(out, "metadata:    {} keys", gguf.metadata().len())?;
    let key_width = gguf
        .metadata()
        .iter()
        .map(|e| e.key.chars().count())
        .max()
        .unwrap_or(0)
        .min(48);
    for e in gguf.metadata() {
        let (ty, mut value) = text_value(&e.value);
        if let Some(name) = file_type_name(e) {
            value.push_str(&format!(" ({name})"));
        }
        let key = format!("{:?}", e.key);
        let key = key.trim_matches('"');
        writeln!(out, "  {key:<key_width$}  {ty:<14} {value}")?;
    }
    writeln!(out, "tensors:     {}", rows.len())?;
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let name = format!("{:?}", r.info.name);
            [
                name.trim_matches('"').to_owned(),
                format!("{}({})", r.info.type_info().name(), r.info.ggml_type),
                format!("{:?}", r.info.ne()),
                match (r.info.ggml_type, r.flavor) {
                    (_, Some(f)) => f.name().to_owned(),
                    (ggml_type::I2_S, None) => "?".to_owned(),
                    _ => "-".to_owned(),
                },
                r.info.offset.to_string(),
                r.bytes.map_or("?".to_owned(), |b| b.to_string()),
            ]
        })
        .collect();
    if !cells.is_empty() {
        let header = ["name", "type", "ne", "flavor", "offset", "bytes"].map(str::to_owned);
        let mut widths = [0usize; 6];
        for row in std::iter::once(&header).chain(&cells) {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        for row in std::iter::once(&header).chain(&cells) {
            let line: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            writeln!(out, "  {}", line.join("  ").trim_end())?;
        }
    }
    if let Some(stats) = stats {
        writeln!(out, "ln stats:    {} norm tensor(s)", stats.len())?;
        for s in stats {
            match &s.result {
                Ok(Some(st)) => writeln!(
                    out,
                    "  {:?}  n={} mean={} std={} rms={} min={} max={}",
                    s.name,
                    st.count,
                    fmt_stat(st.mean),
                    fmt_stat(st.std),
                    fmt_stat(st.rms),
                    fmt_stat(st.min),
                    fmt_stat(st.max)
                )?,
                Ok(None) => writeln!(out, "  {:?}  n=0", s.name)?,
                Err(e) => writeln!(out, "  {:?}  error: {e}", s.name)?,
            }
        }
    }
    if let Some(gate) = gate {
        let rule = match (&gate.architecture, gate.range) {
            (Some(a), Some((lo, hi))) => format!("{a}: norm rms in [{lo:?}, {hi:?}]"),
            (Some(a), None) => format!("{a}: no thresholds"),
            (None, _) => "no architecture".to_owned(),
        };
        let verdict = if gate.passed() {
            "pass".to_owned()
        } else {
            format!("FAIL ({} norm tensor(s))", gate.failures.len())
        };
        writeln!(out, "gate:        auto ({rule}): {verdict}")?;
        if let Some(note) = &gate.note {
            writeln!(out, "  note: {note}")?;
        }
    }
    Ok(())
}
