//! The dashboard of under-consumed services: for each offer (or venue) over a period, its uses,
//! the tokens spent, the distinct citizens, the share of its capacity used, and its **reach** in
//! each age band and neighbourhood: distinct users in the band ÷ citizens registered in the band.
//! "The pool reaches 2 % of 15–24 year-olds against 9 % of 25–64" is read off these rows.
//!
//! Computed when asked from the venues' redemptions, the offers and the wallets' demographics,
//! like the participation dashboard: it keeps no copy of its own. Ages and bands are taken at the
//! period's reference time (its end, or now), for users and registered citizens alike, so that a
//! citizen is in one band on both sides of the ratio.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use ygor_ledger::offer::Capacity;
use ygor_ledger::wallet::Holdings;
use ygor_ledger::{CitizenId, OfferId, PartnerId};

use crate::offers::{OfferView, Offers};
use crate::participation::age_band;
use crate::venues::Venues;

/// What a row stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// One row per offer.
    Offer,
    /// One row per venue: its offers together, and its redemptions that named no offer.
    Venue,
}

/// Uses by one public (an age band, a neighbourhood), beside that public's registered citizens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    pub key: String,
    pub uses: u64,
    pub citizens: u64,
    pub registered: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsesRow {
    /// `None` for a venue's row.
    pub offer_id: Option<OfferId>,
    pub venue_id: PartnerId,
    pub uses: u64,
    pub tokens: u64,
    pub citizens: u64,
    /// Uses the offer's capacity allowed in the period (while it was published and running);
    /// `None` for an offer without a capacity, or for a venue's row.
    pub places: Option<u64>,
    pub by_age_band: Vec<Reach>,
    pub by_neighbourhood: Vec<Reach>,
}

/// Registered citizens by age band and neighbourhood at the reference time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registered {
    pub by_age_band: BTreeMap<String, u64>,
    pub by_neighbourhood: BTreeMap<String, u64>,
}

/// The most capacity periods counted for one offer: a day capacity over 30 years.
const PERIODS_MAX: usize = 11_000;

fn publics(holdings: Option<&Holdings>, reference: DateTime<Utc>) -> (&'static str, String) {
    let demographics = holdings.map(Holdings::demographics);
    let band = age_band(demographics.and_then(|d| d.birth_year), reference);
    let neighbourhood = demographics.and_then(|d| d.neighbourhood.as_deref()).unwrap_or("inconnu").to_owned();
    (band, neighbourhood)
}

/// Citizens registered at `reference`, by public.
pub fn registered(wallets: &BTreeMap<CitizenId, Holdings>, reference: DateTime<Utc>) -> Registered {
    let mut registered = Registered::default();
    for holdings in wallets.values().filter(|holdings| holdings.registered_at().is_some_and(|at| at <= reference)) {
        let (band, neighbourhood) = publics(Some(holdings), reference);
        *registered.by_age_band.entry(band.to_owned()).or_default() += 1;
        *registered.by_neighbourhood.entry(neighbourhood).or_default() += 1;
    }
    registered
}

/// How many uses `capacity` allowed while the offer was published and running within
/// `[from, to)`.
fn places(offer: &OfferView, capacity: &Capacity, from: Option<DateTime<Utc>>, to: DateTime<Utc>) -> u64 {
    let start = [Some(offer.published_at), offer.terms.starts_at, from].into_iter().flatten().max();
    let end = [Some(to), offer.terms.ends_at, offer.closed_at].into_iter().flatten().min();
    let (Some(start), Some(end)) = (start, end) else { return 0 };
    let mut periods = 0u64;
    let mut period = capacity.per.start_of(start);
    while period < end && (periods as usize) < PERIODS_MAX {
        periods += 1;
        period = capacity.per.next_start(period);
    }
    periods * u64::from(capacity.count)
}

#[derive(Default)]
struct Tally {
    uses: u64,
    tokens: u64,
    citizens: HashSet<CitizenId>,
    by_band: BTreeMap<&'static str, (u64, BTreeSet<CitizenId>)>,
    by_neighbourhood: BTreeMap<String, (u64, BTreeSet<CitizenId>)>,
}

fn reach<K: AsRef<str>>(
    tallies: BTreeMap<K, (u64, BTreeSet<CitizenId>)>,
    registered: &BTreeMap<String, u64>,
) -> Vec<Reach> {
    // Every public with registered citizens is listed, used or not: a public an offer never
    // reaches is what this dashboard is for.
    let mut rows: BTreeMap<String, Reach> = registered
        .iter()
        .map(|(key, registered)| {
            (key.clone(), Reach { key: key.clone(), uses: 0, citizens: 0, registered: *registered })
        })
        .collect();
    for (key, (uses, citizens)) in tallies {
        let row = rows.entry(key.as_ref().to_owned()).or_insert_with(|| Reach {
            key: key.as_ref().to_owned(),
            uses: 0,
            citizens: 0,
            registered: 0,
        });
        row.uses = uses;
        row.citizens = citizens.len() as u64;
    }
    rows.into_values().collect()
}

/// The rows of the dashboard for redemptions with `from <= redeemed_at < to` (`to` defaults to
/// `reference`), sorted by venue then offer id. Every offer published before `to` has a row,
/// used or not; with [`Grouping::Venue`], every venue with an offer or a redemption.
pub fn rows(
    venues: &Venues,
    offers: &Offers,
    wallets: &BTreeMap<CitizenId, Holdings>,
    grouping: Grouping,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    reference: DateTime<Utc>,
) -> (Vec<UsesRow>, Registered) {
    let to = to.unwrap_or(reference);
    let key = |venue_id: PartnerId, offer_id: Option<OfferId>| match grouping {
        Grouping::Offer => (venue_id, offer_id),
        Grouping::Venue => (venue_id, None),
    };
    let mut tallies: BTreeMap<(PartnerId, Option<OfferId>), Tally> = BTreeMap::new();
    for (offer_id, offer) in offers.offers.iter().filter(|(_, offer)| offer.published_at < to) {
        tallies.entry(key(offer.venue_id, Some(*offer_id))).or_default();
    }
    for (venue_id, book) in &venues.venues {
        for redemption in &book.redemptions {
            if from.is_some_and(|from| redemption.redeemed_at < from) || redemption.redeemed_at >= to {
                continue;
            }
            if grouping == Grouping::Offer && redemption.offer_id.is_none() {
                continue;
            }
            let tally = tallies.entry(key(*venue_id, redemption.offer_id)).or_default();
            let (band, neighbourhood) = publics(wallets.get(&redemption.citizen_id), to);
            tally.uses += 1;
            tally.tokens = tally.tokens.saturating_add(redemption.amount.value());
            tally.citizens.insert(redemption.citizen_id);
            let by_band = tally.by_band.entry(band).or_default();
            by_band.0 += 1;
            by_band.1.insert(redemption.citizen_id);
            let by_neighbourhood = tally.by_neighbourhood.entry(neighbourhood).or_default();
            by_neighbourhood.0 += 1;
            by_neighbourhood.1.insert(redemption.citizen_id);
        }
    }
    let registered = registered(wallets, to);
    let rows = tallies
        .into_iter()
        .map(|((venue_id, offer_id), tally)| UsesRow {
            offer_id,
            venue_id,
            uses: tally.uses,
            tokens: tally.tokens,
            citizens: tally.citizens.len() as u64,
            places: offer_id
                .and_then(|offer_id| offers.offers.get(&offer_id))
                .and_then(|offer| offer.terms.capacity.as_ref().map(|capacity| places(offer, capacity, from, to))),
            by_age_band: reach(tally.by_band, &registered.by_age_band),
            by_neighbourhood: reach(tally.by_neighbourhood, &registered.by_neighbourhood),
        })
        .collect();
    (rows, registered)
}
