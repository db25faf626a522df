//! A ternary weight for the tests that build models and convert them: its codes, its scales, and
//! the values it must decode to, computed from them. How it is stored in each format is the test's
//! business (this crate does not depend on the crates under test).

use crate::rng::SplitMix64;

/// `rows × cols` ternary weights (−1, 0, +1, row-major) whose values are `w × scale`.
#[derive(Debug, Clone)]
pub struct TernaryWeight {
    /// The tensor's name, ending in `.weight`.
    pub name: &'static str,
    /// `ne[0]`: the length of a row.
    pub cols: usize,
    /// The number of rows.
    pub rows: usize,
    /// The `rows × cols` weights, row-major.
    pub weights: Vec<i8>,
    /// The tensor scale: every value is `w × scale`.
    pub scale: f32,
    /// In TQ sources: the block scale `d` of every block (the `.scale` sibling then holds
    /// `scale / d`, exactly).
    pub tq_d: f32,
}

impl TernaryWeight {
    /// A weight of `rows × cols` weights, drawn from a generator seeded by the shape.
    pub fn new(name: &'static str, cols: usize, rows: usize, scale: f32, tq_d: f32) -> Self {
        let seed = cols as u64 * 1000 + rows as u64;
        Self {
            name,
            cols,
            rows,
            weights: SplitMix64::new(seed).ternary(rows * cols),
            scale,
            tq_d,
        }
    }

    /// The values the weight must decode to: `w × scale`, one f32 multiplication each.
    pub fn expected(&self) -> Vec<f32> {
        self.weights
            .iter()
            .map(|&w| f32::from(w) * self.scale)
            .collect()
    }

    /// [`Self::expected`] as bit patterns, for exact comparison (−0.0 is not 0.0).
    pub fn expected_bits(&self) -> Vec<u32> {
        self.expected().iter().map(|v| v.to_bits()).collect()
    }

    /// The `.scale` sibling's name: `blk.0.attn_q.weight` → `blk.0.attn_q.scale`.
    pub fn sibling(&self) -> String {
        let stem = self.name.strip_suffix(".weight").expect("a .weight name");
        format!("{stem}.scale")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_names() {
        let w = TernaryWeight::new("blk.0.ffn_up.weight", 8, 2, -0.5, 1.0);
        assert_eq!(w.weights, SplitMix64::new(8002).ternary(16));
        let want: Vec<f32> = w.weights.iter().map(|&x| f32::from(x) * -0.5).collect();
        assert_eq!(w.expected(), want);
        assert_eq!(
            w.expected_bits(),
            want.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(w.sibling(), "blk.0.ffn_up.scale");
    }
}
