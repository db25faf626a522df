//! `cargo xtask cross-test`: the tests of `bitnet-models` and `bitnet-gguf`, built for targets
//! this machine is not and run under emulation — aarch64 (the NEON kernel), wasm32 without and
//! with simd128, and big-endian s390x.
//!
//! - `suites.rs`: the list of suites, the check that their tools are installed, and the cross
//!   linker and qemu runner of each Linux target;
//! - `outcome.rs`: what a suite came to, parsed from libtest's `test result:` lines and the
//!   kernel marker; the judgment of each suite and the summary table;
//! - this module: the command, which builds and runs each suite and streams its output.
//!
//! The Linux targets are configured in `suites.rs`, through cargo's
//! `CARGO_TARGET_<TRIPLE>_LINKER`/`_RUNNER` variables, and not in `.cargo/config.toml`: a
//! `[target.aarch64-unknown-linux-gnu]` section there would also apply to native builds on an
//! aarch64 host. On such a host the aarch64 suite runs natively. The wasm32-wasip1 runner
//! (`scripts/wasi-run.mjs`) is in `.cargo/config.toml`, since wasm is never the host.
//!
//! By hand, the aarch64 suite is
//! `CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
//! CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64-static -L /usr/aarch64-linux-gnu"
//! cargo test --target aarch64-unknown-linux-gnu -p bitnet-models --features cpu,fixtures`.
//!
//! Only `--lib --tests` are built: the benches (criterion) and doctests are host-only concerns.

mod outcome;
mod suites;
#[cfg(test)]
mod tests;

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context};

use outcome::{parse_line, summarize, Outcome};
use suites::{check_tools, select, Suite};

/// The crates under test and the features they are tested with.
const CARGO_TEST_ARGS: &[&str] = &[
    "--package",
    "bitnet-models",
    "--package",
    "bitnet-gguf",
    "--features",
    "bitnet-models/cpu,bitnet-models/fixtures",
    "--lib",
    "--tests",
    // Run every test binary even after one fails, so the summary counts all of them.
    "--no-fail-fast",
];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Suites to run: aarch64, wasm32, wasm32-simd128, s390x, or a target triple (all of its
    /// suites). Default: all four.
    #[arg(value_name = "TARGET")]
    targets: Vec<String>,

    /// Arguments for every test binary, after `--` (a test name filter, `--nocapture`, ...).
    #[arg(last = true, value_name = "TEST_ARGS")]
    test_args: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let suites = select(&args.targets)?;
    check_tools(&root, &suites)?;
    let target_dir = target_dir(&root)?;

    let mut outcomes = Vec::new();
    for suite in &suites {
        let outcome = run_suite(&root, &target_dir, suite, &args.test_args)?;
        outcomes.push(outcome);
    }

    let summary = summarize(&suites, &outcomes);
    println!("\n{summary}");
    // The plain closing line CI log readers look for.
    let count = |f: fn(&Outcome) -> u64| outcomes.iter().map(f).sum::<u64>();
    println!(
        "cross-test: {} passed, {} failed, {} skipped",
        count(|o| o.passed),
        count(|o| o.failed),
        count(|o| o.ignored)
    );
    let failed: Vec<&str> = suites
        .iter()
        .zip(&outcomes)
        .filter(|(s, o)| !o.ok(s))
        .map(|(s, _)| s.name)
        .collect();
    if !failed.is_empty() {
        let kernel_problems: String = suites
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| o.build_ok)
            .filter_map(|(s, o)| o.kernel_problem(s))
            .map(|problem| format!("\n  {problem}"))
            .collect();
        bail!("cross-test failed: {}{kernel_problems}", failed.join(", "));
    }
    Ok(())
}

fn run_suite(
    root: &Path,
    target_dir: &Path,
    suite: &Suite,
    test_args: &[String],
) -> anyhow::Result<Outcome> {
    let rustflags = suite
        .rustflags
        .map(|flags| match std::env::var("RUSTFLAGS") {
            Ok(existing) if !existing.trim().is_empty() => format!("{existing} {flags}"),
            _ => flags.to_owned(),
        });
    let env = suite.cargo_env();
    let runner = if suite.triple.starts_with("wasm32") {
        "scripts/wasi-run.mjs (node:wasi; set in .cargo/config.toml)".to_owned()
    } else if suite.is_native() {
        "native".to_owned()
    } else {
        env.iter()
            .find(|(k, _)| k.ends_with("_RUNNER"))
            .map_or_else(String::new, |(_, v)| v.clone())
    };
    println!("\n==> cross-test {} ({})", suite.name, suite.triple);
    println!(
        "    RUSTFLAGS: {}",
        rustflags.as_deref().unwrap_or("(none)")
    );
    println!("    runner:    {runner}");
    println!("    kernel:    {} expected", suite.expected_kernel);
    let _ = std::io::stdout().flush();

    let cargo = |test_args: Option<&[String]>| {
        let mut cmd = Command::new(crate::cargo());
        cmd.current_dir(root)
            .args(["test", "--target", suite.triple])
            .args(CARGO_TEST_ARGS)
            .envs(env.iter().map(|(k, v)| (k, v)));
        if let Some(flags) = &rustflags {
            cmd.arg("--target-dir")
                .arg(target_dir.join(suite.name))
                .env("RUSTFLAGS", flags);
        }
        match test_args {
            None => {
                cmd.arg("--no-run");
            }
            Some(args) => {
                cmd.arg("--").args(suite.test_args).args(args);
            }
        }
        cmd
    };

    let mut outcome = Outcome::default();
    let start = Instant::now();
    let status = cargo(None).status().context("failed to run cargo")?;
    outcome.build_time = start.elapsed();
    outcome.build_ok = status.success();
    if !outcome.build_ok {
        println!("==> cross-test {}: build failed", suite.name);
        return Ok(outcome);
    }

    let start = Instant::now();
    let mut child = cargo(Some(test_args))
        .stdout(Stdio::piped())
        .spawn()
        .context("failed to run cargo")?;
    let mut stdout = child
        .stdout
        .take()
        .context("cargo's stdout was not captured")?;
    // Passed through as it arrives, partial lines included ("test name ... " before the test
    // finishes), and parsed a whole line at a time.
    let mut chunk = [0u8; 8192];
    let mut line = Vec::new();
    let mut out = std::io::stdout();
    loop {
        let n = match stdout.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("failed to read cargo's output"),
        };
        out.write_all(&chunk[..n])?;
        out.flush()?;
        for &byte in &chunk[..n] {
            line.push(byte);
            if byte == b'\n' {
                parse_line(&String::from_utf8_lossy(&line), &mut outcome);
                line.clear();
            }
        }
    }
    parse_line(&String::from_utf8_lossy(&line), &mut outcome);
    outcome.tests_ok = child.wait().context("failed to wait for cargo")?.success();
    outcome.test_time = start.elapsed();

    match outcome.kernel_problem(suite) {
        None => println!(
            "==> cross-test {}: kernel {}",
            suite.name, suite.expected_kernel
        ),
        Some(problem) => println!("==> cross-test {problem}"),
    }
    Ok(outcome)
}

/// Where the suites with their own `RUSTFLAGS` build: `cross/<suite>` under the workspace's target
/// directory as cargo resolves it (`CARGO_TARGET_DIR`, `build.target-dir`).
fn target_dir(root: &Path) -> anyhow::Result<PathBuf> {
    let output = Command::new(crate::cargo())
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .stderr(Stdio::inherit())
        .output()
        .context("failed to run cargo metadata")?;
    if !output.status.success() {
        bail!("cargo metadata failed");
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("cargo metadata printed invalid JSON")?;
    let dir = metadata["target_directory"]
        .as_str()
        .context("cargo metadata has no target_directory")?;
    Ok(PathBuf::from(dir).join("cross"))
}
