//! Read models, rebuilt from the event log and kept up to date by tailing it in position order.
//!
//! Every read model is a pure function of the log: the runner applies each event exactly once, in
//! position order, and readers can wait until a given position is applied (read-your-writes).
//! The read models live in memory, so reads never touch the database. Every `snapshot_every`
//! events the runner writes a snapshot of all of them together with the position they include,
//! made visible in one transaction: the state and its checkpoint can never disagree, so a crash at any point neither
//! loses nor doubles an event. A start loads the snapshot and replays only the events after it
//! (or replays from position 0 when there is none, or when its format is older). The books check
//! conservation after every event and stop the runner loudly if it ever fails.

pub mod audit;
pub mod directory;
pub mod missions;
pub mod offer_uses;
pub mod offers;
pub mod participation;
pub mod profiles;
#[cfg(test)]
mod replay_tests;
mod runner;
mod snapshot;
pub mod venues;
pub mod verify;

pub use runner::{rebuild, start};
pub use snapshot::save_snapshot;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use ygor_ledger::books::{AnyEvent, Books, Circulation};
use ygor_ledger::draw::DrawEvent;
use ygor_ledger::partner::PartnerEvent;
use ygor_ledger::territory::TerritoryEvent;
use ygor_ledger::wallet::Holdings;
use ygor_ledger::{CitizenId, Draw, DrawId, PartnerId, PartnerKind};
use ygor_rules::Rules;

use crate::audit::AuditTrail;
use crate::directory::Directory;
use crate::missions::Missions;
use crate::offers::Offers;
use crate::profiles::Profiles;
use crate::runner::DecodedEvent;
use crate::venues::Venues;
use ygor_store::{Position, StoreError, StoredEvent};

/// How many events one read of the log returns.
const PAGE: usize = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("event at position {position} does not decode: {message}")]
    Decode { position: Position, message: String },
    #[error("snapshot: {0}")]
    Snapshot(String),
    #[error("conservation violated at position {position}: {message}")]
    Conservation { position: Position, message: String },
}

/// All read models, as of `position`. Every field is a pure function of the log up to there; all
/// maps are ordered, so two replays serialise identically.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadModels {
    pub position: Position,
    pub books: Books,
    /// The rules in force, for badges.
    pub rules: Option<Rules>,
    /// Partners' kind and name, for dashboards and lists.
    pub partners: BTreeMap<PartnerId, (PartnerKind, String)>,
    /// Wallets as the citizen sees them: the holdings the `Wallet` aggregate folds to (its
    /// decision-only state, the registry of actions and the used vouchers, is not kept here).
    pub wallets: BTreeMap<CitizenId, Holdings>,
    pub profiles: Profiles,
    pub missions: Missions,
    pub venues: Venues,
    /// The offers venues published, with their uses.
    pub offers: Offers,
    /// (next expiry, citizen) of every wallet with a lot still holding tokens that the sweep has
    /// not written off ([`Holdings::next_expiry`]): where the expiry sweep looks. One entry per
    /// wallet, not one per lot.
    pub expiries: BTreeSet<(DateTime<Utc>, CitizenId)>,
    /// The Merkle tree over the log, for checkpoints and proofs.
    pub audit: AuditTrail,
    /// Draws as their aggregate folds them: terms, entries, result.
    pub draws: BTreeMap<DrawId, Draw>,
    /// Rule versions, partners' status and envelope flows, draws in creation order: for lists.
    pub directory: Directory,
    /// The draws each citizen won, by the position of the event that closed them: a won draw is
    /// not in the winner's wallet stream, and its history shows it among the wallet's events by
    /// that position.
    pub draws_won: BTreeMap<CitizenId, BTreeSet<(Position, DrawId)>>,
}

/// An event this process appended, handed to its projections by the engine with its position
/// once committed: the stored form (for the audit leaf) and the typed event the engine decided
/// (applied as it is, not decoded again from JSON). Applying it has the same effect as applying
/// the same event read back from the log.
#[derive(Debug, Clone)]
pub struct FedEvent {
    pub position: Position,
    pub stored: ygor_store::NewEvent,
    pub event: AnyEvent,
}

impl ReadModels {
    pub fn circulation(&self) -> Circulation {
        self.books.circulation()
    }

    /// Applies an event fed by the engine: the same effect as [`ReadModels::apply_recorded`] on
    /// the event read back.
    pub fn apply_fed(&mut self, fed: FedEvent) -> Result<(), ProjectionError> {
        let position = fed.position;
        let leaf_hash = audit::appended_leaf_hash(position, &fed.stored)
            .map_err(|error| ProjectionError::Decode { position, message: error.to_string() })?;
        self.audit.push_leaf_hash(position, leaf_hash);
        self.apply(position, fed.event)
    }

    /// Applies one stored event: its Merkle leaf, then its effect on every read model.
    pub fn apply_recorded(&mut self, recorded: &ygor_store::RecordedEvent) -> Result<(), ProjectionError> {
        let position = recorded.position;
        let event = ygor_ledger::codec::decode_serialized(&recorded.event)
            .map_err(|error| ProjectionError::Decode { position, message: error.to_string() })?;
        self.audit
            .append(recorded)
            .map_err(|error| ProjectionError::Decode { position, message: error.to_string() })?;
        self.apply(position, event)
    }

    /// Applies one event read with [`EventLog::read_stored_after`]: the same effect as
    /// [`ReadModels::apply_recorded`] on the same event read with [`EventLog::read_after`].
    pub fn apply_stored(&mut self, stored: &StoredEvent) -> Result<(), ProjectionError> {
        self.apply_decoded(DecodedEvent::from_stored(stored)?)
    }

    /// Applies an event decoded and hashed already: its Merkle leaf, then its effect.
    pub(crate) fn apply_decoded(&mut self, decoded: DecodedEvent) -> Result<(), ProjectionError> {
        self.audit.push_leaf_hash(decoded.position, decoded.leaf_hash);
        self.apply(decoded.position, decoded.event)
    }

    /// Applies one event; fails (and the runner stops) if conservation breaks.
    pub fn apply(&mut self, position: Position, event: AnyEvent) -> Result<(), ProjectionError> {
        self.books
            .post(&event)
            .map_err(|error| ProjectionError::Conservation { position, message: error.to_string() })?;
        if let Some(association) = self.directory.apply(&event) {
            // The envelope's running totals and its balance in the books must tell the same story.
            let held = self.books.balance(ygor_ledger::books::Account::Envelope(association));
            let flows = self.directory.envelope(association);
            if flows.balance() != Some(held) {
                return Err(ProjectionError::Conservation {
                    position,
                    message: format!("envelope of {association}: the books hold {held} but its flows give {flows:?}"),
                });
            }
        }
        match event {
            AnyEvent::Territory(TerritoryEvent::RulesPublished { rules, .. }) => self.rules = Some(rules),
            AnyEvent::Territory(_) => {}
            AnyEvent::Partner(partner_id, event) => {
                if let PartnerEvent::PartnerRegistered { kind, name, .. } = &event {
                    self.partners.insert(partner_id, (*kind, name.clone()));
                }
                self.venues.apply(partner_id, &event);
                self.offers.apply(partner_id, &event);
            }
            AnyEvent::Mission(mission_id, event) => self.missions.apply(mission_id, &event),
            AnyEvent::Draw(draw_id, event) => {
                if let DrawEvent::DrawClosed { result } = &event {
                    for winner in &result.winners {
                        self.draws_won.entry(*winner).or_default().insert((position, draw_id));
                    }
                }
                self.draws.entry(draw_id).or_default().apply_event(event)
            }
            AnyEvent::Wallet(citizen_id, event) => {
                self.profiles.apply(citizen_id, &event, self.rules.as_ref());
                let wallet = self.wallets.entry(citizen_id).or_default();
                let before = wallet.next_expiry();
                wallet.apply(&event);
                let after = wallet.next_expiry();
                if before != after {
                    if let Some(before) = before {
                        self.expiries.remove(&(before, citizen_id));
                    }
                    if let Some(after) = after {
                        self.expiries.insert((after, citizen_id));
                    }
                }
            }
        }
        self.position = position;
        Ok(())
    }

    /// Citizens holding a lot that expired at or before `now` and was not swept yet.
    pub fn wallets_with_expired_lots(&self, now: DateTime<Utc>) -> Vec<CitizenId> {
        let mut found: Vec<CitizenId> = self
            .expiries
            .iter()
            .take_while(|(expires_at, _)| *expires_at <= now)
            .map(|(_, citizen)| *citizen)
            .filter(|citizen| self.wallets.get(citizen).is_some_and(|wallet| !wallet.expired_unswept(now).is_empty()))
            .collect();
        found.sort();
        found.dedup();
        found
    }

    /// The participation dashboard along `dimension`, for actions with `from <= occurred_at < to`
    /// (redemptions with `from <= redeemed_at < to` by venue).
    pub fn participation(
        &self,
        dimension: participation::Dimension,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Vec<participation::Row> {
        participation::rows(&self.profiles, &self.wallets, &self.venues, dimension, from, to, &self.partners)
    }

    /// A partner's name, empty for an id no partner has.
    pub fn partner_name(&self, id: &PartnerId) -> String {
        self.partners.get(id).map(|(_, name)| name.clone()).unwrap_or_default()
    }

    /// Association names, for dashboards.
    pub fn association_names(&self) -> BTreeMap<PartnerId, String> {
        self.partners
            .iter()
            .filter(|(_, (kind, _))| *kind == PartnerKind::Association)
            .map(|(id, (_, name))| (*id, name.clone()))
            .collect()
    }
}

/// A handle on the live read models, shared by the HTTP handlers.
#[derive(Clone)]
pub struct Projections {
    models: Arc<RwLock<ReadModels>>,
    applied: watch::Receiver<Position>,
}

impl Projections {
    /// Reads the read models under a short read lock.
    pub fn read<T>(&self, reader: impl FnOnce(&ReadModels) -> T) -> T {
        let models = self.models.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        reader(&models)
    }

    pub fn applied(&self) -> Position {
        *self.applied.borrow()
    }

    /// Waits until the projections have applied `position`, at most `timeout`; false on timeout.
    pub async fn wait_for(&self, position: Position, timeout: Duration) -> bool {
        let mut applied = self.applied.clone();
        tokio::time::timeout(timeout, applied.wait_for(|applied| *applied >= position))
            .await
            .is_ok_and(|result| result.is_ok())
    }
}

/// The name of the read models' snapshot, and the shape of its body: bump the format whenever
/// `ReadModels` changes shape, so that an old snapshot is ignored rather than misread.
pub const SNAPSHOT_NAME: &str = "read_models";
pub const SNAPSHOT_FORMAT: i32 = 15;

/// How the runner follows the log.
#[derive(Debug, Clone, Copy)]
pub struct RunnerOptions {
    /// Longest sleep without a wake-up, for writers in other processes.
    pub idle_poll: Duration,
    /// Write a snapshot after this many applied events.
    pub snapshot_every: usize,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        // Replaying up to a million events at a start takes seconds (docs/performance.md), while
        // each snapshot of a large log stalls the runner (and, on SQLite, the writer) for as long.
        Self { idle_poll: Duration::from_millis(500), snapshot_every: 1_000_000 }
    }
}
