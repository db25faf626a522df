//! Dequantization kernels: the scalar reference and the SIMD kernels of the target.
//!
//! This module owns turning checked block bytes into `f32` and choosing which kernel does it.
//! It must not parse files or decide flavors (see [`crate::detect_flavor`]).
//!
//! A SIMD kernel is reachable only through a [`Kernel`] holding a zero-sized token that its
//! `detect()` hands out after checking the CPU (or, for wasm simd128, the compile-time target
//! features). Every kernel produces the same `f32` bits as [`scalar`] for every input; the
//! parity tests check that bit for bit.
//!
//! # How the SIMD kernels stay bit-exact
//!
//! The output is `w × s` as one `f32` multiplication, with `w` ∈ {−1, 0, +1, 0} for codes 0..4.
//! (A TQ1_0 digit `xi` is always 0, 1 or 2 and ggml outputs `(xi − 1) × d`: the same products
//! for the same codes.)
//! Those four products do not depend on the element, so a SIMD kernel computes them once per
//! scale (per tensor for QK256, per block for BitNet32F16, TQ2_0 and TQ1_0) with the same IEEE
//! multiplication and then looks every output up in that 4-entry table by code. The weights
//! are passed through [`core::hint::black_box`] first, so the compiler cannot rewrite
//! `−1 × s` as a negation (which would differ from the multiplication for a NaN `s`).
//! A zero weight under a negative scale therefore gives −0.0, and a NaN or infinite scale
//! gives exactly what the multiplication gives, in every kernel.

use core::fmt;
use core::str::FromStr;
use std::sync::OnceLock;

use crate::format::{check_args, FormatError, TernaryFormat};

pub mod scalar;

/// A checked tensor, as the kernels take it: `rows` and `cols` both non-zero, `data` exactly
/// `format.data_bytes(rows, cols)` bytes, `scale` the tensor scale (exactly 1.0 for formats
/// with block scales).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Job<'a> {
    pub(crate) format: TernaryFormat,
    pub(crate) data: &'a [u8],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) scale: f32,
}

/// Declares an architecture's `Simd` enum: one variant per SIMD kernel, named as its
/// [`KernelKind`] and wrapping the zero-sized token whose `detect()` checks the CPU, with the
/// dispatch every architecture shares. With no variant (`none.rs`) the enum is uninhabited.
macro_rules! simd_kernels {
    ($($kind:ident($token:ty)),* $(,)?) => {
        /// A SIMD kernel of this target, holding the proof that the CPU has it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Simd {
            $($kind($token)),*
        }

        impl Simd {
            /// The kernel of `kind`, if it is one of this target's and the CPU has it.
            pub(crate) fn detect(kind: $crate::kernels::KernelKind) -> Option<Self> {
                match kind {
                    $($crate::kernels::KernelKind::$kind => <$token>::detect().map(Simd::$kind),)*
                    _ => None,
                }
            }

            pub(crate) fn kind(self) -> $crate::kernels::KernelKind {
                match self {
                    $(Simd::$kind(_) => $crate::kernels::KernelKind::$kind,)*
                }
            }

            /// Dequantizes a checked tensor (see `Kernel::dequantize`).
            pub(crate) fn dequantize(self, _job: $crate::kernels::Job<'_>, _out: &mut [f32]) {
                match self {
                    $(Simd::$kind(token) => $crate::kernels::blocks::run_blocks(token, _job, _out),)*
                }
            }

            /// The per-block `Σ code × q` of the matrix products (see `Kernel::code_dots`).
            pub(crate) fn code_dots(
                self,
                _format: $crate::format::TernaryFormat,
                _data: &[u8],
                _q: &[i8],
                _out: &mut [i32],
            ) {
                match self {
                    $(Simd::$kind(token) => $crate::matmul::dots::CodeDots::code_dots(token, _format, _data, _q, _out),)*
                }
            }

            /// `value` in every element, with the kernel's own stores (see `Kernel::fill`).
            pub(crate) fn fill(self, _out: &mut [f32], _value: f32, _stream: bool) {
                match self {
                    $(Simd::$kind(token) => $crate::kernels::blocks::Blocks::fill(token, _out, _value, _stream),)*
                }
            }
        }
    };
}

// Each architecture's SIMD kernels, gated here and only here. `arch` is this target's module
// (`none.rs` where the target has no SIMD kernel, or the `cpu` feature is off); `blocks` is the
// driver they share, `vector128` the one algorithm NEON and wasm simd128 both run.
#[cfg(all(feature = "cpu", target_arch = "x86_64"))]
#[path = "x86_64/mod.rs"]
pub(crate) mod arch;
#[cfg(all(feature = "cpu", target_arch = "aarch64", target_endian = "little"))]
#[path = "aarch64/mod.rs"]
pub(crate) mod arch;
#[cfg(all(feature = "cpu", target_arch = "wasm32", target_feature = "simd128"))]
#[path = "wasm32/mod.rs"]
pub(crate) mod arch;
#[cfg(not(any(
    all(feature = "cpu", target_arch = "x86_64"),
    all(feature = "cpu", target_arch = "aarch64", target_endian = "little"),
    all(feature = "cpu", target_arch = "wasm32", target_feature = "simd128"),
)))]
#[path = "none.rs"]
pub(crate) mod arch;
#[cfg(any(
    all(feature = "cpu", target_arch = "x86_64"),
    all(feature = "cpu", target_arch = "aarch64", target_endian = "little"),
    all(feature = "cpu", target_arch = "wasm32", target_feature = "simd128"),
))]
mod blocks;
#[cfg(any(
    all(feature = "cpu", target_arch = "aarch64", target_endian = "little"),
    all(feature = "cpu", target_arch = "wasm32", target_feature = "simd128"),
))]
mod vector128;

pub use scalar::code_weight;

/// The environment variable that forces a kernel (docs/cli.md).
pub const KERNEL_ENV: &str = "BITNET_KERNEL";

/// The kinds of kernel, whether or not this CPU or target has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelKind {
    /// The portable reference, always available.
    Scalar,
    /// x86-64 AVX2 (with F16C).
    Avx2,
    /// x86-64 AVX-512F (with F16C).
    Avx512,
    /// AArch64 Advanced SIMD.
    Neon,
    /// WebAssembly SIMD, when the module is compiled with `+simd128`.
    Simd128,
}

impl KernelKind {
    /// Every kind, in the order `available()` lists them.
    pub const ALL: [KernelKind; 5] = [
        KernelKind::Scalar,
        KernelKind::Avx2,
        KernelKind::Avx512,
        KernelKind::Neon,
        KernelKind::Simd128,
    ];

    /// The name used by `BITNET_KERNEL` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            KernelKind::Scalar => "scalar",
            KernelKind::Avx2 => "avx2",
            KernelKind::Avx512 => "avx512",
            KernelKind::Neon => "neon",
            KernelKind::Simd128 => "simd128",
        }
    }
}

impl fmt::Display for KernelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KernelKind {
    type Err = KernelError;

    /// Parses the exact lowercase names `scalar`, `avx2`, `avx512`, `neon`, `simd128`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KernelKind::ALL
            .into_iter()
            .find(|kind| kind.name() == s)
            .ok_or_else(|| KernelError::Unknown(s.to_owned()))
    }
}

/// The kernel requested (through `BITNET_KERNEL` or by name) cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// The name is not one of `scalar`, `avx2`, `avx512`, `neon`, `simd128`.
    #[error("unknown kernel {0:?}, expected one of scalar, avx2, avx512, neon, simd128")]
    Unknown(String),
    /// The kernel exists but this CPU or build target lacks it.
    #[error("kernel {kernel} is not supported by this cpu or target")]
    Unsupported {
        /// The kernel asked for.
        kernel: KernelKind,
    },
}

/// A dequantization kernel this CPU is known to support.
///
/// Holding one is the proof: SIMD variants wrap zero-sized tokens that only the feature check
/// creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernel {
    imp: Imp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Imp {
    Scalar,
    Simd(arch::Simd),
}

impl Kernel {
    /// The scalar reference kernel.
    pub fn scalar() -> Kernel {
        Kernel { imp: Imp::Scalar }
    }

    /// The kernel of `kind`, or `None` if this CPU or build target lacks it.
    pub fn detect(kind: KernelKind) -> Option<Kernel> {
        let imp = match kind {
            KernelKind::Scalar => Imp::Scalar,
            simd => Imp::Simd(arch::Simd::detect(simd)?),
        };
        Some(Kernel { imp })
    }

    /// Every kernel this CPU supports, scalar first, fastest last.
    pub fn available() -> Vec<Kernel> {
        KernelKind::ALL
            .into_iter()
            .filter_map(Kernel::detect)
            .collect()
    }

    /// The fastest kernel this CPU supports.
    pub fn best() -> Kernel {
        Kernel::available().pop().unwrap_or_else(Kernel::scalar)
    }

    /// The kernel for a `BITNET_KERNEL` value: `None` (or an empty value) means [`Kernel::best`];
    /// a name must be known and supported by this CPU.
    pub fn from_request(request: Option<&str>) -> Result<Kernel, KernelError> {
        match request {
            None | Some("") => Ok(Kernel::best()),
            Some(name) => {
                let kind: KernelKind = name.parse()?;
                Kernel::detect(kind).ok_or(KernelError::Unsupported { kernel: kind })
            }
        }
    }

    /// The kernel of this process: `BITNET_KERNEL` if set, else [`Kernel::best`]. Decided at the
    /// first call and kept, errors included, so the hot path never detects again.
    pub fn selected() -> Result<Kernel, KernelError> {
        static SELECTED: OnceLock<Result<Kernel, KernelError>> = OnceLock::new();
        SELECTED
            .get_or_init(|| {
                let value = std::env::var_os(KERNEL_ENV);
                let value = value.as_ref().map(|v| v.to_string_lossy());
                Kernel::from_request(value.as_deref())
            })
            .clone()
    }

    /// The kind of this kernel.
    pub fn kind(self) -> KernelKind {
        match self.imp {
            Imp::Scalar => KernelKind::Scalar,
            Imp::Simd(simd) => simd.kind(),
        }
    }

    /// The name of this kernel's kind (`"scalar"`, `"avx2"`, …).
    pub fn name(self) -> &'static str {
        self.kind().name()
    }

    /// Dequantize `rows` rows of `cols` columns of `format` blocks into `out`, row-major,
    /// without row padding.
    ///
    /// - `data` must be exactly `format.data_bytes(rows, cols)` bytes and `out` exactly
    ///   `rows × cols` values; any alignment is fine.
    /// - `scale`: for QK256 the tensor scale (the `.scale` sibling, or 1.0), so
    ///   `out = w × scale`. BitNet32F16, TQ2_0 and TQ1_0 blocks carry their own `d` and
    ///   `out = w × d`; for them `scale` must be exactly 1.0
    ///   ([`FormatError::ScaleNotApplicable`] otherwise) — there is no second multiplication.
    ///
    /// Code 3 (reserved) decodes as weight 0.0; reporting it is [`crate::scan()`]'s job.
    pub fn dequantize(
        self,
        format: TernaryFormat,
        data: &[u8],
        rows: usize,
        cols: usize,
        scale: f32,
        out: &mut [f32],
    ) -> Result<(), FormatError> {
        check_args(format, data, rows, cols, out)?;
        if format.has_block_scale() && scale.to_bits() != 1.0f32.to_bits() {
            return Err(FormatError::ScaleNotApplicable { format, scale });
        }
        if out.is_empty() {
            return Ok(());
        }
        let job = Job {
            format,
            data,
            rows,
            cols,
            scale,
        };
        match self.imp {
            Imp::Scalar => scalar::dequantize(job, out),
            Imp::Simd(simd) => simd.dequantize(job, out),
        }
        Ok(())
    }
}

impl Kernel {
    /// Writes `value` to every element of `out` with this kernel's own stores (its widest
    /// vector; non-temporal from [`STREAM_MIN_BYTES`] where the kernel streams) and reads
    /// nothing: the store-bandwidth limit its dequantization can at best reach.
    /// `cargo xtask bench-kernels` reports each kernel against the widest of these.
    pub fn fill(self, out: &mut [f32], value: f32) {
        self.fill_with(out, value, streams(out.len()));
    }

    /// [`Kernel::fill`] with non-temporal stores on or off whatever the length (where the
    /// kernel has them: AVX2, AVX-512), so a benchmark can show what streaming is worth.
    pub fn fill_with(self, out: &mut [f32], value: f32, non_temporal: bool) {
        match self.imp {
            Imp::Scalar => out.fill(value),
            Imp::Simd(simd) => simd.fill(out, value, non_temporal),
        }
    }
}

impl Kernel {
    /// The matrix products' integer sums (`crate::matmul`): for each block of `format` in
    /// `data`, `Σ code × q` over its elements, codes 0..=3 as they are stored (TQ1_0 digits
    /// 0..=2), into `out[block]`. `q` holds one activation per element of the blocks (padding
    /// included), `out` one sum per block; panics otherwise.
    pub(crate) fn code_dots(self, format: TernaryFormat, data: &[u8], q: &[i8], out: &mut [i32]) {
        crate::matmul::dots::check(format, data, q, out);
        match self.imp {
            Imp::Scalar => crate::matmul::dots::scalar(format, data, q, out),
            Imp::Simd(simd) => simd.code_dots(format, data, q, out),
        }
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Outputs of at least this many bytes (32 MiB, a typical server last-level cache) are written
/// with non-temporal stores by the kernels that have them (AVX2, AVX-512).
///
/// An output this size does not stay in the last-level cache anyway, and a streaming store
/// skips reading each output line before overwriting it (4 output bytes per element against
/// about a quarter byte of input). Smaller outputs use ordinary stores, so whoever reads them
/// next finds them in cache. The bits written are the same either way. `cargo xtask
/// bench-kernels` shows what it is worth in its `store` row (the same stores without the hint):
/// on the development machine (AMD EPYC, 32 MiB L3, AVX-512) 16 Mi values took 2.0–2.1 ms with
/// plain stores and 1.7–1.8 ms with non-temporal ones.
pub const STREAM_MIN_BYTES: usize = 32 << 20;

/// Whether an output of `len` values is written with non-temporal stores.
fn streams(len: usize) -> bool {
    len.saturating_mul(4) >= STREAM_MIN_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel's fill writes exactly `value` everywhere, with and without streaming, for
    /// lengths around every vector width and at any start alignment.
    #[test]
    fn fill_writes_every_element() {
        let values = [1.5f32, -0.0, f32::from_bits(0x7fc0_1234)];
        for kernel in Kernel::available() {
            for non_temporal in [false, true] {
                for len in (0..70).chain([4099]) {
                    for skip in 0..4 {
                        for value in values {
                            let mut buf = vec![f32::from_bits(0xdead_beef); len + skip + 3];
                            kernel.fill_with(&mut buf[skip..skip + len], value, non_temporal);
                            for (i, v) in buf.iter().enumerate() {
                                let inside = (skip..skip + len).contains(&i);
                                let want = if inside {
                                    value
                                } else {
                                    f32::from_bits(0xdead_beef)
                                };
                                assert_eq!(
                                    v.to_bits(),
                                    want.to_bits(),
                                    "{kernel} len {len} at {i}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
