//! Offers: what a venue sells for tokens (a pool entry, a theatre seat), with its price, its
//! capacity per day, week or month, the public it is for and the dates it runs. An offer belongs
//! to its venue's `Partner` aggregate: a redemption for an offer already locks that venue, so the
//! capacity is enforced in the same decision that records the redemption, and never overrun by
//! concurrent redemptions.
//!
//! Capacity periods are calendar periods in UTC: a day, an ISO week (from Monday), a month.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::amount::Tokens;
use crate::ids::CategoryId;

/// How often an offer's capacity starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapacityPeriod {
    Day,
    Week,
    Month,
}

impl CapacityPeriod {
    /// The start of the period that contains `at`.
    pub fn start_of(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let date = at.date_naive();
        let first = match self {
            CapacityPeriod::Day => date,
            CapacityPeriod::Week => date - Duration::days(i64::from(date.weekday().num_days_from_monday())),
            CapacityPeriod::Month => date.with_day(1).expect("every month has a first day"),
        };
        midnight(first)
    }

    /// The start of the period after the one that starts at `start`.
    pub fn next_start(self, start: DateTime<Utc>) -> DateTime<Utc> {
        let date = start.date_naive();
        let next = match self {
            CapacityPeriod::Day => date + Duration::days(1),
            CapacityPeriod::Week => date + Duration::days(7),
            CapacityPeriod::Month => date.checked_add_months(chrono::Months::new(1)).expect("dates are bounded"),
        };
        midnight(next)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CapacityPeriod::Day => "day",
            CapacityPeriod::Week => "week",
            CapacityPeriod::Month => "month",
        }
    }
}

fn midnight(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

/// How many uses an offer takes per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    pub count: u32,
    pub per: CapacityPeriod,
}

/// Whom an offer is for. Every bound is optional; an offer without an audience is for everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audience {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_min: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_max: Option<u8>,
    /// Neighbourhood ids; empty means every neighbourhood.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub neighbourhoods: Vec<String>,
}

/// Why a citizen is not in an offer's audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotForYou {
    /// The offer has an age bound and the citizen's birth year is unknown.
    AgeUnknown,
    TooYoung,
    TooOld,
    /// The offer is for some neighbourhoods and the citizen's is another, or unknown.
    Neighbourhood,
}

impl Audience {
    /// Whether a citizen of this age (in whole years, if known) and neighbourhood is in the
    /// audience. Neighbourhoods compare without regard to ASCII case, as missions do.
    pub fn admits(&self, age: Option<u32>, neighbourhood: Option<&str>) -> Result<(), NotForYou> {
        if self.age_min.is_some() || self.age_max.is_some() {
            let age = age.ok_or(NotForYou::AgeUnknown)?;
            if self.age_min.is_some_and(|minimum| age < u32::from(minimum)) {
                return Err(NotForYou::TooYoung);
            }
            if self.age_max.is_some_and(|maximum| age > u32::from(maximum)) {
                return Err(NotForYou::TooOld);
            }
        }
        if !self.neighbourhoods.is_empty() {
            let admitted = neighbourhood
                .is_some_and(|own| self.neighbourhoods.iter().any(|listed| listed.eq_ignore_ascii_case(own)));
            if !admitted {
                return Err(NotForYou::Neighbourhood);
            }
        }
        Ok(())
    }
}

/// What a venue publishes, as checked at the edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferTerms {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<CategoryId>,
    pub price: Tokens,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Audience>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
}

impl OfferTerms {
    /// Whether the offer runs at `at`: after its start (if any) and before its end (if any).
    pub fn runs_at(&self, at: DateTime<Utc>) -> bool {
        self.starts_at.is_none_or(|starts_at| starts_at <= at) && self.ends_at.is_none_or(|ends_at| at < ends_at)
    }
}

/// Uses of an offer in its current capacity period: the period's start and how many were taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodUses {
    pub period_start: Option<DateTime<Utc>>,
    pub used: u32,
}

impl PeriodUses {
    /// The uses in the period of `at` under `capacity`: those counted, if they are of that period.
    pub fn at(&self, capacity: &Capacity, at: DateTime<Utc>) -> u32 {
        if self.period_start == Some(capacity.per.start_of(at)) { self.used } else { 0 }
    }

    /// Counts one more use at `at` (uses arrive in time order: a use in a later period starts
    /// the count again).
    pub fn record(&mut self, capacity: Option<&Capacity>, at: DateTime<Utc>) {
        match capacity {
            Some(capacity) => {
                let start = capacity.per.start_of(at);
                if self.period_start == Some(start) {
                    self.used = self.used.saturating_add(1);
                } else {
                    *self = PeriodUses { period_start: Some(start), used: 1 };
                }
            }
            None => self.used = self.used.saturating_add(1),
        }
    }
}

/// An offer as its venue's aggregate keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferState {
    pub terms: OfferTerms,
    pub published_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub uses: PeriodUses,
    /// The sequence of its `OfferPublished` event: what answers a retry of the publication.
    pub sequence: usize,
}

impl OfferState {
    /// Whether a use at `at` is allowed: not closed, running, and below its capacity.
    pub fn availability(&self, at: DateTime<Utc>) -> Availability {
        availability(&self.terms, self.closed_at, &self.uses, at)
    }
}

/// Whether an offer with these terms, closing and uses takes a use at `at`: the one rule the
/// venue's aggregate decides with and the catalogue shows.
pub fn availability(
    terms: &OfferTerms,
    closed_at: Option<DateTime<Utc>>,
    uses: &PeriodUses,
    at: DateTime<Utc>,
) -> Availability {
    if closed_at.is_some() || !terms.runs_at(at) {
        return Availability::Closed;
    }
    match &terms.capacity {
        Some(capacity) if uses.at(capacity, at) >= capacity.count => Availability::Full,
        _ => Availability::Open,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Open,
    Closed,
    Full,
}

/// A citizen's age in whole years at `at` from their birth year alone: the age they reach during
/// that calendar year, which is how age bands count (a birth date is never asked for).
pub fn age_in(birth_year: Option<i32>, at: DateTime<Utc>) -> Option<u32> {
    birth_year.and_then(|year| u32::try_from(at.year() - year).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("a time").with_timezone(&Utc)
    }

    #[test]
    fn capacity_periods_are_calendar_periods_in_utc() {
        let wednesday = at("2026-07-15T18:30:00Z");
        assert_eq!(CapacityPeriod::Day.start_of(wednesday), at("2026-07-15T00:00:00Z"));
        assert_eq!(CapacityPeriod::Week.start_of(wednesday), at("2026-07-13T00:00:00Z"));
        assert_eq!(CapacityPeriod::Month.start_of(wednesday), at("2026-07-01T00:00:00Z"));
        assert_eq!(CapacityPeriod::Month.next_start(at("2026-12-01T00:00:00Z")), at("2027-01-01T00:00:00Z"));
        assert_eq!(CapacityPeriod::Week.next_start(at("2026-07-13T00:00:00Z")), at("2026-07-20T00:00:00Z"));
    }

    #[test]
    fn uses_count_again_from_zero_in_a_new_period() {
        let capacity = Capacity { count: 2, per: CapacityPeriod::Day };
        let mut uses = PeriodUses::default();
        uses.record(Some(&capacity), at("2026-07-15T09:00:00Z"));
        uses.record(Some(&capacity), at("2026-07-15T10:00:00Z"));
        assert_eq!(uses.at(&capacity, at("2026-07-15T23:59:59Z")), 2);
        assert_eq!(uses.at(&capacity, at("2026-07-16T00:00:00Z")), 0);
        uses.record(Some(&capacity), at("2026-07-16T08:00:00Z"));
        assert_eq!(uses.at(&capacity, at("2026-07-16T09:00:00Z")), 1);
    }

    #[test]
    fn an_offer_at_capacity_is_full_until_its_next_period() {
        let terms = OfferTerms {
            title: "Entrée piscine".to_owned(),
            description: None,
            category: None,
            price: Tokens::new(5),
            capacity: Some(Capacity { count: 1, per: CapacityPeriod::Week }),
            audience: None,
            starts_at: None,
            ends_at: Some(at("2026-09-01T00:00:00Z")),
        };
        let mut offer = OfferState {
            terms,
            published_at: at("2026-07-01T00:00:00Z"),
            closed_at: None,
            uses: PeriodUses::default(),
            sequence: 2,
        };
        assert_eq!(offer.availability(at("2026-07-15T09:00:00Z")), Availability::Open);
        offer.uses.record(offer.terms.capacity.as_ref(), at("2026-07-15T09:00:00Z"));
        assert_eq!(offer.availability(at("2026-07-19T23:00:00Z")), Availability::Full);
        assert_eq!(offer.availability(at("2026-07-20T00:00:00Z")), Availability::Open);
        assert_eq!(offer.availability(at("2026-09-01T00:00:00Z")), Availability::Closed);
    }

    #[test]
    fn the_audience_admits_by_age_and_neighbourhood() {
        let audience = Audience { age_min: Some(15), age_max: Some(24), neighbourhoods: vec!["centre".to_owned()] };
        assert_eq!(audience.admits(Some(18), Some("Centre")), Ok(()));
        assert_eq!(audience.admits(Some(14), Some("centre")), Err(NotForYou::TooYoung));
        assert_eq!(audience.admits(Some(25), Some("centre")), Err(NotForYou::TooOld));
        assert_eq!(audience.admits(None, Some("centre")), Err(NotForYou::AgeUnknown));
        assert_eq!(audience.admits(Some(18), Some("nord")), Err(NotForYou::Neighbourhood));
        assert_eq!(audience.admits(Some(18), None), Err(NotForYou::Neighbourhood));
        assert_eq!(Audience::default().admits(None, None), Ok(()));
        assert_eq!(age_in(Some(2008), at("2026-01-01T00:00:00Z")), Some(18));
        assert_eq!(age_in(Some(2030), at("2026-01-01T00:00:00Z")), None);
    }
}
