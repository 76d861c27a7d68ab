//! Participation dashboards: certified actions (revoked ones excluded) by category, association,
//! neighbourhood, month of `occurred_at` or age band, with the number of distinct citizens and the
//! tokens they earned. Computed when asked from the profiles' registry and the wallets'
//! demographics: the dashboards hold no copy of their own.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use ygor_ledger::wallet::Holdings;
use ygor_ledger::{CitizenId, PartnerId};

use crate::profiles::{ProfileAction, Profiles};

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

/// The key of an action's group along `dimension`.
fn key(
    citizen: Option<&Holdings>,
    action: &ProfileAction,
    dimension: Dimension,
    association_names: &BTreeMap<PartnerId, String>,
) -> String {
    let demographics = citizen.map(Holdings::demographics);
    match dimension {
        Dimension::Category => action.category.to_string(),
        Dimension::Association => association_names
            .get(&action.association_id)
            .map(|name| format!("{name} ({})", action.association_id))
            .unwrap_or_else(|| action.association_id.to_string()),
        Dimension::Neighbourhood => {
            demographics.and_then(|d| d.neighbourhood.clone()).unwrap_or_else(|| "inconnu".to_owned())
        }
        Dimension::Month => format!("{:04}-{:02}", action.occurred_at.year(), action.occurred_at.month()),
        Dimension::AgeBand => age_band(demographics.and_then(|d| d.birth_year), action.occurred_at).to_owned(),
    }
}

/// Rows sorted by key, for the counted actions (certified, not revoked) of every citizen's
/// registry with `from <= occurred_at < to`. The registry is the profiles' (one copy of each
/// action in memory); the demographics are the wallets'.
pub fn rows(
    profiles: &Profiles,
    wallets: &BTreeMap<CitizenId, Holdings>,
    dimension: Dimension,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    association_names: &BTreeMap<PartnerId, String>,
) -> Vec<Row> {
    let mut groups: BTreeMap<String, (u64, BTreeSet<CitizenId>, u64)> = BTreeMap::new();
    for (citizen_id, profile) in &profiles.profiles {
        let citizen = wallets.get(citizen_id);
        for action in profile.counted() {
            if from.is_some_and(|from| action.occurred_at < from) || to.is_some_and(|to| action.occurred_at >= to) {
                continue;
            }
            let group = groups.entry(key(citizen, action, dimension, association_names)).or_default();
            group.0 += 1;
            group.1.insert(*citizen_id);
            group.2 = group.2.saturating_add(action.tokens.value());
        }
    }
    groups
        .into_iter()
        .map(|(key, (actions, citizens, tokens))| Row { key, actions, citizens: citizens.len() as u64, tokens })
        .collect()
}
