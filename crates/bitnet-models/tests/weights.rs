//! `TernaryTensor::weights_into` and `TernaryTensor::block_scales` (what the Python package's
//! `codes()` returns) against the weights and scales a test packed itself, in every format, with
//! padded rows where the format pads them; and the position of the first reserved code, worked
//! out from the layouts of docs/formats.md.

use bitnet_gguf::{ggml_type, GgufBuilder};
use bitnet_models::{
    pack_bitnet32f16, pack_bitnetcpp, pack_qk256, pack_tq1_0, pack_tq2_0, FormatError, Model,
    TernaryFormat,
};
use half::f16;

/// A deterministic weight pattern with all three values.
fn weights(n: usize) -> Vec<i8> {
    (0..n).map(|i| ((i * 7 + i / 5) % 3) as i8 - 1).collect()
}

/// `n` distinct f16 block scales, some negative.
fn scales(n: usize) -> Vec<f16> {
    (0..n)
        .map(|i| f16::from_f32((i as f32 + 1.0) * if i % 3 == 0 { -0.125 } else { 0.25 }))
        .collect()
}

/// One tensor `w` of `format`, `rows × cols`, packed from [`weights`] and (where the format has
/// them) [`scales`]: the file, the weights and the block scales.
fn file(format: TernaryFormat, rows: usize, cols: usize) -> (Vec<u8>, Vec<i8>, Vec<f16>) {
    let w = weights(rows * cols);
    let d = if format.has_block_scale() {
        scales(rows * cols.div_ceil(format.block_elems()))
    } else {
        Vec::new()
    };
    let (ty, data) = match format {
        TernaryFormat::Qk256 => (ggml_type::I2_S, pack_qk256(&w, rows, cols)),
        TernaryFormat::BitNet32F16 => (ggml_type::I2_S, pack_bitnet32f16(&w, rows, cols, &d)),
        TernaryFormat::BitnetCpp => (ggml_type::I2_S, pack_bitnetcpp(&w, rows, cols, 0.75)),
        TernaryFormat::Tq2_0 => (ggml_type::TQ2_0, pack_tq2_0(&w, rows, cols, &d)),
        TernaryFormat::Tq1_0 => (ggml_type::TQ1_0, pack_tq1_0(&w, rows, cols, &d)),
    };
    let mut b = GgufBuilder::new();
    b.tensor("w", &[cols as u64, rows as u64], ty, data.unwrap());
    (b.build().unwrap(), w, d)
}

/// Shapes each format's size alone decides (I2_S), with padded rows for QK256 and BitNet32F16
/// (GGUF itself needs whole TQ blocks per row).
const CASES: [(TernaryFormat, usize, usize); 5] = [
    (TernaryFormat::Qk256, 3, 300),
    (TernaryFormat::BitNet32F16, 2, 70),
    (TernaryFormat::BitnetCpp, 2, 384),
    (TernaryFormat::Tq2_0, 2, 512),
    (TernaryFormat::Tq1_0, 2, 512),
];

#[test]
fn weights_and_block_scales_are_what_was_packed() {
    for (format, rows, cols) in CASES {
        let (bytes, w, d) = file(format, rows, cols);
        let model = Model::parse(&bytes).unwrap();
        let t = model.ternary(0).unwrap().unwrap();
        assert_eq!(t.format, format);
        let mut out = vec![9i8; rows * cols];
        assert_eq!(t.weights_into(&mut out), Ok(None), "{format}");
        assert_eq!(out, w, "{format}");
        let got: Vec<u16> = t.block_scales().iter().map(|s| s.to_bits()).collect();
        let want: Vec<u16> = d.iter().map(|s| s.to_bits()).collect();
        assert_eq!(got, want, "{format}");
    }
}

#[test]
fn the_first_reserved_code_is_located_and_reads_as_zero() {
    // Row 1, byte 5 of block `block` set to 0b11_01_11_01: codes 1, 3, 1, 3 at shifts 0, 2, 4,
    // 6. QK256 byte 5 holds elements 5, 37, 69, 101 of the block (shift 2·(e % 128 / 32)), so
    // element 37 is the first reserved one; bitnetcpp's fields run high bits first (shift
    // 6 − 2·(e / 32)), so byte 5 holds 5 (shift 6), 37, 69, 101 (shift 0): 5 and 69 are reserved.
    // BitNet32F16 byte 5 holds elements 5, 13, 21, 29 (shift 2·(e / 8)): 13 is the first.
    // Elements past the row (QK256 block 1 of 300 columns ends at 44) are padding: not output,
    // and a reserved code there is not reported.
    for (format, rows, cols, block, first, in_byte) in [
        (TernaryFormat::Qk256, 3, 300, 0, 37, [5, 37, 69, 101]),
        (TernaryFormat::Qk256, 3, 300, 1, 37, [5, 37, 69, 101]),
        (TernaryFormat::BitnetCpp, 2, 384, 0, 5, [5, 37, 69, 101]),
        (TernaryFormat::BitnetCpp, 2, 384, 2, 5, [5, 37, 69, 101]),
        (TernaryFormat::BitNet32F16, 2, 70, 0, 13, [5, 13, 21, 29]),
        (TernaryFormat::BitNet32F16, 2, 70, 1, 13, [5, 13, 21, 29]),
        (TernaryFormat::Tq2_0, 2, 512, 1, 37, [5, 37, 69, 101]),
    ] {
        let (mut bytes, w, _) = file(format, rows, cols);
        let model = Model::parse(&bytes).unwrap();
        let start = model.gguf().tensor_start(0).unwrap() as usize;
        let row_bytes = format.row_bytes(cols as u64).unwrap() as usize;
        bytes[start + row_bytes + block * format.block_bytes() + 5] = 0b1101_1101;
        let model = Model::parse(&bytes).unwrap();
        let t = model.ternary(0).unwrap().unwrap();
        let mut out = vec![9i8; rows * cols];
        let first_col = block * format.block_elems() + first;
        assert_eq!(
            t.weights_into(&mut out),
            Ok(Some((1, first_col))),
            "{format}, block {block}"
        );
        let mut want = w.clone();
        for col in in_byte.map(|e| block * format.block_elems() + e) {
            // Code 1 (zero) or the reserved 3, which reads as zero too.
            if col < cols {
                want[cols + col] = 0;
            }
        }
        assert_eq!(out, want, "{format}, block {block}");
    }
}

#[test]
fn the_output_must_hold_every_value() {
    let (rows, cols) = (2, 384);
    let (bytes, _, _) = file(TernaryFormat::BitnetCpp, rows, cols);
    let model = Model::parse(&bytes).unwrap();
    let t = model.ternary(0).unwrap().unwrap();
    let mut short = vec![0i8; rows * cols - 1];
    assert_eq!(
        t.weights_into(&mut short),
        Err(FormatError::WrongOutputLength {
            expected: 768,
            actual: 767
        })
    );
}
