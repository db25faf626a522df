//! Model files on disk (feature `files`): an input mapped read-only ([`MappedFile`]) and an
//! output written atomically ([`write_atomically`]).
//!
//! This is the file handling that `bitnet-cli` and the Python package (`python/`) share, so both
//! refuse the same inputs with the same [`FileError`] messages. It owns opening, mapping and
//! writing files, and nothing about their contents: the bytes it maps go to
//! [`crate::Model::parse`], the bytes a caller writes come from [`crate::convert`] or a decoder.

mod output;

use std::fs::{File, Metadata};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;

pub use output::Output;

/// The bytes [`MappedFile::release_behind`] lets a reader be done with before releasing them:
/// 8 MiB.
pub const RELEASE_BYTES: usize = 8 << 20;

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

/// A file mapped read-only. An empty file is not mapped (some platforms refuse to map zero
/// bytes): its bytes are the empty slice, which the parser reports as a truncated magic.
#[derive(Debug)]
pub struct MappedFile {
    map: Option<Mmap>,
    /// The file, kept open for [`Output::copy_from`], whose writing thread copies from it.
    file: Arc<File>,
}

impl MappedFile {
    /// Opens and maps `path`: a regular file, never copied into memory.
    pub fn open(path: &Path) -> Result<Self, FileError> {
        let path_buf = || path.to_owned();
        let file = File::open(path).map_err(|source| FileError::Open {
            path: path_buf(),
            source,
        })?;
        let meta = file.metadata().map_err(|source| FileError::Metadata {
            path: path_buf(),
            source,
        })?;
        if meta.is_dir() {
            return Err(FileError::Directory { path: path_buf() });
        }
        if !meta.is_file() {
            return Err(FileError::NotRegular { path: path_buf() });
        }
        if meta.len() == 0 {
            return Ok(Self {
                map: None,
                file: Arc::new(file),
            });
        }
        // SAFETY: `Mmap::map` is unsafe because the mapped bytes can change under the `&[u8]`
        // handed out if another process writes to or truncates the file while it is mapped.
        // That is an accepted risk, as in other tools that map model files: the map is
        // read-only, the parser treats every byte as untrusted and checks every bound against
        // the slice length, so a concurrent write can only produce wrong findings; a concurrent
        // truncation can end the process with SIGBUS. Files must not be rewritten while they
        // are read.
        let map = unsafe { Mmap::map(&file) }.map_err(|source| FileError::Map {
            path: path_buf(),
            source,
        })?;
        #[cfg(unix)]
        {
            // A hint only: validation reads the file front to back.
            let _ = map.advise(memmap2::Advice::Sequential);
        }
        Ok(Self {
            map: Some(map),
            file: Arc::new(file),
        })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// For a file read front to back: `part` (a slice of [`MappedFile::bytes`]) is done with,
    /// and so is everything before it. Once [`RELEASE_BYTES`] or more are done with past
    /// `*released` (an offset, 0 at first), they are released ([`MappedFile::release`]) up to
    /// `part`'s end, and `*released` moves there: a few calls of `release` for a whole file,
    /// each costing every processor running a thread of the process an interruption (to
    /// forget the pages' addresses), rather than one per tensor.
    pub fn release_behind(&self, part: &[u8], released: &mut usize) {
        let bytes = self.bytes();
        let Some(start) = offset_within(bytes.as_ptr() as usize, bytes.len(), part) else {
            return;
        };
        let end = start + part.len();
        if end.saturating_sub(*released) >= RELEASE_BYTES {
            self.release(&bytes[*released..end]);
            *released = end;
        }
    }

    /// Tells the system `part` (a slice of [`MappedFile::bytes`]) is not needed for now: its
    /// pages leave this process's resident set. They stay in the page cache and read the same
    /// if read again, so a pass over a file keeps its resident set to the part it is working
    /// on. A hint: nothing happens off Unix, for a slice of other memory, or if the system
    /// declines.
    pub fn release(&self, part: &[u8]) {
        #[cfg(not(unix))]
        let _ = part;
        #[cfg(unix)]
        if let Some(map) = &self.map {
            let Some(offset) = offset_within(map.as_ptr() as usize, map.len(), part) else {
                return;
            };
            if part.is_empty() {
                return;
            }
            // SAFETY: the map is of a file, shared and read-only. MADV_DONTNEED drops this
            // process's page-table entries for the range and nothing else: a later read faults
            // the same page-cache pages back in, so every slice of the map stays valid and holds
            // the same bytes (under the condition `open` states: the file is not rewritten
            // while it is read).
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, part.len())
            };
        }
    }
}

/// Where `part` starts among the `len` bytes at address `start`, if it lies wholly inside
/// them (a slice of a map, say, given as its address and length).
fn offset_within(start: usize, len: usize, part: &[u8]) -> Option<usize> {
    let offset = (part.as_ptr() as usize).checked_sub(start)?;
    let end = offset.checked_add(part.len())?;
    (end <= len).then_some(offset)
}

/// Whether two files' metadata name the same file: the same device and inode on Unix.
#[cfg(unix)]
pub fn same_file(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// Whether two files' metadata name the same file. Without inodes, the same length and
/// modification time is the best available sign.
#[cfg(not(unix))]
pub fn same_file(a: &Metadata, b: &Metadata) -> bool {
    a.len() == b.len() && a.modified().ok() == b.modified().ok()
}

/// The directory a temporary file for `target` goes in (the target's own, so rename is atomic).
fn parent_dir(target: &Path) -> &Path {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `target` atomically: `write` fills a temporary file in the same directory (through
/// an [`Output`], whose thread writes while `write` goes on), which is flushed and synced, then
/// renamed over `target` (or, without `overwrite`, only if `target`
/// does not exist by then). On any failure, `write`'s own included (returned as it is), the
/// temporary file is removed and `target` is left as it was.
pub fn write_atomically<E: From<FileError>>(
    target: &Path,
    overwrite: bool,
    write: impl FnOnce(&mut Output<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let path = || target.to_owned();
    let mut builder = tempfile::Builder::new();
    builder.prefix(".bitnet-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The usual mode of a new file (the umask still applies), not tempfile's 0600.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let temp = builder
        .tempfile_in(parent_dir(target))
        .map_err(|source| FileError::TempFile {
            path: path(),
            source,
        })?;
    let file = temp.as_file();
    std::thread::scope(|scope| -> Result<(), E> {
        if overwrite {
            forget_cached(scope, target);
        }
        let mut w = Output::new(scope, file);
        write(&mut w)?;
        w.flush().map_err(|source| FileError::Write {
            path: path(),
            source,
        })?;
        Ok(())
    })?;
    // The blocks allocated past the end (`Output`'s preallocation, on Linux) released: a
    // truncation to the size the file has.
    #[cfg(target_os = "linux")]
    file.metadata()
        .and_then(|m| file.set_len(m.len()))
        .map_err(|source| FileError::Write {
            path: path(),
            source,
        })?;
    temp.as_file()
        .sync_all()
        .map_err(|source| FileError::Sync {
            path: path(),
            source,
        })?;
    // On failure `PersistError` hands the temporary file back; dropping it deletes it.
    let persisted = if overwrite {
        temp.persist(target)
    } else {
        temp.persist_noclobber(target)
    };
    persisted.map_err(|e| FileError::Rename {
        path: path(),
        source: e.error,
    })?;
    Ok(())
}

/// For a `target` about to be replaced: a thread in `scope` asks the system to drop the pages
/// of `target`'s present file from the page cache (Linux's `posix_fadvise(POSIX_FADV_DONTNEED)`;
/// its bytes stay on the disk, unchanged). Freeing a large file's pages is what makes the rename
/// over it slow (measured here: 8–12 ms for an 88 MB file of the 20–50 ms its rename took):
/// done here, it runs beside the writing instead of after it. Nothing happens where `target`
/// is not a regular file that can be opened, off Linux, or if the thread cannot be started.
#[cfg(target_os = "linux")]
fn forget_cached<'s>(scope: &'s std::thread::Scope<'s, '_>, target: &Path) {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    // Without blocking: a FIFO or device at the path is not opened for long.
    let old = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(target);
    let Ok(old) = old else { return };
    if !old.metadata().is_ok_and(|m| m.is_file()) {
        return;
    }
    let _ = std::thread::Builder::new()
        .name("forget".into())
        .spawn_scoped(scope, move || {
            // SAFETY: `posix_fadvise` takes a file descriptor, which `old` keeps open for the
            // call, and integers; it touches no memory of ours. Advice only: its result does
            // not matter.
            unsafe { libc::posix_fadvise(old.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        });
}

#[cfg(not(target_os = "linux"))]
fn forget_cached<'s>(_scope: &'s std::thread::Scope<'s, '_>, _target: &Path) {}

#[cfg(test)]
mod tests;
