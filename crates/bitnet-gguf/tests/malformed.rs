//! One test per kind of bad input: each asserts the error variant, not its message.

use bitnet_gguf::{
    ggml_type, BuildError, DataError, Finding, Gguf, GgufError, GgufWarning, MetadataValue,
    Severity, Value, ValueType,
};
use bitnet_testkit::raw::Raw;
use bitnet_testkit::third_party::GGUF_PY_WRITTEN as GGUF_PY;

fn parse_err(bytes: &[u8]) -> GgufError {
    Gguf::parse(bytes).expect_err("parse must fail")
}

fn load_err(bytes: &[u8]) -> GgufError {
    Gguf::load(bytes).expect_err("load must fail")
}

/// The error codes of every finding of a file that parses.
fn codes(bytes: &[u8]) -> Vec<&'static str> {
    Gguf::parse(bytes)
        .unwrap()
        .validate()
        .findings
        .iter()
        .map(|f| f.code())
        .collect()
}

/// A file with one F32 tensor of `ne`, valid apart from what the caller changes.
fn one_tensor(ne: &[u64], ggml_type: u32, offset: u64, data_len: usize) -> Vec<u8> {
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", ne, ggml_type, offset)
        .pad(32)
        .fill(data_len, 0)
        .pad(32);
    r.build()
}

#[test]
fn empty_file_is_truncated_magic() {
    assert!(matches!(
        parse_err(&[]),
        GgufError::Truncated {
            what: "magic",
            offset: 0,
            ..
        }
    ));
}

#[test]
fn every_truncation_of_a_real_file_is_an_error() {
    // Cut inside the header and infos: a parse error (a count the rest cannot hold, or a read
    // past the end); cut inside the data: a layout error.
    let parsed = Gguf::parse(GGUF_PY).unwrap();
    let info_end = parsed.tensor_info_end() as usize;
    // Under Miri, every 17th cut: each region is still cut at many places, in minutes not hours.
    for cut in (0..GGUF_PY.len()).step_by(if cfg!(miri) { 17 } else { 1 }) {
        let bytes = &GGUF_PY[..cut];
        let err = load_err(bytes);
        if cut < info_end {
            assert!(
                matches!(
                    err,
                    GgufError::Truncated { .. }
                        | GgufError::CountExceedsFile { .. }
                        | GgufError::ArrayExceedsFile { .. }
                ),
                "cut {cut}: {err:?}"
            );
        } else {
            assert!(
                matches!(err, GgufError::DataOutOfBounds { .. }),
                "cut {cut}: {err:?}"
            );
            // The bytes of the tensor the cut runs through are its data, not bytes after the
            // last tensor: the report holds no `trailing-bytes`.
            let report = Gguf::parse(bytes).unwrap().validate();
            assert!(
                report.findings.iter().all(|f| f.code() != "trailing-bytes"),
                "cut {cut}: {:?}",
                report.findings
            );
        }
    }
}

#[test]
fn truncated_header_names_the_field() {
    let bytes = Raw::header(3, 0, 0).build();
    assert!(matches!(
        parse_err(&bytes[..12]),
        GgufError::Truncated {
            what: "tensor count",
            entry: None,
            offset: 8,
            needed: 8,
            file_len: 12
        }
    ));
}

#[test]
fn truncated_tensor_info_names_the_entry_and_the_missing_bytes() {
    // Two tensor infos declared; the file ends inside the second one's offset field.
    let mut r = Raw::header(3, 2, 0);
    r.str(b"a").u32(1).u64(4).u32(0).u64(0);
    r.str(b"b").u32(1).u64(4).u32(0).bytes(&[0; 3]);
    let bytes = r.build();
    let info_b_offset_at = 24 + (8 + 1 + 4 + 8 + 4 + 8) + (8 + 1 + 4 + 8 + 4);
    let cut = &bytes[..info_b_offset_at + 3];
    let err = parse_err(cut);
    assert_eq!(
        err,
        GgufError::Truncated {
            what: "tensor offset",
            entry: Some(bitnet_gguf::Entry {
                kind: "tensor info",
                number: 2,
                count: 2
            }),
            offset: info_b_offset_at as u64,
            needed: 8,
            file_len: info_b_offset_at as u64 + 3,
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "tensor info 2 of 2: truncated tensor offset: needs 8 bytes at byte {info_b_offset_at}, \
             the file ends at byte {} (5 bytes short)",
            info_b_offset_at + 3
        )
    );
}

#[test]
fn truncated_metadata_names_the_pair() {
    let mut r = Raw::header(3, 0, 2);
    r.str(b"k").u32(4).u32(7);
    r.str(b"long.key").u32(10).bytes(&[1, 2]);
    let err = parse_err(&r.build());
    assert_eq!(
        err.to_string(),
        "metadata pair 2 of 2: truncated value: needs 8 bytes at byte 61, the file ends at byte \
         63 (6 bytes short)"
    );
}

#[test]
fn bad_magic() {
    let mut bytes = Raw::header(3, 0, 0).build();
    bytes[..4].copy_from_slice(b"GGML");
    assert_eq!(parse_err(&bytes), GgufError::BadMagic { found: *b"GGML" });
}

#[test]
fn versions_0_1_4_are_unsupported() {
    for v in [0, 1, 4] {
        let bytes = Raw::header(v, 0, 0).build();
        assert_eq!(
            parse_err(&bytes),
            GgufError::UnsupportedVersion { version: v }
        );
    }
}

#[test]
fn big_endian_file_is_named_as_such() {
    let mut bytes = b"GGUF".to_vec();
    bytes.extend_from_slice(&3u32.to_be_bytes());
    bytes.extend_from_slice(&0u64.to_be_bytes());
    bytes.extend_from_slice(&0u64.to_be_bytes());
    assert_eq!(parse_err(&bytes), GgufError::BigEndian { raw: 0x0300_0000 });
}

#[test]
fn version_2_loads_with_a_warning() {
    let bytes = Raw::header(2, 0, 0).build();
    let g = Gguf::load(&bytes).unwrap();
    let findings = g.validate().findings;
    assert_eq!(findings, [Finding::Warning(GgufWarning::OldVersion)]);
    assert_eq!(findings[0].severity(), Severity::Warning);
}

fn hundred_bytes(mut r: Raw) -> Vec<u8> {
    r.fill(100 - r.0.len(), 0);
    r.build()
}

#[test]
fn huge_tensor_counts_fail_at_once() {
    for count in [u64::MAX, 1 << 40] {
        let bytes = hundred_bytes(Raw::header(3, count, 0));
        assert!(
            matches!(parse_err(&bytes), GgufError::CountExceedsFile { what: "tensor", count: c, offset: 8, .. } if c == count),
            "{count}"
        );
    }
}

#[test]
fn huge_key_counts_fail_at_once() {
    for count in [u64::MAX, 1 << 40] {
        let bytes = hundred_bytes(Raw::header(3, 0, count));
        assert!(
            matches!(parse_err(&bytes), GgufError::CountExceedsFile { what: "metadata key", count: c, offset: 16, .. } if c == count),
            "{count}"
        );
    }
}

#[test]
fn key_length_u64_max() {
    let mut r = Raw::header(3, 0, 1);
    r.u64(u64::MAX).fill(20, b'a');
    assert!(matches!(
        parse_err(&r.build()),
        GgufError::StringTooLong {
            what: "key",
            offset: 24,
            len: u64::MAX,
            ..
        }
    ));
}

#[test]
fn empty_key() {
    let mut r = Raw::header(3, 0, 1);
    r.kv_u32("", 1);
    assert_eq!(load_err(&r.build()), GgufError::EmptyKey { offset: 24 });
}

#[test]
fn duplicate_key_is_reported_with_both_offsets() {
    let mut r = Raw::header(3, 0, 2);
    r.kv_u32("a.b", 1).kv_u32("a.b", 2);
    // 24 + (8 + 3 + 4 + 4) = 43
    assert_eq!(
        load_err(&r.build()),
        GgufError::DuplicateKey {
            key: "a.b".into(),
            offset: 43,
            first_offset: 24
        }
    );
}

#[test]
fn key_not_utf8() {
    let mut r = Raw::header(3, 0, 1);
    r.str(&[0x66, 0xff, 0xfe]).u32(4).u32(1);
    assert_eq!(
        parse_err(&r.build()),
        GgufError::InvalidUtf8 {
            what: "key",
            offset: 32
        }
    );
}

#[test]
fn string_value_not_utf8() {
    let mut r = Raw::header(3, 0, 1);
    r.str(b"k").u32(8).str(&[0xc3]);
    assert!(matches!(
        parse_err(&r.build()),
        GgufError::InvalidUtf8 {
            what: "string value",
            ..
        }
    ));
}

#[test]
fn value_types_13_and_u32_max_are_unknown() {
    for t in [13, u32::MAX] {
        let mut r = Raw::header(3, 0, 1);
        r.str(b"k").u32(t).u32(0);
        assert_eq!(
            parse_err(&r.build()),
            GgufError::InvalidValueType {
                key: "k".into(),
                value_type: t,
                offset: 33
            }
        );
    }
}

#[test]
fn string_length_2_pow_62() {
    let mut r = Raw::header(3, 0, 1);
    r.str(b"k").u32(8).u64(1 << 62).fill(16, b'x');
    assert!(matches!(
        parse_err(&r.build()),
        GgufError::StringTooLong { what: "string value", offset: 37, len, .. } if len == 1 << 62
    ));
}

#[test]
fn string_longer_than_file() {
    let mut r = Raw::header(3, 0, 1);
    r.str(b"k").u32(8).u64(1000).fill(16, b'x');
    assert!(matches!(
        parse_err(&r.build()),
        GgufError::Truncated {
            what: "string value",
            entry: Some(bitnet_gguf::Entry {
                kind: "metadata pair",
                number: 1,
                count: 1
            }),
            offset: 45,
            needed: 1000,
            file_len: 61
        }
    ));
}

#[test]
fn array_count_2_pow_62() {
    let mut r = Raw::header(3, 0, 1);
    r.str(b"k").u32(9).u32(0).u64(1 << 62).fill(16, 0);
    assert!(matches!(
        parse_err(&r.build()),
        GgufError::ArrayTooLong { count, offset: 41, .. } if count == 1 << 62
    ));
}

#[test]
fn string_array_count_exceeding_the_bytes_left() {
    // 1000 strings need at least 8000 bytes of lengths; 40 remain.
    let mut r = Raw::header(3, 0, 1);
    r.str(b"k").u32(9).u32(8).u64(1000).fill(40, 0);
    assert_eq!(
        parse_err(&r.build()),
        GgufError::ArrayExceedsFile {
            key: "k".into(),
            count: 1000,
            offset: 41,
            min_bytes: 8000,
            remaining: 40
        }
    );
}

#[test]
fn string_array_element_running_past_the_end() {
    let mut r = Raw::header(3, 0, 1);
    r.str(b"k")
        .u32(9)
        .u32(8)
        .u64(2)
        .str(b"ok")
        .u64(50)
        .fill(8, b'x');
    assert!(matches!(
        parse_err(&r.build()),
        GgufError::Truncated {
            what: "string value",
            ..
        }
    ));
}

#[test]
fn nested_array() {
    let mut r = Raw::header(3, 0, 1);
    r.str(b"k").u32(9).u32(9).u64(1).u32(0).u64(0);
    assert_eq!(
        parse_err(&r.build()),
        GgufError::NestedArray {
            key: "k".into(),
            offset: 37
        }
    );
}

#[test]
fn array_of_unknown_type() {
    let mut r = Raw::header(3, 0, 1);
    r.str(b"k").u32(9).u32(77).u64(1).u32(0);
    assert_eq!(
        parse_err(&r.build()),
        GgufError::InvalidValueType {
            key: "k".into(),
            value_type: 77,
            offset: 37
        }
    );
}

#[test]
fn truncated_value() {
    let mut r = Raw::header(3, 0, 1);
    r.str(b"k").u32(10).bytes(&[1, 2, 3]);
    assert!(matches!(
        parse_err(&r.build()),
        GgufError::Truncated {
            what: "value",
            entry: Some(bitnet_gguf::Entry {
                kind: "metadata pair",
                number: 1,
                count: 1
            }),
            offset: 37,
            needed: 8,
            file_len: 40
        }
    ));
}

#[test]
fn alignment_zero_and_thirteen() {
    for a in [0, 13] {
        let mut r = Raw::header(3, 0, 1);
        r.kv_u32("general.alignment", a);
        assert_eq!(
            parse_err(&r.build()),
            GgufError::InvalidAlignment {
                alignment: a,
                offset: 24
            }
        );
    }
}

#[test]
fn alignment_of_type_int32() {
    let mut r = Raw::header(3, 0, 1);
    r.str(b"general.alignment").u32(5).u32(32);
    assert_eq!(
        parse_err(&r.build()),
        GgufError::AlignmentType {
            found: ValueType::I32,
            offset: 24
        }
    );
}

#[test]
fn tensor_name_of_64_bytes() {
    let name = "n".repeat(64);
    let mut r = Raw::header(3, 1, 0);
    r.tensor(&name, &[1], ggml_type::F32, 0)
        .pad(32)
        .fill(4, 0)
        .pad(32);
    assert_eq!(
        load_err(&r.build()),
        GgufError::TensorNameLength {
            name,
            len: 64,
            offset: 24
        }
    );
    // 63 bytes is the longest allowed.
    let mut r = Raw::header(3, 1, 0);
    r.tensor(&"n".repeat(63), &[1], ggml_type::F32, 0)
        .pad(32)
        .fill(4, 0)
        .pad(32);
    Gguf::load(&r.build()).unwrap();
}

#[test]
fn tensor_name_length_u64_max() {
    let mut r = Raw::header(3, 1, 0);
    r.u64(u64::MAX).fill(40, b'a');
    assert!(matches!(
        parse_err(&r.build()),
        GgufError::StringTooLong {
            what: "tensor name",
            offset: 24,
            len: u64::MAX,
            ..
        }
    ));
}

#[test]
fn duplicate_tensor_name() {
    let mut r = Raw::header(3, 2, 0);
    r.tensor("t", &[8], ggml_type::F32, 0)
        .tensor("t", &[8], ggml_type::F32, 32)
        .pad(32)
        .fill(64, 0);
    assert!(matches!(
        load_err(&r.build()),
        GgufError::DuplicateTensorName { ref name, .. } if name == "t"
    ));
}

#[test]
fn n_dims_5_and_0xfffffff0() {
    for n in [5, 0xFFFF_FFF0] {
        let mut r = Raw::header(3, 1, 0);
        r.str(b"t").u32(n).fill(64, 1);
        assert_eq!(
            parse_err(&r.build()),
            GgufError::TooManyDims {
                tensor: "t".into(),
                n_dims: n,
                offset: 33
            }
        );
    }
}

#[test]
fn dimension_minus_one() {
    let bytes = one_tensor(&[u64::MAX, 1], ggml_type::F32, 0, 0);
    assert_eq!(
        load_err(&bytes),
        GgufError::DimensionOutOfRange {
            tensor: "t".into(),
            dim: 0,
            value: u64::MAX
        }
    );
}

#[test]
fn element_count_overflowing_u64() {
    let ne = [1 << 32, 1 << 32];
    assert_eq!(
        load_err(&one_tensor(&ne, ggml_type::F32, 0, 0)),
        GgufError::ElementCountOverflow {
            tensor: "t".into(),
            ne: ne.to_vec()
        }
    );
}

#[test]
fn byte_size_overflowing_u64() {
    // 2^62 elements fit in u64; 4 bytes each do not.
    let ne = [1 << 31, 1 << 31];
    assert_eq!(
        load_err(&one_tensor(&ne, ggml_type::F32, 0, 0)),
        GgufError::ByteSizeOverflow {
            tensor: "t".into(),
            ne: ne.to_vec()
        }
    );
}

#[test]
fn unknown_type_ids() {
    for id in [43, 99, u32::MAX] {
        assert_eq!(
            load_err(&one_tensor(&[32], id, 0, 32)),
            GgufError::UnknownType {
                tensor: "t".into(),
                type_id: id
            }
        );
    }
}

#[test]
fn the_last_known_type_id_is_q2_0() {
    // Q2_0 (42): 64 elements in 18 bytes. 42 is the last id the table knows, 43 the first it
    // does not (`unknown_type_ids`).
    let t = bitnet_gguf::type_info(42);
    assert_eq!(t.name(), "Q2_0");
    assert_eq!(t.block_elems(), Some(64));
    assert!(matches!(
        t,
        bitnet_gguf::TypeInfo::Sized {
            block_elems: 64,
            block_bytes: 18,
            ..
        }
    ));
    // Two rows of 128: 4 blocks, 72 bytes (96 with the padding).
    let bytes = one_tensor(&[128, 2], 42, 0, 72);
    assert_eq!(codes(&bytes), Vec::<&str>::new());
    let gguf = Gguf::load(&bytes).unwrap();
    assert_eq!(gguf.tensors()[0].byte_size(), Some(72));
    assert!(matches!(
        load_err(&one_tensor(&[96, 1], 42, 0, 32)),
        GgufError::NotBlockMultiple {
            ne0: 96,
            block: 64,
            type_name: "Q2_0",
            ..
        }
    ));
    assert!(matches!(
        bitnet_gguf::type_info(43),
        bitnet_gguf::TypeInfo::Unknown
    ));
}

#[test]
fn removed_type_ids() {
    for (id, name) in [
        (4, "Q4_2"),
        (5, "Q4_3"),
        (31, "Q4_0_4_4"),
        (32, "Q4_0_4_8"),
        (33, "Q4_0_8_8"),
        (37, "IQ4_NL_4_8"),
        (38, "IQ4_NL_8_8"),
    ] {
        assert_eq!(
            load_err(&one_tensor(&[32], id, 0, 32)),
            GgufError::RemovedType {
                tensor: "t".into(),
                type_id: id,
                name
            }
        );
    }
}

#[test]
fn ne0_not_a_multiple_of_the_block_size() {
    assert!(matches!(
        load_err(&one_tensor(&[33, 1], ggml_type::Q8_0, 0, 64)),
        GgufError::NotBlockMultiple {
            ne0: 33,
            block: 32,
            type_name: "Q8_0",
            ..
        }
    ));
}

#[test]
fn offset_u64_max() {
    let bytes = one_tensor(&[8], ggml_type::F32, u64::MAX, 32);
    let report = Gguf::parse(&bytes).unwrap().validate();
    assert_eq!(
        report.findings.iter().map(|f| f.code()).collect::<Vec<_>>(),
        // The 32 data bytes belong to no tensor, hence the warning.
        [
            "misaligned-offset",
            "tensor-gap",
            "data-out-of-bounds",
            "trailing-bytes"
        ]
    );
    assert!(matches!(
        load_err(&bytes),
        GgufError::MisalignedOffset {
            tensor_offset: u64::MAX,
            alignment: 32,
            ..
        }
    ));
}

#[test]
fn misaligned_offset() {
    let mut r = Raw::header(3, 2, 0);
    r.tensor("a", &[1], ggml_type::F32, 0)
        .tensor("b", &[1], ggml_type::F32, 4)
        .pad(32)
        .fill(64, 0);
    assert_eq!(
        load_err(&r.build()),
        GgufError::MisalignedOffset {
            tensor: "b".into(),
            tensor_offset: 4,
            alignment: 32
        }
    );
}

fn two_tensors(second_offset: u64) -> Vec<u8> {
    // Two F32 tensors of 16 elements (64 bytes each).
    let mut r = Raw::header(3, 2, 0);
    r.tensor("a", &[16], ggml_type::F32, 0)
        .tensor("b", &[16], ggml_type::F32, second_offset)
        .pad(32)
        .fill(256, 0);
    r.build()
}

#[test]
fn gap_between_tensors() {
    assert_eq!(
        load_err(&two_tensors(96)),
        GgufError::TensorGap {
            tensor: "b".into(),
            tensor_offset: 96,
            expected: 64
        }
    );
}

#[test]
fn overlapping_tensors() {
    assert_eq!(
        load_err(&two_tensors(32)),
        GgufError::TensorOverlap {
            tensor: "b".into(),
            tensor_offset: 32,
            expected: 64
        }
    );
}

#[test]
fn misordered_tensors() {
    let mut r = Raw::header(3, 2, 0);
    r.tensor("a", &[16], ggml_type::F32, 64)
        .tensor("b", &[16], ggml_type::F32, 0)
        .pad(32)
        .fill(128, 0);
    let report = Gguf::parse(&r.build()).unwrap().validate();
    let errors: Vec<&GgufError> = report.errors().collect();
    assert!(errors.contains(&&GgufError::TensorGap {
        tensor: "a".into(),
        tensor_offset: 64,
        expected: 0
    }));
    assert!(errors.contains(&&GgufError::TensorMisordered {
        tensor: "b".into(),
        tensor_offset: 0,
        previous: 64
    }));
}

#[test]
fn tensor_data_past_the_end_of_the_file() {
    let mut bytes = one_tensor(&[16], ggml_type::F32, 0, 64);
    bytes.truncate(bytes.len() - 1);
    let report = Gguf::parse(&bytes).unwrap().validate();
    let codes: Vec<&str> = report.findings.iter().map(|f| f.code()).collect();
    assert_eq!(codes, ["data-out-of-bounds"]);
    assert!(matches!(
        load_err(&bytes),
        GgufError::DataOutOfBounds {
            tensor_offset: 0,
            size: 64,
            ..
        }
    ));
}

#[test]
fn an_i2s_tensor_starting_past_the_end_of_the_file() {
    // The container cannot size I2_S, so only its start is checked: at 4096 in a 64-byte data
    // section it is out of bounds (with the size 0 it knows), and the 64 bytes belong to no
    // tensor. At 32, inside the data section, nothing is wrong with its start.
    let bytes = one_tensor(&[256], ggml_type::I2_S, 4096, 64);
    let report = Gguf::parse(&bytes).unwrap().validate();
    let codes: Vec<&str> = report.findings.iter().map(|f| f.code()).collect();
    assert_eq!(
        codes,
        ["tensor-gap", "data-out-of-bounds", "trailing-bytes"]
    );
    assert!(matches!(
        report.first_error(),
        Some(GgufError::TensorGap { .. })
    ));
    assert!(report.findings.iter().any(|f| matches!(
        f,
        Finding::Error(GgufError::DataOutOfBounds {
            tensor_offset: 4096,
            size: 0,
            ..
        })
    )));
    let bytes = one_tensor(&[256], ggml_type::I2_S, 32, 64);
    let report = Gguf::parse(&bytes).unwrap().validate();
    let codes: Vec<&str> = report.findings.iter().map(|f| f.code()).collect();
    assert_eq!(codes, ["tensor-gap"]);
}

#[test]
fn missing_trailing_padding_after_last_tensor() {
    // 8 bytes of data, but the file ends before the padding to 32.
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[2], ggml_type::F32, 0).pad(32).fill(8, 0);
    assert!(matches!(
        load_err(&r.build()),
        GgufError::DataOutOfBounds { size: 32, .. }
    ));
}

#[test]
fn non_zero_padding_and_trailing_bytes_are_warnings() {
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[2], ggml_type::F32, 0)
        .pad(32)
        .fill(8, 0)
        .fill(24, 7)
        .fill(5, 0);
    let bytes = r.build();
    let g = Gguf::load(&bytes).expect("warnings do not fail a load");
    let report = g.validate();
    assert!(report.is_valid());
    let data_start = g.data_offset();
    assert_eq!(
        report.findings,
        [
            Finding::Warning(GgufWarning::NonZeroPadding {
                offset: data_start + 8
            }),
            Finding::Warning(GgufWarning::TrailingBytes {
                offset: data_start + 32,
                len: 5
            }),
        ]
    );
}

#[test]
fn caller_sized_i2s_tensor_is_checked_only_for_placement() {
    let bytes = one_tensor(&[256, 4], ggml_type::I2_S, 0, 256);
    let g = Gguf::load(&bytes).unwrap();
    assert_eq!(g.tensor_span(0).len(), 256);
    assert!(matches!(
        g.tensor_data(0),
        Err(DataError::SizeUnknown {
            type_name: "I2_S",
            ..
        })
    ));
    assert!(matches!(
        g.tensor_data(1),
        Err(DataError::NoSuchTensor { index: 1, count: 1 })
    ));
    let info = &g.tensors()[0];
    assert_eq!(g.tensor_bytes(info, 256).unwrap().len(), 256);
    assert!(matches!(
        g.tensor_bytes(info, 257),
        Err(GgufError::DataOutOfBounds { .. })
    ));
}

#[test]
fn validation_lists_every_problem_in_one_report() {
    let mut r = Raw::header(3, 3, 2);
    r.kv_u32("a", 1).kv_u32("a", 2);
    r.tensor("x", &[16], 99, 0)
        .tensor("x", &[16], ggml_type::F32, 8)
        .tensor("y", &[33], ggml_type::Q8_0, 64);
    r.pad(32).fill(64, 0);
    assert_eq!(
        codes(&r.build()),
        [
            "duplicate-key",
            "unknown-type",
            "duplicate-tensor-name",
            "not-block-multiple",
            "misaligned-offset",
            "data-out-of-bounds",
            // y at 64 starts inside x, which occupies 8..72.
            "tensor-overlap"
        ]
    );
}

#[test]
fn header_only_file_loads() {
    let bytes = Raw::header(3, 0, 0).build();
    let g = Gguf::load(&bytes).unwrap();
    assert_eq!(g.data_offset(), 32);
    assert!(g.metadata().is_empty() && g.tensors().is_empty());
    assert!(g.validate().findings.is_empty());
}

#[test]
fn tensor_with_a_zero_dimension_loads() {
    let mut r = Raw::header(3, 2, 0);
    r.tensor("empty", &[0, 4], ggml_type::F32, 0)
        .tensor("b", &[8], ggml_type::F32, 0)
        .pad(32)
        .fill(32, 0);
    let bytes = r.build();
    let g = Gguf::load(&bytes).unwrap();
    assert_eq!(g.tensors()[0].n_elements(), Some(0));
    assert_eq!(g.tensor_data(0).unwrap(), &[] as &[u8]);
    assert_eq!(g.tensor_data(1).unwrap().len(), 32);
}

#[test]
fn custom_alignment_of_64_loads() {
    let mut r = Raw::header(3, 2, 1);
    r.kv_u32("general.alignment", 64);
    r.tensor("a", &[4], ggml_type::F32, 0)
        .tensor("b", &[4], ggml_type::F32, 64)
        .pad(64)
        .fill(128, 0);
    let bytes = r.build();
    let g = Gguf::load(&bytes).unwrap();
    assert_eq!(g.alignment(), 64);
    assert_eq!(g.data_offset() % 64, 0);
    assert_eq!(g.get("general.alignment"), Some(Value::U32(64)));
    // With alignment 32 the same offsets would leave a gap.
    let as_32 = bytes.clone();
    let mut r = Raw::header(3, 2, 0);
    r.tensor("a", &[4], ggml_type::F32, 0)
        .tensor("b", &[4], ggml_type::F32, 64)
        .pad(32)
        .fill(128, 0);
    assert!(matches!(
        load_err(&r.build()),
        GgufError::TensorGap { expected: 32, .. }
    ));
    drop(as_32);
}

#[test]
fn writer_rejects_what_the_reader_would() {
    use bitnet_gguf::GgufBuilder;
    let mut b = GgufBuilder::new();
    b.kv("a", 1u32).kv("a", 2u32);
    assert!(matches!(b.build(), Err(BuildError::DuplicateKey { .. })));
    let mut b = GgufBuilder::new();
    b.kv("general.alignment", 13u32);
    assert!(matches!(
        b.build(),
        Err(BuildError::InvalidAlignment { alignment: 13, .. })
    ));
    let mut b = GgufBuilder::new();
    b.kv("general.alignment", 32i32);
    assert!(matches!(
        b.build(),
        Err(BuildError::AlignmentType {
            found: ValueType::I32,
            ..
        })
    ));
    let mut b = GgufBuilder::new();
    b.kv("k", MetadataValue::Array(ValueType::Array, vec![]));
    assert!(matches!(b.build(), Err(BuildError::NestedArray { .. })));
    let mut b = GgufBuilder::new();
    b.kv(
        "k",
        MetadataValue::Array(ValueType::U8, vec![MetadataValue::U32(1)]),
    );
    assert!(matches!(
        b.build(),
        Err(BuildError::ArrayElementType {
            index: 0,
            expected: ValueType::U8,
            found: ValueType::U32,
            ..
        })
    ));
    let mut b = GgufBuilder::new();
    b.tensor("t", &[3], ggml_type::F32, vec![0; 8]);
    assert!(matches!(
        b.build(),
        Err(BuildError::TensorDataLength {
            expected: 12,
            actual: 8,
            ..
        })
    ));
    let mut b = GgufBuilder::new();
    b.tensor("t", &[32], 4, vec![]);
    assert!(matches!(
        b.build(),
        Err(BuildError::RemovedType { type_id: 4, .. })
    ));
    let mut b = GgufBuilder::new();
    b.tensor("", &[1], ggml_type::F32, vec![0; 4]);
    assert!(matches!(
        b.build(),
        Err(BuildError::TensorNameLength { len: 0, .. })
    ));
    let mut b = GgufBuilder::new();
    b.tensor("t", &[1, 1, 1, 1, 1], ggml_type::F32, vec![0; 4]);
    assert!(matches!(
        b.build(),
        Err(BuildError::TooManyDims { n_dims: 5, .. })
    ));
}

#[test]
fn a_nul_inside_a_string_is_a_warning_naming_the_key_and_offset() {
    // gguf-py and ggml read "ab\0c" as "ab": valid GGUF, but read differently elsewhere.
    let mut r = Raw::header(3, 0, 4);
    r.kv_str("clean", "abc"); // 24..52
    r.kv_str("name", "ab\0c"); // key at 52; value bytes at 52 + 8 + 4 + 4 + 8 = 76
    r.str(b"k\0y").u32(4).u32(1); // key bytes at 80 + 8 = 88, the NUL at 89
    r.str(b"toks").u32(9).u32(8).u64(3); // elements from 99 + 8 + 4 + 4 + 4 + 8 = 127
    r.str(b"a").str(b"").str(b"xy\0"); // element 2 at 127 + 9 + 8 = 144, its bytes at 152
    let bytes = r.build();
    let report = Gguf::parse(&bytes).unwrap().validate();
    let want = [
        ("name", "string value", 78),
        ("k\0y", "key", 89),
        ("toks", "array element 2", 154),
    ];
    let got: Vec<_> = report.findings.iter().collect();
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (f, (key, what, offset)) in got.iter().zip(want) {
        assert_eq!(f.severity(), Severity::Warning);
        assert_eq!(
            **f,
            Finding::Warning(GgufWarning::NulInString {
                key: key.into(),
                what: what.into(),
                offset
            })
        );
        assert_eq!(f.location().key, Some(key));
        assert_eq!(f.location().offset, Some(offset));
    }
    assert!(report.is_valid());
    assert_eq!(
        got[0].to_string(),
        "key \"name\": the string value holds a NUL byte at byte 78; gguf-py and ggml end the \
         string there"
    );
}
