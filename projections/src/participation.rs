//! Participation dashboards: certified actions (revoked ones excluded) by category, association,
//! neighbourhood, month of `occurred_at` or age band, with the number of distinct citizens and the
//! tokens they earned.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use ygor_ledger::wallet::{Demographics, WalletEvent};
use ygor_ledger::{ActionId, CategoryId, CitizenId, PartnerId, Tokens};

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionFact {
    pub action_id: ActionId,
    pub citizen_id: CitizenId,
    pub association_id: PartnerId,
    pub category: CategoryId,
    pub occurred_at: DateTime<Utc>,
    pub tokens: Tokens,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub key: String,
    pub actions: u64,
    pub citizens: u64,
    pub tokens: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participation {
    pub facts: Vec<ActionFact>,
    index: BTreeMap<ActionId, usize>,
    pub demographics: BTreeMap<CitizenId, Demographics>,
}

impl Participation {
    pub fn apply(&mut self, citizen_id: CitizenId, event: &WalletEvent) {
        match event {
            WalletEvent::CitizenRegistered { demographics, .. } => {
                self.demographics.insert(citizen_id, demographics.clone());
            }
            WalletEvent::ActionCertified { action_id, association_id, category, occurred_at, tokens, .. } => {
                self.index.insert(*action_id, self.facts.len());
                self.facts.push(ActionFact {
                    action_id: *action_id,
                    citizen_id,
                    association_id: *association_id,
                    category: category.clone(),
                    occurred_at: *occurred_at,
                    tokens: *tokens,
                    revoked: false,
                });
            }
            WalletEvent::CertificationRevoked { action_id, .. } => {
                if let Some(index) = self.index.get(action_id) {
                    self.facts[*index].revoked = true;
                }
            }
            _ => {}
        }
    }

    fn key(&self, fact: &ActionFact, dimension: Dimension, association_names: &BTreeMap<PartnerId, String>) -> String {
        let demographics = self.demographics.get(&fact.citizen_id);
        match dimension {
            Dimension::Category => fact.category.to_string(),
            Dimension::Association => association_names
                .get(&fact.association_id)
                .map(|name| format!("{name} ({})", fact.association_id))
                .unwrap_or_else(|| fact.association_id.to_string()),
            Dimension::Neighbourhood => {
                demographics.and_then(|d| d.neighbourhood.clone()).unwrap_or_else(|| "inconnu".to_owned())
            }
            Dimension::Month => format!("{:04}-{:02}", fact.occurred_at.year(), fact.occurred_at.month()),
            Dimension::AgeBand => age_band(demographics.and_then(|d| d.birth_year), fact.occurred_at).to_owned(),
        }
    }

    /// Rows sorted by key, for actions with `from <= occurred_at < to`.
    pub fn rows(
        &self,
        dimension: Dimension,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        association_names: &BTreeMap<PartnerId, String>,
    ) -> Vec<Row> {
        let mut groups: BTreeMap<String, (u64, BTreeSet<CitizenId>, u64)> = BTreeMap::new();
        for fact in self.facts.iter().filter(|fact| !fact.revoked) {
            if from.is_some_and(|from| fact.occurred_at < from) || to.is_some_and(|to| fact.occurred_at >= to) {
                continue;
            }
            let group = groups.entry(self.key(fact, dimension, association_names)).or_default();
            group.0 += 1;
            group.1.insert(fact.citizen_id);
            group.2 = group.2.saturating_add(fact.tokens.value());
        }
        groups
            .into_iter()
            .map(|(key, (actions, citizens, tokens))| Row { key, actions, citizens: citizens.len() as u64, tokens })
            .collect()
    }
}
