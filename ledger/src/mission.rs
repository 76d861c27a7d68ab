//! The `Mission` aggregate: a mission an association publishes for citizens to find (categories,
//! place, dates), and its closing. Mission ids are chosen by the association, so publishing is
//! idempotent.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::LedgerError;
use crate::ids::{CategoryId, PartnerId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissionDetails {
    pub association_id: PartnerId,
    pub title: String,
    pub categories: Vec<CategoryId>,
    pub neighbourhood: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mission {
    details: Option<MissionDetails>,
    published_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    version: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MissionCommand {
    Publish { details: MissionDetails, at: DateTime<Utc> },
    Close { association_id: PartnerId, at: DateTime<Utc> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MissionEvent {
    MissionPublished { details: MissionDetails, published_at: DateTime<Utc> },
    MissionClosed { closed_at: DateTime<Utc> },
}

crate::macros::domain_event!(MissionEvent in "mission" {
    MissionPublished = "1",
    MissionClosed = "1"
} upcasters: crate::codec::no_upcasters);

/// What publishing answered: `replayed` when the same mission was already published identically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publication {
    New,
    AlreadyPublished,
}

impl Mission {
    pub fn details(&self) -> Option<&MissionDetails> {
        self.details.as_ref()
    }

    pub fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.closed_at
    }

    pub fn version(&self) -> usize {
        self.version
    }

    /// Whether publishing `details` again is a retry of what is already there.
    pub fn publication(&self, details: &MissionDetails, what: &str) -> Result<Publication, LedgerError> {
        match &self.details {
            None => Ok(Publication::New),
            Some(existing) if existing == details => Ok(Publication::AlreadyPublished),
            Some(_) => Err(LedgerError::IdConflict { what: what.to_owned() }),
        }
    }

    pub fn decide(&self, command: MissionCommand) -> Result<Vec<MissionEvent>, LedgerError> {
        match command {
            MissionCommand::Publish { details, at } => {
                if self.details.is_some() {
                    return Err(LedgerError::IdConflict { what: "mission_id".to_owned() });
                }
                assert!(details.starts_at < details.ends_at, "mission dates are checked at the edge");
                Ok(vec![MissionEvent::MissionPublished { details, published_at: at }])
            }
            MissionCommand::Close { association_id, at } => {
                let details = self.details.as_ref().ok_or(LedgerError::UnknownMission)?;
                if details.association_id != association_id {
                    return Err(LedgerError::UnknownMission);
                }
                if self.closed_at.is_some() {
                    return Ok(vec![]);
                }
                Ok(vec![MissionEvent::MissionClosed { closed_at: at }])
            }
        }
    }

    pub fn apply_event(&mut self, event: MissionEvent) {
        self.version += 1;
        match event {
            MissionEvent::MissionPublished { details, published_at } => {
                self.details = Some(details);
                self.published_at = Some(published_at);
            }
            MissionEvent::MissionClosed { closed_at } => self.closed_at = Some(closed_at),
        }
    }
}

crate::macros::aggregate!(Mission, MissionCommand, MissionEvent);
