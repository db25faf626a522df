//! Python for the commands that need it (`crossval`'s gguf-py, `python`'s maturin and pytest):
//! venvs under `target/`, made with `python3 -m venv`, and pip run in them.
//!
//! Nothing here is skipped quietly: a missing Python or venv module is an error naming what to
//! install, and a failed pip install names the requirements file.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The Python that makes venvs.
const PYTHON3: &str = if cfg!(windows) { "python" } else { "python3" };

/// A venv with its pinned packages, ready.
#[derive(Debug)]
pub struct Venv {
    pub python: PathBuf,
    /// Whether this run created or updated it (else it was already up to date).
    pub installed: bool,
    pub time: Duration,
}

/// The Python executable of the venv at `dir`.
pub fn python_of(dir: &Path) -> PathBuf {
    if cfg!(windows) {
        dir.join("Scripts").join("python.exe")
    } else {
        dir.join("bin").join("python")
    }
}

/// Makes a new venv at `dir` (which must not exist) with `python3 -m venv`, passing `options`;
/// `why` says what needs it, for the error when Python or its venv module is missing.
pub fn create(dir: &Path, options: &[&str], why: &str) -> Result<()> {
    let output = Command::new(PYTHON3)
        .args(["-m", "venv"])
        .args(options)
        .arg(dir)
        .stdin(Stdio::null())
        .output();
    let output = match output {
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
            "{PYTHON3} not found: {why}; install Python 3 with its venv module (Debian: apt-get \
             install python3 python3-venv)"
        ),
        other => other.with_context(|| format!("failed to run {PYTHON3}"))?,
    };
    if !output.status.success() || !python_of(dir).is_file() {
        let _ = fs::remove_dir_all(dir);
        bail!(
            "`{PYTHON3} -m venv {}` failed ({}); install Python's venv module (Debian: apt-get \
             install python3-venv):\n{}",
            dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    Ok(())
}

/// Runs `python -m pip ARGS` quietly, its chatter on stderr (stdout may be a command's JSON).
pub fn pip(python: &Path, args: &[&std::ffi::OsStr], what: &str) -> Result<()> {
    let status = Command::new(python)
        .args(["-m", "pip", "--disable-pip-version-check", "--quiet"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(io::stderr()))
        .status()
        .with_context(|| format!("failed to run pip ({})", python.display()))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Makes the venv `venv` (relative to `root`) with the pinned packages of `requirements` unless
/// it already holds exactly those (a copy of the file inside it, `stamp`, says so): then it only
/// checks that its Python is there. `who` names the command in progress lines; `why` says what
/// needs Python.
pub fn ensure(root: &Path, venv: &str, requirements: &str, who: &str, why: &str) -> Result<Venv> {
    let start = Instant::now();
    let dir = root.join(venv);
    let python = python_of(&dir);
    let requirements_path = root.join(requirements);
    let wanted = fs::read(&requirements_path)
        .with_context(|| format!("reading {}", requirements_path.display()))?;
    let stamp = dir.join("bitnet-requirements.txt");
    if python.is_file() && fs::read(&stamp).ok().as_deref() == Some(&wanted[..]) {
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
        eprintln!("{who}: creating {venv} ({PYTHON3} -m venv)");
        create(&dir, &[], why)?;
    }
    eprintln!("{who}: installing {requirements} into {venv}");
    let _ = io::stderr().flush();
    pip(
        &python,
        &[
            "install".as_ref(),
            "-r".as_ref(),
            requirements_path.as_os_str(),
        ],
        &format!(
            "`pip install -r {requirements}` in {venv}; it needs PyPI or a package index that \
             has the pinned versions"
        ),
    )?;
    fs::write(&stamp, &wanted).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(Venv {
        python,
        installed: true,
        time: start.elapsed(),
    })
}
