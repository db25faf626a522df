//! Where a converted tensor's scales go: the source's scale structure read from its bytes, and
//! the target's worked out from it — or the reason the target cannot hold it exactly.

use half::f16;

use crate::format::TernaryFormat;
use crate::model::TernaryTensor;

/// The scales a ternary tensor's values are multiplied by.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scales {
    /// One `f32` for the whole tensor (QK256's sibling, bitnetcpp's tail).
    Tensor(f32),
    /// One f16 `d` per block of `elems` (row-major, rows padded to whole blocks), then the
    /// tensor's `.scale` sibling as a second factor where there is one (TQ2_0 in mainline
    /// llama.cpp's BitNet models).
    Blocks {
        elems: usize,
        d: Vec<f16>,
        post: Option<f32>,
    },
}

/// The scales of the converted tensor: its block scales (for the formats that have them) and
/// the `.scale` sibling to write beside it (for QK256 and the TQ formats).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TargetScales {
    /// The tensor scale the kernels take: QK256 and bitnetcpp's.
    pub(crate) tensor: f32,
    /// One `d` per target block, for BitNet32F16 and the TQ formats.
    pub(crate) blocks: Vec<f16>,
    /// The value of the `.scale` sibling to write after the tensor, if one is written.
    pub(crate) sibling: Option<f32>,
}

/// The source's scales, read from its blocks.
pub(crate) fn source_scales(t: &TernaryTensor<'_>) -> Scales {
    let format = t.format;
    if !format.has_block_scale() {
        return Scales::Tensor(t.scale);
    }
    let d = t
        .data
        .chunks_exact(format.block_bytes())
        .map(|block| {
            let at = format.block_bytes() - 2;
            f16::from_le_bytes([block[at], block[at + 1]])
        })
        .collect();
    Scales::Blocks {
        elems: format.block_elems(),
        d,
        post: t.post_scale,
    }
}

/// `s` as an f16, when that is exact (the same bits back, NaN never).
fn exact_f16(s: f32) -> Option<f16> {
    let h = f16::from_f32(s);
    (h.to_f32().to_bits() == s.to_bits()).then_some(h)
}

/// Works out the target's scales for a `rows × cols` tensor, or why they cannot be exact.
/// `had_sibling`: the source has a `.scale` sibling (then the target keeps one where it can,
/// even if it is 1.0).
pub(crate) fn target_scales(
    source: &Scales,
    target: TernaryFormat,
    rows: usize,
    cols: usize,
    had_sibling: bool,
) -> Result<TargetScales, String> {
    let sibling_for = |s: f32| (had_sibling || s.to_bits() != 1.0f32.to_bits()).then_some(s);
    match target {
        TernaryFormat::Qk256 | TernaryFormat::BitnetCpp => {
            let s = one_scale(source)?;
            Ok(TargetScales {
                tensor: s,
                blocks: Vec::new(),
                sibling: if target == TernaryFormat::Qk256 {
                    sibling_for(s)
                } else {
                    None
                },
            })
        }
        TernaryFormat::BitNet32F16 | TernaryFormat::Tq2_0 | TernaryFormat::Tq1_0 => {
            let elems = target.block_elems();
            let per_row = cols.div_ceil(elems);
            let mut blocks = Vec::with_capacity(rows * per_row);
            // A TQ target keeps a tensor scale, or the source's second factor, as its sibling
            // with block scales d = 1.0; BitNet32F16 has no sibling, so it goes into every d.
            let keeps_sibling = target != TernaryFormat::BitNet32F16;
            let sibling = match (source, keeps_sibling) {
                (Scales::Tensor(s), true) => sibling_for(*s),
                (Scales::Blocks { post, .. }, true) => *post,
                (_, false) => None,
            };
            for row in 0..rows {
                for block in 0..per_row {
                    let first = block * elems;
                    let last = (first + elems).min(cols) - 1;
                    let d = match source {
                        Scales::Tensor(_) if keeps_sibling => f16::ONE,
                        Scales::Tensor(s) => exact_f16(*s).ok_or_else(|| {
                            format!("the scale {s:e} is not exactly an f16, which {target} needs")
                        })?,
                        Scales::Blocks {
                            elems: src_elems,
                            d,
                            post,
                        } => {
                            // The source blocks this target block covers must share one d.
                            let src_per_row = cols.div_ceil(*src_elems);
                            let at = |col: usize| d[row * src_per_row + col / src_elems];
                            let first_d = at(first);
                            if (first..=last)
                                .step_by(*src_elems)
                                .chain([last])
                                .any(|col| at(col).to_bits() != first_d.to_bits())
                            {
                                return Err(format!(
                                    "row {row}: block scales differ within {target}'s block of \
                                     {elems} from column {first}"
                                ));
                            }
                            match (post, keeps_sibling) {
                                (Some(s), false) => {
                                    let combined = first_d.to_f32() * s;
                                    exact_f16(combined).ok_or_else(|| {
                                        format!(
                                            "row {row}: the scale {combined:e} (block scale \
                                             times the .scale tensor) is not exactly an f16"
                                        )
                                    })?
                                }
                                _ => first_d,
                            }
                        }
                    };
                    blocks.push(d);
                }
            }
            Ok(TargetScales {
                tensor: 1.0,
                blocks,
                sibling,
            })
        }
    }
}

/// The one tensor scale a source's scales amount to: its own, or its block scales when they
/// are all the same (times the second factor).
fn one_scale(source: &Scales) -> Result<f32, String> {
    match source {
        Scales::Tensor(s) => Ok(*s),
        Scales::Blocks { d, post, .. } => {
            let Some(first) = d.first() else {
                return Ok(post.unwrap_or(1.0));
            };
            if let Some(i) = d.iter().position(|x| x.to_bits() != first.to_bits()) {
                return Err(format!(
                    "its block scales differ (block 0 has {first}, block {i} {}); the target \
                     has one scale per tensor",
                    d[i]
                ));
            }
            Ok(match post {
                Some(s) => first.to_f32() * s,
                None => first.to_f32(),
            })
        }
    }
}
