//! How each engine turns an `f32` activation vector into the integers its dot products take
//! (docs/matmul.md): ggml's `q8_K` blocks and bitnet.cpp's per-tensor int8.

/// Elements of a `q8_K` block (ggml's `QK_K`).
pub const QK_K: usize = 256;

/// One block of ggml's `block_q8_K`: 256 activations as `qs × d`.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockQ8K {
    /// The block's scale: `1 / iscale` with `iscale = −127 / max`, `max` the element of largest
    /// magnitude (the first of equals); 0 for a block of zeros.
    pub d: f32,
    /// The quantized activations, in `−127..=127`.
    pub qs: [i8; QK_K],
    /// The sum of each run of 16 `qs`.
    pub bsums: [i16; QK_K / 16],
}

impl BlockQ8K {
    /// The sum of all 256 `qs`.
    pub fn sum(&self) -> i32 {
        self.bsums.iter().map(|&s| i32::from(s)).sum()
    }
}

/// ggml's `nearest_int`: `v` rounded to the nearest integer, ties to even, computed as ggml
/// does by adding `1.5 × 2²³` in `f32` and reading the low mantissa bits. Exact for
/// `|v| ≤ 2²² − 1`, which every caller here keeps to (`|v| ≤ 127.5`, given finite scales:
/// [`q8_k_scale_overflow`]).
pub fn nearest_int(v: f32) -> i32 {
    let biased = v + 12_582_912.0;
    (biased.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

/// `x` as ggml's `quantize_row_q8_K_ref` quantizes it: per block of 256, `iscale = −127 / max`
/// (`max` the signed value of largest magnitude, the first of ties), `qs = min(127,
/// nearest_int(iscale × x))`, `d = 1 / iscale`; a block of zeros gets `d = 0` and zero `qs`.
/// A last partial block is padded with zeros (ggml itself takes whole blocks only).
///
/// `x` must be finite (the callers check it; a NaN or infinity has no meaning here).
pub fn quantize_q8_k(x: &[f32]) -> Vec<BlockQ8K> {
    x.chunks(QK_K)
        .map(|chunk| {
            let mut block = BlockQ8K {
                d: 0.0,
                qs: [0; QK_K],
                bsums: [0; QK_K / 16],
            };
            let (mut max, mut amax) = (0.0f32, 0.0f32);
            for &v in chunk {
                if v.abs() > amax {
                    amax = v.abs();
                    max = v;
                }
            }
            if amax == 0.0 {
                return block;
            }
            let iscale = -127.0 / max;
            for (q, &v) in block.qs.iter_mut().zip(chunk) {
                *q = nearest_int(iscale * v).min(127) as i8;
            }
            for (sum, run) in block.bsums.iter_mut().zip(block.qs.chunks_exact(16)) {
                *sum = run.iter().map(|&q| i16::from(q)).sum();
            }
            block.d = 1.0 / iscale;
            block
        })
        .collect()
}

/// The first block of `x` whose `iscale = −127 / max` is not finite (its largest magnitude is
/// above 0 but below `127 / f32::MAX`, about 3.7 × 10⁻³⁷), with that magnitude: ggml's
/// quantization has no result for it (its `nearest_int` asserts), so the product is refused.
pub fn q8_k_scale_overflow(x: &[f32]) -> Option<(usize, f32)> {
    x.chunks(QK_K).enumerate().find_map(|(b, chunk)| {
        let amax = chunk.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        (amax > 0.0 && !(127.0 / amax).is_finite()).then_some((b, amax))
    })
}

/// An activation vector as bitnet.cpp's `quantize_row_i8_s` quantizes it, for the whole vector.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivationI8 {
    /// The quantized activations, in `−128..=127`.
    pub q: Vec<i8>,
    /// `127 / max(max|x|, 10⁻⁵)`, computed in `f64` and rounded once to `f32`.
    pub scale: f32,
    /// The sum of `q`.
    pub sum: i32,
}

/// `x` as bitnet.cpp quantizes activations for its I2_S matmul: one scale for the vector,
/// `s = (f32)(127 / max(10⁻⁵, max|x|))` with the maximum taken in `f64`; each
/// `q = clamp(nearest_int(x × s), −128, 127)` (the `f32` product, rounded as ggml's
/// [`nearest_int`]); and the sum of the `q`.
///
/// `x` must be finite.
pub fn quantize_i8_s(x: &[f32]) -> ActivationI8 {
    let max = x
        .iter()
        .fold(0.000_01f64, |m, &v| m.max(f64::from(v.abs())));
    let scale = (127.0 / max) as f32;
    let q: Vec<i8> = x
        .iter()
        .map(|&v| nearest_int(v * scale).clamp(-128, 127) as i8)
        .collect();
    let sum = q.iter().map(|&v| i32::from(v)).sum();
    ActivationI8 { q, scale, sum }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_rounds_ties_to_even() {
        let cases = [
            (0.5, 0),
            (1.5, 2),
            (2.5, 2),
            (-0.5, 0),
            (-1.5, -2),
            (126.5, 126),
            (127.49, 127),
            (-127.5, -128),
            (0.49999997, 0),
            (3.0, 3),
            (-3.0, -3),
        ];
        for (v, want) in cases {
            assert_eq!(nearest_int(v), want, "{v}");
        }
    }

    /// Worked by hand from the rule: max = −2 (the largest magnitude, negative), iscale = 63.5.
    #[test]
    fn q8_k_block_by_hand() {
        let mut x = [0.0f32; QK_K];
        x[0] = 1.0;
        x[1] = -2.0;
        x[2] = 0.5;
        x[3] = 2.0; // the same magnitude as x[1], later: max stays −2
        x[17] = -1.0;
        let b = &quantize_q8_k(&x)[0];
        assert_eq!(b.d.to_bits(), (1.0f32 / 63.5).to_bits());
        // 63.5 × 1 → 64 (tie to even), −127, 31.75 → 32, 127, −63.5 → −64 (tie to even)
        assert_eq!(&b.qs[..4], &[64, -127, 32, 127]);
        assert_eq!(b.qs[17], -64);
        assert_eq!(b.bsums[0], 64 - 127 + 32 + 127);
        assert_eq!(b.bsums[1], -64);
        assert_eq!(b.sum(), 64 - 127 + 32 + 127 - 64);
        assert!(b.bsums[2..].iter().all(|&s| s == 0));
    }

    #[test]
    fn q8_k_scale_overflow_finds_the_block() {
        let mut x = vec![1.0f32; 3 * QK_K];
        assert_eq!(q8_k_scale_overflow(&x), None);
        x[QK_K..2 * QK_K].fill(0.0);
        assert_eq!(
            q8_k_scale_overflow(&x),
            None,
            "a zero block quantizes to d = 0"
        );
        x[QK_K + 5] = 3.0e-37;
        assert_eq!(q8_k_scale_overflow(&x), Some((1, 3.0e-37)));
        x[QK_K + 5] = 4.0e-37; // 127 / 4e-37 < f32::MAX
        assert_eq!(q8_k_scale_overflow(&x), None);
    }

    #[test]
    fn q8_k_zero_block_and_padding() {
        let mut x = vec![0.0f32; QK_K + 10];
        x[QK_K + 9] = 4.0;
        let blocks = quantize_q8_k(&x);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].d.to_bits(), 0);
        assert!(blocks[0].qs.iter().all(|&q| q == 0));
        assert_eq!(blocks[1].qs[9], -127, "iscale = −127/4, so 4 → −127");
        assert!(blocks[1].qs[10..].iter().all(|&q| q == 0), "padding");
        assert_eq!(blocks[1].d, -4.0 / 127.0);
    }

    /// Worked by hand: max|x| = 2, s = 63.5; the sum is of the rounded values.
    #[test]
    fn i8_s_by_hand() {
        let a = quantize_i8_s(&[1.0, -2.0, 0.5, 0.0, -1.0]);
        assert_eq!(a.scale.to_bits(), 63.5f32.to_bits());
        assert_eq!(a.q, vec![64, -127, 32, 0, -64]);
        assert_eq!(a.sum, 64 - 127 + 32 - 64);
        // A vector of zeros: the floor 1e-5 gives s = 12_700_000 and zero codes.
        let z = quantize_i8_s(&[0.0; 3]);
        assert_eq!(z.scale, (127.0f64 / 0.000_01) as f32);
        assert_eq!((z.q, z.sum), (vec![0; 3], 0));
        // The floor matters for tiny inputs: 1e-6 × 12.7e6 = 12.7 → 13.
        assert_eq!(quantize_i8_s(&[1e-6]).q, vec![13]);
    }
}
