//! A model shaped like Microsoft's bitnet-b1.58-2B-4T (embedding 2560, feed-forward 6912, 20
//! heads, 5 KV heads), its q/k/v/o/gate/up/down weights packed here exactly as bitnet.cpp's
//! `quantize_i2_s` packs them, an F16 `token_embd`, F32 norms: it validates, every weight is read
//! as bitnetcpp, and every kernel decodes every weight to the weights drawn times the tensor's
//! scale, and to what a decoder written here from the layout gives.

use bitnet_gguf::{ggml_type, GgufBuilder, MetadataValue};
use bitnet_models::{Flavor, Kernel, Model};
use bitnet_testkit::rng::SplitMix64;

const EMBD: u64 = 2560;
const FF: u64 = 6912;
const HEADS: u64 = 20;
const KV_HEADS: u64 = 5;
const VOCAB: u64 = 256;
/// Two layers natively; one under emulation (aarch64, s390x) and on wasm, where it is slower.
const LAYERS: usize = if cfg!(target_arch = "x86_64") { 2 } else { 1 };

/// Packs `weights` (−1, 0, +1, row-major, `n` of them) as bitnet.cpp's `quantize_i2_s` does:
/// groups of 128, weight `j` of group `i` into byte `32i + j % 32` at shift `6 − 2(j / 32)`,
/// code `w + 1`; then the scale as f32 at byte `n / 4` and 28 bytes the quantizer leaves as they
/// were (here 0xCD, to show they are ignored).
fn quantize_i2_s(weights: &[i8], scale: f32) -> Vec<u8> {
    let n = weights.len();
    let mut out = vec![0u8; n / 4 + 32];
    for i in 0..n / 128 {
        for j in 0..128 {
            let q = (weights[i * 128 + j] + 1) as u8;
            out[i * 32 + j % 32] |= q << (6 - 2 * (j / 32));
        }
    }
    out[n / 4..n / 4 + 4].copy_from_slice(&scale.to_le_bytes());
    out[n / 4 + 4..].fill(0xCD);
    out
}

/// The layout, decoded the other way round: element `k` from its byte and shift.
fn decode(stored: &[u8], n: usize) -> Vec<f32> {
    let scale = f32::from_le_bytes(stored[n / 4..n / 4 + 4].try_into().unwrap());
    (0..n)
        .map(|k| {
            let code = (stored[32 * (k / 128) + k % 32] >> (6 - 2 * ((k % 128) / 32))) & 3;
            [-1.0f32, 0.0, 1.0, 0.0][usize::from(code)] * scale
        })
        .collect()
}

struct Weight {
    name: String,
    cols: u64,
    rows: u64,
    weights: Vec<i8>,
    scale: f32,
}

#[test]
fn a_2b4t_shaped_bitnetcpp_model_reads_exactly() {
    let mut rng = SplitMix64::new(2025);
    let kv = EMBD / HEADS * KV_HEADS;
    let mut b = GgufBuilder::new();
    b.kv("general.architecture", "bitnet-b1.58")
        .kv("general.name", "bitnet-b1.58-2B-4T-shaped")
        .kv("general.alignment", 32u32)
        .kv("general.file_type", 40u32)
        .kv(
            "tokenizer.ggml.tokens",
            MetadataValue::strings((0..VOCAB).map(|i| format!("t{i}"))),
        )
        .kv("bitnet-b1.58.embedding_length", EMBD as u32)
        .kv("bitnet-b1.58.block_count", LAYERS as u32)
        .kv("bitnet-b1.58.attention.head_count", HEADS as u32)
        .kv("bitnet-b1.58.attention.head_count_kv", KV_HEADS as u32)
        .kv("bitnet-b1.58.feed_forward_length", FF as u32);
    let embd: Vec<u8> = (0..EMBD * VOCAB)
        .flat_map(|_| {
            half::f16::from_f32((rng.next_u64() % 1000) as f32 / 1000.0 - 0.5).to_le_bytes()
        })
        .collect();
    b.tensor("token_embd.weight", &[EMBD, VOCAB], ggml_type::F16, embd);
    let norm = |n: u64| -> Vec<u8> { (0..n).flat_map(|_| 1.0f32.to_le_bytes()).collect() };
    let mut weights = Vec::new();
    for layer in 0..LAYERS {
        b.tensor(
            format!("blk.{layer}.attn_norm.weight"),
            &[EMBD],
            ggml_type::F32,
            norm(EMBD),
        );
        for (name, cols, rows) in [
            ("attn_q", EMBD, EMBD),
            ("attn_k", EMBD, kv),
            ("attn_v", EMBD, kv),
            ("attn_output", EMBD, EMBD),
            ("ffn_gate", EMBD, FF),
            ("ffn_up", EMBD, FF),
            ("ffn_down", FF, EMBD),
        ] {
            let n = (cols * rows) as usize;
            let w: Vec<i8> = (0..n).map(|_| (rng.next_u64() % 3) as i8 - 1).collect();
            // Negative scales too: a zero weight then decodes as −0.0.
            let scale = (rng.next_u64() % 2000) as f32 / 1000.0 - 1.0 + 1.0 / 1024.0;
            let weight = Weight {
                name: format!("blk.{layer}.{name}.weight"),
                cols,
                rows,
                weights: w,
                scale,
            };
            b.tensor(
                weight.name.clone(),
                &[cols, rows],
                ggml_type::I2_S,
                quantize_i2_s(&weight.weights, scale),
            );
            weights.push(weight);
        }
        b.tensor(
            format!("blk.{layer}.attn_sub_norm.weight"),
            &[EMBD],
            ggml_type::F32,
            norm(EMBD),
        );
        b.tensor(
            format!("blk.{layer}.ffn_norm.weight"),
            &[EMBD],
            ggml_type::F32,
            norm(EMBD),
        );
        b.tensor(
            format!("blk.{layer}.ffn_sub_norm.weight"),
            &[FF],
            ggml_type::F32,
            norm(FF),
        );
    }
    b.tensor("output_norm.weight", &[EMBD], ggml_type::F32, norm(EMBD));
    let bytes = b.build().unwrap();

    let model = Model::parse(&bytes).unwrap();
    let findings = model.check();
    assert!(findings.is_empty(), "{findings:?}");
    assert_eq!(model.gguf().tensors().len(), 2 + 11 * LAYERS);
    for w in &weights {
        let i = model.index_of(&w.name).unwrap();
        assert_eq!(
            model.flavor(i).unwrap(),
            Some(Flavor::BitnetCpp),
            "{}",
            w.name
        );
        let n = (w.cols * w.rows) as usize;
        assert_eq!(model.byte_size(i), Some(n as u64 / 4 + 32));
        let t = model.ternary(i).unwrap().unwrap();
        let independent = decode(t.stored, n);
        for (k, v) in independent.iter().enumerate() {
            let want = f32::from(w.weights[k]) * w.scale;
            assert_eq!(v.to_bits(), want.to_bits(), "{} value {k}", w.name);
        }
        for kernel in Kernel::available() {
            let out = model.decode(i, kernel).unwrap();
            assert_eq!(out.len(), n);
            let first_diff = out
                .iter()
                .zip(&independent)
                .position(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(first_diff, None, "{} with {kernel}", w.name);
        }
    }
}
