//! `cargo bench -p bitnet-models --bench fixture_load`: what loading a fixture costs now that it
//! is embedded bytes, not a file regenerated inside each test.

use std::hint::black_box;

use bitnet_models::{Kernel, Model};
use criterion::{criterion_group, criterion_main, Criterion};

static QK256_4X256: &[u8] = include_bytes!("../../../ci/fixtures/qk256/qk256_4x256_seed42.gguf");
static QK256_3X300: &[u8] = include_bytes!("../../../ci/fixtures/qk256/qk256_3x300_seed43.gguf");
static BITNET32F16_2X64: &[u8] =
    include_bytes!("../../../ci/fixtures/qk256/bitnet32f16_2x64_seed44.gguf");

fn bench(c: &mut Criterion) {
    let kernel = Kernel::selected().expect("kernel");
    for (name, bytes) in [
        ("qk256_4x256", QK256_4X256),
        ("qk256_3x300", QK256_3X300),
        ("bitnet32f16_2x64", BITNET32F16_2X64),
    ] {
        c.bench_function(&format!("load+validate {name}"), |b| {
            b.iter(|| {
                let model = Model::parse(black_box(bytes)).unwrap();
                model.check().len()
            })
        });
        c.bench_function(&format!("load+validate+dequant {name}"), |b| {
            b.iter(|| {
                let model = Model::parse(black_box(bytes)).unwrap();
                assert!(model.check().is_empty());
                let i = model.index_of("blk.0.attn_q.weight").unwrap();
                model.decode(i, kernel).unwrap().len()
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
