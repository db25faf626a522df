//! [`Location`]: where in a file a finding, error or warning is. It depends on nothing else in
//! the crate, so `error.rs` and `finding.rs` both build on it.
//!
//! A [`Location`]'s `offset` is an absolute byte offset in the file.

/// Where a finding is: the absolute byte offset, tensor and key it concerns, where known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Location<'a> {
    /// Absolute byte offset in the file.
    pub offset: Option<u64>,
    /// The tensor.
    pub tensor: Option<&'a str>,
    /// The metadata key.
    pub key: Option<&'a str>,
}

impl<'a> Location<'a> {
    /// At absolute byte `offset`.
    pub fn at(offset: u64) -> Self {
        Self {
            offset: Some(offset),
            ..Self::default()
        }
    }

    /// Concerning `tensor`.
    pub fn tensor(tensor: &'a str) -> Self {
        Self {
            tensor: Some(tensor),
            ..Self::default()
        }
    }

    /// Concerning `key`.
    pub fn key(key: &'a str) -> Self {
        Self {
            key: Some(key),
            ..Self::default()
        }
    }

    /// The same, at absolute byte `offset`.
    pub fn with_offset(self, offset: u64) -> Self {
        Self {
            offset: Some(offset),
            ..self
        }
    }
}
