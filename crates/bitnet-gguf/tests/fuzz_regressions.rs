//! Replays inputs of the `parse` and `writer_roundtrip` fuzz targets (`fuzz/`): every minimized
//! crash in `fuzz/regressions/<target>/` and the malformed seeds of `fuzz/seeds/parse/`. Each
//! must give a typed result — a `GgufError`, or a file whose every value and tensor info can
//! be read — and never a panic.
//!
//! The files are compiled in with `include_bytes!` (these tests also run under wasm, without a
//! file system); `every_regression_file_is_replayed` checks the lists against the directories
//! where there is a file system. `writer_roundtrip` decodes its input with `arbitrary`, which
//! this crate does not depend on, so its regressions are spelled out as builder calls (the
//! `Debug` output `cargo fuzz tmin` prints); `cargo +nightly fuzz run writer_roundtrip
//! fuzz/regressions/writer_roundtrip` replays the files themselves.

use bitnet_gguf::{ggml_type, BuildError, Finding, Gguf, GgufBuilder, GgufError, Value};

/// `(file name, bytes)` for each named file of a directory under `fuzz/`.
macro_rules! fuzz_files {
    ($dir:literal: $($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!("../../../fuzz/", $dir, "/", $name)) as &[u8])),*]
    };
}

/// Minimized crashes of the `parse` target: none found so far.
const PARSE_REGRESSIONS: &[(&str, &[u8])] = fuzz_files!("regressions/parse":);

/// Minimized crashes of `writer_roundtrip`, each replayed by a test below (this list is only
/// the file-system completeness check's, which wasm and Miri skip).
#[cfg_attr(any(miri, target_family = "wasm"), allow(dead_code))]
const WRITER_REGRESSIONS: &[&str] = &["i2s-dimension-past-i64-max"];

/// What a file must give: a parse error with this code, or findings with these codes.
#[derive(Debug)]
enum Expect {
    ParseError(&'static str),
    Findings(&'static [&'static str]),
}

/// The malformed seeds of the `parse` target (written by `cargo xtask fuzz --write-seeds`) and
/// what each must give.
const PARSE_SEEDS: &[(&str, &[u8], Expect)] = {
    use Expect::{Findings as F, ParseError as E};
    macro_rules! seed {
        ($name:literal, $expect:expr) => {
            (
                $name,
                include_bytes!(concat!("../../../fuzz/seeds/parse/", $name)) as &[u8],
                $expect,
            )
        };
    }
    &[
        seed!("malformed-alignment-zero.gguf", E("invalid-alignment")),
        seed!("malformed-bad-magic.gguf", E("bad-magic")),
        seed!("malformed-big-endian.gguf", E("big-endian")),
        seed!("malformed-bitnet-keys-inconsistent.gguf", F(&[])),
        seed!("malformed-counts-2e40.gguf", E("count-exceeds-file")),
        seed!(
            "malformed-dimension-minus-one.gguf",
            F(&["dimension-out-of-range"])
        ),
        seed!(
            "malformed-duplicate-keys.gguf",
            F(&["duplicate-key", "empty-key"])
        ),
        seed!(
            "malformed-element-count-overflow.gguf",
            F(&["element-count-overflow"])
        ),
        seed!("malformed-header-only.gguf", F(&[])),
        seed!("malformed-i2s-ambiguous-1x160.gguf", F(&[])),
        seed!("malformed-i2s-bitnet32f16-1x512-from-file.gguf", F(&[])),
        seed!("malformed-i2s-bitnet32f16-odd-scales.gguf", F(&[])),
        // bitnetcpp: its rules (flavor, tail scale, scan) are bitnet-models'; an I2_S tensor's
        // size is the caller's, so even a file that ends inside one is no container problem.
        seed!("malformed-i2s-bitnetcpp-1x128-from-file.gguf", F(&[])),
        seed!("malformed-i2s-bitnetcpp-1x128-mixed-file.gguf", F(&[])),
        seed!("malformed-i2s-bitnetcpp-1x512-from-file.gguf", F(&[])),
        seed!("malformed-i2s-bitnetcpp-1x512-qk256-file.gguf", F(&[])),
        seed!("malformed-i2s-bitnetcpp-ambiguous-1x128.gguf", F(&[])),
        seed!("malformed-i2s-bitnetcpp-ambiguous-1x512.gguf", F(&[])),
        seed!("malformed-i2s-bitnetcpp-cols-not-128.gguf", F(&[])),
        seed!("malformed-i2s-bitnetcpp-garbage-tail.gguf", F(&[])),
        seed!("malformed-i2s-bitnetcpp-inf-scale.gguf", F(&[])),
        seed!("malformed-i2s-bitnetcpp-nan-scale.gguf", F(&[])),
        seed!("malformed-i2s-bitnetcpp-negative-scale.gguf", F(&[])),
        seed!("malformed-i2s-bitnetcpp-reserved-codes.gguf", F(&[])),
        seed!("malformed-i2s-bitnetcpp-scale-sibling.gguf", F(&[])),
        seed!("malformed-i2s-bitnetcpp-truncated-codes.gguf", F(&[])),
        seed!("malformed-i2s-bitnetcpp-truncated-tail.gguf", F(&[])),
        seed!("malformed-i2s-qk256-reserved-nan-scale.gguf", F(&[])),
        seed!("malformed-i2s-qk256-scale-f16-pair.gguf", F(&[])),
        seed!("malformed-i2s-size-mismatch.gguf", F(&[])),
        seed!("malformed-key-not-utf8.gguf", E("invalid-utf8")),
        seed!(
            "malformed-misordered-tensors.gguf",
            F(&["tensor-gap", "tensor-misordered", "trailing-bytes"])
        ),
        seed!("malformed-nested-array.gguf", E("nested-array")),
        seed!(
            "malformed-offset-u64-max.gguf",
            F(&[
                "misaligned-offset",
                "tensor-gap",
                "data-out-of-bounds",
                "trailing-bytes"
            ])
        ),
        seed!("malformed-string-2e30.gguf", E("truncated")),
        seed!("malformed-string-array-2e30.gguf", E("array-exceeds-file")),
        seed!("malformed-tq1_0-nan-scale.gguf", F(&[])),
        seed!("malformed-tq2_0-all-codes.gguf", F(&[])),
        seed!("malformed-u8-array-2e30.gguf", E("array-exceeds-file")),
        seed!(
            "malformed-unknown-and-removed-types.gguf",
            F(&["removed-type", "unknown-type"])
        ),
        seed!("malformed-version-2.gguf", F(&["old-version"])),
    ]
};

/// What the `parse` target does, minus its fuzzing-only cross-checks: parse, and for a file
/// that parses, validate and read every metadata value, array element and tensor accessor.
/// Returns the codes of the findings.
fn replay(bytes: &[u8]) -> Result<Vec<&'static str>, GgufError> {
    let gguf = Gguf::parse(bytes)?;
    let report = gguf.validate();
    for entry in gguf.metadata() {
        read_value(entry.value);
    }
    for (i, t) in gguf.tensors().iter().enumerate() {
        let _ = (
            t.ne(),
            t.type_info(),
            t.n_elements(),
            t.rows(),
            t.byte_size(),
        );
        let _ = (
            gguf.tensor_start(i),
            gguf.tensor_span(i),
            gguf.tensor_data(i),
        );
    }
    assert_eq!(Gguf::load(bytes).is_ok(), report.is_valid());
    Ok(report.findings.iter().map(Finding::code).collect())
}

fn read_value(value: Value<'_>) {
    let _ = (value.as_u64(), value.as_str(), value.to_owned_value());
    if let Value::Array(a) = value {
        assert_eq!(a.iter().count() as u64, a.len());
    }
}

#[test]
fn parse_regressions_give_typed_results() {
    for (name, bytes) in PARSE_REGRESSIONS {
        match replay(bytes) {
            Ok(codes) => eprintln!("{name}: parses, findings {codes:?}"),
            Err(e) => eprintln!("{name}: {} ({e})", e.code()),
        }
    }
}

#[test]
fn malformed_seeds_give_the_expected_results() {
    for (name, bytes, expect) in PARSE_SEEDS {
        let got = replay(bytes);
        eprintln!("{name}: {got:?}");
        match (expect, &got) {
            (Expect::ParseError(code), Err(e)) => assert_eq!(e.code(), *code, "{name}: {e}"),
            (Expect::Findings(codes), Ok(found)) => assert_eq!(found, codes, "{name}"),
            _ => panic!("{name}: expected {expect:?}, got {got:?}"),
        }
    }
}

/// `fuzz/regressions/writer_roundtrip/i2s-dimension-past-i64-max`: the writer skipped the
/// shape checks for caller-sized types, so it wrote an I2_S tensor of `ne = [18086456163891579406]`
/// (or of more than 2^64 elements) that `Gguf::load` then rejected. It must refuse it instead.
#[test]
fn writer_refuses_i2s_shapes_the_reader_rejects() {
    let mut b = GgufBuilder::new();
    b.tensor("t255", &[18086456163891579406], ggml_type::I2_S, vec![]);
    assert!(matches!(
        b.build(),
        Err(BuildError::DimensionOutOfRange {
            dim: 0,
            value: 18086456163891579406,
            ..
        })
    ));
    let mut b = GgufBuilder::new();
    b.tensor("t", &[1 << 32, 1 << 32], ggml_type::I2_S, vec![0; 64]);
    assert!(matches!(
        b.build(),
        Err(BuildError::ElementCountOverflow { .. })
    ));
    // A sane I2_S shape still takes data of any length (its size is the caller's).
    let mut b = GgufBuilder::new();
    b.tensor("t", &[256, 2], ggml_type::I2_S, vec![0x55; 128]);
    let bytes = b.build().unwrap();
    let g = Gguf::load(&bytes).unwrap();
    assert_eq!(g.tensor_bytes(&g.tensors()[0], 128).unwrap(), &[0x55; 128]);
}

/// The directory lists above are complete (not under wasm or Miri: no file system there).
#[test]
#[cfg(not(any(miri, target_family = "wasm")))]
fn every_regression_file_is_replayed() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for (dir, listed) in [
        (
            "regressions/parse",
            names(PARSE_REGRESSIONS.iter().map(|f| f.0)),
        ),
        (
            "regressions/writer_roundtrip",
            names(WRITER_REGRESSIONS.iter().copied()),
        ),
        ("seeds/parse", names(PARSE_SEEDS.iter().map(|f| f.0))),
    ] {
        let on_disk: Vec<String> = std::fs::read_dir(root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| dir.starts_with("regressions") || n.starts_with("malformed-"))
            .collect();
        let mut on_disk = on_disk;
        on_disk.sort();
        assert_eq!(listed, on_disk, "fuzz/{dir}: add every file to this test");
    }
}

#[cfg(not(any(miri, target_family = "wasm")))]
fn names<'a>(it: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = it.map(str::to_owned).collect();
    v.sort();
    v
}
