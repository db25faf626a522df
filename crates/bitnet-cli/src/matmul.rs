//! `matmul FILE TENSOR --input X [--semantics ggml|bitnetcpp|exact] [--format json|f32le]
//! [--out PATH]`: `y = W · x` for one ternary tensor, as an engine computes it
//! (`bitnet_models::matmul`, docs/matmul.md).
//!
//! `X` is little-endian `f32`, one vector of `cols` values or a batch of them one after another
//! (`-` reads stdin); `y` is one vector of `rows` values per input vector. The file is validated
//! first, as for `dequant`; then every check that can fail (tensor, type, semantics, reserved
//! codes, input length, finite input) runs before anything is written.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use bitnet_models::format::TernaryFormat;
use bitnet_models::matmul::{MatmulError, Semantics, Weights};
use bitnet_models::DecodeError;
use serde_json::json;

use crate::dequant::{check_for_decode, model_error, refuse_warnings, Format};
use crate::env::Env;
use crate::input::Input;
use crate::output::emit;
use crate::{Failure, OrExit, EXIT_INVALID, EXIT_USAGE};

/// Arguments of `matmul`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The GGUF file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The ternary tensor's name (W, rows × cols).
    #[arg(value_name = "TENSOR")]
    tensor: String,
    /// The activations: little-endian f32, a multiple of cols values (`-` for stdin).
    #[arg(long, value_name = "X")]
    input: PathBuf,
    /// Whose arithmetic [default: ggml for TQ1_0/TQ2_0, bitnetcpp for bitnet.cpp's I2_S, exact
    /// for the other I2_S flavors].
    #[arg(long, value_parser = parse_semantics)]
    semantics: Option<Semantics>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Write to this file (atomically) instead of stdout.
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
}

fn parse_semantics(s: &str) -> Result<Semantics, String> {
    s.parse().map_err(|e: MatmulError| e.to_string())
}

/// The semantics of the engine that runs `format`; exact for the flavors no engine runs.
pub(crate) fn default_semantics(format: TernaryFormat) -> Semantics {
    match format {
        TernaryFormat::Tq2_0 | TernaryFormat::Tq1_0 => Semantics::Ggml,
        TernaryFormat::BitnetCpp => Semantics::BitnetCpp,
        TernaryFormat::Qk256 | TernaryFormat::BitNet32F16 => Semantics::Exact,
    }
}

/// The activations from `path` (`-`: stdin): whole `f32`s, or a usage error.
fn read_input(path: &Path) -> anyhow::Result<Vec<f32>> {
    let bytes = if path == Path::new("-") {
        let mut bytes = Vec::new();
        io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("cannot read the input from stdin")?;
        bytes
    } else {
        std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?
    };
    if !bytes.len().is_multiple_of(4) {
        return Err(anyhow!(
            "{}: {} bytes is not a whole number of f32 values (4 bytes each) [input-length]",
            path.display(),
            bytes.len()
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// A library error as one line naming the file and the code, with its exit status: reserved
/// codes make the file unusable (1); everything else is the caller's request (2).
fn matmul_error(path: &str, e: &MatmulError) -> Failure {
    let status = match e {
        MatmulError::ReservedCodes { .. } => EXIT_INVALID,
        _ => EXIT_USAGE,
    };
    Failure::new(status, anyhow!("{path}: {e} [{}]", e.code()))
}

/// Runs `matmul`.
pub(crate) fn run(args: &Args, env: &Env) -> Result<u8, Failure> {
    let input = Input::open(&args.file).or_usage()?;
    let path = input.path().display().to_string();
    let model = input.model()?;
    let warnings = check_for_decode(&model, &path, &args.tensor)?;
    let index = model
        .index_of(&args.tensor)
        .map_err(|e: DecodeError| anyhow!("{path}: {e}"))
        .or_usage()?;
    let info = model.gguf().tensors()[index];
    let tensor = model
        .ternary(index)
        .map_err(|e| Failure::new(EXIT_INVALID, model_error(&path, &e)))?
        .ok_or_else(|| {
            Failure::new(
                EXIT_USAGE,
                anyhow!(
                    "{path}: tensor {:?} has type {}; matmul multiplies ternary tensors (I2_S, \
                     TQ1_0, TQ2_0) [not-ternary]",
                    args.tensor,
                    info.type_info().name()
                ),
            )
        })?;
    refuse_warnings(env, &path, warnings, &args.tensor)?;
    let semantics = args
        .semantics
        .unwrap_or_else(|| default_semantics(tensor.format));
    let weights = Weights::new(&tensor, semantics).map_err(|e| matmul_error(&path, &e))?;
    let x = read_input(&args.input).or_usage()?;
    let vectors = x.len().checked_div(tensor.cols).unwrap_or(0);
    let mut y = vec![0.0f32; vectors * tensor.rows];
    weights
        .gemm(env.kernel, &x, &mut y)
        .map_err(|e| matmul_error(&path, &e))?;

    let write = |out: &mut dyn Write| -> anyhow::Result<()> {
        match args.format {
            Format::F32le => {
                let bytes: Vec<u8> = y.iter().flat_map(|v| v.to_le_bytes()).collect();
                out.write_all(&bytes)?;
            }
            Format::Json => {
                let doc = json!({
                    "name": info.name,
                    "type_name": info.type_info().name(),
                    "format": tensor.format.name(),
                    "ne": info.ne(),
                    "semantics": semantics.name(),
                    "vectors": vectors,
                    "values": y,
                });
                serde_json::to_writer(&mut *out, &doc)?;
                writeln!(out)?;
            }
        }
        Ok(())
    };
    emit(args.out.as_deref(), write)?;
    Ok(0)
}
