//! `compat-check FILE... [--json] [--strict]`: every finding of `bitnet_models::Model::check`, per
//! file.
//!
//! A file that cannot be parsed gets one error finding (the parser stops at the first structural
//! error). A file that cannot be opened is reported on stderr as `error: PATH: ...`, produces no
//! JSON object, and makes the exit status 2; the other files are still checked.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use bitnet_gguf::Severity;
use bitnet_models::{Model, ModelError};
use serde_json::json;

use crate::env::Env;
use crate::input::Input;
use crate::progress::Progress;
use crate::report::Finding;
use crate::{Failure, OrExit, EXIT_INVALID, EXIT_USAGE};

/// Arguments of `compat-check`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The GGUF files to check.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// One JSON object per file per line: path, valid, errors, warnings, info.
    #[arg(long)]
    json: bool,
    /// Treat warnings as errors (as does BITNET_STRICT_MODE).
    #[arg(long)]
    strict: bool,
}

/// The findings of one file; `progress` is called with the bytes each tensor's checks covered.
pub(crate) fn findings(bytes: &[u8], strict: bool, progress: &mut dyn FnMut(u64)) -> Vec<Finding> {
    let errors = match Model::parse(bytes) {
        Ok(model) => model.check_with_progress(progress),
        Err(e) => vec![ModelError::Gguf(e)],
    };
    errors.iter().map(|e| Finding::new(e, strict)).collect()
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Writes one file's report.
fn write_report(
    out: &mut impl Write,
    path: &str,
    findings: &[Finding],
    as_json: bool,
) -> io::Result<()> {
    let of = |severity: Severity| -> Vec<&Finding> {
        findings.iter().filter(|f| f.severity == severity).collect()
    };
    let (errors, warnings, info) = (
        of(Severity::Error),
        of(Severity::Warning),
        of(Severity::Info),
    );
    if as_json {
        let line = json!({
            "path": path,
            "valid": errors.is_empty(),
            "errors": errors.iter().map(|f| f.json()).collect::<Vec<_>>(),
            "warnings": warnings.iter().map(|f| f.json()).collect::<Vec<_>>(),
            "info": info.iter().map(|f| f.json()).collect::<Vec<_>>(),
        });
        return writeln!(out, "{line}");
    }
    if errors.is_empty() && warnings.is_empty() {
        writeln!(out, "{path}: OK")?;
    } else {
        writeln!(
            out,
            "{path}: {}, {}",
            plural(errors.len(), "error"),
            plural(warnings.len(), "warning")
        )?;
    }
    for f in findings {
        writeln!(out, "  {}", f.text())?;
    }
    Ok(())
}

/// Runs `compat-check`; the exit status is the worst over the files.
pub(crate) fn run(args: &Args, env: &Env) -> Result<u8, Failure> {
    let strict = args.strict || env.strict;
    let total = args
        .files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let mut progress = Progress::new(!args.json, total, "checking");
    let mut out = BufWriter::new(io::stdout().lock());
    let mut status = 0u8;
    for path in &args.files {
        progress.set_message(path.display().to_string());
        let input = match Input::open(path) {
            Ok(input) => input,
            Err(e) => {
                progress.suspend(|| out.flush()).or_usage()?;
                progress.suspend(|| crate::stderr_line(&format!("error: {e:#}")));
                status = status.max(EXIT_USAGE);
                continue;
            }
        };
        // The bar moves as each tensor is checked, then takes the rest of the file (its header).
        let mut done = 0u64;
        let found = findings(input.bytes(), strict, &mut |n| {
            done += n;
            progress.inc(n);
        });
        progress.inc((input.bytes().len() as u64).saturating_sub(done));
        if found.iter().any(|f| f.severity == Severity::Error) {
            status = status.max(EXIT_INVALID);
        }
        write_report(
            &mut out,
            &input.path().display().to_string(),
            &found,
            args.json,
        )
        .or_usage()?;
        progress.suspend(|| out.flush()).or_usage()?;
    }
    progress.finish();
    out.flush().or_usage()?;
    Ok(status)
}
