//! `cargo xtask gen-fixtures [--out DIR] [--check]`: writes the reference fixtures (docs/fixtures.md)
//! and `checksums.txt`, or with `--check` compares what it would write with DIR.
//!
//! The bytes come from `bitnet_models::fixtures`, the same builder the tests call; the file
//! system part (atomic writes, the check) is `crate::files`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bitnet_models::fixtures::{all_files, sha256_hex, FIXTURE_DIR};

use crate::files::{self, Mode, Status};

/// What `--check` tells to run when a fixture is stale.
const FIX: &str = "`cargo xtask gen-fixtures` (or scripts/regenerate-fixtures.sh)";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write to (default: ci/fixtures/qk256 in the workspace).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write nothing; exit non-zero naming each file that differs from what would be written.
    #[arg(long)]
    check: bool,
}

pub fn run(args: Args) -> Result<()> {
    let dir = args
        .out
        .unwrap_or_else(|| crate::workspace_root().join(FIXTURE_DIR));
    let files = all_files().context("building the fixtures")?;
    if args.check {
        return check(&dir, &files);
    }
    // The directory also holds the hand-written README.md: nothing in it is removed.
    for entry in files::ensure(&dir, &files, &[], Mode::Write)? {
        let bytes = entry.bytes.unwrap_or_default();
        println!(
            "{} {:>6} bytes  sha256 {}  {}",
            if matches!(entry.status, Status::Unchanged) {
                "unchanged"
            } else {
                "wrote    "
            },
            bytes.len(),
            sha256_hex(bytes),
            entry.path.display()
        );
    }
    Ok(())
}

/// `--check`: `Ok` when `dir` holds exactly `files`' bytes; otherwise a
/// [`files::StaleFiles`] error naming each stale file.
fn check(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    let entries = files::ensure(dir, files, &[], Mode::Check)?;
    for entry in &entries {
        if matches!(entry.status, Status::Unchanged) {
            println!("ok       {}", entry.path.display());
        }
    }
    files::fail_if_stale(&entries, "fixture", FIX)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::files::StaleFiles;

    /// A copy of the committed fixture directory.
    fn committed_copy() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::workspace_root().join(FIXTURE_DIR);
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            fs::copy(&path, tmp.path().join(path.file_name().unwrap())).unwrap();
        }
        tmp
    }

    #[test]
    fn fixtures_are_up_to_date() {
        let dir = crate::workspace_root().join(FIXTURE_DIR);
        check(&dir, &all_files().unwrap()).unwrap();
    }

    #[test]
    fn check_passes_on_a_copy_and_names_a_tampered_fixture() {
        let files = all_files().unwrap();
        let tmp = committed_copy();
        check(tmp.path(), &files).unwrap();

        let tampered = tmp.path().join("qk256_3x300_seed43.gguf");
        let mut bytes = fs::read(&tampered).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&tampered, &bytes).unwrap();
        let err = check(tmp.path(), &files).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("1 fixture file(s) out of date; run `cargo xtask gen-fixtures`"),
            "{err}"
        );
        let stale = err.downcast::<StaleFiles>().unwrap();
        assert_eq!(stale.files, [(tampered, "differs".to_owned())]);
    }

    #[test]
    fn check_names_a_missing_fixture() {
        let files = all_files().unwrap();
        let tmp = committed_copy();
        let missing = tmp.path().join(bitnet_models::fixtures::CHECKSUMS);
        fs::remove_file(&missing).unwrap();
        let stale = check(tmp.path(), &files)
            .unwrap_err()
            .downcast::<StaleFiles>()
            .unwrap();
        assert_eq!(stale.files, [(missing, "missing".to_owned())]);
    }
}
