//! ISO 8601 durations (`P6M`, `P1Y2M10DT2H30M`, `PT30S`) as the rules file writes them.
//!
//! A duration is kept component by component rather than as a number of seconds, because "six
//! months" is a calendar length: a lot issued on 31 January with a lifetime of `P1M` expires on the
//! last day of February, not 30 days later. [`IsoDuration::add_to`] does that calendar arithmetic.

use std::fmt;

use chrono::{DateTime, Days, Months, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative ISO 8601 duration, kept as the components it was written with.
///
/// Every combination of components is a valid duration, so the fields are public; `P7D` and `P1W`
/// are different values (they print differently) even though they last as long.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct IsoDuration {
    pub years: u32,
    pub months: u32,
    pub weeks: u32,
    pub days: u32,
    pub hours: u32,
    pub minutes: u32,
    pub seconds: u32,
}

/// Why a text is not an ISO 8601 duration this crate accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("a duration must start with `P` (ISO 8601), e.g. \"P6M\" or \"PT30S\"")]
    MissingPrefix,
    #[error("a duration cannot be negative")]
    Negative,
    #[error("a duration needs at least one component after `P`, e.g. \"P6M\" or \"PT30S\"")]
    NoComponent,
    #[error("`T` must be followed by hours, minutes or seconds, e.g. \"PT30S\"")]
    EmptyTimePart,
    #[error("fractions are not accepted; use a smaller unit (\"PT90M\" rather than \"PT1.5H\")")]
    Fraction,
    #[error("`{designator}` must follow a number, e.g. \"P6M\"")]
    MissingNumber { designator: char },
    #[error("a number must be followed by a unit: Y, M, W or D, or H, M or S after `T`")]
    MissingDesignator,
    #[error("`{designator}` is repeated or out of order; write the parts as PnYnMnWnDTnHnMnS")]
    OutOfOrder { designator: char },
    #[error("`{designator}` belongs after `T`, e.g. \"PT2{designator}\"")]
    TimeUnitBeforeT { designator: char },
    #[error("`{designator}` belongs before `T`, e.g. \"P2{designator}\"")]
    DateUnitAfterT { designator: char },
    #[error("the number before `{designator}` is too large")]
    TooLarge { designator: char },
    #[error("unexpected character `{found}` in a duration")]
    UnexpectedCharacter { found: char },
}

/// The designators allowed before `T`, in the order ISO 8601 writes them.
const DATE_DESIGNATORS: [char; 4] = ['Y', 'M', 'W', 'D'];
/// The designators allowed after `T`, in the order ISO 8601 writes them.
const TIME_DESIGNATORS: [char; 3] = ['H', 'M', 'S'];

impl IsoDuration {
    /// The duration of no time at all (not a valid rules value; a base for the others).
    pub const ZERO: IsoDuration =
        IsoDuration { years: 0, months: 0, weeks: 0, days: 0, hours: 0, minutes: 0, seconds: 0 };

    /// Parses an ISO 8601 duration such as `P6M`, `P1Y2M10DT2H30M`, `P2W` or `PT30S`.
    ///
    /// Refuses an empty duration (`P`, `PT`), a sign, fractions, lowercase designators, spaces and
    /// parts out of order, so that a duration has exactly one spelling per value of its parts.
    pub fn parse(text: &str) -> Result<IsoDuration, DurationError> {
        let Some(rest) = text.strip_prefix('P') else {
            return Err(if text.starts_with('-') { DurationError::Negative } else { DurationError::MissingPrefix });
        };
        let (date_text, time_text) = match rest.split_once('T') {
            Some((date_text, time_text)) => (date_text, Some(time_text)),
            None => (rest, None),
        };
        let date = parse_components(date_text, &DATE_DESIGNATORS, |designator| {
            TIME_DESIGNATORS.contains(&designator).then_some(DurationError::TimeUnitBeforeT { designator })
        })?;
        let time = match time_text {
            Some(time_text) => {
                let time = parse_components(time_text, &TIME_DESIGNATORS, |designator| {
                    if designator == 'T' {
                        Some(DurationError::UnexpectedCharacter { found: 'T' })
                    } else {
                        DATE_DESIGNATORS.contains(&designator).then_some(DurationError::DateUnitAfterT { designator })
                    }
                })?;
                if time.iter().all(Option::is_none) {
                    return Err(DurationError::EmptyTimePart);
                }
                time
            }
            None => {
                if date.iter().all(Option::is_none) {
                    return Err(DurationError::NoComponent);
                }
                [None; 3]
            }
        };
        let [years, months, weeks, days] = date.map(|part| part.unwrap_or(0));
        let [hours, minutes, seconds] = time.map(|part| part.unwrap_or(0));
        Ok(IsoDuration { years, months, weeks, days, hours, minutes, seconds })
    }

    /// Adds this duration to `start` the way a calendar does: years and months first (a month
    /// after 31 January is the last day of February), then weeks and days, then hours, minutes and
    /// seconds. `None` when the result is out of chrono's range.
    pub fn add_to(&self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let months = self.years.checked_mul(12)?.checked_add(self.months)?;
        let days = u64::from(self.weeks) * 7 + u64::from(self.days);
        let seconds = i64::from(self.hours) * 3600 + i64::from(self.minutes) * 60 + i64::from(self.seconds);
        start
            .checked_add_months(Months::new(months))?
            .checked_add_days(Days::new(days))?
            .checked_add_signed(TimeDelta::try_seconds(seconds)?)
    }

    /// Whether every component is zero (`P0D`, `PT0S`): such a duration lasts no time at all.
    pub fn is_zero(&self) -> bool {
        *self == IsoDuration::default()
    }
}

/// Parses the parts of one side of `T`: digits then a designator, designators in `order`, each at
/// most once. `misplaced` names the error for a designator that belongs to the other side.
fn parse_components<const N: usize>(
    text: &str,
    order: &[char; N],
    misplaced: impl Fn(char) -> Option<DurationError>,
) -> Result<[Option<u32>; N], DurationError> {
    let mut parts = [None; N];
    let mut next_allowed = 0;
    let mut number: Option<u32> = None;
    for (index, character) in text.char_indices() {
        // `to_digit` only knows ASCII digits, so "P١D" is refused below as an unexpected character.
        if let Some(digit) = character.to_digit(10) {
            let value = number.unwrap_or(0);
            number = Some(
                value
                    .checked_mul(10)
                    .and_then(|value| value.checked_add(digit))
                    .ok_or_else(|| DurationError::TooLarge { designator: next_designator(&text[index..], order) })?,
            );
            continue;
        }
        match character {
            '.' | ',' => return Err(DurationError::Fraction),
            '-' => return Err(DurationError::Negative),
            _ => {}
        }
        let Some(position) = order.iter().position(|&designator| designator == character) else {
            return Err(misplaced(character).unwrap_or(DurationError::UnexpectedCharacter { found: character }));
        };
        let Some(value) = number.take() else {
            return Err(DurationError::MissingNumber { designator: character });
        };
        if position < next_allowed {
            return Err(DurationError::OutOfOrder { designator: character });
        }
        parts[position] = Some(value);
        next_allowed = position + 1;
    }
    if number.is_some() {
        return Err(DurationError::MissingDesignator);
    }
    Ok(parts)
}

/// The first designator in `text`, to name the part whose number overflowed.
fn next_designator<const N: usize>(text: &str, order: &[char; N]) -> char {
    text.chars().find(|character| order.contains(character)).unwrap_or('?')
}

impl fmt::Display for IsoDuration {
    /// Writes the canonical form: the non-zero parts in ISO order, `PT0S` for a zero duration.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return formatter.write_str("PT0S");
        }
        formatter.write_str("P")?;
        for (value, designator) in [(self.years, 'Y'), (self.months, 'M'), (self.weeks, 'W'), (self.days, 'D')] {
            if value != 0 {
                write!(formatter, "{value}{designator}")?;
            }
        }
        if self.hours != 0 || self.minutes != 0 || self.seconds != 0 {
            formatter.write_str("T")?;
            for (value, designator) in [(self.hours, 'H'), (self.minutes, 'M'), (self.seconds, 'S')] {
                if value != 0 {
                    write!(formatter, "{value}{designator}")?;
                }
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for IsoDuration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        IsoDuration::parse(text)
    }
}

impl Serialize for IsoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IsoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        IsoDuration::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(year: i32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(year, month, day, hour, minute, second).single().expect("a valid test instant")
    }

    fn duration(text: &str) -> IsoDuration {
        IsoDuration::parse(text).expect("a valid test duration")
    }

    #[test]
    fn every_documented_spelling_parses_into_its_components() {
        assert_eq!(duration("P6M"), IsoDuration { months: 6, ..IsoDuration::default() });
        assert_eq!(
            duration("P1Y2M10DT2H30M"),
            IsoDuration { years: 1, months: 2, days: 10, hours: 2, minutes: 30, ..IsoDuration::default() }
        );
        assert_eq!(duration("P2W"), IsoDuration { weeks: 2, ..IsoDuration::default() });
        assert_eq!(duration("PT30S"), IsoDuration { seconds: 30, ..IsoDuration::default() });
        assert_eq!(duration("PT5S"), IsoDuration { seconds: 5, ..IsoDuration::default() });
    }

    #[test]
    fn month_and_minute_share_a_letter_but_not_a_side_of_t() {
        assert_eq!(duration("P1M").months, 1);
        assert_eq!(duration("P1M").minutes, 0);
        assert_eq!(duration("PT1M").minutes, 1);
        assert_eq!(duration("PT1M").months, 0);
    }

    #[test]
    fn malformed_durations_are_refused_with_a_reason() {
        let cases = [
            ("", DurationError::MissingPrefix),
            ("P", DurationError::NoComponent),
            ("PT", DurationError::EmptyTimePart),
            ("P1DT", DurationError::EmptyTimePart),
            ("-P1D", DurationError::Negative),
            ("P-1D", DurationError::Negative),
            ("P1.5D", DurationError::Fraction),
            ("PT0,5S", DurationError::Fraction),
            ("6M", DurationError::MissingPrefix),
            ("p6m", DurationError::MissingPrefix),
            ("P6m", DurationError::UnexpectedCharacter { found: 'm' }),
            ("P6", DurationError::MissingDesignator),
            ("PM", DurationError::MissingNumber { designator: 'M' }),
            ("P1D1Y", DurationError::OutOfOrder { designator: 'Y' }),
            ("P1M1M", DurationError::OutOfOrder { designator: 'M' }),
            ("P1H", DurationError::TimeUnitBeforeT { designator: 'H' }),
            ("PT1D", DurationError::DateUnitAfterT { designator: 'D' }),
            ("PT1HT1M", DurationError::UnexpectedCharacter { found: 'T' }),
            ("P 6M", DurationError::UnexpectedCharacter { found: ' ' }),
            ("P6M ", DurationError::UnexpectedCharacter { found: ' ' }),
            ("six months", DurationError::MissingPrefix),
            ("P99999999999D", DurationError::TooLarge { designator: 'D' }),
            ("P١D", DurationError::UnexpectedCharacter { found: '١' }),
        ];
        for (text, expected) in cases {
            assert_eq!(IsoDuration::parse(text), Err(expected), "parsing {text:?}");
        }
    }

    #[test]
    fn display_writes_the_canonical_form_that_parses_back_to_the_same_duration() {
        for text in ["P6M", "P1Y2M10DT2H30M", "P2W", "PT30S", "PT5S", "P1Y2M3W4DT5H6M7S", "PT4294967295S"] {
            let parsed = duration(text);
            assert_eq!(parsed.to_string(), text);
            assert_eq!(duration(&parsed.to_string()), parsed);
        }
    }

    #[test]
    fn zero_parts_are_dropped_from_the_canonical_form() {
        assert_eq!(duration("P0Y6M0DT0H").to_string(), "P6M");
        assert_eq!(duration("P0D").to_string(), "PT0S");
        assert_eq!(duration(&duration("P0D").to_string()), duration("P0D"));
    }

    #[test]
    fn a_duration_of_zero_parts_is_zero_and_any_other_is_not() {
        assert!(duration("P0D").is_zero());
        assert!(duration("PT0S").is_zero());
        assert!(!duration("PT1S").is_zero());
        assert!(!duration("P1Y").is_zero());
    }

    #[test]
    fn a_month_after_january_31_is_the_last_day_of_february() {
        assert_eq!(duration("P1M").add_to(at(2026, 1, 31, 9, 0, 0)), Some(at(2026, 2, 28, 9, 0, 0)));
        assert_eq!(duration("P1M").add_to(at(2028, 1, 31, 9, 0, 0)), Some(at(2028, 2, 29, 9, 0, 0)));
    }

    #[test]
    fn six_months_after_august_31_is_the_last_day_of_february() {
        assert_eq!(duration("P6M").add_to(at(2025, 8, 31, 0, 0, 0)), Some(at(2026, 2, 28, 0, 0, 0)));
    }

    #[test]
    fn years_and_months_are_added_together_before_days_and_time() {
        // 29 February 2024 + 13 months is 29 March 2025; adding the year first would clamp to
        // 28 February and end on 28 March.
        assert_eq!(duration("P1Y1M").add_to(at(2024, 2, 29, 0, 0, 0)), Some(at(2025, 3, 29, 0, 0, 0)));
        // 31 January + 1 month is 28 February, then one day is 1 March.
        assert_eq!(duration("P1M1D").add_to(at(2026, 1, 31, 0, 0, 0)), Some(at(2026, 3, 1, 0, 0, 0)));
    }

    #[test]
    fn weeks_days_and_time_add_up_exactly() {
        assert_eq!(duration("P1W2DT3H4M5S").add_to(at(2026, 12, 25, 22, 0, 0)), Some(at(2027, 1, 4, 1, 4, 5)));
        assert_eq!(duration("PT30S").add_to(at(2026, 1, 1, 0, 0, 50)), Some(at(2026, 1, 1, 0, 1, 20)));
    }

    #[test]
    fn adding_past_the_calendar_range_is_none_rather_than_a_panic() {
        let huge = IsoDuration { years: u32::MAX, ..IsoDuration::default() };
        assert_eq!(huge.add_to(at(2026, 1, 1, 0, 0, 0)), None);
        assert_eq!(duration("P300000Y").add_to(at(2026, 1, 1, 0, 0, 0)), None);
        assert_eq!(duration("PT1S").add_to(DateTime::<Utc>::MAX_UTC), None);
    }

    #[test]
    fn serde_writes_the_iso_text_and_reads_it_back() {
        let lifetime = duration("P1Y2M10DT2H30M");
        let json = serde_json::to_string(&lifetime).expect("serializes");
        assert_eq!(json, "\"P1Y2M10DT2H30M\"");
        assert_eq!(serde_json::from_str::<IsoDuration>(&json).expect("deserializes"), lifetime);
    }

    #[test]
    fn serde_refuses_a_text_that_is_not_a_duration() {
        assert!(serde_json::from_str::<IsoDuration>("\"6 months\"").is_err());
        assert!(serde_json::from_str::<IsoDuration>("180").is_err());
    }
}
