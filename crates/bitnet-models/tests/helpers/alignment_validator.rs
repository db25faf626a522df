//! Checks the container layout (docs/gguf.md) independently of the validator under test: every
//! offset a multiple of the alignment, every tensor at the running sum of padded sizes, every
//! padding byte zero. Sizes come from the arithmetic of docs/formats.md, written out here, not
//! from the crate's format tables or its flavor detection.

use bitnet_gguf::{ggml_type, Gguf};
use bitnet_models::Flavor;

/// The byte size of tensor `index`: the type table's, or for I2_S tensors the size of the
/// flavor the caller says they have.
fn size_of(g: &Gguf<'_>, index: usize, i2s: Flavor) -> u64 {
    let t = &g.tensors()[index];
    if t.ggml_type != ggml_type::I2_S {
        return t.byte_size().expect("sized type");
    }
    let (rows, cols) = (t.rows().unwrap(), t.cols());
    match i2s {
        // 256 elements in 64 bytes, every row padded to whole blocks.
        Flavor::Qk256 => rows * cols.div_ceil(256) * 64,
        // 32 elements in 8 code bytes and a 2-byte scale.
        Flavor::BitNet32F16 => rows * cols.div_ceil(32) * 10,
        // Four elements a byte, no row padding, then a 32-byte tail.
        Flavor::BitnetCpp => rows * cols / 4 + 32,
    }
}

/// Panics with a message naming the first layout rule `bytes` breaks; I2_S tensors are sized
/// as `i2s`.
pub fn assert_aligned_layout(bytes: &[u8], i2s: Flavor) {
    let g = Gguf::parse(bytes).expect("parses");
    let align = g.alignment();
    assert!(align.is_power_of_two());
    assert_eq!(g.data_offset() % align, 0, "data section offset");
    assert_eq!(
        bytes.len() as u64 % align,
        0,
        "file length (the last tensor is padded too)"
    );
    let zero = |from: u64, to: u64, what: &str| {
        let region = &bytes[from as usize..to as usize];
        assert!(
            region.iter().all(|&b| b == 0),
            "non-zero padding in {what} ({from}..{to})"
        );
    };
    zero(g.tensor_info_end(), g.data_offset(), "the header padding");
    let mut expected = 0u64;
    for (i, t) in g.tensors().iter().enumerate() {
        assert_eq!(t.offset % align, 0, "offset of {}", t.name);
        assert_eq!(t.offset, expected, "offset of {}", t.name);
        let size = size_of(&g, i, i2s);
        let padded = size.div_ceil(align) * align;
        let start = g.data_offset() + t.offset;
        zero(start + size, start + padded, t.name);
        expected += padded;
    }
    assert_eq!(
        g.data_offset() + expected,
        bytes.len() as u64,
        "end of the last tensor's padding"
    );
}
