//! `cargo bench -p bitnet-gguf`: parsing (and validating) llama.cpp's 32000-token vocab file.

// `criterion_group!` defines a public function it cannot document.
#![allow(missing_docs)]

use std::hint::black_box;

use bitnet_gguf::Gguf;
use bitnet_testkit::third_party::LLAMA_SPM_VOCAB as VOCAB;
use criterion::{criterion_group, criterion_main, Criterion};

fn parse(c: &mut Criterion) {
    c.bench_function("parse vocab (32000 tokens)", |b| {
        b.iter(|| Gguf::parse(black_box(VOCAB)).unwrap().tensors().len())
    });
    c.bench_function("parse + validate vocab", |b| {
        b.iter(|| Gguf::load(black_box(VOCAB)).unwrap().metadata().len())
    });
    c.bench_function("parse + iterate all 32000 tokens", |b| {
        b.iter(|| {
            let g = Gguf::parse(black_box(VOCAB)).unwrap();
            let tokens = g.get("tokenizer.ggml.tokens").unwrap();
            tokens
                .as_array()
                .unwrap()
                .strings()
                .unwrap()
                .map(str::len)
                .sum::<usize>()
        })
    });
}

criterion_group!(benches, parse);
criterion_main!(benches);
