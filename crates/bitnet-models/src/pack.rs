//! Packing ternary weights into the block formats — the inverse of dequantization, used to build
//! fixtures and tests.
//!
//! Input is row-major `i8` weights, each −1, 0 or +1, `rows × cols` of them. Code `w + 1` goes to
//! the element's place in the block (docs/formats.md); the elements of a row's last block past
//! `cols` are padding and are written as code 1 (zero). TQ1_0's codes are base-3 digits, packed
//! as ggml's `quantize_row_tq1_0_ref` packs them. Nothing here decodes or validates files.

use half::f16;

use crate::format::{code_position, FormatError, TernaryFormat};

/// Pack `rows × cols` ternary weights as QK256 blocks (no scale inside the data).
pub fn pack_qk256(weights: &[i8], rows: usize, cols: usize) -> Result<Vec<u8>, FormatError> {
    pack(TernaryFormat::Qk256, weights, rows, cols, &[])
}

/// Pack `rows × cols` ternary weights as BitNet32F16 blocks, with `block_scales` holding one `d`
/// per block in row-major block order (`rows × ceil(cols/32)` of them).
pub fn pack_bitnet32f16(
    weights: &[i8],
    rows: usize,
    cols: usize,
    block_scales: &[f16],
) -> Result<Vec<u8>, FormatError> {
    pack(
        TernaryFormat::BitNet32F16,
        weights,
        rows,
        cols,
        block_scales,
    )
}

/// Pack `rows × cols` ternary weights as TQ2_0 blocks, with `block_scales` holding one `d` per
/// block in row-major block order (`rows × ceil(cols/256)` of them).
pub fn pack_tq2_0(
    weights: &[i8],
    rows: usize,
    cols: usize,
    block_scales: &[f16],
) -> Result<Vec<u8>, FormatError> {
    pack(TernaryFormat::Tq2_0, weights, rows, cols, block_scales)
}

/// Pack `rows × cols` ternary weights as TQ1_0 blocks (`cols` a multiple of 256), with
/// `block_scales` holding one `d` per block in row-major block order (`rows × cols/256` of them).
///
/// The bytes are those of ggml's `quantize_row_tq1_0_ref` for values `w × d`: each byte holds
/// its digits `w + 1` most significant first (`qh` bytes four, then times 3), as
/// `ceil(q · 256 / 243)`.
pub fn pack_tq1_0(
    weights: &[i8],
    rows: usize,
    cols: usize,
    block_scales: &[f16],
) -> Result<Vec<u8>, FormatError> {
    pack(TernaryFormat::Tq1_0, weights, rows, cols, block_scales)
}

/// Pack `rows × cols` ternary weights as bitnet.cpp does: the tensor's codes in groups of 128
/// (`cols` a multiple of 128), then the 32-byte tail: `scale` as f32 little-endian and 28 zero
/// bytes (where bitnet.cpp leaves whatever was in memory). Returns the bytes as stored.
pub fn pack_bitnetcpp(
    weights: &[i8],
    rows: usize,
    cols: usize,
    scale: f32,
) -> Result<Vec<u8>, FormatError> {
    let mut out = pack(TernaryFormat::BitnetCpp, weights, rows, cols, &[])?;
    out.extend_from_slice(&scale.to_le_bytes());
    out.resize(out.len() + crate::format::BITNETCPP_TAIL - 4, 0);
    Ok(out)
}

/// Pack into any format: the blocks only (no bitnetcpp tail). `block_scales` holds one `d` per
/// block for the formats that have them, and must be empty for the others.
pub fn pack(
    format: TernaryFormat,
    weights: &[i8],
    rows: usize,
    cols: usize,
    block_scales: &[f16],
) -> Result<Vec<u8>, FormatError> {
    let overflow = FormatError::ShapeOverflow {
        rows: rows as u64,
        cols: cols as u64,
    };
    let count = rows.checked_mul(cols).ok_or(overflow.clone())?;
    if weights.len() != count {
        return Err(FormatError::WrongWeightCount {
            expected: count as u64,
            actual: weights.len() as u64,
        });
    }
    // One pass without a branch per weight; the bad one is looked for only when there is one.
    if weights
        .iter()
        .fold(false, |bad, w| bad | !matches!(w, -1..=1))
    {
        if let Some((index, &value)) = weights
            .iter()
            .enumerate()
            .find(|(_, w)| !matches!(w, -1..=1))
        {
            return Err(FormatError::WrongWeightValue { index, value });
        }
    }
    if !format.fits_cols(cols as u64) {
        return Err(FormatError::ColsNotSupported { format, cols });
    }
    let blocks_per_row = cols.div_ceil(format.block_elems());
    let blocks = rows.checked_mul(blocks_per_row).ok_or(overflow.clone())?;
    let expected_scales = if format.has_block_scale() { blocks } else { 0 };
    if block_scales.len() != expected_scales {
        return Err(FormatError::WrongScaleCount {
            format,
            expected: expected_scales as u64,
            actual: block_scales.len() as u64,
        });
    }
    let total = blocks.checked_mul(format.block_bytes()).ok_or(overflow)?;

    let codes: Vec<u8> = weights.iter().map(|&w| (w + 1) as u8).collect();
    let mut out = vec![0u8; total];
    pack_codes(format, &codes, cols, block_scales, &mut out);
    debug_assert!(out
        .chunks_exact(format.block_bytes())
        .enumerate()
        .all(|(b, block)| (0..format.block_elems()).all(|e| {
            let (row, col) = (
                b / blocks_per_row,
                (b % blocks_per_row) * format.block_elems() + e,
            );
            let want = if col < cols {
                (weights[row * cols + col] + 1) as u8
            } else {
                1
            };
            code_position(format, e).read(block) == want
        })));
    Ok(out)
}

/// The blocks of the `cols`-wide rows of `codes` (0, 1 or 2 each, row-major) into `out`
/// (exactly `rows × row_bytes`), with `block_scales[b]` after block `b`'s codes for the
/// formats that have them (exactly one per block; empty for the others). The caller has
/// checked the shape; code 1 (weight 0) fills a row's last block past `cols`.
pub(crate) fn pack_codes(
    format: TernaryFormat,
    codes: &[u8],
    cols: usize,
    block_scales: &[f16],
    out: &mut [u8],
) {
    let rows = codes.len().checked_div(cols).unwrap_or(0);
    let per_row = format.blocks_per_row(cols as u64) as usize;
    assert_eq!(
        out.len(),
        rows * per_row * format.block_bytes(),
        "pack_codes: output length"
    );
    assert_eq!(
        block_scales.len(),
        if format.has_block_scale() {
            rows * per_row
        } else {
            0
        },
        "pack_codes: block scales"
    );
    if rows == 0 {
        return;
    }
    match format {
        TernaryFormat::Qk256 => each_row::<64, 256>(codes, cols, block_scales, out, qk256_put),
        TernaryFormat::Tq2_0 => each_row::<66, 256>(codes, cols, block_scales, out, qk256_put),
        TernaryFormat::BitNet32F16 => each_row_with::<10, 32>(
            codes,
            cols,
            block_scales,
            out,
            bitnet32_put,
            bitnet32_blocks,
        ),
        TernaryFormat::BitnetCpp => each_row::<32, 128>(
            codes,
            cols,
            block_scales,
            out,
            #[inline(always)]
            |c, o| two_bit::<32>(c, 32, true, o),
        ),
        // docs/formats.md, TQ1_0: `qs[0..32]` elements 32n + m, `qs[32..48]` 160 + 16n + m,
        // `qh[0..4]` 240 + 4n + m (four digits, the fifth 0).
        TernaryFormat::Tq1_0 => each_row::<54, 256>(
            codes,
            cols,
            block_scales,
            out,
            #[inline(always)]
            |c, o| {
                trits::<32, 5>(c, 32, o);
                trits::<16, 5>(&c[160..], 16, &mut o[32..]);
                trits::<4, 4>(&c[240..], 4, &mut o[48..]);
            },
        ),
    }
}

/// A QK256 block's (or TQ2_0's `qs`) bytes from its 256 codes: two halves of 32 bytes.
#[inline(always)]
fn qk256_put<const B: usize>(c: &[u8; 256], o: &mut [u8; B]) {
    two_bit::<32>(c, 32, false, o);
    two_bit::<32>(&c[128..], 32, false, &mut o[32..]);
}

/// [`pack_codes`] for a format of `B`-byte blocks of `E` elements, whose codes `put` writes.
fn each_row<const B: usize, const E: usize>(
    codes: &[u8],
    cols: usize,
    block_scales: &[f16],
    out: &mut [u8],
    put: impl Fn(&[u8; E], &mut [u8; B]),
) {
    each_row_with(codes, cols, block_scales, out, &put, |c, o, d| {
        whole_blocks(c, o, d, &put)
    });
}

/// [`each_row`], with each row's whole blocks packed by `whole_of` (the same bytes as
/// [`whole_blocks`] with `put`, another way).
fn each_row_with<const B: usize, const E: usize>(
    codes: &[u8],
    cols: usize,
    block_scales: &[f16],
    out: &mut [u8],
    put: impl Fn(&[u8; E], &mut [u8; B]),
    whole_of: impl Fn(&[[u8; E]], &mut [[u8; B]], &[f16]),
) {
    let per_row = cols.div_ceil(E);
    for (row, (row_codes, row_out)) in codes
        .chunks_exact(cols)
        .zip(out.chunks_exact_mut(per_row * B))
        .enumerate()
    {
        let d = block_scales
            .get(row * per_row..(row + 1) * per_row)
            .unwrap_or(&[]);
        let (whole, rest) = row_codes.as_chunks::<E>();
        let (blocks, _) = row_out.as_chunks_mut::<B>();
        let (full, last) = blocks.split_at_mut(whole.len());
        whole_of(whole, full, d);
        if let Some(block) = last.first_mut() {
            // A row's last block past `cols`: code 1.
            let mut partial = [1u8; E];
            partial[..rest.len()].copy_from_slice(rest);
            whole_blocks(
                &[partial],
                std::slice::from_mut(block),
                &d[whole.len().min(d.len())..],
                &put,
            );
        }
    }
}

/// `put` on each block of `codes` and its place in `out`, then its scale from `d` (when `d` has
/// one) in the block's last two bytes. Not inlined: as a function's arguments, the slices are
/// known not to overlap, which is what lets the compiler vectorize `put`; on x86-64 with AVX2
/// compiled for it (the same code, wider vectors).
#[inline(never)]
fn whole_blocks<const B: usize, const E: usize>(
    codes: &[[u8; E]],
    out: &mut [[u8; B]],
    d: &[f16],
    put: &impl Fn(&[u8; E], &mut [u8; B]),
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (just checked), all `whole_blocks_avx2` needs.
        return unsafe { whole_blocks_avx2(codes, out, d, put) };
    }
    put_blocks(codes, out, d, put);
}

/// [`whole_blocks`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn whole_blocks_avx2<const B: usize, const E: usize>(
    codes: &[[u8; E]],
    out: &mut [[u8; B]],
    d: &[f16],
    put: &impl Fn(&[u8; E], &mut [u8; B]),
) {
    put_blocks(codes, out, d, put);
}

#[inline(always)]
fn put_blocks<const B: usize, const E: usize>(
    codes: &[[u8; E]],
    out: &mut [[u8; B]],
    d: &[f16],
    put: &impl Fn(&[u8; E], &mut [u8; B]),
) {
    for (i, (c, o)) in codes.iter().zip(out.iter_mut()).enumerate() {
        put(c, o);
        if let Some(d) = d.get(i) {
            o[B - 2..].copy_from_slice(&d.to_le_bytes());
        }
    }
}

/// A BitNet32F16 block's 8 code bytes from its 32 codes.
#[inline(always)]
fn bitnet32_put(c: &[u8; 32], o: &mut [u8; 10]) {
    two_bit::<8>(c, 8, false, o);
}

/// BitNet32F16's whole blocks: [`whole_blocks`] with [`bitnet32_put`], or with AVX2 where the CPU
/// has it ([`bitnet32_blocks_avx2`], the same bytes).
fn bitnet32_blocks(codes: &[[u8; 32]], out: &mut [[u8; 10]], d: &[f16]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (just checked), all `bitnet32_blocks_avx2` needs.
        return unsafe { bitnet32_blocks_avx2(codes, out, d) };
    }
    whole_blocks(codes, out, d, &bitnet32_put);
}

/// BitNet32F16's whole blocks with AVX2: a block's 32 codes in one load, its four 8-byte lanes
/// (codes 0–7, 8–15, 16–23, 24–31) masked to the bits a byte keeps when shifted by 0, 2, 4 and 6,
/// shifted so (`vpsllvq`) and or-ed into one: byte `m` is `c[m] | c[m+8] << 2 | c[m+16] << 4 |
/// c[m+24] << 6` as `two_bit::<8>` computes it in bytes, for any code bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn bitnet32_blocks_avx2(codes: &[[u8; 32]], out: &mut [[u8; 10]], d: &[f16]) {
    use std::arch::x86_64::{
        _mm256_and_si256, _mm256_castsi256_si128, _mm256_extracti128_si256, _mm256_loadu_si256,
        _mm256_setr_epi64x, _mm256_sllv_epi64, _mm_cvtsi128_si64, _mm_or_si128, _mm_unpackhi_epi64,
    };
    let keep = _mm256_setr_epi64x(
        -1,
        0x3f3f_3f3f_3f3f_3f3f,
        0x0f0f_0f0f_0f0f_0f0f,
        0x0303_0303_0303_0303,
    );
    let by = _mm256_setr_epi64x(0, 2, 4, 6);
    for (i, (c, o)) in codes.iter().zip(out.iter_mut()).enumerate() {
        // SAFETY: `c` is 32 bytes, all a 256-bit load reads (unaligned).
        let x = unsafe { _mm256_loadu_si256(c.as_ptr().cast()) };
        let x = _mm256_sllv_epi64(_mm256_and_si256(x, keep), by);
        let y = _mm_or_si128(_mm256_castsi256_si128(x), _mm256_extracti128_si256::<1>(x));
        let packed = _mm_cvtsi128_si64(_mm_or_si128(y, _mm_unpackhi_epi64(y, y)));
        o[..8].copy_from_slice(&packed.to_le_bytes());
        if let Some(d) = d.get(i) {
            o[8..].copy_from_slice(&d.to_le_bytes());
        }
    }
}

/// Byte `m` of `out` holds the codes `c[m]`, `c[m + stride]`, … at shifts 0, 2, 4, 6
/// (`high_first`: 6, 4, 2, 0), for `m < N`.
#[inline(always)]
fn two_bit<const N: usize>(c: &[u8], stride: usize, high_first: bool, out: &mut [u8]) {
    let (c0, c1, c2, c3) = (
        &c[..N],
        &c[stride..stride + N],
        &c[2 * stride..2 * stride + N],
        &c[3 * stride..3 * stride + N],
    );
    for (m, o) in out[..N].iter_mut().enumerate() {
        *o = if high_first {
            (c0[m] << 6) | (c1[m] << 4) | (c2[m] << 2) | c3[m]
        } else {
            c0[m] | (c1[m] << 2) | (c2[m] << 4) | (c3[m] << 6)
        };
    }
}

/// Byte `m` of `out` (`m < N`) holds the `D` digits `c[m + n·stride]`, digit n weighing
/// 3^(4 − n) (a fifth digit 0 when `D` is 4), stored as ggml stores a value q < 243:
/// `ceil(q × 256 / 243)`.
#[inline(always)]
fn trits<const N: usize, const D: usize>(c: &[u8], stride: usize, out: &mut [u8]) {
    const WEIGHT: [u16; 5] = [81, 27, 9, 3, 1];
    let mut q = [0u16; N];
    for (n, weight) in WEIGHT.iter().enumerate().take(D) {
        for (q, &x) in q.iter_mut().zip(&c[n * stride..n * stride + N]) {
            *q += u16::from(x) * weight;
        }
    }
    for (o, q) in out[..N].iter_mut().zip(q) {
        *o = (q * 256).div_ceil(243) as u8;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use half::f16;

    /// `count` blocks of `N` bytes: the first ones every byte value in turn, then seeded bytes
    /// (for the checks that a vectorized loop gives a portable one's bytes, whatever they are).
    pub(crate) fn every_byte_then_seeded<const N: usize>(count: usize) -> Vec<[u8; N]> {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut at = 0usize;
        (0..count)
            .map(|_| {
                std::array::from_fn(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    at += 1;
                    if at <= 256 {
                        (at - 1) as u8
                    } else {
                        x as u8
                    }
                })
            })
            .collect()
    }

    /// The AVX2 packing of BitNet32F16 blocks gives the bytes the portable one gives, for every
    /// byte value in every place (codes past 3 included), with and without block scales.
    #[test]
    fn bitnet32_blocks_the_same_with_avx2() {
        let codes = every_byte_then_seeded::<32>(300);
        let d: Vec<f16> = (0..codes.len())
            .map(|i| f16::from_f32(i as f32 / 7.0))
            .collect();
        for d in [&d[..], &d[..5], &[]] {
            let mut want = vec![[0u8; 10]; codes.len()];
            super::whole_blocks(&codes, &mut want, d, &super::bitnet32_put);
            let mut got = vec![[0u8; 10]; codes.len()];
            super::bitnet32_blocks(&codes, &mut got, d);
            assert_eq!(got, want);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                let mut got = vec![[0u8; 10]; codes.len()];
                // SAFETY: the CPU has AVX2 (just checked).
                unsafe { super::bitnet32_blocks_avx2(&codes, &mut got, d) };
                assert_eq!(got, want);
            }
        }
    }
}
