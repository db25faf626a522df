//! What the SIMD kernels share: the [`Blocks`] trait each implements, the driver
//! [`run_blocks`] that cuts a tensor into streams of whole blocks, and the opaque code weights.

use super::{code_weight, Job};
use crate::format::TernaryFormat;

/// The weights of codes 0..4, hidden from the optimizer so that the products `w × s` that the
/// SIMD kernels tabulate are real multiplications (see the `kernels` module docs).
pub(crate) fn opaque_weights() -> [f32; 4] {
    core::hint::black_box([
        code_weight(0),
        code_weight(1),
        code_weight(2),
        code_weight(3),
    ])
}

/// What a SIMD kernel implements: streams of whole blocks. The driver [`run_blocks`] cuts a
/// tensor into such streams and handles the padded last block of each row.
///
/// In every method `data.len() / block_bytes == out.len() / block_elems`, both exact. `stream`
/// asks for non-temporal stores (see [`super::STREAM_MIN_BYTES`]); a kernel may ignore it.
pub(crate) trait Blocks: Copy {
    /// QK256 blocks (64 bytes → 256 values), `out = w × scale`.
    fn qk256(self, data: &[u8], scale: f32, out: &mut [f32], stream: bool);
    /// BitNet32F16 blocks (10 bytes → 32 values), `out = w × d`.
    fn bitnet32f16(self, data: &[u8], out: &mut [f32], stream: bool);
    /// bitnetcpp groups (32 bytes → 128 values, high bits first), `out = w × scale`.
    fn bitnetcpp(self, data: &[u8], scale: f32, out: &mut [f32], stream: bool);
    /// TQ2_0 blocks (66 bytes → 256 values), `out = w × d`.
    fn tq2_0(self, data: &[u8], out: &mut [f32], stream: bool);
    /// TQ1_0 blocks (54 bytes → 256 values: `qs[48]`, `qh[4]`, `d`), `out = w × d` with `w + 1`
    /// each element's base-3 digit (`format::tq1_0_position`).
    fn tq1_0(self, data: &[u8], out: &mut [f32], stream: bool);
    /// `value` in every element, with the same stores as the kernels: the limit they approach.
    fn fill(self, out: &mut [f32], value: f32, stream: bool);
}

/// Run a block kernel over a checked, non-empty `rows × cols` tensor.
pub(crate) fn run_blocks<K: Blocks>(kernel: K, job: Job<'_>, out: &mut [f32]) {
    let Job {
        format,
        data,
        rows,
        cols,
        scale,
    } = job;
    let stream = super::streams(out.len());
    let blocks = |data: &[u8], out: &mut [f32], stream: bool| match format {
        TernaryFormat::Qk256 => kernel.qk256(data, scale, out, stream),
        TernaryFormat::BitNet32F16 => kernel.bitnet32f16(data, out, stream),
        TernaryFormat::BitnetCpp => kernel.bitnetcpp(data, scale, out, stream),
        TernaryFormat::Tq2_0 => kernel.tq2_0(data, out, stream),
        TernaryFormat::Tq1_0 => kernel.tq1_0(data, out, stream),
    };
    let (block_elems, block_bytes) = (format.block_elems(), format.block_bytes());
    if cols.is_multiple_of(block_elems) {
        // No padding anywhere: the whole tensor is one stream of blocks.
        blocks(data, out, stream);
        return;
    }
    let full = cols / block_elems;
    let row_bytes = data.len() / rows;
    let mut last = [0.0f32; 256];
    let last = &mut last[..block_elems];
    for (row_data, row_out) in data.chunks_exact(row_bytes).zip(out.chunks_exact_mut(cols)) {
        let (head_data, tail_data) = row_data.split_at(full * block_bytes);
        let (head_out, tail_out) = row_out.split_at_mut(full * block_elems);
        blocks(head_data, head_out, stream);
        // The padded block goes through a scratch block so padding is never written to `out`.
        blocks(tail_data, last, false);
        tail_out.copy_from_slice(&last[..tail_out.len()]);
    }
}
