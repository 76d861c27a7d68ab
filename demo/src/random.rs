//! The seeded generator the plan draws from: SplitMix64, written here. Each part of the plan
//! (the citizens, their activity, the big days…) has its own stream of numbers, and within a part
//! each citizen has theirs, so that changing one part does not reshuffle the others, and jobs that
//! run concurrently draw the same numbers whatever order they run in.

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
}

/// SplitMix64: tiny, fast and good enough for a simulation. Each part of the plan draws from its
/// own stream, so that changing one part does not reshuffle the others.
#[derive(Debug, Clone)]
pub(crate) struct Random {
    state: u64,
}

impl Random {
    pub(crate) fn new(seed: u64, part: Part, index: u64) -> Self {
        let mut random = Random { state: seed };
        random.state = random.next_u64() ^ (part as u64).wrapping_mul(0xA076_1D64_78BD_642F);
        random.state = random.next_u64() ^ index.wrapping_mul(0xE703_7ED1_A0B4_28DB);
        random.next_u64();
        random
    }

    /// Any 64-bit number.
    pub(crate) fn bits(&mut self) -> u64 {
        self.next_u64()
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound`.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "an empty range has no element to draw");
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// Uniform in `low..=high`.
    pub(crate) fn between(&mut self, low: i64, high: i64) -> i64 {
        assert!(low <= high, "an empty range has no element to draw");
        low + self.below((high - low + 1) as u64) as i64
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn chance(&mut self, probability: f64) -> bool {
        self.unit() < probability
    }

    /// An index drawn with the given (non-negative, not all zero) weights.
    pub(crate) fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        assert!(total > 0.0, "at least one weight is positive");
        let mut left = self.unit() * total;
        for (index, weight) in weights.iter().enumerate() {
            if left < *weight {
                return index;
            }
            left -= weight;
        }
        weights.iter().rposition(|weight| *weight > 0.0).expect("a positive weight exists")
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
            product *= self.unit();
            if product <= limit {
                return count;
            }
            count += 1;
        }
    }

    pub(crate) fn uuid(&mut self) -> uuid::Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}
