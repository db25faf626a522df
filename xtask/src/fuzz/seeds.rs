//! The committed seed inputs of the fuzz targets, `fuzz/seeds/<target>/`: which files there are
//! and their bytes. Writing and checking them is `crate::files`; each target's directory holds
//! nothing but generated seeds, so a file no longer generated is removed (or, in a check, named).
//!
//! The GGUF seeds (for `parse` and `parse_check_dequant`) are `bitnet_testkit::corpus`'s: the
//! reference fixtures, the gguf-py file and the malformed corpus. The 724 KB llama
//! vocabulary is stored only for `parse`: it has no tensors, so `parse_check_dequant` would
//! learn nothing more from it.

use std::path::Path;

use anyhow::Result;
use bitnet_testkit::kernel_input::KernelInput;
use bitnet_testkit::rng::SplitMix64;
use bitnet_testkit::{corpus, third_party};

use super::TARGETS;
use crate::files::{self, Mode, Status};

/// The seed directory, relative to the workspace root.
const SEED_DIR: &str = "fuzz/seeds";

/// What `--check-seeds` tells to run when a seed is stale.
const FIX: &str = "`cargo xtask fuzz --write-seeds`";

/// Every seed file: path relative to `fuzz/seeds/` → bytes, sorted by path.
fn seed_files() -> Vec<(String, Vec<u8>)> {
    let gguf = corpus::gguf_seeds();
    let mut seeds = Vec::new();
    for target in ["parse", "parse_check_dequant"] {
        for (name, bytes) in &gguf {
            seeds.push((format!("{target}/{name}"), bytes.clone()));
        }
    }
    seeds.push((
        "parse/ggml-vocab-llama-spm.gguf".to_owned(),
        third_party::LLAMA_SPM_VOCAB.to_vec(),
    ));
    for (name, bytes) in kernel_inputs() {
        seeds.push((format!("kernels_diff/{name}"), bytes));
    }
    for (name, bytes) in writer_inputs() {
        seeds.push((format!("writer_roundtrip/{name}"), bytes));
    }
    seeds.sort();
    seeds
}

/// `--write-seeds`.
pub(super) fn write(root: &Path) -> Result<()> {
    let dir = root.join(SEED_DIR);
    let seeds = seed_files();
    let mut total = 0;
    for entry in files::ensure(&dir, &seeds, TARGETS, Mode::Write)? {
        let len = entry.bytes.map_or(0, <[u8]>::len);
        total += len;
        match entry.status {
            Status::Written => println!("wrote     {len:>7} bytes  {}", entry.path.display()),
            Status::Removed => println!("removed   {}", entry.path.display()),
            _ => {}
        }
    }
    println!(
        "{} seed files, {total} bytes, in {}",
        seeds.len(),
        dir.display()
    );
    Ok(())
}

/// `--check-seeds`: `Ok` when `fuzz/seeds/` holds exactly the generated seeds.
pub(super) fn check(root: &Path) -> Result<()> {
    let seeds = seed_files();
    let entries = files::ensure(&root.join(SEED_DIR), &seeds, TARGETS, Mode::Check)?;
    files::fail_if_stale(&entries, "seed", FIX)
}

/// Inputs for `kernels_diff`, in the codec of `bitnet_testkit::kernel_input`.
fn kernel_inputs() -> Vec<(String, Vec<u8>)> {
    let input =
        |format: u8, rows: u8, cols: u16, scale: f32, unit: bool, misalign: u8, blocks: &[u8]| {
            KernelInput {
                format,
                rows,
                cols,
                scale_bits: scale.to_bits(),
                unit_scale: unit,
                misalign,
                length: 0,
                blocks: blocks.to_vec(),
            }
            .encode()
        };
    let all_bytes: Vec<u8> = (0..=255).collect();
    // BitNet32F16 blocks: every code in each position, then odd f16 scales.
    let mut odd_scales = Vec::new();
    for d in [0x3c00u16, 0x7e00, 0x7c00, 0xfc00, 0x0001, 0x8000, 0x7bff] {
        odd_scales.extend_from_slice(&[0x00, 0x55, 0xaa, 0xff, 0x1b, 0xe4, 0x27, 0x72]);
        odd_scales.extend_from_slice(&d.to_le_bytes());
    }
    vec![
        (
            "qk256-3x300-all-bytes".into(),
            input(0, 3, 300, 0.5, false, 1, &all_bytes),
        ),
        (
            "qk256-2x256-nan-scale".into(),
            input(0, 2, 256, f32::NAN, false, 0, &all_bytes),
        ),
        (
            "qk256-1x513-neg-zero".into(),
            input(0, 1, 513, -0.0, false, 3, &all_bytes),
        ),
        (
            "bitnet32f16-2x70-odd-scales".into(),
            input(1, 2, 70, 1.0, true, 2, &odd_scales),
        ),
        (
            "bitnet32f16-4x32".into(),
            input(1, 4, 32, 1.0, true, 0, &all_bytes),
        ),
        (
            "tq2_0-2x257".into(),
            input(2, 2, 257, 1.0, true, 5, &all_bytes),
        ),
        // bitnetcpp (format 3): every byte value as codes (reserved ones included), its groups
        // running on across rows, at an odd offset; the largest shape, with −0.0.
        (
            "bitnetcpp-3x384-all-bytes".into(),
            input(3, 3, 384, -0.5, false, 7, &all_bytes),
        ),
        (
            "bitnetcpp-6x768-neg-zero".into(),
            input(3, 6, 768, -0.0, false, 13, &all_bytes),
        ),
        // TQ1_0 (format 4): every byte value as base-3 digits (all valid) over 3 rows of 2
        // blocks; 2 rows of 3 blocks with the odd f16 scales somewhere in each block.
        (
            "tq1_0-3x512-all-bytes".into(),
            input(4, 3, 512, 1.0, true, 7, &all_bytes),
        ),
        (
            "tq1_0-2x768-odd-scales".into(),
            input(4, 2, 768, 1.0, true, 2, &odd_scales),
        ),
    ]
}

/// Inputs for `writer_roundtrip`: deterministic pseudo-random bytes (its `Model` is decoded by
/// `arbitrary`, so any bytes are a model; these only give libFuzzer somewhere to start).
fn writer_inputs() -> Vec<(String, Vec<u8>)> {
    let mut rng = SplitMix64::new(0x9e37_79b9_7f4a_7c15);
    [64usize, 256, 1024]
        .into_iter()
        .map(|len| (format!("random-{len}"), rng.bytes(len)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_up_to_date() {
        check(&crate::workspace_root()).unwrap();
    }

    #[test]
    fn seeds_stay_small() {
        let total: usize = seed_files().iter().map(|(_, b)| b.len()).sum();
        assert!(total < 1_500_000, "{total} bytes of seeds");
    }

    #[test]
    fn every_seed_belongs_to_a_target() {
        for (rel, _) in seed_files() {
            let target = rel.split_once('/').map(|(t, _)| t);
            assert!(target.is_some_and(|t| TARGETS.contains(&t)), "{rel}");
        }
    }
}
