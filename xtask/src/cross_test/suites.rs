//! The suites `cargo xtask cross-test` knows (target, `RUSTFLAGS`, expected kernel) and the tools
//! each needs on this machine: their check, with what to install for each missing one, and the
//! cross linker and qemu runner handed to cargo as `CARGO_TARGET_<TRIPLE>_LINKER`/`_RUNNER`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::bail;

/// One emulated target configuration.
#[derive(Debug)]
pub(super) struct Suite {
    pub(super) name: &'static str,
    pub(super) triple: &'static str,
    /// Added to `RUSTFLAGS`. A suite with flags builds in its own target directory, so that it
    /// and the plain build of the same triple do not rebuild each other's artifacts.
    pub(super) rustflags: Option<&'static str>,
    /// What `Kernel::best()` must select on this target.
    pub(super) expected_kernel: &'static str,
    /// Arguments this target's test binaries need, before the user's.
    pub(super) test_args: &'static [&'static str],
    tools: &'static [Tool],
}

#[derive(Debug)]
enum Tool {
    /// qemu-user for this architecture, with the Debian cross sysroot `/usr/<arch>-linux-gnu`.
    Qemu {
        arch: &'static str,
        libc_package: &'static str,
    },
    /// A cross linker, from Debian's cross toolchain packages.
    Linker {
        program: &'static str,
        package: &'static str,
    },
    /// Node.js 20 or newer, for `node:wasi`.
    Node,
}

pub(super) const SUITES: &[Suite] = &[
    Suite {
        name: "aarch64",
        triple: "aarch64-unknown-linux-gnu",
        rustflags: None,
        expected_kernel: "neon",
        test_args: &[],
        tools: &[
            Tool::Linker {
                program: "aarch64-linux-gnu-gcc",
                package: "gcc-aarch64-linux-gnu",
            },
            Tool::Qemu {
                arch: "aarch64",
                libc_package: "libc6-dev-arm64-cross",
            },
        ],
    },
    Suite {
        name: "wasm32",
        triple: "wasm32-wasip1",
        rustflags: None,
        expected_kernel: "scalar",
        test_args: WASM_TEST_ARGS,
        tools: &[Tool::Node],
    },
    Suite {
        name: "wasm32-simd128",
        triple: "wasm32-wasip1",
        rustflags: Some("-C target-feature=+simd128"),
        expected_kernel: "simd128",
        test_args: WASM_TEST_ARGS,
        tools: &[Tool::Node],
    },
    Suite {
        name: "s390x",
        triple: "s390x-unknown-linux-gnu",
        rustflags: None,
        expected_kernel: "scalar",
        test_args: &[],
        tools: &[
            Tool::Linker {
                program: "s390x-linux-gnu-gcc",
                package: "gcc-s390x-linux-gnu",
            },
            Tool::Qemu {
                arch: "s390x",
                libc_package: "libc6-dev-s390x-cross",
            },
        ],
    },
];

/// wasm32-wasip1 has no unwinding: a panic aborts the whole test binary before libtest prints
/// the output it captured, so without `--nocapture` the panic message would be lost. (A side
/// effect: proptest's harmless "Failed to find absolute path of source file" notes show, because
/// under WASI the current directory reads as "/"; proptest also ignores `PROPTEST_*` on wasm32.)
const WASM_TEST_ARGS: &[&str] = &["--nocapture"];

/// Helper scripts that `.cargo/config.toml` runs directly, so they must stay executable.
const RUNNER_SCRIPTS: &[&str] = &["scripts/wasi-run.mjs"];

impl Suite {
    /// Whether this machine runs the suite's binaries itself (an aarch64 Linux host).
    pub(super) fn is_native(&self) -> bool {
        cfg!(all(target_os = "linux", target_env = "gnu"))
            && self.triple == format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
    }

    /// The tools this machine needs for the suite.
    fn tools(&self) -> &'static [Tool] {
        if self.is_native() {
            &[]
        } else {
            self.tools
        }
    }

    /// Cargo's configuration of the linker and runner, as environment variables.
    pub(super) fn cargo_env(&self) -> Vec<(String, String)> {
        let prefix = format!(
            "CARGO_TARGET_{}",
            self.triple.to_uppercase().replace(['-', '.'], "_")
        );
        let mut env = Vec::new();
        for tool in self.tools() {
            match tool {
                Tool::Linker { program, .. } => {
                    env.push((format!("{prefix}_LINKER"), (*program).to_owned()));
                }
                Tool::Qemu { arch, .. } => {
                    let qemu = qemu_program(arch).unwrap_or_else(|| format!("qemu-{arch}").into());
                    env.push((
                        format!("{prefix}_RUNNER"),
                        format!("{} -L /usr/{arch}-linux-gnu", qemu.display()),
                    ));
                }
                Tool::Node => {}
            }
        }
        env
    }
}

/// The suites named by the command line, in the order of [`SUITES`]; all of them by default.
pub(super) fn select(targets: &[String]) -> anyhow::Result<Vec<&'static Suite>> {
    if targets.is_empty() {
        return Ok(SUITES.iter().collect());
    }
    for target in targets {
        if !SUITES
            .iter()
            .any(|s| s.name == target || s.triple == target)
        {
            let names: Vec<&str> = SUITES.iter().map(|s| s.name).collect();
            bail!(
                "unknown cross-test target `{target}`: expected one of {} or their target triples",
                names.join(", ")
            );
        }
    }
    Ok(SUITES
        .iter()
        .filter(|s| targets.iter().any(|t| s.name == t || s.triple == t))
        .collect())
}

/// Fails with one line per missing tool, each saying what to install.
pub(super) fn check_tools(root: &Path, suites: &[&Suite]) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    let sysroot = rustc_sysroot();
    for suite in suites {
        let std_dir = sysroot
            .as_ref()
            .map(|s| s.join("lib/rustlib").join(suite.triple).join("lib"));
        if std_dir.is_some_and(|d| !d.is_dir()) {
            missing.push(format!(
                "rust target {0} is not installed: rustup target add {0}",
                suite.triple
            ));
        }
        for tool in suite.tools() {
            match tool {
                Tool::Linker { program, package } => {
                    if find_program(program).is_none() {
                        missing.push(format!("{program} not found: apt-get install {package}"));
                    }
                }
                Tool::Qemu { arch, libc_package } => {
                    if qemu_program(arch).is_none() {
                        missing.push(format!(
                            "qemu-{arch} not found: apt-get install qemu-user-static"
                        ));
                    }
                    // crt1.o is what linking needs; the runtime libc comes with the same package.
                    let crt1 = PathBuf::from(format!("/usr/{arch}-linux-gnu/lib/crt1.o"));
                    if !crt1.is_file() {
                        missing.push(format!(
                            "{arch} C library not found ({}): apt-get install {libc_package}",
                            crt1.display()
                        ));
                    }
                }
                Tool::Node => {
                    if let Some(problem) = node_problem() {
                        missing.push(problem);
                    }
                }
            }
        }
    }
    for script in RUNNER_SCRIPTS {
        if !is_executable(&root.join(script)) {
            missing.push(format!("{script} is not executable: chmod +x {script}"));
        }
    }
    let mut seen = std::collections::HashSet::new();
    missing.retain(|line| seen.insert(line.clone()));
    if !missing.is_empty() {
        bail!("{}", missing.join("\n"));
    }
    Ok(())
}

fn rustc_sysroot() -> Option<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
}

/// `qemu-<arch>` (Debian's qemu-user) or `qemu-<arch>-static` (qemu-user-static: Debian 12,
/// Ubuntu 24.04).
fn qemu_program(arch: &str) -> Option<PathBuf> {
    find_program(&format!("qemu-{arch}")).or_else(|| find_program(&format!("qemu-{arch}-static")))
}

fn node_problem() -> Option<String> {
    let Ok(output) = Command::new("node").arg("--version").output() else {
        return Some("node not found: install Node.js 20 or newer (https://nodejs.org)".to_owned());
    };
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let major = version
        .strip_prefix('v')
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(m) if m >= 20 => None,
        _ => Some(format!(
            "node {version} is too old for node:wasi: install Node.js 20 or newer (https://nodejs.org)"
        )),
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}
