//! `bitnet_models::matmul` against products computed from the weights themselves, never from
//! our blocks (`fixtures::products`: ggml's and bitnet.cpp's formulas written out over `i8`
//! weights, the exact product in `f64`); every kernel gives the same bits; the integer sums do
//! not wrap; the fixtures' `expected.json` products are what the library computes.
#![cfg(feature = "fixtures")]

use bitnet_models::fixtures::products;
use bitnet_models::format::TernaryFormat;
use bitnet_models::matmul::{MatmulError, Semantics, Weights};
use bitnet_models::pack::pack;
use bitnet_models::{Kernel, TernaryTensor};
use bitnet_testkit::rng::SplitMix64;
use half::f16;
use proptest::prelude::*;

/// A packed tensor and what it was packed from.
struct Packed {
    format: TernaryFormat,
    weights: Vec<i8>,
    rows: usize,
    cols: usize,
    /// One f16 `d` per block (formats with block scales), row-major.
    d: Vec<f16>,
    /// QK256's sibling / bitnetcpp's tail scale; 1.0 otherwise.
    scale: f32,
    /// The TQ formats' `.scale` sibling.
    post: Option<f32>,
    stored: Vec<u8>,
}

impl Packed {
    fn new(format: TernaryFormat, weights: Vec<i8>, rows: usize, cols: usize, d: Vec<f16>) -> Self {
        let scale = 1.0;
        let mut stored = pack(format, &weights, rows, cols, &d).expect("packs");
        if format == TernaryFormat::BitnetCpp {
            stored.extend_from_slice(&[0; 32]);
        }
        Packed {
            format,
            weights,
            rows,
            cols,
            d,
            scale,
            post: None,
            stored,
        }
    }

    fn with_scale(mut self, scale: f32) -> Self {
        self.scale = scale;
        if self.format == TernaryFormat::BitnetCpp {
            let at = self.stored.len() - 32;
            self.stored[at..at + 4].copy_from_slice(&scale.to_le_bytes());
        }
        self
    }

    fn tensor(&self) -> TernaryTensor<'_> {
        let data = &self.stored[..self.stored.len() - self.format.tail_bytes()];
        TernaryTensor {
            name: "w",
            format: self.format,
            data,
            stored: &self.stored,
            rows: self.rows,
            cols: self.cols,
            scale: self.scale,
            post_scale: self.post,
            offset: 0,
        }
    }

    /// The weight scale of element `(r, c)` as the format holds it.
    fn d_at(&self, r: usize, c: usize) -> f32 {
        if !self.format.has_block_scale() {
            return self.scale;
        }
        let per_row = self.cols.div_ceil(self.format.block_elems());
        self.d[r * per_row + c / self.format.block_elems()].to_f32()
    }

    fn w(&self, r: usize, c: usize) -> i8 {
        self.weights[r * self.cols + c]
    }
}

/// A random `rows × cols` tensor of `format`, block scales drawn (`uniform`: one per row's
/// 256 columns, so that BitNet32F16 converts to TQ2_0).
fn random(format: TernaryFormat, rows: usize, cols: usize, seed: u64, uniform: bool) -> Packed {
    let mut rng = SplitMix64::new(seed);
    let weights = rng.ternary(rows * cols);
    let n = if format.has_block_scale() {
        rows * cols.div_ceil(format.block_elems())
    } else {
        0
    };
    let per_256 = 256 / format.block_elems();
    let mut d = Vec::with_capacity(n);
    let mut current = f16::ONE;
    for i in 0..n {
        if !uniform || i % per_256.max(1) == 0 || i % cols.div_ceil(format.block_elems()) == 0 {
            current = f16::from_f32(0.25 + (rng.next_u64() % 1000) as f32 / 1024.0);
        }
        d.push(current);
    }
    Packed::new(format, weights, rows, cols, d).with_scale(if format.has_block_scale() {
        1.0
    } else {
        0.5 + (rng.next_u64() % 997) as f32 / 512.0
    })
}

/// `n` activations in [−1, 1) from `seed` (the fixtures' generator).
fn activations(n: usize, seed: u64) -> Vec<f32> {
    products::activations(seed, n)
}

/// ggml's product from the weights (`fixtures::products::ggml`).
fn ggml_reference(
    p: &Packed,
    d_w: impl Fn(usize, usize) -> f32,
    post: Option<f32>,
    x: &[f32],
) -> Vec<f32> {
    products::ggml(&p.weights, p.cols, &d_w, post, x)
}

/// bitnet.cpp's product from the weights (`fixtures::products::bitnetcpp`).
fn bitnetcpp_reference(p: &Packed, x: &[f32]) -> Vec<f32> {
    products::bitnetcpp(&p.weights, p.cols, p.scale, x)
}

/// The exact product of the decoded values `w × d` (× post), `fixtures::products::exact`.
fn exact_reference(p: &Packed, x: &[f32]) -> Vec<f32> {
    let v = |r, c| {
        let v = f32::from(p.w(r, c)) * p.d_at(r, c);
        p.post.map_or(v, |s| v * s)
    };
    products::exact(p.rows, p.cols, &v, x)
}

fn product(
    p: &Packed,
    semantics: Semantics,
    kernel: Kernel,
    x: &[f32],
) -> Result<Vec<f32>, MatmulError> {
    let w = Weights::new(&p.tensor(), semantics)?;
    let mut y = vec![f32::NAN; p.rows * (x.len() / p.cols)];
    w.gemm(kernel, x, &mut y)?;
    Ok(y)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|v| v.to_bits()).collect()
}

/// Every kernel, `want` bit for bit.
fn assert_all_kernels(p: &Packed, semantics: Semantics, x: &[f32], want: &[f32], what: &str) {
    for kernel in Kernel::available() {
        let got = product(p, semantics, kernel, x).expect(what);
        assert_eq!(bits(&got), bits(want), "{what}: {kernel}");
    }
}

const SHAPES: [(usize, usize); 6] = [(1, 256), (3, 512), (5, 768), (2, 1024), (7, 256), (4, 2304)];

#[test]
fn tq_formats_follow_ggml() {
    for (i, &(rows, cols)) in SHAPES.iter().enumerate() {
        for format in [TernaryFormat::Tq2_0, TernaryFormat::Tq1_0] {
            for post in [None, Some(0.6875f32)] {
                let mut p = random(format, rows, cols, 7 + i as u64, false);
                p.post = post;
                let x = activations(cols, i as u64);
                let want = ggml_reference(&p, |r, c| p.d_at(r, c), post, &x);
                assert_all_kernels(
                    &p,
                    Semantics::Ggml,
                    &x,
                    &want,
                    &format!("{format} {rows}x{cols}"),
                );
            }
        }
    }
}

/// QK256, bitnetcpp and BitNet32F16 (one `d` per 256 columns) under ggml: the product of the same
/// weights as TQ2_0 with `d = 1` and the tensor scale as `.scale` (what `convert --to tq2_0`
/// writes) — for BitNet32F16, with the shared `d` and no sibling.
#[test]
fn other_dialects_follow_ggml_as_converted() {
    for (i, &(rows, cols)) in SHAPES.iter().enumerate() {
        for format in [
            TernaryFormat::Qk256,
            TernaryFormat::BitnetCpp,
            TernaryFormat::BitNet32F16,
        ] {
            let p = random(format, rows, cols, 40 + i as u64, true);
            let x = activations(cols, 100 + i as u64);
            let (d_w, post): (Box<dyn Fn(usize, usize) -> f32>, _) = match format {
                TernaryFormat::BitNet32F16 => (Box::new(|r, c| p.d_at(r, c)), None),
                _ => (Box::new(|_, _| 1.0), Some(p.scale)),
            };
            let want = ggml_reference(&p, d_w, post, &x);
            assert_all_kernels(
                &p,
                Semantics::Ggml,
                &x,
                &want,
                &format!("{format} {rows}x{cols}"),
            );
        }
    }
}

/// Rows padded to whole blocks (QK256 at 300 columns, TQ2_0 at 200): the padding's weight is 0
/// and its activation 0, so it adds nothing.
#[test]
fn padded_rows_follow_ggml() {
    for (format, cols) in [(TernaryFormat::Qk256, 300), (TernaryFormat::Tq2_0, 200)] {
        let p = random(format, 3, cols, 5, true);
        let x = activations(cols, 6);
        let post = (format == TernaryFormat::Qk256).then_some(p.scale);
        let d = |r, c| {
            if format == TernaryFormat::Qk256 {
                1.0
            } else {
                p.d_at(r, c)
            }
        };
        let want = ggml_reference(&p, d, post, &x);
        assert_all_kernels(&p, Semantics::Ggml, &x, &want, &format!("{format} padded"));
    }
}

#[test]
fn bitnetcpp_follows_bitnet_cpp() {
    for (i, &(rows, cols)) in SHAPES
        .iter()
        .chain(&[(3, 128), (2, 384), (1, 640)])
        .enumerate()
    {
        let p = random(TernaryFormat::BitnetCpp, rows, cols, 70 + i as u64, false);
        let x = activations(cols, 200 + i as u64);
        let want = bitnetcpp_reference(&p, &x);
        assert_all_kernels(
            &p,
            Semantics::BitnetCpp,
            &x,
            &want,
            &format!("{rows}x{cols}"),
        );
    }
}

#[test]
fn exact_is_the_f64_product() {
    for format in TernaryFormat::ALL {
        for (i, &(rows, cols)) in SHAPES.iter().enumerate() {
            let cols = if format.fits_cols(cols as u64 + 64) {
                cols + 64
            } else {
                cols
            };
            let mut p = random(format, rows, cols, 300 + i as u64, false);
            if matches!(format, TernaryFormat::Tq2_0 | TernaryFormat::Tq1_0) {
                p.post = Some(1.5);
            }
            let x = activations(cols, 400 + i as u64);
            let want = exact_reference(&p, &x);
            assert_all_kernels(
                &p,
                Semantics::Exact,
                &x,
                &want,
                &format!("{format} {rows}x{cols}"),
            );
        }
    }
}

/// All weights +1 and all activations 1.0 over 4096 columns: every activation quantizes to
/// 127, so `Σ code × q = 2 × 127 × 4096 = 1,040,384` and `Σ q = 520,192`, far past what a 16-bit
/// accumulator holds; the product is exactly `4096 × s` (and the exact product agrees).
#[test]
fn integer_sums_do_not_wrap_at_16_bits() {
    for cols in [4096usize, 8192] {
        let s = 0.375f32;
        let p = Packed::new(
            TernaryFormat::BitnetCpp,
            vec![1; 2 * cols],
            2,
            cols,
            Vec::new(),
        )
        .with_scale(s);
        let x = vec![1.0f32; cols];
        let want = vec![cols as f32 * s; 2];
        assert_all_kernels(&p, Semantics::BitnetCpp, &x, &want, "bitnetcpp, all +1");
        assert_all_kernels(&p, Semantics::Exact, &x, &want, "exact, all +1");
        // ggml: −127 per element (iscale = −127), d_x = −1/127, d_w = 1: each block adds
        // (f32)(−32512) × (−1/127 × 1) to the sum, s after.
        let d = vec![f16::ONE; 2 * cols / 256];
        let tq = Packed::new(TernaryFormat::Tq2_0, vec![1; 2 * cols], 2, cols, d);
        let block = -32512.0f32 * (-1.0f32 / 127.0);
        let sumf = (0..cols / 256).fold(0.0f32, |acc, _| acc + block);
        assert_all_kernels(&tq, Semantics::Ggml, &x, &[sumf, sumf], "tq2_0, all +1");
        assert!((sumf - cols as f32).abs() < 0.01 * cols as f32);
    }
}

/// A batch is each vector on its own, quantized on its own.
#[test]
fn gemm_is_gemv_per_vector() {
    let p = random(TernaryFormat::Tq2_0, 5, 512, 9, false);
    let x = activations(3 * 512, 10);
    for semantics in [Semantics::Ggml, Semantics::Exact] {
        let batch = product(&p, semantics, Kernel::best(), &x).unwrap();
        for (v, y) in x.chunks(512).zip(batch.chunks(5)) {
            assert_eq!(
                bits(&product(&p, semantics, Kernel::best(), v).unwrap()),
                bits(y)
            );
        }
    }
}

#[test]
fn errors_name_what_is_wrong() {
    let p = random(TernaryFormat::Tq2_0, 2, 256, 1, false);
    let w = Weights::new(&p.tensor(), Semantics::Ggml).unwrap();
    let mut y = vec![0.0; 2];
    let err = w.gemv(Kernel::scalar(), &[1.0; 255], &mut y).unwrap_err();
    assert_eq!(err.code(), "input-length");
    assert_eq!(
        err.to_string(),
        "input holds 255 values; tensor \"w\" takes vectors of 256 (its columns)"
    );
    let mut x = vec![1.0; 256];
    x[17] = f32::NAN;
    let err = w.gemv(Kernel::scalar(), &x, &mut y).unwrap_err();
    assert!(
        matches!(err, MatmulError::NonFiniteInput { index: 17, value } if value.is_nan()),
        "{err}"
    );
    assert_eq!(err.code(), "non-finite-input");
    let err = w
        .gemv(Kernel::scalar(), &[1.0; 256], &mut [0.0; 3])
        .unwrap_err();
    assert_eq!(
        err,
        MatmulError::OutputLength {
            expected: 2,
            actual: 3
        }
    );

    let err = Weights::new(&p.tensor(), Semantics::BitnetCpp).unwrap_err();
    assert_eq!(err.code(), "not-applicable");
    let b32 = random(TernaryFormat::BitNet32F16, 2, 256, 3, false);
    let err = Weights::new(&b32.tensor(), Semantics::Ggml).unwrap_err();
    assert!(
        err.to_string()
            .contains("does not convert to tq2_0 exactly"),
        "{err}"
    );

    // A reserved code (3) in the second byte of row 1 of a QK256 tensor.
    let mut q = random(TernaryFormat::Qk256, 2, 256, 4, false);
    q.stored[64 + 1] |= 0b11;
    for semantics in Semantics::ALL {
        let err = Weights::new(&q.tensor(), semantics).unwrap_err();
        assert_eq!(
            err,
            MatmulError::ReservedCodes {
                tensor: "w".into(),
                count: 1,
                offset: 65
            },
            "{semantics}"
        );
    }
    assert_eq!(
        "bitnet".parse::<Semantics>().unwrap_err().code(),
        "unknown-semantics"
    );
    for s in Semantics::ALL {
        assert_eq!(s.name().parse::<Semantics>().unwrap(), s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Every kernel gives the scalar kernel's bits, for every dialect and semantics that applies,
    /// odd row counts and one-block rows included.
    #[test]
    fn kernels_agree(format_i in 0usize..5, rows in 1usize..7, blocks in 1usize..5, seed: u64) {
        let format = TernaryFormat::ALL[format_i];
        let cols = match format {
            TernaryFormat::BitNet32F16 => 32 * blocks * 8,
            TernaryFormat::BitnetCpp => 128 * blocks,
            _ => 256 * blocks,
        };
        let p = random(format, rows, cols, seed, true);
        let x = activations(cols * 2, seed);
        for semantics in Semantics::ALL {
            let Ok(want) = product(&p, semantics, Kernel::scalar(), &x) else { continue };
            for kernel in Kernel::available() {
                let got = product(&p, semantics, kernel, &x).unwrap();
                prop_assert_eq!(bits(&got), bits(&want), "{} {} {}", format, semantics, kernel);
            }
        }
    }
}

/// Every product in the committed `expected.json` is what `matmul` computes from the committed
/// fixture, with every kernel; where a semantics does not apply, `Weights::new` says the same.
#[test]
fn fixture_expected_products_are_the_library_s() {
    use bitnet_testkit::fixtures;
    use sha2::{Digest, Sha256};
    let expected: serde_json::Value = serde_json::from_str(fixtures::EXPECTED).unwrap();
    let (mut computed, mut refused) = (0, 0);
    for file in expected["fixtures"].as_array().unwrap() {
        let model =
            bitnet_models::Model::parse(fixtures::get(file["file"].as_str().unwrap())).unwrap();
        let index = model.index_of("blk.0.attn_q.weight").unwrap();
        let tensor = model.ternary(index).unwrap().unwrap();
        let m = &file["tensors"][0]["matmul"];
        let x: Vec<f32> = m["input"]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let seed = m["input"]["seed"].as_u64().unwrap();
        assert_eq!(
            bits(&x),
            bits(&products::activations(seed, tensor.cols)),
            "input from its seed"
        );
        for p in m["products"].as_array().unwrap() {
            let semantics: Semantics = p["semantics"].as_str().unwrap().parse().unwrap();
            match Weights::new(&tensor, semantics) {
                Err(e) => {
                    assert_eq!(p["not_applicable"].as_str(), Some(e.to_string().as_str()));
                    refused += 1;
                }
                Ok(w) => {
                    for kernel in Kernel::available() {
                        let mut y = vec![0.0; tensor.rows];
                        w.gemv(kernel, &x, &mut y).unwrap();
                        let le: Vec<u8> = y.iter().flat_map(|v| v.to_le_bytes()).collect();
                        let sha = hex::encode(Sha256::digest(&le));
                        assert_eq!(
                            p["sha256"].as_str(),
                            Some(sha.as_str()),
                            "{semantics} {kernel}"
                        );
                        let first: Vec<String> = y
                            .iter()
                            .take(8)
                            .map(|v| format!("0x{:08x}", v.to_bits()))
                            .collect();
                        assert_eq!(p["first_bits"], serde_json::json!(first));
                    }
                    computed += 1;
                }
            }
        }
    }
    // ggml: 3 (BitNet32F16's block scales differ within 256 columns), bitnetcpp: 1, exact: 4.
    assert_eq!((computed, refused), (8, 4));
}
