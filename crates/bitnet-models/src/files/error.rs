//! [`FileError`]: why a file could not be opened, mapped or written.

use std::io;
use std::path::PathBuf;

/// Why a file could not be opened, mapped or written. Each message starts with the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file cannot be opened (missing, no permission).
    #[error("{}: cannot open", path.display())]
    Open {
        /// The path as given.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The file's metadata cannot be read.
    #[error("{}: cannot read metadata", path.display())]
    Metadata {
        /// The path as given.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The path names a directory.
    #[error("{}: is a directory, not a GGUF file", path.display())]
    Directory {
        /// The path as given.
        path: PathBuf,
    },
    /// The path names something other than a regular file (a device, a FIFO).
    #[error("{}: not a regular file", path.display())]
    NotRegular {
        /// The path as given.
        path: PathBuf,
    },
    /// The file cannot be mapped.
    #[error("{}: cannot map", path.display())]
    Map {
        /// The path as given.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// No temporary file can be created in the output's directory.
    #[error("{}: cannot create a temporary file next to it", path.display())]
    TempFile {
        /// The output's path.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// Writing the temporary file failed.
    #[error("{}: cannot write", path.display())]
    Write {
        /// The output's path.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// Syncing the temporary file failed.
    #[error("{}: cannot sync", path.display())]
    Sync {
        /// The output's path.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The temporary file cannot be renamed over the output (or, when not overwriting, the
    /// output appeared meanwhile).
    #[error("{}: cannot rename the temporary file into place", path.display())]
    Rename {
        /// The output's path.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
}
