//! `cargo xtask gen-model --shape mini|2b4t --flavor F [--seed N] [--arch NAME] --out PATH`: a
//! seeded synthetic model with real BitNet b1.58 layer names and shapes (docs/xtask.md), so
//! loaders, `convert` and engines can be tested on realistic files without a download.
//!
//! `2b4t` has the shapes of Microsoft's bitnet-b1.58-2B-4T (30 layers, embedding 2560,
//! feed-forward 6912, vocabulary 128256, 20 heads, 5 KV heads): 210 ternary weights, an F16
//! `token_embd`, F32 norms including `attn_sub_norm` and `ffn_sub_norm`, 332 tensors (about
//! 1.2 GB as bitnetcpp). `mini` has the same structure, small.
//!
//! Every ternary tensor gets one scale, an f16 value (so every conversion between the ternary
//! formats can be exact): QK256 as its `.scale` tensor, bitnetcpp in its tail, BitNet32F16 in
//! every block, TQ2_0 as `.scale` tensor with block scales 1.0 (as mainline llama.cpp's BitNet
//! models do). The codes are random bytes whose 2-bit fields are all valid (0, 1, 2): any such
//! byte is a valid code byte in every 2-bit layout, so the weights need no packing. Content
//! comes from one `ChaCha8Rng` per tensor (seed, tensor index). The file is streamed through
//! `GgufWriter` into a temporary file beside PATH, then renamed: memory stays a few MiB (plus
//! the tokenizer's strings).
//!
//! The metadata is every key mainline llama.cpp's `bitnet` architecture reads and a complete
//! tokenizer ([`vocab`]), so `--arch bitnet` TQ2_0 and TQ1_0 models load and run there.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bitnet_gguf::{ggml_type, GgufWriter, MetadataValue, TensorSpec, ValueType};
use bitnet_models::convert::{file_type_of, ggml_type_of};
use bitnet_models::TernaryFormat;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub(crate) mod vocab;

/// The architecture written by default: bitnet.cpp's name for BitNet b1.58.
pub(crate) const DEFAULT_ARCH: &str = "bitnet-b1.58";

/// Bytes generated and written per step.
const STEP: usize = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Shape {
    /// Two small layers: the structure of 2b4t in a few hundred KiB.
    Mini,
    /// bitnet-b1.58-2B-4T's shapes (about 1.2 GB as bitnetcpp).
    #[value(name = "2b4t")]
    B2b4t,
    /// 20 layers of embedding 1024 and feed-forward 2816, 8192 tokens: about 75 MB as
    /// bitnetcpp, mostly ternary weights (the size `bench-kernels --convert` times).
    Small,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Flavor {
    Qk256,
    Bitnet32f16,
    Bitnetcpp,
    #[value(name = "tq2_0")]
    Tq2_0,
    #[value(name = "tq1_0")]
    Tq1_0,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shapes: mini or 2b4t.
    #[arg(long, value_enum)]
    shape: Shape,
    /// The format of the ternary weights.
    #[arg(long, value_enum)]
    flavor: Flavor,
    /// The seed of the content.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// `general.architecture` and the prefix of its keys: `bitnet` is mainline llama.cpp's name.
    #[arg(long, default_value = DEFAULT_ARCH)]
    arch: String,
    /// The file to write (replaced if it exists).
    #[arg(long)]
    out: PathBuf,
}

/// The dimensions of a shape.
#[derive(Debug, Clone, Copy)]
struct Dims {
    layers: usize,
    embd: u64,
    ff: u64,
    vocab: u64,
    heads: u64,
    kv_heads: u64,
    /// Special tokens at the end of the vocabulary.
    special: u64,
}

impl Shape {
    fn dims(self) -> Dims {
        match self {
            Shape::Mini => Dims {
                layers: 2,
                embd: 256,
                ff: 768,
                vocab: 512,
                heads: 4,
                kv_heads: 1,
                special: 2,
            },
            Shape::B2b4t => Dims {
                layers: 30,
                embd: 2560,
                ff: 6912,
                vocab: 128_256,
                heads: 20,
                kv_heads: 5,
                // LLaMA 3's 128 000 tokens and 256 special ones.
                special: 256,
            },
            Shape::Small => Dims {
                layers: 20,
                embd: 1024,
                ff: 2816,
                vocab: 8192,
                heads: 16,
                kv_heads: 4,
                special: 256,
            },
        }
    }

    /// The shape's tokenizer.
    pub(crate) fn vocab(self) -> Result<vocab::Vocab> {
        let d = self.dims();
        vocab::vocab(d.vocab as usize, d.special as usize)
            .with_context(|| format!("no vocabulary of {} tokens", d.vocab))
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Shape::Mini => "mini",
            Shape::B2b4t => "2b4t",
            Shape::Small => "small",
        }
    }
}

impl Flavor {
    fn format(self) -> TernaryFormat {
        match self {
            Flavor::Qk256 => TernaryFormat::Qk256,
            Flavor::Bitnet32f16 => TernaryFormat::BitNet32F16,
            Flavor::Bitnetcpp => TernaryFormat::BitnetCpp,
            Flavor::Tq2_0 => TernaryFormat::Tq2_0,
            Flavor::Tq1_0 => TernaryFormat::Tq1_0,
        }
    }
}

/// What a tensor holds.
#[derive(Debug, Clone, Copy)]
enum Content {
    /// Ternary weights, `ne = [cols, rows]`.
    Ternary,
    /// The `.scale` of the ternary weight before it.
    Scale,
    /// F32 norm weights near 1.0.
    Norm,
    /// F16 embeddings.
    Embedding,
}

/// The tensors of the model, in file order, with what each holds.
fn tensors(dims: Dims, format: TernaryFormat) -> Vec<(TensorSpec, Content)> {
    let d = dims;
    let kv = d.embd / d.heads * d.kv_heads;
    let mut out = Vec::new();
    let mut push = |name: String, ne: Vec<u64>, content: Content| {
        let (ggml_type, size) = match content {
            Content::Ternary => (
                ggml_type_of(format),
                format.tensor_bytes(ne[1], ne[0]).unwrap_or(0),
            ),
            Content::Scale => (ggml_type::F32, 4),
            Content::Norm => (ggml_type::F32, 4 * ne[0]),
            Content::Embedding => (ggml_type::F16, 2 * ne[0] * ne[1]),
        };
        out.push((
            TensorSpec {
                name,
                ne,
                ggml_type,
                size,
            },
            content,
        ));
    };
    let with_scale = matches!(
        format,
        TernaryFormat::Qk256 | TernaryFormat::Tq2_0 | TernaryFormat::Tq1_0
    );
    push(
        "token_embd.weight".into(),
        vec![d.embd, d.vocab],
        Content::Embedding,
    );
    for layer in 0..d.layers {
        let blk = |s: &str| format!("blk.{layer}.{s}");
        let weight = |push: &mut dyn FnMut(String, Vec<u64>, Content), s: &str, ne: Vec<u64>| {
            push(blk(&format!("{s}.weight")), ne, Content::Ternary);
            if with_scale {
                push(blk(&format!("{s}.scale")), vec![1], Content::Scale);
            }
        };
        push(blk("attn_norm.weight"), vec![d.embd], Content::Norm);
        weight(&mut push, "attn_q", vec![d.embd, d.embd]);
        weight(&mut push, "attn_k", vec![d.embd, kv]);
        weight(&mut push, "attn_v", vec![d.embd, kv]);
        weight(&mut push, "attn_output", vec![d.embd, d.embd]);
        push(blk("attn_sub_norm.weight"), vec![d.embd], Content::Norm);
        push(blk("ffn_norm.weight"), vec![d.embd], Content::Norm);
        weight(&mut push, "ffn_gate", vec![d.embd, d.ff]);
        weight(&mut push, "ffn_up", vec![d.embd, d.ff]);
        weight(&mut push, "ffn_down", vec![d.ff, d.embd]);
        push(blk("ffn_sub_norm.weight"), vec![d.ff], Content::Norm);
    }
    push("output_norm.weight".into(), vec![d.embd], Content::Norm);
    out
}

fn metadata(
    shape: Shape,
    dims: Dims,
    format: TernaryFormat,
    arch: &str,
) -> Result<Vec<(String, MetadataValue)>> {
    let key = |k: &str| format!("{arch}.{k}");
    let vocab = shape.vocab()?;
    let mut kv: Vec<(String, MetadataValue)> = vec![("general.architecture".into(), arch.into())];
    if let Some(ft) = file_type_of(format) {
        kv.push(("general.file_type".into(), ft.into()));
    }
    kv.extend([
        (
            "general.name".into(),
            format!("bitnet-b1.58-{}-synthetic", shape.name()).into(),
        ),
        (
            "general.description".into(),
            "Synthetic model written by `cargo xtask gen-model`: real layer names and shapes, \
             random weights"
                .into(),
        ),
        ("general.alignment".into(), 32u32.into()),
        (key("context_length"), 4096u32.into()),
        (key("embedding_length"), (dims.embd as u32).into()),
        (key("feed_forward_length"), (dims.ff as u32).into()),
        (key("block_count"), (dims.layers as u32).into()),
        (key("attention.head_count"), (dims.heads as u32).into()),
        (
            key("attention.head_count_kv"),
            (dims.kv_heads as u32).into(),
        ),
        (key("rope.freq_base"), 500_000.0f32.into()),
        (key("attention.layer_norm_rms_epsilon"), 1e-5f32.into()),
        ("tokenizer.ggml.model".into(), "gpt2".into()),
        ("tokenizer.ggml.pre".into(), "llama-bpe".into()),
        (
            "tokenizer.ggml.tokens".into(),
            MetadataValue::strings(vocab.tokens),
        ),
        (
            "tokenizer.ggml.token_type".into(),
            MetadataValue::array(ValueType::I32, vocab.token_types),
        ),
        (
            "tokenizer.ggml.merges".into(),
            MetadataValue::strings(vocab.merges),
        ),
        ("tokenizer.ggml.bos_token_id".into(), vocab.bos.into()),
        ("tokenizer.ggml.eos_token_id".into(), vocab.eos.into()),
    ]);
    Ok(kv)
}

/// Each byte value mapped to a code byte whose four 2-bit fields are all 0, 1 or 2: the byte
/// modulo 81, as four base-3 digits.
fn code_bytes_table() -> [u8; 256] {
    std::array::from_fn(|b| {
        let mut v = b % 81;
        let mut byte = 0u8;
        for field in 0..4 {
            byte |= ((v % 3) as u8) << (2 * field);
            v /= 3;
        }
        byte
    })
}

/// A tensor's scale: an f16 value of magnitude in [0.5, 1) × 2^-e, e = ⌊log2(`cols`) / 2⌋ (so
/// 2^e ≤ sqrt(cols) < 2^(e+1)), and sign from the word's low bit. A row of `cols` random
/// ternary weights (two thirds of them non-zero) then maps unit-sized inputs to outputs 0.4 to
/// 1.6 times that size, as a trained model's layers keep activations near unit size: the model
/// is numerically tame (attention scores of order 1, no saturated softmax), so an engine's
/// rounding stays small in its logits (docs/xtask.md, engine-check).
fn draw_scale(rng: &mut ChaCha8Rng, cols: u64) -> f32 {
    let word = rng.next_u32();
    // At most 13, so the value stays a normal f16 (exponent field 14 - e ≥ 1).
    let e = (cols.max(1).ilog2() / 2).min(13) as u16;
    let exponent = (14 - e) << 10;
    let bits = exponent | ((word >> 16) as u16 & 0x03FF) | (((word & 1) as u16) << 15);
    half::f16::from_bits(bits).to_f32()
}

pub fn run(args: Args) -> Result<()> {
    let format = args.flavor.format();
    let done = generate(args.shape, format, args.seed, &args.arch, &args.out)?;
    println!(
        "wrote {} ({} shape, {} weights, arch {}): {} tensors, {} bytes in {:.2} s, {:.2} GB/s",
        args.out.display(),
        args.shape.name(),
        format.name(),
        args.arch,
        done.tensors,
        done.bytes,
        done.seconds,
        done.bytes as f64 / done.seconds / 1e9
    );
    Ok(())
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Generated {
    /// Tensors in the file.
    pub tensors: usize,
    /// The file's size.
    pub bytes: u64,
    /// How long writing it took.
    pub seconds: f64,
}

/// Writes the model of `shape` with `format` weights and content from `seed`, architecture
/// `arch`, to `out` (replaced if it exists), through a temporary file beside it. `cargo xtask
/// crossval` and `engine-check` call this too.
pub(crate) fn generate(
    shape: Shape,
    format: TernaryFormat,
    seed: u64,
    arch: &str,
    out: &Path,
) -> Result<Generated> {
    let dims = shape.dims();
    let specs_content = tensors(dims, format);
    let specs: Vec<TensorSpec> = specs_content.iter().map(|(s, _)| s.clone()).collect();
    if arch.is_empty() {
        bail!("the architecture name is empty");
    }
    let metadata = metadata(shape, dims, format, arch)?;
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let start = Instant::now();
    let mut builder = tempfile::Builder::new();
    builder.prefix(".gen-model-").suffix(".tmp");
    // The usual mode of a new file (the umask still applies), not tempfile's private 0600.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let temp = builder
        .tempfile_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let file = BufWriter::with_capacity(8 << 20, temp.as_file());
    let mut w = GgufWriter::new(file, &metadata, &specs)?;
    let table = code_bytes_table();
    let mut buf = vec![0u8; STEP];
    let mut scale = 1.0f32;
    for (i, (spec, content)) in specs_content.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ ((i as u64) << 32));
        match content {
            Content::Ternary => {
                scale = draw_scale(&mut rng, spec.ne[0]);
                write_ternary(&mut w, &mut rng, &table, format, spec, scale, &mut buf)?;
            }
            Content::Scale => w.write_data(&scale.to_le_bytes())?,
            Content::Norm => {
                let values: Vec<u8> = (0..spec.ne[0])
                    .flat_map(|_| {
                        let v = 1.0 + ((rng.next_u32() >> 16) as f32 - 32768.0) / 1048576.0;
                        v.to_le_bytes()
                    })
                    .collect();
                w.write_data(&values)?;
            }
            Content::Embedding => {
                let mut left = spec.size as usize;
                while left > 0 {
                    let n = left.min(STEP);
                    let chunk = &mut buf[..n];
                    rng.fill_bytes(chunk);
                    // Finite f16 in ±[1/16, 1): keep sign and mantissa, fix the exponent range.
                    for pair in chunk.chunks_exact_mut(2) {
                        let bits = u16::from_le_bytes([pair[0], pair[1]]);
                        let bits = (bits & 0x83FF) | (0x2C00 + (bits & 0x0C00));
                        pair.copy_from_slice(&bits.to_le_bytes());
                    }
                    w.write_data(chunk)?;
                    left -= n;
                }
            }
        }
    }
    let mut file = w.finish()?;
    file.flush().context("writing the model")?;
    drop(file);
    temp.as_file().sync_all().context("syncing the model")?;
    let bytes = temp.as_file().metadata()?.len();
    temp.persist(out)
        .map_err(|e| e.error)
        .with_context(|| format!("renaming into {}", out.display()))?;
    Ok(Generated {
        tensors: specs.len(),
        bytes,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Writes one ternary tensor: random valid code bytes, and the format's scales.
fn write_ternary<W: Write>(
    w: &mut GgufWriter<W>,
    rng: &mut ChaCha8Rng,
    table: &[u8; 256],
    format: TernaryFormat,
    spec: &TensorSpec,
    scale: f32,
    buf: &mut [u8],
) -> Result<()> {
    let (rows, cols) = (spec.ne[1], spec.ne[0]);
    if !cols.is_multiple_of(format.block_elems() as u64) {
        bail!("{}: {cols} columns is not whole blocks", spec.name);
    }
    let d = match format {
        TernaryFormat::BitNet32F16 => half::f16::from_f32(scale),
        _ => half::f16::ONE,
    };
    let block_bytes = format.block_bytes();
    let code_bytes = format.code_bytes();
    let data_bytes = format.data_bytes(rows, cols).unwrap_or(0) as usize;
    // Whole blocks per step, so every block's scale lands at its end.
    let step = buf.len() / block_bytes * block_bytes;
    let mut left = data_bytes;
    while left > 0 {
        let n = left.min(step);
        let chunk = &mut buf[..n];
        rng.fill_bytes(chunk);
        // Every byte is five valid base-3 digits in TQ1_0; 2-bit fields must avoid code 3.
        if format.has_2bit_codes() {
            for byte in chunk.iter_mut() {
                *byte = table[usize::from(*byte)];
            }
        }
        if format.has_block_scale() {
            for block in chunk.chunks_exact_mut(block_bytes) {
                block[code_bytes..].copy_from_slice(&d.to_le_bytes());
            }
        }
        w.write_data(chunk)?;
        left -= n;
    }
    if format == TernaryFormat::BitnetCpp {
        let mut tail = [0u8; bitnet_models::format::BITNETCPP_TAIL];
        tail[..4].copy_from_slice(&scale.to_le_bytes());
        w.write_data(&tail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bitnet_gguf::{Gguf, Value};
    use bitnet_models::Model;

    use super::*;

    fn generated(format: TernaryFormat, arch: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.gguf");
        generate(Shape::Mini, format, 1, arch, &path).unwrap();
        std::fs::read(&path).unwrap()
    }

    #[test]
    fn test_bitnet_arch_writes_every_key_mainline_llama_cpp_reads() {
        let bytes = generated(TernaryFormat::Tq2_0, "bitnet");
        let g = Gguf::parse(&bytes).unwrap();
        assert_eq!(
            g.get("general.architecture").unwrap().as_str(),
            Some("bitnet")
        );
        // The keys llama.cpp's model loader reads for `bitnet` (llama-model.cpp, load_hparams
        // and llama_model_bitnet::load_arch_hparams), with the types it accepts.
        for (key, value) in [
            ("bitnet.context_length", Value::U32(4096)),
            ("bitnet.embedding_length", Value::U32(256)),
            ("bitnet.feed_forward_length", Value::U32(768)),
            ("bitnet.block_count", Value::U32(2)),
            ("bitnet.attention.head_count", Value::U32(4)),
            ("bitnet.attention.head_count_kv", Value::U32(1)),
            ("bitnet.rope.freq_base", Value::F32(500_000.0)),
            ("bitnet.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
            ("general.file_type", Value::U32(37)),
            ("tokenizer.ggml.model", Value::String("gpt2")),
            ("tokenizer.ggml.pre", Value::String("llama-bpe")),
            ("tokenizer.ggml.bos_token_id", Value::U32(510)),
            ("tokenizer.ggml.eos_token_id", Value::U32(511)),
        ] {
            assert_eq!(g.get(key), Some(value), "{key}");
        }
        assert!(g
            .metadata()
            .iter()
            .all(|e| !e.key.starts_with("bitnet-b1.58.")));
        for (key, elem, len) in [
            ("tokenizer.ggml.tokens", ValueType::String, 512),
            ("tokenizer.ggml.token_type", ValueType::I32, 512),
            ("tokenizer.ggml.merges", ValueType::String, 254),
        ] {
            let a = *g.get(key).unwrap().as_array().unwrap();
            assert_eq!((a.elem_type(), a.len()), (elem, len), "{key}");
        }
        let merges: Vec<&str> = g
            .get("tokenizer.ggml.merges")
            .unwrap()
            .as_array()
            .unwrap()
            .strings()
            .unwrap()
            .collect();
        assert_eq!(merges[..3], ["a a", "a b", "a c"]);
    }

    #[test]
    fn test_tensors_are_exactly_those_the_bitnet_graph_creates() {
        // llama_model_bitnet::load_arch_tensors: every one required but the `.scale` factors,
        // and llama.cpp refuses a file with a tensor it does not create.
        let (embd, ff, kv) = (256, 768, 64);
        let mut expected = BTreeMap::from([
            (
                "token_embd.weight".to_owned(),
                (vec![embd, 512], ggml_type::F16),
            ),
            (
                "output_norm.weight".to_owned(),
                (vec![embd], ggml_type::F32),
            ),
        ]);
        for i in 0..2 {
            for (name, ne) in [
                ("attn_norm", vec![embd]),
                ("attn_sub_norm", vec![embd]),
                ("ffn_norm", vec![embd]),
                ("ffn_sub_norm", vec![ff]),
            ] {
                expected.insert(format!("blk.{i}.{name}.weight"), (ne, ggml_type::F32));
            }
            for (name, ne) in [
                ("attn_q", vec![embd, embd]),
                ("attn_k", vec![embd, kv]),
                ("attn_v", vec![embd, kv]),
                ("attn_output", vec![embd, embd]),
                ("ffn_gate", vec![embd, ff]),
                ("ffn_up", vec![embd, ff]),
                ("ffn_down", vec![ff, embd]),
            ] {
                expected.insert(format!("blk.{i}.{name}.weight"), (ne, ggml_type::TQ2_0));
                expected.insert(format!("blk.{i}.{name}.scale"), (vec![1], ggml_type::F32));
            }
        }
        let bytes = generated(TernaryFormat::Tq2_0, "bitnet");
        let g = Gguf::parse(&bytes).unwrap();
        let found: BTreeMap<String, (Vec<u64>, u32)> = g
            .tensors()
            .iter()
            .map(|t| (t.name.to_owned(), (t.ne().to_vec(), t.ggml_type)))
            .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn test_default_arch_passes_the_bitnet_b158_rules_and_output_is_reproducible() {
        for format in TernaryFormat::ALL {
            let bytes = generated(format, DEFAULT_ARCH);
            let model = Model::parse(&bytes).unwrap();
            assert_eq!(model.check(), vec![], "{format:?}");
            assert_eq!(
                model.gguf().get("general.architecture").unwrap().as_str(),
                Some(DEFAULT_ARCH)
            );
            assert!(model.gguf().get("bitnet-b1.58.block_count").is_some());
            assert_eq!(generated(format, DEFAULT_ARCH), bytes, "{format:?}");
        }
    }

    #[test]
    fn test_an_empty_arch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.gguf");
        let e = generate(Shape::Mini, TernaryFormat::Tq2_0, 1, "", &path).unwrap_err();
        assert_eq!(e.to_string(), "the architecture name is empty");
        assert!(!path.exists());
    }

    #[test]
    fn test_scales_shrink_with_the_square_root_of_the_row_length() {
        // e = floor(log2(cols) / 2): 2^e ≤ sqrt(cols) < 2^(e+1).
        for (cols, e) in [
            (1, 0),
            (3, 0),
            (4, 1),
            (256, 4),
            (768, 4),
            (2560, 5),
            (6912, 6),
        ] {
            let (low, high) = (0.5 / f32::powi(2.0, e), 1.0 / f32::powi(2.0, e));
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            let mut signs = [false; 2];
            for _ in 0..200 {
                let s = draw_scale(&mut rng, cols);
                assert!((low..high).contains(&s.abs()), "cols {cols}: {s}");
                assert_eq!(half::f16::from_f32(s).to_f32(), s, "an f16 value");
                signs[usize::from(s < 0.0)] = true;
            }
            assert_eq!(signs, [true, true], "cols {cols}: both signs");
        }
        // The value is the documented function of the generator's next word: mantissa from
        // bits 16..26, sign from bit 0.
        for seed in 0..64 {
            let word = ChaCha8Rng::seed_from_u64(seed).next_u32();
            let magnitude = (1.0 + f64::from((word >> 16) & 0x3FF) / 1024.0) / 2.0 / 16.0;
            let expected = if word & 1 == 1 { -magnitude } else { magnitude };
            let s = draw_scale(&mut ChaCha8Rng::seed_from_u64(seed), 256);
            assert_eq!(f64::from(s), expected, "seed {seed}");
        }
        // The exponent stays that of a normal f16 for the longest rows.
        let s = draw_scale(&mut ChaCha8Rng::seed_from_u64(1), u64::MAX);
        assert!((0.5 / 8192.0..1.0 / 8192.0).contains(&s.abs()), "{s}");
    }
}
