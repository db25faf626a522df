//! `inspect`: exact values of third-party files, the JSON shape, `--ln-stats`, the norm gate.

#![cfg(feature = "full-cli")]

mod common;

use bitnet_testkit::fixtures;
use common::*;
use serde_json::{json, Value};

fn inspect_json(cmd: &mut assert_cmd::Command) -> Value {
    let out = cmd.assert().code(0);
    serde_json::from_str(&stdout(out.get_output())).unwrap()
}

#[test]
fn fixtures_pass_the_strict_gate() {
    for name in fixtures::names() {
        let path = fixture(name);
        let out = bin()
            .env("BITNET_STRICT_MODE", "1")
            .args(["inspect", "--ln-stats", "--gate", "auto"])
            .arg(&path)
            .assert()
            .code(0);
        let text = stdout(out.get_output());
        assert!(
            text.contains("gate:        auto (bitnet-b1.58: norm rms in [0.5, 2.0]): pass"),
            "{text}"
        );
        assert!(stderr(out.get_output()).is_empty());

        let v = inspect_json(
            bin()
                .env("BITNET_STRICT_MODE", "1")
                .args(["inspect", "--json", "--ln-stats", "--gate", "auto"])
                .arg(&path),
        );
        assert_eq!(v["gate"]["passed"], true);
        let stats = v["ln_stats"].as_array().unwrap();
        assert_eq!(stats.len(), 1);
        assert_eq!(stats[0]["name"], "blk.0.attn_norm.weight");
        let rms = stats[0]["rms"].as_f64().unwrap();
        assert!((0.96..1.04).contains(&rms), "{name}: rms {rms}");
        let weight = &v["tensors"][0];
        assert_eq!(weight["name"], "blk.0.attn_q.weight");
        assert_eq!(weight["ggml_type"], 36);
        assert_eq!(weight["type_name"], "I2_S");
        let (flavor, bytes) = if name.starts_with("qk256_4x256") {
            ("qk256", 256)
        } else if name.starts_with("qk256_3x300") {
            ("qk256", 384)
        } else if name.starts_with("bitnetcpp_4x384") {
            // The codes, 4 × 384 / 4, and the 32-byte tail.
            ("bitnetcpp", 384 + 32)
        } else {
            assert!(name.starts_with("bitnet32f16_2x64"), "{name}");
            ("bitnet32f16", 40)
        };
        assert_eq!(weight["flavor"], flavor, "{name}");
        assert_eq!(weight["bytes"], bytes, "{name}");
    }
}

/// A `bitnet-b1.58` file whose norm weights are collapsed to RMS 0.01.
fn collapsed() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "collapsed.gguf",
        &bitnet_qk256(4, 256, 0.5, &[0.01; 256]),
    );
    (dir, path)
}

#[test]
fn collapsed_norms_fail_the_gate_only_in_strict_mode() {
    let (_dir, path) = collapsed();
    // The file itself is valid.
    bin()
        .arg("compat-check")
        .arg(&path)
        .assert()
        .code(0)
        .stdout(format!("{}: OK\n", path.display()));

    let args = ["inspect", "--ln-stats", "--gate", "auto"];
    let out = bin().args(args).arg(&path).assert().code(0);
    let err = stderr(out.get_output());
    assert!(
        err.starts_with("warning: gate: norm \"blk.0.attn_norm.weight\": rms 0.0099999"),
        "{err}"
    );
    assert!(err.contains("outside [0.5, 2.0]"), "{err}");
    assert!(stdout(out.get_output()).contains("FAIL (1 norm tensor(s))"));

    for value in ["1", "true", "TRUE", "yes", "on"] {
        let out = bin()
            .env("BITNET_STRICT_MODE", value)
            .args(args)
            .arg(&path)
            .assert()
            .code(1);
        let err = stderr(out.get_output());
        assert!(err.contains("warning: gate: norm"), "{err}");
        assert!(
            err.contains("1 norm tensor(s) failed the gate under BITNET_STRICT_MODE"),
            "{err}"
        );
    }
    // Strict mode off: the same output as without the variable, the failure only a warning.
    let lenient = out.get_output().clone();
    for value in ["0", "false", "off", ""] {
        bin()
            .env("BITNET_STRICT_MODE", value)
            .args(args)
            .arg(&path)
            .assert()
            .code(0)
            .stdout(stdout(&lenient))
            .stderr(stderr(&lenient));
    }
    // Without a gate, strict mode has nothing to fail: the stats are listed, nothing is gated.
    let out = bin()
        .env("BITNET_STRICT_MODE", "1")
        .args(["inspect", "--ln-stats"])
        .arg(&path)
        .assert()
        .code(0)
        .stderr("");
    let text = stdout(out.get_output());
    assert!(text.contains("blk.0.attn_norm.weight"), "{text}");
    assert!(!text.contains("FAIL"), "{text}");

    // JSON: the failure is under `gate`, stdout stays one JSON document.
    let out = bin()
        .env("BITNET_STRICT_MODE", "1")
        .args(["inspect", "--json", "--gate", "auto"])
        .arg(&path)
        .assert()
        .code(1);
    let v: Value = serde_json::from_str(&stdout(out.get_output())).unwrap();
    assert_eq!(v["ln_stats"], Value::Null, "stats only with --ln-stats");
    let gate = &v["gate"];
    assert_eq!(gate["passed"], false);
    assert_eq!(gate["strict"], true);
    assert_eq!(gate["architecture"], "bitnet-b1.58");
    assert_eq!(gate["rms_range"], json!([0.5, 2.0]));
    assert_eq!(gate["warnings"][0]["tensor"], "blk.0.attn_norm.weight");
}

#[test]
fn other_architectures_are_not_gated() {
    let path = third_party("gguf-py-written.gguf");
    let v = inspect_json(
        bin()
            .env("BITNET_STRICT_MODE", "1")
            .args(["inspect", "--json", "--ln-stats", "--gate", "auto"])
            .arg(&path),
    );
    assert_eq!(v["ln_stats"], json!([]));
    assert_eq!(
        v["gate"],
        json!({
            "mode": "auto",
            "architecture": "llama",
            "rms_range": null,
            "passed": true,
            "strict": true,
            "warnings": [],
            "note": "no norm thresholds for architecture \"llama\"; nothing gated",
        })
    );
}

#[test]
fn gguf_py_written_exact_values() {
    let v = inspect_json(bin().env("BITNET_KERNEL", "scalar").args([
        "inspect",
        "--json",
        "testdata/third-party/gguf-py-written.gguf",
    ]));
    // The whole document, pinned.
    insta::assert_snapshot!(serde_json::to_string_pretty(&v).unwrap());
    let m = &v["metadata"];
    // Integers exact: 2^63 + 5 does not survive an f64.
    assert_eq!(m["test.u64"].as_u64(), Some((1 << 63) + 5));
    assert_eq!(m["test.i64"].as_i64(), Some(-(1 << 62)));
    assert_eq!(m["test.utf8"], "héllo wörld ✓");
    assert_eq!(m["test.f32"].as_f64(), Some(0.15625));
    assert_eq!(m["test.f64"].as_f64(), Some(-1e300));
    assert_eq!(m["test.arr_i32"], json!([1, -2, 3, -4]));
    assert_eq!(m["test.arr_str"], json!(["a", "", "ccc"]));
    assert_eq!(m["tokenizer.ggml.tokens"].as_array().unwrap().len(), 16);
    assert_eq!(v["data_offset"], 992);
    let tensors: Vec<(String, u64, Vec<u64>, u64)> = v["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["type_name"].as_str().unwrap().to_owned(),
                t["ggml_type"].as_u64().unwrap(),
                serde_json::from_value(t["ne"].clone()).unwrap(),
                t["offset"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tensors,
        [
            ("F32".into(), 0, vec![40, 3], 0),
            ("F16".into(), 1, vec![17, 2], 480),
            ("Q8_0".into(), 8, vec![64, 2], 576),
            ("TQ2_0".into(), 35, vec![512, 4], 736),
        ]
    );
    // The raw text too: no float formatting of the u64.
    let out = bin()
        .args([
            "inspect",
            "--json",
            "testdata/third-party/gguf-py-written.gguf",
        ])
        .assert()
        .code(0);
    assert!(stdout(out.get_output()).contains("\"test.u64\":9223372036854775813,"));
}

#[test]
fn vocab_file_exact_values() {
    let v = inspect_json(bin().args([
        "inspect",
        "--json",
        "testdata/third-party/ggml-vocab-llama-spm.gguf",
    ]));
    let tokens = v["metadata"]["tokenizer.ggml.tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 32000);
    assert_eq!(tokens[..3], [json!("<unk>"), json!("<s>"), json!("</s>")]);
    assert_eq!(
        v["metadata"]["tokenizer.ggml.scores"]
            .as_array()
            .unwrap()
            .len(),
        32000
    );
    assert_eq!(
        v["metadata"]["tokenizer.ggml.token_type"]
            .as_array()
            .unwrap()
            .len(),
        32000
    );
    assert_eq!(v["metadata"].as_object().unwrap().len(), 22);
    assert_eq!(v["metadata"]["general.architecture"], "llama");
    assert_eq!(v["tensors"], json!([]));
    // The data section of a vocab-only file may start past the end of the file.
    let len = std::fs::metadata(third_party("ggml-vocab-llama-spm.gguf"))
        .unwrap()
        .len();
    assert!(v["data_offset"].as_u64().unwrap() > len);

    // Text mode summarizes long arrays.
    let out = bin()
        .args(["inspect", "testdata/third-party/ggml-vocab-llama-spm.gguf"])
        .assert()
        .code(0);
    let text = stdout(out.get_output());
    assert!(
        text.contains(r#"STRING[32000]  ["<unk>", "<s>", "</s>", "<0x00>", "<0x01>", "<0x02>", "<0x03>", "<0x04>", … (32000 total)]"#),
        "{text}"
    );
    assert!(text.len() < 8000, "text output is a summary");
}

#[test]
fn text_output_shape() {
    let out = bin()
        .env("BITNET_KERNEL", "scalar")
        .args(["inspect", "testdata/third-party/gguf-py-written.gguf"])
        .assert()
        .code(0);
    insta::assert_snapshot!(stdout(out.get_output()));
}

#[test]
fn invalid_but_parseable_files_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, _) in malformed() {
        let file = format!("{name}.gguf");
        write(dir.path(), &file, &bytes);
        let out = bin_in(dir.path())
            .args(["inspect", "--json", &file])
            .output()
            .unwrap();
        let fatal = bitnet_gguf::Gguf::parse(&bytes).is_err();
        if fatal {
            assert_eq!(out.status.code(), Some(1), "{name}");
            let err = stderr(&out);
            assert!(
                err.starts_with(&format!("error: {file}: ")),
                "{name}: {err}"
            );
            assert!(out.stdout.is_empty());
            continue;
        }
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let tensors = v["tensors"].as_array().unwrap();
        match name {
            "unknown-type" => {
                assert_eq!(tensors[1]["type_name"], "unknown");
                assert_eq!(tensors[1]["ggml_type"], 99);
                assert_eq!(tensors[1]["bytes"], Value::Null);
            }
            "ambiguous-i2s-1x160" | "i2s-size-mismatch" => {
                assert_eq!(tensors[0]["flavor"], Value::Null, "{name}");
                assert_eq!(tensors[0]["bytes"], Value::Null, "{name}");
            }
            "reserved-code" | "scale-nan" => {
                assert_eq!(tensors[0]["flavor"], "qk256", "{name}");
                assert_eq!(tensors[0]["bytes"], 256, "{name}");
            }
            "ambiguous-i2s-1x128" => {
                assert_eq!(tensors[0]["flavor"], Value::Null, "{name}");
                assert_eq!(tensors[0]["bytes"], Value::Null, "{name}");
            }
            // The flavor is known from the size even when the tail scale is bad.
            "bitnetcpp-nan-scale" | "bitnetcpp-reserved-code" => {
                assert_eq!(tensors[0]["flavor"], "bitnetcpp", "{name}");
                assert_eq!(tensors[0]["bytes"], 224, "{name}");
            }
            _ => {}
        }
    }
}

#[test]
fn bitnetcpp_fixture_is_listed_with_its_flavor_and_stored_size() {
    let path = fixture("bitnetcpp_4x384_seed45.gguf");
    let v = inspect_json(bin().args(["inspect", "--json"]).arg(&path));
    let weight = &v["tensors"][0];
    assert_eq!(weight["name"], "blk.0.attn_q.weight");
    assert_eq!(weight["ggml_type"], 36);
    assert_eq!(weight["type_name"], "I2_S");
    assert_eq!(weight["ne"], json!([384, 4]));
    assert_eq!(weight["flavor"], "bitnetcpp");
    // n / 4 + 32: the codes and the tail.
    assert_eq!(weight["bytes"], 4 * 384 / 4 + 32);
    assert_eq!(v["tensors"].as_array().unwrap().len(), 2);
    assert_eq!(v["file_type_name"], Value::Null);

    // Text mode: the same row, and no note.
    let out = bin().arg("inspect").arg(&path).assert().code(0);
    let text = stdout(out.get_output());
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("blk.0.attn_q.weight"))
        .unwrap_or_else(|| panic!("{text}"));
    let fields: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(fields[1], "I2_S(36)", "{row}");
    assert!(fields.contains(&"bitnetcpp"), "{row}");
    assert_eq!(fields.last(), Some(&"416"), "{row}");
    assert!(stderr(out.get_output()).is_empty());

    // A 1×128 tensor the file decides is listed with the file's flavor; an undecided one with
    // none, and a note in text mode.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "d.gguf", &decided_1x128(&[]));
    let v = inspect_json(bin_in(dir.path()).args(["inspect", "--json", "d.gguf"]));
    assert_eq!(v["tensors"][0]["flavor"], "bitnetcpp");
    assert_eq!(v["tensors"][0]["bytes"], 64);
    assert_eq!(v["tensors"][1]["flavor"], "bitnetcpp");
    assert_eq!(v["tensors"][1]["bytes"], 224);
    write(
        dir.path(),
        "amb.gguf",
        &i2s(128, 1, bitnetcpp_data(1, 128, 0.5), &[]),
    );
    let out = run_in(dir.path(), &["inspect", "amb.gguf"], 0);
    assert!(
        stderr(&out).contains("[i2s-ambiguous-flavor]"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn fatal_parse_errors_exit_1_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "empty.gguf", b"");
    bin_in(dir.path())
        .args(["inspect", "empty.gguf"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            "error: empty.gguf: truncated magic: needs 4 bytes at byte 0, the file ends at byte 0 (4 bytes short) [truncated]\n",
        );
    let mut be = plain();
    be[4..8].copy_from_slice(&3u32.to_be_bytes());
    write(dir.path(), "be.gguf", &be);
    bin_in(dir.path())
        .args(["inspect", "be.gguf"])
        .assert()
        .code(1)
        .stderr("error: be.gguf: big-endian GGUF (version field reads 0x03000000); only little-endian files are supported [big-endian]\n");
}

#[test]
fn io_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    bin_in(dir.path())
        .args(["inspect", "missing.gguf"])
        .assert()
        .code(2)
        .stderr(predicates::str::starts_with(
            "error: missing.gguf: cannot open: ",
        ));
    bin_in(dir.path())
        .args(["inspect", "."])
        .assert()
        .code(2)
        .stderr("error: .: is a directory, not a GGUF file\n");
    let err = usage_error(&["inspect", "--gate", "sometimes", "x"]);
    assert!(
        err.starts_with(
            "error: invalid value 'sometimes' for '--gate <GATE>'\n  [possible values: none, auto]\n"
        ),
        "{err}"
    );
}

#[test]
fn kernel_is_reported() {
    let v = inspect_json(bin().env("BITNET_KERNEL", "scalar").args([
        "inspect",
        "--json",
        "testdata/third-party/gguf-py-written.gguf",
    ]));
    assert_eq!(v["kernel"], "scalar");
    let best = bitnet_models::Kernel::best().name();
    let v = inspect_json(bin().args([
        "inspect",
        "--json",
        "testdata/third-party/gguf-py-written.gguf",
    ]));
    assert_eq!(v["kernel"], best);
}
