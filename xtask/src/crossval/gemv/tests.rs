//! Tests of the matmul comparison against ggml's generic C.

use super::*;

fn bits(y: &[f32]) -> Vec<String> {
    y.iter().map(|v| format!("{:#010x}", v.to_bits())).collect()
}

/// A ggml dump and a project reading of one 2-row tensor that agree.
fn agreeing() -> (GgmlGemv, Vec<OursTensor>) {
    let x: Vec<f32> = (0..QK_K).map(|i| i as f32 - 100.0).collect();
    let q8 = q8_bytes(&quantize_q8_k(&x));
    let y = vec![1.5f32, -0.25];
    let theirs = GgmlGemv {
        file: "f.gguf".into(),
        accepted: true,
        error: None,
        tensors: vec![GgmlTensor {
            name: "blk.0.attn_q.weight".into(),
            rows: 2,
            cols: QK_K,
            error: None,
            q8_k: Some(GgmlQ8k {
                blocks: 1,
                hex: hex::encode(&q8),
            }),
            y: Some(GgmlY { bits: bits(&y) }),
        }],
    };
    let ours = vec![OursTensor {
        name: "blk.0.attn_q.weight".into(),
        q8,
        y: Ok(vec![("scalar", y.clone()), ("avx2", y)]),
    }];
    (theirs, ours)
}

#[test]
fn agreeing_products_count_tensors_and_rows() {
    let (theirs, ours) = agreeing();
    let out = compare(&theirs, &ours);
    assert_eq!(out.mismatches, []);
    assert_eq!((out.tensors, out.rows), (1, 2));
}

#[test]
fn one_differing_y_bit_names_tensor_kernel_row_and_both_values() {
    let (theirs, mut ours) = agreeing();
    let y = &mut ours[0].y.as_mut().unwrap()[1].1;
    y[1] = f32::from_bits(y[1].to_bits() ^ 1);
    let out = compare(&theirs, &ours);
    assert_eq!(
        out.mismatches,
        [Mismatch {
            what: "tensor `blk.0.attn_q.weight` kernel avx2 first differing row 1".into(),
            expected: "0xbe800000 (-2.5e-1)".into(),
            found: "0xbe800001 (-2.5000003e-1)".into(),
        }]
    );
}

#[test]
fn one_differing_q8_value_names_block_and_field() {
    let (theirs, mut ours) = agreeing();
    // qs[7] of block 0: x[7] = -93, max = 155 (the last), so q = nearest(-127/155 × -93).
    let at = 4 + 7;
    assert_eq!(ours[0].q8[at] as i8, 76);
    ours[0].q8[at] = 77;
    let out = compare(&theirs, &ours);
    assert_eq!(
        out.mismatches,
        [Mismatch {
            what: "tensor `blk.0.attn_q.weight` q8_K block 0 qs[7]".into(),
            expected: "76".into(),
            found: "77".into(),
        }]
    );
    // The first byte of each field, qs[0] and bsums[0], and the high byte of bsums[3], with
    // the values before and after the flip.
    let block = &quantize_q8_k(&(0..QK_K).map(|i| i as f32 - 100.0).collect::<Vec<_>>())[0];
    let (q0, s0, s3) = (block.qs[0], block.bsums[0], block.bsums[3]);
    for (at, field, before, after) in [
        (4, "qs[0]", i16::from(q0), i16::from(q0 ^ 0x40)),
        (4 + QK_K, "bsums[0]", s0, s0 ^ 0x40),
        (4 + QK_K + 7, "bsums[3]", s3, s3 ^ 0x4000),
    ] {
        let (theirs, mut ours) = agreeing();
        ours[0].q8[at] ^= 0x40;
        let out = compare(&theirs, &ours);
        assert_eq!(
            out.mismatches,
            [Mismatch {
                what: format!("tensor `blk.0.attn_q.weight` q8_K block 0 {field}"),
                expected: before.to_string(),
                found: after.to_string(),
            }]
        );
    }
}

#[test]
fn q8_blocks_of_another_count_or_unreadable_hex_are_mismatches() {
    let (theirs, mut ours) = agreeing();
    let block = ours[0].q8.clone();
    ours[0].q8.extend(&block);
    let m = &compare(&theirs, &ours).mismatches;
    assert_eq!(
        (m.len(), m[0].what.as_str(), m[0].expected.as_str()),
        (1, "tensor `blk.0.attn_q.weight` q8_K blocks", "1")
    );
    assert_eq!(m[0].found, "2");
    // ggml's hex holds one block where it says two.
    let (mut theirs, ours) = agreeing();
    theirs.tensors[0].q8_k.as_mut().unwrap().blocks = 2;
    let m = &compare(&theirs, &ours).mismatches;
    assert_eq!(m.len(), 1);
    assert_eq!(
        (m[0].expected.as_str(), m[0].found.as_str()),
        ("2 blocks of hex", "unreadable hex")
    );
}

/// A difference in the second block's `d` names block 1 and shows both scales.
#[test]
fn a_differing_d_of_a_later_block_names_that_block() {
    let x: Vec<f32> = (0..2 * QK_K).map(|i| i as f32).collect();
    let q8 = q8_bytes(&quantize_q8_k(&x));
    let (mut theirs, mut ours) = agreeing();
    theirs.tensors[0].q8_k = Some(GgmlQ8k {
        blocks: 2,
        hex: hex::encode(&q8),
    });
    ours[0].q8 = q8;
    ours[0].q8[Q8K_BYTES..Q8K_BYTES + 4].copy_from_slice(&2.0f32.to_le_bytes());
    let m = &compare(&theirs, &ours).mismatches;
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].what, "tensor `blk.0.attn_q.weight` q8_K block 1 d");
    // Block 1's largest value is 511, so d = 1 / (-127 / 511).
    let d = 1.0 / (-127.0f32 / 511.0);
    assert_eq!(m[0].expected, show_f32(d));
    assert_eq!(m[0].found, "0x40000000 (2e0)");
}

#[test]
fn a_tensor_only_one_side_computes_is_a_mismatch() {
    let (theirs, mut ours) = agreeing();
    ours[0].y = Err("reserved codes".into());
    let out = compare(&theirs, &ours);
    assert_eq!(out.mismatches.len(), 1);
    assert_eq!(out.mismatches[0].found, "not computed: reserved codes");
    assert_eq!(out.tensors, 0);
    let (theirs, mut ours) = agreeing();
    ours[0].y = Ok(Vec::new());
    assert_eq!(compare(&theirs, &ours).mismatches[0].found, "no kernel");
    let (mut theirs, ours) = agreeing();
    theirs.tensors[0].name = "other".into();
    assert_eq!(compare(&theirs, &ours).mismatches[0].what, "TQ tensors");
}

/// A file with an F32 tensor, then a 2 × 512 TQ2_0 weight of +1s (each block's d 1) with a
/// `.scale` sibling 0.5: `ours` takes the weight only, and every kernel gives each row
/// `(sum(qs₀) × d₀ + sum(qs₁) × d₁) × 0.5` of the q8_K blocks it reports.
#[test]
fn ours_multiplies_the_tq_tensors_with_every_kernel() {
    use bitnet_gguf::GgufBuilder;
    use half::f16;
    let mut b = GgufBuilder::new();
    b.kv("general.architecture", "test");
    b.tensor("t.f32", &[4], ggml_type::F32, vec![0; 16]);
    let packed = bitnet_models::pack_tq2_0(&[1; 1024], 2, 512, &[f16::ONE; 4]).unwrap();
    b.tensor("w.weight", &[512, 2], ggml_type::TQ2_0, packed);
    b.tensor(
        "w.scale",
        &[1],
        ggml_type::F32,
        0.5f32.to_le_bytes().to_vec(),
    );
    let bytes = b.build().unwrap();
    let model = Model::parse(&bytes).unwrap();
    let kernels = Kernel::available();
    let mut xs = Activations::new(SEED);
    let got = ours(&model, &mut xs, &kernels);
    assert_eq!(got.len(), 1);
    let (x, t) = &got[0];
    assert_eq!((t.name.as_str(), x.len()), ("w.weight", 512));
    assert_eq!(x[..], Activations::new(SEED).vector(512)[..]);
    assert_eq!(t.q8.len(), 2 * Q8K_BYTES);
    let block = |b: usize| {
        let q = &t.q8[b * Q8K_BYTES..];
        let d = f32::from_le_bytes(q[..4].try_into().unwrap());
        let sum: i32 = q[4..4 + QK_K].iter().map(|&v| i32::from(v as i8)).sum();
        (sum as f32, d)
    };
    let ((s0, d0), (s1, d1)) = (block(0), block(1));
    assert!(s0 != 0.0 && s1 == 0.0, "the second block is all zeros");
    let expected = (s0 * d0 + s1 * d1) * 0.5;
    let ys = t.y.as_ref().unwrap();
    let names: Vec<&str> = ys.iter().map(|(k, _)| *k).collect();
    let all: Vec<&str> = kernels.iter().map(|k| k.name()).collect();
    assert_eq!(names, all);
    for (_, y) in ys {
        assert_eq!(y, &[expected, expected]);
    }
}

#[test]
fn only_tq1_0_and_tq2_0_are_multiplied() {
    let tq: Vec<u32> = (0..=255).filter(|&t| is_tq(t)).collect();
    assert_eq!(tq, [34, 35]);
}

/// 25 tensors that each differ: the first 20 are listed, then one line for the rest.
#[test]
fn mismatches_stop_at_the_limit() {
    let (mut theirs, mut ours) = agreeing();
    let (t0, o0) = (theirs.tensors[0].clone(), ours[0].clone());
    theirs.tensors.clear();
    ours.clear();
    for i in 0..25 {
        theirs.tensors.push(GgmlTensor {
            name: format!("t{i}"),
            ..t0.clone()
        });
        let mut o = OursTensor {
            name: format!("t{i}"),
            ..o0.clone()
        };
        o.y = Ok(vec![("scalar", vec![0.0, 0.0])]);
        ours.push(o);
    }
    let out = compare(&theirs, &ours);
    assert_eq!(out.mismatches.len(), MAX_MISMATCHES + 1);
    assert!(out.mismatches[MAX_MISMATCHES - 1]
        .what
        .starts_with("tensor `t19`"));
    assert_eq!(
        out.mismatches[MAX_MISMATCHES].what,
        "(more mismatches not listed)"
    );
    assert_eq!((out.tensors, out.rows), (25, 50));
}

/// ggml's `block_q8_K`: f32 `d`, 256 `qs`, 16 little-endian i16 `bsums`, 292 bytes.
#[test]
fn q8_bytes_follow_block_q8_k() {
    let mut x = [2.0f32; QK_K];
    x[0] = -127.0; // d = 1, qs = x rounded: -127 then 2s
    let bytes = q8_bytes(&quantize_q8_k(&x));
    assert_eq!(bytes.len(), 292);
    assert_eq!(bytes[..4], 1.0f32.to_le_bytes());
    assert_eq!(bytes[4..7], [0x81, 2, 2]);
    assert_eq!(bytes[260..264], [(-127i16 + 30) as u8, 0xff, 32, 0]);
}

#[test]
fn activations_take_every_quantization_path() {
    let mut xs = Activations::new(SEED);
    let x = xs.vector(Activations::KINDS * QK_K);
    let blocks: Vec<&[f32]> = x.chunks(QK_K).collect();
    let amax = |b: &[f32]| b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(amax(blocks[1]) == 0.0);
    assert_eq!(amax(blocks[2]), 127.0);
    assert_eq!(amax(blocks[3]), 1e-36);
    assert!((-127.0 / amax(blocks[3])) < -1e38 && blocks[3].contains(&0.0));
    assert!(blocks[3].iter().any(|v| v.is_subnormal()));
    assert!(amax(blocks[4]) > 1e38);
    assert!(blocks[5].iter().filter(|&&v| v == 0.0).count() > 200);
    // Every block but the zeros has both signs and many distinct values; the ties are
    // half-integers but for the ±127 pair, one right after the other.
    for (kind, b) in blocks.iter().enumerate().filter(|&(k, _)| k != 1) {
        assert!(
            b.iter().any(|&v| v > 0.0) && b.iter().any(|&v| v < 0.0),
            "kind {kind}"
        );
        let mut bits: Vec<u32> = b.iter().map(|v| v.to_bits()).collect();
        bits.sort_unstable();
        bits.dedup();
        assert!(bits.len() > 10, "kind {kind}");
    }
    let whole: Vec<usize> = (0..QK_K).filter(|&i| blocks[2][i].fract() == 0.0).collect();
    assert_eq!(whole.len(), 2);
    assert_eq!(whole[1], whole[0] + 1);
    assert_eq!(blocks[2][whole[0]], -blocks[2][whole[1]]);
    assert!(amax(blocks[5]) < 4.0);
    assert!(blocks[0].iter().filter(|&&v| v == 0.0).count() < 4);
    // The spread blocks' magnitudes span far more than a few powers of two.
    let spread: Vec<f32> = Activations::new(SEED)
        .vector(20 * Activations::KINDS * QK_K)
        .chunks(Activations::KINDS * QK_K)
        .map(|cycle| amax(&cycle[..QK_K]))
        .collect();
    let (lo, hi) = spread
        .iter()
        .fold((f32::MAX, 0.0f32), |(lo, hi), &a| (lo.min(a), hi.max(a)));
    assert!(
        hi / lo > 1024.0 && hi < 2f32.powi(20) && lo > 2f32.powi(-21),
        "{lo} {hi}"
    );
    // A length that is not whole blocks.
    assert_eq!(Activations::new(SEED).vector(300).len(), 300);
    // The kinds go on from block to block, across vectors.
    let y = xs.vector(QK_K);
    assert!(amax(&y) > 0.0 && amax(&y) < 2f32.powi(21));
    assert_eq!(Activations::new(SEED).vector(10), x[..10]);
}
