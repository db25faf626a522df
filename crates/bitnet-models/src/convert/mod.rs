//! Converting a model between ternary dialects, exactly or not at all (docs/convert.md).
//!
//! [`Plan::new`] decides everything that can be decided from the shapes and the tensors' own
//! scales — which tensors are re-encoded, which copied, which `.scale` siblings appear or go, the
//! metadata — and refuses, naming the tensor and the reason, whatever cannot be exact.
//! [`Plan::write`] then streams the file, reading each tensor once: copied tensors byte for byte,
//! re-encoded ones a step of rows at a time, refused where their bytes cannot be exact (reserved
//! codes, block scales that differ) and written only after they have been read back and found
//! to decode to the source's values bit for bit (docs/convert.md, "The check").
//!
//! This module must not touch the file system: the caller gives a [`Sink`] (a `Write`, or an
//! output that copies unchanged tensors itself) and commits the file (temp file, sync, rename)
//! only when `write` succeeds.

mod check;
mod encode;
pub(crate) mod scales;
mod sink;
mod workers;

use bitnet_gguf::{ggml_type, GgufWriter, MetadataValue, TensorSpec, WriteError};

use crate::detect::detect_flavor;
use crate::format::TernaryFormat;
use crate::model::{scale_sibling_name, Model, ModelError, TernaryTensor};

pub use sink::Sink;

use scales::{target_scales, TargetScales};
use workers::{Job, Refusal, Workers, CHUNK_VALUES};

/// The key naming the model's quantization.
const FILE_TYPE_KEY: &str = "general.file_type";
/// The key naming the architecture, which prefixes its own keys.
const ARCH_KEY: &str = "general.architecture";

/// What to convert to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The ternary format every ternary tensor becomes.
    pub target: TernaryFormat,
    /// A new `general.architecture`; its keys' prefix is renamed with it
    /// (`bitnet-b1.58.*` → `bitnet.*` for mainline llama.cpp's BitNet graph).
    pub arch: Option<String>,
}

/// Why a model cannot be converted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// A tensor of the input cannot be read (flavor, scale, data out of bounds).
    #[error(transparent)]
    Invalid(#[from] ModelError),
    /// A tensor cannot be converted exactly.
    #[error("tensor {tensor:?} cannot be converted to {target} exactly: {reason}")]
    NotExact {
        /// The tensor.
        tensor: String,
        /// The target format.
        target: TernaryFormat,
        /// Why.
        reason: String,
    },
    /// `--arch` asks to rename the architecture of a file that names none.
    #[error("cannot rename the architecture to {new:?}: the file has no {ARCH_KEY} key")]
    NoArchitecture {
        /// The architecture asked for.
        new: String,
    },
    /// The output could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl ConvertError {
    /// A stable kebab-case code, as compat-check shows for findings: the model error's own
    /// code, `not-exact`, `no-architecture`, or `write-failed`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(e) => e.code(),
            Self::NotExact { .. } => "not-exact",
            Self::NoArchitecture { .. } => "no-architecture",
            Self::Write(_) => "write-failed",
        }
    }
}

/// The ggml type of a target format.
pub fn ggml_type_of(target: TernaryFormat) -> u32 {
    match target {
        TernaryFormat::Qk256 | TernaryFormat::BitNet32F16 | TernaryFormat::BitnetCpp => {
            ggml_type::I2_S
        }
        TernaryFormat::Tq2_0 => ggml_type::TQ2_0,
        TernaryFormat::Tq1_0 => ggml_type::TQ1_0,
    }
}

/// The `general.file_type` a converted file gets, `None` to keep the source's (as mainline
/// llama.cpp numbers TQ1_0 and TQ2_0 models, bitnet.cpp its I2_S ones).
pub fn file_type_of(target: TernaryFormat) -> Option<u32> {
    match target {
        TernaryFormat::Tq1_0 => Some(36),
        TernaryFormat::Tq2_0 => Some(37),
        TernaryFormat::BitnetCpp => Some(40),
        TernaryFormat::Qk256 | TernaryFormat::BitNet32F16 => None,
    }
}

/// One tensor of the output.
#[derive(Debug, Clone)]
enum Item {
    /// Tensor `index` of the input, byte for byte.
    Copy { index: usize },
    /// Ternary tensor `index`, re-encoded with these scales.
    Convert { index: usize, scales: TargetScales },
    /// A `.scale` sibling of the tensor before it: one f32.
    Scale { value: f32 },
}

/// What the output will be, decided before anything is written.
#[derive(Debug)]
pub struct Plan<'m, 'a> {
    model: &'m Model<'a>,
    target: TernaryFormat,
    metadata: Vec<(String, MetadataValue)>,
    specs: Vec<TensorSpec>,
    items: Vec<Item>,
}

/// What [`Plan::write`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Ternary tensors re-encoded (and checked).
    pub converted: usize,
    /// Tensors copied byte for byte.
    pub copied: usize,
    /// `.scale` siblings written.
    pub scales_written: usize,
    /// `.scale` siblings of the input not written (their value went elsewhere).
    pub scales_dropped: usize,
    /// The bytes the conversion's buffers can hold at once, whatever the size of the tensors:
    /// for each worker, a step's codes (a byte per value, each side) and target block scales
    /// (two bytes each) at the largest step, and two chunks of converted bytes at the largest
    /// chunk. A step is 64 Ki values and a chunk 1 Mi (whole rows; one row when a row is
    /// longer). The memory a conversion needs beyond the mapped input, with the output's
    /// write buffers (3 MiB).
    pub buffer_bytes: u64,
    /// The worker threads that encoded and checked the chunks (one per processor, at most
    /// four); 0 where none could be started and the calling thread did it.
    pub workers: usize,
}

impl<'m, 'a> Plan<'m, 'a> {
    /// Decides the output, or refuses: a ternary tensor that cannot be read, or cannot be
    /// exact in the target (rows the target cannot hold, a tensor scale it cannot hold, a scale
    /// with nowhere to go, an output whose flavor could not be told). What needs every block
    /// of a tensor (reserved codes, block scales that differ) is found by [`Plan::write`].
    pub fn new(model: &'m Model<'a>, options: &Options) -> Result<Self, ConvertError> {
        let gguf = model.gguf();
        let target = options.target;
        // Which tensors are `.scale` siblings of a ternary weight: their value moves with it.
        let mut sibling_of = vec![false; gguf.tensors().len()];
        let mut items = Vec::new();
        let mut specs = Vec::new();
        for index in 0..gguf.tensors().len() {
            // Resolve every ternary tensor first: one that cannot be read refuses the plan.
            if model.ternary(index)?.is_some() {
                if let Some(si) = model.used_scale_sibling(index) {
                    sibling_of[si] = true;
                }
            }
        }
        for (index, t) in gguf.tensors().iter().enumerate() {
            if sibling_of[index] {
                continue;
            }
            let Some(tensor) = model.ternary(index)? else {
                let size = model.byte_size(index).ok_or_else(|| {
                    ModelError::Gguf(bitnet_gguf::GgufError::ByteSizeOverflow {
                        tensor: t.name.to_owned(),
                        ne: t.ne().to_vec(),
                    })
                })?;
                specs.push(TensorSpec {
                    name: t.name.to_owned(),
                    ne: t.ne().to_vec(),
                    ggml_type: t.ggml_type,
                    size,
                });
                items.push(Item::Copy { index });
                continue;
            };
            let not_exact = |reason: String| ConvertError::NotExact {
                tensor: t.name.to_owned(),
                target,
                reason,
            };
            if !target.fits_cols(tensor.cols as u64) || !tq_cols_ok(target, tensor.cols) {
                return Err(not_exact(format!(
                    "its rows have {} columns, and {target} needs a multiple of {}",
                    tensor.cols,
                    target.block_elems()
                )));
            }
            let had_sibling = model.used_scale_sibling(index).is_some();
            // A sibling the source ignores (beside BitNet32F16 or bitnetcpp) is copied as it
            // is, unless the target would read it as the weight's scale.
            let ignored_sibling = model
                .scale_sibling(index)
                .filter(|_| !had_sibling)
                .map(|(_, s)| s.name);
            let scales = target_scales(&tensor, target, had_sibling).map_err(not_exact)?;
            let size = target
                .tensor_bytes(tensor.rows as u64, tensor.cols as u64)
                .ok_or_else(|| not_exact("its size overflows".into()))?;
            specs.push(TensorSpec {
                name: t.name.to_owned(),
                ne: t.ne().to_vec(),
                ggml_type: ggml_type_of(target),
                size,
            });
            let sibling = scales.sibling;
            items.push(Item::Convert { index, scales });
            let target_reads_sibling = matches!(
                target,
                TernaryFormat::Qk256 | TernaryFormat::Tq2_0 | TernaryFormat::Tq1_0
            );
            if let Some(name) = ignored_sibling.filter(|_| target_reads_sibling) {
                return Err(not_exact(format!(
                    "{target} reads a tensor {name} as the weight's scale, and the input has one \
                     that its {} weight ignores: rename or remove it first",
                    tensor.format
                )));
            }
            if let Some(value) = sibling {
                let name = scale_sibling_name(t.name).ok_or_else(|| {
                    not_exact(format!(
                        "its scale {value:e} needs a .scale tensor, and only a name ending in \
                         .weight has one"
                    ))
                })?;
                specs.push(TensorSpec {
                    name,
                    ne: vec![1],
                    ggml_type: ggml_type::F32,
                    size: 4,
                });
                items.push(Item::Scale { value });
            }
        }
        readable_as_target(&specs, target, gguf.alignment())?;
        if let (Some(new), None) = (&options.arch, gguf.get(ARCH_KEY)) {
            return Err(ConvertError::NoArchitecture { new: new.clone() });
        }
        Ok(Self {
            model,
            target,
            metadata: metadata(model, options),
            specs,
            items,
        })
    }

    /// The metadata the output will have, in order.
    pub fn metadata(&self) -> &[(String, MetadataValue)] {
        &self.metadata
    }

    /// The tensors the output will have, in order.
    pub fn tensors(&self) -> &[TensorSpec] {
        &self.specs
    }

    /// Writes the output to `out` (told its length first: [`Sink::reserve`]), checking every
    /// re-encoded tensor against the source before writing it; `progress` is called with the
    /// input bytes each tensor read (a slice of the model's) once written and no longer needed.
    ///
    /// Ternary tensors are re-encoded and checked a chunk of rows at a time on worker threads,
    /// one per processor (none where threads cannot be started), while this thread writes the
    /// chunks before them in order.
    pub fn write<W: Sink>(
        &self,
        out: W,
        mut progress: impl FnMut(&[u8]),
    ) -> Result<(W, Summary), ConvertError> {
        let gguf = self.model.gguf();
        let mut w = GgufWriter::new(out, &self.metadata, &self.specs)?;
        let len = w.file_len();
        w.get_mut().reserve(len);
        // Every ternary tensor, resolved (as `Plan::new` found them), with its scales.
        let mut sources = Vec::new();
        for item in &self.items {
            if let Item::Convert { index, scales } = item {
                sources.push((self.resolve(*index)?, scales));
            }
        }
        let mut summary = Summary {
            scales_dropped: self.dropped_siblings(),
            ..Summary::default()
        };
        std::thread::scope(|scope| {
            let total = sources.iter().map(|(s, _)| chunk_count(s)).sum();
            let mut workers = Workers::new(scope, self.target, workers::wanted(total));
            let mut jobs = sources
                .iter()
                .flat_map(|&(source, scales)| chunks(source, scales));
            let mut sources = sources.iter();
            for (item, spec) in self.items.iter().zip(&self.specs) {
                // The workers kept busy: chunks of later tensors go out while earlier tensors
                // (copied ones too) are written.
                workers.give_from(&mut jobs);
                match item {
                    Item::Copy { index } => {
                        let data = gguf
                            .tensor_bytes(&gguf.tensors()[*index], spec.size)
                            .map_err(ModelError::Gguf)?;
                        w.write_data_with(data, |out, part| out.copy(part))?;
                        summary.copied += 1;
                        progress(data);
                    }
                    Item::Convert { .. } => {
                        let Some(&(source, scales)) = sources.next() else {
                            break;
                        };
                        let not_exact = |reason: String| ConvertError::NotExact {
                            tensor: source.name.to_owned(),
                            target: self.target,
                            reason,
                        };
                        for _ in 0..chunk_count(&source) {
                            workers.give_from(&mut jobs);
                            let Some(done) = workers.take() else { break };
                            match done.result {
                                Ok(()) => w.write_data(done.bytes())?,
                                Err(Refusal::Reason(reason)) => return Err(not_exact(reason)),
                                Err(Refusal::Reserved) => {
                                    // Refused with the count compat-check's scan gives.
                                    let count = source.scan().map_or(0, |r| r.reserved_codes);
                                    return Err(not_exact(format!(
                                        "{count} element(s) hold the reserved code 3, which has \
                                         no value to convert"
                                    )));
                                }
                            }
                            workers.recycle(done.out);
                        }
                        if self.target == TernaryFormat::BitnetCpp {
                            let mut tail = [0u8; crate::format::BITNETCPP_TAIL];
                            tail[..4].copy_from_slice(&scales.tensor.to_le_bytes());
                            w.write_data(&tail)?;
                        }
                        summary.converted += 1;
                        progress(source.stored);
                    }
                    Item::Scale { value } => {
                        w.write_data(&value.to_le_bytes())?;
                        summary.scales_written += 1;
                    }
                }
            }
            summary.buffer_bytes = workers.buffer_bytes() as u64;
            summary.workers = workers.threads();
            Ok(())
        })?;
        Ok((w.finish()?, summary))
    }

    /// Ternary tensor `index` resolved, which `Plan::new` found it is.
    fn resolve(&self, index: usize) -> Result<TernaryTensor<'a>, ConvertError> {
        self.model.ternary(index)?.ok_or_else(|| {
            let t = &self.model.gguf().tensors()[index];
            ModelError::Gguf(bitnet_gguf::GgufError::ByteSizeOverflow {
                tensor: t.name.to_owned(),
                ne: t.ne().to_vec(),
            })
            .into()
        })
    }

    /// How many `.scale` siblings of the input the output does not have.
    fn dropped_siblings(&self) -> usize {
        let gguf = self.model.gguf();
        let kept: std::collections::HashSet<&str> =
            self.specs.iter().map(|s| s.name.as_str()).collect();
        (0..gguf.tensors().len())
            .filter_map(|i| self.model.used_scale_sibling(i))
            .filter(|&s| !kept.contains(gguf.tensors()[s].name))
            .count()
    }
}

/// Refuses an I2_S output whose flavor a reader could not tell. The output's I2_S tensors are
/// all `target`, each `pad(size, alignment)` bytes apart (the writer pads every tensor), so its
/// flavor is decided (docs/formats.md) when at least one of them fits `target` alone; when
/// every one also fits another flavor (small shapes: 512 × 1 is 160 bytes as BitNet32F16 and as
/// bitnetcpp), nothing in the file says which, and the output would not read back.
fn readable_as_target(
    specs: &[TensorSpec],
    target: TernaryFormat,
    alignment: u64,
) -> Result<(), ConvertError> {
    let Some(flavor) = target.flavor() else {
        return Ok(());
    };
    let mut undecided = None;
    for spec in specs.iter().filter(|s| s.ggml_type == ggml_type::I2_S) {
        let (cols, rows) = (
            spec.ne.first().copied().unwrap_or(1),
            spec.ne.iter().skip(1).product(),
        );
        let available = bitnet_gguf::pad(spec.size, alignment).unwrap_or(spec.size);
        match detect_flavor(rows, cols, available, alignment) {
            Ok(found) if found == flavor => return Ok(()),
            _ => undecided = undecided.or(Some(spec)),
        }
    }
    match undecided {
        None => Ok(()),
        Some(spec) => Err(ConvertError::NotExact {
            tensor: spec.name.clone(),
            target,
            reason: format!(
                "its {} bytes would also fit another i2_s flavor, and no tensor of the output \
                 fits {target} alone, so a reader could not tell its flavor",
                spec.size
            ),
        }),
    }
}

/// TQ2_0 (like every TQ format) never pads rows: ggml needs `ne[0]` to be a multiple of 256.
fn tq_cols_ok(target: TernaryFormat, cols: usize) -> bool {
    target != TernaryFormat::Tq2_0 || cols.is_multiple_of(target.block_elems())
}

/// The input's metadata, in order, with the architecture renamed and the file type set.
fn metadata(model: &Model<'_>, options: &Options) -> Vec<(String, MetadataValue)> {
    let gguf = model.gguf();
    let old_arch = gguf.get(ARCH_KEY).and_then(|v| v.as_str());
    let rename = |key: &str| -> String {
        if let (Some(old), Some(new)) = (old_arch, options.arch.as_deref()) {
            if let Some(rest) = key.strip_prefix(old).and_then(|r| r.strip_prefix('.')) {
                return format!("{new}.{rest}");
            }
        }
        key.to_owned()
    };
    let file_type = file_type_of(options.target);
    let mut out: Vec<(String, MetadataValue)> = Vec::new();
    let mut has_file_type = false;
    for e in gguf.metadata() {
        let key = rename(e.key);
        let value = match (e.key, &options.arch, file_type) {
            (ARCH_KEY, Some(new), _) => MetadataValue::String(new.clone()),
            (FILE_TYPE_KEY, _, Some(ft)) => {
                has_file_type = true;
                MetadataValue::U32(ft)
            }
            _ => e.value.to_owned_value(),
        };
        out.push((key, value));
    }
    if let (Some(ft), false) = (file_type, has_file_type) {
        // After the architecture, where llama.cpp's converters put it.
        let at = out
            .iter()
            .position(|(k, _)| k == ARCH_KEY)
            .map_or(out.len(), |i| i + 1);
        out.insert(at, (FILE_TYPE_KEY.to_owned(), MetadataValue::U32(ft)));
    }
    out
}

/// Rows per chunk of `source`: [`CHUNK_VALUES`] values in whole rows (at least one row).
fn chunk_rows(source: &TernaryTensor<'_>) -> usize {
    CHUNK_VALUES.checked_div(source.cols).unwrap_or(1).max(1)
}

/// How many chunks `source` is encoded in (none without values).
fn chunk_count(source: &TernaryTensor<'_>) -> usize {
    if source.cols == 0 {
        0
    } else {
        source.rows.div_ceil(chunk_rows(source))
    }
}

/// The chunks of `source`, in order.
fn chunks<'m, 'p>(
    source: TernaryTensor<'m>,
    scales: &'p TargetScales,
) -> impl Iterator<Item = Job<'m, 'p>> {
    let step = chunk_rows(&source);
    (0..chunk_count(&source)).map(move |i| Job {
        source,
        scales,
        rows: i * step..((i + 1) * step).min(source.rows),
    })
}
