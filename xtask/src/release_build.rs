//! Building a helper binary of another Cargo workspace in this checkout (`crossval/ggml-dump`,
//! `crossval/llama-eval`) with `$CARGO build --release --locked`, and finding its executable in
//! cargo's own report, so `CARGO_TARGET_DIR` and the like are followed.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// A built binary.
#[derive(Debug)]
pub struct Built {
    pub exe: PathBuf,
    /// How long `cargo build` took (a no-op build when nothing changed).
    pub build_time: Duration,
}

/// Builds the binary `name` of the workspace at `manifest` (relative to `root`). Cargo's
/// diagnostics go to stderr. `Ok(Err(status))` when cargo ran and failed, so the caller can say
/// what the build needs.
pub fn build(root: &Path, manifest: &str, name: &str) -> Result<Result<Built, ExitStatus>> {
    let start = Instant::now();
    let mut child = Command::new(crate::cargo())
        .current_dir(root)
        // --locked: the pinned sources are in Cargo.lock, which a build must not move.
        .args([
            "build",
            "--release",
            "--locked",
            "--manifest-path",
            manifest,
        ])
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
    let build_time = start.elapsed();
    if !status.success() {
        return Ok(Err(status));
    }
    let exe = exe.with_context(|| format!("cargo built {name} but named no executable"))?;
    Ok(Ok(Built { exe, build_time }))
}
