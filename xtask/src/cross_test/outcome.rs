//! What a suite's run came to: the counts and the kernel parsed from the test binaries' output,
//! the judgment of the suite (its build, its tests, its kernel), and the summary table.

use std::fmt::Write as _;
use std::time::Duration;

use super::suites::Suite;

/// The marker that names the kernel a suite exercised. The test `test_reports_the_kernel_in_use`
/// (`crates/bitnet-models/tests/qk256_dual_flavor_tests.rs`) writes it, followed by
/// `Kernel::best().name()`, straight to stdout, past libtest's output capture:
///
/// ```ignore
/// // Not println!: libtest would capture it. `cargo xtask cross-test` reads this line.
/// writeln!(std::io::stdout(), "bitnet-models kernel: {}", best.name()).unwrap();
/// ```
///
/// A suite fails when the kernel it reports is not its `expected_kernel`, and when it reports
/// none ([`Outcome::kernel_problem`]): a test filter after `--` that skips that test fails the
/// suite.
pub(super) const KERNEL_MARKER: &str = "bitnet-models kernel: ";

/// What one suite's build and test run came to.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub(super) build_ok: bool,
    pub(super) tests_ok: bool,
    pub(super) passed: u64,
    pub(super) failed: u64,
    pub(super) ignored: u64,
    /// Test binaries started (`running N tests`) and those that finished (`test result:`).
    pub(super) started: u64,
    pub(super) finished: u64,
    pub(super) kernel: Option<String>,
    pub(super) build_time: Duration,
    pub(super) test_time: Duration,
}

impl Outcome {
    /// Whether the suite passed: it built, its tests passed, and they reported the expected
    /// kernel.
    pub(super) fn ok(&self, suite: &Suite) -> bool {
        self.build_ok && self.tests_ok && self.kernel_problem(suite).is_none()
    }

    /// What is wrong with the kernel `suite`'s tests reported, naming the suite: none reported,
    /// or another than the expected one. `None` when it is the expected one.
    pub(super) fn kernel_problem(&self, suite: &Suite) -> Option<String> {
        let (name, expected) = (suite.name, suite.expected_kernel);
        match self.kernel.as_deref() {
            Some(kernel) if kernel == expected => None,
            Some(kernel) => Some(format!(
                "suite {name}: the tests report kernel {kernel}, expected {expected}"
            )),
            None => Some(format!(
                "suite {name}: no test printed the kernel marker `{KERNEL_MARKER}<name>` \
                 (expected `{KERNEL_MARKER}{expected}`); test_reports_the_kernel_in_use in \
                 bitnet-models prints it, unless a test filter skipped it or its test binary \
                 aborted first"
            )),
        }
    }
}

/// Takes the counts from a libtest `test result:` line and the kernel from the hook's marker.
pub(super) fn parse_line(line: &str, outcome: &mut Outcome) {
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

pub(super) fn summarize(suites: &[&Suite], outcomes: &[Outcome]) -> String {
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
            "  kernel `?`: no test printed `{KERNEL_MARKER}<name>`, which fails the suite (see \
             KERNEL_MARKER in xtask/src/cross_test/outcome.rs)"
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
