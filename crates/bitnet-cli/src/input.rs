//! Opening an input file: a read-only memory map, never a copy of the whole file
//! (`bitnet_models::files::MappedFile`).
//!
//! Errors here are I/O errors (exit 2) and name the path: missing, unreadable, a directory, not
//! a regular file. An empty file is not an I/O error: it maps to an empty slice, which the
//! parser reports as a truncated magic (exit 1), because some platforms refuse to map zero bytes.

use std::path::{Path, PathBuf};

use bitnet_models::files::MappedFile;
#[cfg(feature = "full-cli")]
use bitnet_models::Model;

#[cfg(feature = "full-cli")]
use crate::{Failure, OrExit};

/// An opened input file.
#[derive(Debug)]
pub(crate) struct Input {
    path: PathBuf,
    file: MappedFile,
}

impl Input {
    /// Opens and maps `path`.
    pub(crate) fn open(path: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            path: path.to_owned(),
            file: MappedFile::open(path)?,
        })
    }

    /// The file's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.file.bytes()
    }

    /// `part` of the bytes is done with, and all before it: the system may drop them from the
    /// resident set, in pieces of 8 MiB or more ([`MappedFile::release_behind`]).
    #[cfg(feature = "full-cli")]
    pub(crate) fn release_behind(&self, part: &[u8], released: &mut usize) {
        self.file.release_behind(part, released);
    }

    /// The mapped file, for an output that copies from it ([`bitnet_models::files::Output::copy_from`]).
    #[cfg(feature = "full-cli")]
    pub(crate) fn mapped(&self) -> &MappedFile {
        &self.file
    }

    /// The file parsed as a model; a file that cannot be parsed is invalid (exit 1):
    /// `PATH: MESSAGE [CODE]`.
    #[cfg(feature = "full-cli")]
    pub(crate) fn model(&self) -> Result<Model<'_>, Failure> {
        Model::parse(self.bytes())
            .map_err(|e| {
                let message = format!("{}: {e}", self.path.display());
                anyhow::anyhow!(crate::report::coded(message, e.code()))
            })
            .or_invalid()
    }

    /// The path as given.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}
