//! The reference dequantizer: one element at a time, straight from the layouts of docs/formats.md
//! (for TQ1_0, as ggml's `dequantize_row_tq1_0` computes it).
//!
//! Every other kernel is tested bit-for-bit against this one, so it stays simple and obviously
//! right rather than fast. It expects arguments already checked by [`super::Kernel::dequantize`].

use half::f16;

use super::Job;
use crate::format::{code_position, TernaryFormat};

/// The weight a 2-bit code stands for: 0 → −1, 1 → 0, 2 → +1, 3 (reserved) → 0.
pub const fn code_weight(code: u8) -> f32 {
    match code & 3 {
        0 => -1.0,
        2 => 1.0,
        _ => 0.0,
    }
}

/// The f16 little-endian block scale at `bytes[0..2]`, converted exactly to f32.
pub fn block_scale(bytes: [u8; 2]) -> f32 {
    f16::from_le_bytes(bytes).to_f32()
}

/// Dequantize a checked, non-empty `rows × cols` tensor: `out[r*cols + c] = w × s`, one
/// multiplication, where `s` is `job.scale` for QK256 and bitnetcpp and the block's `d` for the
/// other formats.
pub(crate) fn dequantize(job: Job<'_>, out: &mut [f32]) {
    let (format, data, cols) = (job.format, job.data, job.cols);
    let row_bytes = data.len() / job.rows;
    let (block_elems, block_bytes, code_bytes) = (
        format.block_elems(),
        format.block_bytes(),
        format.code_bytes(),
    );
    for (row_data, row_out) in data.chunks_exact(row_bytes).zip(out.chunks_exact_mut(cols)) {
        for (col, value) in row_out.iter_mut().enumerate() {
            let block = &row_data[(col / block_elems) * block_bytes..][..block_bytes];
            let code = code_position(format, col % block_elems).read(block);
            let s = match format {
                TernaryFormat::Qk256 | TernaryFormat::BitnetCpp => job.scale,
                TernaryFormat::BitNet32F16 | TernaryFormat::Tq2_0 | TernaryFormat::Tq1_0 => {
                    block_scale([block[code_bytes], block[code_bytes + 1]])
                }
            };
            // ggml's TQ1_0 computes `(float)(xi - 1) * d`: the same single multiplication of
            // −1.0, 0.0 or +1.0 by `d` as `code_weight(xi) * d`.
            *value = code_weight(code) * s;
        }
    }
}
