//! Packing ternary weights into the block formats — the inverse of dequantization, used to build
//! fixtures and tests.
//!
//! Input is row-major `i8` weights, each −1, 0 or +1, `rows × cols` of them. Code `w + 1` goes to
//! the element's place in the block (docs/formats.md); the elements of a row's last block past
//! `cols` are padding and are written as code 1 (zero). TQ1_0's codes are base-3 digits, packed
//! as ggml's `quantize_row_tq1_0_ref` packs them. Nothing here decodes or validates files.

use half::f16;

use crate::format::{code_position, FormatError, TernaryFormat};

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
    // One pass without a branch per weight; the bad one is looked for only when there is one.
    if weights
        .iter()
        .fold(false, |bad, w| bad | !matches!(w, -1..=1))
    {
        if let Some((index, &value)) = weights
            .iter()
            .enumerate()
            .find(|(_, w)| !matches!(w, -1..=1))
        {
            return Err(FormatError::WrongWeightValue { index, value });
        }
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
    let elems = format.block_elems();
    // The codes of one block in element order; code 1 (weight 0) past the last column, so
    // padding reads as zero.
    let mut codes = [1u8; 256];
    for (b, block) in out.chunks_exact_mut(format.block_bytes()).enumerate() {
        let (row, block_in_row) = (b / blocks_per_row, b % blocks_per_row);
        let first = block_in_row * elems;
        let n = elems.min(cols - first);
        let row_weights = &weights[row * cols + first..][..n];
        for (c, &w) in codes.iter_mut().zip(row_weights) {
            *c = (w + 1) as u8;
        }
        codes[n..elems].fill(1);
        put_codes(format, &codes, &mut block[..code_bytes]);
        if format.has_block_scale() {
            block[code_bytes..].copy_from_slice(&block_scales[b].to_le_bytes());
        }
    }
    debug_assert!(out
        .chunks_exact(format.block_bytes())
        .enumerate()
        .all(|(b, block)| (0..elems).all(|e| {
            let (row, col) = (b / blocks_per_row, (b % blocks_per_row) * elems + e);
            let want = if col < cols {
                (weights[row * cols + col] + 1) as u8
            } else {
                1
            };
            code_position(format, e).read(block) == want
        })));
    Ok(out)
}

/// One block's code bytes from its codes in element order (the positions of
/// [`code_position`], written out per format as loops over whole bytes).
fn put_codes(format: TernaryFormat, codes: &[u8; 256], out: &mut [u8]) {
    // Byte `m` holds the codes `c[m]`, `c[m + stride]`, … at shifts 0, 2, 4, 6 (`high_first`:
    // 6, 4, 2, 0).
    fn two_bit(c: &[u8], stride: usize, high_first: bool, out: &mut [u8]) {
        let n = out.len();
        let (c0, c1, c2, c3) = (
            &c[..n],
            &c[stride..stride + n],
            &c[2 * stride..2 * stride + n],
            &c[3 * stride..3 * stride + n],
        );
        for m in 0..n {
            out[m] = if high_first {
                (c0[m] << 6) | (c1[m] << 4) | (c2[m] << 2) | c3[m]
            } else {
                c0[m] | (c1[m] << 2) | (c2[m] << 4) | (c3[m] << 6)
            };
        }
    }
    // Byte `m` holds the digits `c[m + n·stride]` (n = 0..digits), digit n weighing 3^(4 − n),
    // stored as ggml stores a value q < 243: `ceil(q × 256 / 243)`.
    fn trits(c: &[u8], stride: usize, digits: usize, out: &mut [u8]) {
        let n = out.len();
        let digit = |d: usize| &c[d * stride..d * stride + n];
        let (d0, d1, d2, d3) = (digit(0), digit(1), digit(2), digit(3));
        // `qh` bytes have four digits: the fifth is 0.
        let zeros = [0u8; 32];
        let d4 = if digits == 5 { digit(4) } else { &zeros[..n] };
        for m in 0..n {
            let q = u16::from(d0[m]) * 81
                + u16::from(d1[m]) * 27
                + u16::from(d2[m]) * 9
                + u16::from(d3[m]) * 3
                + u16::from(d4[m]);
            out[m] = (q * 256).div_ceil(243) as u8;
        }
    }
    match format {
        TernaryFormat::Qk256 | TernaryFormat::Tq2_0 => {
            two_bit(&codes[..128], 32, false, &mut out[..32]);
            two_bit(&codes[128..], 32, false, &mut out[32..64]);
        }
        TernaryFormat::BitNet32F16 => two_bit(&codes[..32], 8, false, &mut out[..8]),
        TernaryFormat::BitnetCpp => two_bit(&codes[..128], 32, true, &mut out[..32]),
        TernaryFormat::Tq1_0 => {
            // docs/formats.md, TQ1_0: `qs[0..32]` elements 32n + m, `qs[32..48]` 160 + 16n + m,
            // `qh[0..4]` 240 + 4n + m (four digits, the fifth 0).
            trits(codes, 32, 5, &mut out[..32]);
            trits(&codes[160..], 16, 5, &mut out[32..48]);
            trits(&codes[240..], 4, 4, &mut out[48..52]);
        }
    }
}
