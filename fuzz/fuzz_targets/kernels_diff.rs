//! Differential: every kernel this CPU has against `Kernel::scalar()`, bit for bit
//! (`f32::to_bits`), on arbitrary block bytes of every format, small shapes (padded last blocks
//! included), any scale (NaN, infinities, −0.0, subnormals) and any start alignment of the
//! input; and `scan` against `scan_reference`. Wrong lengths and scales must be the same error
//! from every kernel.

#![no_main]

use bitnet_models::{scan, scan_reference, Kernel, TernaryFormat};
use libfuzzer_sys::fuzz_target;

const MAX_ROWS: u8 = 6;
/// A few blocks of 256 past the first, so rows end in every kind of padded block.
const MAX_COLS: u16 = 3 * 256 + 40;

// The input is a fixed 11-byte header (missing bytes read as 0) and the block bytes, decoded by
// hand rather than by `arbitrary` so that `bitnet-models/tests/fuzz_regressions.rs` replays a
// file exactly as this target does:
//
// | byte  | field                                                                     |
// |-------|---------------------------------------------------------------------------|
// | 0     | format: `TernaryFormat::ALL[b % 3]`                                       |
// | 1     | rows: `b % (MAX_ROWS + 1)`                                                |
// | 2..4  | cols: `u16` LE `% (MAX_COLS + 1)`                                         |
// | 4..8  | scale: `f32` bits LE (any value, NaNs included)                           |
// | 8     | bit 0 set: use exactly 1.0 as the scale (the block-scaled formats need it) |
// | 9     | misalignment: the data starts `b % 16` bytes into its buffer              |
// | 10    | length: `b % 8 == 1` one byte long, `b % 8 == 2` one byte short           |
// | 11..  | block bytes, repeated to fill the tensor (zeros when empty)               |
fuzz_target!(|input: &[u8]| {
    let mut header = [0u8; 11];
    let n = input.len().min(header.len());
    header[..n].copy_from_slice(&input[..n]);
    let blocks = &input[n..];
    let format = TernaryFormat::ALL[usize::from(header[0]) % TernaryFormat::ALL.len()];
    let rows = usize::from(header[1] % (MAX_ROWS + 1));
    let cols = usize::from(u16::from_le_bytes([header[2], header[3]]) % (MAX_COLS + 1));
    let scale = if header[8] & 1 == 1 {
        1.0
    } else {
        f32::from_bits(u32::from_le_bytes([
            header[4], header[5], header[6], header[7],
        ]))
    };
    let misalign = usize::from(header[9] % 16);
    let size = format
        .tensor_bytes(rows as u64, cols as u64)
        .expect("small shapes do not overflow") as usize;
    let len = match header[10] % 8 {
        1 => size + 1,
        2 => size.saturating_sub(1),
        _ => size,
    };
    let mut buf = vec![0u8; misalign + len];
    for (b, v) in buf[misalign..].iter_mut().zip(blocks.iter().cycle()) {
        *b = *v;
    }
    let data = &buf[misalign..];

    let mut want = vec![0.0f32; rows * cols];
    let reference = Kernel::scalar().dequantize(format, data, rows, cols, scale, &mut want);
    if len != size {
        assert!(reference.is_err(), "{len} bytes for a {size}-byte tensor");
    }
    for kernel in Kernel::available().into_iter().skip(1) {
        // Garbage in the output buffer must not leak through.
        let mut got = vec![f32::from_bits(0x7fc0_dead); rows * cols];
        let result = kernel.dequantize(format, data, rows, cols, scale, &mut got);
        // Compared as text: `ScaleNotApplicable` may carry a NaN, and NaN != NaN.
        assert_eq!(
            format!("{reference:?}"),
            format!("{result:?}"),
            "kernel {kernel}"
        );
        if result.is_ok() {
            for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                assert_eq!(
                    w.to_bits(),
                    g.to_bits(),
                    "kernel {kernel}, {format} {rows}x{cols}, scale {scale:e}, value {i}: {w} vs {g}"
                );
            }
        }
    }

    // A wrongly sized output is refused by every kernel alike.
    if rows * cols > 0 {
        let mut short = vec![0.0f32; rows * cols - 1];
        for kernel in Kernel::available() {
            assert!(kernel
                .dequantize(format, data, rows, cols, scale, &mut short)
                .is_err());
        }
    }

    let fast = scan(format, data, rows, cols);
    let slow = scan_reference(format, data, rows, cols);
    assert_eq!(fast, slow, "{format} {rows}x{cols}");
});
