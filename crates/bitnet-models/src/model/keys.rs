//! The `bitnet-b1.58` architecture's metadata rules (docs/validation.md): the required keys, their
//! types, and their consistency with the tensor shapes.

use std::collections::HashMap;

use bitnet_gguf::{Gguf, Value, ValueType};

use super::ModelError;

/// The architecture whose required keys [`super::Model::check`] enforces.
pub const BITNET_ARCH: &str = "bitnet-b1.58";

/// The required keys of a `bitnet-b1.58` file (docs/validation.md), `general.alignment` included.
pub const REQUIRED_KEYS: [&str; 9] = [
    "general.architecture",
    "general.name",
    "general.alignment",
    "tokenizer.ggml.tokens",
    "bitnet-b1.58.embedding_length",
    "bitnet-b1.58.block_count",
    "bitnet-b1.58.attention.head_count",
    "bitnet-b1.58.attention.head_count_kv",
    "bitnet-b1.58.feed_forward_length",
];

/// Pushes a finding for every required key that is missing, mistyped, or inconsistent with the
/// tensor shapes.
pub(super) fn check_required_keys(gguf: &Gguf<'_>, findings: &mut Vec<ModelError>) {
    let mut u32s = HashMap::new();
    for key in REQUIRED_KEYS {
        let Some(entry) = gguf.metadata().iter().find(|e| e.key == key) else {
            findings.push(ModelError::MissingKey {
                key: key.to_owned(),
            });
            continue;
        };
        let (ok, expected) = match (key, entry.value) {
            ("general.architecture" | "general.name", v) => {
                (v.value_type() == ValueType::String, "STRING")
            }
            ("tokenizer.ggml.tokens", Value::Array(a)) => {
                (a.elem_type() == ValueType::String, "ARRAY of STRING")
            }
            ("tokenizer.ggml.tokens", _) => (false, "ARRAY of STRING"),
            (_, Value::U32(v)) => {
                u32s.insert(key, u64::from(v));
                (true, "UINT32")
            }
            _ => (false, "UINT32"),
        };
        if !ok {
            let found = match entry.value {
                // An array of strings is what the key needs: here its elements are not strings.
                Value::Array(_) if key == "tokenizer.ggml.tokens" => "ARRAY of another type",
                v => v.value_type().name(),
            };
            findings.push(ModelError::KeyType {
                key: key.to_owned(),
                offset: entry.offset,
                expected,
                found,
            });
        }
    }
    let inconsistent = |key: &str, value: u64, reason: String| ModelError::KeyInconsistent {
        key: key.to_owned(),
        value,
        reason,
    };
    if let Some(&n_embd) = u32s.get("bitnet-b1.58.embedding_length") {
        for t in gguf.tensors() {
            let is_input =
                t.name.ends_with(".attn_q.weight") || t.name.ends_with(".attn_norm.weight");
            if is_input && t.cols() != n_embd {
                findings.push(inconsistent(
                    "bitnet-b1.58.embedding_length",
                    n_embd,
                    format!("tensor {:?} has ne[0] = {}", t.name, t.cols()),
                ));
            }
        }
        if let Some(&heads) = u32s.get("bitnet-b1.58.attention.head_count") {
            if heads == 0 || n_embd % heads != 0 {
                findings.push(inconsistent(
                    "bitnet-b1.58.attention.head_count",
                    heads,
                    format!("must divide embedding_length {n_embd}"),
                ));
            }
            if let Some(&kv) = u32s.get("bitnet-b1.58.attention.head_count_kv") {
                if kv == 0 || heads % kv.max(1) != 0 {
                    findings.push(inconsistent(
                        "bitnet-b1.58.attention.head_count_kv",
                        kv,
                        format!("must divide head_count {heads}"),
                    ));
                }
            }
        }
    }
    if let Some(&blocks) = u32s.get("bitnet-b1.58.block_count") {
        let highest = gguf
            .tensors()
            .iter()
            .filter_map(|t| {
                t.name
                    .strip_prefix("blk.")?
                    .split('.')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .max();
        // `blk.N` names N + 1 blocks, and a hostile N may be u64::MAX: count in u128.
        let named = highest.map_or(0, |h| u128::from(h) + 1);
        if named != u128::from(blocks) {
            findings.push(inconsistent(
                "bitnet-b1.58.block_count",
                blocks,
                format!("the tensors name {named} block(s)"),
            ));
        }
    }
    if u32s.get("bitnet-b1.58.feed_forward_length") == Some(&0) {
        findings.push(inconsistent(
            "bitnet-b1.58.feed_forward_length",
            0,
            "must be at least 1".into(),
        ));
    }
}
