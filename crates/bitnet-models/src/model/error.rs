//! What can be wrong with a model file beyond its container ([`ModelError`], the findings of
//! [`super::Model::check`]), and why a tensor cannot be decoded ([`DecodeError`]).

use bitnet_gguf::{GgufError, GgufWarning, Location, Severity};

use crate::detect::{FlavorError, Sizes};
use crate::format::{Flavor, FormatError};

/// A finding about a model file: a container rule, or a rule of the ternary formats and the
/// `bitnet-b1.58` metadata (docs/validation.md). Most are errors; [`ModelError::severity`] says.
#[derive(Debug, Clone, PartialEq, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
#[non_exhaustive]
pub enum ModelError {
    /// A container rule.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// A container oddity (a warning).
    #[error(transparent)]
    GgufWarning(#[from] GgufWarning),
    /// An I2_S tensor whose size fits no flavor, or several.
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
    /// A bitnetcpp tensor whose tail scale is NaN or infinite.
    #[error("tensor {tensor:?}: scale at byte {offset} is {value}, not finite")]
    #[strum(serialize = "scale-not-finite")]
    TailScaleNotFinite {
        /// The tensor.
        tensor: String,
        /// Absolute offset of the scale (the start of the tail).
        offset: u64,
        /// The value.
        value: f32,
    },
    /// A `.scale` sibling next to a tensor that carries its own scale(s) (a warning).
    #[error("scale tensor {tensor:?} is ignored: {weight:?} is {flavor}, which carries its own {}", if *.flavor == Flavor::BitNet32F16 { "block scales" } else { "scale" })]
    ScaleIgnored {
        /// The `.scale` tensor.
        tensor: String,
        /// The weight tensor.
        weight: String,
        /// The weight's flavor.
        flavor: Flavor,
    },
    /// An I2_S tensor that fits several flavors, read as the one the file's other I2_S tensors
    /// have (information, not a problem).
    #[error("tensor {tensor:?} at byte {offset}: {available} bytes fit {}; read as {flavor}, the flavor of the file's other i2_s tensors", candidates.list("and"))]
    #[strum(serialize = "i2s-flavor-from-file")]
    FlavorFromFile {
        /// The tensor.
        tensor: String,
        /// Absolute offset of its data.
        offset: u64,
        /// Bytes available to it.
        available: u64,
        /// The flavors it fits, with their sizes.
        candidates: Sizes,
        /// The flavor it was read as.
        flavor: Flavor,
    },
    /// A type-39 tensor whose size does not fit MXFP4: probably TL2 of an older bitnet.cpp.
    #[error("tensor {tensor:?}: type 39 is MXFP4 in mainline ggml, but {reason}; probably TL2 of an older bitnet.cpp build, whose layout depends on one build's kernel configuration: not portable, re-quantize to I2_S")]
    #[strum(serialize = "probably-tl2")]
    ProbablyTl2 {
        /// The tensor.
        tensor: String,
        /// Why it is not MXFP4.
        reason: String,
    },
    /// Elements holding the reserved code 3.
    #[error("tensor {tensor:?}: {count} reserved code(s) 3, the first in byte {offset}")]
    #[strum(serialize = "reserved-code")]
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
    #[strum(serialize = "block-scale-not-finite")]
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
}

impl ModelError {
    /// A stable, kebab-case code naming the kind of problem (`"reserved-code"`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Gguf(e) => e.code(),
            Self::GgufWarning(w) => w.code(),
            Self::Flavor { source, .. } => source.code(),
            other => other.into(),
        }
    }

    /// Whether this is an error or only a warning.
    pub fn severity(&self) -> Severity {
        match self {
            Self::FlavorFromFile { .. } => Severity::Info,
            Self::GgufWarning(_) | Self::ScaleIgnored { .. } | Self::BadPadding { .. } => {
                Severity::Warning
            }
            _ => Severity::Error,
        }
    }

    /// The absolute offset, tensor and key the problem concerns, where known.
    pub fn location(&self) -> Location<'_> {
        match self {
            Self::Gguf(e) => e.location(),
            Self::GgufWarning(w) => w.location(),
            Self::Flavor { tensor, offset, .. }
            | Self::FlavorFromFile { tensor, offset, .. }
            | Self::TailScaleNotFinite { tensor, offset, .. }
            | Self::ScaleNotFinite { tensor, offset, .. }
            | Self::ReservedCodes { tensor, offset, .. }
            | Self::NonFiniteBlockScales { tensor, offset, .. }
            | Self::BadPadding { tensor, offset, .. } => {
                Location::tensor(tensor).with_offset(*offset)
            }
            Self::Format { tensor, .. }
            | Self::ProbablyTl2 { tensor, .. }
            | Self::ScaleShape { tensor, .. }
            | Self::ScaleIgnored { tensor, .. } => Location::tensor(tensor),
            Self::MissingKey { key } | Self::KeyInconsistent { key, .. } => Location::key(key),
            Self::KeyType { key, offset, .. } => Location::key(key).with_offset(*offset),
        }
    }
}

/// Whether `findings` hold an error (warnings aside).
pub fn has_errors(findings: &[ModelError]) -> bool {
    findings.iter().any(|f| f.severity() == Severity::Error)
}

/// Why a tensor's values cannot be produced.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// No tensor has that name (a caller's mistake).
    #[error("no tensor named {name:?} (the file has {count} tensor(s): {})", list_names(.names, *.count))]
    NoSuchTensor {
        /// The name asked for.
        name: String,
        /// How many tensors the file has.
        count: usize,
        /// The first few of their names.
        names: Vec<String>,
    },
    /// A tensor of a type this crate does not decode.
    #[error(
        "tensor {tensor:?} has type {type_name}; dequant supports F32, F16, I2_S, TQ1_0 and TQ2_0"
    )]
    Unsupported {
        /// The tensor.
        tensor: String,
        /// Its type's name.
        type_name: &'static str,
    },
    /// The file breaks a rule that the decoding needs (flavor, scale, data in bounds).
    #[error(transparent)]
    Invalid(#[from] ModelError),
}

impl DecodeError {
    /// A stable code: `"no-such-tensor"`, `"unsupported-type"`, or the finding's.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoSuchTensor { .. } => "no-such-tensor",
            Self::Unsupported { .. } => "unsupported-type",
            Self::Invalid(e) => e.code(),
        }
    }
}

impl From<GgufError> for DecodeError {
    fn from(e: GgufError) -> Self {
        Self::Invalid(e.into())
    }
}

/// `"a", "b", …` — the names shown, and an ellipsis when the file has more.
fn list_names(names: &[String], count: usize) -> String {
    let shown: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    let more = if count > names.len() { ", …" } else { "" };
    format!("{}{more}", shown.join(", "))
}
