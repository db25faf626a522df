//! `GgufWriter` streams exactly the bytes `GgufBuilder` builds, whatever the pieces the data
//! comes in, and refuses data that does not match what was declared.

use bitnet_gguf::{
    ggml_type, BuildError, Gguf, GgufBuilder, GgufWriter, MetadataValue, TensorSpec, ValueType,
    WriteError,
};
use proptest::prelude::*;

/// A model: metadata and `(name, ne, type, data)` tensors.
type Model = (
    Vec<(String, MetadataValue)>,
    Vec<(String, Vec<u64>, u32, Vec<u8>)>,
);

fn built((metadata, tensors): &Model) -> Vec<u8> {
    let mut b = GgufBuilder::new();
    for (k, v) in metadata {
        b.kv(k.clone(), v.clone());
    }
    for (name, ne, ty, data) in tensors {
        b.tensor(name.clone(), ne, *ty, data.clone());
    }
    b.build().unwrap()
}

/// The declarations of `model`'s tensors.
fn specs((_, tensors): &Model) -> Vec<TensorSpec> {
    tensors
        .iter()
        .map(|(name, ne, ty, data)| TensorSpec {
            name: name.clone(),
            ne: ne.clone(),
            ggml_type: *ty,
            size: data.len() as u64,
        })
        .collect()
}

/// Streams `model` with its data cut into pieces of `piece` bytes (across tensor boundaries).
fn streamed(model: &Model, piece: usize) -> Result<Vec<u8>, WriteError> {
    let (metadata, tensors) = model;
    let mut w = GgufWriter::new(Vec::new(), metadata, &specs(model))?;
    // The length it will have, declared before any data: each byte so far is the output's.
    let len = w.file_len();
    let header = w.get_mut().len();
    let all: Vec<u8> = tensors.iter().flat_map(|t| t.3.clone()).collect();
    for chunk in all.chunks(piece.max(1)) {
        w.write_data(chunk)?;
    }
    let out = w.finish()?;
    assert_eq!(out.len() as u64, len);
    assert!(header <= out.len() && header.is_multiple_of(32), "{header}");
    Ok(out)
}

fn model() -> impl Strategy<Value = Model> {
    let metadata = prop::collection::vec(
        (
            "[a-z.]{1,12}",
            prop_oneof![
                any::<u32>().prop_map(MetadataValue::U32),
                ".{0,8}".prop_map(MetadataValue::String),
                prop::collection::vec(any::<i16>(), 0..5)
                    .prop_map(|v| MetadataValue::array(ValueType::I16, v)),
            ],
        ),
        0..5,
    )
    .prop_map(|kvs| {
        let mut seen = std::collections::HashSet::new();
        kvs.into_iter()
            .filter(|(k, _)| k != "general.alignment" && seen.insert(k.clone()))
            .collect()
    });
    let tensors = prop::collection::vec(
        prop_oneof![
            (1u64..40).prop_map(|n| (vec![n], ggml_type::F32, 4 * n as usize)),
            (1u64..3).prop_map(|b| (vec![32 * b], ggml_type::Q8_0, 34 * b as usize)),
            (0usize..200).prop_map(|len| (vec![256, 1], ggml_type::I2_S, len)),
        ],
        0..5,
    )
    .prop_flat_map(|shapes| {
        shapes
            .into_iter()
            .enumerate()
            .map(|(i, (ne, ty, len))| {
                prop::collection::vec(any::<u8>(), len)
                    .prop_map(move |data| (format!("t{i}"), ne.clone(), ty, data))
            })
            .collect::<Vec<_>>()
    });
    (metadata, tensors)
}

proptest! {
    #[test]
    fn streaming_writes_what_the_builder_builds(model in model(), piece in 1usize..300) {
        let want = built(&model);
        prop_assert_eq!(streamed(&model, piece).unwrap(), want.clone());
        prop_assert!(Gguf::load(&want).is_ok());
    }
}

fn one_f32(n: u64) -> Model {
    (
        vec![("general.name".into(), "x".into())],
        vec![("t".into(), vec![n], ggml_type::F32, vec![7; 4 * n as usize])],
    )
}

#[test]
fn too_much_data_is_refused() {
    let (metadata, tensors) = one_f32(2);
    let spec = TensorSpec {
        name: tensors[0].0.clone(),
        ne: tensors[0].1.clone(),
        ggml_type: ggml_type::F32,
        size: 8,
    };
    let mut w = GgufWriter::new(Vec::new(), &metadata, &[spec]).unwrap();
    w.write_data(&[1; 6]).unwrap();
    assert!(matches!(
        w.write_data(&[1; 5]),
        Err(WriteError::TooMuchData { extra: 3 })
    ));
}

#[test]
fn finishing_early_names_the_incomplete_tensor() {
    let (metadata, _) = one_f32(2);
    let specs = [
        TensorSpec {
            name: "a".into(),
            ne: vec![2],
            ggml_type: ggml_type::F32,
            size: 8,
        },
        TensorSpec {
            name: "b".into(),
            ne: vec![1],
            ggml_type: ggml_type::F32,
            size: 4,
        },
    ];
    let mut w = GgufWriter::new(Vec::new(), &metadata, &specs).unwrap();
    w.write_data(&[0; 9]).unwrap();
    match w.finish() {
        Err(WriteError::Incomplete {
            tensor,
            written: 1,
            size: 4,
        }) => assert_eq!(tensor, "b"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn declared_sizes_are_checked_like_the_builder() {
    let spec = TensorSpec {
        name: "t".into(),
        ne: vec![3],
        ggml_type: ggml_type::F32,
        size: 8,
    };
    assert!(matches!(
        GgufWriter::new(Vec::new(), &[], &[spec]),
        Err(WriteError::Build(BuildError::TensorDataLength {
            expected: 12,
            actual: 8,
            ..
        }))
    ));
}

/// Not on wasm32: a 1 GiB string is a quarter of its address space.
#[cfg(not(target_family = "wasm"))]
#[test]
fn strings_past_the_limit_are_refused() {
    // Declared lengths are what matter: a 2^30 + 1 byte string is refused before being written.
    let long = "x".repeat((1 << 30) + 1);
    let mut b = GgufBuilder::new();
    b.kv("k", long);
    assert!(matches!(
        b.build(),
        Err(BuildError::TooLong {
            what: "string",
            len,
            ..
        }) if len == (1 << 30) + 1
    ));
}

/// `write_data_with` hands its callback each tensor's part of the data, never the padding, and
/// writes what `write_data` writes; the callback's error comes back.
#[test]
fn write_data_with_puts_each_tensors_part() {
    let model: Model = (
        vec![("general.name".into(), "x".into())],
        vec![
            ("a".into(), vec![2], ggml_type::F32, (1..=8).collect()),
            ("b".into(), vec![1], ggml_type::F32, (9..=12).collect()),
        ],
    );
    let specs = specs(&model);
    let mut w = GgufWriter::new(Vec::new(), &model.0, &specs).unwrap();
    let mut pieces = Vec::new();
    let data: Vec<u8> = (1..=12).collect();
    w.write_data_with(&data[..3], |out, piece| {
        pieces.push(piece.to_vec());
        out.extend_from_slice(piece);
        Ok(())
    })
    .unwrap();
    w.write_data_with(&data[3..], |out, piece| {
        pieces.push(piece.to_vec());
        out.extend_from_slice(piece);
        Ok(())
    })
    .unwrap();
    assert_eq!(
        pieces,
        [vec![1, 2, 3], vec![4, 5, 6, 7, 8], vec![9, 10, 11, 12]]
    );
    assert_eq!(w.finish().unwrap(), built(&model));

    let mut w = GgufWriter::new(Vec::new(), &model.0, &specs).unwrap();
    let failed = w.write_data_with(&data, |_, _| Err(std::io::Error::other("no room")));
    match failed {
        Err(WriteError::Io(e)) => assert_eq!(e.to_string(), "no room"),
        other => panic!("{other:?}"),
    }
}
