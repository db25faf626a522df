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
fn gguf_py_f32_tensor_data_is_the_stored_little_endian_bytes() {
    let g = Gguf::load(GGUF_PY).unwrap();
    let data = g.tensor_data(0).unwrap();
    assert_eq!(data.len(), 480);
    // The first value sits at the data section's start, independent of our tensor logic.
    assert_eq!(&data[..4], &GGUF_PY[992..996]);
    assert!(data
        .chunks_exact(4)
        .all(|c| f32::from_le_bytes(c.try_into().unwrap()).is_finite()));
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

#[test]
fn llama_vocab_file_data_section_may_lie_past_the_end() {
    let g = Gguf::load(VOCAB).unwrap();
    assert!(g.data_offset() >= g.tensor_info_end());
    assert!(g.validate().findings.is_empty(), "{:?}", g.validate());
}

#[test]
fn third_party_files_round_trip_through_owned_values() {
    for bytes in [GGUF_PY, VOCAB] {
        let g = Gguf::load(bytes).unwrap();
        for e in g.metadata() {
            let owned = e.value.to_owned_value();
            assert_eq!(owned.value_type(), e.value.value_type(), "{}", e.key);
        }
    }
}
