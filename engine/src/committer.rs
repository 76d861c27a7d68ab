//! The group committer: appends the queued operations in groups, ONE transaction per group (group
//! commit), in the order they were queued (decisions 8, 10 and 18).
//!
//! Operations apply their events to the cached states and queue them while holding their
//! aggregates' locks, then release the locks and wait here for durability: so commands to one hot
//! aggregate pipeline instead of each waiting for a disk sync, and a client hears of success only
//! once its events are durable. The queue is bounded: an operation that finds it full is refused
//! before it changes anything ([`crate::EngineError::Overloaded`]).
//!
//! Two groups overlap: while group k commits (its disk sync), group k+1 is gathered and written in
//! its own open transaction (on PostgreSQL; SQLite's single write turn makes it wait). Group k+1
//! commits only once group k has: positions and commits keep the queue's order.
//!
//! If a group's transaction fails, every operation in it — and every operation queued behind it,
//! which may have decided on the failed group's state, including a group already written and not
//! committed — fails too (with `Retry`, so the engine decides them again from the log), and the
//! cached states they touched are reset.

use std::collections::HashSet;
use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinError, JoinHandle};
use ygor_ledger::books::AnyEvent;
use ygor_projections::FedEvent;
use ygor_store::{AppendBatch, AppendTransaction, NewEvent, Position, StoreError};

use crate::cache::Handle;
use crate::{Engine, Inner};

/// Counters of the committer since the start, for `/metrics`: how many groups it committed, how
/// many operations and events they held, and the time spent writing them (BEGIN and the INSERT)
/// and committing them (COMMIT, with its disk sync).
#[derive(Debug, Default)]
pub struct CommitStats {
    pub groups: AtomicU64,
    pub operations: AtomicU64,
    pub events: AtomicU64,
    pub write_micros: AtomicU64,
    pub commit_micros: AtomicU64,
}

impl CommitStats {
    fn add(counter: &AtomicU64, value: u64) {
        counter.fetch_add(value, Ordering::Relaxed);
    }

    fn micros_since(started: Instant) -> u64 {
        u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// A request to the committer: one operation's events, the cached aggregates it already applied
/// them to, and where to answer.
pub(crate) struct Pending {
    pub batch: AppendBatch,
    /// The batch's events as decided, in the same order.
    pub typed: Vec<AnyEvent>,
    pub touched: Vec<Handle>,
    pub reply: oneshot::Sender<Result<Vec<Position>, CommitFailure>>,
}

#[derive(Debug, Clone)]
pub(crate) enum CommitFailure {
    /// Another writer won a race, or the transaction this one depended on failed: decide again.
    Retry,
    /// The database cannot be reached; nothing was written.
    Unavailable(String),
    /// The database went away during the COMMIT and nobody can tell whether it committed.
    Unknown(String),
    /// Storage failed otherwise; nothing was written.
    Storage(String),
}

/// Most operations one transaction carries.
const GROUP_MAX: usize = 512;

/// How long the committer keeps a transaction opened ahead for the next group when no work comes.
const OPENED_AHEAD_IDLE: Duration = Duration::from_millis(20);

/// A transaction being opened (or open) for the next group.
type OpenedAhead = JoinHandle<Result<AppendTransaction, StoreError>>;

/// A group whose transaction is committing while the committer writes the next one.
struct InFlight {
    group: Vec<Pending>,
    counts: Vec<usize>,
    events: Vec<NewEvent>,
    typed: Vec<AnyEvent>,
    commit: JoinHandle<Result<Vec<Position>, StoreError>>,
}

/// The committer's task; it ends when the engine is dropped.
pub(crate) async fn run(inner: Weak<Inner>, mut queue: mpsc::Receiver<Pending>) {
    let mut flight: Option<InFlight> = None;
    // The transaction the next group will be written in, opened while the current one is written
    // (see `EventLog::open_append`): under load, a group's path to the disk is then one INSERT,
    // not BEGIN and then an INSERT. Held at most `OPENED_AHEAD_IDLE` without work.
    let mut ahead: Option<OpenedAhead> = None;
    loop {
        let first = match flight.as_mut() {
            None => match ahead.take() {
                None => match queue.recv().await {
                    Some(first) => first,
                    None => return,
                },
                Some(held) => match tokio::time::timeout(OPENED_AHEAD_IDLE, queue.recv()).await {
                    Ok(Some(first)) => {
                        ahead = Some(held);
                        first
                    }
                    Ok(None) => return,
                    Err(_) => {
                        // Idle: an open transaction would hold back other readers (or, on
                        // SQLite, other writers) for nothing.
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
                    let Some(engine) = upgrade(&inner) else { return };
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
        let Some(engine) = upgrade(&inner) else {
            return;
        };
        let mut group = vec![first];
        while group.len() < GROUP_MAX {
            match queue.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let mut merged = AppendBatch::default();
        let mut counts = Vec::with_capacity(group.len());
        let mut typed = Vec::new();
        for pending in &mut group {
            counts.push(pending.batch.events.len());
            typed.append(&mut pending.typed);
            merged.events.append(&mut pending.batch.events);
            merged.credentials.append(&mut pending.batch.credentials);
            merged.citizen_details.append(&mut pending.batch.citizen_details);
            merged.citizen_codes.append(&mut pending.batch.citizen_codes);
        }
        // Written while the group before commits (SQLite waits for its write turn here); the
        // group before is answered as soon as its commit ends.
        let writing = Instant::now();
        let opened = {
            let log = &engine.inner.log;
            let taken = ahead.take();
            let next_ahead = &mut ahead;
            let opening = async {
                let transaction = match taken {
                    Some(held) => held.await.unwrap_or_else(|failed| {
                        Err(StoreError::Serialization(format!("opening a transaction failed: {failed}")))
                    }),
                    None => log.open_append().await,
                }?;
                // Only now: on SQLite the next transaction waits for the write turn this one holds.
                let ahead_log = log.clone();
                *next_ahead = Some(tokio::spawn(async move { ahead_log.open_append().await }));
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
                    let committing = Instant::now();
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

fn upgrade(inner: &Weak<Inner>) -> Option<Engine> {
    inner.upgrade().map(|inner| Engine { inner })
}

impl Engine {
    /// Answers the operations of a group whose commit has ended. If it failed, they fail, and so
    /// do `behind` (a group written after it, rolled back) and everything queued.
    async fn conclude(
        &self,
        done: InFlight,
        result: Result<Result<Vec<Position>, StoreError>, JoinError>,
        behind: Vec<Pending>,
        queue: &mut mpsc::Receiver<Pending>,
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
        // The group is made known as committed before any of its operations is answered: a
        // request that follows an answer finds `committed` at or past what it was answered.
        let last = positions.last().copied().unwrap_or(0);
        self.note_committed(&events);
        self.feed(events, typed, &positions);
        self.inner.committed.send_modify(|latest| *latest = (*latest).max(last));
        let mut rest = positions.as_slice();
        for (pending, count) in group.into_iter().zip(counts) {
            let (mine, others) = rest.split_at(count.min(rest.len()));
            rest = others;
            let _ = pending.reply.send(Ok(mine.to_vec()));
        }
    }

    /// Hands a committed group to the subscriber of [`Engine::committed_events`], if any, unless
    /// its feed is full: the subscriber then reads the group from the log.
    fn feed(&self, events: Vec<NewEvent>, typed: Vec<AnyEvent>, positions: &[Position]) {
        let mut feed = self.inner.feed.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(sender) = feed.as_ref() else {
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
        match sender.try_send(fed) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::debug!("the projections' feed is full; they will read this group from the log");
            }
            // The subscriber has gone: stop building its batches.
            Err(mpsc::error::TrySendError::Closed(_)) => *feed = None,
        }
    }

    /// Fails a group and everything queued behind it, resetting every aggregate they touched; those
    /// behind are told [`CommitFailure::for_those_behind`].
    async fn fail_from(
        &self,
        group: Vec<Pending>,
        failure: CommitFailure,
        behind: Vec<Pending>,
        queue: &mut mpsc::Receiver<Pending>,
    ) {
        let mut failed = group;
        let mut behind = behind;
        let mut first = true;
        loop {
            // Reset first, then drain: an operation that decided on a touched state queued its
            // request before it released the lock the reset waits for, so the drain sees it.
            // Every round resets again, even an aggregate an earlier round reset: an operation
            // drained now may have applied its events to the state reloaded since.
            let mut reset = HashSet::new();
            for pending in &failed {
                for touched in &pending.touched {
                    if reset.insert(touched.key()) {
                        touched.reset().await;
                    }
                }
            }
            for pending in failed.drain(..) {
                let answer = if first { failure.clone() } else { failure.for_those_behind() };
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
        if let Err(error) = self.reload_territory().await {
            tracing::warn!(%error, "could not reload the territory after a failed commit");
        }
    }
}

impl CommitFailure {
    /// What the operations queued behind a failed group are told. None of them was written. After
    /// a conflict or a storage error they decide again; when the database went away they are
    /// answered at once: deciding again would only wait for the database a second time, and a
    /// write must answer within seconds (docs/operations.md).
    fn for_those_behind(&self) -> CommitFailure {
        match self {
            CommitFailure::Unavailable(why) | CommitFailure::Unknown(why) => CommitFailure::Unavailable(format!(
                "the database went away while this write waited for the group before it ({why}); nothing of it was written"
            )),
            CommitFailure::Retry | CommitFailure::Storage(_) => CommitFailure::Retry,
        }
    }
}

/// What the operations of a failed group are told.
fn failure_of(error: StoreError) -> CommitFailure {
    match error {
        // A citizen code drawn by a registration was taken in the meantime: it draws another.
        StoreError::Conflict { .. } | StoreError::CitizenCodeTaken => CommitFailure::Retry,
        StoreError::OutcomeUnknown(why) => {
            tracing::error!(%why, "a group commit's outcome is unknown; its operations are told to retry with the same ids");
            CommitFailure::Unknown(why)
        }
        unavailable if unavailable.is_unavailable() => {
            tracing::warn!(error = %unavailable, "the database cannot be reached; a group of writes fails, nothing written");
            CommitFailure::Unavailable(unavailable.to_string())
        }
        other => {
            tracing::error!(error = %other, "a group commit failed; its operations fail and their aggregates reload");
            CommitFailure::Storage(other.to_string())
        }
    }
}
