//! The command engine: loads aggregates, serialises the commands that touch the same aggregate
//! inside the process, lets the domain decide, and appends every event of one operation in one
//! transaction.
//!
//! Why not `cqrs_es::CqrsFramework`: its stores re-read an aggregate's whole history on every
//! command (a hot association would manage ~74 certifications/s), its snapshot stores apply each
//! event twice, and it cannot append events of two aggregates atomically. Here each aggregate's
//! state is cached in memory after a first load through the stock `postgres-es`/`sqlite-es`
//! repositories; only the events after the cached sequence are ever read again (after a conflict
//! with another writer). Commands to one aggregate wait on that aggregate's mutex instead of
//! colliding, so a client only ever sees a business outcome. Locks are always taken in the order
//! territory → partner → wallets (ascending ids), so two operations can never deadlock.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex as StdMutex, RwLock};

use crate::secrets::Seeds;
use chrono::{DateTime, Utc};
use cqrs_es::{Aggregate, DomainEvent};
use tokio::sync::{Mutex, OwnedMutexGuard, watch};
use ygor_ledger::books::AnyEvent;
use ygor_ledger::draw::{DrawCommand, DrawResult, DrawTerms};
use ygor_ledger::mission::{MissionCommand, MissionDetails, Publication};
use ygor_ledger::operations::{
    self, Certify, Changes, Decided, Redeem, RedemptionOutcome, RevocationOutcome, SweepOutcome,
};
use ygor_ledger::partner::{
    Candidate, CertificationOutcome, PartnerCommand, PartnerEvent, RecordedCertification, Registration,
};
use ygor_ledger::territory::{GoldPeriod, RulesVersion, TERRITORY_ID, TerritoryCommand};
use ygor_ledger::wallet::{Demographics, WalletCommand};
use ygor_ledger::{
    ActionId, CategoryId, CitizenId, Draw, DrawId, Footprint, LedgerError, Mission, MissionId, Partner, PartnerId,
    PartnerKind, SettlementId, Territory, Tokens, Wallet,
};
use ygor_projections::FedEvent;
use ygor_rules::Rules;
use ygor_store::{AppendBatch, CitizenDetails, EventLog, NewCredential, NewEvent, Position, StoreError};

/// How many times an operation is decided again after another writer (another process on the same
/// database) appended to one of its aggregates first.
const CONFLICT_RETRIES: usize = 8;

/// How many wallets one expiry transaction sweeps.
const SWEEP_BATCH: usize = 256;

/// How long a decision waits for an event a cached aggregate holds to be durable before deciding
/// again: polls of the log, this far apart (5 s in all).
const DURABLE_WAIT_POLLS: usize = 500;
const DURABLE_WAIT_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

/// One stored event of an aggregate of type `A`, decoded.
fn decode_event<A: Cached>(aggregate_id: &str, payload: serde_json::Value) -> Result<A::Event, EngineError> {
    serde_json::from_value(payload).map_err(|error| EngineError::Decode(format!("{} {aggregate_id}: {error}", A::TYPE)))
}

/// Whether `recorded`, read while the partner was not locked, is no longer what the partner holds
/// for the action (the transaction that wrote it failed, and the partner was loaded again since):
/// the operation is decided again.
fn stale_record(partner: &Partner, action_id: ActionId, recorded: Option<&RecordedCertification>) -> bool {
    partner.certification_candidate(action_id).map(|candidate| candidate.sequence)
        != recorded.map(|recorded| recorded.sequence)
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    #[error("a stored event does not decode: {0}")]
    Decode(String),
    #[error("another writer kept winning the race for the same aggregate")]
    Contention,
    #[error("storage failed: {0}")]
    Storage(String),
}

/// Counters of the committer since the start, for `/metrics`: how many groups it committed, how
/// many operations and events they held, and the time spent writing them (BEGIN and the INSERT)
/// and committing them (COMMIT, with its disk sync).
#[derive(Debug, Default)]
pub struct CommitStats {
    pub groups: std::sync::atomic::AtomicU64,
    pub operations: std::sync::atomic::AtomicU64,
    pub events: std::sync::atomic::AtomicU64,
    pub write_micros: std::sync::atomic::AtomicU64,
    pub commit_micros: std::sync::atomic::AtomicU64,
}

impl CommitStats {
    fn add(counter: &std::sync::atomic::AtomicU64, value: u64) {
        counter.fetch_add(value, std::sync::atomic::Ordering::Relaxed);
    }

    fn micros_since(started: std::time::Instant) -> u64 {
        u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

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

struct Slot<A> {
    state: A,
    loaded: bool,
}

/// Every aggregate the engine loaded but the territory, each behind its own mutex, with an estimate
/// of the memory it holds. When the estimates add up to more than the budget, the aggregates no
/// command holds or waits for, and whose changes are durable, go, least recently used first: the
/// next command that needs one loads it again from the log. Without a bound, a server that
/// certified for months kept every wallet and every association's certifications in memory
/// (docs/performance.md).
struct Aggregates {
    /// Bytes; `usize::MAX` for no bound.
    budget: usize,
    /// See [`EngineOptions::keep_aggregates`].
    keep_aggregates: bool,
    cache: StdMutex<Lru>,
    /// Wallets whose history was read back (see [`CacheFigures::histories_restored`]).
    restored: std::sync::atomic::AtomicU64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum AggregateKey {
    Partner(PartnerId),
    Wallet(CitizenId),
    Mission(MissionId),
    Draw(DrawId),
}

struct CacheEntry {
    slot: Touched,
    last_used: u64,
    /// For a wallet, the clock at the last look-up that needed its history (lots, actions,
    /// vouchers); 0 if none did.
    history_used: u64,
    /// The estimate when the aggregate was last seen idle.
    bytes: usize,
}

impl CacheEntry {
    /// If the aggregate is idle, measures it again (see [`Lru::trim`]), first forgetting its
    /// history if it is a wallet that no look-up needed it for since `unused_since`; returns
    /// whether it was idle.
    fn measure(&mut self, unused_since: u64, forgotten: &mut u64) -> bool {
        let Some(bytes) = self.slot.idle_footprint() else {
            return false;
        };
        self.bytes = bytes + ENTRY_BYTES;
        if self.history_used <= unused_since {
            self.forget_history(forgotten);
        }
        true
    }

    /// Makes an idle wallet forget its history (see [`Touched::forget_history`]) and returns the
    /// bytes that freed, counting it in `forgotten`; 0 for anything else.
    fn forget_history(&mut self, forgotten: &mut u64) -> usize {
        let Some(bytes) = self.slot.forget_history() else {
            return 0;
        };
        let freed = self.bytes.saturating_sub(bytes + ENTRY_BYTES);
        self.bytes = bytes + ENTRY_BYTES;
        *forgotten += 1;
        freed
    }
}

#[derive(Default)]
struct Lru {
    entries: HashMap<AggregateKey, CacheEntry>,
    /// Counts the look-ups: an entry's `last_used` is the count at its last look-up.
    clock: u64,
    since_trim: usize,
    /// The entries looked up since the last trim (some more than once), and those a trim found
    /// busy: the only ones whose estimate may have changed since.
    touched: Vec<AggregateKey>,
    /// Trims since the last one that walked every entry.
    partial_trims: u32,
    /// The sum of the entries' estimates, for `/metrics` and the budget.
    bytes: usize,
    evicted: u64,
    /// Wallets whose history a trim forgot.
    forgotten: u64,
}

/// What an entry costs besides its aggregate: the map's bucket and the slot's allocation.
const ENTRY_BYTES: usize = std::mem::size_of::<(AggregateKey, CacheEntry)>() + 64;

/// How many look-ups a wallet's history stays in memory after the last one that needed it (a
/// redemption, a revocation, a sweep): about 30,000 operations. A wallet that only earns tokens
/// keeps none past the next trim (docs/decisions/0016).
const HISTORY_KEPT: u64 = 1 << 16;

/// Look-ups between two trims, at least: a trim runs once every `max(TRIM_EVERY, entries / 8)`
/// look-ups (`max(1, entries / 8)` while the cache is over budget), and measures again the
/// entries looked up since the last one; every [`FULL_TRIM_EVERY`]th trim, and every trim over
/// budget, walks every entry. So a trim costs a constant amount per look-up however many
/// entries there are, and holds the cache's lock for a short while: walking all 10,000 entries of
/// a busy server took milliseconds, during which no command could look an aggregate up.
const TRIM_EVERY: usize = 1024;

/// See [`TRIM_EVERY`]: the walks over every entry find the wallets whose history has not been
/// needed for [`HISTORY_KEPT`] look-ups though nothing looked them up since.
const FULL_TRIM_EVERY: u32 = 16;

/// The engine's aggregate cache, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheFigures {
    pub entries: usize,
    pub bytes: usize,
    pub budget: usize,
    pub evicted: u64,
    /// Wallets whose history was forgotten (see [`Lru::trim`]).
    pub histories_forgotten: u64,
    /// Wallets whose history was read back from the log for a decision.
    pub histories_restored: u64,
}

impl Aggregates {
    fn new(budget: usize, keep_aggregates: bool) -> Self {
        Self {
            budget,
            keep_aggregates,
            cache: StdMutex::new(Lru::default()),
            restored: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn slot<A: Cached>(&self, key: AggregateKey) -> Arc<Mutex<Slot<A>>> {
        self.look_up(key, false)
    }

    /// The slot of `key`, added if it is new; `history`: the caller needs the wallet's history,
    /// which the trims then keep for a while ([`HISTORY_KEPT`]).
    fn look_up<A: Cached>(&self, key: AggregateKey, history: bool) -> Arc<Mutex<Slot<A>>> {
        let mut cache = self.lock();
        cache.clock += 1;
        let now = cache.clock;
        let history_used = if history { now } else { 0 };
        cache.touched.push(key);
        let slot = match cache.entries.entry(key) {
            std::collections::hash_map::Entry::Occupied(mut occupied) => {
                let entry = occupied.get_mut();
                entry.last_used = now;
                entry.history_used = entry.history_used.max(history_used);
                A::unwrap(&entry.slot).expect("a key names one kind of aggregate").clone()
            }
            std::collections::hash_map::Entry::Vacant(vacant) => {
                let slot = Arc::new(Mutex::new(Slot { state: A::default(), loaded: false }));
                vacant.insert(CacheEntry {
                    slot: A::wrap(slot.clone()),
                    last_used: now,
                    history_used,
                    bytes: ENTRY_BYTES,
                });
                cache.bytes += ENTRY_BYTES;
                slot
            }
        };
        cache.since_trim += 1;
        // Over budget at the last trim (entries it could not drop were busy), trim again sooner.
        let every = if cache.bytes > self.budget { 1 } else { TRIM_EVERY };
        if cache.since_trim >= every.max(cache.entries.len() / 8) {
            cache.since_trim = 0;
            cache.trim(self.budget, !self.keep_aggregates);
        }
        slot
    }

    fn figures(&self) -> CacheFigures {
        let cache = self.lock();
        CacheFigures {
            entries: cache.entries.len(),
            bytes: cache.bytes,
            budget: self.budget,
            evicted: cache.evicted,
            histories_forgotten: cache.forgotten,
            histories_restored: self.restored.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// A trim that walks every entry.
    #[cfg(test)]
    fn trim_now(&self) {
        let mut cache = self.lock();
        cache.partial_trims = FULL_TRIM_EVERY;
        cache.trim(self.budget, !self.keep_aggregates);
    }

    /// A trim that measures only the entries looked up since the last one, unless over budget.
    #[cfg(test)]
    fn trim_touched_now(&self) {
        let mut cache = self.lock();
        cache.partial_trims = 0;
        cache.trim(self.budget, !self.keep_aggregates);
    }
}

impl Lru {
    /// Measures idle entries again (see [`TRIM_EVERY`] for which) and frees what they hold
    /// beyond their use. First the history of every idle wallet that no look-up needed for the
    /// last [`HISTORY_KEPT`] look-ups: its lots, actions and used vouchers, which a certification
    /// never reads (a redemption, a revocation or a sweep reads them back from the log). Then,
    /// over budget, until the estimate is an eighth under the budget (so that trims do not follow
    /// each other): the history of the least recently used idle wallets, then whole idle
    /// aggregates, least recently used first, which the next command on them loads again.
    ///
    /// An entry is idle when the map holds the only reference to its slot: no command holds or
    /// waits for its lock, and no transaction in flight holds it (a `Pending` keeps a reference to
    /// every aggregate it changed until its events are durable or the change is undone). Every
    /// new reference is cloned from the map under this lock, or from a reference already held,
    /// so an entry found idle here stays idle until the lock is released. An entry that nothing
    /// looked up since it was last measured idle has the same estimate still.
    fn trim(&mut self, budget: usize, evict: bool) {
        let unused_since = self.clock.saturating_sub(HISTORY_KEPT);
        if self.partial_trims + 1 < FULL_TRIM_EVERY && self.bytes <= budget {
            self.partial_trims += 1;
            let mut touched = std::mem::take(&mut self.touched);
            touched.sort_unstable();
            touched.dedup();
            for key in touched {
                let Some(entry) = self.entries.get_mut(&key) else {
                    continue;
                };
                let before = entry.bytes;
                if entry.measure(unused_since, &mut self.forgotten) {
                    self.bytes = self.bytes - before + entry.bytes;
                } else {
                    self.touched.push(key);
                }
            }
            if self.bytes <= budget {
                return;
            }
        }
        self.partial_trims = 0;
        self.touched.clear();
        let mut total = 0;
        let mut idle = Vec::new();
        for (key, entry) in &mut self.entries {
            if entry.measure(unused_since, &mut self.forgotten) {
                idle.push((entry.last_used, *key));
            } else {
                self.touched.push(*key);
            }
            total += entry.bytes;
        }
        if total > budget {
            idle.sort_unstable_by_key(|(last_used, _)| *last_used);
            let target = budget - budget / 8;
            for (_, key) in &idle {
                if total <= target {
                    break;
                }
                let entry = self.entries.get_mut(key).expect("an idle entry is in the map");
                total -= entry.forget_history(&mut self.forgotten);
            }
            for (_, key) in idle {
                if total <= target || !evict {
                    break;
                }
                let entry = self.entries.remove(&key).expect("an idle entry is in the map");
                total -= entry.bytes;
                self.evicted += 1;
            }
        }
        self.bytes = total;
    }
}

/// The aggregates the engine caches: the number of events they applied, and their place in
/// [`Touched`].
trait Cached: Aggregate + Default + Send + 'static {
    fn applied(&self) -> usize;
    fn wrap(slot: Arc<Mutex<Slot<Self>>>) -> Touched;
    fn unwrap(touched: &Touched) -> Option<&Arc<Mutex<Slot<Self>>>>;
}

macro_rules! cached {
    ($($aggregate:ident),*) => {
        $(impl Cached for $aggregate {
            fn applied(&self) -> usize {
                self.version()
            }

            fn wrap(slot: Arc<Mutex<Slot<Self>>>) -> Touched {
                Touched::$aggregate(slot)
            }

            fn unwrap(touched: &Touched) -> Option<&Arc<Mutex<Slot<Self>>>> {
                match touched {
                    Touched::$aggregate(slot) => Some(slot),
                    _ => None,
                }
            }
        })*
    };
}

cached!(Territory, Partner, Wallet, Mission, Draw);

/// The aggregates one operation holds, locked, for the time of its decision and commit.
#[derive(Default)]
struct Locks {
    territory: Option<OwnedMutexGuard<Slot<Territory>>>,
    partners: Vec<(PartnerId, OwnedMutexGuard<Slot<Partner>>)>,
    wallets: Vec<(CitizenId, OwnedMutexGuard<Slot<Wallet>>)>,
    missions: Vec<(MissionId, OwnedMutexGuard<Slot<Mission>>)>,
    draws: Vec<(DrawId, OwnedMutexGuard<Slot<Draw>>)>,
}

impl Locks {
    fn territory(&self) -> &Territory {
        &self.territory.as_ref().expect("the territory is locked before it is read").state
    }

    fn partner(&self, id: PartnerId) -> &Partner {
        &self.partners.iter().find(|(key, _)| *key == id).expect("the partner is locked before it is read").1.state
    }

    fn wallet(&self, id: CitizenId) -> &Wallet {
        &self.wallets.iter().find(|(key, _)| *key == id).expect("the wallet is locked before it is read").1.state
    }

    fn draw(&self, id: DrawId) -> &Draw {
        &self.draws.iter().find(|(key, _)| *key == id).expect("the draw is locked before it is read").1.state
    }

    fn mission(&self, id: MissionId) -> &Mission {
        &self.missions.iter().find(|(key, _)| *key == id).expect("the mission is locked before it is read").1.state
    }

    /// Forgets the held states entirely (their in-memory changes never reached the log).
    fn mark_stale_all(&mut self) {
        fn forget<A: Default>(slot: &mut Slot<A>) {
            slot.state = A::default();
            slot.loaded = false;
        }
        if let Some(slot) = self.territory.as_mut() {
            forget(slot);
        }
        self.partners.iter_mut().for_each(|(_, slot)| forget(slot));
        self.wallets.iter_mut().for_each(|(_, slot)| forget(slot));
        self.missions.iter_mut().for_each(|(_, slot)| forget(slot));
        self.draws.iter_mut().for_each(|(_, slot)| forget(slot));
    }
}

/// Writes beside the events, in the same transaction.
#[derive(Default)]
struct Extra {
    credentials: Vec<NewCredential>,
    citizen_details: Vec<CitizenDetails>,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    log: EventLog,
    territory: Arc<Mutex<Slot<Territory>>>,
    aggregates: Aggregates,
    seeds: Seeds,
    gold: RwLock<Vec<GoldPeriod>>,
    rules: RwLock<Option<Arc<RulesVersion>>>,
    partner_info: RwLock<HashMap<PartnerId, Arc<PartnerInfo>>>,
    committed: watch::Sender<Position>,
    /// Where the committer hands the events it committed, as reading them back would return them
    /// (the projection runner of this process subscribes; see [`Engine::committed_events`]).
    feed: StdMutex<Option<tokio::sync::mpsc::UnboundedSender<Vec<FedEvent>>>>,
    queue: tokio::sync::mpsc::UnboundedSender<Pending>,
    stats: Arc<CommitStats>,
}

/// The stored form of an aggregate's new events, numbered from `first_sequence`.
pub fn serialize<A: Aggregate>(
    aggregate_id: &str,
    first_sequence: usize,
    events: &[A::Event],
    at: DateTime<Utc>,
) -> Result<Vec<NewEvent>, EngineError> {
    events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let text = serde_json::to_string(event).map_err(|error| EngineError::Decode(error.to_string()))?;
            // Stored in canonical form: this process's projections hash its audit leaf from the
            // text as it is, and the log holds one spelling of each payload. serde_json's compact
            // text with its members sorted (the audit's text canonicaliser) is the canonical form
            // of the event's `Value`, without building one.
            let (event_type, event_version) = (event.event_type(), event.event_version());
            let head = ygor_store::EventHead {
                aggregate_type: A::TYPE,
                aggregate_id,
                sequence: first_sequence + index,
                event_type: &event_type,
                event_version: &event_version,
            };
            Ok(match ygor_audit::canonical_text(&text) {
                Ok(canonical) => NewEvent::from_text(head, at, canonical, true),
                // An integer JSON cannot carry exactly has no canonical form; the audit will say so.
                Err(_) => NewEvent::from_text(head, at, text, false),
            })
        })
        .collect()
}

/// The default of [`EngineOptions::cache_budget`]: 512 MiB, above what a million-event log of the load
/// benchmark needs (~250 MB of estimate), so that only a larger working set is ever reloaded.
pub const DEFAULT_CACHE_BUDGET: usize = 512 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// Estimated bytes of the aggregates kept in memory between commands (see [`Aggregates`]).
    pub cache_budget: usize,
    /// Over budget, only forget wallets' histories, never a whole aggregate. With a budget of one
    /// byte, every idle wallet then forgets its history at every trim, so that every revocation,
    /// redemption and sweep reads it back: the tests' way to cover that path.
    pub keep_aggregates: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self { cache_budget: DEFAULT_CACHE_BUDGET, keep_aggregates: false }
    }
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
        let (queue, receiver) = tokio::sync::mpsc::unbounded_channel();
        let engine = Engine {
            inner: Arc::new(Inner {
                log,
                territory: Arc::new(Mutex::new(Slot { state: Territory::default(), loaded: false })),
                aggregates: Aggregates::new(options.cache_budget, options.keep_aggregates),
                seeds,
                gold: RwLock::new(Vec::new()),
                rules: RwLock::new(None),
                partner_info: RwLock::new(HashMap::new()),
                committed,
                feed: StdMutex::new(None),
                queue,
                stats: Arc::default(),
            }),
        };
        tokio::spawn(Engine::commit_loop(Arc::downgrade(&engine.inner), receiver));
        let mut locks = Locks::default();
        engine.lock_territory(&mut locks).await?;
        engine.publish_rules_snapshot(locks.territory());
        Ok(engine)
    }

    pub fn log(&self) -> &EventLog {
        &self.inner.log
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
    /// the latest subscriber is fed. Events of other processes, and positions left unused by a
    /// failed transaction, are not in the feed: a subscriber must read the log when the feed does
    /// not follow on from what it applied.
    pub fn committed_events(&self) -> tokio::sync::mpsc::UnboundedReceiver<Vec<FedEvent>> {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        *self.inner.feed.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(sender);
        receiver
    }

    /// The rules in force now.
    pub fn rules(&self) -> Option<Arc<RulesVersion>> {
        self.inner.rules.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn publish_rules_snapshot(&self, territory: &Territory) {
        let current = territory.rules_in_force().cloned().map(Arc::new);
        *self.inner.rules.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = current;
        *self.inner.gold.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = territory.gold_periods().to_vec();
    }

    /// The gold periods committed so far (with their seeds once revealed).
    pub fn gold_periods(&self) -> Vec<GoldPeriod> {
        self.inner.gold.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn gold_period_at(&self, at: DateTime<Utc>) -> Option<u64> {
        let periods = self.inner.gold.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        periods.iter().rev().find(|period| period.starts_at <= at && at < period.ends_at).map(|period| period.period)
    }

    /// Commits the coming gold periods and reveals the ended ones (see `Territory::gold_schedule`);
    /// run every fraction of a second by the server, and before a certification that finds no
    /// period committed for its time.
    pub async fn maintain_gold(&self, now: DateTime<Utc>) -> Result<(), EngineError> {
        self.run(|| async {
            let mut locks = Locks::default();
            self.lock_territory(&mut locks).await?;
            let territory = locks.territory();
            let gold = territory.rules_in_force().and_then(|version| version.rules.gold.clone());
            let seeds = &self.inner.seeds;
            let events = territory.gold_schedule(now, gold.as_ref(), now, |period| seeds.gold(period));
            let decided = Decided::Apply { changes: Changes { territory: events, ..Changes::default() }, outcome: () };
            self.commit(locks, decided, Extra::default(), now).await
        })
        .await
        .map(|_| ())
    }

    async fn load<A: Cached>(&self, aggregate_id: &str, slot: &mut Slot<A>) -> Result<(), EngineError> {
        if slot.loaded {
            return Ok(());
        }
        let events = self.inner.log.load_stream::<A>(aggregate_id, slot.state.applied()).await?;
        for stored in events {
            if stored.sequence != slot.state.applied() + 1 {
                return Err(EngineError::Decode(format!(
                    "{} {aggregate_id}: expected sequence {}, found {}",
                    A::TYPE,
                    slot.state.applied() + 1,
                    stored.sequence
                )));
            }
            slot.state.apply(decode_event::<A>(aggregate_id, stored.payload)?);
        }
        slot.loaded = true;
        Ok(())
    }

    async fn lock_territory(&self, locks: &mut Locks) -> Result<(), EngineError> {
        assert!(locks.partners.is_empty() && locks.wallets.is_empty(), "lock order: territory first");
        let mut guard = self.inner.territory.clone().lock_owned().await;
        self.load(TERRITORY_ID, &mut guard).await?;
        locks.territory = Some(guard);
        Ok(())
    }

    async fn lock_partner(&self, locks: &mut Locks, id: PartnerId) -> Result<(), EngineError> {
        assert!(locks.wallets.is_empty(), "lock order: partners before wallets");
        assert!(locks.partners.iter().all(|(held, _)| *held < id), "lock order: partners by ascending id");
        let mut guard = self.inner.aggregates.slot(AggregateKey::Partner(id)).lock_owned().await;
        self.load(&id.to_string(), &mut guard).await?;
        self.remember_partner(id, &guard.state);
        locks.partners.push((id, guard));
        Ok(())
    }

    /// Locks a wallet with its whole history, reading back from the log what the cache forgot.
    async fn lock_wallet(&self, locks: &mut Locks, id: CitizenId) -> Result<(), EngineError> {
        self.lock_wallet_slot(locks, id, true).await?;
        self.restore_history(locks, id).await
    }

    /// Locks a wallet for a decision that reads none of its history (a registration, interests,
    /// gold) or only whether an action is new (a certification: see [`Engine::restore_history`]):
    /// the history the cache forgot stays forgotten.
    async fn lock_wallet_without_history(&self, locks: &mut Locks, id: CitizenId) -> Result<(), EngineError> {
        self.lock_wallet_slot(locks, id, false).await
    }

    async fn lock_wallet_slot(&self, locks: &mut Locks, id: CitizenId, history: bool) -> Result<(), EngineError> {
        assert!(locks.wallets.iter().all(|(held, _)| *held < id), "lock order: wallets by ascending id");
        let mut guard = self.inner.aggregates.look_up(AggregateKey::Wallet(id), history).lock_owned().await;
        self.load(&id.to_string(), &mut guard).await?;
        locks.wallets.push((id, guard));
        Ok(())
    }

    /// Reads back from the log the history a locked wallet forgot, if it did.
    async fn restore_history(&self, locks: &mut Locks, id: CitizenId) -> Result<(), EngineError> {
        let slot = &mut locks.wallets.iter_mut().find(|(held, _)| *held == id).expect("the wallet is locked").1;
        let Some(through) = slot.state.forgotten_through() else {
            return Ok(());
        };
        let aggregate_id = id.to_string();
        // Every event up to `through` was durable when the history was forgotten.
        let mut earlier = Vec::with_capacity(through);
        for stored in self.inner.log.load_stream_through::<Wallet>(&aggregate_id, through).await? {
            earlier.push((stored.sequence, decode_event::<Wallet>(&aggregate_id, stored.payload)?));
        }
        slot.state.restore_history(earlier).map_err(|why| EngineError::Decode(format!("wallet {id}: {why}")))?;
        self.inner.aggregates.restored.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Reads a wallet's forgotten history back before an operation that needs it locks other
    /// aggregates first (a venue, an association, the territory), so that they do not wait for
    /// the read. The look-up keeps it in memory for the next [`HISTORY_KEPT`] look-ups; should
    /// a trim still forget it before the operation, the operation reads it back itself.
    async fn prepare_history(&self, id: CitizenId) -> Result<(), EngineError> {
        let mut locks = Locks::default();
        self.lock_wallet(&mut locks, id).await
    }

    async fn lock_mission(&self, locks: &mut Locks, id: MissionId) -> Result<(), EngineError> {
        assert!(locks.missions.is_empty(), "one mission per operation");
        let mut guard = self.inner.aggregates.slot(AggregateKey::Mission(id)).lock_owned().await;
        self.load(&id.to_string(), &mut guard).await?;
        locks.missions.push((id, guard));
        Ok(())
    }

    async fn lock_draw(&self, locks: &mut Locks, id: DrawId) -> Result<(), EngineError> {
        assert!(locks.wallets.is_empty() && locks.draws.is_empty(), "lock order: one draw, before wallets");
        let mut guard = self.inner.aggregates.slot(AggregateKey::Draw(id)).lock_owned().await;
        self.load(&id.to_string(), &mut guard).await?;
        locks.draws.push((id, guard));
        Ok(())
    }

    fn remember_partner(&self, id: PartnerId, partner: &Partner) {
        if let Some(Registration { kind, name, public_key, .. }) = partner.registration() {
            let suspended = partner.is_suspended();
            let mut known = self.inner.partner_info.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            // Most commands leave the registration as it was: keep the parsed key then.
            if known.get(&id).is_some_and(|info| {
                info.kind == *kind
                    && info.name == *name
                    && info.public_key == *public_key
                    && info.suspended == suspended
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
    }

    /// A partner's kind, key and status, without queueing behind its commands.
    pub async fn partner_info(&self, id: PartnerId) -> Result<Option<Arc<PartnerInfo>>, EngineError> {
        if let Some(info) = self.inner.partner_info.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&id) {
            return Ok(Some(info.clone()));
        }
        let mut locks = Locks::default();
        self.lock_partner(&mut locks, id).await?;
        Ok(self.inner.partner_info.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&id).cloned())
    }

    /// A copy of a citizen's wallet as the engine sees it (authoritative, not a projection).
    pub async fn wallet(&self, id: CitizenId) -> Result<Wallet, EngineError> {
        let mut locks = Locks::default();
        self.lock_wallet(&mut locks, id).await?;
        Ok(locks.wallet(id).clone())
    }

    /// What `read` finds of an event a cached aggregate already holds, once the event is durable:
    /// it may still be on its way to the disk (pipelined commits). If it never arrives (its
    /// transaction failed, and the aggregate is being loaded again), the caller decides again.
    async fn once_durable<T, F, Fut>(read: F) -> Result<T, CommitError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, StoreError>>,
    {
        for _ in 0..DURABLE_WAIT_POLLS {
            if let Some(found) = read().await.map_err(EngineError::from)? {
                return Ok(found);
            }
            tokio::time::sleep(DURABLE_WAIT_PAUSE).await;
        }
        Err(CommitError::Conflict)
    }

    /// The certification recorded at `candidate` in `association_id`'s stream, where `action_id`'s
    /// may be, read back from the log (the partner keeps only where each is) once durable, with
    /// the event's position (what a retry answers). Called without locks: a durable record never
    /// changes. It is another action's when the candidate was found by a fingerprint that both
    /// ids share: `action_id` was then not certified by the association. Any other event at that
    /// place means the cached partner's transaction failed and another took its place: the caller
    /// decides again.
    async fn recorded_certification(
        &self,
        association_id: PartnerId,
        action_id: ActionId,
        candidate: Candidate,
    ) -> Result<(RecordedCertification, Position), CommitError> {
        let id = association_id.to_string();
        let sequence = candidate.sequence;
        let stored = Self::once_durable(|| self.inner.log.event_at(Partner::TYPE, &id, sequence)).await?;
        let event: PartnerEvent = decode_event::<Partner>(&id, stored.event.payload)?;
        RecordedCertification::from_event(sequence, event)
            .filter(|recorded| !candidate.certain || recorded.outcome.action_id == action_id)
            .map(|recorded| (recorded, stored.position))
            .ok_or(CommitError::Conflict)
    }

    /// Appends what was decided and applies it to the cached states, or answers a retry from the log.
    async fn commit<T>(
        &self,
        mut locks: Locks,
        decided: Decided<T>,
        extra: Extra,
        at: DateTime<Utc>,
    ) -> Result<Committed<T>, CommitError> {
        let (changes, outcome) = match decided {
            Decided::Replay { outcome, original } => {
                drop(locks);
                let log = &self.inner.log;
                let position = Self::once_durable(|| {
                    log.position_of(original.aggregate_type, &original.aggregate_id, original.sequence)
                })
                .await?;
                return Ok(Committed { outcome, position, replayed: true });
            }
            Decided::Apply { changes, outcome } => (changes, outcome),
        };
        if changes.is_empty() && extra.credentials.is_empty() && extra.citizen_details.is_empty() {
            let position = self.inner.log.last_position().await.map_err(EngineError::from)?;
            return Ok(Committed { outcome, position, replayed: false });
        }
        let Changes { territory, partners, wallets, missions, draws } = changes;
        // The typed events go to this process's projections with the committed group, so that
        // they are not decoded again from JSON there (only while a runner subscribes).
        let feeding = self.inner.feed.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).is_some();
        let mut typed: Vec<AnyEvent> = Vec::new();
        // Wallets, then partners, then the territory: the order `EventRef` relies on.
        let mut events = Vec::new();
        for (id, mission_events) in &missions {
            let next = locks.mission(*id).version() + 1;
            events.extend(serialize::<Mission>(&id.to_string(), next, mission_events, at)?);
            if feeding {
                typed.extend(mission_events.iter().map(|event| AnyEvent::Mission(*id, event.clone())));
            }
        }
        for (id, draw_events) in &draws {
            let next = locks.draw(*id).version() + 1;
            events.extend(serialize::<Draw>(&id.to_string(), next, draw_events, at)?);
            if feeding {
                typed.extend(draw_events.iter().map(|event| AnyEvent::Draw(*id, event.clone())));
            }
        }
        for (id, wallet_events) in &wallets {
            let next = locks.wallet(*id).version() + 1;
            events.extend(serialize::<Wallet>(&id.to_string(), next, wallet_events, at)?);
            if feeding {
                typed.extend(wallet_events.iter().map(|event| AnyEvent::Wallet(*id, event.clone())));
            }
        }
        for (id, partner_events) in &partners {
            let next = locks.partner(*id).version() + 1;
            events.extend(serialize::<Partner>(&id.to_string(), next, partner_events, at)?);
            if feeding {
                typed.extend(partner_events.iter().map(|event| AnyEvent::Partner(*id, event.clone())));
            }
        }
        if !territory.is_empty() {
            let next = locks.territory().version() + 1;
            events.extend(serialize::<Territory>(TERRITORY_ID, next, &territory, at)?);
            if feeding {
                typed.extend(territory.iter().cloned().map(AnyEvent::Territory));
            }
        }
        // Apply to the cached states now, queue the events for the committer while the locks are
        // still held (so the queue keeps each aggregate's order), release the locks, and wait for
        // durability: commands to a hot aggregate pipeline into shared transactions.
        let mut touched = Vec::new();
        if let Some(guard) = locks.territory.as_mut()
            && !territory.is_empty()
        {
            touched.push(Touched::Territory(OwnedMutexGuard::mutex(guard).clone()));
            for event in territory {
                guard.state.apply(event);
            }
            let state = &guard.state;
            self.publish_rules_snapshot(state);
        }
        for (id, partner_events) in partners {
            let guard = &mut locks.partners.iter_mut().find(|(key, _)| *key == id).expect("locked").1;
            touched.push(Touched::Partner(OwnedMutexGuard::mutex(guard).clone()));
            for event in partner_events {
                guard.state.apply(event);
            }
            self.remember_partner(id, &guard.state);
        }
        for (id, wallet_events) in wallets {
            let guard = &mut locks.wallets.iter_mut().find(|(key, _)| *key == id).expect("locked").1;
            touched.push(Touched::Wallet(OwnedMutexGuard::mutex(guard).clone()));
            for event in wallet_events {
                guard.state.apply(event);
            }
        }
        for (id, mission_events) in missions {
            let guard = &mut locks.missions.iter_mut().find(|(key, _)| *key == id).expect("locked").1;
            touched.push(Touched::Mission(OwnedMutexGuard::mutex(guard).clone()));
            for event in mission_events {
                guard.state.apply(event);
            }
        }
        for (id, draw_events) in draws {
            let guard = &mut locks.draws.iter_mut().find(|(key, _)| *key == id).expect("locked").1;
            touched.push(Touched::Draw(OwnedMutexGuard::mutex(guard).clone()));
            for event in draw_events {
                guard.state.apply(event);
            }
        }
        let batch = AppendBatch { events, credentials: extra.credentials, citizen_details: extra.citizen_details };
        let (reply, answer) = tokio::sync::oneshot::channel();
        if self.inner.queue.send(Pending { batch, typed, touched, reply }).is_err() {
            locks.mark_stale_all();
            return Err(CommitError::Engine(EngineError::Decode("the committer has stopped".to_owned())));
        }
        drop(locks);
        let positions = match answer.await {
            Ok(Ok(positions)) => positions,
            Ok(Err(CommitFailure::Retry)) => return Err(CommitError::Conflict),
            Ok(Err(CommitFailure::Storage(message))) => return Err(CommitError::Engine(EngineError::Storage(message))),
            Err(_) => return Err(CommitError::Engine(EngineError::Decode("the committer has stopped".to_owned()))),
        };
        let position = positions.last().copied().unwrap_or(0);
        Ok(Committed { outcome, position, replayed: false })
    }

    /// Runs `attempt` until it commits, deciding again after a conflict with another writer.
    async fn run<T, F, Fut>(&self, mut attempt: F) -> Result<Committed<T>, EngineError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Committed<T>, CommitError>>,
    {
        for _ in 0..CONFLICT_RETRIES {
            match attempt().await {
                Ok(committed) => return Ok(committed),
                Err(CommitError::Conflict) => continue,
                Err(CommitError::Engine(error)) => return Err(error),
            }
        }
        Err(EngineError::Contention)
    }

    pub async fn publish_rules(
        &self,
        rules: Rules,
        source: String,
        at: DateTime<Utc>,
    ) -> Result<Committed<u32>, EngineError> {
        self.run(|| async {
            let mut locks = Locks::default();
            self.lock_territory(&mut locks).await?;
            let territory = locks.territory();
            let version = territory.rules_versions().len() as u32 + 1;
            let mut events = territory
                .decide(TerritoryCommand::PublishRules { rules: rules.clone(), source: source.clone(), at })
                .map_err(EngineError::from)?;
            // Rules with gold start the first period now: its commitment goes in the same transaction.
            let seeds = &self.inner.seeds;
            events.extend(territory.gold_schedule(at, rules.gold.as_ref(), at, |period| seeds.gold(period)));
            let decided =
                Decided::Apply { changes: Changes { territory: events, ..Changes::default() }, outcome: version };
            self.commit(locks, decided, Extra::default(), at).await
        })
        .await
    }

    /// Records a signed checkpoint in the log (nothing if one as large is already recorded).
    pub async fn record_checkpoint(
        &self,
        checkpoint: ygor_ledger::territory::SignedCheckpointRecord,
        at: DateTime<Utc>,
    ) -> Result<Committed<()>, EngineError> {
        self.run(|| async {
            let mut locks = Locks::default();
            self.lock_territory(&mut locks).await?;
            let command = TerritoryCommand::RecordCheckpoint { checkpoint: checkpoint.clone() };
            let events = locks.territory().decide(command).map_err(EngineError::from)?;
            let decided = Decided::Apply { changes: Changes { territory: events, ..Changes::default() }, outcome: () };
            self.commit(locks, decided, Extra::default(), at).await
        })
        .await
    }

    pub async fn mint(&self, amount: Tokens, at: DateTime<Utc>) -> Result<Committed<Tokens>, EngineError> {
        self.run(|| async {
            let mut locks = Locks::default();
            self.lock_territory(&mut locks).await?;
            let events =
                locks.territory().decide(TerritoryCommand::MintSupply { amount, at }).map_err(EngineError::from)?;
            let decided =
                Decided::Apply { changes: Changes { territory: events, ..Changes::default() }, outcome: amount };
            self.commit(locks, decided, Extra::default(), at).await
        })
        .await
    }

    /// Registers a partner under a fresh id, with the hash of its bearer token.
    pub async fn register_partner(
        &self,
        id: PartnerId,
        kind: PartnerKind,
        name: String,
        public_key: String,
        token_hash: [u8; 32],
        at: DateTime<Utc>,
    ) -> Result<Committed<PartnerId>, EngineError> {
        self.run(|| async {
            let mut locks = Locks::default();
            self.lock_partner(&mut locks, id).await?;
            let command = PartnerCommand::Register { kind, name: name.clone(), public_key: public_key.clone(), at };
            let events = locks.partner(id).decide(command).map_err(EngineError::from)?;
            let decided =
                Decided::Apply { changes: Changes { partners: vec![(id, events)], ..Changes::default() }, outcome: id };
            let extra = Extra {
                credentials: vec![NewCredential { token_hash, role: kind.to_string(), subject_id: id.to_string() }],
                citizen_details: vec![],
            };
            self.commit(locks, decided, extra, at).await
        })
        .await
    }

    pub async fn suspend_partner(&self, id: PartnerId, at: DateTime<Utc>) -> Result<Committed<()>, EngineError> {
        self.run(|| async {
            let mut locks = Locks::default();
            self.lock_partner(&mut locks, id).await?;
            if locks.partner(id).registration().is_none() {
                return Err(CommitError::Engine(LedgerError::UnknownPartner(id).into()));
            }
            let events = locks.partner(id).decide(PartnerCommand::Suspend { at }).map_err(EngineError::from)?;
            let decided =
                Decided::Apply { changes: Changes { partners: vec![(id, events)], ..Changes::default() }, outcome: () };
            self.commit(locks, decided, Extra::default(), at).await
        })
        .await
    }

    pub async fn allocate_envelope(
        &self,
        id: PartnerId,
        amount: Tokens,
        at: DateTime<Utc>,
    ) -> Result<Committed<Tokens>, EngineError> {
        self.run(|| async {
            let mut locks = Locks::default();
            self.lock_territory(&mut locks).await?;
            self.lock_partner(&mut locks, id).await?;
            let decided = operations::allocate_envelope(locks.territory(), locks.partner(id), id, amount, at)
                .map_err(EngineError::from)?;
            self.commit(locks, decided, Extra::default(), at).await
        })
        .await
    }

    pub async fn register_citizen(
        &self,
        id: CitizenId,
        demographics: Demographics,
        interests: Vec<CategoryId>,
        details: CitizenDetails,
        token_hash: [u8; 32],
        at: DateTime<Utc>,
    ) -> Result<Committed<CitizenId>, EngineError> {
        self.run(|| async {
            let mut locks = Locks::default();
            self.lock_wallet_without_history(&mut locks, id).await?;
            let events = locks
                .wallet(id)
                .decide(WalletCommand::Register {
                    demographics: demographics.clone(),
                    interests: interests.clone(),
                    at,
                })
                .map_err(EngineError::from)?;
            let decided =
                Decided::Apply { changes: Changes { wallets: vec![(id, events)], ..Changes::default() }, outcome: id };
            let extra = Extra {
                credentials: vec![NewCredential { token_hash, role: "citizen".to_owned(), subject_id: id.to_string() }],
                citizen_details: vec![details.clone()],
            };
            self.commit(locks, decided, extra, at).await
        })
        .await
    }

    pub async fn set_interests(
        &self,
        id: CitizenId,
        interests: Vec<CategoryId>,
        at: DateTime<Utc>,
    ) -> Result<Committed<()>, EngineError> {
        self.run(|| async {
            let mut locks = Locks::default();
            self.lock_wallet_without_history(&mut locks, id).await?;
            let events = locks
                .wallet(id)
                .decide(WalletCommand::SetInterests { interests: interests.clone(), at })
                .map_err(EngineError::from)?;
            let decided =
                Decided::Apply { changes: Changes { wallets: vec![(id, events)], ..Changes::default() }, outcome: () };
            self.commit(locks, decided, Extra::default(), at).await
        })
        .await
    }

    /// Publishes a mission; the same mission again is answered from the log, another one under
    /// the same id is `id_conflict`.
    pub async fn publish_mission(
        &self,
        id: MissionId,
        details: MissionDetails,
        at: DateTime<Utc>,
    ) -> Result<Committed<()>, EngineError> {
        self.run(|| async {
            let mut locks = Locks::default();
            self.lock_mission(&mut locks, id).await?;
            let mission = locks.mission(id);
            let what = format!("mission_id {id}");
            let decided = match mission.publication(&details, &what).map_err(EngineError::from)? {
                Publication::AlreadyPublished => Decided::Replay {
                    outcome: (),
                    original: ygor_ledger::operations::EventRef {
                        aggregate_type: "mission",
                        aggregate_id: id.to_string(),
                        sequence: 1,
                    },
                },
                Publication::New => {
                    let events = mission
                        .decide(MissionCommand::Publish { details: details.clone(), at })
                        .map_err(EngineError::from)?;
                    Decided::Apply {
                        changes: Changes { missions: vec![(id, events)], ..Changes::default() },
                        outcome: (),
                    }
                }
            };
            self.commit(locks, decided, Extra::default(), at).await
        })
        .await
    }

    pub async fn close_mission(
        &self,
        id: MissionId,
        association_id: PartnerId,
        at: DateTime<Utc>,
    ) -> Result<Committed<()>, EngineError> {
        self.run(|| async {
            let mut locks = Locks::default();
            self.lock_mission(&mut locks, id).await?;
            let events =
                locks.mission(id).decide(MissionCommand::Close { association_id, at }).map_err(EngineError::from)?;
            let decided =
                Decided::Apply { changes: Changes { missions: vec![(id, events)], ..Changes::default() }, outcome: () };
            self.commit(locks, decided, Extra::default(), at).await
        })
        .await
    }

    /// Creates a draw committed to its seed; the same draw again is answered from the log.
    pub async fn create_draw(
        &self,
        id: DrawId,
        prize: String,
        closes_at: DateTime<Utc>,
        winners: u32,
        at: DateTime<Utc>,
    ) -> Result<Committed<DrawTerms>, EngineError> {
        let commitment = ygor_audit::seed_commitment(&self.inner.seeds.draw(id));
        let terms = DrawTerms { prize, closes_at, winners, commitment };
        self.run(|| async {
            let mut locks = Locks::default();
            self.lock_draw(&mut locks, id).await?;
            let draw = locks.draw(id);
            let decided = match draw.terms() {
                Some(existing) if *existing == terms => Decided::Replay {
                    outcome: terms.clone(),
                    original: ygor_ledger::operations::EventRef {
                        aggregate_type: "draw",
                        aggregate_id: id.to_string(),
                        sequence: 1,
                    },
                },
                Some(_) => {
                    return Err(CommitError::Engine(LedgerError::IdConflict { what: format!("draw_id {id}") }.into()));
                }
                None => {
                    let events =
                        draw.decide(DrawCommand::Create { terms: terms.clone(), at }).map_err(EngineError::from)?;
                    Decided::Apply {
                        changes: Changes { draws: vec![(id, events)], ..Changes::default() },
                        outcome: terms.clone(),
                    }
                }
            };
            self.commit(locks, decided, Extra::default(), at).await
        })
        .await
    }

    /// Spends a citizen's gold tokens as tickets; answers the citizen's tickets in the draw.
    pub async fn enter_draw(
        &self,
        id: DrawId,
        citizen_id: CitizenId,
        tickets: u64,
        at: DateTime<Utc>,
    ) -> Result<Committed<u64>, EngineError> {
        self.run(|| async {
            let mut locks = Locks::default();
            self.lock_draw(&mut locks, id).await?;
            self.lock_wallet_without_history(&mut locks, citizen_id).await?;
            let decided = operations::enter_draw(locks.draw(id), locks.wallet(citizen_id), id, citizen_id, tickets, at)
                .map_err(EngineError::from)?;
            self.commit(locks, decided, Extra::default(), at).await
        })
        .await
    }

    /// Closes a draw after `closes_at`: reveals its seed and draws the winners (docs/audit.md).
    /// Closing again answers the same result.
    pub async fn close_draw(&self, id: DrawId, at: DateTime<Utc>) -> Result<Committed<DrawResult>, EngineError> {
        let seed = self.inner.seeds.draw(id);
        self.run(|| async {
            let mut locks = Locks::default();
            self.lock_draw(&mut locks, id).await?;
            let draw = locks.draw(id);
            let terms = draw.terms().ok_or(LedgerError::UnknownDraw).map_err(EngineError::from)?;
            if let Some(result) = draw.result().cloned() {
                let original = ygor_ledger::operations::EventRef {
                    aggregate_type: "draw",
                    aggregate_id: id.to_string(),
                    sequence: draw.version(),
                };
                return self.commit(locks, Decided::Replay { outcome: result, original }, Extra::default(), at).await;
            }
            if at < terms.closes_at {
                return Err(CommitError::Engine(LedgerError::DrawOpen.into()));
            }
            let entries: Vec<ygor_audit::DrawEntry> = draw
                .entries()
                .iter()
                .map(|(citizen, tickets)| ygor_audit::DrawEntry { citizen_id: citizen.to_string(), tickets: *tickets })
                .collect();
            let invalid = |error: ygor_audit::AuditError| CommitError::Engine(EngineError::Decode(error.to_string()));
            let root = ygor_audit::entries_root(&entries).map_err(invalid)?;
            let winners =
                ygor_audit::draw_winners(&seed, &id.to_string(), &entries, terms.winners as usize).map_err(invalid)?;
            let winners = winners
                .iter()
                .map(|text| {
                    CitizenId::parse(text)
                        .map_err(|_| CommitError::Engine(EngineError::Decode(format!("winner {text}"))))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let result =
                DrawResult { seed: hex::encode(seed), entries_root: hex::encode(root), winners, closed_at: at };
            let events = draw.decide(DrawCommand::Close { result: result.clone() }).map_err(EngineError::from)?;
            let decided = Decided::Apply {
                changes: Changes { draws: vec![(id, events)], ..Changes::default() },
                outcome: result,
            };
            self.commit(locks, decided, Extra::default(), at).await
        })
        .await
    }

    pub async fn certify(&self, command: Certify) -> Result<Committed<CertificationOutcome>, EngineError> {
        let has_gold = self.rules().is_some_and(|rules| rules.rules.gold.is_some());
        if has_gold && self.gold_period_at(command.at).is_none() {
            self.maintain_gold(command.at).await?;
        }
        self.run(|| async {
            let rules = self.rules();
            let mut command = command.clone();
            // The gold outcome: the formula of API.md, with the seed of the period in force when
            // the certification arrived and the probability of the rules it is decided with.
            let gold = rules.as_ref().and_then(|rules| rules.rules.gold.clone());
            match (gold, self.gold_period_at(command.at)) {
                (Some(gold), Some(period)) => {
                    let seed = self.inner.seeds.gold(period);
                    command.gold = ygor_audit::gold_earned(&seed, &command.action_id.to_string(), gold.probability);
                    command.gold_period = Some(period);
                }
                _ => {
                    command.gold = false;
                    command.gold_period = None;
                }
            }
            let mut locks = Locks::default();
            self.lock_partner(&mut locks, command.association_id).await?;
            // A retry (or a reused id): the earlier certification's record is read back from the
            // log without the locks, then decided on under them as if it had been in memory.
            let read = match locks.partner(command.association_id).certification_candidate(command.action_id) {
                None => None,
                Some(candidate) => {
                    drop(locks);
                    let read =
                        self.recorded_certification(command.association_id, command.action_id, candidate).await?;
                    locks = Locks::default();
                    self.lock_partner(&mut locks, command.association_id).await?;
                    Some(read)
                }
            };
            let recorded = read.as_ref().map(|(recorded, _)| recorded);
            self.lock_wallet_without_history(&mut locks, command.citizen_id).await?;
            // Whether an action new to the association is new to the wallet, if the wallet's
            // history is forgotten: known from the fingerprints but for one chance in 2^32 per
            // action (or an id reused for the citizen), then read back. A retry is answered from
            // the association's record alone.
            let retry = recorded.is_some_and(|recorded| recorded.outcome.action_id == command.action_id);
            if !retry && locks.wallet(command.citizen_id).action(command.action_id).is_err() {
                self.restore_history(&mut locks, command.citizen_id).await?;
            }
            let partner = locks.partner(command.association_id);
            if stale_record(partner, command.action_id, recorded) {
                return Err(CommitError::Conflict);
            }
            let decided = operations::certify(
                rules.as_deref(),
                partner,
                locks.wallet(command.citizen_id),
                recorded,
                command.clone(),
            )
            .map_err(EngineError::from)?;
            match (decided, &read) {
                // A retry's original is the record just read: its position is known, and durable.
                (Decided::Replay { outcome, original }, Some((recorded, position)))
                    if recorded.sequence == original.sequence =>
                {
                    Ok(Committed { outcome, position: *position, replayed: true })
                }
                (decided, _) => self.commit(locks, decided, Extra::default(), command.at).await,
            }
        })
        .await
    }

    pub async fn revoke(
        &self,
        association_id: PartnerId,
        action_id: ActionId,
        reason: String,
        at: DateTime<Utc>,
    ) -> Result<Committed<RevocationOutcome>, EngineError> {
        self.run(|| async {
            let mut locks = Locks::default();
            self.lock_partner(&mut locks, association_id).await?;
            let partner = locks.partner(association_id);
            partner.ensure_active(association_id, PartnerKind::Association).map_err(EngineError::from)?;
            let unknown = || CommitError::Engine(LedgerError::UnknownAction(action_id).into());
            let candidate = partner.certification_candidate(action_id).ok_or_else(unknown)?;
            // The citizen is in the certification's record, read back from the log without the
            // lock; the partner is locked again before the wallet (the lock order).
            drop(locks);
            let (recorded, _) = self.recorded_certification(association_id, action_id, candidate).await?;
            if recorded.outcome.action_id != action_id {
                // Another action's, with the same fingerprint: this one was never certified.
                return Err(unknown());
            }
            self.prepare_history(recorded.citizen_id).await?;
            let mut locks = Locks::default();
            self.lock_partner(&mut locks, association_id).await?;
            self.lock_wallet(&mut locks, recorded.citizen_id).await?;
            let partner = locks.partner(association_id);
            if stale_record(partner, action_id, Some(&recorded)) {
                return Err(CommitError::Conflict);
            }
            let decided = operations::revoke(
                partner,
                locks.wallet(recorded.citizen_id),
                Some(&recorded),
                association_id,
                action_id,
                reason.clone(),
                at,
            )
            .map_err(EngineError::from)?;
            self.commit(locks, decided, Extra::default(), at).await
        })
        .await
    }

    pub async fn redeem(&self, command: Redeem) -> Result<Committed<RedemptionOutcome>, EngineError> {
        self.run(|| async {
            self.prepare_history(command.citizen_id).await?;
            let mut locks = Locks::default();
            self.lock_partner(&mut locks, command.venue_id).await?;
            self.lock_wallet(&mut locks, command.citizen_id).await?;
            let decided =
                operations::redeem(locks.partner(command.venue_id), locks.wallet(command.citizen_id), command.clone())
                    .map_err(EngineError::from)?;
            self.commit(locks, decided, Extra::default(), command.at).await
        })
        .await
    }

    pub async fn settle(&self, venue_id: PartnerId, at: DateTime<Utc>) -> Result<Committed<Tokens>, EngineError> {
        let settlement_id = SettlementId::from_uuid(uuid::Uuid::new_v4());
        self.run(|| async {
            let mut locks = Locks::default();
            self.lock_territory(&mut locks).await?;
            self.lock_partner(&mut locks, venue_id).await?;
            let decided = operations::settle(locks.territory(), locks.partner(venue_id), venue_id, settlement_id, at)
                .map_err(EngineError::from)?;
            self.commit(locks, decided, Extra::default(), at).await
        })
        .await
    }

    /// Sweeps the expired lots of the given wallets, in batches of [`SWEEP_BATCH`] wallets per
    /// transaction; each batch also credits the treasury once.
    pub async fn sweep(
        &self,
        mut candidates: Vec<CitizenId>,
        at: DateTime<Utc>,
    ) -> Result<Committed<SweepOutcome>, EngineError> {
        candidates.sort();
        candidates.dedup();
        let mut total = SweepOutcome::default();
        let mut position = self.inner.log.last_position().await?;
        for chunk in candidates.chunks(SWEEP_BATCH) {
            let committed = self
                .run(|| async {
                    for id in chunk {
                        self.prepare_history(*id).await?;
                    }
                    let mut locks = Locks::default();
                    self.lock_territory(&mut locks).await?;
                    for id in chunk {
                        self.lock_wallet(&mut locks, *id).await?;
                    }
                    let wallets: Vec<(CitizenId, &Wallet)> = chunk.iter().map(|id| (*id, locks.wallet(*id))).collect();
                    let decided =
                        operations::sweep_expired(locks.territory(), &wallets, at).map_err(EngineError::from)?;
                    self.commit(locks, decided, Extra::default(), at).await
                })
                .await?;
            total.expired_lots += committed.outcome.expired_lots;
            total.expired_tokens =
                total.expired_tokens.checked_add(committed.outcome.expired_tokens).ok_or(LedgerError::Overflow)?;
            position = position.max(committed.position);
        }
        Ok(Committed { outcome: total, position, replayed: false })
    }
}

/// A request to the committer: one operation's events, the cached aggregates it already applied
/// them to, and where to answer.
struct Pending {
    batch: AppendBatch,
    /// The batch's events as decided, in the same order (empty when no runner subscribed).
    typed: Vec<AnyEvent>,
    touched: Vec<Touched>,
    reply: tokio::sync::oneshot::Sender<Result<Vec<Position>, CommitFailure>>,
}

/// A cached aggregate an operation changed in memory before its events were durable: the
/// committer resets it if the transaction fails.
#[derive(Clone)]
enum Touched {
    Territory(Arc<Mutex<Slot<Territory>>>),
    Partner(Arc<Mutex<Slot<Partner>>>),
    Wallet(Arc<Mutex<Slot<Wallet>>>),
    Mission(Arc<Mutex<Slot<Mission>>>),
    Draw(Arc<Mutex<Slot<Draw>>>),
}

/// The slot, locked, if it is idle: the cache holds the only reference to it (see [`Lru::trim`]).
fn idle<A>(slot: &Arc<Mutex<Slot<A>>>) -> Option<tokio::sync::MutexGuard<'_, Slot<A>>> {
    if Arc::strong_count(slot) != 1 {
        return None;
    }
    slot.try_lock().ok()
}

impl Touched {
    fn key(&self) -> usize {
        match self {
            Touched::Territory(slot) => Arc::as_ptr(slot) as usize,
            Touched::Partner(slot) => Arc::as_ptr(slot) as usize,
            Touched::Wallet(slot) => Arc::as_ptr(slot) as usize,
            Touched::Mission(slot) => Arc::as_ptr(slot) as usize,
            Touched::Draw(slot) => Arc::as_ptr(slot) as usize,
        }
    }

    /// The estimated bytes of the aggregate if it is idle: the cache holds the only reference to
    /// it (see [`Lru::trim`]). The territory is never in the cache.
    fn idle_footprint(&self) -> Option<usize> {
        fn of<A: Cached + Footprint>(slot: &Arc<Mutex<Slot<A>>>) -> Option<usize> {
            let slot = idle(slot)?;
            Some(if slot.loaded { slot.state.footprint() } else { std::mem::size_of::<A>() })
        }
        match self {
            Touched::Territory(_) => None,
            Touched::Partner(slot) => of(slot),
            Touched::Wallet(slot) => of(slot),
            Touched::Mission(slot) => of(slot),
            Touched::Draw(slot) => of(slot),
        }
    }

    /// Forgets the history of an idle wallet (see [`Lru::trim`]) and returns its new estimate,
    /// if it is a loaded wallet that had history to forget. Idle means that every event it
    /// applied is durable, which [`Wallet::forget_history`] requires.
    fn forget_history(&self) -> Option<usize> {
        let Touched::Wallet(slot) = self else {
            return None;
        };
        let mut slot = idle(slot)?;
        (slot.loaded && slot.state.forget_history()).then(|| slot.state.footprint())
    }

    /// Forgets the cached state: the next command reloads the aggregate from the log.
    async fn reset(&self) {
        async fn forget<A: Default>(slot: &Arc<Mutex<Slot<A>>>) {
            let mut guard = slot.lock().await;
            guard.state = A::default();
            guard.loaded = false;
        }
        match self {
            Touched::Territory(slot) => forget(slot).await,
            Touched::Partner(slot) => forget(slot).await,
            Touched::Wallet(slot) => forget(slot).await,
            Touched::Mission(slot) => forget(slot).await,
            Touched::Draw(slot) => forget(slot).await,
        }
    }
}

#[derive(Debug, Clone)]
enum CommitFailure {
    /// Another writer won a race, or the transaction this one depended on failed: decide again.
    Retry,
    /// Storage failed.
    Storage(String),
}

/// Most operations one transaction carries.
const GROUP_MAX: usize = 512;

/// How long the committer keeps a transaction opened ahead for the next group when no work comes.
const SPARE_IDLE: std::time::Duration = std::time::Duration::from_millis(20);

/// A transaction being opened (or open) for the next group.
type Spare = tokio::task::JoinHandle<Result<ygor_store::AppendTransaction, StoreError>>;

/// A group whose transaction is committing while the committer writes the next one.
struct InFlight {
    group: Vec<Pending>,
    counts: Vec<usize>,
    events: Vec<NewEvent>,
    /// The typed events of `events`, if every operation of the group had them.
    typed: Option<Vec<AnyEvent>>,
    commit: tokio::task::JoinHandle<Result<Vec<Position>, StoreError>>,
}

impl Engine {
    /// The committer: appends the queued operations in groups, ONE transaction per group (group
    /// commit), in the order they were queued. Operations apply their events to the cached
    /// states and queue them while holding their aggregates' locks, then release the locks and
    /// wait here for durability: so commands to one hot aggregate pipeline instead of each
    /// waiting for a disk sync, and a client hears of success only once its events are durable.
    ///
    /// Two groups overlap: while group k commits (its disk sync), group k+1 is gathered and
    /// written in its own open transaction (on PostgreSQL; SQLite's single write turn makes it
    /// wait). Group k+1 commits only once group k has: positions and commits keep the queue's order.
    ///
    /// If a group's transaction fails, every operation in it — and every operation queued behind
    /// it, which may have decided on the failed group's state, including a group already written
    /// and not committed — fails too (with `Retry`, so the engine decides them again from the
    /// log), and the cached states they touched are reset.
    async fn commit_loop(inner: std::sync::Weak<Inner>, mut queue: tokio::sync::mpsc::UnboundedReceiver<Pending>) {
        let mut flight: Option<InFlight> = None;
        // The transaction the next group will be written in, opened while the current one is
        // written (see `EventLog::open_append`): under load, a group's path to the disk is then
        // one INSERT, not BEGIN and then an INSERT. Held at most `SPARE_IDLE` without work.
        let mut spare: Option<Spare> = None;
        loop {
            let first = match flight.as_mut() {
                None => match spare.take() {
                    None => match queue.recv().await {
                        Some(first) => first,
                        None => return,
                    },
                    Some(held) => match tokio::time::timeout(SPARE_IDLE, queue.recv()).await {
                        Ok(Some(first)) => {
                            spare = Some(held);
                            first
                        }
                        Ok(None) => return,
                        Err(_) => {
                            // Idle: an open transaction would hold back other readers (or,
                            // on SQLite, other writers) for nothing.
                            if let Ok(Ok(transaction)) = held.await {
                                let _ = transaction.rollback().await;
                            }
                            continue;
                        }
                    },
                },
                Some(current) => tokio::select! {
                    biased;
                    result = &mut current.commit => {
                        let Some(engine) = Engine::upgrade(&inner) else { return };
                        let done = flight.take().expect("a group is in flight");
                        engine.conclude(done, result, Vec::new(), &mut queue).await;
                        continue;
                    }
                    next = queue.recv() => match next {
                        Some(first) => first,
                        None => return,
                    },
                },
            };
            let Some(engine) = Engine::upgrade(&inner) else {
                return;
            };
            let mut group = vec![first];
            while group.len() < GROUP_MAX {
                match queue.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
            let mut merged = AppendBatch { events: Vec::new(), credentials: Vec::new(), citizen_details: Vec::new() };
            let mut counts = Vec::with_capacity(group.len());
            let mut typed = Some(Vec::new());
            for pending in &mut group {
                counts.push(pending.batch.events.len());
                match typed.as_mut() {
                    Some(all) if pending.typed.len() == pending.batch.events.len() => all.append(&mut pending.typed),
                    _ => typed = None,
                }
                merged.events.append(&mut pending.batch.events);
                merged.credentials.append(&mut pending.batch.credentials);
                merged.citizen_details.append(&mut pending.batch.citizen_details);
            }
            // Written while the group before commits (SQLite waits for its write turn here); the
            // group before is answered as soon as its commit ends.
            let writing = std::time::Instant::now();
            let opened = {
                let log = &engine.inner.log;
                let taken = spare.take();
                let next_spare = &mut spare;
                let opening = async {
                    let transaction = match taken {
                        Some(held) => held.await.unwrap_or_else(|failed| {
                            Err(StoreError::Serialization(format!("opening a transaction failed: {failed}")))
                        }),
                        None => log.open_append().await,
                    }?;
                    // Only now: on SQLite the spare waits for the write turn this one holds.
                    let spare_log = log.clone();
                    *next_spare = Some(tokio::spawn(async move { spare_log.open_append().await }));
                    let written = log.write_append(transaction, &merged).await;
                    CommitStats::add(&engine.inner.stats.write_micros, CommitStats::micros_since(writing));
                    written
                };
                tokio::pin!(opening);
                let mut opened = None;
                if let Some(mut previous) = flight.take() {
                    let result = tokio::select! {
                        result = &mut previous.commit => result,
                        written = &mut opening => {
                            opened = Some(written);
                            (&mut previous.commit).await
                        }
                    };
                    let failed = !result.as_ref().is_ok_and(Result::is_ok);
                    if failed {
                        // This group may build on the failed one: it must not commit.
                        let written = match opened.take() {
                            Some(written) => written,
                            None => opening.await,
                        };
                        if let Ok(open) = written {
                            let _ = open.rollback().await;
                        }
                        engine.conclude(previous, result, group, &mut queue).await;
                        continue;
                    }
                    engine.conclude(previous, result, Vec::new(), &mut queue).await;
                }
                match opened {
                    Some(opened) => opened,
                    None => opening.await,
                }
            };
            match opened {
                Ok(open) => {
                    let stats = engine.inner.stats.clone();
                    let commit = tokio::spawn(async move {
                        let committing = std::time::Instant::now();
                        let committed = open.commit().await;
                        CommitStats::add(&stats.commit_micros, CommitStats::micros_since(committing));
                        committed
                    });
                    flight = Some(InFlight { group, counts, events: merged.events, typed, commit });
                }
                Err(error) => engine.fail_from(group, failure_of(error), Vec::new(), &mut queue).await,
            }
        }
    }

    fn upgrade(inner: &std::sync::Weak<Inner>) -> Option<Engine> {
        inner.upgrade().map(|inner| Engine { inner })
    }

    /// Answers the operations of a group whose commit has ended. If it failed, they fail, and so
    /// do `behind` (a group written after it, rolled back) and everything queued.
    async fn conclude(
        &self,
        done: InFlight,
        result: Result<Result<Vec<Position>, StoreError>, tokio::task::JoinError>,
        behind: Vec<Pending>,
        queue: &mut tokio::sync::mpsc::UnboundedReceiver<Pending>,
    ) {
        let InFlight { group, counts, events, typed, commit: _ } = done;
        let positions = match result {
            Ok(Ok(positions)) => positions,
            Ok(Err(error)) => return self.fail_from(group, failure_of(error), behind, queue).await,
            Err(panicked) => {
                let failure = failure_of(StoreError::Serialization(format!("the commit task failed: {panicked}")));
                return self.fail_from(group, failure, behind, queue).await;
            }
        };
        let stats = &self.inner.stats;
        CommitStats::add(&stats.groups, 1);
        CommitStats::add(&stats.operations, group.len() as u64);
        CommitStats::add(&stats.events, positions.len() as u64);
        let mut rest = positions.as_slice();
        let mut last = 0;
        for (pending, count) in group.into_iter().zip(counts) {
            let (mine, others) = rest.split_at(count.min(rest.len()));
            rest = others;
            last = mine.last().copied().unwrap_or(last);
            let _ = pending.reply.send(Ok(mine.to_vec()));
        }
        self.feed(events, typed, &positions);
        self.inner.committed.send_modify(|latest| *latest = (*latest).max(last));
    }

    /// Hands a committed group to the subscriber of [`Engine::committed_events`], if any. A group
    /// without its typed events (decided before the runner subscribed) is not fed: the runner
    /// reads it from the log.
    fn feed(&self, events: Vec<NewEvent>, typed: Option<Vec<AnyEvent>>, positions: &[Position]) {
        let mut feed = self.inner.feed.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (Some(sender), Some(typed)) = (feed.as_ref(), typed) else {
            return;
        };
        if typed.len() != events.len() || positions.len() != events.len() {
            return;
        }
        let fed = events
            .into_iter()
            .zip(typed)
            .zip(positions)
            .map(|((stored, event), position)| FedEvent { position: *position, stored, event })
            .collect();
        if sender.send(fed).is_err() {
            // The subscriber has gone: stop building its batches.
            *feed = None;
        }
    }

    /// Fails a group and everything queued behind it, resetting every aggregate they touched.
    async fn fail_from(
        &self,
        group: Vec<Pending>,
        failure: CommitFailure,
        behind: Vec<Pending>,
        queue: &mut tokio::sync::mpsc::UnboundedReceiver<Pending>,
    ) {
        let mut failed = group;
        let mut behind = behind;
        let mut first = true;
        loop {
            // Reset first, then drain: an operation that decided on a touched state queued its
            // request before it released the lock the reset waits for, so the drain sees it.
            // Every round resets again, even an aggregate an earlier round reset: an operation
            // drained now may have applied its events to the state reloaded since.
            let mut reset = std::collections::HashSet::new();
            for pending in &failed {
                for touched in &pending.touched {
                    if reset.insert(touched.key()) {
                        touched.reset().await;
                    }
                }
            }
            for pending in failed.drain(..) {
                let answer = if first { failure.clone() } else { CommitFailure::Retry };
                let _ = pending.reply.send(Err(answer));
            }
            first = false;
            failed.append(&mut behind);
            while let Ok(next) = queue.try_recv() {
                failed.push(next);
            }
            if failed.is_empty() {
                break;
            }
        }
        // The rules and gold snapshots may show what just failed: reload the territory.
        let mut locks = Locks::default();
        if self.lock_territory(&mut locks).await.is_ok() {
            self.publish_rules_snapshot(locks.territory());
        }
    }
}

/// What the operations of a failed group are told.
fn failure_of(error: StoreError) -> CommitFailure {
    match error {
        StoreError::Conflict { .. } => CommitFailure::Retry,
        other => {
            tracing::error!(error = %other, "a group commit failed; its operations fail and their aggregates reload");
            CommitFailure::Storage(other.to_string())
        }
    }
}

enum CommitError {
    Conflict,
    Engine(EngineError),
}

impl From<EngineError> for CommitError {
    fn from(error: EngineError) -> Self {
        CommitError::Engine(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ygor_ledger::partner::{CertificationRecord, PartnerEvent, SignedRequest};
    use ygor_ledger::territory::TerritoryEvent;

    /// `serialize` writes the canonical form of the event's `Value` (what it wrote before it
    /// skipped the `Value`), and the event reads back as itself.
    fn check<A: Aggregate>(id: &str, event: A::Event)
    where
        A::Event: PartialEq + std::fmt::Debug,
    {
        let at = DateTime::from_timestamp(1_780_000_000, 123_456_000).expect("a time");
        let written = serialize::<A>(id, 7, std::slice::from_ref(&event), at).expect("serialises").remove(0);
        let value = serde_json::to_value(&event).expect("a value");
        let expected = String::from_utf8(ygor_crypto::canonical_json(&value).expect("canonical")).expect("UTF-8");
        assert_eq!(written.canonical_payload(), Some(expected.as_str()));
        let head = written.head();
        assert_eq!((head.aggregate_type, head.aggregate_id, head.sequence), (A::TYPE, id, 7));
        assert_eq!(written.event().payload, value);
        let read_back: A::Event = serde_json::from_str(written.payload_text()).expect("decodes");
        assert_eq!(read_back, event);
    }

    #[test]
    fn events_are_stored_in_the_canonical_form_of_their_value() {
        let at = DateTime::from_timestamp(1_780_000_000, 0).expect("a time");
        // Rules carry fractions (the gold probability): the text canonicaliser's general path.
        let source = include_str!("../../demo/src/demo_rules.toml");
        let rules = Rules::parse(source).expect("sample rules");
        let published =
            TerritoryEvent::RulesPublished { version: 2, rules, source: source.to_owned(), published_at: at };
        check::<Territory>(TERRITORY_ID, published);
        let request = serde_json::json!({
            "signature": "c2ln",
            "category": "solidarité",
            "note": "« Vélo » \"club\"\n\u{1}",
            "quantity": 3,
        });
        let serde_json::Value::Object(request) = request else { unreachable!("an object") };
        let action_id = ActionId::parse("3f2504e0-4f89-41d3-9a0c-0305e82c3301").expect("an id");
        let record = CertificationRecord {
            action_id,
            citizen_id: CitizenId::parse("3f2504e0-4f89-41d3-9a0c-0305e82c3302").expect("an id"),
            category: CategoryId::parse("solidarite").expect("a category"),
            quantity: 3,
            occurred_at: at,
            signature: "c2ln".to_owned(),
            request: SignedRequest::of(request),
            fingerprint: "f".repeat(64),
            rules_version: 2,
            gold_period: Some(4),
            outcome: CertificationOutcome {
                action_id,
                tokens: Tokens::new(u64::from(u32::MAX)),
                gold: true,
                gold_period: Some(4),
                lot_id: None,
                expires_at: Some(at),
            },
        };
        check::<Partner>(
            "3f2504e0-4f89-41d3-9a0c-0305e82c3303",
            PartnerEvent::CertificationRecorded { record, certified_at: at },
        );
    }

    #[test]
    fn an_event_without_a_canonical_form_is_stored_as_its_compact_text() {
        let at = DateTime::from_timestamp(1_780_000_000, 0).expect("a time");
        // Beyond 2^53 - 1: JSON cannot carry it exactly, so RFC 8785 has no form for it.
        let event = PartnerEvent::EnvelopeReceived { amount: Tokens::new(u64::MAX), received_at: at };
        let written = serialize::<Partner>("3f2504e0-4f89-41d3-9a0c-0305e82c3303", 1, std::slice::from_ref(&event), at)
            .expect("serialises")
            .remove(0);
        assert_eq!(written.canonical_payload(), None);
        assert_eq!(written.payload_text(), serde_json::to_string(&event).expect("compact text"));
        assert_eq!(written.event().payload, serde_json::to_value(&event).expect("a value"));
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    fn wallet_key() -> AggregateKey {
        AggregateKey::Wallet(CitizenId::from_uuid(uuid::Uuid::new_v4()))
    }

    #[tokio::test]
    async fn a_trim_drops_idle_aggregates_least_recently_used_first_and_never_a_busy_one() {
        // Room for two empty entries, not three.
        let one = ENTRY_BYTES + std::mem::size_of::<Wallet>();
        let aggregates = Aggregates::new(2 * one + one / 2, false);
        let (oldest, older, held, newest) = (wallet_key(), wallet_key(), wallet_key(), wallet_key());
        drop(aggregates.slot::<Wallet>(oldest));
        drop(aggregates.slot::<Wallet>(older));
        // Held the way a command holds it: locked, through its own reference.
        let busy = aggregates.slot::<Wallet>(held).lock_owned().await;
        drop(aggregates.slot::<Wallet>(newest));
        aggregates.trim_now();
        let kept = |key: &AggregateKey| aggregates.lock().entries.contains_key(key);
        assert!(!kept(&oldest) && !kept(&older), "the two least recently used idle ones go");
        assert!(kept(&held), "a locked aggregate stays, whatever its age");
        assert!(kept(&newest));
        assert_eq!(aggregates.figures().evicted, 2);

        // Released, the held one is the least recently used idle entry.
        drop(busy);
        let other = wallet_key();
        drop(aggregates.slot::<Wallet>(other));
        aggregates.trim_now();
        assert!(!kept(&held) && kept(&newest) && kept(&other));
        assert!(aggregates.figures().bytes <= 2 * one + one / 2);
    }

    /// A wallet slot as a command leaves it: loaded, registered, with `lots` lots of 10 tokens;
    /// `spends`: looked up as a redemption does, which needs the history.
    async fn wallet_with_lots(aggregates: &Aggregates, key: AggregateKey, lots: usize, spends: bool) {
        use ygor_ledger::LotId;
        use ygor_ledger::wallet::{NewLot, WalletEvent};
        let slot = aggregates.look_up::<Wallet>(key, spends);
        let mut slot = slot.lock().await;
        let at = Utc::now();
        slot.state.apply_event(WalletEvent::CitizenRegistered {
            demographics: Demographics::default(),
            interests: vec![],
            registered_at: at,
        });
        for _ in 0..lots {
            slot.state.apply_event(WalletEvent::ActionCertified {
                action_id: ActionId::from_uuid(uuid::Uuid::new_v4()),
                association_id: PartnerId::from_uuid(uuid::Uuid::new_v4()),
                category: CategoryId::parse("ecologie").expect("a category"),
                quantity: 1,
                occurred_at: at,
                tokens: Tokens::new(10),
                lot: Some(NewLot { lot_id: LotId::from_uuid(uuid::Uuid::new_v4()), issued_at: at, expires_at: at }),
                gold: false,
                certified_at: at,
            });
        }
        slot.loaded = true;
    }

    fn forgotten_through(aggregates: &Aggregates, key: AggregateKey) -> Option<usize> {
        let slot = aggregates.lock().entries.get(&key).map(|entry| entry.slot.clone());
        match slot {
            Some(Touched::Wallet(slot)) => slot.try_lock().expect("idle").state.forgotten_through(),
            _ => panic!("no wallet cached under {key:?}"),
        }
    }

    #[tokio::test]
    async fn a_trim_forgets_the_history_of_wallets_that_have_not_spent_lately() {
        let aggregates = Aggregates::new(usize::MAX, false);
        let (earning, spending, busy) = (wallet_key(), wallet_key(), wallet_key());
        wallet_with_lots(&aggregates, earning, 20, false).await;
        wallet_with_lots(&aggregates, spending, 20, true).await;
        wallet_with_lots(&aggregates, busy, 20, false).await;
        let held = aggregates.slot::<Wallet>(busy).lock_owned().await;
        aggregates.trim_now();
        assert_eq!(forgotten_through(&aggregates, earning), Some(21), "a wallet that only earns forgets");
        assert_eq!(forgotten_through(&aggregates, spending), None, "one that spent keeps its history");
        assert_eq!(held.state.forgotten_through(), None, "a busy one is left alone");
        let figures = aggregates.figures();
        assert_eq!((figures.entries, figures.evicted, figures.histories_forgotten), (3, 0, 1), "{figures:?}");
        let bytes = |key: AggregateKey| aggregates.lock().entries[&key].bytes;
        assert!(bytes(earning) < bytes(spending) / 2, "{} against {}", bytes(earning), bytes(spending));
        drop(held);

        // Once the spending wallet has gone HISTORY_KEPT look-ups without needing its history.
        let used = aggregates.lock().entries[&spending].history_used;
        aggregates.lock().clock = used + HISTORY_KEPT - 1;
        aggregates.trim_now();
        assert_eq!(forgotten_through(&aggregates, spending), None);
        aggregates.lock().clock = used + HISTORY_KEPT;
        aggregates.trim_now();
        assert_eq!(forgotten_through(&aggregates, spending), Some(21));
        assert_eq!(forgotten_through(&aggregates, busy), Some(21));
        assert_eq!(aggregates.figures().histories_forgotten, 3);
    }

    #[tokio::test]
    async fn a_partial_trim_measures_only_what_was_looked_up_since_the_last_one() {
        let aggregates = Aggregates::new(usize::MAX, false);
        let (spending, earning, busy) = (wallet_key(), wallet_key(), wallet_key());
        wallet_with_lots(&aggregates, spending, 20, true).await;
        wallet_with_lots(&aggregates, busy, 5, false).await;
        let held = aggregates.slot::<Wallet>(busy).lock_owned().await;
        aggregates.trim_touched_now();
        assert_eq!(forgotten_through(&aggregates, spending), None);
        assert_eq!(aggregates.lock().touched, vec![busy], "a busy entry is measured at the next trim");
        let measured = aggregates.figures().bytes;
        assert_eq!(measured, aggregates.lock().entries.values().map(|entry| entry.bytes).sum::<usize>());

        // Long after the spending wallet last needed its history: untouched, a partial trim
        // leaves it; a wallet looked up since is measured (and forgets), as is the one released.
        let used = aggregates.lock().entries[&spending].history_used;
        aggregates.lock().clock = used + HISTORY_KEPT;
        drop(held);
        wallet_with_lots(&aggregates, earning, 20, false).await;
        aggregates.trim_touched_now();
        assert_eq!(forgotten_through(&aggregates, spending), None, "not looked up: not measured");
        assert_eq!(forgotten_through(&aggregates, earning), Some(21));
        assert_eq!(forgotten_through(&aggregates, busy), Some(6));
        assert!(aggregates.lock().touched.is_empty());
        // The walk over every entry finds it.
        aggregates.trim_now();
        assert_eq!(forgotten_through(&aggregates, spending), Some(21));
        let figures = aggregates.figures();
        assert_eq!(figures.bytes, aggregates.lock().entries.values().map(|entry| entry.bytes).sum::<usize>());
        assert_eq!(figures.histories_forgotten, 3);
    }

    #[tokio::test]
    async fn over_budget_a_trim_forgets_histories_before_it_drops_an_aggregate() {
        let probe = Aggregates::new(usize::MAX, false);
        let key = wallet_key();
        wallet_with_lots(&probe, key, 200, true).await;
        probe.trim_now();
        let full = probe.figures().bytes;
        // Room for both wallets once one has forgotten its history, not with both histories.
        let aggregates = Aggregates::new(full * 3 / 2 + full / 4, false);
        let (older, newer) = (wallet_key(), wallet_key());
        wallet_with_lots(&aggregates, older, 200, true).await;
        wallet_with_lots(&aggregates, newer, 200, true).await;
        aggregates.trim_now();
        let figures = aggregates.figures();
        assert_eq!((figures.entries, figures.evicted, figures.histories_forgotten), (2, 0, 1), "{figures:?}");
        assert_eq!(forgotten_through(&aggregates, older), Some(201), "the least recently used forgets");
        assert_eq!(forgotten_through(&aggregates, newer), None);

        // With room for nothing, the history goes first, then the aggregate.
        let tight = Aggregates::new(1, false);
        wallet_with_lots(&tight, older, 3, true).await;
        tight.trim_now();
        let figures = tight.figures();
        assert_eq!((figures.entries, figures.histories_forgotten, figures.evicted), (0, 1, 1));
        // Unless the engine keeps its aggregates (the tests' setting).
        let keeping = Aggregates::new(1, true);
        wallet_with_lots(&keeping, older, 3, true).await;
        keeping.trim_now();
        let figures = keeping.figures();
        assert_eq!((figures.entries, figures.histories_forgotten, figures.evicted), (1, 1, 0));
    }

    #[tokio::test]
    async fn a_reference_kept_by_a_transaction_in_flight_keeps_the_aggregate() {
        let aggregates = Aggregates::new(1, false);
        let key = wallet_key();
        // What a `Pending` keeps until its events are durable.
        let touched = Touched::Wallet(aggregates.slot::<Wallet>(key));
        aggregates.trim_now();
        assert!(aggregates.lock().entries.contains_key(&key));
        drop(touched);
        aggregates.trim_now();
        assert!(!aggregates.lock().entries.contains_key(&key));
    }

    #[tokio::test]
    async fn an_aggregate_comes_back_from_the_log_as_it_was_before_it_was_dropped() {
        let (log, _dir) = ygor_store::testing::fresh_event_log(ygor_store::Backend::Sqlite).await;
        let seeds = Seeds::new(ygor_crypto::SecretKey::generate());
        let engine = Engine::open_with(log, seeds, EngineOptions { cache_budget: 1, keep_aggregates: false })
            .await
            .expect("opens");
        let citizen = CitizenId::from_uuid(uuid::Uuid::new_v4());
        let demographics = Demographics { neighbourhood: Some("Gare".to_owned()), birth_year: Some(1984) };
        let details = CitizenDetails {
            citizen_id: citizen.to_string(),
            neighbourhood: demographics.neighbourhood.clone(),
            birth_year: demographics.birth_year,
        };
        let interests = vec![CategoryId::parse("ecologie").expect("a category")];
        engine
            .register_citizen(citizen, demographics, interests, details, [7; 32], Utc::now())
            .await
            .expect("registers");
        let remembered = engine.wallet(citizen).await.expect("a wallet");
        engine.inner.aggregates.trim_now();
        assert_eq!(engine.cache_figures().entries, 0, "the budget leaves room for nothing idle");
        assert_eq!(engine.wallet(citizen).await.expect("a wallet"), remembered);
        assert!(remembered.holdings().is_registered());
    }
}
