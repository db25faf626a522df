//! The x86-64 matrix-product sums, with `vpmaddubsw`: the 2-bit layouts (QK256, TQ2_0,
//! bitnetcpp) a run of 32 code bytes (128 elements) per AVX2 step, two fields at a time per
//! AVX-512BW step; BitNet32F16 a block (8 code bytes) per AVX2 step; TQ1_0 its digits computed
//! 32 at a time (`trits`). The AVX-512 kernel uses AVX2's for BitNet32F16 and TQ1_0.
//!
//! `vpmaddubsw` multiplies unsigned bytes (the codes, 0..=3) by signed ones (the activations)
//! and adds adjacent pairs into 16-bit lanes: at most `2 × 3 × 128 = 768` in magnitude. Four
//! such products are added in 16 bits (at most 3,072), then widened by `vpmaddwd` with ones into
//! 32-bit lanes: nothing wraps, whatever the bytes.

use core::arch::x86_64::*;

use super::dots::CodeDots;
use crate::format::TernaryFormat;
use crate::kernels::arch::{Avx2, Avx512};

impl CodeDots for Avx2 {
    fn code_dots(self, format: TernaryFormat, data: &[u8], q: &[i8], out: &mut [i32]) {
        // SAFETY: an `Avx2` exists only after `detect` saw AVX2 on this CPU.
        unsafe { avx2(format, data, q, out) }
    }
}

impl CodeDots for Avx512 {
    fn code_dots(self, format: TernaryFormat, data: &[u8], q: &[i8], out: &mut [i32]) {
        if is_x86_feature_detected!("avx512bw") {
            // SAFETY: an `Avx512` exists only after `detect` saw AVX-512F and AVX2; AVX-512BW
            // was checked just above.
            unsafe { avx512(format, data, q, out) }
        } else {
            // SAFETY: as above, AVX2.
            unsafe { avx2(format, data, q, out) }
        }
    }
}

/// The 32 codes of field `SHIFT` of 32 code bytes, one per byte.
#[target_feature(enable = "avx2")]
fn field<const SHIFT: i32>(bytes: __m256i) -> __m256i {
    _mm256_and_si256(_mm256_srli_epi16::<SHIFT>(bytes), _mm256_set1_epi8(3))
}

/// 32 bytes.
#[target_feature(enable = "avx2")]
fn load32<T: Copy>(bytes: &[T; 32]) -> __m256i {
    const { assert!(size_of::<T>() == 1) };
    // SAFETY: 32 readable bytes; unaligned loads are allowed.
    unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
}

/// `Σ code × q` of one run of 32 code bytes (128 elements, field `l` of byte `k` being element
/// `32l + k`, fields low bits first or high bits first), as 8 partial sums.
#[target_feature(enable = "avx2")]
fn run(codes: &[u8; 32], q: &[i8; 128], high_first: bool) -> __m256i {
    let b = load32(codes);
    let (f0, f1, f2, f3) = (field::<0>(b), field::<2>(b), field::<4>(b), field::<6>(b));
    let fields = if high_first {
        [f3, f2, f1, f0]
    } else {
        [f0, f1, f2, f3]
    };
    let (q, _) = q.as_chunks::<32>();
    let p = |l: usize| _mm256_maddubs_epi16(fields[l], load32(&q[l]));
    let sum16 = _mm256_add_epi16(_mm256_add_epi16(p(0), p(1)), _mm256_add_epi16(p(2), p(3)));
    _mm256_madd_epi16(sum16, _mm256_set1_epi16(1))
}

/// The sum of 8 lanes.
#[target_feature(enable = "avx2")]
fn hsum(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01>(s));
    _mm_cvtsi128_si32(s)
}

/// The sums of the lanes of each of four vectors, in order.
#[target_feature(enable = "avx2")]
fn hsum4(v: [__m256i; 4]) -> __m128i {
    let h = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h))
}

/// `out[b] = hsum(block(data block b, activations of block b))` for every block of `B` bytes
/// and `E` elements, four at a time.
#[target_feature(enable = "avx2")]
fn per_block<const B: usize, const E: usize>(
    data: &[u8],
    q: &[i8],
    out: &mut [i32],
    block: impl Fn(&[u8; B], &[i8; E]) -> __m256i,
) {
    let (blocks, _) = data.as_chunks::<B>();
    let (acts, _) = q.as_chunks::<E>();
    let (quads, rest) = out.as_chunks_mut::<4>();
    let (block_quads, block_rest) = blocks.as_chunks::<4>();
    let (act_quads, act_rest) = acts.as_chunks::<4>();
    for ((quad, b), a) in quads.iter_mut().zip(block_quads).zip(act_quads) {
        let v = [
            block(&b[0], &a[0]),
            block(&b[1], &a[1]),
            block(&b[2], &a[2]),
            block(&b[3], &a[3]),
        ];
        // SAFETY: 16 writable bytes.
        unsafe { _mm_storeu_si128(quad.as_mut_ptr().cast(), hsum4(v)) };
    }
    for ((sum, b), a) in rest.iter_mut().zip(block_rest).zip(act_rest) {
        *sum = hsum(block(b, a));
    }
}

/// The two runs of a 64-byte QK256 code block, with their activations.
fn halves_of<'a>(codes: &'a [u8; 64], q: &'a [i8; 256]) -> ([&'a [u8; 32]; 2], [&'a [i8; 128]; 2]) {
    let (c, _) = codes.as_chunks::<32>();
    let (a, _) = q.as_chunks::<128>();
    ([&c[0], &c[1]], [&a[0], &a[1]])
}

#[target_feature(enable = "avx2")]
fn avx2(format: TernaryFormat, data: &[u8], q: &[i8], out: &mut [i32]) {
    let qk = |codes: &[u8; 64], q: &[i8; 256]| {
        let (c, a) = halves_of(codes, q);
        _mm256_add_epi32(run(c[0], a[0], false), run(c[1], a[1], false))
    };
    match format {
        TernaryFormat::Qk256 => per_block::<64, 256>(data, q, out, qk),
        TernaryFormat::Tq2_0 => per_block::<66, 256>(data, q, out, |b, q| {
            qk(b.first_chunk().expect("66 > 64"), q)
        }),
        TernaryFormat::BitnetCpp => per_block::<32, 128>(data, q, out, |b, q| run(b, q, true)),
        TernaryFormat::BitNet32F16 => per_block::<10, 32>(data, q, out, |b, q| bitnet32(b, q)),
        TernaryFormat::Tq1_0 => per_block::<54, 256>(data, q, out, |b, q| tq1_0(b, q)),
    }
}

/// One BitNet32F16 block: its 8 code bytes in four 64-bit lanes, lane `l` shifted right by
/// `2l`, so that byte `k` of lane `l` holds the code of element `8l + k` in its low bits.
#[target_feature(enable = "avx2")]
fn bitnet32(block: &[u8; 10], q: &[i8; 32]) -> __m256i {
    let (codes, _) = block.split_first_chunk::<8>().expect("10 > 8");
    let v = _mm256_set1_epi64x(i64::from_le_bytes(*codes));
    let c = _mm256_and_si256(
        _mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 2, 4, 6)),
        _mm256_set1_epi8(3),
    );
    _mm256_madd_epi16(_mm256_maddubs_epi16(c, load32(q)), _mm256_set1_epi16(1))
}

/// The TQ1_0 digit `n` of every byte of `bytes`, where `pow3` holds `3ⁿ` in each 16-bit lane
/// (any `n` per lane): `((b·3ⁿ mod 256)·3) >> 8` (`format::tq1_0_digit`), computed for the even
/// and the odd bytes in 16-bit lanes with the byte in the high half, so that `vpmullw` leaves
/// `(b·3ⁿ mod 256) << 8` and `vpmulhuw` by 3 the digit.
#[target_feature(enable = "avx2")]
fn trits([even, odd]: [__m256i; 2], pow3: __m256i) -> __m256i {
    let three = _mm256_set1_epi16(3);
    let e = _mm256_mulhi_epu16(_mm256_mullo_epi16(even, pow3), three);
    let o = _mm256_mulhi_epu16(_mm256_mullo_epi16(odd, pow3), three);
    _mm256_or_si256(e, _mm256_slli_epi16::<8>(o))
}

/// The even and the odd bytes of `bytes` in the high halves of 16-bit lanes, for [`trits`].
#[target_feature(enable = "avx2")]
fn split(bytes: __m256i) -> [__m256i; 2] {
    [
        _mm256_slli_epi16::<8>(bytes),
        _mm256_and_si256(bytes, _mm256_set1_epi16(0xff00u16 as i16)),
    ]
}

/// One TQ1_0 block (`qs[0..32]`: elements `32n + m`; `qs[32..48]`: `160 + 16n + m`; `qh`:
/// `240 + 4n + j`): eight vectors of 32 digits, each matching 32 consecutive activations.
#[target_feature(enable = "avx2")]
fn tq1_0(block: &[u8; 54], q: &[i8; 256]) -> __m256i {
    let (q, _) = q.as_chunks::<32>();
    let (qs, rest) = block.split_first_chunk::<32>().expect("54 > 32");
    let (mid, rest) = rest.split_first_chunk::<16>().expect("22 > 16");
    let (qh, _) = rest.split_first_chunk::<4>().expect("6 > 4");
    let mut acc = _mm256_setzero_si256();
    let mut add = |digits: __m256i, l: usize| {
        acc = _mm256_add_epi16(acc, _mm256_maddubs_epi16(digits, load32(&q[l])));
    };
    // qs[0..32], digits 0..5: activations 32n.. (5 × at most 512 in each 16-bit lane).
    let a = split(load32(qs));
    for (n, p) in [1, 3, 9, 27, 81].into_iter().enumerate() {
        add(trits(a, _mm256_set1_epi16(p)), n);
    }
    // qs[32..48] in both halves, digits n (low) and n + 1 (high): activations 160 + 16n.. .
    // SAFETY: 16 readable bytes; unaligned loads are allowed.
    let m = unsafe { _mm_loadu_si128(mid.as_ptr().cast()) };
    let b = split(_mm256_broadcastsi128_si256(m));
    let pair = |lo: i16, hi: i16| _mm256_setr_m128i(_mm_set1_epi16(lo), _mm_set1_epi16(hi));
    add(trits(b, pair(1, 3)), 5);
    add(trits(b, pair(9, 27)), 6);
    // Low half: qs[32..48] digit 4 (activations 224..240); high half: qh four times, byte
    // 4n + j holding qh[j] with 3ⁿ (activations 240..256).
    let c = split(_mm256_setr_m128i(
        m,
        _mm_set1_epi32(i32::from_le_bytes(*qh)),
    ));
    let p = _mm256_setr_epi16(81, 81, 81, 81, 81, 81, 81, 81, 1, 1, 3, 3, 9, 9, 27, 27);
    add(trits(c, p), 7);
    _mm256_madd_epi16(acc, _mm256_set1_epi16(1))
}

/// 64 bytes.
#[target_feature(enable = "avx512f,avx512bw")]
fn load64<T: Copy>(bytes: &[T; 64]) -> __m512i {
    const { assert!(size_of::<T>() == 1) };
    // SAFETY: 64 readable bytes; unaligned loads are allowed.
    unsafe { _mm512_loadu_si512(bytes.as_ptr().cast()) }
}

/// Shift counts `lo` in the low 16 16-bit lanes, `hi` in the high 16.
#[target_feature(enable = "avx512f,avx512bw,avx2")]
fn shifts(lo: i16, hi: i16) -> __m512i {
    _mm512_inserti64x4::<1>(_mm512_set1_epi16(lo), _mm256_set1_epi16(hi))
}

/// [`run`] with AVX-512BW: the 32 code bytes in both halves of a vector, shifted by a different
/// amount in each, give two fields at once, matching 64 consecutive activations; 16 partial
/// sums.
#[target_feature(enable = "avx512f,avx512bw,avx2")]
fn run512(codes: &[u8; 32], q: &[i8; 128], high_first: bool) -> __m512i {
    let b = _mm512_broadcast_i64x4(load32(codes));
    let (s01, s23) = if high_first {
        (shifts(6, 4), shifts(2, 0))
    } else {
        (shifts(0, 2), shifts(4, 6))
    };
    let mask = _mm512_set1_epi8(3);
    let c01 = _mm512_and_si512(_mm512_srlv_epi16(b, s01), mask);
    let c23 = _mm512_and_si512(_mm512_srlv_epi16(b, s23), mask);
    let (q, _) = q.as_chunks::<64>();
    let p01 = _mm512_maddubs_epi16(c01, load64(&q[0]));
    let p23 = _mm512_maddubs_epi16(c23, load64(&q[1]));
    _mm512_madd_epi16(_mm512_add_epi16(p01, p23), _mm512_set1_epi16(1))
}

/// 16 lanes added pairwise into 8.
#[target_feature(enable = "avx512f,avx512bw,avx2")]
fn halves(v: __m512i) -> __m256i {
    _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64::<1>(v))
}

#[target_feature(enable = "avx512f,avx512bw,avx2")]
fn avx512(format: TernaryFormat, data: &[u8], q: &[i8], out: &mut [i32]) {
    let qk = |codes: &[u8; 64], q: &[i8; 256]| {
        let (c, a) = halves_of(codes, q);
        halves(_mm512_add_epi32(
            run512(c[0], a[0], false),
            run512(c[1], a[1], false),
        ))
    };
    match format {
        TernaryFormat::Qk256 => per_block::<64, 256>(data, q, out, qk),
        TernaryFormat::Tq2_0 => per_block::<66, 256>(data, q, out, |b, q| {
            qk(b.first_chunk().expect("66 > 64"), q)
        }),
        TernaryFormat::BitnetCpp => {
            per_block::<32, 128>(data, q, out, |b, q| halves(run512(b, q, true)))
        }
        // AVX2's: their blocks are narrower than a 512-bit step.
        TernaryFormat::BitNet32F16 | TernaryFormat::Tq1_0 => avx2(format, data, q, out),
    }
}
