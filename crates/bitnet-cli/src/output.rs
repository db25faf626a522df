//! Writing an output file without ever leaving a partial one: a temporary file in the
//! target's directory, synced, then renamed into place (`bitnet_models::files`).

use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use bitnet_models::files::Output;

use crate::{Failure, OrExit};

/// Writes `target` atomically ([`bitnet_models::files::write_atomically`]); an error of `write`
/// is reported as `TARGET: cannot write: ...`. On any failure the temporary file is removed and
/// `target` is left as it was.
pub(crate) fn write_atomically(
    target: &Path,
    overwrite: bool,
    write: impl FnOnce(&mut Output<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    bitnet_models::files::write_atomically(target, overwrite, |w| {
        write(w).with_context(|| format!("{}: cannot write", target.display()))
    })
}

/// Runs `write` on the command's output: `out` written atomically when given, else stdout
/// (flushed). Any failure is an I/O error (exit 2).
pub(crate) fn emit(
    out: Option<&Path>,
    write: impl Fn(&mut dyn Write) -> anyhow::Result<()>,
) -> Result<(), Failure> {
    match out {
        Some(target) => write_atomically(target, true, |w| write(w)).or_usage(),
        None => {
            let mut w = BufWriter::new(io::stdout().lock());
            write(&mut w)
                .and_then(|()| Ok(w.flush()?))
                .context("cannot write to stdout")
                .or_usage()
        }
    }
}
