//! Formats, packing, detection, scanning and the error variants, checked against an independent
//! per-element decoder written here from the layouts of docs/formats.md.

use bitnet_models::scan::ScanReport;
use bitnet_models::{
    detect_flavor, pack_bitnet32f16, pack_bitnetcpp, pack_qk256, pack_tq1_0, pack_tq2_0, scan,
    scan_reference, Flavor, FlavorError, FormatError, Kernel, KernelError, KernelKind,
    TernaryFormat,
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

/// The layout of a format (docs/formats.md), written out independently of the crate.
struct SpecLayout {
    /// Elements per block.
    elems: usize,
    /// Bytes per block.
    bytes: usize,
    /// Byte and bit shift of element `e` of a block (for TQ1_0: byte and base-3 digit, 0 the
    /// most significant).
    position: fn(usize) -> (usize, u32),
    /// Whether codes are base-3 digits (TQ1_0) rather than 2-bit fields.
    trits: bool,
    /// Offset of the f16 scale `d` in the block, if any.
    d_at: Option<usize>,
    /// Bytes after the blocks, once per tensor (bitnetcpp's f32 scale and 28 ignored bytes).
    tail: usize,
    /// Whether every row starts a new block (all but bitnetcpp, which numbers its elements
    /// over the whole tensor: see [`spec_bitnetcpp_position`]).
    padded_rows: bool,
}

/// bitnetcpp, as bitnet.cpp writes it: element `k = row * cols + col` of the flattened tensor
/// sits in byte `32 * (k / 128) + k % 32` at shift `6 - 2 * ((k % 128) / 32)`, high bits first.
fn spec_bitnetcpp_position(k: usize) -> (usize, u32) {
    (32 * (k / 128) + k % 32, (6 - 2 * ((k % 128) / 32)) as u32)
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
            tail: 0,
            padded_rows: true,
            trits: false,
        },
        TernaryFormat::BitNet32F16 => SpecLayout {
            elems: 32,
            bytes: 10,
            position: bitnet32,
            d_at: Some(8),
            tail: 0,
            padded_rows: true,
            trits: false,
        },
        TernaryFormat::Tq2_0 => SpecLayout {
            elems: 256,
            bytes: 66,
            position: qk256,
            d_at: Some(64),
            tail: 0,
            padded_rows: true,
            trits: false,
        },
        TernaryFormat::BitnetCpp => SpecLayout {
            elems: 128,
            bytes: 32,
            // Within one group of 128 (the whole-tensor formula, restricted to k < 128).
            position: |e| (e % 32, (6 - 2 * (e / 32)) as u32),
            d_at: None,
            tail: 32,
            padded_rows: false,
            trits: false,
        },
        // ggml's block_tq1_0: 48 bytes of 5 digits each (the first 32 bytes for elements
        // 0..160, digit-major; the next 16 for 160..240), 4 bytes of 4 digits (240..256), d.
        TernaryFormat::Tq1_0 => SpecLayout {
            elems: 256,
            bytes: 54,
            position: |e| match e {
                0..160 => (e % 32, (e / 32) as u32),
                160..240 => (32 + (e - 160) % 16, ((e - 160) / 16) as u32),
                _ => (48 + (e - 240) % 4, ((e - 240) / 4) as u32),
            },
            d_at: Some(52),
            tail: 0,
            padded_rows: true,
            trits: true,
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
    if !layout.padded_rows {
        // No padding: the position is a function of the flat index alone.
        let (byte, shift) = spec_bitnetcpp_position(row * cols + col);
        return ((data[byte] >> shift) & 3, None);
    }
    let blocks_per_row = cols.div_ceil(layout.elems);
    let block = &data[(row * blocks_per_row + col / layout.elems) * layout.bytes..][..layout.bytes];
    let (byte, shift) = (layout.position)(col % layout.elems);
    let code = if layout.trits {
        // ggml: q = (uint8_t)(byte * 3^digit); xi = ((uint16_t)q * 3) >> 8.
        let q = block[byte].wrapping_mul(3u8.pow(shift));
        ((u16::from(q) * 3) >> 8) as u8
    } else {
        (block[byte] >> shift) & 3
    };
    let d = layout
        .d_at
        .map(|at| f16::from_bits(u16::from(block[at]) | (u16::from(block[at + 1]) << 8)));
    (code, d)
}

/// The values of a stored 1×128 bitnetcpp tensor with tail scale 0.5, decoded by `kernel` from
/// its codes (the first 32 bytes).
fn decode_1x128(kernel: Kernel, stored: &[u8]) -> Vec<f32> {
    let mut out = vec![f32::NAN; 128];
    kernel
        .dequantize(
            TernaryFormat::BitnetCpp,
            &stored[..32],
            1,
            128,
            0.5,
            &mut out,
        )
        .unwrap();
    out
}

/// The tensor scale `pack_any` stores in a bitnetcpp tail.
const TAIL_SCALE: f32 = -0.37;

/// Packs with the format's own packer and returns the blocks: what the kernels and the scan
/// take (`data_bytes`). For bitnetcpp, whose packer returns the stored bytes, the tail
/// (`TAIL_SCALE`, then 28 zero bytes) is checked and cut off here, and the codes are checked
/// to be what the generic `pack` gives.
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
        TernaryFormat::Tq1_0 => pack_tq1_0(weights, rows, cols, scales),
        TernaryFormat::BitnetCpp => {
            assert!(scales.is_empty(), "bitnetcpp has no block scales");
            let mut stored = pack_bitnetcpp(weights, rows, cols, TAIL_SCALE)?;
            let codes_len = rows * cols / 4;
            assert_eq!(stored.len(), codes_len + 32, "{rows}x{cols}");
            assert_eq!(stored[codes_len..codes_len + 4], TAIL_SCALE.to_le_bytes());
            assert_eq!(stored[codes_len + 4..], [0; 28]);
            stored.truncate(codes_len);
            assert_eq!(
                bitnet_models::pack::pack(format, weights, rows, cols, &[]).unwrap(),
                stored
            );
            Ok(stored)
        }
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

    // bitnetcpp: groups of 128 elements in 32 bytes, no row padding, a 32-byte tail.
    assert_eq!(
        (
            BitnetCpp.block_elems(),
            BitnetCpp.block_bytes(),
            BitnetCpp.code_bytes(),
            BitnetCpp.tail_bytes(),
        ),
        (128, 32, 32, 32)
    );
    assert_eq!(BitnetCpp.name(), "bitnetcpp");
    assert_eq!(Flavor::BitnetCpp.name(), "bitnetcpp");
    assert_eq!(Flavor::BitnetCpp.to_string(), "bitnetcpp");
    assert_eq!(BitnetCpp.to_string(), "bitnetcpp");
    assert_eq!(TernaryFormat::from(Flavor::BitnetCpp), BitnetCpp);
    assert!(!BitnetCpp.has_block_scale());
    assert!(!BitnetCpp.pads_rows());
    for other in [Qk256, BitNet32F16, Tq2_0] {
        assert_eq!(other.tail_bytes(), 0, "{other}");
        assert!(other.pads_rows(), "{other}");
        assert!(other.fits_cols(1) && other.fits_cols(300), "{other}");
    }
    assert_eq!(
        TernaryFormat::ALL,
        [Qk256, BitNet32F16, Tq2_0, BitnetCpp, TernaryFormat::Tq1_0]
    );
    assert_eq!(
        Flavor::ALL,
        [Flavor::Qk256, Flavor::BitNet32F16, Flavor::BitnetCpp]
    );
    for cols in [0, 128, 256, 384, 2560] {
        assert!(BitnetCpp.fits_cols(cols), "{cols}");
    }
    for cols in [1, 64, 127, 129, 160, 300, 2561] {
        assert!(!BitnetCpp.fits_cols(cols), "{cols}");
        assert_eq!(BitnetCpp.row_bytes(cols), None, "{cols}");
        assert_eq!(BitnetCpp.data_bytes(1, cols), None, "{cols}");
        assert_eq!(BitnetCpp.tensor_bytes(1, cols), None, "{cols}");
    }
    assert_eq!(BitnetCpp.row_bytes(0), Some(0));
    assert_eq!(BitnetCpp.row_bytes(384), Some(96));
    assert_eq!(BitnetCpp.data_bytes(4, 384), Some(384));
    assert_eq!(BitnetCpp.tensor_bytes(4, 384), Some(416));
    assert_eq!(BitnetCpp.data_bytes(1, 128), Some(32));
    assert_eq!(BitnetCpp.tensor_bytes(1, 128), Some(64));
    assert_eq!(BitnetCpp.tensor_bytes(0, 128), Some(32));
    assert_eq!(
        BitnetCpp.tensor_bytes(2560, 2560),
        Some(2560 * 2560 / 4 + 32)
    );
    // The other formats: what is stored is the blocks.
    for format in [Qk256, BitNet32F16, Tq2_0] {
        assert_eq!(format.data_bytes(3, 300), format.tensor_bytes(3, 300));
    }
    // Overflow: of the blocks, and of the tail added to them.
    assert_eq!(BitnetCpp.data_bytes(u64::MAX, 128), None);
    assert_eq!(BitnetCpp.tensor_bytes(u64::MAX, 128), None);
    let max_rows = u64::MAX / 32; // data_bytes(max_rows, 128) = u64::MAX rounded down to 32
    assert_eq!(BitnetCpp.data_bytes(max_rows, 128), Some(max_rows * 32));
    assert_eq!(BitnetCpp.tensor_bytes(max_rows, 128), None);
    assert_eq!(
        BitnetCpp.tensor_bytes(max_rows - 1, 128),
        Some((max_rows - 1) * 32 + 32)
    );
}

#[test]
fn bitnetcpp_worked_example() {
    // One row of 128 weights +1, −1, 0 repeating (codes 2, 0, 1, …), scale 0.5.
    let weights: Vec<i8> = (0..128).map(|k| [1, -1, 0][k % 3]).collect();
    let stored = pack_bitnetcpp(&weights, 1, 128, 0.5).unwrap();
    let mut want: Vec<u8> = [0x92, 0x24, 0x49].into_iter().cycle().take(32).collect();
    assert_eq!(want[..6], [0x92, 0x24, 0x49, 0x92, 0x24, 0x49]);
    assert_eq!(want[30..], [0x92, 0x24]);
    want.extend_from_slice(&[0x00, 0x00, 0x00, 0x3F]);
    want.extend_from_slice(&[0; 28]);
    assert_eq!(stored, want);
    // Byte 0 (0x92 = 0b10_01_00_10) holds elements 0, 32, 64, 96: codes 2, 1, 0, 2, high bits
    // first. Every element, against the independent decoder:
    for (k, &w) in weights.iter().enumerate() {
        let (code, d) = spec_decode(TernaryFormat::BitnetCpp, &stored, 128, 0, k);
        assert_eq!((code as i8 - 1, d), (w, None), "element {k}");
    }
    // The codes alone, from the generic packer.
    assert_eq!(
        bitnet_models::pack::pack(TernaryFormat::BitnetCpp, &weights, 1, 128, &[]).unwrap(),
        want[..32]
    );
    assert_eq!(
        bitnet_models::format::bitnetcpp_split(&stored),
        Some((&want[..32], 0.5))
    );
    for kernel in Kernel::available() {
        let mut out = decode_1x128(kernel, &stored);
        let expected: Vec<f32> = weights.iter().map(|&w| f32::from(w) * 0.5).collect();
        assert_eq!(out, expected, "{kernel}");
        // The tail is not code: the kernels take the codes only.
        assert!(matches!(
            kernel.dequantize(TernaryFormat::BitnetCpp, &stored, 1, 128, 0.5, &mut out),
            Err(FormatError::WrongDataLength {
                format: TernaryFormat::BitnetCpp,
                expected: 32,
                actual: 64,
            })
        ));
    }

    // Uniform weights: every field the same code.
    for (w, byte) in [(1i8, 0xAAu8), (-1, 0x00), (0, 0x55)] {
        let stored = pack_bitnetcpp(&[w; 128], 1, 128, 0.5).unwrap();
        assert_eq!(stored[..32], [byte; 32], "weight {w}");
        assert_eq!(stored[32..36], [0x00, 0x00, 0x00, 0x3F]);
        assert_eq!(stored[36..], [0; 28]);
        for kernel in Kernel::available() {
            let out = decode_1x128(kernel, &stored);
            assert!(
                out.iter()
                    .all(|v| v.to_bits() == (f32::from(w) * 0.5).to_bits()),
                "{kernel} weight {w}"
            );
        }
    }

    // Two rows of 128: row 1 is group 1, bytes 32..64 (no padding, no second tail).
    let mut weights = vec![0i8; 256];
    weights[128] = 1; // k = 128: byte 32, shift 6
    weights[255] = -1; // k = 255: byte 32 + 31, shift 0
    let stored = pack_bitnetcpp(&weights, 2, 128, -1.0).unwrap();
    assert_eq!(stored.len(), 64 + 32);
    assert_eq!(stored[..32], [0x55; 32]);
    assert_eq!(stored[32], 0x95);
    assert_eq!(stored[33..63], [0x55; 30]);
    assert_eq!(stored[63], 0x54);
    assert_eq!(stored[64..68], (-1.0f32).to_le_bytes());
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
            // Multiples of 128 (the shapes bitnetcpp can hold), across its group boundaries.
            (1, 128),
            (3, 384),
            (5, 640),
            (2, 2560),
        ] {
            let weights = random_ternary(&mut rng, rows * cols);
            let blocks = rows * cols.div_ceil(elems);
            let scales = if format.has_block_scale() {
                random_scales(&mut rng, blocks)
            } else {
                vec![]
            };
            if !format.fits_cols(cols as u64) {
                // bitnetcpp and TQ1_0 do not pad rows: only whole blocks (128, 256 columns).
                assert!(!format.pads_rows(), "{format}");
                assert_ne!(cols % elems, 0);
                let refused = Err(FormatError::ColsNotSupported { format, cols });
                assert_eq!(pack_any(format, &weights, rows, cols, &scales), refused);
                if format == TernaryFormat::BitnetCpp {
                    assert_eq!(pack_bitnetcpp(&weights, rows, cols, 1.0), refused);
                }
                continue;
            }
            let data = pack_any(format, &weights, rows, cols, &scales).unwrap();
            assert_eq!(
                data.len() as u64,
                format.data_bytes(rows as u64, cols as u64).unwrap()
            );
            assert_eq!(
                (data.len() + spec_layout(format).tail) as u64,
                format.tensor_bytes(rows as u64, cols as u64).unwrap()
            );
            if !spec_layout(format).padded_rows {
                assert_eq!(data.len(), rows * cols / 4);
            }

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

            // Dequantized by every kernel: w × s, one multiplication (−0.0 for a zero weight
            // under the negative tensor scale).
            let tensor_scale = if format.has_block_scale() {
                1.0
            } else {
                TAIL_SCALE
            };
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

    // The same bytes as bitnetcpp, 2 rows of 128, read high bits first: elements 0..32 of each
    // group are code 3 (−0), 32..64 code 2 (−2), 64..96 code 1 (−0), 96..128 code 0 (2).
    for kernel in Kernel::available() {
        let mut out = vec![0.0; 256];
        kernel
            .dequantize(TernaryFormat::BitnetCpp, &data, 2, 128, -2.0, &mut out)
            .unwrap();
        for (k, v) in out.iter().enumerate() {
            let (_, shift) = spec_bitnetcpp_position(k);
            let want: f32 = [2.0, -0.0, -2.0, -0.0][(shift / 2) as usize];
            assert_eq!(v.to_bits(), want.to_bits(), "{} element {k}", kernel.name());
            let by_range: f32 = [-0.0, -2.0, -0.0, 2.0][(k % 128) / 32];
            assert_eq!(
                v.to_bits(),
                by_range.to_bits(),
                "{} element {k}",
                kernel.name()
            );
        }
    }
}

/// A detection error with its sizes spelled out (`Sizes` has no public constructor), so a
/// test can compare the whole error.
#[derive(Debug, PartialEq, Eq)]
enum Detected {
    Ambiguous {
        candidates: Vec<(Flavor, u64)>,
        available: u64,
    },
    SizeMismatch {
        expected: Vec<(Flavor, u64)>,
        available: u64,
    },
    Overflow {
        rows: u64,
        cols: u64,
    },
}

fn detect_err(rows: u64, cols: u64, available: u64, alignment: u64) -> Detected {
    match detect_flavor(rows, cols, available, alignment) {
        Err(FlavorError::Ambiguous {
            candidates,
            available,
        }) => Detected::Ambiguous {
            candidates: candidates.iter().collect(),
            available,
        },
        Err(FlavorError::SizeMismatch {
            expected,
            available,
        }) => Detected::SizeMismatch {
            expected: expected.iter().collect(),
            available,
        },
        Err(FlavorError::Overflow { rows, cols }) => Detected::Overflow { rows, cols },
        other => panic!("{rows}x{cols} in {available}: expected an error, got {other:?}"),
    }
}

#[test]
fn detection_on_the_fixture_shapes() {
    use Flavor::{BitNet32F16, Qk256};
    // 4×256: QK256 256 B, BitNet32F16 320 B (bitnetcpp 288 B).
    assert_eq!(detect_flavor(4, 256, 256, 32), Ok(Flavor::Qk256));
    // 3×300: QK256 384 B (rows padded to 2 blocks), BitNet32F16 300 B (bitnetcpp cannot).
    assert_eq!(detect_flavor(3, 300, 384, 32), Ok(Flavor::Qk256));
    // 2×64: BitNet32F16 40 B (64 available once the next tensor is aligned), QK256 128 B.
    assert_eq!(detect_flavor(2, 64, 40, 32), Ok(Flavor::BitNet32F16));
    assert_eq!(detect_flavor(2, 64, 64, 32), Ok(Flavor::BitNet32F16));
    // 4×384: bitnetcpp 384 + 32 = 416 B, QK256 512 B, BitNet32F16 480 B.
    assert_eq!(detect_flavor(4, 384, 416, 32), Ok(Flavor::BitnetCpp));
    // 1×160: QK256 64 B and BitNet32F16 50 B both fit 64 bytes.
    assert_eq!(
        detect_err(1, 160, 64, 32),
        Detected::Ambiguous {
            candidates: vec![(Qk256, 64), (BitNet32F16, 50)],
            available: 64
        }
    );
    // With a smaller alignment only BitNet32F16 fits 50 bytes.
    assert_eq!(detect_flavor(1, 160, 50, 8), Ok(Flavor::BitNet32F16));
}

#[test]
fn detection_three_flavors() {
    use Flavor::{BitNet32F16, BitnetCpp, Qk256};
    // 1×128: QK256 64 B (one padded block) and bitnetcpp 32 + 32 = 64 B; BitNet32F16's 40 B
    // fit 64 available bytes too (64 − 40 < 32).
    assert_eq!(
        detect_err(1, 128, 64, 32),
        Detected::Ambiguous {
            candidates: vec![(Qk256, 64), (BitNet32F16, 40), (BitnetCpp, 64)],
            available: 64
        }
    );
    // With a 16-byte alignment BitNet32F16 no longer fits: QK256 and bitnetcpp, the same size,
    // are never told apart by size.
    assert_eq!(
        detect_err(1, 128, 64, 16),
        Detected::Ambiguous {
            candidates: vec![(Qk256, 64), (BitnetCpp, 64)],
            available: 64
        }
    );
    assert_eq!(
        detect_err(1, 128, 64, 1),
        Detected::Ambiguous {
            candidates: vec![(Qk256, 64), (BitnetCpp, 64)],
            available: 64
        }
    );
    assert_eq!(detect_flavor(1, 128, 40, 8), Ok(BitNet32F16));
    // 1×512: BitNet32F16 16 × 10 = 160 B and bitnetcpp 128 + 32 = 160 B; QK256's 128 B do not
    // fit 160 (160 − 128 = 32 is past the slack).
    assert_eq!(
        detect_err(1, 512, 160, 32),
        Detected::Ambiguous {
            candidates: vec![(BitNet32F16, 160), (BitnetCpp, 160)],
            available: 160
        }
    );
    assert_eq!(detect_flavor(1, 512, 128, 32), Ok(Qk256));
    assert_eq!(detect_flavor(1, 512, 159, 32), Ok(Qk256));
    // 2560 wide: only bitnetcpp's size (QK256 640 B, BitNet32F16 800 B, bitnetcpp 672 B).
    assert_eq!(detect_flavor(1, 2560, 672, 32), Ok(BitnetCpp));
    assert_eq!(detect_flavor(1, 2560, 703, 32), Ok(BitnetCpp));
    assert_eq!(detect_flavor(1, 2560, 640, 32), Ok(Qk256));
    assert_eq!(detect_flavor(1, 2560, 671, 32), Ok(Qk256));
    assert_eq!(detect_flavor(1, 2560, 800, 32), Ok(BitNet32F16));
    // 2560 × 2560 as bitnet.cpp writes it.
    assert_eq!(
        detect_flavor(2560, 2560, 2560 * 640 + 32, 32),
        Ok(BitnetCpp)
    );
    assert_eq!(detect_flavor(2560, 2560, 2560 * 640, 32), Ok(Qk256));
    // 4×256: bitnetcpp's 288 B are exactly QK256's 256 plus one alignment.
    assert_eq!(detect_flavor(4, 256, 288, 32), Ok(BitnetCpp));
    assert_eq!(detect_flavor(4, 256, 319, 32), Ok(BitnetCpp));
    // A width bitnetcpp cannot hold never names it, whatever the bytes.
    for available in 0..200 {
        match detect_flavor(1, 160, available, 32) {
            Ok(flavor) => assert_ne!(flavor, BitnetCpp, "{available}"),
            Err(FlavorError::Ambiguous { candidates, .. }) => {
                assert!(
                    candidates.iter().all(|(f, _)| f != BitnetCpp),
                    "{available}"
                );
                assert_eq!(candidates.get(BitnetCpp), None);
            }
            Err(FlavorError::SizeMismatch { expected, .. }) => {
                let expected: Vec<_> = expected.iter().collect();
                assert_eq!(expected, [(Qk256, 64), (BitNet32F16, 50)], "{available}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn detection_size_mismatch() {
    use Flavor::{BitNet32F16, BitnetCpp, Qk256};
    // Too short for all three.
    assert_eq!(
        detect_err(4, 256, 255, 32),
        Detected::SizeMismatch {
            expected: vec![(Qk256, 256), (BitNet32F16, 320), (BitnetCpp, 288)],
            available: 255
        }
    );
    // Too long for QK256: 256 + 32 is already past its alignment slack, short of
    // BitNet32F16, and exactly bitnetcpp (codes and tail).
    assert_eq!(detect_flavor(4, 256, 288, 32), Ok(Flavor::BitnetCpp));
    // With a smaller alignment there are gaps: past QK256's slack and short of bitnetcpp,
    // past bitnetcpp's and short of BitNet32F16.
    for available in [264, 287, 296, 319] {
        assert_eq!(
            detect_err(4, 256, available, 8),
            Detected::SizeMismatch {
                expected: vec![(Qk256, 256), (BitNet32F16, 320), (BitnetCpp, 288)],
                available
            }
        );
    }
    assert_eq!(detect_flavor(4, 256, 295, 8), Ok(Flavor::BitnetCpp));
    assert_eq!(detect_flavor(4, 256, 287, 32), Ok(Flavor::Qk256));
    // Far too long.
    assert!(matches!(
        detect_flavor(2, 64, 4096, 32),
        Err(FlavorError::SizeMismatch { .. })
    ));
    // Without bitnetcpp (cols % 128 != 0): the two other sizes.
    assert_eq!(
        detect_err(3, 300, 100, 32),
        Detected::SizeMismatch {
            expected: vec![(Qk256, 384), (BitNet32F16, 300)],
            available: 100
        }
    );
    // The message lists every size, the last joined by "or".
    let err = detect_flavor(8, 2560, 16416, 32).unwrap_err();
    assert_eq!(
        err.to_string(),
        "i2_s size mismatch: 16416 bytes available, expected 5120 (qk256), 6400 (bitnet32f16) \
         or 5152 (bitnetcpp)"
    );
    assert_eq!(err.code(), "i2s-size-mismatch");
    let err = detect_flavor(3, 300, 100, 32).unwrap_err();
    assert_eq!(
        err.to_string(),
        "i2_s size mismatch: 100 bytes available, expected 384 (qk256) or 300 (bitnet32f16)"
    );
    let err = detect_flavor(1, 128, 64, 32).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ambiguous i2_s flavor: 64 bytes available fit 64 (qk256), 40 (bitnet32f16) and 64 \
         (bitnetcpp)"
    );
    assert_eq!(err.code(), "i2s-ambiguous-flavor");
    let err = detect_flavor(1, 512, 160, 32).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ambiguous i2_s flavor: 160 bytes available fit 160 (bitnet32f16) and 160 (bitnetcpp)"
    );
}

#[test]
fn detection_overflow() {
    use Flavor::{BitNet32F16, BitnetCpp, Qk256};
    assert_eq!(
        detect_err(u64::MAX, 256, 0, 32),
        Detected::Overflow {
            rows: u64::MAX,
            cols: 256
        }
    );
    // The fit test itself never overflows, even with `size + alignment` past u64::MAX.
    assert_eq!(detect_flavor(1, 256, 64, u64::MAX), Ok(Flavor::Qk256));
    assert_eq!(
        detect_err(1, 256, u64::MAX, u64::MAX),
        Detected::Ambiguous {
            candidates: vec![(Qk256, 64), (BitNet32F16, 80), (BitnetCpp, 96)],
            available: u64::MAX
        }
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

    // bitnetcpp, 3×384 (9 groups, no padding): code 3 at flat elements k, wherever they are.
    let (rows, cols) = (3, 384);
    let mut data = pack_any(
        TernaryFormat::BitnetCpp,
        &vec![1; rows * cols],
        rows,
        cols,
        &[],
    )
    .unwrap();
    assert_eq!(data, vec![0xAA; 288]);
    let clean = scan(TernaryFormat::BitnetCpp, &data, rows, cols).unwrap();
    assert!(clean.is_clean());
    assert_eq!(clean, ScanReport::default());
    let mut at = Vec::new();
    for k in [
        3 * 384 - 1,
        767,
        400,
        130,
        0,
        31 + 96, // byte 31, low bits
        32,      // byte 0 again, the next field
    ] {
        let (byte, shift) = spec_bitnetcpp_position(k);
        data[byte] |= 3 << shift;
        at.push(byte as u64);
    }
    let report = scan(TernaryFormat::BitnetCpp, &data, rows, cols).unwrap();
    assert_eq!(report.reserved_codes, 7);
    assert_eq!(report.first_reserved_byte, at.iter().min().copied());
    assert_eq!(report.first_reserved_byte, Some(0));
    assert_eq!(report.bad_padding_codes, 0);
    assert_eq!(report.first_bad_padding_byte, None);
    assert_eq!(report.non_finite_scales, 0);
    assert_eq!(
        report,
        scan_reference(TernaryFormat::BitnetCpp, &data, rows, cols).unwrap()
    );
    // The last code byte only: found at the very end of the codes.
    let mut data = vec![0x55u8; 288];
    data[287] = 0xC0; // element k = 8 * 128 + 31 (shift 6): code 3
    let report = scan(TernaryFormat::BitnetCpp, &data, rows, cols).unwrap();
    assert_eq!(
        (report.reserved_codes, report.first_reserved_byte),
        (1, Some(287))
    );
    assert_eq!(spec_bitnetcpp_position(8 * 128 + 31), (287, 6));
    assert_eq!(
        report,
        scan_reference(TernaryFormat::BitnetCpp, &data, rows, cols).unwrap()
    );
    // Unpadded and large (the fast path over several 4 KiB spans), every byte 0xFF: every
    // element reserved, none of it padding.
    let data = vec![0xFF; 64 * 2560 / 4];
    let report = scan(TernaryFormat::BitnetCpp, &data, 64, 2560).unwrap();
    assert_eq!(report.reserved_codes, 64 * 2560);
    assert_eq!(report.first_reserved_byte, Some(0));
    assert_eq!(report.bad_padding_codes, 0);
    assert_eq!(
        report,
        scan_reference(TernaryFormat::BitnetCpp, &data, 64, 2560).unwrap()
    );
}

#[test]
fn scan_finds_a_single_finding_at_every_position() {
    // Clean data with one reserved code or one non-finite d, at every byte of every block of
    // 3 rows × 13 blocks (so the fast path's groups of 4 blocks see every lane, and the padded
    // last block of a row too), fast path against the reference.
    for format in TernaryFormat::ALL {
        for cols in [13 * format.block_elems(), 12 * format.block_elems() + 1] {
            let rows = 3;
            if !format.fits_cols(cols as u64) {
                // bitnetcpp has no padded last block: a row length it cannot hold is refused.
                let data = vec![0x55; rows * cols.div_ceil(format.block_elems()) * 32];
                assert_eq!(
                    scan(format, &data, rows, cols),
                    Err(FormatError::ColsNotSupported { format, cols })
                );
                assert_eq!(
                    scan_reference(format, &data, rows, cols),
                    Err(FormatError::ColsNotSupported { format, cols })
                );
                continue;
            }
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
                    if !format.has_2bit_codes() {
                        // TQ1_0: every byte is five valid digits; only its d can be wrong.
                        continue;
                    }
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
fn scan_finds_findings_that_would_cancel_out() {
    // The fast path ORs what it finds across words, blocks and groups of 4 BitNet32F16 blocks
    // before deciding whether to scan block by block. Findings that sit at the same bit of two
    // words, or two non-finite `d`s, must not cancel (as they would under XOR): each case is
    // clean data with exactly these findings, counted against the layout of docs/formats.md and
    // against the reference.
    let inf = f16::INFINITY.to_le_bytes();
    let one = f16::ONE;
    let case = |format: TernaryFormat, blocks: usize, edit: &dyn Fn(&mut Vec<u8>)| {
        let cols = blocks * format.block_elems();
        let scales = if format.has_block_scale() {
            vec![one; blocks]
        } else {
            vec![]
        };
        let mut data = pack_any(format, &vec![1; cols], 1, cols, &scales).unwrap();
        edit(&mut data);
        let fast = scan(format, &data, 1, cols).unwrap();
        assert_eq!(fast, scan_reference(format, &data, 1, cols).unwrap());
        fast
    };
    let report =
        |reserved: u64, first_reserved: Option<u64>, scales: u64, first_scale: Option<u64>| {
            let mut r = ScanReport::default();
            r.reserved_codes = reserved;
            r.first_reserved_byte = first_reserved;
            r.non_finite_scales = scales;
            r.first_non_finite_block = first_scale;
            r
        };
    // QK256 and bitnetcpp: code 3 in bits 0–1 of bytes 0 and 8 (the same bit of words 0 and 1).
    for format in [TernaryFormat::Qk256, TernaryFormat::BitnetCpp] {
        let got = case(format, 2, &|d| {
            d[0] |= 3;
            d[8] |= 3;
        });
        assert_eq!(got, report(2, Some(0), 0, None), "{format}");
    }
    // TQ2_0: two non-finite d (bytes 64–65 of blocks 0 and 1); and one block with both a code 3
    // in bits 0–1 of byte 0 and a non-finite d.
    let got = case(TernaryFormat::Tq2_0, 2, &|d| {
        d[64..66].copy_from_slice(&inf);
        d[66 + 64..66 + 66].copy_from_slice(&inf);
    });
    assert_eq!(got, report(0, None, 2, Some(0)));
    let got = case(TernaryFormat::Tq2_0, 1, &|d| {
        d[0] |= 3;
        d[64..66].copy_from_slice(&inf);
    });
    assert_eq!(got, report(1, Some(0), 1, Some(0)));
    // BitNet32F16, two groups of 4 blocks with the same finding (block 0's and block 4's d; code
    // 3 in bits 0–1 of byte 0 of blocks 1 and 5).
    let got = case(TernaryFormat::BitNet32F16, 8, &|d| {
        d[8..10].copy_from_slice(&inf);
        d[48..50].copy_from_slice(&inf);
    });
    assert_eq!(got, report(0, None, 2, Some(0)));
    let got = case(TernaryFormat::BitNet32F16, 8, &|d| {
        d[10] |= 3;
        d[50] |= 3;
    });
    assert_eq!(got, report(2, Some(10), 0, None));
    // ... and inside one group: bits 0–1 of byte 2 (block 0) and of byte 10 (block 1, byte 0)
    // are the same bits, 16–17, of the group's words 0 and 1.
    let got = case(TernaryFormat::BitNet32F16, 4, &|d| {
        d[2] |= 3;
        d[10] |= 3;
    });
    assert_eq!(got, report(2, Some(2), 0, None));
    // BitNet32F16 blocks past the last whole group of 4: two non-finite d there (blocks 4 and
    // 5 of 6); one block alone whose d is not finite; one whose d is finite and whose code
    // bytes hold a 3.
    let got = case(TernaryFormat::BitNet32F16, 6, &|d| {
        d[48..50].copy_from_slice(&inf);
        d[58..60].copy_from_slice(&inf);
    });
    assert_eq!(got, report(0, None, 2, Some(4)));
    let got = case(TernaryFormat::BitNet32F16, 1, &|d| {
        d[8..10].copy_from_slice(&inf)
    });
    assert_eq!(got, report(0, None, 1, Some(0)));
    let got = case(TernaryFormat::BitNet32F16, 1, &|d| d[7] = 0xC0);
    assert_eq!(got, report(1, Some(7), 0, None));
    // TQ1_0 (no reserved codes): two non-finite d in one span.
    let got = case(TernaryFormat::Tq1_0, 2, &|d| {
        d[52..54].copy_from_slice(&inf);
        d[54 + 52..54 + 54].copy_from_slice(&inf);
    });
    assert_eq!(got, report(0, None, 2, Some(0)));
}

#[test]
fn scan_of_empty_and_clean_data() {
    for format in TernaryFormat::ALL {
        if format.fits_cols(7) {
            assert_eq!(scan(format, &[], 0, 7).unwrap(), ScanReport::default());
            assert!(scan(format, &[], 0, 7).unwrap().is_clean());
        } else {
            assert_eq!(
                scan(format, &[], 0, 7),
                Err(FormatError::ColsNotSupported { format, cols: 7 })
            );
        }
        for (rows, cols) in [(0, 256), (0, 0), (3, 0)] {
            assert_eq!(
                scan(format, &[], rows, cols).unwrap(),
                ScanReport::default()
            );
            assert_eq!(
                scan_reference(format, &[], rows, cols).unwrap(),
                ScanReport::default()
            );
        }
    }
    // bitnetcpp: clean codes are clean, and the tail is not part of what the scan takes.
    let stored = pack_bitnetcpp(&[0; 256], 2, 128, f32::NAN).unwrap();
    assert!(scan(TernaryFormat::BitnetCpp, &stored[..64], 2, 128)
        .unwrap()
        .is_clean());
    assert_eq!(
        scan(TernaryFormat::BitnetCpp, &stored, 2, 128),
        Err(FormatError::WrongDataLength {
            format: TernaryFormat::BitnetCpp,
            expected: 64,
            actual: 96
        })
    );
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
fn error_cols_not_supported() {
    // bitnetcpp does not pad rows: every entry point refuses a row length of other than a
    // multiple of 128, before looking at the lengths.
    let format = TernaryFormat::BitnetCpp;
    for cols in [1, 100, 127, 129, 200, 300] {
        let err = Err(FormatError::ColsNotSupported { format, cols });
        for kernel in Kernel::available() {
            let mut out = vec![0.0; 2 * cols];
            let data = vec![0x55; (2 * cols).div_ceil(4)];
            assert_eq!(
                kernel.dequantize(format, &data, 2, cols, 1.0, &mut out),
                err,
                "{kernel} {cols}"
            );
            assert_eq!(
                kernel.dequantize(format, &[], 2, cols, 1.0, &mut []),
                err,
                "{kernel} {cols}"
            );
        }
        assert_eq!(scan(format, &[0x55; 64], 2, cols).map(|_| ()), err);
        assert_eq!(scan_reference(format, &[], 1, cols).map(|_| ()), err);
        assert_eq!(
            pack_bitnetcpp(&vec![0; cols], 1, cols, 1.0).map(|_| ()),
            err
        );
        assert_eq!(
            bitnet_models::pack::pack(format, &vec![0; cols], 1, cols, &[]).map(|_| ()),
            err
        );
    }
    assert_eq!(
        FormatError::ColsNotSupported { format, cols: 100 }.to_string(),
        "bitnetcpp needs a multiple of 128 columns, got 100"
    );
    // Weight count and values are checked first, as for every format.
    assert_eq!(
        pack_bitnetcpp(&[0; 5], 1, 100, 1.0),
        Err(FormatError::WrongWeightCount {
            expected: 100,
            actual: 5
        })
    );
    assert_eq!(
        pack_bitnetcpp(&[2; 128], 1, 128, 1.0),
        Err(FormatError::WrongWeightValue { index: 0, value: 2 })
    );
    assert_eq!(pack_bitnetcpp(&[0; 128], 1, 128, 1.0).map(|_| ()), Ok(()));
    // bitnetcpp's scale is the tensor's, as for QK256: any value is applied, none refused.
    for kernel in Kernel::available() {
        for scale in [2.0, -0.0, f32::INFINITY] {
            let mut out = [0.0f32; 128];
            kernel
                .dequantize(format, &[0xAA; 32], 1, 128, scale, &mut out)
                .unwrap();
            assert!(
                out.iter().all(|v| v.to_bits() == scale.to_bits()),
                "{kernel}"
            );
        }
        // The wrong length: the codes of another shape, or the stored bytes with their tail.
        assert_eq!(
            kernel.dequantize(format, &[0x55; 31], 1, 128, 1.0, &mut [0.0; 128]),
            Err(FormatError::WrongDataLength {
                format,
                expected: 32,
                actual: 31
            })
        );
        assert_eq!(
            kernel.dequantize(format, &[0x55; 32], 1, 128, 1.0, &mut [0.0; 127]),
            Err(FormatError::WrongOutputLength {
                expected: 128,
                actual: 127
            })
        );
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
    proptest::sample::select(TernaryFormat::ALL.to_vec())
}

/// `cols` for `format`: as drawn, or for bitnetcpp (which cannot pad rows) rounded up to the
/// next multiple of 128.
fn fitting_cols(format: TernaryFormat, cols: usize) -> usize {
    if format.fits_cols(cols as u64) {
        cols
    } else {
        cols.next_multiple_of(format.block_elems())
    }
}

proptest! {
    // 256 cases (proptest's default), 4 under Miri; `PROPTEST_CASES` overrides.
    #![proptest_config(bitnet_testkit::proptest::config(if cfg!(miri) { 4 } else { 256 }))]

    #[test]
    fn scan_matches_reference(
        (format, rows, cols, mut data) in (format_strategy(), 1usize..4, 1usize..700)
            .prop_flat_map(|(format, rows, cols)| {
                let cols = fitting_cols(format, cols);
                let len = format.data_bytes(rows as u64, cols as u64).unwrap() as usize;
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
        let cols = fitting_cols(format, cols);
        let mut rng = SplitMix64::new(seed);
        let weights = random_ternary(&mut rng, rows * cols);
        let blocks = rows * cols.div_ceil(format.block_elems());
        let scales = if format.has_block_scale() { random_scales(&mut rng, blocks) } else { vec![] };
        let data = pack_any(format, &weights, rows, cols, &scales).unwrap();
        prop_assert!(scan(format, &data, rows, cols).unwrap().is_clean());
    }
}
