//! `bitnet_models::convert` and `bitnet_models::diff`, in memory: every direction between the
//! five formats decoded by every kernel against the weights and scales packed here; the plan's
//! tensors, metadata and summary; where `.scale` siblings appear and go; special scales; every
//! refusal as a typed error.

use bitnet_gguf::{ggml_type, Gguf, GgufBuilder, MetadataValue, TensorSpec};
use bitnet_models::convert::{ConvertError, Options, Plan, Sink, Summary};
use bitnet_models::diff::{diff, Outcome};
use bitnet_models::{Kernel, Model, TernaryFormat};
use bitnet_testkit::weight::TernaryWeight;
use half::f16;

use TernaryFormat::{BitNet32F16, BitnetCpp, Qk256, Tq1_0, Tq2_0};

/// A ternary weight; stored in a TQ format with block scale `tq_d` and a sibling `scale / tq_d`.
type W = TernaryWeight;

fn w(name: &'static str, cols: usize, rows: usize, scale: f32, tq_d: f32) -> W {
    TernaryWeight::new(name, cols, rows, scale, tq_d)
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Adds `w` stored in `format` to `b` (and its `.scale` sibling for QK256 and TQ).
fn add(b: &mut GgufBuilder, format: TernaryFormat, w: &W) {
    let (rows, cols) = (w.rows, w.cols);
    let n256 = rows * cols.div_ceil(256);
    let (ty, data, sibling) = match format {
        Qk256 => (
            ggml_type::I2_S,
            bitnet_models::pack_qk256(&w.weights, rows, cols).unwrap(),
            Some(w.scale),
        ),
        BitNet32F16 => {
            let d = vec![f16::from_f32(w.scale); rows * cols.div_ceil(32)];
            let data = bitnet_models::pack_bitnet32f16(&w.weights, rows, cols, &d).unwrap();
            (ggml_type::I2_S, data, None)
        }
        BitnetCpp => (
            ggml_type::I2_S,
            bitnet_models::pack_bitnetcpp(&w.weights, rows, cols, w.scale).unwrap(),
            None,
        ),
        Tq2_0 => {
            let d = vec![f16::from_f32(w.tq_d); n256];
            let data = bitnet_models::pack_tq2_0(&w.weights, rows, cols, &d).unwrap();
            (ggml_type::TQ2_0, data, Some(w.scale / w.tq_d))
        }
        Tq1_0 => {
            let d = vec![f16::from_f32(w.tq_d); n256];
            let data = bitnet_models::pack_tq1_0(&w.weights, rows, cols, &d).unwrap();
            (ggml_type::TQ1_0, data, Some(w.scale / w.tq_d))
        }
    };
    b.tensor(w.name, &[cols as u64, rows as u64], ty, data);
    if let Some(s) = sibling {
        b.tensor(w.sibling(), &[1], ggml_type::F32, f32_bytes(&[s]));
    }
}

/// The weights of [`model`]: scales exactly f16, TQ `d` times sibling exact.
fn weights() -> Vec<W> {
    vec![
        w("blk.0.attn_q.weight", 256, 32, 0.5, 1.0),
        w("blk.0.ffn_down.weight", 768, 8, -0.75, 0.5),
        w("blk.0.ffn_up.weight", 512, 8, 1.25, -0.625),
    ]
}

/// A `bitnet-b1.58` model: an F16 embedding, an F32 norm, then [`weights`] in `format`.
fn model(format: TernaryFormat, weights: &[W]) -> Vec<u8> {
    let mut b = GgufBuilder::new();
    b.kv("general.architecture", "bitnet-b1.58")
        .kv("general.name", "mini")
        .kv("general.alignment", 32u32)
        .kv("tokenizer.ggml.tokens", MetadataValue::strings(["a", "b"]))
        .kv("bitnet-b1.58.embedding_length", 256u32)
        .kv("bitnet-b1.58.block_count", 1u32)
        .kv("bitnet-b1.58.attention.head_count", 1u32)
        .kv("bitnet-b1.58.attention.head_count_kv", 1u32)
        .kv("bitnet-b1.58.feed_forward_length", 512u32);
    let embd: Vec<u8> = (0..256 * 2)
        .flat_map(|i| f16::from_f32(i as f32 / 8.0 - 30.0).to_le_bytes())
        .collect();
    b.tensor("token_embd.weight", &[256, 2], ggml_type::F16, embd);
    b.tensor(
        "blk.0.attn_norm.weight",
        &[256],
        ggml_type::F32,
        f32_bytes(&[0.25; 256]),
    );
    for w in weights {
        add(&mut b, format, w);
    }
    b.build().unwrap()
}

fn options(target: TernaryFormat) -> Options {
    Options { target, arch: None }
}

/// A sink that writes to memory and records what `Sink::reserve` was told: the length, and
/// how many bytes had been written by then.
#[derive(Default)]
struct Told {
    out: Vec<u8>,
    reserved: Vec<(u64, usize)>,
}

impl std::io::Write for Told {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.out.write(bytes)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink for Told {
    fn reserve(&mut self, len: u64) {
        self.reserved.push((len, self.out.len()));
    }
}

/// Converts `bytes` to `target` in memory; the output, its summary, and the bytes `progress`
/// was told about.
fn convert(bytes: &[u8], options: &Options) -> Result<(Vec<u8>, Summary, u64), ConvertError> {
    let model = Model::parse(bytes).unwrap();
    let plan = Plan::new(&model, options)?;
    let mut progress = 0;
    let (told, summary) = plan.write(Told::default(), |read| progress += read.len() as u64)?;
    let out = told.out;
    // What the plan announced is what was written; the output was told its length once,
    // when no more than the header had been written.
    let written = Model::parse(&out).unwrap();
    let data_offset = written.gguf().data_offset();
    assert_eq!(told.reserved.len(), 1);
    assert_eq!(told.reserved[0].0, out.len() as u64);
    assert!(
        told.reserved[0].1 as u64 <= data_offset,
        "{:?}",
        told.reserved
    );
    let specs: Vec<TensorSpec> = written
        .gguf()
        .tensors()
        .iter()
        .enumerate()
        .map(|(i, t)| TensorSpec {
            name: t.name.to_owned(),
            ne: t.ne().to_vec(),
            ggml_type: t.ggml_type,
            size: written.byte_size(i).unwrap(),
        })
        .collect();
    assert_eq!(specs, plan.tensors());
    let metadata: Vec<(String, MetadataValue)> = written
        .gguf()
        .metadata()
        .iter()
        .map(|e| (e.key.to_owned(), e.value.to_owned_value()))
        .collect();
    assert_eq!(metadata, plan.metadata());
    Ok((out, summary, progress))
}

/// Tensor `name` of `bytes` decoded by every kernel (which agree), as bits.
fn decoded(bytes: &[u8], name: &str) -> Vec<u32> {
    let model = Model::parse(bytes).unwrap();
    let i = model.index_of(name).unwrap();
    let bits = |k: Kernel| -> Vec<u32> {
        model
            .decode(i, k)
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    let scalar = bits(Kernel::scalar());
    for k in Kernel::available() {
        assert!(bits(k) == scalar, "{name}: kernel {} differs", k.name());
    }
    scalar
}

fn sibling_value(bytes: &[u8], name: &str) -> Option<f32> {
    let model = Model::parse(bytes).unwrap();
    let i = model.gguf().tensor(name)?.0;
    Some(model.decode(i, Kernel::scalar()).unwrap()[0])
}

#[test]
fn every_direction_decodes_to_the_weights_times_the_scale() {
    let ws = weights();
    for source in TernaryFormat::ALL {
        let input = model(source, &ws);
        let in_model = Model::parse(&input).unwrap();
        for target in TernaryFormat::ALL {
            let what = format!("{source} -> {target}");
            let (out, summary, progress) = convert(&input, &options(target)).unwrap();
            let keeps = match target {
                Qk256 => true,
                Tq2_0 | Tq1_0 => source != BitNet32F16,
                BitNet32F16 | BitnetCpp => false,
            };
            let source_siblings = matches!(source, Qk256 | Tq2_0 | Tq1_0);
            // Each of these tensors is one step and one chunk. For each worker (one per chunk
            // at most; one's worth where no thread can be started, as on wasm32), the largest step's codes on each side (a byte per value) and target
            // block scales (two bytes each), and two of the largest chunk's blocks.
            let step = ws
                .iter()
                .map(|w| {
                    let blocks = if target.has_block_scale() {
                        w.rows as u64 * target.blocks_per_row(w.cols as u64)
                    } else {
                        0
                    };
                    2 * (w.rows * w.cols) as u64 + 2 * blocks
                })
                .max()
                .unwrap();
            let chunk = ws
                .iter()
                .map(|w| target.data_bytes(w.rows as u64, w.cols as u64).unwrap())
                .max()
                .unwrap();
            assert!(summary.workers <= ws.len(), "{summary:?}");
            let largest = summary.workers.max(1) as u64 * (step + 2 * chunk);
            assert_eq!(
                summary,
                Summary {
                    converted: 3,
                    copied: 2,
                    scales_written: if keeps { 3 } else { 0 },
                    scales_dropped: if source_siblings && !keeps { 3 } else { 0 },
                    buffer_bytes: largest,
                    workers: summary.workers,
                },
                "{what}"
            );
            // Progress accounts for every input tensor but the siblings.
            let g = in_model.gguf();
            let counted: u64 = (0..g.tensors().len())
                .filter(|&i| !g.tensors()[i].name.ends_with(".scale"))
                .map(|i| in_model.byte_size(i).unwrap())
                .sum();
            assert_eq!(progress, counted, "{what}");

            let out_model = Model::parse(&out).unwrap();
            assert!(
                !bitnet_models::has_errors(&out_model.check()),
                "{what}: {:?}",
                out_model.check()
            );
            for w in &ws {
                let i = out_model.index_of(w.name).unwrap();
                assert_eq!(out_model.ternary_format(i).unwrap(), Some(target), "{what}");
                assert!(
                    decoded(&out, w.name) == w.expected_bits(),
                    "{what}: {}",
                    w.name
                );
                assert_eq!(
                    out_model.gguf().tensor(&w.sibling()).is_some(),
                    keeps,
                    "{what}"
                );
            }
            for name in ["token_embd.weight", "blk.0.attn_norm.weight"] {
                assert_eq!(decoded(&out, name), decoded(&input, name), "{what}");
            }
            // And the library's diff agrees.
            for kernel in Kernel::available() {
                let d = diff(&in_model, &out_model, kernel).unwrap();
                assert!(d.tensors_equal(), "{what}: {d:?}");
                assert_eq!(d.shared.len(), 5, "{what}");
                for t in &d.shared {
                    assert!(
                        matches!(t.outcome, Outcome::Values { differing: 0, .. }),
                        "{what}: {t:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn file_type_and_architecture() {
    let input = model(Qk256, &weights());
    let key_list = |bytes: &[u8]| -> Vec<(String, MetadataValue)> {
        let m = Model::parse(bytes).unwrap();
        m.gguf()
            .metadata()
            .iter()
            .map(|e| (e.key.to_owned(), e.value.to_owned_value()))
            .collect()
    };
    let source = key_list(&input);
    for (target, ft) in [
        (Tq1_0, Some(36u32)),
        (Tq2_0, Some(37)),
        (BitnetCpp, Some(40)),
        (Qk256, None),
        (BitNet32F16, None),
    ] {
        let (out, ..) = convert(&input, &options(target)).unwrap();
        let mut want = source.clone();
        if let Some(ft) = ft {
            want.insert(1, ("general.file_type".into(), MetadataValue::U32(ft)));
        }
        assert_eq!(key_list(&out), want, "{target}");

        // An existing general.file_type is replaced in place (or kept).
        let (out2, ..) = convert(&out, &options(Tq2_0)).unwrap();
        let got = key_list(&out2);
        assert_eq!(got[1], ("general.file_type".into(), MetadataValue::U32(37)));
        assert_eq!(got.len(), source.len() + 1);
        let (out3, ..) = convert(&out2, &options(Qk256)).unwrap();
        assert_eq!(key_list(&out3), got, "QK256 keeps the file type");
    }

    // --arch: the architecture and its keys renamed, in place.
    let opts = Options {
        target: Tq2_0,
        arch: Some("bitnet".into()),
    };
    let (out, ..) = convert(&input, &opts).unwrap();
    let got: Vec<String> = key_list(&out).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        got,
        [
            "general.architecture",
            "general.file_type",
            "general.name",
            "general.alignment",
            "tokenizer.ggml.tokens",
            "bitnet.embedding_length",
            "bitnet.block_count",
            "bitnet.attention.head_count",
            "bitnet.attention.head_count_kv",
            "bitnet.feed_forward_length",
        ]
    );
    assert_eq!(key_list(&out)[0].1, MetadataValue::String("bitnet".into()));
    assert_eq!(key_list(&out)[5].1, MetadataValue::U32(256));
}

#[test]
fn where_scale_siblings_appear_and_go() {
    // A tensor scale of exactly 1.0: QK256 and TQ write a sibling only if the source had one.
    let mut one = weights();
    for w in &mut one {
        w.scale = 1.0;
        w.tq_d = 1.0;
    }
    let cpp = model(BitnetCpp, &one);
    let qk = model(Qk256, &one);
    for target in [Qk256, Tq2_0, Tq1_0] {
        let (out, summary, _) = convert(&cpp, &options(target)).unwrap();
        assert_eq!(summary.scales_written, 0, "{target}");
        assert_eq!(sibling_value(&out, "blk.0.attn_q.scale"), None, "{target}");
        for w in &one {
            assert!(decoded(&out, w.name) == w.expected_bits());
        }
        let (out, summary, _) = convert(&qk, &options(target)).unwrap();
        assert_eq!(summary.scales_written, 3, "{target}");
        assert_eq!(summary.scales_dropped, 0, "{target}");
        assert_eq!(sibling_value(&out, "blk.0.attn_q.scale"), Some(1.0));
    }

    // A sibling stored before its weight: it moves right after it (or goes).
    let w0 = w("blk.0.attn_q.weight", 256, 8, -0.75, 1.0);
    let mut b = GgufBuilder::new();
    b.kv("general.architecture", "test");
    b.tensor(
        "blk.0.attn_q.scale",
        &[1],
        ggml_type::F32,
        f32_bytes(&[-0.75]),
    );
    b.tensor("other", &[4], ggml_type::F32, f32_bytes(&[1.0; 4]));
    b.tensor(
        w0.name,
        &[256, 8],
        ggml_type::I2_S,
        bitnet_models::pack_qk256(&w0.weights, 8, 256).unwrap(),
    );
    let input = b.build().unwrap();
    assert!(decoded(&input, w0.name) == w0.expected_bits());
    for target in TernaryFormat::ALL {
        let (out, summary, _) = convert(&input, &options(target)).unwrap();
        let names: Vec<String> = Model::parse(&out)
            .unwrap()
            .gguf()
            .tensors()
            .iter()
            .map(|t| t.name.to_owned())
            .collect();
        let mut want = vec!["other", w0.name];
        if matches!(target, Qk256 | Tq2_0 | Tq1_0) {
            want.push("blk.0.attn_q.scale");
        }
        assert_eq!(names, want, "{target}");
        assert_eq!(summary.scales_dropped, 3 - want.len(), "{target}");
        assert!(decoded(&out, w0.name) == w0.expected_bits(), "{target}");
    }
}

#[test]
fn special_scales_convert_exactly_or_are_refused() {
    // −0.0 (zero weights decode to −0.0 and +0.0 in turn), 0.0, the smallest f16 subnormal, the
    // largest f16, and an f32 subnormal (no f16: BitNet32F16 refuses it).
    let f16_min = f16::from_bits(1).to_f32();
    for (scale, f16_ok) in [
        (-0.0f32, true),
        (0.0, true),
        (f16_min, true),
        (-65504.0, true),
        (1e-40, false),
        (0.7228557, false),
    ] {
        let ws = vec![w("blk.0.attn_q.weight", 256, 8, scale, 1.0)];
        for source in [Qk256, BitnetCpp] {
            let input = model(source, &ws);
            for target in TernaryFormat::ALL {
                let what = format!("{scale:e}: {source} -> {target}");
                match convert(&input, &options(target)) {
                    Ok((out, ..)) => {
                        assert!(f16_ok || target != BitNet32F16, "{what}: not refused");
                        assert!(decoded(&out, ws[0].name) == ws[0].expected_bits(), "{what}");
                    }
                    Err(ConvertError::NotExact {
                        tensor,
                        target: t,
                        reason,
                    }) => {
                        assert!(!f16_ok && target == BitNet32F16, "{what}: {reason}");
                        assert_eq!(tensor, "blk.0.attn_q.weight");
                        assert_eq!(t, target);
                        assert!(reason.contains("is not exactly an f16"), "{reason}");
                    }
                    Err(e) => panic!("{what}: {e}"),
                }
            }
        }
    }
}

/// The refusal of converting `bytes` to `target`: its tensor and reason.
fn refusal(bytes: &[u8], target: TernaryFormat) -> (String, String) {
    match convert(bytes, &options(target)) {
        Err(ConvertError::NotExact {
            tensor,
            target: t,
            reason,
        }) => {
            assert_eq!(t, target);
            (tensor, reason)
        }
        Err(e) => panic!("-> {target}: {e}"),
        Ok(_) => panic!("-> {target}: converted"),
    }
}

#[test]
fn refusals_name_the_tensor_and_the_reason() {
    // 640 columns: not TQ.
    let mut ws = weights();
    ws.push(w("blk.0.ffn_gate.weight", 640, 4, 0.5, 1.0));
    for source in [Qk256, BitNet32F16, BitnetCpp] {
        let bytes = model(source, &ws);
        for target in [Tq2_0, Tq1_0] {
            let (tensor, reason) = refusal(&bytes, target);
            assert_eq!(tensor, "blk.0.ffn_gate.weight");
            assert_eq!(
                reason,
                format!("its rows have 640 columns, and {target} needs a multiple of 256")
            );
        }
    }
    // 384 columns: not QK256 → TQ either (a multiple of 128 but not of 256).
    let bytes = model(BitnetCpp, &[w("blk.0.attn_q.weight", 384, 4, 0.5, 1.0)]);
    for target in [Tq2_0, Tq1_0] {
        assert_eq!(refusal(&bytes, target).0, "blk.0.attn_q.weight");
    }
    // 300 columns: not bitnetcpp (nor TQ).
    let bytes = model(Qk256, &[w("blk.0.attn_q.weight", 300, 4, 0.5, 1.0)]);
    let (_, reason) = refusal(&bytes, BitnetCpp);
    assert_eq!(
        reason,
        "its rows have 300 columns, and bitnetcpp needs a multiple of 128"
    );

    // Reserved codes, from every source that can hold one, to every target.
    for (source, offset) in [(Qk256, 9), (BitNet32F16, 12), (BitnetCpp, 33), (Tq2_0, 70)] {
        let mut bytes = model(source, &weights());
        let m = Model::parse(&bytes).unwrap();
        let i = m.index_of("blk.0.ffn_up.weight").unwrap();
        let at = m.gguf().tensor_start(i).unwrap() as usize + offset;
        bytes[at] = 0xff;
        for target in TernaryFormat::ALL {
            let (tensor, reason) = refusal(&bytes, target);
            assert_eq!(tensor, "blk.0.ffn_up.weight", "{source} -> {target}");
            assert_eq!(
                reason,
                "4 element(s) hold the reserved code 3, which has no value to convert"
            );
        }
    }

    // An input that cannot be read: an ambiguous flavor.
    let mut b = GgufBuilder::new();
    b.tensor("a", &[160, 1], ggml_type::I2_S, vec![0x55; 64]);
    let bytes = b.build().unwrap();
    let model = Model::parse(&bytes).unwrap();
    assert!(matches!(
        Plan::new(&model, &options(Tq2_0)),
        Err(ConvertError::Invalid(_))
    ));
}

#[test]
fn an_i2s_output_whose_flavor_cannot_be_told_is_refused() {
    // One 512 × 1 weight: 16 BitNet32F16 blocks of 10 bytes = 160 = 512 / 4 codes + the 32-byte
    // bitnetcpp tail; as QK256 it is 2 × 64 = 128 bytes, which nothing else fits.
    let lone = [w("blk.0.ffn_gate.weight", 512, 1, 0.5, 1.0)];
    let bytes = model(Tq2_0, &lone);
    for target in [BitNet32F16, BitnetCpp] {
        let (tensor, reason) = refusal(&bytes, target);
        assert_eq!(tensor, "blk.0.ffn_gate.weight");
        assert_eq!(
            reason,
            format!(
                "its 160 bytes would also fit another i2_s flavor, and no tensor of the output \
                 fits {target} alone, so a reader could not tell its flavor"
            )
        );
    }
    let (out, _, _) = convert(&bytes, &options(Qk256)).unwrap();
    assert_eq!(
        decoded(&out, "blk.0.ffn_gate.weight"),
        lone[0].expected_bits()
    );
    // Beside a tensor that fits the target alone, the file's flavor is decided: the same weight
    // converts, and reads back.
    let mut ws = weights();
    ws.extend(lone.iter().cloned());
    let bytes = model(Tq2_0, &ws);
    for target in [BitNet32F16, BitnetCpp] {
        let (out, _, _) = convert(&bytes, &options(target)).unwrap();
        assert_eq!(
            decoded(&out, "blk.0.ffn_gate.weight"),
            lone[0].expected_bits()
        );
    }
}

#[test]
fn a_file_without_ternary_tensors_is_copied() {
    let mut b = GgufBuilder::new();
    b.kv("general.architecture", "test");
    b.tensor("x", &[3], ggml_type::F32, f32_bytes(&[1.0, -0.0, 2.5]));
    b.tensor("x.scale", &[1], ggml_type::F32, f32_bytes(&[3.0]));
    let input = b.build().unwrap();
    for target in TernaryFormat::ALL {
        let (out, summary, _) = convert(&input, &options(target)).unwrap();
        assert_eq!(
            summary,
            Summary {
                copied: 2,
                ..Summary::default()
            }
        );
        let a = Model::parse(&input).unwrap();
        let b = Model::parse(&out).unwrap();
        assert!(diff(&a, &b, Kernel::scalar()).unwrap().tensors_equal());
    }
}

#[test]
fn the_alignment_is_kept() {
    let ws = weights();
    for source in [Qk256, BitnetCpp, Tq1_0] {
        let mut b = GgufBuilder::new();
        b.kv("general.architecture", "test")
            .kv("general.alignment", 64u32);
        b.tensor("n", &[3], ggml_type::F32, f32_bytes(&[1.0, 2.0, 3.0]));
        for w in &ws {
            add(&mut b, source, w);
        }
        let input = b.build().unwrap();
        for target in TernaryFormat::ALL {
            let (out, ..) = convert(&input, &options(target)).unwrap();
            let m = Model::parse(&out).unwrap();
            assert_eq!(m.gguf().alignment(), 64);
            for i in 0..m.gguf().tensors().len() {
                assert_eq!(m.gguf().tensor_start(i).unwrap() % 64, 0);
            }
            for w in &ws {
                assert!(
                    decoded(&out, w.name) == w.expected_bits(),
                    "{source} -> {target}"
                );
            }
        }
    }
}

/// A `.scale` tensor beside a weight that ignores it (bitnetcpp, BitNet32F16) is the user's data,
/// not a scale: it is copied to targets that write no sibling, and a target that would write one
/// under that name refuses rather than replace it. `diff` compares it as a tensor.
#[test]
fn an_ignored_sibling_is_kept_or_refused() {
    let w0 = w("blk.0.attn_q.weight", 256, 4, 0.5, 1.0);
    // Not even a valid scale: an F32 [4], which a reader of the bitnetcpp weight never looks at.
    let stray = f32_bytes(&[9.0, 8.0, 7.0, 6.0]);
    for source in [BitnetCpp, BitNet32F16] {
        let mut b = GgufBuilder::new();
        b.kv("general.architecture", "test");
        add(&mut b, source, &w0);
        b.tensor(w0.sibling(), &[4], ggml_type::F32, stray.clone());
        let input = b.build().unwrap();
        // Targets that ignore it too.
        for target in [BitnetCpp, BitNet32F16] {
            let (out, summary, _) = convert(&input, &options(target)).unwrap();
            assert_eq!(summary.scales_dropped, 0, "{source} -> {target}");
            assert_eq!(summary.copied, 1, "{source} -> {target}");
            let g = Gguf::parse(&out).unwrap();
            let (i, t) = g.tensor(&w0.sibling()).expect("the stray tensor is kept");
            assert_eq!(t.ne(), &[4]);
            assert_eq!(g.tensor_data(i).unwrap(), &stray[..]);
            assert!(decoded(&out, w0.name) == w0.expected_bits());
            let (a, b) = (Model::parse(&input).unwrap(), Model::parse(&out).unwrap());
            let d = diff(&a, &b, Kernel::scalar()).unwrap();
            assert!(d.tensors_equal(), "{source} -> {target}");
            // Compared as a tensor of its own.
            assert!(
                d.shared.iter().any(|t| t.name == w0.sibling()),
                "{source} -> {target}"
            );
        }
        // Targets that would read it as the weight's scale.
        for target in [Qk256, Tq2_0, Tq1_0] {
            let (tensor, reason) = refusal(&input, target);
            assert_eq!(tensor, w0.name);
            assert!(
                reason.contains("blk.0.attn_q.scale") && reason.contains("ignores"),
                "{source} -> {target}: {reason}"
            );
            assert!(reason.contains("as the weight's scale"), "{reason}");
        }
    }
}

/// A tensor many steps and chunks long converts with buffers of a step and two chunks per
/// worker, not of the tensor: 8 Mi values (8 MiB of codes, 2 MiB as bitnetcpp) → TQ2_0.
#[test]
fn memory_does_not_grow_with_the_tensor() {
    let (rows, cols) = (8192, 1024);
    let big = w("blk.0.ffn_up.weight", cols, rows, 0.5, 1.0);
    let input = model(BitnetCpp, std::slice::from_ref(&big));
    let (out, summary, _) = convert(&input, &options(Tq2_0)).unwrap();
    // A step is 64 rows here (64 Ki values): both sides' codes and 256 block scales (two bytes
    // each); a chunk 1024 rows (1 Mi values): 1024 × 4 blocks of 66 bytes. For each worker
    // (eight chunks: as many as the machine has processors, up to four; one's worth where no
    // thread can be started), a step and two chunks.
    let step = 2 * 64 * cols as u64 + 2 * 256;
    let chunk = 1024 * 4 * 66;
    assert!(summary.workers <= 4, "{summary:?}");
    let workers = summary.workers.max(1) as u64;
    assert_eq!(summary.buffer_bytes, workers * (step + 2 * chunk));
    // And the output is right: the weights, values 0.5 × w, through the reader.
    let model = Model::parse(&out).unwrap();
    let i = model
        .gguf()
        .tensors()
        .iter()
        .position(|t| t.name == big.name)
        .unwrap();
    let values = model.decode(i, Kernel::scalar()).unwrap();
    let want: Vec<f32> = big.weights.iter().map(|&x| f32::from(x) * 0.5).collect();
    assert!(values == want);
}

/// A TQ source's block scale times its `.scale` tensor becomes BitNet32F16's `d` when the
/// product is an f16 (the sum would not be: 1 + 2⁻²⁰), and is refused when it is not; a
/// one-block TQ2_0 tensor's scale (d × sibling) becomes QK256's (as bitnetcpp, 96 bytes would
/// also fit BitNet32F16, and the output is refused).
#[test]
fn a_second_factor_goes_into_the_block_scale_or_is_refused() {
    let tiny = 2f32.powi(-20);
    let ws = vec![w("blk.0.attn_q.weight", 256, 8, tiny, 1.0)];
    let input = model(Tq2_0, &ws);
    let (out, ..) = convert(&input, &options(BitNet32F16)).unwrap();
    assert!(decoded(&out, ws[0].name) == ws[0].expected_bits());

    let ws = vec![w("blk.0.attn_q.weight", 256, 8, 0.7228557, 1.0)];
    let (tensor, reason) = refusal(&model(Tq2_0, &ws), BitNet32F16);
    assert_eq!(tensor, "blk.0.attn_q.weight");
    assert_eq!(
        reason,
        "row 0: the scale 7.228557e-1 (block scale times the .scale tensor) is not exactly an f16"
    );

    // One block: d = 0.5 and a sibling of 1.5, so the one scale is 0.75.
    let one = vec![w("blk.0.attn_q.weight", 256, 1, 0.75, 0.5)];
    let input = model(Tq2_0, &one);
    let (out, ..) = convert(&input, &options(Qk256)).unwrap();
    assert!(decoded(&out, one[0].name) == one[0].expected_bits());
}
