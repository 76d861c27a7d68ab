//! Read models, rebuilt from the event log and kept up to date by tailing it in position order.
//!
//! Every read model is a pure function of the log: the runner applies each event exactly once, in
//! position order, and readers can wait until a given position is applied (read-your-writes).
//! The read models live in memory, so reads never touch the database. Every `snapshot_every`
//! events the runner writes a snapshot of all of them together with the position they include, in
//! one statement: the state and its checkpoint can never disagree, so a crash at any point neither
//! loses nor doubles an event. A start loads the snapshot and replays only the events after it
//! (or replays from position 0 when there is none, or when its format is older). The books check
//! conservation after every event and stop the runner loudly if it ever fails.

pub mod audit;
pub mod missions;
pub mod participation;
pub mod profiles;
pub mod venues;
pub mod verify;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use ygor_ledger::books::{AnyEvent, Books, Circulation};
use ygor_ledger::partner::PartnerEvent;
use ygor_ledger::territory::TerritoryEvent;
use ygor_ledger::wallet::WalletEvent;
use ygor_ledger::{CitizenId, Draw, DrawId, PartnerId, PartnerKind, Wallet};
use ygor_rules::Rules;

use crate::audit::AuditTrail;
use crate::missions::Missions;
use crate::participation::Participation;
use crate::profiles::Profiles;
use crate::venues::Venues;
use ygor_store::{EventLog, Position, Snapshot, StoreError};

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
    /// Wallets as the citizen sees them: the same state the `Wallet` aggregate folds to.
    pub wallets: BTreeMap<CitizenId, Wallet>,
    pub profiles: Profiles,
    pub missions: Missions,
    pub participation: Participation,
    pub venues: Venues,
    /// (expiry, citizen) of every lot ever issued: where the expiry sweep looks.
    pub expiries: BTreeSet<(DateTime<Utc>, CitizenId)>,
    /// The Merkle tree over the log, for checkpoints and proofs.
    pub audit: AuditTrail,
    /// Draws as their aggregate folds them: terms, entries, result.
    pub draws: BTreeMap<DrawId, Draw>,
}

impl ReadModels {
    pub fn circulation(&self) -> Circulation {
        self.books.circulation()
    }

    /// Applies one stored event: its Merkle leaf, then its effect on every read model.
    pub fn apply_recorded(&mut self, recorded: &ygor_store::RecordedEvent) -> Result<(), ProjectionError> {
        let position = recorded.position;
        let event = AnyEvent::decode(&recorded.event)
            .map_err(|error| ProjectionError::Decode { position, message: error.to_string() })?;
        self.audit
            .append(recorded)
            .map_err(|error| ProjectionError::Decode { position, message: error.to_string() })?;
        self.apply(position, event)
    }

    /// Applies one event; fails (and the runner stops) if conservation breaks.
    pub fn apply(&mut self, position: Position, event: AnyEvent) -> Result<(), ProjectionError> {
        self.books
            .post(&event)
            .map_err(|error| ProjectionError::Conservation { position, message: error.to_string() })?;
        match event {
            AnyEvent::Territory(TerritoryEvent::RulesPublished { rules, .. }) => self.rules = Some(rules),
            AnyEvent::Territory(_) => {}
            AnyEvent::Partner(partner_id, event) => {
                if let PartnerEvent::PartnerRegistered { kind, name, .. } = &event {
                    self.partners.insert(partner_id, (*kind, name.clone()));
                }
                self.venues.apply(partner_id, &event);
            }
            AnyEvent::Mission(mission_id, event) => self.missions.apply(mission_id, &event),
            AnyEvent::Draw(draw_id, event) => self.draws.entry(draw_id).or_default().apply_event(event),
            AnyEvent::Wallet(citizen_id, event) => {
                if let WalletEvent::ActionCertified { lot: Some(lot), .. } = &event {
                    self.expiries.insert((lot.expires_at, citizen_id));
                }
                self.profiles.apply(citizen_id, &event, self.rules.as_ref());
                self.participation.apply(citizen_id, &event);
                self.wallets.entry(citizen_id).or_default().apply_event(event);
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
pub const SNAPSHOT_FORMAT: i32 = 4;

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
        Self { idle_poll: Duration::from_millis(500), snapshot_every: 100_000 }
    }
}

/// The read models serialised with the position they include.
fn snapshot_of(models: &ReadModels) -> Result<Snapshot, ProjectionError> {
    let body = postcard::to_stdvec(models).map_err(|error| ProjectionError::Snapshot(error.to_string()))?;
    Ok(Snapshot { name: SNAPSHOT_NAME.to_owned(), position: models.position, format: SNAPSHOT_FORMAT, body })
}

/// Writes the read models and the position they include, atomically.
pub async fn save_snapshot(log: &EventLog, models: &ReadModels) -> Result<(), ProjectionError> {
    log.save_snapshot(&snapshot_of(models)?).await?;
    Ok(())
}

/// The read models from the latest usable snapshot, or empty ones.
async fn load_snapshot(log: &EventLog) -> Result<ReadModels, ProjectionError> {
    let Some(snapshot) = log.load_snapshot(SNAPSHOT_NAME).await? else {
        return Ok(ReadModels::default());
    };
    if snapshot.format != SNAPSHOT_FORMAT {
        tracing::info!(format = snapshot.format, "ignoring a read-model snapshot of another format; replaying the log");
        return Ok(ReadModels::default());
    }
    match postcard::from_bytes::<ReadModels>(&snapshot.body) {
        Ok(models) if models.position == snapshot.position => Ok(models),
        Ok(_) | Err(_) => {
            tracing::warn!("the read-model snapshot does not decode; replaying the log");
            Ok(ReadModels::default())
        }
    }
}

/// How long a rebuild or a start waits for in-flight transactions below the last committed
/// position to end before it reads.
const SAFE_WAIT: Duration = Duration::from_secs(60);

/// Replays the whole log, as committed when it starts, into fresh read models.
pub async fn rebuild(log: &EventLog) -> Result<ReadModels, ProjectionError> {
    let target = log.last_position().await?;
    log.wait_until_safe(target, SAFE_WAIT).await?;
    let mut models = ReadModels::default();
    catch_up(log, &mut models).await?;
    Ok(models)
}

async fn catch_up(log: &EventLog, models: &mut ReadModels) -> Result<usize, ProjectionError> {
    let mut total = 0;
    loop {
        let page = log.read_after(models.position, PAGE).await?;
        let count = page.len();
        for recorded in &page {
            models.apply_recorded(recorded)?;
        }
        total += count;
        if count < PAGE {
            return Ok(total);
        }
    }
}

/// Starts the runner: loads the snapshot and replays the log after it, then follows the log,
/// woken by `wake` (the engine's commits) and, for writers in other processes, every `idle_poll`.
pub async fn start(
    log: EventLog,
    mut wake: watch::Receiver<Position>,
    options: RunnerOptions,
) -> Result<(Projections, tokio::task::JoinHandle<Result<(), ProjectionError>>), ProjectionError> {
    let mut models = load_snapshot(&log).await?;
    let target = log.last_position().await?;
    log.wait_until_safe(target, SAFE_WAIT).await?;
    let replayed = catch_up(&log, &mut models).await?;
    if replayed >= options.snapshot_every {
        save_snapshot(&log, &models).await?;
    }
    let idle_poll = options.idle_poll;
    let mut since_snapshot = 0usize;
    let (applied_sender, applied) = watch::channel(models.position);
    let shared = Arc::new(RwLock::new(models));
    let projections = Projections { models: shared.clone(), applied };
    let task = tokio::spawn(async move {
        loop {
            // Read a page without holding the lock, then apply it: readers never wait on the database.
            let position = shared.read().unwrap_or_else(|poisoned| poisoned.into_inner()).position;
            // A storage failure is transient for a reader: log it, wait, and read again. Only an
            // event that breaks an invariant stops the runner.
            let page = match log.read_after(position, PAGE).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, "the projections cannot read the log; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            if !page.is_empty() {
                since_snapshot += page.len();
                let snapshot = apply_page(&shared, &page, &applied_sender, since_snapshot >= options.snapshot_every)?;
                if let Some(snapshot) = snapshot {
                    since_snapshot = 0;
                    let written = match snapshot {
                        Ok(snapshot) => log.save_snapshot(&snapshot).await.map_err(ProjectionError::from),
                        Err(error) => Err(error),
                    };
                    if let Err(error) = written {
                        tracing::warn!(%error, "could not write the read-model snapshot; will retry later");
                    }
                }
                if page.len() == PAGE {
                    continue;
                }
            }
            let target = *wake.borrow_and_update();
            if target > projections_position(&shared) {
                // A commit we know of is not readable yet (an older transaction is still in
                // flight on PostgreSQL): look again very soon.
                tokio::time::sleep(Duration::from_millis(2)).await;
                continue;
            }
            tokio::select! {
                changed = wake.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
                _ = tokio::time::sleep(idle_poll) => {}
            }
        }
    });
    Ok((projections, task))
}

/// Applies a page of events under the write lock; serialises a snapshot there too when asked (a
/// consistent state), to be written after the lock is released.
fn apply_page(
    shared: &RwLock<ReadModels>,
    page: &[ygor_store::RecordedEvent],
    applied: &watch::Sender<Position>,
    snapshot: bool,
) -> Result<Option<Result<Snapshot, ProjectionError>>, ProjectionError> {
    let mut models = shared.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    for recorded in page {
        if let Err(error) = models.apply_recorded(recorded) {
            tracing::error!(%error, "projection stopped: the log breaks an invariant");
            return Err(error);
        }
    }
    let _ = applied.send(models.position);
    Ok(snapshot.then(|| snapshot_of(&models)))
}

fn projections_position(shared: &Arc<RwLock<ReadModels>>) -> Position {
    shared.read().unwrap_or_else(|poisoned| poisoned.into_inner()).position
}
