//! [`XorShift`]: a tiny seeded random source for the stress harness, so that the kit needs no
//! random-number dependency and a run's choices follow from the seeds it prints.
//!
//! It is not a cryptographic or a high-quality generator; it only has to spread operations,
//! pauses and kills well enough that a short run meets every interesting case.

use std::ops::RangeInclusive;

/// Marsaglia's xorshift64* generator.
#[derive(Clone, Debug)]
pub(crate) struct XorShift {
    state: u64,
}

impl XorShift {
    /// A generator for `seed`. Any seed works: zero, which xorshift cannot leave, is remapped.
    #[must_use]
    pub(crate) fn new(seed: u64) -> Self {
        // SplitMix64's finaliser spreads nearby seeds (1, 2, 3, …) to unrelated states.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self {
            state: if z == 0 { 1 } else { z },
        }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `range` (both ends included). The modulo bias is negligible for the small
    /// ranges the harness uses.
    pub(crate) fn in_range(&mut self, range: RangeInclusive<u64>) -> u64 {
        let (low, high) = range.into_inner();
        if high <= low {
            return low;
        }
        let span = high - low;
        match span.checked_add(1) {
            Some(width) => low + self.next_u64() % width,
            None => self.next_u64(),
        }
    }

    /// An index below `len`; `len` must not be zero.
    pub(crate) fn index(&mut self, len: usize) -> usize {
        assert!(len > 0, "an index into an empty list");
        let len_u64 = u64::try_from(len).unwrap_or(u64::MAX);
        let index = self.next_u64() % len_u64;
        usize::try_from(index).expect("below len, which is a usize")
    }

    /// True with probability `numerator / denominator`.
    pub(crate) fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        self.next_u64() % denominator.max(1) < numerator
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_in_range_and_cover_it() {
        let mut rng = XorShift::new(0);
        let mut seen = [false; 5];
        for _ in 0..1_000 {
            let value = rng.in_range(10..=14);
            assert!((10..=14).contains(&value));
            seen[usize::try_from(value - 10).expect("below 5")] = true;
        }
        assert_eq!(seen, [true; 5]);
        assert_eq!(rng.in_range(7..=7), 7);
        assert!(rng.index(3) < 3);
    }

    #[test]
    fn the_same_seed_gives_the_same_sequence_and_nearby_seeds_differ() {
        let draw = |seed| {
            let mut rng = XorShift::new(seed);
            [rng.next_u64(), rng.next_u64()]
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }
}
