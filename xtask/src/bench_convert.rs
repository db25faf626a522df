//! `cargo xtask bench-kernels --convert [--shape small|2b4t] [--quick] [--json]`: `bitnet-cli
//! convert --to X` of a `gen-model` bitnetcpp model (about 75 MB, or 1.2 GB) for each of the
//! five targets, timed against `cp` of the same file in the same run (docs/xtask.md).
//!
//! Both read the input from the page cache (it is read once before timing) and write into the
//! page cache of the same directory; `convert` also syncs its temporary file before renaming it
//! into place (its file safety, docs/convert.md), which `cp` does not, so `cp` followed by
//! `sync` of the copy is timed too. Each repetition runs, for each target in turn, `cp`, `cp`
//! and `sync`, then `convert` (each target replacing its own output), so all see the same
//! machine state, after one untimed round; the ratios are of the medians. The programs are
//! timed as processes (`Instant` around `Command::status`), so the figures include starting
//! them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bitnet_models::TernaryFormat;

use crate::gen_model::{self, Shape, DEFAULT_ARCH};

/// Repetitions per target (and `--quick`'s).
const REPS: usize = 11;
const QUICK_REPS: usize = 2;

/// One row of the table.
struct Row {
    target: &'static str,
    convert: Duration,
    cp: Duration,
    cp_sync: Duration,
    max_rss_kib: Option<u64>,
}

/// Runs the benchmark and prints the table (or one JSON object per target).
pub fn run(json: bool, quick: bool, shape: Shape) -> Result<()> {
    let root = crate::workspace_root();
    let cli =
        crate::build::executable(&root, &["--release", "-p", "bitnet-cli"], "bitnet-cli")?.exe;
    let dir = tempfile::Builder::new()
        .prefix("bench-convert-")
        .tempdir()
        .context("creating a temporary directory")?;
    let input = dir.path().join("in.gguf");
    gen_model::generate(shape, TernaryFormat::BitnetCpp, 1, DEFAULT_ARCH, &input)?;
    let bytes = std::fs::metadata(&input)?.len();
    // Into the page cache.
    std::fs::read(&input).context("reading the input")?;
    let reps = if quick { QUICK_REPS } else { REPS };
    if !json {
        println!(
            "convert of a {bytes}-byte bitnetcpp model (gen-model --shape {}) vs cp, median of \
             {reps}; {}",
            shape_name(shape),
            load()
        );
        println!(
            "{:<12} {:>11} {:>9} {:>11} {:>13} {:>16} {:>13}",
            "target",
            "convert ms",
            "cp ms",
            "convert/cp",
            "cp+sync ms",
            "convert/cp+sync",
            "max RSS MiB"
        );
    }
    let copy = dir.path().join("cp.gguf");
    let out = |target: TernaryFormat| dir.path().join(format!("out-{}.gguf", target.name()));
    // One round untimed first: the outputs exist and their pages have been through the system
    // once before anything is timed.
    for target in TernaryFormat::ALL {
        time(Command::new("cp").arg(&input).arg(&copy))?;
        time_convert(&cli, &input, &out(target), target)?;
    }
    // The targets in turn within each repetition, so that a slow spell of the machine falls on
    // all of them rather than on one.
    let mut samples: Vec<Samples> = TernaryFormat::ALL.map(|_| Samples::default()).into();
    for _ in 0..reps {
        for (target, s) in TernaryFormat::ALL.into_iter().zip(&mut samples) {
            s.cp.push(time(Command::new("cp").arg(&input).arg(&copy))?);
            s.cp_sync.push(time(
                Command::new("sh")
                    .args(["-c", "cp \"$1\" \"$2\" && sync \"$2\"", "sh"])
                    .arg(&input)
                    .arg(&copy),
            )?);
            let (t, rss) = time_convert(&cli, &input, &out(target), target)?;
            s.convert.push(t);
            s.max_rss_kib = s.max_rss_kib.max(rss);
        }
    }
    for (target, mut s) in TernaryFormat::ALL.into_iter().zip(samples) {
        let row = Row {
            target: target.name(),
            convert: median(&mut s.convert),
            cp: median(&mut s.cp),
            cp_sync: median(&mut s.cp_sync),
            max_rss_kib: s.max_rss_kib,
        };
        print_row(&row, bytes, json);
    }
    Ok(())
}

/// One target's times, and the largest peak resident set seen.
#[derive(Default)]
struct Samples {
    cp: Vec<Duration>,
    cp_sync: Vec<Duration>,
    convert: Vec<Duration>,
    max_rss_kib: Option<u64>,
}

/// The median of `times`.
fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Runs `command` to completion (output discarded) and times it.
fn time(command: &mut Command) -> Result<Duration> {
    let start = Instant::now();
    let status = command
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("running {command:?}"))?;
    let elapsed = start.elapsed();
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(elapsed)
}

/// Times one conversion; then runs it once more under `/usr/bin/time` for its peak resident
/// set (`None` where that program is missing).
fn time_convert(
    cli: &Path,
    input: &Path,
    out: &Path,
    target: TernaryFormat,
) -> Result<(Duration, Option<u64>)> {
    let mut command = Command::new(cli);
    command
        .arg("convert")
        .arg(input)
        .arg(out)
        .args(["--to", target.name(), "--force", "--json"]);
    let elapsed = time(&mut command)?;
    Ok((elapsed, peak_rss_kib(cli, input, out, target)))
}

/// The peak resident set of one more conversion, measured by GNU time (`%M`, KiB), when
/// `/usr/bin/time` exists. Not timed.
fn peak_rss_kib(cli: &Path, input: &Path, out: &Path, target: TernaryFormat) -> Option<u64> {
    let time = PathBuf::from("/usr/bin/time");
    if !time.exists() {
        return None;
    }
    let output = Command::new(time)
        .args(["-f", "%M"])
        .arg(cli)
        .arg("convert")
        .arg(input)
        .arg(out)
        .args(["--to", target.name(), "--force", "--json"])
        .stdout(Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .last()?
        .trim()
        .parse()
        .ok()
}

fn print_row(row: &Row, bytes: u64, json: bool) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let ratio = row.convert.as_secs_f64() / row.cp.as_secs_f64();
    let sync_ratio = row.convert.as_secs_f64() / row.cp_sync.as_secs_f64();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "target": row.target,
                "bytes": bytes,
                "convert_seconds": row.convert.as_secs_f64(),
                "cp_seconds": row.cp.as_secs_f64(),
                "convert_vs_cp": ratio,
                "cp_sync_seconds": row.cp_sync.as_secs_f64(),
                "convert_vs_cp_sync": sync_ratio,
                "max_rss_kib": row.max_rss_kib,
            })
        );
    } else {
        let rss = row
            .max_rss_kib
            .map_or("-".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0));
        println!(
            "{:<12} {:>11.1} {:>9.1} {:>10.2}x {:>13.1} {:>15.2}x {:>13}",
            row.target,
            ms(row.convert),
            ms(row.cp),
            ratio,
            ms(row.cp_sync),
            sync_ratio,
            rss
        );
    }
}

/// The shape's name on the command line.
pub fn shape_name(shape: Shape) -> &'static str {
    match shape {
        Shape::Mini => "mini",
        Shape::B2b4t => "2b4t",
        Shape::Small => "small",
    }
}

/// The load average, from `/proc/loadavg` where there is one.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| {
            let f: Vec<&str> = s.split_whitespace().take(3).collect();
            (f.len() == 3).then(|| format!("load average {}", f.join(" ")))
        })
        .unwrap_or_else(|| "load average unknown".to_owned())
}
