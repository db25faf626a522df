//! The model module (`src/model/`) against the rules of docs/validation.md and docs/formats.md:
//! every finding's code, severity and location fields; the F32 and F16 values and the chunked
//! decoding of every type; the `.scale` sibling rules; the absolute offsets of the scan's
//! findings; which findings refuse a tensor's decoding (`Model::check_for_decode`, and
//! `check_for_decode_alone` without the other tensors' scans); and what the
//! validator says about an I2_S tensor whose span the next tensor's offset decides.
//!
//! Files are spelled out field by field (`bitnet_testkit::raw::Raw`), so every offset here is
//! known from the layout the test writes, not from the reader under test.

use bitnet_gguf::{ggml_type, GgufBuilder, GgufError, GgufWarning, Severity};
use bitnet_models::detect::{flavor_sizes, FlavorError};
use bitnet_models::{
    has_errors, pack_bitnet32f16, pack_qk256, pack_tq2_0, DecodeError, Flavor, FormatError, Kernel,
    Model, ModelError, TernaryFormat, Values,
};
use bitnet_testkit::raw::Raw;
use half::f16;

/// A tensor info as [`file`] writes it: name, `ne`, ggml type, offset in the data section.
type Info<'a> = (&'a str, &'a [u64], u32, u64);

/// A GGUF v3 file with `general.alignment = 32`, the tensor infos `tensors`, zero padding to
/// 32, then `data` as the data section. Returns the bytes and the data section's start.
fn file(tensors: &[Info<'_>], data: &[u8]) -> (Vec<u8>, u64) {
    let mut r = Raw::header(3, tensors.len() as u64, 1);
    r.kv_u32("general.alignment", 32);
    for (name, ne, ty, offset) in tensors {
        r.tensor(name, ne, *ty, *offset);
    }
    r.pad(32);
    let start = r.0.len() as u64;
    r.bytes(data);
    (r.done(), start)
}

/// `bytes` placed at `at` in a data section of `len` bytes, zeros elsewhere.
fn placed(len: usize, parts: &[(usize, &[u8])]) -> Vec<u8> {
    let mut data = vec![0u8; len];
    for (at, bytes) in parts {
        data[*at..*at + bytes.len()].copy_from_slice(bytes);
    }
    data
}

fn le_f32(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// A deterministic ternary weight pattern with all three values.
fn weights(n: usize) -> Vec<i8> {
    (0..n).map(|i| (i * 7 % 3) as i8 - 1).collect()
}

/// IEEE binary16 → f32, written out from the definition: sign, 5-bit exponent (bias 15), 10-bit
/// mantissa; exponent 0 is subnormal (`m / 1024 × 2^−14`), 31 infinite or NaN.
fn f16_value(bits: u16) -> f32 {
    let sign = if bits & 0x8000 != 0 { -1.0f64 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1F);
    let man = f64::from(bits & 0x3FF);
    let v = match exp {
        0 => man / 1024.0 * 2f64.powi(-14),
        31 if man == 0.0 => f64::INFINITY,
        31 => return f32::NAN,
        _ => (1.0 + man / 1024.0) * 2f64.powi(exp - 15),
    };
    (sign * v) as f32
}

fn codes(findings: &[ModelError]) -> Vec<(&str, Option<&str>)> {
    findings
        .iter()
        .map(|f| (f.code(), f.location().tensor))
        .collect()
}

#[test]
fn every_finding_has_its_documented_code_severity_and_location() {
    // The tables of docs/validation.md: code, severity, and which of offset / tensor / key a
    // finding carries.
    use Severity::{Error, Info, Warning};
    let t = || "t".to_owned();
    let ambiguous = FlavorError::Ambiguous {
        candidates: match bitnet_models::detect_flavor(1, 160, 64, 32) {
            Err(FlavorError::Ambiguous { candidates, .. }) => candidates,
            other => panic!("{other:?}"),
        },
        available: 64,
    };
    let mismatch = bitnet_models::detect_flavor(4, 256, 100, 32).unwrap_err();
    let overflow = bitnet_models::detect_flavor(u64::MAX, u64::MAX, 0, 32).unwrap_err();
    let sizes = flavor_sizes(1, 128).unwrap();
    type Row = (
        ModelError,
        &'static str,
        Severity,
        Option<u64>,
        Option<&'static str>,
        Option<&'static str>,
    );
    let rows: Vec<Row> = vec![
        (
            GgufError::MisalignedOffset {
                tensor: t(),
                tensor_offset: 4,
                alignment: 32,
            }
            .into(),
            "misaligned-offset",
            Error,
            None,
            Some("t"),
            None,
        ),
        (
            GgufError::DuplicateKey {
                key: "k".into(),
                offset: 77,
                first_offset: 40,
            }
            .into(),
            "duplicate-key",
            Error,
            Some(77),
            None,
            Some("k"),
        ),
        (
            GgufWarning::TrailingBytes {
                offset: 352,
                len: 7,
            }
            .into(),
            "trailing-bytes",
            Warning,
            Some(352),
            None,
            None,
        ),
        (
            GgufWarning::NonZeroPadding { offset: 99 }.into(),
            "non-zero-padding",
            Warning,
            Some(99),
            None,
            None,
        ),
        (
            ModelError::Flavor {
                tensor: t(),
                offset: 1000,
                source: ambiguous,
            },
            "i2s-ambiguous-flavor",
            Error,
            Some(1000),
            Some("t"),
            None,
        ),
        (
            ModelError::Flavor {
                tensor: t(),
                offset: 1001,
                source: mismatch,
            },
            "i2s-size-mismatch",
            Error,
            Some(1001),
            Some("t"),
            None,
        ),
        (
            ModelError::Flavor {
                tensor: t(),
                offset: 1002,
                source: overflow,
            },
            "i2s-shape-overflow",
            Error,
            Some(1002),
            Some("t"),
            None,
        ),
        (
            ModelError::FlavorFromFile {
                tensor: t(),
                offset: 1003,
                available: 64,
                candidates: sizes,
                flavor: Flavor::BitnetCpp,
            },
            "i2s-flavor-from-file",
            Info,
            Some(1003),
            Some("t"),
            None,
        ),
        (
            ModelError::Format {
                tensor: t(),
                source: FormatError::WrongOutputLength {
                    expected: 1,
                    actual: 2,
                },
            },
            "format",
            Error,
            None,
            Some("t"),
            None,
        ),
        (
            ModelError::ScaleShape {
                tensor: "t.scale".into(),
                type_name: "F16",
                ne: vec![1],
            },
            "scale-shape",
            Error,
            None,
            Some("t.scale"),
            None,
        ),
        (
            ModelError::ScaleNotFinite {
                tensor: "t.scale".into(),
                offset: 1004,
                value: f32::NAN,
            },
            "scale-not-finite",
            Error,
            Some(1004),
            Some("t.scale"),
            None,
        ),
        (
            ModelError::TailScaleNotFinite {
                tensor: t(),
                offset: 1005,
                value: f32::INFINITY,
            },
            "scale-not-finite",
            Error,
            Some(1005),
            Some("t"),
            None,
        ),
        (
            ModelError::ScaleIgnored {
                tensor: "t.scale".into(),
                weight: "t.weight".into(),
                flavor: Flavor::BitNet32F16,
            },
            "scale-ignored",
            Warning,
            None,
            Some("t.scale"),
            None,
        ),
        (
            ModelError::ProbablyTl2 {
                tensor: t(),
                reason: "r".into(),
            },
            "probably-tl2",
            Error,
            None,
            Some("t"),
            None,
        ),
        (
            ModelError::ReservedCodes {
                tensor: t(),
                count: 3,
                offset: 1006,
            },
            "reserved-code",
            Error,
            Some(1006),
            Some("t"),
            None,
        ),
        (
            ModelError::NonFiniteBlockScales {
                tensor: t(),
                count: 2,
                offset: 1007,
            },
            "block-scale-not-finite",
            Error,
            Some(1007),
            Some("t"),
            None,
        ),
        (
            ModelError::BadPadding {
                tensor: t(),
                count: 5,
                offset: 1008,
            },
            "bad-padding",
            Warning,
            Some(1008),
            Some("t"),
            None,
        ),
        (
            ModelError::MissingKey {
                key: "general.name".into(),
            },
            "missing-key",
            Error,
            None,
            None,
            Some("general.name"),
        ),
        (
            ModelError::KeyType {
                key: "general.name".into(),
                offset: 1009,
                expected: "STRING",
                found: "UINT32",
            },
            "key-type",
            Error,
            Some(1009),
            None,
            Some("general.name"),
        ),
        (
            ModelError::KeyInconsistent {
                key: "k".into(),
                value: 3,
                reason: "r".into(),
            },
            "key-inconsistent",
            Error,
            None,
            None,
            Some("k"),
        ),
    ];
    for (finding, code, severity, offset, tensor, key) in &rows {
        assert_eq!(finding.code(), *code, "{finding:?}");
        assert_eq!(finding.severity(), *severity, "{finding:?}");
        let at = finding.location();
        assert_eq!(
            (at.offset, at.tensor, at.key),
            (*offset, *tensor, *key),
            "{finding:?}"
        );
        // `has_errors` of the finding alone: exactly the errors.
        let one = std::slice::from_ref(finding);
        assert_eq!(has_errors(one), *severity == Error, "{finding:?}");
    }
    // Warnings and information together are not an error; one error among them is.
    let harmless: Vec<ModelError> = rows
        .iter()
        .filter(|r| r.2 != Error)
        .map(|r| r.0.clone())
        .collect();
    assert_eq!(harmless.len(), 5);
    assert!(!has_errors(&harmless));
    assert!(!has_errors(&[]));
    let mut mixed = harmless;
    mixed.push(rows[0].0.clone());
    assert!(has_errors(&mixed));
}

#[test]
fn decode_errors_name_the_request() {
    // 3, 8 and 9 tensors: the message lists at most 8 names, with "…" only when there are more.
    for count in [3usize, 8, 9] {
        let names: Vec<String> = (0..count).map(|i| format!("t{i}")).collect();
        let infos: Vec<Info<'_>> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), &[8u64][..], ggml_type::F32, 32 * i as u64))
            .collect();
        let (bytes, _) = file(&infos, &vec![0; 32 * count]);
        let m = Model::parse(&bytes).unwrap();
        assert_eq!(m.index_of(&format!("t{}", count - 1)).unwrap(), count - 1);
        let e = m.index_of("nope").unwrap_err();
        assert_eq!(e.code(), "no-such-tensor");
        let shown: Vec<String> = names.iter().take(8).map(|n| format!("{n:?}")).collect();
        let more = if count > 8 { ", …" } else { "" };
        assert_eq!(
            e.to_string(),
            format!(
                "no tensor named \"nope\" (the file has {count} tensor(s): {}{more})",
                shown.join(", ")
            )
        );
    }
    // A type this crate does not decode; a finding that stops the decoding keeps its code.
    let (bytes, _) = file(&[("q", &[32], ggml_type::Q8_0, 0)], &[0; 64]);
    let m = Model::parse(&bytes).unwrap();
    let e = m.decode(0, Kernel::scalar()).unwrap_err();
    assert_eq!(e.code(), "unsupported-type");
    assert_eq!(
        e.to_string(),
        "tensor \"q\" has type Q8_0; dequant supports F32, F16, I2_S, TQ1_0 and TQ2_0"
    );
    let (bytes, _) = file(&[("x", &[8], ggml_type::F32, 0)], &[0; 16]);
    let e = Model::parse(&bytes)
        .unwrap()
        .decode(0, Kernel::scalar())
        .unwrap_err();
    assert_eq!(e.code(), "data-out-of-bounds");
    assert!(matches!(
        e,
        DecodeError::Invalid(ModelError::Gguf(GgufError::DataOutOfBounds { .. }))
    ));
}

#[test]
fn f32_and_f16_tensors_decode_to_their_exact_values() {
    // F32 [5, 3] (15 values: −0.0, a NaN payload, a subnormal, infinities) and F16 [7] (every
    // kind of f16: subnormals, the largest finite, infinity, −0.0), converted independently.
    let f32s: Vec<f32> = [
        0x0000_0000u32,
        0x8000_0000,
        0x7FC0_1234,
        0x0000_0001,
        0x7F80_0000,
        0xFF80_0000,
        0x3F80_0000,
        0xBF00_0000,
        0x4049_0FDB,
        0x0080_0000,
        0x7F7F_FFFF,
        0x3E4C_CCCD,
        0xC2F6_E979,
        0x0040_0000,
        0x4B00_0001,
    ]
    .map(f32::from_bits)
    .to_vec();
    let f16s: [u16; 7] = [0x0001, 0x83FF, 0x7BFF, 0x7C00, 0x8000, 0x3C00, 0xC555];
    let f16_bytes: Vec<u8> = f16s.iter().flat_map(|b| b.to_le_bytes()).collect();
    let data = placed(96, &[(0, &le_f32(&f32s)), (64, &f16_bytes)]);
    let (bytes, _) = file(
        &[
            ("a", &[5, 3], ggml_type::F32, 0),
            ("h", &[7], ggml_type::F16, 64),
            ("e", &[0], ggml_type::F32, 96),
        ],
        &data,
    );
    let m = Model::parse(&bytes).unwrap();
    assert!(m.check().is_empty(), "{:?}", m.check());
    let want_h: Vec<f32> = f16s.iter().map(|&b| f16_value(b)).collect();
    for (index, want, variant) in [(0, &f32s, "F32"), (1, &want_h, "F16")] {
        let values = m.values(index).unwrap();
        assert_eq!(
            matches!(values, Values::F32(_)),
            variant == "F32",
            "{values:?}"
        );
        assert_eq!(
            matches!(values, Values::F16(_)),
            variant == "F16",
            "{values:?}"
        );
        assert_eq!(values.len(), want.len());
        assert!(!values.is_empty());
        assert_eq!(bits(&values.to_vec(Kernel::scalar()).unwrap()), bits(want));
        assert_eq!(
            bits(&m.decode(index, Kernel::scalar()).unwrap()),
            bits(want)
        );
        // Chunks of at most `max` values, in order, all of them.
        for max in [1, 2, 4, 6, 7, 15, 100, usize::MAX] {
            let mut chunks = Vec::new();
            values
                .for_each_chunk(Kernel::scalar(), max, |c| {
                    chunks.push(c.to_vec());
                    Ok::<(), ModelError>(())
                })
                .unwrap();
            let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
            let n = want.len();
            let mut expected = vec![max.min(n); n / max.min(n)];
            if n % max.min(n) != 0 {
                expected.push(n % max);
            }
            assert_eq!(sizes, expected, "{variant} max {max}");
            assert_eq!(bits(&chunks.concat()), bits(want), "{variant} max {max}");
        }
        // `max_values` 0 is taken as 1.
        let mut c = values.chunks(Kernel::scalar(), 0);
        assert_eq!(c.next_chunk().unwrap().map(<[f32]>::len), Some(1));
    }
    // No values at all.
    let empty = m.values(2).unwrap();
    assert!(matches!(empty, Values::F32(d) if d.is_empty()));
    assert_eq!(empty.len(), 0);
    assert!(empty.is_empty());
    assert!(empty.to_vec(Kernel::scalar()).unwrap().is_empty());
    assert_eq!(
        empty.chunks(Kernel::scalar(), 4).next_chunk().unwrap(),
        None
    );
}

/// Every chunk of `chunks`, calling `next_chunk` at most `len + 1` times (each chunk holds at
/// least one value): a cursor that stops advancing fails here instead of spinning forever.
fn bounded_chunks(chunks: &mut bitnet_models::model::Chunks<'_>, len: usize) -> Vec<Vec<f32>> {
    let mut got = Vec::new();
    for _ in 0..=len {
        match chunks.next_chunk().unwrap() {
            Some(c) => got.push(c.to_vec()),
            None => return got,
        }
    }
    panic!("no end after {} chunks of {len} values", len + 1);
}

#[test]
fn chunks_always_advance_and_end() {
    // Inputs of several chunks (the ones whose cursor would spin if it stopped advancing):
    // F32 and F16 values 3 at a time, a QK256 tensor of 4 block-rows one block-row at a time.
    let f32s: Vec<f32> = (0..8).map(|i| i as f32 - 2.5).collect();
    let f16s: Vec<f16> = (0..7).map(|i| f16::from_f32(i as f32 * 0.5)).collect();
    let qk = pack_qk256(&weights(1024), 4, 256).unwrap();
    let mut b = GgufBuilder::new();
    b.kv("general.architecture", "test");
    b.tensor(
        "a",
        &[8],
        ggml_type::F32,
        f32s.iter().flat_map(|v| v.to_le_bytes()).collect(),
    );
    b.tensor(
        "h",
        &[7],
        ggml_type::F16,
        f16s.iter().flat_map(|v| v.to_le_bytes()).collect(),
    );
    b.tensor("q.weight", &[256, 4], ggml_type::I2_S, qk);
    b.tensor(
        "q.scale",
        &[1],
        ggml_type::F32,
        2.0f32.to_le_bytes().to_vec(),
    );
    let bytes = b.build().unwrap();
    let m = Model::parse(&bytes).unwrap();
    let f16_values: Vec<f32> = f16s.iter().map(|v| v.to_f32()).collect();
    let w = weights(1024);
    let qk_values: Vec<f32> = w.iter().map(|&v| f32::from(v) * 2.0).collect();
    for (index, max, want, sizes) in [
        (0, 3, &f32s[..], &[3, 3, 2][..]),
        (1, 3, &f16_values[..], &[3, 3, 1][..]),
        (2, 1, &qk_values[..], &[256, 256, 256, 256][..]),
        (2, 600, &qk_values[..], &[512, 512][..]),
    ] {
        let values = m.values(index).unwrap();
        let mut chunks = values.chunks(Kernel::scalar(), max);
        let got = bounded_chunks(&mut chunks, want.len());
        assert_eq!(
            got.iter().map(Vec::len).collect::<Vec<_>>(),
            sizes,
            "#{index} max {max}"
        );
        assert_eq!(bits(&got.concat()), bits(want), "#{index} max {max}");
        assert_eq!(
            chunks.next_chunk().unwrap(),
            None,
            "#{index}: done stays done"
        );
    }
}

#[test]
fn ternary_chunks_are_whole_rows_or_whole_blocks() {
    // Padded rows (QK256 3 × 300: 2 blocks per row) are decoded a whole row at a time; unpadded
    // ones (QK256 2 × 512, BitNet32F16 2 × 64) a block-row at a time, several per chunk when
    // `max_values` allows; TQ2_0 with a `.scale` sibling gets the second factor in every chunk.
    let qk_padded = pack_qk256(&weights(900), 3, 300).unwrap();
    let qk = pack_qk256(&weights(1024), 2, 512).unwrap();
    let d: Vec<f16> = [0.5f32, -2.0, 0.25, 3.0].map(f16::from_f32).to_vec();
    let b32 = pack_bitnet32f16(&weights(128), 2, 64, &d).unwrap();
    let tq = pack_tq2_0(
        &weights(512),
        2,
        256,
        &[f16::from_f32(0.5), f16::from_f32(-1.5)],
    )
    .unwrap();
    assert_eq!(
        (qk_padded.len(), qk.len(), b32.len(), tq.len()),
        (384, 256, 40, 132)
    );
    let data = placed(
        384 + 256 + 64 + 160 + 32,
        &[
            (0, &qk_padded),
            (384, &qk),
            (640, &b32),
            (704, &tq),
            (864, &le_f32(&[-0.75])),
        ],
    );
    let (bytes, _) = file(
        &[
            ("p", &[300, 3], ggml_type::I2_S, 0),
            ("q", &[512, 2], ggml_type::I2_S, 384),
            ("b", &[64, 2], ggml_type::I2_S, 640),
            ("t.weight", &[256, 2], ggml_type::TQ2_0, 704),
            ("t.scale", &[1], ggml_type::F32, 864),
        ],
        &data,
    );
    let m = Model::parse(&bytes).unwrap();
    assert!(m.check().is_empty(), "{:?}", m.check());
    // Expected chunk sizes per `max_values`, from the geometry of docs/formats.md.
    /// Per `max_values`, the sizes of the chunks.
    type Sizes<'a> = &'a [(usize, &'a [usize])];
    let cases: [(usize, Sizes<'_>); 4] = [
        // 3 rows of 300 values: whole rows, at least one, as many as fit.
        (
            0,
            &[
                (1, &[300, 300, 300]),
                (300, &[300, 300, 300]),
                (600, &[600, 300]),
                (10_000, &[900]),
            ],
        ),
        // 2 × 2 block-rows of 256.
        (
            1,
            &[
                (1, &[256; 4]),
                (511, &[256; 4]),
                (512, &[512, 512]),
                (768, &[768, 256]),
                (2000, &[1024]),
            ],
        ),
        // 2 × 2 blocks of 32.
        (
            2,
            &[
                (31, &[32; 4]),
                (64, &[64, 64]),
                (96, &[96, 32]),
                (128, &[128]),
            ],
        ),
        // 2 blocks of 256.
        (3, &[(255, &[256, 256]), (512, &[512])]),
    ];
    for (index, by_max) in cases {
        let values = m.values(index).unwrap();
        let whole = values.to_vec(Kernel::scalar()).unwrap();
        assert_eq!(values.len(), whole.len());
        for &(max, sizes) in by_max {
            let mut chunks = values.chunks(Kernel::scalar(), max);
            let got = bounded_chunks(&mut chunks, whole.len());
            assert_eq!(
                got.iter().map(Vec::len).collect::<Vec<_>>(),
                sizes,
                "#{index} max {max}"
            );
            assert_eq!(bits(&got.concat()), bits(&whole), "#{index} max {max}");
            // Done stays done.
            assert_eq!(chunks.next_chunk().unwrap(), None);
        }
    }
    // The TQ2_0 values: (w × d) × s, with d per block and s = −0.75, as two multiplications.
    let w = weights(512);
    let want: Vec<f32> = (0..512)
        .map(|k| (f32::from(w[k]) * [0.5f32, -1.5][k / 256]) * -0.75)
        .collect();
    assert_eq!(bits(&m.decode(3, Kernel::scalar()).unwrap()), bits(&want));
    let t = m.ternary(3).unwrap().unwrap();
    assert_eq!(
        (t.len(), t.is_empty(), t.post_scale),
        (512, false, Some(-0.75))
    );
    let mut out = vec![0.0; 512];
    t.dequantize(Kernel::scalar(), &mut out).unwrap();
    assert_eq!(bits(&out), bits(&want));
    // A wrong output length is the kernels' error, not a partial output.
    assert!(t.dequantize(Kernel::scalar(), &mut out[..511]).is_err());
}

#[test]
fn a_tensor_with_no_rows_has_no_values() {
    // TQ2_0 [256, 0]: 0 bytes, valid; no values, no chunk.
    let (bytes, _) = file(&[("z", &[256, 0], ggml_type::TQ2_0, 0)], &[]);
    let m = Model::parse(&bytes).unwrap();
    assert!(m.check().is_empty(), "{:?}", m.check());
    let values = m.values(0).unwrap();
    let Values::Ternary(t) = values else {
        panic!("{values:?}");
    };
    assert!(t.is_empty());
    assert_eq!(t.len(), 0);
    assert!(values.is_empty());
    assert!(m.decode(0, Kernel::scalar()).unwrap().is_empty());
    assert_eq!(
        values.chunks(Kernel::scalar(), 8).next_chunk().unwrap(),
        None
    );
}

#[test]
fn the_scale_sibling_must_be_one_finite_f32() {
    // docs/formats.md, QK256 scale: `<base>.scale`, F32 of shape exactly [1], finite; otherwise
    // `scale-shape` (type or shape) or `scale-not-finite` at the value's absolute offset.
    let qk = pack_qk256(&weights(256), 1, 256).unwrap();
    let case = |ty: u32, ne: &[u64], value: &[u8]| {
        let data = placed(96, &[(0, &qk), (64, value)]);
        file(
            &[
                ("w.weight", &[256, 1], ggml_type::I2_S, 0),
                ("w.scale", ne, ty, 64),
            ],
            &data,
        )
    };
    let f16_one = f16::ONE.to_le_bytes();
    for (ty, ne, value, shape) in [
        (ggml_type::F16, &[1u64][..], &f16_one[..], "F16 [1]"),
        (ggml_type::F32, &[2], &le_f32(&[0.5, 0.5])[..], "F32 [2]"),
        (ggml_type::F32, &[1, 1], &le_f32(&[0.5])[..], "F32 [1, 1]"),
    ] {
        let (bytes, _) = case(ty, ne, value);
        let m = Model::parse(&bytes).unwrap();
        let e = m.qk256_scale(0).unwrap_err();
        assert!(
            matches!(&e, ModelError::ScaleShape { tensor, ne: found, .. } if tensor == "w.scale" && found == ne),
            "{shape}: {e:?}"
        );
        assert_eq!(m.sibling_scale(0).unwrap_err(), e);
        assert_eq!(
            codes(&m.check()),
            [("scale-shape", Some("w.scale"))],
            "{shape}"
        );
        assert!(m.decode(0, Kernel::scalar()).is_err(), "{shape}");
    }
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let (bytes, start) = case(ggml_type::F32, &[1], &le_f32(&[bad]));
        let m = Model::parse(&bytes).unwrap();
        match m.qk256_scale(0) {
            Err(ModelError::ScaleNotFinite {
                tensor,
                offset,
                value,
            }) => {
                assert_eq!((tensor.as_str(), offset), ("w.scale", start + 64));
                assert_eq!(value.to_bits(), bad.to_bits());
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    // A finite value, negative or not, is the scale; the output is w × s.
    let w = weights(256);
    for s in [0.5f32, -3.25, 0.0] {
        let (bytes, _) = case(ggml_type::F32, &[1], &le_f32(&[s]));
        let m = Model::parse(&bytes).unwrap();
        assert_eq!(m.qk256_scale(0).unwrap().to_bits(), s.to_bits());
        assert_eq!(
            m.sibling_scale(0).unwrap().map(f32::to_bits),
            Some(s.to_bits())
        );
        let want: Vec<f32> = w.iter().map(|&x| f32::from(x) * s).collect();
        assert_eq!(bits(&m.decode(0, Kernel::scalar()).unwrap()), bits(&want));
    }
    // No sibling, or a name that does not end in `.weight`: 1.0, whatever `.scale` exists.
    let data = placed(96, &[(0, &qk), (64, &le_f32(&[0.5]))]);
    let (bytes, _) = file(
        &[
            ("w", &[256, 1], ggml_type::I2_S, 0),
            ("w.scale", &[1], ggml_type::F32, 64),
        ],
        &data,
    );
    let m = Model::parse(&bytes).unwrap();
    assert_eq!(m.qk256_scale(0).unwrap(), 1.0);
    assert_eq!(m.sibling_scale(0).unwrap(), None);
    assert!(m.scale_sibling(0).is_none());
    assert_eq!(bitnet_models::model::scale_sibling_name("w"), None);
    assert_eq!(
        bitnet_models::model::scale_sibling_name("blk.0.attn_q.weight").as_deref(),
        Some("blk.0.attn_q.scale")
    );
}

#[test]
fn scan_findings_are_at_absolute_offsets() {
    // Each tensor after another, so its data starts well into the file: the offset of a finding
    // is the data section's start + the tensor's offset + the byte within the tensor.
    let mut qk = pack_qk256(&weights(1024), 4, 256).unwrap();
    // Two fields set to the reserved code 3: bits 4–5 of byte 177, bits 0–1 of byte 200.
    qk[177] |= 0x30;
    qk[200] |= 0x03;
    let d: Vec<f16> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
        .map(f16::from_f32)
        .to_vec();
    let mut b32 = pack_bitnet32f16(&weights(192), 2, 96, &d).unwrap();
    // Block 4's d (bytes 48..50) and block 5's (58..60) not finite.
    b32[48..50].copy_from_slice(&f16::INFINITY.to_le_bytes());
    b32[58..60].copy_from_slice(&f16::NAN.to_le_bytes());
    let mut padded = pack_qk256(&weights(600), 2, 300).unwrap();
    // Row 0's block 1 (bytes 64..128) holds columns 256..300 in its block elements 0..44;
    // block element 50 is padding, in byte 64 + 50 % 32 = 82 at shift 2 × (50 / 32) = 2.
    padded[82] ^= 0b0000_1100;
    let (bytes, start) = file(
        &[
            ("f", &[8], ggml_type::F32, 0),
            ("q", &[256, 4], ggml_type::I2_S, 32),
            ("b", &[96, 2], ggml_type::I2_S, 288),
            ("p", &[300, 2], ggml_type::I2_S, 352),
        ],
        &placed(608, &[(32, &qk), (288, &b32), (352, &padded)]),
    );
    let m = Model::parse(&bytes).unwrap();
    assert_eq!(m.flavor(1).unwrap(), Some(Flavor::Qk256));
    assert_eq!(m.flavor(2).unwrap(), Some(Flavor::BitNet32F16));
    assert_eq!(m.flavor(3).unwrap(), Some(Flavor::Qk256));
    assert_eq!(
        m.check(),
        [
            ModelError::ReservedCodes {
                tensor: "q".into(),
                count: 2,
                offset: start + 32 + 177
            },
            ModelError::NonFiniteBlockScales {
                tensor: "b".into(),
                count: 2,
                offset: start + 288 + 4 * 10 + 8
            },
            ModelError::BadPadding {
                tensor: "p".into(),
                count: 1,
                offset: start + 352 + 82
            },
        ]
    );
}

/// Data for the validator cases: a QK256 4 × 256 tensor `w.weight` at 0 (256 bytes; BitNet32F16
/// would need 320, bitnetcpp 288) and an F32 tensor `x` of 4 values at `at`, whose 16 bytes and
/// their padding to 32 end the data section.
fn i2s_then_f32(at: u64) -> (Vec<u8>, u64, Vec<i8>, [f32; 4]) {
    let w = weights(1024);
    let qk = pack_qk256(&w, 4, 256).unwrap();
    let x = [0.5f32, -1.0, 2.5, -0.0];
    let data = placed(at as usize + 32, &[(0, &qk), (at as usize, &le_f32(&x))]);
    let (bytes, start) = file(
        &[
            ("w.weight", &[256, 4], ggml_type::I2_S, 0),
            ("x", &[4], ggml_type::F32, at),
        ],
        &data,
    );
    (bytes, start, w, x)
}

#[test]
fn the_next_tensors_offset_decides_an_i2s_span() {
    // docs/formats.md "Telling the flavors apart": the bytes available to w.weight are x's
    // offset; a flavor of size `size` fits `size ≤ available < size + 32`. QK256 fits 256..288,
    // bitnetcpp 288..320, BitNet32F16 320..352. The container cannot size an I2_S tensor, so an
    // offset inside those windows is no gap; an offset that is not a multiple of 32 is
    // `misaligned-offset`, about x.
    let misaligned = |at: u64| GgufError::MisalignedOffset {
        tensor: "x".into(),
        tensor_offset: at,
        alignment: 32,
    };
    for (at, flavor) in [
        (256, Flavor::Qk256),
        (260, Flavor::Qk256),
        (287, Flavor::Qk256),
        (288, Flavor::BitnetCpp),
        (300, Flavor::BitnetCpp),
        (320, Flavor::BitNet32F16),
        (351, Flavor::BitNet32F16),
    ] {
        let (bytes, _, w, x) = i2s_then_f32(at);
        let m = Model::parse(&bytes).unwrap();
        assert_eq!(m.flavor(0).unwrap(), Some(flavor), "x at {at}");
        assert_eq!(m.gguf().tensor_span(0).len() as u64, at);
        let findings = m.check();
        let placement: Vec<ModelError> = if at % 32 == 0 {
            vec![]
        } else {
            vec![misaligned(at).into()]
        };
        assert_eq!(findings, placement, "x at {at}");
        // x itself decodes from where its offset says (the file put it there).
        assert_eq!(
            bits(&m.decode(1, Kernel::scalar()).unwrap()),
            bits(&x),
            "x at {at}"
        );
        // Decoding either tensor is refused exactly when x is misaligned: x's span is wrong,
        // and x's offset bounds w.weight's span.
        for index in [0, 1] {
            let (refusing, others) = m.check_for_decode(index);
            assert_eq!(refusing, placement, "x at {at}, tensor {index}");
            assert!(others.is_empty(), "x at {at}, tensor {index}: {others:?}");
        }
        // The values w.weight decodes to, read as the flavor its span decides (the bytes past
        // 256 are zero: bitnetcpp's tail scale is 0.0).
        let values = m.decode(0, Kernel::scalar()).unwrap();
        assert_eq!(values.len(), 1024);
        let qk = pack_qk256(&w, 4, 256).unwrap();
        match flavor {
            Flavor::Qk256 => {
                let want: Vec<f32> = w.iter().map(|&v| f32::from(v)).collect();
                assert_eq!(bits(&values), bits(&want));
            }
            Flavor::BitnetCpp => {
                // Element k: byte 32 (k / 128) + k % 32 at shift 6 − 2 ((k % 128) / 32), × 0.0.
                for (k, v) in values.iter().enumerate() {
                    let code = (qk[32 * (k / 128) + k % 32] >> (6 - 2 * ((k % 128) / 32))) & 3;
                    let weight = [-1.0f32, 0.0, 1.0, 0.0][code as usize];
                    assert_eq!(v.to_bits(), (weight * 0.0).to_bits(), "element {k}");
                }
            }
            Flavor::BitNet32F16 => {
                // Block b (10 bytes, 32 elements per row... 8 blocks per row): element e in
                // byte e % 8 at shift 2 (e / 8), times the block's f16 at bytes 8..10.
                let mut stored = qk.clone();
                stored.resize(320, 0);
                for (k, v) in values.iter().enumerate() {
                    let block = &stored[(k / 32) * 10..][..10];
                    let e = k % 32;
                    let code = (block[e % 8] >> (2 * (e / 8))) & 3;
                    let weight = [-1.0f32, 0.0, 1.0, 0.0][code as usize];
                    let d = f16_value(u16::from_le_bytes([block[8], block[9]]));
                    assert_eq!(v.to_bits(), (weight * d).to_bits(), "element {k}");
                }
            }
        }
    }
    // Past every window: no flavor fits; the error is about w.weight, and decoding x (F32, not
    // bounded by anything) is not refused by it.
    let (bytes, start, _, x) = i2s_then_f32(352);
    let m = Model::parse(&bytes).unwrap();
    let findings = m.check();
    assert_eq!(codes(&findings), [("i2s-size-mismatch", Some("w.weight"))]);
    assert_eq!(findings[0].location().offset, Some(start));
    let (refusing, others) = m.check_for_decode(1);
    assert_eq!((refusing, others), (vec![], findings.clone()));
    assert_eq!(bits(&m.decode(1, Kernel::scalar()).unwrap()), bits(&x));
    let (refusing, others) = m.check_for_decode(0);
    assert_eq!((refusing, others), (findings, vec![]));
    assert!(m.decode(0, Kernel::scalar()).is_err());
}

/// Asserts the codes and tensors of a `check_for_decode` split of tensor `index`.
fn assert_split(
    (r, o): (Vec<ModelError>, Vec<ModelError>),
    index: usize,
    refusing: &[(&str, Option<&str>)],
    others: &[(&str, Option<&str>)],
) {
    assert_eq!(
        (codes(&r), codes(&o)),
        (refusing.to_vec(), others.to_vec()),
        "tensor {index}"
    );
}

#[test]
fn check_for_decode_refuses_only_what_makes_the_values_untrustworthy() {
    // `n` (F32) at 0, `w.weight` (BitNet32F16 2 × 64, 40 bytes, a non-finite d and a `.scale`
    // sibling it ignores) at 32, `w.scale` at 96, `t` (TQ2_0) at 128, `x` (F32) at 196 —
    // misaligned, and inside t's padding (t is 66 bytes, padded to 96: 128..224), whose first
    // non-zero byte is x's byte 2 (1.0 is `00 00 80 3f`): a warning about no tensor.
    let mut d = vec![f16::ONE; 4];
    d[1] = f16::NEG_INFINITY;
    let b32 = pack_bitnet32f16(&weights(128), 2, 64, &d).unwrap();
    let tq = pack_tq2_0(&weights(256), 1, 256, &[f16::from_f32(0.5)]).unwrap();
    let n = [1.0f32, -2.0, 3.0, -4.0];
    let (bytes, start) = file(
        &[
            ("n", &[4], ggml_type::F32, 0),
            ("w.weight", &[64, 2], ggml_type::I2_S, 32),
            ("w.scale", &[1], ggml_type::F32, 96),
            ("t", &[256, 1], ggml_type::TQ2_0, 128),
            ("x", &[4], ggml_type::F32, 196),
        ],
        &placed(
            228,
            &[
                (0, &le_f32(&n)),
                (32, &b32),
                (96, &le_f32(&[2.0])),
                (128, &tq),
                (196, &le_f32(&n)),
            ],
        ),
    );
    let m = Model::parse(&bytes).unwrap();
    assert_eq!(m.flavor(1).unwrap(), Some(Flavor::BitNet32F16));
    let findings = m.check();
    assert_eq!(
        codes(&findings),
        [
            ("non-zero-padding", None),
            ("misaligned-offset", Some("x")),
            ("tensor-overlap", Some("x")),
            ("scale-ignored", Some("w.scale")),
            ("block-scale-not-finite", Some("w.weight")),
        ]
    );
    assert_eq!(findings[0].location().offset, Some(start + 196 + 2));
    assert_eq!(findings[4].location().offset, Some(start + 32 + 10 + 8));
    let all = codes(&findings);
    let split = |index, refusing: &[_], others: &[_]| {
        assert_split(m.check_for_decode(index), index, refusing, others)
    };
    // n: F32 before everything; every finding is elsewhere.
    split(0, &[], &all);
    // w.weight: its non-finite d is about its codes (decoded, w × d), the ignored sibling is a
    // warning: nothing refuses it, and the next tensor (w.scale) is well placed.
    split(1, &[], &all);
    // w.scale: the warning about it is not an error.
    split(2, &[], &all);
    // t: TQ2_0 has a fixed size, so x's placement after it does not move its span.
    split(3, &[], &all);
    // x: its own placement.
    split(4, &all[1..3], &[all[0], all[3], all[4]]);
    assert_eq!(bits(&m.decode(0, Kernel::scalar()).unwrap()), bits(&n));

    // Without reading other tensors: the same refusals; of the others, the container's and
    // those of the tensor, its sibling and its weight — w.weight's scan only for w.weight, the
    // ignored sibling (found resolving w.weight) for both.
    let container = &all[..3];
    let alone = |index, refusing: &[_], others: &[_]| {
        assert_split(m.check_for_decode_alone(index), index, refusing, others)
    };
    alone(0, &[], container);
    alone(1, &[], &all);
    alone(2, &[], &all[..4]);
    alone(3, &[], container);
    alone(4, &all[1..3], &[all[0]]);
}

#[test]
fn check_for_decode_alone_refuses_what_check_for_decode_refuses() {
    // Over the hostile corpus and the committed files: for every tensor, the same refusing
    // findings in the same order, and other findings that are among check_for_decode's, with
    // every one of those about the tensor itself.
    for (name, bytes) in bitnet_testkit::corpus::gguf_seeds() {
        let Ok(m) = Model::parse(&bytes) else {
            continue;
        };
        for (index, t) in m.gguf().tensors().iter().enumerate() {
            let (refusing, others) = m.check_for_decode(index);
            let (refusing_alone, others_alone) = m.check_for_decode_alone(index);
            assert_eq!(
                format!("{refusing_alone:?}"),
                format!("{refusing:?}"),
                "{name}, tensor {index}"
            );
            let text = |v: &[ModelError]| v.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>();
            let (all, alone) = (text(&others), text(&others_alone));
            assert!(
                alone.iter().all(|f| all.contains(f)),
                "{name}, tensor {index}"
            );
            for (f, shown) in others.iter().zip(&all) {
                if f.location().tensor == Some(t.name) {
                    assert!(alone.contains(shown), "{name}, tensor {index}: {shown}");
                }
            }
        }
    }
}

#[test]
fn check_reports_each_rule_once_in_file_order() {
    // A TQ1_0 tensor whose ne[0] is not a multiple of 256: `not-block-multiple` once (from
    // validation, not again from resolving the tensor); a non-`bitnet-b1.58` file has no
    // required keys; the progress callback gets each tensor's span, in order.
    let tq1 = vec![0u8; 54];
    let (bytes, _) = file(
        &[
            ("a", &[100, 1], ggml_type::TQ1_0, 0),
            ("f", &[8], ggml_type::F32, 64),
        ],
        &placed(96, &[(0, &tq1)]),
    );
    let m = Model::parse(&bytes).unwrap();
    let mut spans = Vec::new();
    let findings = m.check_with_progress(&mut |n| spans.push(n));
    assert_eq!(codes(&findings), [("not-block-multiple", Some("a"))]);
    assert_eq!(m.check(), findings);
    assert_eq!(spans, [64, 32]);
    assert!(matches!(
        m.check_tensor(0)[..],
        [ModelError::Gguf(GgufError::NotBlockMultiple {
            ne0: 100,
            block: 256,
            ..
        })]
    ));
    assert_eq!(m.ternary_format(0).unwrap(), Some(TernaryFormat::Tq1_0));

    // The same file with `general.architecture = "bitnet-b1.58"`: the required keys are
    // checked, after the tensors' findings.
    let mut r = Raw::header(3, 0, 2);
    r.kv_u32("general.alignment", 32)
        .kv_str("general.architecture", "bitnet-b1.58");
    let bytes = r.done();
    let m = Model::parse(&bytes).unwrap();
    let findings = m.check();
    let missing: Vec<&str> = findings
        .iter()
        .map(|f| {
            assert_eq!(f.code(), "missing-key");
            f.location().key.unwrap()
        })
        .collect();
    assert_eq!(
        missing,
        [
            "general.name",
            "tokenizer.ggml.tokens",
            "bitnet-b1.58.embedding_length",
            "bitnet-b1.58.block_count",
            "bitnet-b1.58.attention.head_count",
            "bitnet-b1.58.attention.head_count_kv",
            "bitnet-b1.58.feed_forward_length",
        ]
    );
}

#[test]
fn a_type_39_tensor_that_does_not_fit_mxfp4_is_probably_tl2() {
    // docs/validation.md `probably-tl2`; MXFP4 is 32 elements in 17 bytes (docs/gguf.md). A
    // 2 × 64 tensor is 2 × 2 × 17 = 68 bytes: 96 bytes available (the next tensor at 96) fit,
    // 128 do not.
    let probably_tl2 = |findings: &[ModelError]| -> Vec<String> {
        findings
            .iter()
            .filter_map(|f| match f {
                ModelError::ProbablyTl2 { tensor, reason } => {
                    assert_eq!(f.code(), "probably-tl2");
                    Some(format!("{tensor}: {reason}"))
                }
                _ => None,
            })
            .collect()
    };
    for (next, expected) in [
        (96u64, vec![]),
        (
            128,
            vec!["m: 128 bytes available do not fit MXFP4's 68".to_owned()],
        ),
    ] {
        let (bytes, _) = file(
            &[
                ("m", &[64, 2], ggml_type::MXFP4, 0),
                ("f", &[8], ggml_type::F32, next),
            ],
            &vec![0; next as usize + 32],
        );
        let m = Model::parse(&bytes).unwrap();
        assert_eq!(probably_tl2(&m.check()), expected, "next at {next}");
        assert_eq!(probably_tl2(&m.check_tensor(0)), expected, "next at {next}");
        assert!(m.check_tensor(1).is_empty());
    }
    // ne[0] = 48: not a multiple of 32, whatever the bytes.
    let (bytes, _) = file(&[("m", &[48, 1], ggml_type::MXFP4, 0)], &[0; 32]);
    let m = Model::parse(&bytes).unwrap();
    assert_eq!(
        probably_tl2(&m.check_tensor(0)),
        ["m: ne[0] = 48 is not a multiple of MXFP4's 32"]
    );
    assert_eq!(probably_tl2(&m.check()), probably_tl2(&m.check_tensor(0)));
}

/// A metadata value as [`pairs_file`] writes it.
#[derive(Clone, Copy)]
enum V<'a> {
    U32(u32),
    Str(&'a str),
    Strs(&'a [&'a str]),
    I32s(&'a [i32]),
}

/// A file of metadata pairs only, spelled out (GGUF value types: UINT32 4, INT32 5, STRING 8,
/// ARRAY 9). Returns the bytes and the absolute offset of each pair.
fn pairs_file(pairs: &[(&str, V<'_>)]) -> (Vec<u8>, Vec<u64>) {
    let mut r = Raw::header(3, 0, pairs.len() as u64);
    let mut offsets = Vec::new();
    for (key, value) in pairs {
        offsets.push(r.0.len() as u64);
        r.str(key.as_bytes());
        match value {
            V::U32(v) => {
                r.u32(4).u32(*v);
            }
            V::Str(s) => {
                r.u32(8).str(s.as_bytes());
            }
            V::Strs(items) => {
                r.u32(9).u32(8).u64(items.len() as u64);
                for s in *items {
                    r.str(s.as_bytes());
                }
            }
            V::I32s(items) => {
                r.u32(9).u32(5).u64(items.len() as u64);
                for v in *items {
                    r.bytes(&v.to_le_bytes());
                }
            }
        }
    }
    (r.done(), offsets)
}

#[test]
fn the_required_keys_of_bitnet_b158_files() {
    // docs/validation.md "bitnet-b1.58 files": the keys, their types, and their consistency.
    // No tensors, so the tensors name 0 blocks and no ne[0] is compared.
    let base: [(&str, V<'_>); 9] = [
        ("general.architecture", V::Str("bitnet-b1.58")),
        ("general.name", V::Str("n")),
        ("general.alignment", V::U32(32)),
        ("tokenizer.ggml.tokens", V::Strs(&["a", "b"])),
        ("bitnet-b1.58.embedding_length", V::U32(64)),
        ("bitnet-b1.58.block_count", V::U32(0)),
        ("bitnet-b1.58.attention.head_count", V::U32(4)),
        ("bitnet-b1.58.attention.head_count_kv", V::U32(2)),
        ("bitnet-b1.58.feed_forward_length", V::U32(128)),
    ];
    let (bytes, _) = pairs_file(&base);
    assert_eq!(Model::parse(&bytes).unwrap().check(), []);
    let with = |key: &str, value: V<'static>| {
        let mut pairs = base.to_vec();
        pairs.iter_mut().find(|(k, _)| *k == key).unwrap().1 = value;
        let (bytes, offsets) = pairs_file(&pairs);
        let at = offsets[pairs.iter().position(|(k, _)| *k == key).unwrap()];
        (Model::parse(&bytes).unwrap().check(), at)
    };
    let key_type =
        |key: &str, at: u64, expected: &'static str, found: &'static str| ModelError::KeyType {
            key: key.into(),
            offset: at,
            expected,
            found,
        };
    let inconsistent = |key: &str, value: u64, reason: &str| ModelError::KeyInconsistent {
        key: key.into(),
        value,
        reason: reason.into(),
    };
    // Types.
    let tokens = "tokenizer.ggml.tokens";
    for (value, found) in [
        (V::U32(2), "UINT32"),
        (V::Str("a b"), "STRING"),
        (V::I32s(&[1, 2]), "ARRAY of another type"),
    ] {
        let (findings, at) = with(tokens, value);
        assert_eq!(findings, [key_type(tokens, at, "ARRAY of STRING", found)]);
    }
    let (findings, at) = with("general.name", V::Strs(&["n"]));
    assert_eq!(findings, [key_type("general.name", at, "STRING", "ARRAY")]);
    let (findings, at) = with("general.architecture", V::U32(1));
    // Not the string `bitnet-b1.58`: the rules do not apply at all.
    assert_eq!((findings, at > 0), (vec![], true));
    let emb = "bitnet-b1.58.embedding_length";
    let (findings, at) = with(emb, V::Str("64"));
    assert_eq!(findings, [key_type(emb, at, "UINT32", "STRING")]);
    let (findings, at) = with(emb, V::I32s(&[64]));
    assert_eq!(findings, [key_type(emb, at, "UINT32", "ARRAY")]);
    // Consistency.
    let heads = "bitnet-b1.58.attention.head_count";
    let kv = "bitnet-b1.58.attention.head_count_kv";
    assert_eq!(
        with(heads, V::U32(0)).0,
        [inconsistent(heads, 0, "must divide embedding_length 64")]
    );
    assert_eq!(
        with(heads, V::U32(5)).0,
        [
            inconsistent(heads, 5, "must divide embedding_length 64"),
            inconsistent(kv, 2, "must divide head_count 5"),
        ]
    );
    assert_eq!(with(heads, V::U32(8)).0, []);
    assert_eq!(
        with(kv, V::U32(0)).0,
        [inconsistent(kv, 0, "must divide head_count 4")]
    );
    assert_eq!(
        with(kv, V::U32(3)).0,
        [inconsistent(kv, 3, "must divide head_count 4")]
    );
    assert_eq!(with(kv, V::U32(4)).0, []);
    let blocks = "bitnet-b1.58.block_count";
    assert_eq!(
        with(blocks, V::U32(1)).0,
        [inconsistent(blocks, 1, "the tensors name 0 block(s)")]
    );
    let ff = "bitnet-b1.58.feed_forward_length";
    assert_eq!(
        with(ff, V::U32(0)).0,
        [inconsistent(ff, 0, "must be at least 1")]
    );
    assert_eq!(with(ff, V::U32(1)).0, []);
    // A missing key.
    let (bytes, _) = pairs_file(&[&base[..1], &base[2..]].concat());
    assert_eq!(
        Model::parse(&bytes).unwrap().check(),
        [ModelError::MissingKey {
            key: "general.name".into()
        }]
    );
}

#[test]
fn a_tensor_cut_by_the_end_of_the_file_is_reported_once() {
    // `n` (F32) at 0, `t` (TQ2_0, 1 × 256: 66 bytes, padded to 96) at 32, and the file cut 40
    // bytes into t. Validation reports t (its size is in the type table); resolving t as a
    // ternary tensor finds the same, which is not repeated. The 40 bytes are t's, not bytes after
    // the last tensor.
    let tq = pack_tq2_0(&weights(256), 1, 256, &[f16::from_f32(0.5)]).unwrap();
    let (bytes, start) = file(
        &[
            ("n", &[4], ggml_type::F32, 0),
            ("t", &[256, 1], ggml_type::TQ2_0, 32),
        ],
        &placed(32 + 40, &[(0, &le_f32(&[1.0; 4])), (32, &tq[..40])]),
    );
    let m = Model::parse(&bytes).unwrap();
    let findings = m.check();
    assert_eq!(codes(&findings), [("data-out-of-bounds", Some("t"))]);
    assert_eq!(
        findings[0].to_string(),
        format!(
            "tensor \"t\": data at offset 32 (96 bytes, padded to the alignment) ends past the \
             end of the {}-byte file",
            start + 72
        )
    );
    // The same cut through an I2_S tensor (QK256, 1 × 256: 64 bytes): validation cannot size
    // it, so the one finding is the model's: no flavor fits the 40 bytes left.
    let qk = pack_qk256(&weights(256), 1, 256).unwrap();
    let (bytes, _) = file(
        &[
            ("n", &[4], ggml_type::F32, 0),
            ("w", &[256, 1], ggml_type::I2_S, 32),
        ],
        &placed(32 + 40, &[(0, &le_f32(&[1.0; 4])), (32, &qk[..40])]),
    );
    let findings = Model::parse(&bytes).unwrap().check();
    assert_eq!(codes(&findings), [("i2s-size-mismatch", Some("w"))]);
}
