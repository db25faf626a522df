//! The check of a converted slice of rows: every element decodes to the source's value, bit for
//! bit.
//!
//! Every kernel decodes an element as `code_weight(code) × s`, times the tensor's second factor
//! where it has one (`s` the block's `d`, or the tensor's scale): the value is a function of the
//! code and of the scales of the element's block. So two tensors decode to the same values
//! exactly when every element has the same code in both (read back from each side's own bytes)
//! and, for every stretch of columns under one block scale on each side, each of the three codes
//! stands for the same `f32` bits on both. That is what is compared here: a byte per element
//! and three values per block, rather than four bytes per element decoded twice.

use half::f16;

use crate::kernels::code_weight;
use crate::model::TernaryTensor;

use super::encode::{codes, wide};

/// Compares `converted` with `source` (the same rows, `first_row` onwards in the tensor):
/// `source_codes` holds the source's codes; `converted_codes` is a buffer for the other side's.
/// `Err` names the first element that differs and how.
pub(crate) fn same_values(
    source: &TernaryTensor<'_>,
    converted: &TernaryTensor<'_>,
    first_row: usize,
    source_codes: &[u8],
    converted_codes: &mut Vec<u8>,
) -> Result<(), String> {
    if (source.rows, source.cols) != (converted.rows, converted.cols) {
        return Err(format!(
            "shape {}x{} became {}x{}",
            source.rows, source.cols, converted.rows, converted.cols
        ));
    }
    if source.is_empty() {
        return Ok(());
    }
    let cols = source.cols;
    codes(converted, converted_codes);
    if let Some(k) = first_difference(source_codes, converted_codes) {
        return Err(format!(
            "row {}, column {}: code {} became {}",
            first_row + k / cols,
            k % cols,
            source_codes[k],
            converted_codes[k]
        ));
    }
    same_scales(source, converted, first_row)
}

/// The scales of one row of `t` as runs: `(unit, bits)` where the scale of `step`-column unit
/// `unit` onwards becomes `bits` (the block's f16 `d`, or the tensor's f32 scale), into `out`;
/// the first run starts at unit 0. `step` divides the block size.
fn scale_runs(t: &TernaryTensor<'_>, row: usize, step: usize, out: &mut Vec<(usize, u32)>) {
    out.clear();
    let format = t.format;
    if !format.has_block_scale() {
        out.push((0, t.scale.to_bits()));
        return;
    }
    let row_bytes = t.data.len() / t.rows;
    let data = &t.data[row * row_bytes..(row + 1) * row_bytes];
    let at = format.code_bytes();
    let per_block = format.block_elems() / step;
    let mut last = None;
    for (i, block) in data.chunks_exact(format.block_bytes()).enumerate() {
        let d = u32::from(u16::from_le_bytes([block[at], block[at + 1]]));
        if last != Some(d) {
            out.push((i * per_block, d));
            last = Some(d);
        }
    }
}

/// What codes 0, 1 and 2 decode to under the scale `bits` of `t` (as [`scale_runs`] gives it),
/// as the kernels compute them: `code_weight(code) × s`, times the tensor's second factor if
/// it has one.
fn values(t: &TernaryTensor<'_>, bits: u32) -> [f32; 3] {
    let s = if t.format.has_block_scale() {
        f16::from_bits(bits as u16).to_f32()
    } else {
        f32::from_bits(bits)
    };
    [0, 1, 2].map(|code| {
        let v = code_weight(code) * s;
        t.post_scale.map_or(v, |p| v * p)
    })
}

/// The stretch of columns one scale of `t` covers: a block, or the whole row.
fn scale_span(t: &TernaryTensor<'_>) -> usize {
    if t.format.has_block_scale() {
        t.format.block_elems()
    } else {
        usize::MAX
    }
}

/// That every code stands for the same value on both sides, block by block: each row's scales
/// as runs on each side, compared wherever either changes.
fn same_scales(
    source: &TernaryTensor<'_>,
    converted: &TernaryTensor<'_>,
    first_row: usize,
) -> Result<(), String> {
    let step = scale_span(source)
        .min(scale_span(converted))
        .min(source.cols);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    // The scales last compared: the same pair again needs no new comparison.
    let mut last = None;
    for row in 0..source.rows {
        scale_runs(source, row, step, &mut a);
        scale_runs(converted, row, step, &mut b);
        let (mut i, mut j) = (0, 0);
        while let (Some(&(ua, ka)), Some(&(ub, kb))) = (a.get(i), b.get(j)) {
            let key = (ka, kb);
            if last != Some(key) {
                let (va, vb) = (values(source, ka), values(converted, kb));
                if let Some(code) = (0..3).find(|&c| va[c].to_bits() != vb[c].to_bits()) {
                    return Err(format!(
                        "row {}, column {}: code {code} decodes to {:e}, not {:e}",
                        first_row + row,
                        ua.max(ub) * step,
                        vb[code],
                        va[code]
                    ));
                }
                last = Some(key);
            }
            // On to the next change on either side (both, where they change together).
            let (na, nb) = (
                a.get(i + 1).map_or(usize::MAX, |r| r.0),
                b.get(j + 1).map_or(usize::MAX, |r| r.0),
            );
            if na == usize::MAX && nb == usize::MAX {
                break;
            }
            if na <= nb {
                i += 1;
            }
            if nb <= na {
                j += 1;
            }
        }
    }
    Ok(())
}

/// The index of the first byte that differs between `a` and `b` (of equal length).
///
/// 64 bytes at a time without a branch, in fixed-size arrays (so the loop is vectorized); the
/// first differing one is looked for only in a chunk that has one.
/// With AVX2 where the CPU has it.
fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    wide(
        #[inline(always)]
        || first_difference_in(a, b),
    )
}

/// [`first_difference`]'s loop, inlined into the AVX2 or plain function.
#[inline(always)]
fn first_difference_in(a: &[u8], b: &[u8]) -> Option<usize> {
    let n = a.len().min(b.len());
    let (a, b, longer) = (&a[..n], &b[..n], a.len() != b.len());
    let (ca, _) = a.as_chunks::<64>();
    let (cb, _) = b.as_chunks::<64>();
    let same = |x: &[u8; 64], y: &[u8; 64]| {
        let mut acc = 0u8;
        for k in 0..64 {
            acc |= x[k] ^ y[k];
        }
        acc == 0
    };
    let chunk = ca.iter().zip(cb).position(|(x, y)| !same(x, y));
    let start = chunk.map_or(ca.len() * 64, |c| c * 64);
    a[start..]
        .iter()
        .zip(&b[start..])
        .position(|(x, y)| x != y)
        .map(|i| start + i)
        .or(longer.then_some(n))
}

#[cfg(test)]
pub(super) mod tests {
    use half::f16;
    use proptest::prelude::*;

    use super::{first_difference, same_values};
    use crate::format::TernaryFormat;
    use crate::kernels::Kernel;
    use crate::model::TernaryTensor;
    use crate::pack::pack_codes;

    #[test]
    fn first_difference_finds_the_first_differing_byte() {
        let a: Vec<u8> = (0..200u32).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(first_difference(&a, &a), None);
        // In the first chunk, at a chunk's last and first byte, in the tail past the chunks.
        for at in [0, 5, 63, 64, 127, 128, 130, 199] {
            let mut b = a.clone();
            b[at] ^= 1;
            assert_eq!(first_difference(&a, &b), Some(at), "at {at}");
            // A later difference does not hide it.
            if at + 70 < b.len() {
                b[at + 70] ^= 0x80;
            }
            assert_eq!(first_difference(&a, &b), Some(at), "at {at} and later");
        }
        // A shorter side differs where it ends.
        assert_eq!(first_difference(&a, &a[..150]), Some(150));
        assert_eq!(first_difference(&a[..150], &a), Some(150));
        // Bytes with no bit in common: zeros and a single bit.
        let zeros = [0u8; 128];
        let mut one = zeros;
        one[70] = 1;
        assert_eq!(first_difference(&zeros, &one), Some(70));
        // Equal, of whole chunks and none.
        for n in [0, 64, 128] {
            assert_eq!(first_difference(&a[..n], &a[..n]), None, "{n}");
        }
    }

    /// Scales the tests draw from: signed zeros, a negative, and values of one f16.
    const SCALES: [f32; 6] = [1.0, 0.5, -0.5, 0.0, -0.0, 2.0];

    /// A `rows × cols` tensor of `format` holding `codes` (row-major), each block's scale that
    /// of `unit_scale(row, first column)`, QK256 and bitnetcpp's tensor scale that of (0, 0).
    pub(crate) fn tensor(
        format: TernaryFormat,
        codes: &[u8],
        (rows, cols): (usize, usize),
        unit_scale: &dyn Fn(usize, usize) -> f32,
        post_scale: Option<f32>,
    ) -> TernaryTensor<'static> {
        let elems = format.block_elems();
        let d: Vec<f16> = if format.has_block_scale() {
            (0..rows)
                .flat_map(|r| (0..cols).step_by(elems).map(move |c| (r, c)))
                .map(|(r, c)| f16::from_f32(unit_scale(r, c)))
                .collect()
        } else {
            Vec::new()
        };
        let size = format.data_bytes(rows as u64, cols as u64).unwrap() as usize;
        let mut data = vec![0u8; size];
        pack_codes(format, codes, cols, &d, &mut data);
        let data: &'static [u8] = Vec::leak(data);
        TernaryTensor {
            name: "t",
            format,
            data,
            stored: data,
            rows,
            cols,
            scale: if format.has_block_scale() {
                1.0
            } else {
                unit_scale(0, 0)
            },
            post_scale,
            offset: 0,
        }
    }

    /// The values of `t` as the scalar kernel decodes them, as bits.
    fn decoded(t: &TernaryTensor<'_>) -> Vec<u32> {
        let mut out = vec![0f32; t.len()];
        t.dequantize(Kernel::scalar(), &mut out).unwrap();
        out.iter().map(|v| v.to_bits()).collect()
    }

    fn check(a: &TernaryTensor<'_>, b: &TernaryTensor<'_>) -> Result<(), String> {
        let mut codes_a = Vec::new();
        super::codes(a, &mut codes_a);
        same_values(a, b, 0, &codes_a, &mut Vec::new())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// With the same codes, the check passes exactly when the scalar kernel decodes both
        /// sides to the same bits, whatever differs: block scales, the tensor scale, a second
        /// factor, signed zeros; a changed code never passes.
        #[test]
        fn passes_exactly_when_the_decoded_values_are_equal(
            (fa, fb) in (0..5usize, 0..5usize),
            rows in 1..4usize,
            blocks in 1..3usize,
            seed in any::<u64>(),
            per_row_scale in any::<bool>(),
            change in 0..6u8,
        ) {
            let (fa, fb) = (TernaryFormat::ALL[fa], TernaryFormat::ALL[fb]);
            let cols = 256 * blocks;
            let mut x = seed | 1;
            let mut next = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let codes: Vec<u8> = (0..rows * cols).map(|_| (next() % 3) as u8).collect();
            // One scale per row (every format holds it), or per 32 columns (only BitNet32F16
            // does, and the wider formats take the first of each block).
            let picks: Vec<f32> = (0..rows * cols / 32)
                .map(|_| SCALES[(next() % SCALES.len() as u64) as usize])
                .collect();
            let unit = move |r: usize, c: usize| {
                if per_row_scale { picks[r * cols / 32] } else { picks[r * cols / 32 + c / 32] }
            };
            let a = tensor(fa, &codes, (rows, cols), &unit, None);
            let mut codes_b = codes.clone();
            let at = (next() as usize) % codes.len();
            let mut post = None;
            let other = SCALES[(next() % SCALES.len() as u64) as usize];
            let changed = move |r: usize, c: usize| {
                if change == 1 && r == rows - 1 && c + 32 > cols { other } else { unit(r, c) }
            };
            match change {
                0 => codes_b[at] = (codes_b[at] + 1 + (next() % 2) as u8) % 3,
                2 if matches!(fb, TernaryFormat::Tq2_0 | TernaryFormat::Tq1_0) => {
                    post = Some(other);
                }
                _ => {}
            }
            let b = tensor(fb, &codes_b, (rows, cols), &changed, post);
            let equal = decoded(&a) == decoded(&b);
            let result = check(&a, &b);
            if codes_b == codes {
                prop_assert_eq!(result.is_ok(), equal, "{:?}", result);
            } else {
                // Stricter than the values where a scale of zero makes two codes decode alike:
                // a changed code is a difference.
                prop_assert!(result.is_err());
            }
        }
    }

    #[test]
    fn names_the_first_scale_that_differs_in_a_later_row_and_block() {
        // Row 0 the same everywhere; row 1: TQ2_0's second block has d = 2, and BitNet32F16's
        // 32-column blocks under it have 2 too, but for columns 288..320 (3).
        let (rows, cols) = (2, 512);
        let codes = vec![0u8; rows * cols];
        let unit = |r: usize, c: usize| match (r, c) {
            (0, _) | (_, 0..256) => 1.0,
            (_, 288) => 3.0,
            _ => 2.0,
        };
        let a = tensor(TernaryFormat::Tq2_0, &codes, (rows, cols), &unit, None);
        let b = tensor(
            TernaryFormat::BitNet32F16,
            &codes,
            (rows, cols),
            &unit,
            None,
        );
        assert_eq!(
            check(&a, &b),
            Err("row 1, column 288: code 0 decodes to -3e0, not -2e0".to_owned())
        );
        // Without the 3, the same.
        let same = |r: usize, c: usize| if r == 0 || c < 256 { 1.0 } else { 2.0 };
        let b = tensor(
            TernaryFormat::BitNet32F16,
            &codes,
            (rows, cols),
            &same,
            None,
        );
        assert_eq!(check(&a, &b), Ok(()));
    }

    #[test]
    fn names_the_first_difference() {
        let (rows, cols) = (2, 256);
        let codes: Vec<u8> = (0..rows * cols).map(|i| (i % 3) as u8).collect();
        let half = |_: usize, _: usize| 0.5;
        let a = tensor(TernaryFormat::BitnetCpp, &codes, (rows, cols), &half, None);
        let b = tensor(TernaryFormat::Tq2_0, &codes, (rows, cols), &half, None);
        assert_eq!(check(&a, &b), Ok(()));

        let mut other = codes.clone();
        other[cols + 7] = 2 - other[cols + 7] % 3;
        let b = tensor(TernaryFormat::Tq2_0, &other, (rows, cols), &half, None);
        assert_eq!(
            check(&a, &b),
            Err(format!(
                "row 1, column 7: code {} became {}",
                codes[cols + 7],
                other[cols + 7]
            ))
        );

        let zero = |_: usize, _: usize| 0.0;
        let minus_zero = |_: usize, _: usize| -0.0;
        let a = tensor(TernaryFormat::Qk256, &codes, (rows, cols), &zero, None);
        let b = tensor(
            TernaryFormat::Tq1_0,
            &codes,
            (rows, cols),
            &minus_zero,
            None,
        );
        assert_eq!(
            check(&a, &b),
            Err("row 0, column 0: code 0 decodes to 0e0, not -0e0".to_owned())
        );

        let b = tensor(TernaryFormat::Tq2_0, &codes, (rows, cols), &half, Some(2.0));
        let a = tensor(TernaryFormat::Tq2_0, &codes, (rows, cols), &half, None);
        assert_eq!(
            check(&a, &b),
            Err("row 0, column 0: code 0 decodes to -1e0, not -5e-1".to_owned())
        );

        let short = tensor(TernaryFormat::Tq2_0, &codes[..cols], (1, cols), &half, None);
        assert_eq!(
            check(&a, &short),
            Err("shape 2x256 became 1x256".to_owned())
        );
    }
}
