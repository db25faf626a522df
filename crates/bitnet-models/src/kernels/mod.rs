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
//! Those four products do not depend on the element, so a SIMD kernel computes them once per
//! scale (per tensor for QK256, per block for BitNet32F16 and TQ2_0) with the same IEEE
//! multiplication and then looks every output up in that 4-entry table by code. The weights
//! are passed through [`core::hint::black_box`] first, so the compiler cannot rewrite
//! `−1 × s` as a negation (which would differ from the multiplication for a NaN `s`).
//! A zero weight under a negative scale therefore gives −0.0, and a NaN or infinite scale
//! gives exactly what the multiplication gives, in every kernel.

use core::fmt;
use core::str::FromStr;
use std::sync::OnceLock;

use crate::error::{FormatError, KernelError};
use crate::format::TernaryFormat;

pub mod scalar;

#[cfg(all(feature = "cpu", target_arch = "x86_64"))]
mod x86_64 {
    pub(crate) mod avx2;
    pub(crate) mod avx512;
}

#[cfg(all(feature = "cpu", target_arch = "aarch64", target_endian = "little"))]
mod aarch64 {
    pub(crate) mod neon;
}

#[cfg(all(feature = "cpu", target_arch = "wasm32", target_feature = "simd128"))]
mod wasm32 {
    pub(crate) mod simd128;
}

pub use scalar::code_weight;

/// The environment variable that forces a kernel (SPEC §4).
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
    #[cfg(all(feature = "cpu", target_arch = "x86_64"))]
    Avx2(x86_64::avx2::Avx2),
    #[cfg(all(feature = "cpu", target_arch = "x86_64"))]
    Avx512(x86_64::avx512::Avx512),
    #[cfg(all(feature = "cpu", target_arch = "aarch64", target_endian = "little"))]
    Neon(aarch64::neon::Neon),
    #[cfg(all(feature = "cpu", target_arch = "wasm32", target_feature = "simd128"))]
    Simd128(wasm32::simd128::Simd128),
}

impl Kernel {
    /// The scalar reference kernel.
    pub fn scalar() -> Kernel {
        Kernel { imp: Imp::Scalar }
    }

    /// The kernel of `kind`, or `None` if this CPU or build target lacks it.
    pub fn detect(kind: KernelKind) -> Option<Kernel> {
        let imp = match kind {
            KernelKind::Scalar => Some(Imp::Scalar),
            #[cfg(all(feature = "cpu", target_arch = "x86_64"))]
            KernelKind::Avx2 => x86_64::avx2::Avx2::detect().map(Imp::Avx2),
            #[cfg(all(feature = "cpu", target_arch = "x86_64"))]
            KernelKind::Avx512 => x86_64::avx512::Avx512::detect().map(Imp::Avx512),
            #[cfg(all(feature = "cpu", target_arch = "aarch64", target_endian = "little"))]
            KernelKind::Neon => aarch64::neon::Neon::detect().map(Imp::Neon),
            #[cfg(all(feature = "cpu", target_arch = "wasm32", target_feature = "simd128"))]
            KernelKind::Simd128 => wasm32::simd128::Simd128::detect().map(Imp::Simd128),
            #[allow(unreachable_patterns)]
            _ => None,
        };
        imp.map(|imp| Kernel { imp })
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
            #[cfg(all(feature = "cpu", target_arch = "x86_64"))]
            Imp::Avx2(_) => KernelKind::Avx2,
            #[cfg(all(feature = "cpu", target_arch = "x86_64"))]
            Imp::Avx512(_) => KernelKind::Avx512,
            #[cfg(all(feature = "cpu", target_arch = "aarch64", target_endian = "little"))]
            Imp::Neon(_) => KernelKind::Neon,
            #[cfg(all(feature = "cpu", target_arch = "wasm32", target_feature = "simd128"))]
            Imp::Simd128(_) => KernelKind::Simd128,
        }
    }

    /// The name of this kernel's kind (`"scalar"`, `"avx2"`, …).
    pub fn name(self) -> &'static str {
        self.kind().name()
    }

    /// Dequantize `rows` rows of `cols` columns of `format` blocks into `out`, row-major,
    /// without row padding.
    ///
    /// - `data` must be exactly `format.tensor_bytes(rows, cols)` bytes and `out` exactly
    ///   `rows × cols` values; any alignment is fine.
    /// - `scale`: for QK256 the tensor scale (the `.scale` sibling, or 1.0), so
    ///   `out = w × scale`. BitNet32F16 and TQ2_0 blocks carry their own `d` and
    ///   `out = w × d`; for them `scale` must be exactly 1.0
    ///   ([`FormatError::ScaleNotApplicable`] otherwise) — there is no second multiplication.
    ///
    /// Code 3 (reserved) decodes as weight 0.0; reporting it is [`crate::scan`]'s job.
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
        match self.imp {
            Imp::Scalar => scalar::dequantize(format, data, rows, cols, scale, out),
            #[cfg(all(feature = "cpu", target_arch = "x86_64"))]
            Imp::Avx2(token) => run_blocks(token, format, data, rows, cols, scale, out),
            #[cfg(all(feature = "cpu", target_arch = "x86_64"))]
            Imp::Avx512(token) => run_blocks(token, format, data, rows, cols, scale, out),
            #[cfg(all(feature = "cpu", target_arch = "aarch64", target_endian = "little"))]
            Imp::Neon(token) => run_blocks(token, format, data, rows, cols, scale, out),
            #[cfg(all(feature = "cpu", target_arch = "wasm32", target_feature = "simd128"))]
            Imp::Simd128(token) => run_blocks(token, format, data, rows, cols, scale, out),
        }
        Ok(())
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Check the lengths of `data` and `out` against the shape (shared with [`crate::scan`]).
pub(crate) fn check_args(
    format: TernaryFormat,
    data: &[u8],
    rows: usize,
    cols: usize,
    out: &mut [f32],
) -> Result<(), FormatError> {
    check_data(format, data, rows, cols)?;
    let expected = rows.checked_mul(cols).ok_or(FormatError::ShapeOverflow {
        rows: rows as u64,
        cols: cols as u64,
    })?;
    if out.len() != expected {
        return Err(FormatError::WrongOutputLength {
            expected: expected as u64,
            actual: out.len() as u64,
        });
    }
    Ok(())
}

/// Check that `data` is exactly `format.tensor_bytes(rows, cols)` bytes.
pub(crate) fn check_data(
    format: TernaryFormat,
    data: &[u8],
    rows: usize,
    cols: usize,
) -> Result<(), FormatError> {
    let expected =
        format
            .tensor_bytes(rows as u64, cols as u64)
            .ok_or(FormatError::ShapeOverflow {
                rows: rows as u64,
                cols: cols as u64,
            })?;
    if data.len() as u64 != expected {
        return Err(FormatError::WrongDataLength {
            format,
            expected,
            actual: data.len() as u64,
        });
    }
    Ok(())
}

/// The weights of codes 0..4, hidden from the optimizer so that the products `w × s` that the
/// SIMD kernels tabulate are real multiplications (see the module docs).
#[allow(dead_code)] // unused on targets with no SIMD kernel
pub(crate) fn opaque_weights() -> [f32; 4] {
    core::hint::black_box([
        code_weight(0),
        code_weight(1),
        code_weight(2),
        code_weight(3),
    ])
}

/// Outputs of at least this many bytes (32 MiB, a typical server last-level cache) are written
/// with non-temporal stores by the kernels that have them (AVX2, AVX-512).
///
/// An output this size does not stay in the last-level cache anyway, and a streaming store
/// skips reading each output line before overwriting it (4 output bytes per element against
/// about a quarter byte of input). Smaller outputs use ordinary stores, so whoever reads them
/// next finds them in cache. On the development machine the gain at 64 MiB was small (a few
/// percent, within run-to-run noise); the bits written are the same either way.
pub const STREAM_MIN_BYTES: usize = 32 << 20;

/// What a SIMD kernel implements: streams of whole blocks. The driver [`run_blocks`] cuts a
/// tensor into such streams and handles the padded last block of each row.
///
/// In every method `data.len() / block_bytes == out.len() / block_elems`, both exact. `stream`
/// asks for non-temporal stores (see [`STREAM_MIN_BYTES`]); a kernel may ignore it.
#[allow(dead_code)] // unused on targets with no SIMD kernel
pub(crate) trait Blocks: Copy {
    /// QK256 blocks (64 bytes → 256 values), `out = w × scale`.
    fn qk256(self, data: &[u8], scale: f32, out: &mut [f32], stream: bool);
    /// BitNet32F16 blocks (10 bytes → 32 values), `out = w × d`.
    fn bitnet32f16(self, data: &[u8], out: &mut [f32], stream: bool);
    /// TQ2_0 blocks (66 bytes → 256 values), `out = w × d`.
    fn tq2_0(self, data: &[u8], out: &mut [f32], stream: bool);
}

/// Run a block kernel over a checked `rows × cols` tensor.
#[allow(dead_code)] // unused on targets with no SIMD kernel
fn run_blocks<K: Blocks>(
    kernel: K,
    format: TernaryFormat,
    data: &[u8],
    rows: usize,
    cols: usize,
    scale: f32,
    out: &mut [f32],
) {
    if rows == 0 || cols == 0 {
        return;
    }
    let stream = out.len().saturating_mul(4) >= STREAM_MIN_BYTES;
    let blocks = |data: &[u8], out: &mut [f32], stream: bool| match format {
        TernaryFormat::Qk256 => kernel.qk256(data, scale, out, stream),
        TernaryFormat::BitNet32F16 => kernel.bitnet32f16(data, out, stream),
        TernaryFormat::Tq2_0 => kernel.tq2_0(data, out, stream),
    };
    let (block_elems, block_bytes) = (format.block_elems(), format.block_bytes());
    if cols.is_multiple_of(block_elems) {
        // No padding anywhere: the whole tensor is one stream of blocks.
        blocks(data, out, stream);
        return;
    }
    let full = cols / block_elems;
    let row_bytes = data.len() / rows;
    let mut last = [0.0f32; 256];
    let last = &mut last[..block_elems];
    for (row_data, row_out) in data.chunks_exact(row_bytes).zip(out.chunks_exact_mut(cols)) {
        let (head_data, tail_data) = row_data.split_at(full * block_bytes);
        let (head_out, tail_out) = row_out.split_at_mut(full * block_elems);
        blocks(head_data, head_out, stream);
        // The padded block goes through a scratch block so padding is never written to `out`.
        blocks(tail_data, last, false);
        tail_out.copy_from_slice(&last[..tail_out.len()]);
    }
}
