//! Compiles mainline ggml's GGUF reader and type traits from the llama.cpp tree vendored in the
//! crates.io package `llama-cpp-sys-2` (pinned in Cargo.toml), without building that package.
//!
//! Finding the sources: the package is a dependency under `cfg(any())`, which cargo resolves and
//! locks but never compiles. We ask cargo where it unpacked it with `$CARGO metadata`, the one
//! interface that stays right whatever the setup: a custom `CARGO_HOME`, a sparse or git index
//! (whose hashed directory name under `registry/src/` changes between cargo versions), source
//! replacement or `cargo vendor`. Scanning `$CARGO_HOME/registry/src/*/` would silently depend on
//! all of those. `cargo metadata` (without `--filter-platform`) also downloads the package if the
//! outer build did not, since cargo skips downloading dependencies that no target platform uses.
//!
//! Compiled: the files of CMake's `ggml-base` library that the reader and `to_float` reach, plus
//! our `src/shim.c`; of the CPU backend only `ggml-cpu/quants.c` (the generic C dot products of
//! `--gemv`) with our `src/gemv_shim.c`, never the rest of it (no SIMD kernels, no threads pool),
//! never CMake. No source file is copied: the compiler reads them in place, from the registry's
//! read-only copy.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The package that vendors llama.cpp; its version is pinned in Cargo.toml only.
const SOURCE_PACKAGE: &str = "llama-cpp-sys-2";

/// C sources of ggml-base that we need (all of it but `ggml-opt.cpp`, which nothing here reaches).
const C_SOURCES: &[&str] = &["ggml.c", "ggml-alloc.c", "ggml-quants.c"];
/// C++ sources of ggml-base. `ggml-backend-meta.cpp` only exists in recent trees; the others are
/// required.
const CXX_SOURCES: &[&str] = &[
    "ggml.cpp",
    "ggml-backend.cpp",
    "ggml-threading.cpp",
    "gguf.cpp",
];
const OPTIONAL_CXX_SOURCES: &[&str] = &["ggml-backend-meta.cpp"];
/// The one file of the CPU backend we compile: its generic C `ggml_vec_dot_*` (relative to
/// `ggml/src`). Everything it calls is in ggml-quants.c, libc, or `src/gemv_shim.c`.
const CPU_SOURCES: &[&str] = &["ggml-cpu/quants.c"];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    // The pin lives in Cargo.toml and Cargo.lock; a change there may mean another source tree.
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=src/shim.c");
    println!("cargo:rerun-if-changed=src/gemv_shim.c");

    let (package_dir, version) = locate_source_package(&manifest_dir);
    let ggml = package_dir.join("llama.cpp").join("ggml");
    let src = ggml.join("src");
    let include = ggml.join("include");
    assert!(
        src.join("gguf.cpp").is_file(),
        "{SOURCE_PACKAGE} {version} at {} has no llama.cpp/ggml/src/gguf.cpp",
        package_dir.display()
    );

    write_version_header(&ggml, &version, &out_dir);

    // ggml's CMake sets these for every file of ggml-base on Linux (ggml/src/CMakeLists.txt,
    // "POSIX conformance"); GGML_SCHED_MAX_COPIES is its default (ggml/CMakeLists.txt).
    // `-ffp-contract=off`: a reference decoder must round each operation as written, so its
    // results do not depend on whether the target has FMA (GCC contracts by default in GNU mode).
    let configure = |build: &mut cc::Build| {
        build
            .include(&include)
            .include(&src)
            .include(&out_dir) // ggml-version.h
            .define("GGML_SCHED_MAX_COPIES", "4")
            .define("_XOPEN_SOURCE", "600")
            .flag_if_supported("-ffp-contract=off")
            .warnings(false);
        if env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux" || os == "android") {
            build.define("_GNU_SOURCE", None);
        }
    };

    // C and C++ need different compilers, but their objects reference each other (ggml.c calls
    // ggml-threading.cpp, gguf.cpp calls ggml.c), so both go into ONE archive: two archives would
    // depend on the linker's archive order.
    let mut c = cc::Build::new();
    configure(&mut c);
    c.std("c11").file(manifest_dir.join("src").join("shim.c"));
    for file in C_SOURCES {
        c.file(required(&src, file));
    }
    let mut c_objects = c.compile_intermediates();

    // quants.c and the shim that calls it, with the CPU backend's headers. No `-m` flags: on
    // x86-64 that is the baseline (SSE2) target, where simd-mappings.h converts f16 through the
    // table the shim fills; the generic functions are plain C whatever the target.
    let mut cpu = cc::Build::new();
    configure(&mut cpu);
    cpu.std("c11")
        .include(src.join("ggml-cpu"))
        .file(manifest_dir.join("src").join("gemv_shim.c"));
    for file in CPU_SOURCES {
        cpu.file(required(&src, file));
    }
    c_objects.extend(cpu.compile_intermediates());

    let mut cxx = cc::Build::new();
    configure(&mut cxx);
    cxx.cpp(true).std("c++17").objects(c_objects);
    for file in CXX_SOURCES {
        cxx.file(required(&src, file));
    }
    for file in OPTIONAL_CXX_SOURCES {
        let path = src.join(file);
        if path.is_file() {
            cxx.file(path);
        }
    }
    cxx.compile("ggml_base"); // also links the C++ standard library

    println!("cargo:rustc-env=GGML_DUMP_SOURCE={SOURCE_PACKAGE} {version}");
}

/// Returns the unpacked directory and version of [`SOURCE_PACKAGE`], as cargo resolved it for
/// this workspace.
fn locate_source_package(manifest_dir: &Path) -> (PathBuf, String) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(manifest_dir.join("Cargo.toml"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{} metadata`: {e}", cargo.to_string_lossy()));
    assert!(
        output.status.success(),
        "`cargo metadata` failed (offline without the package? run `cargo fetch` first):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("`cargo metadata` printed invalid JSON");
    let packages = metadata["packages"]
        .as_array()
        .expect("`packages` array in cargo metadata");
    let mut found = packages.iter().filter(|p| p["name"] == SOURCE_PACKAGE);
    let package = found
        .next()
        .unwrap_or_else(|| panic!("{SOURCE_PACKAGE} is not in the dependency graph"));
    assert!(
        found.next().is_none(),
        "{SOURCE_PACKAGE} resolved to several versions"
    );
    let manifest = package["manifest_path"]
        .as_str()
        .expect("string `manifest_path`");
    let version = package["version"]
        .as_str()
        .expect("string `version`")
        .to_owned();
    let dir = Path::new(manifest)
        .parent()
        .expect("a manifest path has a parent")
        .to_owned();
    (dir, version)
}

/// Writes the header that CMake's `configure_file(ggml-version.h.in)` would, with the version
/// taken from ggml's own CMakeLists.txt and the source package standing in for the git commit.
fn write_version_header(ggml: &Path, package_version: &str, out_dir: &Path) {
    let cmake = fs::read_to_string(ggml.join("CMakeLists.txt")).expect("read ggml/CMakeLists.txt");
    let part = |name: &str| {
        let prefix = format!("set({name} ");
        cmake
            .lines()
            .find_map(|line| line.trim().strip_prefix(&prefix)?.strip_suffix(')'))
            .map(|value| value.trim().to_owned())
            .unwrap_or_else(|| panic!("no `{prefix}…)` in ggml/CMakeLists.txt"))
    };
    let version = format!(
        "{}.{}.{}",
        part("GGML_VERSION_MAJOR"),
        part("GGML_VERSION_MINOR"),
        part("GGML_VERSION_PATCH")
    );
    let header = format!(
        "#pragma once\n\n#define GGML_VERSION \"{version}\"\n\
         #define GGML_COMMIT  \"{SOURCE_PACKAGE} {package_version}\"\n"
    );
    fs::write(out_dir.join("ggml-version.h"), header).expect("write ggml-version.h");
}

fn required(dir: &Path, file: &str) -> PathBuf {
    let path = dir.join(file);
    assert!(path.is_file(), "missing ggml source {}", path.display());
    path
}
