//! ggml's TQ1_0 (type 34): the block geometry and the scalar decoder against a literal port of
//! ggml's `dequantize_row_tq1_0` (`ggml.rs`), the decoder and packer against gguf-py's file and
//! quantizer (here), the model glue (here), the scan and pack → decode properties (`props.rs`).
//! Every kernel's parity with the scalar reference on arbitrary bytes is in `kernel_parity.rs`,
//! which runs TQ1_0 with the other formats.

mod ggml;
mod props;

use bitnet_gguf::{ggml_type, GgufBuilder, GgufError};
use bitnet_models::{pack_tq1_0, scan, FormatError, Kernel, Model, ModelError, TernaryFormat};
use half::f16;

const TQ1_0: TernaryFormat = TernaryFormat::Tq1_0;

/// gguf-py's file and its dequantized values (`testdata/third-party/make_tq1_0.py`).
static GGUF_PY: &[u8] = include_bytes!("../../../../testdata/third-party/gguf-py-tq1_0.gguf");
static GGUF_PY_VALUES: &[u8] =
    include_bytes!("../../../../testdata/third-party/gguf-py-tq1_0.f32le");

/// `SCALES_2D` and `SCALES_3D` of make_tq1_0.py: the f16 bits of each block's `d`.
const SCALES_2D: [u16; 12] = [
    0x3C00, 0xB800, 0x34CD, 0xC180, 0x0400, 0x0001, 0x8003, 0x7BFF, 0xFBFF, 0x0000, 0x8000, 0x2E66,
];
const SCALES_3D: [u16; 4] = [0x4248, 0xC500, 0x3555, 0x83FF];

/// `weights()` of make_tq1_0.py: `w[r][c] = (c*c + 3r + c//7 + seed) % 3 - 1`, all zero in a
/// block whose `d` is ±0 (gguf-py could not have quantized anything else there).
fn script_weights(rows: usize, cols: usize, seed: usize, scales: &[u16]) -> Vec<i8> {
    let mut w = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            let d = scales[(r * cols + c) / 256];
            let zero = d & 0x7FFF == 0;
            w.push(if zero {
                0
            } else {
                ((c * c + 3 * r + c / 7 + seed) % 3) as i8 - 1
            });
        }
    }
    w
}

pub(crate) fn f16s(bits: &[u16]) -> Vec<f16> {
    bits.iter().copied().map(f16::from_bits).collect()
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// Every kernel's output for `rows × cols` TQ1_0 blocks, scalar first.
pub(crate) fn every_kernel(data: &[u8], rows: usize, cols: usize) -> Vec<(Kernel, Vec<f32>)> {
    Kernel::available()
        .into_iter()
        .map(|kernel| {
            let mut out = vec![f32::from_bits(0x7FBA_DBAD); rows * cols];
            kernel
                .dequantize(TQ1_0, data, rows, cols, 1.0, &mut out)
                .unwrap();
            (kernel, out)
        })
        .collect()
}
/// Every kernel decodes gguf-py's file to exactly gguf-py's values, through `Model`.
#[test]
fn gguf_py_values_bit_for_bit() {
    let model = Model::parse(GGUF_PY).unwrap();
    assert_eq!(model.check(), [], "gguf-py's file is valid");
    let (want, _) = GGUF_PY_VALUES.as_chunks::<4>();
    let want: Vec<u32> = want.iter().map(|b| u32::from_le_bytes(*b)).collect();
    assert_eq!(want.len(), 512 * 6 + 256 * 4 + 1024 * 16);
    let tensors = [
        ("t.tq1_0", 6, 512),
        ("t.tq1_0.3d", 4, 256),
        ("t.tq1_0.bytes", 16, 1024),
    ];
    for kernel in Kernel::available() {
        let mut at = 0;
        for (name, rows, cols) in tensors {
            let index = model.index_of(name).unwrap();
            assert_eq!(model.ternary_format(index).unwrap(), Some(TQ1_0));
            let t = model.ternary(index).unwrap().unwrap();
            assert_eq!((t.rows, t.cols, t.scale), (rows, cols, 1.0));
            let got = model.decode(index, kernel).unwrap();
            let want = &want[at..at + rows * cols];
            if let Some(i) = (0..want.len()).find(|&i| got[i].to_bits() != want[i]) {
                panic!(
                    "{kernel} {name}: value {i} is {:#010x}, gguf-py gives {:#010x}",
                    got[i].to_bits(),
                    want[i]
                );
            }
            // Decoded in small chunks, the same values.
            let mut chunked = Vec::new();
            model
                .values(index)
                .unwrap()
                .for_each_chunk(kernel, 100, |c| {
                    chunked.extend_from_slice(c);
                    Ok::<(), ModelError>(())
                })
                .unwrap();
            assert_eq!(bits(&chunked), want, "{kernel} {name} in chunks");
            at += rows * cols;
        }
    }
}

/// `pack_tq1_0` of the script's weights and scales writes exactly gguf-py's bytes.
#[test]
fn pack_matches_gguf_py_quantizer() {
    let model = Model::parse(GGUF_PY).unwrap();
    for (name, rows, cols, seed, scales) in [
        ("t.tq1_0", 6, 512, 0, &SCALES_2D[..]),
        ("t.tq1_0.3d", 4, 256, 1, &SCALES_3D[..]),
    ] {
        let t = model
            .ternary(model.index_of(name).unwrap())
            .unwrap()
            .unwrap();
        let weights = script_weights(rows, cols, seed, scales);
        let packed = pack_tq1_0(&weights, rows, cols, &f16s(scales)).unwrap();
        assert_eq!(packed, t.data, "{name}");
    }
}

/// A TQ1_0 tensor in a file: `check` reports a non-finite block scale at its absolute offset.
#[test]
fn model_reports_non_finite_block_scale() {
    let weights = vec![1i8; 2 * 512];
    let scales = f16s(&[0x3C00, 0x3C00, 0x7E00, 0x3C00]);
    let mut b = GgufBuilder::new();
    b.tensor(
        "w",
        &[512, 2],
        ggml_type::TQ1_0,
        pack_tq1_0(&weights, 2, 512, &scales).unwrap(),
    );
    let bytes = b.build().unwrap();
    let model = Model::parse(&bytes).unwrap();
    let findings = model.check();
    assert_eq!(findings.len(), 1, "{findings:?}");
    let start = model.gguf().tensor_start(0).unwrap();
    match &findings[0] {
        ModelError::NonFiniteBlockScales {
            tensor,
            count,
            offset,
        } => {
            assert_eq!((tensor.as_str(), *count), ("w", 1));
            assert_eq!(*offset, start + 2 * 54 + 52);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(findings[0].code(), "block-scale-not-finite");
    let values = model.decode(0, Kernel::scalar()).unwrap();
    assert!(values[512..768].iter().all(|v| v.is_nan()));
    assert!(values[..512]
        .iter()
        .chain(&values[768..])
        .all(|&v| v == 1.0));
}

/// ggml requires whole blocks per TQ1_0 row: `ne[0] = 300` is the container's error, from
/// `Model::ternary` as from validation.
#[test]
fn model_rejects_partial_blocks() {
    let mut b = GgufBuilder::new();
    b.tensor("tq1_0.w", &[512, 1], ggml_type::TQ1_0, vec![0; 108]);
    let mut bytes = b.build().unwrap();
    // ne[0] follows the name and n_dims: make it 300.
    let at = bytes.windows(7).position(|w| w == b"tq1_0.w").unwrap() + 7 + 4;
    assert_eq!(bytes[at..at + 8], 512u64.to_le_bytes());
    bytes[at..at + 8].copy_from_slice(&300u64.to_le_bytes());
    let model = Model::parse(&bytes).unwrap();
    let expected = GgufError::NotBlockMultiple {
        tensor: "tq1_0.w".into(),
        ne0: 300,
        block: 256,
        type_name: "TQ1_0",
    };
    assert_eq!(model.ternary(0), Err(ModelError::Gguf(expected.clone())));
    assert!(matches!(
        model.decode(0, Kernel::scalar()),
        Err(bitnet_models::DecodeError::Invalid(ModelError::Gguf(
            GgufError::NotBlockMultiple { .. }
        )))
    ));
    // Reported once, by validation (not again by the tensor's own check).
    let findings = model.check();
    let expected = ModelError::Gguf(expected);
    assert_eq!(
        findings.iter().filter(|&f| *f == expected).count(),
        1,
        "{findings:?}"
    );
    assert_eq!(model.check_tensor(0), [expected]);
}

#[test]
fn wrong_arguments_are_typed_errors() {
    let kernel = Kernel::scalar();
    let cols_error = FormatError::ColsNotSupported {
        format: TQ1_0,
        cols: 300,
    };
    assert_eq!(
        kernel.dequantize(TQ1_0, &[0; 54], 1, 300, 1.0, &mut [0.0; 300]),
        Err(cols_error.clone())
    );
    assert_eq!(scan(TQ1_0, &[0; 54], 1, 300), Err(cols_error.clone()));
    assert_eq!(pack_tq1_0(&[0; 300], 1, 300, &[f16::ONE]), Err(cols_error));
    assert_eq!(
        pack_tq1_0(&[0; 512], 1, 512, &[f16::ONE]),
        Err(FormatError::WrongScaleCount {
            format: TQ1_0,
            expected: 2,
            actual: 1,
        })
    );
    assert_eq!(
        pack_tq1_0(&[2; 256], 1, 256, &[f16::ONE]),
        Err(FormatError::WrongWeightValue { index: 0, value: 2 })
    );
    assert_eq!(
        kernel.dequantize(TQ1_0, &[0; 53], 1, 256, 1.0, &mut [0.0; 256]),
        Err(FormatError::WrongDataLength {
            format: TQ1_0,
            expected: 54,
            actual: 53,
        })
    );
    assert!(matches!(
        kernel.dequantize(TQ1_0, &[0; 54], 1, 256, 0.5, &mut [0.0; 256]),
        Err(FormatError::ScaleNotApplicable { format: TQ1_0, .. })
    ));
}
