//! The check's tests: against the scalar kernel's decoding, and the messages it gives.

use half::f16;
use proptest::prelude::*;

use super::{first_difference, same_values, uniform_scale};
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

/// The one scale of a tensor's blocks, as the runs give it: a format without block scales has
/// its tensor scale; blocks with one `d` have it (its bits); blocks that differ anywhere, the
/// last one included, and no blocks at all, have none.
#[test]
fn the_scale_all_blocks_share() {
    let (rows, cols) = (3, 256);
    let codes = vec![1u8; rows * cols];
    let half = |_: usize, _: usize| 0.5;
    for format in TernaryFormat::ALL {
        let t = tensor(format, &codes, (rows, cols), &half, None);
        let want = if format.has_block_scale() {
            u32::from(f16::from_f32(0.5).to_bits())
        } else {
            0.5f32.to_bits()
        };
        assert_eq!(uniform_scale(&t), Some(want), "{format}");
        // The last block of the last row differs.
        let elems = format.block_elems();
        let last = |r: usize, c: usize| {
            if r == rows - 1 && c + elems >= cols {
                2.0
            } else {
                0.5
            }
        };
        let t = tensor(format, &codes, (rows, cols), &last, None);
        let differ = if format.has_block_scale() {
            None
        } else {
            Some(want)
        };
        assert_eq!(uniform_scale(&t), differ, "{format}");
        let none = TernaryTensor {
            data: &[],
            rows: 0,
            ..t
        };
        let empty = (!format.has_block_scale()).then_some(want);
        assert_eq!(uniform_scale(&none), empty, "{format}");
    }
}
