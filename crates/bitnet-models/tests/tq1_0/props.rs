//! The scan's only finding, and properties: pack → decode, any bytes.

use bitnet_models::{pack_tq1_0, scan, scan_reference, Kernel};
use half::f16;
use proptest::prelude::*;

use super::ggml::ggml_dequantize_row;
use super::{every_kernel, f16s, TQ1_0};

/// The scan's only finding is a non-finite `d`, at the right block, and it agrees with the
/// reference whatever the code bytes.
#[test]
fn scan_finds_only_non_finite_scales() {
    let mut data = vec![0u8; 6 * 54];
    for (k, block) in data.chunks_exact_mut(54).enumerate() {
        for (p, byte) in block[..52].iter_mut().enumerate() {
            *byte = (k * 91 + p * 13) as u8 | 0xC0; // high bytes: a 2-bit reading would see 3s
        }
        let d: u16 = [0x3C00, 0x7C00, 0x3C00, 0xFE00, 0x0000, 0x7C01][k];
        block[52..].copy_from_slice(&d.to_le_bytes());
    }
    for (rows, cols) in [(6, 256), (3, 512), (1, 1536)] {
        let report = scan(TQ1_0, &data, rows, cols).unwrap();
        assert_eq!(report, scan_reference(TQ1_0, &data, rows, cols).unwrap());
        assert_eq!(report.reserved_codes, 0);
        assert_eq!(report.first_reserved_byte, None);
        assert_eq!(report.bad_padding_codes, 0);
        assert_eq!(report.non_finite_scales, 3);
        assert_eq!(report.first_non_finite_block, Some(1));
        assert!(!report.is_clean());
    }
    // Many blocks, so the fast path's spans are exercised: clean, then one bad d far in.
    let weights: Vec<i8> = (0..300 * 256).map(|i| (i % 3) as i8 - 1).collect();
    let scales = vec![f16::from_f32(0.5); 300];
    let mut data = pack_tq1_0(&weights, 300, 256, &scales).unwrap();
    let report = scan(TQ1_0, &data, 300, 256).unwrap();
    assert!(report.is_clean());
    assert_eq!(report, scan_reference(TQ1_0, &data, 300, 256).unwrap());
    data[217 * 54 + 53] = 0x7C;
    let report = scan(TQ1_0, &data, 300, 256).unwrap();
    assert_eq!(report, scan_reference(TQ1_0, &data, 300, 256).unwrap());
    assert_eq!(
        (report.non_finite_scales, report.first_non_finite_block),
        (1, Some(217))
    );
}
/// The case count from `PROPTEST_CASES` (CI can raise it); under Miri at most 4 cases and no
/// failure-persistence file.
fn proptest_config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if cfg!(miri) {
        config.cases = config.cases.min(4);
        config.failure_persistence = None;
    }
    config
}

fn tensor() -> impl Strategy<Value = (usize, usize, Vec<i8>, Vec<u16>)> {
    (1usize..4, 1usize..4).prop_flat_map(|(rows, blocks)| {
        let cols = blocks * 256;
        (
            Just(rows),
            Just(cols),
            proptest::collection::vec(-1i8..=1, rows * cols),
            proptest::collection::vec(any::<u16>(), rows * blocks),
        )
    })
}

proptest! {
    #![proptest_config(proptest_config())]

    /// Pack → decode gives `w × d` (one multiplication) in every kernel, and the scan counts
    /// exactly the non-finite scales.
    #[test]
    fn pack_then_decode_round_trips((rows, cols, weights, scales) in tensor()) {
        let data = pack_tq1_0(&weights, rows, cols, &f16s(&scales)).unwrap();
        prop_assert_eq!(data.len(), rows * cols / 256 * 54);
        for (kernel, got) in every_kernel(&data, rows, cols) {
            for (i, (&w, g)) in weights.iter().zip(&got).enumerate() {
                let d = f16::from_bits(scales[i / 256]).to_f32();
                let want = f32::from(w) * d;
                prop_assert!(
                    g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                    "{} value {}: {} vs {}", kernel, i, g, want
                );
            }
        }
        let report = scan(TQ1_0, &data, rows, cols).unwrap();
        prop_assert_eq!(report, scan_reference(TQ1_0, &data, rows, cols).unwrap());
        let non_finite = scales.iter().filter(|&&d| d & 0x7C00 == 0x7C00).count();
        prop_assert_eq!(report.non_finite_scales, non_finite as u64);
        prop_assert_eq!(report.reserved_codes + report.bad_padding_codes, 0);
    }

    /// Any bytes: the scan agrees with its reference, and the scalar decoder with ggml's loops.
    #[test]
    fn any_bytes_scan_and_decode(
        (rows, cols, data) in (1usize..4, 1usize..3).prop_flat_map(|(rows, blocks)| (
            Just(rows),
            Just(blocks * 256),
            proptest::collection::vec(any::<u8>(), rows * blocks * 54),
        ))
    ) {
        prop_assert_eq!(
            scan(TQ1_0, &data, rows, cols).unwrap(),
            scan_reference(TQ1_0, &data, rows, cols).unwrap()
        );
        let mut want = Vec::new();
        ggml_dequantize_row(&data, &mut want);
        let mut got = vec![0.0; rows * cols];
        Kernel::scalar().dequantize(TQ1_0, &data, rows, cols, 1.0, &mut got).unwrap();
        for (g, w) in got.iter().zip(&want) {
            prop_assert!(g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()));
        }
    }
}
