//! Validation scan of ternary block data: reserved codes, non-finite block scales, and padding
//! that is not code 1.
//!
//! This module reports facts; deciding which of them is an error (docs/validation.md: reserved codes and
//! non-finite `d` are) is the caller's job. [`scan`] is the fast path: spans of about 4 KiB are
//! checked branch-free, eight bytes per step, and scanned block by block only if they hold a
//! finding. [`scan_reference`] decodes element by element from the layouts of docs/formats.md. Both return
//! the same report for every input, which the tests check.
//!
//! Padding (the elements of a row's last block past `cols`) must be code 1. A reserved code in
//! the padding is counted as bad padding, not as a reserved code, so `reserved_codes` counts
//! only codes that a dequantizer would output.
//!
//! TQ1_0 can only have non-finite scales: every byte decodes to valid base-3 digits (codes 0..2),
//! and its rows are never padded (`cols` is a multiple of 256).

use crate::format::{check_data, code_position, CodePosition, FormatError, TernaryFormat};

/// What [`scan`] found. Byte offsets are relative to the start of the tensor data; block indices
/// count blocks from the start of the tensor, row-major.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScanReport {
    /// Elements (not padding) holding the reserved code 3.
    pub reserved_codes: u64,
    /// The lowest byte offset holding a reserved code of an element.
    pub first_reserved_byte: Option<u64>,
    /// Blocks whose f16 scale `d` is NaN or infinite (always 0 for QK256 and bitnetcpp).
    pub non_finite_scales: u64,
    /// The first such block.
    pub first_non_finite_block: Option<u64>,
    /// Padding codes that are not 1 (zero).
    pub bad_padding_codes: u64,
    /// The lowest byte offset holding such a padding code.
    pub first_bad_padding_byte: Option<u64>,
}

impl ScanReport {
    /// No reserved code, no non-finite scale, and all padding is code 1.
    pub fn is_clean(&self) -> bool {
        self.reserved_codes == 0 && self.non_finite_scales == 0 && self.bad_padding_codes == 0
    }
}

/// Scan `rows × cols` elements of `format` blocks (`data` exactly `data_bytes(rows, cols)`: without a bitnet.cpp tail).
pub fn scan(
    format: TernaryFormat,
    data: &[u8],
    rows: usize,
    cols: usize,
) -> Result<ScanReport, FormatError> {
    check_data(format, data, rows, cols)?;
    let mut report = ScanReport::default();
    if data.is_empty() {
        return Ok(report);
    }
    let tail = cols % format.block_elems();
    if tail == 0 {
        scan_full_blocks(format, data, 0, &mut report);
        return Ok(report);
    }
    // Every row ends in a block with padding: its fields are checked against a mask.
    let valid = valid_fields(format, tail);
    let blocks_per_row = cols.div_ceil(format.block_elems());
    let row_bytes = data.len() / rows;
    for (row, row_data) in data.chunks_exact(row_bytes).enumerate() {
        let first = row * blocks_per_row;
        let (head, last) = row_data.split_at(row_bytes - format.block_bytes());
        scan_full_blocks(format, head, first, &mut report);
        scan_block(
            format,
            last,
            first + blocks_per_row - 1,
            Some(&valid),
            &mut report,
        );
    }
    Ok(report)
}

/// The element-by-element reference for [`scan`]: the same report, straight from the
/// formulas.
pub fn scan_reference(
    format: TernaryFormat,
    data: &[u8],
    rows: usize,
    cols: usize,
) -> Result<ScanReport, FormatError> {
    check_data(format, data, rows, cols)?;
    let mut report = ScanReport::default();
    let (block_elems, block_bytes, code_bytes) = (
        format.block_elems(),
        format.block_bytes(),
        format.code_bytes(),
    );
    let blocks_per_row = cols.div_ceil(block_elems);
    for (b, block) in data.chunks_exact(block_bytes).enumerate() {
        for e in 0..block_elems {
            let col = (b % blocks_per_row) * block_elems + e;
            let position = code_position(format, e);
            let (byte, code) = (position.byte(), position.read(block));
            let offset = (b * block_bytes + byte) as u64;
            if col < cols && code == 3 {
                report.reserved_codes += 1;
                report.first_reserved_byte = Some(min_some(report.first_reserved_byte, offset));
            } else if col >= cols && code != 1 {
                report.bad_padding_codes += 1;
                report.first_bad_padding_byte =
                    Some(min_some(report.first_bad_padding_byte, offset));
            }
        }
        if format.has_block_scale() {
            let d = half::f16::from_le_bytes([block[code_bytes], block[code_bytes + 1]]);
            if !d.is_finite() {
                report.non_finite_scales += 1;
                report.first_non_finite_block.get_or_insert(b as u64);
            }
        }
    }
    Ok(report)
}

fn min_some(current: Option<u64>, offset: u64) -> u64 {
    current.map_or(offset, |c| c.min(offset))
}

/// Whether an f16 bit pattern is finite (its exponent is not all ones).
fn f16_bits_finite(bits: u16) -> bool {
    bits & 0x7C00 != 0x7C00
}

/// The low bit of every 2-bit field.
const LOW_BITS: u64 = 0x5555_5555_5555_5555;

/// One bit (the field's low bit) per 2-bit field of `word` that holds code 3.
fn reserved_fields(word: u64) -> u64 {
    word & (word >> 1) & LOW_BITS
}

/// One bit (the field's low bit) per 2-bit field of `word` that does not hold code 1.
fn not_zero_fields(word: u64) -> u64 {
    let x = word ^ LOW_BITS;
    (x | (x >> 1)) & LOW_BITS
}

fn word(bytes: &[u8; 8]) -> u64 {
    u64::from_le_bytes(*bytes)
}

/// Blocks without padding, `first` the index of the first: spans of about 4 KiB are first
/// checked branch-free for any finding, and only a span with one is scanned block by block.
fn scan_full_blocks(format: TernaryFormat, data: &[u8], first: usize, report: &mut ScanReport) {
    let block_bytes = format.block_bytes();
    // A multiple of 4 blocks, so BitNet32F16 spans are whole 40-byte groups.
    let span_blocks = (4096 / block_bytes) & !3;
    for (k, span) in data.chunks(span_blocks * block_bytes).enumerate() {
        if span_has_findings(format, span) {
            for (b, block) in span.chunks_exact(block_bytes).enumerate() {
                scan_block(format, block, first + k * span_blocks + b, None, report);
            }
        }
    }
}

/// Whether whole blocks `span` hold any reserved code or non-finite scale (no counting).
fn span_has_findings(format: TernaryFormat, span: &[u8]) -> bool {
    let reserved = |acc: u64, w: &[u8; 8]| acc | reserved_fields(word(w));
    match format {
        TernaryFormat::Qk256 | TernaryFormat::BitnetCpp => {
            span.as_chunks::<8>().0.iter().fold(0, reserved) != 0
        }
        TernaryFormat::Tq2_0 => {
            let (blocks, _) = span.as_chunks::<66>();
            let found = blocks.iter().fold(0, |acc, block| {
                let (codes, _) = block[..64].as_chunks::<8>();
                let acc = codes.iter().fold(acc, reserved);
                acc | u64::from(!f16_bits_finite(u16::from_le_bytes([block[64], block[65]])))
            });
            found != 0
        }
        // No reserved codes: only the scales.
        TernaryFormat::Tq1_0 => span
            .as_chunks::<54>()
            .0
            .iter()
            .any(|block| !f16_bits_finite(u16::from_le_bytes([block[52], block[53]]))),
        TernaryFormat::BitNet32F16 => {
            let (groups, rest) = span.as_chunks::<40>();
            let found = groups
                .iter()
                .fold(0, |acc, group| acc | bitnet32_group(group));
            let found = rest.chunks_exact(10).fold(found, |acc, block| {
                let (codes, _) = block[..8].as_chunks::<8>();
                let acc = codes.iter().fold(acc, reserved);
                acc | u64::from(!f16_bits_finite(u16::from_le_bytes([block[8], block[9]])))
            });
            found != 0
        }
    }
}

/// Four BitNet32F16 blocks (40 bytes, five words): non-zero if any holds a reserved code or a
/// non-finite `d`. The layout repeats every 40 bytes, so fixed masks pick the code bytes of
/// each word, and the four `d`s land in distinct 16-bit lanes.
fn bitnet32_group(group: &[u8; 40]) -> u64 {
    // Code bytes of words 0..5 (d at bytes 8..10, 18..20, 28..30, 38..40).
    const CODES: [u64; 5] = [
        0xFFFF_FFFF_FFFF_FFFF,
        0xFFFF_FFFF_FFFF_0000,
        0xFFFF_FFFF_0000_FFFF,
        0xFFFF_0000_FFFF_FFFF,
        0x0000_FFFF_FFFF_FFFF,
    ];
    const EXPONENTS: u64 = 0x7C00_7C00_7C00_7C00;
    const LANE_LOW: u64 = 0x7FFF_7FFF_7FFF_7FFF;
    const LANE_TOP: u64 = 0x8000_8000_8000_8000;
    let (words, _) = group.as_chunks::<8>();
    let w: [u64; 5] = core::array::from_fn(|i| word(&words[i]));
    let reserved = w
        .iter()
        .zip(CODES)
        .fold(0, |acc, (&w, codes)| acc | (reserved_fields(w) & codes));
    // d of block k sits in 16-bit lane k of word k + 1.
    let d = (w[1] & 0xFFFF)
        | (w[2] & 0xFFFF_0000)
        | (w[3] & 0xFFFF_0000_0000)
        | (w[4] & 0xFFFF_0000_0000_0000);
    // A lane of `e` is zero exactly when that d's exponent is all ones (NaN or infinite);
    // lanes are below 0x8000, so adding 0x7FFF sets the top bit of exactly the non-zero lanes.
    let e = (d & EXPONENTS) ^ EXPONENTS;
    let non_finite = !(e + LANE_LOW) & LANE_TOP;
    reserved | non_finite
}

/// Exact scan of one block, the `index`-th of the tensor; `valid` marks the fields of real
/// elements when the block holds padding.
fn scan_block(
    format: TernaryFormat,
    block: &[u8],
    index: usize,
    valid: Option<&[u64]>,
    report: &mut ScanReport,
) {
    let offset = (index * format.block_bytes()) as u64;
    let (codes, d) = block.split_at(format.code_bytes());
    // TQ1_0's base-3 digits are never reserved, and its rows are never padded.
    if format.has_2bit_codes() {
        match valid {
            Some(valid) => scan_padded_codes(codes, offset, valid, report),
            None => scan_codes(codes, offset, report),
        }
    }
    if let [d0, d1] = *d {
        if !f16_bits_finite(u16::from_le_bytes([d0, d1])) {
            report.non_finite_scales += 1;
            report.first_non_finite_block.get_or_insert(index as u64);
        }
    }
}

/// Count reserved codes in `codes` (a multiple of 8 bytes, no padding) at byte `offset`.
fn scan_codes(codes: &[u8], offset: u64, report: &mut ScanReport) {
    let (words, _) = codes.as_chunks::<8>();
    for (i, w) in words.iter().enumerate() {
        let found = reserved_fields(word(w));
        if found != 0 {
            report.reserved_codes += u64::from(found.count_ones());
            report
                .first_reserved_byte
                .get_or_insert(offset + (i * 8) as u64 + u64::from(found.trailing_zeros() / 8));
        }
    }
}

/// Like [`scan_codes`] for a row's last block, whose fields outside `valid` are padding.
fn scan_padded_codes(codes: &[u8], offset: u64, valid: &[u64], report: &mut ScanReport) {
    let (words, _) = codes.as_chunks::<8>();
    for (i, (w, &valid)) in words.iter().zip(valid).enumerate() {
        let at = |bits: u64| offset + (i * 8) as u64 + u64::from(bits.trailing_zeros() / 8);
        let reserved = reserved_fields(word(w)) & valid;
        if reserved != 0 {
            report.reserved_codes += u64::from(reserved.count_ones());
            report.first_reserved_byte.get_or_insert(at(reserved));
        }
        let bad = not_zero_fields(word(w)) & !valid;
        if bad != 0 {
            report.bad_padding_codes += u64::from(bad.count_ones());
            report.first_bad_padding_byte.get_or_insert(at(bad));
        }
    }
}

/// For a last block with `tail` real elements: per code word, the low bit of each field that
/// belongs to a real element (only formats with 2-bit codes pad their rows).
fn valid_fields(format: TernaryFormat, tail: usize) -> Vec<u64> {
    let mut valid = vec![0u64; format.code_bytes() / 8];
    for e in 0..tail {
        if let CodePosition::Bits { byte, shift } = code_position(format, e) {
            valid[byte / 8] |= 1 << (8 * (byte % 8) as u32 + shift);
        }
    }
    valid
}

#[cfg(test)]
mod tests {
    //! The fast path's own contract, which the scan's report cannot show (a fast path that
    //! always answered "maybe" would give the same reports, only by scanning every block one by
    //! one): clean spans and groups are reported clean, and any one finding is reported.

    use super::*;

    /// Every byte whose four 2-bit fields all hold a code other than the reserved 3.
    fn clean_code_bytes() -> Vec<u8> {
        (0..=255u8)
            .filter(|b| (0..4).all(|f| (b >> (2 * f)) & 3 != 3))
            .collect()
    }

    /// Finite f16 bit patterns at the edges: zeros, subnormals, the largest and smallest normal
    /// values, and every exponent but the all-ones one.
    fn finite_scales() -> Vec<u16> {
        let mut d = vec![
            0x0000, 0x8000, 0x0001, 0x83FF, 0x0400, 0x7BFF, 0xFBFF, 0x3C00,
        ];
        d.extend((0..31u16).map(|e| (e << 10) | 0x3FF));
        d.extend((0..31u16).map(|e| 0x8000 | (e << 10)));
        d
    }

    /// Non-finite f16 bit patterns: both infinities and NaNs with low, high and all payload bits.
    const NON_FINITE: [u16; 6] = [0x7C00, 0xFC00, 0x7C01, 0x7E00, 0x7FFF, 0xFFFF];

    /// `blocks` clean blocks of `format`, the code bytes and scales cycling through the clean
    /// values from `seed` on.
    fn clean(format: TernaryFormat, blocks: usize, seed: usize) -> Vec<u8> {
        let codes = if format.has_2bit_codes() {
            clean_code_bytes()
        } else {
            (0..=255).collect()
        };
        let scales = finite_scales();
        let mut data = Vec::new();
        for b in 0..blocks {
            for i in 0..format.code_bytes() {
                data.push(codes[(seed + 7 * b + i) % codes.len()]);
            }
            if format.has_block_scale() {
                let d = scales[(seed + b) % scales.len()];
                data.extend_from_slice(&d.to_le_bytes());
            }
        }
        data
    }

    #[test]
    fn clean_spans_have_no_findings() {
        assert_eq!(clean_code_bytes().len(), 81);
        for format in TernaryFormat::ALL {
            for blocks in 1..=13 {
                for seed in 0..80 {
                    let span = clean(format, blocks, seed);
                    assert!(
                        !span_has_findings(format, &span),
                        "{format}, {blocks} block(s), seed {seed}"
                    );
                }
            }
        }
    }

    #[test]
    fn any_one_finding_is_found() {
        for format in TernaryFormat::ALL {
            for blocks in [1, 3, 4, 5, 9] {
                let span = clean(format, blocks, 3);
                for b in 0..blocks {
                    let at = b * format.block_bytes();
                    if format.has_2bit_codes() {
                        for byte in 0..format.code_bytes() {
                            for field in 0..4 {
                                let mut s = span.clone();
                                s[at + byte] |= 3 << (2 * field);
                                assert!(
                                    span_has_findings(format, &s),
                                    "{format} block {b} byte {byte} field {field}"
                                );
                            }
                        }
                    }
                    if format.has_block_scale() {
                        for d in NON_FINITE {
                            let mut s = span.clone();
                            let at = at + format.code_bytes();
                            s[at..at + 2].copy_from_slice(&d.to_le_bytes());
                            assert!(span_has_findings(format, &s), "{format} block {b} d {d:#x}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_bitnet32_group_is_zero_exactly_when_clean() {
        let group = |seed: usize| -> [u8; 40] {
            clean(TernaryFormat::BitNet32F16, 4, seed)
                .try_into()
                .unwrap()
        };
        for seed in 0..200 {
            assert_eq!(bitnet32_group(&group(seed)), 0, "seed {seed}");
        }
        // Each d of the group set to each finite edge value, the others kept: still clean.
        for block in 0..4 {
            for d in finite_scales() {
                let mut g = group(block);
                g[10 * block + 8..10 * block + 10].copy_from_slice(&d.to_le_bytes());
                assert_eq!(bitnet32_group(&g), 0, "block {block} d {d:#x}");
            }
        }
        for block in 0..4 {
            for byte in 0..8 {
                for field in 0..4 {
                    let mut g = group(block);
                    g[10 * block + byte] |= 3 << (2 * field);
                    assert_ne!(
                        bitnet32_group(&g),
                        0,
                        "block {block} byte {byte} field {field}"
                    );
                }
            }
            for d in NON_FINITE {
                let mut g = group(block);
                g[10 * block + 8..10 * block + 10].copy_from_slice(&d.to_le_bytes());
                assert_ne!(bitnet32_group(&g), 0, "block {block} d {d:#x}");
            }
        }
        // Two findings at the same bit of two of the group's words do not cancel: every pair of
        // code bytes 8 apart, every field.
        let code_bytes: Vec<usize> = (0..40).filter(|i| i % 10 < 8).collect();
        for &a in &code_bytes {
            for &b in code_bytes.iter().filter(|&&b| b > a && (b - a) % 8 == 0) {
                for field in 0..4 {
                    let mut g = group(a + b);
                    g[a] |= 3 << (2 * field);
                    g[b] |= 3 << (2 * field);
                    assert_ne!(bitnet32_group(&g), 0, "bytes {a} and {b}, field {field}");
                }
            }
        }
        // Nor do two non-finite d, in distinct lanes.
        for (x, y) in [(0, 1), (1, 2), (2, 3), (0, 3)] {
            let mut g = group(x + y);
            g[10 * x + 8..10 * x + 10].copy_from_slice(&NON_FINITE[0].to_le_bytes());
            g[10 * y + 8..10 * y + 10].copy_from_slice(&NON_FINITE[1].to_le_bytes());
            assert_ne!(bitnet32_group(&g), 0, "blocks {x} and {y}");
        }
    }
}
