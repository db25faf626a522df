//! The integer half of every matrix product: per block, `Σ code × q` of a row's codes (0, 1, 2,
//! the reserved 3 as 3) and the quantized activations, exact in `i32`.
//!
//! The engines' formulas differ in what they do with these sums (docs/matmul.md), never in the
//! sums: `Σ (code − 1) × q` is `Σ code × q − Σ q`, and both sides are integers. So the kernels
//! compute only `Σ code × q` per block, in any order (integer addition is associative), and
//! everything in floating point happens once, in [`super`], in the engine's own order — which
//! is why every kernel gives the same bits.
//!
//! [`scalar`] is the reference, one element at a time through [`code_position`]. [`generic`]
//! is the same sum written so that compilers vectorize it, which the NEON and simd128 kernels
//! compile for their targets; the x86-64 kernels have their own `vpmaddubsw` code.

use crate::format::{code_position, TernaryFormat};

/// Checks the arguments of a per-block dot: `data` whole blocks, `q` one activation per
/// element of them, `out` one sum per block. Panics otherwise: callers in this crate size them.
pub(crate) fn check(format: TernaryFormat, data: &[u8], q: &[i8], out: &[i32]) {
    let blocks = data.len() / format.block_bytes();
    assert!(
        data.len() == blocks * format.block_bytes()
            && q.len() == blocks * format.block_elems()
            && out.len() == blocks,
        "code_dots: {} bytes, {} activations, {} sums for {format}",
        data.len(),
        q.len(),
        out.len()
    );
}

/// The reference: `out[b] = Σ_e code(b, e) × q[b × elems + e]`.
pub(crate) fn scalar(format: TernaryFormat, data: &[u8], q: &[i8], out: &mut [i32]) {
    let (elems, bytes) = (format.block_elems(), format.block_bytes());
    let blocks = data.chunks_exact(bytes).zip(q.chunks_exact(elems));
    for ((block, q), sum) in blocks.zip(out.iter_mut()) {
        *sum = q
            .iter()
            .enumerate()
            .map(|(e, &q)| i32::from(code_position(format, e).read(block)) * i32::from(q))
            .sum();
    }
}

/// The same sums, written for vectorizing compilers: whole runs of code bytes shifted by the
/// same amount, and for TQ1_0 whole runs of bytes giving the same digit. (The NEON and simd128
/// kernels use it, and the tests everywhere.)
#[cfg_attr(
    not(all(
        feature = "cpu",
        any(
            all(target_arch = "aarch64", target_endian = "little"),
            all(target_arch = "wasm32", target_feature = "simd128")
        )
    )),
    allow(dead_code)
)]
pub(crate) mod generic {
    use crate::format::{tq1_0_digit, TernaryFormat, TQ1_0_QS};

    /// `Σ_l Σ_k ((bytes[k] >> shift(l)) & 3) × q[l × W + k]`: one run of `W` code bytes holding
    /// `4W` elements, field `l` of byte `k` being element `lW + k`.
    #[inline(always)]
    pub(crate) fn fields<const W: usize>(bytes: &[u8], q: &[i8], high_first: bool) -> i32 {
        let bytes: &[u8; W] = bytes.try_into().expect("W code bytes");
        let mut sum = 0i32;
        for (l, q) in q.chunks_exact(W).enumerate() {
            let shift = if high_first { 6 - 2 * l } else { 2 * l };
            let mut part = 0i32;
            for (&b, &q) in bytes.iter().zip(q) {
                part += i32::from((b >> shift) & 3) * i32::from(q);
            }
            sum += part;
        }
        sum
    }

    /// `Σ_n Σ_m digit_n(bytes[m]) × q[n × W + m]` for `N` digits of `W` bytes (TQ1_0).
    #[inline(always)]
    pub(crate) fn digits<const W: usize, const N: u32>(bytes: &[u8], q: &[i8]) -> i32 {
        let bytes: &[u8; W] = bytes.try_into().expect("W digit bytes");
        let mut sum = 0i32;
        for (n, q) in (0..N).zip(q.chunks_exact(W)) {
            let mut part = 0i32;
            for (&b, &q) in bytes.iter().zip(q) {
                part += i32::from(tq1_0_digit(b, n)) * i32::from(q);
            }
            sum += part;
        }
        sum
    }

    /// One TQ1_0 block: `qs[0..32]` (5 digits, elements `32n + m`), `qs[32..48]` (5 digits,
    /// `160 + 16n + m`), `qh` (4 digits, `240 + 4n + m`).
    #[inline(always)]
    pub(crate) fn tq1_0(block: &[u8], q: &[i8]) -> i32 {
        digits::<32, 5>(&block[..32], &q[..160])
            + digits::<16, 5>(&block[32..TQ1_0_QS], &q[160..240])
            + digits::<4, 4>(&block[TQ1_0_QS..TQ1_0_QS + 4], &q[240..256])
    }

    /// The sums of one block of `format` (see [`super::scalar`]).
    #[inline(always)]
    pub(crate) fn block(format: TernaryFormat, block: &[u8], q: &[i8]) -> i32 {
        match format {
            TernaryFormat::Qk256 | TernaryFormat::Tq2_0 => {
                fields::<32>(&block[..32], &q[..128], false)
                    + fields::<32>(&block[32..64], &q[128..], false)
            }
            TernaryFormat::BitnetCpp => fields::<32>(block, q, true),
            TernaryFormat::BitNet32F16 => fields::<8>(&block[..8], q, false),
            TernaryFormat::Tq1_0 => tq1_0(block, q),
        }
    }

    /// All blocks (see [`super::scalar`]).
    #[inline(always)]
    pub(crate) fn code_dots(format: TernaryFormat, data: &[u8], q: &[i8], out: &mut [i32]) {
        let (elems, bytes) = (format.block_elems(), format.block_bytes());
        let blocks = data.chunks_exact(bytes).zip(q.chunks_exact(elems));
        for ((b, q), sum) in blocks.zip(out.iter_mut()) {
            *sum = block(format, b, q);
        }
    }
}

/// What a SIMD kernel implements for the matrix products: [`scalar`]'s sums, the same integers.
/// Arguments as checked by [`check`]. (Unused on targets without SIMD kernels.)
#[cfg_attr(
    not(all(
        feature = "cpu",
        any(
            target_arch = "x86_64",
            all(target_arch = "aarch64", target_endian = "little"),
            all(target_arch = "wasm32", target_feature = "simd128")
        )
    )),
    allow(dead_code)
)]
pub(crate) trait CodeDots: Copy {
    fn code_dots(self, format: TernaryFormat, data: &[u8], q: &[i8], out: &mut [i32]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::Kernel;

    /// Every kernel's sums equal the reference's on random bytes (reserved codes included) and
    /// extreme activations, for every format and 1..5 blocks.
    #[test]
    fn kernels_match_the_reference() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for format in TernaryFormat::ALL {
            for blocks in 1..6 {
                for round in 0..20 {
                    let data: Vec<u8> = (0..blocks * format.block_bytes())
                        .map(|_| next() as u8)
                        .collect();
                    let q: Vec<i8> = (0..blocks * format.block_elems())
                        .map(|i| match round {
                            0 => -128,
                            1 => 127,
                            _ => next() as i8 ^ (i as i8 & 1),
                        })
                        .collect();
                    let mut want = vec![0; blocks];
                    scalar(format, &data, &q, &mut want);
                    let mut generic_sums = vec![0; blocks];
                    generic::code_dots(format, &data, &q, &mut generic_sums);
                    assert_eq!(generic_sums, want, "generic {format} {blocks} blocks");
                    for kernel in Kernel::available() {
                        let mut got = vec![i32::MIN; blocks];
                        kernel.code_dots(format, &data, &q, &mut got);
                        assert_eq!(got, want, "{kernel} {format} {blocks} blocks round {round}");
                    }
                }
            }
        }
    }

    /// Mis-sized arguments are a caller's bug, refused before any kernel reads them.
    #[test]
    #[should_panic(expected = "code_dots: 64 bytes, 255 activations, 1 sums for qk256")]
    fn check_refuses_mis_sized_arguments() {
        check(TernaryFormat::Qk256, &[0; 64], &[0; 255], &[0]);
    }

    /// The reference by hand: codes 0, 1, 2, 3 in the first four elements of a QK256 block (byte
    /// 0 holds elements 0, 32, 64, 96 in bits 0, 2, 4, 6), everything else code 0.
    #[test]
    fn reference_by_hand() {
        let mut block = [0u8; 64];
        block[0] = 0b11_10_01_00; // elements 0 → 0, 32 → 1, 64 → 2, 96 → 3
        let mut q = [0i8; 256];
        q[0] = 100;
        q[32] = 7;
        q[64] = -5;
        q[96] = 3;
        let mut out = [0];
        scalar(TernaryFormat::Qk256, &block, &q, &mut out);
        assert_eq!(out[0], 7 - 10 + 9);
    }
}
