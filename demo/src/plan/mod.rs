//! The plan: everything that will happen during the year, decided before anything is written.
//!
//! Who lives where, who does what, when and where, all comes from the seeded [`Random`] streams,
//! relative to the month the demo runs in; the simulation then only carries the plan out. This
//! module plans the citizens and their ordinary life (actions, visits to venues, revocations);
//! [`calendar`] plans the territory's calendar (the big days, the bike challenge, the missions and
//! the draws).

mod calendar;

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeDelta, TimeZone, Utc, Weekday};
use ygor_ledger::{ActionId, CitizenId, DrawId, LotId, MissionId, PartnerId, RedemptionId, VoucherId};

use crate::DemoError;
use crate::random::{Part, Random};
use crate::territory::{
    ASSOCIATIONS, CATEGORIES, NEIGHBOURHOODS, RulesChange, VELO, VENUES, affinity, rules_changes, seasonality,
    venue_appeal,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// Registered, never certified (except, rarely, at a big event).
    Inactive,
    Occasional,
    Regular,
    VeryActive,
}

impl Level {
    /// Ordinary actions per month, before seasons.
    fn monthly_actions(self) -> f64 {
        match self {
            Level::Inactive => 0.0,
            Level::Occasional => 0.15,
            Level::Regular => 0.7,
            Level::VeryActive => 1.8,
        }
    }

    /// How likely the citizen joins a big event, relative to the base rate.
    fn event_factor(self) -> f64 {
        match self {
            Level::Inactive => 0.3,
            Level::Occasional => 1.0,
            Level::Regular => 1.5,
            Level::VeryActive => 2.0,
        }
    }

    /// The chance the citizen spends tokens at venues at all, and visits per month if so.
    fn redemption_habit(self) -> (f64, f64) {
        match self {
            Level::Inactive => (0.0, 0.0),
            Level::Occasional => (0.25, 0.45),
            Level::Regular => (0.6, 0.6),
            Level::VeryActive => (0.85, 0.8),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CitizenPlan {
    pub(crate) id: CitizenId,
    pub(crate) neighbourhood: &'static str,
    pub(crate) birth_year: i32,
    pub(crate) age: i32,
    pub(crate) interests: Vec<&'static str>,
    pub(crate) level: Level,
    pub(crate) registration_day: usize,
    pub(crate) registered_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct CertificationPlan {
    pub(crate) citizen: usize,
    pub(crate) association: usize,
    pub(crate) category: &'static str,
    pub(crate) quantity: u64,
    pub(crate) occurred_at: DateTime<Utc>,
    pub(crate) at: DateTime<Utc>,
    pub(crate) action_id: ActionId,
    pub(crate) lot_id: LotId,
}

#[derive(Debug, Clone)]
pub(crate) struct RedemptionPlan {
    pub(crate) citizen: usize,
    pub(crate) venue: usize,
    /// Which offer the citizen would like, and whether they take two (drawn in advance so that
    /// the concurrent execution draws nothing).
    pub(crate) wish: u64,
    pub(crate) at: DateTime<Utc>,
    pub(crate) redemption_id: RedemptionId,
    pub(crate) voucher_id: VoucherId,
}

#[derive(Debug, Clone)]
pub(crate) struct RevocationPlan {
    pub(crate) association: usize,
    pub(crate) action_id: ActionId,
    pub(crate) reason: &'static str,
    pub(crate) at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct InterestChange {
    pub(crate) citizen: usize,
    pub(crate) interests: Vec<&'static str>,
    pub(crate) at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct MissionPlan {
    pub(crate) id: MissionId,
    pub(crate) association: usize,
    pub(crate) title: String,
    pub(crate) categories: Vec<&'static str>,
    pub(crate) neighbourhood: Option<&'static str>,
    pub(crate) starts_at: DateTime<Utc>,
    pub(crate) ends_at: DateTime<Utc>,
    pub(crate) published_at: DateTime<Utc>,
    pub(crate) closed_at: Option<DateTime<Utc>>,
}

/// A draw of premium prizes among the citizens' gold tokens.
#[derive(Debug, Clone)]
pub(crate) struct DrawPlan {
    pub(crate) id: DrawId,
    pub(crate) prize: &'static str,
    pub(crate) winners: u32,
    pub(crate) created_at: DateTime<Utc>,
    /// When the citizens who hold gold tokens enter it.
    pub(crate) entries_at: DateTime<Utc>,
    pub(crate) closes_at: DateTime<Utc>,
    pub(crate) closed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
pub(crate) struct DayPlan {
    pub(crate) registrations: Vec<usize>,
    pub(crate) redemptions: Vec<RedemptionPlan>,
    pub(crate) certifications: Vec<CertificationPlan>,
    pub(crate) revocations: Vec<RevocationPlan>,
    pub(crate) interest_changes: Vec<InterestChange>,
    pub(crate) missions_published: Vec<usize>,
    pub(crate) missions_closed: Vec<usize>,
    pub(crate) rules_changes: Vec<usize>,
    pub(crate) draws_created: Vec<usize>,
    pub(crate) draws_entered: Vec<usize>,
    pub(crate) draws_closed: Vec<usize>,
}

/// An action of a citizen, before its time of day is drawn.
struct Action {
    citizen: usize,
    association: usize,
    category: &'static str,
    quantity: u64,
    day: usize,
    /// The hours of the day it may start in.
    hours: (i64, i64),
}

pub(crate) struct Plan {
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    pub(crate) days: Vec<DayPlan>,
    pub(crate) rules: Vec<RulesChange>,
    pub(crate) citizens: Vec<CitizenPlan>,
    pub(crate) missions: Vec<MissionPlan>,
    pub(crate) draws: Vec<DrawPlan>,
    pub(crate) partner_ids: Vec<PartnerId>,
    /// Upper bound of the tokens each association certifies, per month since the start.
    pub(crate) envelope_needs: Vec<Vec<u64>>,
    pub(crate) certifications: usize,
    pub(crate) redemption_attempts: usize,
    pub(crate) revocations: usize,
}

impl Plan {
    fn start_date(&self) -> NaiveDate {
        self.start.date_naive()
    }

    pub(crate) fn day(&self, date: NaiveDate) -> Option<usize> {
        let offset = (date - self.start_date()).num_days();
        usize::try_from(offset).ok().filter(|day| *day < self.days.len())
    }

    pub(crate) fn date(&self, day: usize) -> NaiveDate {
        self.start_date() + TimeDelta::days(day as i64)
    }

    pub(crate) fn time(&self, day: usize, hour: i64, minute: i64, second: i64) -> DateTime<Utc> {
        self.start
            + TimeDelta::days(day as i64)
            + TimeDelta::hours(hour)
            + TimeDelta::minutes(minute)
            + TimeDelta::seconds(second)
    }

    pub(crate) fn month(&self, date: NaiveDate) -> usize {
        let start = self.start_date();
        let months = (date.year() - start.year()) * 12 + date.month() as i32 - start.month() as i32;
        usize::try_from(months).expect("plan dates are not before the start")
    }

    fn month_count(&self) -> usize {
        self.month(self.end.date_naive()) + 1
    }

    /// The first and last day of a month of the plan, clamped to the plan.
    fn month_days(&self, month: usize) -> (usize, usize) {
        let first = self.start_date() + Months::new(month as u32);
        let last = first + Months::new(1) - TimeDelta::days(1);
        let first_day = self.day(first).expect("a month of the plan starts inside it");
        let last_day = self.day(last).unwrap_or(self.days.len() - 1);
        (first_day, last_day)
    }

    /// The dates with this month and day of month in the simulated year (after its first day).
    fn dates(&self, month: u32, day: u32) -> Vec<NaiveDate> {
        self.years()
            .filter_map(|year| NaiveDate::from_ymd_opt(year, month, day))
            .filter(|date| self.inside(*date))
            .collect()
    }

    /// The n-th Saturdays of a month in the simulated year.
    fn saturdays(&self, month: u32, nths: &[u8]) -> Vec<NaiveDate> {
        let mut dates = Vec::new();
        for year in self.years() {
            for nth in nths {
                if let Some(date) = NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sat, *nth)
                    && self.inside(date)
                {
                    dates.push(date);
                }
            }
        }
        dates
    }

    fn years(&self) -> impl Iterator<Item = i32> {
        self.start.year()..=self.end.year()
    }

    fn inside(&self, date: NaiveDate) -> bool {
        date > self.start_date() && date <= self.end.date_naive()
    }

    /// Adds the certification of an action; it is certified a few hours after it occurred.
    fn add_certification(&mut self, random: &mut Random, action: Action) {
        let Action { citizen, association, category, quantity, day, hours } = action;
        let occurred_at = self.time(day, random.between(hours.0, hours.1), random.between(0, 59), 0);
        if occurred_at > self.end {
            return;
        }
        let latest = self.time(day, 23, 30, 0).min(self.end);
        let at =
            (occurred_at + TimeDelta::minutes(random.between(20, 300)) + TimeDelta::seconds(random.between(0, 59)))
                .min(latest);
        let needed = self
            .rules
            .iter()
            .filter_map(|change| change.rules.category(category).and_then(|rule| rule.tokens_for(quantity)))
            .max()
            .unwrap_or(0);
        let month = self.month(at.date_naive());
        self.envelope_needs[month][association] += needed;
        let certification = CertificationPlan {
            citizen,
            association,
            category,
            quantity,
            occurred_at,
            at,
            action_id: ActionId::from_uuid(random.uuid()),
            lot_id: LotId::from_uuid(random.uuid()),
        };
        self.days[day].certifications.push(certification);
        self.certifications += 1;
    }
}

/// Decides the whole year. `now` is the end of the simulated year; it starts on the first day of
/// the same month a year earlier.
pub(crate) fn plan(seed: u64, citizen_count: usize, now: DateTime<Utc>) -> Result<Plan, DemoError> {
    let end = DateTime::from_timestamp(now.timestamp(), 0).expect("a whole second of now is a valid time");
    let start = Utc
        .with_ymd_and_hms(end.year() - 1, end.month(), 1, 0, 0, 0)
        .single()
        .expect("the first of a month at midnight exists");
    let day_count = (end.date_naive() - start.date_naive()).num_days() as usize + 1;
    let mut partner_random = Random::new(seed, Part::Partners, 0);
    let mut plan = Plan {
        start,
        end,
        days: (0..day_count).map(|_| DayPlan::default()).collect(),
        rules: rules_changes(start, end)?,
        citizens: Vec::with_capacity(citizen_count),
        missions: Vec::new(),
        draws: Vec::new(),
        partner_ids: (0..ASSOCIATIONS.len() + VENUES.len())
            .map(|_| PartnerId::from_uuid(partner_random.uuid()))
            .collect(),
        envelope_needs: Vec::new(),
        certifications: 0,
        redemption_attempts: 0,
        revocations: 0,
    };
    plan.envelope_needs = vec![vec![0; ASSOCIATIONS.len()]; plan.month_count()];
    // The first version is published before anything else (see `build`).
    for (index, change) in plan.rules.iter().enumerate().skip(1) {
        let day = plan.day(change.at.date_naive()).expect("rules change inside the year");
        plan.days[day].rules_changes.push(index);
    }
    plan_citizens(&mut plan, seed, citizen_count);
    plan_activity(&mut plan, seed);
    calendar::plan_events(&mut plan, seed);
    calendar::plan_bike_challenge(&mut plan, seed);
    plan_revocations(&mut plan, seed);
    plan_redemptions(&mut plan, seed);
    calendar::plan_missions(&mut plan, seed);
    calendar::plan_draws(&mut plan, seed);
    Ok(plan)
}

fn plan_citizens(plan: &mut Plan, seed: u64, citizen_count: usize) {
    let last_day = plan.days.len() - 1;
    let launch_days = 45.min(last_day);
    for index in 0..citizen_count {
        let mut random = Random::new(seed, Part::Citizens, index as u64);
        // A bulge of 15–25 year-olds (the "Jeunes en ville" instance), then fewer over 75.
        let age = if random.chance(0.35) {
            // Ages are at the end of the year: nobody is under 15 when the year starts.
            random.between(16, 25) as i32
        } else {
            loop {
                let age = random.between(26, 85) as i32;
                if age <= 75 || random.chance(0.5) {
                    break age;
                }
            }
        };
        let neighbourhood = NEIGHBOURHOODS[random.weighted(&NEIGHBOURHOODS.map(|(_, share)| share))].0;
        let level = [Level::Inactive, Level::Occasional, Level::Regular, Level::VeryActive]
            [random.weighted(&[20.0, 50.0, 22.0, 8.0])];
        let interest_count = random.weighted(&[20.0, 35.0, 30.0, 15.0]);
        let mut interests: Vec<&'static str> = Vec::new();
        while interests.len() < interest_count {
            let weights =
                CATEGORIES.map(|category| if interests.contains(&category) { 0.0 } else { affinity(category, age) });
            interests.push(CATEGORIES[random.weighted(&weights)]);
        }
        // Most register during the launch campaign, the others along the year.
        let registration_day = if random.chance(0.55) {
            random.between(0, launch_days as i64) as usize
        } else {
            random.between(0, (last_day.saturating_sub(7)) as i64) as usize
        };
        let registered_at = plan
            .time(registration_day, random.between(8, 20), random.between(0, 59), random.between(0, 59))
            .min(plan.end);
        plan.days[registration_day].registrations.push(index);
        // Some change their mind about their interests later on.
        if random.chance(0.06) && registration_day + 30 < last_day {
            let day = random.between(registration_day as i64 + 30, last_day as i64) as usize;
            let mut changed = interests.clone();
            if changed.len() == 3 || (!changed.is_empty() && random.chance(0.3)) {
                changed.remove(random.below(changed.len() as u64) as usize);
            } else {
                let weights =
                    CATEGORIES.map(|category| if changed.contains(&category) { 0.0 } else { affinity(category, age) });
                changed.push(CATEGORIES[random.weighted(&weights)]);
            }
            let at = plan.time(day, random.between(7, 22), random.between(0, 59), 0);
            if at <= plan.end {
                plan.days[day].interest_changes.push(InterestChange { citizen: index, interests: changed, at });
            }
        }
        plan.citizens.push(CitizenPlan {
            id: CitizenId::from_uuid(random.uuid()),
            neighbourhood,
            birth_year: plan.end.year() - age,
            age,
            interests,
            level,
            registration_day,
            registered_at,
        });
    }
}

/// The association that certifies a citizen's action in a category: a big one, or one of their
/// neighbourhood.
fn pick_association(random: &mut Random, category: &str, neighbourhood: &str) -> usize {
    let weights: Vec<f64> = ASSOCIATIONS
        .iter()
        .map(|spec| {
            let weight =
                spec.categories.iter().find(|(id, _)| *id == category).map(|(_, weight)| *weight).unwrap_or(0.0);
            let local = match spec.neighbourhood {
                Some(place) if place == neighbourhood => 3.0,
                Some(_) => 0.5,
                None => 1.0,
            };
            weight * spec.size * local
        })
        .collect();
    random.weighted(&weights)
}

/// Ordinary life: each citizen's actions month by month, by interest, age and season.
fn plan_activity(plan: &mut Plan, seed: u64) {
    for index in 0..plan.citizens.len() {
        let citizen = plan.citizens[index].clone();
        let mut random = Random::new(seed, Part::Activity, index as u64);
        let preferences = CATEGORIES.map(|category| {
            affinity(category, citizen.age) * if citizen.interests.contains(&category) { 4.0 } else { 1.0 }
        });
        let total: f64 = preferences.iter().sum();
        for month in 0..plan.month_count() {
            let (first_day, last_day) = plan.month_days(month);
            let from = first_day.max(citizen.registration_day + 1);
            if from > last_day {
                continue;
            }
            let calendar_month = plan.date(first_day).month();
            let part = (last_day + 1 - from) as f64 / 30.0;
            for (category, preference) in CATEGORIES.iter().zip(preferences) {
                let mean =
                    citizen.level.monthly_actions() * preference / total * seasonality(category, calendar_month) * part;
                for _ in 0..random.poisson(mean) {
                    let day = random.between(from as i64, last_day as i64) as usize;
                    let association = pick_association(&mut random, category, citizen.neighbourhood);
                    let quantity = if *category == VELO { random.between(3, 25) as u64 } else { 1 };
                    let action = Action { citizen: index, association, category, quantity, day, hours: (8, 18) };
                    plan.add_certification(&mut random, action);
                }
            }
        }
    }
}

/// A few certifications turn out to be mistakes and are revoked some days later.
fn plan_revocations(plan: &mut Plan, seed: u64) {
    const REASONS: [&str; 4] =
        ["Action saisie deux fois", "Erreur de bénéficiaire", "Action annulée (intempéries)", "Présence non confirmée"];
    let mut random = Random::new(seed, Part::Revocations, 0);
    let candidates: Vec<(usize, usize, ActionId, DateTime<Utc>)> = plan
        .days
        .iter()
        .flat_map(|day| &day.certifications)
        .map(|certification| {
            (certification.citizen, certification.association, certification.action_id, certification.at)
        })
        .collect();
    let mut chosen: Vec<usize> = (0..candidates.len()).filter(|_| random.chance(0.003)).collect();
    // Even a small demo shows a couple of revocations.
    let mut attempts = 0;
    while chosen.len() < 2 && chosen.len() < candidates.len() && attempts < 100 {
        attempts += 1;
        let pick = random.below(candidates.len() as u64) as usize;
        if !chosen.contains(&pick) {
            chosen.push(pick);
        }
    }
    chosen.sort_unstable();
    for pick in chosen {
        let (_, association, action_id, certified_at) = candidates[pick];
        let Some(certified_day) = plan.day(certified_at.date_naive()) else { continue };
        let day = certified_day + random.between(1, 10) as usize;
        if day >= plan.days.len() {
            continue;
        }
        let at = plan.time(day, random.between(9, 17), random.between(0, 59), 0);
        if at > plan.end {
            continue;
        }
        let reason = REASONS[random.below(REASONS.len() as u64) as usize];
        plan.days[day].revocations.push(RevocationPlan { association, action_id, reason, at });
        plan.revocations += 1;
    }
}

/// About a third of the citizens spend their tokens at venues, mostly at a favourite one.
fn plan_redemptions(plan: &mut Plan, seed: u64) {
    for index in 0..plan.citizens.len() {
        let citizen = plan.citizens[index].clone();
        let mut random = Random::new(seed, Part::Redemptions, index as u64);
        let (probability, visits) = citizen.level.redemption_habit();
        if !random.chance(probability) {
            continue;
        }
        let favourite = random.weighted(
            &VENUES
                .iter()
                .map(|venue| venue_appeal(venue, 1, citizen.age) + venue_appeal(venue, 7, citizen.age))
                .collect::<Vec<_>>(),
        );
        for month in 0..plan.month_count() {
            let (first_day, last_day) = plan.month_days(month);
            let from = first_day.max(citizen.registration_day + 3);
            if from > last_day {
                continue;
            }
            let calendar_month = plan.date(first_day).month();
            for _ in 0..random.poisson(visits) {
                let day = random.between(from as i64, last_day as i64) as usize;
                let venue = if random.chance(0.65) {
                    favourite
                } else {
                    random.weighted(
                        &VENUES
                            .iter()
                            .map(|venue| venue_appeal(venue, calendar_month, citizen.age))
                            .collect::<Vec<_>>(),
                    )
                };
                let at = plan.time(day, random.between(10, 19), random.between(0, 59), random.between(0, 59));
                let wish = random.bits();
                let redemption_id = RedemptionId::from_uuid(random.uuid());
                let voucher_id = VoucherId::from_uuid(random.uuid());
                if at <= plan.end {
                    plan.days[day].redemptions.push(RedemptionPlan {
                        citizen: index,
                        venue,
                        wish,
                        at,
                        redemption_id,
                        voucher_id,
                    });
                    plan.redemption_attempts += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::territory::{ECOLOGIE, SOLIDARITE};

    #[test]
    fn the_same_seed_plans_the_same_year() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 1, 15, 7).single().expect("a valid time");
        let first = plan(7, 200, now).expect("plan");
        let second = plan(7, 200, now).expect("plan");
        let summary = |plan: &Plan| {
            plan.days
                .iter()
                .flat_map(|day| day.certifications.iter().map(|c| (c.action_id, c.at, c.quantity, c.association)))
                .collect::<Vec<_>>()
        };
        assert_eq!(summary(&first), summary(&second));
        assert_eq!(first.redemption_attempts, second.redemption_attempts);
        let other = plan(8, 200, now).expect("plan");
        assert_ne!(summary(&first), summary(&other));
    }

    #[test]
    fn the_plan_spans_a_year_with_seasons_and_a_winter_rule_change() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 1, 15, 7).single().expect("a valid time");
        let plan = plan(1, 500, now).expect("plan");
        assert_eq!(plan.start, Utc.with_ymd_and_hms(2025, 11, 1, 0, 0, 0).single().expect("valid"));
        assert_eq!(plan.rules.len(), 3, "sample rules, winter rules, sample rules again");
        let certifications: Vec<&CertificationPlan> = plan.days.iter().flat_map(|day| &day.certifications).collect();
        assert!(certifications.iter().all(|c| c.occurred_at <= c.at && c.at <= plan.end));
        let in_month = |category: &str, month: u32| {
            certifications.iter().filter(|c| c.category == category && c.occurred_at.month() == month).count()
        };
        assert!(in_month(VELO, 7) > 3 * in_month(VELO, 1), "the bike challenge is in July");
        assert!(in_month(SOLIDARITE, 12) > in_month(SOLIDARITE, 8), "solidarity peaks in winter");
        assert!(in_month(ECOLOGIE, 4) > in_month(ECOLOGIE, 1), "cleanups are in spring");
        let young = plan.citizens.iter().filter(|citizen| (15..=25).contains(&citizen.age)).count();
        assert!(young * 4 > plan.citizens.len(), "a bulge of 15–25 year-olds");
        assert!(plan.citizens.iter().all(|citizen| (15..=85).contains(&citizen.age) && citizen.interests.len() <= 3));
    }
}
