//! Participation dashboards: certified actions (revoked ones excluded) by category, association,
//! neighbourhood, month of `occurred_at` or age band, with the number of distinct citizens and the
//! tokens they earned; and redemptions by venue, with the distinct citizens who redeemed there and
//! the tokens they spent. Computed when asked from the profiles' registry, the wallets'
//! demographics and the venues' books: the dashboards hold no copy of their own.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use ygor_ledger::wallet::Holdings;
use ygor_ledger::{CategoryId, CitizenId, PartnerId, PartnerKind};

use crate::profiles::Profiles;
use crate::venues::Venues;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Category,
    Association,
    Neighbourhood,
    Month,
    AgeBand,
    /// Redemptions rather than actions, by the venue where they were made.
    Venue,
}

impl Dimension {
    pub fn parse(text: &str) -> Option<Dimension> {
        Some(match text {
            "category" => Dimension::Category,
            "association" => Dimension::Association,
            "neighbourhood" => Dimension::Neighbourhood,
            "month" => Dimension::Month,
            "age_band" => Dimension::AgeBand,
            "venue" => Dimension::Venue,
            _ => return None,
        })
    }
}

/// Age bands at the time of the action.
pub fn age_band(birth_year: Option<i32>, occurred_at: DateTime<Utc>) -> &'static str {
    let Some(birth_year) = birth_year else {
        return "inconnu";
    };
    match occurred_at.year() - birth_year {
        age if age < 15 => "0-14",
        age if age < 25 => "15-24",
        age if age < 35 => "25-34",
        age if age < 50 => "35-49",
        age if age < 65 => "50-64",
        _ => "65+",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub key: String,
    pub actions: u64,
    pub citizens: u64,
    pub tokens: u64,
}

/// An action's group along a dimension, before it is written out as a row's key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Group<'a> {
    Category(&'a CategoryId),
    Association(PartnerId),
    Text(&'a str),
    Month(i32, u32),
}

/// The partners' kind and name, by id, as the read models keep them.
pub type PartnerNames = BTreeMap<PartnerId, (PartnerKind, String)>;

/// A partner's row key: `name (id)`, or the id alone for a partner the log never named.
fn partner_key(partners: &PartnerNames, id: PartnerId) -> String {
    partners.get(&id).map(|(_, name)| format!("{name} ({id})")).unwrap_or_else(|| id.to_string())
}

impl Group<'_> {
    fn key(&self, partners: &PartnerNames) -> String {
        match self {
            Group::Category(category) => category.to_string(),
            Group::Association(id) => partner_key(partners, *id),
            Group::Text(text) => (*text).to_owned(),
            Group::Month(year, month) => format!("{year:04}-{month:02}"),
        }
    }
}

/// Rows sorted by key: for [`Dimension::Venue`] the venues' redemptions with
/// `from <= redeemed_at < to` ([`redemption_rows`]), for every other dimension the counted actions
/// (certified, not revoked) of every citizen's registry with `from <= occurred_at < to`. The
/// registry is the profiles' (one copy of each action in memory); the demographics are the
/// wallets'. Each action is grouped without building its key: the keys are written once per group.
#[allow(clippy::too_many_arguments, reason = "the read models this dashboard reads, and its query")]
pub fn rows(
    profiles: &Profiles,
    wallets: &BTreeMap<CitizenId, Holdings>,
    venues: &Venues,
    dimension: Dimension,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    partners: &PartnerNames,
) -> Vec<Row> {
    if dimension == Dimension::Venue {
        return redemption_rows(venues, from, to, partners);
    }
    // (actions, citizens, tokens, the last citizen counted): citizens come one after the other,
    // so a group counts a citizen when it first sees one of their actions.
    let mut groups: HashMap<Group<'_>, (u64, u64, u64, usize)> = HashMap::new();
    for (rank, (citizen_id, profile)) in profiles.profiles.iter().enumerate() {
        let demographics = wallets.get(citizen_id).map(Holdings::demographics);
        let neighbourhood = demographics.and_then(|d| d.neighbourhood.as_deref()).unwrap_or("inconnu");
        let birth_year = demographics.and_then(|d| d.birth_year);
        for action in profile.counted() {
            if from.is_some_and(|from| action.occurred_at < from) || to.is_some_and(|to| action.occurred_at >= to) {
                continue;
            }
            let group = match dimension {
                Dimension::Category => Group::Category(profiles.category(action)),
                Dimension::Association => Group::Association(profiles.association(action)),
                Dimension::Neighbourhood => Group::Text(neighbourhood),
                Dimension::Month => Group::Month(action.occurred_at.year(), action.occurred_at.month()),
                Dimension::AgeBand => Group::Text(age_band(birth_year, action.occurred_at)),
                Dimension::Venue => unreachable!("redemptions are counted by redemption_rows, above"),
            };
            let entry = groups.entry(group).or_insert((0, 0, 0, usize::MAX));
            entry.0 += 1;
            if entry.3 != rank {
                entry.1 += 1;
                entry.3 = rank;
            }
            entry.2 = entry.2.saturating_add(action.tokens.value());
        }
    }
    let mut rows: Vec<Row> = groups
        .into_iter()
        .map(|(group, (actions, citizens, tokens, _))| Row { key: group.key(partners), actions, citizens, tokens })
        .collect();
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    rows
}

/// One row per venue with a redemption with `from <= redeemed_at < to`, sorted by key (`name
/// (id)`): `actions` counts its redemptions, `citizens` the distinct citizens who redeemed there,
/// `tokens` the tokens redeemed.
pub fn redemption_rows(
    venues: &Venues,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    partners: &PartnerNames,
) -> Vec<Row> {
    let mut rows: Vec<Row> = venues
        .venues
        .iter()
        .filter_map(|(venue_id, book)| {
            let mut citizens = HashSet::new();
            let (mut redemptions, mut tokens) = (0_u64, 0_u64);
            let in_period = book.redemptions.iter().filter(|redemption| {
                from.is_none_or(|from| redemption.redeemed_at >= from)
                    && to.is_none_or(|to| redemption.redeemed_at < to)
            });
            for redemption in in_period {
                redemptions += 1;
                tokens = tokens.saturating_add(redemption.amount.value());
                citizens.insert(redemption.citizen_id);
            }
            (redemptions > 0).then(|| Row {
                key: partner_key(partners, *venue_id),
                actions: redemptions,
                citizens: citizens.len() as u64,
                tokens,
            })
        })
        .collect();
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    rows
}

#[cfg(test)]
mod tests {
    use ygor_ledger::partner::{PartnerEvent, RedemptionRecord, SignedRequest};
    use ygor_ledger::{RedemptionId, Tokens, VoucherId};

    use super::*;

    /// A fixed UUID, the `n`th of the tests.
    fn uuid(n: u8) -> String {
        format!("3f2504e0-4f89-41d3-9a0c-0305e82c33{n:02}")
    }

    fn at(hour: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + i64::from(hour) * 3_600, 0).expect("a time")
    }

    fn redeem(venues: &mut Venues, venue: PartnerId, citizen: CitizenId, amount: u64, hour: u32) {
        let record = RedemptionRecord {
            redemption_id: RedemptionId::parse(&uuid(10 + hour as u8)).expect("an id"),
            citizen_id: citizen,
            voucher_id: VoucherId::parse(&uuid(20 + hour as u8)).expect("an id"),
            amount: Tokens::new(amount),
            signature: "sig".to_owned(),
            request: SignedRequest::none(),
            fingerprint: "f".to_owned(),
            voucher: "voucher".to_owned(),
            offer_id: None,
        };
        venues.apply(venue, &PartnerEvent::RedemptionRecorded { record, redeemed_at: at(hour) });
    }

    #[test]
    fn redemptions_are_counted_by_venue_with_distinct_citizens_within_the_period() {
        let (pool, theatre) = (PartnerId::parse(&uuid(1)).expect("an id"), PartnerId::parse(&uuid(2)).expect("an id"));
        let (ada, bob) = (CitizenId::parse(&uuid(3)).expect("an id"), CitizenId::parse(&uuid(4)).expect("an id"));
        let mut venues = Venues::default();
        redeem(&mut venues, pool, ada, 3, 1);
        redeem(&mut venues, pool, ada, 2, 2);
        redeem(&mut venues, pool, bob, 4, 3);
        redeem(&mut venues, theatre, bob, 5, 4);
        let partners: PartnerNames = [(pool, (PartnerKind::Venue, "Piscine".to_owned()))].into();
        let row = |key: String, actions, citizens, tokens| Row { key, actions, citizens, tokens };
        let mut expected = vec![row(format!("Piscine ({pool})"), 3, 2, 9), row(theatre.to_string(), 1, 1, 5)];
        expected.sort_by(|a, b| a.key.cmp(&b.key));
        assert_eq!(redemption_rows(&venues, None, None, &partners), expected);
        assert_eq!(
            redemption_rows(&venues, Some(at(2)), Some(at(4)), &partners),
            [row(format!("Piscine ({pool})"), 2, 2, 6)],
            "from is inclusive, to exclusive, and a venue with nothing in the period has no row"
        );
    }
}
