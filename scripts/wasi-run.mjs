#!/usr/bin/env -S node --no-warnings --no-turbo-fast-api-calls
// Runs a WASI preview1 program (a wasm32-wasip1 test binary) under Node's `node:wasi`:
//     scripts/wasi-run.mjs PROGRAM.wasm [ARGS...]
// It is cargo's runner for wasm32-wasip1 (.cargo/config.toml). The program gets ARGS, the
// environment (RUST_BACKTRACE, ...; proptest ignores PROPTEST_* on wasm32) and the current
// directory, preopened as "." and under its absolute path, so that paths built from
// env!("CARGO_MANIFEST_DIR") resolve. Tests should still embed their data with include_bytes!.
// The exit status is the program's; a trap (a panic under panic=abort) exits with 134 like SIGABRT.
// `--no-warnings` silences Node's ExperimentalWarning for node:wasi.
// `--no-turbo-fast-api-calls`: with V8's fast API calls into node:wasi (nodejs/node#53087), Node
// 20.20 and 22.23 segfault after the simd128 build of tests/kernel_parity.rs has passed (every
// time; the wasmtime runtime runs the same binary cleanly). Without fast calls it exits normally.
import { readFile } from "node:fs/promises";
import process from "node:process";
import { WASI } from "node:wasi";

const [program, ...args] = process.argv.slice(2);
if (program === undefined) {
  process.stderr.write("usage: wasi-run.mjs PROGRAM.wasm [ARGS...]\n");
  process.exit(2);
}

const cwd = process.cwd();
const wasi = new WASI({
  version: "preview1",
  args: [program, ...args],
  env: process.env,
  preopens: { ".": cwd, [cwd]: cwd },
  returnOnExit: true,
});

let code;
try {
  const module = await WebAssembly.compile(await readFile(program));
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
  code = wasi.start(instance);
} catch (err) {
  process.stderr.write(`wasi-run: ${program}: ${err instanceof Error ? err.message : err}\n`);
  code = err instanceof WebAssembly.RuntimeError ? 134 : 1;
}
process.exit(code);
