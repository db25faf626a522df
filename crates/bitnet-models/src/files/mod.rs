//! Model files on disk (feature `files`): an input mapped read-only ([`MappedFile`]) and an
//! output written atomically ([`write_atomically`]).
//!
//! This is the file handling that `bitnet-cli` and the Python package (`python/`) share, so both
//! refuse the same inputs with the same [`FileError`] messages. It owns opening, mapping and
//! writing files, and nothing about their contents: the bytes it maps go to
//! [`crate::Model::parse`], the bytes a caller writes come from [`crate::convert`] or a decoder.

mod error;
mod input;
mod output;

use std::fs::Metadata;
use std::io::Write;
use std::path::Path;

pub use error::FileError;
pub use input::{MappedFile, RELEASE_BYTES};
pub use output::Output;

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
