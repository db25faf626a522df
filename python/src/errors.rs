//! The exceptions: a hierarchy rooted at `GgufError`, one subclass per kind of failure, each
//! carrying the finding's code and location where there is one; and `GgufWarning`.
//!
//! The kinds follow `bitnet-cli`'s exit statuses (docs/cli.md): a file that cannot be read as
//! GGUF (`ParseError`) or breaks a rule the operation needs (`ValidationError`, and its
//! `NotExactError` for a refused conversion) is what exits 1; a caller's mistake (`UsageError`,
//! also a `ValueError`) or an I/O failure (`IoError`, also an `OSError`) is what exits 2. The
//! messages are the CLI's, without its `error: ` prefix.
//!
//! The classes are made with `type(name, bases, namespace)` at import, since a Rust-defined
//! exception has one base and `UsageError` and `IoError` have two.

use bitnet_gguf::Location;
use pyo3::exceptions::{PyException, PyOSError, PyUserWarning, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

/// Which exception a failure raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The bytes are not a GGUF file this project reads.
    Parse,
    /// The file breaks a rule the operation needs.
    Validation,
    /// A conversion that cannot be exact.
    NotExact,
    /// The caller asked for something that is not there or not possible.
    Usage,
    /// A file could not be opened, mapped or written.
    Io,
}

/// A failure on its way to Python: the exception kind, the message, and the facts (boxed, so a
/// `Result` carrying one stays small).
#[derive(Debug, Clone)]
pub(crate) struct Failure(Box<Facts>);

#[derive(Debug, Clone)]
struct Facts {
    kind: Kind,
    message: String,
    code: Option<&'static str>,
    path: Option<String>,
    offset: Option<u64>,
    tensor: Option<String>,
    key: Option<String>,
}

impl Failure {
    /// A failure of `kind` with `message` and no facts.
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self(Box::new(Facts {
            kind,
            message: message.into(),
            code: None,
            path: None,
            offset: None,
            tensor: None,
            key: None,
        }))
    }

    /// The same, about the file at `path`.
    pub(crate) fn path(mut self, path: &str) -> Self {
        self.0.path = Some(path.to_owned());
        self
    }

    /// The same, with a finding's code and location.
    pub(crate) fn finding(mut self, code: &'static str, location: Location<'_>) -> Self {
        self.0.code = Some(code);
        self.0.offset = location.offset;
        self.0.tensor = location.tensor.map(str::to_owned);
        self.0.key = location.key.map(str::to_owned);
        self
    }

    /// The exception, with its attributes set.
    pub(crate) fn into_pyerr(self, py: Python<'_>) -> PyErr {
        match self.instance(py) {
            Ok(exception) => PyErr::from_value(exception),
            Err(e) => e,
        }
    }

    fn instance(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        let facts = *self.0;
        let types = types(py)?;
        let class = match facts.kind {
            Kind::Parse => &types.parse,
            Kind::Validation => &types.validation,
            Kind::NotExact => &types.not_exact,
            Kind::Usage => &types.usage,
            Kind::Io => &types.io,
        };
        let exception = class.bind(py).call1((facts.message,))?;
        exception.setattr("code", facts.code)?;
        exception.setattr("path", facts.path)?;
        exception.setattr("offset", facts.offset)?;
        exception.setattr("tensor", facts.tensor)?;
        exception.setattr("key", facts.key)?;
        Ok(exception)
    }
}

impl From<Failure> for PyErr {
    fn from(failure: Failure) -> Self {
        Python::attach(|py| failure.into_pyerr(py))
    }
}

/// The message of an error and of every error below it, joined by `: ` (as the CLI prints an
/// error with its causes).
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        message.push_str(": ");
        message.push_str(&e.to_string());
        source = e.source();
    }
    message
}

/// The exception classes, made once.
pub(crate) struct Types {
    pub(crate) gguf: Py<PyType>,
    pub(crate) parse: Py<PyType>,
    pub(crate) validation: Py<PyType>,
    pub(crate) not_exact: Py<PyType>,
    pub(crate) usage: Py<PyType>,
    pub(crate) io: Py<PyType>,
    pub(crate) warning: Py<PyType>,
}

static TYPES: PyOnceLock<Types> = PyOnceLock::new();

/// A class `name` with `bases`, in module `bitnet_gguf`. `facts` gives it the attributes a
/// raised failure sets, `None` on an instance made by hand.
fn class(
    py: Python<'_>,
    name: &str,
    bases: &[&Bound<'_, PyType>],
    doc: &str,
    facts: bool,
) -> PyResult<Py<PyType>> {
    let namespace = PyDict::new(py);
    namespace.set_item("__module__", "bitnet_gguf")?;
    namespace.set_item("__doc__", doc)?;
    if facts {
        for attribute in ["code", "path", "offset", "tensor", "key"] {
            namespace.set_item(attribute, py.None())?;
        }
    }
    let made = py
        .get_type::<PyType>()
        .call1((name, PyTuple::new(py, bases)?, namespace))?;
    Ok(made.cast_into::<PyType>()?.unbind())
}

/// The exception classes (made at the first call).
pub(crate) fn types(py: Python<'_>) -> PyResult<&Types> {
    TYPES.get_or_try_init(py, || {
        let exception = py.get_type::<PyException>();
        let gguf = class(
            py,
            "GgufError",
            &[&exception],
            "The root of every error this package raises. `code` is the finding's stable code \
             (docs/validation.md) where the error is a finding, `path` the file, `offset` the \
             absolute byte offset, `tensor` and `key` what it concerns; each is None where not \
             known.",
            true,
        )?;
        let sub = |name: &str, bases: &[&Bound<'_, PyType>], doc: &str| -> PyResult<Py<PyType>> {
            class(py, name, bases, doc, false)
        };
        let g = gguf.bind(py);
        let validation = sub(
            "ValidationError",
            &[g],
            "The file breaks a rule the operation needs (a tensor's flavor, scale, data in \
             bounds): bitnet-cli's exit status 1.",
        )?;
        Ok(Types {
            parse: sub(
                "ParseError",
                &[g],
                "The bytes cannot be read as GGUF (the first structural error): bitnet-cli's \
                 exit status 1.",
            )?,
            not_exact: sub(
                "NotExactError",
                &[validation.bind(py)],
                "A conversion that cannot be exact; nothing was written.",
            )?,
            usage: sub(
                "UsageError",
                &[g, &py.get_type::<PyValueError>()],
                "A caller's mistake: a tensor the file lacks, a type that is not decoded, an \
                 output that exists: bitnet-cli's exit status 2.",
            )?,
            io: sub(
                "IoError",
                &[g, &py.get_type::<PyOSError>()],
                "A file that cannot be opened, mapped or written: bitnet-cli's exit status 2.",
            )?,
            warning: class(
                py,
                "GgufWarning",
                &[&py.get_type::<PyUserWarning>()],
                "A finding that does not stop decoding (warnings, errors elsewhere in the \
                 file, reserved codes in the tensor): what bitnet-cli dequant prints as \
                 `warning:`. `warnings.simplefilter('error', GgufWarning)` makes it raise.",
                false,
            )?,
            validation,
            gguf,
        })
    })
}

/// Adds the classes to the module.
pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let t = types(py)?;
    for (name, class) in [
        ("GgufError", &t.gguf),
        ("ParseError", &t.parse),
        ("ValidationError", &t.validation),
        ("NotExactError", &t.not_exact),
        ("UsageError", &t.usage),
        ("IoError", &t.io),
        ("GgufWarning", &t.warning),
    ] {
        module.add(name, class.bind(py))?;
    }
    Ok(())
}

/// Issues `message` as a `GgufWarning`, attributed to the caller of the package's method.
pub(crate) fn warn(py: Python<'_>, message: &str) -> PyResult<()> {
    let category = types(py)?.warning.bind(py);
    py.import("warnings")?
        .call_method1("warn", (message, category, 2))?;
    Ok(())
}
