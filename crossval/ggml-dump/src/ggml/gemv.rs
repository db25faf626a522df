//! ggml's activation quantization and generic ternary dot products, for `--gemv` and
//! `--bench-gemv`: `quantize_row_q8_K_ref` (ggml-quants.c) and `ggml_vec_dot_tq1_0_q8_K` /
//! `ggml_vec_dot_tq2_0_q8_K` in their generic C (ggml-cpu/quants.c, reached through
//! src/gemv_shim.c). The one `#[repr(C)]` mirror here, `block_q8_K`, is checked against the C
//! compiler's layout before first use.

use std::ffi::{c_int, c_void};
use std::mem::{offset_of, size_of};
use std::sync::Once;

/// `QK_K`: values per q8_K, TQ1_0 and TQ2_0 block.
pub const QK_K: usize = 256;

/// `block_q8_K` (ggml-common.h): the activation block of the K-quant and TQ dot products.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct BlockQ8K {
    /// The block's scale: `max / -127`, where `max` is the value of largest magnitude.
    pub d: f32,
    pub qs: [i8; QK_K],
    /// Sums of `qs` in groups of 16 (unused by the TQ dot products).
    pub bsums: [i16; QK_K / 16],
}

/// Bytes of one [`BlockQ8K`] as [`BlockQ8K::to_le_bytes`] writes it.
pub const BLOCK_Q8K_BYTES: usize = 4 + QK_K + 2 * (QK_K / 16);

impl BlockQ8K {
    const ZERO: Self = Self {
        d: 0.0,
        qs: [0; QK_K],
        bsums: [0; QK_K / 16],
    };

    /// The block as ggml lays it out on a little-endian machine: `d` (f32), `qs`, `bsums` (i16).
    pub fn to_le_bytes(self) -> [u8; BLOCK_Q8K_BYTES] {
        let mut out = [0u8; BLOCK_Q8K_BYTES];
        out[..4].copy_from_slice(&self.d.to_le_bytes());
        for (o, q) in out[4..4 + QK_K].iter_mut().zip(self.qs) {
            *o = q.to_le_bytes()[0];
        }
        for (o, s) in out[4 + QK_K..].chunks_exact_mut(2).zip(self.bsums) {
            o.copy_from_slice(&s.to_le_bytes());
        }
        out
    }
}

/// The two ternary types with a q8_K dot product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tq {
    Tq1_0,
    Tq2_0,
}

impl Tq {
    /// The `enum ggml_type` value (checked against ggml's names by the tests).
    pub fn id(self) -> i32 {
        match self {
            Tq::Tq1_0 => 34,
            Tq::Tq2_0 => 35,
        }
    }

    pub fn of(id: i32) -> Option<Self> {
        [Tq::Tq1_0, Tq::Tq2_0].into_iter().find(|t| t.id() == id)
    }

    /// ggml's name (`tq1_0`).
    pub fn name(self) -> &'static str {
        match self {
            Tq::Tq1_0 => "tq1_0",
            Tq::Tq2_0 => "tq2_0",
        }
    }

    /// Bytes per block of [`QK_K`] weights (`sizeof(block_tq1_0)`, `sizeof(block_tq2_0)`).
    pub fn block_bytes(self) -> usize {
        check_once();
        // SAFETY: immutable, fully initialised arrays defined in src/gemv_shim.c.
        let sizes = unsafe { ggml_dump_tq_block_bytes };
        match self {
            Tq::Tq1_0 => sizes[0],
            Tq::Tq2_0 => sizes[1],
        }
    }
}

extern "C" {
    // ggml-quants.c
    fn quantize_row_q8_K_ref(x: *const f32, y: *mut BlockQ8K, k: i64);

    // src/gemv_shim.c
    fn ggml_dump_init_fp16_table();
    fn ggml_dump_vec_dot_tq1_0_q8_K(n: c_int, s: *mut f32, vx: *const c_void, vy: *const c_void);
    fn ggml_dump_vec_dot_tq2_0_q8_K(n: c_int, s: *mut f32, vx: *const c_void, vy: *const c_void);
    static ggml_dump_block_q8_K_layout: [usize; 4];
    static ggml_dump_qk_k: usize;
    static ggml_dump_tq_block_bytes: [usize; 2];
}

/// Panics unless [`BlockQ8K`] and [`QK_K`] are exactly what the C compiler sees.
pub fn check_layout() {
    let ours = [
        size_of::<BlockQ8K>(),
        offset_of!(BlockQ8K, d),
        offset_of!(BlockQ8K, qs),
        offset_of!(BlockQ8K, bsums),
    ];
    // SAFETY: immutable, fully initialised values defined in src/gemv_shim.c.
    let (theirs, qk_k) = unsafe { (ggml_dump_block_q8_K_layout, ggml_dump_qk_k) };
    assert_eq!(qk_k, QK_K, "QK_K changed in this ggml");
    assert_eq!(
        ours, theirs,
        "block_q8_K changed in this ggml: update BlockQ8K in src/ggml/gemv.rs \
         (size, then field offsets)"
    );
    assert_eq!(size_of::<BlockQ8K>(), BLOCK_Q8K_BYTES);
}

/// The layout check, and the f16 table the generic dot products read (which ggml_cpu_init fills
/// in a full ggml), once per process.
fn check_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        check_layout();
        // SAFETY: writes the shim's own table; nothing reads it before this returns (`Once`).
        unsafe { ggml_dump_init_fp16_table() };
    });
}

/// `x` (a whole number of [`QK_K`] blocks) quantized by `quantize_row_q8_K_ref`. The blocks start
/// zeroed: ggml leaves `bsums` of an all-zero block as they were, so here they read 0.
pub fn quantize_q8_k(x: &[f32]) -> Result<Vec<BlockQ8K>, String> {
    if !x.len().is_multiple_of(QK_K) {
        return Err(format!("{} values are not whole blocks of {QK_K}", x.len()));
    }
    let k = i64::try_from(x.len()).map_err(|_| "too many values".to_owned())?;
    check_once();
    let mut blocks = vec![BlockQ8K::ZERO; x.len() / QK_K];
    // SAFETY: `x` holds `k` values, a multiple of QK_K as the function asserts, and `blocks` has
    // room for the `k / QK_K` blocks it writes; the layout of BlockQ8K is checked.
    unsafe { quantize_row_q8_K_ref(x.as_ptr(), blocks.as_mut_ptr(), k) };
    Ok(blocks)
}

/// ggml's generic `ggml_vec_dot_<ty>_q8_K` of one row (`row`: whole blocks of `ty`) with the
/// activation blocks `x`, one for each of the row's blocks.
pub fn vec_dot(ty: Tq, row: &[u8], x: &[BlockQ8K]) -> Result<f32, String> {
    if row.len() != x.len() * ty.block_bytes() {
        return Err(format!(
            "a row of {} bytes is not {} {} blocks",
            row.len(),
            x.len(),
            ty.name()
        ));
    }
    let n = x
        .len()
        .checked_mul(QK_K)
        .and_then(|n| c_int::try_from(n).ok())
        .ok_or("row too long for ggml's int n")?;
    let mut s = 0.0f32;
    let dot = match ty {
        Tq::Tq1_0 => ggml_dump_vec_dot_tq1_0_q8_K,
        Tq::Tq2_0 => ggml_dump_vec_dot_tq2_0_q8_K,
    };
    // SAFETY: `row` holds the n / QK_K blocks of `ty` and `x` the n / QK_K q8_K blocks the
    // function reads (checked above, block sizes from the C compiler); `s` is one f32 it writes.
    // `check_once` (through `block_bytes`) filled the f16 table first.
    unsafe { dot(n, &mut s, row.as_ptr().cast(), x.as_ptr().cast()) };
    Ok(s)
}
