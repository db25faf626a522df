//! The x86-64 matrix-product sums: the 2-bit layouts (QK256, TQ2_0, bitnetcpp) with
//! `vpmaddubsw`, 32 code bytes (128 elements) per AVX2 step and 64 per AVX-512BW step; the
//! others (BitNet32F16, TQ1_0) as [`generic`] compiled for the kernel's features.
//!
//! `vpmaddubsw` multiplies unsigned bytes (the codes, 0..=3) by signed ones (the activations)
//! and adds adjacent pairs into 16-bit lanes: at most `2 × 3 × 128 = 768` in magnitude. Four
//! such products are added in 16 bits (at most 3,072), then widened by `vpmaddwd` with ones into
//! 32-bit lanes: nothing wraps, whatever the bytes.

use core::arch::x86_64::*;

use super::dots::{generic, CodeDots};
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

/// 32 bytes at `bytes[..32]`.
#[target_feature(enable = "avx2")]
fn load32<T: Copy>(bytes: &[T]) -> __m256i {
    assert!(size_of_val(bytes) >= 32);
    // SAFETY: at least 32 readable bytes, checked above; unaligned loads are allowed.
    unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
}

/// `Σ code × q` of one run of 32 code bytes (128 elements, field `l` of byte `k` being element
/// `32l + k`, fields low bits first or high bits first), as 8 partial sums.
#[target_feature(enable = "avx2")]
fn run(codes: &[u8], q: &[i8], high_first: bool) -> __m256i {
    let b = load32(codes);
    let (f0, f1, f2, f3) = (field::<0>(b), field::<2>(b), field::<4>(b), field::<6>(b));
    let fields = if high_first {
        [f3, f2, f1, f0]
    } else {
        [f0, f1, f2, f3]
    };
    let p = |l: usize| _mm256_maddubs_epi16(fields[l], load32(&q[32 * l..]));
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

#[target_feature(enable = "avx2")]
fn avx2(format: TernaryFormat, data: &[u8], q: &[i8], out: &mut [i32]) {
    let (elems, bytes) = (format.block_elems(), format.block_bytes());
    let blocks = data.chunks_exact(bytes).zip(q.chunks_exact(elems));
    match format {
        TernaryFormat::Qk256 | TernaryFormat::Tq2_0 => {
            for ((b, q), sum) in blocks.zip(out.iter_mut()) {
                let v = _mm256_add_epi32(run(b, q, false), run(&b[32..], &q[128..], false));
                *sum = hsum(v);
            }
        }
        TernaryFormat::BitnetCpp => {
            for ((b, q), sum) in blocks.zip(out.iter_mut()) {
                *sum = hsum(run(b, q, true));
            }
        }
        TernaryFormat::BitNet32F16 | TernaryFormat::Tq1_0 => {
            generic::code_dots(format, data, q, out)
        }
    }
}

/// 64 bytes at `bytes[..64]`.
#[target_feature(enable = "avx512f,avx512bw")]
fn load64<T: Copy>(bytes: &[T]) -> __m512i {
    assert!(size_of_val(bytes) >= 64);
    // SAFETY: at least 64 readable bytes, checked above; unaligned loads are allowed.
    unsafe { _mm512_loadu_si512(bytes.as_ptr().cast()) }
}

/// [`run`] for two runs at once: 64 code bytes, the first 32 with `q[..128]`, the next 32 with
/// `q[128..256]`; 16 partial sums, the first run's in the low 8 lanes.
#[target_feature(enable = "avx512f,avx512bw,avx2")]
fn run2(codes: &[u8], q: &[i8], high_first: bool) -> __m512i {
    let b = load64(codes);
    let mask = _mm512_set1_epi8(3);
    let f = [
        _mm512_and_si512(b, mask),
        _mm512_and_si512(_mm512_srli_epi16::<2>(b), mask),
        _mm512_and_si512(_mm512_srli_epi16::<4>(b), mask),
        _mm512_and_si512(_mm512_srli_epi16::<6>(b), mask),
    ];
    let field = |l: usize| if high_first { f[3 - l] } else { f[l] };
    // Field l of both runs: activations 32l.. of the first run, 128 + 32l.. of the second.
    let acts = |l: usize| {
        let lo = load32(&q[32 * l..]);
        let hi = load32(&q[128 + 32 * l..]);
        _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
    };
    let p = |l: usize| _mm512_maddubs_epi16(field(l), acts(l));
    let sum16 = _mm512_add_epi16(_mm512_add_epi16(p(0), p(1)), _mm512_add_epi16(p(2), p(3)));
    _mm512_madd_epi16(sum16, _mm512_set1_epi16(1))
}

#[target_feature(enable = "avx512f,avx512bw,avx2")]
fn avx512(format: TernaryFormat, data: &[u8], q: &[i8], out: &mut [i32]) {
    let (elems, bytes) = (format.block_elems(), format.block_bytes());
    match format {
        TernaryFormat::Qk256 | TernaryFormat::Tq2_0 => {
            let blocks = data.chunks_exact(bytes).zip(q.chunks_exact(elems));
            for ((b, q), sum) in blocks.zip(out.iter_mut()) {
                *sum = _mm512_reduce_add_epi32(run2(b, q, false));
            }
        }
        TernaryFormat::BitnetCpp => {
            // Two groups (64 bytes, 256 elements) per step; an odd last group takes AVX2's.
            let n = out.len() - out.len() % 2;
            let pairs = data.chunks_exact(64).zip(q.chunks_exact(256));
            let mut sums = out.chunks_exact_mut(2);
            for ((b, q), pair) in pairs.zip(&mut sums) {
                let v = run2(b, q, true);
                pair[0] = hsum(_mm512_castsi512_si256(v));
                pair[1] = hsum(_mm512_extracti64x4_epi64::<1>(v));
            }
            if let [last] = sums.into_remainder() {
                *last = hsum(run(&data[n * bytes..], &q[n * elems..], true));
            }
        }
        TernaryFormat::BitNet32F16 | TernaryFormat::Tq1_0 => {
            generic::code_dots(format, data, q, out)
        }
    }
}
