//! Hostile files cost time and memory in proportion to their size, never to the numbers they
//! declare: for every fuzz seed and for crafted giants (2^40 keys and tensors, 2^30-byte
//! strings and 2^30-element arrays declared in 200 bytes, tens of thousands of tensors, some
//! overlapping), `Gguf::parse` + `validate` + `Model::check` finish quickly and
//! allocate at most a small multiple of the file plus a small constant; so does dequantizing
//! any one tensor.
//!
//! Measured with a counting global allocator, so this binary holds a single test: nothing else
//! allocates while it measures. (It lives here rather than in `bitnet-gguf` because `check` is
//! this crate's; `bitnet-gguf/tests/alloc_bounds.rs` covers parsing alone.)

use std::time::{Duration, Instant};

use bitnet_gguf::Gguf;
use bitnet_models::{Kernel, Model};
use bitnet_testkit::alloc::{peak_during, CountingAlloc};
use bitnet_testkit::raw::Raw;
use bitnet_testkit::{corpus, third_party};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Files that declare far more than they hold, or pack the most findings into the fewest bytes.
fn giants() -> Vec<(&'static str, Vec<u8>)> {
    let i2s = 36;
    let mut files = vec![
        ("2^40 keys", Raw::header(3, 0, 1 << 40).fill_to(200)),
        ("2^40 tensors", Raw::header(3, 1 << 40, 0).fill_to(200)),
        // (A 2^30-byte string and a 2^30-element string array are in the corpus.)
        (
            "2^30-byte tensor name",
            Raw::header(3, 1, 0).u64(1 << 30).fill_to(200),
        ),
        (
            "2^30-element u64 array",
            Raw::one_array(10, 1 << 30).fill_to(200),
        ),
        (
            "2^30 empty strings, 200 present",
            Raw::one_array(8, 1 << 30).fill_to(200 * 8 + 40),
        ),
    ];
    // Thousands of I2_S tensors of a bitnet-b1.58 file, all at offset 0 over 64 bytes of data:
    // each is ambiguous, overlapping and misnamed, so `check` reports several findings apiece.
    let n = if cfg!(miri) { 40 } else { 4000 };
    let mut r = Raw::header(3, n, 2);
    r.str(b"general.architecture").u32(8).str(b"bitnet-b1.58");
    r.str(b"bitnet-b1.58.block_count").u32(4).u32(1);
    for i in 0..n {
        r.tensor(&format!("blk.{i}.attn_q.weight"), &[160, 1], i2s, 0);
    }
    let len = r.0.len().div_ceil(32) * 32 + 64;
    files.push(("overlapping i2_s tensors", r.fill_to(len)));
    // The same, F32 tensors of 2^40 elements each: every one past the end of the file.
    let mut r = Raw::header(3, n, 0);
    for i in 0..n {
        r.tensor(&format!("t{i}"), &[1 << 20, 1 << 20], 0, 0);
    }
    let len = r.0.len() + 32;
    files.push(("huge f32 tensors", r.fill_to(len)));
    // 80000 valid QK256 tensors (9 MB): `check` looks up each one's `.scale` sibling by name,
    // which took 16 s while `Gguf::tensor` searched linearly, and takes 40 ms with its index.
    let n = if cfg!(miri) { 40 } else { 80_000 };
    let mut r = Raw::header(3, n, 0);
    for i in 0..n {
        r.tensor(&format!("w{i}.weight"), &[256, 1], i2s, i * 64);
    }
    let len = r.0.len().div_ceil(32) * 32;
    let mut bytes = r.fill_to(len);
    bytes.resize(len + 64 * n as usize, 0x55);
    files.push(("many qk256 tensors", bytes));
    // 80000 TQ2_0 tensors over the same 4 MB of blocks: `check` scanned each in full (over
    // 300 GB of reads, about 10 s) before it learnt to scan only a tensor within its own span.
    let (n, rows) = if cfg!(miri) {
        (40, 4)
    } else {
        (80_000, 65_536)
    };
    let mut r = Raw::header(3, n, 0);
    for i in 0..n {
        r.tensor(&format!("t{i}"), &[256, rows], 35, 0);
    }
    let len = r.0.len().div_ceil(32) * 32;
    let mut bytes = r.fill_to(len);
    bytes.resize(len + 66 * rows as usize, 0x55);
    files.push(("overlapping tq2_0 tensors", bytes));
    // bitnetcpp (I2_S as bitnet.cpp writes it). Thousands of 2x384 tensors of a bitnet-b1.58
    // file, all at offset 0 over one tensor's 224 bytes (192 code bytes and the tail).
    let n = if cfg!(miri) { 40 } else { 4000 };
    let mut r = Raw::header(3, n, 2);
    r.str(b"general.architecture").u32(8).str(b"bitnet-b1.58");
    r.str(b"bitnet-b1.58.block_count").u32(4).u32(1);
    for i in 0..n {
        r.tensor(&format!("blk.{i}.attn_q.weight"), &[384, 2], i2s, 0);
    }
    let len = r.0.len().div_ceil(32) * 32;
    let mut bytes = r.fill_to(len);
    bytes.resize(len + 192, 0x55);
    bytes.extend_from_slice(&0.5f32.to_le_bytes());
    bytes.resize(len + 224, 0);
    files.push(("overlapping bitnetcpp tensors", bytes));
    // 40000 valid bitnetcpp tensors (9 MB), each with its tail scale.
    let n = if cfg!(miri) { 40 } else { 40_000 };
    let mut r = Raw::header(3, n, 0);
    for i in 0..n {
        r.tensor(&format!("w{i}.weight"), &[384, 2], i2s, i * 224);
    }
    let len = r.0.len().div_ceil(32) * 32;
    let mut bytes = r.fill_to(len);
    for _ in 0..n {
        bytes.resize(bytes.len() + 192, 0x55);
        bytes.extend_from_slice(&(-1.5f32).to_le_bytes());
        bytes.resize(bytes.len() + 28, 0xcd);
    }
    files.push(("many bitnetcpp tensors", bytes));
    // 80000 1x128 tensors, each the size of QK256, BitNet32F16 and bitnetcpp alike, decided
    // by the one 2x384 bitnetcpp tensor after them: a finding apiece, looked up per tensor.
    let n = if cfg!(miri) { 40 } else { 80_000 };
    let mut r = Raw::header(3, n + 1, 0);
    for i in 0..n {
        r.tensor(&format!("w{i}.weight"), &[128, 1], i2s, i * 64);
    }
    r.tensor("decider.weight", &[384, 2], i2s, n * 64);
    let len = r.0.len().div_ceil(32) * 32;
    let mut bytes = r.fill_to(len);
    for _ in 0..n {
        bytes.resize(bytes.len() + 32, 0xaa);
        bytes.extend_from_slice(&0.25f32.to_le_bytes());
        bytes.resize(bytes.len() + 28, 0);
    }
    bytes.resize(bytes.len() + 192, 0x55);
    bytes.extend_from_slice(&1.0f32.to_le_bytes());
    bytes.resize(bytes.len() + 28, 0);
    files.push(("1x128 tensors decided by the file", bytes));
    files
}

/// Bytes a file of `len` bytes may make parse + validate + check allocate: the entries and
/// findings are a few machine words each (plus names copied from the file) and each stands for
/// at least 13 bytes of the file, so a small multiple of the file plus a constant bounds them.
fn bound(len: usize) -> usize {
    16 * len + 16 * 1024
}

/// Dequantizing one tensor yields at most 4 values (16 bytes) per byte of its data.
fn dequant_bound(len: usize) -> usize {
    16 * len + 4 * 1024
}

/// Generous: each of these takes under 50 ms natively, and the suite also runs under qemu and
/// wasm. A quadratic pass over the tensors takes far longer on the larger giants.
const TIME_LIMIT: Duration = Duration::from_secs(5);

#[test]
fn hostile_files_cost_time_and_memory_in_proportion_to_their_size() {
    // Every seed of the `parse` fuzz target (a superset of `parse_check_dequant`'s), from the
    // builders `cargo xtask fuzz --write-seeds` writes them from (`--check-seeds`, which a test
    // runs, keeps `fuzz/seeds/` equal to them).
    let mut files = corpus::gguf_seeds();
    // The 724 KB llama vocabulary: 32000 strings in one array, no tensors. Too slow for Miri.
    #[cfg(not(miri))]
    files.push((
        "ggml-vocab-llama-spm.gguf".to_owned(),
        third_party::LLAMA_SPM_VOCAB.to_vec(),
    ));
    files.extend(giants().into_iter().map(|(n, b)| (n.to_owned(), b)));

    for (name, bytes) in &files {
        let start = Instant::now();
        let mut tensors = 0;
        let mut findings = 0;
        let peak = peak_during(|| {
            if let Ok(gguf) = Gguf::parse(bytes) {
                let _ = gguf.validate();
                let model = Model::new(gguf);
                findings = model.check().len();
                tensors = model.gguf().tensors().len();
            }
        });
        let elapsed = start.elapsed();
        eprintln!(
            "{name}: {} bytes, {tensors} tensors, {findings} findings, peak {peak} bytes allocated, {elapsed:?}",
            bytes.len()
        );
        assert!(
            peak <= bound(bytes.len()),
            "{name}: {peak} bytes allocated for a {}-byte file",
            bytes.len()
        );
        #[cfg(not(miri))] // Miri is a thousand times slower; its sizes are cut down instead.
        assert!(elapsed < TIME_LIMIT, "{name}: {elapsed:?}");

        let Ok(model) = Model::parse(bytes) else {
            continue;
        };
        // Dequantizing is per tensor; the overlapping files would repeat the same work.
        for i in 0..tensors.min(8) {
            let peak = peak_during(|| {
                let _ = model.decode(i, Kernel::scalar());
            });
            assert!(
                peak <= dequant_bound(bytes.len()),
                "{name}, tensor {i}: {peak} bytes allocated to dequantize"
            );
        }
    }
}
