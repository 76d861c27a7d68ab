//! The aggregate cache: every aggregate the engine loaded but the territory, each behind its own
//! mutex, with an estimate of the memory it holds (decision 12).
//!
//! When the estimates add up to more than the budget, the aggregates no command holds or waits
//! for, and whose changes are durable, go, least recently used first: the next command that needs
//! one loads it again from the log. Whatever the budget, a wallet whose whole state no look-up
//! needed for a while is summarised (decision 16). Without a bound, a server that certified for
//! months kept every wallet and every association's certifications in memory.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, MutexGuard};

use tokio::sync::Mutex;
use ygor_ledger::codec::Versioned;
use ygor_ledger::{CitizenId, Draw, DrawId, Mission, MissionId, PartnerId, Territory};

use crate::compact::{CachedPartner, CachedWallet};
use crate::footprint::Footprint;

/// An aggregate's state as the cache holds it; `loaded` is false until it was read from the log
/// (and again after a failed commit made the state in memory wrong).
#[derive(Debug, Default)]
pub struct Cached<S> {
    pub state: S,
    pub loaded: bool,
    /// The sequence of the latest snapshot of the aggregate stored or read (see
    /// [`crate::snapshots`]); 0 if none.
    pub snapshot: usize,
    /// How many times the state was forgotten: a snapshot serialised before a reset must not be
    /// stored.
    pub resets: u64,
}

impl<S: Default> Cached<S> {
    /// A state not read from the log yet.
    pub fn unloaded() -> Self {
        Cached { state: S::default(), loaded: false, snapshot: 0, resets: 0 }
    }

    /// Forgets the state: the next command loads it again from the log.
    pub fn forget(&mut self) {
        let resets = self.resets.wrapping_add(1);
        *self = Cached { resets, ..Cached::unloaded() };
    }
}

/// One cached aggregate, shared by the cache and the commands that hold it.
pub type Shared<S> = Arc<Mutex<Cached<S>>>;

/// A state the cache keeps: its aggregate's events, and its place in [`Handle`].
pub trait State: Default + Send + 'static {
    /// The aggregate whose stream the state is built from.
    type Aggregate: cqrs_es::Aggregate<Event = Self::Event>;
    type Event: Versioned + Clone + Send + 'static;

    /// The number of events applied: the sequence of the last one.
    fn version(&self) -> usize;
    fn apply(&mut self, event: Self::Event);
    fn handle(shared: Shared<Self>) -> Handle;
    fn shared(handle: &Handle) -> Option<&Shared<Self>>;

    /// The format of the state's snapshots, if the engine keeps snapshots of it (see
    /// [`crate::snapshots`]).
    const SNAPSHOT_FORMAT: Option<i32> = None;

    /// The state as its snapshot stores it.
    fn to_snapshot(&self) -> Result<Vec<u8>, String> {
        Err("this state is not kept as snapshots".to_owned())
    }

    /// The state a snapshot stored.
    fn from_snapshot(_body: &[u8]) -> Result<Self, String> {
        Err("this state is not kept as snapshots".to_owned())
    }
}

macro_rules! state {
    ($state:ty, $aggregate:ty, $variant:ident, |$self_:ident, $event:ident| $apply:expr, |$this:ident| $version:expr) => {
        state!($state, $aggregate, $variant, |$self_, $event| $apply, |$this| $version, {});
    };
    ($state:ty, $aggregate:ty, $variant:ident, |$self_:ident, $event:ident| $apply:expr, |$this:ident| $version:expr,
        snapshot format $format:expr) => {
        state!($state, $aggregate, $variant, |$self_, $event| $apply, |$this| $version, {
            const SNAPSHOT_FORMAT: Option<i32> = Some($format);

            fn to_snapshot(&self) -> Result<Vec<u8>, String> {
                crate::snapshots::encode(self)
            }

            fn from_snapshot(body: &[u8]) -> Result<Self, String> {
                crate::snapshots::decode(body)
            }
        });
    };
    ($state:ty, $aggregate:ty, $variant:ident, |$self_:ident, $event:ident| $apply:expr, |$this:ident| $version:expr,
        { $($snapshots:tt)* }) => {
        impl State for $state {
            $($snapshots)*

            type Aggregate = $aggregate;
            type Event = <$aggregate as cqrs_es::Aggregate>::Event;

            fn version(&self) -> usize {
                let $this = self;
                $version
            }

            fn apply(&mut self, $event: Self::Event) {
                let $self_ = self;
                $apply
            }

            fn handle(shared: Shared<Self>) -> Handle {
                Handle::$variant(shared)
            }

            fn shared(handle: &Handle) -> Option<&Shared<Self>> {
                match handle {
                    Handle::$variant(shared) => Some(shared),
                    _ => None,
                }
            }
        }
    };
}

state!(Territory, Territory, Territory, |state, event| state.apply_event(event), |state| state.version(),
    snapshot format crate::snapshots::TERRITORY_FORMAT);
state!(CachedPartner, ygor_ledger::Partner, Partner, |state, event| state.apply(event), |state| state
    .partner
    .version(), snapshot format crate::snapshots::PARTNER_FORMAT);
state!(CachedWallet, ygor_ledger::Wallet, Wallet, |state, event| state.apply(event), |state| state.version());
state!(Mission, Mission, Mission, |state, event| state.apply_event(event), |state| state.version());
state!(Draw, Draw, Draw, |state, event| state.apply_event(event), |state| state.version());

/// One cached aggregate of any kind.
#[derive(Clone)]
pub enum Handle {
    Territory(Shared<Territory>),
    Partner(Shared<CachedPartner>),
    Wallet(Shared<CachedWallet>),
    Mission(Shared<Mission>),
    Draw(Shared<Draw>),
}

/// The state, locked, if it is idle: the cache holds the only reference to it (see [`Lru::trim`]).
fn idle<S>(shared: &Shared<S>) -> Option<tokio::sync::MutexGuard<'_, Cached<S>>> {
    if Arc::strong_count(shared) != 1 {
        return None;
    }
    shared.try_lock().ok()
}

impl Handle {
    /// Identifies the aggregate (two handles on the same state have the same key).
    pub fn key(&self) -> usize {
        match self {
            Handle::Territory(shared) => Arc::as_ptr(shared) as usize,
            Handle::Partner(shared) => Arc::as_ptr(shared) as usize,
            Handle::Wallet(shared) => Arc::as_ptr(shared) as usize,
            Handle::Mission(shared) => Arc::as_ptr(shared) as usize,
            Handle::Draw(shared) => Arc::as_ptr(shared) as usize,
        }
    }

    /// The estimated bytes of the aggregate if it is idle. The territory is never in the cache.
    fn idle_footprint(&self) -> Option<usize> {
        fn of<S: Footprint>(shared: &Shared<S>) -> Option<usize> {
            let cached = idle(shared)?;
            Some(if cached.loaded { cached.state.footprint() } else { std::mem::size_of::<S>() })
        }
        match self {
            Handle::Territory(_) => None,
            Handle::Partner(shared) => of(shared),
            Handle::Wallet(shared) => of(shared),
            Handle::Mission(shared) => of(shared),
            Handle::Draw(shared) => of(shared),
        }
    }

    /// Summarises an idle, loaded wallet (see [`CachedWallet::summarise`]) and returns its new
    /// estimate, if that changed it. Idle means that every event it applied is durable, which a
    /// summary requires.
    fn summarise(&self) -> Option<usize> {
        let Handle::Wallet(shared) = self else {
            return None;
        };
        let mut cached = idle(shared)?;
        (cached.loaded && cached.state.summarise()).then(|| cached.state.footprint())
    }

    /// Forgets the cached state: the next command loads the aggregate again from the log.
    pub async fn reset(&self) {
        match self {
            Handle::Territory(shared) => shared.lock().await.forget(),
            Handle::Partner(shared) => shared.lock().await.forget(),
            Handle::Wallet(shared) => shared.lock().await.forget(),
            Handle::Mission(shared) => shared.lock().await.forget(),
            Handle::Draw(shared) => shared.lock().await.forget(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AggregateKey {
    Partner(PartnerId),
    Wallet(CitizenId),
    Mission(MissionId),
    Draw(DrawId),
}

struct CacheEntry {
    handle: Handle,
    last_used: u64,
    /// For a wallet, the clock at the last look-up that needed it whole; 0 if none did.
    whole_used: u64,
    /// The estimate when the aggregate was last seen idle.
    bytes: usize,
}

impl CacheEntry {
    /// If the aggregate is idle, measures it again (see [`Lru::trim`]), first summarising it if
    /// it is a wallet that no look-up needed whole since `unused_since`; returns whether it was
    /// idle.
    fn measure(&mut self, unused_since: u64, summarised: &mut u64) -> bool {
        let Some(bytes) = self.handle.idle_footprint() else {
            return false;
        };
        self.bytes = bytes + ENTRY_BYTES;
        if self.whole_used <= unused_since {
            self.summarise(summarised);
        }
        true
    }

    /// Summarises an idle wallet and returns the bytes that freed, counting it in `summarised`;
    /// 0 for anything else.
    fn summarise(&mut self, summarised: &mut u64) -> usize {
        let Some(bytes) = self.handle.summarise() else {
            return 0;
        };
        let freed = self.bytes.saturating_sub(bytes + ENTRY_BYTES);
        self.bytes = bytes + ENTRY_BYTES;
        *summarised += 1;
        freed
    }
}

/// What an entry costs besides its aggregate: the map's bucket and the state's allocation.
const ENTRY_BYTES: usize = std::mem::size_of::<(AggregateKey, CacheEntry)>() + 64;

/// How many look-ups a wallet stays whole after the last one that needed it whole (a redemption,
/// a revocation, a sweep): about 30,000 operations. A wallet that only earns tokens is summarised
/// at the next trim (decision 16).
pub const WHOLE_KEPT: u64 = 1 << 16;

/// Look-ups between two trims, at least: a trim runs once every `max(TRIM_EVERY, entries / 8)`
/// look-ups (`max(1, entries / 8)` while the cache is over budget), and measures again the
/// entries looked up since the last one; every [`FULL_TRIM_EVERY`]th trim, and every trim over
/// budget, walks every entry. So a trim costs a constant amount per look-up however many entries
/// there are, and holds the cache's lock for a short while.
const TRIM_EVERY: usize = 1024;

/// See [`TRIM_EVERY`]: the walks over every entry find the wallets not needed whole for
/// [`WHOLE_KEPT`] look-ups though nothing looked them up since.
const FULL_TRIM_EVERY: u32 = 16;

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
    /// Wallets a trim summarised.
    summarised: u64,
}

/// The aggregate cache, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheFigures {
    pub entries: usize,
    pub bytes: usize,
    pub budget: usize,
    pub evicted: u64,
    /// Wallets summarised, their history forgotten (see [`Lru::trim`]).
    pub histories_forgotten: u64,
    /// Wallets read back whole from the log for a decision.
    pub histories_restored: u64,
}

pub struct Aggregates {
    /// Bytes; `usize::MAX` for no bound.
    budget: usize,
    /// See [`crate::EngineOptions::keep_aggregates`].
    keep_aggregates: bool,
    lru: StdMutex<Lru>,
    /// Wallets read back whole (see [`CacheFigures::histories_restored`]).
    restored: AtomicU64,
}

impl Aggregates {
    pub fn new(budget: usize, keep_aggregates: bool) -> Self {
        Self { budget, keep_aggregates, lru: StdMutex::new(Lru::default()), restored: AtomicU64::new(0) }
    }

    fn lock(&self) -> MutexGuard<'_, Lru> {
        self.lru.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The state of `key`, added if it is new; `whole`: the caller needs a wallet whole, which
    /// the trims then keep whole for a while ([`WHOLE_KEPT`]).
    pub fn look_up<S: State>(&self, key: AggregateKey, whole: bool) -> Shared<S> {
        let mut lru = self.lock();
        lru.clock += 1;
        let now = lru.clock;
        let whole_used = if whole { now } else { 0 };
        lru.touched.push(key);
        let shared = match lru.entries.entry(key) {
            Entry::Occupied(mut occupied) => {
                let entry = occupied.get_mut();
                entry.last_used = now;
                entry.whole_used = entry.whole_used.max(whole_used);
                S::shared(&entry.handle).expect("a key names one kind of aggregate").clone()
            }
            Entry::Vacant(vacant) => {
                let shared = Arc::new(Mutex::new(Cached::unloaded()));
                vacant.insert(CacheEntry {
                    handle: S::handle(shared.clone()),
                    last_used: now,
                    whole_used,
                    bytes: ENTRY_BYTES,
                });
                lru.bytes += ENTRY_BYTES;
                shared
            }
        };
        lru.since_trim += 1;
        // Over budget at the last trim (entries it could not drop were busy), trim again sooner.
        let every = if lru.bytes > self.budget { 1 } else { TRIM_EVERY };
        if lru.since_trim >= every.max(lru.entries.len() / 8) {
            lru.since_trim = 0;
            lru.trim(self.budget, !self.keep_aggregates);
        }
        shared
    }

    /// Every aggregate in the cache, for a reset of them all.
    pub fn handles(&self) -> Vec<Handle> {
        self.lock().entries.values().map(|entry| entry.handle.clone()).collect()
    }

    /// The partners in the cache, for their snapshots.
    pub fn partners(&self) -> Vec<(PartnerId, Shared<CachedPartner>)> {
        self.lock()
            .entries
            .iter()
            .filter_map(|(key, entry)| match (key, &entry.handle) {
                (AggregateKey::Partner(id), Handle::Partner(shared)) => Some((*id, shared.clone())),
                _ => None,
            })
            .collect()
    }

    /// Counts a wallet read back whole from the log.
    pub fn count_restored(&self) {
        self.restored.fetch_add(1, Ordering::Relaxed);
    }

    pub fn figures(&self) -> CacheFigures {
        let lru = self.lock();
        CacheFigures {
            entries: lru.entries.len(),
            bytes: lru.bytes,
            budget: self.budget,
            evicted: lru.evicted,
            histories_forgotten: lru.summarised,
            histories_restored: self.restored.load(Ordering::Relaxed),
        }
    }

    /// A trim that walks every entry.
    #[cfg(test)]
    pub fn trim_now(&self) {
        let mut lru = self.lock();
        lru.partial_trims = FULL_TRIM_EVERY;
        lru.trim(self.budget, !self.keep_aggregates);
    }

    /// A trim that measures only the entries looked up since the last one, unless over budget.
    #[cfg(test)]
    fn trim_touched_now(&self) {
        let mut lru = self.lock();
        lru.partial_trims = 0;
        lru.trim(self.budget, !self.keep_aggregates);
    }
}

impl Lru {
    /// Measures idle entries again (see [`TRIM_EVERY`] for which) and frees what they hold beyond
    /// their use. First it summarises every idle wallet that no look-up needed whole for the last
    /// [`WHOLE_KEPT`] look-ups: a certification reads only what the summary keeps (a redemption,
    /// a revocation or a sweep reads the whole wallet back from the log). Then, over budget,
    /// until the estimate is an eighth under the budget (so that trims do not follow each other):
    /// it summarises the least recently used idle wallets, then drops whole idle aggregates, least
    /// recently used first, which the next command on them loads again.
    ///
    /// An entry is idle when the map holds the only reference to its state: no command holds or
    /// waits for its lock, and no transaction in flight holds it (a pending operation keeps a
    /// reference to every aggregate it changed until its events are durable or the change is
    /// undone). Every new reference is cloned from the map under this lock, or from a reference
    /// already held, so an entry found idle here stays idle until the lock is released. An entry
    /// that nothing looked up since it was last measured idle has the same estimate still.
    fn trim(&mut self, budget: usize, evict: bool) {
        let unused_since = self.clock.saturating_sub(WHOLE_KEPT);
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
                if entry.measure(unused_since, &mut self.summarised) {
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
            if entry.measure(unused_since, &mut self.summarised) {
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
                total -= entry.summarise(&mut self.summarised);
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

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use ygor_ledger::wallet::{Demographics, NewLot, WalletEvent};
    use ygor_ledger::{ActionId, CategoryId, LotId, Tokens};

    use super::*;

    fn wallet_key() -> AggregateKey {
        AggregateKey::Wallet(CitizenId::from_uuid(uuid::Uuid::new_v4()))
    }

    #[tokio::test]
    async fn a_trim_drops_idle_aggregates_least_recently_used_first_and_never_a_busy_one() {
        // Room for two empty entries, not three.
        let one = ENTRY_BYTES + std::mem::size_of::<CachedWallet>();
        let aggregates = Aggregates::new(2 * one + one / 2, false);
        let (oldest, older, held, newest) = (wallet_key(), wallet_key(), wallet_key(), wallet_key());
        drop(aggregates.look_up::<CachedWallet>(oldest, false));
        drop(aggregates.look_up::<CachedWallet>(older, false));
        // Held the way a command holds it: locked, through its own reference.
        let busy = aggregates.look_up::<CachedWallet>(held, false).lock_owned().await;
        drop(aggregates.look_up::<CachedWallet>(newest, false));
        aggregates.trim_now();
        let kept = |key: &AggregateKey| aggregates.lock().entries.contains_key(key);
        assert!(!kept(&oldest) && !kept(&older), "the two least recently used idle ones go");
        assert!(kept(&held), "a locked aggregate stays, whatever its age");
        assert!(kept(&newest));
        assert_eq!(aggregates.figures().evicted, 2);

        // Released, the held one is the least recently used idle entry.
        drop(busy);
        let other = wallet_key();
        drop(aggregates.look_up::<CachedWallet>(other, false));
        aggregates.trim_now();
        assert!(!kept(&held) && kept(&newest) && kept(&other));
        assert!(aggregates.figures().bytes <= 2 * one + one / 2);
    }

    /// A wallet as a command leaves it: loaded, registered, with `lots` lots of 10 tokens;
    /// `whole`: looked up as a redemption does, which needs it whole.
    async fn wallet_with_lots(aggregates: &Aggregates, key: AggregateKey, lots: usize, whole: bool) {
        let shared = aggregates.look_up::<CachedWallet>(key, whole);
        let mut cached = shared.lock().await;
        let at = Utc::now();
        cached.state.apply(WalletEvent::CitizenRegistered {
            demographics: Demographics::default(),
            interests: vec![],
            registered_at: at,
        });
        for _ in 0..lots {
            cached.state.apply(certified(at));
        }
        cached.loaded = true;
    }

    fn certified(at: DateTime<Utc>) -> WalletEvent {
        WalletEvent::ActionCertified {
            action_id: ActionId::from_uuid(uuid::Uuid::new_v4()),
            association_id: PartnerId::from_uuid(uuid::Uuid::new_v4()),
            category: CategoryId::parse("ecologie").expect("a category"),
            quantity: 1,
            occurred_at: at,
            tokens: Tokens::new(10),
            lot: Some(NewLot { lot_id: LotId::from_uuid(uuid::Uuid::new_v4()), issued_at: at, expires_at: at }),
            gold: false,
            certified_at: at,
        }
    }

    /// How many of its first events the summary of a cached wallet rebuilds from the log; `None`
    /// if it is whole.
    fn summarised_through(aggregates: &Aggregates, key: AggregateKey) -> Option<usize> {
        let handle = aggregates.lock().entries.get(&key).map(|entry| entry.handle.clone());
        match handle {
            Some(Handle::Wallet(shared)) => match &shared.try_lock().expect("idle").state {
                CachedWallet::Whole(_) => None,
                CachedWallet::Summary(summary) => Some(summary.through()),
            },
            _ => panic!("no wallet cached under {key:?}"),
        }
    }

    #[tokio::test]
    async fn a_trim_summarises_the_wallets_that_have_not_spent_lately() {
        let aggregates = Aggregates::new(usize::MAX, false);
        let (earning, spending, busy) = (wallet_key(), wallet_key(), wallet_key());
        wallet_with_lots(&aggregates, earning, 20, false).await;
        wallet_with_lots(&aggregates, spending, 20, true).await;
        wallet_with_lots(&aggregates, busy, 20, false).await;
        let held = aggregates.look_up::<CachedWallet>(busy, false).lock_owned().await;
        aggregates.trim_now();
        assert_eq!(summarised_through(&aggregates, earning), Some(21), "a wallet that only earns is summarised");
        assert_eq!(summarised_through(&aggregates, spending), None, "one that spent stays whole");
        assert!(matches!(held.state, CachedWallet::Whole(_)), "a busy one is left alone");
        let figures = aggregates.figures();
        assert_eq!((figures.entries, figures.evicted, figures.histories_forgotten), (3, 0, 1), "{figures:?}");
        let bytes = |key: AggregateKey| aggregates.lock().entries[&key].bytes;
        assert!(bytes(earning) < bytes(spending) / 2, "{} against {}", bytes(earning), bytes(spending));
        drop(held);

        // Once the spending wallet has gone WHOLE_KEPT look-ups without being needed whole.
        let used = aggregates.lock().entries[&spending].whole_used;
        aggregates.lock().clock = used + WHOLE_KEPT - 1;
        aggregates.trim_now();
        assert_eq!(summarised_through(&aggregates, spending), None);
        aggregates.lock().clock = used + WHOLE_KEPT;
        aggregates.trim_now();
        assert_eq!(summarised_through(&aggregates, spending), Some(21));
        assert_eq!(summarised_through(&aggregates, busy), Some(21));
        assert_eq!(aggregates.figures().histories_forgotten, 3);
    }

    #[tokio::test]
    async fn a_summary_is_settled_at_the_next_trim_once_its_certifications_are_durable() {
        let aggregates = Aggregates::new(usize::MAX, false);
        let key = wallet_key();
        wallet_with_lots(&aggregates, key, 2, false).await;
        aggregates.trim_now();
        assert_eq!(summarised_through(&aggregates, key), Some(3));
        {
            let shared = aggregates.look_up::<CachedWallet>(key, false);
            shared.lock().await.state.apply(certified(Utc::now()));
        }
        assert_eq!(summarised_through(&aggregates, key), Some(3), "the certification since is kept");
        aggregates.trim_touched_now();
        assert_eq!(summarised_through(&aggregates, key), Some(4));
    }

    #[tokio::test]
    async fn a_partial_trim_measures_only_what_was_looked_up_since_the_last_one() {
        let aggregates = Aggregates::new(usize::MAX, false);
        let (spending, earning, busy) = (wallet_key(), wallet_key(), wallet_key());
        wallet_with_lots(&aggregates, spending, 20, true).await;
        wallet_with_lots(&aggregates, busy, 5, false).await;
        let held = aggregates.look_up::<CachedWallet>(busy, false).lock_owned().await;
        aggregates.trim_touched_now();
        assert_eq!(summarised_through(&aggregates, spending), None);
        assert_eq!(aggregates.lock().touched, vec![busy], "a busy entry is measured at the next trim");
        let measured = aggregates.figures().bytes;
        assert_eq!(measured, aggregates.lock().entries.values().map(|entry| entry.bytes).sum::<usize>());

        // Long after the spending wallet was last needed whole: untouched, a partial trim leaves
        // it; a wallet looked up since is measured (and summarised), as is the one released.
        let used = aggregates.lock().entries[&spending].whole_used;
        aggregates.lock().clock = used + WHOLE_KEPT;
        drop(held);
        wallet_with_lots(&aggregates, earning, 20, false).await;
        aggregates.trim_touched_now();
        assert_eq!(summarised_through(&aggregates, spending), None, "not looked up: not measured");
        assert_eq!(summarised_through(&aggregates, earning), Some(21));
        assert_eq!(summarised_through(&aggregates, busy), Some(6));
        assert!(aggregates.lock().touched.is_empty());
        // The walk over every entry finds it.
        aggregates.trim_now();
        assert_eq!(summarised_through(&aggregates, spending), Some(21));
        let figures = aggregates.figures();
        assert_eq!(figures.bytes, aggregates.lock().entries.values().map(|entry| entry.bytes).sum::<usize>());
        assert_eq!(figures.histories_forgotten, 3);
    }

    #[tokio::test]
    async fn over_budget_a_trim_summarises_wallets_before_it_drops_an_aggregate() {
        let probe = Aggregates::new(usize::MAX, false);
        let key = wallet_key();
        wallet_with_lots(&probe, key, 200, true).await;
        probe.trim_now();
        let full = probe.figures().bytes;
        // Room for both wallets once one is summarised, not for both whole.
        let aggregates = Aggregates::new(full * 3 / 2 + full / 4, false);
        let (older, newer) = (wallet_key(), wallet_key());
        wallet_with_lots(&aggregates, older, 200, true).await;
        wallet_with_lots(&aggregates, newer, 200, true).await;
        aggregates.trim_now();
        let figures = aggregates.figures();
        assert_eq!((figures.entries, figures.evicted, figures.histories_forgotten), (2, 0, 1), "{figures:?}");
        assert_eq!(summarised_through(&aggregates, older), Some(201), "the least recently used is summarised");
        assert_eq!(summarised_through(&aggregates, newer), None);

        // With room for nothing, the wallet is summarised first, then dropped.
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
        // What a pending operation keeps until its events are durable.
        let pending = Handle::Wallet(aggregates.look_up::<CachedWallet>(key, false));
        aggregates.trim_now();
        assert!(aggregates.lock().entries.contains_key(&key));
        drop(pending);
        aggregates.trim_now();
        assert!(!aggregates.lock().entries.contains_key(&key));
    }
}
