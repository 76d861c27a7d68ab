//! The `Draw` aggregate: a draw of premium prizes. It commits to a seed when it is created,
//! takes citizens' gold tokens as tickets until `closes_at`, and on closing reveals the seed and
//! records the winners drawn from it (see docs/audit.md), so that anyone can re-draw it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::LedgerError;
use crate::ids::CitizenId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrawTerms {
    pub prize: String,
    pub closes_at: DateTime<Utc>,
    pub winners: u32,
    /// Hex SHA-256 of the draw's 32-byte seed.
    pub commitment: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrawResult {
    /// Hex of the revealed seed.
    pub seed: String,
    /// Hex of the RFC 9162 root over the entries (docs/audit.md).
    pub entries_root: String,
    pub winners: Vec<CitizenId>,
    pub closed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Draw {
    terms: Option<DrawTerms>,
    /// Tickets per citizen.
    entries: BTreeMap<CitizenId, u64>,
    result: Option<DrawResult>,
    version: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DrawCommand {
    Create {
        terms: DrawTerms,
        at: DateTime<Utc>,
    },
    /// The draw side of an entry; the gold is spent by the wallet in the same transaction.
    Enter {
        citizen_id: CitizenId,
        tickets: u64,
        at: DateTime<Utc>,
    },
    /// `result` was drawn at the edge from the revealed seed and the recorded entries.
    Close {
        result: DrawResult,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DrawEvent {
    DrawCreated {
        terms: DrawTerms,
        created_at: DateTime<Utc>,
    },
    /// Gold ledger entry's mirror: the wallet's `GoldSpent` of the same transaction.
    EntryRecorded {
        citizen_id: CitizenId,
        tickets: u64,
        entered_at: DateTime<Utc>,
    },
    DrawClosed {
        result: DrawResult,
    },
}

crate::macros::domain_event!(DrawEvent in "draw" {
    DrawCreated = "1",
    EntryRecorded = "1",
    DrawClosed = "1"
} upcasters: crate::codec::no_upcasters);

impl Draw {
    pub fn terms(&self) -> Option<&DrawTerms> {
        self.terms.as_ref()
    }

    pub fn entries(&self) -> &BTreeMap<CitizenId, u64> {
        &self.entries
    }

    pub fn result(&self) -> Option<&DrawResult> {
        self.result.as_ref()
    }

    pub fn version(&self) -> usize {
        self.version
    }

    pub fn decide(&self, command: DrawCommand) -> Result<Vec<DrawEvent>, LedgerError> {
        match command {
            DrawCommand::Create { terms, at } => {
                if self.terms.is_some() {
                    return Err(LedgerError::IdConflict { what: "draw_id".to_owned() });
                }
                Ok(vec![DrawEvent::DrawCreated { terms, created_at: at }])
            }
            DrawCommand::Enter { citizen_id, tickets, at } => {
                let terms = self.terms.as_ref().ok_or(LedgerError::UnknownDraw)?;
                if self.result.is_some() || at >= terms.closes_at {
                    return Err(LedgerError::DrawClosed);
                }
                assert!(tickets > 0, "an entry has at least one ticket");
                Ok(vec![DrawEvent::EntryRecorded { citizen_id, tickets, entered_at: at }])
            }
            DrawCommand::Close { result } => {
                let terms = self.terms.as_ref().ok_or(LedgerError::UnknownDraw)?;
                if self.result.is_some() {
                    return Ok(vec![]);
                }
                if result.closed_at < terms.closes_at {
                    return Err(LedgerError::DrawOpen);
                }
                Ok(vec![DrawEvent::DrawClosed { result }])
            }
        }
    }

    pub fn apply_event(&mut self, event: DrawEvent) {
        self.version += 1;
        match event {
            DrawEvent::DrawCreated { terms, .. } => self.terms = Some(terms),
            DrawEvent::EntryRecorded { citizen_id, tickets, .. } => {
                *self.entries.entry(citizen_id).or_default() += tickets
            }
            DrawEvent::DrawClosed { result } => self.result = Some(result),
        }
    }
}

crate::macros::aggregate!(Draw, DrawCommand, DrawEvent);
