//! Amounts of tokens: whole, never negative, never a float. Arithmetic is checked: an overflow is
//! an error the caller must handle, and a subtraction below zero is impossible by construction.

use std::fmt;
use std::iter::Sum;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;

/// The largest amount one request may carry. Far above any real civic reward, far below overflow,
/// so that sums of many amounts stay exact.
pub const AMOUNT_MAX: u64 = 1_000_000_000_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tokens(u64);

impl Tokens {
    pub const ZERO: Tokens = Tokens(0);

    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// An amount written by a client: strictly positive and at most [`AMOUNT_MAX`].
    pub fn positive(value: u64) -> Result<Self, ParseError> {
        if value == 0 {
            Err(ParseError::new("amount", "must be a whole number of tokens greater than 0"))
        } else if value > AMOUNT_MAX {
            Err(ParseError::new("amount", "must not exceed 1000000000000 tokens"))
        } else {
            Ok(Self(value))
        }
    }

    pub const fn value(self) -> u64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn checked_add(self, other: Tokens) -> Option<Tokens> {
        self.0.checked_add(other.0).map(Tokens)
    }

    pub fn checked_sub(self, other: Tokens) -> Option<Tokens> {
        self.0.checked_sub(other.0).map(Tokens)
    }

    pub fn saturating_sub(self, other: Tokens) -> Tokens {
        Tokens(self.0.saturating_sub(other.0))
    }

    pub fn min(self, other: Tokens) -> Tokens {
        Tokens(self.0.min(other.0))
    }

    /// Adds an amount already known to fit: used when applying events, which were checked when
    /// they were decided. An overflow here means the log is corrupt, so it panics loudly.
    pub fn add_assign_checked(&mut self, other: Tokens) {
        self.0 = self.0.checked_add(other.0).expect("token balance overflow while applying an event");
    }

    /// Subtracts an amount already known to be covered (see [`Tokens::add_assign_checked`]).
    pub fn sub_assign_checked(&mut self, other: Tokens) {
        self.0 = self.0.checked_sub(other.0).expect("token balance would go negative while applying an event");
    }
}

impl fmt::Display for Tokens {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

impl Sum for Tokens {
    fn sum<I: Iterator<Item = Tokens>>(iter: I) -> Self {
        iter.fold(Tokens::ZERO, |total, amount| total.checked_add(amount).expect("token sum overflow"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_oversized_amounts_are_refused() {
        assert!(Tokens::positive(0).is_err());
        assert!(Tokens::positive(AMOUNT_MAX + 1).is_err());
        assert_eq!(Tokens::positive(10).unwrap().value(), 10);
    }

    #[test]
    fn subtraction_below_zero_is_none() {
        assert_eq!(Tokens::new(3).checked_sub(Tokens::new(4)), None);
        assert_eq!(Tokens::new(3).saturating_sub(Tokens::new(4)), Tokens::ZERO);
    }
}
