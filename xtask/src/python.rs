//! `cargo xtask python [--bench] [-- PYTEST_ARGS]`: the Python package (`python/`) built as a
//! wheel with maturin, installed into a fresh venv, and tested there with pytest; and
//! `cargo xtask test`, the README's test command: `cargo test --workspace --all-features`, then
//! the same (docs/python.md).
//!
//! Everything lives under `target/python/`: `tools/` (a venv with maturin, kept while
//! `python/requirements-build.txt` is unchanged), `wheelhouse/` (the pinned test dependencies as
//! wheels, kept while `python/requirements-test.txt` is), `wheels/` (the wheel built by this run),
//! `test-venv/` (made again by every run: the wheel and the wheelhouse, installed without an
//! index), `work/` (the files the tests read besides the committed ones) and `bench/`.

use std::fs;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bitnet_models::TernaryFormat;

use crate::gen_model::{self, Shape};
use crate::venv;

/// What builds the wheel, relative to the workspace root.
const BUILD_REQUIREMENTS: &str = "python/requirements-build.txt";
/// What the tests run with.
const TEST_REQUIREMENTS: &str = "python/requirements-test.txt";
/// The binding crate's manifest.
const MANIFEST: &str = "python/Cargo.toml";
/// The pytest suite.
const TESTS: &str = "python/tests";
/// The benchmark script.
const BENCH: &str = "python/bench/numpy_vs_cli.py";
/// Everything this command makes.
const DIR: &str = "target/python";
/// Why these commands need Python.
const WHY: &str = "the Python package is built with maturin and tested with pytest";
/// The seed of the synthetic models the tests and the benchmark read.
const MODEL_SEED: u64 = 1;

/// Arguments of `python`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Instead of the tests: time `numpy()` of a 6912 × 2560 bitnetcpp tensor against
    /// `bitnet-cli dequant` of the same tensor (writes a 1.2 GB model under target/python/bench
    /// on first use).
    #[arg(long)]
    bench: bool,
    /// Arguments for pytest (a `-k` filter, `-x`, …).
    #[arg(last = true, value_name = "PYTEST_ARGS")]
    pytest_args: Vec<String>,
}

/// Arguments of `test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Arguments for `cargo test --workspace --all-features` (a test-name filter, …).
    #[arg(last = true, value_name = "CARGO_TEST_ARGS")]
    cargo_args: Vec<String>,
}

/// Runs `test`: every Rust test, then the Python suite.
pub fn run_test(args: TestArgs) -> Result<()> {
    let root = crate::workspace_root();
    let start = Instant::now();
    eprintln!("test: cargo test --workspace --all-features");
    let status = Command::new(crate::cargo())
        .current_dir(&root)
        .args(["test", "--workspace", "--all-features"])
        .args(&args.cargo_args)
        .status()
        .context("failed to run cargo test")?;
    if !status.success() {
        bail!("cargo test --workspace --all-features failed ({status})");
    }
    let rust_time = start.elapsed();
    let summary = python_suite(&root, &[])?;
    eprintln!(
        "test: cargo test passed ({:.0} s); python: {summary} ({:.0} s)",
        rust_time.as_secs_f64(),
        (start.elapsed() - rust_time).as_secs_f64()
    );
    Ok(())
}

/// Runs `python`.
pub fn run(args: Args) -> Result<()> {
    let root = crate::workspace_root();
    if args.bench {
        let setup = setup(&root)?;
        return bench(&root, &setup);
    }
    let summary = python_suite(&root, &args.pytest_args)?;
    eprintln!("python: {summary}");
    Ok(())
}

/// What the tests and the benchmark need, built and installed.
struct Setup {
    /// The fresh venv's Python, with the wheel installed.
    python: PathBuf,
    /// The release `bitnet-cli`.
    cli: PathBuf,
    /// `target/python/work`.
    work: PathBuf,
}

/// Builds and installs everything, then runs pytest; returns pytest's summary line.
fn python_suite(root: &Path, pytest_args: &[String]) -> Result<String> {
    let setup = setup(root)?;
    for format in TernaryFormat::ALL {
        let path = setup.work.join(format!("mini-{}.gguf", format.name()));
        gen_model::generate(
            Shape::Mini,
            format,
            MODEL_SEED,
            gen_model::DEFAULT_ARCH,
            &path,
        )
        .with_context(|| format!("generating {}", path.display()))?;
    }
    eprintln!("python: pytest {TESTS}");
    let mut child = Command::new(&setup.python)
        .current_dir(root)
        .args(["-m", "pytest", TESTS, "-p", "no:cacheprovider", "-ra"])
        .args(pytest_args)
        .env("BITNET_CLI", &setup.cli)
        .env("BITNET_WORK", &setup.work)
        // No __pycache__ in the source tree: CI checks that the tree stays clean.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("failed to run pytest")?;
    let mut last = String::new();
    let stdout = child.stdout.take().context("pytest's stdout")?;
    let mut out = std::io::stdout().lock();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading pytest's output")?;
        writeln!(out, "{line}").context("writing pytest's output")?;
        if !line.trim().is_empty() {
            last = line.trim().trim_matches('=').trim().to_owned();
        }
    }
    let status = child.wait().context("waiting for pytest")?;
    if !status.success() {
        bail!("pytest failed ({status}): {last}");
    }
    Ok(last)
}

/// The tools venv, the wheelhouse, the CLI, the wheel and the fresh venv.
fn setup(root: &Path) -> Result<Setup> {
    let dir = root.join(DIR);
    let tools = venv::ensure(
        root,
        &format!("{DIR}/tools"),
        BUILD_REQUIREMENTS,
        "python",
        WHY,
    )?;
    let wheelhouse = wheelhouse(root, &tools.python)?;

    eprintln!("python: building bitnet-cli (cargo build --release --locked -p bitnet-cli)");
    let cli = crate::build::executable(
        root,
        &["--release", "--locked", "-p", "bitnet-cli"],
        "bitnet-cli",
    )?
    .exe;

    let wheel = build_wheel(root, &tools.python)?;

    let test_venv = dir.join("test-venv");
    if test_venv.exists() {
        fs::remove_dir_all(&test_venv)
            .with_context(|| format!("removing {}", test_venv.display()))?;
    }
    // Without pip: the tools venv's pip installs into it (`pip --python`), from local wheels only.
    venv::create(&test_venv, &["--without-pip"], WHY)?;
    let python = venv::python_of(&test_venv);
    eprintln!(
        "python: installing {} and {TEST_REQUIREMENTS} into {DIR}/test-venv",
        wheel.file_name().unwrap_or_default().to_string_lossy()
    );
    venv::pip(
        &tools.python,
        &[
            "--python".as_ref(),
            python.as_os_str(),
            "install".as_ref(),
            "--no-index".as_ref(),
            "--find-links".as_ref(),
            wheelhouse.as_os_str(),
            "-r".as_ref(),
            root.join(TEST_REQUIREMENTS).as_os_str(),
            wheel.as_os_str(),
        ],
        "installing the wheel into the fresh venv",
    )?;
    let work = dir.join("work");
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    Ok(Setup { python, cli, work })
}

/// `target/python/wheelhouse`: the test requirements as wheels, downloaded once (a copy of the
/// requirements inside it says which).
fn wheelhouse(root: &Path, tools_python: &Path) -> Result<PathBuf> {
    let dir = root.join(DIR).join("wheelhouse");
    let requirements = root.join(TEST_REQUIREMENTS);
    let wanted =
        fs::read(&requirements).with_context(|| format!("reading {}", requirements.display()))?;
    let stamp = dir.join("bitnet-requirements.txt");
    if fs::read(&stamp).ok().as_deref() == Some(&wanted[..]) {
        return Ok(dir);
    }
    eprintln!("python: downloading {TEST_REQUIREMENTS} into {DIR}/wheelhouse");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    venv::pip(
        tools_python,
        &[
            "download".as_ref(),
            "--only-binary".as_ref(),
            ":all:".as_ref(),
            "--dest".as_ref(),
            dir.as_os_str(),
            "-r".as_ref(),
            requirements.as_os_str(),
        ],
        &format!("`pip download -r {TEST_REQUIREMENTS}`; it needs PyPI"),
    )?;
    fs::write(&stamp, &wanted).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(dir)
}

/// Builds the wheel with maturin (release, `--locked`) into an emptied `target/python/wheels`,
/// for the Python of the tools venv, and returns its path.
fn build_wheel(root: &Path, tools_python: &Path) -> Result<PathBuf> {
    let out = root.join(DIR).join("wheels");
    if out.exists() {
        fs::remove_dir_all(&out).with_context(|| format!("removing {}", out.display()))?;
    }
    eprintln!("python: building the wheel (maturin build --release --locked -m {MANIFEST})");
    let start = Instant::now();
    let status = Command::new(tools_python)
        .current_dir(root)
        .args(["-m", "maturin", "build", "--release", "--locked"])
        .args(["--manifest-path", MANIFEST])
        .arg("--interpreter")
        .arg(tools_python)
        .arg("--out")
        .arg(&out)
        .stdin(Stdio::null())
        .status()
        .context("failed to run maturin")?;
    if !status.success() {
        bail!("maturin build failed ({status})");
    }
    let wheels: Vec<PathBuf> = fs::read_dir(&out)
        .with_context(|| format!("reading {}", out.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    match &wheels[..] {
        [wheel] => {
            eprintln!(
                "python: built {} in {:.0} s",
                wheel.display(),
                start.elapsed().as_secs_f64()
            );
            Ok(wheel.clone())
        }
        _ => bail!(
            "maturin left {} wheels in {}, not 1",
            wheels.len(),
            out.display()
        ),
    }
}

/// Runs the benchmark script on a 2b4t bitnetcpp model (made once).
fn bench(root: &Path, setup: &Setup) -> Result<()> {
    let dir = root.join(DIR).join("bench");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let model = dir.join(format!("2b4t-bitnetcpp-seed{MODEL_SEED}.gguf"));
    if !model.is_file() {
        eprintln!(
            "python: writing {} (gen-model --shape 2b4t)",
            model.display()
        );
        gen_model::generate(
            Shape::B2b4t,
            TernaryFormat::BitnetCpp,
            MODEL_SEED,
            gen_model::DEFAULT_ARCH,
            &model,
        )
        .with_context(|| format!("generating {}", model.display()))?;
    }
    let status = Command::new(&setup.python)
        .current_dir(root)
        .arg(BENCH)
        .arg("--cli")
        .arg(&setup.cli)
        .arg("--model")
        .arg(&model)
        .arg("--scratch")
        .arg(&dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .status()
        .context("failed to run the benchmark")?;
    if !status.success() {
        bail!("the benchmark failed ({status})");
    }
    Ok(())
}
