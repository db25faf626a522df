//! AVX2 kernels (x86-64, with F16C for the block scales).
//!
//! Each group of 8 code bytes is zero-extended to 8 dword lanes once; shifting those lanes by
//! 0, 2, 4, 6 puts the code of 4 different output runs of 8 elements in the low bits, and
//! `vpermps` on the 8-entry table `[w0·s, w1·s, w2·s, w3·s] × 2` maps the low 3 bits to the
//! output. The table is repeated so that bit 2 (the next code's low bit) does not matter.
//!
//! TQ1_0 is not a bit layout: each byte `b` holds base-3 digits, digit `n` being
//! `((b·3ⁿ mod 256)·3) >> 8`. With `b << 8` in a 16-bit lane, `vpmullw` by `3ⁿ` leaves
//! `(b·3ⁿ mod 256) << 8` there and `vpmulhuw` by 3 the digit. Each dword lane holds two bytes,
//! one per 16-bit half, so the two multiplications give the digits of 16 bytes: `vpermps` reads
//! the low half's digit (it looks at the low 3 bits only), and after a shift by 16 the high
//! half's.
//!
//! `STREAM = true` instantiations write with non-temporal stores (see
//! [`crate::kernels::STREAM_MIN_BYTES`]) and end with `sfence`.

use core::arch::x86_64::*;

use crate::kernels::blocks::opaque_weights;

/// Proof that this CPU has AVX2 and F16C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// `Some` if this CPU has AVX2 and F16C.
    pub(crate) fn detect() -> Option<Self> {
        (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("f16c")).then_some(Avx2(()))
    }
}

// `detect` checks AVX2 and F16C: every feature this module's functions enable.
streaming_blocks!(Avx2);

/// The code weights, twice, ready to be multiplied by a broadcast scale.
#[target_feature(enable = "avx2,f16c")]
fn weights() -> __m256 {
    let [w0, w1, w2, w3] = opaque_weights();
    _mm256_setr_ps(w0, w1, w2, w3, w0, w1, w2, w3)
}

/// The f16 little-endian scale `d`, converted exactly, in all 8 lanes.
#[target_feature(enable = "avx2,f16c")]
fn broadcast_f16(d: [u8; 2]) -> __m256 {
    let bits = i32::from(u16::from_le_bytes(d));
    _mm256_broadcastss_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(bits)))
}

/// 8 code bytes zero-extended to 8 dword lanes.
#[target_feature(enable = "avx2,f16c")]
fn widen(bytes: &[u8; 8]) -> __m256i {
    _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(i64::from_le_bytes(*bytes)))
}

/// Store 8 outputs; with `STREAM`, non-temporally where the address allows it.
#[target_feature(enable = "avx2,f16c")]
fn store<const STREAM: bool>(out: &mut [f32; 8], v: __m256) {
    let p = out.as_mut_ptr();
    if STREAM && p.cast::<__m256>().is_aligned() {
        // SAFETY: `out` is 8 writable f32s (32 bytes) and `p` is 32-byte aligned, as
        // `vmovntps ymm` requires.
        unsafe { _mm256_stream_ps(p, v) }
    } else if STREAM && p.cast::<__m128>().is_aligned() {
        // SAFETY: `out` is 8 writable f32s; `p` and `p + 4` (16 bytes on) are 16-byte aligned,
        // as `movntps xmm` requires.
        unsafe {
            _mm_stream_ps(p, _mm256_castps256_ps128(v));
            _mm_stream_ps(p.add(4), _mm256_extractf128_ps::<1>(v));
        }
    } else {
        // SAFETY: `out` is 8 writable f32s (32 bytes); `storeu` has no alignment requirement.
        unsafe { _mm256_storeu_ps(p, v) }
    }
}

/// After non-temporal stores: order them before any later store, as ordinary stores are.
#[target_feature(enable = "avx2,f16c")]
fn finish<const STREAM: bool>() {
    if STREAM {
        _mm_sfence();
    }
}

/// One group of 32 code bytes → 128 outputs, with `table` = the 4 products, twice. Element
/// `32j + e` is byte `e` at shift `2j` (QK256, TQ2_0), or `6 − 2j` with `HIGH_FIRST` (bitnetcpp).
#[target_feature(enable = "avx2,f16c")]
fn group128<const STREAM: bool, const HIGH_FIRST: bool>(
    codes: &[u8; 32],
    table: __m256,
    out: &mut [f32; 128],
) {
    let (groups, _) = codes.as_chunks::<8>();
    let x = [
        widen(&groups[0]),
        widen(&groups[1]),
        widen(&groups[2]),
        widen(&groups[3]),
    ];
    // Bytes 8i .. 8i + 8 hold elements 32j + 8i .. +8 at the shift of j: run 4j + i of 8
    // outputs. Walking j, then i, stores the runs in order.
    let (runs, _) = out.as_chunks_mut::<8>();
    for j in 0..4 {
        let shift = if HIGH_FIRST { 6 - 2 * j } else { 2 * j };
        // A uniform constant count: compiled to an immediate shift.
        let count = _mm256_set1_epi32(shift);
        for (i, x) in x.iter().enumerate() {
            let idx = _mm256_srlv_epi32(*x, count);
            store::<STREAM>(
                &mut runs[4 * j as usize + i],
                _mm256_permutevar8x32_ps(table, idx),
            );
        }
    }
}

/// One QK256 code block (also TQ2_0's `qs`): two groups of 128.
#[target_feature(enable = "avx2,f16c")]
fn qk256_block<const STREAM: bool>(codes: &[u8; 64], table: __m256, out: &mut [f32; 256]) {
    let (halves, _) = codes.as_chunks::<32>();
    let (outs, _) = out.as_chunks_mut::<128>();
    for (codes, out) in halves.iter().zip(outs) {
        group128::<STREAM, false>(codes, table, out);
    }
}

/// # Safety
///
/// The CPU must support AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
unsafe fn bitnetcpp<const STREAM: bool>(data: &[u8], scale: f32, out: &mut [f32]) {
    let table = _mm256_mul_ps(weights(), _mm256_set1_ps(scale));
    let (groups, _) = data.as_chunks::<32>();
    let (outs, _) = out.as_chunks_mut::<128>();
    for (codes, out) in groups.iter().zip(outs) {
        group128::<STREAM, true>(codes, table, out);
    }
    finish::<STREAM>();
}

/// # Safety
///
/// The CPU must support AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
unsafe fn qk256<const STREAM: bool>(data: &[u8], scale: f32, out: &mut [f32]) {
    let table = _mm256_mul_ps(weights(), _mm256_set1_ps(scale));
    let (blocks, _) = data.as_chunks::<64>();
    let (outs, _) = out.as_chunks_mut::<256>();
    for (codes, out) in blocks.iter().zip(outs) {
        qk256_block::<STREAM>(codes, table, out);
    }
    finish::<STREAM>();
}

/// # Safety
///
/// The CPU must support AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
unsafe fn bitnet32f16<const STREAM: bool>(data: &[u8], out: &mut [f32]) {
    let w = weights();
    let (blocks, _) = data.as_chunks::<10>();
    let (outs, _) = out.as_chunks_mut::<32>();
    for (block, out) in blocks.iter().zip(outs) {
        let [c0, c1, c2, c3, c4, c5, c6, c7, d0, d1] = *block;
        let table = _mm256_mul_ps(w, broadcast_f16([d0, d1]));
        // Element e is in byte e%8 at shift 2*(e/8): run k of 8 is all 8 bytes at shift 2k.
        let x = widen(&[c0, c1, c2, c3, c4, c5, c6, c7]);
        let (runs, _) = out.as_chunks_mut::<8>();
        store::<STREAM>(&mut runs[0], _mm256_permutevar8x32_ps(table, x));
        let x2 = _mm256_srli_epi32::<2>(x);
        store::<STREAM>(&mut runs[1], _mm256_permutevar8x32_ps(table, x2));
        let x4 = _mm256_srli_epi32::<4>(x);
        store::<STREAM>(&mut runs[2], _mm256_permutevar8x32_ps(table, x4));
        let x6 = _mm256_srli_epi32::<6>(x);
        store::<STREAM>(&mut runs[3], _mm256_permutevar8x32_ps(table, x6));
    }
    finish::<STREAM>();
}

/// # Safety
///
/// The CPU must support AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
unsafe fn tq2_0<const STREAM: bool>(data: &[u8], out: &mut [f32]) {
    let w = weights();
    let (blocks, _) = data.as_chunks::<66>();
    let (outs, _) = out.as_chunks_mut::<256>();
    for (block, out) in blocks.iter().zip(outs) {
        let [codes @ .., d0, d1] = block;
        let table = _mm256_mul_ps(w, broadcast_f16([*d0, *d1]));
        qk256_block::<STREAM>(codes, table, out);
    }
    finish::<STREAM>();
}

/// 16 TQ1_0 bytes (`lo` first, little-endian) as `b << 8` in 16-bit lanes, ready for
/// [`digits`]: dword `j` holds byte `j` in its low half and byte `8 + j` in its high half.
#[target_feature(enable = "avx2,f16c")]
pub(super) fn tq1_0_pairs(lo: u64, hi: u64) -> __m256i {
    let bytes = _mm256_broadcastsi128_si256(_mm_set_epi64x(hi as i64, lo as i64));
    // `vpshufb` picks within each 128-bit half: dwords 0..4 in the low one, 4..8 in the high.
    const Z: i8 = -128; // a zero byte
    let pick = _mm256_setr_epi8(
        Z, 0, Z, 8, Z, 1, Z, 9, Z, 2, Z, 10, Z, 3, Z, 11, //
        Z, 4, Z, 12, Z, 5, Z, 13, Z, 6, Z, 14, Z, 7, Z, 15,
    );
    _mm256_shuffle_epi8(bytes, pick)
}

/// Digit `n` of each 16-bit lane's byte, where `pow3` holds `3ⁿ` in each 16-bit lane (any `n`
/// per lane): `((b·3ⁿ mod 256)·3) >> 8`, 0, 1 or 2.
#[target_feature(enable = "avx2,f16c")]
pub(super) fn digits(pairs: __m256i, pow3: __m256i) -> __m256i {
    _mm256_mulhi_epu16(_mm256_mullo_epi16(pairs, pow3), _mm256_set1_epi16(3))
}

/// The digits of TQ1_0's `qh` (elements 240 + 4n + j are digit n of `qh[j]`): dword `l` holds
/// digit `l / 4` of `qh[l % 4]` (element 240 + l) in its low half and digit `2 + l / 4` (element
/// 248 + l) in its high half.
#[target_feature(enable = "avx2,f16c")]
pub(super) fn tq1_0_qh_digits(qh: [u8; 4]) -> __m256i {
    let qh = _mm256_set1_epi32(i32::from_le_bytes(qh));
    const Z: i8 = -128; // a zero byte
    let pick = _mm256_setr_epi8(
        Z, 0, Z, 0, Z, 1, Z, 1, Z, 2, Z, 2, Z, 3, Z, 3, //
        Z, 0, Z, 0, Z, 1, Z, 1, Z, 2, Z, 2, Z, 3, Z, 3,
    );
    let pow3 = _mm256_setr_epi16(1, 9, 1, 9, 1, 9, 1, 9, 3, 27, 3, 27, 3, 27, 3, 27);
    digits(_mm256_shuffle_epi8(qh, pick), pow3)
}

/// Store the outputs of the digits in the low halves of `digits`' dwords to `low`, those in the
/// high halves to `high`.
#[target_feature(enable = "avx2,f16c")]
fn store_pairs<const STREAM: bool>(
    digits: __m256i,
    table: __m256,
    low: &mut [f32; 8],
    high: &mut [f32; 8],
) {
    store::<STREAM>(low, _mm256_permutevar8x32_ps(table, digits));
    let high_digits = _mm256_srli_epi32::<16>(digits);
    store::<STREAM>(high, _mm256_permutevar8x32_ps(table, high_digits));
}

/// # Safety
///
/// The CPU must support AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
unsafe fn tq1_0<const STREAM: bool>(data: &[u8], out: &mut [f32]) {
    const POW3: [i16; 5] = [1, 3, 9, 27, 81];
    let w = weights();
    let (blocks, _) = data.as_chunks::<54>();
    let (outs, _) = out.as_chunks_mut::<256>();
    for (block, out) in blocks.iter().zip(outs) {
        let [qs @ .., h0, h1, h2, h3, d0, d1] = block;
        let table = _mm256_mul_ps(w, broadcast_f16([*d0, *d1]));
        let (words, _) = qs.as_chunks::<8>();
        let word = |i: usize| u64::from_le_bytes(words[i]);
        // qs[0..16], qs[16..32], qs[32..48].
        let pairs = [
            tq1_0_pairs(word(0), word(1)),
            tq1_0_pairs(word(2), word(3)),
            tq1_0_pairs(word(4), word(5)),
        ];
        // Runs of 8 outputs: 20 of qs[0..32] in fours (digit n: runs 4n .. 4n + 4), 10 of
        // qs[32..48] in twos (digit n: runs 20 + 2n, 21 + 2n), 2 of qh.
        let (part_a, part_b) = out.split_at_mut(160);
        let (part_b, part_c) = part_b.split_at_mut(80);
        let (part_a, _) = part_a.as_chunks_mut::<32>();
        let (part_b, _) = part_b.as_chunks_mut::<16>();
        let (part_c, _) = part_c.as_chunks_mut::<8>();
        for (n, (a, b)) in part_a.iter_mut().zip(part_b).enumerate() {
            let pow3 = _mm256_set1_epi16(POW3[n]);
            let (a, _) = a.as_chunks_mut::<8>();
            let (b, _) = b.as_chunks_mut::<8>();
            let [a0, a1, a2, a3] = a else {
                unreachable!("32 = 4 × 8")
            };
            store_pairs::<STREAM>(digits(pairs[0], pow3), table, a0, a1);
            store_pairs::<STREAM>(digits(pairs[1], pow3), table, a2, a3);
            let [b0, b1] = b else {
                unreachable!("16 = 2 × 8")
            };
            store_pairs::<STREAM>(digits(pairs[2], pow3), table, b0, b1);
        }
        let qh = tq1_0_qh_digits([*h0, *h1, *h2, *h3]);
        let [c0, c1] = part_c else {
            unreachable!("16 = 2 × 8")
        };
        store_pairs::<STREAM>(qh, table, c0, c1);
    }
    finish::<STREAM>();
}

/// # Safety
///
/// The CPU must support AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
unsafe fn fill<const STREAM: bool>(out: &mut [f32], value: f32) {
    let v = _mm256_set1_ps(value);
    let (runs, rest) = out.as_chunks_mut::<8>();
    for run in runs {
        store::<STREAM>(run, v);
    }
    rest.fill(value);
    finish::<STREAM>();
}
