//! Writing an output file without ever leaving a partial one: a temporary file in the
//! target's directory, synced, then renamed into place (`bitnet_models::files`).

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use anyhow::Context;

/// Writes `target` atomically ([`bitnet_models::files::write_atomically`]); an error of `write`
/// is reported as `TARGET: cannot write: ...`. On any failure the temporary file is removed and
/// `target` is left as it was.
pub(crate) fn write_atomically(
    target: &Path,
    overwrite: bool,
    write: impl FnOnce(&mut BufWriter<&File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    bitnet_models::files::write_atomically(target, overwrite, |w| {
        write(w).with_context(|| format!("{}: cannot write", target.display()))
    })
}
