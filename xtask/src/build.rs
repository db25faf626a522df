//! Building a binary of this repository with cargo and finding the executable it made: the
//! bitnet-cli of the Python tests, and the binaries of the side workspaces (`crossval/ggml-dump`,
//! `crossval/llama-eval`).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A built binary.
#[derive(Debug)]
pub struct Built {
    pub exe: PathBuf,
    /// How long `cargo build` took (a no-op build when nothing changed).
    pub build_time: Duration,
}

/// Runs `$CARGO build ARGS` in `root` and returns the executable of the binary target `name`,
/// found in cargo's own report (so `CARGO_TARGET_DIR` and the like are followed), with how long
/// the build took. Cargo's diagnostics go to stderr.
pub fn executable(root: &Path, args: &[&str], name: &str) -> Result<Built> {
    let start = Instant::now();
    let mut child = Command::new(crate::cargo())
        .current_dir(root)
        .arg("build")
        .args(args)
        .args(["--message-format", "json-render-diagnostics"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("failed to run cargo")?;
    let mut exe = None;
    let stdout = child.stdout.take().context("cargo's stdout")?;
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo's output")?;
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if message["reason"] == "compiler-artifact" && message["target"]["name"] == name {
            if let Some(path) = message["executable"].as_str() {
                exe = Some(PathBuf::from(path));
            }
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        bail!("`cargo build {}` failed ({status})", args.join(" "));
    }
    let exe = exe.with_context(|| format!("cargo built {name} but named no executable"))?;
    Ok(Built {
        exe,
        build_time: start.elapsed(),
    })
}
