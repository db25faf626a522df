//! The reference fixtures (docs/fixtures.md), built in memory, byte-identical on every platform.
//!
//! `cargo xtask gen-fixtures` writes what [`all_files`] returns to `ci/fixtures/qk256/`; tests
//! on any target (wasm and emulators included) call the same builder to prove the committed
//! bytes are exactly what this code produces. `expected.json` beside them lists, for every
//! tensor, the SHA-256 and the first values of its dequantized output — computed here from the
//! drawn weights and scales (`w × scale`, one `f32` multiplication), not by decoding the files.
//!
//! # How values are drawn
//!
//! One `ChaCha8Rng` per file, created with `ChaCha8Rng::from_seed(k)` where `k` is the 32-byte
//! key holding the file's seed as a little-endian `u64` followed by 24 zero bytes. Only raw
//! `next_u32` words are used, in this order:
//!
//! 1. the weights, row-major, one word each: `w = (word % 3) − 1` (−1, 0 or +1);
//! 2. the scales: QK256 (the `.scale` tensor) and bitnetcpp (the tail), one word:
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
use crate::pack::{pack_bitnet32f16, pack_bitnetcpp, pack_qk256};

pub mod products;

/// The directory, relative to the workspace root, the fixtures live in.
pub const FIXTURE_DIR: &str = "ci/fixtures/qk256";
/// The checksum file's name.
pub const CHECKSUMS: &str = "checksums.txt";
/// The expected values file's name.
pub const EXPECTED: &str = "expected.json";
/// The name of the weight tensor in every fixture.
pub const WEIGHT: &str = "blk.0.attn_q.weight";
/// The name of the QK256 scale tensor.
pub const SCALE: &str = "blk.0.attn_q.scale";
/// The name of the norm tensor.
pub const NORM: &str = "blk.0.attn_norm.weight";
/// The tokens every fixture carries in `tokenizer.ggml.tokens`.
pub const TOKENS: [&str; 8] = ["<unk>", "<s>", "</s>", "▁the", "▁a", "é", "0", "1"];

/// One fixture of the table in docs/fixtures.md.
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

/// The four fixtures, sorted by file name.
pub const FIXTURES: [FixtureSpec; 4] = [
    FixtureSpec {
        file_name: "bitnet32f16_2x64_seed44.gguf",
        rows: 2,
        cols: 64,
        flavor: Flavor::BitNet32F16,
        seed: 44,
    },
    FixtureSpec {
        file_name: "bitnetcpp_4x384_seed45.gguf",
        rows: 4,
        cols: 384,
        flavor: Flavor::BitnetCpp,
        seed: 45,
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
    /// QK256: the `.scale` tensor's value; bitnetcpp: the scale in the tail.
    pub tensor_scale: Option<f32>,
    /// BitNet32F16: each block's `d`, row-major.
    pub block_scales: Vec<f16>,
    /// The norm weights, `cols` of them.
    pub norm: Vec<f32>,
}

/// Why a fixture could not be built (a bug in the generator's tables, never the platform).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FixtureError {
    /// The packer refused the drawn weights or scales.
    #[error("packing {WEIGHT}: {0}")]
    Pack(#[from] FormatError),
    /// The writer refused the file.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// `expected.json` could not be written.
    #[error("expected.json: {0}")]
    Json(#[from] serde_json::Error),
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
    let mut tensor_scale = || {
        let word = rng.next_u32();
        let magnitude = f32::from_bits(0x3f00_0000 | (word >> 9));
        if word & 1 == 1 {
            -magnitude
        } else {
            magnitude
        }
    };
    let (data, tensor_scale, block_scales) = match flavor {
        Flavor::Qk256 => {
            let scale = tensor_scale();
            let data = pack_qk256(&weights, rows, cols)?;
            (data, Some(scale), Vec::new())
        }
        Flavor::BitnetCpp => {
            let scale = tensor_scale();
            let data = pack_bitnetcpp(&weights, rows, cols, scale)?;
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
        // This text is part of the committed fixtures' bytes (and so of their pinned hashes): it
        // keeps the name of the contract section it was written against. docs/fixtures.md is
        // the project's description of the fixtures.
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
    if let (Flavor::Qk256, Some(scale)) = (flavor, tensor_scale) {
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

/// Every file of the fixture directory, as `(name, bytes)`, sorted by name: the fixtures,
/// `checksums.txt` (of the fixtures) and `expected.json`.
pub fn all_files() -> Result<Vec<(String, Vec<u8>)>, FixtureError> {
    let built = FIXTURES
        .iter()
        .map(|&spec| build(spec))
        .collect::<Result<Vec<_>, FixtureError>>()?;
    let mut files: Vec<(String, Vec<u8>)> = built
        .iter()
        .map(|f| (f.spec.file_name.to_owned(), f.bytes.clone()))
        .collect();
    let sums = checksums(&files);
    files.push((CHECKSUMS.to_owned(), sums.into_bytes()));
    files.push((EXPECTED.to_owned(), expected_json(&built)?.into_bytes()));
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// The values each tensor of `fixture` dequantizes to, from the drawn ground truth: for the
/// weight `w × scale` (one `f32` multiplication, the block's `d` for BitNet32F16), then the
/// `.scale` tensor (QK256), then the norm. In file order, with the tensor's description.
pub fn expected_values(fixture: &Fixture) -> Vec<(&'static str, &'static str, Vec<u64>, Vec<f32>)> {
    let FixtureSpec {
        rows, cols, flavor, ..
    } = fixture.spec;
    let weights: Vec<f32> = match flavor {
        Flavor::BitNet32F16 => {
            let blocks_per_row = cols.div_ceil(TernaryFormat::BitNet32F16.block_elems());
            fixture
                .weights
                .iter()
                .enumerate()
                .map(|(k, &w)| {
                    let (row, col) = (k / cols, k % cols);
                    let d = fixture.block_scales[row * blocks_per_row + col / 32].to_f32();
                    f32::from(w) * d
                })
                .collect()
        }
        Flavor::Qk256 | Flavor::BitnetCpp => {
            let s = fixture.tensor_scale.unwrap_or(1.0);
            fixture.weights.iter().map(|&w| f32::from(w) * s).collect()
        }
    };
    let (rows64, cols64) = (rows as u64, cols as u64);
    let mut tensors = vec![(WEIGHT, "I2_S", vec![cols64, rows64], weights)];
    if let (Flavor::Qk256, Some(s)) = (flavor, fixture.tensor_scale) {
        tensors.push((SCALE, "F32", vec![1], vec![s]));
    }
    tensors.push((NORM, "F32", vec![cols64], fixture.norm.clone()));
    tensors
}

/// `expected.json`: for every fixture and tensor, what a decoder must produce.
fn expected_json(fixtures: &[Fixture]) -> Result<String, FixtureError> {
    #[derive(serde::Serialize)]
    struct Tensor {
        name: &'static str,
        #[serde(rename = "type")]
        type_name: &'static str,
        ggml_type: u32,
        flavor: Option<&'static str>,
        ne: Vec<u64>,
        #[serde(flatten)]
        values: Values,
        #[serde(skip_serializing_if = "Option::is_none")]
        matmul: Option<Matmul>,
    }
    #[derive(serde::Serialize)]
    struct Values {
        count: usize,
        sha256: String,
        first: Vec<f32>,
        first_bits: Vec<String>,
    }
    #[derive(serde::Serialize)]
    struct Product {
        semantics: &'static str,
        #[serde(flatten, skip_serializing_if = "Option::is_none")]
        y: Option<Values>,
        #[serde(skip_serializing_if = "Option::is_none")]
        not_applicable: Option<String>,
    }
    #[derive(serde::Serialize)]
    struct Input {
        seed: u64,
        #[serde(flatten)]
        x: Values,
        values: Vec<f32>,
    }
    #[derive(serde::Serialize)]
    struct Matmul {
        input: Input,
        products: Vec<Product>,
    }
    #[derive(serde::Serialize)]
    struct File {
        file: &'static str,
        file_sha256: String,
        tensors: Vec<Tensor>,
    }
    let summary = |values: &[f32]| {
        let le: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let first: Vec<f32> = values.iter().take(8).copied().collect();
        Values {
            count: values.len(),
            sha256: sha256_hex(&le),
            first_bits: first
                .iter()
                .map(|v| format!("0x{:08x}", v.to_bits()))
                .collect(),
            first,
        }
    };
    let matmul = |f: &Fixture| {
        let (x, products) = products::fixture_products(f);
        Matmul {
            input: Input {
                seed: f.spec.seed + products::ACTIVATION_SEED_OFFSET,
                x: summary(&x),
                values: x,
            },
            products: products
                .into_iter()
                .map(|(semantics, y)| Product {
                    semantics: semantics.name(),
                    y: y.as_ref().ok().map(|y| summary(y)),
                    not_applicable: y.err().map(|e| e.to_string()),
                })
                .collect(),
        }
    };
    #[derive(serde::Serialize)]
    struct Doc {
        about: &'static str,
        fixtures: Vec<File>,
    }
    let files = fixtures
        .iter()
        .map(|f| File {
            file: f.spec.file_name,
            file_sha256: sha256_hex(&f.bytes),
            tensors: expected_values(f)
                .into_iter()
                .map(|(name, type_name, ne, values)| Tensor {
                    name,
                    type_name,
                    ggml_type: if type_name == "I2_S" {
                        ggml_type::I2_S
                    } else {
                        ggml_type::F32
                    },
                    flavor: (type_name == "I2_S").then(|| f.spec.flavor.name()),
                    ne,
                    values: summary(&values),
                    matmul: (name == WEIGHT).then(|| matmul(f)),
                })
                .collect(),
        })
        .collect();
    let doc = Doc {
        about:
            "Generated by `cargo xtask gen-fixtures` (docs/fixtures.md); do not edit. For every \
                tensor: its dequantized values (scale applied, row-major, without row padding) \
                as f32 -- `sha256` over their little-endian bytes, and the first 8 as numbers \
                and as bit patterns. For the weight, `matmul`: a seeded activation vector \
                (`input`, all its values) and the product y = W x under each semantics \
                (docs/matmul.md), summarized the same way, or why it does not apply.",
        fixtures: files,
    };
    let mut json = serde_json::to_string_pretty(&doc)?;
    json.push('\n');
    Ok(json)
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
