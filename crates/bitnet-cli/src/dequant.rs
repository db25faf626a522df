//! `dequant FILE TENSOR [--format json|f32le] [--out PATH]`: one tensor's values, row-major,
//! without row padding.
//!
//! Values are produced and written a slice of rows at a time, so memory stays bounded whatever
//! the tensor's size; they are bit-identical to `bitnet_models::dequantize_tensor`. Every check
//! that can fail (tensor found, type supported, flavor, scale, data in bounds) runs before
//! anything is written. With `--out`, output goes to a temporary file in the target's
//! directory, which is renamed over the target only when complete; on any error the temporary
//! file is removed and the target is left as it was.
//!
//! Ternary data is scanned first: reserved codes (decoded as 0.0), non-finite block scales and
//! bad padding are warnings on stderr, and errors (exit 1, nothing written) under
//! `BITNET_STRICT_MODE`.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use bitnet_gguf::{ggml_type, Gguf, GgufError};
use bitnet_models::{qk256_scale, scan, ternary_format, Kernel, ModelError, TernaryFormat};
use half::f16;
use serde_json::json;

use crate::env::Env;
use crate::input::Input;
use crate::progress::Progress;
use crate::{stderr_line, Failure, OrExit, EXIT_INVALID, EXIT_USAGE};

/// Values decoded per step: 1 Mi values (4 MiB of `f32`).
const CHUNK_VALUES: usize = 1 << 20;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// `{"name", "type_name", "ne", "values": [...]}`.
    Json,
    /// Raw little-endian f32, 4 bytes per value.
    F32le,
}

/// Arguments of `dequant`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The GGUF file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The tensor's name.
    #[arg(value_name = "TENSOR")]
    tensor: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Write to this file (atomically) instead of stdout.
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
}

/// Where the values come from.
#[derive(Debug, Clone, Copy)]
enum Source<'a> {
    Ternary {
        format: TernaryFormat,
        data: &'a [u8],
        rows: usize,
        cols: usize,
        scale: f32,
    },
    F32(&'a [u8]),
    F16(&'a [u8]),
}

impl Source<'_> {
    fn len(&self) -> u64 {
        match *self {
            Source::Ternary { rows, cols, .. } => rows as u64 * cols as u64,
            Source::F32(d) => d.len() as u64 / 4,
            Source::F16(d) => d.len() as u64 / 2,
        }
    }

    /// Calls `emit` with consecutive slices of the values, in order.
    fn for_each_chunk(
        &self,
        kernel: Kernel,
        mut emit: impl FnMut(&[f32]) -> io::Result<()>,
    ) -> anyhow::Result<()> {
        let mut buf = Vec::new();
        match *self {
            Source::Ternary {
                format,
                data,
                rows,
                cols,
                scale,
            } => {
                if rows == 0 || cols == 0 {
                    return Ok(());
                }
                // Without row padding the blocks are one contiguous stream, so the tensor can be
                // decoded as one-block rows: chunks stay small even when a single row is huge.
                // Only a padded row must be decoded whole.
                let block = format.block_elems();
                let (rows, cols) = if cols % block == 0 {
                    (rows * (cols / block), block)
                } else {
                    (rows, cols)
                };
                let row_bytes = data.len() / rows;
                let chunk_rows = (CHUNK_VALUES / cols).max(1);
                for rows_data in data.chunks(chunk_rows * row_bytes) {
                    let n = rows_data.len() / row_bytes;
                    buf.resize(n * cols, 0.0);
                    kernel.dequantize(format, rows_data, n, cols, scale, &mut buf)?;
                    emit(&buf)?;
                }
            }
            Source::F32(data) => {
                for chunk in data.chunks(CHUNK_VALUES * 4) {
                    buf.clear();
                    buf.extend(
                        chunk
                            .chunks_exact(4)
                            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                    );
                    emit(&buf)?;
                }
            }
            Source::F16(data) => {
                for chunk in data.chunks(CHUNK_VALUES * 2) {
                    buf.clear();
                    buf.extend(
                        chunk
                            .chunks_exact(2)
                            .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()),
                    );
                    emit(&buf)?;
                }
            }
        }
        Ok(())
    }
}

/// A library error as one line naming the file and the code.
fn model_error(path: &str, e: &ModelError) -> anyhow::Error {
    anyhow!("{path}: {e} [{}]", e.code())
}

/// Finds the tensor and checks everything needed to decode it.
fn source<'a>(gguf: &Gguf<'a>, path: &str, name: &str) -> Result<Source<'a>, Failure> {
    let Some((index, t)) = gguf.tensor(name) else {
        let names: Vec<String> = gguf
            .tensors()
            .iter()
            .take(8)
            .map(|t| format!("{:?}", t.name))
            .collect();
        let more = if gguf.tensors().len() > names.len() {
            ", …"
        } else {
            ""
        };
        return Err(Failure::new(
            EXIT_USAGE,
            anyhow!(
                "{path}: no tensor named {name:?} (the file has {} tensor(s): {}{more})",
                gguf.tensors().len(),
                names.join(", ")
            ),
        ));
    };
    let invalid = |e: ModelError| Failure::new(EXIT_INVALID, model_error(path, &e));
    if let Some(format) = ternary_format(gguf, index).map_err(invalid)? {
        let scale = match format {
            TernaryFormat::Qk256 => qk256_scale(gguf, index).map_err(invalid)?,
            _ => 1.0,
        };
        let overflow = || {
            invalid(ModelError::Gguf(GgufError::ByteSizeOverflow {
                tensor: t.name.to_owned(),
                ne: t.ne().to_vec(),
            }))
        };
        let rows = t.rows().ok_or_else(overflow)?;
        let cols = t.cols();
        let size = format.tensor_bytes(rows, cols).ok_or_else(overflow)?;
        let data = gguf
            .tensor_bytes(index, size)
            .map_err(|e| invalid(e.into()))?;
        let rows = usize::try_from(rows).map_err(|_| overflow())?;
        let cols = usize::try_from(cols).map_err(|_| overflow())?;
        return Ok(Source::Ternary {
            format,
            data,
            rows,
            cols,
            scale,
        });
    }
    let data = |gguf: &Gguf<'a>| gguf.tensor_data(index).map_err(|e| invalid(e.into()));
    match t.ggml_type {
        ggml_type::F32 => Ok(Source::F32(data(gguf)?)),
        ggml_type::F16 => Ok(Source::F16(data(gguf)?)),
        _ => Err(Failure::new(
            EXIT_USAGE,
            model_error(
                path,
                &ModelError::Unsupported {
                    tensor: t.name.to_owned(),
                    type_name: t.type_info().name(),
                },
            ),
        )),
    }
}

/// Scans ternary data; returns the warnings to show.
fn scan_warnings(name: &str, source: &Source<'_>) -> anyhow::Result<Vec<String>> {
    let Source::Ternary {
        format,
        data,
        rows,
        cols,
        ..
    } = *source
    else {
        return Ok(Vec::new());
    };
    let r = scan(format, data, rows, cols)?;
    let mut warnings = Vec::new();
    if r.reserved_codes > 0 {
        warnings.push(format!(
            "tensor {name:?}: {} reserved code(s) 3, decoded as 0.0 [reserved-code]",
            r.reserved_codes
        ));
    }
    if r.non_finite_scales > 0 {
        warnings.push(format!(
            "tensor {name:?}: {} block scale(s) not finite [block-scale-not-finite]",
            r.non_finite_scales
        ));
    }
    if r.bad_padding_codes > 0 {
        warnings.push(format!(
            "tensor {name:?}: {} padding code(s) are not 1 (zero), ignored [bad-padding]",
            r.bad_padding_codes
        ));
    }
    Ok(warnings)
}

/// Writes the values in `format`.
fn write_values(
    out: &mut dyn Write,
    gguf: &Gguf<'_>,
    name: &str,
    source: &Source<'_>,
    format: Format,
    kernel: Kernel,
    progress: &Progress,
) -> anyhow::Result<()> {
    match format {
        Format::F32le => source.for_each_chunk(kernel, |values| {
            let mut bytes = Vec::with_capacity(values.len() * 4);
            for v in values {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            progress.inc(bytes.len() as u64);
            out.write_all(&bytes)
        }),
        Format::Json => {
            let (_, t) = gguf.tensor(name).context("tensor vanished")?;
            let head = json!({
                "name": t.name,
                "type_name": t.type_info().name(),
                "ne": t.ne(),
            })
            .to_string();
            // The header object without its closing brace, then the values streamed.
            let head = head.strip_suffix('}').unwrap_or(&head);
            write!(out, "{head},\"values\":[")?;
            let mut first = true;
            source.for_each_chunk(kernel, |values| {
                for &v in values {
                    if !first {
                        out.write_all(b",")?;
                    }
                    first = false;
                    // serde_json prints the shortest decimal that reads back as this f32, and
                    // `null` for NaN and infinities (JSON has neither).
                    serde_json::to_writer(&mut *out, &v).map_err(io::Error::from)?;
                }
                progress.inc(values.len() as u64 * 4);
                Ok(())
            })?;
            writeln!(out, "]}}")?;
            Ok(())
        }
    }
}

/// The directory a temporary file for `target` goes in (the target's own, so rename is atomic).
fn parent_dir(target: &Path) -> &Path {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `target` atomically: a temporary file in the same directory, renamed when complete.
fn write_atomically(
    target: &Path,
    write: impl FnOnce(&mut BufWriter<&std::fs::File>) -> anyhow::Result<()>,
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
        let mut w = BufWriter::new(temp.as_file());
        write(&mut w).with_context(|| format!("{shown}: cannot write"))?;
        w.flush()
            .with_context(|| format!("{shown}: cannot write"))?;
    }
    temp.as_file()
        .sync_all()
        .with_context(|| format!("{shown}: cannot sync"))?;
    // On failure `PersistError` hands the temporary file back; dropping it deletes it.
    temp.persist(target)
        .map_err(|e| e.error)
        .with_context(|| format!("{shown}: cannot rename the temporary file into place"))?;
    Ok(())
}

/// Runs `dequant`.
pub(crate) fn run(args: &Args, env: &Env) -> Result<u8, Failure> {
    let input = Input::open(&args.file).or_usage()?;
    let path = input.path().display().to_string();
    let gguf = Gguf::parse(input.bytes())
        .map_err(|e| model_error(&path, &e.into()))
        .or_invalid()?;
    let source = source(&gguf, &path, &args.tensor)?;
    let warnings = scan_warnings(&args.tensor, &source)
        .map_err(|e| anyhow!("{path}: {e:#}"))
        .or_invalid()?;
    for w in &warnings {
        stderr_line(&format!("warning: {path}: {w}"));
    }
    if env.strict && !warnings.is_empty() {
        return Err(Failure::new(
            EXIT_INVALID,
            anyhow!(
                "{path}: {} warning(s) for tensor {:?} under {}; nothing written",
                warnings.len(),
                args.tensor,
                crate::env::STRICT_ENV
            ),
        ));
    }

    let progress = Progress::new(true, source.len() * 4, "dequantizing");
    progress.set_message(format!("{:?}", args.tensor));
    let write = |w: &mut dyn Write| {
        write_values(
            w,
            &gguf,
            &args.tensor,
            &source,
            args.format,
            env.kernel,
            &progress,
        )
    };
    match &args.out {
        Some(target) => write_atomically(target, |w| write(w)).or_usage()?,
        None => {
            let mut w = BufWriter::new(io::stdout().lock());
            write(&mut w)
                .and_then(|()| Ok(w.flush()?))
                .context("cannot write to stdout")
                .or_usage()?;
        }
    }
    Ok(0)
}
