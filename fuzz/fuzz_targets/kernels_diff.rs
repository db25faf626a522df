//! Differential: every kernel this CPU has against `Kernel::scalar()`, bit for bit
//! (`f32::to_bits`), on arbitrary block bytes of every format, small shapes (padded last blocks
//! included), any scale (NaN, infinities, −0.0, subnormals) and any start alignment of the
//! input; and `scan` against `scan_reference`. Wrong lengths and scales must be the same error
//! from every kernel.

#![no_main]

use bitnet_models::{scan, scan_reference, Kernel, TernaryFormat};
use bitnet_testkit::kernel_input::KernelInput;
use libfuzzer_sys::fuzz_target;

// The input is a fixed 11-byte header (missing bytes read as 0) and the block bytes, decoded by
// `bitnet_testkit::kernel_input` (which documents the layout) rather than by `arbitrary`, so
// that `bitnet-models/tests/fuzz_regressions.rs` replays a file exactly as this target does and
// `cargo xtask fuzz --write-seeds` encodes its seeds the same way: a format, up to
// `MAX_ROWS` x `MAX_COLS`, any scale bits or exactly 1.0, a start offset of 0..16 bytes, and
// the exact tensor length or one byte more or less.
fuzz_target!(|input: &[u8]| {
    let case = KernelInput::decode(input).case(&TernaryFormat::ALL, |format, rows, cols| {
        if format.fits_cols(cols as u64) {
            // What the kernels take: the blocks (for bitnetcpp, its codes without the tail).
            format
                .data_bytes(rows as u64, cols as u64)
                .expect("small shapes do not overflow") as usize
        } else {
            // A row length bitnetcpp cannot hold: any length, which every kernel must refuse
            // alike (`ColsNotSupported`).
            rows * cols / 4
        }
    });
    let (format, rows, cols, scale, size) =
        (case.format, case.rows, case.cols, case.scale, case.size);
    let data = case.data.bytes();
    let len = data.len();

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
