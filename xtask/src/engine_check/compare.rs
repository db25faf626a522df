//! The comparisons of two models' logits: bit for bit, or within a tolerance of an F32
//! reference. Pure functions of the logits, tested without the engine.

use std::fmt;

/// Where two models' logits first differ.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstDifference {
    /// The position in the token sequence.
    pub position: usize,
    /// The logit's index: the token id it scores.
    pub token: usize,
    pub a: f32,
    pub b: f32,
    /// How many logits differ in all.
    pub differing: usize,
}

impl fmt::Display for FirstDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "first differing logit at position {}, token {}: {:#010x} ({}) vs {:#010x} ({}); \
             {} logits differ",
            self.position,
            self.token,
            self.a.to_bits(),
            self.a,
            self.b.to_bits(),
            self.b,
            self.differing
        )
    }
}

/// Why two sets of logits cannot be compared value by value.
fn shape_mismatch(a: &[Vec<f32>], b: &[Vec<f32>]) -> Option<String> {
    let shape = |l: &[Vec<f32>]| (l.len(), l.first().map_or(0, Vec::len));
    if shape(a) != shape(b) || a.iter().zip(b).any(|(x, y)| x.len() != y.len()) {
        let (pa, va) = shape(a);
        let (pb, vb) = shape(b);
        return Some(format!(
            "the logits have different shapes: {pa} positions × {va} vs {pb} × {vb}"
        ));
    }
    None
}

/// Compares `a` and `b` bit for bit: `Ok(count)` when every logit has the same bits.
pub fn identical(a: &[Vec<f32>], b: &[Vec<f32>]) -> Result<usize, String> {
    if let Some(why) = shape_mismatch(a, b) {
        return Err(why);
    }
    let mut first = None;
    let mut differing = 0;
    let mut count = 0;
    for (position, (ra, rb)) in a.iter().zip(b).enumerate() {
        for (token, (&x, &y)) in ra.iter().zip(rb).enumerate() {
            count += 1;
            if x.to_bits() != y.to_bits() {
                differing += 1;
                first.get_or_insert((position, token, x, y));
            }
        }
    }
    match first {
        None => Ok(count),
        Some((position, token, a, b)) => Err(FirstDifference {
            position,
            token,
            a,
            b,
            differing,
        }
        .to_string()),
    }
}

/// How far logits are from a reference's, position by position.
#[derive(Debug, Clone, PartialEq)]
pub struct Closeness {
    /// How many logits were compared.
    pub count: usize,
    /// The position whose logits are relatively farthest from the reference's (the first of
    /// equals), and how far: the RMS of `a − ref` over its logits divided by the RMS of the
    /// reference's logits there.
    pub worst_position: usize,
    pub worst_rel_rms: f64,
    /// The same ratio over all logits at once.
    pub rel_rms: f64,
    /// The largest `|a − ref|`, and where: (position, token).
    pub max_abs: f32,
    pub at: (usize, usize),
}

/// Measures `a` against `reference`; errors on different shapes, a non-finite value or a
/// position whose reference logits are all zero.
pub fn closeness(a: &[Vec<f32>], reference: &[Vec<f32>]) -> Result<Closeness, String> {
    if let Some(why) = shape_mismatch(a, reference) {
        return Err(why);
    }
    let mut c = Closeness {
        count: 0,
        worst_position: 0,
        worst_rel_rms: -1.0,
        rel_rms: 0.0,
        max_abs: -1.0,
        at: (0, 0),
    };
    let (mut all_ref, mut all_diff) = (0f64, 0f64);
    for (position, (ra, rr)) in a.iter().zip(reference).enumerate() {
        let (mut sum_ref, mut sum_diff) = (0f64, 0f64);
        for (token, (&x, &r)) in ra.iter().zip(rr).enumerate() {
            if !x.is_finite() || !r.is_finite() {
                return Err(format!(
                    "a logit is not finite at position {position}, token {token}: {x} vs {r}"
                ));
            }
            let d = (x - r).abs();
            if d > c.max_abs {
                c.max_abs = d;
                c.at = (position, token);
            }
            sum_ref += f64::from(r) * f64::from(r);
            sum_diff += f64::from(d) * f64::from(d);
        }
        if sum_ref == 0.0 {
            return Err(format!(
                "the reference's logits at position {position} are all 0"
            ));
        }
        let rel = (sum_diff / sum_ref).sqrt();
        if rel > c.worst_rel_rms {
            c.worst_rel_rms = rel;
            c.worst_position = position;
        }
        all_ref += sum_ref;
        all_diff += sum_diff;
        c.count += ra.len();
    }
    if c.count == 0 {
        return Err("no logits".to_owned());
    }
    c.rel_rms = (all_diff / all_ref).sqrt();
    Ok(c)
}

/// The first non-finite logit: (position, token, value).
pub fn first_non_finite(logits: &[Vec<f32>]) -> Option<(usize, usize, f32)> {
    logits.iter().enumerate().find_map(|(p, row)| {
        row.iter()
            .enumerate()
            .find(|(_, v)| !v.is_finite())
            .map(|(t, &v)| (p, t, v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits(rows: &[&[f32]]) -> Vec<Vec<f32>> {
        rows.iter().map(|r| r.to_vec()).collect()
    }

    #[test]
    fn test_identical_counts_every_logit() {
        let a = logits(&[&[1.0, -2.0, 0.5], &[3.0, 4.0, -0.0]]);
        assert_eq!(identical(&a, &a.clone()), Ok(6));
    }

    #[test]
    fn test_identical_names_the_first_differing_logit() {
        let a = logits(&[&[1.0, -2.0, 0.5], &[3.0, 4.0, 5.0]]);
        let mut b = a.clone();
        b[1][1] = f32::from_bits(4.0f32.to_bits() + 1);
        b[1][2] = 6.0;
        assert_eq!(
            identical(&a, &b).unwrap_err(),
            "first differing logit at position 1, token 1: 0x40800000 (4) vs 0x40800001 \
             (4.0000005); 2 logits differ"
        );
    }

    #[test]
    fn test_identical_compares_bits_not_values() {
        // 0.0 == -0.0 as values, but a different bit pattern is a different logit.
        let a = logits(&[&[0.0]]);
        let b = logits(&[&[-0.0]]);
        assert!(identical(&a, &b)
            .unwrap_err()
            .contains("position 0, token 0"));
        let nan = logits(&[&[f32::NAN]]);
        assert_eq!(identical(&nan, &nan.clone()), Ok(1));
    }

    #[test]
    fn test_shapes_must_match() {
        let a = logits(&[&[1.0, 2.0]]);
        let b = logits(&[&[1.0, 2.0], &[1.0, 2.0]]);
        let c = logits(&[&[1.0]]);
        for (x, y) in [(&a, &b), (&a, &c)] {
            let e = identical(x, y).unwrap_err();
            assert!(e.starts_with("the logits have different shapes"), "{e}");
            assert!(closeness(x, y).is_err());
        }
    }

    #[test]
    fn test_closeness_measures_each_position_against_the_reference() {
        let reference = logits(&[&[3.0, -4.0], &[1.0, 1.0], &[0.0, 2.0]]);
        let a = logits(&[&[3.5, -4.0], &[1.0, 1.0], &[0.0, 2.25]]);
        let c = closeness(&a, &reference).unwrap();
        assert_eq!(c.count, 6);
        // Position 0: sqrt(0.25 / 25) = 0.1; position 1: 0; position 2: sqrt(0.0625 / 4) = 0.125.
        assert_eq!(c.worst_position, 2);
        assert!(
            (c.worst_rel_rms - 0.125).abs() < 1e-12,
            "{}",
            c.worst_rel_rms
        );
        // All at once: sqrt((0.25 + 0.0625) / (25 + 2 + 4)).
        assert!((c.rel_rms - (0.3125f64 / 31.0).sqrt()).abs() < 1e-12);
        assert_eq!(c.max_abs, 0.5);
        assert_eq!(c.at, (0, 0));
        let same = closeness(&reference, &reference).unwrap();
        assert_eq!(
            (same.worst_rel_rms, same.rel_rms, same.max_abs),
            (0.0, 0.0, 0.0)
        );
        // Of equals, the first position and the first logit are named.
        assert_eq!((same.worst_position, same.at), (0, (0, 0)));
    }

    #[test]
    fn test_closeness_refuses_an_all_zero_reference_position() {
        let reference = logits(&[&[1.0], &[0.0]]);
        assert_eq!(
            closeness(&reference, &reference).unwrap_err(),
            "the reference's logits at position 1 are all 0"
        );
    }

    #[test]
    fn test_closeness_refuses_non_finite_logits() {
        let reference = logits(&[&[1.0, 2.0]]);
        let a = logits(&[&[1.0, f32::INFINITY]]);
        assert_eq!(
            closeness(&a, &reference).unwrap_err(),
            "a logit is not finite at position 0, token 1: inf vs 2"
        );
        assert_eq!(first_non_finite(&a), Some((0, 1, f32::INFINITY)));
        assert_eq!(first_non_finite(&reference), None);
    }
}
