//! GGUF metadata values as Python values: every integer type as `int` (UINT64 and INT64 exact),
//! FLOAT32 and FLOAT64 as `float` (FLOAT32 widened exactly), BOOL as `bool`, STRING as `str`,
//! ARRAY as a `list` of its elements.

use bitnet_gguf::{MetadataValue, Value};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyList};

/// A borrowed metadata value as a Python value.
pub(crate) fn value_to_py<'py>(py: Python<'py>, value: &Value<'_>) -> PyResult<Bound<'py, PyAny>> {
    owned_to_py(py, &value.to_owned_value())
}

/// An owned metadata value (as `bitnet_models::diff` reports them) as a Python value.
pub(crate) fn owned_to_py<'py>(
    py: Python<'py>,
    value: &MetadataValue,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        MetadataValue::U8(v) => v.into_pyobject(py)?.into_any(),
        MetadataValue::I8(v) => v.into_pyobject(py)?.into_any(),
        MetadataValue::U16(v) => v.into_pyobject(py)?.into_any(),
        MetadataValue::I16(v) => v.into_pyobject(py)?.into_any(),
        MetadataValue::U32(v) => v.into_pyobject(py)?.into_any(),
        MetadataValue::I32(v) => v.into_pyobject(py)?.into_any(),
        MetadataValue::U64(v) => v.into_pyobject(py)?.into_any(),
        MetadataValue::I64(v) => v.into_pyobject(py)?.into_any(),
        MetadataValue::F32(v) => f64::from(*v).into_pyobject(py)?.into_any(),
        MetadataValue::F64(v) => v.into_pyobject(py)?.into_any(),
        MetadataValue::Bool(v) => PyBool::new(py, *v).to_owned().into_any(),
        MetadataValue::String(s) => s.into_pyobject(py)?.into_any(),
        MetadataValue::Array(_, items) => {
            let items = items
                .iter()
                .map(|item| owned_to_py(py, item))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
    })
}
