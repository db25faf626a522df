//! Unit tests of `error.rs`: the stable codes of every error and warning, and the locations
//! they report.

use super::*;
use crate::finding::{Finding, Severity};

/// The codes are part of the command line's output and documented (docs/validation.md):
/// derived from the variant names, pinned here so a rename cannot change them silently.
#[test]
fn codes_are_stable() {
    let s = || String::from("x");
    let errors = [
        (
            GgufError::Truncated {
                what: "magic",
                entry: None,
                offset: 0,
                needed: 4,
                file_len: 0,
            },
            "truncated",
        ),
        (GgufError::BadMagic { found: [0; 4] }, "bad-magic"),
        (GgufError::BigEndian { raw: 0 }, "big-endian"),
        (
            GgufError::UnsupportedVersion { version: 9 },
            "unsupported-version",
        ),
        (
            GgufError::CountExceedsFile {
                what: "tensor",
                count: 1,
                offset: 8,
                min_each: 1,
                remaining: 0,
            },
            "count-exceeds-file",
        ),
        (
            GgufError::StringTooLong {
                what: "key",
                offset: 0,
                len: 0,
                limit: 0,
            },
            "string-too-long",
        ),
        (
            GgufError::InvalidUtf8 {
                what: "key",
                offset: 0,
            },
            "invalid-utf8",
        ),
        (
            GgufError::InvalidValueType {
                key: s(),
                value_type: 13,
                offset: 0,
            },
            "invalid-value-type",
        ),
        (
            GgufError::NestedArray {
                key: s(),
                offset: 0,
            },
            "nested-array",
        ),
        (
            GgufError::ArrayTooLong {
                key: s(),
                count: 0,
                offset: 0,
                limit: 0,
            },
            "array-too-long",
        ),
        (
            GgufError::ArrayExceedsFile {
                key: s(),
                count: 0,
                offset: 0,
                min_bytes: 0,
                remaining: 0,
            },
            "array-exceeds-file",
        ),
        (GgufError::EmptyKey { offset: 0 }, "empty-key"),
        (
            GgufError::DuplicateKey {
                key: s(),
                offset: 0,
                first_offset: 0,
            },
            "duplicate-key",
        ),
        (
            GgufError::AlignmentType {
                found: ValueType::I32,
                offset: 0,
            },
            "alignment-type",
        ),
        (
            GgufError::InvalidAlignment {
                alignment: 3,
                offset: 0,
            },
            "invalid-alignment",
        ),
        (
            GgufError::TensorNameLength {
                name: s(),
                len: 0,
                offset: 0,
            },
            "tensor-name-length",
        ),
        (
            GgufError::DuplicateTensorName {
                name: s(),
                offset: 0,
            },
            "duplicate-tensor-name",
        ),
        (
            GgufError::TooManyDims {
                tensor: s(),
                n_dims: 5,
                offset: 0,
            },
            "too-many-dims",
        ),
        (
            GgufError::DimensionOutOfRange {
                tensor: s(),
                dim: 0,
                value: 0,
            },
            "dimension-out-of-range",
        ),
        (
            GgufError::ElementCountOverflow {
                tensor: s(),
                ne: vec![],
            },
            "element-count-overflow",
        ),
        (
            GgufError::ByteSizeOverflow {
                tensor: s(),
                ne: vec![],
            },
            "byte-size-overflow",
        ),
        (
            GgufError::UnknownType {
                tensor: s(),
                type_id: 99,
            },
            "unknown-type",
        ),
        (
            GgufError::RemovedType {
                tensor: s(),
                type_id: 4,
                name: "Q4_2",
            },
            "removed-type",
        ),
        (
            GgufError::NotBlockMultiple {
                tensor: s(),
                ne0: 1,
                block: 32,
                type_name: "Q8_0",
            },
            "not-block-multiple",
        ),
        (
            GgufError::MisalignedOffset {
                tensor: s(),
                tensor_offset: 1,
                alignment: 32,
            },
            "misaligned-offset",
        ),
        (
            GgufError::TensorGap {
                tensor: s(),
                tensor_offset: 64,
                expected: 32,
            },
            "tensor-gap",
        ),
        (
            GgufError::TensorOverlap {
                tensor: s(),
                tensor_offset: 0,
                expected: 32,
            },
            "tensor-overlap",
        ),
        (
            GgufError::TensorMisordered {
                tensor: s(),
                tensor_offset: 0,
                previous: 32,
            },
            "tensor-misordered",
        ),
        (
            GgufError::DataOutOfBounds {
                tensor: s(),
                tensor_offset: 0,
                size: 0,
                file_len: 0,
            },
            "data-out-of-bounds",
        ),
    ];
    for (e, code) in &errors {
        assert_eq!(e.code(), *code, "{e:?}");
        assert_eq!(Finding::Error(e.clone()).severity(), Severity::Error);
    }
    let warnings = [
        (
            GgufWarning::NonZeroPadding { offset: 9 },
            "non-zero-padding",
        ),
        (
            GgufWarning::TrailingBytes { offset: 9, len: 1 },
            "trailing-bytes",
        ),
        (GgufWarning::OldVersion, "old-version"),
        (
            GgufWarning::NulInString {
                key: s(),
                what: s(),
                offset: 0,
            },
            "nul-in-string",
        ),
    ];
    for (w, code) in &warnings {
        assert_eq!(w.code(), *code, "{w:?}");
        let f = Finding::Warning(w.clone());
        assert_eq!((f.code(), f.severity()), (*code, Severity::Warning));
    }
}

#[test]
fn locations_name_offset_tensor_and_key() {
    let e = GgufError::DuplicateKey {
        key: "k".into(),
        offset: 40,
        first_offset: 24,
    };
    assert_eq!(e.location(), Location::key("k").with_offset(40));
    let e = GgufError::InvalidAlignment {
        alignment: 3,
        offset: 24,
    };
    assert_eq!(
        {
            let l = e.location();
            (l.offset, l.key, l.tensor)
        },
        (Some(24), Some("general.alignment"), None)
    );
    let e = GgufError::TooManyDims {
        tensor: "t".into(),
        n_dims: 5,
        offset: 60,
    };
    assert_eq!(
        (e.location().offset, e.location().tensor),
        (Some(60), Some("t"))
    );
    // A tensor's own offset field is relative to the data section: never reported as a
    // file offset.
    let e = GgufError::TensorGap {
        tensor: "t".into(),
        tensor_offset: 64,
        expected: 32,
    };
    assert_eq!(e.location(), Location::tensor("t"));
    assert_eq!(GgufWarning::OldVersion.location(), Location::at(4));
    assert_eq!(
        GgufError::BadMagic { found: [0; 4] }.location().offset,
        Some(0)
    );
    assert_eq!(GgufError::BigEndian { raw: 0 }.location().offset, Some(4));
}
