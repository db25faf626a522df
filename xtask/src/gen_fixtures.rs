//! `cargo xtask gen-fixtures [--out DIR] [--check]`: writes the reference fixtures of SPEC §3
//! and `checksums.txt`, or with `--check` compares what it would write with DIR.
//!
//! The bytes come from `bitnet_models::fixtures`, the same builder the tests call; this module
//! only does the file system part, atomically (temp file in the same directory + rename).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use bitnet_models::fixtures::{all_files, sha256_hex, FIXTURE_DIR};

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
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, bytes) in &files {
        let path = dir.join(name);
        let unchanged = fs::read(&path).ok().as_deref() == Some(&bytes[..]);
        if !unchanged {
            write_atomic(&path, bytes)?;
        }
        println!(
            "{} {:>6} bytes  sha256 {}  {}",
            if unchanged { "unchanged" } else { "wrote    " },
            bytes.len(),
            sha256_hex(bytes),
            path.display()
        );
    }
    Ok(())
}

fn check(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    let mut stale = Vec::new();
    for (name, bytes) in files {
        let path = dir.join(name);
        match fs::read(&path) {
            Ok(found) if found == *bytes => println!("ok       {}", path.display()),
            Ok(_) => stale.push(format!(
                "{}: differs from what gen-fixtures writes",
                path.display()
            )),
            Err(e) => stale.push(format!("{}: {e}", path.display())),
        }
    }
    if stale.is_empty() {
        return Ok(());
    }
    for line in &stale {
        eprintln!("stale: {line}");
    }
    bail!(
        "{} fixture file(s) out of date; run `cargo xtask gen-fixtures` (or scripts/regenerate-fixtures.sh) and review the diff",
        stale.len()
    )
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader never sees a partial file and a failure leaves the old file in place.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f =
            fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("syncing {}", tmp.display()))?;
        fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
