//! `matmul`: the fixtures' expected products, every dialect, batches, JSON, and each error with
//! its exit status.

#![cfg(feature = "full-cli")]

mod common;

use bitnet_models::fixtures::sha256_hex;
use bitnet_models::matmul::{Semantics, Weights};
use bitnet_models::{Kernel, Model, TernaryFormat};
use bitnet_testkit::fixtures;
use common::*;
use serde_json::Value;

fn expected() -> Value {
    serde_json::from_str(fixtures::EXPECTED).unwrap()
}

/// The fixture's input vector from `expected.json`.
fn input_of(m: &Value) -> Vec<f32> {
    m["input"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

/// Every fixture, every semantics: `matmul --format f32le` gives the bytes whose SHA-256
/// `expected.json` records, with every kernel; a semantics that does not apply is exit 2 with
/// the reason `expected.json` gives. Without `--semantics`, the default of the dialect.
#[test]
fn every_fixture_gives_its_expected_products() {
    let dir = tempfile::tempdir().unwrap();
    let mut ran = 0;
    for file in expected()["fixtures"].as_array().unwrap() {
        let name = file["file"].as_str().unwrap();
        let m = &file["tensors"][0]["matmul"];
        write(dir.path(), "x.f32", &f32_bytes(&input_of(m)));
        let path = fixture(name);
        let default = match file["tensors"][0]["flavor"].as_str().unwrap() {
            "bitnetcpp" => "bitnetcpp",
            _ => "exact",
        };
        for p in m["products"].as_array().unwrap() {
            let semantics = p["semantics"].as_str().unwrap();
            let mut runs = vec![vec!["--semantics", semantics]];
            if semantics == default {
                runs.push(vec![]);
            }
            for extra in runs {
                for kernel in Kernel::available() {
                    let mut cmd = bin_in(dir.path());
                    cmd.env("BITNET_KERNEL", kernel.name())
                        .args(["matmul", "--format", "f32le", "--input", "x.f32"])
                        .arg(&path)
                        .arg("blk.0.attn_q.weight")
                        .args(&extra);
                    match p["sha256"].as_str() {
                        Some(sha) => {
                            let out = cmd.assert().code(0);
                            let y = &out.get_output().stdout;
                            assert_eq!(sha256_hex(y), sha, "{name} {semantics}");
                            ran += 1;
                        }
                        None => {
                            let reason = p["not_applicable"].as_str().unwrap();
                            let out = cmd.assert().code(2).stdout("");
                            let err = stderr(out.get_output());
                            assert!(err.contains(reason), "{err}");
                            assert!(err.ends_with("[not-applicable]\n"), "{err}");
                        }
                    }
                }
            }
        }
    }
    assert!(ran >= 8 * Kernel::available().len());
}

/// A batch of two vectors on every ternary dialect of a mini model, read from stdin, as JSON:
/// the library's `gemm`, value for value.
#[test]
fn batches_on_every_dialect_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let weights = mini_weights();
    let x: Vec<f32> = (0..2 * 768)
        .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
        .collect();
    for format in [
        TernaryFormat::Qk256,
        TernaryFormat::BitNet32F16,
        TernaryFormat::BitnetCpp,
        TernaryFormat::Tq2_0,
        TernaryFormat::Tq1_0,
    ] {
        let bytes = mini_with(format, &weights);
        let path = write(dir.path(), "m.gguf", &bytes);
        let model = Model::parse(&bytes).unwrap();
        let index = model.index_of("blk.0.ffn_down.weight").unwrap();
        let tensor = model.ternary(index).unwrap().unwrap();
        for semantics in Semantics::ALL {
            let Ok(w) = Weights::new(&tensor, semantics) else {
                continue;
            };
            let mut want = vec![0.0f32; 2 * 32];
            w.gemm(Kernel::scalar(), &x, &mut want).unwrap();
            let out = bin_in(dir.path())
                .args(["matmul", "--input", "-", "--semantics", semantics.name()])
                .arg(&path)
                .arg("blk.0.ffn_down.weight")
                .write_stdin(f32_bytes(&x))
                .assert()
                .code(0);
            let doc: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
            assert_eq!(doc["semantics"], semantics.name());
            assert_eq!(doc["format"], format.name());
            assert_eq!(doc["vectors"], 2);
            assert_eq!(doc["ne"], serde_json::json!([768, 32]));
            let got: Vec<f32> = doc["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(got, want, "{format} {semantics}");
        }
    }
}

#[test]
fn bad_requests_are_exit_2_and_bad_files_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = mini_with(TernaryFormat::Tq2_0, &mini_weights());
    write(dir.path(), "m.gguf", &bytes);
    write(dir.path(), "x3.f32", &f32_bytes(&[1.0; 3]));
    write(dir.path(), "odd.f32", &[0; 7]);
    let mut nan = vec![0.5f32; 256];
    nan[9] = f32::NAN;
    write(dir.path(), "nan.f32", &f32_bytes(&nan));
    write(dir.path(), "x.f32", &f32_bytes(&[0.5; 256]));
    let run = |args: &[&str], code: i32| stderr(&run_in(dir.path(), args, code));
    let q = "blk.0.attn_q.weight";

    let err = run(&["matmul", "m.gguf", q, "--input", "x3.f32"], 2);
    assert_eq!(
        err,
        "error: m.gguf: input holds 3 values; tensor \"blk.0.attn_q.weight\" takes vectors of \
         256 (its columns) [input-length]\n"
    );
    let err = run(&["matmul", "m.gguf", q, "--input", "odd.f32"], 2);
    assert!(
        err.contains("7 bytes is not a whole number of f32 values"),
        "{err}"
    );
    let err = run(&["matmul", "m.gguf", q, "--input", "nan.f32"], 2);
    assert!(
        err.contains("input value 9 is NaN, not a finite number [non-finite-input]"),
        "{err}"
    );
    let err = run(
        &[
            "matmul",
            "m.gguf",
            "blk.0.attn_norm.weight",
            "--input",
            "x.f32",
        ],
        2,
    );
    assert!(
        err.contains("has type F32; matmul multiplies ternary tensors"),
        "{err}"
    );
    assert!(err.ends_with("[not-ternary]\n"), "{err}");
    let err = run(&["matmul", "m.gguf", "nope", "--input", "x.f32"], 2);
    assert!(err.contains("no tensor named \"nope\""), "{err}");
    for (semantics, message) in [
        ("bitnetcpp", "[not-applicable]"),
        ("bitnet", "unknown semantics \"bitnet\""),
    ] {
        let args = [
            "matmul",
            "m.gguf",
            q,
            "--input",
            "x.f32",
            "--semantics",
            semantics,
        ];
        let err = run(&args, 2);
        assert!(err.contains(message), "{err}");
    }
    let err = run(&["matmul", "m.gguf", q, "--input", "missing.f32"], 2);
    assert!(err.contains("missing.f32: cannot read"), "{err}");

    // A file cut short inside the tensor's data: invalid (exit 1), and an existing --out target
    // is left as it was.
    write(
        dir.path(),
        "cut.gguf",
        &bytes[..tensor_start(&bytes, q) + 10],
    );
    write(dir.path(), "y.f32", b"keep");
    let err = run(
        &[
            "matmul", "cut.gguf", q, "--input", "x.f32", "--out", "y.f32",
        ],
        1,
    );
    assert!(err.contains("[data-out-of-bounds]"), "{err}");
    assert_eq!(std::fs::read(dir.path().join("y.f32")).unwrap(), b"keep");

    // A reserved code (3) in the first byte of blk.0.attn_q.weight: exit 1, named with its
    // offset.
    let start = tensor_start(&bytes, q);
    let mut reserved = bytes.clone();
    reserved[start] |= 0b11;
    write(dir.path(), "r.gguf", &reserved);
    let err = run(&["matmul", "r.gguf", q, "--input", "x.f32"], 1);
    assert!(
        err.contains(&format!("the first in the byte at offset {start}")),
        "{err}"
    );
    assert!(err.ends_with("[reserved-codes]\n"), "{err}");

    // --out: written atomically, the library's bits.
    run(
        &[
            "matmul", "m.gguf", q, "--input", "x.f32", "--format", "f32le", "--out", "y.f32",
        ],
        0,
    );
    let model = Model::parse(&bytes).unwrap();
    let t = model.ternary(model.index_of(q).unwrap()).unwrap().unwrap();
    let mut want = vec![0.0; t.rows];
    Weights::new(&t, Semantics::Ggml)
        .unwrap()
        .gemv(Kernel::scalar(), &[0.5; 256], &mut want)
        .unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("y.f32")).unwrap(),
        f32_bytes(&want)
    );
}
