//! Opening an input file: a read-only memory map, never a copy of the whole file.
//!
//! Errors here are I/O errors (exit 2) and name the path: missing, unreadable, a directory, not
//! a regular file. An empty file is not an I/O error: it maps to an empty slice, which the
//! parser reports as a truncated magic (exit 1), because some platforms refuse to map zero bytes.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use memmap2::Mmap;

/// An opened input file.
#[derive(Debug)]
pub(crate) struct Input {
    path: PathBuf,
    map: Option<Mmap>,
}

impl Input {
    /// Opens and maps `path`.
    pub(crate) fn open(path: &Path) -> anyhow::Result<Self> {
        let shown = path.display();
        let file = File::open(path).with_context(|| format!("{shown}: cannot open"))?;
        let meta = file
            .metadata()
            .with_context(|| format!("{shown}: cannot read metadata"))?;
        if meta.is_dir() {
            bail!("{shown}: is a directory, not a GGUF file");
        }
        if !meta.is_file() {
            bail!("{shown}: not a regular file");
        }
        if meta.len() == 0 {
            return Ok(Self {
                path: path.to_owned(),
                map: None,
            });
        }
        // SAFETY: `Mmap::map` is unsafe because the mapped bytes can change under the `&[u8]`
        // this program hands out if another process writes to or truncates the file while it
        // is mapped. That is an accepted risk, as in other tools that map model files: the map
        // is read-only, the parser treats every byte as untrusted and checks every bound
        // against the slice length, so a concurrent write can only produce wrong findings;
        // a concurrent truncation can end the process with SIGBUS. Files must not be rewritten
        // while they are being checked.
        let map = unsafe { Mmap::map(&file) }.with_context(|| format!("{shown}: cannot map"))?;
        #[cfg(unix)]
        {
            // A hint only: validation reads the file front to back.
            let _ = map.advise(memmap2::Advice::Sequential);
        }
        Ok(Self {
            path: path.to_owned(),
            map: Some(map),
        })
    }

    /// The file's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// The path as given.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}
