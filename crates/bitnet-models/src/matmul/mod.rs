//! Ternary matrix products: `y = W · x` for one ternary tensor and `f32` activations, as each
//! engine computes it (docs/matmul.md).
//!
//! This module owns the engines' arithmetic — how activations are quantized ([`quant`]), how the
//! exact integer sums (`dots`) are scaled and accumulated — and nothing about files: it takes
//! a resolved [`TernaryTensor`].
//!
//! - [`Semantics::Ggml`]: ggml's `ggml_vec_dot_tq2_0_q8_K` / `ggml_vec_dot_tq1_0_q8_K` (generic
//!   C), on TQ2_0 and TQ1_0 and on any tensor that converts to TQ2_0 exactly;
//! - [`Semantics::BitnetCpp`]: bitnet.cpp's I2_S matmul, on bitnetcpp tensors;
//! - [`Semantics::Exact`]: the decoded values times `x`, summed in `f64`, rounded once.
//!
//! Every kernel gives the same bits: the kernels compute only integer sums, and the floating
//! point is done here, once, in the engine's order.

use core::fmt;
use core::str::FromStr;

use crate::convert::scales::target_scales;
use crate::format::TernaryFormat;
use crate::kernels::Kernel;
use crate::model::TernaryTensor;

#[cfg(all(feature = "cpu", target_arch = "aarch64", target_endian = "little"))]
mod aarch64;
pub(crate) mod dots;
pub mod quant;
#[cfg(all(feature = "cpu", target_arch = "wasm32", target_feature = "simd128"))]
mod wasm32;
#[cfg(all(feature = "cpu", target_arch = "x86_64"))]
mod x86_64;

pub use quant::{
    nearest_int, q8_k_scale_overflow, quantize_i8_s, quantize_q8_k, ActivationI8, BlockQ8K, QK_K,
};

/// The most columns a quantized product takes: their integer sums stay exact in `i32`
/// (`2²² × 2 × 128 = 2³⁰`). The exact product has no such limit.
pub const MAX_DOT_COLS: usize = 1 << 22;

/// `a × b` in `f64`: exact (24-bit by 24-bit significands), as the exact product sums it.
///
/// On s390x the two conversions go through [`core::hint::black_box`], so that LLVM cannot fuse
/// them with the multiplication into `MDEBR` (multiply short to long): QEMU 7.2, which the
/// big-endian test suite runs under, computes that instruction wrong (docs/testing.md). The
/// result is the same IEEE product either way.
#[inline]
pub fn wide_product(a: f32, b: f32) -> f64 {
    #[cfg(target_arch = "s390x")]
    let (a, b) = (
        core::hint::black_box(f64::from(a)),
        core::hint::black_box(f64::from(b)),
    );
    #[cfg(not(target_arch = "s390x"))]
    let (a, b) = (f64::from(a), f64::from(b));
    a * b
}

/// Whose arithmetic a product follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Semantics {
    /// ggml's TQ1_0 / TQ2_0 dot products with `q8_K` activations (mainline llama.cpp).
    Ggml,
    /// bitnet.cpp's I2_S product with per-tensor int8 activations.
    BitnetCpp,
    /// The decoded weights times `x`, accumulated in `f64`, rounded once to `f32`.
    Exact,
}

impl Semantics {
    /// Every semantics, in the order reports list them.
    pub const ALL: [Semantics; 3] = [Semantics::Ggml, Semantics::BitnetCpp, Semantics::Exact];

    /// The name on the command line and in JSON: `ggml`, `bitnetcpp`, `exact`.
    pub fn name(self) -> &'static str {
        match self {
            Semantics::Ggml => "ggml",
            Semantics::BitnetCpp => "bitnetcpp",
            Semantics::Exact => "exact",
        }
    }
}

impl fmt::Display for Semantics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Semantics {
    type Err = MatmulError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Semantics::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| MatmulError::UnknownSemantics(s.to_owned()))
    }
}

/// A product that cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MatmulError {
    /// The semantics are not those of any engine that runs this tensor's format.
    #[error("{semantics} semantics do not apply to {format} tensor {tensor:?}: {reason}")]
    NotApplicable {
        /// The tensor.
        tensor: String,
        /// Its format.
        format: TernaryFormat,
        /// The semantics asked for.
        semantics: Semantics,
        /// Why.
        reason: String,
    },
    /// The tensor holds the reserved code 3, whose product no engine defines.
    #[error(
        "tensor {tensor:?} holds {count} reserved code(s) (3), the first in the byte at offset \
         {offset}; no engine defines their product"
    )]
    ReservedCodes {
        /// The tensor.
        tensor: String,
        /// How many.
        count: u64,
        /// Absolute file offset of the first byte holding one.
        offset: u64,
    },
    /// The tensor has more columns than the integer sums hold exactly.
    #[error("tensor {tensor:?} has {cols} columns; quantized products take at most {max}")]
    TooManyColumns {
        /// The tensor.
        tensor: String,
        /// Its columns.
        cols: usize,
        /// [`MAX_DOT_COLS`].
        max: usize,
    },
    /// The activations are not a whole number of vectors of the tensor's column count.
    #[error(
        "input holds {actual} values; tensor {tensor:?} takes vectors of {cols} (its columns)"
    )]
    InputLength {
        /// The tensor.
        tensor: String,
        /// Its columns.
        cols: usize,
        /// The number of values given.
        actual: usize,
    },
    /// An activation is a NaN or an infinity.
    #[error("input value {index} is {value}, not a finite number")]
    NonFiniteInput {
        /// Its index in the input.
        index: usize,
        /// The value.
        value: f32,
    },
    /// A block of 256 activations whose largest magnitude is so small (below about
    /// 3.7 × 10⁻³⁷) that ggml's `q8_K` scale `−127 / max` overflows: ggml has no result for it.
    #[error(
        "input values {first}..{end} (a q8_K block) are at most {max:e} in magnitude: ggml's scale \
         -127/max overflows"
    )]
    ActivationScaleOverflow {
        /// The block's first value, in the whole input.
        first: usize,
        /// One past its last.
        end: usize,
        /// Its largest magnitude.
        max: f32,
    },
    /// The output slice does not hold one value per row and vector.
    #[error("output holds {actual} values, the product has {expected}")]
    OutputLength {
        /// rows × vectors.
        expected: usize,
        /// The length passed in.
        actual: usize,
    },
    /// A name that is not `ggml`, `bitnetcpp` or `exact`.
    #[error("unknown semantics {0:?}, expected one of ggml, bitnetcpp, exact")]
    UnknownSemantics(String),
}

impl MatmulError {
    /// The kebab-case code of the error, as in the CLI's messages and JSON.
    pub fn code(&self) -> &'static str {
        match self {
            MatmulError::NotApplicable { .. } => "not-applicable",
            MatmulError::ReservedCodes { .. } => "reserved-codes",
            MatmulError::TooManyColumns { .. } => "too-many-columns",
            MatmulError::InputLength { .. } => "input-length",
            MatmulError::NonFiniteInput { .. } => "non-finite-input",
            MatmulError::ActivationScaleOverflow { .. } => "activation-scale-overflow",
            MatmulError::OutputLength { .. } => "output-length",
            MatmulError::UnknownSemantics(_) => "unknown-semantics",
        }
    }
}

/// A ternary tensor ready to multiply under one [`Semantics`].
#[derive(Debug, Clone)]
pub struct Weights<'a> {
    tensor: TernaryTensor<'a>,
    semantics: Semantics,
    /// ggml: the weight scale `d` of every 256-element block, row-major (rows padded to whole
    /// blocks), as TQ2_0 holds it (for a tensor converted to TQ2_0, the converted `d`).
    block_d: Vec<f32>,
    /// ggml: the factor applied to each output afterwards (the `.scale` sibling that a TQ
    /// tensor has, or gets when converted), as `ggml_mul` does after the matmul.
    post: Option<f32>,
}

impl<'a> Weights<'a> {
    /// `tensor` under `semantics`; fails when the semantics do not apply to its format, when it
    /// holds reserved codes, or (quantized semantics) when it has more than [`MAX_DOT_COLS`]
    /// columns.
    pub fn new(tensor: &TernaryTensor<'a>, semantics: Semantics) -> Result<Self, MatmulError> {
        let t = *tensor;
        let not_applicable = |reason: String| MatmulError::NotApplicable {
            tensor: t.name.to_owned(),
            format: t.format,
            semantics,
            reason,
        };
        if semantics != Semantics::Exact && t.cols > MAX_DOT_COLS {
            return Err(MatmulError::TooManyColumns {
                tensor: t.name.to_owned(),
                cols: t.cols,
                max: MAX_DOT_COLS,
            });
        }
        let report = t.scan().map_err(|e| not_applicable(e.to_string()))?;
        if let Some(first) = report.first_reserved_byte {
            return Err(MatmulError::ReservedCodes {
                tensor: t.name.to_owned(),
                count: report.reserved_codes,
                offset: t.offset.saturating_add(first),
            });
        }
        let (mut block_d, mut post) = (Vec::new(), None);
        match (semantics, t.format) {
            (Semantics::Ggml, TernaryFormat::Tq2_0 | TernaryFormat::Tq1_0) => {
                block_d = t.block_scales().iter().map(|d| d.to_f32()).collect();
                post = t.post_scale;
            }
            (Semantics::Ggml, _) => {
                let scales = target_scales(&t, TernaryFormat::Tq2_0, false)
                    .and_then(|s| s.check_rows(&t, 0, TernaryFormat::Tq2_0).map(|()| s))
                    .map_err(|reason| {
                        not_applicable(format!("it does not convert to tq2_0 exactly: {reason}"))
                    })?;
                block_d = scales
                    .all_block_d(&t, TernaryFormat::Tq2_0)
                    .iter()
                    .map(|d| d.to_f32())
                    .collect();
                post = scales.sibling;
            }
            (Semantics::BitnetCpp, TernaryFormat::BitnetCpp) | (Semantics::Exact, _) => {}
            (Semantics::BitnetCpp, _) => {
                return Err(not_applicable(
                    "bitnet.cpp multiplies I2_S tensors of its own layout (bitnetcpp) only"
                        .to_owned(),
                ))
            }
        }
        Ok(Weights {
            tensor: t,
            semantics,
            block_d,
            post,
        })
    }

    /// Rows of `W`: the length of each output vector.
    pub fn rows(&self) -> usize {
        self.tensor.rows
    }

    /// Columns of `W`: the length of each input vector.
    pub fn cols(&self) -> usize {
        self.tensor.cols
    }

    /// The semantics this product follows.
    pub fn semantics(&self) -> Semantics {
        self.semantics
    }

    /// `y = W · x` for one vector: `x` of [`Weights::cols`] values, `y` of [`Weights::rows`].
    pub fn gemv(&self, kernel: Kernel, x: &[f32], y: &mut [f32]) -> Result<(), MatmulError> {
        self.gemm(kernel, x, y)
    }

    /// `y = W · x` for a batch: `x` holds `n` vectors of [`Weights::cols`] values one after
    /// another, `y` receives `n` vectors of [`Weights::rows`] values. Each vector is quantized
    /// on its own, as the engines quantize each token's activations.
    pub fn gemm(&self, kernel: Kernel, x: &[f32], y: &mut [f32]) -> Result<(), MatmulError> {
        let (rows, cols) = (self.rows(), self.cols());
        if cols == 0 || !x.len().is_multiple_of(cols) {
            return Err(MatmulError::InputLength {
                tensor: self.tensor.name.to_owned(),
                cols,
                actual: x.len(),
            });
        }
        let n = x.len() / cols;
        if rows == 0 {
            return if y.is_empty() {
                Ok(())
            } else {
                Err(MatmulError::OutputLength {
                    expected: 0,
                    actual: y.len(),
                })
            };
        }
        if y.len() != n * rows {
            return Err(MatmulError::OutputLength {
                expected: n * rows,
                actual: y.len(),
            });
        }
        if let Some((index, &value)) = x.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(MatmulError::NonFiniteInput { index, value });
        }
        if self.semantics == Semantics::Ggml {
            for (v, x) in x.chunks_exact(cols).enumerate() {
                if let Some((b, max)) = q8_k_scale_overflow(x) {
                    let first = v * cols + b * QK_K;
                    let end = (first + QK_K).min((v + 1) * cols);
                    return Err(MatmulError::ActivationScaleOverflow { first, end, max });
                }
            }
        }
        for (x, y) in x.chunks_exact(cols).zip(y.chunks_exact_mut(rows)) {
            match self.semantics {
                Semantics::Ggml => self.ggml(kernel, x, y),
                Semantics::BitnetCpp => self.bitnetcpp(kernel, x, y),
                Semantics::Exact => self.exact(kernel, x, y),
            }
        }
        Ok(())
    }

    /// The rows of the tensor's blocks: `rows` slices of `data`.
    fn row_data(&self) -> core::slice::ChunksExact<'a, u8> {
        let t = &self.tensor;
        t.data.chunks_exact(t.data.len() / t.rows)
    }

    /// ggml: per 256-element block `sumi = Σ (code − 1) × q` (exact), then in `f32`, block by
    /// block, `sumf += (f32)sumi × (d_x × d_w)`; then `× post`, if any.
    fn ggml(&self, kernel: Kernel, x: &[f32], y: &mut [f32]) {
        let format = self.tensor.format;
        let q8 = quantize_q8_k(x);
        let q: Vec<i8> = q8.iter().flat_map(|b| b.qs).collect();
        let q_sums: Vec<i32> = q8.iter().map(BlockQ8K::sum).collect();
        let per_row = format.blocks_per_row(self.cols() as u64) as usize;
        let q = &q[..per_row * format.block_elems()];
        // Format blocks per 256-element block: 1 (QK256, TQ), 2 (bitnetcpp), 8 (BitNet32F16).
        let group = QK_K / format.block_elems();
        let mut sums = vec![0i32; per_row];
        let d_w = self.block_d.chunks_exact(q8.len());
        for ((row, y), d_w) in self.row_data().zip(y.iter_mut()).zip(d_w) {
            kernel.code_dots(format, row, q, &mut sums);
            let mut sumf = 0.0f32;
            if group == 1 {
                for (((&dot, &q_sum), b), &d_w) in sums.iter().zip(&q_sums).zip(&q8).zip(d_w) {
                    sumf += (dot - q_sum) as f32 * (b.d * d_w);
                }
            } else {
                let blocks = sums.chunks(group).zip(&q_sums).zip(&q8).zip(d_w);
                for (((sums, &q_sum), b), &d_w) in blocks {
                    let sumi = sums.iter().sum::<i32>() - q_sum;
                    sumf += sumi as f32 * (b.d * d_w);
                }
            }
            *y = match self.post {
                Some(s) => sumf * s,
                None => sumf,
            };
        }
    }

    /// bitnet.cpp: `dot = Σ code × q` over the row (exact), then
    /// `((f32)dot − (f32)Σq) / s_x × s_w`.
    fn bitnetcpp(&self, kernel: Kernel, x: &[f32], y: &mut [f32]) {
        let format = self.tensor.format;
        let a = quantize_i8_s(x);
        let mut sums = vec![0i32; self.cols() / format.block_elems()];
        for (row, y) in self.row_data().zip(y.iter_mut()) {
            kernel.code_dots(format, row, &a.q, &mut sums);
            let dot: i32 = sums.iter().sum();
            *y = (dot as f32 - a.sum as f32) / a.scale * self.tensor.scale;
        }
    }

    /// Exact: each row decoded (scale and post-scale applied, as `dequant` gives it), then
    /// `Σ w × x` in `f64`, left to right, rounded once to `f32`.
    fn exact(&self, kernel: Kernel, x: &[f32], y: &mut [f32]) {
        let t = &self.tensor;
        let mut w = vec![0.0f32; t.cols];
        for (row, y) in self.row_data().zip(y.iter_mut()) {
            kernel
                .dequantize(t.format, row, 1, t.cols, t.scale, &mut w)
                .expect("a checked tensor's row decodes");
            t.apply_post_scale(&mut w);
            let sum = w
                .iter()
                .zip(x)
                .fold(0.0f64, |acc, (&w, &x)| acc + wide_product(w, x));
            *y = sum as f32;
        }
    }
}
