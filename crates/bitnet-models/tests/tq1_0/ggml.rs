//! The geometry, the digit formula and the scalar decoder against ggml's own loops.

use bitnet_models::format::tq1_0_digit;
use bitnet_models::format::{code_position, tq1_0_position, CodePosition, TQ1_0_QH, TQ1_0_QS};
use bitnet_models::{pack_tq1_0, TernaryFormat};
use half::f16;

use super::{every_kernel, TQ1_0};

/// A literal port of ggml's `dequantize_row_tq1_0` (ggml-quants.c), loops and all.
pub(crate) fn ggml_dequantize_row(blocks: &[u8], y: &mut Vec<f32>) {
    const POW3: [u8; 6] = [1, 3, 9, 27, 81, 243];
    for x in blocks.chunks_exact(54) {
        let (qs, rest) = x.split_at(48);
        let (qh, d) = rest.split_at(4);
        let d = f16::from_le_bytes([d[0], d[1]]).to_f32();
        let mut j = 0;
        while j < qs.len() - qs.len() % 32 {
            for pow3 in &POW3[..5] {
                for m in 0..32 {
                    let q = qs[j + m].wrapping_mul(*pow3);
                    let xi = ((u16::from(q) * 3) >> 8) as i16;
                    y.push(f32::from(xi - 1) * d);
                }
            }
            j += 32;
        }
        let mut j = qs.len() - qs.len() % 32;
        while j < qs.len() {
            for pow3 in &POW3[..5] {
                for m in 0..16 {
                    let q = qs[j + m].wrapping_mul(*pow3);
                    let xi = ((u16::from(q) * 3) >> 8) as i16;
                    y.push(f32::from(xi - 1) * d);
                }
            }
            j += 16;
        }
        for pow3 in &POW3[..4] {
            for &h in qh {
                let q = h.wrapping_mul(*pow3);
                let xi = ((u16::from(q) * 3) >> 8) as i16;
                y.push(f32::from(xi - 1) * d);
            }
        }
    }
}

#[test]
fn geometry_is_ggml_block_tq1_0() {
    assert_eq!(
        TernaryFormat::ALL.last(),
        Some(&TQ1_0),
        "new formats go last"
    );
    assert_eq!(TQ1_0.name(), "tq1_0");
    assert_eq!(TQ1_0.to_string(), "tq1_0");
    assert_eq!(TQ1_0.block_elems(), 256);
    // sizeof(block_tq1_0): qs[48], qh[4], ggml_half d.
    assert_eq!((TQ1_0_QS, TQ1_0_QH), (48, 4));
    assert_eq!(TQ1_0.block_bytes(), 54);
    assert_eq!(TQ1_0.code_bytes(), 52);
    assert!(TQ1_0.has_block_scale());
    assert!(!TQ1_0.has_2bit_codes());
    assert!(!TQ1_0.pads_rows());
    assert_eq!(TQ1_0.tail_bytes(), 0);
    for cols in [0u64, 256, 512, 4096] {
        assert!(TQ1_0.fits_cols(cols));
        assert_eq!(TQ1_0.row_bytes(cols), Some(cols / 256 * 54));
    }
    for cols in [1u64, 255, 257, 300, 511] {
        assert!(!TQ1_0.fits_cols(cols));
        assert_eq!(TQ1_0.row_bytes(cols), None);
        assert_eq!(TQ1_0.data_bytes(3, cols), None);
    }
    assert_eq!(TQ1_0.data_bytes(3, 512), Some(324));
    assert_eq!(TQ1_0.tensor_bytes(3, 512), Some(324));
    // TQ2_0 keeps padding its rows.
    assert!(TernaryFormat::Tq2_0.pads_rows());
    assert_eq!(TernaryFormat::Tq2_0.row_bytes(300), Some(132));
}

/// `tq1_0_position` walks the bytes and digits in the order ggml's loops output them.
#[test]
fn positions_follow_ggml_loops() {
    let mut order = Vec::new();
    for n in 0..5 {
        for m in 0..32 {
            order.push((m, n));
        }
    }
    for n in 0..5 {
        for m in 0..16 {
            order.push((32 + m, n));
        }
    }
    for n in 0..4 {
        for j in 0..4 {
            order.push((48 + j, n));
        }
    }
    assert_eq!(order.len(), 256);
    for (e, &(byte, digit)) in order.iter().enumerate() {
        assert_eq!(tq1_0_position(e), (byte, digit), "element {e}");
        assert_eq!(
            code_position(TQ1_0, e),
            CodePosition::Trit { byte, digit },
            "element {e}"
        );
    }
    // The 2-bit formats still give bit fields.
    assert_eq!(
        code_position(TernaryFormat::Tq2_0, 33),
        CodePosition::Bits { byte: 1, shift: 2 }
    );
}

/// The digit formula inverts ggml's quantizer's `ceil(q × 256 / 243)`, and gives 0, 1 or 2 for
/// every byte.
#[test]
#[allow(clippy::manual_div_ceil)] // ggml's ceiling division, as quantize_row_tq1_0_ref writes it
fn digits_invert_the_quantizer() {
    for q in 0..243u16 {
        let byte = ((q * 256 + 242) / 243) as u8;
        let mut rest = q;
        for n in (0..5).rev() {
            assert_eq!(u16::from(tq1_0_digit(byte, n)), rest % 3, "q {q} digit {n}");
            rest /= 3;
        }
    }
    // qh: four digits, then `q *= 3`: digit 4 is always 0.
    for q in 0..81u16 {
        let byte = ((3 * q * 256 + 242) / 243) as u8;
        assert_eq!(tq1_0_digit(byte, 4), 0, "qh {q}");
    }
    for byte in 0..=255u8 {
        for n in 0..5 {
            let q = (u32::from(byte) * 3u32.pow(n)) % 256;
            let digit = tq1_0_digit(byte, n);
            assert_eq!(u32::from(digit), q * 3 / 256);
            assert!(digit < 3);
        }
    }
}
/// Every byte value in every position of `qs` and `qh`, under ordinary and special scales:
/// the scalar reference (and every kernel) against the port of ggml's loops.
#[test]
fn every_byte_in_every_position_matches_ggml() {
    const SCALES: [u16; 10] = [
        0x3C00, 0xBC00, 0x0000, 0x8000, 0x0001, 0x83FF, 0x7BFF, 0x7C00, 0xFC00, 0x7E00,
    ];
    let mut data = vec![0u8; 256 * 54];
    for (k, block) in data.chunks_exact_mut(54).enumerate() {
        for (p, byte) in block[..52].iter_mut().enumerate() {
            *byte = (k + 37 * p) as u8;
        }
        block[52..].copy_from_slice(&SCALES[k % SCALES.len()].to_le_bytes());
    }
    let mut want = Vec::new();
    ggml_dequantize_row(&data, &mut want);
    for (rows, cols) in [(256, 256), (1, 256 * 256), (64, 1024)] {
        for (kernel, got) in every_kernel(&data, rows, cols) {
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                // NaN bits are the hardware's: compare NaN as NaN.
                let same = g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan());
                assert!(same, "{kernel} {rows}x{cols} value {i}: {g} vs ggml {w}");
            }
        }
    }
}

#[test]
fn special_scales() {
    // One block of weights -1, 0, +1 repeating, under each d.
    let weights: Vec<i8> = (0..256).map(|i| (i % 3) as i8 - 1).collect();
    let cases: [(u16, [u32; 3]); 6] = [
        (0x0000, [0x8000_0000, 0x0000_0000, 0x0000_0000]), // +0: −1·0 = −0
        (0x8000, [0x0000_0000, 0x8000_0000, 0x8000_0000]), // −0
        (0x0001, [0xB380_0000, 0x0000_0000, 0x3380_0000]), // ±2^-24
        (0x8001, [0x3380_0000, 0x8000_0000, 0xB380_0000]),
        (0x7C00, [0xFF80_0000, 0, 0x7F80_0000]), // +inf: 0·inf is NaN
        (0xFC00, [0x7F80_0000, 0, 0xFF80_0000]),
    ];
    for (d, [minus, zero, plus]) in cases {
        let data = pack_tq1_0(&weights, 1, 256, &[f16::from_bits(d)]).unwrap();
        for (kernel, got) in every_kernel(&data, 1, 256) {
            for (i, v) in got.iter().enumerate() {
                let want = [minus, zero, plus][i % 3];
                if d & 0x7FFF == 0x7C00 && i % 3 == 1 {
                    assert!(v.is_nan(), "{kernel} d {d:#06x} value {i}");
                } else {
                    assert_eq!(v.to_bits(), want, "{kernel} d {d:#06x} value {i}");
                }
            }
        }
    }
    for d in [0x7E00u16, 0xFE00, 0x7C01] {
        let data = pack_tq1_0(&weights, 1, 256, &[f16::from_bits(d)]).unwrap();
        for (kernel, got) in every_kernel(&data, 1, 256) {
            assert!(got.iter().all(|v| v.is_nan()), "{kernel} d {d:#06x}");
        }
    }
}
