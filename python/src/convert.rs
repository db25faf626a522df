//! `convert(src, dst, to, arch=None, force=False)`: `bitnet-cli convert` as a function
//! (docs/convert.md). `bitnet_models::convert` decides and checks every tensor; the output is
//! written with `bitnet_models::files::write_atomically`, so `dst` appears whole or not at all.

use std::path::{Path, PathBuf};

use bitnet_models::convert::{ConvertError, Options, Plan, Summary};
use bitnet_models::files::{same_file, write_atomically, FileError, MappedFile};
use bitnet_models::{Model, TernaryFormat};
use pyo3::prelude::*;

use crate::errors::{chain, Failure, Kind};
use crate::model::parse_failure;

/// What `convert` did (`bitnet-cli convert --json`'s members).
#[pyclass(frozen, get_all, module = "bitnet_gguf", name = "ConvertSummary")]
#[derive(Debug)]
pub(crate) struct PyConvertSummary {
    /// The ternary format every ternary tensor became.
    to: &'static str,
    /// Ternary tensors re-encoded and checked.
    converted: usize,
    /// Tensors copied byte for byte.
    copied: usize,
    /// `.scale` tensors written.
    scales_written: usize,
    /// `.scale` tensors of the input not written (their value went elsewhere).
    scales_dropped: usize,
    /// The input's size.
    bytes_in: u64,
    /// The output's size.
    bytes_out: u64,
    /// The memory the conversion's buffers can hold at once, beyond the mapped input.
    buffer_bytes: u64,
    /// The threads that encoded and checked the tensors (0: the calling one).
    workers: usize,
}

#[pymethods]
impl PyConvertSummary {
    fn __repr__(&self) -> String {
        format!(
            "<bitnet_gguf.ConvertSummary to={} converted={} copied={} scales_written={} \
             scales_dropped={} bytes_out={}>",
            self.to,
            self.converted,
            self.copied,
            self.scales_written,
            self.scales_dropped,
            self.bytes_out
        )
    }
}

/// The format named `name`, as `--to` spells them.
fn target(name: &str) -> Result<TernaryFormat, Failure> {
    TernaryFormat::ALL
        .into_iter()
        .find(|f| f.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = TernaryFormat::ALL.iter().map(|f| f.name()).collect();
            Failure::new(
                Kind::Usage,
                format!(
                    "unknown target format {name:?}; expected one of {}",
                    names.join(", ")
                ),
            )
        })
}

/// Refuses a `dst` that is `src`, by any path, or that exists without `force`.
fn check_output(src: &Path, dst: &Path, force: bool) -> Result<(), Failure> {
    let Ok(out_meta) = std::fs::metadata(dst) else {
        return Ok(());
    };
    let in_meta = std::fs::metadata(src).map_err(|e| {
        Failure::new(Kind::Io, format!("{}: {e}", src.display())).path(&src.display().to_string())
    })?;
    let shown = dst.display();
    if same_file(&in_meta, &out_meta) {
        return Err(Failure::new(
            Kind::Usage,
            format!(
                "{shown}: is the input {} (the same file); write the conversion elsewhere",
                src.display()
            ),
        )
        .path(&shown.to_string()));
    }
    if !force {
        return Err(Failure::new(
            Kind::Usage,
            format!("{shown}: exists; pass force=True to replace it"),
        )
        .path(&shown.to_string()));
    }
    Ok(())
}

/// Why writing stopped: the file, or the plan's refusal.
enum Stopped {
    File(FileError),
    Refused(ConvertError),
}

impl From<FileError> for Stopped {
    fn from(e: FileError) -> Self {
        Stopped::File(e)
    }
}

/// Converts every ternary tensor of `src` to `to` (`"tq2_0"`, `"tq1_0"`, `"qk256"`,
/// `"bitnet32f16"` or `"bitnetcpp"`), exactly or not at all, and writes `dst` atomically; every
/// other tensor and the metadata are copied (docs/convert.md). `arch` renames
/// `general.architecture` and the prefix of its keys. `dst` that exists needs `force=True`;
/// `dst` that is `src` is refused.
///
/// Raises `NotExactError` when a tensor cannot be converted exactly and `ValidationError` when
/// one cannot be read (nothing is written), `ParseError`, `UsageError` and `IoError` as their
/// names say. The messages are `bitnet-cli convert`'s.
#[pyfunction]
#[pyo3(signature = (src, dst, to, arch = None, force = false))]
pub(crate) fn convert(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    to: &str,
    arch: Option<String>,
    force: bool,
) -> PyResult<PyConvertSummary> {
    let options = Options {
        target: target(to)?,
        arch,
    };
    let path = src.display().to_string();
    let input =
        MappedFile::open(&src).map_err(|e| Failure::new(Kind::Io, chain(&e)).path(&path))?;
    check_output(&src, &dst, force)?;
    let model = Model::parse(input.bytes()).map_err(|e| parse_failure(&path, &e))?;
    let refused = |e: ConvertError| {
        let kind = match e {
            ConvertError::NotExact { .. } => Kind::NotExact,
            _ => Kind::Validation,
        };
        let message = format!("{path}: {e}; nothing written [{}]", e.code());
        let failure = Failure::new(kind, message).path(&path);
        match &e {
            ConvertError::Invalid(m) => failure.finding(m.code(), m.location()),
            _ => failure,
        }
    };
    let plan = Plan::new(&model, &options).map_err(refused)?;
    let summary = py.detach(|| {
        let mut summary = Summary::default();
        write_atomically(&dst, force, |w| {
            let mut released = 0;
            w.copy_from(&input);
            match plan.write(&mut *w, |read| input.release_behind(read, &mut released)) {
                Ok((_, s)) => {
                    summary = s;
                    Ok(())
                }
                Err(ConvertError::Write(e)) => Err(Stopped::File(FileError::Write {
                    path: dst.clone(),
                    source: std::io::Error::other(e),
                })),
                Err(e) => Err(Stopped::Refused(e)),
            }
        })
        .map(|()| summary)
    });
    let summary = summary.map_err(|stopped| match stopped {
        Stopped::File(e) => Failure::new(Kind::Io, chain(&e)).path(&dst.display().to_string()),
        Stopped::Refused(e) => refused(e),
    })?;
    let bytes_out = std::fs::metadata(&dst).map(|m| m.len()).unwrap_or(0);
    Ok(PyConvertSummary {
        to: options.target.name(),
        converted: summary.converted,
        copied: summary.copied,
        scales_written: summary.scales_written,
        scales_dropped: summary.scales_dropped,
        bytes_in: input.bytes().len() as u64,
        bytes_out,
        buffer_bytes: summary.buffer_bytes,
        workers: summary.workers,
    })
}
