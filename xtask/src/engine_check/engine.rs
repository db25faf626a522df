//! The engine: building `crossval/llama-eval` (mainline llama.cpp through `llama-cpp-sys-2`) and
//! running it, one model per process.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::build::{self, Built};

/// llama-eval's manifest, relative to the workspace root.
const MANIFEST: &str = "crossval/llama-eval/Cargo.toml";

/// What `llama-eval --info` prints.
#[derive(Debug, Clone, Deserialize)]
pub struct Info {
    /// The crates.io package and version the llama.cpp tree comes from.
    pub source: String,
    pub llama_cpp: String,
    pub ggml: String,
    pub ggml_commit: String,
    /// llama.cpp's system information line: the CPU features its kernels were built for.
    pub system_info: String,
}

/// One model's run: what `llama-eval FILE` prints.
#[derive(Debug, Clone, Deserialize)]
pub struct Run {
    pub file: String,
    pub loaded: bool,
    pub error: Option<String>,
    /// llama.cpp's description of the model (architecture, size class, file type).
    #[serde(default)]
    pub desc: String,
    #[serde(default)]
    pub n_vocab: usize,
    #[serde(default)]
    pub tokens: Vec<i32>,
    /// The logits of every position, as `f32` bit patterns.
    #[serde(default, deserialize_with = "bit_patterns")]
    pub logits: Vec<Vec<f32>>,
    /// The warnings and errors llama.cpp logged.
    #[serde(default)]
    pub log: Vec<String>,
}

/// `[["0x3f800000", …], …]` → the `f32` values.
fn bit_patterns<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Vec<f32>>, D::Error> {
    let rows: Vec<Vec<String>> = Vec::deserialize(d)?;
    rows.iter()
        .map(|row| {
            row.iter()
                .map(|hex| {
                    hex.strip_prefix("0x")
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .map(f32::from_bits)
                        .ok_or_else(|| serde::de::Error::custom(format!("{hex:?} is not 0x…")))
                })
                .collect()
        })
        .collect()
}

/// The built llama-eval.
#[derive(Debug)]
pub struct Engine {
    pub built: Built,
    pub info: Info,
}

/// Builds llama-eval (CMake builds llama.cpp the first time; later builds are no-ops) and asks
/// it which llama.cpp it holds.
pub fn build(root: &Path) -> Result<Engine> {
    eprintln!(
        "engine-check: building llama-eval (cargo build --release --locked --manifest-path \
         {MANIFEST}); the first build compiles llama.cpp with CMake, several minutes"
    );
    let args = ["--release", "--locked", "--manifest-path", MANIFEST];
    let built = match build::executable(root, &args, "llama-eval") {
        Ok(built) => built,
        Err(status) => {
            let missing: Vec<&str> = [("cmake", "cmake"), ("c++", "build-essential")]
                .into_iter()
                .filter(|(tool, _)| {
                    Command::new(tool)
                        .arg("--version")
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .is_err()
                })
                .map(|(_, package)| package)
                .collect();
            bail!(
                "building llama-eval failed ({status}); llama-cpp-sys-2 builds llama.cpp with \
                 CMake and a C/C++ compiler and makes its bindings with bindgen, which loads \
                 libclang (Debian: apt-get install cmake build-essential libclang-dev){}",
                if missing.is_empty() {
                    String::new()
                } else {
                    format!("; not found here: {}", missing.join(", "))
                }
            )
        }
    };
    let output = Command::new(&built.exe)
        .arg("--info")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("failed to run llama-eval --info")?;
    if !output.status.success() {
        bail!("llama-eval --info failed ({})", output.status);
    }
    let info = serde_json::from_slice(&output.stdout)
        .context("llama-eval --info: not the expected JSON")?;
    Ok(Engine { built, info })
}

impl Engine {
    /// Runs llama-eval on `file`: loads it and evaluates `text` (tokenized by the model) with
    /// `threads` threads. A process that fails (llama.cpp aborted) is an error naming the file
    /// and what it wrote to stderr.
    pub fn run(&self, file: &Path, text: &str, threads: usize) -> Result<Run> {
        let output = Command::new(&self.built.exe)
            .args(["--threads", &threads.to_string(), "--text", text])
            .arg(file)
            .stdin(Stdio::null())
            .output()
            .context("failed to run llama-eval")?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(10).collect();
            bail!(
                "llama-eval on {} failed ({}): {}",
                file.display(),
                output.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let run: Run = serde_json::from_slice(&output.stdout).with_context(|| {
            format!(
                "llama-eval on {}: not the expected JSON: {:.200}",
                file.display(),
                String::from_utf8_lossy(&output.stdout)
            )
        })?;
        if run.file != file.to_string_lossy() {
            bail!(
                "llama-eval on {}: a line for {:?}",
                file.display(),
                run.file
            );
        }
        Ok(run)
    }
}
