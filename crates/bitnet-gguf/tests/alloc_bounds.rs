//! Parsing allocates for what it has read, never for a number it has not checked: measured
//! with a counting global allocator (this test binary has one test so nothing else allocates
//! concurrently).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bitnet_gguf::Gguf;
use common::Raw;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: `ptr` was allocated by `System` with this layout, in `alloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Peak bytes allocated while parsing and validating `bytes`.
fn peak_during(bytes: &[u8]) -> usize {
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    if let Ok(g) = Gguf::parse(bytes) {
        let _ = g.validate();
    }
    PEAK.load(Ordering::SeqCst) - base
}

#[test]
fn parsing_allocates_no_more_than_a_small_multiple_of_the_file() {
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        (
            "gguf-py",
            include_bytes!("../../../testdata/third-party/gguf-py-written.gguf").to_vec(),
        ),
        (
            "vocab",
            include_bytes!("../../../testdata/third-party/ggml-vocab-llama-spm.gguf").to_vec(),
        ),
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
        let peak = peak_during(bytes);
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
