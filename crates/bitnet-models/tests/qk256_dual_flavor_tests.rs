//! The flavor suite: the committed fixtures (`ci/fixtures/qk256/`), one per I2_S flavor and shape
//! of interest, embedded by `bitnet_testkit::fixtures` so the suite needs no file system and runs
//! under wasm and emulators. Decoding is checked against an independent decoder written here from
//! the layouts in docs/formats.md.
//!
//! The tests that need the fixture generator (`bitnet_models::fixtures`) are gated on the
//! `fixtures` feature; everything that only reads the committed files runs without it.
//!
//! Each test's `// AC:` line names what it proves.

#[path = "helpers/alignment_validator.rs"]
mod alignment_validator;

use std::io::Write;

use bitnet_gguf::{ggml_type, Gguf, GgufBuilder, Value, ValueType};
use bitnet_models::{
    has_errors, Flavor, FlavorError, Kernel, KernelKind, Model, ModelError, TernaryFormat,
};
use bitnet_testkit::fixtures::{get as embedded, CHECKSUMS};
use half::f16;
use sha2::{Digest, Sha256};

/// The fixtures as docs/fixtures.md lists them: file, rows, columns, flavor.
const FIXTURES: [(&str, usize, usize, Flavor); 4] = [
    ("bitnet32f16_2x64_seed44.gguf", 2, 64, Flavor::BitNet32F16),
    ("bitnetcpp_4x384_seed45.gguf", 4, 384, Flavor::BitnetCpp),
    ("qk256_3x300_seed43.gguf", 3, 300, Flavor::Qk256),
    ("qk256_4x256_seed42.gguf", 4, 256, Flavor::Qk256),
];

/// The names of the three tensors every fixture has, or may have.
const WEIGHT: &str = "blk.0.attn_q.weight";
const SCALE: &str = "blk.0.attn_q.scale";
const NORM: &str = "blk.0.attn_norm.weight";

/// The tokens every fixture carries (docs/fixtures.md).
const TOKENS: [&str; 8] = ["<unk>", "<s>", "</s>", "▁the", "▁a", "é", "0", "1"];

/// A fixture: its table row and its bytes.
struct Fixture {
    name: &'static str,
    rows: usize,
    cols: usize,
    flavor: Flavor,
    bytes: &'static [u8],
}

fn all() -> impl Iterator<Item = Fixture> {
    FIXTURES
        .into_iter()
        .map(|(name, rows, cols, flavor)| Fixture {
            name,
            rows,
            cols,
            flavor,
            bytes: embedded(name),
        })
}

fn fixture(name: &str) -> Fixture {
    all().find(|f| f.name == name).expect("a fixture")
}

fn model(bytes: &[u8]) -> Model<'_> {
    Model::new(Gguf::load(bytes).expect("loads"))
}

fn weight_index(m: &Model<'_>) -> usize {
    m.index_of(WEIGHT).expect("weight tensor")
}

/// Writes straight to stderr, past libtest's capture, so a skipped check shows in every run.
fn note(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// The code → weight table of docs/formats.md.
fn weight_of(code: u8) -> f32 {
    [-1.0, 0.0, 1.0, 0.0][usize::from(code)]
}

/// The stored size of a `rows × cols` tensor in `flavor`, written out from docs/formats.md.
fn flavor_size(flavor: Flavor, rows: usize, cols: usize) -> usize {
    match flavor {
        Flavor::Qk256 => rows * cols.div_ceil(256) * 64,
        Flavor::BitNet32F16 => rows * cols.div_ceil(32) * 10,
        Flavor::BitnetCpp => rows * cols / 4 + 32,
    }
}

/// An independent decoder, straight from the bit layouts of docs/formats.md: the weight
/// (−1, 0, +1) and the scale of element (row, col) of the stored bytes `data`.
fn decode_element(
    flavor: Flavor,
    data: &[u8],
    cols: usize,
    (row, col): (usize, usize),
    tensor_scale: f32,
) -> (f32, f32) {
    match flavor {
        Flavor::Qk256 => {
            let row_bytes = cols.div_ceil(256) * 64;
            let (block, e) = (col / 256, col % 256);
            let byte = data[row * row_bytes + block * 64 + (e / 128) * 32 + e % 32];
            (
                weight_of((byte >> (2 * ((e % 128) / 32))) & 3),
                tensor_scale,
            )
        }
        Flavor::BitNet32F16 => {
            let row_bytes = cols.div_ceil(32) * 10;
            let (block, e) = (col / 32, col % 32);
            let base = row * row_bytes + block * 10;
            let code = (data[base + e % 8] >> (2 * (e / 8))) & 3;
            let d = f16::from_le_bytes([data[base + 8], data[base + 9]]).to_f32();
            (weight_of(code), d)
        }
        Flavor::BitnetCpp => {
            let k = row * cols + col;
            let byte = data[32 * (k / 128) + k % 32];
            (
                weight_of((byte >> (6 - 2 * ((k % 128) / 32))) & 3),
                tensor_scale,
            )
        }
    }
}

/// The fixture's weight tensor as stored, and its tensor scale read straight from the bytes: the
/// `.scale` tensor (QK256), the tail (bitnetcpp), or 1.0.
fn stored_weight(f: &Fixture) -> (&'static [u8], f32) {
    let g = Gguf::load(f.bytes).unwrap();
    let (i, _) = g.tensor(WEIGHT).unwrap();
    let start = g.tensor_start(i).unwrap() as usize;
    let size = flavor_size(f.flavor, f.rows, f.cols);
    let data = &f.bytes[start..start + size];
    let scale = match (f.flavor, g.tensor(SCALE)) {
        (Flavor::BitnetCpp, _) => {
            let at = f.rows * f.cols / 4;
            f32::from_le_bytes(data[at..at + 4].try_into().unwrap())
        }
        (_, Some((si, _))) => f32::from_le_bytes(g.tensor_data(si).unwrap().try_into().unwrap()),
        (_, None) => 1.0,
    };
    (data, scale)
}

/// What the independent decoder says every value of the fixture's weight is.
fn independent_values(f: &Fixture) -> Vec<f32> {
    let (data, scale) = stored_weight(f);
    (0..f.rows * f.cols)
        .map(|k| {
            let (w, s) = decode_element(f.flavor, data, f.cols, (k / f.cols, k % f.cols), scale);
            w * s
        })
        .collect()
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn test_qk256_detection_by_size() {
    // AC: a 4×256 I2_S tensor of 256 bytes is detected as QK256 by size alone, and each 64-byte row decodes to its own 256 values.
    let f = fixture("qk256_4x256_seed42.gguf");
    let m = model(f.bytes);
    let i = weight_index(&m);
    assert_eq!(m.gguf().tensors()[i].ggml_type, ggml_type::I2_S);
    assert_eq!(m.gguf().tensors()[i].ne(), [256, 4]);
    assert_eq!(m.flavor(i).unwrap(), Some(Flavor::Qk256));
    // 4 rows × 64 B = 256 B available, exactly QK256's size; BitNet32F16 would need 320,
    // bitnetcpp 288.
    assert_eq!(m.gguf().tensor_span(i).len(), 256);
    let out = m.decode(i, Kernel::scalar()).unwrap();
    assert_eq!(out.len(), 4 * 256);
    // Row r is bytes 64r .. 64r + 64: decoded on their own, as a 1×256 tensor, they give
    // exactly values 256r .. 256r + 256.
    let (data, scale) = stored_weight(&f);
    for (row, bytes) in data.chunks_exact(64).enumerate() {
        let alone: Vec<f32> = (0..256)
            .map(|col| {
                let (w, s) = decode_element(Flavor::Qk256, bytes, 256, (0, col), scale);
                w * s
            })
            .collect();
        assert_eq!(bits(&out[row * 256..][..256]), bits(&alone), "row {row}");
    }
}

#[test]
fn test_qk256_with_non_multiple_cols() {
    // AC: 3×300 is QK256 with rows padded to 2 blocks (128 B stride); padding is code 1 and never output.
    let f = fixture("qk256_3x300_seed43.gguf");
    let m = model(f.bytes);
    let i = weight_index(&m);
    assert_eq!(m.flavor(i).unwrap(), Some(Flavor::Qk256));
    assert_eq!(m.gguf().tensor_span(i).len(), 3 * 128);
    let out = m.decode(i, Kernel::scalar()).unwrap();
    assert_eq!(out.len(), 3 * 300, "no padding in the output");
    let (data, scale) = stored_weight(&f);
    // Every padding element (columns 300..512 of each row) holds code 1.
    for row in 0..3 {
        for col in 300..512 {
            let (block, e) = (col / 256, col % 256);
            let byte = data[row * 128 + block * 64 + (e / 128) * 32 + e % 32];
            assert_eq!(
                (byte >> (2 * ((e % 128) / 32))) & 3,
                1,
                "padding at ({row}, {col})"
            );
        }
    }
    // Each row of output comes from its own 128 bytes: row r starts at element 300r.
    for row in 0..3 {
        for col in 0..300 {
            let (w, s) = decode_element(Flavor::Qk256, data, 300, (row, col), scale);
            assert_eq!(
                out[row * 300 + col].to_bits(),
                (w * s).to_bits(),
                "({row}, {col})"
            );
        }
    }
}

#[test]
fn test_bitnet32f16_detection_by_size() {
    // AC: a 2×64 I2_S tensor of 40 bytes (4 blocks of 10, each with its own d) is detected as BitNet32F16.
    let f = fixture("bitnet32f16_2x64_seed44.gguf");
    let m = model(f.bytes);
    let i = weight_index(&m);
    assert_eq!(m.flavor(i).unwrap(), Some(Flavor::BitNet32F16));
    // 40 bytes padded to 64 are available; QK256 would need 128, bitnetcpp 64 (but 64 columns
    // are not a multiple of 128, so bitnetcpp cannot hold the shape).
    assert_eq!(m.gguf().tensor_span(i).len(), 64);
    assert!(
        m.gguf().tensor(SCALE).is_none(),
        "blocks carry their own scales"
    );
    // 2 rows × 2 blocks of 10 bytes: the 40 bytes the tensor resolves to.
    let (data, _) = stored_weight(&f);
    assert_eq!(m.ternary(i).unwrap().unwrap().data, data);
    assert_eq!(data.len(), 2 * 2 * 10);
    // Each of the 4 blocks scales its own 32 values by its own d: the four differ, so a value
    // scaled by another block's d would show.
    let ds: Vec<u16> = data
        .chunks_exact(10)
        .map(|b| u16::from_le_bytes([b[8], b[9]]))
        .collect();
    for (a, x) in ds.iter().enumerate() {
        assert!(ds[a + 1..].iter().all(|y| y != x), "d values {ds:04x?}");
    }
    let out = m.decode(i, Kernel::scalar()).unwrap();
    for (b, block) in data.chunks_exact(10).enumerate() {
        let d = f16::from_le_bytes([block[8], block[9]]).to_f32();
        for e in 0..32 {
            let w = weight_of((block[e % 8] >> (2 * (e / 8))) & 3);
            assert_eq!(
                out[b * 32 + e].to_bits(),
                (w * d).to_bits(),
                "block {b} element {e}"
            );
        }
    }
}

#[test]
fn test_bitnetcpp_detection_by_size() {
    // AC: a 4×384 I2_S tensor of 416 bytes (384 code bytes, then a 32-byte tail) is detected as bitnetcpp, 128-aligned but not 256-aligned.
    let f = fixture("bitnetcpp_4x384_seed45.gguf");
    let m = model(f.bytes);
    let i = weight_index(&m);
    assert_eq!(m.gguf().tensors()[i].ne(), [384, 4]);
    assert_eq!(m.flavor(i).unwrap(), Some(Flavor::BitnetCpp));
    // 416 bytes available: QK256 would need 4 × 2 × 64 = 512, BitNet32F16 4 × 12 × 10 = 480.
    assert_eq!(m.gguf().tensor_span(i).len(), 416);
    assert_eq!(m.byte_size(i), Some(416));
    let out = m.decode(i, Kernel::scalar()).unwrap();
    assert_eq!(bits(&out), bits(&independent_values(&f)));
}

#[test]
fn test_bitnetcpp_scale_comes_from_the_tail() {
    // AC: the bitnetcpp scale is the f32 at byte n/4 of the tensor; the 28 bytes after it are ignored; a negative scale is valid, a non-finite one an error, a `.scale` sibling a warning.
    let f = fixture("bitnetcpp_4x384_seed45.gguf");
    let (data, scale) = stored_weight(&f);
    assert_ne!(scale, 1.0, "a scale of 1.0 would prove nothing");
    let m = model(f.bytes);
    let i = weight_index(&m);
    let t = m.ternary(i).unwrap().unwrap();
    assert_eq!(t.scale.to_bits(), scale.to_bits());
    assert_eq!(t.data, &data[..384]);
    assert_eq!(t.stored, data);

    // One tensor, 1 × 2560 (a size only bitnetcpp fits), in a file of its own, its tail changed.
    let weights: Vec<i8> = (0..2560).map(|k| (k % 3) as i8 - 1).collect();
    let file = |tail: &[u8], sibling: bool| {
        let mut stored = bitnet_models::pack_bitnetcpp(&weights, 1, 2560, 1.0).unwrap();
        stored.truncate(640);
        stored.extend_from_slice(tail);
        let mut b = GgufBuilder::new();
        b.tensor("w.weight", &[2560, 1], ggml_type::I2_S, stored);
        if sibling {
            b.tensor(
                "w.scale",
                &[1],
                ggml_type::F32,
                2.0f32.to_le_bytes().to_vec(),
            );
        }
        b.build().unwrap()
    };
    let tail = |scale: f32, garbage: u8| {
        let mut t = scale.to_le_bytes().to_vec();
        t.extend([garbage; 28]);
        t
    };
    // A garbage tail past the scale, and a negative scale: valid, w × scale.
    let bytes = file(&tail(-0.75, 0xA5), false);
    let m = model(&bytes);
    assert!(m.check().is_empty(), "{:?}", m.check());
    let out = m.decode(0, Kernel::scalar()).unwrap();
    for (k, v) in out.iter().enumerate() {
        assert_eq!(
            v.to_bits(),
            (f32::from(weights[k]) * -0.75).to_bits(),
            "value {k}"
        );
    }
    // NaN and infinite scales: an error naming the tail's offset.
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let bytes = file(&tail(bad, 0), false);
        let m = model(&bytes);
        let start = m.gguf().tensor_start(0).unwrap();
        let findings = m.check();
        assert!(
            matches!(
                &findings[..],
                [ModelError::TailScaleNotFinite { offset, .. }] if *offset == start + 640
            ),
            "{bad}: {findings:?}"
        );
        assert!(m.decode(0, Kernel::scalar()).is_err());
    }
    // A `.scale` sibling is ignored, with a warning; the tail's scale applies.
    let bytes = file(&tail(0.5, 0), true);
    let m = model(&bytes);
    let findings = m.check();
    assert!(
        matches!(&findings[..], [ModelError::ScaleIgnored { tensor, .. }] if tensor == "w.scale"),
        "{findings:?}"
    );
    assert!(!has_errors(&findings));
    assert_eq!(m.decode(0, Kernel::scalar()).unwrap()[0], -0.5);
}

#[test]
fn test_fixture_checksums_match() {
    // AC: the SHA-256 of every embedded fixture equals its line in checksums.txt, one line per fixture, sorted by name.
    let lines: Vec<&str> = CHECKSUMS.lines().collect();
    assert_eq!(lines.len(), FIXTURES.len());
    let mut names = Vec::new();
    for line in lines {
        let (hash, name) = line
            .split_once("  ")
            .expect("sha256sum format: <hex>  <name>");
        assert_eq!(hash.len(), 64);
        assert_eq!(hex::encode(Sha256::digest(embedded(name))), hash, "{name}");
        names.push(name);
    }
    let listed: Vec<&str> = FIXTURES.iter().map(|f| f.0).collect();
    assert_eq!(names, listed, "sorted by name, every fixture");
}

#[cfg(feature = "fixtures")]
#[test]
fn test_fixtures_regenerate_identically() {
    // AC: the in-memory builder reproduces every embedded byte, checksums.txt and expected.json included, and its table is docs/fixtures.md's.
    use bitnet_models::fixtures;
    let table: Vec<(&str, usize, usize, Flavor)> = fixtures::FIXTURES
        .iter()
        .map(|s| (s.file_name, s.rows, s.cols, s.flavor))
        .collect();
    assert_eq!(table, FIXTURES);
    let files = fixtures::all_files().unwrap();
    assert_eq!(files.len(), FIXTURES.len() + 2);
    for (name, bytes) in &files {
        let committed = match name.as_str() {
            fixtures::CHECKSUMS => CHECKSUMS.as_bytes(),
            fixtures::EXPECTED => EXPECTED_JSON.as_bytes(),
            other => embedded(other),
        };
        let first_diff = bytes.iter().zip(committed).position(|(a, b)| a != b);
        assert_eq!(bytes.len(), committed.len(), "{name}: length");
        assert_eq!(first_diff, None, "{name}: first differing byte");
    }
}

#[test]
fn test_gguf_v3_header_and_alignment() {
    // AC: magic, version 3, general.alignment = 32 (UINT32), data section and every tensor 32-aligned, padding zero.
    for f in all() {
        assert_eq!(&f.bytes[..4], b"GGUF", "{}", f.name);
        assert_eq!(u32::from_le_bytes(f.bytes[4..8].try_into().unwrap()), 3);
        let g = Gguf::load(f.bytes).unwrap();
        assert_eq!(g.get("general.alignment"), Some(Value::U32(32)));
        assert_eq!(g.alignment(), 32);
        assert_eq!(g.data_offset() % 32, 0);
        assert!(g.tensors().iter().all(|t| t.offset % 32 == 0));
        alignment_validator::assert_aligned_layout(f.bytes, f.flavor);
    }
}

#[test]
fn test_required_metadata_keys() {
    // AC: all required keys present with the right types and consistent with the shapes; no findings at all.
    for f in all() {
        let m = model(f.bytes);
        let g = m.gguf();
        let u32_of = |key: &str| match g.get(key) {
            Some(Value::U32(v)) => v,
            other => panic!("{}: {key} = {other:?}", f.name),
        };
        assert_eq!(
            g.get("general.architecture"),
            Some(Value::String("bitnet-b1.58"))
        );
        let stem = f.name.strip_suffix(".gguf").unwrap();
        assert_eq!(g.get("general.name"), Some(Value::String(stem)));
        let tokens = g.get("tokenizer.ggml.tokens").unwrap();
        let tokens = tokens.as_array().unwrap();
        assert_eq!(tokens.elem_type(), ValueType::String);
        assert_eq!(tokens.strings().unwrap().collect::<Vec<_>>(), TOKENS);
        assert_eq!(u32_of("bitnet-b1.58.embedding_length") as usize, f.cols);
        assert_eq!(u32_of("bitnet-b1.58.block_count"), 1);
        let heads = u32_of("bitnet-b1.58.attention.head_count");
        assert_eq!(f.cols % heads as usize, 0);
        assert_eq!(heads % u32_of("bitnet-b1.58.attention.head_count_kv"), 0);
        assert!(u32_of("bitnet-b1.58.feed_forward_length") > 0);
        assert_eq!(g.tensor(NORM).unwrap().1.ne(), [f.cols as u64]);
        let findings = m.check();
        assert!(findings.is_empty(), "{}: {findings:?}", f.name);
    }
}

#[test]
fn test_all_kernels_match_reference_on_fixtures() {
    // AC: every SIMD kernel this CPU has decodes every fixture to the scalar reference's bits; a kernel it lacks is reported as skipped on stderr, and scalar is never compared with itself.
    let simd: Vec<Kernel> = KernelKind::ALL
        .into_iter()
        .filter(|&kind| kind != KernelKind::Scalar)
        .filter_map(|kind| {
            let kernel = Kernel::detect(kind);
            if kernel.is_none() {
                note(&format!(
                    "kernel {}: skipped (this CPU or target lacks it)",
                    kind.name()
                ));
            }
            kernel
        })
        .collect();
    if simd.is_empty() {
        note("kernel parity on the fixtures: skipped, no SIMD kernel on this target");
    }
    for f in all() {
        let m = model(f.bytes);
        let i = weight_index(&m);
        let reference = bits(&m.decode(i, Kernel::scalar()).unwrap());
        for kernel in &simd {
            let out = bits(&m.decode(i, *kernel).unwrap());
            assert_eq!(out, reference, "{} on {}", kernel.name(), f.name);
        }
    }
}

/// SHA-256 of every output value (little-endian f32 bits, row-major), pinned when the fixtures
/// were generated. The values were computed by a separate Python decoder written from the
/// layouts of docs/formats.md (struct-packed f32, `copysign` for the zero weights), not by this
/// crate, and agreed with it. Any change to codes, scales or decoding shows up here.
const GOLDEN_OUTPUT_SHA256: [(&str, &str); 4] = [
    (
        "bitnet32f16_2x64_seed44.gguf",
        "4e0c6c99ee312837fd51bcc7b2f58dc34fd5fff2a41dd0583d59820c584e25ef",
    ),
    (
        "bitnetcpp_4x384_seed45.gguf",
        "3c1b86e553de859685a4755da1365bb6f78a69ec9251e15a9e1a9cc7a2371763",
    ),
    (
        "qk256_3x300_seed43.gguf",
        "de6c7c6bcdefcd52e8e0c18f0e51083f4b9482f5edb27615d96b7d53ac7f54cd",
    ),
    (
        "qk256_4x256_seed42.gguf",
        "dc87652e4fc5bb82bd9533e6769a58051ca296483799e1e2a03dcad0d71601a8",
    ),
];

fn sha256_of_values(values: &[f32]) -> String {
    let mut hasher = Sha256::new();
    for v in values {
        hasher.update(v.to_le_bytes());
    }
    hex::encode(hasher.finalize())
}

#[test]
fn test_dequant_golden_values() {
    // AC: every output value equals the layout decoded independently in this test, and the output hash is pinned.
    for f in all() {
        let m = model(f.bytes);
        let i = weight_index(&m);
        let out = m.decode(i, Kernel::selected().unwrap()).unwrap();
        assert_eq!(bits(&out), bits(&independent_values(&f)), "{}", f.name);
        let pinned = GOLDEN_OUTPUT_SHA256
            .iter()
            .find(|(n, _)| *n == f.name)
            .unwrap()
            .1;
        assert_eq!(sha256_of_values(&out), pinned, "{}: output hash", f.name);
    }
}

/// The committed `expected.json`, for loaders in other languages.
const EXPECTED_JSON: &str = include_str!("../../../ci/fixtures/qk256/expected.json");

#[test]
fn test_expected_json_matches_the_decoders() {
    // AC: for every fixture and tensor, expected.json's type, flavor, shape, value hash and first 8 values are what this crate and the independent decoder produce.
    let doc: serde_json::Value = serde_json::from_str(EXPECTED_JSON).unwrap();
    let files = doc["fixtures"].as_array().unwrap();
    assert_eq!(files.len(), FIXTURES.len());
    for (entry, f) in files.iter().zip(all()) {
        assert_eq!(entry["file"], f.name);
        assert_eq!(entry["file_sha256"], hex::encode(Sha256::digest(f.bytes)));
        let m = model(f.bytes);
        let names: Vec<&str> = m.gguf().tensors().iter().map(|t| t.name).collect();
        let tensors = entry["tensors"].as_array().unwrap();
        assert_eq!(tensors.len(), names.len(), "{}", f.name);
        for (t, name) in tensors.iter().zip(names) {
            let i = m.index_of(name).unwrap();
            let info = &m.gguf().tensors()[i];
            assert_eq!(t["name"], name);
            assert_eq!(t["ggml_type"], info.ggml_type);
            assert_eq!(t["type"], info.type_info().name());
            assert_eq!(t["ne"], serde_json::json!(info.ne()));
            let flavor = m.flavor(i).unwrap().map(Flavor::name);
            assert_eq!(t["flavor"], serde_json::json!(flavor));
            let values = m.decode(i, Kernel::scalar()).unwrap();
            if name == WEIGHT {
                assert_eq!(bits(&values), bits(&independent_values(&f)));
            }
            assert_eq!(t["count"], values.len());
            assert_eq!(t["sha256"], sha256_of_values(&values), "{} {name}", f.name);
            let first: Vec<String> = values
                .iter()
                .take(8)
                .map(|v| format!("0x{:08x}", v.to_bits()))
                .collect();
            assert_eq!(t["first_bits"], serde_json::json!(first));
            let numbers: Vec<f32> = t["first"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(bits(&numbers), bits(&values[..numbers.len()]));
        }
    }
}

#[test]
fn test_all_ternary_values_present() {
    // AC: each fixture holds −1, 0 and +1 weights, and its output has negative, zero and positive values.
    for f in all() {
        let (data, _) = stored_weight(&f);
        let mut seen = [false; 3];
        for k in 0..f.rows * f.cols {
            let (w, _) = decode_element(f.flavor, data, f.cols, (k / f.cols, k % f.cols), 1.0);
            seen[(w + 1.0) as usize] = true;
        }
        assert_eq!(seen, [true; 3], "{}", f.name);
        let m = model(f.bytes);
        let out = m.decode(weight_index(&m), Kernel::scalar()).unwrap();
        assert!(
            out.iter().any(|&v| v < 0.0) && out.iter().any(|&v| v > 0.0) && out.contains(&0.0),
            "{}",
            f.name
        );
    }
}

#[cfg(feature = "fixtures")]
#[test]
fn test_qk256_scale_tensor_applied() {
    // AC: QK256 output is w × s with s the F32 `.scale` sibling (not 1.0) and w the weight the generator drew, for every element.
    use bitnet_models::fixtures::{build, FIXTURES as SPECS};
    for spec in SPECS.iter().filter(|s| s.flavor == Flavor::Qk256) {
        let f = fixture(spec.file_name);
        let m = model(f.bytes);
        let i = weight_index(&m);
        let (si, st) = m
            .gguf()
            .tensor(SCALE)
            .expect("QK256 fixtures carry a scale tensor");
        assert_eq!((st.ggml_type, st.ne()), (ggml_type::F32, &[1u64][..]));
        let s = f32::from_le_bytes(m.gguf().tensor_data(si).unwrap().try_into().unwrap());
        assert_ne!(s, 1.0, "{}: a scale of 1.0 would prove nothing", f.name);
        assert_eq!(m.qk256_scale(i).unwrap().to_bits(), s.to_bits());
        let truth = build(*spec).unwrap();
        assert_eq!(truth.tensor_scale.map(f32::to_bits), Some(s.to_bits()));
        let out = m.decode(i, Kernel::selected().unwrap()).unwrap();
        for (k, o) in out.iter().enumerate() {
            let want = f32::from(truth.weights[k]) * s;
            assert_eq!(o.to_bits(), want.to_bits(), "{} element {k}", f.name);
        }
    }
}

#[test]
fn test_fixture_description_cites_a_document_of_the_project() {
    // The description names where the fixtures are described: a file of this repository.
    for f in all() {
        let m = model(f.bytes);
        let text = m
            .gguf()
            .get("general.description")
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("{}: no general.description", f.name));
        assert!(!text.contains("SPEC"), "{}: {text}", f.name);
        let cited = text
            .split(['(', ')'])
            .find(|p| p.starts_with("docs/"))
            .unwrap_or_else(|| panic!("{}: cites no docs/ file: {text}", f.name));
        assert_eq!(cited, "docs/fixtures.md", "{}", f.name);
        // The file exists: it is compiled in (the tests also run where there is no file system).
        const FIXTURES_DOC: &str = include_str!("../../../docs/fixtures.md");
        assert!(
            FIXTURES_DOC.starts_with("# Reference fixtures"),
            "{}",
            f.name
        );
    }
}

#[test]
fn test_truncated_fixture_is_rejected() {
    // AC: every fixture cut at every 32-byte boundary is invalid: a structural parse error, or validation errors; each tensor decodes exactly when the cut is past its end (the weight: and past its `.scale` tensor's), and then to the full file's values.
    for f in all() {
        let full = model(f.bytes);
        // Per tensor: its name, the end of the bytes its values need, and its values. Sizes
        // from docs/formats.md: the weight's flavor size; F32 tensors 4 bytes a value.
        let needed: Vec<(&str, usize, Vec<u32>)> = full
            .gguf()
            .tensors()
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let start = full.gguf().tensor_start(i).unwrap() as usize;
                let end = if t.name == WEIGHT {
                    let weight_end = start + flavor_size(f.flavor, f.rows, f.cols);
                    // A QK256 weight also needs its scale: its 4 bytes must be there too.
                    match full.gguf().tensor(SCALE) {
                        Some((si, _)) => {
                            weight_end.max(full.gguf().tensor_start(si).unwrap() as usize + 4)
                        }
                        None => weight_end,
                    }
                } else {
                    assert_eq!(t.ggml_type, ggml_type::F32, "{} {}", f.name, t.name);
                    start + 4 * t.ne().iter().product::<u64>() as usize
                };
                (
                    t.name,
                    end,
                    bits(&full.decode(i, Kernel::scalar()).unwrap()),
                )
            })
            .collect();
        assert_eq!(needed.len(), 2 + usize::from(f.flavor == Flavor::Qk256));
        for cut in (0..f.bytes.len()).step_by(32) {
            let bytes = &f.bytes[..cut];
            let g = match Gguf::parse(bytes) {
                Err(e) => {
                    use bitnet_gguf::GgufError::*;
                    assert!(
                        matches!(
                            e,
                            Truncated { .. } | CountExceedsFile { .. } | ArrayExceedsFile { .. }
                        ),
                        "{} cut at {cut}: {e:?}",
                        f.name
                    );
                    assert!(e.location().offset.is_some_and(|o| o <= cut as u64), "{e}");
                    continue;
                }
                Ok(g) => g,
            };
            let m = Model::new(g);
            let findings = m.check();
            assert!(
                has_errors(&findings),
                "{} cut at {cut}: no error in {findings:?}",
                f.name
            );
            for (name, end, want) in &needed {
                let Ok(i) = m.index_of(name) else {
                    panic!("{} cut at {cut}: the info of {name} parses", f.name);
                };
                match m.decode(i, Kernel::scalar()) {
                    Ok(values) => {
                        assert!(
                            cut >= *end,
                            "{} cut at {cut}: decoded {name}, which ends at {end}",
                            f.name
                        );
                        assert_eq!(&bits(&values), want, "{} cut at {cut}: {name}", f.name);
                    }
                    Err(e) => assert!(
                        cut < *end,
                        "{} cut at {cut}: {name}, which ends at {end}, did not decode: {e}",
                        f.name
                    ),
                }
            }
        }
    }
}

#[test]
fn test_detection_never_guesses_on_ambiguous_or_wrong_sizes() {
    // AC: a tensor whose size fits several flavors (1×160, 1×128, 1×512) is an Ambiguous error naming the candidates; a size no flavor fits is a SizeMismatch naming every size.
    let build = |cols: u64, len: usize| {
        let mut b = GgufBuilder::new();
        b.tensor("t.weight", &[cols, 1], ggml_type::I2_S, vec![0x55; len]);
        b.build().unwrap()
    };
    let candidates = |bytes: &[u8]| match model(bytes).flavor(0) {
        Err(ModelError::Flavor {
            source: FlavorError::Ambiguous { candidates, .. },
            ..
        }) => candidates.iter().collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    use Flavor::*;
    assert_eq!(
        candidates(&build(160, 64)),
        [(Qk256, 64), (BitNet32F16, 50)]
    );
    assert_eq!(
        candidates(&build(128, 64)),
        [(Qk256, 64), (BitNet32F16, 40), (BitnetCpp, 64)]
    );
    assert_eq!(
        candidates(&build(512, 160)),
        [(BitNet32F16, 160), (BitnetCpp, 160)]
    );
    let bytes = build(256, 128);
    match model(&bytes).flavor(0) {
        Err(ModelError::Flavor {
            source:
                FlavorError::SizeMismatch {
                    expected,
                    available,
                },
            ..
        }) => {
            assert_eq!(available, 128);
            assert_eq!(
                expected.iter().collect::<Vec<_>>(),
                [(Qk256, 64), (BitNet32F16, 80), (BitnetCpp, 96)]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn test_flavor_decided_by_the_file() {
    // AC: an ambiguous I2_S tensor takes the one flavor of the file's unambiguous I2_S tensors when that flavor is a candidate, with an info finding; otherwise it stays an error.
    let file = |tensors: &[(&str, u64, Vec<u8>)]| {
        let mut b = GgufBuilder::new();
        for (name, cols, data) in tensors {
            b.tensor(*name, &[*cols, 1], ggml_type::I2_S, data.clone());
        }
        b.build().unwrap()
    };
    // 1×128 in 64 bytes fits QK256 (64), BitNet32F16 (40) and bitnetcpp (64); 1×512 in 160
    // bytes fits BitNet32F16 and bitnetcpp (160 each). 1×2560 in 672 bytes is bitnetcpp only
    // (QK256 640 leaves a whole alignment unused; BitNet32F16 needs 800); 1×256 in 64 bytes is
    // QK256 only.
    let bitnetcpp_2560 = ("c.weight", 2560, vec![0x55; 672]);
    let qk256_256 = ("c.weight", 256, vec![0x55; 64]);
    for (cols, len) in [(128, 64), (512, 160)] {
        // 0x99 is codes 1, 2, 1, 2 from the low bits up.
        let bytes = file(&[("a.weight", cols, vec![0x99; len]), bitnetcpp_2560.clone()]);
        let m = model(&bytes);
        assert_eq!(m.flavor(1).unwrap(), Some(Flavor::BitnetCpp));
        assert_eq!(m.flavor(0).unwrap(), Some(Flavor::BitnetCpp), "1x{cols}");
        let findings = m.check();
        assert!(!has_errors(&findings), "{findings:?}");
        match &findings[..] {
            [info @ ModelError::FlavorFromFile { tensor, flavor, .. }] => {
                assert_eq!((tensor.as_str(), *flavor), ("a.weight", Flavor::BitnetCpp));
                assert_eq!(info.severity(), bitnet_gguf::Severity::Info);
                assert_eq!(info.code(), "i2s-flavor-from-file");
            }
            other => panic!("{other:?}"),
        }
        // Read as bitnetcpp (high bits first), element 0 is code 2: +1 times the tail's scale.
        let t = m.ternary(0).unwrap().unwrap();
        assert_eq!(t.format, TernaryFormat::BitnetCpp);
        let tail = (cols as usize) / 4;
        let scale = f32::from_le_bytes([0x99; 4]);
        assert_eq!(t.scale.to_bits(), scale.to_bits());
        assert_eq!(t.stored.len(), tail + 32);
        assert_eq!(
            m.decode(0, Kernel::scalar()).unwrap()[0].to_bits(),
            scale.to_bits()
        );
    }
    // Alone, or beside a tensor whose flavor is not a candidate (QK256 for 1×512): ambiguous.
    let lone = file(&[("a.weight", 512, vec![0x55; 160])]);
    let beside_qk256 = file(&[("a.weight", 512, vec![0x55; 160]), qk256_256]);
    for bytes in [lone, beside_qk256] {
        let m = model(&bytes);
        assert!(
            matches!(
                m.flavor(0),
                Err(ModelError::Flavor {
                    source: FlavorError::Ambiguous { .. },
                    ..
                })
            ),
            "{:?}",
            m.flavor(0)
        );
        assert!(m.check().iter().any(|f| f.code() == "i2s-ambiguous-flavor"));
    }
    // Beside unambiguous tensors of two different flavors: the file does not decide.
    let bytes = file(&[
        ("a.weight", 128, vec![0x55; 64]),
        ("b.weight", 2560, vec![0x55; 672]),
        ("c.weight", 64, vec![0x55; 20]),
    ]);
    let m = model(&bytes);
    assert_eq!(m.flavor(1).unwrap(), Some(Flavor::BitnetCpp));
    assert_eq!(m.flavor(2).unwrap(), Some(Flavor::BitNet32F16));
    assert!(m.flavor(0).is_err());
}

#[cfg(not(target_family = "wasm"))]
#[test]
fn test_committed_fixtures_are_fresh() {
    // AC: the files on disk in ci/fixtures/qk256 are the embedded ones, which test_fixtures_regenerate_identically compares with the generator; `cargo xtask gen-fixtures --check` itself is tested in the xtask.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ci/fixtures/qk256");
    for f in all() {
        let on_disk = std::fs::read(dir.join(f.name)).unwrap();
        assert!(
            on_disk == f.bytes,
            "{} differs on disk: run `cargo xtask gen-fixtures` and review the diff",
            f.name
        );
    }
    for (name, text) in [
        ("checksums.txt", CHECKSUMS),
        ("expected.json", EXPECTED_JSON),
    ] {
        assert_eq!(
            std::fs::read_to_string(dir.join(name)).unwrap(),
            text,
            "{name}"
        );
    }
}

#[test]
fn test_reports_the_kernel_in_use() {
    // AC: the suite names the kernel this target selects (`cargo xtask cross-test` checks it: neon on aarch64, simd128 on wasm32+simd128, scalar on s390x and plain wasm32).
    let best = Kernel::best();
    assert!(Kernel::available().contains(&best));
    assert_eq!(Kernel::from_request(None).unwrap(), best);
    // Straight to stdout, past libtest's capture, so the cross-test summary can read it.
    writeln!(std::io::stdout(), "bitnet-models kernel: {}", best.name()).unwrap();
}

#[cfg(not(target_family = "wasm"))]
#[test]
fn test_dump_fixture_for_debug() {
    // AC: writes every fixture to a temporary directory and prints each one's path, size, tensors, flavors and first values; what it prints is checked against the files it wrote.
    let dir = std::env::temp_dir().join(format!("bitnet-fixtures-dump-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut out = std::io::stdout().lock();
    for f in all() {
        let path = dir.join(f.name);
        std::fs::write(&path, f.bytes).unwrap();
        let written = std::fs::read(&path).unwrap();
        assert_eq!(written, f.bytes);
        let m = model(&written);
        writeln!(out, "{}  {} bytes", path.display(), written.len()).unwrap();
        assert_eq!(
            written.len(),
            std::fs::metadata(&path).unwrap().len() as usize
        );
        for (i, t) in m.gguf().tensors().iter().enumerate() {
            let flavor = m.flavor(i).unwrap();
            let values = m.decode(i, Kernel::scalar()).unwrap();
            let first: Vec<String> = values.iter().take(4).map(|v| format!("{v}")).collect();
            writeln!(
                out,
                "  {:<24} {:<6} {:<11} ne={:?} first=[{}]",
                t.name,
                t.type_info().name(),
                flavor.map_or("-", Flavor::name),
                t.ne(),
                first.join(", ")
            )
            .unwrap();
            if t.name == WEIGHT {
                assert_eq!(flavor, Some(f.flavor), "{}", f.name);
                let want = independent_values(&f);
                assert_eq!(bits(&values[..4]), bits(&want[..4]), "{}", f.name);
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
