//! `cargo xtask fuzz [--seconds N] [TARGET...]`: runs the cargo-fuzz targets of `fuzz/` for N
//! seconds each and reports executions and corpus size per target; `--write-seeds` /
//! `--check-seeds` write or check the committed seed inputs in `fuzz/seeds/<target>/`.
//!
//! This module owns the list of targets and the command line; `run.rs` runs libFuzzer
//! (installing cargo-fuzz first) and prints the summary; `seeds.rs` lists the seed files and
//! writes or checks them through `crate::files`. The targets themselves live in
//! `fuzz/fuzz_targets/`; minimized crashes are committed by hand to `fuzz/regressions/<target>/`
//! and replayed by the crates' `tests/fuzz_regressions.rs`. The inputs the seeds are built from
//! (the malformed GGUF corpus, the `kernels_diff` codec, splitmix64) are `bitnet-testkit`'s, which
//! the tests use too.

mod run;
mod seeds;

use anyhow::{Context, Result};

/// The fuzz targets, in the order they run.
const TARGETS: &[&str] = &[
    "parse",
    "parse_check_dequant",
    "kernels_diff",
    "writer_roundtrip",
];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seconds to run each target (libFuzzer `-max_total_time`).
    #[arg(long, default_value_t = 60)]
    seconds: u64,

    /// Write `fuzz/seeds/` from the fixtures and the builders of `bitnet-testkit`, then exit.
    #[arg(long, conflicts_with = "check_seeds")]
    write_seeds: bool,

    /// Write nothing; exit non-zero naming each seed file that differs from what
    /// `--write-seeds` writes.
    #[arg(long)]
    check_seeds: bool,

    /// Targets to run: parse, parse_check_dequant, kernels_diff, writer_roundtrip. Default: all.
    #[arg(value_name = "TARGET")]
    targets: Vec<String>,

    /// Extra libFuzzer arguments, after `--` (`-max_len=1048576` to fuzz the whole vocabulary
    /// seed, `-jobs=2`, ...). The default `-max_len` is 65536.
    #[arg(last = true, value_name = "LIBFUZZER_ARGS")]
    libfuzzer_args: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    let root = crate::workspace_root();
    if args.write_seeds {
        return seeds::write(&root);
    }
    if args.check_seeds {
        return seeds::check(&root);
    }
    let targets = select(&args.targets)?;
    run::run_targets(&root, &targets, &args)
}

fn select(names: &[String]) -> Result<Vec<&'static str>> {
    if names.is_empty() {
        return Ok(TARGETS.to_vec());
    }
    names
        .iter()
        .map(|n| {
            TARGETS
                .iter()
                .copied()
                .find(|t| t == n)
                .with_context(|| format!("unknown fuzz target {n:?}; expected one of {TARGETS:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_targets_by_name() {
        assert_eq!(select(&[]).unwrap(), TARGETS);
        assert_eq!(select(&["kernels_diff".into()]).unwrap(), ["kernels_diff"]);
        assert!(select(&["nope".into()]).is_err());
    }
}
