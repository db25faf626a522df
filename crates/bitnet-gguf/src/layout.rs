//! The container's fixed numbers: the magic, the alignment key and its default, the longest
//! tensor name, and [`pad`]. Leaf of the crate: the errors name the alignment key, the reader
//! and writer use all of them.

/// The magic bytes every GGUF file starts with.
pub const MAGIC: [u8; 4] = *b"GGUF";
/// The alignment when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// The key holding the alignment.
pub const ALIGNMENT_KEY: &str = "general.alignment";
/// The longest tensor name ggml accepts, in bytes.
pub const MAX_TENSOR_NAME: u64 = 63;

/// Rounds `n` up to a multiple of `align` (a power of two), `None` on overflow.
pub fn pad(n: u64, align: u64) -> Option<u64> {
    let mask = align.checked_sub(1)?;
    Some(n.checked_add(mask)? & !mask)
}
