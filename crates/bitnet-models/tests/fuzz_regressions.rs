//! Replays inputs of the `parse_check_dequant` and `kernels_diff` fuzz targets (`fuzz/`): every
//! minimized crash in `fuzz/regressions/<target>/`, and seeds from `fuzz/seeds/<target>/` that
//! prove the mechanism. Each must give a typed result (findings, a `ModelError`, a
//! `FormatError`) and never a panic, and every kernel must agree with the scalar reference bit
//! for bit.
//!
//! The files are compiled in with `include_bytes!` (these tests also run under wasm, without a
//! file system); `every_regression_file_is_replayed` checks the lists against the directories
//! where there is a file system.

use bitnet_gguf::{GgufError, Severity};
use bitnet_models::{
    has_errors, scan, scan_reference, Flavor, Kernel, Model, ModelError, TernaryFormat,
};
use bitnet_testkit::kernel_input::KernelInput;

/// `(file name, bytes)` for each named file of a directory under `fuzz/`.
macro_rules! fuzz_files {
    ($dir:literal: $($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!("../../../fuzz/", $dir, "/", $name)) as &[u8])),*]
    };
}

/// `(file name, bytes, codes of the findings check must report)` for named files of a
/// directory under `fuzz/`.
macro_rules! expect_files {
    ($dir:literal: $($name:literal => $codes:expr),* $(,)?) => {
        &[$((
            $name,
            include_bytes!(concat!("../../../fuzz/", $dir, "/", $name)) as &[u8],
            &$codes as &[&str],
        )),*]
    };
}

/// Minimized crashes of `parse_check_dequant` and the findings each must give instead.
const MODEL_REGRESSIONS: &[(&str, &[u8], &[&str])] = expect_files!("regressions/parse_check_dequant":
    // `blk.18446744073709551615.w` in a bitnet-b1.58 file: counting the blocks it names
    // overflowed u64 (model/keys.rs, `check_required_keys`).
    "blk-index-u64-max" => [
        "missing-key", "missing-key", "missing-key", "missing-key", "missing-key", "missing-key",
        "missing-key", "key-inconsistent",
    ],
);

/// Minimized crashes of `kernels_diff`: none found so far.
const KERNEL_REGRESSIONS: &[(&str, &[u8])] = fuzz_files!("regressions/kernels_diff":);

/// Seeds of `parse_check_dequant` and the codes of the findings `check` must report.
const MODEL_SEEDS: &[(&str, &[u8], &[&str])] = expect_files!("seeds/parse_check_dequant":
    "qk256_4x256_seed42.gguf" => [],
    "qk256_3x300_seed43.gguf" => [],
    "bitnet32f16_2x64_seed44.gguf" => [],
    "bitnetcpp_4x384_seed45.gguf" => [],
    "gguf-py-written.gguf" => [],
    "malformed-i2s-ambiguous-1x160.gguf" => ["i2s-ambiguous-flavor"],
    "malformed-i2s-size-mismatch.gguf" => ["i2s-size-mismatch"],
    // The bad scale ends the tensor's checks before the scan.
    "malformed-i2s-qk256-reserved-nan-scale.gguf" => ["scale-not-finite"],
    "malformed-i2s-qk256-scale-f16-pair.gguf" => ["scale-shape"],
    "malformed-i2s-bitnet32f16-odd-scales.gguf" => [
        "reserved-code", "block-scale-not-finite",
    ],
    "malformed-tq2_0-all-codes.gguf" => ["reserved-code"],
    // bitnetcpp (2x384: 192 code bytes and a 32-byte tail, 224 bytes; QK256 would be 256,
    // BitNet32F16 240). Reserved codes in the codes; a tail scale that is not finite (which
    // ends the tensor's checks before the scan).
    "malformed-i2s-bitnetcpp-reserved-codes.gguf" => ["reserved-code"],
    "malformed-i2s-bitnetcpp-nan-scale.gguf" => ["scale-not-finite"],
    "malformed-i2s-bitnetcpp-inf-scale.gguf" => ["scale-not-finite"],
    // A file that ends inside the codes or inside the tail: no flavor has the size left.
    "malformed-i2s-bitnetcpp-truncated-codes.gguf" => ["i2s-size-mismatch"],
    "malformed-i2s-bitnetcpp-truncated-tail.gguf" => ["i2s-size-mismatch"],
    // 2x320 in 192 bytes: bitnetcpp's size, were 320 a multiple of 128.
    "malformed-i2s-bitnetcpp-cols-not-128.gguf" => ["i2s-size-mismatch"],
    // 1x128 fits QK256 and bitnetcpp (64 bytes) and BitNet32F16 (40): ambiguous alone, read as
    // bitnetcpp beside a bitnetcpp tensor (information only), ambiguous again when the file's
    // other tensors disagree.
    "malformed-i2s-bitnetcpp-ambiguous-1x128.gguf" => ["i2s-ambiguous-flavor"],
    "malformed-i2s-bitnetcpp-1x128-from-file.gguf" => ["i2s-flavor-from-file"],
    "malformed-i2s-bitnetcpp-1x128-mixed-file.gguf" => ["i2s-ambiguous-flavor"],
    // 1x512 fits BitNet32F16 and bitnetcpp (160 bytes): decided by a tensor of either, not by
    // a QK256 one (not a candidate).
    "malformed-i2s-bitnetcpp-ambiguous-1x512.gguf" => ["i2s-ambiguous-flavor"],
    "malformed-i2s-bitnetcpp-1x512-from-file.gguf" => ["i2s-flavor-from-file"],
    "malformed-i2s-bitnet32f16-1x512-from-file.gguf" => ["i2s-flavor-from-file"],
    "malformed-i2s-bitnetcpp-1x512-qk256-file.gguf" => ["i2s-ambiguous-flavor"],
    // Valid: the 28 bytes after the scale are ignored; a negative scale is a scale.
    "malformed-i2s-bitnetcpp-garbage-tail.gguf" => [],
    "malformed-i2s-bitnetcpp-negative-scale.gguf" => [],
    // A `.scale` sibling beside a tensor that carries its own scale (a warning).
    "malformed-i2s-bitnetcpp-scale-sibling.gguf" => ["scale-ignored"],
    "gguf-py-tq1_0.gguf" => [],
    "malformed-tq1_0-nan-scale.gguf" => ["block-scale-not-finite"],
    "malformed-bitnet-keys-inconsistent.gguf" => [
        "key-type", "missing-key", "missing-key", "key-type", "missing-key", "key-inconsistent",
        "key-inconsistent",
    ],
    "malformed-offset-u64-max.gguf" => [
        "misaligned-offset", "tensor-gap", "data-out-of-bounds", "trailing-bytes",
    ],
    "malformed-misordered-tensors.gguf" => [
        "tensor-gap", "tensor-misordered", "trailing-bytes",
    ],
);

/// Seeds of `kernels_diff` (all of them).
const KERNEL_SEEDS: &[(&str, &[u8])] = fuzz_files!("seeds/kernels_diff":
    "bitnet32f16-2x70-odd-scales",
    "bitnet32f16-4x32",
    "bitnetcpp-3x384-all-bytes",
    "bitnetcpp-6x768-neg-zero",
    "qk256-1x513-neg-zero",
    "qk256-2x256-nan-scale",
    "qk256-3x300-all-bytes",
    "tq2_0-2x257",
    "tq1_0-2x768-odd-scales",
    "tq1_0-3x512-all-bytes",
);

/// What `parse_check_dequant` does: parse, `check`, and dequantize every tensor with every
/// kernel, which must give the scalar result (the same error, or the same bits). Returns the
/// codes of `check`'s findings.
fn replay_model(bytes: &[u8]) -> Result<Vec<&'static str>, GgufError> {
    let model = Model::parse(bytes)?;
    let findings = model.check();
    for f in &findings {
        let _ = (
            f.code(),
            f.severity(),
            f.location().offset,
            f.location().tensor,
            f.location().key,
            f.to_string(),
        );
    }
    for i in 0..model.gguf().tensors().len() {
        let want = model.decode(i, Kernel::scalar());
        for kernel in Kernel::available() {
            let got = model.decode(i, kernel);
            match (&want, &got) {
                (Ok(want), Ok(got)) => assert_eq!(bits(want), bits(got), "{kernel}, tensor {i}"),
                // As text: an error may carry a NaN scale, and NaN != NaN.
                (Err(want), Err(got)) => assert_eq!(format!("{want:?}"), format!("{got:?}")),
                _ => panic!("{kernel}, tensor {i}: {want:?} vs {got:?}"),
            }
        }
    }
    Ok(findings.iter().map(|f| f.code()).collect())
}

/// The bits of each value, to compare kernels exactly. Rust leaves the sign and payload of a
/// NaN that arithmetic produces unspecified, and Miri picks them at random (even one kernel
/// run twice differs), so under Miri all NaNs count as one value. On hardware the kernels
/// agree bit for bit, NaNs included, which the fuzz targets check.
fn bits(values: &[f32]) -> Vec<u32> {
    values
        .iter()
        .map(|v| {
            if cfg!(miri) && v.is_nan() {
                f32::NAN.to_bits()
            } else {
                v.to_bits()
            }
        })
        .collect()
}

/// What `kernels_diff` does, decoding the input with the same codec
/// (`bitnet_testkit::kernel_input`, which documents the byte layout). Returns the scalar result.
fn replay_kernels(input: &[u8]) -> Result<Vec<f32>, bitnet_models::FormatError> {
    let case = KernelInput::decode(input).case(&TernaryFormat::ALL, |format, rows, cols| {
        if format.fits_cols(cols as u64) {
            // What the kernels take: the blocks (for bitnetcpp, its codes without the tail).
            format.data_bytes(rows as u64, cols as u64).unwrap() as usize
        } else {
            // A row length bitnetcpp cannot hold: every kernel must refuse it alike.
            rows * cols / 4
        }
    });
    let (format, rows, cols, scale) = (case.format, case.rows, case.cols, case.scale);
    let data = case.data.bytes();

    let mut want = vec![0.0f32; rows * cols];
    let reference = Kernel::scalar()
        .dequantize(format, data, rows, cols, scale, &mut want)
        .map(|()| want);
    for kernel in Kernel::available() {
        let mut got = vec![f32::from_bits(0x7fc0_dead); rows * cols];
        let result = kernel
            .dequantize(format, data, rows, cols, scale, &mut got)
            .map(|()| got);
        match (&reference, &result) {
            (Ok(want), Ok(got)) => assert_eq!(bits(want), bits(got), "{kernel}"),
            (Err(want), Err(got)) => assert_eq!(format!("{want:?}"), format!("{got:?}")),
            _ => panic!("{kernel}: {reference:?} vs {result:?}"),
        }
    }
    assert_eq!(
        scan(format, data, rows, cols),
        scan_reference(format, data, rows, cols)
    );
    reference
}

/// Replays each file, reporting every one whose findings differ from the expected ones.
fn assert_findings(files: &[(&str, &[u8], &[&str])]) {
    let mut wrong = Vec::new();
    for (name, bytes, expected) in files {
        match replay_model(bytes) {
            Ok(codes) if codes == *expected => {}
            got => wrong.push(format!("{name}: expected {expected:?}, got {got:?}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn model_regressions_give_the_expected_findings() {
    assert_findings(MODEL_REGRESSIONS);
}

#[test]
fn model_seeds_give_the_expected_findings() {
    assert_findings(MODEL_SEEDS);
}

#[test]
fn kernel_regressions_agree_with_the_reference() {
    for (name, input) in KERNEL_REGRESSIONS {
        let result = replay_kernels(input);
        eprintln!("{name}: {:?}", result.as_ref().map(Vec::len));
    }
}

#[test]
fn kernel_seeds_agree_with_the_reference() {
    for (name, input) in KERNEL_SEEDS {
        let values = replay_kernels(input).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!values.is_empty(), "{name}");
    }
}

/// The bytes of seed `name` of [`MODEL_SEEDS`].
fn model_seed(name: &str) -> &'static [u8] {
    MODEL_SEEDS
        .iter()
        .find(|s| s.0 == name)
        .unwrap_or_else(|| panic!("no seed {name} in MODEL_SEEDS"))
        .1
}

/// The bitnetcpp seeds beyond their codes: where a bad tail scale is reported, what a file
/// decides, and that the 28 bytes after the scale change nothing.
#[test]
fn bitnetcpp_seeds_in_detail() {
    // A tail scale that is not finite: reported at the scale (the data start + 192 code
    // bytes), and no kernel decodes the tensor.
    for (name, value) in [
        ("malformed-i2s-bitnetcpp-nan-scale.gguf", f32::NAN),
        ("malformed-i2s-bitnetcpp-inf-scale.gguf", f32::NEG_INFINITY),
    ] {
        let model = Model::parse(model_seed(name)).unwrap();
        assert_eq!(model.flavor(0), Ok(Some(Flavor::BitnetCpp)), "{name}");
        let findings = model.check();
        let start = model.gguf().tensor_start(0).unwrap();
        match &findings[..] {
            [f @ ModelError::TailScaleNotFinite { value: v, .. }] => {
                assert_eq!(v.to_bits(), value.to_bits(), "{name}");
                assert_eq!(f.location().offset, Some(start + 192), "{name}");
                assert_eq!(f.location().tensor, Some("w"), "{name}");
                assert_eq!(f.severity(), Severity::Error, "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
        for kernel in Kernel::available() {
            let err = model.decode(0, kernel).unwrap_err();
            assert_eq!(err.code(), "scale-not-finite", "{name}");
        }
    }

    // Reserved codes: 6 of them (a 0xff byte, and one field in two more bytes), the first in
    // code byte 3.
    let model = Model::parse(model_seed("malformed-i2s-bitnetcpp-reserved-codes.gguf")).unwrap();
    let start = model.gguf().tensor_start(0).unwrap();
    match &model.check()[..] {
        [ModelError::ReservedCodes { count, offset, .. }] => {
            assert_eq!((*count, *offset), (6, start + 3));
        }
        other => panic!("{other:?}"),
    }

    // Decided by the file: information, not a problem; the tensor decodes as that flavor.
    for (name, flavor, candidates) in [
        (
            "malformed-i2s-bitnetcpp-1x128-from-file.gguf",
            Flavor::BitnetCpp,
            "64 (qk256), 40 (bitnet32f16) and 64 (bitnetcpp)",
        ),
        (
            "malformed-i2s-bitnetcpp-1x512-from-file.gguf",
            Flavor::BitnetCpp,
            "160 (bitnet32f16) and 160 (bitnetcpp)",
        ),
        (
            "malformed-i2s-bitnet32f16-1x512-from-file.gguf",
            Flavor::BitNet32F16,
            "160 (bitnet32f16) and 160 (bitnetcpp)",
        ),
    ] {
        let model = Model::parse(model_seed(name)).unwrap();
        assert_eq!(model.flavor(0), Ok(Some(flavor)), "{name}");
        let findings = model.check();
        assert!(!has_errors(&findings), "{name}");
        let [f] = &findings[..] else {
            panic!("{name}: {findings:?}")
        };
        assert_eq!(f.severity(), Severity::Info, "{name}");
        assert_eq!(f.location().tensor, Some("a"), "{name}");
        assert_eq!(f.location().offset, model.gguf().tensor_start(0), "{name}");
        assert!(
            f.to_string().contains(&format!(
                "bytes fit {candidates}; read as {flavor}, the flavor of the file's other i2_s tensors"
            )),
            "{name}: {f}"
        );
        assert_eq!(model.flavor_from_file(0), Some(f), "{name}");
        assert_eq!(model.flavor_from_file(1), None, "{name}");
        let values = model.decode(0, Kernel::scalar()).unwrap();
        assert_eq!(values.len(), model.gguf().tensors()[0].cols() as usize);
    }
    // Not decided: the flavor stays an error, and decoding fails with it.
    for name in [
        "malformed-i2s-bitnetcpp-ambiguous-1x128.gguf",
        "malformed-i2s-bitnetcpp-1x128-mixed-file.gguf",
        "malformed-i2s-bitnetcpp-ambiguous-1x512.gguf",
        "malformed-i2s-bitnetcpp-1x512-qk256-file.gguf",
    ] {
        let model = Model::parse(model_seed(name)).unwrap();
        assert_eq!(
            model.flavor(0).map_err(|e| e.code()),
            Err("i2s-ambiguous-flavor"),
            "{name}"
        );
        assert_eq!(
            model.decode(0, Kernel::scalar()).map_err(|e| e.code()),
            Err("i2s-ambiguous-flavor"),
            "{name}"
        );
        assert_eq!(model.flavor_from_file(0), None, "{name}");
    }

    // The 28 bytes after the scale are ignored: zeroing them changes no value.
    let garbage = model_seed("malformed-i2s-bitnetcpp-garbage-tail.gguf");
    let model = Model::parse(garbage).unwrap();
    let start = model.gguf().tensor_start(0).unwrap() as usize;
    assert!(garbage[start + 196..start + 224].iter().any(|&b| b != 0));
    let mut zeroed = garbage.to_vec();
    zeroed[start + 196..start + 224].fill(0);
    let clean = Model::parse(&zeroed).unwrap();
    assert!(clean.check().is_empty());
    for kernel in Kernel::available() {
        assert_eq!(
            bits(&model.decode(0, kernel).unwrap()),
            bits(&clean.decode(0, kernel).unwrap())
        );
    }
    // A negative scale: every value is w × −0.75, −0.0 for the zeros.
    let model = Model::parse(model_seed("malformed-i2s-bitnetcpp-negative-scale.gguf")).unwrap();
    let values = model.decode(0, Kernel::scalar()).unwrap();
    assert_eq!(values.len(), 768);
    let want = [0.75f32.to_bits(), (-0.0f32).to_bits(), (-0.75f32).to_bits()];
    assert!(values.iter().all(|v| want.contains(&v.to_bits())));
    for w in want {
        assert!(values.iter().any(|v| v.to_bits() == w));
    }
    // A `.scale` sibling is ignored, with a warning: the tail's 0.5 is the scale, not its 2.0.
    let model = Model::parse(model_seed("malformed-i2s-bitnetcpp-scale-sibling.gguf")).unwrap();
    let findings = model.check();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].severity(), Severity::Warning);
    assert_eq!(
        findings[0].to_string(),
        "scale tensor \"x.scale\" is ignored: \"x.weight\" is bitnetcpp, which carries its own scale"
    );
    let t = model.ternary(0).unwrap().unwrap();
    assert_eq!((t.scale, t.data.len(), t.stored.len()), (0.5, 192, 224));
    let values = model.decode(0, Kernel::scalar()).unwrap();
    assert!(values.iter().all(|v| [0.5, 0.0, -0.5].contains(v)));
}

/// The directory lists above are complete (not under wasm or Miri: no file system there).
#[test]
#[cfg(not(any(miri, target_family = "wasm")))]
fn every_regression_file_is_replayed() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let sorted = |names: &mut dyn Iterator<Item = &str>| {
        let mut v: Vec<String> = names.map(str::to_owned).collect();
        v.sort();
        v
    };
    for (dir, listed) in [
        (
            "regressions/parse_check_dequant",
            sorted(&mut MODEL_REGRESSIONS.iter().map(|f| f.0)),
        ),
        (
            "regressions/kernels_diff",
            sorted(&mut KERNEL_REGRESSIONS.iter().map(|f| f.0)),
        ),
        (
            "seeds/kernels_diff",
            sorted(&mut KERNEL_SEEDS.iter().map(|f| f.0)),
        ),
    ] {
        let mut on_disk: Vec<String> = std::fs::read_dir(root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        assert_eq!(listed, on_disk, "fuzz/{dir}: add every file to this test");
    }
}
