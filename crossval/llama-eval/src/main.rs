//! `llama-eval`: mainline llama.cpp runs a GGUF model on a fixed token sequence and prints the
//! logits, as one JSON object per line (schema: ../README.md).
//!
//! ```text
//! llama-eval --info                                     versions built in, one JSON object
//! llama-eval [--threads N] [--verbose] --tokens 1,2,3 FILE
//! llama-eval [--threads N] [--verbose] --text TEXT FILE   tokenized by the model's tokenizer
//! ```
//!
//! A model llama.cpp refuses is a result, not an error: its line says `"loaded": false` with what
//! llama.cpp logged, and the exit status stays 0. Usage errors exit 2. One model per process: a
//! model that makes llama.cpp abort takes only its own run down.

mod llama;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use serde_json::{json, Value as Json};

/// The source package and its version, from Cargo.lock (build.rs).
const SOURCE: &str = concat!("llama-cpp-sys-2 ", env!("LLAMA_CPP_SYS_2_VERSION"));

const USAGE: &str = "usage: llama-eval --info | llama-eval [--threads N] [--verbose] \
                     (--tokens ID,ID,... | --text TEXT) FILE";

/// What to evaluate.
#[derive(Debug, PartialEq)]
enum Input {
    Tokens(Vec<i32>),
    Text(String),
}

/// A parsed command line.
#[derive(Debug, PartialEq)]
enum Command {
    Info,
    Eval {
        input: Input,
        threads: i32,
        verbose: bool,
        file: String,
    },
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse(&args) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("llama-eval: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let line = match command {
        Command::Info => {
            llama::init(false);
            let mut info = serde_json::Map::new();
            info.insert("source".into(), SOURCE.into());
            for (key, value) in llama::versions() {
                info.insert(key.into(), value.into());
            }
            Json::Object(info)
        }
        Command::Eval {
            input,
            threads,
            verbose,
            file,
        } => {
            llama::init(verbose);
            eval(Path::new(&file), &input, threads)
        }
    };
    llama::shutdown();
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}

/// Parses the arguments (flags in any order, one file).
fn parse(args: &[String]) -> Result<Command, String> {
    if args == ["--info"] {
        return Ok(Command::Info);
    }
    let (mut input, mut threads, mut verbose, mut file) = (None, 1, false, None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or_else(|| format!("{flag} needs a value"));
        match arg.as_str() {
            "--tokens" => {
                let list = value("--tokens")?;
                let tokens = list
                    .split(',')
                    .map(|t| {
                        t.trim()
                            .parse::<i32>()
                            .map_err(|_| format!("--tokens: {t:?} is not a token id"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                input = Some(Input::Tokens(tokens));
            }
            "--text" => input = Some(Input::Text(value("--text")?.clone())),
            "--threads" => {
                let n = value("--threads")?;
                threads = n
                    .parse::<i32>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--threads: {n:?} is not a positive number"))?;
            }
            "--verbose" => verbose = true,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ if file.is_some() => return Err("one FILE only".to_owned()),
            path => file = Some(path.to_owned()),
        }
    }
    let input = input.ok_or("--tokens or --text is required")?;
    if matches!(&input, Input::Tokens(t) if t.is_empty()) {
        return Err("--tokens: no token".to_owned());
    }
    let file = file.ok_or("no FILE")?;
    Ok(Command::Eval {
        input,
        threads,
        verbose,
        file,
    })
}

/// Loads `path`, evaluates `input` and returns the file's JSON line.
fn eval(path: &Path, input: &Input, threads: i32) -> Json {
    let mut line = json!({
        "file": path.to_string_lossy(),
        "loaded": false,
        "error": null,
    });
    let result = run(path, input, threads, &mut line);
    if let Err(error) = result {
        line["error"] = error.into();
    }
    line["log"] = llama::take_log().into();
    line
}

fn run(path: &Path, input: &Input, threads: i32, line: &mut Json) -> Result<(), String> {
    let model = llama::Model::load(path)?;
    line["loaded"] = true.into();
    line["desc"] = model.desc().into();
    line["n_vocab"] = model.n_vocab().into();
    line["n_params"] = model.n_params().into();
    line["threads"] = threads.into();
    let tokens = match input {
        Input::Tokens(tokens) => tokens.clone(),
        Input::Text(text) => {
            line["text"] = text.as_str().into();
            model.tokenize(text)?
        }
    };
    line["tokens"] = tokens.clone().into();
    let n = u32::try_from(tokens.len()).map_err(|_| "too many tokens".to_owned())?;
    if n == 0 {
        return Err("the text gave no token".to_owned());
    }
    let mut ctx = llama::Context::new(&model, n, threads)?;
    let logits = ctx.logits(&tokens)?;
    line["logits"] = logits
        .iter()
        .map(|row| {
            row.iter()
                .map(|v| format!("0x{:08x}", v.to_bits()))
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .into();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn test_parses_tokens_threads_and_file_in_any_order() {
        let parsed = parse(&args(&["m.gguf", "--threads", "2", "--tokens", "5, 7,9"])).unwrap();
        assert_eq!(
            parsed,
            Command::Eval {
                input: Input::Tokens(vec![5, 7, 9]),
                threads: 2,
                verbose: false,
                file: "m.gguf".into()
            }
        );
        assert_eq!(parse(&args(&["--info"])).unwrap(), Command::Info);
    }

    #[test]
    fn test_refuses_bad_command_lines() {
        for (list, message) in [
            (&["m.gguf"][..], "--tokens or --text is required"),
            (
                &["--tokens", "1,x", "m.gguf"],
                "--tokens: \"x\" is not a token id",
            ),
            (
                &["--tokens", "1", "--threads", "0", "m.gguf"],
                "--threads: \"0\" is not a positive number",
            ),
            (&["--tokens", "1", "a.gguf", "b.gguf"], "one FILE only"),
            (&["--tokens", "1"], "no FILE"),
            (&["--tokens"], "--tokens needs a value"),
            (&["--json", "m.gguf"], "unknown option --json"),
        ] {
            assert_eq!(parse(&args(list)).unwrap_err(), message, "{list:?}");
        }
    }

    #[test]
    fn test_a_missing_file_is_a_result_not_a_crash() {
        llama::init(false);
        let line = eval(
            Path::new("/nonexistent/model.gguf"),
            &Input::Tokens(vec![1]),
            1,
        );
        assert_eq!(line["loaded"], false);
        let error = line["error"].as_str().unwrap();
        assert!(error.contains("/nonexistent/model.gguf"), "{error}");
    }
}
