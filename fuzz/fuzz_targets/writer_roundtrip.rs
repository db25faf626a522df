//! `GgufBuilder` on an arbitrary structured model: keys, values of every type (arrays too, and
//! the nested or mixed arrays the writer must refuse), tensors of sized types with data of the
//! right length, I2_S tensors with data of any length, and now and then a hostile shape or type.
//! The writer may refuse, but must not panic; what it writes, `Gguf::load` must accept and read
//! back equal: every key and value (floats by bits), every tensor's name, shape, type and data,
//! each followed by zero padding.

#![no_main]

use arbitrary::Arbitrary;
use bitnet_gguf::{
    ggml_type, pad, type_info, Gguf, GgufBuilder, MetadataValue, TypeInfo, Value, ValueType,
    ALIGNMENT_KEY, DEFAULT_ALIGNMENT,
};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Model {
    alignment: Alignment,
    kvs: Vec<(Key, Val)>,
    tensors: Vec<Tensor>,
}

#[derive(Debug, Arbitrary)]
enum Alignment {
    Absent,
    /// `1 << (n % 13)`: 1 ..= 4096.
    PowerOfTwo(u8),
    /// Any UINT32, usually not a power of two (a writer error).
    Raw(u32),
    /// Another type (a writer error).
    WrongType(u64),
}

#[derive(Debug, Arbitrary)]
enum Key {
    Known(u8),
    Raw(String),
}

const KNOWN_KEYS: &[&str] = &[
    "general.architecture",
    "general.name",
    ALIGNMENT_KEY,
    "tokenizer.ggml.tokens",
    "bitnet-b1.58.block_count",
    "",
];

impl Key {
    fn as_string(&self) -> String {
        match self {
            Key::Known(i) => KNOWN_KEYS[usize::from(*i) % KNOWN_KEYS.len()].to_owned(),
            Key::Raw(s) => s.clone(),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Val {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    U64(u64),
    I64(i64),
    F64(f64),
    Array(Arr),
}

#[derive(Debug, Arbitrary)]
enum Arr {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    Bool(Vec<bool>),
    String(Vec<String>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F64(Vec<f64>),
    /// An array of arrays (a writer error).
    Nested(Vec<u8>),
    /// Elements of another type than the declared one (a writer error).
    Mixed(u8, Vec<u32>),
}

fn arr<T: Into<MetadataValue>>(t: ValueType, items: &[T]) -> MetadataValue
where
    T: Clone,
{
    MetadataValue::array(t, items.iter().cloned())
}

impl Val {
    fn to_value(&self) -> MetadataValue {
        match self {
            Val::U8(v) => (*v).into(),
            Val::I8(v) => (*v).into(),
            Val::U16(v) => (*v).into(),
            Val::I16(v) => (*v).into(),
            Val::U32(v) => (*v).into(),
            Val::I32(v) => (*v).into(),
            Val::F32(v) => (*v).into(),
            Val::Bool(v) => (*v).into(),
            Val::String(v) => v.clone().into(),
            Val::U64(v) => (*v).into(),
            Val::I64(v) => (*v).into(),
            Val::F64(v) => (*v).into(),
            Val::Array(a) => match a {
                Arr::U8(v) => arr(ValueType::U8, v),
                Arr::I8(v) => arr(ValueType::I8, v),
                Arr::U16(v) => arr(ValueType::U16, v),
                Arr::I16(v) => arr(ValueType::I16, v),
                Arr::U32(v) => arr(ValueType::U32, v),
                Arr::I32(v) => arr(ValueType::I32, v),
                Arr::F32(v) => arr(ValueType::F32, v),
                Arr::Bool(v) => arr(ValueType::Bool, v),
                Arr::String(v) => MetadataValue::strings(v.iter().cloned()),
                Arr::U64(v) => arr(ValueType::U64, v),
                Arr::I64(v) => arr(ValueType::I64, v),
                Arr::F64(v) => arr(ValueType::F64, v),
                Arr::Nested(v) => {
                    MetadataValue::Array(ValueType::Array, vec![arr(ValueType::U8, v)])
                }
                Arr::Mixed(t, v) => {
                    let t = ValueType::from_u32(u32::from(*t) % 13).unwrap_or(ValueType::U8);
                    arr(t, v)
                }
            },
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Tensor {
    name: Name,
    dims: Vec<Dim>,
    ty: TensorType,
    /// Repeated to fill the data.
    fill: Vec<u8>,
    /// For sized types: the exact length (else the length of `fill`, usually a writer error).
    exact_len: bool,
}

#[derive(Debug, Arbitrary)]
enum Name {
    /// `t<n>`: valid and usually unique.
    Short(u8),
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Dim {
    Small(u8),
    Raw(u64),
}

#[derive(Debug, Arbitrary)]
enum TensorType {
    /// One of the sized types of the table, picked by index.
    Sized(u8),
    I2s,
    Raw(u32),
}

const SIZED: &[u32] = &[
    ggml_type::F32,
    ggml_type::F16,
    ggml_type::Q8_0,
    ggml_type::TQ2_0,
    ggml_type::BF16,
    2,  // Q4_0
    12, // Q4_K
    24, // I8
    28, // F64
    39, // MXFP4
    40, // NVFP4
    41, // Q1_0
];

/// The most data bytes one tensor gets, so a big shape is a length error, not a big allocation.
const MAX_DATA: u64 = 1 << 16;

struct Built {
    name: String,
    ne: Vec<u64>,
    ggml_type: u32,
    data: Vec<u8>,
}

fn build_tensor(t: &Tensor) -> Built {
    let name = match &t.name {
        Name::Short(n) => format!("t{n}"),
        Name::Raw(s) => s.clone(),
    };
    let ggml_type = match t.ty {
        TensorType::Sized(i) => SIZED[usize::from(i) % SIZED.len()],
        TensorType::I2s => ggml_type::I2_S,
        TensorType::Raw(id) => id,
    };
    let mut ne: Vec<u64> = t
        .dims
        .iter()
        .take(5)
        .map(|d| match *d {
            Dim::Small(n) => u64::from(n % 8),
            Dim::Raw(n) => n,
        })
        .collect();
    // Scale ne[0] to whole blocks, so that small shapes are valid.
    if let (Some(first), Some(block)) = (ne.first_mut(), type_info(ggml_type).block_elems()) {
        if *first < 8 {
            *first *= block;
        }
    }
    let size = match type_info(ggml_type) {
        TypeInfo::Sized {
            block_elems,
            block_bytes,
            ..
        } if t.exact_len => ne
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .map(|n| n / block_elems)
            .and_then(|b| b.checked_mul(block_bytes))
            .filter(|&s| s <= MAX_DATA),
        _ => None,
    };
    let len = size.unwrap_or(t.fill.len() as u64) as usize;
    let data = if t.fill.is_empty() {
        vec![0; len]
    } else {
        t.fill.iter().copied().cycle().take(len).collect()
    };
    Built {
        name,
        ne,
        ggml_type,
        data,
    }
}

fuzz_target!(|model: Model| {
    let mut b = GgufBuilder::new();
    match model.alignment {
        Alignment::Absent => {}
        Alignment::PowerOfTwo(n) => {
            b.kv(ALIGNMENT_KEY, 1u32 << (n % 13));
        }
        Alignment::Raw(a) => {
            b.kv(ALIGNMENT_KEY, a);
        }
        Alignment::WrongType(a) => {
            b.kv(ALIGNMENT_KEY, a);
        }
    }
    let kvs: Vec<(String, MetadataValue)> = model
        .kvs
        .iter()
        .map(|(k, v)| (k.as_string(), v.to_value()))
        .collect();
    for (k, v) in &kvs {
        b.kv(k.clone(), v.clone());
    }
    let tensors: Vec<Built> = model.tensors.iter().map(build_tensor).collect();
    for t in &tensors {
        b.tensor(t.name.clone(), &t.ne, t.ggml_type, t.data.clone());
    }
    // A huge alignment from a raw UINT32 would make the writer pad to gigabytes: that is what
    // the caller asked for, not a bug, so such builders are not built.
    if b.alignment().is_ok_and(|a| a > 4096) {
        return;
    }
    let Ok(bytes) = b.build() else {
        return;
    };

    let gguf = match Gguf::load(&bytes) {
        Ok(g) => g,
        Err(e) => panic!("the writer wrote a file the reader rejects: {e}\n{model:#?}"),
    };
    assert_eq!(gguf.version(), 3);
    let align = gguf.alignment();
    assert_eq!(Ok(align), b.alignment());

    // The metadata: the written alignment first when the caller added none, then every pair.
    let mut read = gguf.metadata().iter();
    let has_alignment = model.alignment_written() || kvs.iter().any(|(k, _)| k == ALIGNMENT_KEY);
    if !has_alignment {
        let first = read.next().expect("the writer adds general.alignment");
        assert_eq!(first.key, ALIGNMENT_KEY);
        assert_eq!(first.value, Value::U32(DEFAULT_ALIGNMENT as u32));
    }
    let mut expected: Vec<(String, MetadataValue)> = Vec::new();
    if let Some(v) = model.alignment_value() {
        expected.push((ALIGNMENT_KEY.to_owned(), v));
    }
    expected.extend(kvs);
    assert_eq!(read.len(), expected.len());
    for (entry, (key, value)) in read.zip(&expected) {
        assert_eq!(entry.key, key);
        let got = entry.value.to_owned_value();
        assert!(
            same(&got, value),
            "key {key:?}: wrote {value:?}, read {got:?}"
        );
    }

    // The tensors: in order, at the running sum of padded sizes, data then zero padding.
    assert_eq!(gguf.tensors().len(), tensors.len());
    let mut offset = 0u64;
    for (i, (info, t)) in gguf.tensors().iter().zip(&tensors).enumerate() {
        assert_eq!(info.name, t.name);
        assert_eq!(info.ne(), &t.ne[..]);
        assert_eq!(info.ggml_type, t.ggml_type);
        assert_eq!(info.offset, offset);
        let data = gguf
            .tensor_bytes(info, t.data.len() as u64)
            .expect("written data is there");
        assert_eq!(data, &t.data[..]);
        if info.byte_size().is_some() {
            assert_eq!(gguf.tensor_data(i).expect("sized data"), &t.data[..]);
        }
        let padded = pad(t.data.len() as u64, align).expect("small sizes do not overflow");
        let span = gguf.tensor_span(i);
        assert_eq!(span.len() as u64, padded, "tensor {i}");
        assert!(span[t.data.len()..].iter().all(|&b| b == 0));
        offset += padded;
    }
    if gguf.tensors().is_empty() {
        assert_eq!(bytes.len() as u64, gguf.data_offset());
    } else {
        assert_eq!(bytes.len() as u64, gguf.data_offset() + offset);
    }
});

impl Model {
    fn alignment_written(&self) -> bool {
        !matches!(self.alignment, Alignment::Absent)
    }

    fn alignment_value(&self) -> Option<MetadataValue> {
        match self.alignment {
            Alignment::Absent => None,
            Alignment::PowerOfTwo(n) => Some(MetadataValue::U32(1 << (n % 13))),
            Alignment::Raw(a) => Some(MetadataValue::U32(a)),
            Alignment::WrongType(a) => Some(MetadataValue::U64(a)),
        }
    }
}

/// Equality with floats compared by bits (NaN payloads must survive too).
fn same(a: &MetadataValue, b: &MetadataValue) -> bool {
    use MetadataValue as M;
    match (a, b) {
        (M::F32(x), M::F32(y)) => x.to_bits() == y.to_bits(),
        (M::F64(x), M::F64(y)) => x.to_bits() == y.to_bits(),
        (M::Array(ta, xs), M::Array(tb, ys)) => {
            ta == tb && xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y))
        }
        _ => a == b,
    }
}
