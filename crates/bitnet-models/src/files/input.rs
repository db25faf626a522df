//! [`MappedFile`]: an input mapped read-only, released behind a reader as it goes.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;

use super::error::FileError;

/// The bytes [`MappedFile::release_behind`] lets a reader be done with before releasing them:
/// 8 MiB.
pub const RELEASE_BYTES: usize = 8 << 20;

/// A file mapped read-only. An empty file is not mapped (some platforms refuse to map zero
/// bytes): its bytes are the empty slice, which the parser reports as a truncated magic.
#[derive(Debug)]
pub struct MappedFile {
    map: Option<Mmap>,
    /// The file, kept open for [`Output::copy_from`], whose writing thread copies from it.
    pub(super) file: Arc<File>,
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
pub(super) fn offset_within(start: usize, len: usize, part: &[u8]) -> Option<usize> {
    let offset = (part.as_ptr() as usize).checked_sub(start)?;
    let end = offset.checked_add(part.len())?;
    (end <= len).then_some(offset)
}
