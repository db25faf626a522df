//! Runs the libFuzzer targets through `cargo +nightly fuzz run` and summarizes them.
//!
//! libFuzzer reads every corpus directory it is given but adds new inputs only to the first, so
//! the working corpus `fuzz/corpus/<target>` (ignored by git) grows while `fuzz/seeds/<target>`
//! and `fuzz/regressions/<target>` stay as committed.
//!
//! cargo-fuzz needs a nightly toolchain, so cargo is run through the rustup proxy as
//! `cargo +nightly` rather than through `$CARGO`, which names the toolchain of this xtask.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::Args;

/// libFuzzer's `-max_len` unless one is given. Without it libFuzzer takes the largest seed (the
/// 724 KB vocabulary) as the limit and spends its time copying huge inputs; longer seeds are
/// read truncated to this length, which still holds every header and metadata structure.
const DEFAULT_MAX_LEN: usize = 64 * 1024;

/// Runs each of `targets` for `args.seconds`, prints the summary, and fails naming each target
/// that stopped with a failure and how to keep its artifacts as regressions.
pub(super) fn run_targets(root: &Path, targets: &[&'static str], args: &Args) -> Result<()> {
    ensure_cargo_fuzz()?;
    let mut results = Vec::new();
    for &target in targets {
        results.push(run_target(root, target, args)?);
    }
    print_summary(&results);
    let failed: Vec<&Outcome> = results.iter().filter(|r| !r.success).collect();
    if failed.is_empty() {
        return Ok(());
    }
    for r in &failed {
        eprintln!("{}: libFuzzer stopped with a failure", r.target);
        for artifact in &r.artifacts {
            eprintln!(
                "  artifact {}\n    minimize: cargo +nightly fuzz tmin {} {}\n    then store it in fuzz/regressions/{}/ and replay it in the crate's tests/fuzz_regressions.rs",
                artifact.display(),
                r.target,
                artifact.display(),
                r.target
            );
        }
    }
    bail!("{} fuzz target(s) failed", failed.len())
}

fn nightly_cargo() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.arg("+nightly");
    cmd
}

/// Installs cargo-fuzz with the nightly toolchain unless `cargo +nightly fuzz --version` works.
fn ensure_cargo_fuzz() -> Result<()> {
    let installed = nightly_cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if installed {
        return Ok(());
    }
    eprintln!("cargo-fuzz not found; installing it: cargo +nightly install cargo-fuzz --locked");
    let status = nightly_cargo()
        .args(["install", "cargo-fuzz", "--locked"])
        .status()
        .context("running `cargo +nightly install cargo-fuzz` (is rustup's nightly installed?)")?;
    if !status.success() {
        bail!("`cargo +nightly install cargo-fuzz --locked` failed ({status})");
    }
    Ok(())
}

#[derive(Debug)]
struct Outcome {
    target: &'static str,
    success: bool,
    elapsed: Duration,
    executions: Option<u64>,
    peak_rss_mb: Option<u64>,
    corpus_files: usize,
    corpus_bytes: u64,
    artifacts: Vec<PathBuf>,
}

fn run_target(root: &Path, target: &'static str, args: &Args) -> Result<Outcome> {
    let corpus = root.join("fuzz/corpus").join(target);
    let seeds = root.join("fuzz/seeds").join(target);
    let regressions = root.join("fuzz/regressions").join(target);
    let artifacts_dir = root.join("fuzz/artifacts").join(target);
    fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
    let before = list_files(&artifacts_dir);

    eprintln!("== fuzz {target} for {} s", args.seconds);
    let start = Instant::now();
    let mut cmd = nightly_cargo();
    cmd.current_dir(root)
        // The fuzz build (sanitizer and coverage flags) stays in fuzz/target, away from the
        // workspace's target directory.
        .env_remove("CARGO_TARGET_DIR")
        .args(["fuzz", "run", target])
        .arg(&corpus)
        .arg(&seeds);
    // Past crashes are run first thing, every time.
    if regressions.is_dir() {
        cmd.arg(&regressions);
    }
    cmd.arg("--")
        .arg(format!("-max_total_time={}", args.seconds))
        .arg("-print_final_stats=1");
    if !args
        .libfuzzer_args
        .iter()
        .any(|a| a.starts_with("-max_len="))
    {
        cmd.arg(format!("-max_len={DEFAULT_MAX_LEN}"));
    }
    let mut child = cmd
        .args(&args.libfuzzer_args)
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting `cargo +nightly fuzz run {target}`"))?;
    let mut executions = None;
    let mut peak_rss_mb = None;
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines() {
            let line = line.context("reading libFuzzer output")?;
            eprintln!("{line}");
            if let Some(n) = stat(&line, "stat::number_of_executed_units:") {
                executions = Some(n);
            }
            if let Some(n) = stat(&line, "stat::peak_rss_mb:") {
                peak_rss_mb = Some(n);
            }
        }
    }
    let status = child.wait().context("waiting for cargo fuzz")?;
    let elapsed = start.elapsed();
    let (corpus_files, corpus_bytes) = dir_size(&corpus);
    let artifacts = list_files(&artifacts_dir)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    Ok(Outcome {
        target,
        success: status.success(),
        elapsed,
        executions,
        peak_rss_mb,
        corpus_files,
        corpus_bytes,
        artifacts,
    })
}

/// The number after `key` in a libFuzzer `-print_final_stats` line.
fn stat(line: &str, key: &str) -> Option<u64> {
    line.trim().strip_prefix(key)?.trim().parse().ok()
}

fn list_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn dir_size(dir: &Path) -> (usize, u64) {
    let files = list_files(dir);
    let bytes = files
        .iter()
        .filter_map(|p| fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    (files.len(), bytes)
}

fn print_summary(results: &[Outcome]) {
    println!(
        "{:<20} {:>8} {:>12} {:>9} {:>8} {:>10} {:>8}  result",
        "target", "seconds", "executions", "exec/s", "corpus", "corpus KiB", "rss MB"
    );
    for r in results {
        let secs = r.elapsed.as_secs_f64();
        let opt = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
        println!(
            "{:<20} {:>8.0} {:>12} {:>9} {:>8} {:>10} {:>8}  {}",
            r.target,
            secs,
            opt(r.executions),
            opt(r.executions.map(|n| (n as f64 / secs.max(1e-9)) as u64)),
            r.corpus_files,
            r.corpus_bytes / 1024,
            opt(r.peak_rss_mb),
            if r.success { "ok" } else { "FAILED" }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_final_stats() {
        assert_eq!(
            stat(
                "stat::number_of_executed_units: 123456",
                "stat::number_of_executed_units:"
            ),
            Some(123456)
        );
        assert_eq!(stat("#2 INITED cov: 3", "stat::peak_rss_mb:"), None);
    }
}
