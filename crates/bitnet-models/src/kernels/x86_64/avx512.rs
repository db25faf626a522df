//! AVX-512F kernels (x86-64, with F16C for the block scales).
//!
//! The AVX2 scheme at twice the width: 16 code bytes are zero-extended to 16 dword lanes once,
//! shifted by 0, 2, 4, 6, and `vpermps` on a 16-entry table (the 4 products, four times) maps
//! the low 4 bits to the output; the bits above the code select a copy of the same 4 values.
//!
//! TQ1_0 is not a bit layout: each byte `b` holds base-3 digits. AVX-512F has no 16-bit
//! multiplies, so the digits of 16 bytes are computed as the AVX2 kernel computes them, two per
//! dword of a 256-bit register (AVX2, which AVX-512F implies); the low halves' digits and, shifted
//! down, the high halves' make the 16 dword indices of one `vpermps`.
//!
//! `STREAM = true` instantiations write with non-temporal stores (see
//! [`crate::kernels::STREAM_MIN_BYTES`]) and end with `sfence`.

use core::arch::x86_64::*;

use super::avx2;
use crate::kernels::blocks::opaque_weights;

/// Proof that this CPU has AVX-512F, AVX2 and F16C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Avx512(());

impl Avx512 {
    /// `Some` if this CPU has AVX-512F, AVX2 (which every AVX-512F CPU has, checked anyway: the
    /// TQ1_0 kernel uses it) and F16C.
    pub(crate) fn detect() -> Option<Self> {
        (is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("f16c"))
        .then_some(Avx512(()))
    }
}

// `detect` checks AVX-512F, AVX2 and F16C: every feature this module's functions enable.
streaming_blocks!(Avx512);

/// The code weights, four times, ready to be multiplied by a broadcast scale.
#[target_feature(enable = "avx512f,f16c")]
fn weights() -> __m512 {
    let [w0, w1, w2, w3] = opaque_weights();
    _mm512_setr_ps(
        w0, w1, w2, w3, w0, w1, w2, w3, w0, w1, w2, w3, w0, w1, w2, w3,
    )
}

/// The f16 little-endian scale `d`, converted exactly, in all 16 lanes.
#[target_feature(enable = "avx512f,f16c")]
fn broadcast_f16(d: [u8; 2]) -> __m512 {
    let bits = i32::from(u16::from_le_bytes(d));
    _mm512_broadcastss_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(bits)))
}

/// 16 code bytes zero-extended to 16 dword lanes.
#[target_feature(enable = "avx512f,f16c")]
fn widen(bytes: &[u8; 16]) -> __m512i {
    let lo = i64::from_le_bytes(bytes[..8].try_into().expect("16 = 8 + 8"));
    let hi = i64::from_le_bytes(bytes[8..].try_into().expect("16 = 8 + 8"));
    _mm512_cvtepu8_epi32(_mm_set_epi64x(hi, lo))
}

/// Store 16 outputs; with `STREAM`, non-temporally where the address allows it.
#[target_feature(enable = "avx512f,f16c")]
fn store<const STREAM: bool>(out: &mut [f32; 16], v: __m512) {
    let p = out.as_mut_ptr();
    if STREAM && p.cast::<__m512>().is_aligned() {
        // SAFETY: `out` is 16 writable f32s (64 bytes) and `p` is 64-byte aligned, as
        // `vmovntps zmm` requires.
        unsafe { _mm512_stream_ps(p, v) }
    } else if STREAM && p.cast::<__m128>().is_aligned() {
        // SAFETY: `out` is 16 writable f32s; `p`, `p + 4`, `p + 8` and `p + 12` are 16-byte
        // aligned, as `movntps xmm` requires.
        unsafe {
            _mm_stream_ps(p, _mm512_extractf32x4_ps::<0>(v));
            _mm_stream_ps(p.add(4), _mm512_extractf32x4_ps::<1>(v));
            _mm_stream_ps(p.add(8), _mm512_extractf32x4_ps::<2>(v));
            _mm_stream_ps(p.add(12), _mm512_extractf32x4_ps::<3>(v));
        }
    } else {
        // SAFETY: `out` is 16 writable f32s (64 bytes); `storeu` has no alignment requirement.
        unsafe { _mm512_storeu_ps(p, v) }
    }
}

/// After non-temporal stores: order them before any later store, as ordinary stores are.
#[target_feature(enable = "avx512f,f16c")]
fn finish<const STREAM: bool>() {
    if STREAM {
        _mm_sfence();
    }
}

/// One group of 32 code bytes → 128 outputs, with `table` = the 4 products, four times.
/// Element `32j + e` is byte `e` at shift `2j` (QK256, TQ2_0), or `6 − 2j` with `HIGH_FIRST`
/// (bitnetcpp).
#[target_feature(enable = "avx512f,f16c")]
fn group128<const STREAM: bool, const HIGH_FIRST: bool>(
    codes: &[u8; 32],
    table: __m512,
    out: &mut [f32; 128],
) {
    let (groups, _) = codes.as_chunks::<16>();
    let x = [widen(&groups[0]), widen(&groups[1])];
    // Bytes 16i .. 16i + 16 hold elements 32j + 16i .. +16 at the shift of j: run 2j + i of 16
    // outputs. Walking j, then i, stores the runs in order.
    let (runs, _) = out.as_chunks_mut::<16>();
    for j in 0..4 {
        let shift = if HIGH_FIRST { 6 - 2 * j } else { 2 * j };
        // A uniform constant count: compiled to an immediate shift.
        let count = _mm512_set1_epi32(shift);
        for (i, x) in x.iter().enumerate() {
            let idx = _mm512_srlv_epi32(*x, count);
            store::<STREAM>(
                &mut runs[2 * j as usize + i],
                _mm512_permutexvar_ps(idx, table),
            );
        }
    }
}

/// One QK256 code block (also TQ2_0's `qs`): two groups of 128.
#[target_feature(enable = "avx512f,f16c")]
fn qk256_block<const STREAM: bool>(codes: &[u8; 64], table: __m512, out: &mut [f32; 256]) {
    let (halves, _) = codes.as_chunks::<32>();
    let (outs, _) = out.as_chunks_mut::<128>();
    for (codes, out) in halves.iter().zip(outs) {
        group128::<STREAM, false>(codes, table, out);
    }
}

/// # Safety
///
/// The CPU must support AVX-512F and F16C.
#[target_feature(enable = "avx512f,f16c")]
unsafe fn bitnetcpp<const STREAM: bool>(data: &[u8], scale: f32, out: &mut [f32]) {
    let table = _mm512_mul_ps(weights(), _mm512_set1_ps(scale));
    let (groups, _) = data.as_chunks::<32>();
    let (outs, _) = out.as_chunks_mut::<128>();
    for (codes, out) in groups.iter().zip(outs) {
        group128::<STREAM, true>(codes, table, out);
    }
    finish::<STREAM>();
}

/// # Safety
///
/// The CPU must support AVX-512F and F16C.
#[target_feature(enable = "avx512f,f16c")]
unsafe fn qk256<const STREAM: bool>(data: &[u8], scale: f32, out: &mut [f32]) {
    let table = _mm512_mul_ps(weights(), _mm512_set1_ps(scale));
    let (blocks, _) = data.as_chunks::<64>();
    let (outs, _) = out.as_chunks_mut::<256>();
    for (codes, out) in blocks.iter().zip(outs) {
        qk256_block::<STREAM>(codes, table, out);
    }
    finish::<STREAM>();
}

/// # Safety
///
/// The CPU must support AVX-512F and F16C.
#[target_feature(enable = "avx512f,f16c")]
unsafe fn bitnet32f16<const STREAM: bool>(data: &[u8], out: &mut [f32]) {
    let w = weights();
    // Lanes 0..8 and 8..16 both hold the block's 8 code bytes; element e is in byte e%8 at
    // shift 2*(e/8), so elements 0..16 need shifts (0, 2) and elements 16..32 shifts (4, 6).
    let low = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
    let high = _mm512_setr_epi32(4, 4, 4, 4, 4, 4, 4, 4, 6, 6, 6, 6, 6, 6, 6, 6);
    let (blocks, _) = data.as_chunks::<10>();
    let (outs, _) = out.as_chunks_mut::<32>();
    for (block, out) in blocks.iter().zip(outs) {
        let [c0, c1, c2, c3, c4, c5, c6, c7, d0, d1] = *block;
        let table = _mm512_mul_ps(w, broadcast_f16([d0, d1]));
        let codes = i64::from_le_bytes([c0, c1, c2, c3, c4, c5, c6, c7]);
        let x = _mm512_cvtepu8_epi32(_mm_set1_epi64x(codes));
        let (runs, _) = out.as_chunks_mut::<16>();
        let first = _mm512_permutexvar_ps(_mm512_srlv_epi32(x, low), table);
        store::<STREAM>(&mut runs[0], first);
        let second = _mm512_permutexvar_ps(_mm512_srlv_epi32(x, high), table);
        store::<STREAM>(&mut runs[1], second);
    }
    finish::<STREAM>();
}

/// # Safety
///
/// The CPU must support AVX-512F and F16C.
#[target_feature(enable = "avx512f,f16c")]
unsafe fn tq2_0<const STREAM: bool>(data: &[u8], out: &mut [f32]) {
    let w = weights();
    let (blocks, _) = data.as_chunks::<66>();
    let (outs, _) = out.as_chunks_mut::<256>();
    for (block, out) in blocks.iter().zip(outs) {
        let [codes @ .., d0, d1] = block;
        let table = _mm512_mul_ps(w, broadcast_f16([*d0, *d1]));
        qk256_block::<STREAM>(codes, table, out);
    }
    finish::<STREAM>();
}

/// The 16 dword indices of the digits in `digits`' low halves, then those in its high halves.
#[target_feature(enable = "avx512f,avx2,f16c")]
fn unpair(digits: __m256i) -> __m512i {
    let high = _mm256_srli_epi32::<16>(digits);
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(digits), high)
}

/// # Safety
///
/// The CPU must support AVX-512F, AVX2 and F16C.
#[target_feature(enable = "avx512f,avx2,f16c")]
unsafe fn tq1_0<const STREAM: bool>(data: &[u8], out: &mut [f32]) {
    const POW3: [i16; 5] = [1, 3, 9, 27, 81];
    let w = weights();
    let (blocks, _) = data.as_chunks::<54>();
    let (outs, _) = out.as_chunks_mut::<256>();
    for (block, out) in blocks.iter().zip(outs) {
        let [qs @ .., h0, h1, h2, h3, d0, d1] = block;
        let table = _mm512_mul_ps(w, broadcast_f16([*d0, *d1]));
        let (words, _) = qs.as_chunks::<8>();
        let word = |i: usize| u64::from_le_bytes(words[i]);
        // qs[0..16], qs[16..32], qs[32..48], with byte j and 8 + j in dword j.
        let pairs = [
            avx2::tq1_0_pairs(word(0), word(1)),
            avx2::tq1_0_pairs(word(2), word(3)),
            avx2::tq1_0_pairs(word(4), word(5)),
        ];
        let (runs, _) = out.as_chunks_mut::<16>();
        for (n, &pow3) in POW3.iter().enumerate() {
            let pow3 = _mm256_set1_epi16(pow3);
            // Digit n of qs[16i .. 16i + 16] is elements 32n + 16i .. for i < 2 (run 2n + i),
            // and of qs[32..48] elements 160 + 16n .. (run 10 + n).
            for (i, run) in [2 * n, 2 * n + 1, 10 + n].into_iter().enumerate() {
                let idx = unpair(avx2::digits(pairs[i], pow3));
                store::<STREAM>(&mut runs[run], _mm512_permutexvar_ps(idx, table));
            }
        }
        // qh: elements 240 .. 256, run 15.
        let idx = unpair(avx2::tq1_0_qh_digits([*h0, *h1, *h2, *h3]));
        store::<STREAM>(&mut runs[15], _mm512_permutexvar_ps(idx, table));
    }
    finish::<STREAM>();
}

/// # Safety
///
/// The CPU must support AVX-512F and F16C.
#[target_feature(enable = "avx512f,f16c")]
unsafe fn fill<const STREAM: bool>(out: &mut [f32], value: f32) {
    let v = _mm512_set1_ps(value);
    let (runs, rest) = out.as_chunks_mut::<16>();
    for run in runs {
        store::<STREAM>(run, v);
    }
    rest.fill(value);
    finish::<STREAM>();
}
