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
            return Ok(Self { map: None });
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
        Ok(Self { map: Some(map) })
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
        let Some(end) = (part.as_ptr() as usize)
            .checked_sub(bytes.as_ptr() as usize)
            .and_then(|start| start.checked_add(part.len()))
            .filter(|&end| end <= bytes.len())
        else {
            return;
        };
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
        #[cfg(unix)]
        if let Some(map) = &self.map {
            let Some(offset) = (part.as_ptr() as usize).checked_sub(map.as_ptr() as usize) else {
                return;
            };
            if part.is_empty()
                || offset
                    .checked_add(part.len())
                    .is_none_or(|end| end > map.len())
            {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The temporary files left in `dir` (none should be, whatever happened).
    fn temporaries(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn maps_a_file_and_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        std::fs::write(&path, b"GGUF\x03").unwrap();
        assert_eq!(MappedFile::open(&path).unwrap().bytes(), b"GGUF\x03");
        std::fs::write(&path, b"").unwrap();
        assert_eq!(MappedFile::open(&path).unwrap().bytes(), b"");
    }

    /// The resident kilobytes of the mapping that starts at `start`, from /proc/self/smaps.
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    fn resident_kib(start: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let head = format!("{start:x}-");
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&head));
        assert!(lines.next().is_some(), "no mapping at {head}");
        let rss = lines.find(|l| l.starts_with("Rss:")).unwrap();
        rss.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[test]
    fn release_drops_pages_from_the_resident_set_and_keeps_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        let data: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = MappedFile::open(&path).unwrap();
        let start = file.bytes().as_ptr() as usize;
        assert!(file.bytes() == &data[..]);
        // Read in full: all 8 MiB resident.
        assert!(resident_kib(start) >= 8 << 10, "{}", resident_kib(start));
        // The second half released: only the first half stays.
        file.release(&file.bytes()[4 << 20..]);
        let half = resident_kib(start);
        assert!(half <= 4 << 10, "{half}");
        // Other memory, an empty slice: nothing happens.
        file.release(&data);
        file.release(&[]);
        assert_eq!(resident_kib(start), half);
        // The bytes read the same.
        assert!(file.bytes() == &data[..]);
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[test]
    fn release_behind_releases_what_was_read_once_there_is_enough_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        let mib = 1 << 20;
        let data: Vec<u8> = (0..24 * mib as u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = MappedFile::open(&path).unwrap();
        let start = file.bytes().as_ptr() as usize;
        assert!(file.bytes() == &data[..]);
        let full = resident_kib(start);
        assert!(full >= 24 << 10, "{full}");
        let mut released = 0;
        // 3 MiB and 6 MiB done with: under 8 MiB, nothing released.
        for part in [0..3 * mib, 3 * mib..6 * mib] {
            file.release_behind(&file.bytes()[part], &mut released);
            assert_eq!(released, 0);
            assert_eq!(resident_kib(start), full);
        }
        // 9 MiB: all of it released, from the start.
        file.release_behind(&file.bytes()[6 * mib..9 * mib], &mut released);
        assert_eq!(released, 9 * mib);
        let rest = resident_kib(start);
        assert!((14 << 10..=15 << 10).contains(&rest), "{rest}");
        // Another 8 MiB exactly: released too (the bound is inclusive).
        file.release_behind(&file.bytes()[9 * mib..17 * mib], &mut released);
        assert_eq!(released, 17 * mib);
        assert!(resident_kib(start) <= 7 << 10, "{}", resident_kib(start));
        // Other memory: nothing happens.
        file.release_behind(&data[20 * mib..], &mut released);
        assert_eq!(released, 17 * mib);
        assert!(file.bytes() == &data[..]);
    }

    #[test]
    fn refuses_a_missing_path_and_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.gguf");
        let e = MappedFile::open(&missing).unwrap_err();
        assert!(matches!(&e, FileError::Open { path, source }
            if path == &missing && source.kind() == io::ErrorKind::NotFound));
        assert_eq!(e.to_string(), format!("{}: cannot open", missing.display()));
        let e = MappedFile::open(dir.path()).unwrap_err();
        assert!(matches!(&e, FileError::Directory { path } if path == dir.path()));
        assert_eq!(
            e.to_string(),
            format!("{}: is a directory, not a GGUF file", dir.path().display())
        );
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_device() {
        let e = MappedFile::open(Path::new("/dev/null")).unwrap_err();
        assert!(matches!(e, FileError::NotRegular { .. }), "{e:?}");
    }

    #[test]
    fn writes_replaces_and_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        write_atomically::<FileError>(&target, false, |w| {
            w.write_all(b"one").map_err(|source| FileError::Write {
                path: target.clone(),
                source,
            })
        })
        .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"one");

        // Without `overwrite` an existing target is kept.
        let e = write_atomically::<FileError>(&target, false, |_| Ok(())).unwrap_err();
        assert!(matches!(e, FileError::Rename { .. }), "{e:?}");
        assert_eq!(std::fs::read(&target).unwrap(), b"one");

        // A failing writer leaves the target as it was; its error comes back as it is.
        #[derive(Debug, PartialEq)]
        enum Mine {
            Refused,
            File(String),
        }
        impl From<FileError> for Mine {
            fn from(e: FileError) -> Self {
                Mine::File(e.to_string())
            }
        }
        let e = write_atomically(&target, true, |w| {
            w.write_all(b"half").unwrap();
            Err(Mine::Refused)
        })
        .unwrap_err();
        assert_eq!(e, Mine::Refused);
        assert_eq!(std::fs::read(&target).unwrap(), b"one");

        write_atomically::<FileError>(&target, true, |w| {
            w.write_all(b"two").unwrap();
            Ok(())
        })
        .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"two");
        assert_eq!(temporaries(dir.path()), Vec::<String>::new());
    }

    /// The blocks allocated ahead of the writes are released: the file holds what its size
    /// needs, not the 16 MiB allocated at a time.
    #[cfg(target_os = "linux")]
    #[test]
    fn holds_no_blocks_past_its_end() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        let data = vec![0x5a; 3 * output::BUFFER + 5];
        write_atomically::<FileError>(&target, false, |w| {
            w.write_all(&data).map_err(|source| FileError::Write {
                path: target.clone(),
                source,
            })
        })
        .unwrap();
        let meta = std::fs::metadata(&target).unwrap();
        assert_eq!(meta.len(), data.len() as u64);
        let held = meta.blocks() * 512;
        assert!(
            held < data.len() as u64 + output::PREALLOCATE / 4,
            "{held} bytes held for {}",
            data.len()
        );
        assert_eq!(std::fs::read(&target).unwrap(), data);
    }

    #[test]
    fn a_missing_directory_is_a_temp_file_error() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("no/such/dir/out.bin");
        let e = write_atomically::<FileError>(&target, true, |_| Ok(())).unwrap_err();
        assert!(matches!(&e, FileError::TempFile { path, .. } if path == &target));
        assert_eq!(
            e.to_string(),
            format!(
                "{}: cannot create a temporary file next to it",
                target.display()
            )
        );
    }

    #[test]
    fn a_bare_name_is_written_in_the_current_directory() {
        assert_eq!(parent_dir(Path::new("out.gguf")), Path::new("."));
        assert_eq!(parent_dir(Path::new("d/out.gguf")), Path::new("d"));
        assert_eq!(parent_dir(Path::new("/out.gguf")), Path::new("/"));
    }

    #[test]
    fn same_file_by_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"x").unwrap();
        std::fs::write(&b, b"yy").unwrap();
        let meta = |p: &Path| std::fs::metadata(p).unwrap();
        assert!(same_file(&meta(&a), &meta(&a)));
        assert!(!same_file(&meta(&a), &meta(&b)));
    }
}
