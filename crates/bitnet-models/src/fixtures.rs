//! The reference fixtures of SPEC §3, built in memory, byte-identical on every platform.
//!
//! `cargo xtask gen-fixtures` writes what [`all_files`] returns to `ci/fixtures/qk256/`; tests
//! on any target (wasm and emulators included) call the same builder to prove the committed
//! bytes are exactly what this code produces.
//!
//! # How values are drawn
//!
//! One `ChaCha8Rng` per file, created with `ChaCha8Rng::from_seed(k)` where `k` is the 32-byte
//! key holding the file's seed as a little-endian `u64` followed by 24 zero bytes. Only raw
//! `next_u32` words are used, in this order:
//!
//! 1. the weights, row-major, one word each: `w = (word % 3) − 1` (−1, 0 or +1);
//! 2. the scales: QK256, one word for the `.scale` tensor:
//!    `f32::from_bits(0x3f00_0000 | (word >> 9)) × ±1` — a value in [0.5, 1.0), negated when bit
//!    0 of the word is 1; BitNet32F16, one word per block (row-major), the f16 bits
//!    `0x3400 + ((word >> 16) % 0x0800)` (a value in [0.25, 1.0)) with the sign bit set when bit
//!    0 of the word is 1;
//! 3. the norm weights, one word per column: `1 + ((word >> 16) − 32768) / 2^20`, a value within
//!    1 ± 2^-5 (integer to f32 and the division are exact; the one rounding is IEEE's).
//!
//! No `gen_range`, no distributions, no transcendental functions: nothing whose result could
//! change between rand versions or platforms.

use bitnet_gguf::{ggml_type, BuildError, GgufBuilder, MetadataValue};
use half::f16;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use crate::format::{Flavor, FormatError, TernaryFormat};
use crate::pack::{pack_bitnet32f16, pack_qk256};

/// The directory, relative to the workspace root, the fixtures live in.
pub const FIXTURE_DIR: &str = "ci/fixtures/qk256";
/// The checksum file's name.
pub const CHECKSUMS: &str = "checksums.txt";
/// The name of the weight tensor in every fixture.
pub const WEIGHT: &str = "blk.0.attn_q.weight";
/// The name of the QK256 scale tensor.
pub const SCALE: &str = "blk.0.attn_q.scale";
/// The name of the norm tensor.
pub const NORM: &str = "blk.0.attn_norm.weight";
/// The tokens every fixture carries in `tokenizer.ggml.tokens`.
pub const TOKENS: [&str; 8] = ["<unk>", "<s>", "</s>", "▁the", "▁a", "é", "0", "1"];

/// One fixture of SPEC §3's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixtureSpec {
    /// The file name.
    pub file_name: &'static str,
    /// Rows (`ne[1]`).
    pub rows: usize,
    /// Columns (`ne[0]`).
    pub cols: usize,
    /// The I2_S flavor.
    pub flavor: Flavor,
    /// The ChaCha seed.
    pub seed: u64,
}

/// The three fixtures, sorted by file name.
pub const FIXTURES: [FixtureSpec; 3] = [
    FixtureSpec {
        file_name: "bitnet32f16_2x64_seed44.gguf",
        rows: 2,
        cols: 64,
        flavor: Flavor::BitNet32F16,
        seed: 44,
    },
    FixtureSpec {
        file_name: "qk256_3x300_seed43.gguf",
        rows: 3,
        cols: 300,
        flavor: Flavor::Qk256,
        seed: 43,
    },
    FixtureSpec {
        file_name: "qk256_4x256_seed42.gguf",
        rows: 4,
        cols: 256,
        flavor: Flavor::Qk256,
        seed: 42,
    },
];

impl FixtureSpec {
    /// The file stem (`general.name`).
    pub fn stem(&self) -> &'static str {
        self.file_name
            .strip_suffix(".gguf")
            .unwrap_or(self.file_name)
    }
}

/// A built fixture: its bytes and the values drawn for it (the ground truth tests compare with).
#[derive(Debug, Clone, PartialEq)]
pub struct Fixture {
    /// What it is.
    pub spec: FixtureSpec,
    /// The GGUF file.
    pub bytes: Vec<u8>,
    /// The ternary weights, row-major, `rows × cols`.
    pub weights: Vec<i8>,
    /// QK256: the `.scale` tensor's value.
    pub tensor_scale: Option<f32>,
    /// BitNet32F16: each block's `d`, row-major.
    pub block_scales: Vec<f16>,
    /// The norm weights, `cols` of them.
    pub norm: Vec<f32>,
}

/// Why a fixture could not be built (a bug in the generator's tables, never the platform).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FixtureError {
    /// The packer refused the drawn weights or scales.
    #[error("packing {WEIGHT}: {0}")]
    Pack(#[from] FormatError),
    /// The writer refused the file.
    #[error(transparent)]
    Build(#[from] BuildError),
}

fn rng(seed: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    ChaCha8Rng::from_seed(key)
}

/// Builds one fixture.
pub fn build(spec: FixtureSpec) -> Result<Fixture, FixtureError> {
    let FixtureSpec {
        rows, cols, flavor, ..
    } = spec;
    let mut rng = rng(spec.seed);
    let weights: Vec<i8> = (0..rows * cols)
        .map(|_| (rng.next_u32() % 3) as i8 - 1)
        .collect();
    let (data, tensor_scale, block_scales) = match flavor {
        Flavor::Qk256 => {
            let word = rng.next_u32();
            let magnitude = f32::from_bits(0x3f00_0000 | (word >> 9));
            let scale = if word & 1 == 1 { -magnitude } else { magnitude };
            let data = pack_qk256(&weights, rows, cols)?;
            (data, Some(scale), Vec::new())
        }
        Flavor::BitNet32F16 => {
            let blocks = rows * cols.div_ceil(TernaryFormat::BitNet32F16.block_elems());
            let scales: Vec<f16> = (0..blocks)
                .map(|_| {
                    let word = rng.next_u32();
                    let bits = 0x3400 + ((word >> 16) % 0x0800) as u16;
                    f16::from_bits(bits | (((word & 1) as u16) << 15))
                })
                .collect();
            let data = pack_bitnet32f16(&weights, rows, cols, &scales)?;
            (data, None, scales)
        }
    };
    let norm: Vec<f32> = (0..cols)
        .map(|_| 1.0 + ((rng.next_u32() >> 16) as f32 - 32768.0) / (1u32 << 20) as f32)
        .collect();

    let (rows64, cols64) = (rows as u64, cols as u64);
    let mut b = GgufBuilder::new();
    b.kv("general.architecture", "bitnet-b1.58")
        .kv("general.name", spec.stem())
        .kv("general.alignment", 32u32)
        .kv(
            "general.description",
            "BitNet I2_S reference fixture, generated by `cargo xtask gen-fixtures` (SPEC section 3); do not edit",
        )
        .kv("tokenizer.ggml.tokens", MetadataValue::strings(TOKENS))
        .kv("bitnet-b1.58.embedding_length", cols64 as u32)
        .kv("bitnet-b1.58.block_count", 1u32)
        .kv("bitnet-b1.58.attention.head_count", 1u32)
        .kv("bitnet-b1.58.attention.head_count_kv", 1u32)
        .kv("bitnet-b1.58.feed_forward_length", 2 * cols64 as u32);
    b.tensor(WEIGHT, &[cols64, rows64], ggml_type::I2_S, data);
    if let Some(scale) = tensor_scale {
        b.tensor(SCALE, &[1], ggml_type::F32, scale.to_le_bytes().to_vec());
    }
    b.tensor(
        NORM,
        &[cols64],
        ggml_type::F32,
        norm.iter().flat_map(|v| v.to_le_bytes()).collect(),
    );
    Ok(Fixture {
        spec,
        bytes: b.build()?,
        weights,
        tensor_scale,
        block_scales,
        norm,
    })
}

/// The lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `checksums.txt` for `(name, bytes)` pairs: `sha256sum` lines sorted by name.
pub fn checksums(files: &[(String, Vec<u8>)]) -> String {
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted
        .iter()
        .map(|(name, bytes)| format!("{}  {name}\n", sha256_hex(bytes)))
        .collect()
}

/// Every file of the fixture directory, as `(name, bytes)`, sorted by name: the three fixtures
/// and `checksums.txt`.
pub fn all_files() -> Result<Vec<(String, Vec<u8>)>, FixtureError> {
    let mut files = FIXTURES
        .iter()
        .map(|&spec| Ok((spec.file_name.to_owned(), build(spec)?.bytes)))
        .collect::<Result<Vec<_>, FixtureError>>()?;
    let sums = checksums(&files);
    files.push((CHECKSUMS.to_owned(), sums.into_bytes()));
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// Compares [`all_files`] with the files in `dir`: the names of those missing or different,
/// empty when the directory is up to date. Other files in `dir` (its README) are ignored.
pub fn stale_files(dir: &std::path::Path) -> Result<Vec<String>, FixtureError> {
    Ok(all_files()?
        .into_iter()
        .filter(|(name, bytes)| std::fs::read(dir.join(name)).ok().as_ref() != Some(bytes))
        .map(|(name, _)| name)
        .collect())
}
