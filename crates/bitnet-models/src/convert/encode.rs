//! Re-encoding a ternary tensor a slice of rows at a time: the slice's codes read out of the
//! source blocks, the target's bytes made from them (or, between formats that share 128-element
//! groups, from the source bytes directly), and the check of the result ([`super::check`]).

use std::ops::Range;

use half::f16;

use crate::format::{tq1_0_digit, TernaryFormat};
use crate::model::TernaryTensor;
use crate::pack::pack_codes;

use super::scales::{BlockScales, TargetScales};

/// Values encoded and checked per step: 64 Ki, so that a step's codes (a byte per value, for
/// each side) and its new bytes stay in the L2 cache.
pub(crate) const STEP_VALUES: usize = 1 << 16;

/// The rows `rows` of `t` as a tensor of their own: their blocks only (no bitnetcpp tail).
pub(crate) fn rows_of<'t>(t: &TernaryTensor<'t>, rows: Range<usize>) -> TernaryTensor<'t> {
    let row_bytes = t.data.len().checked_div(t.rows).unwrap_or(0);
    let data = &t.data[rows.start * row_bytes..rows.end * row_bytes];
    TernaryTensor {
        data,
        stored: data,
        rows: rows.len(),
        offset: t.offset + (rows.start * row_bytes) as u64,
        ..*t
    }
}

/// The codes (0, 1, 2, or the reserved 3) of every element of `t` into `out` (resized),
/// row-major, without row padding.
#[expect(
    clippy::redundant_closure,
    reason = "a closure marked #[inline(always)] is inlined into whole_blocks_avx2; the function \
              itself goes through an Fn::call shim that is not (measured: 13% of a conversion)"
)]
pub(crate) fn codes(t: &TernaryTensor<'_>, out: &mut Vec<u8>) {
    // Every element is written below: only a longer buffer is filled first.
    out.resize(t.len(), 0);
    if t.is_empty() {
        return;
    }
    match t.format {
        TernaryFormat::Qk256 => each_block::<64, 256>(
            t,
            out,
            #[inline(always)]
            |b, o| qk256_codes(b, o),
        ),
        TernaryFormat::Tq2_0 => each_block::<66, 256>(
            t,
            out,
            #[inline(always)]
            |b, o| qk256_codes(b, o),
        ),
        TernaryFormat::BitNet32F16 => {
            each_block_with::<10, 32>(t, out, bitnet32_codes, bitnet32_blocks)
        }
        TernaryFormat::BitnetCpp => each_block::<32, 128>(
            t,
            out,
            #[inline(always)]
            |b, o| bitnetcpp_codes(b, o),
        ),
        TernaryFormat::Tq1_0 => each_block::<54, 256>(
            t,
            out,
            #[inline(always)]
            |b, o| tq1_0_codes(b, o),
        ),
    }
}

/// Runs `f` on each block of `t` (`B` bytes of `E` elements) and that block's place in `out`
/// (row-major codes without padding; a row's last block, when it is not whole, through a
/// buffer). Fixed-size arrays, one instance per format, so `f` is unrolled and vectorized.
fn each_block<const B: usize, const E: usize>(
    t: &TernaryTensor<'_>,
    out: &mut [u8],
    f: impl Fn(&[u8; B], &mut [u8; E]),
) {
    each_block_with(t, out, &f, |blocks, whole| whole_blocks(blocks, whole, &f));
}

/// [`each_block`], with each row's whole blocks decoded by `whole_of` (the same codes as
/// [`whole_blocks`] with `f`, another way).
fn each_block_with<const B: usize, const E: usize>(
    t: &TernaryTensor<'_>,
    out: &mut [u8],
    f: impl Fn(&[u8; B], &mut [u8; E]),
    whole_of: impl Fn(&[[u8; B]], &mut [[u8; E]]),
) {
    debug_assert_eq!((B, E), (t.format.block_bytes(), t.format.block_elems()));
    let row_bytes = t.data.len() / t.rows;
    let mut partial = [0u8; E];
    for (row_data, row_out) in t
        .data
        .chunks_exact(row_bytes)
        .zip(out.chunks_exact_mut(t.cols))
    {
        let (blocks, _) = row_data.as_chunks::<B>();
        let (whole, rest) = row_out.as_chunks_mut::<E>();
        whole_of(blocks, whole);
        if let (false, Some(block)) = (rest.is_empty(), blocks.get(whole.len())) {
            f(block, &mut partial);
            let n = rest.len();
            rest.copy_from_slice(&partial[..n]);
        }
    }
}

/// `f` on each of `blocks` and its place in `out`. Not inlined: as a function's arguments, the
/// two slices are known not to overlap, which is what lets the compiler vectorize `f`; on
/// x86-64 with AVX2 compiled for it (the same code, wider vectors).
#[inline(never)]
fn whole_blocks<const B: usize, const E: usize>(
    blocks: &[[u8; B]],
    out: &mut [[u8; E]],
    f: &impl Fn(&[u8; B], &mut [u8; E]),
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (just checked), all `whole_blocks_avx2` needs.
        return unsafe { whole_blocks_avx2(blocks, out, f) };
    }
    for (block, o) in blocks.iter().zip(out.iter_mut()) {
        f(block, o);
    }
}

/// [`whole_blocks`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn whole_blocks_avx2<const B: usize, const E: usize>(
    blocks: &[[u8; B]],
    out: &mut [[u8; E]],
    f: &impl Fn(&[u8; B], &mut [u8; E]),
) {
    for (block, o) in blocks.iter().zip(out.iter_mut()) {
        f(block, o);
    }
}

/// Field `shift` (a 2-bit field's lowest bit) of each byte of `bytes`, into `out`.
#[inline(always)]
fn fields<const N: usize>(bytes: &[u8], shift: u32, out: &mut [u8]) {
    let (bytes, out) = (&bytes[..N], &mut out[..N]);
    for (o, &b) in out.iter_mut().zip(bytes) {
        *o = (b >> shift) & 3;
    }
}

/// A QK256 block's (or TQ2_0's `qs`) codes: two halves of 32 bytes, field `k` of byte `m` of
/// half `h` element `128h + 32k + m`.
#[inline(always)]
fn qk256_codes<const B: usize>(block: &[u8; B], out: &mut [u8; 256]) {
    for half in 0..2 {
        for k in 0..4 {
            let at = half * 128 + 32 * k;
            fields::<32>(&block[half * 32..], 2 * k as u32, &mut out[at..]);
        }
    }
}

/// A BitNet32F16 block's codes: field `k` of byte `m` is element `8k + m`.
#[inline(always)]
fn bitnet32_codes(block: &[u8; 10], out: &mut [u8; 32]) {
    for k in 0..4 {
        fields::<8>(block, 2 * k as u32, &mut out[8 * k..]);
    }
}

/// BitNet32F16's whole blocks' codes: [`whole_blocks`] with [`bitnet32_codes`], or with AVX2
/// where the CPU has it ([`bitnet32_blocks_avx2`], the same codes).
fn bitnet32_blocks(blocks: &[[u8; 10]], out: &mut [[u8; 32]]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (just checked), all `bitnet32_blocks_avx2` needs.
        return unsafe { bitnet32_blocks_avx2(blocks, out) };
    }
    whole_blocks(blocks, out, &bitnet32_codes);
}

/// BitNet32F16's whole blocks' codes with AVX2: a block's 8 code bytes in each of four 64-bit
/// lanes, lane `k` shifted right by `2k` (`vpsrlvq`) and each byte masked to its two low bits,
/// so byte `m` of lane `k` is field `k` of byte `m`: element `8k + m`, stored in one go.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn bitnet32_blocks_avx2(blocks: &[[u8; 10]], out: &mut [[u8; 32]]) {
    use std::arch::x86_64::{
        _mm256_and_si256, _mm256_set1_epi64x, _mm256_set1_epi8, _mm256_setr_epi64x,
        _mm256_srlv_epi64, _mm256_storeu_si256,
    };
    let by = _mm256_setr_epi64x(0, 2, 4, 6);
    let low = _mm256_set1_epi8(3);
    for (block, o) in blocks.iter().zip(out.iter_mut()) {
        let mut q = [0u8; 8];
        q.copy_from_slice(&block[..8]);
        let x = _mm256_srlv_epi64(_mm256_set1_epi64x(i64::from_le_bytes(q)), by);
        // SAFETY: `o` is 32 bytes, all a 256-bit store writes (unaligned).
        unsafe { _mm256_storeu_si256(o.as_mut_ptr().cast(), _mm256_and_si256(x, low)) };
    }
}

/// A bitnetcpp group's codes: field `k` from the high bits of byte `m` is element `32k + m`.
#[inline(always)]
fn bitnetcpp_codes(block: &[u8; 32], out: &mut [u8; 128]) {
    for k in 0..4 {
        fields::<32>(block, 6 - 2 * k as u32, &mut out[32 * k..]);
    }
}

/// A TQ1_0 block's codes (docs/formats.md, TQ1_0): `qs[0..32]` hold elements 32n + m,
/// `qs[32..48]` 160 + 16n + m, `qh[0..4]` 240 + 4n + m (four digits), digit `n` of byte `m`.
#[inline(always)]
fn tq1_0_codes(block: &[u8; 54], out: &mut [u8; 256]) {
    #[inline(always)]
    fn digits<const N: usize>(bytes: &[u8], n: u32, out: &mut [u8]) {
        let (bytes, out) = (&bytes[..N], &mut out[..N]);
        for (o, &b) in out.iter_mut().zip(bytes) {
            *o = tq1_0_digit(b, n);
        }
    }
    for n in 0..5 {
        digits::<32>(block, n, &mut out[32 * n as usize..]);
        digits::<16>(&block[32..], n, &mut out[160 + 16 * n as usize..]);
    }
    for n in 0..4 {
        digits::<4>(&block[48..], n, &mut out[240 + 4 * n as usize..]);
    }
}

/// Whether any of `codes` is the reserved code 3: one pass without a branch (vectorized, with
/// AVX2 where the CPU has it).
pub(crate) fn has_reserved(codes: &[u8]) -> bool {
    wide(
        #[inline(always)]
        || codes.iter().fold(0u8, |acc, &c| acc | (c & (c >> 1))) & 1 != 0,
    )
}

/// `f()`, compiled for AVX2 on x86-64 CPUs that have it (the same code, vectors twice as
/// wide: a closure marked `#[inline(always)]` is compiled into the AVX2 function); elsewhere
/// as it is. Not for a loop that stores through a slice the closure captures: captured slices
/// are not known not to overlap, and the loop is not vectorized (measured: `whole_blocks`
/// through `wide` took twice the processor time), so such loops take their slices as a
/// function's arguments, as `whole_blocks` does.
#[inline(always)]
pub(crate) fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the CPU has AVX2 (just checked), all `avx2` needs.
        return unsafe { avx2(f) };
    }
    f()
}

/// A byte's four 2-bit fields in the opposite order: a bitnetcpp group's byte (high bits first)
/// as a QK256 half-block's (low bits first), and back. Shifts and masks only, so a loop of it
/// is vectorized.
const fn reversed(x: u8) -> u8 {
    (x >> 6) | ((x >> 2) & 0x0C) | ((x << 2) & 0x30) | (x << 6)
}

/// The 32-byte groups of 128 codes of `t`, in element order, and whether their fields are high
/// bits first; `None` when `t`'s codes are not such a stream (a format with other groups, or
/// rows padded to whole blocks).
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

/// The target blocks' `d` for the rows of `part` (a slice of the source), into `d`.
fn block_scales(
    part: &TernaryTensor<'_>,
    target: TernaryFormat,
    scales: &TargetScales,
    d: &mut Vec<f16>,
) {
    d.clear();
    if !target.has_block_scale() {
        return;
    }
    let elems = target.block_elems();
    if let BlockScales::Same(one) = scales.blocks {
        d.resize(part.rows * part.cols.div_ceil(elems), one);
        return;
    }
    for row in 0..part.rows {
        for first in (0..part.cols).step_by(elems) {
            d.push(scales.block_d(part, row, first));
        }
    }
}

/// Writes into `out` from `at` the blocks (no bitnetcpp tail) of `part`, a slice of rows of the
/// source whose codes `codes` holds, in `target` with `scales`, and returns where they end; `d`
/// is a buffer for the blocks' scales. `out` grows when it is too short, and is otherwise
/// written over: it is not filled first.
pub(crate) fn encode_rows(
    part: &TernaryTensor<'_>,
    target: TernaryFormat,
    scales: &TargetScales,
    codes: &[u8],
    d: &mut Vec<f16>,
    (out, at): (&mut Vec<u8>, usize),
) -> usize {
    block_scales(part, target, scales, d);
    let size = target.row_bytes(part.cols as u64).unwrap_or(0) as usize * part.rows;
    let end = at + size;
    if out.len() < end {
        out.resize(end, 0);
    }
    let dst = &mut out[at..end];
    if !transcode(part, target, d, dst) {
        pack_codes(target, codes, part.cols, d, dst);
    }
    end
}

/// The fast way for the formats that share 128-element groups (QK256, TQ2_0, bitnetcpp, rows
/// of whole 256-element blocks): the same code bytes into `out` (exactly the target's blocks),
/// their fields reversed where the order differs, with the target's block scales `d` around
/// them. `false` where it does not apply.
fn transcode(source: &TernaryTensor<'_>, target: TernaryFormat, d: &[f16], out: &mut [u8]) -> bool {
    if !source.cols.is_multiple_of(256) {
        return false;
    }
    let Some((groups, high_first)) = groups(source) else {
        return false;
    };
    let reverse = high_first != (target == TernaryFormat::BitnetCpp);
    let put = |slot: &mut [u8], group: &[u8]| {
        if reverse {
            for (o, &b) in slot.iter_mut().zip(group) {
                *o = reversed(b);
            }
        } else {
            slot.copy_from_slice(group);
        }
    };
    match target {
        TernaryFormat::Qk256 | TernaryFormat::BitnetCpp => {
            for (slot, g) in out.chunks_exact_mut(32).zip(&groups) {
                put(slot, g);
            }
        }
        TernaryFormat::Tq2_0 => {
            for ((block, pair), d) in out.chunks_exact_mut(66).zip(groups.chunks_exact(2)).zip(d) {
                put(&mut block[..32], pair[0]);
                put(&mut block[32..64], pair[1]);
                block[64..].copy_from_slice(&d.to_le_bytes());
            }
        }
        TernaryFormat::BitNet32F16 | TernaryFormat::Tq1_0 => return false,
    }
    true
}

/// The converted rows as a [`TernaryTensor`] over their new blocks `data`, to read them back.
pub(crate) fn view<'b>(
    part: &TernaryTensor<'_>,
    target: TernaryFormat,
    data: &'b [u8],
    scales: &TargetScales,
) -> TernaryTensor<'b> {
    let (scale, post_scale) = match target {
        TernaryFormat::Qk256 | TernaryFormat::BitnetCpp => (scales.tensor, None),
        TernaryFormat::BitNet32F16 => (1.0, None),
        TernaryFormat::Tq2_0 | TernaryFormat::Tq1_0 => (1.0, scales.sibling),
    };
    TernaryTensor {
        name: "",
        format: target,
        data,
        stored: data,
        rows: part.rows,
        cols: part.cols,
        scale,
        post_scale,
        offset: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::rows_of;
    use crate::format::TernaryFormat;
    use crate::model::TernaryTensor;

    /// The AVX2 decoding of BitNet32F16 blocks gives the codes the portable one gives, for
    /// every byte value in every place (the scale bytes too, which it does not read).
    #[test]
    fn bitnet32_codes_the_same_with_avx2() {
        let blocks = crate::pack::tests::every_byte_then_seeded::<10>(300);
        let mut want = vec![[0u8; 32]; blocks.len()];
        for (b, o) in blocks.iter().zip(&mut want) {
            super::bitnet32_codes(b, o);
        }
        let mut got = vec![[9u8; 32]; blocks.len()];
        super::bitnet32_blocks(&blocks, &mut got);
        assert_eq!(got, want);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            let mut got = vec![[9u8; 32]; blocks.len()];
            // SAFETY: the CPU has AVX2 (just checked).
            unsafe { super::bitnet32_blocks_avx2(&blocks, &mut got) };
            assert_eq!(got, want);
        }
    }

    #[test]
    fn rows_of_is_those_rows_and_where_they_are() {
        // 4 rows of 256 as bitnetcpp: 64 bytes a row, then the 32-byte tail.
        let stored: Vec<u8> = (0..4 * 64 + 32).map(|i| i as u8).collect();
        let t = TernaryTensor {
            name: "t",
            format: TernaryFormat::BitnetCpp,
            data: &stored[..256],
            stored: &stored,
            rows: 4,
            cols: 256,
            scale: 0.5,
            post_scale: None,
            offset: 1000,
        };
        let part = rows_of(&t, 1..3);
        assert_eq!((part.rows, part.cols, part.scale), (2, 256, 0.5));
        assert_eq!(part.data, &stored[64..192]);
        // Its bytes as stored are its blocks (no tail), at their place in the file.
        assert_eq!(part.stored, part.data);
        assert_eq!(part.offset, 1064);
        assert_eq!(rows_of(&t, 3..4).offset, 1192);
    }
}
