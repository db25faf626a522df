//! `cargo xtask cross-test`: the tests of `bitnet-models` and `bitnet-gguf`, built for targets
//! this machine is not and run under emulation — aarch64 (the NEON kernel), wasm32 without and
//! with simd128, and big-endian s390x.
//!
//! This module owns the list of suites, the check that their tools are installed, the cross
//! linker and qemu runner of each Linux target, and the summary parsed from libtest's
//! `test result:` lines. The Linux targets are configured here, through cargo's
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

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

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

/// Hook for naming the kernel a suite exercised. A test in `bitnet-models` writes this marker
/// followed by `Kernel::best().name()` straight to stdout, past libtest's output capture:
///
/// ```ignore
/// #[test]
/// fn report_selected_kernel() {
///     use std::io::Write;
///     // Not println!: libtest would capture it. `cargo xtask cross-test` reads this line.
///     let _ = writeln!(std::io::stdout(), "bitnet-models kernel: {}", Kernel::best().name());
/// }
/// ```
///
/// When a suite reports a kernel other than its `expected_kernel`, the suite fails; when no test
/// reports one, the summary says so and the suite is judged on its tests alone.
const KERNEL_MARKER: &str = "bitnet-models kernel: ";

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

/// One emulated target configuration.
#[derive(Debug)]
struct Suite {
    name: &'static str,
    triple: &'static str,
    /// Added to `RUSTFLAGS`. A suite with flags builds in its own target directory, so that it
    /// and the plain build of the same triple do not rebuild each other's artifacts.
    rustflags: Option<&'static str>,
    /// What `Kernel::best()` must select on this target.
    expected_kernel: &'static str,
    /// Arguments this target's test binaries need, before the user's.
    test_args: &'static [&'static str],
    tools: &'static [Tool],
}

#[derive(Debug)]
enum Tool {
    /// qemu-user for this architecture, with the Debian cross sysroot `/usr/<arch>-linux-gnu`.
    Qemu {
        arch: &'static str,
        libc_package: &'static str,
    },
    /// A cross linker, from Debian's cross toolchain packages.
    Linker {
        program: &'static str,
        package: &'static str,
    },
    /// Node.js 20 or newer, for `node:wasi`.
    Node,
}

const SUITES: &[Suite] = &[
    Suite {
        name: "aarch64",
        triple: "aarch64-unknown-linux-gnu",
        rustflags: None,
        expected_kernel: "neon",
        test_args: &[],
        tools: &[
            Tool::Linker {
                program: "aarch64-linux-gnu-gcc",
                package: "gcc-aarch64-linux-gnu",
            },
            Tool::Qemu {
                arch: "aarch64",
                libc_package: "libc6-dev-arm64-cross",
            },
        ],
    },
    Suite {
        name: "wasm32",
        triple: "wasm32-wasip1",
        rustflags: None,
        expected_kernel: "scalar",
        test_args: WASM_TEST_ARGS,
        tools: &[Tool::Node],
    },
    Suite {
        name: "wasm32-simd128",
        triple: "wasm32-wasip1",
        rustflags: Some("-C target-feature=+simd128"),
        expected_kernel: "simd128",
        test_args: WASM_TEST_ARGS,
        tools: &[Tool::Node],
    },
    Suite {
        name: "s390x",
        triple: "s390x-unknown-linux-gnu",
        rustflags: None,
        expected_kernel: "scalar",
        test_args: &[],
        tools: &[
            Tool::Linker {
                program: "s390x-linux-gnu-gcc",
                package: "gcc-s390x-linux-gnu",
            },
            Tool::Qemu {
                arch: "s390x",
                libc_package: "libc6-dev-s390x-cross",
            },
        ],
    },
];

/// wasm32-wasip1 has no unwinding: a panic aborts the whole test binary before libtest prints
/// the output it captured, so without `--nocapture` the panic message would be lost. (A side
/// effect: proptest's harmless "Failed to find absolute path of source file" notes show, because
/// under WASI the current directory reads as "/"; proptest also ignores `PROPTEST_*` on wasm32.)
const WASM_TEST_ARGS: &[&str] = &["--nocapture"];

/// Helper scripts that `.cargo/config.toml` runs directly, so they must stay executable.
const RUNNER_SCRIPTS: &[&str] = &["scripts/wasi-run.mjs"];

#[derive(Debug, Default)]
struct Outcome {
    build_ok: bool,
    tests_ok: bool,
    passed: u64,
    failed: u64,
    ignored: u64,
    /// Test binaries started (`running N tests`) and those that finished (`test result:`).
    started: u64,
    finished: u64,
    kernel: Option<String>,
    build_time: Duration,
    test_time: Duration,
}

impl Suite {
    /// Whether this machine runs the suite's binaries itself (an aarch64 Linux host).
    fn is_native(&self) -> bool {
        cfg!(all(target_os = "linux", target_env = "gnu"))
            && self.triple == format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
    }

    /// The tools this machine needs for the suite.
    fn tools(&self) -> &'static [Tool] {
        if self.is_native() {
            &[]
        } else {
            self.tools
        }
    }

    /// Cargo's configuration of the linker and runner, as environment variables.
    fn cargo_env(&self) -> Vec<(String, String)> {
        let prefix = format!(
            "CARGO_TARGET_{}",
            self.triple.to_uppercase().replace(['-', '.'], "_")
        );
        let mut env = Vec::new();
        for tool in self.tools() {
            match tool {
                Tool::Linker { program, .. } => {
                    env.push((format!("{prefix}_LINKER"), (*program).to_owned()));
                }
                Tool::Qemu { arch, .. } => {
                    let qemu = qemu_program(arch).unwrap_or_else(|| format!("qemu-{arch}").into());
                    env.push((
                        format!("{prefix}_RUNNER"),
                        format!("{} -L /usr/{arch}-linux-gnu", qemu.display()),
                    ));
                }
                Tool::Node => {}
            }
        }
        env
    }
}

impl Outcome {
    fn ok(&self, suite: &Suite) -> bool {
        self.build_ok
            && self.tests_ok
            && self
                .kernel
                .as_deref()
                .is_none_or(|k| k == suite.expected_kernel)
    }
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
        bail!("cross-test failed: {}", failed.join(", "));
    }
    Ok(())
}

/// The suites named by the command line, in the order of [`SUITES`]; all of them by default.
fn select(targets: &[String]) -> anyhow::Result<Vec<&'static Suite>> {
    if targets.is_empty() {
        return Ok(SUITES.iter().collect());
    }
    for target in targets {
        if !SUITES
            .iter()
            .any(|s| s.name == target || s.triple == target)
        {
            let names: Vec<&str> = SUITES.iter().map(|s| s.name).collect();
            bail!(
                "unknown cross-test target `{target}`: expected one of {} or their target triples",
                names.join(", ")
            );
        }
    }
    Ok(SUITES
        .iter()
        .filter(|s| targets.iter().any(|t| s.name == t || s.triple == t))
        .collect())
}

/// Fails with one line per missing tool, each saying what to install.
fn check_tools(root: &Path, suites: &[&Suite]) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    let sysroot = rustc_sysroot();
    for suite in suites {
        let std_dir = sysroot
            .as_ref()
            .map(|s| s.join("lib/rustlib").join(suite.triple).join("lib"));
        if std_dir.is_some_and(|d| !d.is_dir()) {
            missing.push(format!(
                "rust target {0} is not installed: rustup target add {0}",
                suite.triple
            ));
        }
        for tool in suite.tools() {
            match tool {
                Tool::Linker { program, package } => {
                    if find_program(program).is_none() {
                        missing.push(format!("{program} not found: apt-get install {package}"));
                    }
                }
                Tool::Qemu { arch, libc_package } => {
                    if qemu_program(arch).is_none() {
                        missing.push(format!(
                            "qemu-{arch} not found: apt-get install qemu-user-static"
                        ));
                    }
                    // crt1.o is what linking needs; the runtime libc comes with the same package.
                    let crt1 = PathBuf::from(format!("/usr/{arch}-linux-gnu/lib/crt1.o"));
                    if !crt1.is_file() {
                        missing.push(format!(
                            "{arch} C library not found ({}): apt-get install {libc_package}",
                            crt1.display()
                        ));
                    }
                }
                Tool::Node => {
                    if let Some(problem) = node_problem() {
                        missing.push(problem);
                    }
                }
            }
        }
    }
    for script in RUNNER_SCRIPTS {
        if !is_executable(&root.join(script)) {
            missing.push(format!("{script} is not executable: chmod +x {script}"));
        }
    }
    let mut seen = std::collections::HashSet::new();
    missing.retain(|line| seen.insert(line.clone()));
    if !missing.is_empty() {
        bail!("{}", missing.join("\n"));
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

    let kernel = match &outcome.kernel {
        Some(k) if k == suite.expected_kernel => k.clone(),
        Some(k) => format!("{k} — expected {}", suite.expected_kernel),
        None => "not reported (no test prints the kernel marker yet)".to_owned(),
    };
    println!("==> cross-test {}: kernel {kernel}", suite.name);
    Ok(outcome)
}

/// Takes the counts from a libtest `test result:` line and the kernel from the hook's marker.
fn parse_line(line: &str, outcome: &mut Outcome) {
    if let Some(pos) = line.find(KERNEL_MARKER) {
        let name: String = line[pos + KERNEL_MARKER.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            outcome.kernel = Some(name);
        }
    }
    // running 3 tests
    let started = line
        .trim_end()
        .strip_prefix("running ")
        .and_then(|r| r.strip_suffix(" tests").or_else(|| r.strip_suffix(" test")));
    if started.is_some_and(|n| n.parse::<u64>().is_ok()) {
        outcome.started += 1;
    }
    // test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
    let Some(rest) = line.trim_start().strip_prefix("test result: ") else {
        return;
    };
    outcome.finished += 1;
    for part in rest.split(';') {
        let mut words = part.split_whitespace().rev();
        let (Some(label), Some(count)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(count) = count.parse::<u64>() else {
            continue;
        };
        match label {
            "passed" => outcome.passed += count,
            "failed" => outcome.failed += count,
            "ignored" => outcome.ignored += count,
            _ => {}
        }
    }
}

fn summarize(suites: &[&Suite], outcomes: &[Outcome]) -> String {
    let mut s = String::from("cross-test summary\n");
    let _ = writeln!(
        s,
        "  {:<15} {:<26} {:<7} {:<12} {:>6} {:>6} {:>7} {:>8} {:>7} {:>7}",
        "suite",
        "target",
        "result",
        "kernel",
        "passed",
        "failed",
        "ignored",
        "binaries",
        "build",
        "test"
    );
    for (suite, o) in suites.iter().zip(outcomes) {
        let binaries = if o.finished == o.started {
            o.finished.to_string()
        } else {
            format!("{}/{}", o.finished, o.started)
        };
        let result = if o.ok(suite) {
            "ok"
        } else if !o.build_ok {
            "BUILD"
        } else {
            "FAILED"
        };
        let _ = writeln!(
            s,
            "  {:<15} {:<26} {:<7} {:<12} {:>6} {:>6} {:>7} {:>8} {:>7} {:>7}",
            suite.name,
            suite.triple,
            result,
            o.kernel.as_deref().unwrap_or("?"),
            o.passed,
            o.failed,
            o.ignored,
            binaries,
            duration(o.build_time),
            duration(o.test_time),
        );
    }
    if outcomes.iter().any(|o| o.finished != o.started) {
        let _ = writeln!(
            s,
            "  binaries n/m: only n of the m test binaries printed `test result:`; the others \
             crashed or aborted (on wasm32 a panic aborts the binary), so their counts are missing"
        );
    }
    if outcomes.iter().any(|o| o.kernel.is_none()) {
        let _ = writeln!(
            s,
            "  kernel `?`: no test printed `{KERNEL_MARKER}<name>` (see KERNEL_MARKER in xtask/src/cross_test.rs)"
        );
    }
    s
}

fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
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

fn rustc_sysroot() -> Option<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
}

/// `qemu-<arch>` (Debian's qemu-user) or `qemu-<arch>-static` (qemu-user-static: Debian 12,
/// Ubuntu 24.04).
fn qemu_program(arch: &str) -> Option<PathBuf> {
    find_program(&format!("qemu-{arch}")).or_else(|| find_program(&format!("qemu-{arch}-static")))
}

fn node_problem() -> Option<String> {
    let Ok(output) = Command::new("node").arg("--version").output() else {
        return Some("node not found: install Node.js 20 or newer (https://nodejs.org)".to_owned());
    };
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let major = version
        .strip_prefix('v')
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(m) if m >= 20 => None,
        _ => Some(format!(
            "node {version} is too old for node:wasi: install Node.js 20 or newer (https://nodejs.org)"
        )),
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_test_result_lines() {
        let mut o = Outcome::default();
        parse_line(
            "test result: ok. 12 passed; 1 failed; 3 ignored; 0 measured; 2 filtered out; finished in 0.04s\n",
            &mut o,
        );
        parse_line(
            "test result: ok. 5 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n",
            &mut o,
        );
        parse_line("running 5 tests\n", &mut o);
        parse_line("running 1 test\n", &mut o);
        parse_line("test running 2 tests ... ok\n", &mut o);
        assert_eq!((o.passed, o.failed, o.ignored), (17, 1, 3));
        assert_eq!((o.started, o.finished), (2, 2));
    }

    #[test]
    fn finds_the_kernel_marker_mid_line() {
        let mut o = Outcome::default();
        parse_line(
            "test kernels::report ... bitnet-models kernel: neon\n",
            &mut o,
        );
        assert_eq!(o.kernel.as_deref(), Some("neon"));
    }

    #[test]
    fn a_wrong_kernel_fails_the_suite() {
        let aarch64 = &SUITES[0];
        let mut o = Outcome {
            build_ok: true,
            tests_ok: true,
            ..Outcome::default()
        };
        assert!(o.ok(aarch64), "an unreported kernel is not a failure");
        parse_line("bitnet-models kernel: scalar\n", &mut o);
        assert!(!o.ok(aarch64));
        parse_line("bitnet-models kernel: neon\n", &mut o);
        assert!(o.ok(aarch64));
    }

    #[test]
    fn selects_by_name_or_triple() {
        let names = |args: &[&str]| -> Vec<&str> {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            select(&args).unwrap().iter().map(|s| s.name).collect()
        };
        assert_eq!(names(&[]), ["aarch64", "wasm32", "wasm32-simd128", "s390x"]);
        assert_eq!(names(&["wasm32-wasip1"]), ["wasm32", "wasm32-simd128"]);
        assert_eq!(
            names(&["s390x", "wasm32-simd128"]),
            ["wasm32-simd128", "s390x"]
        );
        assert!(select(&["x86".to_owned()]).is_err());
    }
}
