//! `cargo xtask gen-model --shape mini|2b4t --flavor F [--seed N] --out PATH`: a seeded synthetic
//! model with real BitNet b1.58 layer names and shapes (docs/xtask.md), so loaders and `convert`
//! can be tested on realistic files without a download.
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
//! `GgufWriter` into a temporary file beside PATH, then renamed: memory stays a few MiB.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bitnet_gguf::{ggml_type, GgufWriter, MetadataValue, TensorSpec, ValueType};
use bitnet_models::convert::{file_type_of, ggml_type_of};
use bitnet_models::TernaryFormat;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Bytes generated and written per step.
const STEP: usize = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Shape {
    /// Two small layers: the structure of 2b4t in a few hundred KiB.
    Mini,
    /// bitnet-b1.58-2B-4T's shapes (about 1.2 GB as bitnetcpp).
    #[value(name = "2b4t")]
    B2b4t,
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
            },
            Shape::B2b4t => Dims {
                layers: 30,
                embd: 2560,
                ff: 6912,
                vocab: 128_256,
                heads: 20,
                kv_heads: 5,
            },
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Shape::Mini => "mini",
            Shape::B2b4t => "2b4t",
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

fn metadata(shape: Shape, dims: Dims, format: TernaryFormat) -> Vec<(String, MetadataValue)> {
    let arch = "bitnet-b1.58";
    let key = |k: &str| format!("{arch}.{k}");
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
        (
            "tokenizer.ggml.tokens".into(),
            MetadataValue::strings((0..dims.vocab).map(|i| format!("t{i}"))),
        ),
        (
            "tokenizer.ggml.token_type".into(),
            MetadataValue::array(ValueType::I32, (0..dims.vocab).map(|_| 1i32)),
        ),
        ("tokenizer.ggml.bos_token_id".into(), 0u32.into()),
        ("tokenizer.ggml.eos_token_id".into(), 1u32.into()),
    ]);
    kv
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

/// A tensor's scale: an f16 value in [0.5, 1), sign from the word's low bit.
fn draw_scale(rng: &mut ChaCha8Rng) -> f32 {
    let word = rng.next_u32();
    let bits = 0x3800 | ((word >> 16) as u16 & 0x03FF) | (((word & 1) as u16) << 15);
    half::f16::from_bits(bits).to_f32()
}

pub fn run(args: Args) -> Result<()> {
    let format = args.flavor.format();
    let done = generate(args.shape, format, args.seed, &args.out)?;
    println!(
        "wrote {} ({} shape, {} weights): {} tensors, {} bytes in {:.2} s, {:.2} GB/s",
        args.out.display(),
        args.shape.name(),
        format.name(),
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

/// Writes the model of `shape` with `format` weights and content from `seed` to `out` (replaced
/// if it exists), through a temporary file beside it. `cargo xtask crossval` calls this too.
pub(crate) fn generate(
    shape: Shape,
    format: TernaryFormat,
    seed: u64,
    out: &Path,
) -> Result<Generated> {
    let dims = shape.dims();
    let specs_content = tensors(dims, format);
    let specs: Vec<TensorSpec> = specs_content.iter().map(|(s, _)| s.clone()).collect();
    let metadata = metadata(shape, dims, format);
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
                scale = draw_scale(&mut rng);
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
