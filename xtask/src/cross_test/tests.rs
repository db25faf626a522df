//! Unit tests of the suite selection, the parsing of the test binaries' output and the judgment
//! of a suite: nothing is built or run.

use super::outcome::{parse_line, Outcome};
use super::suites::{select, SUITES};

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
fn a_missing_or_wrong_kernel_fails_the_suite() {
    let aarch64 = &SUITES[0];
    let mut o = Outcome {
        build_ok: true,
        tests_ok: true,
        ..Outcome::default()
    };
    assert!(!o.ok(aarch64), "an unreported kernel is a failure");
    parse_line("bitnet-models kernel: scalar\n", &mut o);
    assert!(!o.ok(aarch64));
    parse_line("bitnet-models kernel: neon\n", &mut o);
    assert!(o.ok(aarch64));
    o.tests_ok = false;
    assert!(
        !o.ok(aarch64),
        "the right kernel does not make up for a failed test"
    );
}

#[test]
fn a_kernel_problem_names_the_suite_and_the_marker_it_expected() {
    let s390x = SUITES.iter().find(|s| s.name == "s390x").unwrap();
    let mut o = Outcome::default();
    let missing = o
        .kernel_problem(s390x)
        .expect("no kernel reported is a problem");
    assert!(missing.starts_with("suite s390x: "), "{missing}");
    assert!(
        missing.contains("`bitnet-models kernel: scalar`"),
        "names the marker line it expected: {missing}"
    );
    parse_line("bitnet-models kernel: neon\n", &mut o);
    assert_eq!(
        o.kernel_problem(s390x).as_deref(),
        Some("suite s390x: the tests report kernel neon, expected scalar")
    );
    parse_line("bitnet-models kernel: scalar\n", &mut o);
    assert_eq!(o.kernel_problem(s390x), None);
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
