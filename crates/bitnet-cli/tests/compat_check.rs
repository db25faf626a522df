//! `compat-check`: exit statuses, text and JSON output, every malformed case of docs/validation.md.

mod common;

use bitnet_testkit::fixtures;
use common::*;
use serde_json::Value;

#[test]
fn fixtures_pass() {
    for name in fixtures::names() {
        let path = fixture(name);
        for args in [&["compat-check"][..], &["compat-check", "--strict"]] {
            bin()
                .args(args)
                .arg(&path)
                .assert()
                .code(0)
                .stdout(format!("{}: OK\n", path.display()));
        }
        let out = bin()
            .args(["compat-check", "--json", "--strict"])
            .arg(&path)
            .assert()
            .code(0);
        let v: Value = serde_json::from_str(&stdout(out.get_output())).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "path": path.display().to_string(),
                "valid": true,
                "errors": [],
                "warnings": [],
                "info": [],
            }),
            "{name}"
        );
    }
}

#[test]
fn fixtures_match_the_reference_builder() {
    // The files the tests read are the ones `bitnet_models::fixtures` builds.
    for spec in bitnet_models::fixtures::FIXTURES {
        let built = bitnet_models::fixtures::build(spec).unwrap().bytes;
        let on_disk = std::fs::read(fixture(spec.file_name)).unwrap();
        assert!(
            built == on_disk,
            "{} differs from bitnet_models::fixtures::build; run `cargo xtask gen-fixtures`",
            spec.file_name
        );
    }
}

#[test]
fn third_party_files_pass() {
    for name in [
        "gguf-py-written.gguf",
        "gguf-py-tq1_0.gguf",
        "ggml-vocab-llama-spm.gguf",
    ] {
        let path = third_party(name);
        bin()
            .args(["compat-check", "--strict"])
            .arg(&path)
            .assert()
            .code(0)
            .stdout(format!("{}: OK\n", path.display()));
    }
}

#[test]
fn several_files_one_line_each() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "good.gguf", &plain());
    write(dir.path(), "bad.gguf", b"GGUX");
    let out = run_in(
        dir.path(),
        &["compat-check", "--json", "good.gguf", "bad.gguf"],
        1,
    );
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["path"], "good.gguf");
    assert_eq!(lines[0]["valid"], true);
    assert_eq!(lines[1]["path"], "bad.gguf");
    assert_eq!(lines[1]["valid"], false);
}

#[test]
fn malformed_files_fail_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, code) in malformed() {
        let file = format!("{name}.gguf");
        write(dir.path(), &file, &bytes);
        let out = run_in(dir.path(), &["compat-check", &file], 1);
        let text = stdout(&out);
        assert!(
            text.starts_with(&format!("{file}: ")) && text.contains(&format!("error[{code}]")),
            "{name}: expected error[{code}] in:\n{text}"
        );
        assert!(stderr(&out).is_empty(), "{name}");

        let out = run_in(dir.path(), &["compat-check", "--json", &file], 1);
        let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(v["valid"], false, "{name}");
        let codes: Vec<&str> = v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["code"].as_str().unwrap())
            .collect();
        assert!(codes.contains(&code), "{name}: {codes:?}");
    }
}

#[test]
#[cfg(feature = "full-cli")]
fn hostile_files_never_crash_any_command() {
    // Fatal and non-fatal malformations through every command: a clean exit status, never a
    // panic (101) or a signal.
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, _) in malformed() {
        let file = format!("{name}.gguf");
        write(dir.path(), &file, &bytes);
        for args in [
            vec!["inspect", &file],
            vec!["inspect", "--json", "--ln-stats", "--gate", "auto", &file],
            vec!["dequant", &file, "w.weight"],
            vec!["dequant", "--format", "f32le", &file, "a"],
        ] {
            let out = bin_in(dir.path()).args(&args).output().unwrap();
            let code = out.status.code();
            assert!(
                matches!(code, Some(0..=2)),
                "{name} {args:?}: status {:?}\n{}",
                out.status,
                stderr(&out)
            );
            if code != Some(0) {
                let err = stderr(&out);
                assert!(
                    err.starts_with("error: ") && err.lines().count() == 1,
                    "{name} {args:?}: {err}"
                );
            }
        }
    }
}

#[test]
fn every_truncation_is_a_clean_exit_1() {
    let bytes = std::fs::read(fixture("qk256_3x300_seed43.gguf")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for len in (0..bytes.len()).step_by(7) {
        write(dir.path(), "t.gguf", &bytes[..len]);
        let out = bin_in(dir.path())
            .args(["compat-check", "--json", "t.gguf"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "prefix of {len} bytes");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["valid"], false, "prefix of {len} bytes");
    }
}

#[test]
fn io_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), &["compat-check", "missing.gguf"], 2);
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).starts_with("error: missing.gguf: cannot open: "));

    std::fs::create_dir(dir.path().join("sub")).unwrap();
    bin_in(dir.path())
        .args(["compat-check", "sub"])
        .assert()
        .code(2)
        .stderr("error: sub: is a directory, not a GGUF file\n");

    // An I/O error wins over an invalid file; the other files are still reported.
    write(dir.path(), "bad.gguf", b"GGUX");
    write(dir.path(), "good.gguf", &plain());
    let out = run_in(
        dir.path(),
        &["compat-check", "bad.gguf", "missing.gguf", "good.gguf"],
        2,
    );
    let text = stdout(&out);
    assert!(text.contains("bad.gguf: 1 error, 0 warnings"), "{text}");
    assert!(text.contains("good.gguf: OK"), "{text}");
}

#[test]
fn usage_errors_exit_2() {
    // clap's usage errors: on stderr, naming what is wrong, nothing on stdout.
    for (args, first_line) in [
        (
            &["compat-check"][..],
            "error: the following required arguments were not provided:",
        ),
        (
            &["no-such-command"],
            "error: unrecognized subcommand 'no-such-command'",
        ),
        (
            &["compat-check", "--bogus", "x"],
            "error: unexpected argument '--bogus' found",
        ),
    ] {
        let err = usage_error(args);
        assert_eq!(err.lines().next(), Some(first_line), "{args:?}: {err}");
        assert!(err.contains("Usage: bitnet-cli "), "{args:?}: {err}");
    }
    // Help: on stdout, every command and the exit statuses (docs/cli.md).
    let out = bin().arg("--help").assert().code(0).stderr("");
    let help = stdout(out.get_output());
    assert!(help.contains("Usage: bitnet-cli <COMMAND>"), "{help}");
    for command in ["compat-check", "inspect", "dequant", "convert", "diff"] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(command)),
            "{command}: {help}"
        );
    }
    assert!(
        help.contains(
            "Exit status: 0 success, 1 invalid file (or strict-mode failure), 2 usage or I/O error."
        ),
        "{help}"
    );
}

#[test]
fn unreadable_file_exits_2() {
    // A Unix socket exists but cannot be opened as a file (ENXIO), even by root, for whom
    // permission bits would not apply.
    let dir = tempfile::tempdir().unwrap();
    let _listener = std::os::unix::net::UnixListener::bind(dir.path().join("sock.gguf")).unwrap();
    bin_in(dir.path())
        .args(["compat-check", "sock.gguf"])
        .assert()
        .code(2)
        .stderr(predicates::str::starts_with("error: sock.gguf: "));
}

#[test]
fn strict_turns_warnings_into_errors() {
    // Trailing bytes after the last tensor are a warning.
    let mut bytes = plain();
    bytes.extend_from_slice(&[0u8; 7]);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "t.gguf", &bytes);
    let out = run_in(dir.path(), &["compat-check", "t.gguf"], 0);
    insta::assert_snapshot!(stdout(&out), @r#"
    t.gguf: 0 errors, 1 warning
      warning[trailing-bytes] byte 352: 7 unexpected bytes after the last tensor, from byte 352
    "#);
    let out = run_in(dir.path(), &["compat-check", "--strict", "t.gguf"], 1);
    insta::assert_snapshot!(stdout(&out), @r#"
    t.gguf: 1 error, 0 warnings
      error[trailing-bytes] byte 352: 7 unexpected bytes after the last tensor, from byte 352
    "#);
    // The environment variable does what --strict does; "0" leaves the warning a warning.
    let strict = stdout(&out);
    for value in ["1", "true", "YES", "On"] {
        bin_in(dir.path())
            .env("BITNET_STRICT_MODE", value)
            .args(["compat-check", "t.gguf"])
            .assert()
            .code(1)
            .stdout(strict.clone())
            .stderr("");
    }
    bin_in(dir.path())
        .env("BITNET_STRICT_MODE", "0")
        .args(["compat-check", "t.gguf"])
        .assert()
        .code(0)
        .stdout(
            "t.gguf: 0 errors, 1 warning\n  warning[trailing-bytes] byte 352: 7 unexpected bytes \
             after the last tensor, from byte 352\n",
        )
        .stderr("");
    bin_in(dir.path())
        .env("BITNET_STRICT_MODE", "sometimes")
        .args(["compat-check", "t.gguf"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("BITNET_STRICT_MODE"));
}

#[test]
fn text_and_json_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = bitnet_models::pack_qk256(&weights(4, 256), 4, 256).unwrap();
    data[17] = 0xff;
    data[200] = 0xfc;
    write(dir.path(), "r.gguf", &i2s(256, 4, data, &[]));
    let out = run_in(dir.path(), &["compat-check", "r.gguf"], 1);
    insta::assert_snapshot!(stdout(&out), @r#"
    r.gguf: 1 error, 0 warnings
      error[reserved-code] byte 177: tensor "w.weight": 7 reserved code(s) 3, the first in byte 177
    "#);
    let out = run_in(dir.path(), &["compat-check", "--json", "r.gguf"], 1);
    insta::assert_snapshot!(stdout(&out), @r#"{"path":"r.gguf","valid":false,"errors":[{"code":"reserved-code","message":"tensor \"w.weight\": 7 reserved code(s) 3, the first in byte 177","offset":177,"tensor":"w.weight"}],"warnings":[],"info":[]}"#);

    // A finding with a key, and one without an offset.
    let mut b = bitnet_gguf::GgufBuilder::new();
    b.kv("general.architecture", "bitnet-b1.58");
    write(dir.path(), "k.gguf", &b.build().unwrap());
    let out = run_in(dir.path(), &["compat-check", "--json", "k.gguf"], 1);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        v["errors"][0],
        serde_json::json!({
            "code": "missing-key",
            "message": "required key \"general.name\" is missing",
            "key": "general.name",
        })
    );
}

#[test]
fn kernel_env_is_checked() {
    let path = third_party("gguf-py-written.gguf");
    bin()
        .env("BITNET_KERNEL", "scalar")
        .arg("compat-check")
        .arg(&path)
        .assert()
        .code(0)
        .stdout(format!("{}: OK\n", path.display()))
        .stderr("");
    bin()
        .env("BITNET_KERNEL", "turbo")
        .arg("compat-check")
        .arg(&path)
        .assert()
        .code(2)
        .stderr("error: BITNET_KERNEL: unknown kernel \"turbo\", expected one of scalar, avx2, avx512, neon, simd128\n");
    // A kernel of another architecture is never available.
    let foreign = if cfg!(target_arch = "x86_64") {
        "neon"
    } else {
        "avx2"
    };
    bin()
        .env("BITNET_KERNEL", foreign)
        .arg("compat-check")
        .arg(&path)
        .assert()
        .code(2)
        .stderr(format!(
            "error: BITNET_KERNEL: kernel {foreign} is not supported by this cpu or target\n"
        ));
}

#[test]
fn a_flavor_decided_by_the_file_is_information() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = decided_1x128(&[]);
    let start = tensor_start(&bytes, "a");
    write(dir.path(), "d.gguf", &bytes);
    let message = format!(
        "tensor \"a\" at byte {start}: 64 bytes fit 64 (qk256), 40 (bitnet32f16) and 64 \
         (bitnetcpp); read as bitnetcpp, the flavor of the file's other i2_s tensors"
    );
    // Not a problem: OK, then the information; the same under --strict (not a warning).
    for args in [
        &["compat-check", "d.gguf"][..],
        &["compat-check", "--strict", "d.gguf"],
    ] {
        let out = bin_in(dir.path()).args(args).assert().code(0);
        assert_eq!(
            stdout(out.get_output()),
            format!("d.gguf: OK\n  info[i2s-flavor-from-file] byte {start}: {message}\n"),
            "{args:?}"
        );
        assert!(stderr(out.get_output()).is_empty());
    }
    let out = run_in(
        dir.path(),
        &["compat-check", "--json", "--strict", "d.gguf"],
        0,
    );
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "path": "d.gguf",
            "valid": true,
            "errors": [],
            "warnings": [],
            "info": [{
                "code": "i2s-flavor-from-file",
                "message": message,
                "offset": start,
                "tensor": "a",
            }],
        })
    );

    // Beside a warning (a `.scale` sibling a bitnetcpp tensor ignores), in file order; under
    // --strict the warning is an error and the information stays information.
    let bytes = decided_1x128(&[(
        "b.scale",
        &[1],
        bitnet_gguf::ggml_type::F32,
        f32_bytes(&[2.0]),
    )]);
    write(dir.path(), "w.gguf", &bytes);
    // One more tensor info: the data starts later.
    let start = tensor_start(&bytes, "a");
    let message = format!(
        "tensor \"a\" at byte {start}: 64 bytes fit 64 (qk256), 40 (bitnet32f16) and 64 \
         (bitnetcpp); read as bitnetcpp, the flavor of the file's other i2_s tensors"
    );
    let ignored = "scale tensor \"b.scale\" is ignored: \"b.weight\" is bitnetcpp, which carries \
                   its own scale";
    let out = run_in(dir.path(), &["compat-check", "w.gguf"], 0);
    assert_eq!(
        stdout(&out),
        format!(
            "w.gguf: 0 errors, 1 warning\n  info[i2s-flavor-from-file] byte {start}: {message}\n  \
             warning[scale-ignored]: {ignored}\n"
        )
    );
    let out = run_in(
        dir.path(),
        &["compat-check", "--strict", "--json", "w.gguf"],
        1,
    );
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"][0]["code"], "scale-ignored");
    assert_eq!(v["errors"][0]["tensor"], "b.scale");
    assert_eq!(v["warnings"], serde_json::json!([]));
    assert_eq!(v["info"][0]["code"], "i2s-flavor-from-file");
    assert_eq!(v["info"].as_array().unwrap().len(), 1);
}

#[test]
fn an_undecided_1x128_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = i2s(128, 1, bitnetcpp_data(1, 128, 0.5), &[]);
    let start = tensor_start(&bytes, "w.weight");
    write(dir.path(), "amb.gguf", &bytes);
    let out = run_in(dir.path(), &["compat-check", "amb.gguf"], 1);
    assert_eq!(
        stdout(&out),
        format!(
            "amb.gguf: 1 error, 0 warnings\n  error[i2s-ambiguous-flavor] byte {start}: tensor \
             \"w.weight\" at byte {start}: ambiguous i2_s flavor: 64 bytes available fit 64 \
             (qk256), 40 (bitnet32f16) and 64 (bitnetcpp)\n"
        )
    );
    // The file's other tensors decide it only when they agree: a QK256 tensor besides the
    // bitnetcpp one leaves it undecided.
    let qk = bitnet_models::pack_qk256(&weights(4, 256), 4, 256).unwrap();
    let mixed = decided_1x128(&[("c", &[256, 4], bitnet_gguf::ggml_type::I2_S, qk)]);
    write(dir.path(), "mixed.gguf", &mixed);
    let out = run_in(dir.path(), &["compat-check", "--json", "mixed.gguf"], 1);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["errors"][0]["code"], "i2s-ambiguous-flavor");
    assert_eq!(v["errors"][0]["tensor"], "a");
    assert_eq!(v["errors"].as_array().unwrap().len(), 1);
    assert_eq!(v["info"], serde_json::json!([]));
}

#[test]
fn a_non_finite_bitnetcpp_scale_is_an_error_at_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value, shown) in [
        ("nan", f32::NAN, "NaN"),
        ("inf", f32::INFINITY, "inf"),
        ("neg-inf", f32::NEG_INFINITY, "-inf"),
    ] {
        let mut data = bitnetcpp_data(2, 384, 0.5);
        data[192..196].copy_from_slice(&value.to_le_bytes());
        let bytes = i2s(384, 2, data, &[]);
        // The tail, where the scale is: after the 2 × 384 / 4 = 192 code bytes.
        let tail = tensor_start(&bytes, "w.weight") + 192;
        let file = format!("{name}.gguf");
        write(dir.path(), &file, &bytes);
        let message = format!("tensor \"w.weight\": scale at byte {tail} is {shown}, not finite");
        let out = run_in(dir.path(), &["compat-check", &file], 1);
        assert_eq!(
            stdout(&out),
            format!(
                "{file}: 1 error, 0 warnings\n  error[scale-not-finite] byte {tail}: {message}\n"
            )
        );
        let out = run_in(dir.path(), &["compat-check", "--json", &file], 1);
        let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(
            v["errors"],
            serde_json::json!([{
                "code": "scale-not-finite",
                "message": message,
                "offset": tail,
                "tensor": "w.weight",
            }])
        );
        assert_eq!(v["valid"], false);
    }
}

/// A Q2_0 tensor (ggml type 42: 64 elements in 18 bytes), which the type table sizes but the
/// project does not decode, is a valid tensor: compat-check passes the file, inspect names it.
#[test]
fn a_q2_0_file_passes() {
    let dir = tempfile::tempdir().unwrap();
    // Two rows of 128 elements: 2 × 2 blocks of 18 bytes.
    let bytes = container(&[("q", &[128, 2], 42, vec![0x11; 72])]);
    write(dir.path(), "q.gguf", &bytes);
    for args in [
        &["compat-check", "q.gguf"][..],
        &["compat-check", "--strict", "q.gguf"],
    ] {
        let out = run_in(dir.path(), args, 0);
        assert_eq!(stdout(&out), "q.gguf: OK\n");
    }
    let out = run_in(dir.path(), &["inspect", "--json", "q.gguf"], 0);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tensors"][0]["type_name"], "Q2_0");
    assert_eq!(v["tensors"][0]["bytes"], 72);
    // 130 columns are not whole blocks of 64 (the writer refuses them: patch ne[0]; before the
    // offset field come ne[0] and ne[1], 8 bytes each, then the type, 4 bytes).
    let mut bytes = bytes;
    let ne0 = tensor_offset_field(&bytes, "q") - 4 - 16;
    bytes[ne0..ne0 + 8].copy_from_slice(&130u64.to_le_bytes());
    write(dir.path(), "bad.gguf", &bytes);
    let out = run_in(dir.path(), &["compat-check", "bad.gguf"], 1);
    assert!(
        stdout(&out).contains("[not-block-multiple]"),
        "{}",
        stdout(&out)
    );
}
