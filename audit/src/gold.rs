//! Gold outcomes: commit–reveal randomness for "does this action also earn a gold token".
//!
//! Before a period starts the territory publishes `commitment = SHA-256(seed)`; after it ends it
//! reveals `seed`. An action earns gold when `x = SHA-256(seed ‖ action_id)`, read as a
//! big-endian 256-bit integer, satisfies `x / 2^256 < probability`. The commitment keeps the
//! territory from choosing the seed after seeing the actions; the hash keeps anyone without the
//! seed from predicting an outcome; and the reveal lets everyone recompute every outcome.
//!
//! The comparison is exact. `probability` is an IEEE 754 double, i.e. exactly `m · 2^e` for
//! integers `m` and `e`, so `x / 2^256 < m · 2^e` is decided on integers, with no rounding: a
//! float evaluation would round `x` to 53 bits and could disagree with another implementation
//! right at the threshold.

use num_bigint::BigUint;
use sha2::{Digest as _, Sha256};

/// The commitment to a seed: SHA-256 of its 32 bytes, as 64 lowercase hex characters.
pub fn seed_commitment(seed: &[u8; 32]) -> String {
    hex::encode(Sha256::digest(seed))
}

/// Whether a revealed seed matches its earlier commitment (compared as lowercase hex text).
pub fn seed_matches_commitment(seed: &[u8; 32], commitment: &str) -> bool {
    seed_commitment(seed) == commitment
}

/// `SHA-256(seed ‖ action_id)`: the seed's 32 bytes, then the UTF-8 bytes of the action id's
/// text, which Ygor always writes as a 36-character lowercase UUID.
pub fn gold_hash(seed: &[u8; 32], action_id: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(seed);
    hasher.update(action_id.as_bytes());
    hasher.finalize().into()
}

/// Whether the action earns a gold token: `x / 2^256 < probability` with
/// `x = SHA-256(seed ‖ action_id)` read as a big-endian integer, evaluated exactly.
///
/// A probability of 0 or less never earns, 1 or more always does, and NaN never does. The
/// action id is hashed as given: pass the 36-character lowercase text, as Ygor exports it.
pub fn gold_earned(seed: &[u8; 32], action_id: &str, probability: f64) -> bool {
    hash_below_probability(&gold_hash(seed, action_id), probability)
}

/// Whether the 256-bit big-endian integer `x` satisfies `x / 2^256 < probability`, exactly.
pub fn hash_below_probability(x: &[u8; 32], probability: f64) -> bool {
    if probability.is_nan() || probability <= 0.0 {
        return false;
    }
    if probability >= 1.0 {
        return true;
    }
    let (mantissa, exponent) = decompose(probability);
    // 0 < probability < 1 makes the exponent negative, so both sides of
    // x / 2^256 < mantissa · 2^exponent  ⟺  x · 2^(−exponent) < mantissa · 2^256
    // are whole numbers.
    debug_assert!(exponent < 0, "a probability below 1 has a negative exponent");
    let left = BigUint::from_bytes_be(x) << exponent.unsigned_abs();
    let right = BigUint::from(mantissa) << 256u32;
    left < right
}

/// Splits a finite, positive double into `(m, e)` with `value = m · 2^e` exactly, `m < 2^53`.
pub(crate) fn decompose(value: f64) -> (u64, i32) {
    debug_assert!(value.is_finite() && value > 0.0, "only finite positive values are decomposed");
    let bits = value.to_bits();
    let biased_exponent = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    if biased_exponent == 0 {
        // A subnormal number has no implicit leading one and the smallest exponent.
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased_exponent - 1075)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The 32 big-endian bytes of a number below 2^256.
    fn bytes_of(value: &BigUint) -> [u8; 32] {
        let digits = value.to_bytes_be();
        assert!(digits.len() <= 32, "test values stay below 2^256");
        let mut bytes = [0u8; 32];
        bytes[32 - digits.len()..].copy_from_slice(&digits);
        bytes
    }

    fn power_of_two(exponent: u32) -> BigUint {
        BigUint::from(1u8) << exponent
    }

    /// `ceil(probability · 2^256)` computed independently of `hash_below_probability`, by a
    /// ceiling division instead of a comparison of shifted values: `x < p · 2^256` holds for a
    /// whole `x` exactly when `x < ceil(p · 2^256)`.
    fn threshold(probability: f64) -> BigUint {
        let (mantissa, exponent) = decompose(probability);
        let shift = 256 + exponent;
        if shift >= 0 {
            BigUint::from(mantissa) << shift.unsigned_abs()
        } else {
            let divisor = power_of_two(shift.unsigned_abs());
            (BigUint::from(mantissa) + &divisor - 1u8) / divisor
        }
    }

    const ZERO: [u8; 32] = [0; 32];
    const MAX: [u8; 32] = [0xff; 32];

    #[test]
    fn commitment_is_the_lowercase_hex_sha256_of_the_seed() {
        let seed = [0u8; 32];
        let commitment = seed_commitment(&seed);
        assert_eq!(commitment, "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925");
        assert!(seed_matches_commitment(&seed, &commitment));
        assert!(!seed_matches_commitment(&[1; 32], &commitment));
        assert!(!seed_matches_commitment(&seed, &commitment.to_uppercase()));
    }

    #[test]
    fn gold_hash_is_sha256_of_seed_then_action_id_text() {
        let seed = [9u8; 32];
        let action_id = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let mut input = seed.to_vec();
        input.extend_from_slice(action_id.as_bytes());
        assert_eq!(gold_hash(&seed, action_id), ygor_crypto::sha256(&input));
    }

    #[test]
    fn probability_zero_or_below_or_nan_never_earns() {
        for probability in [0.0, -0.0, -0.5, f64::NEG_INFINITY, f64::NAN] {
            assert!(!hash_below_probability(&ZERO, probability), "{probability}");
        }
    }

    #[test]
    fn probability_one_or_above_always_earns() {
        for probability in [1.0, 1.5, f64::INFINITY] {
            assert!(hash_below_probability(&MAX, probability), "{probability}");
        }
    }

    #[test]
    fn probability_one_half_earns_exactly_when_the_top_bit_is_clear() {
        let mut below = MAX;
        below[0] = 0x7f;
        let mut at = ZERO;
        at[0] = 0x80;
        assert!(hash_below_probability(&below, 0.5));
        assert!(!hash_below_probability(&at, 0.5));
        assert!(!hash_below_probability(&MAX, 0.5));
        assert!(hash_below_probability(&ZERO, 0.5));
    }

    #[test]
    fn tiny_probabilities_are_compared_exactly() {
        let one = bytes_of(&BigUint::from(1u8));
        let two = bytes_of(&BigUint::from(2u8));
        // 2^-256: only x = 0 is below.
        let p = 2f64.powi(-256);
        assert!(hash_below_probability(&ZERO, p));
        assert!(!hash_below_probability(&one, p));
        // 2^-255: x = 0 and x = 1.
        let p = 2f64.powi(-255);
        assert!(hash_below_probability(&one, p));
        assert!(!hash_below_probability(&two, p));
        // The smallest subnormal double, 2^-1074, and 2^-300: still only x = 0.
        for p in [f64::from_bits(1), 2f64.powi(-300)] {
            assert!(hash_below_probability(&ZERO, p));
            assert!(!hash_below_probability(&one, p));
        }
    }

    #[test]
    fn the_threshold_of_a_decimal_probability_is_its_exact_double_not_the_decimal() {
        // 0.1 is stored as 0x1999999999999A · 2^-56, slightly above one tenth.
        assert_eq!(decompose(0.1), (0x1999999999999A, -56));
        let limit = BigUint::from(0x1999999999999Au64) << 200u32;
        assert!(hash_below_probability(&bytes_of(&(&limit - 1u8)), 0.1));
        assert!(!hash_below_probability(&bytes_of(&limit), 0.1));
        // A float evaluation rounds x = limit − 1 to the double 0.1 itself and wrongly says no.
        let rounded = BigUint::from_bytes_be(&bytes_of(&(&limit - 1u8))).to_string().parse::<f64>().expect("f64");
        assert_eq!(rounded / 2f64.powi(256), 0.1, "the float shortcut sees x / 2^256 = 0.1, so it says no");
    }

    #[test]
    fn probability_five_percent_has_the_documented_threshold() {
        assert_eq!(decompose(0.05), (0x1999999999999A, -57));
        assert_eq!(
            format!("{:064x}", threshold(0.05)),
            "0ccccccccccccd00000000000000000000000000000000000000000000000000"
        );
    }

    #[test]
    fn the_largest_probability_below_one_leaves_out_only_the_top_values() {
        let probability = 1.0 - f64::EPSILON / 2.0; // 1 − 2^-53
        let limit = power_of_two(256) - power_of_two(203);
        assert!(hash_below_probability(&bytes_of(&(&limit - 1u8)), probability));
        assert!(!hash_below_probability(&bytes_of(&limit), probability));
        assert!(!hash_below_probability(&MAX, probability));
    }

    proptest! {
        #[test]
        fn decomposition_is_exact(probability in 1e-300f64..1.0) {
            let (mantissa, exponent) = decompose(probability);
            prop_assert!(mantissa < 1 << 53);
            prop_assert_eq!(mantissa as f64 * 2f64.powi(exponent), probability);
        }

        #[test]
        fn outcome_switches_exactly_at_the_ceiling_of_probability_times_two_to_the_256(
            probability in prop_oneof![1e-320f64..1e-60, 1e-60f64..1.0],
        ) {
            let limit = threshold(probability);
            prop_assert!(limit > BigUint::from(0u8));
            prop_assert!(hash_below_probability(&bytes_of(&(&limit - 1u8)), probability));
            if limit < power_of_two(256) {
                prop_assert!(!hash_below_probability(&bytes_of(&limit), probability));
            }
        }

        #[test]
        fn a_higher_probability_never_takes_gold_away(
            x in any::<[u8; 32]>(),
            low in 0.0f64..1.0,
            high in 0.0f64..1.0,
        ) {
            let (low, high) = if low <= high { (low, high) } else { (high, low) };
            prop_assert!(!hash_below_probability(&x, low) || hash_below_probability(&x, high));
        }

        #[test]
        fn away_from_the_threshold_the_outcome_agrees_with_floating_point(
            x in any::<[u8; 32]>(),
            probability in 0.0f64..1.0,
        ) {
            let approximate = u64::from_be_bytes(x[..8].try_into().expect("8 bytes")) as f64 / 2f64.powi(64);
            if approximate < probability - 1e-9 {
                prop_assert!(hash_below_probability(&x, probability));
            }
            if approximate > probability + 1e-9 {
                prop_assert!(!hash_below_probability(&x, probability));
            }
        }
    }
}
