//! Project automation: `cargo xtask <command>`.
//!
//! One module per subcommand. Nothing here depends on the current directory: the workspace root
//! is found from `CARGO_MANIFEST_DIR`, and cargo is run through `$CARGO`.

mod bench_gemv;
mod bench_kernels;
mod build;
mod cross_test;
mod crossval;
mod engine_check;
mod files;
mod fuzz;
mod gen_fixtures;
mod gen_model;
mod python;
mod venv;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "xtask", about = "bitnet-fixtures project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the reference fixtures, checksums.txt and expected.json, or check them with --check.
    GenFixtures(gen_fixtures::Args),
    /// Write a seeded synthetic model with real BitNet b1.58 layer names and shapes.
    GenModel(gen_model::Args),
    /// Benchmark every available dequantization kernel against an f32 fill baseline.
    BenchKernels(bench_kernels::Args),
    /// Build and run the test suites for aarch64, wasm32 and s390x under emulation.
    CrossTest(cross_test::Args),
    /// Compare the project's reading of GGUF files with mainline ggml's and gguf-py's.
    Crossval(crossval::Args),
    /// Build mainline llama.cpp, run the project's models in it and compare their logits.
    EngineCheck(engine_check::Args),
    /// Run the cargo-fuzz targets for a while each, or write/check their seeds.
    Fuzz(fuzz::Args),
    /// Build the Python package's wheel, install it into a fresh venv and run its pytest suite.
    Python(python::Args),
    /// Run every test: cargo test --workspace --all-features, then the Python suite.
    Test(python::TestArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::GenFixtures(args) => gen_fixtures::run(args),
        Command::GenModel(args) => gen_model::run(args),
        Command::BenchKernels(args) => bench_kernels::run(args),
        Command::CrossTest(args) => cross_test::run(args),
        Command::Crossval(args) => crossval::run(args),
        Command::EngineCheck(args) => engine_check::run(args),
        Command::Fuzz(args) => fuzz::run(args),
        Command::Python(args) => python::run(args),
        Command::Test(args) => python::run_test(args),
    }
}

/// The workspace root (the parent of `xtask/`). `cargo run` sets `CARGO_MANIFEST_DIR` at run
/// time, which follows the checkout even when a shared target directory holds an xtask built
/// from another one; the compile-time value is the fallback.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}

/// The cargo that runs this xtask (`$CARGO`), falling back to `cargo` on the PATH.
#[allow(dead_code)]
pub(crate) fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}
