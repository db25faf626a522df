//! Validation: every container rule that parsing does not already enforce (docs/gguf.md),
//! reported as a list of findings rather than stopping at the first.

use std::collections::HashMap;

use crate::error::{GgufError, GgufWarning};
use crate::finding::Finding;
use crate::layout::{pad, MAX_TENSOR_NAME};
use crate::reader::{Gguf, MetadataEntry};
use crate::types::TypeInfo;
use crate::value::Value;

/// Everything [`Gguf::validate`] found, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The findings, errors and warnings, in file order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The findings that are errors.
    pub fn errors(&self) -> impl Iterator<Item = &GgufError> {
        self.findings.iter().filter_map(Finding::as_error)
    }

    /// The findings that are warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &GgufWarning> {
        self.findings.iter().filter_map(|f| match f {
            Finding::Warning(w) => Some(w),
            Finding::Error(_) => None,
        })
    }

    /// Whether no finding is an error.
    pub fn is_valid(&self) -> bool {
        self.errors().next().is_none()
    }

    /// The first error, if any.
    pub fn first_error(&self) -> Option<&GgufError> {
        self.errors().next()
    }
}

impl<'a> Gguf<'a> {
    /// Parses and validates; the first structural error, or else the first validation error.
    pub fn load(bytes: &'a [u8]) -> Result<Self, GgufError> {
        let gguf = Self::parse(bytes)?;
        match gguf.validate().first_error() {
            Some(e) => Err(e.clone()),
            None => Ok(gguf),
        }
    }

    /// Checks the keys, the tensor infos and the layout of the data section.
    ///
    /// An I2_S tensor's byte size depends on its flavor, which this crate does not know: its
    /// offset, alignment and order are checked here, its size by the caller (`bitnet-models`
    /// detects the flavor from the bytes available to it, [`Gguf::tensor_span`]).
    pub fn validate(&self) -> Report {
        let mut findings: Vec<Finding> = Vec::new();
        if self.version() == 2 {
            findings.push(GgufWarning::OldVersion.into());
        }
        self.check_keys(&mut findings);
        self.check_tensor_infos(&mut findings);
        self.check_layout(&mut findings);
        Report { findings }
    }

    fn check_keys(&self, findings: &mut Vec<Finding>) {
        let mut seen: HashMap<&str, u64> = HashMap::new();
        for entry in self.metadata() {
            if entry.key.is_empty() {
                findings.push(
                    GgufError::EmptyKey {
                        offset: entry.offset,
                    }
                    .into(),
                );
                continue;
            }
            if let Some(&first_offset) = seen.get(entry.key) {
                findings.push(
                    GgufError::DuplicateKey {
                        key: entry.key.to_owned(),
                        offset: entry.offset,
                        first_offset,
                    }
                    .into(),
                );
            } else {
                seen.insert(entry.key, entry.offset);
            }
            self.check_nul(entry, findings);
        }
    }

    /// A NUL byte in the key, a string value or a string array element: a warning each.
    fn check_nul(&self, entry: &MetadataEntry<'a>, findings: &mut Vec<Finding>) {
        // `what` is named only for a string that holds a NUL: no allocation per clean element.
        let mut nul = |what: &dyn Fn() -> String, s: &str| {
            if let Some(i) = s.bytes().position(|b| b == 0) {
                findings.push(
                    GgufWarning::NulInString {
                        key: entry.key.to_owned(),
                        what: what(),
                        offset: self.offset_of(s.as_bytes()) + i as u64,
                    }
                    .into(),
                );
            }
        };
        nul(&|| "key".to_owned(), entry.key);
        match entry.value {
            Value::String(s) => nul(&|| "string value".to_owned(), s),
            Value::Array(a) => {
                for (i, s) in a.strings().into_iter().flatten().enumerate() {
                    nul(&|| format!("array element {i}"), s);
                }
            }
            _ => {}
        }
    }

    /// The absolute offset of `part`, a slice of the file's bytes.
    fn offset_of(&self, part: &[u8]) -> u64 {
        (part.as_ptr() as usize).wrapping_sub(self.bytes().as_ptr() as usize) as u64
    }

    fn check_tensor_infos(&self, findings: &mut Vec<Finding>) {
        let mut seen: HashMap<&str, ()> = HashMap::new();
        for t in self.tensors() {
            let name = || t.name.to_owned();
            let len = t.name.len() as u64;
            if len == 0 || len > MAX_TENSOR_NAME {
                findings.push(
                    GgufError::TensorNameLength {
                        name: name(),
                        len,
                        offset: t.info_offset,
                    }
                    .into(),
                );
            }
            if seen.insert(t.name, ()).is_some() {
                findings.push(
                    GgufError::DuplicateTensorName {
                        name: name(),
                        offset: t.info_offset,
                    }
                    .into(),
                );
            }
            if let Some((dim, &value)) = t
                .ne()
                .iter()
                .enumerate()
                .find(|(_, &d)| d > i64::MAX as u64)
            {
                findings.push(
                    GgufError::DimensionOutOfRange {
                        tensor: name(),
                        dim,
                        value,
                    }
                    .into(),
                );
                continue;
            }
            let Some(n) = t.n_elements() else {
                findings.push(
                    GgufError::ElementCountOverflow {
                        tensor: name(),
                        ne: t.ne().to_vec(),
                    }
                    .into(),
                );
                continue;
            };
            match t.type_info() {
                TypeInfo::Unknown => findings.push(
                    GgufError::UnknownType {
                        tensor: name(),
                        type_id: t.ggml_type,
                    }
                    .into(),
                ),
                TypeInfo::Removed { name: type_name } => findings.push(
                    GgufError::RemovedType {
                        tensor: name(),
                        type_id: t.ggml_type,
                        name: type_name,
                    }
                    .into(),
                ),
                TypeInfo::CallerSized { .. } => {}
                TypeInfo::Sized {
                    name: type_name,
                    block_elems,
                    block_bytes,
                } => {
                    if t.cols() % block_elems != 0 {
                        findings.push(
                            GgufError::NotBlockMultiple {
                                tensor: name(),
                                ne0: t.cols(),
                                block: block_elems,
                                type_name,
                            }
                            .into(),
                        );
                    } else if (n / block_elems)
                        .checked_mul(block_bytes)
                        .and_then(|b| pad(b, self.alignment()))
                        .is_none()
                    {
                        findings.push(
                            GgufError::ByteSizeOverflow {
                                tensor: name(),
                                ne: t.ne().to_vec(),
                            }
                            .into(),
                        );
                    }
                }
            }
        }
    }

    fn check_layout(&self, findings: &mut Vec<Finding>) {
        let align = self.alignment();
        let file_len = self.bytes().len() as u64;
        self.check_zero(
            self.tensor_info_end(),
            self.data_offset().min(file_len),
            findings,
        );
        // Where the next tensor must start, while the sizes so far are known.
        let mut expected: Option<u64> = Some(0);
        let mut previous: Option<u64> = None;
        let mut end_of_data = self.data_offset();
        for t in self.tensors() {
            let name = || t.name.to_owned();
            if t.offset % align != 0 {
                findings.push(
                    GgufError::MisalignedOffset {
                        tensor: name(),
                        tensor_offset: t.offset,
                        alignment: align,
                    }
                    .into(),
                );
            }
            if let Some(prev) = previous.filter(|&p| t.offset < p) {
                findings.push(
                    GgufError::TensorMisordered {
                        tensor: name(),
                        tensor_offset: t.offset,
                        previous: prev,
                    }
                    .into(),
                );
            } else if let Some(exp) = expected.filter(|&e| e != t.offset) {
                findings.push(
                    (if t.offset < exp {
                        GgufError::TensorOverlap {
                            tensor: name(),
                            tensor_offset: t.offset,
                            expected: exp,
                        }
                    } else {
                        GgufError::TensorGap {
                            tensor: name(),
                            tensor_offset: t.offset,
                            expected: exp,
                        }
                    })
                    .into(),
                );
            }
            previous = Some(t.offset);
            let padded = t.byte_size().and_then(|s| pad(s, align));
            let start = self.data_offset().checked_add(t.offset);
            let end = start.zip(padded).and_then(|(s, p)| s.checked_add(p));
            match (start, end) {
                (Some(start), Some(end)) if end <= file_len => {
                    let data_end = start + t.byte_size().unwrap_or(0);
                    self.check_zero(data_end, end, findings);
                    end_of_data = end;
                }
                // Caller-sized (I2_S) or invalid type: only the start is checked here.
                (Some(start), None) if start <= file_len && padded.is_none() => {
                    end_of_data = file_len;
                }
                _ => {
                    findings.push(
                        GgufError::DataOutOfBounds {
                            tensor: name(),
                            tensor_offset: t.offset,
                            size: padded.unwrap_or(0),
                            file_len,
                        }
                        .into(),
                    );
                    // A tensor cut by the end of the file: the bytes from its start are its
                    // data, not bytes after the last tensor.
                    if start.is_some_and(|s| s <= file_len) {
                        end_of_data = file_len;
                    }
                }
            }
            expected = padded.and_then(|p| t.offset.checked_add(p));
        }
        if !self.tensors().is_empty() && end_of_data < file_len {
            findings.push(
                GgufWarning::TrailingBytes {
                    offset: end_of_data,
                    len: file_len - end_of_data,
                }
                .into(),
            );
        }
    }

    /// Reports the first non-zero byte in `start..end` as a warning.
    fn check_zero(&self, start: u64, end: u64, findings: &mut Vec<Finding>) {
        let range = usize::try_from(start).ok().zip(usize::try_from(end).ok());
        let Some(bytes) = range.and_then(|(s, e)| self.bytes().get(s..e)) else {
            return;
        };
        if let Some(i) = bytes.iter().position(|&b| b != 0) {
            findings.push(
                GgufWarning::NonZeroPadding {
                    offset: start + i as u64,
                }
                .into(),
            );
        }
    }
}
