//! Norm-tensor statistics (`inspect --ln-stats`) and the norm gate (`inspect --gate auto`).
//!
//! A norm tensor is one whose name ends in `norm.weight`. Its values come from
//! `bitnet_models::Model::decode` (F32, F16; a norm of another type is reported with an
//! error). Statistics are computed in `f64`: `std` is the population standard deviation and
//! `rms` is `sqrt(mean(x²))`.
//!
//! Gate thresholds by architecture: `bitnet-b1.58` requires every norm's RMS in [0.5, 2.0]
//! (docs/cli.md); every other architecture, or a file without `general.architecture`, has no
//! thresholds, so the gate passes with a note. A norm that cannot be decoded, or whose RMS is
//! not finite, fails the gate.

use bitnet_models::{Kernel, Model};
use serde_json::{json, Value};

use crate::json::f64_json;
use crate::report::coded;

/// The suffix that marks a norm tensor.
pub(crate) const NORM_SUFFIX: &str = "norm.weight";

/// Summary statistics of one norm tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Stats {
    pub(crate) count: u64,
    pub(crate) mean: f64,
    pub(crate) std: f64,
    pub(crate) rms: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Stats {
    /// Statistics of `values`; `None` when there are none.
    pub(crate) fn of(values: &[f32]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        let rms = (values.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / n).sqrt();
        // `fold` with `min`/`max` would skip NaN; a NaN must show up, so it propagates here.
        let pick = |a: f64, b: f64, less: bool| {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else if (b < a) == less {
                b
            } else {
                a
            }
        };
        let first = f64::from(values[0]);
        let (min, max) = values.iter().fold((first, first), |(lo, hi), &v| {
            let v = f64::from(v);
            (pick(lo, v, true), pick(hi, v, false))
        });
        Some(Self {
            count: values.len() as u64,
            mean,
            std: var.sqrt(),
            rms,
            min,
            max,
        })
    }
}

/// The statistics of one norm tensor, or why there are none.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NormStats {
    pub(crate) name: String,
    pub(crate) type_name: &'static str,
    pub(crate) result: Result<Option<Stats>, String>,
}

impl NormStats {
    pub(crate) fn json(&self) -> Value {
        let stats = self.result.as_ref().ok().copied().flatten();
        let field = |f: fn(&Stats) -> f64| stats.as_ref().map_or(Value::Null, |s| f64_json(f(s)));
        json!({
            "name": self.name,
            "type_name": self.type_name,
            "count": stats.map(|s| s.count),
            "mean": field(|s| s.mean),
            "std": field(|s| s.std),
            "rms": field(|s| s.rms),
            "min": field(|s| s.min),
            "max": field(|s| s.max),
            "error": self.result.as_ref().err(),
        })
    }
}

/// The statistics of every norm tensor, in file order.
pub(crate) fn norm_stats(model: &Model<'_>, kernel: Kernel) -> Vec<NormStats> {
    model
        .gguf()
        .tensors()
        .iter()
        .enumerate()
        .filter(|(_, t)| t.name.ends_with(NORM_SUFFIX))
        .map(|(i, t)| NormStats {
            name: t.name.to_owned(),
            type_name: t.type_info().name(),
            result: model
                .decode(i, kernel)
                .map(|v| Stats::of(&v))
                .map_err(|e| coded(&e, e.code())),
        })
        .collect()
}

/// The RMS range a norm must lie in, by architecture.
pub(crate) fn rms_range(architecture: Option<&str>) -> Option<(f64, f64)> {
    match architecture {
        Some(bitnet_models::model::BITNET_ARCH) => Some((0.5, 2.0)),
        _ => None,
    }
}

/// The outcome of `--gate auto`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Gate {
    pub(crate) architecture: Option<String>,
    pub(crate) range: Option<(f64, f64)>,
    /// One message per norm that fails.
    pub(crate) failures: Vec<(String, String)>,
    /// Why nothing was checked, when nothing was.
    pub(crate) note: Option<String>,
}

impl Gate {
    /// Applies the architecture's thresholds to `stats`.
    pub(crate) fn auto(architecture: Option<&str>, stats: &[NormStats]) -> Self {
        let range = rms_range(architecture);
        let mut failures = Vec::new();
        let mut note = None;
        match range {
            None => {
                note = Some(match architecture {
                    Some(a) => format!("no norm thresholds for architecture {a:?}; nothing gated"),
                    None => "no general.architecture; nothing gated".to_owned(),
                });
            }
            Some((lo, hi)) => {
                if stats.is_empty() {
                    note = Some("no norm tensors (names ending in norm.weight)".to_owned());
                }
                for s in stats {
                    let message = match &s.result {
                        Err(e) => Some(format!("cannot decode: {e}")),
                        Ok(None) => Some("has no elements".to_owned()),
                        Ok(Some(st)) if !(lo..=hi).contains(&st.rms) => {
                            Some(format!("rms {} outside [{lo:?}, {hi:?}]", st.rms))
                        }
                        Ok(Some(_)) => None,
                    };
                    if let Some(m) = message {
                        failures.push((s.name.clone(), m));
                    }
                }
            }
        }
        Self {
            architecture: architecture.map(str::to_owned),
            range,
            failures,
            note,
        }
    }

    /// Whether every norm passed.
    pub(crate) fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    pub(crate) fn json(&self, strict: bool) -> Value {
        json!({
            "mode": "auto",
            "architecture": self.architecture,
            "rms_range": self.range.map(|(lo, hi)| [lo, hi]),
            "passed": self.passed(),
            "strict": strict,
            "warnings": self.failures.iter().map(|(tensor, message)| json!({
                "tensor": tensor,
                "message": message,
            })).collect::<Vec<_>>(),
            "note": self.note,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_known_values() {
        let s = Stats::of(&[1.0, -1.0, 1.0, -1.0]).unwrap();
        assert_eq!(
            (s.mean, s.std, s.rms, s.min, s.max),
            (0.0, 1.0, 1.0, -1.0, 1.0)
        );
        assert_eq!(Stats::of(&[]), None);
        let s = Stats::of(&[2.0, f32::NAN, 1.0]).unwrap();
        assert!(s.min.is_nan() && s.max.is_nan() && s.rms.is_nan());
    }

    #[test]
    fn gate_by_architecture() {
        let norm = |rms: f64| NormStats {
            name: "n.norm.weight".into(),
            type_name: "F32",
            result: Ok(Some(Stats {
                count: 1,
                mean: rms,
                std: 0.0,
                rms,
                min: rms,
                max: rms,
            })),
        };
        assert!(Gate::auto(Some("bitnet-b1.58"), &[norm(0.5), norm(2.0)]).passed());
        assert!(!Gate::auto(Some("bitnet-b1.58"), &[norm(0.01)]).passed());
        assert!(!Gate::auto(Some("bitnet-b1.58"), &[norm(f64::NAN)]).passed());
        assert!(Gate::auto(Some("llama"), &[norm(0.01)]).passed());
        assert!(Gate::auto(None, &[norm(0.01)]).passed());
    }
}
