//! The Python package `bitnet_gguf`: this project's GGUF reader, validator, decoders,
//! conversion and diff for Python, with numpy arrays (docs/python.md).
//!
//! - `model.rs`: `open()`, `Model`, `Tensor` (`numpy()`, `codes()`), `Finding`, `Codes`;
//! - `convert.rs`: `convert()`; `diff.rs`: `diff()`;
//! - `errors.rs`: the `GgufError` hierarchy and `GgufWarning`;
//! - `values.rs`: metadata values as Python values.
//!
//! This crate must not read GGUF bytes or decode anything itself: every rule, value and message
//! comes from `bitnet-gguf` and `bitnet-models` (file handling from `bitnet_models::files`), as
//! for `bitnet-cli`, whose messages the exceptions carry.

mod convert;
mod diff;
mod errors;
mod model;
mod values;

use pyo3::prelude::*;

/// Read, check, decode and convert GGUF files with BitNet b1.58 ternary weights — I2_S in its
/// three flavors (QK256, BitNet32F16, bitnet.cpp's), TQ1_0 and TQ2_0 — into numpy, exactly.
#[pymodule(name = "bitnet_gguf")]
mod module {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::convert::{convert, PyConvertSummary};
    #[pymodule_export]
    use crate::diff::{diff, PyDiff, PyTensorDiff};
    #[pymodule_export]
    use crate::model::{open, PyCodes, PyFinding, PyModel, PyTensor};

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        crate::errors::register(m)
    }
}
