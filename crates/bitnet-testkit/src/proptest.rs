//! The one proptest configuration of the workspace's property tests.
//!
//! The case count comes from `PROPTEST_CASES` when it is set and parses (CI raises it), else
//! from the test file's own default; failing cases are never persisted, so proptest writes no
//! `proptest-regressions/` files into the source tree (and needs no file system under wasm or
//! Miri). A failure prints its seed and minimal input; turn it into a plain `#[test]`.

use ::proptest::test_runner::Config;

/// The environment variable that overrides the case count.
pub const CASES_VAR: &str = "PROPTEST_CASES";

/// `default_cases` cases unless `PROPTEST_CASES` says otherwise; no failure persistence.
pub fn config(default_cases: u32) -> Config {
    Config {
        cases: cases(std::env::var(CASES_VAR).ok().as_deref(), default_cases),
        failure_persistence: None,
        ..Config::default()
    }
}

/// The case count for a `PROPTEST_CASES` value (`None` when unset).
fn cases(var: Option<&str>, default_cases: u32) -> u32 {
    var.and_then(|v| v.trim().parse().ok())
        .unwrap_or(default_cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_come_from_the_variable_when_it_parses() {
        assert_eq!(cases(None, 64), 64);
        assert_eq!(cases(Some("1000"), 64), 1000);
        assert_eq!(cases(Some(" 12 "), 64), 12);
        assert_eq!(cases(Some("many"), 64), 64);
        assert_eq!(cases(Some(""), 64), 64);
    }

    #[test]
    fn never_persists_failures() {
        assert!(config(3).failure_persistence.is_none());
    }
}
