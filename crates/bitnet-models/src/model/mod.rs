//! A parsed GGUF file read as a model: the rules that need both the container (`bitnet-gguf`)
//! and the ternary formats (docs/formats.md, docs/validation.md).
//!
//! [`Model`] wraps a [`Gguf`] and answers, per tensor: its I2_S flavor ([`Model::flavor`]), the
//! resolved ternary tensor with its scale and exact data ([`Model::ternary`]), its values
//! ([`Model::values`], [`Model::decode`]) and its findings ([`Model::check`]).
//!
//! This module must not parse bytes itself or guess: every I2_S size goes through
//! [`crate::detect_flavor`], and every failure is a typed [`ModelError`] or [`DecodeError`].
//!
//! - `tensor.rs`: resolving a ternary tensor (flavor, `.scale` sibling, data).
//! - `decode.rs`: the values of every type the crate decodes, whole or in bounded chunks.
//! - `check.rs`: every finding of a file.
//! - `keys.rs`: the `bitnet-b1.58` metadata rules.
//! - `error.rs`: [`ModelError`], [`DecodeError`].

mod check;
mod decode;
mod error;
mod keys;
mod tensor;

use std::collections::BTreeSet;

use bitnet_gguf::{ggml_type, Gguf, GgufError};

pub use decode::{Chunks, Values};
pub use error::{has_errors, DecodeError, ModelError};
pub use keys::{BITNET_ARCH, REQUIRED_KEYS};
pub use tensor::{scale_sibling_name, TernaryTensor};

use crate::detect::{detect_flavor, FlavorError};
use crate::format::{Flavor, TernaryFormat};

/// How many tensor names [`DecodeError::NoSuchTensor`] lists.
const NAMES_SHOWN: usize = 8;

/// A GGUF file read as a model: the container plus each I2_S tensor's flavor, decided once.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    gguf: Gguf<'a>,
    /// Per tensor: `None` for a tensor that is not I2_S, else its flavor or why it has none.
    flavors: Vec<Option<Result<Flavor, ModelError>>>,
    /// The tensors whose size fits several flavors and that the file decided, with the
    /// finding that says so ([`ModelError::FlavorFromFile`]).
    from_file: Vec<(usize, ModelError)>,
}

impl<'a> Model<'a> {
    /// Reads a parsed file as a model, deciding the flavor of every I2_S tensor: by its size,
    /// or, where its size fits several flavors, by the file — when the I2_S tensors whose size
    /// fits exactly one flavor all have the same one, and it is among the candidates.
    pub fn new(gguf: Gguf<'a>) -> Self {
        let mut flavors: Vec<_> = (0..gguf.tensors().len())
            .map(|index| {
                let t = &gguf.tensors()[index];
                (t.ggml_type == ggml_type::I2_S).then(|| detect(&gguf, index))
            })
            .collect();
        let decided: BTreeSet<Flavor> = flavors
            .iter()
            .filter_map(|slot| slot.as_ref()?.as_ref().ok().copied())
            .collect();
        let mut from_file = Vec::new();
        if let [file_flavor] = decided.into_iter().collect::<Vec<_>>()[..] {
            for (index, slot) in flavors.iter_mut().enumerate() {
                let Some(Err(ModelError::Flavor {
                    tensor,
                    offset,
                    source:
                        FlavorError::Ambiguous {
                            candidates,
                            available,
                        },
                })) = slot
                else {
                    continue;
                };
                if candidates.get(file_flavor).is_none() {
                    continue;
                }
                from_file.push((
                    index,
                    ModelError::FlavorFromFile {
                        tensor: std::mem::take(tensor),
                        offset: *offset,
                        available: *available,
                        candidates: *candidates,
                        flavor: file_flavor,
                    },
                ));
                *slot = Some(Ok(file_flavor));
            }
        }
        Self {
            gguf,
            flavors,
            from_file,
        }
    }

    /// Why tensor `index` has the flavor it has, when its size alone did not decide it.
    pub fn flavor_from_file(&self, index: usize) -> Option<&ModelError> {
        // Pushed in index order, so sorted.
        let at = self
            .from_file
            .binary_search_by_key(&index, |(i, _)| *i)
            .ok()?;
        Some(&self.from_file[at].1)
    }

    /// Parses `bytes` ([`Gguf::parse`]) and reads them as a model.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, GgufError> {
        Gguf::parse(bytes).map(Self::new)
    }

    /// The container.
    pub fn gguf(&self) -> &Gguf<'a> {
        &self.gguf
    }

    /// The index of the tensor named `name`.
    pub fn index_of(&self, name: &str) -> Result<usize, DecodeError> {
        match self.gguf.tensor(name) {
            Some((index, _)) => Ok(index),
            None => Err(DecodeError::NoSuchTensor {
                name: name.to_owned(),
                count: self.gguf.tensors().len(),
                names: self
                    .gguf
                    .tensors()
                    .iter()
                    .take(NAMES_SHOWN)
                    .map(|t| t.name.to_owned())
                    .collect(),
            }),
        }
    }

    /// The I2_S flavor of tensor `index`, decided by size (docs/formats.md); `None` for a tensor
    /// of another type or an index past the last tensor.
    pub fn flavor(&self, index: usize) -> Result<Option<Flavor>, ModelError> {
        match self.flavors.get(index) {
            Some(Some(result)) => result.clone().map(Some),
            _ => Ok(None),
        }
    }

    /// The ternary format of tensor `index`: I2_S by flavor, TQ2_0, TQ1_0, or `None` for other
    /// types.
    pub fn ternary_format(&self, index: usize) -> Result<Option<TernaryFormat>, ModelError> {
        Ok(match self.gguf.tensors().get(index).map(|t| t.ggml_type) {
            Some(ggml_type::I2_S) => self.flavor(index)?.map(TernaryFormat::from),
            Some(ggml_type::TQ2_0) => Some(TernaryFormat::Tq2_0),
            Some(ggml_type::TQ1_0) => Some(TernaryFormat::Tq1_0),
            _ => None,
        })
    }

    /// The byte size of tensor `index`: what its type and shape fix, or for I2_S what its
    /// flavor needs; `None` where that cannot be known.
    pub fn byte_size(&self, index: usize) -> Option<u64> {
        let t = self.gguf.tensors().get(index)?;
        match self.flavor(index) {
            Ok(Some(flavor)) => TernaryFormat::from(flavor).tensor_bytes(t.rows()?, t.cols()),
            Ok(None) => t.byte_size(),
            Err(_) => None,
        }
    }
}

/// Detects the flavor of I2_S tensor `index` from the bytes available to it.
fn detect(gguf: &Gguf<'_>, index: usize) -> Result<Flavor, ModelError> {
    let t = &gguf.tensors()[index];
    let rows = t.rows().ok_or_else(|| GgufError::ElementCountOverflow {
        tensor: t.name.to_owned(),
        ne: t.ne().to_vec(),
    })?;
    let available = gguf.tensor_span(index).len() as u64;
    let file_len = gguf.bytes().len() as u64;
    // A span cut by the end of the file (the next tensor, or this one, starts past it) that
    // is shorter than every flavor: the file was cut short inside this tensor, which says more
    // than "0 bytes available" fit no flavor.
    let start = gguf.tensor_start(index).unwrap_or(u64::MAX);
    let span_end = gguf.tensor_start(index + 1).unwrap_or(file_len);
    let smallest = crate::detect::flavor_sizes(rows, t.cols())
        .ok()
        .and_then(|sizes| sizes.iter().map(|(_, s)| s).min())
        .unwrap_or(0);
    let cut = span_end > file_len || start >= file_len;
    if available == 0 && cut && file_len.saturating_sub(start) < smallest {
        return Err(ModelError::Gguf(GgufError::DataOutOfBounds {
            tensor: t.name.to_owned(),
            tensor_offset: t.offset,
            size: bitnet_gguf::pad(smallest, gguf.alignment()).unwrap_or(smallest),
            file_len,
        }));
    }
    detect_flavor(rows, t.cols(), available, gguf.alignment()).map_err(|source| {
        ModelError::Flavor {
            tensor: t.name.to_owned(),
            offset: gguf.tensor_start(index).unwrap_or(u64::MAX),
            source,
        }
    })
}
