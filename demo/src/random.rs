//! The seeded generator the plan draws from.
//!
//! Each part of the plan (the citizens, their activity, the big days…) has its own stream of
//! numbers, and within a part each citizen has theirs, so that changing one part, or the number of
//! citizens, does not reshuffle the others, and jobs that run concurrently draw the same numbers
//! whatever order they run in.
//!
//! The generator is rand's ChaCha8: its output for a key and a stream is fixed by the algorithm's
//! specification, which is what the promise "the same seed builds the same territory" needs.
//! (`StdRng` is not portable: rand may change its algorithm in any release.) The demo's seed and
//! the part make the key; the citizen, or other index, is ChaCha's stream number.

use rand::distr::weighted::WeightedIndex;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

/// A part of the plan, each with its own stream of numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Citizens = 1,
    Activity = 2,
    Events = 3,
    Redemptions = 4,
    Missions = 5,
    Revocations = 6,
    Partners = 7,
    Draws = 8,
    Offers = 9,
}

#[derive(Debug)]
pub(crate) struct Random {
    generator: ChaCha8Rng,
}

impl Random {
    /// The stream of `part` for `index` (a citizen, or another index the part chooses).
    pub(crate) fn new(seed: u64, part: Part, index: u64) -> Self {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&(part as u64).to_le_bytes());
        let mut generator = ChaCha8Rng::from_seed(key);
        generator.set_stream(index);
        Random { generator }
    }

    /// Any 64-bit number.
    pub(crate) fn bits(&mut self) -> u64 {
        self.generator.random()
    }

    /// Uniform in `0..bound`.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        self.generator.random_range(0..bound)
    }

    /// Uniform in `low..=high`.
    pub(crate) fn between(&mut self, low: i64, high: i64) -> i64 {
        self.generator.random_range(low..=high)
    }

    /// True with the given probability (one or more is certain).
    pub(crate) fn chance(&mut self, probability: f64) -> bool {
        self.generator.random_bool(probability.clamp(0.0, 1.0))
    }

    /// An index drawn with the given (non-negative, not all zero) weights.
    pub(crate) fn weighted(&mut self, weights: &[f64]) -> usize {
        let index = WeightedIndex::new(weights).expect("weights are non-negative and at least one is positive");
        self.generator.sample(index)
    }

    /// A Poisson-distributed count (Knuth's method; the means here are small).
    pub(crate) fn poisson(&mut self, mean: f64) -> u64 {
        if mean <= 0.0 {
            return 0;
        }
        let limit = (-mean).exp();
        let mut product = 1.0;
        let mut count = 0;
        loop {
            product *= self.generator.random::<f64>();
            if product <= limit {
                return count;
            }
            count += 1;
        }
    }

    pub(crate) fn uuid(&mut self) -> uuid::Uuid {
        uuid::Builder::from_random_bytes(self.generator.random()).into_uuid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_part_and_index_has_its_own_stream_and_the_same_key_draws_the_same_numbers() {
        let draws = |seed, part, index| {
            let mut random = Random::new(seed, part, index);
            (0..8).map(|_| random.bits()).collect::<Vec<_>>()
        };
        assert_eq!(draws(1, Part::Citizens, 7), draws(1, Part::Citizens, 7));
        assert_ne!(draws(1, Part::Citizens, 7), draws(1, Part::Citizens, 8));
        assert_ne!(draws(1, Part::Citizens, 7), draws(1, Part::Activity, 7));
        assert_ne!(draws(1, Part::Citizens, 7), draws(2, Part::Citizens, 7));
    }

    #[test]
    fn draws_stay_in_their_ranges() {
        let mut random = Random::new(3, Part::Events, 0);
        for _ in 0..1_000 {
            assert!((4..=20).contains(&random.between(4, 20)));
            assert!(random.below(3) < 3);
            assert_eq!(random.weighted(&[0.0, 2.0, 0.0]), 1, "a zero weight is never drawn");
        }
        assert!(!random.chance(0.0) && random.chance(1.5));
        assert_eq!(random.poisson(0.0), 0);
        let mean = (0..2_000).map(|_| random.poisson(2.0)).sum::<u64>() as f64 / 2_000.0;
        assert!((1.8..2.2).contains(&mean), "a Poisson count of mean 2 averages 2: {mean}");
    }
}
