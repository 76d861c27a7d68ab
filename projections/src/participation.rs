//! Participation dashboards: certified actions (revoked ones excluded) by category, association,
//! neighbourhood, month of `occurred_at` or age band, with the number of distinct citizens and the
//! tokens they earned. Computed when asked from the profiles' registry and the wallets'
//! demographics: the dashboards hold no copy of their own.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use ygor_ledger::wallet::Holdings;
use ygor_ledger::{CategoryId, CitizenId, PartnerId};

use crate::profiles::Profiles;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Category,
    Association,
    Neighbourhood,
    Month,
    AgeBand,
}

impl Dimension {
    pub fn parse(text: &str) -> Option<Dimension> {
        Some(match text {
            "category" => Dimension::Category,
            "association" => Dimension::Association,
            "neighbourhood" => Dimension::Neighbourhood,
            "month" => Dimension::Month,
            "age_band" => Dimension::AgeBand,
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

impl Group<'_> {
    fn key(&self, association_names: &BTreeMap<PartnerId, String>) -> String {
        match self {
            Group::Category(category) => category.to_string(),
            Group::Association(id) => {
                association_names.get(id).map(|name| format!("{name} ({id})")).unwrap_or_else(|| id.to_string())
            }
            Group::Text(text) => (*text).to_owned(),
            Group::Month(year, month) => format!("{year:04}-{month:02}"),
        }
    }
}

/// Rows sorted by key, for the counted actions (certified, not revoked) of every citizen's
/// registry with `from <= occurred_at < to`. The registry is the profiles' (one copy of each
/// action in memory); the demographics are the wallets'. Each action is grouped without building
/// its key: the keys are written once per group.
pub fn rows(
    profiles: &Profiles,
    wallets: &BTreeMap<CitizenId, Holdings>,
    dimension: Dimension,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    association_names: &BTreeMap<PartnerId, String>,
) -> Vec<Row> {
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
        .map(|(group, (actions, citizens, tokens, _))| Row {
            key: group.key(association_names),
            actions,
            citizens,
            tokens,
        })
        .collect();
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    rows
}
