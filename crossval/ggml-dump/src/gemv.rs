//! `--gemv FILE X` and `--bench-gemv TYPE ROWS COLS REPS`: `y = W · x` for ternary tensors the
//! way ggml computes it on a CPU without SIMD dot products (../README.md, "GEMV").

use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};

use crate::ggml::gemv::{self, BlockQ8K, Tq, QK_K};
use crate::ggml::{GgufFile, Tensor, GGML_TYPE_F32};

/// The largest weight buffer `--bench-gemv` allocates (4 GiB).
const MAX_BENCH_BYTES: usize = 1 << 32;

/// `--gemv FILE X`: for every TQ1_0/TQ2_0 tensor of FILE, in file order, `cols` values of X
/// (f32le, the tensors' vectors one after the other), quantized to q8_K and multiplied by every
/// row. A file ggml rejects is a result (`"accepted": false`), as in the dump.
pub fn gemv_file(path: &Path, x_path: &Path) -> Result<Json, String> {
    let file = path.to_string_lossy();
    let gguf = match GgufFile::open(path) {
        Ok(gguf) => gguf,
        Err(error) => return Ok(json!({"file": file, "accepted": false, "error": error})),
    };
    let x_bytes = std::fs::read(x_path).map_err(|e| format!("{}: {e}", x_path.display()))?;
    if !x_bytes.len().is_multiple_of(4) {
        return Err(format!(
            "{}: {} bytes are not whole f32 values",
            x_path.display(),
            x_bytes.len()
        ));
    }
    let x: Vec<f32> = x_bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let tensors = gguf.tensors();
    let mut rest = x.as_slice();
    let mut out = Vec::new();
    let mut start = 0;
    for t in tensors.iter() {
        let Some(ty) = Tq::of(t.ty) else { continue };
        let cols =
            t.ne.first()
                .map_or(Ok(0), |&c| usize::try_from(c))
                .map_err(|_| format!("{}: negative ne[0]", t.name))?;
        if rest.len() < cols {
            return Err(format!(
                "{}: {} values, too few for the TQ tensors of {file}: tensor {:?} takes values \
                 {start}..{} (each tensor `cols` values, in file order)",
                x_path.display(),
                x.len(),
                t.name,
                start + cols
            ));
        }
        let (x_t, tail) = rest.split_at(cols);
        rest = tail;
        start += cols;
        out.push(tensor_gemv(&tensors, t, ty, x_t));
    }
    if !rest.is_empty() {
        return Err(format!(
            "{}: {} values, {} more than the TQ tensors of {file} take",
            x_path.display(),
            x.len(),
            rest.len()
        ));
    }
    Ok(json!({"file": file, "accepted": true, "tensors": out}))
}

/// One tensor's object: its q8_K activation blocks and its `y`, or why there are none.
fn tensor_gemv(all: &[Tensor<'_>], t: &Tensor<'_>, ty: Tq, x: &[f32]) -> Json {
    let cols = x.len();
    let rows = t.nelements.checked_div(cols).unwrap_or(0);
    let mut object = json!({
        "name": t.name, "type": t.ty, "type_name": ty.name().to_ascii_uppercase(),
        "rows": rows, "cols": cols,
    });
    match gemv_rows(all, t, ty, x, rows) {
        Ok(p) => {
            object["post_scale"] = p.post_scale.map_or(Json::Null, |s| bits(s).into());
            object["q8_k"] = q8_json(&p.q8);
            object["y"] = y_json(&p.y);
        }
        Err(error) => object["error"] = error.into(),
    }
    object
}

/// One tensor's product.
struct Product {
    /// The `.scale` sibling's value.
    post_scale: Option<f32>,
    /// The q8_K blocks of `x`.
    q8: Vec<BlockQ8K>,
    y: Vec<f32>,
}

fn gemv_rows(
    all: &[Tensor<'_>],
    t: &Tensor<'_>,
    ty: Tq,
    x: &[f32],
    rows: usize,
) -> Result<Product, String> {
    let post_scale = post_scale(all, &t.name)?;
    let q8 = gemv::quantize_q8_k(x)?;
    let row_bytes = q8.len() * ty.block_bytes();
    if rows.checked_mul(row_bytes) != Some(t.data.len())
        || x.len().checked_mul(rows) != Some(t.nelements)
    {
        return Err(format!(
            "{} bytes are not {rows} rows of {} {} blocks",
            t.data.len(),
            q8.len(),
            ty.name()
        ));
    }
    let mut y = Vec::with_capacity(rows);
    for row in t.data.chunks_exact(row_bytes.max(1)).take(rows) {
        // ggml_mul after the matmul: one f32 multiplication of each output.
        let v = gemv::vec_dot(ty, row, &q8)?;
        y.push(post_scale.map_or(v, |s| v * s));
    }
    Ok(Product { post_scale, q8, y })
}

/// The value of `<base>.scale` for a weight `<base>.weight`, which mainline llama.cpp multiplies
/// into the matmul's output (`ggml_mul`), if the file has one. It must be one F32.
fn post_scale(all: &[Tensor<'_>], name: &str) -> Result<Option<f32>, String> {
    let Some(base) = name.strip_suffix(".weight") else {
        return Ok(None);
    };
    let sibling = format!("{base}.scale");
    let Some(s) = all.iter().find(|s| s.name == sibling) else {
        return Ok(None);
    };
    match (s.ty, s.data) {
        (GGML_TYPE_F32, &[a, b, c, d]) if s.nelements == 1 => {
            Ok(Some(f32::from_le_bytes([a, b, c, d])))
        }
        _ => Err(format!(
            "{sibling}: a scale must be one F32 value (type {}, {} values)",
            s.ty, s.nelements
        )),
    }
}

fn bits(v: f32) -> String {
    format!("{:#010x}", v.to_bits())
}

/// `{"blocks", "sha256", "hex"}` of q8_K blocks in ggml's little-endian layout.
fn q8_json(blocks: &[BlockQ8K]) -> Json {
    let bytes: Vec<u8> = blocks.iter().flat_map(|b| b.to_le_bytes()).collect();
    json!({
        "blocks": blocks.len(),
        "sha256": hex::encode(Sha256::digest(&bytes)),
        "hex": hex::encode(&bytes),
    })
}

/// [`crate::decoded_json`] of `y`, plus every value's bit pattern.
fn y_json(y: &[f32]) -> Json {
    let mut object = crate::decoded_json(y);
    object["bits"] = y.iter().map(|&v| bits(v)).collect::<Vec<_>>().into();
    object
}

/// `--bench-gemv TYPE ROWS COLS REPS`: the median time of one GEMV (quantize x, then one
/// generic vec_dot per row, one thread) over REPS repetitions after one warm-up, on seeded
/// pseudo-random weights and activations.
pub fn bench(ty: &str, rows: &str, cols: &str, reps: &str) -> Result<Json, String> {
    let ty = [Tq::Tq1_0, Tq::Tq2_0]
        .into_iter()
        .find(|t| t.name().eq_ignore_ascii_case(ty))
        .ok_or_else(|| format!("--bench-gemv: type {ty:?} is not tq1_0 or tq2_0"))?;
    let number = |what: &str, text: &str| {
        text.parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("--bench-gemv: {what} {text:?} is not a positive integer"))
    };
    let (rows, cols, reps) = (
        number("ROWS", rows)?,
        number("COLS", cols)?,
        number("REPS", reps)?,
    );
    if !cols.is_multiple_of(QK_K) {
        return Err(format!(
            "--bench-gemv: COLS {cols} is not a multiple of {QK_K}"
        ));
    }
    let row_bytes = cols / QK_K * ty.block_bytes();
    let weight_bytes = rows
        .checked_mul(row_bytes)
        .filter(|&b| b <= MAX_BENCH_BYTES)
        .ok_or_else(|| {
            format!("--bench-gemv: {rows} x {cols} weights take more than {MAX_BENCH_BYTES} bytes")
        })?;

    let mut rng = SplitMix64(0x5eed);
    let weights: Vec<u8> = (0..weight_bytes).map(|_| rng.next() as u8).collect();
    // Every block's f16 scale (its last two bytes) 0.5, so no value is infinite or NaN.
    let block_bytes = ty.block_bytes();
    let mut weights = weights;
    for block in weights.chunks_exact_mut(block_bytes) {
        block[block_bytes - 2..].copy_from_slice(&0x3800u16.to_le_bytes());
    }
    let x: Vec<f32> = (0..cols)
        .map(|_| (rng.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
        .collect();

    let mut y = vec![0.0f32; rows];
    let mut once = || -> Result<u64, String> {
        let start = Instant::now();
        let q8 = gemv::quantize_q8_k(&x)?;
        for (out, row) in y.iter_mut().zip(weights.chunks_exact(row_bytes)) {
            *out = gemv::vec_dot(ty, row, &q8)?;
        }
        Ok(start.elapsed().as_nanos() as u64)
    };
    once()?; // warm-up: page in the weights, fill the f16 table
    let mut times = (0..reps).map(|_| once()).collect::<Result<Vec<_>, _>>()?;
    times.sort_unstable();
    let median = if reps % 2 == 1 {
        times[reps / 2]
    } else {
        (times[reps / 2 - 1] + times[reps / 2]) / 2
    };
    Ok(json!({
        "type": ty.name(), "rows": rows, "cols": cols, "reps": reps,
        "weight_bytes": weight_bytes, "median_ns": median, "min_ns": times[0],
        "max_ns": times[reps - 1],
        "weight_gb_per_s": weight_bytes as f64 / median as f64,
        "y": crate::decoded_json(&y),
    }))
}

/// A small seeded generator (SplitMix64), so the benchmark's inputs are the same every run.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
