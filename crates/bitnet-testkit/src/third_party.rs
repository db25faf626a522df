//! GGUF files written by other tools (`testdata/third-party/`, provenance in its README),
//! embedded with `include_bytes!` so the tests that read them need no file system.

/// Written by the reference Python writer (PyPI `gguf`): every scalar value type, arrays, and
/// F32, F16, Q8_0 and TQ2_0 tensors.
pub static GGUF_PY_WRITTEN: &[u8] =
    include_bytes!("../../../testdata/third-party/gguf-py-written.gguf");

/// Written by gguf-py with its own TQ1_0 quantizer (`make_tq1_0.py`): TQ1_0 tensors whose
/// values gguf-py decoded are beside it in `gguf-py-tq1_0.f32le`.
pub static GGUF_PY_TQ1_0: &[u8] =
    include_bytes!("../../../testdata/third-party/gguf-py-tq1_0.gguf");

/// A vocab-only llama.cpp model: 724 KB, 32000 tokens in one string array, no tensors.
pub static LLAMA_SPM_VOCAB: &[u8] =
    include_bytes!("../../../testdata/third-party/ggml-vocab-llama-spm.gguf");

/// The GGUF files, `(file name, bytes)`.
pub static ALL: &[(&str, &[u8])] = &[
    ("gguf-py-written.gguf", GGUF_PY_WRITTEN),
    ("gguf-py-tq1_0.gguf", GGUF_PY_TQ1_0),
    ("ggml-vocab-llama-spm.gguf", LLAMA_SPM_VOCAB),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_gguf() {
        for &(name, bytes) in ALL {
            assert_eq!(&bytes[..4], b"GGUF", "{name}");
        }
    }
}
