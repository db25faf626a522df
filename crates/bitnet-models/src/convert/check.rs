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

/// The scale of every block of `t`, as [`scale_runs`] gives it, when they all have the same one
/// (always, for a format without block scales); `None` when they differ or `t` has no blocks.
fn uniform_scale(t: &TernaryTensor<'_>) -> Option<u32> {
    if !t.format.has_block_scale() {
        return Some(t.scale.to_bits());
    }
    let at = t.format.code_bytes();
    let mut blocks = t.data.chunks_exact(t.format.block_bytes());
    let d = blocks.next()?.get(at..at + 2)?;
    blocks
        .all(|b| &b[at..at + 2] == d)
        .then(|| u32::from(u16::from_le_bytes([d[0], d[1]])))
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

/// That codes 0, 1 and 2 decode to the same bits under the scales `(ka, kb)` of `source` and
/// `converted` (as [`scale_runs`] gives them); else the first that does not, named at `(row,
/// column)`.
fn same_values_under(
    source: &TernaryTensor<'_>,
    converted: &TernaryTensor<'_>,
    (ka, kb): (u32, u32),
    (row, column): (usize, usize),
) -> Result<(), String> {
    let (va, vb) = (values(source, ka), values(converted, kb));
    match (0..3).find(|&c| va[c].to_bits() != vb[c].to_bits()) {
        None => Ok(()),
        Some(code) => Err(format!(
            "row {row}, column {column}: code {code} decodes to {:e}, not {:e}",
            vb[code], va[code]
        )),
    }
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
    // One scale on each side (the usual case: a tensor scale, or blocks that share one): one
    // comparison, the first the runs below would make.
    if let (Some(ka), Some(kb)) = (uniform_scale(source), uniform_scale(converted)) {
        return same_values_under(source, converted, (ka, kb), (first_row, 0));
    }
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
                let at = (first_row + row, ua.max(ub) * step);
                same_values_under(source, converted, key, at)?;
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
pub(super) mod tests;
