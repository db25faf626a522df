//! Any model the writer can express reads back equal, and the writer's layout is the one docs/gguf.md describes.

use bitnet_gguf::{ggml_type, pad, type_info, Gguf, GgufBuilder, MetadataValue, ValueType};
use proptest::prelude::*;

fn scalar(t: ValueType) -> BoxedStrategy<MetadataValue> {
    match t {
        ValueType::U8 => any::<u8>().prop_map(MetadataValue::U8).boxed(),
        ValueType::I8 => any::<i8>().prop_map(MetadataValue::I8).boxed(),
        ValueType::U16 => any::<u16>().prop_map(MetadataValue::U16).boxed(),
        ValueType::I16 => any::<i16>().prop_map(MetadataValue::I16).boxed(),
        ValueType::U32 => any::<u32>().prop_map(MetadataValue::U32).boxed(),
        ValueType::I32 => any::<i32>().prop_map(MetadataValue::I32).boxed(),
        // Compared by value: NaN is covered by the bit-exact test below.
        ValueType::F32 => any::<f32>()
            .prop_filter("not NaN", |v| !v.is_nan())
            .prop_map(MetadataValue::F32)
            .boxed(),
        ValueType::Bool => any::<bool>().prop_map(MetadataValue::Bool).boxed(),
        ValueType::String => ".{0,12}".prop_map(MetadataValue::String).boxed(),
        ValueType::U64 => any::<u64>().prop_map(MetadataValue::U64).boxed(),
        ValueType::I64 => any::<i64>().prop_map(MetadataValue::I64).boxed(),
        ValueType::F64 => any::<f64>()
            .prop_filter("not NaN", |v| !v.is_nan())
            .prop_map(MetadataValue::F64)
            .boxed(),
        ValueType::Array => unreachable!("arrays are built by `value`"),
    }
}

const SCALARS: [ValueType; 12] = [
    ValueType::U8,
    ValueType::I8,
    ValueType::U16,
    ValueType::I16,
    ValueType::U32,
    ValueType::I32,
    ValueType::F32,
    ValueType::Bool,
    ValueType::String,
    ValueType::U64,
    ValueType::I64,
    ValueType::F64,
];

fn value() -> impl Strategy<Value = MetadataValue> {
    (prop::sample::select(&SCALARS[..]), any::<bool>()).prop_flat_map(|(t, is_array)| {
        if is_array {
            prop::collection::vec(scalar(t), 0..6)
                .prop_map(move |items| MetadataValue::Array(t, items))
                .boxed()
        } else {
            scalar(t)
        }
    })
}

#[derive(Debug, Clone)]
struct Tensor {
    ne: Vec<u64>,
    ggml_type: u32,
    data: Vec<u8>,
}

fn tensor() -> impl Strategy<Value = Tensor> {
    let types = prop::sample::select(vec![
        ggml_type::F32,
        ggml_type::F16,
        ggml_type::Q8_0,
        ggml_type::TQ2_0,
        ggml_type::I2_S,
    ]);
    (
        types,
        1u64..3,
        prop::collection::vec(1u64..4, 0..3),
        any::<u8>(),
    )
        .prop_map(|(t, blocks, outer, fill)| {
            let block = type_info(t).block_elems().unwrap_or(256);
            let mut ne = vec![blocks * block];
            ne.extend(outer);
            let n: u64 = ne.iter().product();
            let bytes = match type_info(t) {
                bitnet_gguf::TypeInfo::Sized {
                    block_elems,
                    block_bytes,
                    ..
                } => n / block_elems * block_bytes,
                _ => n / 4, // I2_S: any length the caller chooses
            };
            Tensor {
                ne,
                ggml_type: t,
                data: (0..bytes)
                    .map(|i| (i as u8).wrapping_mul(31) ^ fill)
                    .collect(),
            }
        })
}

fn model() -> impl Strategy<Value = (Vec<(String, MetadataValue)>, Option<u32>, Vec<Tensor>)> {
    (
        prop::collection::btree_map("[a-z]{1,6}(\\.[a-z_]{1,8}){0,2}", value(), 0..8),
        prop::option::of(prop::sample::select(vec![1u32, 8, 32, 64, 256])),
        prop::collection::vec(tensor(), 0..5),
    )
        .prop_map(|(kvs, align, tensors)| (kvs.into_iter().collect(), align, tensors))
}

proptest! {
    // 256 cases (proptest's default), 8 under Miri; `PROPTEST_CASES` overrides.
    #![proptest_config(bitnet_testkit::proptest::config(if cfg!(miri) { 8 } else { 256 }))]

    #[test]
    fn any_model_reads_back_equal((kvs, align, tensors) in model()) {
        let mut b = GgufBuilder::new();
        if let Some(a) = align {
            b.kv("general.alignment", a);
        }
        for (k, v) in &kvs {
            b.kv(k.clone(), v.clone());
        }
        for (i, t) in tensors.iter().enumerate() {
            b.tensor(format!("tensor.{i}"), &t.ne, t.ggml_type, t.data.clone());
        }
        let bytes = b.build().unwrap();
        prop_assert_eq!(b.build().unwrap(), bytes.clone(), "deterministic");

        let g = Gguf::load(&bytes).unwrap();
        // The only finding a built file can have: a warning per string holding a NUL.
        let with_nul = kvs
            .iter()
            .map(|(_, v)| match v {
                MetadataValue::String(s) => usize::from(s.contains('\0')),
                MetadataValue::Array(_, items) => items
                    .iter()
                    .filter(|i| matches!(i, MetadataValue::String(s) if s.contains('\0')))
                    .count(),
                _ => 0,
            })
            .sum::<usize>();
        let findings = g.validate().findings;
        prop_assert_eq!(findings.len(), with_nul, "{:?}", findings);
        prop_assert!(findings.iter().all(|f| f.code() == "nul-in-string"), "{:?}", findings);
        let alignment = u64::from(align.unwrap_or(32));
        prop_assert_eq!(g.alignment(), alignment);
        prop_assert_eq!(g.get("general.alignment").and_then(|v| v.as_u64()), Some(alignment));
        let read: Vec<(String, MetadataValue)> = g
            .metadata()
            .iter()
            .filter(|e| e.key != "general.alignment")
            .map(|e| (e.key.to_owned(), e.value.to_owned_value()))
            .collect();
        prop_assert_eq!(read, kvs);
        prop_assert_eq!(g.tensors().len(), tensors.len());
        let mut expected_offset = 0;
        for (i, (info, t)) in g.tensors().iter().zip(&tensors).enumerate() {
            prop_assert_eq!(info.name, format!("tensor.{i}"));
            prop_assert_eq!(info.ne(), &t.ne[..]);
            prop_assert_eq!(info.ggml_type, t.ggml_type);
            prop_assert_eq!(info.offset, expected_offset);
            prop_assert_eq!(g.tensor_bytes(info, t.data.len() as u64).unwrap(), &t.data[..]);
            expected_offset += pad(t.data.len() as u64, alignment).unwrap();
        }
        prop_assert_eq!(bytes.len() as u64 % alignment, 0);
        prop_assert_eq!(g.data_offset() % alignment, 0);
        prop_assert_eq!(bytes.len() as u64, g.data_offset() + expected_offset);
    }
}

#[test]
fn nan_payloads_survive_bit_exact() {
    let mut b = GgufBuilder::new();
    b.kv("f32", f32::from_bits(0x7fc0_1234))
        .kv("f64", f64::from_bits(0xfff8_0000_dead_beef));
    let bytes = b.build().unwrap();
    let g = Gguf::load(&bytes).unwrap();
    match (g.get("f32"), g.get("f64")) {
        (Some(bitnet_gguf::Value::F32(a)), Some(bitnet_gguf::Value::F64(b))) => {
            assert_eq!(a.to_bits(), 0x7fc0_1234);
            assert_eq!(b.to_bits(), 0xfff8_0000_dead_beef);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn writer_layout_is_byte_exact() {
    // Computed by hand from docs/gguf.md: the builder writes general.alignment first when absent.
    let mut b = GgufBuilder::new();
    b.kv("a", 7u8);
    b.tensor(
        "w",
        &[2],
        ggml_type::F32,
        [1.0f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
    );
    let bytes = b.build().unwrap();
    let mut expected = b"GGUF".to_vec();
    expected.extend(3u32.to_le_bytes());
    expected.extend(1u64.to_le_bytes()); // tensors
    expected.extend(2u64.to_le_bytes()); // keys
    expected.extend(17u64.to_le_bytes());
    expected.extend(b"general.alignment");
    expected.extend(4u32.to_le_bytes());
    expected.extend(32u32.to_le_bytes());
    expected.extend(1u64.to_le_bytes());
    expected.extend(b"a");
    expected.extend(0u32.to_le_bytes());
    expected.push(7);
    expected.extend(1u64.to_le_bytes());
    expected.extend(b"w");
    expected.extend(1u32.to_le_bytes());
    expected.extend(2u64.to_le_bytes());
    expected.extend(0u32.to_le_bytes());
    expected.extend(0u64.to_le_bytes());
    expected.resize(128, 0); // 24 + 33 + 14 + 33 = 104 bytes of header and infos, padded
    expected.extend(1.0f32.to_le_bytes());
    expected.extend((-2.0f32).to_le_bytes());
    expected.resize(160, 0); // the last tensor is padded too
    assert_eq!(bytes, expected);
}
