//! `bitnet-cli`: check, inspect, dequantize, convert and compare GGUF files with BitNet ternary
//! weights (docs/cli.md).
//!
//! - `compat-check FILE...` validates every container and ternary-format rule (and the required
//!   keys of `bitnet-b1.58` files) through `bitnet_models::Model::check`.
//! - `inspect FILE` lists the header, metadata and tensors, optionally with norm statistics and
//!   the architecture's norm gate (feature `full-cli`).
//! - `dequant FILE TENSOR` writes a tensor's values as JSON or raw little-endian `f32`
//!   (feature `full-cli`).
//! - `convert IN OUT --to FORMAT` re-encodes every ternary tensor, exactly or not at all
//!   (feature `full-cli`).
//! - `diff A B` compares metadata, tensors and decoded values (feature `full-cli`).
//!
//! This crate owns the command line: arguments, exit statuses, output formats, the environment
//! variables, memory-mapping the input and writing output atomically. It must not interpret
//! GGUF bytes itself; every rule lives in `bitnet-gguf` and `bitnet-models`.
//!
//! Exit statuses: 0 success; 1 a file is invalid (or, under strict mode, has warnings or fails
//! the gate); 2 a usage, I/O or environment error.

#![forbid(unsafe_code)]

mod compat;
#[cfg(feature = "full-cli")]
mod convert;
#[cfg(feature = "full-cli")]
mod dequant;
#[cfg(feature = "full-cli")]
mod diff;
mod env;
mod input;
#[cfg(feature = "full-cli")]
mod inspect;
#[cfg(feature = "full-cli")]
mod json;
#[cfg(feature = "full-cli")]
mod matmul;
#[cfg(feature = "full-cli")]
mod output;
mod progress;
mod report;
#[cfg(feature = "full-cli")]
mod stats;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status: a file is invalid.
pub(crate) const EXIT_INVALID: u8 = 1;
/// Exit status: usage, I/O or environment error.
pub(crate) const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "bitnet-cli",
    version,
    about = "Check, inspect, dequantize, convert and compare GGUF files with BitNet ternary (I2_S, TQ1_0, TQ2_0) weights",
    after_help = "Exit status: 0 success, 1 invalid file (or strict-mode failure), 2 usage or I/O error.\n\
                  Environment: BITNET_KERNEL=scalar|avx2|avx512|neon|simd128 forces a kernel;\n\
                  BITNET_STRICT_MODE=1|true|yes|on turns warnings and failed gates into errors."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate GGUF files: container, ternary formats, bitnet-b1.58 keys (docs/validation.md).
    CompatCheck(compat::Args),
    /// List the header, metadata and tensors of a GGUF file.
    #[cfg(feature = "full-cli")]
    Inspect(inspect::Args),
    /// Write the dequantized values of one tensor (F32, F16, I2_S, TQ1_0, TQ2_0).
    #[cfg(feature = "full-cli")]
    Dequant(dequant::Args),
    /// Convert every ternary tensor to another dialect, exactly or not at all (docs/convert.md).
    #[cfg(feature = "full-cli")]
    Convert(convert::Args),
    /// Compare two files: metadata, tensors, decoded values with scales applied.
    #[cfg(feature = "full-cli")]
    Diff(diff::Args),
    /// Multiply one ternary tensor by f32 activations, as ggml or bitnet.cpp does, or exactly
    /// (docs/matmul.md).
    #[cfg(feature = "full-cli")]
    Matmul(matmul::Args),
}

/// Why a command stopped: the error to print and the exit status.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) error: anyhow::Error,
}

impl Failure {
    pub(crate) fn new(code: u8, error: impl Into<anyhow::Error>) -> Self {
        Self {
            code,
            error: error.into(),
        }
    }
}

/// Attaches an exit status to an error.
pub(crate) trait OrExit<T> {
    /// The file is invalid: exit 1.
    #[cfg_attr(not(feature = "full-cli"), allow(dead_code))]
    fn or_invalid(self) -> Result<T, Failure>;
    /// Usage, I/O or environment: exit 2.
    fn or_usage(self) -> Result<T, Failure>;
}

impl<T, E: Into<anyhow::Error>> OrExit<T> for Result<T, E> {
    fn or_invalid(self) -> Result<T, Failure> {
        self.map_err(|e| Failure::new(EXIT_INVALID, e))
    }

    fn or_usage(self) -> Result<T, Failure> {
        self.map_err(|e| Failure::new(EXIT_USAGE, e))
    }
}

/// Writes one line to stderr; a stderr that cannot be written to is ignored, never a panic.
pub(crate) fn stderr_line(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// Whether `error` is, somewhere in its chain, a closed pipe on output.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> Result<u8, Failure> {
    // Both variables are read once, here, so a bad value fails every command the same way.
    let env = env::Env::from_process().or_usage()?;
    match cli.command {
        Command::CompatCheck(args) => compat::run(&args, &env),
        #[cfg(feature = "full-cli")]
        Command::Inspect(args) => inspect::run(&args, &env),
        #[cfg(feature = "full-cli")]
        Command::Dequant(args) => dequant::run(&args, &env),
        #[cfg(feature = "full-cli")]
        Command::Convert(args) => convert::run(&args),
        #[cfg(feature = "full-cli")]
        Command::Diff(args) => diff::run(&args, &env),
        #[cfg(feature = "full-cli")]
        Command::Matmul(args) => matmul::run(&args, &env),
    }
}

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with status 2.
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        // A reader that stopped reading (`| head`) is not an error worth a message.
        Err(failure) if is_broken_pipe(&failure.error) => ExitCode::SUCCESS,
        Err(failure) => {
            // `{:#}` joins the context chain on one line: `error: PATH: cannot open: ...`.
            stderr_line(&format!("error: {:#}", failure.error));
            ExitCode::from(failure.code)
        }
    }
}
