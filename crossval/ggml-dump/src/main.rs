//! `ggml-dump`: mainline ggml's view of GGUF files, as one JSON object per file per line.
//!
//! ```text
//! ggml-dump FILE...            one JSON line per file (schema: ../README.md)
//! ggml-dump --types            every ggml type id with its traits, as one JSON object
//! ggml-dump --decode TYPE FILE decode FILE's raw bytes (whole blocks) as TYPE with to_float
//! ggml-dump --gemv FILE X      y = W · x of every TQ1_0/TQ2_0 tensor, ggml's generic C
//! ggml-dump --bench-gemv TYPE ROWS COLS REPS   median time of that GEMV on seeded inputs
//! ```
//!
//! A file ggml rejects is a result, not an error: its line says `"accepted": false` and the exit
//! code stays 0. Usage and I/O errors exit non-zero.

mod gemv;
mod ggml;

use std::ffi::OsString;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};

use crate::ggml::{GgufFile, Traits, Value};

/// How many leading values a `decoded` object shows as bit patterns.
const FIRST_VALUES: usize = 8;

const USAGE: &str = "usage: ggml-dump FILE... | ggml-dump --types | ggml-dump --decode TYPE FILE \
                     | ggml-dump --gemv FILE X.f32 | ggml-dump --bench-gemv tq1_0|tq2_0 ROWS COLS REPS";

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ggml-dump: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[OsString]) -> Result<(), String> {
    let mut out = BufWriter::new(io::stdout().lock());
    // Flags are matched as text; file names stay OS strings.
    let text: Vec<&str> = args.iter().map(|a| a.to_str().unwrap_or("")).collect();
    match text.as_slice() {
        ["-h" | "--help"] => emit(&mut out, USAGE)?,
        ["--types"] => emit(&mut out, types())?,
        ["--decode", ty, _] => emit(&mut out, decode_file(ty, Path::new(&args[2]))?)?,
        ["--gemv", _, _] => emit(
            &mut out,
            gemv::gemv_file(Path::new(&args[1]), Path::new(&args[2]))?,
        )?,
        ["--bench-gemv", ty, rows, cols, reps] => {
            emit(&mut out, gemv::bench(ty, rows, cols, reps)?)?
        }
        [] => return Err(USAGE.to_owned()),
        [flag, ..] if flag.starts_with("--") => return Err(USAGE.to_owned()),
        _ => {
            for file in args {
                emit(&mut out, dump(Path::new(file)))?;
            }
        }
    }
    out.flush().map_err(|e| format!("stdout: {e}"))
}

/// Writes one line: a JSON value, or plain text.
fn emit(out: &mut impl Write, line: impl Into<Json>) -> Result<(), String> {
    let written = match line.into() {
        Json::String(text) => out.write_all(text.as_bytes()),
        json => serde_json::to_writer(&mut *out, &json).map_err(io::Error::from),
    };
    written
        .and_then(|()| out.write_all(b"\n"))
        .map_err(|e| format!("stdout: {e}"))
}

/// The schema object for one file.
fn dump(path: &Path) -> Json {
    let file = path.to_string_lossy();
    let gguf = match GgufFile::open(path) {
        Ok(gguf) => gguf,
        Err(error) => {
            return json!({"file": file, "reference": "ggml", "accepted": false, "error": error})
        }
    };
    let metadata: Vec<Json> = gguf
        .metadata()
        .into_iter()
        .map(|(key, ty, value)| {
            json!({"key": key, "type": ggml::gguf_type_name(ty), "value": value_json(&value)})
        })
        .collect();
    let tensors: Vec<Json> = gguf
        .tensors()
        .iter()
        .map(|t| {
            // gguf.cpp rejects ids without traits, so `Traits::of` cannot fail here.
            let name = Traits::of(t.ty)
                .map(|tr| tr.name.to_ascii_uppercase())
                .unwrap_or_default();
            let decoded = match ggml::decode(t.ty, t.data, t.nelements) {
                Ok(values) => values.as_deref().map_or(Json::Null, decoded_json),
                Err(e) => json!({"error": e}),
            };
            json!({
                "name": t.name, "type": t.ty, "type_name": name, "ne": t.ne,
                "offset": t.offset, "nbytes": t.nbytes, "decoded": decoded,
            })
        })
        .collect();
    json!({
        "file": file, "reference": "ggml", "accepted": true, "error": null,
        "version": gguf.version(), "alignment": gguf.alignment(), "data_offset": gguf.data_offset(),
        "metadata": metadata, "tensors": tensors,
    })
}

/// `--types`: ggml's version and source package, and its traits for every id below
/// `GGML_TYPE_COUNT`, names as ggml spells them.
fn types() -> Json {
    let types: Vec<Json> = (0..ggml::type_count())
        .filter_map(|id| Some((id, Traits::of(id)?)))
        .map(|(id, t)| {
            json!({
                "id": id, "name": t.name, "blck_size": t.blck_size, "type_size": t.type_size,
                "is_quantized": t.is_quantized, "has_to_float": t.has_to_float(),
            })
        })
        .collect();
    json!({
        "ggml_version": ggml::version(), "source": env!("GGML_DUMP_SOURCE"),
        "type_count": ggml::type_count(), "types": types,
    })
}

/// `--decode TYPE FILE`: FILE holds whole blocks of TYPE (an id or a name such as `tq1_0`).
fn decode_file(ty: &str, file: &Path) -> Result<Json, String> {
    let id = parse_type(ty).ok_or_else(|| format!("unknown ggml type {ty:?}"))?;
    let traits = Traits::of(id).ok_or_else(|| format!("unknown ggml type {ty:?}"))?;
    let data = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let block_bytes = traits.type_size;
    let blck_size = usize::try_from(traits.blck_size).unwrap_or(0);
    if block_bytes == 0 || blck_size == 0 || data.len() % block_bytes != 0 {
        return Err(format!(
            "{} bytes are not whole {} blocks",
            data.len(),
            traits.name
        ));
    }
    let count = data.len() / block_bytes * blck_size;
    let decoded = ggml::decode(id, &data, count)?;
    Ok(json!({
        "type": id, "type_name": traits.name.to_ascii_uppercase(),
        "decoded": decoded.as_deref().map_or(Json::Null, decoded_json),
    }))
}

fn parse_type(ty: &str) -> Option<i32> {
    ty.parse().ok().or_else(|| {
        (0..ggml::type_count())
            .find(|&id| Traits::of(id).is_some_and(|t| t.name.eq_ignore_ascii_case(ty)))
    })
}

/// `{"count", "sha256", "first"}` of decoded values, hashed as little-endian f32 bytes.
fn decoded_json(values: &[f32]) -> Json {
    let mut hasher = Sha256::new();
    for v in values {
        hasher.update(v.to_le_bytes());
    }
    let first: Vec<String> = values
        .iter()
        .take(FIRST_VALUES)
        .map(|v| format!("{:#010x}", v.to_bits()))
        .collect();
    json!({"count": values.len(), "sha256": hex::encode(hasher.finalize()), "first": first})
}

fn value_json(value: &Value) -> Json {
    match value {
        Value::U8(v) => json!(v),
        Value::I8(v) => json!(v),
        Value::U16(v) => json!(v),
        Value::I16(v) => json!(v),
        Value::U32(v) => json!(v),
        Value::I32(v) => json!(v),
        Value::U64(v) => json!(v),
        Value::I64(v) => json!(v),
        Value::F32(v) => json!({"f32": format!("{:#010x}", v.to_bits())}),
        Value::F64(v) => json!({"f64": format!("{:#018x}", v.to_bits())}),
        Value::Bool(v) => json!(v),
        Value::Str(v) => json!(v),
        Value::Array(elem, items) => json!({
            "elem_type": ggml::gguf_type_name(*elem),
            "items": items.iter().map(value_json).collect::<Vec<_>>(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ggml::gemv::{self, Tq};

    /// One TQ1_0 block from gguf-py 0.19.0: `gguf.quants.quantize(w * 0.75, TQ1_0)` of the ternary
    /// values [`ternary_values`] (../README.md, "TQ1_0 check"): 48 bytes `qs`, 4 bytes `qh`, then
    /// the f16 scale 0.75 (`00 3a`). gguf-py decodes it back to exactly `w * 0.75`.
    const TQ1_0_BLOCK: &str = "f47341a786d30a0c4e4166b42e47bae454050a3fd59db829073755dc7ac8d6bc\
                               f62a4392aa96c367e9902a429cab5975bbcb1a17003a";

    /// 256 values in {-1, 0, 1}: `(s >> 16) % 3 - 1` of the LCG `s = s * 1103515245 + 12345 mod 2^31`
    /// from `s = 1`.
    fn ternary_values() -> Vec<f32> {
        let mut s: u64 = 1;
        (0..256)
            .map(|_| {
                s = (s * 1_103_515_245 + 12_345) % (1 << 31);
                ((s >> 16) % 3) as f32 - 1.0
            })
            .collect()
    }

    #[test]
    fn type_traits_layout_matches_c() {
        ggml::check_layout();
    }

    #[test]
    fn block_q8_k_layout_and_tq_ids_match_c() {
        gemv::check_layout();
        for tq in [Tq::Tq1_0, Tq::Tq2_0] {
            let traits = Traits::of(tq.id()).unwrap();
            assert_eq!(traits.name, tq.name());
            assert_eq!(traits.type_size, tq.block_bytes());
            assert_eq!(traits.blck_size, gemv::QK_K as i64);
        }
    }

    /// quantize_row_q8_K_ref on a block whose largest magnitude is -127 (so the scale is
    /// exactly 1 and the codes are the values rounded half to even, the later +127 losing the
    /// tie), and on a block of zeros.
    #[test]
    fn q8_k_rounds_half_to_even_and_zeroes_a_zero_block() {
        let mut x: Vec<f32> = (0..256).map(|i| (i % 254) as f32 - 126.5).collect();
        x[5] = -127.0;
        x[9] = 127.0;
        x.extend([0.0; 256]);
        let blocks = gemv::quantize_q8_k(&x).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].d.to_bits(), 1.0f32.to_bits());
        let expected: Vec<i8> = x[..256].iter().map(|v| v.round_ties_even() as i8).collect();
        assert_eq!(blocks[0].qs.to_vec(), expected);
        assert_eq!(
            blocks[0].qs[1..3],
            [-126, -124],
            "-125.5 and -124.5 round to even"
        );
        let sums: Vec<i16> = expected
            .chunks(16)
            .map(|c| c.iter().map(|&q| i16::from(q)).sum())
            .collect();
        assert_eq!(blocks[0].bsums.to_vec(), sums);
        assert_eq!(blocks[1].d.to_bits(), 0);
        assert!(blocks[1].qs.iter().all(|&q| q == 0) && blocks[1].bsums.iter().all(|&s| s == 0));
        assert!(gemv::quantize_q8_k(&x[..100]).is_err());
    }

    /// A TQ2_0 block of +1 weights (code 2 everywhere) with d = 0.5, against x = 1.0 everywhere
    /// (q8_K: d = -1/127, qs = -127): y = (256 × -127) × (-1/127 × 0.5) in f32.
    #[test]
    fn tq2_0_dot_of_all_plus_one_weights() {
        let mut block = vec![0xaau8; 64];
        block.extend(0x3800u16.to_le_bytes()); // f16 0.5
        let q8 = gemv::quantize_q8_k(&[1.0; 256]).unwrap();
        assert_eq!(q8[0].qs, [-127; 256]);
        let d = q8[0].d * 0.5;
        let y = gemv::vec_dot(Tq::Tq2_0, &block, &q8).unwrap();
        assert_eq!(y.to_bits(), (-32512.0f32 * d).to_bits());
        assert!((y - 128.0).abs() < 1e-4);
        assert!(gemv::vec_dot(Tq::Tq2_0, &block[1..], &q8).is_err());
    }

    /// gguf-py's TQ1_0 block (weights `w`, d = 0.75) against x = 127 w: the first nonzero
    /// weight sets the sign s of the q8_K scale, qs = -s × 127 w and d = -s, so
    /// y = (-s × 127 × n) × (0.75 × -s) = 95.25 n exactly, n the number of nonzero weights.
    #[test]
    fn tq1_0_dot_of_the_gguf_py_block() {
        let block = hex::decode(TQ1_0_BLOCK).unwrap();
        let w = ternary_values();
        let x: Vec<f32> = w.iter().map(|v| v * 127.0).collect();
        let nonzero = w.iter().filter(|&&v| v != 0.0).count();
        let y = gemv::vec_dot(Tq::Tq1_0, &block, &gemv::quantize_q8_k(&x).unwrap()).unwrap();
        assert_eq!(y, 95.25 * nonzero as f32);
    }

    #[test]
    fn ternary_types_are_where_ggml_h_puts_them() {
        let names: Vec<String> = [34, 35, 36, 39, 40, 41, 42]
            .iter()
            .map(|&id| Traits::of(id).expect("id below GGML_TYPE_COUNT").name)
            .collect();
        assert!(ggml::type_count() >= 43);
        assert_eq!(names[..2], ["tq1_0", "tq2_0"]);
        assert_eq!(
            Traits::of(36).unwrap().blck_size,
            0,
            "id 36 is a removed type in mainline ggml"
        );
        assert_eq!(names[3..], ["mxfp4", "nvfp4", "q1_0", "q2_0"]);
    }

    #[test]
    fn tq1_0_block_from_gguf_py_decodes_to_its_ternary_values() {
        let block = hex::decode(TQ1_0_BLOCK).unwrap();
        let decoded = ggml::decode(34, &block, 256)
            .unwrap()
            .expect("ggml has a TQ1_0 to_float");
        let expected: Vec<u32> = ternary_values()
            .iter()
            .map(|w| (w * 0.75).to_bits())
            .collect();
        assert_eq!(
            decoded.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            expected
        );
        // The same hash gguf-py's dequantize gives for this block.
        assert_eq!(
            decoded_json(&decoded)["sha256"],
            "5b7a463896ed5c481c84989f711376932a1a6909c291323df377a2d1c6d2b25d"
        );
    }
}
