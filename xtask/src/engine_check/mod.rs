//! `cargo xtask engine-check [--threads N] [--alter MODEL]`: mainline llama.cpp loads and runs
//! the project's models, and conversion keeps the logits (docs/xtask.md).
//!
//! - `engine.rs`: builds `crossval/llama-eval` (llama.cpp through `llama-cpp-sys-2`) and runs it.
//! - `models.rs`: the models: `gen-model` outputs, conversions, F32 decodings, `--alter`.
//! - `tokens.rs`: the token ids the check's text must get, from the vocabulary alone.
//! - `compare.rs`: bit-for-bit and tolerance comparisons of logits; tested without the engine.

mod compare;
mod engine;
mod models;
mod tokens;

use std::collections::HashMap;
use std::fs;
use std::time::Instant;

use anyhow::{bail, Result};
use bitnet_models::Kernel;

use crate::gen_model::Shape;
use engine::Run;
use models::{Expect, ModelFile};

/// Arguments of `engine-check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Threads llama.cpp computes with. 1, the default, makes the logits independent of how
    /// ggml splits work between threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    threads: u16,
    /// Alter this model after writing it (its first TQ block scale is negated), to see the
    /// check fail: one of the model file names the report lists.
    #[arg(long, value_name = "MODEL")]
    alter: Option<String>,
}

/// The text every model evaluates, tokenized by llama.cpp with the model's own tokenizer.
const TEXT: &str = "the bitnet engine check feeds this fixed text to every model";

/// The largest RMS difference allowed between a TQ model's logits and its F32 decoding's at any
/// position, relative to the RMS of the F32 model's logits there: twice what Q8_K's activation
/// rounding predicts (docs/xtask.md, "Tolerance").
const TOLERANCE: f64 = 0.05;

/// A comparison between two models' logits.
enum Check {
    /// Bit for bit.
    Identical(&'static str, &'static str),
    /// The first within [`TOLERANCE`] of the second, an F32 decoding.
    Close(&'static str, &'static str),
}

const CHECKS: &[Check] = &[
    Check::Identical("mini-tq2_0.tq1_0.gguf", "mini-tq2_0.gguf"),
    Check::Identical("mini-bitnetcpp.tq1_0.gguf", "mini-bitnetcpp.tq2_0.gguf"),
    Check::Identical(
        "mini-bitnetcpp.qk256.tq2_0.gguf",
        "mini-bitnetcpp.tq2_0.gguf",
    ),
    Check::Close("mini-tq2_0.gguf", "mini-tq2_0.f32.gguf"),
    Check::Close("mini-bitnetcpp.tq2_0.gguf", "mini-bitnetcpp.tq2_0.f32.gguf"),
];

pub fn run(args: Args) -> Result<()> {
    let root = crate::workspace_root();
    let kernel = Kernel::selected()?;
    let engine = engine::build(&root)?;
    let info = &engine.info;
    println!(
        "engine: llama.cpp {} (ggml {}, commit {}) from {}, built in {:.1} s",
        info.llama_cpp,
        info.ggml,
        info.ggml_commit,
        info.source,
        engine.built.build_time.as_secs_f64()
    );
    println!("  {}", info.system_info);

    let models = models::write_all(&root, kernel)?;
    if let Some(name) = &args.alter {
        println!("altered: {}", models::alter(&models, name)?);
    }
    let vocab = Shape::Mini.vocab()?;
    let expected = tokens::expected(&vocab, TEXT)?;
    println!(
        "text {TEXT:?}: {} tokens by the vocabulary's merges, BOS first; {} thread(s)",
        expected.len(),
        args.threads
    );

    let mut failures = Vec::new();
    let mut runs: HashMap<&str, Run> = HashMap::new();
    println!("\nmodels ({}/):", models::SCRATCH);
    for model in &models {
        let start = Instant::now();
        let run = engine.run(&model.path, TEXT, usize::from(args.threads))?;
        let seconds = start.elapsed().as_secs_f64();
        let result = check_run(model, &run, &expected, vocab.tokens.len());
        let shown = match &result {
            Ok(what) => format!("ok: {what}"),
            Err(why) => {
                failures.push(format!("{}: {why}", model.name));
                format!("FAILED: {why}")
            }
        };
        println!(
            "  {:<38} {:<50} {seconds:>5.2} s  {shown}",
            model.name, model.made
        );
        runs.insert(model.name.as_str(), run);
    }

    println!("\ncomparisons:");
    for check in CHECKS {
        let (a, b) = match check {
            Check::Identical(a, b) | Check::Close(a, b) => (*a, *b),
        };
        let (Some(ra), Some(rb)) = (runs.get(a), runs.get(b)) else {
            bail!("{a} or {b} is not a model of the check");
        };
        let result = match check {
            Check::Identical(..) => compare::identical(&ra.logits, &rb.logits)
                .map(|n| format!("bit-identical, {n} logits{}", same_file_note(&models, a, b))),
            Check::Close(..) => compare::closeness(&ra.logits, &rb.logits).and_then(|c| {
                let line = format!(
                    "{} logits; RMS of the difference {:.2}% of the F32 logits' RMS (worst \
                     position {}: {:.2}%, tolerance {:.0}%); max |Δ| {:.4} at position {}, \
                     token {}",
                    c.count,
                    100.0 * c.rel_rms,
                    c.worst_position,
                    100.0 * c.worst_rel_rms,
                    100.0 * TOLERANCE,
                    c.max_abs,
                    c.at.0,
                    c.at.1,
                );
                if c.worst_rel_rms <= TOLERANCE {
                    Ok(line)
                } else {
                    Err(format!("beyond the tolerance: {line}"))
                }
            }),
        };
        let verb = match check {
            Check::Identical(..) => "vs",
            Check::Close(..) => "vs F32",
        };
        match result {
            Ok(line) => println!("  {a} {verb} {b}: ok: {line}"),
            Err(why) => {
                println!("  {a} {verb} {b}: FAILED: {why}");
                failures.push(format!("{a} vs {b}: {why}"));
            }
        }
    }

    println!(
        "\nengine-check: {} models, {} comparisons, {} failed; llama.cpp {} from {}",
        models.len(),
        CHECKS.len(),
        failures.len(),
        info.llama_cpp,
        info.source
    );
    if !failures.is_empty() {
        bail!("engine-check failed:\n  {}", failures.join("\n  "));
    }
    Ok(())
}

/// What one model's run must show.
fn check_run(
    model: &ModelFile,
    run: &Run,
    expected: &[i32],
    n_vocab: usize,
) -> Result<String, String> {
    let error = run.error.as_deref().unwrap_or("");
    match model.expect {
        Expect::RefuseI2s | Expect::RefuseArch if run.loaded => Err(format!(
            "loaded, but mainline llama.cpp was expected to refuse it ({})",
            if model.expect == Expect::RefuseI2s {
                "I2_S, type 36"
            } else {
                "architecture bitnet-b1.58"
            }
        )),
        Expect::RefuseI2s if error.contains("of type 36") => {
            Ok("refused, as expected for I2_S (type 36 is not a mainline type)".to_owned())
        }
        Expect::RefuseArch if error.contains("unknown model architecture: 'bitnet-b1.58'") => {
            Ok("refused, as expected: `bitnet-b1.58` is not a mainline architecture".to_owned())
        }
        Expect::RefuseI2s | Expect::RefuseArch => {
            Err(format!("refused, but not for the expected reason: {error}"))
        }
        Expect::Run if !run.loaded => Err(format!("not loaded: {error}")),
        Expect::Run => {
            if !error.is_empty() {
                return Err(error.to_owned());
            }
            if !run.log.is_empty() {
                return Err(format!("llama.cpp logged: {}", run.log.join("; ")));
            }
            if run.n_vocab != n_vocab {
                return Err(format!(
                    "{} tokens in the vocabulary, not {n_vocab}",
                    run.n_vocab
                ));
            }
            if run.tokens != expected {
                return Err(format!(
                    "the text gave tokens {:?}, not {expected:?}",
                    run.tokens
                ));
            }
            if run.logits.len() != expected.len() || run.logits.iter().any(|r| r.len() != n_vocab) {
                return Err(format!(
                    "{} rows of logits, not {} × {n_vocab}",
                    run.logits.len(),
                    expected.len()
                ));
            }
            if let Some((p, t, v)) = compare::first_non_finite(&run.logits) {
                return Err(format!(
                    "logit {v} at position {p}, token {t} is not finite"
                ));
            }
            Ok(format!(
                "{}, {} × {n_vocab} finite logits",
                run.desc,
                run.logits.len()
            ))
        }
    }
}

/// `" (the two files are byte-identical)"` when they are.
fn same_file_note(models: &[ModelFile], a: &str, b: &str) -> &'static str {
    let bytes = |name: &str| {
        models
            .iter()
            .find(|m| m.name == name)
            .and_then(|m| fs::read(&m.path).ok())
    };
    match (bytes(a), bytes(b)) {
        (Some(x), Some(y)) if x == y => " (the two files are byte-identical)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn model(expect: Expect) -> ModelFile {
        ModelFile {
            path: PathBuf::from("m.gguf"),
            name: "m.gguf".into(),
            made: String::new(),
            expect,
        }
    }

    /// A run that loaded: tokens [1, 2], a vocabulary of 3, finite logits.
    fn loaded() -> Run {
        serde_json::from_str(
            r#"{"file": "m.gguf", "loaded": true, "error": null, "desc": "bitnet ?B TQ2_0",
                "n_vocab": 3, "tokens": [1, 2], "log": [],
                "logits": [["0x3f800000", "0x00000000", "0xbf800000"],
                           ["0x40000000", "0x40400000", "0x40800000"]]}"#,
        )
        .unwrap()
    }

    fn refused(error: &str) -> Run {
        serde_json::from_value(serde_json::json!({
            "file": "m.gguf", "loaded": false, "error": error, "log": []
        }))
        .unwrap()
    }

    #[test]
    fn test_the_runs_json_is_read_with_the_logits_bit_for_bit() {
        let run = loaded();
        assert_eq!(run.logits, vec![vec![1.0, 0.0, -1.0], vec![2.0, 3.0, 4.0]]);
        let bad = r#"{"file": "m", "loaded": true, "error": null, "logits": [["1.0"]]}"#;
        let e = serde_json::from_str::<Run>(bad).unwrap_err().to_string();
        assert!(e.contains("\"1.0\" is not 0x"), "{e}");
    }

    #[test]
    fn test_a_model_that_runs_must_give_the_expected_tokens_and_finite_logits() {
        let m = model(Expect::Run);
        assert_eq!(
            check_run(&m, &loaded(), &[1, 2], 3),
            Ok("bitnet ?B TQ2_0, 2 × 3 finite logits".to_owned())
        );
        let fails = |run: Run, tokens: &[i32], n_vocab: usize| {
            check_run(&m, &run, tokens, n_vocab).unwrap_err()
        };
        assert_eq!(
            fails(loaded(), &[1, 3], 3),
            "the text gave tokens [1, 2], not [1, 3]"
        );
        assert_eq!(
            fails(loaded(), &[1, 2], 4),
            "3 tokens in the vocabulary, not 4"
        );
        let mut warned = loaded();
        warned.log = vec!["warn: missing pre-tokenizer".into()];
        assert_eq!(
            fails(warned, &[1, 2], 3),
            "llama.cpp logged: warn: missing pre-tokenizer"
        );
        let mut nan = loaded();
        nan.logits[1][2] = f32::NAN;
        assert_eq!(
            fails(nan, &[1, 2], 3),
            "logit NaN at position 1, token 2 is not finite"
        );
        let mut short = loaded();
        short.logits.pop();
        assert_eq!(fails(short, &[1, 2], 3), "1 rows of logits, not 2 × 3");
        let mut narrow = loaded();
        narrow.logits[0].pop();
        assert_eq!(fails(narrow, &[1, 2], 3), "2 rows of logits, not 2 × 3");
        assert_eq!(
            fails(refused("error: bad file"), &[1, 2], 3),
            "not loaded: error: bad file"
        );
    }

    #[test]
    fn test_a_model_that_must_be_refused_must_be_for_its_reason() {
        let i2s = "error: tensor 'blk.0.attn_q.weight' of type 36 (TYPE_IQ4_NL_4_4 REMOVED)";
        let arch = "error: unknown model architecture: 'bitnet-b1.58'";
        let (m_i2s, m_arch) = (model(Expect::RefuseI2s), model(Expect::RefuseArch));
        assert!(check_run(&m_i2s, &refused(i2s), &[], 3)
            .unwrap()
            .starts_with("refused, as expected"));
        assert!(check_run(&m_arch, &refused(arch), &[], 3)
            .unwrap()
            .starts_with("refused, as expected"));
        assert_eq!(
            check_run(&m_i2s, &refused(arch), &[], 3).unwrap_err(),
            format!("refused, but not for the expected reason: {arch}")
        );
        assert_eq!(
            check_run(&m_arch, &refused(i2s), &[], 3).unwrap_err(),
            format!("refused, but not for the expected reason: {i2s}")
        );
        assert_eq!(
            check_run(&m_i2s, &loaded(), &[1, 2], 3).unwrap_err(),
            "loaded, but mainline llama.cpp was expected to refuse it (I2_S, type 36)"
        );
        assert_eq!(
            check_run(&m_arch, &loaded(), &[1, 2], 3).unwrap_err(),
            "loaded, but mainline llama.cpp was expected to refuse it (architecture bitnet-b1.58)"
        );
    }

    #[test]
    fn test_same_file_note_says_when_two_files_are_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            fs::write(&path, bytes).unwrap();
            ModelFile {
                path,
                name: name.into(),
                made: String::new(),
                expect: Expect::Run,
            }
        };
        let models = [file("a", b"xy"), file("b", b"xy"), file("c", b"xz")];
        assert_eq!(
            same_file_note(&models, "a", "b"),
            " (the two files are byte-identical)"
        );
        assert_eq!(same_file_note(&models, "a", "c"), "");
        assert_eq!(same_file_note(&models, "a", "missing"), "");
    }
}
