//! Writes a large, valid `bitnet-b1.58` GGUF file for timing `bitnet-cli` on big inputs.
//!
//! ```sh
//! cargo run --release -p bitnet-cli --example make_big -- /tmp/big.gguf 1
//! ```
//!
//! The second argument is the size of the I2_S data in GiB (default 1): `16 × GiB` layers, each
//! a QK256 `attn_q.weight` of ne = [4096, 65536] (64 MiB), its `.scale` and an F32 `attn_norm.weight`.
//! Codes come from a fixed LCG (never code 3), so the file is the same on every run. The file is
//! built in memory (about twice its size) and must never be committed.

use std::path::PathBuf;

use anyhow::{bail, Context};
use bitnet_gguf::{ggml_type, GgufBuilder, MetadataValue};

const COLS: u64 = 4096;
const ROWS_PER_LAYER: u64 = 65536;

/// 64 MiB of QK256 code bytes with codes 0, 1, 2 only.
fn codes(state: &mut u64, len: usize) -> Vec<u8> {
    // Every byte whose four 2-bit fields are all in 0..=2.
    let valid: Vec<u8> = (0..=255u8)
        .filter(|b| (0..4).all(|i| (b >> (2 * i)) & 3 != 3))
        .collect();
    (0..len)
        .map(|_| {
            *state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            valid[(*state >> 33) as usize % valid.len()]
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let Some(out) = args.next().map(PathBuf::from) else {
        bail!("usage: make_big OUT.gguf [GiB]");
    };
    let gib: u64 = match args.next() {
        Some(s) => s
            .to_string_lossy()
            .parse()
            .context("GiB must be an integer")?,
        None => 1,
    };
    let layers = 16 * gib;
    let layer_bytes = (ROWS_PER_LAYER * COLS / 4) as usize;

    let mut b = GgufBuilder::new();
    b.kv("general.architecture", "bitnet-b1.58")
        .kv("general.name", "make-big")
        .kv("general.alignment", 32u32)
        .kv(
            "tokenizer.ggml.tokens",
            MetadataValue::strings(["<unk>", "<s>", "</s>"]),
        )
        .kv("bitnet-b1.58.embedding_length", COLS as u32)
        .kv("bitnet-b1.58.block_count", layers as u32)
        .kv("bitnet-b1.58.attention.head_count", 32u32)
        .kv("bitnet-b1.58.attention.head_count_kv", 8u32)
        .kv("bitnet-b1.58.feed_forward_length", 11008u32);
    let mut state = 42u64;
    let norm: Vec<u8> = (0..COLS).flat_map(|_| 1.0f32.to_le_bytes()).collect();
    for layer in 0..layers {
        b.tensor(
            format!("blk.{layer}.attn_q.weight"),
            &[COLS, ROWS_PER_LAYER],
            ggml_type::I2_S,
            codes(&mut state, layer_bytes),
        );
        b.tensor(
            format!("blk.{layer}.attn_q.scale"),
            &[1],
            ggml_type::F32,
            0.5f32.to_le_bytes().to_vec(),
        );
        b.tensor(
            format!("blk.{layer}.attn_norm.weight"),
            &[COLS],
            ggml_type::F32,
            norm.clone(),
        );
    }
    let bytes = b.build()?;
    std::fs::write(&out, &bytes).with_context(|| format!("{}: cannot write", out.display()))?;
    println!("{}: {} bytes, {layers} layers", out.display(), bytes.len());
    Ok(())
}
