//! Checks SPEC §1's layout independently of the validator under test: every offset a multiple
//! of the alignment, every tensor at the running sum of padded sizes, every padding byte zero.

use bitnet_gguf::Gguf;
use bitnet_models::ternary_format;

/// The byte size of tensor `index`: the type table's, or for ternary tensors the detected
/// format's.
fn size_of(g: &Gguf<'_>, index: usize) -> u64 {
    let t = &g.tensors()[index];
    match ternary_format(g, index).expect("ternary tensors have a flavor") {
        Some(format) => format.tensor_bytes(t.rows().unwrap(), t.cols()).unwrap(),
        None => t.byte_size().expect("sized type"),
    }
}

/// Panics with a message naming the first layout rule `bytes` breaks.
pub fn assert_aligned_layout(bytes: &[u8]) {
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
        let size = size_of(&g, i);
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
