//! `open(path)` and what it returns: `Model` (metadata, tensors, `check()`), `Tensor`
//! (`numpy()`, `codes()`), `Finding` and `Codes`.
//!
//! A model keeps its file mapped (`bitnet_models::files::MappedFile`) and the parsed
//! `bitnet_models::Model` borrowing it, in one self-referential cell; tensors share it. Every rule
//! and every value comes from `bitnet-gguf` and `bitnet-models`: this module only decides which
//! exception a library error becomes and converts values to Python and numpy. Work on the bytes
//! (checking, decoding) runs detached from the interpreter, so other Python threads run
//! meanwhile.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bitnet_gguf::{GgufError, Severity};
use bitnet_models::files::MappedFile;
use bitnet_models::{DecodeError, Kernel, Model, ModelError, Values};
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::errors::{chain, warn, Failure, Kind};
use crate::values::value_to_py;

self_cell::self_cell!(
    /// A mapped file and the model parsed from it.
    struct Loaded {
        owner: MappedFile,
        #[covariant]
        dependent: Model,
    }
    impl {Debug}
);

/// An opened model file, shared by the `Model` object and its tensors.
#[derive(Debug)]
pub(crate) struct Opened {
    /// The path as given, as messages show it.
    pub(crate) path: String,
    loaded: Loaded,
}

impl Opened {
    /// Maps `path` and parses it: an `IoError` when it cannot be read, a `ParseError` when it
    /// is not GGUF.
    pub(crate) fn open(path: &Path) -> Result<Self, Failure> {
        Self::parse(path, Self::map(path)?)
    }

    /// Maps `path`: an `IoError` when it cannot be read.
    pub(crate) fn map(path: &Path) -> Result<MappedFile, Failure> {
        MappedFile::open(path)
            .map_err(|e| Failure::new(Kind::Io, chain(&e)).path(&path.display().to_string()))
    }

    /// Parses `file`, mapped from `path`: a `ParseError` when it is not GGUF.
    pub(crate) fn parse(path: &Path, file: MappedFile) -> Result<Self, Failure> {
        let shown = path.display().to_string();
        let loaded = Loaded::try_new(file, |file| Model::parse(file.bytes()))
            .map_err(|e| parse_failure(&shown, &e))?;
        Ok(Self {
            path: shown,
            loaded,
        })
    }

    /// The model.
    pub(crate) fn model(&self) -> &Model<'_> {
        self.loaded.borrow_dependent()
    }

    /// A finding as a failure of `kind`: `PATH: message [code]`, as `bitnet-cli` reports it.
    pub(crate) fn finding_failure(&self, kind: Kind, e: &ModelError) -> Failure {
        Failure::new(kind, format!("{}: {e} [{}]", self.path, e.code()))
            .path(&self.path)
            .finding(e.code(), e.location())
    }

    /// What `bitnet-cli dequant` does before decoding tensor `index`, without reading any other
    /// tensor's data (`Model::check_for_decode_alone`): the findings that refuse it raise
    /// `ValidationError` (the last one, as the CLI exits on it); the others, information aside,
    /// are issued as `GgufWarning`s. Then the checked values.
    fn values(&self, py: Python<'_>, index: usize) -> PyResult<Values<'_>> {
        let model = self.model();
        let (refusing, others) = py.detach(|| model.check_for_decode_alone(index));
        if let Some(last) = refusing.last() {
            return Err(self.finding_failure(Kind::Validation, last).into());
        }
        for w in others.iter().filter(|f| f.severity() != Severity::Info) {
            warn(py, &format!("{}: {w} [{}]", self.path, w.code()))?;
        }
        model
            .values(index)
            .map_err(|e| self.decode_failure(&e).into())
    }

    /// A decoding error as `bitnet-cli dequant` reports it: a tensor the file lacks and a type it
    /// does not decode are usage errors, a rule the decoding needs is a validation error.
    pub(crate) fn decode_failure(&self, e: &DecodeError) -> Failure {
        match e {
            DecodeError::NoSuchTensor { name, .. } => {
                Failure::new(Kind::Usage, format!("{}: {e}", self.path))
                    .path(&self.path)
                    .finding(e.code(), bitnet_gguf::Location::tensor(name))
            }
            DecodeError::Invalid(e) => self.finding_failure(Kind::Validation, e),
            other => {
                let tensor = match other {
                    DecodeError::Unsupported { tensor, .. } => Some(tensor.as_str()),
                    _ => None,
                };
                Failure::new(
                    Kind::Usage,
                    format!("{}: {other} [{}]", self.path, other.code()),
                )
                .path(&self.path)
                .finding(
                    other.code(),
                    bitnet_gguf::Location {
                        tensor,
                        ..Default::default()
                    },
                )
            }
        }
    }
}

/// A parse error of the file at `path`: `PATH: message [code]`.
pub(crate) fn parse_failure(path: &str, e: &GgufError) -> Failure {
    Failure::new(Kind::Parse, format!("{path}: {e} [{}]", e.code()))
        .path(path)
        .finding(e.code(), e.location())
}

/// The kernel `BITNET_KERNEL` asks for, or the best this CPU has; a bad value is a usage error.
pub(crate) fn kernel() -> Result<Kernel, Failure> {
    Kernel::selected().map_err(|e| {
        Failure::new(
            Kind::Usage,
            format!("{}: {e}", bitnet_models::kernels::KERNEL_ENV),
        )
    })
}

/// Opens the GGUF file at `path` (a `str` or `os.PathLike`): maps it read-only and parses its
/// header, metadata and tensor infos. Raises `IoError` when it cannot be read, `ParseError` when
/// it is not GGUF. Nothing is validated yet: `Model.check()` does that, and a tensor's `numpy()`
/// refuses what it cannot decode exactly.
#[pyfunction]
pub(crate) fn open(py: Python<'_>, path: PathBuf) -> PyResult<PyModel> {
    let opened = py.detach(|| Opened::open(&path))?;
    Ok(PyModel {
        inner: Arc::new(opened),
    })
}

/// A GGUF file read as a model (`open(path)`). It keeps the file mapped while the model or any of
/// its tensors is alive; files must not be rewritten meanwhile.
#[pyclass(frozen, module = "bitnet_gguf", name = "Model")]
#[derive(Debug)]
pub(crate) struct PyModel {
    inner: Arc<Opened>,
}

#[pymethods]
impl PyModel {
    /// The path as given to `open`.
    #[getter]
    fn path(&self) -> &str {
        &self.inner.path
    }

    /// The GGUF version (3, or 2 which has the same layout).
    #[getter]
    fn version(&self) -> u32 {
        self.inner.model().gguf().version()
    }

    /// The alignment: `general.alignment`, or 32.
    #[getter]
    fn alignment(&self) -> u64 {
        self.inner.model().gguf().alignment()
    }

    /// The absolute offset of the data section.
    #[getter]
    fn data_offset(&self) -> u64 {
        self.inner.model().gguf().data_offset()
    }

    /// The metadata as a new dict of Python values, in file order: integers as `int` (UINT64
    /// exact), FLOAT32 and FLOAT64 as `float`, BOOL as `bool`, STRING as `str`, ARRAY as a
    /// `list`. A key that appears twice (a `duplicate-key` error) keeps its first value.
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for entry in self.inner.model().gguf().metadata() {
            if !dict.contains(entry.key)? {
                dict.set_item(entry.key, value_to_py(py, &entry.value)?)?;
            }
        }
        Ok(dict)
    }

    /// Every tensor, in file order.
    #[getter]
    fn tensors(&self) -> Vec<PyTensor> {
        (0..self.inner.model().gguf().tensors().len())
            .map(|index| PyTensor::new(&self.inner, index))
            .collect()
    }

    /// The tensor named `name`; `UsageError` when the file has none.
    fn tensor(&self, name: &str) -> PyResult<PyTensor> {
        let index = self
            .inner
            .model()
            .index_of(name)
            .map_err(|e| self.inner.decode_failure(&e))?;
        Ok(PyTensor::new(&self.inner, index))
    }

    /// Every finding of the file, in file order, as `bitnet-cli compat-check` reports them
    /// (docs/validation.md): the container's, each ternary tensor's, the `bitnet-b1.58` keys'.
    /// With `strict=True` every warning is an error (`--strict`). The file is valid when no
    /// finding has severity `"error"`.
    #[pyo3(signature = (strict = false))]
    fn check(&self, py: Python<'_>, strict: bool) -> Vec<PyFinding> {
        py.detach(|| self.inner.model().check())
            .iter()
            .map(|f| PyFinding::new(f, strict))
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "<bitnet_gguf.Model {:?}: {} tensor(s), {} key(s)>",
            self.inner.path,
            self.inner.model().gguf().tensors().len(),
            self.inner.model().gguf().metadata().len()
        )
    }
}

/// One tensor of a model.
#[pyclass(frozen, module = "bitnet_gguf", name = "Tensor")]
#[derive(Debug)]
pub(crate) struct PyTensor {
    model: Arc<Opened>,
    index: usize,
    /// The tensor's name.
    #[pyo3(get)]
    name: String,
    /// ggml's name of its type (`"I2_S"`, `"TQ2_0"`, `"F32"`, …; `"unknown"`).
    #[pyo3(get)]
    type_name: &'static str,
    /// The ggml type id (I2_S is 36, as bitnet.cpp numbers it).
    #[pyo3(get)]
    ggml_type: u32,
    ne: Vec<u64>,
    /// For I2_S, the flavor its size (or the file) decides: `"qk256"`, `"bitnet32f16"` or
    /// `"bitnetcpp"`; None for other types, and for an I2_S tensor no flavor fits.
    #[pyo3(get)]
    flavor: Option<&'static str>,
    /// The absolute offset of its data in the file; None when it overflows.
    #[pyo3(get)]
    offset: Option<u64>,
    /// Its size in bytes (for I2_S, its flavor's); None where that cannot be known.
    #[pyo3(get)]
    bytes: Option<u64>,
}

impl PyTensor {
    fn new(model: &Arc<Opened>, index: usize) -> Self {
        let m = model.model();
        let t = &m.gguf().tensors()[index];
        Self {
            model: Arc::clone(model),
            index,
            name: t.name.to_owned(),
            type_name: t.type_info().name(),
            ggml_type: t.ggml_type,
            ne: t.ne().to_vec(),
            flavor: m.flavor(index).ok().flatten().map(|f| f.name()),
            offset: m.gguf().tensor_start(index),
            bytes: m.byte_size(index),
        }
    }

    /// The shape in numpy order (the last axis is `ne[0]`, a row).
    fn numpy_shape(&self) -> Vec<usize> {
        // `Values` holds every element, so each dimension fits in usize.
        self.ne.iter().rev().map(|&d| d as usize).collect()
    }
}

#[pymethods]
impl PyTensor {
    /// The shape in numpy order, `ne` reversed: `(rows, cols)` for a matrix.
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.ne.iter().rev())
    }

    /// The shape in ggml order, `ne[0]` (the row length) first, as the file stores it.
    #[getter]
    fn ne<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.ne)
    }

    /// The decoded values as a new `float32` array of the tensor's `shape` (`(rows, cols)`),
    /// scales applied, bit for bit what `bitnet-cli dequant` writes: F32, F16, I2_S (every
    /// flavor), TQ1_0 and TQ2_0. Of the mapped file, only the header and this tensor's bytes are
    /// read (and its `.scale` tensor's), and the decoding runs detached from the interpreter.
    ///
    /// Raises `ValidationError` when a finding about this tensor (its span, type, flavor or
    /// scale) makes its values untrustworthy, as `dequant` refuses it, and `UsageError` for a
    /// type that is not decoded. The container's other findings and this tensor's codes'
    /// (reserved codes, which decode as 0) are issued as `GgufWarning`s; `Model.check()` has
    /// those of the other tensors.
    fn numpy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let values = self.model.values(py, self.index)?;
        let kernel = kernel()?;
        let decoded = py
            .detach(|| values.to_vec(kernel))
            .map_err(|e| self.model.finding_failure(Kind::Validation, &e))?;
        decoded.into_pyarray(py).reshape(self.numpy_shape())
    }

    /// The ternary values as stored, without decoding them: `Codes` with an `int8` array of the
    /// tensor's shape holding −1, 0 and +1 (the reserved code 3 reads as 0, as `numpy()` decodes
    /// it), and the scales that turn them into `numpy()`'s values. Only for I2_S, TQ1_0 and
    /// TQ2_0 tensors (`UsageError` otherwise); refuses and warns as `numpy()` does.
    fn codes(&self, py: Python<'_>) -> PyResult<PyCodes> {
        let Values::Ternary(t) = self.model.values(py, self.index)? else {
            return Err(Failure::new(
                Kind::Usage,
                format!(
                    "{}: tensor {:?} has type {}; codes() reads I2_S, TQ1_0 and TQ2_0 tensors",
                    self.model.path, self.name, self.type_name
                ),
            )
            .path(&self.model.path)
            .into());
        };
        let weights = py
            .detach(|| {
                let mut out = vec![0i8; t.len()];
                t.weights_into(&mut out).map(|_| out)
            })
            .map_err(|source| {
                let e = ModelError::Format {
                    tensor: t.name.to_owned(),
                    source,
                };
                self.model.finding_failure(Kind::Validation, &e)
            })?;
        let shape = self.numpy_shape();
        let values = weights.into_pyarray(py).reshape(shape.clone())?.unbind();
        let (block_scales, block_size, scale) = if t.format.has_block_scale() {
            let d: Vec<f32> = t.block_scales().iter().map(|d| d.to_f32()).collect();
            let mut scales_shape = shape;
            if let Some(last) = scales_shape.last_mut() {
                *last = t.format.blocks_per_row(t.cols as u64) as usize;
            }
            let d = d.into_pyarray(py).reshape(scales_shape)?.unbind();
            (
                Some(d),
                Some(t.format.block_elems()),
                t.post_scale.unwrap_or(1.0),
            )
        } else {
            (None, None, t.scale)
        };
        Ok(PyCodes {
            format: t.format.name(),
            values,
            block_scales,
            block_size,
            scale,
        })
    }

    fn __repr__(&self) -> String {
        let flavor = self.flavor.map(|f| format!("({f})")).unwrap_or_default();
        let dims: Vec<String> = self.ne.iter().rev().map(u64::to_string).collect();
        let shape = match &dims[..] {
            [one] => format!("({one},)"),
            _ => format!("({})", dims.join(", ")),
        };
        format!(
            "<bitnet_gguf.Tensor {:?} {}{flavor} shape={shape}>",
            self.name, self.type_name
        )
    }
}

/// A ternary tensor's codes and scales (`Tensor.codes()`). `numpy()`'s values are exactly
/// `(values * d) * scale` in `float32`, where `d` is `block_scales` repeated `block_size` times
/// along the last axis (cut to the row length), or 1 when there are no block scales.
#[pyclass(frozen, module = "bitnet_gguf", name = "Codes")]
#[derive(Debug)]
pub(crate) struct PyCodes {
    /// The format: `"qk256"`, `"bitnet32f16"`, `"bitnetcpp"`, `"tq2_0"` or `"tq1_0"`.
    #[pyo3(get)]
    format: &'static str,
    /// The weights, −1, 0 or +1, as `int8`, of the tensor's shape.
    #[pyo3(get)]
    values: Py<PyArrayDyn<i8>>,
    /// For BitNet32F16, TQ2_0 and TQ1_0: every block's f16 scale `d` as `float32`, of the
    /// tensor's shape with the last axis counting blocks (rows are padded to whole blocks);
    /// None for QK256 and bitnetcpp.
    #[pyo3(get)]
    block_scales: Option<Py<PyArrayDyn<f32>>>,
    /// Elements per block of `block_scales` (32 or 256); None without block scales.
    #[pyo3(get)]
    block_size: Option<usize>,
    /// The tensor scale: QK256's `.scale` tensor (1.0 without one), bitnetcpp's tail scale, the
    /// `.scale` tensor a TQ tensor may have as a second factor (else 1.0), 1.0 for BitNet32F16.
    #[pyo3(get)]
    scale: f32,
}

#[pymethods]
impl PyCodes {
    fn __repr__(&self) -> String {
        format!(
            "<bitnet_gguf.Codes {} block_size={:?} scale={}>",
            self.format, self.block_size, self.scale
        )
    }
}

/// One finding of `Model.check()`: what `bitnet-cli compat-check --json` prints for it.
#[pyclass(frozen, module = "bitnet_gguf", name = "Finding")]
#[derive(Debug)]
pub(crate) struct PyFinding {
    /// The stable kebab-case code (docs/validation.md).
    #[pyo3(get)]
    code: &'static str,
    /// `"error"`, `"warning"` or `"info"`.
    #[pyo3(get)]
    severity: &'static str,
    /// The message.
    #[pyo3(get)]
    message: String,
    /// The absolute byte offset it concerns, where known.
    #[pyo3(get)]
    offset: Option<u64>,
    /// The tensor it concerns, where known.
    #[pyo3(get)]
    tensor: Option<String>,
    /// The metadata key it concerns, where known.
    #[pyo3(get)]
    key: Option<String>,
}

impl PyFinding {
    fn new(f: &ModelError, strict: bool) -> Self {
        let severity = match f.severity() {
            Severity::Error => "error",
            Severity::Warning if strict => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        let location = f.location();
        Self {
            code: f.code(),
            severity,
            message: f.to_string(),
            offset: location.offset,
            tensor: location.tensor.map(str::to_owned),
            key: location.key.map(str::to_owned),
        }
    }
}

#[pymethods]
impl PyFinding {
    /// The finding as compat-check's JSON object: `code` and `message`, and `offset`, `tensor`
    /// and `key` where known.
    fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("code", self.code)?;
        d.set_item("message", &self.message)?;
        if let Some(offset) = self.offset {
            d.set_item("offset", offset)?;
        }
        if let Some(tensor) = &self.tensor {
            d.set_item("tensor", tensor)?;
        }
        if let Some(key) = &self.key {
            d.set_item("key", key)?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "<bitnet_gguf.Finding {}[{}]: {}>",
            self.severity, self.code, self.message
        )
    }
}
