//! Shared helpers: running the built binary, and building valid and malformed GGUF files in
//! memory (STYLE: malformed inputs are built by test code, never stored as opaque blobs).

#![allow(dead_code)] // each test crate uses a different subset

use std::path::{Path, PathBuf};

use bitnet_gguf::{ggml_type, Gguf, GgufBuilder, MetadataValue};
use half::f16;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The binary, run from `dir`, with the environment variables it reads cleared.
pub fn bin_in(dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_bitnet-cli"));
    cmd.current_dir(dir)
        .env_remove("BITNET_KERNEL")
        .env_remove("BITNET_STRICT_MODE");
    cmd
}

/// Runs the binary from `dir` with `args`, asserts its exit status is `code`, and returns its
/// output.
pub fn run_in(dir: &Path, args: &[&str], code: i32) -> std::process::Output {
    bin_in(dir)
        .args(args)
        .assert()
        .code(code)
        .get_output()
        .clone()
}

/// The binary, run from the workspace root.
pub fn bin() -> assert_cmd::Command {
    bin_in(&root())
}

/// Runs the binary from the workspace root with `args`, which clap must refuse: exit status 2,
/// nothing on stdout. Returns stderr.
pub fn usage_error(args: &[&str]) -> String {
    let out = bin().args(args).assert().code(2).stdout("");
    stderr(out.get_output())
}

/// A path in the repository's third-party test data.
pub fn third_party(name: &str) -> PathBuf {
    root().join("testdata/third-party").join(name)
}

/// A committed reference fixture (docs/fixtures.md). Missing files fail loudly, never pass silently.
pub fn fixture(name: &str) -> PathBuf {
    let path = root().join(bitnet_testkit::fixtures::DIR).join(name);
    assert!(
        path.is_file(),
        "{} is missing; run `cargo xtask gen-fixtures`",
        path.display()
    );
    path
}

/// Writes `bytes` to `dir/name`.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Stdout of a finished command as text.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Stderr of a finished command as text.
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A deterministic ternary weight pattern with all three values.
pub fn weights(rows: usize, cols: usize) -> Vec<i8> {
    (0..rows * cols).map(|i| (i * 7 % 3) as i8 - 1).collect()
}

/// The required metadata of a `bitnet-b1.58` file (docs/validation.md) for `cols` columns.
pub fn bitnet_keys(b: &mut GgufBuilder, cols: u64) {
    b.kv("general.architecture", "bitnet-b1.58")
        .kv("general.name", "test")
        .kv("general.alignment", 32u32)
        .kv("tokenizer.ggml.tokens", MetadataValue::strings(["a", "b"]))
        .kv("bitnet-b1.58.embedding_length", cols as u32)
        .kv("bitnet-b1.58.block_count", 1u32)
        .kv("bitnet-b1.58.attention.head_count", 1u32)
        .kv("bitnet-b1.58.attention.head_count_kv", 1u32)
        .kv("bitnet-b1.58.feed_forward_length", 2 * cols as u32);
}

/// A valid `bitnet-b1.58` file: the I2_S weight `blk.0.attn_q.weight` (`rows × cols`, stored as
/// `data`), its `.scale` sibling if `scale` is given, and the norm weights `norm` (`cols` values).
fn bitnet_file(
    rows: usize,
    cols: usize,
    data: Vec<u8>,
    scale: Option<f32>,
    norm: &[f32],
) -> Vec<u8> {
    let mut b = GgufBuilder::new();
    bitnet_keys(&mut b, cols as u64);
    b.tensor(
        "blk.0.attn_q.weight",
        &[cols as u64, rows as u64],
        ggml_type::I2_S,
        data,
    );
    if let Some(scale) = scale {
        b.tensor(
            "blk.0.attn_q.scale",
            &[1],
            ggml_type::F32,
            f32_bytes(&[scale]),
        );
    }
    b.tensor(
        "blk.0.attn_norm.weight",
        &[cols as u64],
        ggml_type::F32,
        f32_bytes(norm),
    );
    b.build().unwrap()
}

/// A valid `bitnet-b1.58` file: a QK256 `rows × cols` weight with scale `scale`, and the norm
/// weights `norm` (`cols` values).
pub fn bitnet_qk256(rows: usize, cols: usize, scale: f32, norm: &[f32]) -> Vec<u8> {
    let data = bitnet_models::pack_qk256(&weights(rows, cols), rows, cols).unwrap();
    bitnet_file(rows, cols, data, Some(scale), norm)
}

/// A valid `bitnet-b1.58` file with a BitNet32F16 `rows × cols` weight and block scales
/// `scales` (one per block), norm weights all 1.0.
pub fn bitnet_b32(rows: usize, cols: usize, scales: &[f16]) -> Vec<u8> {
    let data = bitnet_models::pack_bitnet32f16(&weights(rows, cols), rows, cols, scales).unwrap();
    bitnet_file(rows, cols, data, None, &vec![1.0; cols])
}

/// The stored bytes of a bitnetcpp `rows × cols` tensor of [`weights`] with tail scale `scale`
/// (`cols` a multiple of 128): the codes, then the f32 scale and 28 zero bytes.
pub fn bitnetcpp_data(rows: usize, cols: usize, scale: f32) -> Vec<u8> {
    bitnet_models::pack_bitnetcpp(&weights(rows, cols), rows, cols, scale).unwrap()
}

/// A small valid container (architecture `test`, so no required keys): two keys, two F32
/// tensors.
pub fn plain() -> Vec<u8> {
    let mut b = GgufBuilder::new();
    b.kv("general.architecture", "test")
        .kv("general.alignment", 32u32)
        .kv("test.aaaa", 1u32)
        .kv("test.bbbb", 2u32);
    b.tensor("a", &[8, 2], ggml_type::F32, f32_bytes(&[0.5; 16]));
    b.tensor("b", &[8], ggml_type::F32, f32_bytes(&[0.25; 8]));
    b.build().unwrap()
}

/// A container (architecture `test`, so no required keys) holding `tensors` in order.
pub fn container(tensors: &[(&str, &[u64], u32, Vec<u8>)]) -> Vec<u8> {
    let mut b = GgufBuilder::new();
    b.kv("general.architecture", "test");
    for (name, ne, ty, data) in tensors {
        b.tensor(*name, ne, *ty, data.clone());
    }
    b.build().unwrap()
}

/// A container (architecture `test`) with one I2_S tensor `w.weight` of shape `[cols, rows]`
/// holding `data`, plus `extra` tensors after it.
pub fn i2s(cols: u64, rows: u64, data: Vec<u8>, extra: &[(&str, &[u64], u32, Vec<u8>)]) -> Vec<u8> {
    let ne = [cols, rows];
    let mut tensors = vec![("w.weight", &ne[..], ggml_type::I2_S, data)];
    tensors.extend(extra.iter().cloned());
    container(&tensors)
}

/// A container (architecture `test`) with a 1×128 I2_S tensor `a` (64 bytes: QK256 and
/// bitnetcpp need 64, BitNet32F16 40; all fit) followed by a 2×384 bitnetcpp tensor `b.weight`
/// (224 bytes, which only bitnetcpp fits), plus `extra` tensors.
pub fn decided_1x128(extra: &[(&str, &[u64], u32, Vec<u8>)]) -> Vec<u8> {
    let mut tensors = vec![
        (
            "a",
            &[128u64, 1][..],
            ggml_type::I2_S,
            bitnetcpp_data(1, 128, 0.5),
        ),
        (
            "b.weight",
            &[384, 2],
            ggml_type::I2_S,
            bitnetcpp_data(2, 384, 0.25),
        ),
    ];
    tensors.extend(extra.iter().cloned());
    container(&tensors)
}

/// Absolute position of the value of metadata `key`.
pub fn value_pos(bytes: &[u8], key: &str) -> usize {
    let g = Gguf::parse(bytes).unwrap();
    let e = g.metadata().iter().find(|e| e.key == key).unwrap();
    e.offset as usize + 8 + key.len() + 4
}

/// Absolute position of the offset field of tensor `name`'s info.
pub fn tensor_offset_field(bytes: &[u8], name: &str) -> usize {
    let g = Gguf::parse(bytes).unwrap();
    let (_, t) = g.tensor(name).unwrap();
    t.info_offset as usize + 8 + name.len() + 4 + 8 * t.ne().len() + 4
}

/// Absolute start of tensor `name`'s data.
pub fn tensor_start(bytes: &[u8], name: &str) -> usize {
    let g = Gguf::parse(bytes).unwrap();
    let (i, _) = g.tensor(name).unwrap();
    g.tensor_start(i).unwrap() as usize
}

/// Every malformed file the CLI must reject, with the finding code that must name it.
pub fn malformed() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let mut cases = Vec::new();
    let base = plain();

    cases.push(("empty", Vec::new(), "truncated"));
    cases.push(("truncated", base[..20].to_vec(), "truncated"));
    cases.push((
        "truncated-tensor-info",
        base[..tensor_offset_field(&base, "b")].to_vec(),
        "truncated",
    ));

    let mut b = base.clone();
    b[..4].copy_from_slice(b"GGUX");
    cases.push(("bad-magic", b, "bad-magic"));

    let mut b = base.clone();
    b[4..8].copy_from_slice(&4u32.to_le_bytes());
    cases.push(("version-4", b, "unsupported-version"));

    let mut b = base.clone();
    b[4..8].copy_from_slice(&3u32.to_be_bytes());
    cases.push(("big-endian", b, "big-endian"));

    let mut b = base.clone();
    b[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    cases.push(("huge-tensor-count", b, "count-exceeds-file"));

    let mut b = base.clone();
    b[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
    cases.push(("huge-kv-count", b, "count-exceeds-file"));

    let mut b = base.clone();
    let at = value_pos(&b, "test.bbbb") - 4 - "test.bbbb".len();
    b[at..at + 9].copy_from_slice(b"test.aaaa");
    cases.push(("duplicate-key", b, "duplicate-key"));

    let mut b = base.clone();
    let at = value_pos(&b, "general.alignment");
    b[at..at + 4].copy_from_slice(&48u32.to_le_bytes());
    cases.push(("bad-alignment", b, "invalid-alignment"));

    let mut b = base.clone();
    let at = tensor_offset_field(&b, "b");
    let off = u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    b[at..at + 8].copy_from_slice(&(off + 4).to_le_bytes());
    cases.push(("misaligned-offset", b, "misaligned-offset"));

    cases.push((
        "data-past-end",
        base[..base.len() - 32].to_vec(),
        "data-out-of-bounds",
    ));

    // 1×160: QK256 needs 64 bytes, BitNet32F16 50; both fit 64 available bytes.
    cases.push((
        "ambiguous-i2s-1x160",
        i2s(160, 1, vec![0x55; 64], &[]),
        "i2s-ambiguous-flavor",
    ));

    // 4×256: QK256 needs 256 bytes, BitNet32F16 320; 100 (padded to 128) fit neither.
    cases.push((
        "i2s-size-mismatch",
        i2s(256, 4, vec![0x55; 100], &[]),
        "i2s-size-mismatch",
    ));

    let mut data = bitnet_models::pack_qk256(&weights(4, 256), 4, 256).unwrap();
    data[17] = 0xff;
    cases.push(("reserved-code", i2s(256, 4, data, &[]), "reserved-code"));

    let mut scales = vec![f16::ONE; 4];
    scales[3] = f16::INFINITY;
    let data = bitnet_models::pack_bitnet32f16(&weights(2, 64), 2, 64, &scales).unwrap();
    cases.push((
        "non-finite-block-scale",
        i2s(64, 2, data, &[]),
        "block-scale-not-finite",
    ));

    let data = bitnet_models::pack_qk256(&weights(4, 256), 4, 256).unwrap();
    cases.push((
        "scale-shape",
        i2s(
            256,
            4,
            data.clone(),
            &[("w.scale", &[2], ggml_type::F32, f32_bytes(&[1.0, 2.0]))],
        ),
        "scale-shape",
    ));
    cases.push((
        "scale-type",
        i2s(
            256,
            4,
            data.clone(),
            &[(
                "w.scale",
                &[1],
                ggml_type::F16,
                f16::ONE.to_le_bytes().to_vec(),
            )],
        ),
        "scale-shape",
    ));
    cases.push((
        "scale-nan",
        i2s(
            256,
            4,
            data,
            &[("w.scale", &[1], ggml_type::F32, f32_bytes(&[f32::NAN]))],
        ),
        "scale-not-finite",
    ));

    // bitnetcpp, 2×384 (192 code bytes and a 32-byte tail: 224 bytes, which no other flavor
    // fits): a NaN tail scale, and reserved codes.
    let mut data = bitnetcpp_data(2, 384, 0.5);
    data[192..196].copy_from_slice(&f32::NAN.to_le_bytes());
    cases.push((
        "bitnetcpp-nan-scale",
        i2s(384, 2, data, &[]),
        "scale-not-finite",
    ));
    let mut data = bitnetcpp_data(2, 384, 0.5);
    data[40] = 0xff;
    cases.push((
        "bitnetcpp-reserved-code",
        i2s(384, 2, data, &[]),
        "reserved-code",
    ));
    // 1×128: QK256 and bitnetcpp need 64 bytes, BitNet32F16 40; all fit 64.
    cases.push((
        "ambiguous-i2s-1x128",
        i2s(128, 1, bitnetcpp_data(1, 128, 0.5), &[]),
        "i2s-ambiguous-flavor",
    ));

    // A bitnet-b1.58 file without general.name.
    let mut b = GgufBuilder::new();
    b.kv("general.architecture", "bitnet-b1.58");
    cases.push(("missing-key", b.build().unwrap(), "missing-key"));

    // An unknown ggml type id.
    let mut b = base.clone();
    let at = tensor_offset_field(&b, "b") - 4;
    b[at..at + 4].copy_from_slice(&99u32.to_le_bytes());
    cases.push(("unknown-type", b, "unknown-type"));

    cases
}

// ---- `convert` and `diff`: a small `bitnet-b1.58` model in any ternary format ----

/// The embedding length of [`mini`] models: the columns of `blk.0.attn_q.weight` and
/// `blk.0.attn_norm.weight`.
pub const MINI_EMBD: usize = 256;

/// One ternary weight of a [`mini`] model.
pub use bitnet_testkit::weight::TernaryWeight;

/// The stored bytes of `weight` in `format`, and the `.scale` sibling's value where the source has one
/// (QK256 and the TQ formats): QK256 `s` in the sibling; BitNet32F16 `d = s` in every block;
/// bitnetcpp `s` in the tail; TQ `d = tq_d` in every block and `s / d` in the sibling.
pub fn stored(
    weight: &TernaryWeight,
    format: bitnet_models::TernaryFormat,
) -> (Vec<u8>, Option<f32>) {
    use bitnet_models::TernaryFormat as F;
    let (w, rows, cols) = (&weight.weights[..], weight.rows, weight.cols);
    let blocks = |elems: usize| rows * cols.div_ceil(elems);
    match format {
        F::Qk256 => (
            bitnet_models::pack_qk256(w, rows, cols).unwrap(),
            Some(weight.scale),
        ),
        F::BitNet32F16 => {
            let d = f16::from_f32(weight.scale);
            assert_eq!(d.to_f32(), weight.scale, "not an f16");
            let data =
                bitnet_models::pack_bitnet32f16(w, rows, cols, &vec![d; blocks(32)]).unwrap();
            (data, None)
        }
        F::BitnetCpp => (
            bitnet_models::pack_bitnetcpp(w, rows, cols, weight.scale).unwrap(),
            None,
        ),
        F::Tq2_0 | F::Tq1_0 => {
            let d = f16::from_f32(weight.tq_d);
            assert_eq!(d.to_f32(), weight.tq_d, "not an f16");
            let post = weight.scale / weight.tq_d;
            assert_eq!(post * weight.tq_d, weight.scale, "not exact");
            let ds = vec![d; blocks(256)];
            let data = if format == F::Tq2_0 {
                bitnet_models::pack_tq2_0(w, rows, cols, &ds)
            } else {
                bitnet_models::pack_tq1_0(w, rows, cols, &ds)
            };
            (data.unwrap(), Some(post))
        }
    }
}

/// The ggml type id of a ternary format.
pub fn ggml_type_of(format: bitnet_models::TernaryFormat) -> u32 {
    use bitnet_models::TernaryFormat as F;
    match format {
        F::Qk256 | F::BitNet32F16 | F::BitnetCpp => ggml_type::I2_S,
        F::Tq2_0 => ggml_type::TQ2_0,
        F::Tq1_0 => ggml_type::TQ1_0,
    }
}

/// The ternary weights of the standard mini model: three tensors, rows of 256, 768 and 512
/// columns, scales 0.5, −0.75 and 1.25 (as TQ: `d` 1.0, 0.5 and −0.625 with siblings 0.5,
/// −1.5 and −2.0).
pub fn mini_weights() -> Vec<TernaryWeight> {
    vec![
        TernaryWeight::new("blk.0.attn_q.weight", MINI_EMBD, 64, 0.5, 1.0),
        TernaryWeight::new("blk.0.ffn_down.weight", 768, 32, -0.75, 0.5),
        TernaryWeight::new("blk.0.ffn_up.weight", 512, 16, 1.25, -0.625),
    ]
}

/// The F16 `token_embd.weight` (`MINI_EMBD × 4`) and F32 `blk.0.attn_norm.weight` of mini
/// models, as stored.
pub fn mini_plain_tensors() -> [(&'static str, Vec<u64>, u32, Vec<u8>); 2] {
    let embd: Vec<u8> = (0..MINI_EMBD * 4)
        .flat_map(|i| f16::from_f32((i % 97) as f32 / 16.0 - 3.0).to_le_bytes())
        .collect();
    let norm: Vec<f32> = (0..MINI_EMBD).map(|i| 1.0 + i as f32 / 512.0).collect();
    [
        (
            "token_embd.weight",
            vec![MINI_EMBD as u64, 4],
            ggml_type::F16,
            embd,
        ),
        (
            "blk.0.attn_norm.weight",
            vec![MINI_EMBD as u64],
            ggml_type::F32,
            f32_bytes(&norm),
        ),
    ]
}

/// A valid `bitnet-b1.58` model: [`bitnet_keys`], the [`mini_plain_tensors`], then every weight
/// of `weights` stored in `format` ([`stored`]), each followed by its `.scale`
/// sibling where the format has one.
pub fn mini_with(format: bitnet_models::TernaryFormat, weights: &[TernaryWeight]) -> Vec<u8> {
    let mut b = GgufBuilder::new();
    bitnet_keys(&mut b, MINI_EMBD as u64);
    for (name, ne, ty, data) in mini_plain_tensors() {
        b.tensor(name, &ne, ty, data);
    }
    for w in weights {
        let (data, sibling) = stored(w, format);
        b.tensor(
            w.name,
            &[w.cols as u64, w.rows as u64],
            ggml_type_of(format),
            data,
        );
        if let Some(s) = sibling {
            b.tensor(w.sibling(), &[1], ggml_type::F32, f32_bytes(&[s]));
        }
    }
    b.build().unwrap()
}

/// The standard mini model ([`mini_weights`]) in `format`.
pub fn mini(format: bitnet_models::TernaryFormat) -> Vec<u8> {
    mini_with(format, &mini_weights())
}

/// The names in `dir`, sorted (temporary files included).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Tensor `name` of the GGUF file `bytes` decoded by the library with every kernel this CPU
/// has (which must agree), scales applied.
pub fn decoded(bytes: &[u8], name: &str) -> Vec<f32> {
    let model = bitnet_models::Model::parse(bytes).unwrap();
    let i = model.index_of(name).unwrap();
    let scalar = model.decode(i, bitnet_models::Kernel::scalar()).unwrap();
    for kernel in bitnet_models::Kernel::available() {
        let got = model.decode(i, kernel).unwrap();
        assert!(
            bits(&got) == bits(&scalar),
            "{name}: kernel {} differs from scalar",
            kernel.name()
        );
    }
    scalar
}

/// The bit patterns of `values`, to compare `f32`s exactly (−0.0 ≠ 0.0, NaN = NaN).
pub fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// The stored bytes of tensor `name` of `bytes`: for a ternary tensor, as its format sizes it
/// (the bitnetcpp tail included), else as its type does.
pub fn stored_bytes<'a>(bytes: &'a [u8], name: &str) -> &'a [u8] {
    let model = bitnet_models::Model::parse(bytes).unwrap();
    let i = model.index_of(name).unwrap();
    let size = model.byte_size(i).unwrap() as usize;
    let start = model.gguf().tensor_start(i).unwrap() as usize;
    &bytes[start..start + size]
}
