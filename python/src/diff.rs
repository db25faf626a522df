//! `diff(a, b)`: `bitnet-cli diff` as a function — `bitnet_models::diff` over two mapped files,
//! its report as Python objects.

use std::path::PathBuf;

use bitnet_models::diff::{Diff, Outcome, TensorDiff};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use crate::errors::{Failure, Kind};
use crate::model::{kernel, Opened};
use crate::values::owned_to_py;

/// How one tensor both files have compares (`bitnet-cli diff --json`'s `tensors.shared`).
#[pyclass(frozen, module = "bitnet_gguf", name = "TensorDiff")]
#[derive(Debug)]
pub(crate) struct PyTensorDiff(TensorDiff);

#[pymethods]
impl PyTensorDiff {
    /// The tensor's name.
    #[getter]
    fn name(&self) -> &str {
        &self.0.name
    }

    /// Its type in A: ggml's name, with the I2_S flavor (`"I2_S(bitnetcpp)"`).
    #[getter]
    fn a_type(&self) -> &str {
        &self.0.a_type
    }

    /// Its type in B.
    #[getter]
    fn b_type(&self) -> &str {
        &self.0.b_type
    }

    /// Its shape in A, ggml order.
    #[getter]
    fn a_ne(&self) -> Vec<u64> {
        self.0.a_ne.clone()
    }

    /// Its shape in B, ggml order.
    #[getter]
    fn b_ne(&self) -> Vec<u64> {
        self.0.b_ne.clone()
    }

    /// Whether its contents are the same.
    #[getter]
    fn equal(&self) -> bool {
        self.0.is_equal()
    }

    /// `"values"` (both decoded, scales applied, compared bit for bit), `"bytes"` (neither type
    /// is decoded: the stored bytes compared) or None (not comparable: see `reason`).
    #[getter]
    fn compared(&self) -> Option<&'static str> {
        match self.0.outcome {
            Outcome::Values { .. } => Some("values"),
            Outcome::Bytes { .. } => Some("bytes"),
            Outcome::Incomparable { .. } => None,
        }
    }

    /// Values compared (for `"values"`).
    #[getter]
    fn values(&self) -> Option<u64> {
        match self.0.outcome {
            Outcome::Values { count, .. } => Some(count),
            _ => None,
        }
    }

    /// Values whose bits differ (for `"values"`).
    #[getter]
    fn differing(&self) -> Option<u64> {
        match self.0.outcome {
            Outcome::Values { differing, .. } => Some(differing),
            _ => None,
        }
    }

    /// The largest `|a − b|` over the differing values that are not NaN.
    #[getter]
    fn max_abs_diff(&self) -> Option<f64> {
        match self.0.outcome {
            Outcome::Values { max_abs, .. } => max_abs,
            _ => None,
        }
    }

    /// The largest `|a − b| / max(|a|, |b|)` over the same.
    #[getter]
    fn max_rel_diff(&self) -> Option<f64> {
        match self.0.outcome {
            Outcome::Values { max_rel, .. } => max_rel,
            _ => None,
        }
    }

    /// Why the tensor was not compared.
    #[getter]
    fn reason(&self) -> Option<&str> {
        match &self.0.outcome {
            Outcome::Incomparable { reason } => Some(reason),
            _ => None,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "<bitnet_gguf.TensorDiff {:?} {} -> {} equal={}>",
            self.0.name,
            self.0.a_type,
            self.0.b_type,
            if self.0.is_equal() { "True" } else { "False" }
        )
    }
}

/// What `diff` found (`bitnet-cli diff --json`).
#[pyclass(frozen, module = "bitnet_gguf", name = "Diff")]
#[derive(Debug)]
pub(crate) struct PyDiff {
    /// Whether every shared tensor has the same contents and neither file has a tensor the
    /// other lacks (metadata differences do not count): `bitnet-cli diff`'s exit status 0.
    #[pyo3(get)]
    equal: bool,
    /// Keys only in B.
    #[pyo3(get)]
    added_keys: Vec<String>,
    /// Keys only in A.
    #[pyo3(get)]
    removed_keys: Vec<String>,
    /// Tensors only in A (`.scale` tensors a ternary weight uses are part of it, not listed).
    #[pyo3(get)]
    only_in_a: Vec<String>,
    /// Tensors only in B.
    #[pyo3(get)]
    only_in_b: Vec<String>,
    diff: Diff,
}

#[pymethods]
impl PyDiff {
    /// Keys in both with different values (compared by their bits): `(key, a, b)` tuples of
    /// Python values.
    #[getter]
    fn changed_keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self
            .diff
            .changed_keys
            .iter()
            .map(|c| {
                PyTuple::new(
                    py,
                    [
                        c.key.as_str().into_pyobject(py)?.into_any(),
                        owned_to_py(py, &c.a)?,
                        owned_to_py(py, &c.b)?,
                    ],
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// Every tensor both files have, in A's order.
    #[getter]
    fn shared(&self) -> Vec<PyTensorDiff> {
        self.diff.shared.iter().cloned().map(PyTensorDiff).collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "<bitnet_gguf.Diff equal={} {} shared, {} only in a, {} only in b, {} key(s) changed>",
            if self.equal { "True" } else { "False" },
            self.diff.shared.len(),
            self.only_in_a.len(),
            self.only_in_b.len(),
            self.diff.changed_keys.len()
        )
    }
}

/// Compares two GGUF files as `bitnet-cli diff` does: their metadata, their tensors, and the
/// decoded values of every tensor both have, scales applied, bit for bit (so a conversion that
/// moved a scale compares equal). Returns the report; `Diff.equal` is the CLI's exit status 0.
/// Raises `IoError` or `ParseError` for a file that cannot be read, `ValidationError` when a
/// tensor cannot be compared because its file breaks a rule.
#[pyfunction]
pub(crate) fn diff(py: Python<'_>, a: PathBuf, b: PathBuf) -> PyResult<PyDiff> {
    let kernel = kernel()?;
    // Both files are opened before either is parsed, as the CLI does.
    let (a, b) = py.detach(|| -> Result<_, Failure> {
        let (file_a, file_b) = (Opened::map(&a)?, Opened::map(&b)?);
        Ok((Opened::parse(&a, file_a)?, Opened::parse(&b, file_b)?))
    })?;
    let d = py
        .detach(|| bitnet_models::diff::diff(a.model(), b.model(), kernel))
        .map_err(|e| {
            Failure::new(Kind::Validation, format!("{e} [{}]", e.code()))
                .finding(e.code(), e.location())
        })?;
    Ok(PyDiff {
        equal: d.tensors_equal(),
        added_keys: d.added_keys.clone(),
        removed_keys: d.removed_keys.clone(),
        only_in_a: d.only_in_a.clone(),
        only_in_b: d.only_in_b.clone(),
        diff: d,
    })
}
