//! The mission guide: missions published by associations, and the ones that match a citizen's
//! interests ("trouver des missions en rapport avec ses centres d'intérêt").

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ygor_ledger::mission::{MissionDetails, MissionEvent};
use ygor_ledger::{CategoryId, MissionId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissionView {
    pub mission_id: MissionId,
    pub details: MissionDetails,
    pub published_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl MissionView {
    /// Open: not closed and not over.
    pub fn is_open_at(&self, now: DateTime<Utc>) -> bool {
        self.closed_at.is_none() && now < self.details.ends_at
    }
}

/// Why a mission matches a citizen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Match<'a> {
    pub mission: &'a MissionView,
    pub shared_interests: Vec<CategoryId>,
    pub same_neighbourhood: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missions {
    pub missions: BTreeMap<MissionId, MissionView>,
}

impl Missions {
    pub fn apply(&mut self, id: MissionId, event: &MissionEvent) {
        match event {
            MissionEvent::MissionPublished { details, published_at } => {
                self.missions.insert(
                    id,
                    MissionView {
                        mission_id: id,
                        details: details.clone(),
                        published_at: *published_at,
                        closed_at: None,
                    },
                );
            }
            MissionEvent::MissionClosed { closed_at } => {
                if let Some(mission) = self.missions.get_mut(&id) {
                    mission.closed_at = Some(*closed_at);
                }
            }
        }
    }

    /// Open missions, soonest first.
    pub fn open_at(&self, now: DateTime<Utc>) -> Vec<&MissionView> {
        let mut open: Vec<&MissionView> = self.missions.values().filter(|mission| mission.is_open_at(now)).collect();
        open.sort_by_key(|mission| (mission.details.starts_at, mission.mission_id));
        open
    }

    /// Open missions sharing at least one category with the interests: the most shared interests
    /// first, then those in the citizen's neighbourhood, then by start date.
    pub fn matching(
        &self,
        interests: &[CategoryId],
        neighbourhood: Option<&str>,
        now: DateTime<Utc>,
    ) -> Vec<Match<'_>> {
        let mut matches: Vec<Match<'_>> = self
            .open_at(now)
            .into_iter()
            .filter_map(|mission| {
                let shared: Vec<CategoryId> = mission
                    .details
                    .categories
                    .iter()
                    .filter(|category| interests.contains(category))
                    .cloned()
                    .collect();
                if shared.is_empty() {
                    return None;
                }
                let same_neighbourhood = match (neighbourhood, mission.details.neighbourhood.as_deref()) {
                    (Some(mine), Some(theirs)) => mine.eq_ignore_ascii_case(theirs),
                    _ => false,
                };
                Some(Match { mission, shared_interests: shared, same_neighbourhood })
            })
            .collect();
        matches.sort_by(|a, b| {
            b.shared_interests
                .len()
                .cmp(&a.shared_interests.len())
                .then(b.same_neighbourhood.cmp(&a.same_neighbourhood))
                .then(a.mission.details.starts_at.cmp(&b.mission.details.starts_at))
                .then(a.mission.mission_id.cmp(&b.mission.mission_id))
        });
        matches
    }
}
