//! `cargo xtask bench-kernels [--json] [--quick]`: every available dequantization kernel × every
//! ternary format × {65,536; 16,777,216} output elements, against two baselines that write the
//! same `f32` output and read nothing (docs/xtask.md).
//!
//! - `fill`: `slice::fill` with a value that is not a byte pattern (so not `memset`), compiled
//!   for the default target features — what plain code gets.
//! - `limit`: [`Kernel::fill`] of the best kernel: the widest store this CPU has, non-temporal
//!   for outputs of at least `STREAM_MIN_BYTES` (as the kernels are) — the physical limit of
//!   writing the output. A kernel at `vs limit` 1.00 runs at store bandwidth.
//!
//! A `store` row times the limit's stores without the non-temporal hint, paired with the limit:
//! its `vs limit` below 1 is what streaming gains at that size.
//!
//! Both baselines are timed in alternation with each kernel, and `vs fill` / `vs limit` are the
//! ratios of those paired medians (above 1: the kernel is faster); the baseline rows show the
//! median over all pairs. The scan rows time `bitnet_models::scan` over the same data (input
//! bytes only).
//!
//! Timing is hand-rolled (`Instant` + `black_box`, median of several repetitions): enough to
//! compare kernels with each other and with the baselines on one machine, not a statistics
//! suite. The xtask normally runs in the dev profile, so a debug build re-runs itself through
//! `cargo run --release` first: kernels, baselines and timing loop are then all optimized alike.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bitnet_models::{scan, Kernel, KernelKind, TernaryFormat};

/// Set in the re-run so that it never re-runs itself again.
const REEXEC_ENV: &str = "BITNET_BENCH_KERNELS_RELEASE";

/// Output lengths measured: one that stays in L2, one bound by memory bandwidth.
const SIZES: [usize; 2] = [65_536, 16_777_216];

/// Columns of the benchmark tensors: a multiple of every block size, so no padding.
const COLS: usize = 4096;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Few repetitions: a smoke run for CI.
    #[arg(long)]
    quick: bool,
    /// Only the GEMV rows (matrix products), not the dequantization ones.
    #[arg(long)]
    gemv: bool,
    /// Time `bitnet-cli convert` to each target against `cp` instead (docs/xtask.md).
    #[arg(long)]
    convert: bool,
    /// With `--convert`: the gen-model shape of the input (small: about 75 MB; 2b4t: 1.2 GB).
    #[arg(long, value_enum, default_value = "small", requires = "convert")]
    shape: crate::gen_model::Shape,
}

pub fn run(args: Args) -> Result<()> {
    if cfg!(debug_assertions) && std::env::var_os(REEXEC_ENV).is_none() {
        return rerun_release(&args);
    }
    if args.convert {
        return crate::bench_convert::run(args.json, args.quick, args.shape);
    }
    let kernels = Kernel::available();
    let skipped: Vec<&str> = KernelKind::ALL
        .into_iter()
        .filter(|&kind| Kernel::detect(kind).is_none())
        .map(KernelKind::name)
        .collect();
    if !args.json {
        println!(
            "kernels: {} (skipped, not supported here: {})",
            kernels
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", "),
            if skipped.is_empty() {
                "none".to_owned()
            } else {
                skipped.join(", ")
            }
        );
    }

    let limit_kernel = Kernel::best();
    let mut rows = Vec::new();
    let sizes: &[usize] = if args.gemv { &[] } else { &SIZES };
    for &elements in sizes {
        let plan = Plan::new(elements, args.quick);
        let mut out = vec![0.0f32; elements];
        let mut fill_out = vec![0.0f32; elements];
        let mut fill = || {
            fill_out.fill(black_box(1.5));
            black_box(&mut fill_out);
        };
        let mut limit_out = vec![0.0f32; elements];
        let mut limit = || {
            limit_kernel.fill(&mut limit_out, black_box(1.5));
            black_box(&mut limit_out);
        };
        let (mut fill_times, mut limit_times) = (Vec::new(), Vec::new());
        // The same widest stores without non-temporal hints: what streaming is worth.
        let mut store_out = vec![0.0f32; elements];
        let mut store = || {
            limit_kernel.fill_with(&mut store_out, black_box(1.5), false);
            black_box(&mut store_out);
        };
        let [store_time, limit_time] = plan.measure_together([&mut store, &mut limit]);
        let mut store_row = Row::new("store", limit_kernel.name(), None, elements, store_time);
        store_row.vs_limit = Some(limit_time.as_secs_f64() / store_time.as_secs_f64());
        drop(store_out);

        for format in TernaryFormat::ALL {
            let data = bench_data(format, elements);
            let tensor_rows = elements / COLS;
            let scale = if format.has_block_scale() { 1.0 } else { 0.5 };
            let mut scalar = None;
            for &kernel in &kernels {
                // Check once, outside the timed loop, that the call succeeds.
                kernel
                    .dequantize(format, &data, tensor_rows, COLS, scale, &mut out)
                    .with_context(|| format!("{} {}", kernel.name(), format.name()))?;
                let mut run = || {
                    let result = kernel.dequantize(
                        format,
                        black_box(&data),
                        tensor_rows,
                        COLS,
                        scale,
                        &mut out,
                    );
                    black_box(result.is_ok());
                    black_box(&mut out);
                };
                let [fill_time, limit_time, time] =
                    plan.measure_together([&mut fill, &mut limit, &mut run]);
                fill_times.push(fill_time);
                limit_times.push(limit_time);
                let mut row = Row::new("dequantize", kernel.name(), Some(format), elements, time);
                row.vs_fill = Some(fill_time.as_secs_f64() / time.as_secs_f64());
                row.vs_limit = Some(limit_time.as_secs_f64() / time.as_secs_f64());
                if kernel.kind() == KernelKind::Scalar {
                    scalar = Some(time);
                }
                row.vs_scalar = scalar.map(|s| s.as_secs_f64() / time.as_secs_f64());
                rows.push(row);
            }
            let time = plan.measure(|| {
                black_box(scan(format, black_box(&data), tensor_rows, COLS).ok());
            });
            rows.push(Row::new("scan", "scan", Some(format), elements, time));
        }
        let fill_row = Row::new("fill", "fill", None, elements, median(&mut fill_times));
        let limit_row = Row::new(
            "limit",
            limit_kernel.name(),
            None,
            elements,
            median(&mut limit_times),
        );
        let at = rows.len()
            - rows
                .iter()
                .rev()
                .take_while(|r| r.elements == elements)
                .count();
        rows.splice(at..at, [fill_row, store_row, limit_row]);
    }

    // ggml's generic C for the TQ2_0 rows, at the cache-resident shapes (its speed does not
    // depend on where the weights are: it is bound by its arithmetic).
    let ggml = crate::bench_gemv::GgmlGemv::build()
        .map_err(|e| eprintln!("bench-kernels: no ggml C rows, ggml-dump did not build: {e:#}"))
        .ok();
    let reps = if args.quick { 3 } else { 21 };
    let mut ggml_c = |rows: usize, cols: usize, dram: bool| {
        let ggml = ggml.as_ref().filter(|_| !dram)?;
        match ggml.time("tq2_0", rows, cols, reps) {
            Ok(t) => Some(t.median),
            Err(e) => {
                eprintln!("bench-kernels: ggml C {rows}x{cols}: {e:#}");
                None
            }
        }
    };
    let gemv = crate::bench_gemv::rows(args.quick, &mut ggml_c)?;
    if args.json {
        for row in &rows {
            println!("{}", row.json());
        }
        for row in &gemv {
            println!("{}", row.json());
        }
    } else {
        if !rows.is_empty() {
            print_table(&rows);
        }
        crate::bench_gemv::print_table(&gemv);
    }
    Ok(())
}

/// Re-run this command from an optimized build of the xtask.
fn rerun_release(args: &Args) -> Result<()> {
    eprintln!("bench-kernels: debug build, re-running with `cargo run --release`");
    let mut command = Command::new(crate::cargo());
    command
        .current_dir(crate::workspace_root())
        .args([
            "run",
            "--release",
            "--quiet",
            "--package",
            "xtask",
            "--",
            "bench-kernels",
        ])
        .env(REEXEC_ENV, "1");
    if args.json {
        command.arg("--json");
    }
    if args.quick {
        command.arg("--quick");
    }
    if args.gemv {
        command.arg("--gemv");
    }
    if args.convert {
        command.arg("--convert");
        command.args(["--shape", crate::bench_convert::shape_name(args.shape)]);
    }
    let status = command.status().context("running cargo run --release")?;
    if !status.success() {
        bail!("bench-kernels (release build) failed: {status}");
    }
    Ok(())
}

/// How many calls make one timed repetition, and how many repetitions.
pub(crate) struct Plan {
    calls: usize,
    reps: usize,
}

impl Plan {
    fn new(elements: usize, quick: bool) -> Plan {
        // About 2^24 output elements per repetition, so small sizes are not timer noise.
        let calls = (1 << 24) / elements;
        let reps = match (quick, calls > 1) {
            (true, _) => 3,
            (false, true) => 21,
            (false, false) => 25,
        };
        Plan {
            calls: calls.max(1),
            reps,
        }
    }

    /// At least `calls` calls per repetition (a GEMV over `calls` copies of its weights), and
    /// enough that a repetition reads about 2^24 bytes of `bytes`-byte tensors.
    pub(crate) fn for_calls(calls: usize, bytes: usize, quick: bool) -> Plan {
        Plan {
            calls: calls.max((1 << 24) / bytes.max(1)).max(1),
            reps: if quick { 3 } else { 25 },
        }
    }

    /// Median time of one call of `f`.
    fn measure(&self, mut f: impl FnMut()) -> Duration {
        f(); // warm up: page faults, caches, frequency
        let mut times: Vec<Duration> = (0..self.reps).map(|_| self.time(&mut f)).collect();
        median(&mut times)
    }

    /// Median times of one call of each of `fs`, timed in alternation so that all see the same
    /// machine (other processes, frequency) and their ratios are meaningful.
    pub(crate) fn measure_together<const N: usize>(
        &self,
        mut fs: [&mut dyn FnMut(); N],
    ) -> [Duration; N] {
        for f in fs.iter_mut() {
            f(); // warm up: page faults, caches, frequency
        }
        let mut times: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::new());
        for _ in 0..self.reps {
            for (f, times) in fs.iter_mut().zip(times.iter_mut()) {
                times.push(self.time(f));
            }
        }
        times.map(|mut t| median(&mut t))
    }

    /// Time of one call of `f`, averaged over `self.calls` calls.
    fn time(&self, f: &mut dyn FnMut()) -> Duration {
        let start = Instant::now();
        for _ in 0..self.calls {
            f();
        }
        start.elapsed() / self.calls as u32
    }
}

pub(crate) fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// A tensor of `elements` values, `COLS` wide: valid random codes 0..3 (a fixed xorshift, so
/// every run times the same bytes; no reserved code, so the scan takes its common path), for
/// TQ1_0 random bytes (every byte is valid digits), and finite block scales `d` after the code
/// bytes.
fn bench_data(format: TernaryFormat, elements: usize) -> Vec<u8> {
    // The blocks the kernels and the scan take (without bitnetcpp's tail).
    let len = format
        .data_bytes((elements / COLS) as u64, COLS as u64)
        .expect("small shape") as usize;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut data: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if !format.has_2bit_codes() {
                return (state >> 32) as u8;
            }
            // Four codes, each the top bits of a 16-bit slice times 3: uniform enough over 0..3.
            (0..4).fold(0u8, |byte, k| {
                let code = (((state >> (16 * k)) & 0xFFFF) * 3) >> 16;
                byte | ((code as u8) << (2 * k))
            })
        })
        .collect();
    if format.has_block_scale() {
        // f16 bits of 0.25, 0.5, 0.75, 1.0, -0.5.
        const SCALES: [u16; 5] = [0x3400, 0x3800, 0x3A00, 0x3C00, 0xB800];
        for (b, block) in data.chunks_exact_mut(format.block_bytes()).enumerate() {
            let d = SCALES[b % SCALES.len()];
            block[format.code_bytes()..].copy_from_slice(&d.to_le_bytes());
        }
    }
    data
}

struct Row {
    op: &'static str,
    kernel: &'static str,
    format: Option<TernaryFormat>,
    elements: usize,
    time: Duration,
    vs_fill: Option<f64>,
    vs_limit: Option<f64>,
    vs_scalar: Option<f64>,
}

impl Row {
    fn new(
        op: &'static str,
        kernel: &'static str,
        format: Option<TernaryFormat>,
        elements: usize,
        time: Duration,
    ) -> Row {
        Row {
            op,
            kernel,
            format,
            elements,
            time,
            vs_fill: None,
            vs_limit: None,
            vs_scalar: None,
        }
    }

    fn gelem_per_s(&self) -> f64 {
        self.elements as f64 / self.time.as_secs_f64() / 1e9
    }

    fn json(&self) -> serde_json::Value {
        let mut object = serde_json::json!({
            "op": self.op,
            "kernel": self.kernel,
            "elements": self.elements,
            "gelem_per_s": self.gelem_per_s(),
            "median_ns": self.time.as_nanos() as u64,
        });
        if let Some(format) = self.format {
            object["flavor"] = format.name().into();
        }
        if let Some(ratio) = self.vs_fill {
            object["vs_fill"] = ratio.into();
        }
        if let Some(ratio) = self.vs_limit {
            object["vs_limit"] = ratio.into();
        }
        if let Some(ratio) = self.vs_scalar {
            object["vs_scalar"] = ratio.into();
        }
        object
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<10} {:<8} {:<12} {:>10} {:>10} {:>12} {:>9} {:>9} {:>9}",
        "op",
        "kernel",
        "flavor",
        "elements",
        "Gelem/s",
        "median",
        "vs fill",
        "vs limit",
        "vs scalar"
    );
    let ratio = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x"));
    for row in rows {
        println!(
            "{:<10} {:<8} {:<12} {:>10} {:>10.2} {:>12} {:>9} {:>9} {:>9}",
            row.op,
            row.kernel,
            row.format.map_or("-", TernaryFormat::name),
            row.elements,
            row.gelem_per_s(),
            format!("{:.1?}", row.time),
            ratio(row.vs_fill),
            ratio(row.vs_limit),
            ratio(row.vs_scalar),
        );
    }
}
