//! `convert` with unchanged tensors of 1 MiB and more, which the command has the system copy
//! file to file (on Linux): the output is the library's, written to memory, byte for byte, and
//! the copied tensors hold the input's bytes.

#![cfg(feature = "full-cli")]

mod common;

use bitnet_gguf::{ggml_type, Gguf};
use bitnet_models::convert::{Options, Plan};
use bitnet_models::{Model, TernaryFormat};
use common::*;

/// Bytes that tell their place.
fn counting(n: usize, salt: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 31 + salt) % 251) as u8).collect()
}

#[test]
fn large_copied_tensors_are_the_inputs_bytes() {
    let dir = tempfile::tempdir().unwrap();
    // An odd count of F32 values (its padding follows), and an F16 tensor past 2 MiB.
    let (a, b) = (262_147usize, 1_100_001usize);
    let input = i2s(
        256,
        4,
        bitnetcpp_data(4, 256, 0.5),
        &[
            ("big.a", &[a as u64], ggml_type::F32, counting(4 * a, 1)),
            ("big.b", &[b as u64], ggml_type::F16, counting(2 * b, 2)),
        ],
    );
    write(dir.path(), "in.gguf", &input);
    for target in [TernaryFormat::Tq2_0, TernaryFormat::BitnetCpp] {
        let out_name = format!("{}.gguf", target.name());
        run_in(
            dir.path(),
            &["convert", "in.gguf", &out_name, "--to", target.name()],
            0,
        );
        let ours = std::fs::read(dir.path().join(&out_name)).unwrap();
        let model = Model::parse(&input).unwrap();
        let options = Options { target, arch: None };
        let plan = Plan::new(&model, &options).unwrap();
        let (want, summary) = plan.write(Vec::new(), |_| {}).unwrap();
        assert_eq!(summary.copied, 2, "{target}");
        assert!(
            ours == want,
            "{target}: the output differs from the library's"
        );
        let (from, to) = (Gguf::load(&input).unwrap(), Gguf::load(&ours).unwrap());
        for name in ["big.a", "big.b"] {
            let find = |g: &Gguf<'_>| {
                let t = g.tensors().iter().find(|t| t.name == name).unwrap();
                g.tensor_bytes(t, t.byte_size().unwrap()).unwrap().to_vec()
            };
            assert!(find(&from) == find(&to), "{target}: {name}");
        }
    }
}
