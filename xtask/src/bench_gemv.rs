//! The GEMV rows of `cargo xtask bench-kernels` (docs/xtask.md): `y = W · x` with
//! `bitnet_models::matmul` for every dialect and kernel, against the machine's read bandwidth
//! over the same weight bytes measured in the same run, and against ggml's own generic C for
//! TQ2_0 when it can be built.
//!
//! Three cases: the two BitNet b1.58 2B-4T projection shapes, 2560 × 6912 and 6912 × 2560
//! (rows × cols), whose weights stay in the last-level cache between calls; and a 4096 × 4096
//! (16 Mi weights) case streamed from DRAM: as many copies of the tensor as fill twice the
//! last-level cache, one call per copy in turn, so that each call reads weights no cache holds.
//!
//! The limit (`read`) is a plain streaming load of the same bytes in the same order (the widest
//! loads this CPU has, XOR-reduced so they cannot be skipped), timed in alternation with each
//! kernel: `vs read` is the ratio of the paired medians (1.00: the product runs at the speed at
//! which its weights can be read at all).

use std::hint::black_box;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bitnet_models::matmul::{Semantics, Weights};
use bitnet_models::{pack::pack, Kernel, TernaryFormat, TernaryTensor};
use half::f16;

use crate::bench_kernels::{median, Plan};

/// One benchmark case: a shape, and whether its weights are streamed from DRAM.
#[derive(Debug, Clone, Copy)]
struct Case {
    rows: usize,
    cols: usize,
    dram: bool,
}

const CASES: [Case; 3] = [
    Case {
        rows: 2560,
        cols: 6912,
        dram: false,
    },
    Case {
        rows: 6912,
        cols: 2560,
        dram: false,
    },
    Case {
        rows: 4096,
        cols: 4096,
        dram: true,
    },
];

/// The formats and the semantics each is timed under: ggml for every dialect (QK256, bitnetcpp
/// and BitNet32F16 as they convert to TQ2_0), bitnet.cpp's for its own.
const TIMED: [(TernaryFormat, Semantics); 6] = [
    (TernaryFormat::Tq2_0, Semantics::Ggml),
    (TernaryFormat::Tq1_0, Semantics::Ggml),
    (TernaryFormat::Qk256, Semantics::Ggml),
    (TernaryFormat::BitNet32F16, Semantics::Ggml),
    (TernaryFormat::BitnetCpp, Semantics::Ggml),
    (TernaryFormat::BitnetCpp, Semantics::BitnetCpp),
];

/// One printed row.
#[derive(Debug)]
pub(crate) struct GemvRow {
    op: &'static str,
    kernel: String,
    format: Option<TernaryFormat>,
    semantics: Option<Semantics>,
    case: Case,
    bytes: usize,
    time: Duration,
    vs_read: Option<f64>,
    vs_ggml_c: Option<f64>,
}

impl GemvRow {
    fn gb_per_s(&self) -> f64 {
        self.bytes as f64 / self.time.as_secs_f64() / 1e9
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        let mut o = serde_json::json!({
            "op": self.op,
            "kernel": self.kernel,
            "rows": self.case.rows,
            "cols": self.case.cols,
            "dram": self.case.dram,
            "weight_bytes": self.bytes,
            "weight_gb_per_s": self.gb_per_s(),
            "median_ns": self.time.as_nanos() as u64,
        });
        if let Some(f) = self.format {
            o["flavor"] = f.name().into();
        }
        if let Some(s) = self.semantics {
            o["semantics"] = s.name().into();
        }
        if let Some(r) = self.vs_read {
            o["vs_read"] = r.into();
        }
        if let Some(r) = self.vs_ggml_c {
            o["vs_ggml_c"] = r.into();
        }
        o
    }
}

/// The last-level cache size from sysfs (Linux), else 32 MiB.
fn llc_bytes() -> usize {
    let parse = |s: &str| {
        let s = s.trim();
        let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
        let n: usize = n.parse().ok()?;
        Some(match unit {
            "K" => n << 10,
            "M" => n << 20,
            _ => n,
        })
    };
    (0..8)
        .rev()
        .find_map(|i| {
            let path = format!("/sys/devices/system/cpu/cpu0/cache/index{i}/size");
            std::fs::read_to_string(path).ok().and_then(|s| parse(&s))
        })
        .unwrap_or(32 << 20)
}

/// A `rows × cols` tensor of `format`: xorshift weights, block scales cycling through five
/// values but equal within each 256 columns (so that BitNet32F16 converts to TQ2_0), tensor
/// scale 0.5. The stored bytes, bitnetcpp's tail included.
fn tensor_bytes(format: TernaryFormat, rows: usize, cols: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let weights: Vec<i8> = (0..rows * cols)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 33) % 3) as i8 - 1
        })
        .collect();
    const SCALES: [f32; 5] = [0.25, 0.5, 0.75, 1.0, -0.5];
    let per_row = cols.div_ceil(format.block_elems());
    let d: Vec<f16> = if format.has_block_scale() {
        (0..rows * per_row)
            .map(|b| {
                let col = (b % per_row) * format.block_elems();
                f16::from_f32(SCALES[(b / per_row + col / 256) % SCALES.len()])
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut bytes = pack(format, &weights, rows, cols, &d).expect("bench shapes pack");
    if format == TernaryFormat::BitnetCpp {
        bytes.extend_from_slice(&0.5f32.to_le_bytes());
        bytes.resize(bytes.len() + 28, 0);
    }
    bytes
}

fn view(format: TernaryFormat, stored: &[u8], rows: usize, cols: usize) -> TernaryTensor<'_> {
    TernaryTensor {
        name: "bench",
        format,
        data: &stored[..stored.len() - format.tail_bytes()],
        stored,
        rows,
        cols,
        scale: if format.has_block_scale() { 1.0 } else { 0.5 },
        post_scale: None,
        offset: 0,
    }
}

/// XOR of every 8 bytes of `data`, with the widest loads this CPU has.
fn read_all(data: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F was just detected.
            return unsafe { read_avx512(data) };
        }
        if is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 was just detected.
            return unsafe { read_avx2(data) };
        }
    }
    data.chunks_exact(8)
        .fold(0, |a, c| a ^ u64::from_le_bytes(c.try_into().unwrap()))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn read_avx512(data: &[u8]) -> u64 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_setzero_si512(); 4];
    for chunk in data.chunks_exact(256) {
        for (k, a) in acc.iter_mut().enumerate() {
            // SAFETY: 64 bytes at 64k within the 256-byte chunk.
            let v = unsafe { _mm512_loadu_si512(chunk.as_ptr().add(64 * k).cast()) };
            *a = _mm512_xor_si512(*a, v);
        }
    }
    let v = _mm512_xor_si512(
        _mm512_xor_si512(acc[0], acc[1]),
        _mm512_xor_si512(acc[2], acc[3]),
    );
    _mm512_reduce_add_epi64(v) as u64
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn read_avx2(data: &[u8]) -> u64 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_setzero_si256(); 4];
    for chunk in data.chunks_exact(128) {
        for (k, a) in acc.iter_mut().enumerate() {
            // SAFETY: 32 bytes at 32k within the 128-byte chunk.
            let v = unsafe { _mm256_loadu_si256(chunk.as_ptr().add(32 * k).cast()) };
            *a = _mm256_xor_si256(*a, v);
        }
    }
    let v = _mm256_xor_si256(
        _mm256_xor_si256(acc[0], acc[1]),
        _mm256_xor_si256(acc[2], acc[3]),
    );
    let mut out = [0u64; 4];
    // SAFETY: 32 writable bytes.
    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), v) };
    out.iter().fold(0, |a, b| a ^ b)
}

/// The GEMV rows for every case; `ggml_c(format, rows, cols)` gives ggml's generic C median
/// for TQ2_0 where it is available.
pub(crate) fn rows(
    quick: bool,
    ggml_c: &mut dyn FnMut(usize, usize, bool) -> Option<Duration>,
) -> Result<Vec<GemvRow>> {
    let kernels = Kernel::available();
    let llc = llc_bytes();
    let mut rows = Vec::new();
    for case in CASES {
        let x: Vec<f32> = (0..case.cols)
            .map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0)
            .collect();
        let mut y = vec![0.0f32; case.rows];
        let mut ggml_c_time = None;
        for (format, semantics) in TIMED {
            let one = tensor_bytes(format, case.rows, case.cols);
            let weight_bytes = one.len() - format.tail_bytes();
            // DRAM: copies filling twice the last-level cache, one call on each in turn.
            let copies = if case.dram {
                (2 * llc).div_ceil(one.len()).max(2)
            } else {
                1
            };
            let mut all = Vec::with_capacity(one.len() * copies);
            for _ in 0..copies {
                all.extend_from_slice(&one);
            }
            drop(one);
            let tensors: Vec<TernaryTensor<'_>> = all
                .chunks_exact(all.len() / copies)
                .map(|s| view(format, s, case.rows, case.cols))
                .collect();
            let weights: Vec<Weights<'_>> = tensors
                .iter()
                .map(|t| Weights::new(t, semantics))
                .collect::<Result<_, _>>()
                .with_context(|| format!("{format} under {semantics}"))?;
            let plan = Plan::for_calls(copies, weight_bytes, quick);
            let mut next = 0;
            let mut read = || {
                let t = &tensors[next % copies];
                next += 1;
                black_box(read_all(black_box(t.data)));
            };
            let mut read_times = Vec::new();
            for &kernel in &kernels {
                let mut at = 0;
                let mut run = || {
                    let w = &weights[at % copies];
                    at += 1;
                    w.gemv(kernel, black_box(&x), &mut y).expect("checked");
                    black_box(&mut y);
                };
                let [read_time, time] = plan.measure_together([&mut read, &mut run]);
                read_times.push(read_time);
                if format == TernaryFormat::Tq2_0 && ggml_c_time.is_none() {
                    ggml_c_time = Some(ggml_c(case.rows, case.cols, case.dram));
                }
                let vs_ggml_c = match (format, ggml_c_time) {
                    (TernaryFormat::Tq2_0, Some(Some(c))) => {
                        Some(c.as_secs_f64() / time.as_secs_f64())
                    }
                    _ => None,
                };
                rows.push(GemvRow {
                    op: "gemv",
                    kernel: kernel.name().to_owned(),
                    format: Some(format),
                    semantics: Some(semantics),
                    case,
                    bytes: weight_bytes,
                    time,
                    vs_read: Some(read_time.as_secs_f64() / time.as_secs_f64()),
                    vs_ggml_c,
                });
            }
            rows.push(GemvRow {
                op: "read",
                kernel: "read".to_owned(),
                format: Some(format),
                semantics: None,
                case,
                bytes: weight_bytes,
                time: median(&mut read_times),
                vs_read: None,
                vs_ggml_c: None,
            });
        }
        if let Some(Some(time)) = ggml_c_time {
            let bytes = TernaryFormat::Tq2_0
                .data_bytes(case.rows as u64, case.cols as u64)
                .expect("bench shape") as usize;
            rows.push(GemvRow {
                op: "gemv",
                kernel: "ggml-c".to_owned(),
                format: Some(TernaryFormat::Tq2_0),
                semantics: Some(Semantics::Ggml),
                case,
                bytes,
                time,
                vs_read: None,
                vs_ggml_c: None,
            });
        }
    }
    Ok(rows)
}

pub(crate) fn print_table(rows: &[GemvRow]) {
    println!();
    println!(
        "{:<5} {:<8} {:<12} {:<9} {:>11} {:>5} {:>11} {:>8} {:>8} {:>9}",
        "op",
        "kernel",
        "flavor",
        "semantics",
        "rows x cols",
        "dram",
        "median",
        "GB/s",
        "vs read",
        "vs ggml C"
    );
    let ratio = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x"));
    for row in rows {
        println!(
            "{:<5} {:<8} {:<12} {:<9} {:>11} {:>5} {:>11} {:>8.2} {:>8} {:>9}",
            row.op,
            row.kernel,
            row.format.map_or("-", TernaryFormat::name),
            row.semantics.map_or("-", Semantics::name),
            format!("{}x{}", row.case.rows, row.case.cols),
            if row.case.dram { "yes" } else { "no" },
            format!("{:.1?}", row.time),
            row.gb_per_s(),
            ratio(row.vs_read),
            ratio(row.vs_ggml_c),
        );
    }
}

/// ggml's generic C GEMV, the baseline of the TQ2_0 GEMV rows: `crossval/ggml-dump --bench-gemv`
/// (crossval/README.md, "GEMV": `quantize_row_q8_K_ref`, then one generic
/// `ggml_vec_dot_tq2_0_q8_K` per row, one thread, C built by `cargo build --release`).
#[derive(Debug)]
pub struct GgmlGemv {
    exe: std::path::PathBuf,
}

/// One `--bench-gemv` measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GgmlGemvTime {
    /// The median time of one GEMV.
    pub median: Duration,
    /// The weight bytes one GEMV reads.
    pub weight_bytes: u64,
}

impl GgmlGemv {
    /// Builds ggml-dump as `cargo xtask crossval` does (`cargo build --release --locked`).
    pub fn build() -> Result<Self> {
        let built = crate::crossval::build_ggml_dump(&crate::workspace_root())?;
        Ok(Self { exe: built.exe })
    }

    /// The median of `reps` timed GEMVs of a `rows × cols` tensor of type `ty` (`"tq2_0"` or
    /// `"tq1_0"`), after one warm-up.
    pub fn time(&self, ty: &str, rows: usize, cols: usize, reps: usize) -> Result<GgmlGemvTime> {
        let args = [
            "--bench-gemv".to_owned(),
            ty.to_owned(),
            rows.to_string(),
            cols.to_string(),
            reps.to_string(),
        ];
        let output = Command::new(&self.exe)
            .args(&args)
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("failed to run ggml-dump --bench-gemv")?;
        if !output.status.success() {
            bail!("ggml-dump {} failed ({})", args.join(" "), output.status);
        }
        parse_ggml_gemv(&output.stdout, ty, rows, cols)
            .with_context(|| format!("ggml-dump {}", args.join(" ")))
    }
}

/// Reads `ggml-dump --bench-gemv`'s JSON, which must echo the type and shape asked for.
fn parse_ggml_gemv(json: &[u8], ty: &str, rows: usize, cols: usize) -> Result<GgmlGemvTime> {
    let v: serde_json::Value = serde_json::from_slice(json).context("not JSON")?;
    let echoed = (v["type"].as_str(), v["rows"].as_u64(), v["cols"].as_u64());
    if echoed != (Some(ty), Some(rows as u64), Some(cols as u64)) {
        bail!("measured {echoed:?}, not {ty} {rows}x{cols}");
    }
    let field = |name: &str| {
        v[name]
            .as_u64()
            .with_context(|| format!("no integer `{name}`"))
    };
    Ok(GgmlGemvTime {
        median: Duration::from_nanos(field("median_ns")?),
        weight_bytes: field("weight_bytes")?,
    })
}

#[cfg(test)]
mod ggml_gemv_tests {
    use super::*;

    #[test]
    fn ggml_gemv_json_is_read_only_for_the_shape_asked_for() {
        let json = br#"{"type":"tq2_0","rows":2560,"cols":6912,"reps":5,"weight_bytes":4561920,
            "median_ns":6293532,"min_ns":1,"max_ns":2,"weight_gb_per_s":0.72}"#;
        let t = parse_ggml_gemv(json, "tq2_0", 2560, 6912).unwrap();
        assert_eq!(t.median, Duration::from_nanos(6_293_532));
        assert_eq!(t.weight_bytes, 4_561_920);
        assert!(parse_ggml_gemv(json, "tq2_0", 6912, 2560).is_err());
        assert!(parse_ggml_gemv(json, "tq1_0", 2560, 6912).is_err());
        assert!(parse_ggml_gemv(
            br#"{"type":"tq2_0","rows":2560,"cols":6912}"#,
            "tq2_0",
            2560,
            6912
        )
        .is_err());
    }
}
