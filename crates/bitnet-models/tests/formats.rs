//! Formats, packing, detection, scanning and the error variants, checked against an independent
//! per-element decoder written here from the SPEC §2 formulas.

use bitnet_models::scan::ScanReport;
use bitnet_models::{
    detect_flavor, pack_bitnet32f16, pack_qk256, pack_tq2_0, scan, scan_reference, Flavor,
    FlavorError, FormatError, Kernel, KernelError, KernelKind, TernaryFormat,
};
use bitnet_testkit::rng::SplitMix64;
use half::f16;
use proptest::prelude::*;

/// `n` ternary weights (−1, 0, +1) from splitmix64.
fn random_ternary(rng: &mut SplitMix64, n: usize) -> Vec<i8> {
    (0..n).map(|_| (rng.next_u64() % 3) as i8 - 1).collect()
}

/// `n` finite, non-zero f16 scales of either sign (exponent field 1..=30) from splitmix64.
fn random_scales(rng: &mut SplitMix64, n: usize) -> Vec<f16> {
    (0..n)
        .map(|_| {
            let r = rng.next_u64() as u16;
            let exp = 1 + (r >> 10) % 30;
            f16::from_bits((r & 0x8000) | (exp << 10) | (r & 0x03FF))
        })
        .collect()
}

/// The SPEC §2 layout of a format, written out independently of the crate.
struct SpecLayout {
    /// Elements per block.
    elems: usize,
    /// Bytes per block.
    bytes: usize,
    /// Byte and bit shift of element `e` of a block.
    position: fn(usize) -> (usize, u32),
    /// Offset of the f16 scale `d` in the block, if any.
    d_at: Option<usize>,
}

fn spec_layout(format: TernaryFormat) -> SpecLayout {
    fn qk256(e: usize) -> (usize, u32) {
        ((e / 128) * 32 + e % 32, (2 * ((e % 128) / 32)) as u32)
    }
    fn bitnet32(e: usize) -> (usize, u32) {
        (e % 8, (2 * (e / 8)) as u32)
    }
    match format {
        TernaryFormat::Qk256 => SpecLayout {
            elems: 256,
            bytes: 64,
            position: qk256,
            d_at: None,
        },
        TernaryFormat::BitNet32F16 => SpecLayout {
            elems: 32,
            bytes: 10,
            position: bitnet32,
            d_at: Some(8),
        },
        TernaryFormat::Tq2_0 => SpecLayout {
            elems: 256,
            bytes: 66,
            position: qk256,
            d_at: Some(64),
        },
    }
}

/// The code and f16 scale (if the block has one) of column `col` of row `row`, padding included.
fn spec_decode(
    format: TernaryFormat,
    data: &[u8],
    cols: usize,
    row: usize,
    col: usize,
) -> (u8, Option<f16>) {
    let layout = spec_layout(format);
    let blocks_per_row = cols.div_ceil(layout.elems);
    let block = &data[(row * blocks_per_row + col / layout.elems) * layout.bytes..][..layout.bytes];
    let (byte, shift) = (layout.position)(col % layout.elems);
    let code = (block[byte] >> shift) & 3;
    let d = layout
        .d_at
        .map(|at| f16::from_bits(u16::from(block[at]) | (u16::from(block[at + 1]) << 8)));
    (code, d)
}

fn pack_any(
    format: TernaryFormat,
    weights: &[i8],
    rows: usize,
    cols: usize,
    scales: &[f16],
) -> Result<Vec<u8>, FormatError> {
    match format {
        TernaryFormat::Qk256 => pack_qk256(weights, rows, cols),
        TernaryFormat::BitNet32F16 => pack_bitnet32f16(weights, rows, cols, scales),
        TernaryFormat::Tq2_0 => pack_tq2_0(weights, rows, cols, scales),
    }
}

#[test]
fn block_geometry() {
    use TernaryFormat::*;
    assert_eq!(
        [
            Qk256.block_elems(),
            BitNet32F16.block_elems(),
            Tq2_0.block_elems()
        ],
        [256, 32, 256]
    );
    assert_eq!(
        [
            Qk256.block_bytes(),
            BitNet32F16.block_bytes(),
            Tq2_0.block_bytes()
        ],
        [64, 10, 66]
    );
    assert_eq!(
        [Qk256.name(), BitNet32F16.name(), Tq2_0.name()],
        ["qk256", "bitnet32f16", "tq2_0"]
    );
    assert_eq!(Flavor::Qk256.name(), "qk256");
    assert_eq!(Flavor::BitNet32F16.name(), "bitnet32f16");
    assert_eq!(TernaryFormat::from(Flavor::Qk256), Qk256);
    assert_eq!(TernaryFormat::from(Flavor::BitNet32F16), BitNet32F16);
    assert_eq!(Qk256.row_bytes(300), Some(128));
    assert_eq!(BitNet32F16.row_bytes(300), Some(100));
    assert_eq!(Tq2_0.row_bytes(256), Some(66));
    assert_eq!(Qk256.row_bytes(0), Some(0));
    assert_eq!(Qk256.tensor_bytes(3, 300), Some(384));
    assert_eq!(BitNet32F16.tensor_bytes(2, 64), Some(40));
    assert_eq!(Qk256.tensor_bytes(u64::MAX, 256), None);
    assert_eq!(BitNet32F16.tensor_bytes(u64::MAX, 32), None);
    assert_eq!(
        BitNet32F16.row_bytes(u64::MAX),
        Some(u64::MAX.div_ceil(32) * 10)
    );
    assert_eq!(Qk256.row_bytes(u64::MAX), Some(u64::MAX.div_ceil(256) * 64));
}

#[test]
fn pack_round_trip_with_padding() {
    let mut rng = SplitMix64::new(42);
    for format in TernaryFormat::ALL {
        let elems = format.block_elems();
        for (rows, cols) in [
            (1, 1),
            (2, elems),
            (3, elems + 1),
            (4, 2 * elems + 7),
            (2, 300),
        ] {
            let weights = random_ternary(&mut rng, rows * cols);
            let blocks = rows * cols.div_ceil(elems);
            let scales = if format.has_block_scale() {
                random_scales(&mut rng, blocks)
            } else {
                vec![]
            };
            let data = pack_any(format, &weights, rows, cols, &scales).unwrap();
            assert_eq!(
                data.len() as u64,
                format.tensor_bytes(rows as u64, cols as u64).unwrap()
            );

            // Layout, against the independent decoder: every code, the padding, every scale.
            for row in 0..rows {
                for col in 0..cols.div_ceil(elems) * elems {
                    let (code, d) = spec_decode(format, &data, cols, row, col);
                    if col < cols {
                        let w = weights[row * cols + col];
                        assert_eq!(code as i8 - 1, w, "{format} {rows}x{cols} ({row}, {col})");
                        if let Some(d) = d {
                            let block = row * cols.div_ceil(elems) + col / elems;
                            assert_eq!(d.to_bits(), scales[block].to_bits());
                        }
                    } else {
                        assert_eq!(code, 1, "{format} {rows}x{cols} padding ({row}, {col})");
                    }
                }
            }
            assert!(scan(format, &data, rows, cols).unwrap().is_clean());

            // Dequantized by every kernel: w × s, one multiplication.
            let tensor_scale = if format.has_block_scale() { 1.0 } else { -0.37 };
            for kernel in Kernel::available() {
                let mut out = vec![f32::NAN; rows * cols];
                kernel
                    .dequantize(format, &data, rows, cols, tensor_scale, &mut out)
                    .unwrap();
                for (i, &got) in out.iter().enumerate() {
                    let s = match spec_decode(format, &data, cols, i / cols, i % cols).1 {
                        Some(d) => d.to_f32(),
                        None => tensor_scale,
                    };
                    let want = f32::from(weights[i]) * s;
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "{} {format} {rows}x{cols} element {i}",
                        kernel.name()
                    );
                }
            }
        }
    }
}

#[test]
fn decoding_follows_the_spec_for_reserved_codes_and_negative_zero() {
    // One QK256 block holding codes 0, 1, 2, 3 in turn, scale −2: outputs 2, −0, −2, −0.
    let data: Vec<u8> = (0..64).map(|_| 0b1110_0100).collect();
    for kernel in Kernel::available() {
        let mut out = vec![0.0; 256];
        kernel
            .dequantize(TernaryFormat::Qk256, &data, 1, 256, -2.0, &mut out)
            .unwrap();
        for (e, v) in out.iter().enumerate() {
            let (_, shift) = (spec_layout(TernaryFormat::Qk256).position)(e);
            let want: f32 = [2.0, -0.0, -2.0, -0.0][(shift / 2) as usize];
            assert_eq!(v.to_bits(), want.to_bits(), "{} element {e}", kernel.name());
        }
    }
}

#[test]
fn detection_on_the_fixture_shapes() {
    // 4×256: QK256 256 B, BitNet32F16 320 B.
    assert_eq!(detect_flavor(4, 256, 256, 32), Ok(Flavor::Qk256));
    // 3×300: QK256 384 B (rows padded to 2 blocks), BitNet32F16 300 B.
    assert_eq!(detect_flavor(3, 300, 384, 32), Ok(Flavor::Qk256));
    // 2×64: BitNet32F16 40 B (64 available once the next tensor is aligned), QK256 128 B.
    assert_eq!(detect_flavor(2, 64, 40, 32), Ok(Flavor::BitNet32F16));
    assert_eq!(detect_flavor(2, 64, 64, 32), Ok(Flavor::BitNet32F16));
    // 1×160: QK256 64 B and BitNet32F16 50 B both fit 64 bytes.
    assert_eq!(
        detect_flavor(1, 160, 64, 32),
        Err(FlavorError::Ambiguous {
            qk256_bytes: 64,
            bitnet32f16_bytes: 50,
            available: 64
        })
    );
    // With a smaller alignment only BitNet32F16 fits 50 bytes.
    assert_eq!(detect_flavor(1, 160, 50, 8), Ok(Flavor::BitNet32F16));
}

#[test]
fn detection_size_mismatch() {
    // Too short for both.
    assert_eq!(
        detect_flavor(4, 256, 255, 32),
        Err(FlavorError::SizeMismatch {
            qk256_bytes: 256,
            bitnet32f16_bytes: 320,
            available: 255
        })
    );
    // Too long: 256 + 32 is already past QK256's alignment slack, and short of BitNet32F16.
    assert_eq!(
        detect_flavor(4, 256, 288, 32),
        Err(FlavorError::SizeMismatch {
            qk256_bytes: 256,
            bitnet32f16_bytes: 320,
            available: 288
        })
    );
    assert_eq!(detect_flavor(4, 256, 287, 32), Ok(Flavor::Qk256));
    // Far too long.
    assert!(matches!(
        detect_flavor(2, 64, 4096, 32),
        Err(FlavorError::SizeMismatch { .. })
    ));
}

#[test]
fn detection_overflow() {
    assert_eq!(
        detect_flavor(u64::MAX, 256, 0, 32),
        Err(FlavorError::Overflow {
            rows: u64::MAX,
            cols: 256
        })
    );
    // The fit test itself never overflows, even with `size + alignment` past u64::MAX.
    assert_eq!(detect_flavor(1, 256, 64, u64::MAX), Ok(Flavor::Qk256));
    assert_eq!(
        detect_flavor(1, 256, u64::MAX, u64::MAX),
        Err(FlavorError::Ambiguous {
            qk256_bytes: 64,
            bitnet32f16_bytes: 80,
            available: u64::MAX
        })
    );
    // An alignment of 0 (never valid) lets nothing fit.
    assert!(matches!(
        detect_flavor(1, 256, 64, 0),
        Err(FlavorError::SizeMismatch { .. })
    ));
}

#[test]
fn scan_finds_reserved_codes_non_finite_scales_and_bad_padding() {
    // QK256, 2×300: set code 3 at element 5 of row 1 and at (row 0, col 299); a 2 in the padding.
    let (rows, cols) = (2, 300);
    let mut data = pack_qk256(&vec![0; rows * cols], rows, cols).unwrap();
    let set = |data: &mut [u8], row: usize, col: usize, code: u8| {
        let (byte, shift) = (spec_layout(TernaryFormat::Qk256).position)(col % 256);
        let at = row * 128 + (col / 256) * 64 + byte;
        data[at] = (data[at] & !(3 << shift)) | (code << shift);
        at as u64
    };
    let at_299 = set(&mut data, 0, 299, 3);
    let at_5 = set(&mut data, 1, 5, 3);
    let pad = set(&mut data, 1, 400, 2);
    let report = scan(TernaryFormat::Qk256, &data, rows, cols).unwrap();
    assert_eq!(report.reserved_codes, 2);
    assert_eq!(report.first_reserved_byte, Some(at_299.min(at_5)));
    assert_eq!(report.bad_padding_codes, 1);
    assert_eq!(report.first_bad_padding_byte, Some(pad));
    assert_eq!(report.non_finite_scales, 0);
    assert!(!report.is_clean());
    assert_eq!(
        report,
        scan_reference(TernaryFormat::Qk256, &data, rows, cols).unwrap()
    );

    // Unpadded QK256 (the fast contiguous path): a reserved code far into the data.
    let mut data = pack_qk256(&vec![0; 256 * 256], 256, 256).unwrap();
    data[5000] |= 0b1100_0000;
    data[9000] = 0xFF;
    let report = scan(TernaryFormat::Qk256, &data, 256, 256).unwrap();
    assert_eq!(report.reserved_codes, 5);
    assert_eq!(report.first_reserved_byte, Some(5000));
    assert_eq!(
        report,
        scan_reference(TernaryFormat::Qk256, &data, 256, 256).unwrap()
    );

    // BitNet32F16 and TQ2_0: non-finite d in blocks 1 (inf) and 3 (NaN), a reserved code in 2.
    for format in [TernaryFormat::BitNet32F16, TernaryFormat::Tq2_0] {
        let cols = 4 * format.block_elems();
        let scales = vec![f16::ONE; 4];
        let mut data = pack_any(format, &vec![-1; cols], 1, cols, &scales).unwrap();
        let d = |b: usize| b * format.block_bytes() + format.code_bytes();
        data[d(1)..d(1) + 2].copy_from_slice(&f16::INFINITY.to_le_bytes());
        data[d(3)..d(3) + 2].copy_from_slice(&f16::NAN.to_le_bytes());
        data[2 * format.block_bytes() + 3] = 0b0000_0011;
        let report = scan(format, &data, 1, cols).unwrap();
        assert_eq!(report.non_finite_scales, 2, "{format}");
        assert_eq!(report.first_non_finite_block, Some(1), "{format}");
        assert_eq!(report.reserved_codes, 1, "{format}");
        assert_eq!(
            report.first_reserved_byte,
            Some((2 * format.block_bytes() + 3) as u64),
            "{format}"
        );
        assert_eq!(report, scan_reference(format, &data, 1, cols).unwrap());
    }
}

#[test]
fn scan_finds_a_single_finding_at_every_position() {
    // Clean data with one reserved code or one non-finite d, at every byte of every block of
    // 3 rows × 13 blocks (so the fast path's groups of 4 blocks see every lane, and the padded
    // last block of a row too), fast path against the reference.
    for format in TernaryFormat::ALL {
        for cols in [13 * format.block_elems(), 12 * format.block_elems() + 1] {
            let rows = 3;
            let blocks = rows * cols.div_ceil(format.block_elems());
            let scales = vec![f16::from_f32(0.5); blocks];
            let scales = if format.has_block_scale() {
                scales
            } else {
                vec![]
            };
            let clean = pack_any(format, &vec![1; rows * cols], rows, cols, &scales).unwrap();
            // Under Miri, every 97th byte (prime to every block size, so code bytes and
            // scale bytes are both still hit), in minutes rather than hours.
            for at in (0..clean.len()).step_by(if cfg!(miri) { 97 } else { 1 }) {
                let in_block = at % format.block_bytes();
                let mut data = clean.clone();
                if in_block < format.code_bytes() {
                    data[at] = 0xFF;
                } else if in_block == format.code_bytes() + 1 {
                    data[at] = 0x7C; // high byte of d: exponent all ones, infinite
                } else {
                    continue;
                }
                let fast = scan(format, &data, rows, cols).unwrap();
                let reference = scan_reference(format, &data, rows, cols).unwrap();
                assert_eq!(fast, reference, "{format} {rows}x{cols} byte {at}");
                assert!(!fast.is_clean(), "{format} {rows}x{cols} byte {at}");
            }
        }
    }
}

#[test]
fn scan_of_empty_and_clean_data() {
    for format in TernaryFormat::ALL {
        assert_eq!(scan(format, &[], 0, 7).unwrap(), ScanReport::default());
        assert!(scan(format, &[], 0, 7).unwrap().is_clean());
    }
}

#[test]
fn error_wrong_data_length() {
    let err = Kernel::scalar()
        .dequantize(TernaryFormat::Qk256, &[0; 63], 1, 256, 1.0, &mut [0.0; 256])
        .unwrap_err();
    assert!(matches!(
        err,
        FormatError::WrongDataLength {
            format: TernaryFormat::Qk256,
            expected: 64,
            actual: 63
        }
    ));
    assert!(matches!(
        scan(TernaryFormat::BitNet32F16, &[0; 11], 1, 32),
        Err(FormatError::WrongDataLength {
            expected: 10,
            actual: 11,
            ..
        })
    ));
}

#[test]
fn error_wrong_output_length() {
    for kernel in Kernel::available() {
        let err = kernel
            .dequantize(
                TernaryFormat::Qk256,
                &[0x55; 64],
                1,
                200,
                1.0,
                &mut [0.0; 256],
            )
            .unwrap_err();
        assert!(matches!(
            err,
            FormatError::WrongOutputLength {
                expected: 200,
                actual: 256
            }
        ));
    }
}

#[test]
fn error_shape_overflow() {
    // The byte size of a shape overflows u64 only with 64-bit `usize`; with 32-bit `usize` the
    // (impossible) data length is reported instead.
    let err = Kernel::scalar()
        .dequantize(
            TernaryFormat::BitNet32F16,
            &[],
            usize::MAX,
            64,
            1.0,
            &mut [],
        )
        .unwrap_err();
    if cfg!(target_pointer_width = "64") {
        assert!(matches!(err, FormatError::ShapeOverflow { cols: 64, .. }));
    } else {
        assert!(matches!(
            err,
            FormatError::WrongDataLength { actual: 0, .. }
        ));
    }
    assert!(matches!(
        pack_qk256(&[], usize::MAX, 2),
        Err(FormatError::ShapeOverflow { cols: 2, .. })
    ));
}

#[test]
fn error_wrong_weight_value_and_count() {
    assert_eq!(
        pack_qk256(&[0, 1, -1, 2], 1, 4),
        Err(FormatError::WrongWeightValue { index: 3, value: 2 })
    );
    assert_eq!(
        pack_qk256(&[0, -3], 1, 2),
        Err(FormatError::WrongWeightValue {
            index: 1,
            value: -3
        })
    );
    assert_eq!(
        pack_qk256(&[0; 5], 2, 3),
        Err(FormatError::WrongWeightCount {
            expected: 6,
            actual: 5
        })
    );
}

#[test]
fn error_wrong_scale_count() {
    assert_eq!(
        pack_bitnet32f16(&[0; 66], 2, 33, &[f16::ONE; 3]),
        Err(FormatError::WrongScaleCount {
            format: TernaryFormat::BitNet32F16,
            expected: 4,
            actual: 3
        })
    );
    assert_eq!(
        pack_tq2_0(&[0; 10], 1, 10, &[]),
        Err(FormatError::WrongScaleCount {
            format: TernaryFormat::Tq2_0,
            expected: 1,
            actual: 0
        })
    );
}

#[test]
fn error_scale_not_applicable() {
    let data = pack_bitnet32f16(&[0; 32], 1, 32, &[f16::ONE]).unwrap();
    for kernel in Kernel::available() {
        let err = kernel
            .dequantize(
                TernaryFormat::BitNet32F16,
                &data,
                1,
                32,
                2.0,
                &mut [0.0; 32],
            )
            .unwrap_err();
        assert!(matches!(
            err,
            FormatError::ScaleNotApplicable {
                format: TernaryFormat::BitNet32F16,
                ..
            }
        ));
    }
}

#[test]
fn kernel_names_and_requests() {
    for kind in KernelKind::ALL {
        assert_eq!(kind.name().parse::<KernelKind>(), Ok(kind));
        match Kernel::from_request(Some(kind.name())) {
            Ok(kernel) => assert_eq!(kernel.kind(), kind),
            Err(err) => {
                assert_eq!(err, KernelError::Unsupported { kernel: kind });
                eprintln!("kernel {}: skipped (CPU lacks it)", kind.name());
            }
        }
    }
    assert_eq!(Kernel::from_request(None), Ok(Kernel::best()));
    assert_eq!(Kernel::from_request(Some("")), Ok(Kernel::best()));
    assert_eq!(
        Kernel::from_request(Some("AVX2")),
        Err(KernelError::Unknown("AVX2".into()))
    );
    assert_eq!(
        "sse9".parse::<KernelKind>(),
        Err(KernelError::Unknown("sse9".into()))
    );
    // `selected` honours BITNET_KERNEL as this process sees it.
    let request = std::env::var(bitnet_models::kernels::KERNEL_ENV).ok();
    assert_eq!(Kernel::selected(), Kernel::from_request(request.as_deref()));
}

fn format_strategy() -> impl Strategy<Value = TernaryFormat> {
    prop_oneof![
        Just(TernaryFormat::Qk256),
        Just(TernaryFormat::BitNet32F16),
        Just(TernaryFormat::Tq2_0),
    ]
}

proptest! {
    // 256 cases (proptest's default), 4 under Miri; `PROPTEST_CASES` overrides.
    #![proptest_config(bitnet_testkit::proptest::config(if cfg!(miri) { 4 } else { 256 }))]

    #[test]
    fn scan_matches_reference(
        (format, rows, cols, mut data) in (format_strategy(), 1usize..4, 1usize..700)
            .prop_flat_map(|(format, rows, cols)| {
                let len = format.tensor_bytes(rows as u64, cols as u64).unwrap() as usize;
                (Just(format), Just(rows), Just(cols), proptest::collection::vec(any::<u8>(), len))
            }),
        clean in any::<bool>(),
    ) {
        if clean {
            // Mostly-valid data: reserved codes only where the random byte was 0xFF.
            for b in &mut data {
                if *b != 0xFF {
                    *b &= 0x99;
                }
            }
        }
        prop_assert_eq!(
            scan(format, &data, rows, cols).unwrap(),
            scan_reference(format, &data, rows, cols).unwrap()
        );
    }

    #[test]
    fn pack_then_scan_is_clean(
        (format, rows, cols, seed) in (format_strategy(), 1usize..4, 1usize..600, any::<u64>()),
    ) {
        let mut rng = SplitMix64::new(seed);
        let weights = random_ternary(&mut rng, rows * cols);
        let blocks = rows * cols.div_ceil(format.block_elems());
        let scales = if format.has_block_scale() { random_scales(&mut rng, blocks) } else { vec![] };
        let data = pack_any(format, &weights, rows, cols, &scales).unwrap();
        prop_assert!(scan(format, &data, rows, cols).unwrap().is_clean());
    }
}
