//! AVX2 kernels (x86-64, with F16C for the block scales).
//!
//! Each group of 8 code bytes is zero-extended to 8 dword lanes once; shifting those lanes by
//! 0, 2, 4, 6 puts the code of 4 different output runs of 8 elements in the low bits, and
//! `vpermps` on the 8-entry table `[w0·s, w1·s, w2·s, w3·s] × 2` maps the low 3 bits to the
//! output. The table is repeated so that bit 2 (the next code's low bit) does not matter.
//!
//! `STREAM = true` instantiations write with non-temporal stores (see
//! [`crate::kernels::STREAM_MIN_BYTES`]) and end with `sfence`.

use core::arch::x86_64::*;

use crate::kernels::blocks::{opaque_weights, Blocks};

/// Proof that this CPU has AVX2 and F16C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// `Some` if this CPU has AVX2 and F16C.
    pub(crate) fn detect() -> Option<Self> {
        (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("f16c")).then_some(Avx2(()))
    }
}

impl Blocks for Avx2 {
    fn qk256(self, data: &[u8], scale: f32, out: &mut [f32], stream: bool) {
        // SAFETY: an `Avx2` exists only after `detect` saw AVX2 and F16C on this CPU.
        unsafe {
            if stream {
                qk256::<true>(data, scale, out)
            } else {
                qk256::<false>(data, scale, out)
            }
        }
    }

    fn bitnet32f16(self, data: &[u8], out: &mut [f32], stream: bool) {
        // SAFETY: an `Avx2` exists only after `detect` saw AVX2 and F16C on this CPU.
        unsafe {
            if stream {
                bitnet32f16::<true>(data, out)
            } else {
                bitnet32f16::<false>(data, out)
            }
        }
    }

    fn fill(self, out: &mut [f32], value: f32, stream: bool) {
        // SAFETY: an `Avx2` exists only after `detect` saw AVX2 and F16C on this CPU.
        unsafe {
            if stream {
                fill::<true>(out, value)
            } else {
                fill::<false>(out, value)
            }
        }
    }

    fn bitnetcpp(self, data: &[u8], scale: f32, out: &mut [f32], stream: bool) {
        // SAFETY: an `Avx2` exists only after `detect` saw AVX2 and F16C on this CPU.
        unsafe {
            if stream {
                bitnetcpp::<true>(data, scale, out)
            } else {
                bitnetcpp::<false>(data, scale, out)
            }
        }
    }

    fn tq2_0(self, data: &[u8], out: &mut [f32], stream: bool) {
        // SAFETY: an `Avx2` exists only after `detect` saw AVX2 and F16C on this CPU.
        unsafe {
            if stream {
                tq2_0::<true>(data, out)
            } else {
                tq2_0::<false>(data, out)
            }
        }
    }
}

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
