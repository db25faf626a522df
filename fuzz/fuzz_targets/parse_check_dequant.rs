//! The whole model pipeline on arbitrary bytes: `Model::parse` → `Model::check` (flavor
//! detection, scale siblings, scan, required keys) → `Model::decode` of every tensor with
//! every kernel this CPU has. Nothing may panic, and every kernel must give the scalar
//! reference's result: the same error, or the same `f32` bits.

#![no_main]

use bitnet_models::{has_errors, Kernel, Model, ModelError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = Model::parse(data) else {
        return;
    };
    let findings = model.check();
    for f in &findings {
        touch(f);
    }
    let _ = has_errors(&findings);

    let kernels = Kernel::available();
    for i in 0..model.gguf().tensors().len() {
        if let Err(e) = model.flavor(i) {
            touch(&e);
        }
        if let Err(e) = model.ternary(i) {
            touch(&e);
        }
        if let Err(e) = model.qk256_scale(i) {
            touch(&e);
        }
        let _ = model.byte_size(i);
        for f in model.check_tensor(i) {
            touch(&f);
        }
        let reference = model.decode(i, Kernel::scalar());
        match &reference {
            Ok(values) => assert!(values.len() <= 16 * data.len() + 16),
            Err(e) => {
                let _ = (e.code(), e.to_string());
            }
        }
        for &kernel in &kernels[1..] {
            let got = model.decode(i, kernel);
            match (&reference, &got) {
                (Ok(want), Ok(got)) => {
                    assert_eq!(want.len(), got.len(), "kernel {kernel}, tensor {i}");
                    for (j, (w, g)) in want.iter().zip(got).enumerate() {
                        assert_eq!(
                            w.to_bits(),
                            g.to_bits(),
                            "kernel {kernel}, tensor {i}, value {j}: {w} vs {g}"
                        );
                    }
                }
                // Compared as text: an error may carry a NaN (a non-finite scale), and NaN != NaN.
                (Err(want), Err(got)) => assert_eq!(
                    format!("{want:?}"),
                    format!("{got:?}"),
                    "kernel {kernel}, tensor {i}"
                ),
                _ => panic!("kernel {kernel}, tensor {i}: {reference:?} vs {got:?}"),
            }
        }
    }
});

fn touch(e: &ModelError) {
    let _ = (e.code(), e.severity(), e.location());
    let _ = e.to_string();
}
