//! The two references: building `crossval/ggml-dump`, making the gguf-py venv, and running each
//! on files (and on `--types`).
//!
//! Nothing here is skipped quietly: a missing C compiler, Python or venv module is an error
//! naming what to install.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;

use super::schema::{Dump, GgmlTypes, PyTypes};

/// ggml-dump's manifest, relative to the workspace root.
const GGML_DUMP_MANIFEST: &str = "crossval/ggml-dump/Cargo.toml";
/// The gguf-py dumper, relative to the workspace root.
const PY_DUMP: &str = "crossval/gguf_py_dump.py";
/// The pinned Python packages, relative to the workspace root.
const REQUIREMENTS: &str = "crossval/requirements.txt";
/// The venv, relative to the workspace root.
pub const VENV: &str = "target/crossval-venv";
/// A copy of the requirements the venv was last installed from, inside it.
const VENV_STAMP: &str = "crossval-requirements.txt";

/// The built ggml-dump.
pub type GgmlDump = crate::release_build::Built;

/// Builds ggml-dump with `$CARGO build --release --locked`.
pub fn build_ggml_dump(root: &Path) -> Result<GgmlDump> {
    eprintln!(
        "crossval: building ggml-dump (cargo build --release --locked --manifest-path \
         {GGML_DUMP_MANIFEST})"
    );
    match crate::release_build::build(root, GGML_DUMP_MANIFEST, "ggml-dump")? {
        Ok(built) => Ok(built),
        Err(status) => bail!(
            "building ggml-dump failed ({status}); it compiles ggml's C and C++ sources with the \
             cc crate and needs a C and a C++ compiler (Debian: apt-get install build-essential)"
        ),
    }
}

/// The gguf-py venv, ready.
#[derive(Debug)]
pub struct Venv {
    pub python: PathBuf,
    /// Whether this run created or updated it (else it was already up to date).
    pub installed: bool,
    pub time: Duration,
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// Makes `target/crossval-venv` with the pinned packages of `crossval/requirements.txt`, unless
/// it already holds exactly those (a copy of the file inside it says so): then it only checks
/// that its Python runs.
pub fn venv(root: &Path) -> Result<Venv> {
    let start = Instant::now();
    let dir = root.join(VENV);
    let python = venv_python(&dir);
    let requirements_path = root.join(REQUIREMENTS);
    let requirements = fs::read(&requirements_path)
        .with_context(|| format!("reading {}", requirements_path.display()))?;
    let stamp = dir.join(VENV_STAMP);
    if python.is_file() && fs::read(&stamp).ok().as_deref() == Some(&requirements[..]) {
        return Ok(Venv {
            python,
            installed: false,
            time: start.elapsed(),
        });
    }
    if !python.is_file() {
        // A venv whose Python is missing is a failed earlier attempt: start again.
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        let python3 = if cfg!(windows) { "python" } else { "python3" };
        eprintln!("crossval: creating {VENV} ({python3} -m venv)");
        let output = Command::new(python3)
            .args(["-m", "venv"])
            .arg(&dir)
            .stdin(Stdio::null())
            .output();
        let output = match output {
            Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
                "{python3} not found: crossval runs gguf-py, the reference Python reader; \
                 install Python 3 with its venv module (Debian: apt-get install python3 python3-venv)"
            ),
            other => other.with_context(|| format!("failed to run {python3}"))?,
        };
        if !output.status.success() || !python.is_file() {
            let _ = fs::remove_dir_all(&dir);
            bail!(
                "`{python3} -m venv {}` failed ({}); install Python's venv module (Debian: \
                 apt-get install python3-venv):\n{}",
                dir.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim_end()
            );
        }
    }
    eprintln!("crossval: installing {REQUIREMENTS} into {VENV}");
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            "-r",
        ])
        .arg(&requirements_path)
        .stdin(Stdio::null())
        // pip's chatter must not reach stdout, which --json keeps for JSON.
        .stdout(Stdio::from(io::stderr()))
        .status()
        .context("failed to run pip in the venv")?;
    if !status.success() {
        bail!(
            "`pip install -r {REQUIREMENTS}` failed in {VENV} ({status}); it needs PyPI or a \
             package index that has the pinned versions"
        );
    }
    fs::write(&stamp, &requirements).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(Venv {
        python,
        installed: true,
        time: start.elapsed(),
    })
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
