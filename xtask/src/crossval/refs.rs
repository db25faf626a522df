//! The two references: building `crossval/ggml-dump`, making the gguf-py venv, and running each
//! on files (and on `--types`).
//!
//! Nothing here is skipped quietly: a missing C compiler, Python or venv module is an error
//! naming what to install.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;

use super::schema::{Dump, GgmlTypes, PyTypes};
pub use crate::venv::Venv;

/// ggml-dump's manifest, relative to the workspace root.
const GGML_DUMP_MANIFEST: &str = "crossval/ggml-dump/Cargo.toml";
/// The gguf-py dumper, relative to the workspace root.
const PY_DUMP: &str = "crossval/gguf_py_dump.py";
/// The pinned Python packages, relative to the workspace root.
const REQUIREMENTS: &str = "crossval/requirements.txt";
/// The venv, relative to the workspace root.
pub const VENV: &str = "target/crossval-venv";

/// The built ggml-dump.
pub type GgmlDump = crate::build::Built;

/// Builds ggml-dump with `$CARGO build --release --locked`.
pub fn build_ggml_dump(root: &Path) -> Result<GgmlDump> {
    eprintln!(
        "crossval: building ggml-dump (cargo build --release --locked --manifest-path \
         {GGML_DUMP_MANIFEST})"
    );
    // --locked: the pinned sources are in Cargo.lock, which a build must not move.
    let args = [
        "--release",
        "--locked",
        "--manifest-path",
        GGML_DUMP_MANIFEST,
    ];
    crate::build::executable(root, &args, "ggml-dump").context(
        "building ggml-dump failed; it compiles ggml's C and C++ sources with the cc crate and \
         needs a C and a C++ compiler (Debian: apt-get install build-essential)",
    )
}

/// Makes `target/crossval-venv` with the pinned packages of `crossval/requirements.txt`, unless
/// it already holds exactly those.
pub fn venv(root: &Path) -> Result<Venv> {
    crate::venv::ensure(
        root,
        VENV,
        REQUIREMENTS,
        "crossval",
        "crossval runs gguf-py, the reference Python reader",
    )
}

/// Runs `command` and parses each line of its stdout as a `T`.
fn json_lines<T: DeserializeOwned>(mut command: Command, what: &str) -> Result<Vec<T>> {
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("failed to run {what}"))?;
    if !output.status.success() {
        bail!("{what} failed ({})", output.status);
    }
    let text =
        String::from_utf8(output.stdout).with_context(|| format!("{what}: output is not UTF-8"))?;
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).with_context(|| {
                format!(
                    "{what}: line {} is not the expected JSON: {line:.200}",
                    i + 1
                )
            })
        })
        .collect()
}

/// Runs a dumper on `files`: one [`Dump`] per file, in order.
fn dumps(command: Command, what: &str, files: &[PathBuf]) -> Result<Vec<Dump>> {
    let dumps: Vec<Dump> = json_lines(command, what)?;
    if dumps.len() != files.len() {
        bail!(
            "{what} printed {} lines for {} files",
            dumps.len(),
            files.len()
        );
    }
    for (d, f) in dumps.iter().zip(files) {
        if d.file != f.to_string_lossy() {
            bail!(
                "{what}: a line for {:?} where {} was expected",
                d.file,
                f.display()
            );
        }
    }
    Ok(dumps)
}

/// ggml's reading of each file.
pub fn ggml_dumps(ggml: &GgmlDump, files: &[PathBuf]) -> Result<Vec<Dump>> {
    let mut command = Command::new(&ggml.exe);
    command.args(files);
    dumps(command, "ggml-dump", files)
}

/// gguf-py's reading of each file.
pub fn py_dumps(root: &Path, venv: &Venv, files: &[PathBuf]) -> Result<Vec<Dump>> {
    let mut command = Command::new(&venv.python);
    command.arg(root.join(PY_DUMP)).args(files);
    dumps(command, "gguf_py_dump.py", files)
}

fn single<T>(mut items: Vec<T>, what: &str) -> Result<T> {
    match items.len() {
        1 => Ok(items.remove(0)),
        n => bail!("{what} printed {n} lines, not 1"),
    }
}

/// `ggml-dump --types`.
pub fn ggml_types(ggml: &GgmlDump) -> Result<GgmlTypes> {
    let mut command = Command::new(&ggml.exe);
    command.arg("--types");
    single(
        json_lines(command, "ggml-dump --types")?,
        "ggml-dump --types",
    )
}

/// `gguf_py_dump.py --types`.
pub fn py_types(root: &Path, venv: &Venv) -> Result<PyTypes> {
    let mut command = Command::new(&venv.python);
    command.arg(root.join(PY_DUMP)).arg("--types");
    single(
        json_lines(command, "gguf_py_dump.py --types")?,
        "gguf_py_dump.py --types",
    )
}
