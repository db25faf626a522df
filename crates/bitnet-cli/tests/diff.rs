//! `diff`: identical files, changed values (the counts and differences computed here), changed
//! `.scale` siblings, metadata-only differences, tensors on one side, tensors compared by bytes
//! or not at all, text and `--json` output, and conversions comparing equal.

#![cfg(feature = "full-cli")]

mod common;

use std::path::Path;

use bitnet_gguf::{ggml_type, GgufBuilder, MetadataValue, ValueType};
use bitnet_models::TernaryFormat;
use common::*;
use serde_json::{json, Value};

use TernaryFormat::{BitnetCpp, Qk256, Tq1_0, Tq2_0};

/// Runs `diff A B` (with `--json` first when `json`) in `dir`, asserting the exit status.
fn diff(dir: &Path, a: &str, b: &str, json: bool, code: i32) -> std::process::Output {
    let mut args = vec!["diff"];
    if json {
        args.push("--json");
    }
    args.extend([a, b]);
    run_in(dir, &args, code)
}

/// `diff --json A B`, parsed.
fn diff_json(dir: &Path, a: &str, b: &str, code: i32) -> Value {
    serde_json::from_slice(&diff(dir, a, b, true, code).stdout).unwrap()
}

/// The shared-tensor entry `name` of a `diff --json` document.
fn shared<'v>(v: &'v Value, name: &str) -> &'v Value {
    v["tensors"]["shared"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no shared tensor {name}: {v}"))
}

#[test]
fn identical_files_are_equal() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = mini(Qk256);
    write(dir.path(), "a.gguf", &bytes);
    write(dir.path(), "b.gguf", &bytes);
    let out = diff(dir.path(), "a.gguf", "b.gguf", false, 0);
    insta::assert_snapshot!(stdout(&out), @r"
    a: a.gguf
    b: b.gguf
    metadata: 0 changed, 0 added, 0 removed
    tensors: 5 shared (5 equal), 0 only in a, 0 only in b
      (5 tensor(s) of the same type with equal contents not listed)
    result: every tensor decodes to the same values
    ");
    assert!(stderr(&out).is_empty());
    // A file with itself.
    diff(dir.path(), "a.gguf", "a.gguf", false, 0);

    let v = diff_json(dir.path(), "a.gguf", "b.gguf", 0);
    assert_eq!(v["equal"], true);
    // The .scale siblings are part of their weights, not tensors of their own.
    let names: Vec<&str> = v["tensors"]["shared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "token_embd.weight",
            "blk.0.attn_norm.weight",
            "blk.0.attn_q.weight",
            "blk.0.ffn_down.weight",
            "blk.0.ffn_up.weight"
        ]
    );
    assert_eq!(
        shared(&v, "token_embd.weight"),
        &json!({
            "name": "token_embd.weight", "a_type": "F16", "b_type": "F16",
            "a_ne": [256, 4], "b_ne": [256, 4], "equal": true, "compared": "values",
            "values": 1024, "differing": 0, "max_abs_diff": null, "max_rel_diff": null,
        })
    );
}

/// The index of the first weight of `w` equal to `value`, at or after `from`.
fn find(w: &[i8], value: i8, from: usize) -> usize {
    from + w[from..].iter().position(|&x| x == value).unwrap()
}

#[test]
fn a_changed_weight_is_counted_and_measured() {
    let dir = tempfile::tempdir().unwrap();
    let weights = mini_weights();
    // ffn_down (scale −0.75): three weights changed, +1 → −1 (|0.75 − (−0.75)| = 1.5, relative
    // 1.5 / 0.75 = 2), 0 → +1 (−0.0 → −0.75: 0.75, relative 1) and −1 → 0 (0.75 → −0.0: 0.75,
    // relative 1).
    let mut changed = weights.clone();
    let w = &mut changed[1].weights;
    let (i, j, k) = (find(w, 1, 100), find(w, 0, 2000), find(w, -1, 20000));
    let (old_i, old_j, old_k) = (w[i], w[j], w[k]);
    w[i] = -1;
    w[j] = 1;
    w[k] = 0;
    // The expectation, from the values the weights stand for.
    let (a, b) = (weights[1].expected(), changed[1].expected());
    let differ: Vec<usize> = (0..a.len())
        .filter(|&n| a[n].to_bits() != b[n].to_bits())
        .collect();
    assert_eq!(differ, [i, j, k]);
    assert_eq!((old_i, old_j, old_k), (1, 0, -1));
    let max_abs = differ
        .iter()
        .map(|&n| (f64::from(a[n]) - f64::from(b[n])).abs())
        .fold(0.0, f64::max);
    let max_rel = differ
        .iter()
        .map(|&n| {
            let (x, y) = (f64::from(a[n]), f64::from(b[n]));
            (x - y).abs() / x.abs().max(y.abs())
        })
        .fold(0.0, f64::max);
    assert_eq!((max_abs, max_rel), (1.5, 2.0));

    write(dir.path(), "a.gguf", &mini(Qk256));
    for format in [Qk256, BitnetCpp, Tq1_0] {
        let b = format!("b.{format}.gguf");
        write(dir.path(), &b, &mini_with(format, &changed));
        let b_type = match format {
            Qk256 => "I2_S(qk256)",
            BitnetCpp => "I2_S(bitnetcpp)",
            _ => "TQ1_0",
        };
        let types = if format == Qk256 {
            b_type.to_owned()
        } else {
            format!("I2_S(qk256) -> {b_type}")
        };
        let out = diff(dir.path(), "a.gguf", &b, false, 1);
        let text = stdout(&out);
        assert!(
            text.contains(&format!(
                "\n  blk.0.ffn_down.weight  {types}  3 of 24576 values differ, max abs 1.5e0, \
                 max rel 2e0\n"
            )),
            "{text}"
        );
        assert!(text.ends_with("\nresult: the tensors differ\n"), "{text}");
        assert!(
            text.contains("\ntensors: 5 shared (4 equal), 0 only in a, 0 only in b\n"),
            "{text}"
        );

        let v = diff_json(dir.path(), "a.gguf", &b, 1);
        assert_eq!(v["equal"], false);
        assert_eq!(
            shared(&v, "blk.0.ffn_down.weight"),
            &json!({
                "name": "blk.0.ffn_down.weight", "a_type": "I2_S(qk256)", "b_type": b_type,
                "a_ne": [768, 32], "b_ne": [768, 32], "equal": false, "compared": "values",
                "values": 24576, "differing": 3, "max_abs_diff": max_abs,
                "max_rel_diff": max_rel,
            })
        );
        for other in ["blk.0.attn_q.weight", "blk.0.ffn_up.weight"] {
            assert_eq!(shared(&v, other)["equal"], true, "{other}");
            assert_eq!(shared(&v, other)["differing"], 0, "{other}");
        }
    }
}

#[test]
fn a_changed_scale_sibling_changes_its_weight() {
    let dir = tempfile::tempdir().unwrap();
    let weights = mini_weights();
    let mut changed = weights.clone();
    changed[0].scale = 0.25; // attn_q: 0.5 → 0.25
    write(dir.path(), "a.gguf", &mini(Qk256));
    write(dir.path(), "b.gguf", &mini_with(Qk256, &changed));
    // Every nonzero weight differs by 0.25 (relative 0.5); zeros stay +0.0.
    let nonzero = weights[0].weights.iter().filter(|&&w| w != 0).count();
    assert!(nonzero > 0 && nonzero < weights[0].weights.len());
    let v = diff_json(dir.path(), "a.gguf", "b.gguf", 1);
    let t = shared(&v, "blk.0.attn_q.weight");
    assert_eq!(t["differing"], nonzero);
    assert_eq!(t["values"], 256 * 64);
    assert_eq!(t["max_abs_diff"], 0.25);
    assert_eq!(t["max_rel_diff"], 0.5);
    // The sibling is no tensor of its own on either side.
    assert_eq!(v["tensors"]["only_in_a"], json!([]));
    assert_eq!(v["tensors"]["only_in_b"], json!([]));
    assert!(v["tensors"]["shared"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| !t["name"].as_str().unwrap().ends_with(".scale")));
}

/// A `bitnet-b1.58`-shaped container: `keys`, then `tensors`.
fn file(keys: &[(&str, MetadataValue)], tensors: &[(&str, &[u64], u32, Vec<u8>)]) -> Vec<u8> {
    let mut b = GgufBuilder::new();
    for (k, v) in keys {
        b.kv(*k, v.clone());
    }
    for (name, ne, ty, data) in tensors {
        b.tensor(*name, ne, *ty, data.clone());
    }
    b.build().unwrap()
}

#[test]
fn metadata_differences_are_listed_and_do_not_fail() {
    let dir = tempfile::tempdir().unwrap();
    let qk = bitnet_models::pack_qk256(&weights(4, 256), 4, 256).unwrap();
    let tensors: &[(&str, &[u64], u32, Vec<u8>)] = &[
        ("w.weight", &[256, 4], ggml_type::I2_S, qk),
        ("w.scale", &[1], ggml_type::F32, f32_bytes(&[0.5])),
        ("n", &[3], ggml_type::F32, f32_bytes(&[1.0, 2.0, 3.0])),
    ];
    let s = |v: &str| MetadataValue::String(v.into());
    let a = file(
        &[
            ("general.architecture", s("test")),
            ("general.name", s("a")),
            ("test.zero", MetadataValue::F32(0.0)),
            ("test.nan", MetadataValue::F32(f32::NAN)),
            ("test.list", MetadataValue::strings(["x", "y"])),
            (
                "test.ints",
                MetadataValue::array(ValueType::I32, [1i32, 2, 3]),
            ),
            ("test.only_a", MetadataValue::U32(7)),
        ],
        tensors,
    );
    let b = file(
        &[
            ("general.architecture", s("test")),
            ("general.name", s("b")),
            ("test.zero", MetadataValue::F32(-0.0)),
            ("test.nan", MetadataValue::F32(f32::NAN)),
            ("test.list", MetadataValue::strings(["x", "z"])),
            (
                "test.ints",
                MetadataValue::array(ValueType::I32, [1i32, 2, 3, 4]),
            ),
            ("test.only_b", MetadataValue::Bool(true)),
        ],
        tensors,
    );
    write(dir.path(), "a.gguf", &a);
    write(dir.path(), "b.gguf", &b);
    let out = diff(dir.path(), "a.gguf", "b.gguf", false, 0);
    // Floats by their bits: 0.0 and −0.0 differ, NaN equals itself.
    insta::assert_snapshot!(stdout(&out), @r#"
    a: a.gguf
    b: b.gguf
    metadata: 4 changed, 1 added, 1 removed
      changed general.name: "a" -> "b"
      changed test.zero: 0.0 -> -0.0
      changed test.list: [2 x STRING] -> [2 x STRING], first at [1]: "y" -> "z"
      changed test.ints: [3 x INT32] -> [4 x INT32], first at [3]: (none) -> 4
      added   test.only_b
      removed test.only_a
    tensors: 2 shared (2 equal), 0 only in a, 0 only in b
      (2 tensor(s) of the same type with equal contents not listed)
    result: every tensor decodes to the same values
    "#);
    let v = diff_json(dir.path(), "a.gguf", "b.gguf", 0);
    assert_eq!(v["equal"], true);
    assert_eq!(
        v["metadata"],
        json!({
            "added": ["test.only_b"],
            "removed": ["test.only_a"],
            "changed": [
                {"key": "general.name", "a": "a", "b": "b"},
                {"key": "test.zero", "a": 0.0, "b": -0.0},
                {"key": "test.list", "a": ["x", "y"], "b": ["x", "z"],
                 "first_difference": {"index": 1, "a": "y", "b": "z"}},
                {"key": "test.ints", "a": [1, 2, 3], "b": [1, 2, 3, 4],
                 "first_difference": {"index": 3, "a": null, "b": 4}},
            ],
        })
    );
}

#[test]
fn a_tensor_on_one_side_only_fails() {
    let dir = tempfile::tempdir().unwrap();
    let weights = mini_weights();
    write(dir.path(), "full.gguf", &mini(Qk256));
    // Without ffn_up (and its sibling).
    write(dir.path(), "less.gguf", &mini_with(Qk256, &weights[..2]));
    let out = diff(dir.path(), "full.gguf", "less.gguf", false, 1);
    let text = stdout(&out);
    assert!(
        text.contains(
            "\ntensors: 4 shared (4 equal), 1 only in a, 0 only in b\n  only in a: \
             blk.0.ffn_up.weight\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("\nresult: the tensors differ\n"), "{text}");
    let v = diff_json(dir.path(), "less.gguf", "full.gguf", 1);
    assert_eq!(v["equal"], false);
    assert_eq!(v["tensors"]["only_in_a"], json!([]));
    assert_eq!(v["tensors"]["only_in_b"], json!(["blk.0.ffn_up.weight"]));
    assert_eq!(v["tensors"]["shared"].as_array().unwrap().len(), 4);
    // In another format: the same.
    write(
        dir.path(),
        "less.tq2.gguf",
        &mini_with(Tq2_0, &weights[..2]),
    );
    let v = diff_json(dir.path(), "less.tq2.gguf", "full.gguf", 1);
    assert_eq!(v["tensors"]["only_in_b"], json!(["blk.0.ffn_up.weight"]));
    assert!(v["tensors"]["shared"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["equal"] == true));
}

#[test]
fn every_conversion_compares_equal() {
    // A QK256 file and its conversions: the sibling is part of the weight's values wherever the
    // scale went (a bitnetcpp tail, block scales, a TQ sibling with d = 1).
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "qk.gguf", &mini(Qk256));
    for target in TernaryFormat::ALL {
        let out = format!("{target}.gguf");
        run_in(
            dir.path(),
            &["convert", "qk.gguf", &out, "--to", target.name()],
            0,
        );
        let v = diff_json(dir.path(), "qk.gguf", &out, 0);
        assert_eq!(v["equal"], true, "{target}");
        assert_eq!(v["tensors"]["only_in_a"], json!([]), "{target}");
        assert_eq!(v["tensors"]["only_in_b"], json!([]), "{target}");
        let b_type = match target {
            Tq2_0 => "TQ2_0".to_owned(),
            Tq1_0 => "TQ1_0".to_owned(),
            flavor => format!("I2_S({flavor})"),
        };
        for w in mini_weights() {
            let n = w.rows * w.cols;
            assert_eq!(
                shared(&v, w.name),
                &json!({
                    "name": w.name, "a_type": "I2_S(qk256)", "b_type": b_type,
                    "a_ne": [w.cols, w.rows], "b_ne": [w.cols, w.rows], "equal": true,
                    "compared": "values", "values": n, "differing": 0,
                    "max_abs_diff": null, "max_rel_diff": null,
                }),
                "{target}"
            );
        }
        // Back the other way, too.
        diff(dir.path(), &out, "qk.gguf", false, 0);
    }
    let out = diff(dir.path(), "qk.gguf", "bitnetcpp.gguf", false, 0);
    insta::assert_snapshot!(stdout(&out), @r"
    a: qk.gguf
    b: bitnetcpp.gguf
    metadata: 0 changed, 1 added, 0 removed
      added   general.file_type
    tensors: 5 shared (5 equal), 0 only in a, 0 only in b
      blk.0.attn_q.weight  I2_S(qk256) -> I2_S(bitnetcpp)  bit-equal (16384 values)
      blk.0.ffn_down.weight  I2_S(qk256) -> I2_S(bitnetcpp)  bit-equal (24576 values)
      blk.0.ffn_up.weight  I2_S(qk256) -> I2_S(bitnetcpp)  bit-equal (8192 values)
      (2 tensor(s) of the same type with equal contents not listed)
    result: every tensor decodes to the same values
    ");
    // Two different conversions of the same model compare equal too.
    diff(dir.path(), "tq1_0.gguf", "bitnet32f16.gguf", false, 0);
}

#[test]
fn f32_values_compare_by_their_bits() {
    let dir = tempfile::tempdir().unwrap();
    let one = |v: &[f32]| container(&[("x", &[v.len() as u64][..], ggml_type::F32, f32_bytes(v))]);
    // NaN = NaN (same bits); −0.0 ≠ 0.0 (no absolute difference, no relative one); 2 vs 3
    // (1, relative 1/3); NaN vs 5 (differs, in no maximum).
    let nan = f32::NAN;
    write(dir.path(), "a.gguf", &one(&[nan, -0.0, 1.0, 2.0, nan]));
    write(dir.path(), "b.gguf", &one(&[nan, 0.0, 1.0, 3.0, 5.0]));
    let v = diff_json(dir.path(), "a.gguf", "b.gguf", 1);
    let t = shared(&v, "x");
    assert_eq!(t["differing"], 3);
    assert_eq!(t["values"], 5);
    assert_eq!(t["max_abs_diff"], 1.0);
    assert_eq!(t["max_rel_diff"].as_f64().unwrap(), 1.0 / 3.0);

    // Only −0.0 against 0.0: a difference with no size.
    write(dir.path(), "c.gguf", &one(&[nan, 0.0, 1.0, 2.0, nan]));
    let v = diff_json(dir.path(), "a.gguf", "c.gguf", 1);
    let t = shared(&v, "x");
    assert_eq!(t["differing"], 1);
    assert_eq!(t["max_abs_diff"], 0.0);
    assert_eq!(t["max_rel_diff"], Value::Null);
    let text = stdout(&diff(dir.path(), "a.gguf", "c.gguf", false, 1));
    assert!(
        text.contains("\n  x  F32  1 of 5 values differ, max abs 0e0, max rel -\n"),
        "{text}"
    );
    diff(dir.path(), "a.gguf", "a.gguf", false, 0);
}

#[test]
fn tensors_compared_by_bytes_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    // Q8_0, which nothing here decodes: 34 bytes per 32 values, compared as stored.
    let q8 = |fill: u8| vec![fill; 34];
    let f32s = f32_bytes(&[0.5; 32]);
    let a = container(&[
        ("q", &[32], ggml_type::Q8_0, q8(1)),
        ("r", &[32], ggml_type::Q8_0, q8(2)),
        ("s", &[32], ggml_type::F32, f32s.clone()),
        ("t", &[32], ggml_type::F32, f32s.clone()),
    ]);
    let b = container(&[
        ("q", &[32], ggml_type::Q8_0, q8(1)),
        ("r", &[32], ggml_type::Q8_0, q8(3)),
        ("s", &[32], ggml_type::Q8_0, q8(1)),
        ("t", &[16, 2], ggml_type::F32, f32s),
    ]);
    write(dir.path(), "a.gguf", &a);
    write(dir.path(), "b.gguf", &b);
    let v = diff_json(dir.path(), "a.gguf", "b.gguf", 1);
    let base = |name: &str, a_type: &str, b_type: &str, b_ne: Value| json!({"name": name, "a_type": a_type, "b_type": b_type, "a_ne": [32], "b_ne": b_ne});
    let with = |mut v: Value, extra: Value| {
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    assert_eq!(
        shared(&v, "q"),
        &with(
            base("q", "Q8_0", "Q8_0", json!([32])),
            json!({"equal": true, "compared": "bytes"})
        )
    );
    assert_eq!(
        shared(&v, "r"),
        &with(
            base("r", "Q8_0", "Q8_0", json!([32])),
            json!({"equal": false, "compared": "bytes"})
        )
    );
    let s = shared(&v, "s");
    assert_eq!(s["equal"], false);
    assert_eq!(s["compared"], Value::Null);
    let reason = s["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("B: ") && reason.contains("Q8_0"),
        "{reason}"
    );
    assert_eq!(
        shared(&v, "t"),
        &with(
            base("t", "F32", "F32", json!([16, 2])),
            json!({"equal": false, "compared": null, "reason": "the shapes differ"})
        )
    );
    let text = stdout(&diff(dir.path(), "a.gguf", "b.gguf", false, 1));
    for line in [
        "\ntensors: 4 shared (1 equal), 0 only in a, 0 only in b\n",
        "\n  r  Q8_0  bytes differ\n",
        "\n  s  F32 -> Q8_0  not compared: B: ",
        "\n  t  F32  not compared: the shapes differ\n",
        "\n  (1 tensor(s) of the same type with equal contents not listed)\n",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
}

#[test]
fn json_output_shape() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.gguf", &mini(BitnetCpp));
    let mut changed = mini_weights();
    changed[2].weights[0] = if changed[2].weights[0] == 1 { 0 } else { 1 };
    write(dir.path(), "b.gguf", &mini_with(Tq2_0, &changed[1..]));
    let out = diff(dir.path(), "a.gguf", "b.gguf", true, 1);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1);
    let v: Value = serde_json::from_str(&text).unwrap();
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let mut want = vec!["a", "b", "equal", "metadata", "tensors"];
    let sorted = |mut k: Vec<String>| {
        k.sort();
        k
    };
    let sorted_strs = |w: &mut Vec<&str>| {
        w.sort();
        w.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(sorted(keys(&v)), sorted_strs(&mut want));
    // In this order.
    let at: Vec<usize> = [
        "\"a\":",
        "\"b\":",
        "\"equal\":",
        "\"metadata\":",
        "\"tensors\":",
    ]
    .iter()
    .map(|k| text.find(k).unwrap())
    .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(v["a"], "a.gguf");
    assert_eq!(v["b"], "b.gguf");
    assert_eq!(v["equal"], false);
    assert_eq!(
        sorted(keys(&v["metadata"])),
        sorted_strs(&mut vec!["added", "removed", "changed"])
    );
    assert_eq!(v["metadata"]["added"], json!([]));
    assert_eq!(
        sorted(keys(&v["tensors"])),
        sorted_strs(&mut vec!["only_in_a", "only_in_b", "shared"])
    );
    assert_eq!(v["tensors"]["only_in_a"], json!(["blk.0.attn_q.weight"]));
    // A tensor compared by values has every member but `reason`.
    let t = shared(&v, "blk.0.ffn_up.weight");
    assert_eq!(
        sorted(keys(t)),
        sorted_strs(&mut vec![
            "name",
            "a_type",
            "b_type",
            "a_ne",
            "b_ne",
            "equal",
            "compared",
            "values",
            "differing",
            "max_abs_diff",
            "max_rel_diff"
        ])
    );
    assert_eq!(t["a_type"], "I2_S(bitnetcpp)");
    assert_eq!(t["b_type"], "TQ2_0");
    assert_eq!(t["differing"], 1);
    assert_eq!(t["equal"], false);
}

#[test]
fn errors_and_exit_statuses() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.gguf", &mini(Qk256));
    write(dir.path(), "empty.gguf", b"");
    bin_in(dir.path())
        .args(["diff", "a.gguf", "missing.gguf"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicates::str::starts_with(
            "error: missing.gguf: cannot open: ",
        ));
    bin_in(dir.path())
        .args(["diff", ".", "a.gguf"])
        .assert()
        .code(2);
    bin_in(dir.path()).args(["diff", "a.gguf"]).assert().code(2);
    bin_in(dir.path())
        .args(["diff", "a.gguf", "empty.gguf"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            "error: empty.gguf: truncated magic: needs 4 bytes at byte 0, the file ends at byte 0 (4 bytes short) [truncated]\n",
        );
}
