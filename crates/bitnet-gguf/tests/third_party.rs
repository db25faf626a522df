//! Files written by other tools parse, with the exact values their provenance lists
//! (`testdata/third-party/README.md`).

use bitnet_gguf::{ggml_type, Gguf, Value, ValueType};
use bitnet_testkit::third_party::{GGUF_PY_WRITTEN as GGUF_PY, LLAMA_SPM_VOCAB as VOCAB};

#[test]
fn gguf_py_scalars_have_exact_values() {
    let g = Gguf::load(GGUF_PY).expect("gguf-py file loads");
    assert_eq!(g.version(), 3);
    assert_eq!(g.metadata().len(), 17);
    assert_eq!(g.get("general.architecture"), Some(Value::String("llama")));
    assert_eq!(g.get("general.name"), Some(Value::String("pywritten-7")));
    assert_eq!(g.get("test.u8"), Some(Value::U8(7)));
    assert_eq!(g.get("test.i8"), Some(Value::I8(-7)));
    assert_eq!(g.get("test.u16"), Some(Value::U16(65000)));
    assert_eq!(g.get("test.i16"), Some(Value::I16(-32000)));
    assert_eq!(g.get("test.u32"), Some(Value::U32(4_000_000_000)));
    assert_eq!(g.get("test.i32"), Some(Value::I32(-2_000_000_000)));
    assert_eq!(g.get("test.f32"), Some(Value::F32(0.15625)));
    assert_eq!(g.get("test.u64"), Some(Value::U64((1u64 << 63) + 5)));
    assert_eq!(g.get("test.i64"), Some(Value::I64(-(1i64 << 62))));
    assert_eq!(g.get("test.f64"), Some(Value::F64(-1e300)));
    assert_eq!(g.get("test.bool"), Some(Value::Bool(true)));
    assert_eq!(g.get("test.utf8"), Some(Value::String("héllo wörld ✓")));
}

#[test]
fn gguf_py_arrays_have_exact_values() {
    let g = Gguf::load(GGUF_PY).unwrap();
    let arr = g.get("test.arr_i32").unwrap();
    let arr = arr.as_array().unwrap();
    assert_eq!(arr.elem_type(), ValueType::I32);
    let ints: Vec<Value> = arr.iter().collect();
    assert_eq!(
        ints,
        [Value::I32(1), Value::I32(-2), Value::I32(3), Value::I32(-4)]
    );
    let strs = g.get("test.arr_str").unwrap();
    let strs: Vec<&str> = strs.as_array().unwrap().strings().unwrap().collect();
    assert_eq!(strs, ["a", "", "ccc"]);
    let toks = g.get("tokenizer.ggml.tokens").unwrap();
    let toks: Vec<&str> = toks.as_array().unwrap().strings().unwrap().collect();
    let expected: Vec<String> = (0..16).map(|i| format!("tok{i}")).collect();
    assert_eq!(toks, expected);
}

#[test]
fn gguf_py_tensors_have_exact_types_shapes_offsets() {
    let g = Gguf::load(GGUF_PY).unwrap();
    assert!(g.validate().findings.is_empty(), "{:?}", g.validate());
    assert_eq!(g.alignment(), 32); // absent key: the default
    assert!(g.get("general.alignment").is_none());
    let t: Vec<(&str, &[u64], u32, u64)> = g
        .tensors()
        .iter()
        .map(|t| (t.name, t.ne(), t.ggml_type, t.offset))
        .collect();
    assert_eq!(
        t,
        [
            ("t.f32", &[40u64, 3][..], ggml_type::F32, 0),
            // 40*3*4 = 480 bytes, already 32-aligned
            ("t.f16", &[17, 2][..], ggml_type::F16, 480),
            // 17*2*2 = 68 bytes, padded to 96: 480 + 96 = 576
            ("t.q8_0", &[64, 2][..], ggml_type::Q8_0, 576),
            // 4 blocks * 34 = 136, padded to 160: 576 + 160 = 736
            ("t.tq2_0", &[512, 4][..], ggml_type::TQ2_0, 736),
        ]
    );
    // 962 bytes of header and infos, padded to 992; the TQ2_0 tensor is 8 blocks * 66 = 528
    // bytes, padded to 544, and ends the file.
    assert_eq!(g.tensor_info_end(), 962);
    assert_eq!(g.data_offset(), 992);
    assert_eq!(g.tensor_data(3).unwrap().len(), 528);
    assert_eq!(992 + 736 + 544, GGUF_PY.len());
}

#[test]
fn gguf_py_tensor_data_is_the_stored_bytes() {
    // Each tensor's data is the bytes at the data section's start (992) + its offset, as many as
    // its type and shape need (docs/gguf.md): F32 40 × 3 × 4 = 480, F16 17 × 2 × 2 = 68, Q8_0
    // 2 rows × 2 blocks × 34 = 136, TQ2_0 4 rows × 2 blocks × 66 = 528 — computed here, not by
    // the reader.
    let g = Gguf::load(GGUF_PY).unwrap();
    for (i, (offset, size)) in [(0usize, 480usize), (480, 68), (576, 136), (736, 528)]
        .into_iter()
        .enumerate()
    {
        let data = g.tensor_data(i).unwrap();
        assert_eq!(data.len(), size, "tensor {i}");
        assert!(
            data == &GGUF_PY[992 + offset..992 + offset + size],
            "tensor {i}"
        );
    }
    // The F32 values are what gguf-py wrote (numpy float32, finite), little-endian.
    let values: Vec<f32> = g
        .tensor_data(0)
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(values.len(), 120);
    assert!(values.iter().all(|v| v.is_finite()));
}

#[test]
fn llama_vocab_file_parses_with_its_32000_tokens() {
    let g = Gguf::load(VOCAB).expect("llama.cpp vocab file loads");
    assert_eq!(g.version(), 3);
    assert_eq!(g.metadata().len(), 22);
    assert!(g.tensors().is_empty());
    assert_eq!(g.get("general.architecture"), Some(Value::String("llama")));
    let tokens = g.get("tokenizer.ggml.tokens").unwrap();
    let tokens = tokens.as_array().unwrap();
    assert_eq!(tokens.elem_type(), ValueType::String);
    assert_eq!(tokens.len(), 32000);
    let all: Vec<&str> = tokens.strings().unwrap().collect();
    assert_eq!(all.len(), 32000);
    assert_eq!(&all[..3], ["<unk>", "<s>", "</s>"]);
    let scores = g.get("tokenizer.ggml.scores").unwrap();
    assert_eq!(scores.as_array().unwrap().elem_type(), ValueType::F32);
    assert_eq!(scores.as_array().unwrap().len(), 32000);
    let types = g.get("tokenizer.ggml.token_type").unwrap();
    assert_eq!(types.as_array().unwrap().elem_type(), ValueType::I32);
    assert_eq!(types.as_array().unwrap().len(), 32000);
}

/// The end of the key/value pairs of a GGUF v3 file, walked here from the layout of
/// docs/gguf.md (not by the reader under test): the 24-byte header, then per pair a string key,
/// a `u32` value type and the value; strings are a `u64` length and the bytes, arrays an element
/// type, a `u64` count and the elements. Enough for files without tensor infos.
fn end_of_pairs(bytes: &[u8]) -> u64 {
    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], at: usize) -> usize {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize
    }
    /// The position after a value of type `ty` at `at`.
    fn skip(b: &[u8], ty: u32, at: usize) -> usize {
        match ty {
            0 | 1 | 7 => at + 1,
            2 | 3 => at + 2,
            4..=6 => at + 4,
            10..=12 => at + 8,
            8 => at + 8 + u64_at(b, at),
            9 => {
                let (elem, count) = (u32_at(b, at), u64_at(b, at + 4));
                (0..count).fold(at + 12, |p, _| skip(b, elem, p))
            }
            other => panic!("value type {other}"),
        }
    }
    let pairs = u64_at(bytes, 16);
    let mut at = 24;
    for _ in 0..pairs {
        at += 8 + u64_at(bytes, at); // the key
        at = skip(bytes, u32_at(bytes, at), at + 4);
    }
    at as u64
}

#[test]
fn llama_vocab_file_data_section_may_lie_past_the_end() {
    let g = Gguf::load(VOCAB).unwrap();
    assert_eq!(
        u64::from_le_bytes(VOCAB[8..16].try_into().unwrap()),
        0,
        "no tensors"
    );
    // No tensor infos: they end where the pairs end. The data section starts at that end padded
    // to the alignment (32, the default: the file has no general.alignment).
    assert!(g.get("general.alignment").is_none());
    let end = end_of_pairs(VOCAB);
    assert_eq!(g.tensor_info_end(), end);
    assert_eq!(g.data_offset(), end.div_ceil(32) * 32);
    // The file ends right after the pairs, before the padding: the data section starts past it.
    assert_eq!(end, VOCAB.len() as u64);
    assert!(!end.is_multiple_of(32));
    assert!(g.data_offset() > VOCAB.len() as u64);
    assert!(g.validate().findings.is_empty(), "{:?}", g.validate());
}

#[test]
fn third_party_files_round_trip_through_owned_values() {
    // Every pair, copied to an owned value and written by this crate's writer, reads back as the
    // same value, and the writer's bytes for the pairs are the other tool's bytes (GGUF encodes a
    // value one way only). For gguf-py's file, the values are also the ones its provenance lists.
    for bytes in [GGUF_PY, VOCAB] {
        let g = Gguf::load(bytes).unwrap();
        let mut b = bitnet_gguf::GgufBuilder::new();
        for e in g.metadata() {
            b.kv(e.key, e.value.to_owned_value());
        }
        let written = b.build().unwrap();
        let back = Gguf::load(&written).unwrap();
        // Neither file has `general.alignment`: the writer adds it as the first pair (UINT32
        // 32, docs/gguf.md "The writer"), 8 + 17 + 4 + 4 = 33 bytes; the others follow in order.
        assert!(g.get("general.alignment").is_none());
        let (added, rest) = back.metadata().split_first().unwrap();
        assert_eq!(
            (added.key, added.value),
            ("general.alignment", Value::U32(32))
        );
        assert_eq!(rest.len(), g.metadata().len());
        for (e, r) in g.metadata().iter().zip(rest) {
            assert_eq!(r.key, e.key);
            assert_eq!(r.value, e.value, "{}", e.key);
            assert_eq!(
                r.value.to_owned_value(),
                e.value.to_owned_value(),
                "{}",
                e.key
            );
        }
        // The pairs' bytes: after the header and the added pair, up to the end of the pairs
        // (the written file has no tensor infos, so they end where the infos end).
        let len = back.tensor_info_end() as usize - 24 - 33;
        assert!(
            written[24 + 33..24 + 33 + len] == bytes[24..24 + len],
            "pairs differ from the original bytes"
        );
    }
    use bitnet_gguf::MetadataValue as M;
    let g = Gguf::load(GGUF_PY).unwrap();
    let owned = |key: &str| g.get(key).unwrap().to_owned_value();
    assert_eq!(owned("test.u64"), M::U64((1 << 63) + 5));
    assert_eq!(owned("test.f64"), M::F64(-1e300));
    assert_eq!(owned("test.utf8"), M::String("héllo wörld ✓".into()));
    assert_eq!(
        owned("test.arr_i32"),
        M::array(ValueType::I32, [1i32, -2, 3, -4])
    );
    assert_eq!(owned("test.arr_str"), M::strings(["a", "", "ccc"]));
}
