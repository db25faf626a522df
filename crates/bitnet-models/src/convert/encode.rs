//! Re-encoding one ternary tensor: its weights out of the source blocks, into the target's, and
//! the check that the result decodes to the source's values bit for bit.

use crate::format::{code_position, TernaryFormat};
use crate::kernels::Kernel;
use crate::model::TernaryTensor;
use crate::pack::{pack, pack_bitnetcpp};

use super::scales::TargetScales;

/// Values compared per step of the check: 4 Ki (16 KiB of `f32` per side), so both sides are
/// decoded into, and compared from, the L1 cache.
const CHECK_VALUES: usize = 1 << 12;

/// The weights (−1, 0, +1) of `t`, row-major, without row padding; `Err((row, col))` of the
/// first element holding the reserved code 3.
pub(crate) fn weights(t: &TernaryTensor<'_>) -> Result<Vec<i8>, (usize, usize)> {
    let format = t.format;
    let (elems, block_bytes) = (format.block_elems(), format.block_bytes());
    let row_bytes = t.data.len().checked_div(t.rows).unwrap_or(0);
    let mut out = Vec::with_capacity(t.len());
    let mut codes = [0u8; 256];
    for row in 0..t.rows {
        let row_data = &t.data[row * row_bytes..][..row_bytes];
        for (b, block) in row_data.chunks_exact(block_bytes).enumerate() {
            let n = elems.min(t.cols - b * elems);
            block_codes(format, block, &mut codes);
            let codes = &codes[..n];
            // One branch per block, not per element: the reserved code is found only when
            // there is one.
            if codes.iter().fold(0u8, |acc, &c| acc | (c & (c >> 1))) & 1 != 0 {
                let e = codes.iter().position(|&c| c == 3).unwrap_or(0);
                return Err((row, b * elems + e));
            }
            out.extend(codes.iter().map(|&c| c as i8 - 1));
        }
    }
    Ok(out)
}

/// The codes (0, 1, 2, or the reserved 3) of every element of one `format` block, in element
/// order, into `out[..format.block_elems()]`: the positions of [`code_position`], written out
/// per format as loops over whole bytes.
fn block_codes(format: TernaryFormat, block: &[u8], out: &mut [u8; 256]) {
    // Field `k` (from the low bits) of each byte of `bytes`, into `out`.
    fn fields(bytes: &[u8], shift: u32, out: &mut [u8]) {
        for (o, &b) in out.iter_mut().zip(bytes) {
            *o = (b >> shift) & 3;
        }
    }
    match format {
        TernaryFormat::Qk256 | TernaryFormat::Tq2_0 => {
            for half in 0..2 {
                for k in 0..4 {
                    let at = half * 128 + 32 * k;
                    fields(
                        &block[half * 32..][..32],
                        2 * k as u32,
                        &mut out[at..at + 32],
                    );
                }
            }
        }
        TernaryFormat::BitNet32F16 => {
            for k in 0..4 {
                fields(&block[..8], 2 * k as u32, &mut out[8 * k..8 * k + 8]);
            }
        }
        TernaryFormat::BitnetCpp => {
            for k in 0..4 {
                fields(
                    &block[..32],
                    6 - 2 * k as u32,
                    &mut out[32 * k..32 * k + 32],
                );
            }
        }
        TernaryFormat::Tq1_0 => {
            for (e, o) in out.iter_mut().enumerate() {
                let (byte, digit) = crate::format::tq1_0_position(e);
                *o = crate::format::tq1_0_digit(block[byte], digit);
            }
        }
    }
    debug_assert!((0..format.block_elems()).all(|e| out[e] == code_position(format, e).read(block)));
}

/// A byte's four 2-bit fields in the opposite order: a bitnetcpp group's byte (high bits first)
/// as a QK256 half-block's (low bits first), and back. Shifts and masks only, so a loop of it
/// is vectorized.
const fn reversed(x: u8) -> u8 {
    (x >> 6) | ((x >> 2) & 0x0C) | ((x << 2) & 0x30) | (x << 6)
}

/// Calls `f` with each 128-element group (32 code bytes) of `t`'s codes in order, and says
/// whether its fields are high bits first; `None` when `t`'s codes are not such a stream (a
/// format with other groups, or rows padded to whole blocks).
fn groups<'t>(t: &TernaryTensor<'t>) -> Option<(Vec<&'t [u8]>, bool)> {
    let whole = t.cols.is_multiple_of(256);
    Some(match t.format {
        TernaryFormat::BitnetCpp => (t.data.chunks_exact(32).collect(), true),
        TernaryFormat::Qk256 if whole => (t.data.chunks_exact(32).collect(), false),
        TernaryFormat::Tq2_0 if whole => (
            t.data
                .chunks_exact(66)
                .flat_map(|b| [&b[..32], &b[32..64]])
                .collect(),
            false,
        ),
        _ => return None,
    })
}

/// The fast way for the formats that share 128-element groups (QK256, TQ2_0, bitnetcpp, rows
/// of whole 256-element blocks): the same code bytes, their fields reversed where the order
/// differs, with the target's scales around them. `None` where it does not apply.
pub(crate) fn transcode(
    source: &TernaryTensor<'_>,
    target: TernaryFormat,
    scales: &TargetScales,
    out: &mut Vec<u8>,
) -> Option<()> {
    if !source.cols.is_multiple_of(256) {
        return None;
    }
    let (groups, high_first) = groups(source)?;
    let reverse = high_first != (target == TernaryFormat::BitnetCpp);
    let size = target.tensor_bytes(source.rows as u64, source.cols as u64)? as usize;
    // Every group is 32 bytes; the target's blocks hold whole groups, so each one lands in a
    // 32-byte slot of `out`, written in place (no per-byte push).
    let put = |slot: &mut [u8], group: &[u8]| {
        if reverse {
            for (o, &b) in slot.iter_mut().zip(group) {
                *o = reversed(b);
            }
        } else {
            slot.copy_from_slice(group);
        }
    };
    // The caller's buffer, reused from tensor to tensor: its pages are touched once per
    // conversion, not once per tensor.
    out.clear();
    out.resize(size, 0);
    match target {
        TernaryFormat::Qk256 | TernaryFormat::BitnetCpp => {
            let codes = groups.len() * 32;
            for (slot, g) in out.get_mut(..codes)?.chunks_exact_mut(32).zip(&groups) {
                put(slot, g);
            }
            if target == TernaryFormat::BitnetCpp {
                out.get_mut(codes..codes + 4)?
                    .copy_from_slice(&scales.tensor.to_le_bytes());
            }
            if target == TernaryFormat::Qk256 && codes != size {
                return None;
            }
        }
        TernaryFormat::Tq2_0 => {
            let blocks = groups.len() / 2;
            if blocks * 66 != size || scales.blocks.len() < blocks {
                return None;
            }
            for ((block, pair), d) in out
                .chunks_exact_mut(66)
                .zip(groups.chunks_exact(2))
                .zip(&scales.blocks)
            {
                put(&mut block[..32], pair[0]);
                put(&mut block[32..64], pair[1]);
                block[64..].copy_from_slice(&d.to_le_bytes());
            }
        }
        TernaryFormat::BitNet32F16 | TernaryFormat::Tq1_0 => return None,
    }
    Some(())
}

/// The stored bytes of a `rows × cols` tensor of `weights` in `target` with `scales`.
pub(crate) fn encode(
    target: TernaryFormat,
    weights: &[i8],
    rows: usize,
    cols: usize,
    scales: &TargetScales,
) -> Result<Vec<u8>, String> {
    let packed = match target {
        TernaryFormat::BitnetCpp => pack_bitnetcpp(weights, rows, cols, scales.tensor),
        TernaryFormat::Qk256 => pack(target, weights, rows, cols, &[]),
        TernaryFormat::BitNet32F16 | TernaryFormat::Tq2_0 | TernaryFormat::Tq1_0 => {
            pack(target, weights, rows, cols, &scales.blocks)
        }
    };
    packed.map_err(|e| e.to_string())
}

/// The converted tensor as a [`TernaryTensor`] over its new bytes, to decode it.
pub(crate) fn view<'b>(
    source: &TernaryTensor<'_>,
    target: TernaryFormat,
    stored: &'b [u8],
    scales: &TargetScales,
) -> TernaryTensor<'b> {
    let data = &stored[..stored.len() - target.tail_bytes()];
    let (scale, post_scale) = match target {
        TernaryFormat::Qk256 | TernaryFormat::BitnetCpp => (scales.tensor, None),
        TernaryFormat::BitNet32F16 => (1.0, None),
        TernaryFormat::Tq2_0 | TernaryFormat::Tq1_0 => (1.0, scales.sibling),
    };
    TernaryTensor {
        name: "",
        format: target,
        data,
        stored,
        rows: source.rows,
        cols: source.cols,
        scale,
        post_scale,
        offset: 0,
    }
}

/// Decodes `a` and `b` a slice of rows at a time and compares the `f32` bits; `Err` names the
/// first value that differs.
pub(crate) fn same_values(
    a: &TernaryTensor<'_>,
    b: &TernaryTensor<'_>,
    kernel: Kernel,
    (va, vb): (&mut Vec<f32>, &mut Vec<f32>),
) -> Result<(), String> {
    if (a.rows, a.cols) != (b.rows, b.cols) {
        return Err(format!(
            "shape {}x{} became {}x{}",
            a.rows, a.cols, b.rows, b.cols
        ));
    }
    if a.is_empty() {
        return Ok(());
    }
    let rows_per_step = (CHECK_VALUES / a.cols).max(1);
    for first in (0..a.rows).step_by(rows_per_step) {
        let rows = first..(first + rows_per_step).min(a.rows);
        decode_rows(a, rows.clone(), kernel, va)?;
        decode_rows(b, rows.clone(), kernel, vb)?;
        if let Some(i) = first_difference(va, vb) {
            let k = first * a.cols + i;
            return Err(format!(
                "value {k} (row {}, column {}) decodes to {:e}, not {:e}",
                k / a.cols,
                k % a.cols,
                vb[i],
                va[i]
            ));
        }
    }
    Ok(())
}

/// The index of the first value whose bits differ between `a` and `b` (of equal length).
///
/// The bits are compared 64 values at a time without a branch, in fixed-size arrays (so the
/// loop is vectorized); the first differing one is looked for only in a chunk that has one.
fn first_difference(a: &[f32], b: &[f32]) -> Option<usize> {
    let (ca, _) = a.as_chunks::<64>();
    let (cb, _) = b.as_chunks::<64>();
    let same = |x: &[f32; 64], y: &[f32; 64]| {
        let mut acc = 0u32;
        for k in 0..64 {
            acc |= x[k].to_bits() ^ y[k].to_bits();
        }
        acc == 0
    };
    let chunk = ca.iter().zip(cb).position(|(x, y)| !same(x, y));
    let start = chunk.map_or(ca.len() * 64, |c| c * 64);
    let (ta, tb) = (&a[start..], &b[start..]);
    ta.iter()
        .zip(tb)
        .position(|(x, y)| x.to_bits() != y.to_bits())
        .map(|i| start + i)
}

/// The values of `rows` of `t` into `out` (resized).
fn decode_rows(
    t: &TernaryTensor<'_>,
    rows: std::ops::Range<usize>,
    kernel: Kernel,
    out: &mut Vec<f32>,
) -> Result<(), String> {
    let row_bytes = t.data.len() / t.rows;
    let data = &t.data[rows.start * row_bytes..rows.end * row_bytes];
    out.resize(rows.len() * t.cols, 0.0);
    kernel
        .dequantize(t.format, data, rows.len(), t.cols, t.scale, out)
        .map_err(|e| e.to_string())?;
    t.apply_post_scale(out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::first_difference;

    #[test]
    fn first_difference_finds_the_first_differing_bits() {
        let a: Vec<f32> = (0..200).map(|i| i as f32 * 0.5 - 7.0).collect();
        assert_eq!(first_difference(&a, &a), None);
        // In the first chunk, at a chunk's last and first value, in the tail past the chunks.
        for at in [0, 5, 63, 64, 127, 128, 130, 199] {
            let mut b = a.clone();
            b[at] = f32::from_bits(b[at].to_bits() ^ 1);
            assert_eq!(first_difference(&a, &b), Some(at), "at {at}");
            // A later difference does not hide it.
            if at + 70 < b.len() {
                b[at + 70] = 1e9;
            }
            assert_eq!(first_difference(&a, &b), Some(at), "at {at} and later");
        }
        // Bits, not values: 0.0 and -0.0 differ, a NaN equals the same NaN.
        let (z, nz) = (vec![0.0f32; 70], vec![-0.0f32; 70]);
        assert_eq!(first_difference(&z, &nz), Some(0));
        let nan = vec![f32::NAN; 70];
        assert_eq!(first_difference(&nan, &nan), None);
    }
}
