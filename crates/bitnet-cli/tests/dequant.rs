//! `dequant`: values against gguf-py and the library, both formats, atomic `--out`.

#![cfg(feature = "full-cli")]

mod common;

use std::path::Path;

use bitnet_models::{Kernel, Model};
use bitnet_testkit::fixtures;
use common::*;
use half::f16;
use serde_json::Value;

/// What the library gives for `tensor` of `bytes`, as little-endian bytes.
fn library_f32le(bytes: &[u8], tensor: &str) -> Vec<u8> {
    let model = Model::parse(bytes).unwrap();
    let i = model.index_of(tensor).unwrap();
    f32_bytes(&model.decode(i, Kernel::scalar()).unwrap())
}

fn dequant_f32le(dir: &Path, file: &str, tensor: &str) -> Vec<u8> {
    bin_in(dir)
        .args(["dequant", "--format", "f32le", file, tensor])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone()
}

/// Every kernel's `dequant --format f32le` of each of `tensors` of the third-party `file` is
/// gguf-py's values byte for byte: `expected` holds them for the tensors in order (`n` each).
fn matches_gguf_py(file: &str, tensors: &[(&str, usize)], expected: &str) {
    let expected = std::fs::read(third_party(expected)).unwrap();
    assert_eq!(
        expected.len(),
        tensors.iter().map(|(_, n)| n * 4).sum::<usize>()
    );
    let path = format!("testdata/third-party/{file}");
    for kernel in Kernel::available() {
        let mut at = 0;
        for &(tensor, n) in tensors {
            let out = bin()
                .env("BITNET_KERNEL", kernel.name())
                .args(["dequant", "--format", "f32le", &path, tensor])
                .assert()
                .code(0);
            assert!(
                out.get_output().stdout == expected[at..at + n * 4],
                "kernel {} {tensor} differs from gguf-py",
                kernel.name()
            );
            at += n * 4;
        }
    }
}

#[test]
fn tq2_0_matches_gguf_py_byte_for_byte() {
    matches_gguf_py(
        "gguf-py-written.gguf",
        &[("t.tq2_0", 2048)],
        "gguf-py-written.tq2_0.f32le",
    );
}

/// Each TQ1_0 tensor of gguf-py's file, with every kernel, gives gguf-py's values (the
/// `.f32le` file holds the three tensors' values in file order).
#[test]
fn tq1_0_matches_gguf_py_byte_for_byte() {
    matches_gguf_py(
        "gguf-py-tq1_0.gguf",
        &[
            ("t.tq1_0", 3072),
            ("t.tq1_0.3d", 1024),
            ("t.tq1_0.bytes", 16384),
        ],
        "gguf-py-tq1_0.f32le",
    );
}

#[test]
fn every_supported_type_matches_the_library() {
    let third = std::fs::read(third_party("gguf-py-written.gguf")).unwrap();
    for tensor in ["t.f32", "t.f16", "t.tq2_0"] {
        assert_eq!(
            dequant_f32le(&root(), "testdata/third-party/gguf-py-written.gguf", tensor),
            library_f32le(&third, tensor),
            "{tensor}"
        );
    }
    for name in fixtures::names() {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let path = fixture(name);
        for tensor in ["blk.0.attn_q.weight", "blk.0.attn_norm.weight"] {
            assert_eq!(
                dequant_f32le(&root(), path.to_str().unwrap(), tensor),
                library_f32le(&bytes, tensor),
                "{name} {tensor}"
            );
        }
    }
}

#[test]
fn many_chunks_stream_in_order() {
    // 4100 × 300 QK256 values (1.23 Mi, more than one 1 Mi-value chunk, padded rows) and
    // BitNet32F16 with negative block scales (−0.0 for zero weights).
    let dir = tempfile::tempdir().unwrap();
    let qk = bitnet_qk256(4100, 300, -0.75, &[1.0; 300]);
    write(dir.path(), "qk.gguf", &qk);
    assert_eq!(
        dequant_f32le(dir.path(), "qk.gguf", "blk.0.attn_q.weight"),
        library_f32le(&qk, "blk.0.attn_q.weight")
    );
    // One row of 5 Mi values: decoded a block-row chunk at a time, not as one 20 MiB row.
    let wide = i2s(
        5 << 20,
        1,
        bitnet_models::pack_qk256(&weights(1, 5 << 20), 1, 5 << 20).unwrap(),
        &[(
            "w.scale",
            &[1],
            bitnet_gguf::ggml_type::F32,
            f32_bytes(&[1.5]),
        )],
    );
    write(dir.path(), "wide.gguf", &wide);
    assert_eq!(
        dequant_f32le(dir.path(), "wide.gguf", "w.weight"),
        library_f32le(&wide, "w.weight")
    );

    let (rows, cols) = (2, 96);
    let scales: Vec<f16> = (0..rows * cols / 32)
        .map(|i| f16::from_f32(if i % 2 == 0 { -0.5 } else { 0.25 }))
        .collect();
    let b32 = bitnet_b32(rows, cols, &scales);
    write(dir.path(), "b32.gguf", &b32);
    let got = dequant_f32le(dir.path(), "b32.gguf", "blk.0.attn_q.weight");
    assert_eq!(got, library_f32le(&b32, "blk.0.attn_q.weight"));
    assert!(got
        .chunks_exact(4)
        .any(|c| f32::from_le_bytes(c.try_into().unwrap()).to_bits() == (-0.0f32).to_bits()));
}

#[test]
fn json_format() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = bitnet_qk256(2, 300, 0.5, &[0.1; 300]);
    write(dir.path(), "m.gguf", &bytes);
    let out = run_in(dir.path(), &["dequant", "m.gguf", "blk.0.attn_q.weight"], 0);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "blk.0.attn_q.weight");
    assert_eq!(v["type_name"], "I2_S");
    assert_eq!(v["ne"], serde_json::json!([300, 2]));
    let values: Vec<f32> = v["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    let expected = library_f32le(&bytes, "blk.0.attn_q.weight");
    assert_eq!(f32_bytes(&values), expected);

    // Shortest f32 decimals: 0.1f32 prints as 0.1.
    let out = run_in(
        dir.path(),
        &[
            "dequant",
            "--format",
            "json",
            "m.gguf",
            "blk.0.attn_q.scale",
        ],
        0,
    );
    insta::assert_snapshot!(stdout(&out), @r#"{"name":"blk.0.attn_q.scale","type_name":"F32","ne":[1],"values":[0.5]}"#);
    let out = run_in(
        dir.path(),
        &["dequant", "m.gguf", "blk.0.attn_norm.weight"],
        0,
    );
    assert!(stdout(&out).contains("[0.1,0.1,"));
}

#[test]
fn non_finite_values_are_null_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = bitnet_gguf::GgufBuilder::new();
    b.tensor(
        "x",
        &[4],
        bitnet_gguf::ggml_type::F32,
        f32_bytes(&[f32::NAN, f32::INFINITY, -0.0, 1.5]),
    );
    write(dir.path(), "x.gguf", &b.build().unwrap());
    bin_in(dir.path())
        .args(["dequant", "x.gguf", "x"])
        .assert()
        .code(0)
        .stdout(
            "{\"name\":\"x\",\"type_name\":\"F32\",\"ne\":[4],\"values\":[null,null,-0.0,1.5]}\n",
        );
}

#[test]
fn out_is_written_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let src = third_party("gguf-py-written.gguf");
    let expected = std::fs::read(third_party("gguf-py-written.tq2_0.f32le")).unwrap();

    // Success: exactly the target appears, nothing on stdout, no temporary file left.
    bin_in(dir.path())
        .args(["dequant", "--format", "f32le", "--out", "v.f32le"])
        .arg(&src)
        .arg("t.tq2_0")
        .assert()
        .code(0)
        .stdout("");
    assert_eq!(std::fs::read(dir.path().join("v.f32le")).unwrap(), expected);
    assert_eq!(listing(dir.path()), ["v.f32le"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("v.f32le"))
            .unwrap()
            .permissions()
            .mode();
        assert_ne!(
            mode & 0o044,
            0,
            "readable like any new file, not 0600: {mode:o}"
        );
    }

    // Overwriting an existing target replaces it whole.
    std::fs::write(dir.path().join("v.json"), "old").unwrap();
    bin_in(dir.path())
        .args(["dequant", "--out", "v.json"])
        .arg(&src)
        .arg("t.f16")
        .assert()
        .code(0)
        .stdout("")
        .stderr("");
    let v: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("v.json")).unwrap()).unwrap();
    assert_eq!(v["values"].as_array().unwrap().len(), 34);

    // Errors never create or clobber the target, and leave no temporary file.
    let src_name = src.display().to_string();
    for (tensor, message) in [
        (
            "nope",
            "no tensor named \"nope\" (the file has 4 tensor(s): \"t.f32\", \"t.f16\", \"t.q8_0\", \"t.tq2_0\")",
        ),
        (
            "t.q8_0",
            "tensor \"t.q8_0\" has type Q8_0; dequant supports F32, F16, I2_S, TQ1_0 and TQ2_0 [unsupported-type]",
        ),
    ] {
        let error = format!("error: {src_name}: {message}\n");
        bin_in(dir.path())
            .args(["dequant", "--format", "f32le", "--out", "v.f32le"])
            .arg(&src)
            .arg(tensor)
            .assert()
            .code(2)
            .stdout("")
            .stderr(error.clone());
        bin_in(dir.path())
            .args(["dequant", "--out", "new.bin"])
            .arg(&src)
            .arg(tensor)
            .assert()
            .code(2)
            .stdout("")
            .stderr(error);
    }
    let mut bad = std::fs::read(&src).unwrap();
    bad.truncate(1000); // the data of every tensor is gone
    write(dir.path(), "bad.gguf", &bad);
    bin_in(dir.path())
        .args(["dequant", "--out", "v.f32le", "bad.gguf", "t.tq2_0"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("[data-out-of-bounds]"));
    assert_eq!(std::fs::read(dir.path().join("v.f32le")).unwrap(), expected);
    assert_eq!(listing(dir.path()), ["bad.gguf", "v.f32le", "v.json"]);

    // A target that is a directory: the rename fails, the temporary file is removed.
    std::fs::create_dir(dir.path().join("d")).unwrap();
    std::fs::write(dir.path().join("d/keep"), "x").unwrap();
    let out = bin_in(dir.path())
        .args(["dequant", "--out", "d"])
        .arg(&src)
        .arg("t.f32")
        .assert()
        .code(2);
    assert!(stderr(out.get_output()).starts_with("error: d: cannot rename"));
    assert_eq!(listing(dir.path()), ["bad.gguf", "d", "v.f32le", "v.json"]);

    // A directory that does not exist.
    bin_in(dir.path())
        .args(["dequant", "--out", "no/such/dir/v.bin"])
        .arg(&src)
        .arg("t.f32")
        .assert()
        .code(2)
        .stderr(predicates::str::starts_with(
            "error: no/such/dir/v.bin: cannot create a temporary file next to it: ",
        ));
}

#[test]
fn suspicious_ternary_data_warns_and_fails_in_strict_mode() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = bitnet_models::pack_qk256(&weights(4, 256), 4, 256).unwrap();
    data[17] = 0xff;
    write(dir.path(), "r.gguf", &i2s(256, 4, data, &[]));
    let out = run_in(
        dir.path(),
        &["dequant", "--format", "f32le", "r.gguf", "w.weight"],
        0,
    );
    assert_eq!(out.stdout.len(), 4 * 256 * 4);
    assert_eq!(
        stderr(&out),
        "warning: r.gguf: tensor \"w.weight\": 4 reserved code(s) 3, the first in byte 177 [reserved-code]\n"
    );
    bin_in(dir.path())
        .env("BITNET_STRICT_MODE", "1")
        .args(["dequant", "--out", "o.bin", "r.gguf", "w.weight"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(format!(
            "{}error: r.gguf: 1 warning(s) for tensor \"w.weight\" under BITNET_STRICT_MODE; nothing written\n",
            stderr(&out)
        ));
    assert!(!dir.path().join("o.bin").exists());
}

#[test]
fn errors_and_exit_statuses() {
    let dir = tempfile::tempdir().unwrap();
    bin_in(dir.path())
        .args(["dequant", "missing.gguf", "t"])
        .assert()
        .code(2)
        .stderr(predicates::str::starts_with(
            "error: missing.gguf: cannot open: ",
        ));
    bin_in(dir.path())
        .args(["dequant", ".", "t"])
        .assert()
        .code(2)
        .stdout("")
        .stderr("error: .: is a directory, not a GGUF file\n");
    write(dir.path(), "e.gguf", b"");
    bin_in(dir.path())
        .args(["dequant", "e.gguf", "t"])
        .assert()
        .code(1)
        .stderr("error: e.gguf: truncated magic: needs 4 bytes at byte 0, the file ends at byte 0 (4 bytes short) [truncated]\n");
    write(dir.path(), "amb.gguf", &i2s(160, 1, vec![0x55; 64], &[]));
    bin_in(dir.path())
        .args(["dequant", "amb.gguf", "w.weight"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("[i2s-ambiguous-flavor]"));
    bin()
        .args(["dequant", "testdata/third-party/gguf-py-written.gguf", "nope"])
        .assert()
        .code(2)
        .stderr("error: testdata/third-party/gguf-py-written.gguf: no tensor named \"nope\" (the file has 4 tensor(s): \"t.f32\", \"t.f16\", \"t.q8_0\", \"t.tq2_0\")\n");
    bin()
        .args(["dequant", "testdata/third-party/gguf-py-written.gguf", "t.q8_0"])
        .assert()
        .code(2)
        .stderr("error: testdata/third-party/gguf-py-written.gguf: tensor \"t.q8_0\" has type Q8_0; dequant supports F32, F16, I2_S, TQ1_0 and TQ2_0 [unsupported-type]\n");
    let err = usage_error(&[
        "dequant",
        "--format",
        "f64",
        "testdata/third-party/gguf-py-written.gguf",
        "t.f32",
    ]);
    assert!(
        err.starts_with(
            "error: invalid value 'f64' for '--format <FORMAT>'\n  [possible values: json, f32le]\n"
        ),
        "{err}"
    );
}

/// The values of a bitnetcpp tensor of `n` elements from its stored bytes, computed here from
/// the layout rather than by the library: element `k` of the flattened tensor is the code in
/// byte `32 (k / 128) + k % 32` at shift `6 − 2 ((k % 128) / 32)`; code 0, 1, 2 is weight −1, 0,
/// +1 (3, reserved, is 0); the scale is the f32 at byte `n / 4`, the start of the tail.
fn bitnetcpp_values(stored: &[u8], n: usize) -> Vec<f32> {
    assert_eq!(stored.len(), n / 4 + 32);
    let scale = f32::from_le_bytes(stored[n / 4..n / 4 + 4].try_into().unwrap());
    (0..n)
        .map(|k| {
            let byte = stored[32 * (k / 128) + k % 32];
            let code = (byte >> (6 - 2 * ((k % 128) / 32))) & 3;
            let w: f32 = match code {
                0 => -1.0,
                2 => 1.0,
                _ => 0.0,
            };
            w * scale
        })
        .collect()
}

#[test]
fn bitnetcpp_fixture_matches_the_layout() {
    let name = "bitnetcpp_4x384_seed45.gguf";
    let path = fixture(name);
    let bytes = std::fs::read(&path).unwrap();
    let tensor = "blk.0.attn_q.weight";
    let n = 4 * 384;
    let start = tensor_start(&bytes, tensor);
    let want = bitnetcpp_values(&bytes[start..start + n / 4 + 32], n);
    let scale = f32::from_le_bytes(bytes[start + n / 4..start + n / 4 + 4].try_into().unwrap());
    assert!(scale.is_finite() && scale != 1.0 && scale != 0.0, "{scale}");
    // All three weights occur (and −0.0 too when the scale is negative).
    for w in [-1.0f32, 0.0, 1.0] {
        let v = w * scale;
        assert!(want.iter().any(|x| x.to_bits() == v.to_bits()), "{v}");
    }

    // The first values and the count that ci/fixtures/qk256/expected.json records (computed by
    // the fixture builder from the weights it drew, not by decoding the file).
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join(fixtures::DIR).join("expected.json")).unwrap(),
    )
    .unwrap();
    let entry = expected["fixtures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"] == name)
        .unwrap()["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == tensor)
        .unwrap()
        .clone();
    assert_eq!(entry["flavor"], "bitnetcpp");
    assert_eq!(entry["count"], n);
    let first: Vec<String> = want[..8]
        .iter()
        .map(|v| format!("{:#010x}", v.to_bits()))
        .collect();
    assert_eq!(entry["first_bits"], serde_json::json!(first));

    // f32le, with every kernel.
    for kernel in Kernel::available() {
        let out = bin()
            .env("BITNET_KERNEL", kernel.name())
            .args(["dequant", "--format", "f32le"])
            .arg(&path)
            .arg(tensor)
            .assert()
            .code(0);
        assert!(
            out.get_output().stdout == f32_bytes(&want),
            "kernel {} differs from the layout",
            kernel.name()
        );
        assert!(stderr(out.get_output()).is_empty());
    }
    // JSON: the same values (shortest decimals that read back as the same f32, −0.0 kept).
    let out = bin()
        .args(["dequant", "--format", "json"])
        .arg(&path)
        .arg(tensor)
        .assert()
        .code(0);
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["name"], tensor);
    assert_eq!(v["type_name"], "I2_S");
    assert_eq!(v["ne"], serde_json::json!([384, 4]));
    let got: Vec<u32> = v["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x.as_f64().unwrap() as f32).to_bits())
        .collect();
    let want_bits: Vec<u32> = want.iter().map(|v| v.to_bits()).collect();
    assert_eq!(got, want_bits);
}

#[test]
fn bitnetcpp_tails() {
    let dir = tempfile::tempdir().unwrap();
    // The 28 bytes after the scale are ignored; a negative scale gives −0.0 for zero weights.
    let mut data = bitnetcpp_data(2, 384, -0.75);
    for (i, b) in data[196..].iter_mut().enumerate() {
        *b = 0xc3 ^ i as u8;
    }
    let bytes = i2s(384, 2, data.clone(), &[]);
    write(dir.path(), "g.gguf", &bytes);
    let want = bitnetcpp_values(&data, 768);
    assert!(want.iter().any(|v| v.to_bits() == (-0.0f32).to_bits()));
    let out = dequant_f32le(dir.path(), "g.gguf", "w.weight");
    assert_eq!(out, f32_bytes(&want));
    assert_eq!(out, library_f32le(&bytes, "w.weight"));

    // A 1×128 tensor the file decides decodes as bitnetcpp, with its own tail scale.
    let mut b = bitnet_gguf::GgufBuilder::new();
    let a = bitnetcpp_data(1, 128, 0.5);
    b.tensor("a", &[128, 1], bitnet_gguf::ggml_type::I2_S, a.clone());
    b.tensor(
        "b",
        &[384, 2],
        bitnet_gguf::ggml_type::I2_S,
        bitnetcpp_data(2, 384, 3.0),
    );
    write(dir.path(), "d.gguf", &b.build().unwrap());
    assert_eq!(
        dequant_f32le(dir.path(), "d.gguf", "a"),
        f32_bytes(&bitnetcpp_values(&a, 128))
    );

    // A NaN tail scale: refused, naming the scale's byte.
    let mut data = bitnetcpp_data(2, 384, 0.5);
    data[192..196].copy_from_slice(&f32::NAN.to_le_bytes());
    let bytes = i2s(384, 2, data, &[]);
    let tail = tensor_start(&bytes, "w.weight") + 192;
    write(dir.path(), "n.gguf", &bytes);
    bin_in(dir.path())
        .args(["dequant", "n.gguf", "w.weight"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(format!(
            "error: n.gguf: tensor \"w.weight\": scale at byte {tail} is NaN, not finite [scale-not-finite]\n"
        ));
}

/// A container (architecture `test`) whose data section is: `n` (F32, 32 values, 128 bytes) at
/// 0, `a.weight` (QK256, 2 × 256: 2 blocks of 64 bytes, no scale sibling) at 128, and `b` (F32,
/// 4 values) at **260**, four bytes past the 256 where a writer puts it: not a multiple of the
/// alignment 32 (docs/validation.md, `misaligned-offset`). The data section ends at 292, where
/// `b`'s 16 bytes and their padding to 32 end, so nothing else is wrong with the file. `a.weight`
/// gets 260 − 128 = 132 bytes: only QK256 (128) fits (BitNet32F16 and bitnetcpp need 160).
fn misaligned_b() -> (Vec<u8>, Vec<f32>, Vec<f32>, Vec<f32>) {
    use bitnet_gguf::ggml_type::{F32, I2_S};
    let n: Vec<f32> = (0..32).map(|i| i as f32 * 0.25 - 3.0).collect();
    let b = [1.5f32, -2.0, 0.125, 7.0];
    let w = weights(2, 256);
    let a = bitnet_models::pack_qk256(&w, 2, 256).unwrap();
    assert_eq!(a.len(), 128);
    let built = container(&[
        ("n", &[32], F32, f32_bytes(&n)),
        ("a.weight", &[256, 2], I2_S, a),
        ("b", &[4], F32, f32_bytes(&b)),
    ]);
    let data_offset = tensor_start(&built, "n");
    assert_eq!(tensor_start(&built, "b"), data_offset + 256);
    let mut bytes = built[..data_offset + 256].to_vec();
    let field = tensor_offset_field(&bytes, "b");
    bytes[field..field + 8].copy_from_slice(&260u64.to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    bytes.extend_from_slice(&f32_bytes(&b));
    bytes.extend_from_slice(&[0; 16]);
    assert_eq!(bytes.len(), data_offset + 292);
    // QK256 with no scale sibling: w × 1.0.
    let a_values = w.iter().map(|&x| f32::from(x)).collect();
    (bytes, n, a_values, b.to_vec())
}

#[test]
fn a_misaligned_tensor_is_refused_and_is_a_warning_for_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, n, _, _) = misaligned_b();
    write(dir.path(), "m.gguf", &bytes);
    let finding = "tensor \"b\": offset 260 is not a multiple of the alignment 32";

    // compat-check: one error, this one.
    let out = run_in(dir.path(), &["compat-check", "m.gguf"], 1);
    assert_eq!(
        stdout(&out),
        format!("m.gguf: 1 error, 0 warnings\n  error[misaligned-offset]: {finding}\n")
    );

    // The misaligned tensor itself: its span is wrong, nothing is written.
    for format in ["json", "f32le"] {
        bin_in(dir.path())
            .args(["dequant", "--format", format, "m.gguf", "b"])
            .assert()
            .code(1)
            .stdout("")
            .stderr(format!("error: m.gguf: {finding} [misaligned-offset]\n"));
    }
    // The I2_S tensor before it: the next tensor's offset bounds its span, which decides its
    // flavor; refused too, naming the same finding.
    bin_in(dir.path())
        .args(["dequant", "m.gguf", "a.weight"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(format!("error: m.gguf: {finding} [misaligned-offset]\n"));
    // With --out, no file appears.
    bin_in(dir.path())
        .args(["dequant", "--out", "o.bin", "m.gguf", "b"])
        .assert()
        .code(1)
        .stdout("");
    assert!(!dir.path().join("o.bin").exists());

    // A tensor the finding does not concern (F32, before the I2_S one): decoded, exactly its
    // values, and the error elsewhere is a warning on stderr.
    let out = run_in(
        dir.path(),
        &["dequant", "--format", "f32le", "m.gguf", "n"],
        0,
    );
    assert_eq!(out.stdout, f32_bytes(&n));
    assert_eq!(
        stderr(&out),
        format!("warning: m.gguf: {finding} [misaligned-offset]\n")
    );
    // ... and under strict mode, that warning refuses it too.
    bin_in(dir.path())
        .env("BITNET_STRICT_MODE", "1")
        .args(["dequant", "m.gguf", "n"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(format!(
            "warning: m.gguf: {finding} [misaligned-offset]\n\
             error: m.gguf: 1 warning(s) for tensor \"n\" under BITNET_STRICT_MODE; nothing written\n"
        ));
}

#[test]
fn the_same_tensors_decode_when_the_file_is_valid() {
    // The file of `misaligned_b` with `b` where a writer puts it, 256: valid, and every tensor
    // decodes to the values it was built from (so the refusals above are about the offset).
    let dir = tempfile::tempdir().unwrap();
    let (_, n, a, b) = misaligned_b();
    let w = bitnet_models::pack_qk256(&weights(2, 256), 2, 256).unwrap();
    let bytes = container(&[
        ("n", &[32], bitnet_gguf::ggml_type::F32, f32_bytes(&n)),
        ("a.weight", &[256, 2], bitnet_gguf::ggml_type::I2_S, w),
        ("b", &[4], bitnet_gguf::ggml_type::F32, f32_bytes(&b)),
    ]);
    write(dir.path(), "v.gguf", &bytes);
    let out = run_in(dir.path(), &["compat-check", "v.gguf"], 0);
    assert_eq!(stdout(&out), "v.gguf: OK\n");
    for (tensor, values) in [("n", &n), ("a.weight", &a), ("b", &b)] {
        let out = run_in(
            dir.path(),
            &["dequant", "--format", "f32le", "v.gguf", tensor],
            0,
        );
        assert_eq!(out.stdout, f32_bytes(values), "{tensor}");
        assert_eq!(stderr(&out), "", "{tensor}");
    }
}

#[test]
fn a_bad_scale_sibling_refuses_its_weight_only() {
    // A QK256 weight whose `.scale` sibling is F16: `scale-shape`, about the sibling. Decoding
    // the weight needs that scale: refused. Decoding another tensor: a warning.
    let dir = tempfile::tempdir().unwrap();
    let data = bitnet_models::pack_qk256(&weights(4, 256), 4, 256).unwrap();
    let norm = [0.5f32; 8];
    let bytes = i2s(
        256,
        4,
        data,
        &[
            (
                "w.scale",
                &[1],
                bitnet_gguf::ggml_type::F16,
                f16::ONE.to_le_bytes().to_vec(),
            ),
            ("norm", &[8], bitnet_gguf::ggml_type::F32, f32_bytes(&norm)),
        ],
    );
    write(dir.path(), "s.gguf", &bytes);
    let finding = "scale tensor \"w.scale\" has type F16 and shape [1]; expected F32 of shape [1]";
    bin_in(dir.path())
        .args(["dequant", "s.gguf", "w.weight"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(format!("error: s.gguf: {finding} [scale-shape]\n"));
    let out = run_in(
        dir.path(),
        &["dequant", "--format", "f32le", "s.gguf", "norm"],
        0,
    );
    assert_eq!(out.stdout, f32_bytes(&norm));
    assert_eq!(
        stderr(&out),
        format!("warning: s.gguf: {finding} [scale-shape]\n")
    );
}
