//! Parsing allocates for what it has read, never for a number it has not checked: measured
//! with a counting global allocator (this test binary has one test so nothing else allocates
//! concurrently).

use bitnet_gguf::Gguf;
use bitnet_testkit::alloc::{peak_during, CountingAlloc};
use bitnet_testkit::raw::Raw;
use bitnet_testkit::third_party::{GGUF_PY_WRITTEN, LLAMA_SPM_VOCAB};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Peak bytes allocated while parsing and validating `bytes`.
fn parse_peak(bytes: &[u8]) -> usize {
    peak_during(|| {
        if let Ok(g) = Gguf::parse(bytes) {
            let _ = g.validate();
        }
    })
}

#[test]
fn parsing_allocates_no_more_than_a_small_multiple_of_the_file() {
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("gguf-py", GGUF_PY_WRITTEN.to_vec()),
        ("vocab", LLAMA_SPM_VOCAB.to_vec()),
    ];
    let mut r = Raw::header(3, 1 << 40, 1 << 40);
    r.fill(200 - r.0.len(), 0);
    files.push(("2^40 keys and tensors in 200 bytes", r.build()));
    let mut r = Raw::header(3, 0, 1);
    r.str(b"k").u32(8).u64(1 << 30).fill(150, b'x');
    files.push(("2^30-byte string in 200 bytes", r.build()));
    let mut r = Raw::header(3, 0, 1);
    r.str(b"k").u32(9).u32(8).u64(1 << 30).fill(150, 0);
    files.push(("2^30-element string array in 200 bytes", r.build()));
    let mut r = Raw::header(3, 0, 12);
    for i in 0..12 {
        r.kv_u32(&format!("k{i}"), i);
    }
    files.push(("many small keys", r.build()));
    for (name, bytes) in &files {
        let peak = parse_peak(bytes);
        // Entries are a few machine words each and each consumes at least 13 file bytes, so a
        // small multiple of the file plus a constant bounds every honest parser state.
        let bound = 8 * bytes.len() + 4096;
        assert!(
            peak <= bound,
            "{name}: {peak} bytes allocated for a {}-byte file",
            bytes.len()
        );
        eprintln!(
            "{name}: {} bytes in, peak {peak} bytes allocated",
            bytes.len()
        );
    }
}
