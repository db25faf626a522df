//! AArch64 Advanced SIMD (NEON) kernels, little-endian only.
//!
//! Codes are masked to `code × 4` in byte lanes, each byte is repeated four times with two
//! rounds of `zip`, the byte offsets 0..4 are or-ed in, and `tbl` looks the four bytes of each
//! output float up in the 16-byte table `[w0·s, w1·s, w2·s, w3·s]`.

use core::arch::aarch64::*;

use crate::kernels::scalar::block_scale;
use crate::kernels::{opaque_weights, Blocks};

/// Proof that this CPU has NEON (always true on AArch64 Linux, checked anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Neon(());

impl Neon {
    /// `Some` if this CPU has NEON.
    pub(crate) fn detect() -> Option<Self> {
        std::arch::is_aarch64_feature_detected!("neon").then_some(Neon(()))
    }
}

impl Blocks for Neon {
    fn qk256(self, data: &[u8], scale: f32, out: &mut [f32], _stream: bool) {
        // SAFETY: a `Neon` exists only after `detect` saw NEON on this CPU.
        unsafe { qk256(data, scale, out) }
    }

    fn bitnet32f16(self, data: &[u8], out: &mut [f32], _stream: bool) {
        // SAFETY: a `Neon` exists only after `detect` saw NEON on this CPU.
        unsafe { bitnet32f16(data, out) }
    }

    fn tq2_0(self, data: &[u8], out: &mut [f32], _stream: bool) {
        // SAFETY: a `Neon` exists only after `detect` saw NEON on this CPU.
        unsafe { tq2_0(data, out) }
    }
}

/// Byte mask of `code × 4` after the code has been shifted to bits 2..4.
const CODE_X4: u8 = 0x0C;
/// `0x0C` in every byte of a `u64`.
const CODE_X4_U64: u64 = 0x0C0C_0C0C_0C0C_0C0C;

/// The table of the four products `w × s`, as 16 bytes.
#[target_feature(enable = "neon")]
fn table(w: float32x4_t, s: f32) -> uint8x16_t {
    vreinterpretq_u8_f32(vmulq_f32(w, vdupq_n_f32(s)))
}

#[target_feature(enable = "neon")]
fn weights() -> float32x4_t {
    let [w0, w1, w2, w3] = opaque_weights();
    let lo = u64::from(w0.to_bits()) | (u64::from(w1.to_bits()) << 32);
    let hi = u64::from(w2.to_bits()) | (u64::from(w3.to_bits()) << 32);
    vreinterpretq_f32_u64(vcombine_u64(vcreate_u64(lo), vcreate_u64(hi)))
}

#[target_feature(enable = "neon")]
fn load16(bytes: &[u8; 16]) -> uint8x16_t {
    let lo = u64::from_le_bytes(bytes[..8].try_into().expect("16 = 8 + 8"));
    let hi = u64::from_le_bytes(bytes[8..].try_into().expect("16 = 8 + 8"));
    vcombine_u8(vcreate_u8(lo), vcreate_u8(hi))
}

/// Look up 16 outputs: `c4` holds `code × 4` in each byte lane.
#[target_feature(enable = "neon")]
fn expand16(c4: uint8x16_t, table: uint8x16_t, out: &mut [f32; 16]) {
    // Byte offsets 0, 1, 2, 3 of each little-endian f32 lane.
    let offsets = vreinterpretq_u8_u32(vdupq_n_u32(0x0302_0100));
    let lo = vzip1q_u8(c4, c4);
    let hi = vzip2q_u8(c4, c4);
    let quads = [
        vzip1q_u8(lo, lo),
        vzip2q_u8(lo, lo),
        vzip1q_u8(hi, hi),
        vzip2q_u8(hi, hi),
    ];
    let (runs, _) = out.as_chunks_mut::<4>();
    for (run, quad) in runs.iter_mut().zip(quads) {
        let v = vqtbl1q_u8(table, vorrq_u8(quad, offsets));
        // SAFETY: `run` is 4 writable f32s (16 bytes); `vst1q_f32` needs only f32 alignment,
        // which `&mut [f32; 4]` guarantees.
        unsafe { vst1q_f32(run.as_mut_ptr(), vreinterpretq_f32_u8(v)) }
    }
}

/// One QK256 code block (also TQ2_0's `qs`).
#[target_feature(enable = "neon")]
fn qk256_block(codes: &[u8; 64], table: uint8x16_t, out: &mut [f32; 256]) {
    let mask = vdupq_n_u8(CODE_X4);
    let (groups, _) = codes.as_chunks::<16>();
    let (runs, _) = out.as_chunks_mut::<16>();
    for (g, bytes) in groups.iter().enumerate() {
        // Bytes h*32 + i .. +16 (h = g/2, i = 16*(g%2)) hold elements h*128 + 32j + i .. +16
        // at shift 2j; in runs of 16 that is run 8h + g%2 + 2j.
        let run = 8 * (g / 2) + g % 2;
        let v = load16(bytes);
        expand16(vandq_u8(vshlq_n_u8::<2>(v), mask), table, &mut runs[run]);
        expand16(vandq_u8(v, mask), table, &mut runs[run + 2]);
        expand16(
            vandq_u8(vshrq_n_u8::<2>(v), mask),
            table,
            &mut runs[run + 4],
        );
        expand16(
            vandq_u8(vshrq_n_u8::<4>(v), mask),
            table,
            &mut runs[run + 6],
        );
    }
}

/// # Safety
///
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
unsafe fn qk256(data: &[u8], scale: f32, out: &mut [f32]) {
    let table = table(weights(), scale);
    let (blocks, _) = data.as_chunks::<64>();
    let (outs, _) = out.as_chunks_mut::<256>();
    for (codes, out) in blocks.iter().zip(outs) {
        qk256_block(codes, table, out);
    }
}

/// # Safety
///
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
unsafe fn bitnet32f16(data: &[u8], out: &mut [f32]) {
    let w = weights();
    let (blocks, _) = data.as_chunks::<10>();
    let (outs, _) = out.as_chunks_mut::<32>();
    for (block, out) in blocks.iter().zip(outs) {
        let [c0, c1, c2, c3, c4, c5, c6, c7, d0, d1] = *block;
        let table = table(w, block_scale([d0, d1]));
        // Element e is in byte e%8 at shift 2*(e/8). Shifting the whole u64 moves bits across
        // bytes, but the 0x0C mask keeps only bits 2..4 of each byte, which come from that byte.
        let b = u64::from_le_bytes([c0, c1, c2, c3, c4, c5, c6, c7]);
        let (runs, _) = out.as_chunks_mut::<16>();
        let first = vcombine_u8(
            vcreate_u8((b << 2) & CODE_X4_U64),
            vcreate_u8(b & CODE_X4_U64),
        );
        expand16(first, table, &mut runs[0]);
        let second = vcombine_u8(
            vcreate_u8((b >> 2) & CODE_X4_U64),
            vcreate_u8((b >> 4) & CODE_X4_U64),
        );
        expand16(second, table, &mut runs[1]);
    }
}

/// # Safety
///
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
unsafe fn tq2_0(data: &[u8], out: &mut [f32]) {
    let w = weights();
    let (blocks, _) = data.as_chunks::<66>();
    let (outs, _) = out.as_chunks_mut::<256>();
    for (block, out) in blocks.iter().zip(outs) {
        let (codes, d) = block.split_at(64);
        let codes: &[u8; 64] = codes.try_into().expect("66 = 64 + 2");
        qk256_block(codes, table(w, block_scale([d[0], d[1]])), out);
    }
}
