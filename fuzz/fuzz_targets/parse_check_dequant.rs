//! The whole model pipeline on arbitrary bytes: `Gguf::parse` → `bitnet_models::check` (flavor
//! detection, scale siblings, scan, required keys) → `dequantize_tensor` of every tensor with
//! every kernel this CPU has. Nothing may panic, and every kernel must give the scalar
//! reference's result: the same error, or the same `f32` bits.

#![no_main]

use bitnet_gguf::Gguf;
use bitnet_models::{
    check, dequantize_tensor, has_errors, qk256_scale, tensor_flavor, ternary_format, Kernel,
    ModelError,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(gguf) = Gguf::parse(data) else {
        return;
    };
    let findings = check(&gguf);
    for f in &findings {
        touch(f);
    }
    let _ = has_errors(&findings);

    let kernels = Kernel::available();
    for i in 0..gguf.tensors().len() {
        if let Err(e) = tensor_flavor(&gguf, i) {
            touch(&e);
        }
        if let Err(e) = ternary_format(&gguf, i) {
            touch(&e);
        }
        if let Err(e) = qk256_scale(&gguf, i) {
            touch(&e);
        }
        let reference = dequantize_tensor(&gguf, i, Kernel::scalar());
        match &reference {
            Ok(values) => assert!(values.len() <= 16 * data.len() + 16),
            Err(e) => touch(e),
        }
        for &kernel in &kernels[1..] {
            let got = dequantize_tensor(&gguf, i, kernel);
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
    let _ = (e.code(), e.severity(), e.offset(), e.tensor(), e.key());
    let _ = e.to_string();
}
