//! What [`crate::Gguf::validate`] reports: a [`Finding`] (a [`GgufError`] or a [`GgufWarning`]),
//! its [`Severity`], and the [`Location`] in the file that a finding concerns.
//!
//! The errors and warnings themselves are in `error.rs`, [`Location`] in `location.rs`.

use crate::error::{GgufError, GgufWarning};
use crate::location::Location;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Not a problem: how something was read (`bitnet-models` reports an I2_S flavor that the
    /// file's other tensors decided).
    Info,
    /// The file is valid, but odd.
    Warning,
    /// The file breaks a rule of the format.
    Error,
}

/// One thing [`crate::Gguf::validate`] found: an error or a warning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Finding {
    /// The file breaks a rule.
    #[error(transparent)]
    Error(#[from] GgufError),
    /// The file is valid but odd.
    #[error(transparent)]
    Warning(#[from] GgufWarning),
}

impl Finding {
    /// The stable code of the error or warning.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Error(e) => e.code(),
            Self::Warning(w) => w.code(),
        }
    }

    /// Error or warning.
    pub fn severity(&self) -> Severity {
        match self {
            Self::Error(_) => Severity::Error,
            Self::Warning(_) => Severity::Warning,
        }
    }

    /// The absolute offset, tensor and key the finding concerns, where known.
    pub fn location(&self) -> Location<'_> {
        match self {
            Self::Error(e) => e.location(),
            Self::Warning(w) => w.location(),
        }
    }

    /// The error, if this is one.
    pub fn as_error(&self) -> Option<&GgufError> {
        match self {
            Self::Error(e) => Some(e),
            Self::Warning(_) => None,
        }
    }
}
