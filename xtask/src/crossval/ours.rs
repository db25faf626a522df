//! The project's own reading of a file, in the references' schema: `bitnet_gguf::Gguf` for the
//! container, `bitnet_models::Model` for acceptance (every error finding) and for the values.
//!
//! Each tensor is decoded alone, as a reference sees it: F32 and F16 as stored, a ternary tensor
//! as the kernel's `w × d` (its own scales only). A TQ2_0 weight's `.scale` sibling is a tensor
//! of its own here, not a factor of the weight (as `dequant` applies it), because ggml and gguf-py
//! decode TQ2_0 blocks without it; and a QK256 weight, whose scale lives in its sibling, is
//! decoded with scale 1.0. Types the project does not decode (Q8_0, …) have no values.

use bitnet_gguf::{type_info, Severity, Value};
use bitnet_models::{DecodeError, Kernel, Model, TernaryFormat};
use serde_json::{json, Value as Json};

use super::schema::{Decoded, Dump, Kv, Tensor};

/// The reference name of the project's own reading.
pub const PROJECT: &str = "project";

/// The project's reading of one file: the [`Dump`], plus the facts the comparison needs to
/// recognize the known differences.
#[derive(Debug, Clone)]
pub struct Project {
    pub dump: Dump,
    /// Absolute end of the tensor infos (where ggml puts the data section of a file without
    /// tensors), when the file parsed.
    pub tensor_info_end: Option<u64>,
    /// Whether the file has an I2_S tensor (type 36), which neither reference reads.
    pub has_i2s: bool,
}

/// Reads `bytes` (the file `file`) as the project does, decoding with `kernel`.
pub fn read(file: &str, bytes: &[u8], kernel: Kernel) -> Project {
    let mut dump = Dump {
        file: file.to_owned(),
        reference: PROJECT.to_owned(),
        accepted: false,
        error: None,
        version: None,
        alignment: None,
        data_offset: None,
        metadata: Vec::new(),
        tensors: Vec::new(),
    };
    let model = match Model::parse(bytes) {
        Ok(model) => model,
        Err(e) => {
            dump.error = Some(format!("{e} [{}]", e.code()));
            return Project {
                dump,
                tensor_info_end: None,
                has_i2s: false,
            };
        }
    };
    let errors: Vec<String> = model
        .check()
        .iter()
        .filter(|f| f.severity() == Severity::Error)
        .map(|f| format!("{f} [{}]", f.code()))
        .collect();
    dump.accepted = errors.is_empty();
    dump.error = (!errors.is_empty()).then(|| errors.join("; "));
    let gguf = model.gguf();
    dump.version = Some(gguf.version());
    dump.alignment = Some(gguf.alignment());
    dump.data_offset = Some(gguf.data_offset());
    dump.metadata = gguf
        .metadata()
        .iter()
        .map(|e| Kv {
            key: e.key.to_owned(),
            ty: e.value.value_type().name().to_owned(),
            value: value_json(&e.value),
        })
        .collect();
    dump.tensors = gguf
        .tensors()
        .iter()
        .enumerate()
        .map(|(index, t)| Tensor {
            name: t.name.to_owned(),
            ty: t.ggml_type,
            type_name: type_info(t.ggml_type).name().to_owned(),
            ne: t.ne().to_vec(),
            offset: t.offset,
            nbytes: model.byte_size(index),
            decoded: decode_alone(&model, index, kernel),
        })
        .collect();
    Project {
        dump,
        tensor_info_end: Some(gguf.tensor_info_end()),
        has_i2s: gguf
            .tensors()
            .iter()
            .any(|t| t.ggml_type == bitnet_gguf::ggml_type::I2_S),
    }
}

/// Tensor `index`'s values as a reference decodes it (see the module docs); `None` for a type
/// the project does not decode.
fn decode_alone(model: &Model<'_>, index: usize, kernel: Kernel) -> Option<Decoded> {
    let failed = |e: &dyn std::fmt::Display| {
        Some(Decoded::Error {
            error: e.to_string(),
        })
    };
    match model.ternary(index) {
        Ok(Some(t)) => {
            // The kernel's output without `post_scale`: TQ2_0's `.scale` sibling is not part of
            // the tensor. QK256's scale is its sibling's value, so alone it is 1.0.
            let scale = if t.format == TernaryFormat::Qk256 {
                1.0
            } else {
                t.scale
            };
            let mut out = vec![0.0f32; t.len()];
            match kernel.dequantize(t.format, t.data, t.rows, t.cols, scale, &mut out) {
                Ok(()) => Some(Decoded::of(&out)),
                Err(e) => failed(&e),
            }
        }
        Ok(None) => match model.decode(index, kernel) {
            Ok(values) => Some(Decoded::of(&values)),
            Err(DecodeError::Unsupported { .. }) => None,
            Err(e) => failed(&e),
        },
        Err(e) => failed(&e),
    }
}

/// A metadata value in the dumpers' encoding.
pub fn value_json(value: &Value<'_>) -> Json {
    match *value {
        Value::U8(v) => json!(v),
        Value::I8(v) => json!(v),
        Value::U16(v) => json!(v),
        Value::I16(v) => json!(v),
        Value::U32(v) => json!(v),
        Value::I32(v) => json!(v),
        Value::U64(v) => json!(v),
        Value::I64(v) => json!(v),
        Value::F32(v) => json!({"f32": format!("{:#010x}", v.to_bits())}),
        Value::F64(v) => json!({"f64": format!("{:#018x}", v.to_bits())}),
        Value::Bool(v) => json!(v),
        Value::String(v) => json!(v),
        Value::Array(a) => json!({
            "elem_type": a.elem_type().name(),
            "items": a.iter().map(|v| value_json(&v)).collect::<Vec<_>>(),
        }),
    }
}
