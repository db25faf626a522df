//! Unit tests of the type table comparisons, on tables built from the project's own: neither
//! reference is run.

use bitnet_gguf::type_info;

use super::*;
use crate::crossval::schema::{GgmlType, PyType};

/// ggml's table as `ggml-dump --types` reports it, built from the project's own table with
/// ggml's spelling: what a matching ggml looks like.
fn ggml_table() -> GgmlTypes {
    let types = (0..43)
        .map(|id| match type_info(id) {
            TypeInfo::Sized {
                name,
                block_elems,
                block_bytes,
            } => GgmlType {
                id,
                name: name.to_ascii_lowercase(),
                blck_size: block_elems as i64,
                type_size: block_bytes,
            },
            _ => GgmlType {
                id,
                name: "DEPRECATED".into(),
                blck_size: 0,
                type_size: 0,
            },
        })
        .collect();
    GgmlTypes {
        ggml_version: "0.26.0".into(),
        source: "test".into(),
        type_count: 43,
        types,
    }
}

#[test]
fn the_type_table_matches_ggml_with_36_known() {
    let out = compare_ggml_types(&ggml_table(), type_info);
    assert!(out.mismatches.is_empty(), "{:?}", out.mismatches);
    assert_eq!(out.ids, 43);
    assert_eq!(out.known.len(), 1);
    assert!(out.known[0].starts_with("36:"));
}

#[test]
fn a_type_table_difference_is_a_mismatch() {
    let mut g = ggml_table();
    g.types[35].type_size = 68; // TQ2_0
    g.types[9].name = "q8_2".into();
    let out = compare_ggml_types(&g, type_info);
    let ids: Vec<&str> = out.mismatches.iter().map(|m| m.what.as_str()).collect();
    assert_eq!(ids, ["type 9", "type 35"]);

    // An id ggml removed that the project sizes, and an id ggml sizes that it removed.
    let mut g = ggml_table();
    g.types[8].blck_size = 0;
    g.types[4].blck_size = 32;
    g.types[4].type_size = 18;
    let out = compare_ggml_types(&g, type_info);
    let ids: Vec<&str> = out.mismatches.iter().map(|m| m.what.as_str()).collect();
    assert_eq!(ids, ["type 4", "type 8"]);

    // A shorter ggml: the project's ids past its count are mismatches; a missing entry too.
    let mut g = ggml_table();
    g.type_count = 42;
    g.types.truncate(41);
    let out = compare_ggml_types(&g, type_info);
    let ids: Vec<&str> = out.mismatches.iter().map(|m| m.what.as_str()).collect();
    assert_eq!(ids, ["type 41", "type 42"]);
}

/// gguf-py 0.19.0's table as `gguf_py_dump.py --types` reports it: ggml's, without the
/// removed ids, 36 and Q2_0, and with Q8_1 at 40 bytes.
fn py_table() -> PyTypes {
    let types = ggml_table()
        .types
        .into_iter()
        .filter(|t| t.blck_size != 0 && t.id != 42)
        .map(|t| PyType {
            id: t.id,
            name: t.name.to_ascii_uppercase(),
            blck_size: Some(t.blck_size as u64),
            type_size: Some(if t.id == 9 { 40 } else { t.type_size }),
        })
        .collect();
    PyTypes {
        gguf_version: "0.19.0".into(),
        numpy_version: "2".into(),
        types,
    }
}

#[test]
fn gguf_py_table_differences_are_known_and_nothing_else_is() {
    let out = compare_py_types(&py_table(), 43, type_info);
    assert!(out.mismatches.is_empty(), "{:?}", out.mismatches);
    let known: Vec<&str> = out.known.iter().map(|k| &k[..4]).collect();
    assert_eq!(known, ["Q8_1", "36: ", "Q2_0"]);

    let mut py = py_table();
    let q8_1 = py.types.iter_mut().find(|t| t.id == 9).unwrap();
    q8_1.type_size = Some(41);
    py.types.retain(|t| t.id != 8); // Q8_0 unknown to gguf-py: not a known difference
    py.types.push(PyType {
        id: 50,
        name: "NEW".into(),
        blck_size: Some(1),
        type_size: Some(1),
    });
    let out = compare_py_types(&py, 43, type_info);
    let ids: Vec<&str> = out.mismatches.iter().map(|m| m.what.as_str()).collect();
    assert_eq!(ids, ["type 8", "type 9", "type 50"]);
}
