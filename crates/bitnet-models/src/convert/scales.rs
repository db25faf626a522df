//! Where a converted tensor's scales go: the source's scale structure read from its bytes, and
//! the target's worked out from it — or the reason the target cannot hold it exactly.
//!
//! Nothing here holds a scale per block, nor reads every block before the conversion starts: the
//! target's block scales are either one value or the source's own, read from the source's blocks
//! when a slice of rows is encoded ([`TargetScales::block_d`]) and checked there
//! ([`TargetScales::check_rows`]), so memory does not grow with the tensor and each part of the
//! file is read once.

use half::f16;

use crate::format::TernaryFormat;
use crate::model::TernaryTensor;

/// The scales a ternary tensor's values are multiplied by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scales {
    /// One `f32` for the whole tensor (QK256's sibling, bitnetcpp's tail).
    Tensor(f32),
    /// One f16 `d` per block (row-major, rows padded to whole blocks, read from the tensor's
    /// blocks), then the tensor's `.scale` sibling as a second factor where there is one (TQ2_0
    /// in mainline llama.cpp's BitNet models).
    Blocks { post: Option<f32> },
}

/// Where the target's block scales come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum BlockScales {
    /// The target has none (QK256, bitnetcpp).
    None,
    /// Every block's `d` is this one.
    Same(f16),
    /// Each target block's `d` is that of the source block holding its first column, times
    /// `times` (exact: checked when the scales were worked out).
    Source { times: Option<f32> },
}

/// The scales of the converted tensor: its block scales (for the formats that have them) and
/// the `.scale` sibling to write beside it (for QK256 and the TQ formats).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TargetScales {
    /// The tensor scale the kernels take: QK256 and bitnetcpp's.
    pub(crate) tensor: f32,
    /// The `d` of each target block, for BitNet32F16 and the TQ formats.
    pub(crate) blocks: BlockScales,
    /// The value of the `.scale` sibling to write after the tensor, if one is written.
    pub(crate) sibling: Option<f32>,
    /// For a target with one scale from a source with block scales: the source's first block
    /// scale, which every block must have.
    pub(crate) uniform: Option<f16>,
}

impl TargetScales {
    /// The `d` of the target block of `row` whose first column is `col`, for a target with
    /// block scales (1.0 for one without).
    pub(crate) fn block_d(&self, source: &TernaryTensor<'_>, row: usize, col: usize) -> f16 {
        match self.blocks {
            BlockScales::None => f16::ONE,
            BlockScales::Same(d) => d,
            BlockScales::Source { times: None } => source_d(source, row, col),
            BlockScales::Source { times: Some(s) } => {
                f16::from_f32(source_d(source, row, col).to_f32() * s)
            }
        }
    }

    /// That the source rows `part` (from row `first_row` of the tensor) have the scales these
    /// target scales were worked out for: every block the one scale, or, for block scales
    /// taken from the source, one `d` under each target block and `d × times` an f16. Why not,
    /// as the refusal says it.
    pub(crate) fn check_rows(
        &self,
        part: &TernaryTensor<'_>,
        first_row: usize,
        target: TernaryFormat,
    ) -> Result<(), String> {
        if let Some(first) = self.uniform {
            let format = part.format;
            let at = format.code_bytes();
            let per_row = part.cols.div_ceil(format.block_elems());
            let ds = part.data.chunks_exact(format.block_bytes());
            for (i, block) in ds.enumerate() {
                let d = f16::from_le_bytes([block[at], block[at + 1]]);
                if d.to_bits() != first.to_bits() {
                    return Err(format!(
                        "its block scales differ (block 0 has {first}, block {} {d}); the \
                         target has one scale per tensor",
                        first_row * per_row + i
                    ));
                }
            }
        }
        if let BlockScales::Source { times } = self.blocks {
            check_block_sources(part, first_row, target, times)?;
        }
        Ok(())
    }

    /// The `d` of every block of a `target` tensor converted from `source`, in order.
    pub(crate) fn all_block_d(
        &self,
        source: &TernaryTensor<'_>,
        target: TernaryFormat,
    ) -> Vec<f16> {
        if self.blocks == BlockScales::None {
            return Vec::new();
        }
        let elems = target.block_elems();
        let per_row = source.cols.div_ceil(elems);
        (0..source.rows)
            .flat_map(|row| (0..per_row).map(move |b| (row, b * elems)))
            .map(|(row, col)| self.block_d(source, row, col))
            .collect()
    }
}

/// The `d` of the block of `t` (a format with block scales) holding `(row, col)`.
pub(crate) fn source_d(t: &TernaryTensor<'_>, row: usize, col: usize) -> f16 {
    let format = t.format;
    let row_bytes = t.data.len() / t.rows;
    let at =
        row * row_bytes + (col / format.block_elems()) * format.block_bytes() + format.code_bytes();
    f16::from_le_bytes([t.data[at], t.data[at + 1]])
}

/// The source's scales.
pub(crate) fn source_scales(t: &TernaryTensor<'_>) -> Scales {
    if t.format.has_block_scale() {
        Scales::Blocks { post: t.post_scale }
    } else {
        Scales::Tensor(t.scale)
    }
}

/// `s` as an f16, when that is exact (the same bits back, NaN never).
fn exact_f16(s: f32) -> Option<f16> {
    let h = f16::from_f32(s);
    (h.to_f32().to_bits() == s.to_bits()).then_some(h)
}

/// Works out the target's scales for `source`, or why they cannot be exact. `had_sibling`:
/// the source has a `.scale` sibling (then the target keeps one where it can, even if it is
/// 1.0).
pub(crate) fn target_scales(
    source: &TernaryTensor<'_>,
    target: TernaryFormat,
    had_sibling: bool,
) -> Result<TargetScales, String> {
    let sibling_for = |s: f32| (had_sibling || s.to_bits() != 1.0f32.to_bits()).then_some(s);
    let scales = source_scales(source);
    match target {
        TernaryFormat::Qk256 | TernaryFormat::BitnetCpp => {
            let (s, uniform) = one_scale(source, scales);
            Ok(TargetScales {
                tensor: s,
                blocks: BlockScales::None,
                sibling: if target == TernaryFormat::Qk256 {
                    sibling_for(s)
                } else {
                    None
                },
                uniform,
            })
        }
        TernaryFormat::BitNet32F16 | TernaryFormat::Tq2_0 | TernaryFormat::Tq1_0 => {
            // A TQ target keeps a tensor scale, or the source's second factor, as its sibling
            // with block scales d = 1.0; BitNet32F16 has no sibling, so it goes into every d.
            let keeps_sibling = target != TernaryFormat::BitNet32F16;
            let (blocks, sibling) = match (scales, keeps_sibling) {
                (Scales::Tensor(s), true) => (BlockScales::Same(f16::ONE), sibling_for(s)),
                (Scales::Tensor(s), false) => (
                    BlockScales::Same(exact_f16(s).ok_or_else(|| {
                        format!("the scale {s:e} is not exactly an f16, which {target} needs")
                    })?),
                    None,
                ),
                (Scales::Blocks { post }, true) => (BlockScales::Source { times: None }, post),
                (Scales::Blocks { post }, false) => (BlockScales::Source { times: post }, None),
            };
            Ok(TargetScales {
                tensor: 1.0,
                blocks,
                sibling,
                uniform: None,
            })
        }
    }
}

/// That every target block of `source` converted to `target` covers source blocks of one `d`,
/// and that `d × times` is exactly an f16.
fn check_block_sources(
    source: &TernaryTensor<'_>,
    first_row: usize,
    target: TernaryFormat,
    times: Option<f32>,
) -> Result<(), String> {
    let (elems, src_elems, cols) = (
        target.block_elems(),
        source.format.block_elems(),
        source.cols,
    );
    for row in 0..source.rows {
        for first in (0..cols).step_by(elems) {
            let last = (first + elems).min(cols) - 1;
            let at = |col: usize| source_d(source, row, col);
            let first_d = at(first);
            if (first..=last)
                .step_by(src_elems)
                .chain([last])
                .any(|col| at(col).to_bits() != first_d.to_bits())
            {
                return Err(format!(
                    "row {}: block scales differ within {target}'s block of {elems} from \
                     column {first}",
                    first_row + row
                ));
            }
            if let Some(s) = times {
                let combined = first_d.to_f32() * s;
                if exact_f16(combined).is_none() {
                    return Err(format!(
                        "row {}: the scale {combined:e} (block scale times the .scale \
                         tensor) is not exactly an f16",
                        first_row + row
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The one tensor scale a source's scales amount to: its own, or its first block scale (times
/// the second factor) with that block scale, which every block must share
/// ([`TargetScales::check_rows`]).
fn one_scale(source: &TernaryTensor<'_>, scales: Scales) -> (f32, Option<f16>) {
    match scales {
        Scales::Tensor(s) => (s, None),
        Scales::Blocks { post } => {
            let at = source.format.code_bytes();
            let Some(bytes) = source.data.get(at..at + 2) else {
                return (post.unwrap_or(1.0), None);
            };
            let first = f16::from_le_bytes([bytes[0], bytes[1]]);
            let s = match post {
                Some(s) => first.to_f32() * s,
                None => first.to_f32(),
            };
            (s, Some(first))
        }
    }
}
