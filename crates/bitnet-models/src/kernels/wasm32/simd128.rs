//! WebAssembly SIMD (simd128) kernels, compiled only when the module is built with `+simd128`.
//!
//! Same scheme as the NEON kernel: codes masked to `code × 4` in byte lanes, each byte repeated
//! four times by shuffles, byte offsets 0..4 or-ed in, and `i8x16.swizzle` looks the four bytes
//! of each output float up in the 16-byte table `[w0·s, w1·s, w2·s, w3·s]`.

use core::arch::wasm32::*;

use crate::kernels::scalar::block_scale;
use crate::kernels::{opaque_weights, Blocks};

/// Proof that this module was compiled with simd128 (a wasm engine validates the whole module
/// before running any of it, so there is nothing to check at run time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Simd128(());

impl Simd128 {
    /// Always `Some`: this module exists only when simd128 is enabled at compile time.
    pub(crate) fn detect() -> Option<Self> {
        Some(Simd128(()))
    }
}

impl Blocks for Simd128 {
    fn qk256(self, data: &[u8], scale: f32, out: &mut [f32], _stream: bool) {
        let table = table(weights(), scale);
        let (blocks, _) = data.as_chunks::<64>();
        let (outs, _) = out.as_chunks_mut::<256>();
        for (codes, out) in blocks.iter().zip(outs) {
            qk256_block(codes, table, out);
        }
    }

    fn bitnet32f16(self, data: &[u8], out: &mut [f32], _stream: bool) {
        let w = weights();
        let (blocks, _) = data.as_chunks::<10>();
        let (outs, _) = out.as_chunks_mut::<32>();
        for (block, out) in blocks.iter().zip(outs) {
            let [c0, c1, c2, c3, c4, c5, c6, c7, d0, d1] = *block;
            let table = table(w, block_scale([d0, d1]));
            // Element e is in byte e%8 at shift 2*(e/8). Shifting the whole u64 moves bits
            // across bytes, but the 0x0C mask keeps only bits 2..4 of each byte, which come
            // from that byte.
            let b = u64::from_le_bytes([c0, c1, c2, c3, c4, c5, c6, c7]);
            let (runs, _) = out.as_chunks_mut::<16>();
            let first = u64x2((b << 2) & CODE_X4_U64, b & CODE_X4_U64);
            expand16(first, table, &mut runs[0]);
            let second = u64x2((b >> 2) & CODE_X4_U64, (b >> 4) & CODE_X4_U64);
            expand16(second, table, &mut runs[1]);
        }
    }

    fn tq2_0(self, data: &[u8], out: &mut [f32], _stream: bool) {
        let w = weights();
        let (blocks, _) = data.as_chunks::<66>();
        let (outs, _) = out.as_chunks_mut::<256>();
        for (block, out) in blocks.iter().zip(outs) {
            let (codes, d) = block.split_at(64);
            let codes: &[u8; 64] = codes.try_into().expect("66 = 64 + 2");
            qk256_block(codes, table(w, block_scale([d[0], d[1]])), out);
        }
    }
}

/// Byte mask of `code × 4` after the code has been shifted to bits 2..4.
const CODE_X4: u8 = 0x0C;
/// `0x0C` in every byte of a `u64`.
const CODE_X4_U64: u64 = 0x0C0C_0C0C_0C0C_0C0C;

fn weights() -> v128 {
    let [w0, w1, w2, w3] = opaque_weights();
    f32x4(w0, w1, w2, w3)
}

/// The table of the four products `w × s`, as 16 bytes.
fn table(w: v128, s: f32) -> v128 {
    f32x4_mul(w, f32x4_splat(s))
}

fn load16(bytes: &[u8; 16]) -> v128 {
    let lo = u64::from_le_bytes(bytes[..8].try_into().expect("16 = 8 + 8"));
    let hi = u64::from_le_bytes(bytes[8..].try_into().expect("16 = 8 + 8"));
    u64x2(lo, hi)
}

/// Look up 16 outputs: `c4` holds `code × 4` in each byte lane.
fn expand16(c4: v128, table: v128, out: &mut [f32; 16]) {
    // Byte offsets 0, 1, 2, 3 of each little-endian f32 lane.
    let offsets = u32x4_splat(0x0302_0100);
    let quads = [
        i8x16_shuffle::<0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3>(c4, c4),
        i8x16_shuffle::<4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7>(c4, c4),
        i8x16_shuffle::<8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11>(c4, c4),
        i8x16_shuffle::<12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15>(c4, c4),
    ];
    let (runs, _) = out.as_chunks_mut::<4>();
    for (run, quad) in runs.iter_mut().zip(quads) {
        let v = i8x16_swizzle(table, v128_or(quad, offsets));
        // SAFETY: `run` is 4 writable f32s (16 bytes); `v128_store` has no alignment
        // requirement.
        unsafe { v128_store(run.as_mut_ptr().cast::<v128>(), v) }
    }
}

/// One QK256 code block (also TQ2_0's `qs`).
fn qk256_block(codes: &[u8; 64], table: v128, out: &mut [f32; 256]) {
    let mask = u8x16_splat(CODE_X4);
    let (groups, _) = codes.as_chunks::<16>();
    let (runs, _) = out.as_chunks_mut::<16>();
    for (g, bytes) in groups.iter().enumerate() {
        // Bytes h*32 + i .. +16 (h = g/2, i = 16*(g%2)) hold elements h*128 + 32j + i .. +16
        // at shift 2j; in runs of 16 that is run 8h + g%2 + 2j.
        let run = 8 * (g / 2) + g % 2;
        let v = load16(bytes);
        expand16(v128_and(u8x16_shl(v, 2), mask), table, &mut runs[run]);
        expand16(v128_and(v, mask), table, &mut runs[run + 2]);
        expand16(v128_and(u8x16_shr(v, 2), mask), table, &mut runs[run + 4]);
        expand16(v128_and(u8x16_shr(v, 4), mask), table, &mut runs[run + 6]);
    }
}
