//! Packing ternary weights into the block formats — the inverse of dequantization, used to build
//! fixtures and tests.
//!
//! Input is row-major `i8` weights, each −1, 0 or +1, `rows × cols` of them. Code `w + 1` goes to
//! the element's place in the block (docs/formats.md); the elements of a row's last block past
//! `cols` are padding and are written as code 1 (zero). TQ1_0's codes are base-3 digits, packed
//! as ggml's `quantize_row_tq1_0_ref` packs them. Nothing here decodes or validates files.

use half::f16;

use crate::format::{code_position, CodePosition, FormatError, TernaryFormat};

/// Pack `rows × cols` ternary weights as QK256 blocks (no scale inside the data).
pub fn pack_qk256(weights: &[i8], rows: usize, cols: usize) -> Result<Vec<u8>, FormatError> {
    pack(TernaryFormat::Qk256, weights, rows, cols, &[])
}

/// Pack `rows × cols` ternary weights as BitNet32F16 blocks, with `block_scales` holding one `d`
/// per block in row-major block order (`rows × ceil(cols/32)` of them).
pub fn pack_bitnet32f16(
    weights: &[i8],
    rows: usize,
    cols: usize,
    block_scales: &[f16],
) -> Result<Vec<u8>, FormatError> {
    pack(
        TernaryFormat::BitNet32F16,
        weights,
        rows,
        cols,
        block_scales,
    )
}

/// Pack `rows × cols` ternary weights as TQ2_0 blocks, with `block_scales` holding one `d` per
/// block in row-major block order (`rows × ceil(cols/256)` of them).
pub fn pack_tq2_0(
    weights: &[i8],
    rows: usize,
    cols: usize,
    block_scales: &[f16],
) -> Result<Vec<u8>, FormatError> {
    pack(TernaryFormat::Tq2_0, weights, rows, cols, block_scales)
}

/// Pack `rows × cols` ternary weights as TQ1_0 blocks (`cols` a multiple of 256), with
/// `block_scales` holding one `d` per block in row-major block order (`rows × cols/256` of them).
///
/// The bytes are those of ggml's `quantize_row_tq1_0_ref` for values `w × d`: each byte holds
/// its digits `w + 1` most significant first (`qh` bytes four, then times 3), as
/// `ceil(q · 256 / 243)`.
pub fn pack_tq1_0(
    weights: &[i8],
    rows: usize,
    cols: usize,
    block_scales: &[f16],
) -> Result<Vec<u8>, FormatError> {
    pack(TernaryFormat::Tq1_0, weights, rows, cols, block_scales)
}

/// Pack `rows × cols` ternary weights as bitnet.cpp does: the tensor's codes in groups of 128
/// (`cols` a multiple of 128), then the 32-byte tail: `scale` as f32 little-endian and 28 zero
/// bytes (where bitnet.cpp leaves whatever was in memory). Returns the bytes as stored.
pub fn pack_bitnetcpp(
    weights: &[i8],
    rows: usize,
    cols: usize,
    scale: f32,
) -> Result<Vec<u8>, FormatError> {
    let mut out = pack(TernaryFormat::BitnetCpp, weights, rows, cols, &[])?;
    out.extend_from_slice(&scale.to_le_bytes());
    out.resize(out.len() + crate::format::BITNETCPP_TAIL - 4, 0);
    Ok(out)
}

/// Pack into any format: the blocks only (no bitnetcpp tail). `block_scales` holds one `d` per
/// block for the formats that have them, and must be empty for the others.
pub fn pack(
    format: TernaryFormat,
    weights: &[i8],
    rows: usize,
    cols: usize,
    block_scales: &[f16],
) -> Result<Vec<u8>, FormatError> {
    let overflow = FormatError::ShapeOverflow {
        rows: rows as u64,
        cols: cols as u64,
    };
    let count = rows.checked_mul(cols).ok_or(overflow.clone())?;
    if weights.len() != count {
        return Err(FormatError::WrongWeightCount {
            expected: count as u64,
            actual: weights.len() as u64,
        });
    }
    if let Some((index, &value)) = weights
        .iter()
        .enumerate()
        .find(|(_, w)| !matches!(w, -1..=1))
    {
        return Err(FormatError::WrongWeightValue { index, value });
    }
    if !format.fits_cols(cols as u64) {
        return Err(FormatError::ColsNotSupported { format, cols });
    }
    let blocks_per_row = cols.div_ceil(format.block_elems());
    let blocks = rows.checked_mul(blocks_per_row).ok_or(overflow.clone())?;
    let expected_scales = if format.has_block_scale() { blocks } else { 0 };
    if block_scales.len() != expected_scales {
        return Err(FormatError::WrongScaleCount {
            format,
            expected: expected_scales as u64,
            actual: block_scales.len() as u64,
        });
    }
    let total = blocks.checked_mul(format.block_bytes()).ok_or(overflow)?;

    let mut out = vec![0u8; total];
    let code_bytes = format.code_bytes();
    for (b, block) in out.chunks_exact_mut(format.block_bytes()).enumerate() {
        let (row, block_in_row) = (b / blocks_per_row, b % blocks_per_row);
        if format.has_2bit_codes() {
            // 0x55 is code 1 in all four slots: padding is zero unless a weight overwrites it.
            block[..code_bytes].fill(0x55);
        }
        for e in 0..format.block_elems() {
            let col = block_in_row * format.block_elems() + e;
            if col >= cols {
                break;
            }
            let code = (weights[row * cols + col] + 1) as u8;
            match code_position(format, e) {
                CodePosition::Bits { byte, shift } => {
                    block[byte] = (block[byte] & !(3 << shift)) | (code << shift);
                }
                // Digit n weighs 3^(4 − n): the sum of a byte's digits is at most 2 × 121.
                CodePosition::Trit { byte, digit } => block[byte] += code * 3u8.pow(4 - digit),
            }
        }
        if !format.has_2bit_codes() {
            // TQ1_0 has no padding (`fits_cols`): every code byte now holds its digits' value
            // q < 243, stored as ggml stores it, `ceil(q × 256 / 243)`.
            for byte in &mut block[..code_bytes] {
                *byte = (u16::from(*byte) * 256).div_ceil(243) as u8;
            }
        }
        if format.has_block_scale() {
            block[code_bytes..].copy_from_slice(&block_scales[b].to_le_bytes());
        }
    }
    Ok(out)
}
