//! `cargo xtask fuzz [--seconds N] [TARGET...]`: runs the cargo-fuzz targets of `fuzz/` for N
//! seconds each and reports executions and corpus size per target; `--write-seeds` /
//! `--check-seeds` write or check the committed seed inputs in `fuzz/seeds/<target>/`.
//!
//! This module owns the list of targets, the installation of cargo-fuzz, the seed files and the
//! summary. The targets themselves live in `fuzz/fuzz_targets/`; minimized crashes are committed
//! by hand to `fuzz/regressions/<target>/` and replayed by the crates' `tests/fuzz_regressions.rs`.
//!
//! libFuzzer reads every corpus directory it is given but adds new inputs only to the first, so
//! the working corpus `fuzz/corpus/<target>` (ignored by git) grows while `fuzz/seeds/<target>`
//! and `fuzz/regressions/<target>` stay as committed.
//!
//! cargo-fuzz needs a nightly toolchain, so cargo is run through the rustup proxy as
//! `cargo +nightly` rather than through `$CARGO`, which names the toolchain of this xtask.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The fuzz targets, in the order they run.
const TARGETS: &[&str] = &[
    "parse",
    "parse_check_dequant",
    "kernels_diff",
    "writer_roundtrip",
];

/// libFuzzer's `-max_len` unless one is given. Without it libFuzzer takes the largest seed (the
/// 724 KB vocabulary) as the limit and spends its time copying huge inputs; longer seeds are
/// read truncated to this length, which still holds every header and metadata structure.
const DEFAULT_MAX_LEN: usize = 64 * 1024;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seconds to run each target (libFuzzer `-max_total_time`).
    #[arg(long, default_value_t = 60)]
    seconds: u64,

    /// Write `fuzz/seeds/` from the fixtures and the builders in this module, then exit.
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
        return write_seeds(&root);
    }
    if args.check_seeds {
        return check_seeds(&root);
    }
    let targets = select(&args.targets)?;
    ensure_cargo_fuzz()?;
    let mut results = Vec::new();
    for target in targets {
        results.push(run_target(&root, target, &args)?);
    }
    print_summary(&results);
    let failed: Vec<&Outcome> = results.iter().filter(|r| !r.success).collect();
    if failed.is_empty() {
        return Ok(());
    }
    for r in &failed {
        eprintln!("{}: libFuzzer stopped with a failure", r.target);
        for artifact in &r.artifacts {
            eprintln!(
                "  artifact {}\n    minimize: cargo +nightly fuzz tmin {} {}\n    then store it in fuzz/regressions/{}/ and replay it in the crate's tests/fuzz_regressions.rs",
                artifact.display(),
                r.target,
                artifact.display(),
                r.target
            );
        }
    }
    bail!("{} fuzz target(s) failed", failed.len())
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

fn nightly_cargo() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.arg("+nightly");
    cmd
}

/// Installs cargo-fuzz with the nightly toolchain unless `cargo +nightly fuzz --version` works.
fn ensure_cargo_fuzz() -> Result<()> {
    let installed = nightly_cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if installed {
        return Ok(());
    }
    eprintln!("cargo-fuzz not found; installing it: cargo +nightly install cargo-fuzz --locked");
    let status = nightly_cargo()
        .args(["install", "cargo-fuzz", "--locked"])
        .status()
        .context("running `cargo +nightly install cargo-fuzz` (is rustup's nightly installed?)")?;
    if !status.success() {
        bail!("`cargo +nightly install cargo-fuzz --locked` failed ({status})");
    }
    Ok(())
}

#[derive(Debug)]
struct Outcome {
    target: &'static str,
    success: bool,
    elapsed: Duration,
    executions: Option<u64>,
    peak_rss_mb: Option<u64>,
    corpus_files: usize,
    corpus_bytes: u64,
    artifacts: Vec<PathBuf>,
}

fn run_target(root: &Path, target: &'static str, args: &Args) -> Result<Outcome> {
    let corpus = root.join("fuzz/corpus").join(target);
    let seeds = root.join("fuzz/seeds").join(target);
    let regressions = root.join("fuzz/regressions").join(target);
    let artifacts_dir = root.join("fuzz/artifacts").join(target);
    fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
    let before = list_files(&artifacts_dir);

    eprintln!("== fuzz {target} for {} s", args.seconds);
    let start = Instant::now();
    let mut cmd = nightly_cargo();
    cmd.current_dir(root)
        // The fuzz build (sanitizer and coverage flags) stays in fuzz/target, away from the
        // workspace's target directory.
        .env_remove("CARGO_TARGET_DIR")
        .args(["fuzz", "run", target])
        .arg(&corpus)
        .arg(&seeds);
    // Past crashes are run first thing, every time.
    if regressions.is_dir() {
        cmd.arg(&regressions);
    }
    cmd.arg("--")
        .arg(format!("-max_total_time={}", args.seconds))
        .arg("-print_final_stats=1");
    if !args
        .libfuzzer_args
        .iter()
        .any(|a| a.starts_with("-max_len="))
    {
        cmd.arg(format!("-max_len={DEFAULT_MAX_LEN}"));
    }
    let mut child = cmd
        .args(&args.libfuzzer_args)
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting `cargo +nightly fuzz run {target}`"))?;
    let mut executions = None;
    let mut peak_rss_mb = None;
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines() {
            let line = line.context("reading libFuzzer output")?;
            eprintln!("{line}");
            if let Some(n) = stat(&line, "stat::number_of_executed_units:") {
                executions = Some(n);
            }
            if let Some(n) = stat(&line, "stat::peak_rss_mb:") {
                peak_rss_mb = Some(n);
            }
        }
    }
    let status = child.wait().context("waiting for cargo fuzz")?;
    let elapsed = start.elapsed();
    let (corpus_files, corpus_bytes) = dir_size(&corpus);
    let artifacts = list_files(&artifacts_dir)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    Ok(Outcome {
        target,
        success: status.success(),
        elapsed,
        executions,
        peak_rss_mb,
        corpus_files,
        corpus_bytes,
        artifacts,
    })
}

/// The number after `key` in a libFuzzer `-print_final_stats` line.
fn stat(line: &str, key: &str) -> Option<u64> {
    line.trim().strip_prefix(key)?.trim().parse().ok()
}

fn list_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn dir_size(dir: &Path) -> (usize, u64) {
    let files = list_files(dir);
    let bytes = files
        .iter()
        .filter_map(|p| fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    (files.len(), bytes)
}

fn print_summary(results: &[Outcome]) {
    println!(
        "{:<20} {:>8} {:>12} {:>9} {:>8} {:>10} {:>8}  result",
        "target", "seconds", "executions", "exec/s", "corpus", "corpus KiB", "rss MB"
    );
    for r in results {
        let secs = r.elapsed.as_secs_f64();
        let opt = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
        println!(
            "{:<20} {:>8.0} {:>12} {:>9} {:>8} {:>10} {:>8}  {}",
            r.target,
            secs,
            opt(r.executions),
            opt(r.executions.map(|n| (n as f64 / secs.max(1e-9)) as u64)),
            r.corpus_files,
            r.corpus_bytes / 1024,
            opt(r.peak_rss_mb),
            if r.success { "ok" } else { "FAILED" }
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Seeds

/// Every seed file: path relative to `fuzz/seeds/` → bytes.
///
/// The GGUF seeds (for `parse` and `parse_check_dequant`) are the reference fixtures, the
/// third-party files and the malformed files below. The 724 KB llama vocabulary is stored only
/// for `parse`: it has no tensors, so `parse_check_dequant` would learn nothing more from it.
fn seed_files(root: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut seeds = BTreeMap::new();
    let mut gguf: Vec<(String, Vec<u8>)> = Vec::new();
    for (dir, name) in [
        ("ci/fixtures/qk256", "qk256_4x256_seed42.gguf"),
        ("ci/fixtures/qk256", "qk256_3x300_seed43.gguf"),
        ("ci/fixtures/qk256", "bitnet32f16_2x64_seed44.gguf"),
        ("testdata/third-party", "gguf-py-written.gguf"),
    ] {
        let path = root.join(dir).join(name);
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        gguf.push((name.to_owned(), bytes));
    }
    gguf.extend(malformed());
    for target in ["parse", "parse_check_dequant"] {
        for (name, bytes) in &gguf {
            seeds.insert(format!("{target}/{name}"), bytes.clone());
        }
    }
    let vocab = root.join("testdata/third-party/ggml-vocab-llama-spm.gguf");
    seeds.insert(
        "parse/ggml-vocab-llama-spm.gguf".to_owned(),
        fs::read(&vocab).with_context(|| format!("reading {}", vocab.display()))?,
    );
    for (name, bytes) in kernel_inputs() {
        seeds.insert(format!("kernels_diff/{name}"), bytes);
    }
    for (name, bytes) in writer_inputs() {
        seeds.insert(format!("writer_roundtrip/{name}"), bytes);
    }
    Ok(seeds)
}

fn write_seeds(root: &Path) -> Result<()> {
    let dir = root.join("fuzz/seeds");
    let seeds = seed_files(root)?;
    for target in TARGETS {
        let target_dir = dir.join(target);
        fs::create_dir_all(&target_dir)
            .with_context(|| format!("creating {}", target_dir.display()))?;
        // The directories hold nothing but generated seeds: drop what is no longer generated.
        for path in list_files(&target_dir) {
            let rel = format!(
                "{target}/{}",
                path.file_name().unwrap_or_default().to_string_lossy()
            );
            if !seeds.contains_key(&rel) {
                fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
                println!("removed   {}", path.display());
            }
        }
    }
    let mut total = 0;
    for (rel, bytes) in &seeds {
        let path = dir.join(rel);
        total += bytes.len();
        if fs::read(&path).ok().as_deref() == Some(&bytes[..]) {
            continue;
        }
        fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote     {:>7} bytes  {}", bytes.len(), path.display());
    }
    println!(
        "{} seed files, {total} bytes, in {}",
        seeds.len(),
        dir.display()
    );
    Ok(())
}

fn check_seeds(root: &Path) -> Result<()> {
    let dir = root.join("fuzz/seeds");
    let seeds = seed_files(root)?;
    let mut stale = Vec::new();
    for (rel, bytes) in &seeds {
        let path = dir.join(rel);
        match fs::read(&path) {
            Ok(found) if found == *bytes => {}
            Ok(_) => stale.push(format!("{}: differs", path.display())),
            Err(e) => stale.push(format!("{}: {e}", path.display())),
        }
    }
    for target in TARGETS {
        for path in list_files(&dir.join(target)) {
            let rel = format!(
                "{target}/{}",
                path.file_name().unwrap_or_default().to_string_lossy()
            );
            if !seeds.contains_key(&rel) {
                stale.push(format!("{}: not a generated seed", path.display()));
            }
        }
    }
    if stale.is_empty() {
        return Ok(());
    }
    for line in &stale {
        eprintln!("stale: {line}");
    }
    bail!(
        "{} seed file(s) out of date; run `cargo xtask fuzz --write-seeds` and review the diff",
        stale.len()
    )
}

/// Little-endian GGUF bytes appended field by field (like `bitnet-gguf`'s test helper), so the
/// malformed seeds are spelled out here rather than stored as unexplained blobs.
#[derive(Debug, Default)]
struct Raw(Vec<u8>);

impl Raw {
    fn header(version: u32, tensors: u64, kvs: u64) -> Self {
        let mut r = Raw(b"GGUF".to_vec());
        r.u32(version).u64(tensors).u64(kvs);
        r
    }

    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }

    fn str(&mut self, s: &[u8]) -> &mut Self {
        self.u64(s.len() as u64).bytes(s)
    }

    fn kv_u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.str(key.as_bytes()).u32(4).u32(v)
    }

    fn kv_str(&mut self, key: &str, v: &str) -> &mut Self {
        self.str(key.as_bytes()).u32(8).str(v.as_bytes())
    }

    fn tensor(&mut self, name: &str, ne: &[u64], ggml_type: u32, offset: u64) -> &mut Self {
        self.str(name.as_bytes()).u32(ne.len() as u32);
        for &d in ne {
            self.u64(d);
        }
        self.u32(ggml_type).u64(offset)
    }

    fn pad(&mut self, align: usize) -> &mut Self {
        while !self.0.len().is_multiple_of(align) {
            self.0.push(0);
        }
        self
    }

    fn fill(&mut self, n: usize, byte: u8) -> &mut Self {
        self.0.resize(self.0.len() + n, byte);
        self
    }

    fn done(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

const F32: u32 = 0;
const F16: u32 = 1;
const TQ2_0: u32 = 35;
const I2_S: u32 = 36;

/// Hand-made hostile GGUF files, one per kind of trouble (mirroring
/// `crates/bitnet-gguf/tests/malformed.rs` and the I2_S rules of `bitnet-models`).
fn malformed() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>| out.push((format!("malformed-{name}.gguf"), bytes));

    add("header-only", Raw::header(3, 0, 0).done());
    add("version-2", Raw::header(2, 0, 0).done());
    let mut bytes = Raw::header(3, 0, 0).done();
    bytes[..4].copy_from_slice(b"GGML");
    add("bad-magic", bytes);
    let mut r = Raw(b"GGUF".to_vec());
    r.bytes(&3u32.to_be_bytes()).u64(0).u64(0);
    add("big-endian", r.done());

    // Counts and lengths far beyond a 200-byte file.
    let mut r = Raw::header(3, 1 << 40, 1 << 40);
    let n = 200 - r.0.len();
    add("counts-2e40", r.fill(n, 0).done());
    add(
        "string-2e30",
        Raw::header(3, 0, 1)
            .str(b"k")
            .u32(8)
            .u64(1 << 30)
            .fill(150, b'x')
            .done(),
    );
    add(
        "string-array-2e30",
        Raw::header(3, 0, 1)
            .str(b"k")
            .u32(9)
            .u32(8)
            .u64(1 << 30)
            .fill(150, 0)
            .done(),
    );
    add(
        "u8-array-2e30",
        Raw::header(3, 0, 1)
            .str(b"k")
            .u32(9)
            .u32(0)
            .u64(1 << 30)
            .fill(150, 7)
            .done(),
    );
    add(
        "nested-array",
        Raw::header(3, 0, 1)
            .str(b"k")
            .u32(9)
            .u32(9)
            .u64(1)
            .u32(0)
            .u64(1)
            .bytes(&[1])
            .done(),
    );
    add(
        "key-not-utf8",
        Raw::header(3, 0, 1).str(b"\xff\xfe").u32(4).u32(0).done(),
    );
    add(
        "alignment-zero",
        Raw::header(3, 0, 1).kv_u32("general.alignment", 0).done(),
    );
    add(
        "duplicate-keys",
        Raw::header(3, 0, 3)
            .kv_u32("a", 1)
            .kv_str("a", "again")
            .kv_u32("", 2)
            .done(),
    );

    // Tensor infos: shapes, types and offsets that overflow or do not fit.
    add(
        "element-count-overflow",
        Raw::header(3, 1, 0)
            .tensor("t", &[1 << 32, 1 << 32], F32, 0)
            .pad(32)
            .done(),
    );
    add(
        "dimension-minus-one",
        Raw::header(3, 1, 0)
            .tensor("t", &[u64::MAX], F32, 0)
            .pad(32)
            .done(),
    );
    add(
        "offset-u64-max",
        Raw::header(3, 1, 0)
            .tensor("t", &[8], F32, u64::MAX)
            .pad(32)
            .fill(32, 0)
            .done(),
    );
    add(
        "misordered-tensors",
        Raw::header(3, 2, 0)
            .tensor("a", &[8], F32, 32)
            .tensor("b", &[8], F32, 0)
            .pad(32)
            .fill(64, 0x3f)
            .done(),
    );
    add(
        "unknown-and-removed-types",
        Raw::header(3, 2, 0)
            .tensor("a", &[8], 4, 0)
            .tensor("b", &[8], 9999, 32)
            .pad(32)
            .fill(64, 0)
            .done(),
    );

    // I2_S: both flavors fit 1x160 (64 vs 50 bytes), neither fits 32 bytes of 1x256.
    add(
        "i2s-ambiguous-1x160",
        Raw::header(3, 1, 0)
            .tensor("w", &[160, 1], I2_S, 0)
            .pad(32)
            .fill(64, 0x55)
            .done(),
    );
    add(
        "i2s-size-mismatch",
        Raw::header(3, 1, 0)
            .tensor("w", &[256, 1], I2_S, 0)
            .pad(32)
            .fill(32, 0x55)
            .done(),
    );
    // QK256 2x300 (256 bytes) of code 3 (reserved, and bad padding), with a NaN `.scale`.
    add(
        "i2s-qk256-reserved-nan-scale",
        Raw::header(3, 2, 0)
            .tensor("blk.0.attn_q.weight", &[300, 2], I2_S, 0)
            .tensor("blk.0.attn_q.scale", &[1], F32, 256)
            .pad(32)
            .fill(256, 0xff)
            .bytes(&f32::NAN.to_le_bytes())
            .pad(32)
            .done(),
    );
    // QK256 with a `.scale` sibling of the wrong type and shape.
    add(
        "i2s-qk256-scale-f16-pair",
        Raw::header(3, 2, 0)
            .tensor("x.weight", &[256, 1], I2_S, 0)
            .tensor("x.scale", &[2], F16, 64)
            .pad(32)
            .fill(64, 0x1b)
            .bytes(&[0, 0x3c, 0, 0xbc])
            .pad(32)
            .done(),
    );
    // BitNet32F16 2x64 (4 blocks of 10 bytes) with NaN, infinite, subnormal and -0 scales.
    let mut r = Raw::header(3, 1, 0);
    r.tensor("w", &[64, 2], I2_S, 0).pad(32);
    for d in [0x7e00u16, 0x7c00, 0x0001, 0x8000] {
        r.bytes(&[0x00, 0x55, 0xaa, 0xff, 0x1b, 0xe4, 0x27, 0x72])
            .bytes(&d.to_le_bytes());
    }
    add("i2s-bitnet32f16-odd-scales", r.pad(32).done());
    // TQ2_0 1x256 with every code value and a negative scale.
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[256, 1], TQ2_0, 0).pad(32);
    for i in 0..64u8 {
        r.bytes(&[i.wrapping_mul(37)]);
    }
    add("tq2_0-all-codes", r.bytes(&[0x00, 0xc0]).pad(32).done());

    // A bitnet-b1.58 file whose required keys are missing, mistyped or inconsistent.
    add(
        "bitnet-keys-inconsistent",
        Raw::header(3, 1, 6)
            .kv_str("general.architecture", "bitnet-b1.58")
            .kv_u32("general.name", 7)
            .kv_u32("bitnet-b1.58.embedding_length", 96)
            .kv_u32("bitnet-b1.58.attention.head_count", 0)
            .kv_u32("bitnet-b1.58.attention.head_count_kv", 3)
            .kv_str("bitnet-b1.58.block_count", "two")
            .tensor("blk.7.attn_norm.weight", &[8], F32, 0)
            .pad(32)
            .fill(32, 0)
            .done(),
    );
    out
}

/// Inputs for `kernels_diff`, in the byte layout documented in its source: format, rows, cols
/// (u16 LE), scale bits (u32 LE), unit-scale flag, misalignment, length selector, block bytes.
fn kernel_inputs() -> Vec<(String, Vec<u8>)> {
    let input =
        |format: u8, rows: u8, cols: u16, scale: f32, unit: bool, misalign: u8, blocks: &[u8]| {
            let mut v = vec![format, rows];
            v.extend_from_slice(&cols.to_le_bytes());
            v.extend_from_slice(&scale.to_bits().to_le_bytes());
            v.extend_from_slice(&[u8::from(unit), misalign, 0]);
            v.extend_from_slice(blocks);
            v
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
    ]
}

/// Inputs for `writer_roundtrip`: deterministic pseudo-random bytes (its `Model` is decoded by
/// `arbitrary`, so any bytes are a model; these only give libFuzzer somewhere to start).
fn writer_inputs() -> Vec<(String, Vec<u8>)> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u8
    };
    [64usize, 256, 1024]
        .into_iter()
        .map(|len| (format!("random-{len}"), (0..len).map(|_| next()).collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_up_to_date() {
        check_seeds(&crate::workspace_root()).unwrap();
    }

    #[test]
    fn seeds_stay_small() {
        let total: usize = seed_files(&crate::workspace_root())
            .unwrap()
            .values()
            .map(Vec::len)
            .sum();
        assert!(total < 1_500_000, "{total} bytes of seeds");
    }

    #[test]
    fn reads_final_stats() {
        assert_eq!(
            stat(
                "stat::number_of_executed_units: 123456",
                "stat::number_of_executed_units:"
            ),
            Some(123456)
        );
        assert_eq!(stat("#2 INITED cov: 3", "stat::peak_rss_mb:"), None);
    }

    #[test]
    fn selects_targets_by_name() {
        assert_eq!(select(&[]).unwrap(), TARGETS);
        assert_eq!(select(&["kernels_diff".into()]).unwrap(), ["kernels_diff"]);
        assert!(select(&["nope".into()]).is_err());
    }
}
