//! crossval's matmul check: `y = W · x` as ggml's generic C computes it (`ggml-dump --gemv`:
//! `quantize_row_q8_K_ref`, then `ggml_vec_dot_tq{1,2}_0_q8_K` per row, then the `.scale`
//! sibling's `ggml_mul`) against `bitnet_models::matmul` under `Semantics::Ggml` with every
//! kernel this machine has, bit for bit: the q8_K blocks and every `y[r]`, on every TQ1_0 and
//! TQ2_0 tensor of every file ggml reads.
//!
//! The activations are seeded ([`Activations`]) and handed to ggml-dump as one f32le file per
//! input (each TQ tensor's `cols` values in file order). [`compare`] runs nothing; its tests need
//! no reference.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use bitnet_gguf::ggml_type;
use bitnet_models::matmul::{quantize_q8_k, BlockQ8K, Semantics, Weights};
use bitnet_models::{Kernel, Model};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use super::compare::Mismatch;
use super::refs::GgmlDump;
use crate::files::write_atomic;

/// The activations' seed.
pub const SEED: u64 = 20;
/// Values per q8_K block.
const QK_K: usize = 256;
/// The most mismatches one file lists; past it, one more entry counts the rest.
const MAX_MISMATCHES: usize = 20;

/// `ggml-dump --gemv FILE X` (crossval/README.md, "GEMV").
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GgmlGemv {
    pub file: String,
    pub accepted: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub tensors: Vec<GgmlTensor>,
}

/// One TQ tensor's product, as ggml computes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GgmlTensor {
    pub name: String,
    pub rows: usize,
    pub cols: usize,
    /// Why ggml-dump computed nothing (a `.scale` sibling that is not one F32).
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub q8_k: Option<GgmlQ8k>,
    #[serde(default)]
    pub y: Option<GgmlY>,
}

/// The q8_K blocks of the tensor's `x`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GgmlQ8k {
    pub blocks: usize,
    /// Every block's bytes as `block_q8_K` lays them out, little-endian.
    pub hex: String,
}

/// `y`: every value's bit pattern (`"0x3f800000"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GgmlY {
    pub bits: Vec<String>,
}

/// One TQ tensor's product, as the project computes it.
#[derive(Debug, Clone, PartialEq)]
pub struct OursTensor {
    pub name: String,
    /// The q8_K blocks of `x`, in ggml's byte layout.
    pub q8: Vec<u8>,
    /// `y` by each kernel (its name), or why `Weights::new` / `gemv` failed.
    pub y: Result<Vec<(&'static str, Vec<f32>)>, String>,
}

/// What comparing one file found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Tensors whose q8_K blocks and `y` were compared.
    pub tensors: usize,
    /// Rows of those tensors, each compared with every kernel's.
    pub rows: usize,
    pub mismatches: Vec<Mismatch>,
}

impl Outcome {
    fn mismatch(&mut self, what: String, expected: String, found: String) {
        if self.mismatches.len() < MAX_MISMATCHES {
            self.mismatches.push(Mismatch {
                what,
                expected,
                found,
            });
        } else if self.mismatches.len() == MAX_MISMATCHES {
            self.mismatches.push(Mismatch {
                what: "(more mismatches not listed)".into(),
                expected: String::new(),
                found: String::new(),
            });
        }
    }
}

/// Whether tensor type `ty` is one ggml-dump multiplies.
pub fn is_tq(ty: u32) -> bool {
    ty == ggml_type::TQ1_0 || ty == ggml_type::TQ2_0
}

/// The seeded activation vectors, block after block. Each 256-value block is one of
/// [`Activations::KINDS`] kinds in turn, so that every path of `quantize_row_q8_K_ref` is taken
/// somewhere: spread magnitudes, all zeros, exact ties of the rounding, a largest magnitude just
/// above where `-127 / max` would overflow (with subnormal values), magnitudes near `f32::MAX`,
/// and sparse blocks. A block whose `-127 / max` overflows is outside ggml's domain:
/// `nearest_int` asserts `|v| <= 4194303`, so ggml-dump aborts on it.
#[derive(Debug)]
pub struct Activations {
    rng: ChaCha8Rng,
    block: usize,
}

impl Activations {
    const KINDS: usize = 6;

    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            block: 0,
        }
    }

    /// A value uniform in `[-1, 1)`.
    fn unit(&mut self) -> f32 {
        (self.rng.next_u32() >> 8) as f32 / (1 << 23) as f32 - 1.0
    }

    /// `cols` values (a partial last block keeps its kind's values).
    pub fn vector(&mut self, cols: usize) -> Vec<f32> {
        let mut x = Vec::with_capacity(cols);
        while x.len() < cols {
            let block = self.block();
            x.extend_from_slice(&block[..QK_K.min(cols - x.len())]);
        }
        x
    }

    fn block(&mut self) -> [f32; QK_K] {
        let kind = self.block % Self::KINDS;
        self.block += 1;
        let mut b = [0.0f32; QK_K];
        match kind {
            // Spread: each block its own magnitude, 2^-20 .. 2^20.
            0 => {
                let scale = 2f32.powi((self.rng.next_u32() % 41) as i32 - 20);
                b.iter_mut().for_each(|v| *v = self.unit() * scale);
            }
            // All zeros: d = 0, qs = 0.
            1 => {}
            // Ties: max |x| = 127 (so -127 / max is ±1 exactly) at a random place, its negation
            // later (the first of equal magnitudes decides the sign), and the rest k + 0.5, which
            // nearest_int rounds to even.
            2 => {
                for v in b.iter_mut() {
                    *v = (self.rng.next_u32() % 254) as f32 - 127.0 + 0.5;
                }
                let at = self.rng.next_u32() as usize % (QK_K - 1);
                let sign = if self.rng.next_u32().is_multiple_of(2) {
                    1.0
                } else {
                    -1.0
                };
                b[at] = 127.0 * sign;
                b[at + 1] = -127.0 * sign;
            }
            // Tiny: max 1e-36, so iscale is about -1.3e38, near f32::MAX; subnormal values (which
            // quantize to 0) and zeros among them.
            3 => {
                for (i, v) in b.iter_mut().enumerate() {
                    *v = match i % 7 {
                        0 => 0.0,
                        1 => self.unit() * 1e-40,
                        _ => self.unit() * 1e-36,
                    };
                }
                let at = self.rng.next_u32() as usize % QK_K;
                b[at] = 1e-36;
            }
            // Huge: near f32::MAX.
            4 => b.iter_mut().for_each(|v| *v = self.unit() * 3e38),
            // Sparse: one value in 16 nonzero.
            _ => {
                for v in b.iter_mut() {
                    if self.rng.next_u32().is_multiple_of(16) {
                        *v = self.unit() * 4.0;
                    }
                }
            }
        }
        b
    }
}

/// `blocks` in ggml's byte layout of `block_q8_K` (little-endian): `d`, `qs`, `bsums`.
pub fn q8_bytes(blocks: &[BlockQ8K]) -> Vec<u8> {
    let mut out = Vec::with_capacity(blocks.len() * Q8K_BYTES);
    for b in blocks {
        out.extend_from_slice(&b.d.to_le_bytes());
        out.extend(b.qs.iter().map(|q| q.to_le_bytes()[0]));
        for s in b.bsums {
            out.extend_from_slice(&s.to_le_bytes());
        }
    }
    out
}

/// Bytes of one `block_q8_K`.
const Q8K_BYTES: usize = 4 + QK_K + 2 * (QK_K / 16);

/// The TQ tensors of `model` in file order with their activation vectors, and the project's
/// products of them under ggml semantics with each of `kernels`.
pub fn ours(
    model: &Model<'_>,
    xs: &mut Activations,
    kernels: &[Kernel],
) -> Vec<(Vec<f32>, OursTensor)> {
    let mut out = Vec::new();
    for (index, info) in model.gguf().tensors().iter().enumerate() {
        if !is_tq(info.ggml_type) {
            continue;
        }
        let cols = usize::try_from(info.cols()).unwrap_or(usize::MAX);
        let x = xs.vector(cols);
        let tensor = OursTensor {
            name: info.name.to_owned(),
            q8: q8_bytes(&quantize_q8_k(&x)),
            y: products(model, index, &x, kernels),
        };
        out.push((x, tensor));
    }
    out
}

/// `y` of tensor `index` by each kernel.
fn products(
    model: &Model<'_>,
    index: usize,
    x: &[f32],
    kernels: &[Kernel],
) -> Result<Vec<(&'static str, Vec<f32>)>, String> {
    let tensor = model
        .ternary(index)
        .map_err(|e| e.to_string())?
        .ok_or("not a ternary tensor")?;
    let weights = Weights::new(&tensor, Semantics::Ggml).map_err(|e| e.to_string())?;
    kernels
        .iter()
        .map(|&kernel| {
            let mut y = vec![0.0f32; weights.rows()];
            weights
                .gemv(kernel, x, &mut y)
                .map_err(|e| format!("kernel {}: {e}", kernel.name()))?;
            Ok((kernel.name(), y))
        })
        .collect()
}

/// Writes the activation vectors for ggml-dump and runs `ggml-dump --gemv path x`.
pub fn ggml(ggml: &GgmlDump, path: &Path, xs: &[&[f32]], x_path: &Path) -> Result<GgmlGemv> {
    let bytes: Vec<u8> = xs
        .iter()
        .flat_map(|x| x.iter().flat_map(|v| v.to_le_bytes()))
        .collect();
    write_atomic(x_path, &bytes)?;
    let output = Command::new(&ggml.exe)
        .arg("--gemv")
        .arg(path)
        .arg(x_path)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("failed to run ggml-dump --gemv")?;
    if !output.status.success() {
        bail!(
            "ggml-dump --gemv {} {} failed ({})",
            path.display(),
            x_path.display(),
            output.status
        );
    }
    serde_json::from_slice(&output.stdout)
        .with_context(|| format!("ggml-dump --gemv {}: not the expected JSON", path.display()))
}

fn show_f32(v: f32) -> String {
    format!("{:#010x} ({v:e})", v.to_bits())
}

/// Compares ggml's products with the project's: the same TQ tensors in the same order, the same
/// q8_K bytes, and every kernel's `y` bit-equal to ggml's. A mismatch names the tensor and the
/// first differing block (field) or row, with both values.
pub fn compare(theirs: &GgmlGemv, ours: &[OursTensor]) -> Outcome {
    let mut out = Outcome::default();
    if !theirs.accepted {
        out.mismatch(
            "ggml-dump --gemv".into(),
            format!("accepted ({})", theirs.error.as_deref().unwrap_or("")),
            "rejected".into(),
        );
        return out;
    }
    let names = |v: &mut dyn Iterator<Item = &str>| v.collect::<Vec<_>>().join(", ");
    let their_names = names(&mut theirs.tensors.iter().map(|t| t.name.as_str()));
    let our_names = names(&mut ours.iter().map(|t| t.name.as_str()));
    if their_names != our_names {
        out.mismatch("TQ tensors".into(), their_names, our_names);
        return out;
    }
    for (t, o) in theirs.tensors.iter().zip(ours) {
        let name = &t.name;
        let (q8, y) = match (&t.error, &t.q8_k, &t.y, &o.y) {
            (None, Some(q8), Some(y), Ok(ours_y)) => (q8, (y, ours_y)),
            (their_error, _, _, ours_y) => {
                let ours = match ours_y {
                    Ok(_) => "computed".to_owned(),
                    Err(e) => format!("not computed: {e}"),
                };
                let theirs = their_error
                    .as_deref()
                    .map_or("computed".to_owned(), |e| format!("not computed: {e}"));
                if theirs != ours {
                    out.mismatch(format!("tensor `{name}`"), theirs, ours);
                }
                continue;
            }
        };
        compare_q8(&mut out, name, q8, &o.q8);
        let (their_y, our_ys) = y;
        if our_ys.is_empty() {
            out.mismatch(
                format!("tensor `{name}` y"),
                "y of every kernel".into(),
                "no kernel".into(),
            );
        }
        for (kernel, our_y) in our_ys {
            compare_y(&mut out, name, kernel, &their_y.bits, our_y);
        }
        out.tensors += 1;
        out.rows += t.rows;
    }
    out
}

fn compare_q8(out: &mut Outcome, name: &str, theirs: &GgmlQ8k, ours: &[u8]) {
    let theirs = match hex::decode(&theirs.hex) {
        Ok(bytes) if bytes.len() == theirs.blocks * Q8K_BYTES => bytes,
        _ => {
            out.mismatch(
                format!("tensor `{name}` q8_K"),
                format!("{} blocks of hex", theirs.blocks),
                "unreadable hex".into(),
            );
            return;
        }
    };
    if theirs.len() != ours.len() {
        out.mismatch(
            format!("tensor `{name}` q8_K blocks"),
            (theirs.len() / Q8K_BYTES).to_string(),
            (ours.len() / Q8K_BYTES).to_string(),
        );
        return;
    }
    let Some(at) = theirs.iter().zip(ours).position(|(a, b)| a != b) else {
        return;
    };
    let (block, offset) = (at / Q8K_BYTES, at % Q8K_BYTES);
    let base = block * Q8K_BYTES;
    let (field, expected, found) = if offset < 4 {
        let d = |b: &[u8]| show_f32(f32::from_le_bytes(b[base..base + 4].try_into().unwrap()));
        ("d".to_owned(), d(&theirs), d(ours))
    } else if offset < 4 + QK_K {
        let j = offset - 4;
        let q = |b: &[u8]| (b[at] as i8).to_string();
        (format!("qs[{j}]"), q(&theirs), q(ours))
    } else {
        let j = (offset - 4 - QK_K) / 2;
        let at = base + 4 + QK_K + 2 * j;
        let s = |b: &[u8]| i16::from_le_bytes([b[at], b[at + 1]]).to_string();
        (format!("bsums[{j}]"), s(&theirs), s(ours))
    };
    out.mismatch(
        format!("tensor `{name}` q8_K block {block} {field}"),
        expected,
        found,
    );
}

fn compare_y(out: &mut Outcome, name: &str, kernel: &str, theirs: &[String], ours: &[f32]) {
    let what = |rest: String| format!("tensor `{name}` kernel {kernel} {rest}");
    if theirs.len() != ours.len() {
        out.mismatch(
            what("rows".into()),
            theirs.len().to_string(),
            ours.len().to_string(),
        );
        return;
    }
    for (row, (t, &o)) in theirs.iter().zip(ours).enumerate() {
        let parsed = t
            .strip_prefix("0x")
            .and_then(|h| u32::from_str_radix(h, 16).ok());
        match parsed {
            Some(bits) if bits == o.to_bits() => {}
            Some(bits) => {
                out.mismatch(
                    what(format!("first differing row {row}")),
                    show_f32(f32::from_bits(bits)),
                    show_f32(o),
                );
                return;
            }
            None => {
                out.mismatch(
                    what(format!("row {row}")),
                    t.clone(),
                    "not a bit pattern".into(),
                );
                return;
            }
        }
    }
}

/// One file's TQ tensors multiplied by ggml and by the project.
#[derive(Debug)]
pub struct GemvRow {
    pub file: usize,
    pub outcome: Outcome,
}

/// Every input that ggml reads and that has a TQ1_0 or TQ2_0 tensor, multiplied by ggml-dump
/// and by the project with each of `kernels`.
pub fn rows(
    root: &std::path::Path,
    ggml: &GgmlDump,
    inputs: &super::inputs::Inputs,
    dumps: &[super::schema::Dump],
    kernels: &[Kernel],
) -> Result<Vec<GemvRow>> {
    let mut xs = Activations::new(SEED);
    let mut rows = Vec::new();
    for (file, (input, dump)) in inputs.files.iter().zip(dumps).enumerate() {
        if !dump.accepted || !dump.tensors.iter().any(|t| is_tq(t.ty)) {
            continue;
        }
        let bytes = std::fs::read(&input.path)
            .with_context(|| format!("reading {}", input.path.display()))?;
        let model = match Model::parse(&bytes) {
            Ok(model) => model,
            Err(e) => {
                let mut outcome = Outcome::default();
                outcome.mismatches.push(Mismatch {
                    what: "file".into(),
                    expected: "read".into(),
                    found: format!("not read: {e}"),
                });
                rows.push(GemvRow { file, outcome });
                continue;
            }
        };
        let (xs, ours): (Vec<Vec<f32>>, Vec<OursTensor>) =
            ours(&model, &mut xs, kernels).into_iter().unzip();
        let x_path = root
            .join(super::inputs::SCRATCH)
            .join(format!("gemv-x-{file}.f32"));
        let xs: Vec<&[f32]> = xs.iter().map(Vec::as_slice).collect();
        let theirs = self::ggml(ggml, &input.path, &xs, &x_path)?;
        rows.push(GemvRow {
            file,
            outcome: compare(&theirs, &ours),
        });
    }
    Ok(rows)
}

mod report;
#[cfg(test)]
mod tests;
