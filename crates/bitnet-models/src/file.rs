//! SPEC §2 applied to a parsed GGUF file: which flavor each I2_S tensor is, the `.scale`
//! sibling rule, the reserved-code and scale scan, the required keys of `bitnet-b1.58` files,
//! and dequantization of whole tensors.
//!
//! This module owns the rules that need both the container (`bitnet-gguf`) and the ternary
//! formats; it must not parse bytes itself or guess: every I2_S size goes through
//! [`detect_flavor`], and every failure is a typed [`ModelError`].

use bitnet_gguf::{ggml_type, Gguf, GgufError, Severity, Value, ValueType};
use half::f16;

use crate::detect::{detect_flavor, FlavorError};
use crate::error::{FormatError, KernelError};
use crate::format::{Flavor, TernaryFormat};
use crate::kernels::Kernel;
use crate::scan::scan;

/// The architecture whose required keys [`check`] enforces.
pub const BITNET_ARCH: &str = "bitnet-b1.58";

/// Everything that can be wrong with a model file beyond its container.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A container rule (SPEC §1).
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// An I2_S tensor whose size fits neither flavor, or both.
    #[error("tensor {tensor:?} at byte {offset}: {source}")]
    Flavor {
        /// The tensor.
        tensor: String,
        /// Absolute offset of its data.
        offset: u64,
        /// What detection found.
        source: FlavorError,
    },
    /// Block data the kernels refused (wrong length, bad shape).
    #[error("tensor {tensor:?}: {source}")]
    Format {
        /// The tensor.
        tensor: String,
        /// The kernels' error.
        source: FormatError,
    },
    /// `BITNET_KERNEL` names a kernel that is unknown or that this CPU lacks.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// A `<base>.scale` sibling that is not F32 of shape `[1]`.
    #[error(
        "scale tensor {tensor:?} has type {type_name} and shape {ne:?}; expected F32 of shape [1]"
    )]
    ScaleShape {
        /// The `.scale` tensor.
        tensor: String,
        /// Its type's name.
        type_name: &'static str,
        /// Its shape.
        ne: Vec<u64>,
    },
    /// A `<base>.scale` sibling that is NaN or infinite.
    #[error("scale tensor {tensor:?} at byte {offset} is {value}, not finite")]
    ScaleNotFinite {
        /// The `.scale` tensor.
        tensor: String,
        /// Absolute offset of the value.
        offset: u64,
        /// The value.
        value: f32,
    },
    /// A `.scale` sibling next to a BitNet32F16 tensor, whose blocks carry their own scales.
    #[error("scale tensor {tensor:?} is ignored: {weight:?} is bitnet32f16, whose blocks carry their own scales")]
    ScaleIgnored {
        /// The `.scale` tensor.
        tensor: String,
        /// The weight tensor.
        weight: String,
    },
    /// Elements holding the reserved code 3.
    #[error("tensor {tensor:?}: {count} reserved code(s) 3, the first in byte {offset}")]
    ReservedCodes {
        /// The tensor.
        tensor: String,
        /// How many elements.
        count: u64,
        /// Absolute offset of the first byte holding one.
        offset: u64,
    },
    /// Blocks whose f16 scale is NaN or infinite.
    #[error("tensor {tensor:?}: {count} block scale(s) not finite, the first at byte {offset}")]
    NonFiniteBlockScales {
        /// The tensor.
        tensor: String,
        /// How many blocks.
        count: u64,
        /// Absolute offset of the first such scale.
        offset: u64,
    },
    /// Row padding that is not code 1 (a warning: never output).
    #[error(
        "tensor {tensor:?}: {count} padding code(s) are not 1 (zero), the first in byte {offset}"
    )]
    BadPadding {
        /// The tensor.
        tensor: String,
        /// How many padding elements.
        count: u64,
        /// Absolute offset of the first.
        offset: u64,
    },
    /// A required key of a `bitnet-b1.58` file is missing.
    #[error("required key {key:?} is missing")]
    MissingKey {
        /// The key.
        key: String,
    },
    /// A required key has the wrong type.
    #[error("key {key:?} at byte {offset} has type {found}, expected {expected}")]
    KeyType {
        /// The key.
        key: String,
        /// Absolute offset of the pair.
        offset: u64,
        /// The type required.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// A key whose value contradicts the tensor shapes.
    #[error("key {key:?} = {value} is inconsistent with the tensors: {reason}")]
    KeyInconsistent {
        /// The key.
        key: String,
        /// Its value.
        value: u64,
        /// What it contradicts.
        reason: String,
    },
    /// A tensor of a type `dequant` does not decode.
    #[error("tensor {tensor:?} has type {type_name}; dequant supports F32, F16, I2_S and TQ2_0")]
    Unsupported {
        /// The tensor.
        tensor: String,
        /// Its type's name.
        type_name: &'static str,
    },
}

impl ModelError {
    /// A stable, kebab-case code naming the kind of problem.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Gguf(e) => e.code(),
            Self::Flavor { source, .. } => match source {
                FlavorError::Ambiguous { .. } => "i2s-ambiguous-flavor",
                FlavorError::SizeMismatch { .. } => "i2s-size-mismatch",
                _ => "i2s-shape-overflow",
            },
            Self::Format { .. } => "format",
            Self::Kernel(_) => "kernel-unavailable",
            Self::ScaleShape { .. } => "scale-shape",
            Self::ScaleNotFinite { .. } => "scale-not-finite",
            Self::ScaleIgnored { .. } => "scale-ignored",
            Self::ReservedCodes { .. } => "reserved-code",
            Self::NonFiniteBlockScales { .. } => "block-scale-not-finite",
            Self::BadPadding { .. } => "bad-padding",
            Self::MissingKey { .. } => "missing-key",
            Self::KeyType { .. } => "key-type",
            Self::KeyInconsistent { .. } => "key-inconsistent",
            Self::Unsupported { .. } => "unsupported-type",
        }
    }

    /// Whether this is an error or only a warning.
    pub fn severity(&self) -> Severity {
        match self {
            Self::Gguf(e) => e.severity(),
            Self::ScaleIgnored { .. } | Self::BadPadding { .. } => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// The absolute byte offset the problem concerns, where known.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Self::Gguf(e) => e.offset(),
            Self::Flavor { offset, .. }
            | Self::ScaleNotFinite { offset, .. }
            | Self::ReservedCodes { offset, .. }
            | Self::NonFiniteBlockScales { offset, .. }
            | Self::BadPadding { offset, .. }
            | Self::KeyType { offset, .. } => Some(*offset),
            _ => None,
        }
    }

    /// The tensor the problem concerns, where there is one.
    pub fn tensor(&self) -> Option<&str> {
        match self {
            Self::Gguf(e) => e.tensor(),
            Self::Flavor { tensor, .. }
            | Self::Format { tensor, .. }
            | Self::ScaleShape { tensor, .. }
            | Self::ScaleNotFinite { tensor, .. }
            | Self::ScaleIgnored { tensor, .. }
            | Self::ReservedCodes { tensor, .. }
            | Self::NonFiniteBlockScales { tensor, .. }
            | Self::BadPadding { tensor, .. }
            | Self::Unsupported { tensor, .. } => Some(tensor),
            _ => None,
        }
    }

    /// The metadata key the problem concerns, where there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Gguf(e) => e.key(),
            Self::MissingKey { key }
            | Self::KeyType { key, .. }
            | Self::KeyInconsistent { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// The rows and columns of a tensor (`ne[0]` columns, the product of the rest rows).
fn shape(gguf: &Gguf<'_>, index: usize) -> Result<(u64, u64), ModelError> {
    let t = &gguf.tensors()[index];
    let rows = t.rows().ok_or_else(|| GgufError::ElementCountOverflow {
        tensor: t.name.to_owned(),
        ne: t.ne().to_vec(),
    })?;
    Ok((rows, t.cols()))
}

fn usize_of(v: u64, tensor: &str, ne: &[u64]) -> Result<usize, ModelError> {
    usize::try_from(v).map_err(|_| {
        ModelError::Gguf(GgufError::ByteSizeOverflow {
            tensor: tensor.to_owned(),
            ne: ne.to_vec(),
        })
    })
}

/// The flavor of I2_S tensor `index`, from the bytes available to it (SPEC §2).
pub fn tensor_flavor(gguf: &Gguf<'_>, index: usize) -> Result<Flavor, ModelError> {
    let t = gguf
        .tensors()
        .get(index)
        .ok_or_else(|| GgufError::NoSuchTensor {
            name: format!("#{index}"),
        })?;
    let (rows, cols) = shape(gguf, index)?;
    let available = gguf.tensor_span(index).len() as u64;
    detect_flavor(rows, cols, available, gguf.alignment()).map_err(|source| ModelError::Flavor {
        tensor: t.name.to_owned(),
        offset: gguf.tensor_start(index).unwrap_or(u64::MAX),
        source,
    })
}

/// The ternary format of tensor `index`: I2_S by detected flavor, TQ2_0, or `None` for others.
pub fn ternary_format(gguf: &Gguf<'_>, index: usize) -> Result<Option<TernaryFormat>, ModelError> {
    Ok(match gguf.tensors().get(index).map(|t| t.ggml_type) {
        Some(ggml_type::I2_S) => Some(tensor_flavor(gguf, index)?.into()),
        Some(ggml_type::TQ2_0) => Some(TernaryFormat::Tq2_0),
        _ => None,
    })
}

/// The name of the `.scale` sibling of `name` (`blk.0.attn_q.weight` → `blk.0.attn_q.scale`).
pub fn scale_sibling_name(name: &str) -> Option<String> {
    name.strip_suffix(".weight")
        .map(|base| format!("{base}.scale"))
}

/// The QK256 scale of tensor `index`: its `<base>.scale` sibling (F32, shape `[1]`, finite),
/// or 1.0 when there is none.
pub fn qk256_scale(gguf: &Gguf<'_>, index: usize) -> Result<f32, ModelError> {
    let Some(sibling) = gguf
        .tensors()
        .get(index)
        .and_then(|t| scale_sibling_name(t.name))
    else {
        return Ok(1.0);
    };
    let Some((si, s)) = gguf.tensor(&sibling) else {
        return Ok(1.0);
    };
    if s.ggml_type != ggml_type::F32 || s.ne() != [1] {
        return Err(ModelError::ScaleShape {
            tensor: sibling,
            type_name: s.type_info().name(),
            ne: s.ne().to_vec(),
        });
    }
    let bytes = gguf.tensor_data(si)?;
    let value = f32::from_le_bytes(bytes.try_into().map_err(|_| GgufError::SizeUnknown {
        tensor: sibling.clone(),
        type_name: "F32",
    })?);
    if !value.is_finite() {
        return Err(ModelError::ScaleNotFinite {
            tensor: sibling,
            offset: gguf.tensor_start(si).unwrap_or(u64::MAX),
            value,
        });
    }
    Ok(value)
}

/// The block data of ternary tensor `index` (exactly its size), its format and shape.
fn ternary_data<'a>(
    gguf: &Gguf<'a>,
    index: usize,
    format: TernaryFormat,
) -> Result<(&'a [u8], usize, usize), ModelError> {
    let t = &gguf.tensors()[index];
    let (rows, cols) = shape(gguf, index)?;
    let size = format
        .tensor_bytes(rows, cols)
        .ok_or_else(|| GgufError::ByteSizeOverflow {
            tensor: t.name.to_owned(),
            ne: t.ne().to_vec(),
        })?;
    let data = gguf.tensor_bytes(index, size)?;
    Ok((
        data,
        usize_of(rows, t.name, t.ne())?,
        usize_of(cols, t.name, t.ne())?,
    ))
}

/// Dequantizes tensor `index` (F32, F16, I2_S of either flavor with its scale, TQ2_0) to
/// `rows × cols` values, row-major, without row padding.
pub fn dequantize_tensor(
    gguf: &Gguf<'_>,
    index: usize,
    kernel: Kernel,
) -> Result<Vec<f32>, ModelError> {
    let t = gguf
        .tensors()
        .get(index)
        .ok_or_else(|| GgufError::NoSuchTensor {
            name: format!("#{index}"),
        })?;
    if let Some(format) = ternary_format(gguf, index)? {
        let scale = match format {
            TernaryFormat::Qk256 => qk256_scale(gguf, index)?,
            _ => 1.0,
        };
        let (data, rows, cols) = ternary_data(gguf, index, format)?;
        // The data is there, so the output is bounded by 16 values per byte of it.
        let mut out = vec![0.0f32; rows * cols];
        kernel
            .dequantize(format, data, rows, cols, scale, &mut out)
            .map_err(|source| ModelError::Format {
                tensor: t.name.to_owned(),
                source,
            })?;
        return Ok(out);
    }
    match t.ggml_type {
        ggml_type::F32 => Ok(gguf
            .tensor_data(index)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()),
        ggml_type::F16 => Ok(gguf
            .tensor_data(index)?
            .chunks_exact(2)
            .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect()),
        _ => Err(ModelError::Unsupported {
            tensor: t.name.to_owned(),
            type_name: t.type_info().name(),
        }),
    }
}

/// Every finding for a parsed file, in file order: the container's ([`Gguf::validate`]), then
/// per ternary tensor the flavor, scale sibling and scan, then the required keys of
/// `bitnet-b1.58` files.
pub fn check(gguf: &Gguf<'_>) -> Vec<ModelError> {
    let mut findings: Vec<ModelError> = gguf
        .validate()
        .findings
        .into_iter()
        .map(ModelError::Gguf)
        .collect();
    for index in 0..gguf.tensors().len() {
        if let Err(e) = check_ternary(gguf, index, &mut findings) {
            findings.push(e);
        }
    }
    if gguf.get("general.architecture").and_then(|v| v.as_str()) == Some(BITNET_ARCH) {
        check_required_keys(gguf, &mut findings);
    }
    findings
}

fn check_ternary(
    gguf: &Gguf<'_>,
    index: usize,
    findings: &mut Vec<ModelError>,
) -> Result<(), ModelError> {
    let t = &gguf.tensors()[index];
    let Some(format) = ternary_format(gguf, index)? else {
        return Ok(());
    };
    match format {
        TernaryFormat::Qk256 => {
            qk256_scale(gguf, index)?;
        }
        TernaryFormat::BitNet32F16 => {
            if let Some(sibling) = scale_sibling_name(t.name).filter(|s| gguf.tensor(s).is_some()) {
                findings.push(ModelError::ScaleIgnored {
                    tensor: sibling,
                    weight: t.name.to_owned(),
                });
            }
        }
        TernaryFormat::Tq2_0 => {}
    }
    let (data, rows, cols) = ternary_data(gguf, index, format)?;
    // Scan only a tensor that lies within its own span. Tensors that overlap are an error
    // validation already reports, and scanning each over the bytes they share would make
    // `check` quadratic in a hostile file's size (thousands of TQ2_0 infos over one region).
    if data.len() > gguf.tensor_span(index).len() {
        return Ok(());
    }
    let report = scan(format, data, rows, cols).map_err(|source| ModelError::Format {
        tensor: t.name.to_owned(),
        source,
    })?;
    let start = gguf.tensor_start(index).unwrap_or(0);
    let tensor = || t.name.to_owned();
    if let Some(first) = report.first_reserved_byte {
        findings.push(ModelError::ReservedCodes {
            tensor: tensor(),
            count: report.reserved_codes,
            offset: start + first,
        });
    }
    if let Some(block) = report.first_non_finite_block {
        findings.push(ModelError::NonFiniteBlockScales {
            tensor: tensor(),
            count: report.non_finite_scales,
            offset: start + block * format.block_bytes() as u64 + format.code_bytes() as u64,
        });
    }
    if let Some(first) = report.first_bad_padding_byte {
        findings.push(ModelError::BadPadding {
            tensor: tensor(),
            count: report.bad_padding_codes,
            offset: start + first,
        });
    }
    Ok(())
}

/// The required keys of a `bitnet-b1.58` file (SPEC §3), `general.alignment` included.
pub const REQUIRED_KEYS: [&str; 9] = [
    "general.architecture",
    "general.name",
    "general.alignment",
    "tokenizer.ggml.tokens",
    "bitnet-b1.58.embedding_length",
    "bitnet-b1.58.block_count",
    "bitnet-b1.58.attention.head_count",
    "bitnet-b1.58.attention.head_count_kv",
    "bitnet-b1.58.feed_forward_length",
];

fn check_required_keys(gguf: &Gguf<'_>, findings: &mut Vec<ModelError>) {
    let mut u32s = std::collections::HashMap::new();
    for key in REQUIRED_KEYS {
        let Some(entry) = gguf.metadata().iter().find(|e| e.key == key) else {
            findings.push(ModelError::MissingKey {
                key: key.to_owned(),
            });
            continue;
        };
        let (ok, expected) = match (key, entry.value) {
            ("general.architecture" | "general.name", v) => {
                (v.value_type() == ValueType::String, "STRING")
            }
            ("tokenizer.ggml.tokens", Value::Array(a)) => {
                (a.elem_type() == ValueType::String, "ARRAY of STRING")
            }
            ("tokenizer.ggml.tokens", _) => (false, "ARRAY of STRING"),
            (_, Value::U32(v)) => {
                u32s.insert(key, u64::from(v));
                (true, "UINT32")
            }
            _ => (false, "UINT32"),
        };
        if !ok {
            let found = match entry.value {
                Value::Array(a) if key == "tokenizer.ggml.tokens" => match a.elem_type() {
                    ValueType::String => "ARRAY of STRING",
                    _ => "ARRAY of another type",
                },
                v => v.value_type().name(),
            };
            findings.push(ModelError::KeyType {
                key: key.to_owned(),
                offset: entry.offset,
                expected,
                found,
            });
        }
    }
    let inconsistent = |key: &str, value: u64, reason: String| ModelError::KeyInconsistent {
        key: key.to_owned(),
        value,
        reason,
    };
    if let Some(&n_embd) = u32s.get("bitnet-b1.58.embedding_length") {
        for t in gguf.tensors() {
            let is_input =
                t.name.ends_with(".attn_q.weight") || t.name.ends_with(".attn_norm.weight");
            if is_input && t.cols() != n_embd {
                findings.push(inconsistent(
                    "bitnet-b1.58.embedding_length",
                    n_embd,
                    format!("tensor {:?} has ne[0] = {}", t.name, t.cols()),
                ));
            }
        }
        if let Some(&heads) = u32s.get("bitnet-b1.58.attention.head_count") {
            if heads == 0 || n_embd % heads != 0 {
                findings.push(inconsistent(
                    "bitnet-b1.58.attention.head_count",
                    heads,
                    format!("must divide embedding_length {n_embd}"),
                ));
            }
            if let Some(&kv) = u32s.get("bitnet-b1.58.attention.head_count_kv") {
                if kv == 0 || heads % kv.max(1) != 0 {
                    findings.push(inconsistent(
                        "bitnet-b1.58.attention.head_count_kv",
                        kv,
                        format!("must divide head_count {heads}"),
                    ));
                }
            }
        }
    }
    if let Some(&blocks) = u32s.get("bitnet-b1.58.block_count") {
        let highest = gguf
            .tensors()
            .iter()
            .filter_map(|t| {
                t.name
                    .strip_prefix("blk.")?
                    .split('.')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .max();
        // `blk.N` names N + 1 blocks, and a hostile N may be u64::MAX: count in u128.
        let named = highest.map_or(0, |h| u128::from(h) + 1);
        if named != u128::from(blocks) {
            findings.push(inconsistent(
                "bitnet-b1.58.block_count",
                blocks,
                format!("the tensors name {named} block(s)"),
            ));
        }
    }
    if u32s.get("bitnet-b1.58.feed_forward_length") == Some(&0) {
        findings.push(inconsistent(
            "bitnet-b1.58.feed_forward_length",
            0,
            "must be at least 1".into(),
        ));
    }
}

/// Whether `findings` hold an error (warnings aside).
pub fn has_errors(findings: &[ModelError]) -> bool {
    findings.iter().any(|f| f.severity() == Severity::Error)
}
