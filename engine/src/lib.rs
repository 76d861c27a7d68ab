//! The write path of Ygor, without HTTP: commands decided by the ledger's pure aggregates on
//! states cached in memory, the events of one operation appended in one transaction, and the
//! background jobs that keep the territory's schedule (gold periods, checkpoints, expiry).
//!
//! Why not `cqrs_es::CqrsFramework`: its stores re-read an aggregate's whole history on every
//! command (a hot association would manage ~74 certifications/s), its snapshot stores apply each
//! event twice, and it cannot append events of two aggregates atomically (decision 2). Here:
//!
//! - [`commands`]: each command is a lock plan and a decision, run by one generic
//!   [`execute`](execute::Engine::execute) that retries after a conflict with another writer.
//! - [`locks`]: what an operation locks, always in the order territory → partners (ascending
//!   ids) → mission → draw → wallets (ascending ids), so two operations never deadlock; and what
//!   it reads from the log first (an association's earlier certification of an action, a wallet
//!   kept as a summary).
//! - [`cache`]: the aggregates kept in memory between commands, within a memory budget; only
//!   the events after a cached state's sequence are ever read again. [`compact`] holds what keeps
//!   partners and wallets small (decisions 15–17).
//! - [`conservation`]: before any append, the decided events must conserve tokens and gold.
//! - [`committer`]: one task appends the queued operations in groups, one transaction per group,
//!   pipelined (decision 8); its queue is bounded, and a full queue refuses new work at once.
//! - [`stored`]: events in their stored form, through the ledger's versioned codec.
//! - [`jobs`]: the gold schedule, signed checkpoints and the expiry sweep, run by themselves.
//! - [`snapshots`]: snapshots of the territory and of the partners, whose streams grow without
//!   end, so that a restart reads a snapshot and the events after it (decision 25).

pub mod cache;
pub mod commands;
pub mod committer;
pub mod compact;
pub mod conservation;
mod error;
mod execute;
pub mod footprint;
pub mod jobs;
pub mod locks;
mod seeds;
pub mod snapshots;
pub mod stored;
pub mod testing;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex, RwLock};

use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, mpsc, watch};
use ygor_ledger::partner::Registration;
use ygor_ledger::territory::{GoldPeriod, RulesVersion};
use ygor_ledger::{Partner, PartnerId, PartnerKind, Territory};
use ygor_projections::FedEvent;
use ygor_store::{EventLog, Position, WriterLock, WriterState};

pub use cache::CacheFigures;
pub use committer::CommitStats;
pub use error::EngineError;
pub use seeds::Seeds;

use crate::cache::{Aggregates, Cached};
use crate::committer::Pending;

/// The result of a write: what it decided, the position of its last event, and whether it was a
/// retry of an earlier identical request (answered from the log, nothing written).
#[derive(Debug, Clone, PartialEq)]
pub struct Committed<T> {
    pub outcome: T,
    pub position: Position,
    pub replayed: bool,
}

/// What the API layer needs to know about a partner without waiting on its command queue.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerInfo {
    pub kind: PartnerKind,
    pub name: String,
    pub public_key: String,
    /// `public_key` parsed once (decompressing a point costs as much as a fifth of a signature
    /// check); `None` if the registered text is not a usable key.
    pub key: Option<ygor_crypto::PublicKey>,
    pub suspended: bool,
}

/// The default of [`EngineOptions::cache_budget`]: 512 MiB, far above what a million-event log of
/// the load benchmark keeps (docs/performance.md), so that only a larger working set is reloaded.
pub const DEFAULT_CACHE_BUDGET: usize = 512 << 20;

/// The default of [`EngineOptions::queue_capacity`]: far above what the clients of one server
/// keep in flight (each waits for its answer), and a few MB of events at most.
pub const DEFAULT_QUEUE_CAPACITY: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// Estimated bytes of the aggregates kept in memory between commands (see [`cache`]).
    pub cache_budget: usize,
    /// Over budget, only summarise wallets, never drop a whole aggregate. With a budget of one
    /// byte, every idle wallet is then summarised at every trim, so that every revocation,
    /// redemption and sweep reads it back whole: the tests' way to cover that path.
    pub keep_aggregates: bool,
    /// Operations that may wait for the committer; one more is refused with
    /// [`EngineError::Overloaded`], nothing changed.
    pub queue_capacity: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self { cache_budget: DEFAULT_CACHE_BUDGET, keep_aggregates: false, queue_capacity: DEFAULT_QUEUE_CAPACITY }
    }
}

/// Groups of committed events the feed to the projections holds at most; when it is full, the
/// projections read the next events back from the log instead.
const FEED_CAPACITY: usize = 1024;

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    log: EventLog,
    territory: Arc<Mutex<Cached<Territory>>>,
    aggregates: Aggregates,
    seeds: Seeds,
    gold: RwLock<Vec<GoldPeriod>>,
    rules: RwLock<Option<Arc<RulesVersion>>>,
    partner_info: RwLock<HashMap<PartnerId, Arc<PartnerInfo>>>,
    committed: watch::Sender<Position>,
    /// Where the committer hands the events it committed, as reading them back would return them
    /// (the projection runner of this process subscribes; see [`Engine::committed_events`]).
    feed: StdMutex<Option<mpsc::Sender<Vec<FedEvent>>>>,
    queue: mpsc::Sender<Pending>,
    queue_capacity: usize,
    /// Operations given a place in the queue and not answered yet (see [`Engine::flush`]).
    outstanding: AtomicUsize,
    /// See [`Engine::last_checkpoint_size`].
    checkpointed: AtomicU64,
    /// The database's writer lock, when this engine must hold it to write
    /// ([`Engine::guard_writes`]), and the lock's generation the cached states were loaded under.
    writer: std::sync::OnceLock<WriterLock>,
    writer_seen: AtomicU64,
    /// Held while the cached states are forgotten after the writer lock was lost and taken again.
    forgetting: Mutex<()>,
    /// For the aggregates kept as snapshots, by id, the highest sequence this engine committed or
    /// loaded (see [`snapshots`]).
    durable: StdMutex<HashMap<String, usize>>,
    stats: Arc<CommitStats>,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Engine {
    /// Opens the engine on a migrated log and loads the territory (rules in force, treasury).
    pub async fn open(log: EventLog, seeds: Seeds) -> Result<Self, EngineError> {
        Self::open_with(log, seeds, EngineOptions::default()).await
    }

    /// [`Engine::open`] with options.
    pub async fn open_with(log: EventLog, seeds: Seeds, options: EngineOptions) -> Result<Self, EngineError> {
        let initial = log.last_position().await?;
        let (committed, _) = watch::channel(initial);
        let queue_capacity = options.queue_capacity.max(1);
        let (queue, receiver) = mpsc::channel(queue_capacity);
        let engine = Engine {
            inner: Arc::new(Inner {
                log,
                territory: Arc::new(Mutex::new(Cached::unloaded())),
                aggregates: Aggregates::new(options.cache_budget, options.keep_aggregates),
                seeds,
                gold: RwLock::new(Vec::new()),
                rules: RwLock::new(None),
                partner_info: RwLock::new(HashMap::new()),
                committed,
                feed: StdMutex::new(None),
                queue,
                queue_capacity,
                outstanding: AtomicUsize::new(0),
                checkpointed: AtomicU64::new(0),
                writer: std::sync::OnceLock::new(),
                writer_seen: AtomicU64::new(0),
                forgetting: Mutex::new(()),
                durable: StdMutex::default(),
                stats: Arc::default(),
            }),
        };
        tokio::spawn(committer::run(Arc::downgrade(&engine.inner), receiver));
        engine.reload_territory().await?;
        Ok(engine)
    }

    pub fn log(&self) -> &EventLog {
        &self.inner.log
    }

    /// The seeds of the territory's gold periods and draws.
    pub fn seeds(&self) -> &Seeds {
        &self.inner.seeds
    }

    /// The aggregate cache: entries, estimated bytes at the last trim, budget, evictions.
    pub fn cache_figures(&self) -> CacheFigures {
        self.inner.aggregates.figures()
    }

    /// The committer's counters since the start.
    pub fn commit_stats(&self) -> &CommitStats {
        &self.inner.stats
    }

    /// The position of the latest event this process committed (for waking projections).
    pub fn committed(&self) -> watch::Receiver<Position> {
        self.inner.committed.subscribe()
    }

    /// From now on, every group of events this process commits, in commit order, with their
    /// positions: the projections apply them without reading them back from the database. Only
    /// the latest subscriber is fed. Events of other processes, positions left unused by a
    /// failed transaction, and groups the subscriber was too slow to take (the feed holds
    /// [`FEED_CAPACITY`] groups) are not in the feed: a subscriber must read the log when the
    /// feed does not follow on from what it applied.
    pub fn committed_events(&self) -> mpsc::Receiver<Vec<FedEvent>> {
        let (sender, receiver) = mpsc::channel(FEED_CAPACITY);
        *self.inner.feed.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(sender);
        receiver
    }

    /// The rules in force now.
    pub fn rules(&self) -> Option<Arc<RulesVersion>> {
        read(&self.inner.rules).clone()
    }

    /// The gold periods committed so far (with their seeds once revealed).
    pub fn gold_periods(&self) -> Vec<GoldPeriod> {
        read(&self.inner.gold).clone()
    }

    fn gold_period_at(&self, at: DateTime<Utc>) -> Option<u64> {
        let periods = read(&self.inner.gold);
        periods.iter().rev().find(|period| period.starts_at <= at && at < period.ends_at).map(|period| period.period)
    }

    /// Publishes what the API reads of the territory without locking it: the rules in force and
    /// the gold periods.
    fn publish_territory(&self, territory: &Territory) {
        *write(&self.inner.rules) = territory.rules_in_force().cloned().map(Arc::new);
        *write(&self.inner.gold) = territory.gold_periods().to_vec();
        self.inner.checkpointed.store(territory.last_checkpoint_size().unwrap_or(0), Ordering::Relaxed);
    }

    /// How many events the latest checkpoint recorded in the log covers (0 if none).
    pub fn last_checkpoint_size(&self) -> u64 {
        self.inner.checkpointed.load(Ordering::Relaxed)
    }

    /// Waits until every operation queued for the committer has been answered, at most `within`;
    /// returns whether none is left. Once the HTTP server has stopped taking requests and the
    /// jobs have stopped, nothing new comes: this is the flush of a graceful shutdown.
    pub async fn flush(&self, within: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while self.inner.outstanding.load(Ordering::Acquire) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        true
    }

    /// Loads the territory again from the log (at start, and after a failed commit that may have
    /// changed it in memory), and publishes it.
    async fn reload_territory(&self) -> Result<(), EngineError> {
        let mut territory = self.inner.territory.clone().lock_owned().await;
        self.load(ygor_ledger::territory::TERRITORY_ID, &mut territory).await?;
        self.publish_territory(&territory.state);
        Ok(())
    }

    /// Remembers what the API reads of a partner without queueing behind its commands.
    fn remember_partner(&self, id: PartnerId, partner: &Partner) {
        let Some(Registration { kind, name, public_key, .. }) = partner.registration() else {
            return;
        };
        let suspended = partner.is_suspended();
        let mut known = write(&self.inner.partner_info);
        // Most commands leave the registration as it was: keep the parsed key then.
        if known.get(&id).is_some_and(|info| {
            info.kind == *kind && info.name == *name && info.public_key == *public_key && info.suspended == suspended
        }) {
            return;
        }
        let info = PartnerInfo {
            kind: *kind,
            name: name.clone(),
            public_key: public_key.clone(),
            key: ygor_crypto::PublicKey::parse(public_key).ok(),
            suspended,
        };
        known.insert(id, Arc::new(info));
    }

    /// From now on, writes only while `lock` is held: a write finds out first, and answers
    /// [`EngineError::NotWriter`] or [`EngineError::StorageUnavailable`] when it is not. When the
    /// lock was lost and taken again, every state the engine kept is forgotten before the next
    /// decision: another process may have written in between.
    pub fn guard_writes(&self, lock: WriterLock) {
        self.inner.writer_seen.store(lock.generation(), Ordering::Release);
        if self.inner.writer.set(lock).is_err() {
            tracing::warn!("the engine already guards its writes with a writer lock");
        }
    }

    /// The state of the writer lock, if the engine guards its writes with one.
    pub fn writer_state(&self) -> Option<WriterState> {
        self.inner.writer.get().map(WriterLock::state)
    }

    /// Gives the writer lock up (a stopping server): no more writes from this engine.
    pub async fn release_writer(&self) {
        if let Some(lock) = self.inner.writer.get() {
            lock.release().await;
        }
    }

    /// Refuses a write while the writer lock is not held; after it was lost and taken again,
    /// forgets every cached state first.
    async fn ensure_writer(&self) -> Result<(), EngineError> {
        let Some(lock) = self.inner.writer.get() else {
            return Ok(());
        };
        match lock.state() {
            WriterState::Held => {}
            WriterState::Unreachable => {
                return Err(EngineError::StorageUnavailable("the writer lock's connection is lost".to_owned()));
            }
            WriterState::Taken(holder) => return Err(EngineError::NotWriter(holder)),
        }
        let generation = lock.generation();
        if self.inner.writer_seen.load(Ordering::Acquire) == generation {
            return Ok(());
        }
        let _forgetting = self.inner.forgetting.lock().await;
        if self.inner.writer_seen.load(Ordering::Acquire) != generation {
            tracing::warn!("the writer lock was lost and taken again: every cached state is read again from the log");
            for handle in self.inner.aggregates.handles() {
                handle.reset().await;
            }
            write(&self.inner.partner_info).clear();
            self.inner.territory.lock().await.forget();
            self.reload_territory().await?;
            self.inner.writer_seen.store(generation, Ordering::Release);
        }
        Ok(())
    }

    /// A partner's kind, key and status, without queueing behind its commands.
    pub async fn partner_info(&self, id: PartnerId) -> Result<Option<Arc<PartnerInfo>>, EngineError> {
        if let Some(info) = read(&self.inner.partner_info).get(&id) {
            return Ok(Some(info.clone()));
        }
        self.load_partner(id).await?;
        Ok(read(&self.inner.partner_info).get(&id).cloned())
    }
}
