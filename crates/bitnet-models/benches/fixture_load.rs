//! `cargo bench -p bitnet-models --bench fixture_load`: what loading a fixture costs now that it
//! is embedded bytes, not a file regenerated inside each test.

// `criterion_group!` defines a public function it cannot document.
#![allow(missing_docs)]

use std::hint::black_box;

use bitnet_models::{Kernel, Model};
use bitnet_testkit::fixtures;
use criterion::{criterion_group, criterion_main, Criterion};

fn bench(c: &mut Criterion) {
    let kernel = Kernel::selected().expect("kernel");
    for &(file_name, bytes) in fixtures::ALL {
        let name = file_name.split("_seed").next().unwrap_or(file_name);
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
