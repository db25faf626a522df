//! The dual-flavor suite: the committed fixtures (`ci/fixtures/qk256/`), embedded with
//! `include_bytes!` by `bitnet_testkit::fixtures` so the suite needs no file system and runs
//! under wasm and emulators.
//!
//! Each test's `// AC:` line names what it proves.

#[path = "helpers/alignment_validator.rs"]
mod alignment_validator;

use bitnet_gguf::{ggml_type, Gguf, Value, ValueType};
use bitnet_models::fixtures::{self, FixtureSpec, FIXTURES, NORM, SCALE, WEIGHT};
use bitnet_models::{DecodeError, Flavor, Kernel, KernelKind, Model, ModelError, TernaryFormat};
// `embedded(name)`: a fixture's bytes by file name (panics on an unknown name).
use bitnet_testkit::fixtures::{get as embedded, CHECKSUMS};
use half::f16;
use sha2::{Digest, Sha256};

fn all() -> impl Iterator<Item = (FixtureSpec, &'static [u8])> {
    FIXTURES
        .into_iter()
        .map(|spec| (spec, embedded(spec.file_name)))
}

/// The I2_S flavor of tensor `i` (which must be I2_S).
fn tensor_flavor(g: &Gguf<'_>, i: usize) -> Result<Flavor, ModelError> {
    Model::new(g.clone())
        .flavor(i)
        .map(|f| f.expect("an I2_S tensor"))
}

fn dequantize_tensor(g: &Gguf<'_>, i: usize, kernel: Kernel) -> Result<Vec<f32>, DecodeError> {
    Model::new(g.clone()).decode(i, kernel)
}

fn qk256_scale(g: &Gguf<'_>, i: usize) -> Result<f32, ModelError> {
    Model::new(g.clone()).qk256_scale(i)
}

fn check(g: &Gguf<'_>) -> Vec<ModelError> {
    Model::new(g.clone()).check()
}

fn weight_index(g: &Gguf<'_>) -> usize {
    g.tensor(WEIGHT).expect("weight tensor").0
}

/// SPEC §2's code → weight table.
fn weight_of(code: u8) -> f32 {
    [-1.0, 0.0, 1.0, 0.0][usize::from(code)]
}

/// An independent decoder, straight from SPEC §2's bit layout: the weight (−1, 0, +1) and the
/// scale of element (row, col).
fn decode_element(
    format: TernaryFormat,
    data: &[u8],
    cols: usize,
    row: usize,
    col: usize,
    tensor_scale: f32,
) -> (f32, f32) {
    match format {
        TernaryFormat::Qk256 => {
            let row_bytes = cols.div_ceil(256) * 64;
            let (block, e) = (col / 256, col % 256);
            let byte = data[row * row_bytes + block * 64 + (e / 128) * 32 + e % 32];
            let code = (byte >> (2 * ((e % 128) / 32))) & 3;
            (weight_of(code), tensor_scale)
        }
        TernaryFormat::BitNet32F16 => {
            let row_bytes = cols.div_ceil(32) * 10;
            let (block, e) = (col / 32, col % 32);
            let base = row * row_bytes + block * 10;
            let code = (data[base + e % 8] >> (2 * (e / 8))) & 3;
            let d = f16::from_le_bytes([data[base + 8], data[base + 9]]).to_f32();
            (weight_of(code), d)
        }
        TernaryFormat::Tq2_0 => unreachable!("no TQ2_0 fixture"),
    }
}

#[test]
fn test_qk256_detection_by_size() {
    // AC: a 4×256 I2_S tensor of 256 bytes is detected as QK256 by size alone, row stride 64 B.
    let g = Gguf::load(embedded("qk256_4x256_seed42.gguf")).unwrap();
    let i = weight_index(&g);
    assert_eq!(g.tensors()[i].ggml_type, ggml_type::I2_S);
    assert_eq!(g.tensors()[i].ne(), [256, 4]);
    assert_eq!(tensor_flavor(&g, i).unwrap(), Flavor::Qk256);
    assert_eq!(TernaryFormat::Qk256.row_bytes(256), Some(64));
    // 4 rows × 64 B = 256 B available, exactly QK256's size; BitNet32F16 would need 320.
    assert_eq!(g.tensor_span(i).len(), 256);
    assert_eq!(
        dequantize_tensor(&g, i, Kernel::scalar()).unwrap().len(),
        4 * 256
    );
}

#[test]
fn test_qk256_with_non_multiple_cols() {
    // AC: 3×300 is QK256 with rows padded to 2 blocks (128 B stride); padding is code 1 and never output.
    let g = Gguf::load(embedded("qk256_3x300_seed43.gguf")).unwrap();
    let i = weight_index(&g);
    assert_eq!(tensor_flavor(&g, i).unwrap(), Flavor::Qk256);
    assert_eq!(TernaryFormat::Qk256.row_bytes(300), Some(128));
    assert_eq!(g.tensor_span(i).len(), 3 * 128);
    let out = dequantize_tensor(&g, i, Kernel::scalar()).unwrap();
    assert_eq!(out.len(), 3 * 300, "no padding in the output");
    // Every padding element (columns 300..512 of each row) holds code 1.
    let data = g.tensor_bytes(&g.tensors()[i], 384).unwrap();
    for row in 0..3 {
        for col in 300..512 {
            let (block, e) = (col / 256, col % 256);
            let byte = data[row * 128 + block * 64 + (e / 128) * 32 + e % 32];
            assert_eq!(
                (byte >> (2 * ((e % 128) / 32))) & 3,
                1,
                "padding at row {row} col {col}"
            );
        }
    }
    // And the output row boundaries are where the decoder puts them: row 1 starts at element 300.
    let scale = qk256_scale(&g, i).unwrap();
    let (w, s) = decode_element(TernaryFormat::Qk256, data, 300, 1, 0, scale);
    assert_eq!(out[300].to_bits(), (w * s).to_bits());
}

#[test]
fn test_bitnet32f16_detection_by_size() {
    // AC: a 2×64 I2_S tensor of 40 bytes (4 blocks of 10) is detected as BitNet32F16.
    let g = Gguf::load(embedded("bitnet32f16_2x64_seed44.gguf")).unwrap();
    let i = weight_index(&g);
    assert_eq!(tensor_flavor(&g, i).unwrap(), Flavor::BitNet32F16);
    assert_eq!(TernaryFormat::BitNet32F16.tensor_bytes(2, 64), Some(40));
    assert_eq!(
        TernaryFormat::BitNet32F16.tensor_bytes(2, 64).unwrap() / 10,
        4,
        "4 blocks"
    );
    // 40 bytes padded to 64 are available; QK256 would need 128.
    assert_eq!(g.tensor_span(i).len(), 64);
    assert!(
        g.tensor(SCALE).is_none(),
        "BitNet32F16 blocks carry their own scales"
    );
}

#[test]
fn test_fixture_checksums_match() {
    // AC: the SHA-256 of every embedded fixture equals its line in checksums.txt.
    let lines: Vec<&str> = CHECKSUMS.lines().collect();
    assert_eq!(lines.len(), 3);
    let mut names = Vec::new();
    for line in lines {
        let (hash, name) = line
            .split_once("  ")
            .expect("sha256sum format: <hex>  <name>");
        assert_eq!(hash.len(), 64);
        assert_eq!(hex::encode(Sha256::digest(embedded(name))), hash, "{name}");
        names.push(name);
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "lines sorted by name");
}

#[test]
fn test_fixtures_regenerate_identically() {
    // AC: the in-memory builder reproduces every embedded byte, checksums.txt included.
    let files = fixtures::all_files().unwrap();
    assert_eq!(files.len(), 4);
    for (name, bytes) in &files {
        if name == fixtures::CHECKSUMS {
            assert_eq!(std::str::from_utf8(bytes).unwrap(), CHECKSUMS);
        } else {
            let committed = embedded(name);
            let first_diff = bytes.iter().zip(committed).position(|(a, b)| a != b);
            assert_eq!(bytes.len(), committed.len(), "{name}: length");
            assert_eq!(first_diff, None, "{name}: first differing byte");
        }
    }
}

#[test]
fn test_gguf_v3_header_and_alignment() {
    // AC: magic, version 3, general.alignment = 32 (UINT32), data section and every tensor 32-aligned, padding zero.
    for (spec, bytes) in all() {
        assert_eq!(&bytes[..4], b"GGUF", "{}", spec.file_name);
        assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 3);
        let g = Gguf::load(bytes).unwrap();
        assert_eq!(g.get("general.alignment"), Some(Value::U32(32)));
        assert_eq!(g.alignment(), 32);
        assert_eq!(g.data_offset() % 32, 0);
        assert!(g.tensors().iter().all(|t| t.offset % 32 == 0));
        alignment_validator::assert_aligned_layout(bytes, spec.flavor);
    }
}

#[test]
fn test_required_metadata_keys() {
    // AC: all required keys present with the right types and consistent with the shapes; no findings at all.
    for (spec, bytes) in all() {
        let g = Gguf::load(bytes).unwrap();
        let u32_of = |key: &str| match g.get(key) {
            Some(Value::U32(v)) => v,
            other => panic!("{}: {key} = {other:?}", spec.file_name),
        };
        assert_eq!(
            g.get("general.architecture"),
            Some(Value::String("bitnet-b1.58"))
        );
        assert_eq!(g.get("general.name"), Some(Value::String(spec.stem())));
        let tokens = g.get("tokenizer.ggml.tokens").unwrap();
        let tokens = tokens.as_array().unwrap();
        assert_eq!(tokens.elem_type(), ValueType::String);
        assert_eq!(
            tokens.strings().unwrap().collect::<Vec<_>>(),
            fixtures::TOKENS
        );
        assert_eq!(u32_of("bitnet-b1.58.embedding_length") as usize, spec.cols);
        assert_eq!(u32_of("bitnet-b1.58.block_count"), 1);
        let heads = u32_of("bitnet-b1.58.attention.head_count");
        assert_eq!(spec.cols % heads as usize, 0);
        assert_eq!(heads % u32_of("bitnet-b1.58.attention.head_count_kv"), 0);
        assert!(u32_of("bitnet-b1.58.feed_forward_length") > 0);
        assert_eq!(g.tensor(NORM).unwrap().1.ne(), [spec.cols as u64]);
        let findings = check(&g);
        assert!(findings.is_empty(), "{}: {findings:?}", spec.file_name);
    }
}

#[test]
fn test_all_kernels_match_reference_on_fixtures() {
    // AC: every kernel this CPU has decodes every fixture to the scalar reference's bits.
    let available = Kernel::available();
    for kind in KernelKind::ALL {
        if !available.iter().any(|k| k.kind() == kind) {
            eprintln!(
                "kernel {}: skipped (this CPU or target lacks it)",
                kind.name()
            );
        }
    }
    for (spec, bytes) in all() {
        let g = Gguf::load(bytes).unwrap();
        let i = weight_index(&g);
        let reference: Vec<u32> = dequantize_tensor(&g, i, Kernel::scalar())
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect();
        for kernel in &available {
            let out: Vec<u32> = dequantize_tensor(&g, i, *kernel)
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect();
            assert_eq!(out, reference, "{} on {}", kernel.name(), spec.file_name);
            eprintln!(
                "kernel {}: {} matches scalar bit for bit",
                kernel.name(),
                spec.file_name
            );
        }
    }
}

/// SHA-256 of every output value (little-endian f32 bits, row-major), pinned when the fixtures
/// were generated. The values were computed by a separate Python decoder written from SPEC §2
/// (struct-packed f32, `copysign` for the zero weights), not by this crate, and agreed with it.
/// Any change to codes, scales or decoding shows up here.
const GOLDEN_OUTPUT_SHA256: [(&str, &str); 3] = [
    (
        "bitnet32f16_2x64_seed44.gguf",
        "4e0c6c99ee312837fd51bcc7b2f58dc34fd5fff2a41dd0583d59820c584e25ef",
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

#[test]
fn test_dequant_golden_values() {
    // AC: every output value equals the spec's bit layout decoded independently in this test, and the output hash is pinned.
    for (spec, bytes) in all() {
        let g = Gguf::load(bytes).unwrap();
        let i = weight_index(&g);
        let format: TernaryFormat = tensor_flavor(&g, i).unwrap().into();
        let data = g
            .tensor_bytes(
                &g.tensors()[i],
                format
                    .tensor_bytes(spec.rows as u64, spec.cols as u64)
                    .unwrap(),
            )
            .unwrap();
        // The scale tensor, read straight from its bytes.
        let tensor_scale = match g.tensor(SCALE) {
            Some((si, _)) => f32::from_le_bytes(g.tensor_data(si).unwrap().try_into().unwrap()),
            None => 1.0,
        };
        let out = dequantize_tensor(&g, i, Kernel::selected().unwrap()).unwrap();
        for row in 0..spec.rows {
            for col in 0..spec.cols {
                let (w, s) = decode_element(format, data, spec.cols, row, col, tensor_scale);
                let got = out[row * spec.cols + col];
                assert_eq!(
                    got.to_bits(),
                    (w * s).to_bits(),
                    "{} [{row}, {col}]",
                    spec.file_name
                );
            }
        }
        let mut hasher = Sha256::new();
        for v in &out {
            hasher.update(v.to_le_bytes());
        }
        let hash = hex::encode(hasher.finalize());
        let pinned = GOLDEN_OUTPUT_SHA256
            .iter()
            .find(|(n, _)| *n == spec.file_name)
            .unwrap()
            .1;
        assert_eq!(hash, pinned, "{}: output hash", spec.file_name);
    }
}

#[test]
fn test_all_ternary_values_present() {
    // AC: each fixture holds −1, 0 and +1 weights, and its output has negative, zero and positive values.
    for (spec, bytes) in all() {
        let g = Gguf::load(bytes).unwrap();
        let i = weight_index(&g);
        let format: TernaryFormat = tensor_flavor(&g, i).unwrap().into();
        let data = g.tensor_span(i);
        let mut seen = [false; 3];
        for row in 0..spec.rows {
            for col in 0..spec.cols {
                let (w, _) = decode_element(format, data, spec.cols, row, col, 1.0);
                seen[(w + 1.0) as usize] = true;
            }
        }
        assert_eq!(seen, [true; 3], "{}", spec.file_name);
        let out = dequantize_tensor(&g, i, Kernel::scalar()).unwrap();
        assert!(
            out.iter().any(|&v| v < 0.0) && out.iter().any(|&v| v > 0.0) && out.contains(&0.0),
            "{}",
            spec.file_name
        );
        // And they are the weights the generator drew.
        let truth = fixtures::build(spec).unwrap();
        assert!(
            truth.weights.contains(&-1) && truth.weights.contains(&0) && truth.weights.contains(&1)
        );
    }
}

#[test]
fn test_qk256_scale_tensor_applied() {
    // AC: QK256 output is w × s with s the F32 `.scale` sibling (not 1.0), for every element.
    for (spec, bytes) in all().filter(|(s, _)| s.flavor == Flavor::Qk256) {
        let g = Gguf::load(bytes).unwrap();
        let i = weight_index(&g);
        let (si, st) = g
            .tensor(SCALE)
            .expect("QK256 fixtures carry a scale tensor");
        assert_eq!((st.ggml_type, st.ne()), (ggml_type::F32, &[1u64][..]));
        let s = f32::from_le_bytes(g.tensor_data(si).unwrap().try_into().unwrap());
        assert_ne!(
            s, 1.0,
            "{}: a scale of 1.0 would prove nothing",
            spec.file_name
        );
        assert_eq!(qk256_scale(&g, i).unwrap().to_bits(), s.to_bits());
        let truth = fixtures::build(spec).unwrap();
        assert_eq!(truth.tensor_scale.map(f32::to_bits), Some(s.to_bits()));
        let out = dequantize_tensor(&g, i, Kernel::selected().unwrap()).unwrap();
        let unscaled = {
            let mut v = vec![0.0f32; out.len()];
            let data = g.tensor_span(i);
            let size = TernaryFormat::Qk256
                .tensor_bytes(spec.rows as u64, spec.cols as u64)
                .unwrap() as usize;
            Kernel::scalar()
                .dequantize(
                    TernaryFormat::Qk256,
                    &data[..size],
                    spec.rows,
                    spec.cols,
                    1.0,
                    &mut v,
                )
                .unwrap();
            v
        };
        for (k, (o, u)) in out.iter().zip(&unscaled).enumerate() {
            assert_eq!(
                o.to_bits(),
                (u * s).to_bits(),
                "{} element {k}",
                spec.file_name
            );
            assert_eq!(
                *u,
                f32::from(truth.weights[k]),
                "{} element {k}",
                spec.file_name
            );
        }
    }
}

#[test]
fn test_truncated_fixture_is_rejected() {
    // AC: every fixture cut at every 32-byte boundary gives a typed error (parse, validation or flavor), never a panic.
    for (spec, bytes) in all() {
        for cut in (0..bytes.len()).step_by(32) {
            let cut_bytes = &bytes[..cut];
            match Gguf::parse(cut_bytes) {
                Err(e) => assert!(!e.code().is_empty()),
                Ok(g) => {
                    let findings = check(&g);
                    assert!(
                        bitnet_models::has_errors(&findings),
                        "{} cut at {cut}: no error in {findings:?}",
                        spec.file_name
                    );
                    if let Some((i, _)) = g.tensor(WEIGHT) {
                        assert!(
                            dequantize_tensor(&g, i, Kernel::scalar()).is_err()
                                || cut >= g.data_offset() as usize
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn test_detection_never_guesses_on_ambiguous_or_wrong_sizes() {
    // AC: a 1×160 I2_S tensor fits both flavors and is an Ambiguous error; a wrong size is a SizeMismatch.
    use bitnet_gguf::GgufBuilder;
    use bitnet_models::FlavorError;
    let build = |cols: u64, len: usize| {
        let mut b = GgufBuilder::new();
        b.tensor("t.weight", &[cols, 1], ggml_type::I2_S, vec![0x55; len]);
        b.build().unwrap()
    };
    let bytes = build(160, 64);
    let g = Gguf::load(&bytes).unwrap();
    assert!(matches!(
        tensor_flavor(&g, 0),
        Err(ModelError::Flavor {
            source: FlavorError::Ambiguous {
                qk256_bytes: 64,
                bitnet32f16_bytes: 50,
                available: 64
            },
            ..
        })
    ));
    let bytes = build(256, 128);
    let g = Gguf::load(&bytes).unwrap();
    assert!(matches!(
        tensor_flavor(&g, 0),
        Err(ModelError::Flavor {
            source: FlavorError::SizeMismatch {
                qk256_bytes: 64,
                bitnet32f16_bytes: 80,
                available: 128
            },
            ..
        })
    ));
}

#[cfg(not(target_family = "wasm"))]
#[test]
fn test_committed_fixtures_are_fresh() {
    // AC: `cargo xtask gen-fixtures --check` logic passes on ci/fixtures/qk256, so a stale fixture fails plain `cargo test`.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ci/fixtures/qk256");
    let stale = fixtures::stale_files(&dir).unwrap();
    assert!(
        stale.is_empty(),
        "stale fixtures {stale:?}: run `cargo xtask gen-fixtures` and review the diff"
    );
}

#[test]
fn test_reports_the_kernel_in_use() {
    // AC: the suite names the kernel this target selects (`cargo xtask cross-test` checks it: neon on aarch64, simd128 on wasm32+simd128, scalar on s390x and plain wasm32).
    use std::io::Write;
    let best = Kernel::best();
    assert!(Kernel::available().contains(&best));
    assert_eq!(Kernel::from_request(None).unwrap(), best);
    // Straight to stdout, past libtest's capture, so the cross-test summary can read it.
    writeln!(std::io::stdout(), "bitnet-models kernel: {}", best.name()).unwrap();
}
