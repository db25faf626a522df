//! The ternary block formats (SPEC §2): block geometry and checked size arithmetic.
//!
//! This module owns the numbers — elements and bytes per block, bytes per row and per tensor —
//! and nothing else: no decoding, no I/O. Every size is computed with checked arithmetic so a
//! hostile shape turns into `None` instead of a wrapped number.

use core::fmt;

/// The two flavors of ggml type 36 (I2_S), told apart by size (see [`crate::detect_flavor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// 256-element blocks of 64 code bytes, one per-tensor scale from a `.scale` sibling.
    Qk256,
    /// 32-element blocks of 8 code bytes followed by an f16 block scale `d`.
    BitNet32F16,
}

impl Flavor {
    /// Both flavors, in the order detection reports them.
    pub const ALL: [Flavor; 2] = [Flavor::Qk256, Flavor::BitNet32F16];

    /// The lowercase name used in JSON and messages: `"qk256"` or `"bitnet32f16"`.
    pub fn name(self) -> &'static str {
        TernaryFormat::from(self).name()
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every 2-bit ternary block format this crate decodes: the two I2_S flavors and ggml's TQ2_0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TernaryFormat {
    /// I2_S, QK256 flavor: 256 elements in 64 bytes, no scale inside the block.
    Qk256,
    /// I2_S, BitNet32F16 flavor: 32 elements in 8 code bytes plus an f16 scale (10 bytes).
    BitNet32F16,
    /// ggml TQ2_0 (type 35): a QK256 code block followed by an f16 scale (66 bytes).
    Tq2_0,
}

impl From<Flavor> for TernaryFormat {
    fn from(flavor: Flavor) -> Self {
        match flavor {
            Flavor::Qk256 => TernaryFormat::Qk256,
            Flavor::BitNet32F16 => TernaryFormat::BitNet32F16,
        }
    }
}

impl TernaryFormat {
    /// All three formats.
    pub const ALL: [TernaryFormat; 3] = [
        TernaryFormat::Qk256,
        TernaryFormat::BitNet32F16,
        TernaryFormat::Tq2_0,
    ];

    /// Elements per block: 256, 32, 256.
    pub const fn block_elems(self) -> usize {
        match self {
            TernaryFormat::Qk256 | TernaryFormat::Tq2_0 => 256,
            TernaryFormat::BitNet32F16 => 32,
        }
    }

    /// Bytes per block: 64, 10, 66.
    pub const fn block_bytes(self) -> usize {
        match self {
            TernaryFormat::Qk256 => 64,
            TernaryFormat::BitNet32F16 => 10,
            TernaryFormat::Tq2_0 => 66,
        }
    }

    /// Bytes of 2-bit codes at the start of each block: 64, 8, 64.
    pub const fn code_bytes(self) -> usize {
        self.block_elems() / 4
    }

    /// Whether each block carries its own f16 scale `d` (right after the code bytes).
    pub const fn has_block_scale(self) -> bool {
        !matches!(self, TernaryFormat::Qk256)
    }

    /// The lowercase name: `"qk256"`, `"bitnet32f16"`, `"tq2_0"`.
    pub fn name(self) -> &'static str {
        match self {
            TernaryFormat::Qk256 => "qk256",
            TernaryFormat::BitNet32F16 => "bitnet32f16",
            TernaryFormat::Tq2_0 => "tq2_0",
        }
    }

    /// Blocks per row: `ceil(cols / block_elems)` (every row starts on a block boundary).
    pub const fn blocks_per_row(self, cols: u64) -> u64 {
        cols.div_ceil(self.block_elems() as u64)
    }

    /// Bytes per row, `ceil(cols / block_elems) × block_bytes`; `None` on overflow.
    pub fn row_bytes(self, cols: u64) -> Option<u64> {
        self.blocks_per_row(cols)
            .checked_mul(self.block_bytes() as u64)
    }

    /// Bytes of a `rows × cols` tensor, `rows × row_bytes(cols)`; `None` on overflow.
    pub fn tensor_bytes(self, rows: u64, cols: u64) -> Option<u64> {
        self.row_bytes(cols)?.checked_mul(rows)
    }
}

impl fmt::Display for TernaryFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
