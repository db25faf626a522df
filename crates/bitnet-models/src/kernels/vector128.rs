//! The NEON and wasm simd128 kernels: one algorithm, written once over [`V128`], the few
//! 128-bit operations it needs, which `aarch64/neon.rs` and `wasm32/simd128.rs` implement.
//!
//! Codes are masked to `code × 4` in byte lanes, each byte is repeated four times
//! ([`V128::spread4`]), the byte offsets 0..4 are or-ed in, and a byte table lookup
//! ([`V128::lookup`]) picks the four bytes of each output `f32` from the 16-byte table
//! `[w0·s, w1·s, w2·s, w3·s]` — the four products, computed once per scale.
//!
//! TQ1_0 stores base-3 digits instead: digit `n` of byte `b` is `(q·3) >> 8` with
//! `q = b·3ⁿ mod 256`, that is 1 for `q > 85` and 2 for `q > 170`. The kernel keeps `q` in byte
//! lanes (times 3, wrapping, from one digit to the next) and turns the two comparisons into
//! `code × 4`, then looks the outputs up as for the 2-bit formats.

use super::blocks::{opaque_weights, Blocks};
use super::scalar::block_scale;

/// A kernel token whose blocks are this module's algorithm over its vector type: NEON's and
/// simd128's. (Neither has non-temporal stores, so `stream` is ignored.)
pub(crate) trait Vector128Kernel: Copy {
    /// The vector the algorithm runs on.
    type V: V128;
}

impl<K: Vector128Kernel> Blocks for K {
    fn qk256(self, data: &[u8], scale: f32, out: &mut [f32], _stream: bool) {
        qk256::<K::V>(data, scale, out);
    }

    fn bitnet32f16(self, data: &[u8], out: &mut [f32], _stream: bool) {
        bitnet32f16::<K::V>(data, out);
    }

    fn bitnetcpp(self, data: &[u8], scale: f32, out: &mut [f32], _stream: bool) {
        bitnetcpp::<K::V>(data, scale, out);
    }

    fn tq2_0(self, data: &[u8], out: &mut [f32], _stream: bool) {
        tq2_0::<K::V>(data, out);
    }

    fn tq1_0(self, data: &[u8], out: &mut [f32], _stream: bool) {
        tq1_0::<K::V>(data, out);
    }

    fn fill(self, out: &mut [f32], value: f32, _stream: bool) {
        fill::<K::V>(out, value);
    }
}

/// The 128-bit operations of the algorithm. Every method is a single instruction or two on both
/// ISAs; implementations are `#[inline(always)]`.
pub(crate) trait V128: Copy {
    /// Four `f32` lanes.
    fn f32x4(v: [f32; 4]) -> Self;
    /// The `f32` lanes multiplied by `s`, each one IEEE multiplication.
    fn mul_f32(self, s: f32) -> Self;
    /// Two `u64` lanes, `lo` first.
    fn u64x2(lo: u64, hi: u64) -> Self;
    /// `b` in every byte lane.
    fn splat_u8(b: u8) -> Self;
    /// `v` in every `u32` lane.
    fn splat_u32(v: u32) -> Self;
    /// Bitwise and.
    fn and(self, other: Self) -> Self;
    /// Bitwise or.
    fn or(self, other: Self) -> Self;
    /// Byte lanes added, wrapping.
    fn add_u8(self, other: Self) -> Self;
    /// All ones in each byte lane where `self > other` (unsigned), else zero.
    fn gt_u8(self, other: Self) -> Self;
    /// Each byte lane shifted left by 2.
    fn shl2_u8(self) -> Self;
    /// Each byte lane shifted right by `N` (2 or 4).
    fn shr_u8<const N: u32>(self) -> Self;
    /// Byte `i` repeated into bytes `4i..4i + 4`: result `k` holds source bytes `4k..4k + 4`.
    fn spread4(self) -> [Self; 4];
    /// `table[idx[i]]` for every byte lane (indices below 16).
    fn lookup(table: Self, idx: Self) -> Self;
    /// The 16 bytes as four `f32` values.
    fn store(self, out: &mut [f32; 4]);
}

/// Byte mask of `code × 4` after the code has been shifted to bits 2..4.
const CODE_X4: u8 = 0x0C;
/// `0x0C` in every byte of a `u64`.
const CODE_X4_U64: u64 = 0x0C0C_0C0C_0C0C_0C0C;

/// The code weights in `f32` lanes, ready to be multiplied by a scale.
#[inline(always)]
fn weights<V: V128>() -> V {
    V::f32x4(opaque_weights())
}

#[inline(always)]
fn load16<V: V128>(bytes: &[u8; 16]) -> V {
    let (words, _) = bytes.as_chunks::<8>();
    V::u64x2(u64::from_le_bytes(words[0]), u64::from_le_bytes(words[1]))
}

/// Looks up 16 outputs: `c4` holds `code × 4` in each byte lane.
#[inline(always)]
fn expand16<V: V128>(c4: V, table: V, out: &mut [f32; 16]) {
    // Byte offsets 0, 1, 2, 3 of each little-endian f32 lane.
    let offsets = V::splat_u32(0x0302_0100);
    let (runs, _) = out.as_chunks_mut::<4>();
    for (run, quad) in runs.iter_mut().zip(c4.spread4()) {
        V::lookup(table, quad.or(offsets)).store(run);
    }
}

/// One group of 32 code bytes → 128 outputs. Element `32j + e` is byte `e` at shift `2j`
/// (QK256, TQ2_0), or `6 − 2j` with `HIGH_FIRST` (bitnetcpp).
#[inline(always)]
fn group128<V: V128, const HIGH_FIRST: bool>(codes: &[u8; 32], table: V, out: &mut [f32; 128]) {
    let mask = V::splat_u8(CODE_X4);
    let (halves, _) = codes.as_chunks::<16>();
    let (runs, _) = out.as_chunks_mut::<16>();
    for (h, bytes) in halves.iter().enumerate() {
        // Bytes 16h .. 16h + 16 hold elements 32j + 16h .. +16 at the shift of j: run 2j + h of
        // 16 outputs. The masks keep `code × 4`: the code at shift 0 moved up by 2, at 2 in
        // place, at 4 and 6 moved down by 2 and 4.
        let v: V = load16(bytes);
        let by_shift = [
            v.shl2_u8().and(mask),
            v.and(mask),
            v.shr_u8::<2>().and(mask),
            v.shr_u8::<4>().and(mask),
        ];
        for j in 0..4 {
            let c4 = by_shift[if HIGH_FIRST { 3 - j } else { j }];
            expand16(c4, table, &mut runs[2 * j + h]);
        }
    }
}

/// One QK256 code block (also TQ2_0's `qs`): two groups of 128.
#[inline(always)]
fn qk256_block<V: V128>(codes: &[u8; 64], table: V, out: &mut [f32; 256]) {
    let (halves, _) = codes.as_chunks::<32>();
    let (outs, _) = out.as_chunks_mut::<128>();
    for (codes, out) in halves.iter().zip(outs) {
        group128::<V, false>(codes, table, out);
    }
}

/// bitnetcpp groups (32 bytes → 128 values, high bits first), `out = w × scale`.
#[inline(always)]
fn bitnetcpp<V: V128>(data: &[u8], scale: f32, out: &mut [f32]) {
    let table = weights::<V>().mul_f32(scale);
    let (groups, _) = data.as_chunks::<32>();
    let (outs, _) = out.as_chunks_mut::<128>();
    for (codes, out) in groups.iter().zip(outs) {
        group128::<V, true>(codes, table, out);
    }
}

/// QK256 blocks (64 bytes → 256 values), `out = w × scale`.
#[inline(always)]
fn qk256<V: V128>(data: &[u8], scale: f32, out: &mut [f32]) {
    let table = weights::<V>().mul_f32(scale);
    let (blocks, _) = data.as_chunks::<64>();
    let (outs, _) = out.as_chunks_mut::<256>();
    for (codes, out) in blocks.iter().zip(outs) {
        qk256_block(codes, table, out);
    }
}

/// BitNet32F16 blocks (10 bytes → 32 values), `out = w × d`.
#[inline(always)]
fn bitnet32f16<V: V128>(data: &[u8], out: &mut [f32]) {
    let w = weights::<V>();
    let (blocks, _) = data.as_chunks::<10>();
    let (outs, _) = out.as_chunks_mut::<32>();
    for (block, out) in blocks.iter().zip(outs) {
        let [c0, c1, c2, c3, c4, c5, c6, c7, d0, d1] = *block;
        let table = w.mul_f32(block_scale([d0, d1]));
        // Element e is in byte e%8 at shift 2*(e/8). Shifting the whole u64 moves bits across
        // bytes, but the 0x0C mask keeps only bits 2..4 of each byte, which come from that byte.
        let b = u64::from_le_bytes([c0, c1, c2, c3, c4, c5, c6, c7]);
        let (runs, _) = out.as_chunks_mut::<16>();
        let first = V::u64x2((b << 2) & CODE_X4_U64, b & CODE_X4_U64);
        expand16(first, table, &mut runs[0]);
        let second = V::u64x2((b >> 2) & CODE_X4_U64, (b >> 4) & CODE_X4_U64);
        expand16(second, table, &mut runs[1]);
    }
}

/// TQ2_0 blocks (66 bytes → 256 values), `out = w × d`.
#[inline(always)]
fn tq2_0<V: V128>(data: &[u8], out: &mut [f32]) {
    let w = weights::<V>();
    let (blocks, _) = data.as_chunks::<66>();
    let (outs, _) = out.as_chunks_mut::<256>();
    for (block, out) in blocks.iter().zip(outs) {
        let [codes @ .., d0, d1] = block;
        qk256_block(codes, w.mul_f32(block_scale([*d0, *d1])), out);
    }
}

/// `code × 4` of the TQ1_0 digit each byte lane holds as `q` (`b·3ⁿ mod 256` for digit `n` of
/// byte `b`): `(q·3) >> 8` is 1 for `q > 85` and 2 for `q > 170`.
#[inline(always)]
fn digit_x4<V: V128>(q: V) -> V {
    let four = V::splat_u8(4);
    let one = q.gt_u8(V::splat_u8(85)).and(four);
    let two = q.gt_u8(V::splat_u8(170)).and(four);
    one.add_u8(two)
}

/// Each byte lane times 3, wrapping: `q` of the next digit.
#[inline(always)]
fn times3<V: V128>(q: V) -> V {
    q.add_u8(q).add_u8(q)
}

/// TQ1_0 blocks (54 bytes → 256 values: `qs[48]`, `qh[4]`, `d`), `out = w × d`.
#[inline(always)]
fn tq1_0<V: V128>(data: &[u8], out: &mut [f32]) {
    let w = weights::<V>();
    let (blocks, _) = data.as_chunks::<54>();
    let (outs, _) = out.as_chunks_mut::<256>();
    for (block, out) in blocks.iter().zip(outs) {
        let [qs @ .., h0, h1, h2, h3, d0, d1] = block;
        let table = w.mul_f32(block_scale([*d0, *d1]));
        let (groups, _) = qs.as_chunks::<16>();
        let mut q: [V; 3] = [load16(&groups[0]), load16(&groups[1]), load16(&groups[2])];
        let (runs, _) = out.as_chunks_mut::<16>();
        for n in 0..5 {
            // Digit n of qs[0..32] is elements 32n .. 32n + 32 (runs 2n, 2n + 1), of qs[32..48]
            // elements 160 + 16n .. (run 10 + n).
            expand16(digit_x4(q[0]), table, &mut runs[2 * n]);
            expand16(digit_x4(q[1]), table, &mut runs[2 * n + 1]);
            expand16(digit_x4(q[2]), table, &mut runs[10 + n]);
            q = q.map(times3);
        }
        // Digit n of qh[j] is element 240 + 4n + j (run 15): byte 4n + j of `q` is qh[j]·3ⁿ.
        let qh = [*h0, *h1, *h2, *h3];
        let times = |k: u8| u64::from(u32::from_le_bytes(qh.map(|b| b.wrapping_mul(k))));
        let q = V::u64x2(times(1) | times(3) << 32, times(9) | times(27) << 32);
        expand16(digit_x4(q), table, &mut runs[15]);
    }
}

/// `value` in every element, with the same 128-bit stores as the kernels.
#[inline(always)]
fn fill<V: V128>(out: &mut [f32], value: f32) {
    let v = V::f32x4([value; 4]);
    let (runs, rest) = out.as_chunks_mut::<4>();
    for run in runs {
        v.store(run);
    }
    rest.fill(value);
}
