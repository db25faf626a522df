//! splitmix64 (Steele, Lea and Flood; the seeding generator of xoshiro): a small deterministic
//! generator for test data and fuzz seeds.
//!
//! The sequences are part of what is committed: `fuzz/seeds/writer_roundtrip/random-*` are its
//! low bytes, and the parity tests' data comes from fixed seeds. Do not change the algorithm.

/// The splitmix64 state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose first output is the mix of `seed` plus the golden-ratio increment.
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64-bit output.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `n` ternary weights (−1, 0 or +1): each the next output modulo 3, minus 1.
    pub fn ternary(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| (self.next_u64() % 3) as i8 - 1).collect()
    }

    /// `n` bytes: the low byte of each of the next `n` outputs.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_outputs() {
        // The first outputs of the reference C implementation seeded with 0 and with 1234567.
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(r.next_u64(), 0x06c4_5d18_8009_454f);
        let mut r = SplitMix64::new(1_234_567);
        assert_eq!(r.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(r.next_u64(), 3_203_168_211_198_807_973);
    }

    #[test]
    fn ternary_is_each_output_modulo_3_minus_1() {
        let outputs: Vec<u64> = {
            let mut r = SplitMix64::new(9);
            (0..64).map(|_| r.next_u64()).collect()
        };
        let weights = SplitMix64::new(9).ternary(64);
        for (w, o) in weights.iter().zip(&outputs) {
            assert_eq!(i64::from(*w), (o % 3) as i64 - 1);
        }
        assert!([-1, 0, 1].iter().all(|v| weights.contains(v)));
    }

    #[test]
    fn bytes_are_the_low_bytes_of_the_outputs() {
        let mut a = SplitMix64::new(42);
        let mut b = a.clone();
        let bytes = a.bytes(5);
        let want: Vec<u8> = (0..5).map(|_| b.next_u64() as u8).collect();
        assert_eq!(bytes, want);
        assert_eq!(a, b);
    }
}
