//! The territory's chores, run by themselves while the server runs: the gold schedule (commit
//! each coming period's seed ahead of time, reveal each ended one), a signed checkpoint of the log
//! when it grew — at start, every few seconds, and at a graceful shutdown ([`finish`]) — and the
//! expiry sweep; and snapshots of the aggregates with long streams (`snapshots`), also stored at
//! a graceful shutdown. Each job logs a failure and tries again at its next turn.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::task::JoinHandle;
use ygor_audit::{AuditError, Checkpoint, SignedCheckpoint};
use ygor_crypto::SecretKey;
use ygor_ledger::operations::SweepOutcome;
use ygor_ledger::territory::SignedCheckpointRecord;
use ygor_projections::Projections;

use crate::{Committed, Engine, EngineError};

/// How often the gold schedule is looked at: a period's seed is revealed within this of its end.
const GOLD_EVERY: Duration = Duration::from_millis(250);

/// How long the expiry sweep waits for the projections to have applied every committed event,
/// which it takes its candidates from.
const SWEEP_READ_WAIT: Duration = Duration::from_secs(5);

/// How often the recurring jobs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// A signed checkpoint is recorded this often, when the log grew.
    pub checkpoint_every: Duration,
    /// The expiry sweep runs this often.
    pub expiry_every: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule { checkpoint_every: Duration::from_secs(10), expiry_every: Duration::from_secs(3600) }
    }
}

/// How long a checkpoint waits for the projections to have applied every committed event.
const CHECKPOINT_READ_WAIT: Duration = Duration::from_secs(5);

/// Starts the jobs; they stop when their handles are aborted (or the runtime ends).
pub fn spawn(
    engine: Engine,
    projections: Projections,
    territory_key: SecretKey,
    schedule: Schedule,
) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(keep_gold_schedule(engine.clone())),
        tokio::spawn(record_checkpoints(engine.clone(), projections.clone(), territory_key, schedule.checkpoint_every)),
        tokio::spawn(sweep_regularly(engine.clone(), projections, schedule.expiry_every)),
        tokio::spawn(crate::snapshots::store_regularly(engine)),
    ]
}

/// Commits coming gold periods ahead of time and reveals each ended period's seed within
/// [`GOLD_EVERY`] of its end.
async fn keep_gold_schedule(engine: Engine) {
    let mut ticker = tokio::time::interval(GOLD_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        let has_gold = engine.rules().is_some_and(|rules| rules.rules.gold.is_some());
        let now = Utc::now();
        let periods = engine.gold_periods();
        let due = periods.iter().any(|period| period.seed.is_none() && period.ends_at <= now)
            || (has_gold && periods.last().is_none_or(|last| last.starts_at <= now));
        if due && let Err(error) = engine.maintain_gold(now).await {
            tracing::warn!(%error, "could not maintain the gold schedule; will retry");
        }
    }
}

/// The checkpoint of the log as the projections have applied it, signed by the territory now.
pub fn current_checkpoint(
    projections: &Projections,
    territory_key: &SecretKey,
    now: DateTime<Utc>,
) -> Result<SignedCheckpoint, AuditError> {
    let (tree_size, root_hash) = projections.read(|models| {
        let size = models.audit.size();
        (size, models.audit.root_hex(size).unwrap_or_default())
    });
    let unsigned = Checkpoint { tree_size, root_hash, signed_at: now.to_rfc3339_opts(SecondsFormat::Micros, true) };
    ygor_audit::sign_checkpoint(&unsigned, territory_key)
}

/// A signed checkpoint as the log records it.
pub fn checkpoint_record(signed: &SignedCheckpoint) -> SignedCheckpointRecord {
    SignedCheckpointRecord {
        tree_size: signed.tree_size,
        root_hash: signed.root_hash.clone(),
        signed_at: signed.signed_at.clone(),
        signature: signed.signature.clone(),
        public_key: signed.public_key.clone(),
    }
}

/// Records a signed checkpoint of the log as it is now, if it grew since the latest recorded one:
/// if it holds more than that checkpoint's events and the checkpoint's own event. Waits for the
/// projections (whose Merkle tree is signed) to have applied every committed event first.
pub async fn checkpoint_if_grown(
    engine: &Engine,
    projections: &Projections,
    territory_key: &SecretKey,
) -> Result<Option<Committed<()>>, EngineError> {
    let committed = engine.log().last_position().await?;
    projections.wait_for(committed, CHECKPOINT_READ_WAIT).await;
    let size = projections.read(|models| models.audit.size());
    let recorded = engine.last_checkpoint_size();
    if size == 0 || (recorded > 0 && size <= recorded + 1) {
        return Ok(None);
    }
    let now = Utc::now();
    let signed = current_checkpoint(projections, territory_key, now)
        .map_err(|error| EngineError::Inconsistent(format!("the checkpoint cannot be signed: {error}")))?;
    engine.record_checkpoint(checkpoint_record(&signed), now).await.map(Some)
}

/// Records a signed checkpoint at start if the log grew since the last one, then every `interval`
/// when it grew, so that the audit can check every past root against the events: an event changed
/// in storage afterwards no longer matches the root a checkpoint signed.
async fn record_checkpoints(engine: Engine, projections: Projections, territory_key: SecretKey, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = checkpoint_if_grown(&engine, &projections, &territory_key).await {
            tracing::warn!(%error, "could not record a checkpoint; will retry");
        }
    }
}

/// The end of a graceful shutdown, once the HTTP server takes no more requests and the jobs are
/// stopped: waits for the committer to answer every queued operation (at most `within`), then
/// records the final checkpoint if the log grew. Returns whether the committer was flushed.
pub async fn finish(engine: &Engine, projections: &Projections, territory_key: &SecretKey, within: Duration) -> bool {
    let flushed = engine.flush(within).await;
    if !flushed {
        tracing::warn!("some writes were still waiting for the database at shutdown");
    }
    match checkpoint_if_grown(engine, projections, territory_key).await {
        Ok(Some(committed)) => tracing::info!(position = committed.position, "final checkpoint recorded"),
        Ok(None) => {}
        Err(error) => tracing::warn!(%error, "could not record the final checkpoint"),
    }
    match engine.store_snapshots(crate::snapshots::SNAPSHOT_AT_STOP_AFTER).await {
        Ok(round) if round.stored > 0 => tracing::info!(stored = round.stored, "aggregate snapshots stored"),
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "could not store the aggregate snapshots"),
    }
    flushed
}

/// Writes `TokensExpired` for every lot past its expiry at `at`. The candidates come from the
/// projections once they have applied everything committed; the engine checks each wallet on its
/// own state, so a stale candidate only costs a look-up.
pub async fn sweep_expired(
    engine: &Engine,
    projections: &Projections,
    at: DateTime<Utc>,
) -> Result<Committed<SweepOutcome>, EngineError> {
    let committed = engine.log().last_position().await?;
    projections.wait_for(committed, SWEEP_READ_WAIT).await;
    let candidates = projections.read(|models| models.wallets_with_expired_lots(at));
    engine.sweep(candidates, at).await
}

/// Runs the expiry sweep every `interval`.
async fn sweep_regularly(engine: Engine, projections: Projections, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        match sweep_expired(&engine, &projections, Utc::now()).await {
            Ok(swept) if swept.outcome.expired_lots > 0 => tracing::info!(
                lots = swept.outcome.expired_lots,
                tokens = swept.outcome.expired_tokens.value(),
                "expired lots swept back to the treasury"
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "the expiry sweep failed; will retry at its next turn"),
        }
    }
}
