//! The hostile GGUF corpus: hand-made files, one per kind of trouble, spelled out with
//! [`Raw`] rather than stored as unexplained blobs.
//!
//! `cargo xtask fuzz --write-seeds` writes [`gguf_seeds`] (these and the committed GGUF files)
//! as the seeds of the `parse` and `parse_check_dequant` targets, so names and bytes here are
//! committed: `--check-seeds` fails when they change. `bitnet-models/tests/resource_bounds.rs`
//! measures them; the findings each must give are asserted by the crates'
//! `tests/fuzz_regressions.rs`.

use crate::raw::Raw;
use crate::{fixtures, third_party};

/// The GGUF seeds of the `parse` and `parse_check_dequant` fuzz targets, `(file name, bytes)`:
/// the reference fixtures, the gguf-py file and [`malformed`]. (`parse` also gets the 724 KB
/// vocabulary, [`third_party::LLAMA_SPM_VOCAB`], which has no tensors to check or dequantize.)
pub fn gguf_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds: Vec<(String, Vec<u8>)> = fixtures::ALL
        .iter()
        .map(|&(name, bytes)| (name.to_owned(), bytes.to_vec()))
        .collect();
    for (name, bytes) in [
        ("gguf-py-written.gguf", third_party::GGUF_PY_WRITTEN),
        ("gguf-py-tq1_0.gguf", third_party::GGUF_PY_TQ1_0),
    ] {
        seeds.push((name.to_owned(), bytes.to_vec()));
    }
    seeds.extend(malformed());
    seeds
}

// ggml type codes (this crate does not depend on `bitnet-gguf`).
const F32: u32 = 0;
const F16: u32 = 1;
const TQ1_0: u32 = 34;
const TQ2_0: u32 = 35;
const I2_S: u32 = 36;

/// Hand-made hostile GGUF files, one per kind of trouble (mirroring
/// `crates/bitnet-gguf/tests/malformed.rs` and the I2_S rules of `bitnet-models`), named
/// `malformed-<kind>.gguf`.
pub fn malformed() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>| out.push((format!("malformed-{name}.gguf"), bytes));

    add("header-only", Raw::header(3, 0, 0).done());
    add("version-2", Raw::header(2, 0, 0).done());
    let mut bytes = Raw::header(3, 0, 0).done();
    bytes[..4].copy_from_slice(b"GGML");
    add("bad-magic", bytes);
    let mut r = Raw(b"GGUF".to_vec());
    r.bytes(&3u32.to_be_bytes()).u64(0).u64(0);
    add("big-endian", r.done());

    // Counts and lengths far beyond a 200-byte file.
    let mut r = Raw::header(3, 1 << 40, 1 << 40);
    let n = 200 - r.0.len();
    add("counts-2e40", r.fill(n, 0).done());
    add(
        "string-2e30",
        Raw::one_string(1 << 30).fill(150, b'x').done(),
    );
    add(
        "string-array-2e30",
        Raw::one_array(8, 1 << 30).fill(150, 0).done(),
    );
    add(
        "u8-array-2e30",
        Raw::one_array(0, 1 << 30).fill(150, 7).done(),
    );
    add(
        "nested-array",
        Raw::header(3, 0, 1)
            .str(b"k")
            .u32(9)
            .u32(9)
            .u64(1)
            .u32(0)
            .u64(1)
            .bytes(&[1])
            .done(),
    );
    add(
        "key-not-utf8",
        Raw::header(3, 0, 1).str(b"\xff\xfe").u32(4).u32(0).done(),
    );
    add(
        "alignment-zero",
        Raw::header(3, 0, 1).kv_u32("general.alignment", 0).done(),
    );
    add(
        "duplicate-keys",
        Raw::header(3, 0, 3)
            .kv_u32("a", 1)
            .kv_str("a", "again")
            .kv_u32("", 2)
            .done(),
    );

    // Tensor infos: shapes, types and offsets that overflow or do not fit.
    add(
        "element-count-overflow",
        Raw::header(3, 1, 0)
            .tensor("t", &[1 << 32, 1 << 32], F32, 0)
            .pad(32)
            .done(),
    );
    add(
        "dimension-minus-one",
        Raw::header(3, 1, 0)
            .tensor("t", &[u64::MAX], F32, 0)
            .pad(32)
            .done(),
    );
    add(
        "offset-u64-max",
        Raw::header(3, 1, 0)
            .tensor("t", &[8], F32, u64::MAX)
            .pad(32)
            .fill(32, 0)
            .done(),
    );
    add(
        "misordered-tensors",
        Raw::header(3, 2, 0)
            .tensor("a", &[8], F32, 32)
            .tensor("b", &[8], F32, 0)
            .pad(32)
            .fill(64, 0x3f)
            .done(),
    );
    add(
        "unknown-and-removed-types",
        Raw::header(3, 2, 0)
            .tensor("a", &[8], 4, 0)
            .tensor("b", &[8], 9999, 32)
            .pad(32)
            .fill(64, 0)
            .done(),
    );

    // I2_S: both flavors fit 1x160 (64 vs 50 bytes), neither fits 32 bytes of 1x256.
    add(
        "i2s-ambiguous-1x160",
        Raw::header(3, 1, 0)
            .tensor("w", &[160, 1], I2_S, 0)
            .pad(32)
            .fill(64, 0x55)
            .done(),
    );
    add(
        "i2s-size-mismatch",
        Raw::header(3, 1, 0)
            .tensor("w", &[256, 1], I2_S, 0)
            .pad(32)
            .fill(32, 0x55)
            .done(),
    );
    // QK256 2x300 (256 bytes) of code 3 (reserved, and bad padding), with a NaN `.scale`.
    add(
        "i2s-qk256-reserved-nan-scale",
        Raw::header(3, 2, 0)
            .tensor("blk.0.attn_q.weight", &[300, 2], I2_S, 0)
            .tensor("blk.0.attn_q.scale", &[1], F32, 256)
            .pad(32)
            .fill(256, 0xff)
            .bytes(&f32::NAN.to_le_bytes())
            .pad(32)
            .done(),
    );
    // QK256 with a `.scale` sibling of the wrong type and shape.
    add(
        "i2s-qk256-scale-f16-pair",
        Raw::header(3, 2, 0)
            .tensor("x.weight", &[256, 1], I2_S, 0)
            .tensor("x.scale", &[2], F16, 64)
            .pad(32)
            .fill(64, 0x1b)
            .bytes(&[0, 0x3c, 0, 0xbc])
            .pad(32)
            .done(),
    );
    // BitNet32F16 2x64 (4 blocks of 10 bytes) with NaN, infinite, subnormal and -0 scales.
    let mut r = Raw::header(3, 1, 0);
    r.tensor("w", &[64, 2], I2_S, 0).pad(32);
    for d in [0x7e00u16, 0x7c00, 0x0001, 0x8000] {
        r.bytes(&[0x00, 0x55, 0xaa, 0xff, 0x1b, 0xe4, 0x27, 0x72])
            .bytes(&d.to_le_bytes());
    }
    add("i2s-bitnet32f16-odd-scales", r.pad(32).done());
    // TQ2_0 1x256 with every code value and a negative scale.
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[256, 1], TQ2_0, 0).pad(32);
    for i in 0..64u8 {
        r.bytes(&[i.wrapping_mul(37)]);
    }
    add("tq2_0-all-codes", r.bytes(&[0x00, 0xc0]).pad(32).done());
    // TQ1_0 1x512: code bytes 5p (block 0) and 5p + 128 (block 1), a NaN d in the second block.
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[512, 1], TQ1_0, 0).pad(32);
    for (k, d) in [0xb555u16, 0x7e00].into_iter().enumerate() {
        for p in 0..52u8 {
            r.bytes(&[p.wrapping_mul(5).wrapping_add(128 * k as u8)]);
        }
        r.bytes(&d.to_le_bytes());
    }
    add("tq1_0-nan-scale", r.pad(32).done());

    // I2_S as bitnet.cpp writes it (bitnetcpp): the tensor's codes in groups of 128 elements
    // (32 bytes, no row padding), then a 32-byte tail: the f32 scale and 28 ignored bytes.
    // 2x384 is bitnetcpp by size alone: 192 + 32 = 224 bytes (QK256 256, BitNet32F16 240).
    // Code 3 (reserved) in group 0, group 5 and the last code byte.
    let mut bytes = bitnetcpp(768, 0.5, 0);
    bytes[3] = 0xff;
    bytes[5 * 32 + 17] = 0x93;
    bytes[191] = 0x03;
    add(
        "i2s-bitnetcpp-reserved-codes",
        i2s_file(&[("w", &[384, 2], 0)], &bytes),
    );
    // A tail scale that is NaN, or infinite.
    add(
        "i2s-bitnetcpp-nan-scale",
        i2s_file(&[("w", &[384, 2], 0)], &bitnetcpp(768, f32::NAN, 0)),
    );
    add(
        "i2s-bitnetcpp-inf-scale",
        i2s_file(
            &[("w", &[384, 2], 0)],
            &bitnetcpp(768, f32::NEG_INFINITY, 0),
        ),
    );
    // The file ends inside the codes (100 of 192 bytes), or inside the tail (10 of its 32).
    add(
        "i2s-bitnetcpp-truncated-codes",
        i2s_file(&[("w", &[384, 2], 0)], &bitnetcpp(768, 0.5, 0)[..100]),
    );
    add(
        "i2s-bitnetcpp-truncated-tail",
        i2s_file(&[("w", &[384, 2], 0)], &bitnetcpp(768, 0.5, 0)[..202]),
    );
    // 2x320: 192 bytes would be bitnetcpp's size (160 + 32) if it could hold 320 columns.
    add(
        "i2s-bitnetcpp-cols-not-128",
        i2s_file(&[("w", &[320, 2], 0)], &bitnetcpp(640, 0.5, 0)),
    );
    // 1x128 fits QK256 and bitnetcpp (64 bytes each) and BitNet32F16 (40): undecided alone,
    // bitnetcpp beside a tensor that is bitnetcpp by size, undecided when the file's tensors
    // disagree (a QK256 4x256 too).
    add(
        "i2s-bitnetcpp-ambiguous-1x128",
        i2s_file(&[("w", &[128, 1], 0)], &bitnetcpp(128, 0.5, 0)),
    );
    let mut bytes = bitnetcpp(128, 0.5, 0);
    bytes.extend(bitnetcpp(768, 0.25, 0));
    add(
        "i2s-bitnetcpp-1x128-from-file",
        i2s_file(&[("a", &[128, 1], 0), ("b", &[384, 2], 64)], &bytes),
    );
    bytes.extend([0x55; 256]);
    add(
        "i2s-bitnetcpp-1x128-mixed-file",
        i2s_file(
            &[
                ("a", &[128, 1], 0),
                ("b", &[384, 2], 64),
                ("c", &[256, 4], 288),
            ],
            &bytes,
        ),
    );
    // 1x512 fits BitNet32F16 and bitnetcpp (160 bytes each): undecided alone, decided by a
    // bitnetcpp tensor or by a BitNet32F16 one (2x64, 40 bytes padded to 64), undecided in a
    // QK256 file (QK256 is not among its candidates).
    add(
        "i2s-bitnetcpp-ambiguous-1x512",
        i2s_file(&[("w", &[512, 1], 0)], &bitnetcpp(512, 0.5, 0)),
    );
    let mut bytes = bitnetcpp(512, 0.5, 0);
    bytes.extend(bitnetcpp(768, 0.25, 0));
    add(
        "i2s-bitnetcpp-1x512-from-file",
        i2s_file(&[("a", &[512, 1], 0), ("b", &[384, 2], 160)], &bytes),
    );
    // Both as BitNet32F16 blocks: 8 code bytes and d = 0.5 (f16 0x3800), 16 blocks then 4.
    let block = [0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x00, 0x38];
    let mut bytes = block.repeat(16 + 4);
    bytes.resize(160 + 64, 0); // b's 40 bytes, padded to 64
    add(
        "i2s-bitnet32f16-1x512-from-file",
        i2s_file(&[("a", &[512, 1], 0), ("b", &[64, 2], 160)], &bytes),
    );
    let mut bytes = bitnetcpp(512, 0.5, 0);
    bytes.extend([0x55; 256]);
    add(
        "i2s-bitnetcpp-1x512-qk256-file",
        i2s_file(&[("a", &[512, 1], 0), ("b", &[256, 4], 160)], &bytes),
    );
    // Valid: 28 tail bytes of garbage (ignored), a negative scale.
    let mut bytes = bitnetcpp(768, 0.5, 0);
    for (i, b) in bytes[196..].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(97) ^ 0xa5;
    }
    add(
        "i2s-bitnetcpp-garbage-tail",
        i2s_file(&[("w", &[384, 2], 0)], &bytes),
    );
    add(
        "i2s-bitnetcpp-negative-scale",
        i2s_file(&[("w", &[384, 2], 0)], &bitnetcpp(768, -0.75, 0)),
    );
    // A `.scale` sibling beside a bitnetcpp tensor, which carries its own scale (a warning).
    add(
        "i2s-bitnetcpp-scale-sibling",
        Raw::header(3, 2, 0)
            .tensor("x.weight", &[384, 2], I2_S, 0)
            .tensor("x.scale", &[1], F32, 224)
            .pad(32)
            .bytes(&bitnetcpp(768, 0.5, 0))
            .bytes(&2.0f32.to_le_bytes())
            .pad(32)
            .done(),
    );

    // A bitnet-b1.58 file whose required keys are missing, mistyped or inconsistent.
    add(
        "bitnet-keys-inconsistent",
        Raw::header(3, 1, 6)
            .kv_str("general.architecture", "bitnet-b1.58")
            .kv_u32("general.name", 7)
            .kv_u32("bitnet-b1.58.embedding_length", 96)
            .kv_u32("bitnet-b1.58.attention.head_count", 0)
            .kv_u32("bitnet-b1.58.attention.head_count_kv", 3)
            .kv_str("bitnet-b1.58.block_count", "two")
            .tensor("blk.7.attn_norm.weight", &[8], F32, 0)
            .pad(32)
            .fill(32, 0)
            .done(),
    );
    out
}

/// The stored bytes of a bitnetcpp tensor of `n` elements (`n` a multiple of 128): code bytes
/// 0x92, 0x24, 0x49 repeating (codes 2, 1, 0, 2 / 0, 2, 1, 0 / 1, 0, 2, 1: no reserved code),
/// then the tail: `scale` as f32 little-endian and 28 bytes of `junk`.
fn bitnetcpp(n: usize, scale: f32, junk: u8) -> Vec<u8> {
    let mut v: Vec<u8> = [0x92, 0x24, 0x49].into_iter().cycle().take(n / 4).collect();
    v.extend_from_slice(&scale.to_le_bytes());
    v.resize(n / 4 + 32, junk);
    v
}

/// A file of I2_S tensors `(name, ne, offset)`, then `data` from the first multiple of 32 after
/// the tensor infos, and nothing after it (no padding: a file may end anywhere).
fn i2s_file(tensors: &[(&str, &[u64], u64)], data: &[u8]) -> Vec<u8> {
    let mut r = Raw::header(3, tensors.len() as u64, 0);
    for &(name, ne, offset) in tensors {
        r.tensor(name, ne, I2_S, offset);
    }
    r.pad(32).bytes(data).done()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_follow_the_pattern() {
        let files = malformed();
        assert_eq!(files.len(), 41);
        let mut names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), files.len());
        for (name, bytes) in &files {
            assert!(name.starts_with("malformed-") && name.ends_with(".gguf"));
            assert!(bytes.len() >= 24, "{name}");
        }
    }

    #[test]
    fn gguf_seeds_are_the_committed_files_and_the_malformed_ones() {
        let seeds = gguf_seeds();
        assert_eq!(seeds.len(), fixtures::ALL.len() + 2 + malformed().len());
        let mut names: Vec<&str> = seeds.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), seeds.len());
        assert!(names.contains(&"gguf-py-written.gguf"));
        assert!(names.contains(&"gguf-py-tq1_0.gguf"));
    }
}
