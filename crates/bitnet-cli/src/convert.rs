//! `convert IN OUT --to FORMAT [--arch NAME] [--force] [--json]`: every ternary tensor
//! re-encoded to FORMAT, exactly or not at all; everything else copied (docs/convert.md).
//!
//! The library decides and checks (`bitnet_models::convert`); this module owns the files: the
//! input mapped, the output written to a temporary file in OUT's directory, synced and renamed
//! into place only when every tensor has been converted and checked. OUT that exists needs
//! `--force`; OUT that is IN (by any path) is refused; on any failure nothing is left behind.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail};
use bitnet_models::convert::{Options, Plan};
use bitnet_models::TernaryFormat;
use serde_json::json;

use crate::input::Input;
use crate::output::write_atomically;
use crate::progress::Progress;
use crate::report::coded;
use crate::{Failure, OrExit};

/// The formats `--to` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Target {
    /// ggml TQ2_0 (type 35), mainline llama.cpp.
    #[value(name = "tq2_0")]
    Tq2_0,
    /// ggml TQ1_0 (type 34), mainline llama.cpp: 1.69 bits per weight.
    #[value(name = "tq1_0")]
    Tq1_0,
    /// I2_S, QK256 flavor (a `.scale` tensor per weight).
    Qk256,
    /// I2_S, BitNet32F16 flavor (an f16 scale per 32 weights).
    Bitnet32f16,
    /// I2_S as bitnet.cpp writes it.
    Bitnetcpp,
}

impl Target {
    fn format(self) -> TernaryFormat {
        match self {
            Target::Tq2_0 => TernaryFormat::Tq2_0,
            Target::Tq1_0 => TernaryFormat::Tq1_0,
            Target::Qk256 => TernaryFormat::Qk256,
            Target::Bitnet32f16 => TernaryFormat::BitNet32F16,
            Target::Bitnetcpp => TernaryFormat::BitnetCpp,
        }
    }
}

/// Arguments of `convert`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The GGUF file to convert.
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// The file to write.
    #[arg(value_name = "OUT")]
    output: PathBuf,
    /// The ternary format every ternary tensor becomes.
    #[arg(long, value_enum, value_name = "FORMAT")]
    to: Target,
    /// Rename general.architecture and the prefix of its keys (bitnet for mainline llama.cpp).
    #[arg(long, value_name = "NAME")]
    arch: Option<String>,
    /// Replace OUT if it exists.
    #[arg(long)]
    force: bool,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    json: bool,
}

/// Refuses an OUT that is IN, by any path, or that exists without `--force`.
fn check_output(input: &Path, output: &Path, force: bool) -> anyhow::Result<()> {
    let Ok(out_meta) = std::fs::metadata(output) else {
        return Ok(());
    };
    let in_meta = std::fs::metadata(input)?;
    if bitnet_models::files::same_file(&in_meta, &out_meta) {
        bail!(
            "{}: is the input {} (the same file); write the conversion elsewhere",
            output.display(),
            input.display()
        );
    }
    if !force {
        bail!("{}: exists; pass --force to replace it", output.display());
    }
    Ok(())
}

/// Runs `convert`.
pub(crate) fn run(args: &Args) -> Result<u8, Failure> {
    let start = Instant::now();
    let input = Input::open(&args.input).or_usage()?;
    check_output(input.path(), &args.output, args.force).or_usage()?;
    let path = input.path().display().to_string();
    let model = input.model()?;
    let options = Options {
        target: args.to.format(),
        arch: args.arch.clone(),
    };
    let plan = Plan::new(&model, &options)
        .map_err(|e| anyhow!(coded(format!("{path}: {e}; nothing written"), e.code())))
        .or_invalid()?;

    let mut progress = Progress::new(!args.json, input.bytes().len() as u64, "converting");
    progress.set_message(args.output.display().to_string());
    let mut summary = None;
    let mut refused = None;
    let mut released = 0;
    let written = write_atomically(&args.output, args.force, |w| {
        w.copy_from(input.mapped());
        match plan.write(&mut *w, |read| {
            progress.inc(read.len() as u64);
            input.release_behind(read, &mut released);
        }) {
            Ok((_, s)) => {
                summary = Some(s);
                Ok(())
            }
            Err(bitnet_models::convert::ConvertError::Write(e)) => Err(e.into()),
            Err(e) => {
                let message = coded(format!("{path}: {e}; nothing written"), e.code());
                refused = Some(message.clone());
                Err(anyhow!(message))
            }
        }
    });
    progress.finish();
    if let Some(message) = refused {
        return Err(Failure::new(crate::EXIT_INVALID, anyhow!(message)));
    }
    written.or_usage()?;
    let summary = summary.ok_or_else(|| anyhow!("no summary")).or_usage()?;
    let bytes_out = std::fs::metadata(&args.output)
        .map(|m| m.len())
        .unwrap_or(0);
    let seconds = start.elapsed().as_secs_f64();
    let mut out = io::stdout().lock();
    if args.json {
        let line = json!({
            "input": path,
            "output": args.output.display().to_string(),
            "to": options.target.name(),
            "converted": summary.converted,
            "copied": summary.copied,
            "scales_written": summary.scales_written,
            "scales_dropped": summary.scales_dropped,
            "bytes_in": input.bytes().len(),
            "bytes_out": bytes_out,
            "buffer_bytes": summary.buffer_bytes,
            "workers": summary.workers,
            "seconds": seconds,
        });
        writeln!(out, "{line}").or_usage()?;
    } else {
        writeln!(
            out,
            "{}: {} tensor(s) converted to {} and checked, {} copied, {} .scale tensor(s) \
             written, {} dropped; {} bytes in {:.2} s",
            args.output.display(),
            summary.converted,
            options.target.name(),
            summary.copied,
            summary.scales_written,
            summary.scales_dropped,
            bytes_out,
            seconds
        )
        .or_usage()?;
    }
    Ok(0)
}
