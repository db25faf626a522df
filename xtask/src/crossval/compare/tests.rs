//! Unit tests of the file comparison and its known differences, on dumps made from the
//! project's own reading: neither reference is run.

use bitnet_gguf::{ggml_type, GgufBuilder, MetadataValue};
use bitnet_models::{pack_tq2_0, Kernel};
use half::f16;
use serde_json::json;

use super::known::{rejects_i2s, without_trailing_ones};
use super::*;
use crate::crossval::ours;

/// A file with a trailing-1 shape, a Q8_0 tensor (the project does not decode it), a TQ2_0
/// weight with a `.scale` sibling, a float, a string and a string array.
fn sample_bytes() -> Vec<u8> {
    let mut b = GgufBuilder::new();
    b.kv("general.architecture", "test");
    b.kv("test.f32", 0.15625f32);
    b.kv("test.str", "héllo");
    b.kv("test.arr", MetadataValue::strings(["a", "", "ccc"]));
    let f32s: Vec<u8> = [1.0f32, -2.0, 0.5, 3.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    b.tensor("t.f32", &[4, 1], ggml_type::F32, f32s);
    let mut q8 = f16::from_f32(0.5).to_le_bytes().to_vec();
    q8.extend((0..32).map(|i| i as u8));
    b.tensor("t.q8_0", &[32], ggml_type::Q8_0, q8);
    let weights: Vec<i8> = (0..256).map(|i| (i % 3) as i8 - 1).collect();
    let tq = pack_tq2_0(&weights, 1, 256, &[f16::from_f32(0.75)]).unwrap();
    b.tensor("w.weight", &[256, 1], ggml_type::TQ2_0, tq);
    b.tensor(
        "w.scale",
        &[1],
        ggml_type::F32,
        0.5f32.to_le_bytes().to_vec(),
    );
    b.build().unwrap()
}

fn project(bytes: &[u8]) -> Project {
    ours::read("sample.gguf", bytes, Kernel::scalar())
}

/// What `reference` would print for the file the project read as `ours`: the same, with
/// ggml's dropped trailing 1s and a Q8_0 decoding the project does not have.
fn reference_dump(reference: Reference, ours: &Project) -> Dump {
    let mut d = ours.dump.clone();
    d.reference = reference.name().to_owned();
    for t in &mut d.tensors {
        if reference == Reference::Ggml {
            t.ne = without_trailing_ones(&t.ne);
        }
        if t.ty == ggml_type::Q8_0 {
            t.decoded = Some(Decoded::of(&[0.25; 32]));
        }
    }
    d
}

fn whats(out: &Outcome) -> Vec<&str> {
    out.mismatches.iter().map(|m| m.what.as_str()).collect()
}

#[test]
fn the_same_reading_matches_and_counts_what_it_compared() {
    let ours = project(&sample_bytes());
    assert!(ours.dump.accepted, "{:?}", ours.dump.error);
    for r in Reference::ALL {
        let out = compare(r, &reference_dump(r, &ours), &ours);
        assert!(out.ok(), "{r:?}: {:?}", out.mismatches);
        assert_eq!((out.keys, out.tensors, out.decoded), (5, 4, 3));
        assert_eq!(out.reference_only, ["t.q8_0 (Q8_0)"]);
        assert!(out.known.is_empty() && out.notes.is_empty());
    }
}

/// The TQ2_0 weight alone is `w × d`; the sibling's 0.5 is not applied.
#[test]
fn a_tq2_0_weight_is_decoded_without_its_scale_sibling() {
    let ours = project(&sample_bytes());
    let w = ours.dump.tensors.iter().find(|t| t.name == "w.weight");
    let expected: Vec<f32> = (0..256).map(|i| ((i % 3) as f32 - 1.0) * 0.75).collect();
    assert_eq!(w.unwrap().decoded, Some(Decoded::of(&expected)));
}

/// gguf-py's own decoding of the third-party file's TQ2_0 tensor is stored beside it; the
/// project's reading must hash the same.
#[test]
fn the_project_decodes_gguf_py_written_tq2_0_as_gguf_py_did() {
    let dir = crate::workspace_root().join("testdata/third-party");
    let bytes = std::fs::read(dir.join("gguf-py-written.gguf")).unwrap();
    let values = std::fs::read(dir.join("gguf-py-written.tq2_0.f32le")).unwrap();
    let values: Vec<f32> = values
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let ours = ours::read("gguf-py-written.gguf", &bytes, Kernel::scalar());
    let t = ours.dump.tensors.iter().find(|t| t.name == "t.tq2_0");
    assert_eq!(t.unwrap().decoded, Some(Decoded::of(&values)));
}

/// Each field, changed in the reference's reading, is one mismatch naming it.
#[test]
fn a_difference_in_each_compared_field_is_a_mismatch() {
    let ours = project(&sample_bytes());
    type Change = fn(&mut Dump);
    let cases: [(&str, Change); 17] = [
        ("version", |d| d.version = Some(2)),
        ("alignment", |d| d.alignment = Some(64)),
        ("data_offset", |d| {
            d.data_offset = Some(d.data_offset.unwrap() + 32)
        }),
        ("metadata count", |d| {
            d.metadata.pop();
        }),
        ("metadata[2] key", |d| d.metadata[2].key = "test.g32".into()),
        ("metadata `test.f32` type", |d| {
            d.metadata[2].ty = "FLOAT64".into()
        }),
        ("metadata `test.f32` value", |d| {
            d.metadata[2].value = json!({"f32": "0x3e200001"});
        }),
        ("metadata `test.str` value", |d| {
            d.metadata[3].value = json!("hello")
        }),
        ("metadata `test.arr` item 2 (1 item(s) differ)", |d| {
            d.metadata[4].value["items"][2] = json!("cc");
        }),
        ("tensor count", |d| {
            d.tensors.pop();
        }),
        ("tensor[0] name", |d| d.tensors[0].name = "t.f33".into()),
        ("tensor `t.f32` type", |d| d.tensors[0].ty = 1),
        ("tensor `t.f32` type_name", |d| {
            d.tensors[0].type_name = "F16".into()
        }),
        ("tensor `t.f32` ne", |d| d.tensors[0].ne = vec![2, 2]),
        ("tensor `t.f32` offset", |d| d.tensors[0].offset = 32),
        ("tensor `t.f32` nbytes", |d| d.tensors[0].nbytes = Some(8)),
        ("tensor `w.weight` decoded values", |d| {
            let mut values = vec![0.0f32; 256];
            values[255] = -0.0;
            d.tensors[2].decoded = Some(Decoded::of(&values));
        }),
    ];
    for r in Reference::ALL {
        for (what, change) in &cases {
            let mut theirs = reference_dump(r, &ours);
            change(&mut theirs);
            let out = compare(r, &theirs, &ours);
            assert_eq!(whats(&out), [*what], "{r:?}: {:?}", out.mismatches);
            assert!(out.known.is_empty(), "{r:?} {what}: {:?}", out.known);
        }
    }
}

#[test]
fn one_value_bit_differs_or_a_count_differs_in_decoded_values() {
    let ours = project(&sample_bytes());
    let mut theirs = reference_dump(Reference::GgufPy, &ours);
    let Some(Decoded::Values { count, .. }) = &mut theirs.tensors[0].decoded else {
        panic!("t.f32 decoded")
    };
    *count += 1;
    let out = compare(Reference::GgufPy, &theirs, &ours);
    assert_eq!(whats(&out), ["tensor `t.f32` decoded values"]);
    let m = &out.mismatches[0];
    assert!(
        m.expected.starts_with("5 values") && m.found.starts_with("4 values"),
        "{m:?}"
    );
}

#[test]
fn dropped_trailing_ones_are_normal_for_ggml_only() {
    let ours = project(&sample_bytes());
    let theirs = reference_dump(Reference::Ggml, &ours);
    assert_eq!(theirs.tensors[0].ne, [4]);
    assert!(compare(Reference::Ggml, &theirs, &ours).ok());
    let out = compare(Reference::GgufPy, &theirs, &ours);
    assert_eq!(
        whats(&out),
        ["tensor `t.f32` ne", "tensor `w.weight` ne"],
        "gguf-py reports the shape as declared"
    );
}

#[test]
fn a_reference_that_cannot_decode_or_fails_to() {
    let ours = project(&sample_bytes());
    let mut theirs = reference_dump(Reference::GgufPy, &ours);
    theirs.tensors[0].decoded = None;
    let out = compare(Reference::GgufPy, &theirs, &ours);
    assert!(out.ok());
    assert_eq!(out.project_only, ["t.f32 (F32)"]);
    theirs.tensors[0].decoded = Some(Decoded::Error {
        error: "boom".into(),
    });
    let out = compare(Reference::GgufPy, &theirs, &ours);
    assert_eq!(whats(&out), ["tensor `t.f32` decoded values"]);
}

fn tensorless() -> Vec<u8> {
    let mut b = GgufBuilder::new();
    b.kv("general.architecture", "llama");
    b.kv("general.name", "abc"); // infos end off the alignment
    let mut bytes = b.build().unwrap();
    // As llama.cpp writes a vocab-only file: nothing after the metadata.
    let end = bitnet_gguf::Gguf::parse(&bytes).unwrap().tensor_info_end();
    bytes.truncate(end as usize);
    bytes
}

#[test]
fn a_tensorless_file_unpadded_data_offset_is_known_for_ggml_only() {
    let bytes = tensorless();
    let ours = project(&bytes);
    let end = ours.tensor_info_end.unwrap();
    assert_ne!(
        Some(end),
        ours.dump.data_offset,
        "the test needs an unaligned end"
    );
    let mut theirs = reference_dump(Reference::Ggml, &ours);
    theirs.data_offset = Some(end);
    let out = compare(Reference::Ggml, &theirs, &ours);
    assert!(out.ok(), "{:?}", out.mismatches);
    assert_eq!(out.known.len(), 1);
    assert!(
        out.known[0].starts_with("data_offset: ggml"),
        "{:?}",
        out.known
    );

    // gguf-py pads: the same value from it is a mismatch.
    theirs.reference = "gguf-py".into();
    assert_eq!(
        whats(&compare(Reference::GgufPy, &theirs, &ours)),
        ["data_offset"]
    );
    // Another value from ggml is a mismatch.
    theirs.data_offset = Some(end - 1);
    assert_eq!(
        whats(&compare(Reference::Ggml, &theirs, &ours)),
        ["data_offset"]
    );
    // A file with tensors: ggml pads like everyone else.
    let ours = project(&sample_bytes());
    let mut theirs = reference_dump(Reference::Ggml, &ours);
    theirs.data_offset = ours.tensor_info_end;
    assert_eq!(
        whats(&compare(Reference::Ggml, &theirs, &ours)),
        ["data_offset"]
    );
}

#[test]
fn a_string_cut_at_nul_is_known_for_ggml_only() {
    let mut b = GgufBuilder::new();
    b.kv("s", "ab\0cd");
    b.kv("arr", MetadataValue::strings(["x\0y", "z"]));
    let ours = project(&b.build().unwrap());
    let mut theirs = reference_dump(Reference::Ggml, &ours);
    let at = |d: &Dump, k: &str| d.metadata.iter().position(|kv| kv.key == k).unwrap();
    let (s, arr) = (at(&theirs, "s"), at(&theirs, "arr"));
    theirs.metadata[s].value = json!("ab");
    theirs.metadata[arr].value["items"][0] = json!("x");
    let out = compare(Reference::Ggml, &theirs, &ours);
    assert!(out.ok(), "{:?}", out.mismatches);
    assert_eq!(out.known.len(), 2, "{:?}", out.known);
    let out = compare(Reference::GgufPy, &theirs, &ours);
    assert_eq!(out.mismatches.len(), 2, "{:?}", out.mismatches);
    // Cut anywhere else: a mismatch for ggml too.
    theirs.metadata[s].value = json!("a");
    let out = compare(Reference::Ggml, &theirs, &ours);
    assert_eq!(whats(&out), ["metadata `s` value"]);
}

#[test]
fn a_key_or_tensor_name_cut_at_nul_is_known_for_ggml_only() {
    let mut b = GgufBuilder::new();
    b.kv("k\0ey", 1u32);
    b.tensor("t\0x", &[1], ggml_type::F32, 1.0f32.to_le_bytes().to_vec());
    let ours = project(&b.build().unwrap());
    let mut theirs = reference_dump(Reference::Ggml, &ours);
    theirs.metadata[1].key = "k".into();
    theirs.tensors[0].name = "t".into();
    let out = compare(Reference::Ggml, &theirs, &ours);
    assert!(out.ok(), "{:?}", out.mismatches);
    assert_eq!((out.known.len(), out.decoded), (2, 1), "{:?}", out.known);
    let out = compare(Reference::GgufPy, &theirs, &ours);
    assert_eq!(whats(&out), ["metadata[1] key", "tensor[0] name"]);
    assert_eq!(
        out.mismatches[1].found, r#""t\0x""#,
        "names are shown escaped"
    );
}

fn i2s_file() -> Vec<u8> {
    let weights: Vec<i8> = (0..256).map(|i| (i % 3) as i8 - 1).collect();
    let mut b = GgufBuilder::new();
    b.tensor(
        "w.weight",
        &[256, 1],
        ggml_type::I2_S,
        bitnet_models::pack_qk256(&weights, 1, 256).unwrap(),
    );
    b.build().unwrap()
}

fn rejected(reference: Reference, error: &str) -> Dump {
    Dump {
        file: "f.gguf".into(),
        reference: reference.name().into(),
        accepted: false,
        error: Some(error.into()),
        version: None,
        alignment: None,
        data_offset: None,
        metadata: Vec::new(),
        tensors: Vec::new(),
    }
}

const GGML_I2S: &str = "gguf_init_from_reader: tensor 'w.weight' of type 36 (TYPE_IQ4_NL_4_4 \
    REMOVED, use IQ4_NL with runtime repacking) has 256 elements per row, not a multiple of \
    block size (0)\ngguf_init_from_reader: failed to read tensor info";
const PY_I2S: &str = "ValueError: np.uint32(36) is not a valid GGMLQuantizationType";

#[test]
fn an_i2s_file_rejected_for_type_36_is_expected_and_nothing_else_is() {
    let i2s = project(&i2s_file());
    assert!(i2s.has_i2s && i2s.dump.accepted, "{:?}", i2s.dump.error);
    for (r, message) in [(Reference::Ggml, GGML_I2S), (Reference::GgufPy, PY_I2S)] {
        let out = compare(r, &rejected(r, message), &i2s);
        assert!(out.ok() && out.expected_rejection, "{r:?}: {out:?}");
        // Rejected for another reason: a mismatch.
        let out = compare(r, &rejected(r, "failed to read key-value pairs"), &i2s);
        assert_eq!(whats(&out), ["accepted"]);
        // The I2_S message for a file without I2_S: a mismatch.
        let plain = project(&sample_bytes());
        let out = compare(r, &rejected(r, message), &plain);
        assert_eq!(whats(&out), ["accepted"]);
        assert!(!out.expected_rejection);
    }
    // Each reference's message is its own.
    assert!(!rejects_i2s(Reference::Ggml, PY_I2S));
    assert!(!rejects_i2s(Reference::GgufPy, GGML_I2S));
    assert!(rejects_i2s(
        Reference::GgufPy,
        "ValueError: 36 is not a valid GGMLQuantizationType"
    ));
    assert!(!rejects_i2s(
        Reference::GgufPy,
        "ValueError: np.uint32(360) is not a valid GGMLQuantizationType"
    ));
}

#[test]
fn accepted_by_one_side_only_is_a_mismatch_and_rejected_by_both_is_not() {
    let mut bytes = sample_bytes();
    bytes[4] = 7; // version 7
    let bad = project(&bytes);
    assert!(!bad.dump.accepted);
    let good = project(&sample_bytes());
    let out = compare(
        Reference::Ggml,
        &reference_dump(Reference::Ggml, &good),
        &bad,
    );
    assert_eq!(whats(&out), ["accepted"]);
    assert!(
        out.mismatches[0].found.contains("unsupported"),
        "{:?}",
        out.mismatches
    );
    let out = compare(
        Reference::Ggml,
        &rejected(Reference::Ggml, "bad version"),
        &good,
    );
    assert_eq!(whats(&out), ["accepted"]);
    let out = compare(
        Reference::Ggml,
        &rejected(Reference::Ggml, "bad version"),
        &bad,
    );
    assert!(out.ok() && !out.expected_rejection);
    assert_eq!(out.notes.len(), 1);
}
