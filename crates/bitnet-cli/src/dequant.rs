//! `dequant FILE TENSOR [--format json|f32le] [--out PATH]`: one tensor's values, row-major,
//! without row padding.
//!
//! Values are produced and written a slice of rows at a time (`bitnet_models::Values`), so memory
//! stays bounded whatever the tensor's size; they are bit-identical to `Model::decode`. Every check
//! that can fail (tensor found, type supported, flavor, scale, data in bounds) runs before
//! anything is written. With `--out`, output goes to a temporary file in the target's
//! directory, which is renamed over the target only when complete; on any error the temporary
//! file is removed and the target is left as it was.
//!
//! The file is validated first (`Model::check_for_decode`): a finding about this tensor's span,
//! type, flavor or scale refuses it (exit 1, nothing written); every other finding — errors
//! elsewhere in the file, warnings, and reserved codes (decoded as 0.0), non-finite block scales
//! or bad padding in this tensor — is a warning on stderr, and an error (exit 1, nothing written)
//! under `BITNET_STRICT_MODE`.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::anyhow;
use bitnet_gguf::{Severity, TensorInfo};
use bitnet_models::{DecodeError, Kernel, Model, ModelError, Values};
use serde_json::json;

use crate::env::Env;
use crate::input::Input;
use crate::output::emit;
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

/// A library error as one line naming the file and the code.
pub(crate) fn model_error(path: &str, e: &ModelError) -> anyhow::Error {
    anyhow!("{path}: {e} [{}]", e.code())
}

/// Finds the tensor and checks everything needed to decode it: a name the file lacks and a type
/// `dequant` does not decode are usage errors (exit 2), a file that breaks a rule the decoding
/// needs is invalid (exit 1).
fn values<'a>(
    model: &Model<'a>,
    path: &str,
    name: &str,
) -> Result<(TensorInfo<'a>, Values<'a>), Failure> {
    let decode_error = |e: DecodeError| match e {
        DecodeError::NoSuchTensor { .. } => Failure::new(EXIT_USAGE, anyhow!("{path}: {e}")),
        DecodeError::Invalid(e) => Failure::new(EXIT_INVALID, model_error(path, &e)),
        other => Failure::new(EXIT_USAGE, anyhow!("{path}: {other} [{}]", other.code())),
    };
    let index = model.index_of(name).map_err(decode_error)?;
    let values = model.values(index).map_err(decode_error)?;
    Ok((model.gguf().tensors()[index], values))
}

/// Writes the values in `format`.
fn write_values(
    out: &mut dyn Write,
    info: &TensorInfo<'_>,
    values: &Values<'_>,
    format: Format,
    kernel: Kernel,
    progress: &Progress,
) -> anyhow::Result<()> {
    match format {
        Format::F32le => values.for_each_chunk(kernel, CHUNK_VALUES, |values| {
            let mut bytes = Vec::with_capacity(values.len() * 4);
            for v in values {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            progress.inc(bytes.len() as u64);
            Ok::<(), anyhow::Error>(out.write_all(&bytes)?)
        }),
        Format::Json => {
            let head = json!({
                "name": info.name,
                "type_name": info.type_info().name(),
                "ne": info.ne(),
            })
            .to_string();
            // The header object without its closing brace, then the values streamed.
            let head = head.strip_suffix('}').unwrap_or(&head);
            write!(out, "{head},\"values\":[")?;
            let mut first = true;
            values.for_each_chunk(kernel, CHUNK_VALUES, |values| {
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
                Ok::<(), anyhow::Error>(())
            })?;
            writeln!(out, "]}}")?;
            Ok(())
        }
    }
}

/// Validates the whole file before tensor `name` is decoded: a finding about its span, type,
/// flavor or scale refuses it (exit 1, every such finding printed); any other finding but infos
/// is printed as a warning, and their count returned. A name the file lacks passes: the caller's
/// lookup reports it.
pub(crate) fn check_for_decode(
    model: &Model<'_>,
    path: &str,
    name: &str,
) -> Result<usize, Failure> {
    let Ok(index) = model.index_of(name) else {
        return Ok(0);
    };
    let (refusing, others) = model.check_for_decode(index);
    if let Some((last, rest)) = refusing.split_last() {
        for e in rest {
            stderr_line(&format!("error: {}", model_error(path, e)));
        }
        return Err(Failure::new(EXIT_INVALID, model_error(path, last)));
    }
    let warnings: Vec<_> = others
        .iter()
        .filter(|f| f.severity() != Severity::Info)
        .collect();
    for w in &warnings {
        stderr_line(&format!("warning: {path}: {w} [{}]", w.code()));
    }
    Ok(warnings.len())
}

/// Under `BITNET_STRICT_MODE`, `warnings` about the file refuse tensor `name` (exit 1).
pub(crate) fn refuse_warnings(
    env: &Env,
    path: &str,
    warnings: usize,
    name: &str,
) -> Result<(), Failure> {
    if env.strict && warnings > 0 {
        return Err(Failure::new(
            EXIT_INVALID,
            anyhow!(
                "{path}: {warnings} warning(s) for tensor {name:?} under {}; nothing written",
                crate::env::STRICT_ENV
            ),
        ));
    }
    Ok(())
}

/// Runs `dequant`.
pub(crate) fn run(args: &Args, env: &Env) -> Result<u8, Failure> {
    let input = Input::open(&args.file).or_usage()?;
    let path = input.path().display().to_string();
    let model = input.model()?;
    let warnings = check_for_decode(&model, &path, &args.tensor)?;
    let (info, values) = values(&model, &path, &args.tensor)?;
    refuse_warnings(env, &path, warnings, &args.tensor)?;

    let progress = Progress::new(true, values.len() as u64 * 4, "dequantizing");
    progress.set_message(format!("{:?}", args.tensor));
    let write =
        |w: &mut dyn Write| write_values(w, &info, &values, args.format, env.kernel, &progress);
    emit(args.out.as_deref(), write)?;
    Ok(0)
}
