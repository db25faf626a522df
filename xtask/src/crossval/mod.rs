//! `cargo xtask crossval [--json] [FILE...]`: the project's reading of GGUF files against two
//! references, mainline ggml's C reader and gguf-py, and its ternary matmul against ggml's
//! generic C (docs/xtask.md, crossval/README.md).
//!
//! - `refs.rs`: builds `crossval/ggml-dump`, makes the gguf-py venv, runs both.
//! - `gemv.rs`: `ggml-dump --gemv` against `bitnet_models::matmul` (ggml semantics), bit for bit.
//! - `inputs.rs`: the files (by default fixtures, third-party files, synthetic models) and
//!   their conversions to the formats the references read.
//! - `ours.rs`: the project's own reading, in the references' JSON schema (`schema.rs`).
//! - `compare/`: the comparison, the known differences and the type tables; tested without the
//!   references.
//!
//! This module runs the steps and prints the report; a mismatch makes the command fail.

mod compare;
mod gemv;
mod inputs;
mod ours;
mod refs;
mod schema;

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use bitnet_models::Kernel;
use serde_json::json;

use compare::{Outcome, Reference, TypesOutcome};
use inputs::Inputs;
pub use refs::build_ggml_dump;
use schema::{GgmlTypes, PyTypes};

/// Arguments of `crossval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object per line instead of the table.
    #[arg(long)]
    json: bool,
    /// The GGUF files to compare (default: fixtures, third-party files, synthetic models).
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// One file compared with one reference.
#[derive(Debug)]
struct Row {
    file: usize,
    reference: Reference,
    outcome: Outcome,
}

pub fn run(args: Args) -> Result<()> {
    let root = crate::workspace_root();
    let kernel = Kernel::selected()?;
    // The references first: a missing compiler or Python fails before any other work.
    let ggml = refs::build_ggml_dump(&root)?;
    let venv = refs::venv(&root)?;
    let ggml_types = refs::ggml_types(&ggml)?;
    let py_types = refs::py_types(&root, &venv)?;

    let inputs = inputs::collect(&root, &args.files)?;
    let paths: Vec<PathBuf> = inputs.files.iter().map(|f| f.path.clone()).collect();
    eprintln!(
        "crossval: {} files, each read by ggml, gguf-py and the project",
        paths.len()
    );
    let ggml_dumps = refs::ggml_dumps(&ggml, &paths)?;
    let py_dumps = refs::py_dumps(&root, &venv, &paths)?;

    let mut rows = Vec::new();
    let mut agreement = Vec::new();
    for (i, input) in inputs.files.iter().enumerate() {
        let bytes =
            fs::read(&input.path).with_context(|| format!("reading {}", input.path.display()))?;
        let ours = ours::read(&input.name, &bytes, kernel);
        for (reference, theirs) in [
            (Reference::Ggml, &ggml_dumps[i]),
            (Reference::GgufPy, &py_dumps[i]),
        ] {
            rows.push(Row {
                file: i,
                reference,
                outcome: compare::compare(reference, theirs, &ours),
            });
        }
        for note in compare::reference_only_agreement(&ggml_dumps[i], &py_dumps[i], &ours) {
            agreement.push((i, note));
        }
    }
    let kernels = Kernel::available();
    let gemv = gemv::rows(&root, &ggml, &inputs, &ggml_dumps, &kernels)?;
    let types = [
        (
            Reference::Ggml,
            compare::compare_ggml_types(&ggml_types, bitnet_gguf::type_info),
        ),
        (
            Reference::GgufPy,
            compare::compare_py_types(&py_types, ggml_types.type_count, bitnet_gguf::type_info),
        ),
    ];

    let report = Report {
        inputs: &inputs,
        rows: &rows,
        gemv: &gemv,
        kernels: &kernels,
        types: &types,
        agreement: &agreement,
        ggml: &ggml,
        venv: &venv,
        ggml_types: &ggml_types,
        py_types: &py_types,
        kernel,
    };
    if args.json {
        report.print_json();
    } else {
        report.print_text();
    }

    let failures = report.failures();
    if !failures.is_empty() {
        let mut message = format!("{} mismatch(es) with the references:", failures.len());
        for line in &failures {
            let _ = write!(message, "\n  {line}");
        }
        bail!(message);
    }
    Ok(())
}

/// Everything the report shows.
struct Report<'a> {
    inputs: &'a Inputs,
    rows: &'a [Row],
    gemv: &'a [gemv::GemvRow],
    kernels: &'a [Kernel],
    types: &'a [(Reference, TypesOutcome); 2],
    agreement: &'a [(usize, String)],
    ggml: &'a refs::GgmlDump,
    venv: &'a refs::Venv,
    ggml_types: &'a GgmlTypes,
    py_types: &'a PyTypes,
    kernel: Kernel,
}

impl Report<'_> {
    fn name(&self, file: usize) -> &str {
        &self.inputs.files[file].name
    }

    /// `ggml 0.26.0 (llama-cpp-sys-2 0.1.161)` / `gguf-py 0.19.0 (numpy 2.4.6)`.
    fn version(&self, reference: Reference) -> String {
        match reference {
            Reference::Ggml => format!(
                "ggml {} ({})",
                self.ggml_types.ggml_version, self.ggml_types.source
            ),
            Reference::GgufPy => format!(
                "gguf-py {} (numpy {})",
                self.py_types.gguf_version, self.py_types.numpy_version
            ),
        }
    }

    /// What a row says after `ok` or `MISMATCH`.
    fn result(&self, row: &Row) -> String {
        let o = &row.outcome;
        let r = row.reference.name();
        if let Some(m) = o.mismatches.first() {
            let more = match o.mismatches.len() {
                1 => String::new(),
                n => format!(" (+{} more)", n - 1),
            };
            return format!(
                "MISMATCH: {}: expected {} ({r}), found {} (project){more}",
                m.what, m.expected, m.found
            );
        }
        let mut parts = vec!["ok".to_owned()];
        if o.expected_rejection {
            let mut text = format!("rejected by {r}, as expected for I2_S");
            for c in self.inputs.conversions_of(row.file) {
                match &c.result {
                    Ok(i) => {
                        let _ = write!(text, "; compared through {}", self.name(*i));
                    }
                    Err(why) => {
                        let _ = write!(text, "; no {} conversion: {why}", c.target.name());
                    }
                }
            }
            parts.push(text);
        }
        parts.extend(o.known.iter().map(|k| format!("known: {k}")));
        if !o.reference_only.is_empty() {
            parts.push(format!(
                "decoded by {r} only: {}",
                o.reference_only.join(", ")
            ));
        }
        if !o.project_only.is_empty() {
            parts.push(format!(
                "decoded by the project only: {}",
                o.project_only.join(", ")
            ));
        }
        parts.extend(o.notes.iter().cloned());
        parts.join("; ")
    }

    /// Per reference: files it read and compared, files it rejected as expected, tensors
    /// compared, tensors decoded and compared.
    fn totals(&self, reference: Reference) -> (usize, usize, usize, usize) {
        let rows = self.rows.iter().filter(|r| r.reference == reference);
        rows.fold((0, 0, 0, 0), |(f, x, t, d), r| {
            let o = &r.outcome;
            (
                f + usize::from(o.accepted),
                x + usize::from(o.expected_rejection),
                t + o.tensors,
                d + o.decoded,
            )
        })
    }

    fn closing_line(&self) -> String {
        let parts: Vec<String> = Reference::ALL
            .iter()
            .map(|&r| {
                let (files, rejected, tensors, decoded) = self.totals(r);
                format!(
                    "{}: {files} files compared ({rejected} more rejected as expected for I2_S), \
                     {tensors} tensors compared, {decoded} decoded bit-equal",
                    self.version(r)
                )
            })
            .collect();
        let (files, tensors, rows) = self.gemv_totals();
        format!(
            "crossval: {}; matmul ggml C: {files} files, {tensors} TQ tensors, {rows} rows \
             bit-equal with each of {} kernels ({}); {} mismatch(es); kernel {}",
            parts.join("; "),
            self.kernels.len(),
            self.kernel_names(),
            self.failures().len(),
            self.kernel.name()
        )
    }

    /// One line per mismatch: file (or `types`), reference, what, expected, found.
    fn failures(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for row in self.rows {
            for m in &row.outcome.mismatches {
                lines.push(format!(
                    "{}: {}: {}: expected {}, found {}",
                    self.name(row.file),
                    row.reference.name(),
                    m.what,
                    m.expected,
                    m.found
                ));
            }
        }
        for row in self.gemv {
            for m in &row.outcome.mismatches {
                lines.push(format!(
                    "{}: ggml matmul: {}: expected {}, found {}",
                    self.name(row.file),
                    m.what,
                    m.expected,
                    m.found
                ));
            }
        }
        for (r, t) in self.types {
            for m in &t.mismatches {
                lines.push(format!(
                    "type table: {}: {}: expected {}, found {}",
                    r.name(),
                    m.what,
                    m.expected,
                    m.found
                ));
            }
        }
        lines
    }

    fn print_text(&self) {
        let build = self.ggml.build_time.as_secs_f64();
        println!(
            "ggml-dump: cargo build --release took {build:.2} s; {}",
            self.version(Reference::Ggml)
        );
        println!(
            "gguf-py: {} {} in {:.2} s; {}",
            refs::VENV,
            if self.venv.installed {
                "installed"
            } else {
                "already installed"
            },
            self.venv.time.as_secs_f64(),
            self.version(Reference::GgufPy)
        );
        println!("project: kernel {}", self.kernel.name());
        println!();
        println!("conversions ({}):", inputs::SCRATCH);
        for c in &self.inputs.conversions {
            let result = match &c.result {
                Ok(i) => self.name(*i).to_owned(),
                Err(why) => format!("none: {why}"),
            };
            println!("  {} -> {}: {result}", self.name(c.source), c.target.name());
        }
        println!();

        let width = |f: &dyn Fn(&Row) -> usize, title: &str| {
            self.rows.iter().map(f).max().unwrap_or(0).max(title.len())
        };
        let fw = width(&|r| self.name(r.file).chars().count(), "file");
        let rw = width(&|r| r.reference.name().len(), "reference");
        println!(
            "{:fw$}  {:rw$}  accepted  keys  tensors  decoded  result",
            "file", "reference"
        );
        for row in self.rows {
            let o = &row.outcome;
            let (keys, tensors, decoded) = if o.accepted {
                (
                    o.keys.to_string(),
                    o.tensors.to_string(),
                    o.decoded.to_string(),
                )
            } else {
                ("-".into(), "-".into(), "-".into())
            };
            println!(
                "{:fw$}  {:rw$}  {:8}  {keys:>4}  {tensors:>7}  {decoded:>7}  {}",
                self.name(row.file),
                row.reference.name(),
                if o.accepted { "yes" } else { "no" },
                self.result(row),
            );
        }
        println!();
        self.print_gemv_text(fw);
        println!();
        for (r, t) in self.types {
            let mut parts = vec![if t.mismatches.is_empty() {
                "ok".to_owned()
            } else {
                format!("MISMATCH: {} id(s) differ", t.mismatches.len())
            }];
            parts.extend(t.known.iter().map(|k| format!("known: {k}")));
            println!(
                "type table  {:rw$}  {} ids  {}",
                r.name(),
                t.ids,
                parts.join("; ")
            );
            for m in &t.mismatches {
                println!(
                    "    {}: expected {} ({}), found {} (project)",
                    m.what,
                    m.expected,
                    r.name(),
                    m.found
                );
            }
        }
        if !self.agreement.is_empty() {
            println!();
            println!("tensors only the references decode:");
            for (file, note) in self.agreement {
                println!("  {}: {note}", self.name(*file));
            }
        }
        println!();
        println!("{}", self.closing_line());
    }

    fn print_json(&self) {
        println!(
            "{}",
            json!({
                "kind": "references",
                "ggml_version": self.ggml_types.ggml_version,
                "ggml_source": self.ggml_types.source,
                "ggml_dump_build_seconds": self.ggml.build_time.as_secs_f64(),
                "gguf_py_version": self.py_types.gguf_version,
                "numpy_version": self.py_types.numpy_version,
                "venv_installed": self.venv.installed,
                "venv_seconds": self.venv.time.as_secs_f64(),
                "kernel": self.kernel.name(),
            })
        );
        for c in &self.inputs.conversions {
            let (output, reason) = match &c.result {
                Ok(i) => (Some(self.name(*i)), None),
                Err(why) => (None, Some(why)),
            };
            println!(
                "{}",
                json!({
                    "kind": "conversion", "source": self.name(c.source),
                    "target": c.target.name(), "output": output, "reason": reason,
                })
            );
        }
        for row in self.rows {
            let o = &row.outcome;
            let mismatches = mismatches_json(&o.mismatches);
            println!(
                "{}",
                json!({
                    "kind": "file", "file": self.name(row.file),
                    "reference": row.reference.name(),
                    "conversion": self.inputs.is_conversion(row.file),
                    "accepted": o.accepted, "expected_rejection": o.expected_rejection,
                    "keys": o.keys, "tensors": o.tensors, "decoded": o.decoded,
                    "reference_only": o.reference_only, "project_only": o.project_only,
                    "result": if o.ok() { "ok" } else { "mismatch" },
                    "known": o.known, "notes": o.notes, "mismatches": mismatches,
                })
            );
        }
        for row in self.gemv {
            let o = &row.outcome;
            println!(
                "{}",
                json!({
                    "kind": "matmul", "file": self.name(row.file), "reference": "ggml",
                    "kernels": self.kernels.iter().map(|k| k.name()).collect::<Vec<_>>(),
                    "tensors": o.tensors, "rows": o.rows,
                    "result": if o.mismatches.is_empty() { "ok" } else { "mismatch" },
                    "mismatches": mismatches_json(&o.mismatches),
                })
            );
        }
        for (r, t) in self.types {
            let mismatches = mismatches_json(&t.mismatches);
            println!(
                "{}",
                json!({
                    "kind": "types", "reference": r.name(), "ids": t.ids,
                    "result": if t.mismatches.is_empty() { "ok" } else { "mismatch" },
                    "known": t.known, "mismatches": mismatches,
                })
            );
        }
        for (file, note) in self.agreement {
            println!(
                "{}",
                json!({"kind": "reference-only", "file": self.name(*file), "note": note})
            );
        }
        let totals = |r: Reference| {
            let (files, rejected, tensors, decoded) = self.totals(r);
            json!({"files": files, "rejected_as_expected": rejected, "tensors": tensors,
                   "decoded": decoded})
        };
        println!(
            "{}",
            json!({
                "kind": "summary",
                "ggml": totals(Reference::Ggml),
                "gguf_py": totals(Reference::GgufPy),
                "matmul": {
                    "files": self.gemv_totals().0, "tensors": self.gemv_totals().1,
                    "rows": self.gemv_totals().2,
                },
                "mismatches": self.failures().len(),
            })
        );
    }
}

/// Mismatches as `--json` prints them.
fn mismatches_json(mismatches: &[compare::Mismatch]) -> Vec<serde_json::Value> {
    mismatches
        .iter()
        .map(|m| json!({"what": m.what, "expected": m.expected, "found": m.found}))
        .collect()
}
