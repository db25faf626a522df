//! Writing an output file without ever leaving a partial one: a temporary file in the
//! target's directory, synced, then renamed into place.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;

/// Bytes buffered before a write reaches the file.
const BUFFER: usize = 8 << 20;

/// The directory a temporary file for `target` goes in (the target's own, so rename is atomic).
fn parent_dir(target: &Path) -> &Path {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `target` atomically: a temporary file in the same directory, written, flushed and
/// synced, then renamed over `target` (or, without `overwrite`, only if `target` does not exist
/// by then). On any failure the temporary file is removed and `target` is left as it was.
pub(crate) fn write_atomically(
    target: &Path,
    overwrite: bool,
    write: impl FnOnce(&mut BufWriter<&File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let shown = target.display();
    let mut builder = tempfile::Builder::new();
    builder.prefix(".bitnet-cli-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The usual mode of a new file (the umask still applies), not tempfile's 0600.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let temp = builder
        .tempfile_in(parent_dir(target))
        .with_context(|| format!("{shown}: cannot create a temporary file next to it"))?;
    {
        let mut w = BufWriter::with_capacity(BUFFER, temp.as_file());
        write(&mut w).with_context(|| format!("{shown}: cannot write"))?;
        w.flush()
            .with_context(|| format!("{shown}: cannot write"))?;
    }
    temp.as_file()
        .sync_all()
        .with_context(|| format!("{shown}: cannot sync"))?;
    // On failure `PersistError` hands the temporary file back; dropping it deletes it.
    let persisted = if overwrite {
        temp.persist(target)
    } else {
        temp.persist_noclobber(target)
    };
    persisted
        .map_err(|e| e.error)
        .with_context(|| format!("{shown}: cannot rename the temporary file into place"))?;
    Ok(())
}
