//! `convert`: every direction between the five ternary formats on a small `bitnet-b1.58` model,
//! the output's values checked against the weights and scales packed here (not against the
//! tool); round trips; every refusal; file safety; the output line and `--json`.

#![cfg(feature = "full-cli")]

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use bitnet_gguf::{ggml_type, Gguf, MetadataValue};
use bitnet_models::{Model, TernaryFormat};
use common::*;
use half::f16;
use serde_json::Value;

use TernaryFormat::{BitNet32F16, BitnetCpp, Qk256, Tq1_0, Tq2_0};

/// Runs `convert IN OUT --to TARGET` (plus `extra`) in `dir` and asserts the exit status.
fn convert(
    dir: &Path,
    input: &str,
    output: &str,
    target: TernaryFormat,
    extra: &[&str],
    code: i32,
) -> std::process::Output {
    let mut args = vec!["convert", input, output, "--to", target.name()];
    args.extend_from_slice(extra);
    run_in(dir, &args, code)
}

/// The f16 block scales `d` of a tensor stored in `format` (`stored` as the file holds it).
fn block_scales(format: TernaryFormat, stored: &[u8]) -> Vec<f32> {
    stored
        .chunks_exact(format.block_bytes())
        .map(|b| f16::from_le_bytes([b[b.len() - 2], b[b.len() - 1]]).to_f32())
        .collect()
}

/// The value of the F32 `[1]` tensor `name`, `None` when the file has no such tensor.
fn sibling_value(bytes: &[u8], name: &str) -> Option<f32> {
    let g = Gguf::parse(bytes).unwrap();
    let (_, t) = g.tensor(name)?;
    assert_eq!(
        (t.ggml_type, t.ne()),
        (ggml_type::F32, &[1u64][..]),
        "{name}"
    );
    let at = tensor_start(bytes, name);
    Some(f32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()))
}

/// The tensor names of a file, in order.
fn tensor_names(bytes: &[u8]) -> Vec<String> {
    Gguf::parse(bytes)
        .unwrap()
        .tensors()
        .iter()
        .map(|t| t.name.to_owned())
        .collect()
}

/// The metadata of a file, in order.
fn metadata(bytes: &[u8]) -> Vec<(String, MetadataValue)> {
    Gguf::parse(bytes)
        .unwrap()
        .metadata()
        .iter()
        .map(|e| (e.key.to_owned(), e.value.to_owned_value()))
        .collect()
}

/// Whether converting a mini model from `source` to `target` keeps a `.scale` sibling next to
/// each weight (docs/convert.md, "Where the scale goes"): QK256 always (the mini scales are not
/// 1.0); TQ unless the source is BitNet32F16 (its `d` become the TQ `d`, with no second factor).
fn keeps_sibling(source: TernaryFormat, target: TernaryFormat) -> bool {
    match target {
        Qk256 => true,
        Tq2_0 | Tq1_0 => source != BitNet32F16,
        BitNet32F16 | BitnetCpp => false,
    }
}

/// Converts the mini model from `source` to every format (itself included) and checks each
/// output: exit 0, `--json` summary, `compat-check --strict`, `diff`, the types, where the
/// scales went, the copied tensors, and the decoded values against `w × scale`.
fn every_target_from(source: TernaryFormat) {
    let dir = tempfile::tempdir().unwrap();
    let input = mini(source);
    write(dir.path(), "in.gguf", &input);
    let weights = mini_weights();
    let source_siblings = if matches!(source, Qk256 | Tq2_0 | Tq1_0) {
        weights.len()
    } else {
        0
    };
    for target in TernaryFormat::ALL {
        let what = format!("{} -> {}", source.name(), target.name());
        let out_name = format!("{}.gguf", target.name());
        let out = convert(dir.path(), "in.gguf", &out_name, target, &["--json"], 0);
        let bytes = std::fs::read(dir.path().join(&out_name)).unwrap();

        // The summary.
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let keeps = keeps_sibling(source, target);
        // The memory bound is the library's (its value is tested in bitnet-models'
        // tests/convert.rs); here, that the command reports it.
        let model = Model::parse(&input).unwrap();
        let options = bitnet_models::convert::Options { target, arch: None };
        let plan = bitnet_models::convert::Plan::new(&model, &options).unwrap();
        let (_, summary) = plan.write(Vec::new(), |_| {}).unwrap();
        let largest = summary.buffer_bytes;
        assert_eq!(v["input"], "in.gguf", "{what}");
        assert_eq!(v["output"], out_name.as_str(), "{what}");
        assert_eq!(v["to"], target.name(), "{what}");
        assert_eq!(v["converted"], 3, "{what}");
        assert_eq!(v["copied"], 2, "{what}");
        assert_eq!(v["scales_written"], if keeps { 3 } else { 0 }, "{what}");
        let dropped = if keeps { 0 } else { source_siblings };
        assert_eq!(v["scales_dropped"], dropped, "{what}");
        assert_eq!(v["bytes_in"], input.len(), "{what}");
        assert_eq!(v["bytes_out"], bytes.len(), "{what}");
        assert_eq!(v["buffer_bytes"], largest, "{what}");
        assert_eq!(v["workers"], summary.workers, "{what}");
        assert!(v["seconds"].as_f64().unwrap() >= 0.0, "{what}");
        assert!(stderr(&out).is_empty(), "{what}: {}", stderr(&out));

        // The tool's own checks.
        let check = run_in(dir.path(), &["compat-check", "--strict", &out_name], 0);
        assert_eq!(stdout(&check), format!("{out_name}: OK\n"), "{what}");
        let diff = run_in(dir.path(), &["diff", "in.gguf", &out_name], 0);
        assert!(
            stdout(&diff).ends_with("result: every tensor decodes to the same values\n"),
            "{what}: {}",
            stdout(&diff)
        );

        // The tensors: the copied ones first, byte for byte, then each weight and its sibling.
        let mut names = vec![
            "token_embd.weight".to_owned(),
            "blk.0.attn_norm.weight".into(),
        ];
        for w in &weights {
            names.push(w.name.into());
            if keeps {
                names.push(w.sibling());
            }
        }
        assert_eq!(tensor_names(&bytes), names, "{what}");
        for (name, ..) in mini_plain_tensors() {
            assert_eq!(
                stored_bytes(&bytes, name),
                stored_bytes(&input, name),
                "{what}: {name}"
            );
        }
        let model = Model::parse(&bytes).unwrap();
        for w in &weights {
            let i = model.index_of(w.name).unwrap();
            let t = &model.gguf().tensors()[i];
            assert_eq!(t.ggml_type, ggml_type_of(target), "{what}: {}", w.name);
            assert_eq!(t.ne(), [w.cols as u64, w.rows as u64], "{what}: {}", w.name);
            assert_eq!(model.ternary_format(i).unwrap(), Some(target), "{what}");

            // Independently of the tool: the values are the weights packed here times the
            // tensor's scale, bit for bit.
            assert!(
                bits(&decoded(&bytes, w.name)) == bits(&w.expected()),
                "{what}: {} does not decode to w × {}",
                w.name,
                w.scale
            );

            // Where the scale went.
            let stored = stored_bytes(&bytes, w.name);
            let sibling = sibling_value(&bytes, &w.sibling());
            let n = w.rows * w.cols;
            match target {
                Qk256 => assert_eq!(sibling, Some(w.scale), "{what}"),
                BitnetCpp => {
                    assert_eq!(stored[n / 4..n / 4 + 4], w.scale.to_le_bytes(), "{what}");
                    assert_eq!(stored[n / 4 + 4..], [0; 28], "{what}");
                    assert_eq!(sibling, None, "{what}");
                }
                BitNet32F16 => {
                    let d = block_scales(target, stored);
                    assert!(d.iter().all(|&d| d == w.scale), "{what}");
                    assert_eq!(sibling, None, "{what}");
                }
                Tq2_0 | Tq1_0 => {
                    let (d, s) = match source {
                        Qk256 | BitnetCpp => (1.0, Some(w.scale)),
                        BitNet32F16 => (w.scale, None),
                        Tq2_0 | Tq1_0 => (w.tq_d, Some(w.scale / w.tq_d)),
                    };
                    let ds = block_scales(target, stored);
                    assert_eq!(ds.len(), n / 256, "{what}");
                    assert!(ds.iter().all(|&x| x == d), "{what}: {}", w.name);
                    assert_eq!(sibling, s, "{what}: {}", w.name);
                }
            }
        }

        // The metadata: the input's, in order, with general.file_type set where mainline
        // llama.cpp or bitnet.cpp numbers the target (inserted after the architecture).
        let mut want = metadata(&input);
        let file_type = match target {
            Tq1_0 => Some(36u32),
            Tq2_0 => Some(37),
            BitnetCpp => Some(40),
            Qk256 | BitNet32F16 => None,
        };
        if let Some(ft) = file_type {
            want.insert(1, ("general.file_type".into(), MetadataValue::U32(ft)));
        }
        assert_eq!(metadata(&bytes), want, "{what}");
    }
    let mut files: Vec<String> = TernaryFormat::ALL
        .iter()
        .map(|f| format!("{}.gguf", f.name()))
        .collect();
    files.push("in.gguf".into());
    files.sort();
    assert_eq!(listing(dir.path()), files, "no temporary file is left");
}

#[test]
fn from_qk256_to_every_format() {
    every_target_from(Qk256);
}

#[test]
fn from_bitnet32f16_to_every_format() {
    every_target_from(BitNet32F16);
}

#[test]
fn from_bitnetcpp_to_every_format() {
    every_target_from(BitnetCpp);
}

#[test]
fn from_tq2_0_to_every_format() {
    every_target_from(Tq2_0);
}

#[test]
fn from_tq1_0_to_every_format() {
    every_target_from(Tq1_0);
}

/// Overwrites the 28 ignored bytes of every bitnetcpp weight's tail in `bytes` with garbage.
fn dirty_tails(bytes: &mut [u8], weights: &[TernaryWeight]) {
    for w in weights {
        let at = tensor_start(bytes, w.name) + w.rows * w.cols / 4 + 4;
        for (i, b) in bytes[at..at + 28].iter_mut().enumerate() {
            *b = 0xc3 ^ (i as u8).wrapping_mul(37);
        }
    }
}

#[test]
fn bitnetcpp_through_tq_and_back_is_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let weights = mini_weights();
    let clean = mini(BitnetCpp);
    let mut dirty = clean.clone();
    dirty_tails(&mut dirty, &weights);
    assert_ne!(dirty, clean);
    write(dir.path(), "in.gguf", &dirty);
    for via in [Tq1_0, Tq2_0] {
        let mid = format!("mid.{}.gguf", via.name());
        let back = format!("back.{}.gguf", via.name());
        convert(dir.path(), "in.gguf", &mid, via, &[], 0);
        convert(dir.path(), &mid, &back, BitnetCpp, &[], 0);
        let back = std::fs::read(dir.path().join(back)).unwrap();
        // The same tensors, in order, each the same bytes as the source with its tail zeroed.
        assert_eq!(tensor_names(&back), tensor_names(&clean), "via {via}");
        for name in tensor_names(&clean) {
            assert_eq!(
                stored_bytes(&back, &name),
                stored_bytes(&clean, &name),
                "via {via}: {name}"
            );
        }
        // The metadata too, general.file_type 40 (bitnet.cpp's I2_S) aside.
        let mut want = metadata(&clean);
        want.insert(1, ("general.file_type".into(), MetadataValue::U32(40)));
        assert_eq!(metadata(&back), want, "via {via}");
    }
}

#[test]
fn tensor_scale_sources_come_back_unchanged_through_every_format() {
    // QK256 and bitnetcpp keep one scale per tensor, and every format can hold the mini
    // model's scales: there and back gives the same tensor bytes (and .scale values).
    let dir = tempfile::tempdir().unwrap();
    for source in [Qk256, BitnetCpp] {
        let input = mini(source);
        let name = format!("{}.gguf", source.name());
        write(dir.path(), &name, &input);
        for via in TernaryFormat::ALL {
            let what = format!("{source} -> {via} -> {source}");
            let mid = format!("{source}.{via}.gguf");
            let back = format!("{source}.{via}.back.gguf");
            convert(dir.path(), &name, &mid, via, &[], 0);
            convert(dir.path(), &mid, &back, source, &[], 0);
            let back = std::fs::read(dir.path().join(&back)).unwrap();
            assert_eq!(tensor_names(&back), tensor_names(&input), "{what}");
            for t in tensor_names(&input) {
                assert_eq!(
                    stored_bytes(&back, &t),
                    stored_bytes(&input, &t),
                    "{what}: {t}"
                );
            }
        }
    }
}

#[test]
fn bitnet32f16_scales_per_256_block_go_to_tq_and_back() {
    // One d per block of 256 (the 8 blocks of 32 it covers share it), differing between them:
    // TQ holds that exactly, and back; QK256 and bitnetcpp (one scale per tensor) refuse.
    let dir = tempfile::tempdir().unwrap();
    let w = TernaryWeight::new("blk.0.ffn_down.weight", 768, 8, 1.0, 1.0);
    let palette = [0.5f32, -0.75, 1.25, -2.0, 0.0078125];
    let d256 = |row: usize, block: usize| palette[(row * 3 + block) % palette.len()];
    let d32: Vec<f16> = (0..w.rows * w.cols / 32)
        .map(|b| f16::from_f32(d256(b / 24, (b % 24) / 8)))
        .collect();
    let data = bitnet_models::pack_bitnet32f16(&w.weights, w.rows, w.cols, &d32).unwrap();
    let expected: Vec<f32> = (0..w.rows * w.cols)
        .map(|k| f32::from(w.weights[k]) * d256(k / w.cols, (k % w.cols) / 256))
        .collect();
    let mut b = bitnet_gguf::GgufBuilder::new();
    bitnet_keys(&mut b, MINI_EMBD as u64);
    b.tensor(w.name, &[768, 8], ggml_type::I2_S, data);
    let input = b.build().unwrap();
    write(dir.path(), "b32.gguf", &input);
    assert!(bits(&decoded(&input, w.name)) == bits(&expected));

    for target in [Tq2_0, Tq1_0] {
        let out = format!("{target}.gguf");
        convert(dir.path(), "b32.gguf", &out, target, &[], 0);
        let bytes = std::fs::read(dir.path().join(&out)).unwrap();
        assert!(
            bits(&decoded(&bytes, w.name)) == bits(&expected),
            "{target}"
        );
        let want_d: Vec<f32> = (0..w.rows * 3).map(|b| d256(b / 3, b % 3)).collect();
        assert_eq!(
            block_scales(target, stored_bytes(&bytes, w.name)),
            want_d,
            "{target}"
        );
        assert_eq!(sibling_value(&bytes, "blk.0.ffn_down.scale"), None);
        run_in(dir.path(), &["compat-check", "--strict", &out], 0);
        run_in(dir.path(), &["diff", "b32.gguf", &out], 0);
        // And back to BitNet32F16: the same bytes.
        let back = format!("{target}.back.gguf");
        convert(dir.path(), &out, &back, BitNet32F16, &[], 0);
        let back = std::fs::read(dir.path().join(&back)).unwrap();
        assert_eq!(stored_bytes(&back, w.name), stored_bytes(&input, w.name));
    }
    for target in [Qk256, BitnetCpp] {
        refused(
            dir.path(),
            "b32.gguf",
            target,
            w.name,
            "its block scales differ (block 0 has 0.5, block 8 -0.75); the target has one \
             scale per tensor",
        );
    }
}

#[test]
fn tq_block_scales_and_sibling_go_to_bitnet32f16() {
    // TQ2_0 with a different d per block and a sibling: BitNet32F16 takes d × s per block where
    // that is exactly an f16; a sibling of 0.1 makes it not one.
    let dir = tempfile::tempdir().unwrap();
    let w = TernaryWeight::new("blk.0.ffn_up.weight", 512, 4, 1.0, 1.0);
    let ds: Vec<f16> = (0..8)
        .map(|b| f16::from_f32([0.5, -1.0, 2.0][b % 3]))
        .collect();
    let data = bitnet_models::pack_tq2_0(&w.weights, w.rows, w.cols, &ds).unwrap();
    let build = |s: f32| {
        let mut b = bitnet_gguf::GgufBuilder::new();
        bitnet_keys(&mut b, MINI_EMBD as u64);
        b.tensor(w.name, &[512, 4], ggml_type::TQ2_0, data.clone());
        b.tensor("blk.0.ffn_up.scale", &[1], ggml_type::F32, f32_bytes(&[s]));
        b.build().unwrap()
    };
    write(dir.path(), "tq.gguf", &build(-0.75));
    let expected: Vec<f32> = (0..w.rows * w.cols)
        .map(|k| (f32::from(w.weights[k]) * ds[k / 256].to_f32()) * -0.75)
        .collect();
    convert(dir.path(), "tq.gguf", "b32.gguf", BitNet32F16, &[], 0);
    let bytes = std::fs::read(dir.path().join("b32.gguf")).unwrap();
    assert!(bits(&decoded(&bytes, w.name)) == bits(&expected));
    let d = block_scales(BitNet32F16, stored_bytes(&bytes, w.name));
    let want: Vec<f32> = (0..64).map(|b| ds[b / 8].to_f32() * -0.75).collect();
    assert_eq!(d, want);
    assert_eq!(tensor_names(&bytes), [w.name]);
    run_in(dir.path(), &["diff", "tq.gguf", "b32.gguf"], 0);
    for target in [Qk256, BitnetCpp] {
        refused(
            dir.path(),
            "tq.gguf",
            target,
            w.name,
            "its block scales differ",
        );
    }

    write(dir.path(), "tq01.gguf", &build(0.1));
    refused(
        dir.path(),
        "tq01.gguf",
        BitNet32F16,
        w.name,
        "row 0: the scale 5e-2 (block scale times the .scale tensor) is not exactly an f16",
    );
}

/// Asserts that converting `input` (in `dir`) to `target` is refused: exit 1, an error naming
/// `tensor` and containing `reason`, and nothing written (the directory unchanged).
fn refused(dir: &Path, input: &str, target: TernaryFormat, tensor: &str, reason: &str) {
    let before = listing(dir);
    let out = convert(dir, input, "out.gguf", target, &[], 1);
    let err = stderr(&out);
    let what = format!("{input} -> {target}");
    assert!(out.stdout.is_empty(), "{what}");
    let head = format!(
        "error: {input}: tensor \"{tensor}\" cannot be converted to {} exactly: ",
        target.name()
    );
    assert!(err.starts_with(&head), "{what}: {err}");
    assert!(err.contains(reason), "{what}: {err}");
    // The code compat-check shows for a finding, after the message.
    assert!(
        err.ends_with("; nothing written [not-exact]\n"),
        "{what}: {err}"
    );
    assert_eq!(err.lines().count(), 1, "{what}: {err}");
    assert_eq!(listing(dir), before, "{what}: something was left behind");
}

#[test]
fn rows_of_640_do_not_go_to_tq() {
    let dir = tempfile::tempdir().unwrap();
    let mut weights = mini_weights();
    weights.push(TernaryWeight::new(
        "blk.0.ffn_gate.weight",
        640,
        8,
        0.5,
        1.0,
    ));
    for source in [Qk256, BitNet32F16, BitnetCpp] {
        let name = format!("{source}.gguf");
        write(dir.path(), &name, &mini_with(source, &weights));
        for target in [Tq2_0, Tq1_0] {
            refused(
                dir.path(),
                &name,
                target,
                "blk.0.ffn_gate.weight",
                &format!("its rows have 640 columns, and {target} needs a multiple of 256"),
            );
        }
    }
    // The I2_S flavors hold them (640 is a multiple of 128): exact.
    for target in [Qk256, BitNet32F16, BitnetCpp] {
        let out = format!("out.{target}.gguf");
        convert(dir.path(), "qk256.gguf", &out, target, &[], 0);
        let bytes = std::fs::read(dir.path().join(&out)).unwrap();
        for w in &weights {
            assert!(bits(&decoded(&bytes, w.name)) == bits(&w.expected()));
        }
    }
}

#[test]
fn bitnet32f16_scales_differing_within_a_256_block_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = mini(BitNet32F16);
    // attn_q: 8 blocks of 32 per row; block 3 of row 2 (columns 96..128) gets another d.
    let at = tensor_start(&bytes, "blk.0.attn_q.weight") + (2 * 8 + 3) * 10 + 8;
    bytes[at..at + 2].copy_from_slice(&f16::from_f32(0.25).to_le_bytes());
    write(dir.path(), "in.gguf", &bytes);
    refused(
        dir.path(),
        "in.gguf",
        BitnetCpp,
        "blk.0.attn_q.weight",
        "its block scales differ (block 0 has 0.5, block 19 0.25)",
    );
    refused(
        dir.path(),
        "in.gguf",
        Qk256,
        "blk.0.attn_q.weight",
        "its block scales differ (block 0 has 0.5, block 19 0.25)",
    );
    for target in [Tq2_0, Tq1_0] {
        refused(
            dir.path(),
            "in.gguf",
            target,
            "blk.0.attn_q.weight",
            &format!("row 2: block scales differ within {target}'s block of 256 from column 0"),
        );
    }
    // BitNet32F16 itself holds them.
    convert(dir.path(), "in.gguf", "same.gguf", BitNet32F16, &[], 0);
    run_in(dir.path(), &["diff", "in.gguf", "same.gguf"], 0);
}

#[test]
fn a_scale_that_is_not_an_f16_does_not_go_to_bitnet32f16() {
    let dir = tempfile::tempdir().unwrap();
    let mut weights = mini_weights();
    weights[1].scale = 0.1;
    let qk = mini_with(Qk256, &weights);
    write(dir.path(), "qk.gguf", &qk);
    refused(
        dir.path(),
        "qk.gguf",
        BitNet32F16,
        "blk.0.ffn_down.weight",
        "the scale 1e-1 is not exactly an f16, which bitnet32f16 needs",
    );
    // bitnetcpp's tail scale too.
    write(dir.path(), "cpp.gguf", &mini_with(BitnetCpp, &weights));
    refused(
        dir.path(),
        "cpp.gguf",
        BitNet32F16,
        "blk.0.ffn_down.weight",
        "the scale 1e-1 is not exactly an f16",
    );
    // The other targets hold any f32: TQ as d = 1.0 and a sibling of 0.1.
    for target in [Qk256, BitnetCpp, Tq2_0, Tq1_0] {
        let out = format!("{target}.gguf");
        convert(dir.path(), "qk.gguf", &out, target, &[], 0);
        let bytes = std::fs::read(dir.path().join(&out)).unwrap();
        for w in &weights {
            assert!(
                bits(&decoded(&bytes, w.name)) == bits(&w.expected()),
                "{target}"
            );
        }
    }
}

/// Sets one byte of tensor `name`'s codes, at `offset` in its data, to 0xff: four codes 3.
fn with_reserved(mut bytes: Vec<u8>, name: &str, offset: usize) -> Vec<u8> {
    let at = tensor_start(&bytes, name) + offset;
    bytes[at] = 0xff;
    bytes
}

#[test]
fn reserved_codes_go_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    // A code byte in each source (TQ1_0 stores digits and has no reserved code): QK256 byte 17
    // of block 0, BitNet32F16 byte 3 of block 5, bitnetcpp byte 40, TQ2_0 byte 5 of block 1.
    let sources = [(Qk256, 17), (BitNet32F16, 53), (BitnetCpp, 40), (Tq2_0, 71)];
    for (source, offset) in sources {
        let name = format!("{source}.gguf");
        let bytes = with_reserved(mini(source), "blk.0.ffn_down.weight", offset);
        write(dir.path(), &name, &bytes);
        for target in TernaryFormat::ALL {
            refused(
                dir.path(),
                &name,
                target,
                "blk.0.ffn_down.weight",
                "4 element(s) hold the reserved code 3, which has no value to convert",
            );
        }
    }
}

#[test]
fn unreadable_inputs_are_refused_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // A QK256 weight whose sibling is F16: the scale cannot be read.
    let mut b = bitnet_gguf::GgufBuilder::new();
    bitnet_keys(&mut b, 256);
    b.tensor(
        "blk.0.attn_q.weight",
        &[256, 4],
        ggml_type::I2_S,
        bitnet_models::pack_qk256(&weights(4, 256), 4, 256).unwrap(),
    );
    b.tensor(
        "blk.0.attn_q.scale",
        &[1],
        ggml_type::F16,
        f16::ONE.to_le_bytes().to_vec(),
    );
    write(dir.path(), "bad-scale.gguf", &b.build().unwrap());
    // An I2_S tensor whose size fits two flavors.
    write(dir.path(), "amb.gguf", &i2s(160, 1, vec![0x55; 64], &[]));
    // A file cut short.
    let mut cut = mini(Qk256);
    cut.truncate(cut.len() - 100);
    write(dir.path(), "cut.gguf", &cut);
    write(dir.path(), "empty.gguf", b"");
    let before = listing(dir.path());
    for (input, needle) in [
        ("bad-scale.gguf", "\"blk.0.attn_q.scale\""),
        ("amb.gguf", "\"w.weight\""),
        ("cut.gguf", "tensor \"blk.0.ffn_up.weight\""),
        ("empty.gguf", "[truncated]"),
    ] {
        // The code compat-check gives the same file's first error ends the line.
        let checked = run_in(dir.path(), &["compat-check", "--json", input], 1);
        let checked: Value = serde_json::from_slice(&checked.stdout).unwrap();
        let code = checked["errors"][0]["code"].as_str().unwrap().to_owned();
        for target in TernaryFormat::ALL {
            let out = convert(dir.path(), input, "out.gguf", target, &[], 1);
            let err = stderr(&out);
            assert!(err.starts_with(&format!("error: {input}: ")), "{err}");
            assert!(err.contains(needle), "{input} -> {target}: {err}");
            assert!(
                err.ends_with(&format!(" [{code}]\n")),
                "{input} -> {target}: {err}"
            );
            assert_eq!(listing(dir.path()), before, "{input} -> {target}");
        }
    }
    // A missing input, a directory: I/O errors.
    convert(dir.path(), "missing.gguf", "out.gguf", Tq2_0, &[], 2);
    convert(dir.path(), ".", "out.gguf", Tq2_0, &[], 2);
    assert_eq!(listing(dir.path()), before);
}

/// The modification time of `path`.
fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

/// Sets the modification time of `path` to a fixed past time, so a rewrite would show.
fn age(path: &Path) -> SystemTime {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
    assert_eq!(mtime(path), t);
    t
}

#[test]
fn an_existing_output_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "in.gguf", &mini(Qk256));
    convert(d, "in.gguf", "fresh.gguf", Tq2_0, &[], 0);
    let fresh = std::fs::read(d.join("fresh.gguf")).unwrap();
    write(d, "out.gguf", b"old contents");
    let t = age(&d.join("out.gguf"));

    let out = convert(d, "in.gguf", "out.gguf", Tq2_0, &[], 2);
    assert_eq!(
        stderr(&out),
        "error: out.gguf: exists; pass --force to replace it\n"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read(d.join("out.gguf")).unwrap(), b"old contents");
    assert_eq!(mtime(&d.join("out.gguf")), t);
    assert_eq!(listing(d), ["fresh.gguf", "in.gguf", "out.gguf"]);

    // --force, but the conversion is refused: the old file stays.
    write(
        d,
        "reserved.gguf",
        &with_reserved(mini(Qk256), "blk.0.attn_q.weight", 3),
    );
    convert(d, "reserved.gguf", "out.gguf", Tq2_0, &["--force"], 1);
    assert_eq!(std::fs::read(d.join("out.gguf")).unwrap(), b"old contents");
    assert_eq!(mtime(&d.join("out.gguf")), t);
    assert_eq!(
        listing(d),
        ["fresh.gguf", "in.gguf", "out.gguf", "reserved.gguf"]
    );

    // --force: replaced, by what a fresh conversion writes.
    convert(d, "in.gguf", "out.gguf", Tq2_0, &["--force"], 0);
    assert_eq!(std::fs::read(d.join("out.gguf")).unwrap(), fresh);
    assert_eq!(
        listing(d),
        ["fresh.gguf", "in.gguf", "out.gguf", "reserved.gguf"]
    );

    // A directory in the way: even with --force it cannot be replaced; no temporary file stays.
    std::fs::create_dir(d.join("dir.gguf")).unwrap();
    convert(d, "in.gguf", "dir.gguf", Tq2_0, &[], 2);
    let out = convert(d, "in.gguf", "dir.gguf", Tq2_0, &["--force"], 2);
    assert!(
        stderr(&out).starts_with("error: dir.gguf: cannot rename the temporary file into place"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        listing(d),
        [
            "dir.gguf",
            "fresh.gguf",
            "in.gguf",
            "out.gguf",
            "reserved.gguf"
        ]
    );
    // A directory that does not exist.
    convert(d, "in.gguf", "no/such/out.gguf", Tq2_0, &[], 2);
}

#[test]
fn the_input_is_never_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bytes = mini(BitnetCpp);
    write(d, "m.gguf", &bytes);
    let t = age(&d.join("m.gguf"));
    let abs = d.join("m.gguf").canonicalize().unwrap();
    let abs = abs.to_str().unwrap();
    let sub = d.join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::hard_link(d.join("m.gguf"), d.join("hard.gguf")).unwrap();
    // (working directory, IN, OUT): the same path, other paths, a hard link, a symlink.
    let mut cases = vec![
        (d, "m.gguf", "m.gguf"),
        (d, "m.gguf", "./m.gguf"),
        (d, "m.gguf", abs),
        (d, abs, "m.gguf"),
        (&sub, "../m.gguf", "../m.gguf"),
        (&sub, "../m.gguf", "./../sub/../m.gguf"),
        (d, "m.gguf", "hard.gguf"),
        (d, "hard.gguf", "m.gguf"),
    ];
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("m.gguf", d.join("link.gguf")).unwrap();
        cases.push((d, "m.gguf", "link.gguf"));
        cases.push((d, "link.gguf", "m.gguf"));
        cases.push((&sub, "../link.gguf", "../hard.gguf"));
    }
    let before = listing(d);
    for (cwd, input, output) in cases {
        for force in [&[][..], &["--force"]] {
            let out = convert(cwd, input, output, Tq1_0, force, 2);
            assert_eq!(
                stderr(&out),
                format!(
                    "error: {output}: is the input {input} (the same file); write the \
                     conversion elsewhere\n"
                ),
            );
            assert!(out.stdout.is_empty());
            assert_eq!(std::fs::read(d.join("m.gguf")).unwrap(), bytes, "{output}");
            assert_eq!(mtime(&d.join("m.gguf")), t, "{output}");
        }
    }
    assert_eq!(listing(d), before);
    assert!(listing(&sub).is_empty());
}

#[test]
fn text_output() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "in.gguf", &mini(Qk256));
    let out = convert(dir.path(), "in.gguf", "out.gguf", BitnetCpp, &[], 0);
    let size = std::fs::metadata(dir.path().join("out.gguf"))
        .unwrap()
        .len();
    let text = stdout(&out);
    let head = format!(
        "out.gguf: 3 tensor(s) converted to bitnetcpp and checked, 2 copied, 0 .scale tensor(s) \
         written, 3 dropped; {size} bytes in "
    );
    assert!(text.starts_with(&head), "{text}");
    let seconds = text[head.len()..].strip_suffix(" s\n").unwrap();
    assert!(seconds.parse::<f64>().unwrap() >= 0.0, "{text}");
    assert_eq!(seconds.split('.').nth(1).map(str::len), Some(2), "{text}");
    assert!(
        stderr(&out).is_empty(),
        "no progress bar when stderr is not a terminal"
    );

    let out = convert(dir.path(), "out.gguf", "tq.gguf", Tq2_0, &[], 0);
    assert!(stdout(&out).starts_with(
        "tq.gguf: 3 tensor(s) converted to tq2_0 and checked, 2 copied, 3 .scale tensor(s) \
         written, 0 dropped; "
    ));
}

#[test]
fn json_output_shape() {
    let dir = tempfile::tempdir().unwrap();
    let input = mini(Tq1_0);
    write(dir.path(), "in.gguf", &input);
    let out = convert(dir.path(), "in.gguf", "out.gguf", Qk256, &["--json"], 0);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1);
    assert!(text.ends_with("}\n"));
    let v: Value = serde_json::from_str(&text).unwrap();
    let keys = [
        "input",
        "output",
        "to",
        "converted",
        "copied",
        "scales_written",
        "scales_dropped",
        "bytes_in",
        "bytes_out",
        "buffer_bytes",
        "workers",
        "seconds",
    ];
    assert_eq!(v.as_object().unwrap().len(), keys.len(), "{text}");
    // In this order.
    let at: Vec<usize> = keys
        .iter()
        .map(|k| text.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
    for k in &keys[3..11] {
        assert!(v[k].is_u64(), "{k}: {text}");
    }
    assert!(v["seconds"].is_f64(), "{text}");
    assert_eq!(v["to"], "qk256");
    assert_eq!(v["scales_written"], 3);
    assert_eq!(v["scales_dropped"], 0);
    // The memory bound: ffn_down, 768 × 32, is the largest step and chunk: for each worker, its
    // codes on each side (a byte per value) and two chunks of its 6144 bytes as QK256 (which has
    // no block scales).
    let workers = v["workers"].as_u64().unwrap().max(1);
    assert_eq!(v["buffer_bytes"], workers * (2 * 768 * 32 + 2 * 6144));
    assert!(stderr(&out).is_empty());
}

#[test]
fn arch_renames_the_architecture_and_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let input = mini(BitnetCpp);
    write(dir.path(), "in.gguf", &input);
    convert(
        dir.path(),
        "in.gguf",
        "out.gguf",
        Tq2_0,
        &["--arch", "bitnet"],
        0,
    );
    let bytes = std::fs::read(dir.path().join("out.gguf")).unwrap();
    let mut want: Vec<(String, MetadataValue)> = metadata(&input)
        .into_iter()
        .map(|(k, v)| match k.strip_prefix("bitnet-b1.58.") {
            Some(rest) => (format!("bitnet.{rest}"), v),
            None if k == "general.architecture" => (k, MetadataValue::String("bitnet".into())),
            None => (k, v),
        })
        .collect();
    want.insert(1, ("general.file_type".into(), MetadataValue::U32(37)));
    assert_eq!(metadata(&bytes), want);
    for w in mini_weights() {
        assert!(bits(&decoded(&bytes, w.name)) == bits(&w.expected()));
    }
    // diff lists the renamed keys and still exits 0: the values are the same.
    let out = run_in(dir.path(), &["diff", "--json", "in.gguf", "out.gguf"], 0);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["equal"], true);
    assert_eq!(v["metadata"]["removed"].as_array().unwrap().len(), 5);
    assert_eq!(v["metadata"]["added"].as_array().unwrap().len(), 6);
    assert_eq!(
        v["metadata"]["changed"],
        serde_json::json!([{"key": "general.architecture", "a": "bitnet-b1.58", "b": "bitnet"}])
    );
}

#[test]
fn arch_without_an_architecture_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A QK256 model whose general.architecture is removed: nothing for --arch to rename.
    let mut b = bitnet_gguf::GgufBuilder::new();
    b.tensor(
        "w.weight",
        &[256, 4],
        ggml_type::I2_S,
        bitnet_models::pack_qk256(&weights(4, 256), 4, 256).unwrap(),
    );
    b.tensor("w.scale", &[1], ggml_type::F32, f32_bytes(&[0.5]));
    write(dir.path(), "noarch.gguf", &b.build().unwrap());
    let before = listing(dir.path());
    for target in TernaryFormat::ALL {
        // Without --arch the file converts; with it, exit 1 and nothing written.
        convert(
            dir.path(),
            "noarch.gguf",
            "ok.gguf",
            target,
            &["--force"],
            0,
        );
        std::fs::remove_file(dir.path().join("ok.gguf")).unwrap();
        let out = convert(
            dir.path(),
            "noarch.gguf",
            "out.gguf",
            target,
            &["--arch", "bitnet"],
            1,
        );
        assert_eq!(
            stderr(&out),
            "error: noarch.gguf: cannot rename the architecture to \"bitnet\": the file has no \
             general.architecture key; nothing written [no-architecture]\n",
            "{target}"
        );
        assert!(out.stdout.is_empty());
        assert_eq!(listing(dir.path()), before, "{target}");
    }
}

#[test]
fn convert_never_writes_an_ambiguous_i2s_tensor() {
    // A 512 × 1 weight: 128 bytes as QK256, 160 as BitNet32F16 and as bitnetcpp
    // (docs/formats.md: "ambiguous: BitNet32F16 or bitnetcpp"). Converted alone to either of
    // those two, its size cannot tell the flavor. The conversion must then be refused, or its
    // output must read back as the target and decode to the same values: never a file that
    // exits 0 from convert and fails compat-check.
    let dir = tempfile::tempdir().unwrap();
    let w = TernaryWeight::new("blk.0.ffn_up.weight", 512, 1, 0.5, 1.0);
    let mut b = bitnet_gguf::GgufBuilder::new();
    bitnet_keys(&mut b, MINI_EMBD as u64);
    let (data, sibling) = stored(&w, Qk256);
    b.tensor(w.name, &[512, 1], ggml_type::I2_S, data);
    b.tensor(
        w.sibling(),
        &[1],
        ggml_type::F32,
        f32_bytes(&[sibling.unwrap()]),
    );
    write(dir.path(), "in.gguf", &b.build().unwrap());
    run_in(dir.path(), &["compat-check", "--strict", "in.gguf"], 0);
    let mut problems = Vec::new();
    for target in [BitNet32F16, BitnetCpp] {
        let out = format!("{target}.gguf");
        let status = bin_in(dir.path())
            .args(["convert", "in.gguf", &out, "--to", target.name()])
            .output()
            .unwrap()
            .status
            .code();
        match status {
            Some(1) => assert!(!dir.path().join(&out).exists()),
            Some(0) => {
                let check = bin_in(dir.path())
                    .args(["compat-check", &out])
                    .output()
                    .unwrap();
                if !check.status.success() {
                    problems.push(format!(
                        "convert --to {target} exited 0, but its output is invalid: {}",
                        stdout(&check)
                    ));
                    continue;
                }
                let bytes = std::fs::read(dir.path().join(&out)).unwrap();
                let model = Model::parse(&bytes).unwrap();
                assert_eq!(model.ternary_format(0).unwrap(), Some(target));
                assert!(bits(&decoded(&bytes, w.name)) == bits(&w.expected()));
            }
            other => panic!("convert --to {target}: exit {other:?}"),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
