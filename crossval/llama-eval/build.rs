//! Hands the locked version of `llama-cpp-sys-2` to the binary (`LLAMA_CPP_SYS_2_VERSION`), so
//! `llama-eval --info` names the llama.cpp tree it was built from. The version is read from
//! Cargo.lock, whose `[[package]]` entries start with `name = "…"` then `version = "…"`.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo");
    let lock = Path::new(&manifest_dir).join("Cargo.lock");
    let text = std::fs::read_to_string(&lock)
        .unwrap_or_else(|e| panic!("reading {}: {e}", lock.display()));
    let version = text
        .split("[[package]]")
        .find_map(|entry| {
            let mut lines = entry.lines().map(str::trim).filter(|l| !l.is_empty());
            (lines.next()? == "name = \"llama-cpp-sys-2\"")
                .then(|| {
                    lines
                        .next()?
                        .strip_prefix("version = \"")?
                        .strip_suffix('"')
                })
                .flatten()
        })
        .unwrap_or_else(|| panic!("{} locks no llama-cpp-sys-2", lock.display()));
    println!("cargo:rustc-env=LLAMA_CPP_SYS_2_VERSION={version}");
}
