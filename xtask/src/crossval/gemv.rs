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

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(y: &[f32]) -> Vec<String> {
        y.iter().map(|v| format!("{:#010x}", v.to_bits())).collect()
    }

    /// A ggml dump and a project reading of one 2-row tensor that agree.
    fn agreeing() -> (GgmlGemv, Vec<OursTensor>) {
        let x: Vec<f32> = (0..QK_K).map(|i| i as f32 - 100.0).collect();
        let q8 = q8_bytes(&quantize_q8_k(&x));
        let y = vec![1.5f32, -0.25];
        let theirs = GgmlGemv {
            file: "f.gguf".into(),
            accepted: true,
            error: None,
            tensors: vec![GgmlTensor {
                name: "blk.0.attn_q.weight".into(),
                rows: 2,
                cols: QK_K,
                error: None,
                q8_k: Some(GgmlQ8k {
                    blocks: 1,
                    hex: hex::encode(&q8),
                }),
                y: Some(GgmlY { bits: bits(&y) }),
            }],
        };
        let ours = vec![OursTensor {
            name: "blk.0.attn_q.weight".into(),
            q8,
            y: Ok(vec![("scalar", y.clone()), ("avx2", y)]),
        }];
        (theirs, ours)
    }

    #[test]
    fn agreeing_products_count_tensors_and_rows() {
        let (theirs, ours) = agreeing();
        let out = compare(&theirs, &ours);
        assert_eq!(out.mismatches, []);
        assert_eq!((out.tensors, out.rows), (1, 2));
    }

    #[test]
    fn one_differing_y_bit_names_tensor_kernel_row_and_both_values() {
        let (theirs, mut ours) = agreeing();
        let y = &mut ours[0].y.as_mut().unwrap()[1].1;
        y[1] = f32::from_bits(y[1].to_bits() ^ 1);
        let out = compare(&theirs, &ours);
        assert_eq!(
            out.mismatches,
            [Mismatch {
                what: "tensor `blk.0.attn_q.weight` kernel avx2 first differing row 1".into(),
                expected: "0xbe800000 (-2.5e-1)".into(),
                found: "0xbe800001 (-2.5000003e-1)".into(),
            }]
        );
    }

    #[test]
    fn one_differing_q8_value_names_block_and_field() {
        let (theirs, mut ours) = agreeing();
        // qs[7] of block 0: x[7] = -93, max = 155 (the last), so q = nearest(-127/155 × -93).
        let at = 4 + 7;
        assert_eq!(ours[0].q8[at] as i8, 76);
        ours[0].q8[at] = 77;
        let out = compare(&theirs, &ours);
        assert_eq!(
            out.mismatches,
            [Mismatch {
                what: "tensor `blk.0.attn_q.weight` q8_K block 0 qs[7]".into(),
                expected: "76".into(),
                found: "77".into(),
            }]
        );
        // The first byte of each field, qs[0] and bsums[0], and the high byte of bsums[3], with
        // the values before and after the flip.
        let block = &quantize_q8_k(&(0..QK_K).map(|i| i as f32 - 100.0).collect::<Vec<_>>())[0];
        let (q0, s0, s3) = (block.qs[0], block.bsums[0], block.bsums[3]);
        for (at, field, before, after) in [
            (4, "qs[0]", i16::from(q0), i16::from(q0 ^ 0x40)),
            (4 + QK_K, "bsums[0]", s0, s0 ^ 0x40),
            (4 + QK_K + 7, "bsums[3]", s3, s3 ^ 0x4000),
        ] {
            let (theirs, mut ours) = agreeing();
            ours[0].q8[at] ^= 0x40;
            let out = compare(&theirs, &ours);
            assert_eq!(
                out.mismatches,
                [Mismatch {
                    what: format!("tensor `blk.0.attn_q.weight` q8_K block 0 {field}"),
                    expected: before.to_string(),
                    found: after.to_string(),
                }]
            );
        }
    }

    #[test]
    fn q8_blocks_of_another_count_or_unreadable_hex_are_mismatches() {
        let (theirs, mut ours) = agreeing();
        let block = ours[0].q8.clone();
        ours[0].q8.extend(&block);
        let m = &compare(&theirs, &ours).mismatches;
        assert_eq!(
            (m.len(), m[0].what.as_str(), m[0].expected.as_str()),
            (1, "tensor `blk.0.attn_q.weight` q8_K blocks", "1")
        );
        assert_eq!(m[0].found, "2");
        // ggml's hex holds one block where it says two.
        let (mut theirs, ours) = agreeing();
        theirs.tensors[0].q8_k.as_mut().unwrap().blocks = 2;
        let m = &compare(&theirs, &ours).mismatches;
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].expected.as_str(), m[0].found.as_str()),
            ("2 blocks of hex", "unreadable hex")
        );
    }

    /// A difference in the second block's `d` names block 1 and shows both scales.
    #[test]
    fn a_differing_d_of_a_later_block_names_that_block() {
        let x: Vec<f32> = (0..2 * QK_K).map(|i| i as f32).collect();
        let q8 = q8_bytes(&quantize_q8_k(&x));
        let (mut theirs, mut ours) = agreeing();
        theirs.tensors[0].q8_k = Some(GgmlQ8k {
            blocks: 2,
            hex: hex::encode(&q8),
        });
        ours[0].q8 = q8;
        ours[0].q8[Q8K_BYTES..Q8K_BYTES + 4].copy_from_slice(&2.0f32.to_le_bytes());
        let m = &compare(&theirs, &ours).mismatches;
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].what, "tensor `blk.0.attn_q.weight` q8_K block 1 d");
        // Block 1's largest value is 511, so d = 1 / (-127 / 511).
        let d = 1.0 / (-127.0f32 / 511.0);
        assert_eq!(m[0].expected, show_f32(d));
        assert_eq!(m[0].found, "0x40000000 (2e0)");
    }

    #[test]
    fn a_tensor_only_one_side_computes_is_a_mismatch() {
        let (theirs, mut ours) = agreeing();
        ours[0].y = Err("reserved codes".into());
        let out = compare(&theirs, &ours);
        assert_eq!(out.mismatches.len(), 1);
        assert_eq!(out.mismatches[0].found, "not computed: reserved codes");
        assert_eq!(out.tensors, 0);
        let (theirs, mut ours) = agreeing();
        ours[0].y = Ok(Vec::new());
        assert_eq!(compare(&theirs, &ours).mismatches[0].found, "no kernel");
        let (mut theirs, ours) = agreeing();
        theirs.tensors[0].name = "other".into();
        assert_eq!(compare(&theirs, &ours).mismatches[0].what, "TQ tensors");
    }

    /// A file with an F32 tensor, then a 2 × 512 TQ2_0 weight of +1s (each block's d 1) with a
    /// `.scale` sibling 0.5: `ours` takes the weight only, and every kernel gives each row
    /// `(sum(qs₀) × d₀ + sum(qs₁) × d₁) × 0.5` of the q8_K blocks it reports.
    #[test]
    fn ours_multiplies_the_tq_tensors_with_every_kernel() {
        use bitnet_gguf::GgufBuilder;
        use half::f16;
        let mut b = GgufBuilder::new();
        b.kv("general.architecture", "test");
        b.tensor("t.f32", &[4], ggml_type::F32, vec![0; 16]);
        let packed = bitnet_models::pack_tq2_0(&[1; 1024], 2, 512, &[f16::ONE; 4]).unwrap();
        b.tensor("w.weight", &[512, 2], ggml_type::TQ2_0, packed);
        b.tensor(
            "w.scale",
            &[1],
            ggml_type::F32,
            0.5f32.to_le_bytes().to_vec(),
        );
        let bytes = b.build().unwrap();
        let model = Model::parse(&bytes).unwrap();
        let kernels = Kernel::available();
        let mut xs = Activations::new(SEED);
        let got = ours(&model, &mut xs, &kernels);
        assert_eq!(got.len(), 1);
        let (x, t) = &got[0];
        assert_eq!((t.name.as_str(), x.len()), ("w.weight", 512));
        assert_eq!(x[..], Activations::new(SEED).vector(512)[..]);
        assert_eq!(t.q8.len(), 2 * Q8K_BYTES);
        let block = |b: usize| {
            let q = &t.q8[b * Q8K_BYTES..];
            let d = f32::from_le_bytes(q[..4].try_into().unwrap());
            let sum: i32 = q[4..4 + QK_K].iter().map(|&v| i32::from(v as i8)).sum();
            (sum as f32, d)
        };
        let ((s0, d0), (s1, d1)) = (block(0), block(1));
        assert!(s0 != 0.0 && s1 == 0.0, "the second block is all zeros");
        let expected = (s0 * d0 + s1 * d1) * 0.5;
        let ys = t.y.as_ref().unwrap();
        let names: Vec<&str> = ys.iter().map(|(k, _)| *k).collect();
        let all: Vec<&str> = kernels.iter().map(|k| k.name()).collect();
        assert_eq!(names, all);
        for (_, y) in ys {
            assert_eq!(y, &[expected, expected]);
        }
    }

    #[test]
    fn only_tq1_0_and_tq2_0_are_multiplied() {
        let tq: Vec<u32> = (0..=255).filter(|&t| is_tq(t)).collect();
        assert_eq!(tq, [34, 35]);
    }

    /// 25 tensors that each differ: the first 20 are listed, then one line for the rest.
    #[test]
    fn mismatches_stop_at_the_limit() {
        let (mut theirs, mut ours) = agreeing();
        let (t0, o0) = (theirs.tensors[0].clone(), ours[0].clone());
        theirs.tensors.clear();
        ours.clear();
        for i in 0..25 {
            theirs.tensors.push(GgmlTensor {
                name: format!("t{i}"),
                ..t0.clone()
            });
            let mut o = OursTensor {
                name: format!("t{i}"),
                ..o0.clone()
            };
            o.y = Ok(vec![("scalar", vec![0.0, 0.0])]);
            ours.push(o);
        }
        let out = compare(&theirs, &ours);
        assert_eq!(out.mismatches.len(), MAX_MISMATCHES + 1);
        assert!(out.mismatches[MAX_MISMATCHES - 1]
            .what
            .starts_with("tensor `t19`"));
        assert_eq!(
            out.mismatches[MAX_MISMATCHES].what,
            "(more mismatches not listed)"
        );
        assert_eq!((out.tensors, out.rows), (25, 50));
    }

    /// ggml's `block_q8_K`: f32 `d`, 256 `qs`, 16 little-endian i16 `bsums`, 292 bytes.
    #[test]
    fn q8_bytes_follow_block_q8_k() {
        let mut x = [2.0f32; QK_K];
        x[0] = -127.0; // d = 1, qs = x rounded: -127 then 2s
        let bytes = q8_bytes(&quantize_q8_k(&x));
        assert_eq!(bytes.len(), 292);
        assert_eq!(bytes[..4], 1.0f32.to_le_bytes());
        assert_eq!(bytes[4..7], [0x81, 2, 2]);
        assert_eq!(bytes[260..264], [(-127i16 + 30) as u8, 0xff, 32, 0]);
    }

    #[test]
    fn activations_take_every_quantization_path() {
        let mut xs = Activations::new(SEED);
        let x = xs.vector(Activations::KINDS * QK_K);
        let blocks: Vec<&[f32]> = x.chunks(QK_K).collect();
        let amax = |b: &[f32]| b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(amax(blocks[1]) == 0.0);
        assert_eq!(amax(blocks[2]), 127.0);
        assert_eq!(amax(blocks[3]), 1e-36);
        assert!((-127.0 / amax(blocks[3])) < -1e38 && blocks[3].contains(&0.0));
        assert!(blocks[3].iter().any(|v| v.is_subnormal()));
        assert!(amax(blocks[4]) > 1e38);
        assert!(blocks[5].iter().filter(|&&v| v == 0.0).count() > 200);
        // Every block but the zeros has both signs and many distinct values; the ties are
        // half-integers but for the ±127 pair, one right after the other.
        for (kind, b) in blocks.iter().enumerate().filter(|&(k, _)| k != 1) {
            assert!(
                b.iter().any(|&v| v > 0.0) && b.iter().any(|&v| v < 0.0),
                "kind {kind}"
            );
            let mut bits: Vec<u32> = b.iter().map(|v| v.to_bits()).collect();
            bits.sort_unstable();
            bits.dedup();
            assert!(bits.len() > 10, "kind {kind}");
        }
        let whole: Vec<usize> = (0..QK_K).filter(|&i| blocks[2][i].fract() == 0.0).collect();
        assert_eq!(whole.len(), 2);
        assert_eq!(whole[1], whole[0] + 1);
        assert_eq!(blocks[2][whole[0]], -blocks[2][whole[1]]);
        assert!(amax(blocks[5]) < 4.0);
        assert!(blocks[0].iter().filter(|&&v| v == 0.0).count() < 4);
        // The spread blocks' magnitudes span far more than a few powers of two.
        let spread: Vec<f32> = Activations::new(SEED)
            .vector(20 * Activations::KINDS * QK_K)
            .chunks(Activations::KINDS * QK_K)
            .map(|cycle| amax(&cycle[..QK_K]))
            .collect();
        let (lo, hi) = spread
            .iter()
            .fold((f32::MAX, 0.0f32), |(lo, hi), &a| (lo.min(a), hi.max(a)));
        assert!(
            hi / lo > 1024.0 && hi < 2f32.powi(20) && lo > 2f32.powi(-21),
            "{lo} {hi}"
        );
        // A length that is not whole blocks.
        assert_eq!(Activations::new(SEED).vector(300).len(), 300);
        // The kinds go on from block to block, across vectors.
        let y = xs.vector(QK_K);
        assert!(amax(&y) > 0.0 && amax(&y) < 2f32.powi(21));
        assert_eq!(Activations::new(SEED).vector(10), x[..10]);
    }
}
