//! Every available kernel against the scalar reference, bit for bit (`f32::to_bits`).
//!
//! A kernel this CPU or target lacks is reported on stderr as skipped, never silently passed.
//! Property tests take their case count from `PROPTEST_CASES`.

use std::io::Write;
use std::sync::OnceLock;

use bitnet_models::{FormatError, Kernel, KernelKind, TernaryFormat};
use bitnet_testkit::rng::SplitMix64;
use proptest::prelude::*;

const FORMATS: [TernaryFormat; TernaryFormat::ALL.len()] = TernaryFormat::ALL;

/// The formats with block scales `d`.
const BLOCK_SCALED: [TernaryFormat; 3] = [
    TernaryFormat::BitNet32F16,
    TernaryFormat::Tq2_0,
    TernaryFormat::Tq1_0,
];

/// The bytes the kernels take for a `rows × cols` tensor: the blocks (for bitnetcpp, the codes
/// without the tail).
fn data_len(format: TernaryFormat, rows: usize, cols: usize) -> usize {
    format.data_bytes(rows as u64, cols as u64).unwrap() as usize
}

/// `cols` rounded up to what `format` can hold: formats that do not pad rows (bitnetcpp, TQ1_0)
/// need whole blocks.
fn fitting_cols(format: TernaryFormat, cols: usize) -> usize {
    if format.fits_cols(cols as u64) {
        cols
    } else {
        cols.next_multiple_of(format.block_elems())
    }
}

/// Every kernel refuses a row length `format` cannot hold (bitnetcpp: not a multiple of 128).
fn check_refused(format: TernaryFormat, rows: usize, cols: usize) {
    assert!(!format.fits_cols(cols as u64), "{format} {cols}");
    let data = vec![0x55u8; (rows * cols).div_ceil(4)];
    let mut out = vec![0.0f32; rows * cols];
    for kernel in Kernel::available() {
        assert_eq!(
            kernel.dequantize(format, &data, rows, cols, 1.0, &mut out),
            Err(FormatError::ColsNotSupported { format, cols }),
            "{kernel} {format} {rows}x{cols}"
        );
    }
}

/// The SIMD kernels of this CPU. The first call writes one line per kind to stderr, directly
/// (not through `eprintln!`, which the test harness captures), so a kernel the CPU lacks shows up
/// as skipped in every `cargo test` run.
fn simd_kernels() -> &'static [Kernel] {
    static KERNELS: OnceLock<Vec<Kernel>> = OnceLock::new();
    KERNELS.get_or_init(|| {
        let mut stderr = std::io::stderr().lock();
        KernelKind::ALL
            .into_iter()
            .filter(|&kind| kind != KernelKind::Scalar)
            .filter_map(|kind| {
                let kernel = Kernel::detect(kind);
                let line = match kernel {
                    Some(_) => format!("kernel {}: tested against scalar", kind.name()),
                    None => format!("kernel {}: skipped (CPU lacks it)", kind.name()),
                };
                // Best effort: a closed stderr must not fail the parity tests.
                let _ = writeln!(stderr, "{line}");
                kernel
            })
            .collect()
    })
}

/// Interesting f16 scales: ±0, ±1, subnormals, max, ±inf, quiet and signalling NaNs of both signs.
const SPECIAL_F16: [u16; 16] = [
    0x3C00, 0xBC00, 0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7E00,
    0xFE00, 0x7C01, 0xFD55, 0x3555,
];

/// Interesting f32 tensor scales (QK256, bitnetcpp).
fn special_f32() -> Vec<f32> {
    [
        0x3F80_0000u32, // 1.0
        0xBF80_0000,    // -1.0
        0x0000_0000,    // 0.0
        0x8000_0000,    // -0.0
        0x3F3A_E148,    // 0.73
        0xC050_0000,    // -3.25
        0x0000_0001,    // smallest subnormal
        0x8000_0001,    // -smallest subnormal
        0x007F_FFFF,    // largest subnormal
        0x7F7F_FFFF,    // MAX
        0xFF7F_FFFF,    // MIN
        0x7F80_0000,    // inf
        0xFF80_0000,    // -inf
        0x7FC0_0000,    // NaN
        0xFFC0_0000,    // -NaN
        0x7F80_0001,    // signalling NaN
        0xFFA5_A5A5,    // negative signalling NaN with a payload
        0x7FC1_2345,    // quiet NaN with a payload
    ]
    .into_iter()
    .map(f32::from_bits)
    .collect()
}

/// Overwrite the scale `d` of every block with `scales[block % scales.len()]` (no-op for QK256).
fn set_block_scales(format: TernaryFormat, data: &mut [u8], scales: &[u16]) {
    if !format.has_block_scale() {
        return;
    }
    for (b, block) in data.chunks_exact_mut(format.block_bytes()).enumerate() {
        let at = format.code_bytes();
        block[at..at + 2].copy_from_slice(&scales[b % scales.len()].to_le_bytes());
    }
}

/// The scale argument to pass: `scale` for QK256 and bitnetcpp, 1.0 for formats with block
/// scales.
fn scale_arg(format: TernaryFormat, scale: f32) -> f32 {
    if format.has_block_scale() {
        1.0
    } else {
        scale
    }
}

const SENTINEL: u32 = 0x7FBA_DBAD;

/// Dequantize with `kernel` reading `data` at byte offset `data_off` and writing at element
/// offset `out_off`; check it matches the scalar reference bit for bit and writes nothing
/// outside its output.
#[allow(clippy::too_many_arguments)]
fn check(
    kernel: Kernel,
    format: TernaryFormat,
    data: &[u8],
    rows: usize,
    cols: usize,
    scale: f32,
    data_off: usize,
    out_off: usize,
    what: &str,
) {
    let n = rows * cols;
    let mut want = vec![0.0f32; n];
    Kernel::scalar()
        .dequantize(format, data, rows, cols, scale, &mut want)
        .expect("scalar dequantize");

    let mut shifted = vec![0u8; data.len() + data_off];
    shifted[data_off..].copy_from_slice(data);
    let mut buf = vec![f32::from_bits(SENTINEL); n + out_off + 4];
    kernel
        .dequantize(
            format,
            &shifted[data_off..],
            rows,
            cols,
            scale,
            &mut buf[out_off..out_off + n],
        )
        .expect("kernel dequantize");

    let got = &buf[out_off..out_off + n];
    if let Some(i) = (0..n).find(|&i| got[i].to_bits() != want[i].to_bits()) {
        panic!(
            "{what}: kernel {} {} {rows}x{cols} scale {:#010x} (data +{data_off}, out +{out_off}): \
             element {i} (row {}, col {}) is {:#010x}, scalar gives {:#010x}",
            kernel.name(),
            format.name(),
            scale.to_bits(),
            i / cols,
            i % cols,
            got[i].to_bits(),
            want[i].to_bits(),
        );
    }
    let outside = buf[..out_off].iter().chain(&buf[out_off + n..]);
    assert!(
        outside.into_iter().all(|v| v.to_bits() == SENTINEL),
        "{what}: kernel {} {} {rows}x{cols} wrote outside its output",
        kernel.name(),
        format.name(),
    );
}

#[test]
fn scalar_is_always_available_and_first() {
    let available = Kernel::available();
    assert_eq!(available[0].kind(), KernelKind::Scalar);
    assert_eq!(Kernel::scalar().kind(), KernelKind::Scalar);
    assert_eq!(Kernel::detect(KernelKind::Scalar), Some(Kernel::scalar()));
    assert_eq!(available.last().copied(), Some(Kernel::best()));
    for kind in KernelKind::ALL {
        let listed = available.iter().any(|k| k.kind() == kind);
        assert_eq!(listed, Kernel::detect(kind).is_some(), "{kind}");
    }
    eprintln!(
        "kernels available: {:?}, best {}",
        available.iter().map(|k| k.name()).collect::<Vec<_>>(),
        Kernel::best()
    );
}

#[test]
fn every_byte_value_in_every_code_position() {
    let kernels = simd_kernels();
    for format in FORMATS {
        // Block k has byte value (k + 37·p) mod 256 at code byte p, so over 256 blocks every code
        // byte position sees every byte value once.
        let mut data = vec![0u8; 256 * format.block_bytes()];
        for (k, block) in data.chunks_exact_mut(format.block_bytes()).enumerate() {
            for (p, byte) in block[..format.code_bytes()].iter_mut().enumerate() {
                *byte = (k + 37 * p) as u8;
            }
        }
        set_block_scales(format, &mut data, &SPECIAL_F16);
        let cols = format.block_elems();
        for &kernel in kernels {
            for scale in [1.0, -0.5, 0.0] {
                let scale = scale_arg(format, scale);
                check(kernel, format, &data, 256, cols, scale, 0, 0, "byte values");
                // The same blocks as one long row.
                check(
                    kernel,
                    format,
                    &data,
                    1,
                    256 * cols,
                    scale,
                    0,
                    0,
                    "byte values",
                );
            }
        }
    }
}

#[test]
fn every_row_length_up_to_three_blocks_and_one() {
    let kernels = simd_kernels();
    let mut rng = SplitMix64::new(7);
    for format in FORMATS {
        for cols in 1..=3 * format.block_elems() + 1 {
            for rows in [1, 3] {
                if !format.fits_cols(cols as u64) {
                    check_refused(format, rows, cols);
                    continue;
                }
                let len = data_len(format, rows, cols);
                let mut data = rng.bytes(len);
                set_block_scales(format, &mut data, &[0x3C00, 0xB800, 0x8001, 0x4248]);
                let scale = scale_arg(format, -1.75);
                for &kernel in kernels {
                    check(kernel, format, &data, rows, cols, scale, 0, 0, "row length");
                }
            }
        }
    }
}

#[test]
fn unaligned_input_and_output() {
    let kernels = simd_kernels();
    let mut rng = SplitMix64::new(11);
    for format in FORMATS {
        for (rows, cols) in [
            (3, 2 * format.block_elems() + 5),
            (2, 4 * format.block_elems()),
            (3, 384),
        ] {
            if !format.fits_cols(cols as u64) {
                check_refused(format, rows, cols);
                continue;
            }
            let len = data_len(format, rows, cols);
            let mut data = rng.bytes(len);
            set_block_scales(format, &mut data, &[0x3C00, 0x2E66, 0xC500]);
            for &kernel in kernels {
                for data_off in 0..4 {
                    for out_off in 0..4 {
                        let scale = scale_arg(format, 0.3);
                        check(
                            kernel,
                            format,
                            &data,
                            rows,
                            cols,
                            scale,
                            data_off,
                            out_off,
                            "unaligned",
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn special_tensor_scales() {
    let kernels = simd_kernels();
    let mut rng = SplitMix64::new(13);
    for (format, cols) in [
        (TernaryFormat::Qk256, 256),
        (TernaryFormat::Qk256, 300),
        (TernaryFormat::BitnetCpp, 128),
        (TernaryFormat::BitnetCpp, 384),
        (TernaryFormat::BitnetCpp, 2560),
    ] {
        let data = rng.bytes(data_len(format, 2, cols));
        for scale in special_f32() {
            for &kernel in kernels {
                check(kernel, format, &data, 2, cols, scale, 0, 0, "tensor scale");
            }
        }
    }
}

#[test]
fn special_block_scales() {
    let kernels = simd_kernels();
    let mut rng = SplitMix64::new(17);
    for format in BLOCK_SCALED {
        for cols in [
            format.block_elems(),
            fitting_cols(format, 2 * format.block_elems() + 3),
        ] {
            let rows = SPECIAL_F16.len();
            let mut data = rng.bytes(data_len(format, rows, cols));
            set_block_scales(format, &mut data, &SPECIAL_F16);
            for &kernel in kernels {
                check(kernel, format, &data, rows, cols, 1.0, 0, 0, "block scale");
            }
        }
    }
}

#[test]
fn every_f16_block_scale() {
    let kernels = simd_kernels();
    if kernels.is_empty() {
        // Nothing to compare (Miri has no SIMD kernel): skip building 65536 blocks per format.
        return;
    }
    let all: Vec<u16> = (0..=u16::MAX).collect();
    for format in BLOCK_SCALED {
        // One block per row; codes 0, 1, 2, 3 in turn in the first 32 elements of each block
        // (any bytes in TQ1_0's, whose rows are whole blocks).
        let rows = all.len();
        let cols = fitting_cols(format, 32);
        let mut data = vec![0u8; rows * format.block_bytes()];
        for block in data.chunks_exact_mut(format.block_bytes()) {
            for (p, byte) in block[..format.code_bytes()].iter_mut().enumerate() {
                *byte = 0b1110_0100u8.rotate_left(2 * p as u32);
            }
        }
        set_block_scales(format, &mut data, &all);
        for &kernel in kernels {
            check(kernel, format, &data, rows, cols, 1.0, 0, 0, "every f16");
        }
    }
}

#[test]
fn streaming_stores_on_large_outputs() {
    // Outputs of STREAM_MIN_BYTES and more take the non-temporal store path: check it at every
    // output alignment it distinguishes (64-byte, 16-byte, 4-byte), with and without padding.
    let kernels = simd_kernels();
    if kernels.is_empty() {
        return;
    }
    let min_elems = bitnet_models::kernels::STREAM_MIN_BYTES / 4;
    let mut rng = SplitMix64::new(19);
    for format in FORMATS {
        for cols in [4096, fitting_cols(format, 16 * format.block_elems() + 3)] {
            let rows = min_elems.div_ceil(cols);
            let n = rows * cols;
            let mut data = rng.bytes(data_len(format, rows, cols));
            set_block_scales(format, &mut data, &[0x3C00, 0xB555, 0x0400]);
            let scale = scale_arg(format, -0.625);
            let mut want = vec![0.0f32; n];
            Kernel::scalar()
                .dequantize(format, &data, rows, cols, scale, &mut want)
                .unwrap();
            let mut buf = vec![f32::from_bits(SENTINEL); n + 32];
            let base = buf.as_ptr() as usize;
            for align in [0, 16, 4] {
                let off = (align + 64 - base % 64) % 64 / 4;
                for &kernel in kernels {
                    buf.fill(f32::from_bits(SENTINEL));
                    kernel
                        .dequantize(format, &data, rows, cols, scale, &mut buf[off..off + n])
                        .unwrap();
                    let got = &buf[off..off + n];
                    if let Some(i) = (0..n).find(|&i| got[i].to_bits() != want[i].to_bits()) {
                        panic!(
                            "streaming: kernel {} {} {rows}x{cols} (out at {align} mod 64): \
                             element {i} is {:#010x}, scalar gives {:#010x}",
                            kernel.name(),
                            format.name(),
                            got[i].to_bits(),
                            want[i].to_bits()
                        );
                    }
                    assert!(buf[..off]
                        .iter()
                        .chain(&buf[off + n..])
                        .all(|v| v.to_bits() == SENTINEL));
                }
            }
        }
    }
}

/// bitnetcpp numbers its elements over the whole tensor, so its groups run on across rows:
/// shapes that are multiples of 128 with 1 to 40 groups in all (every count of groups modulo
/// the kernels' unrolling), random codes, every special tensor scale.
#[test]
fn bitnetcpp_group_counts_around_boundaries() {
    let kernels = simd_kernels();
    let mut rng = SplitMix64::new(23);
    let format = TernaryFormat::BitnetCpp;
    for (rows, cols) in [
        (1, 128),
        (2, 128),
        (3, 128),
        (1, 256),
        (1, 384),
        (5, 128),
        (1, 640),
        (7, 128),
        (2, 512),
        (3, 384),
        (1, 1152),
        (3, 640),
        (1, 2048),
        (17, 128),
        (1, 2560),
        (5, 512),
        (31, 128),
        (8, 512),
        (33, 128),
        (2, 2560),
    ] {
        let data = rng.bytes(data_len(format, rows, cols));
        for scale in special_f32() {
            for &kernel in kernels {
                check(
                    kernel,
                    format,
                    &data,
                    rows,
                    cols,
                    scale,
                    0,
                    0,
                    "bitnetcpp groups",
                );
            }
        }
    }
}

/// bitnetcpp at every start of its input within a 64-byte line (the widest load) and every
/// start of its output within 16 values, for 1 to 9 groups.
#[test]
fn bitnetcpp_every_input_alignment() {
    let kernels = simd_kernels();
    let mut rng = SplitMix64::new(29);
    let format = TernaryFormat::BitnetCpp;
    for (rows, cols) in [(1, 128), (3, 128), (1, 512), (3, 384)] {
        let data = rng.bytes(data_len(format, rows, cols));
        for &kernel in kernels {
            for data_off in 0..64 {
                for out_off in 0..16 {
                    check(
                        kernel,
                        format,
                        &data,
                        rows,
                        cols,
                        -0.3,
                        data_off,
                        out_off,
                        "bitnetcpp alignment",
                    );
                }
            }
        }
    }
}

#[test]
fn empty_shapes() {
    for kernel in Kernel::available() {
        for format in FORMATS {
            for (rows, cols) in [(0, 0), (0, 5), (5, 0), (0, 128)] {
                let result = kernel.dequantize(format, &[], rows, cols, 1.0, &mut []);
                if format.fits_cols(cols as u64) {
                    result.unwrap();
                } else {
                    // bitnetcpp refuses a row length it cannot hold, even for no rows.
                    assert_eq!(result, Err(FormatError::ColsNotSupported { format, cols }));
                }
            }
        }
    }
}

fn format_strategy() -> impl Strategy<Value = TernaryFormat> {
    proptest::sample::select(TernaryFormat::ALL.to_vec())
}

fn scale_strategy() -> impl Strategy<Value = f32> {
    prop_oneof![
        any::<u32>().prop_map(f32::from_bits),
        -4.0f32..4.0,
        proptest::sample::select(special_f32()),
    ]
}

proptest! {
    // 256 cases (proptest's default), 4 under Miri; `PROPTEST_CASES` overrides.
    #![proptest_config(bitnet_testkit::proptest::config(if cfg!(miri) { 4 } else { 256 }))]

    #[test]
    fn random_blocks_match_scalar(
        (format, rows, cols, data) in (format_strategy(), 1usize..5, 1usize..700)
            .prop_flat_map(|(format, rows, cols)| {
                let cols = fitting_cols(format, cols);
                let len = data_len(format, rows, cols);
                (Just(format), Just(rows), Just(cols), proptest::collection::vec(any::<u8>(), len))
            }),
        scale in scale_strategy(),
        data_off in 0usize..4,
        out_off in 0usize..4,
    ) {
        let scale = scale_arg(format, scale);
        for &kernel in simd_kernels() {
            check(kernel, format, &data, rows, cols, scale, data_off, out_off, "proptest");
        }
    }
}
