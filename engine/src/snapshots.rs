//! Snapshots of the aggregates whose streams grow without end (decision 25): an association's
//! stream holds every certification it made, the territory's a checkpoint every few seconds.
//! Without one, the first command on such an aggregate after a restart read its whole stream
//! (an association with 100,000 certifications: see docs/performance.md); with one, it reads the
//! snapshot and the events after it.
//!
//! - **What**: the territory and the partners, as the cache keeps them ([`Territory`],
//!   [`CachedPartner`] with its index of certifications), serialised with postcard. Wallets,
//!   missions and draws have short streams and are not kept as snapshots.
//! - **When**: a job looks at the territory and at the partners in the cache every
//!   [`SNAPSHOT_EVERY`] and stores a snapshot of each that applied [`SNAPSHOT_AFTER`] events
//!   since its last one; a graceful stop stores one of each that applied [`SNAPSHOT_AT_STOP_AFTER`]
//!   ([`Engine::store_snapshots`]).
//! - **Only what the log holds**: the state is serialised under its lock, then stored only once
//!   this engine has committed every event it applied, and if no failed commit reset the state in
//!   between (a reset, [`Cached::forget`], changes its `resets`). So a snapshot is taken under
//!   load too, without waiting for a moment when no write is in flight.
//! - **Loading**: [`EventLog::aggregate_snapshot`] returns a snapshot only while its last event
//!   is still at the position it was taken at. A snapshot of another format, or one that does not
//!   decode, is ignored: the state is then read from its first event, and stored again later.
//! - **Formats**: [`PARTNER_FORMAT`] and [`TERRITORY_FORMAT`] must change whenever
//!   [`CachedPartner`] or [`Territory`] changes shape, or applies an event differently. The audit
//!   never reads a snapshot.
//!
//! [`EventLog::aggregate_snapshot`]: ygor_store::EventLog::aggregate_snapshot
//! [`Cached::forget`]: crate::cache::Cached::forget
//! [`CachedPartner`]: crate::compact::CachedPartner

use std::time::Duration;

use cqrs_es::Aggregate;
use serde::Serialize;
use serde::de::DeserializeOwned;
use ygor_ledger::territory::TERRITORY_ID;
use ygor_ledger::{Partner, Territory};
use ygor_store::{AggregateSnapshot, NewEvent, WriterState};

use crate::cache::{Cached, Shared, State};
use crate::{Engine, EngineError};

/// The shape of a partner's snapshot: [`CachedPartner`], postcard.
pub const PARTNER_FORMAT: i32 = 1;

/// The shape of the territory's snapshot: [`Territory`], postcard.
pub const TERRITORY_FORMAT: i32 = 2;

/// How often the snapshot job looks at the cached aggregates.
pub const SNAPSHOT_EVERY: Duration = Duration::from_secs(5);

/// Events an aggregate applies after its last snapshot before the job stores another: what a
/// load after a crash may read beyond the snapshot, a few milliseconds (docs/performance.md).
pub const SNAPSHOT_AFTER: usize = 1_000;

/// At a graceful stop, the events since the last snapshot that make another worth storing.
pub const SNAPSHOT_AT_STOP_AFTER: usize = 100;

/// How long a snapshot waits for the events it includes to be committed.
const DURABLE_WAIT: Duration = Duration::from_secs(2);

/// A state as its snapshot stores it.
pub fn encode<S: Serialize>(state: &S) -> Result<Vec<u8>, String> {
    postcard::to_allocvec(state).map_err(|error| error.to_string())
}

/// The state a snapshot stored.
pub fn decode<S: DeserializeOwned>(body: &[u8]) -> Result<S, String> {
    postcard::from_bytes(body).map_err(|error| error.to_string())
}

/// What one round of [`Engine::store_snapshots`] stored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotRound {
    pub stored: usize,
    pub bytes: usize,
}

/// Whether the engine keeps snapshots of an aggregate type's states.
fn snapshotted(aggregate_type: &str) -> bool {
    aggregate_type == Partner::TYPE || aggregate_type == Territory::TYPE
}

impl Engine {
    /// Notes the events of a committed group: the states they belong to may be stored as
    /// snapshots up to them.
    pub(crate) fn note_committed(&self, events: &[NewEvent]) {
        let mut durable = self.inner.durable.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for event in events {
            let head = event.head();
            if snapshotted(head.aggregate_type) {
                note(&mut durable, head.aggregate_id, head.sequence);
            }
        }
    }

    /// Notes that the first `sequence` events of an aggregate are in the log (it was loaded).
    pub(crate) fn note_loaded<S: State>(&self, aggregate_id: &str, sequence: usize) {
        if S::SNAPSHOT_FORMAT.is_some() {
            let mut durable = self.inner.durable.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            note(&mut durable, aggregate_id, sequence);
        }
    }

    /// The highest sequence of the aggregate known to be in the log.
    fn durable_sequence(&self, aggregate_id: &str) -> usize {
        let durable = self.inner.durable.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        durable.get(aggregate_id).copied().unwrap_or(0)
    }

    /// Reads the aggregate's snapshot into an empty state, if it has a usable one.
    pub(crate) async fn restore_snapshot<S: State>(
        &self,
        aggregate_id: &str,
        cached: &mut Cached<S>,
    ) -> Result<(), EngineError> {
        let Some(format) = S::SNAPSHOT_FORMAT else {
            return Ok(());
        };
        let aggregate_type = <S::Aggregate as Aggregate>::TYPE;
        let Some(snapshot) = self.inner.log.aggregate_snapshot(aggregate_type, aggregate_id).await? else {
            return Ok(());
        };
        if snapshot.format != format {
            tracing::info!(
                aggregate_type,
                aggregate_id,
                format = snapshot.format,
                "a snapshot of another format is ignored"
            );
            return Ok(());
        }
        match S::from_snapshot(&snapshot.body) {
            Ok(state) if state.version() == snapshot.sequence => {
                cached.state = state;
                cached.snapshot = snapshot.sequence;
            }
            Ok(state) => tracing::warn!(
                aggregate_type,
                aggregate_id,
                sequence = snapshot.sequence,
                version = state.version(),
                "a snapshot holds another sequence than its row says: ignored"
            ),
            Err(error) => {
                tracing::warn!(aggregate_type, aggregate_id, %error, "a snapshot does not decode: ignored");
            }
        }
        Ok(())
    }

    /// Stores a snapshot of the territory and of each cached partner that applied `after` events
    /// (at least one) since its last one. Does nothing while the engine guards its writes with a
    /// writer lock it does not hold.
    pub async fn store_snapshots(&self, after: usize) -> Result<SnapshotRound, EngineError> {
        let mut round = SnapshotRound::default();
        if self.writer_state().is_some_and(|state| state != WriterState::Held) {
            return Ok(round);
        }
        self.store_snapshot(TERRITORY_ID, &self.inner.territory, after, &mut round).await?;
        for (id, shared) in self.inner.aggregates.partners() {
            self.store_snapshot(&id.to_string(), &shared, after, &mut round).await?;
        }
        Ok(round)
    }

    async fn store_snapshot<S: State>(
        &self,
        aggregate_id: &str,
        shared: &Shared<S>,
        after: usize,
        round: &mut SnapshotRound,
    ) -> Result<(), EngineError> {
        let Some(format) = S::SNAPSHOT_FORMAT else {
            return Ok(());
        };
        let aggregate_type = <S::Aggregate as Aggregate>::TYPE;
        let (sequence, resets, body) = {
            let cached = shared.lock().await;
            let sequence = cached.state.version();
            if !cached.loaded || sequence == 0 || sequence < cached.snapshot.saturating_add(after.max(1)) {
                return Ok(());
            }
            let body = cached.state.to_snapshot().map_err(|error| {
                EngineError::Inconsistent(format!("{aggregate_type} {aggregate_id} does not serialise: {error}"))
            })?;
            (sequence, cached.resets, body)
        };
        // The state may include events still being committed: wait for them. If one failed, the
        // state was reset (and `resets` changed) before any other event could take its place.
        if !self.wait_until_durable(aggregate_id, sequence).await || shared.lock().await.resets != resets {
            return Ok(());
        }
        let position = self.inner.log.position_of(aggregate_type, aggregate_id, sequence).await?.ok_or_else(|| {
            EngineError::Inconsistent(format!(
                "{aggregate_type} {aggregate_id}: committed event {sequence} is not in the log"
            ))
        })?;
        let bytes = body.len();
        let snapshot = AggregateSnapshot {
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            sequence,
            position,
            format,
            body,
        };
        if self.inner.log.save_aggregate_snapshot(&snapshot).await? {
            round.stored += 1;
            round.bytes += bytes;
            tracing::debug!(aggregate_type, aggregate_id, sequence, bytes, "snapshot stored");
        }
        let mut cached = shared.lock().await;
        if cached.resets == resets {
            cached.snapshot = cached.snapshot.max(sequence);
        }
        Ok(())
    }

    /// Waits until this engine has committed (or loaded) the aggregate's events up to `sequence`,
    /// at most [`DURABLE_WAIT`]; returns whether it has.
    async fn wait_until_durable(&self, aggregate_id: &str, sequence: usize) -> bool {
        let mut committed = self.committed();
        let deadline = tokio::time::Instant::now() + DURABLE_WAIT;
        loop {
            if self.durable_sequence(aggregate_id) >= sequence {
                return true;
            }
            match tokio::time::timeout_at(deadline, committed.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return self.durable_sequence(aggregate_id) >= sequence,
            }
        }
    }
}

fn note(durable: &mut std::collections::HashMap<String, usize>, aggregate_id: &str, sequence: usize) {
    match durable.get_mut(aggregate_id) {
        Some(known) => *known = (*known).max(sequence),
        None => {
            durable.insert(aggregate_id.to_owned(), sequence);
        }
    }
}

/// Stores the snapshots due every [`SNAPSHOT_EVERY`].
pub(crate) async fn store_regularly(engine: Engine) {
    let mut ticker = tokio::time::interval(SNAPSHOT_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match engine.store_snapshots(SNAPSHOT_AFTER).await {
            Ok(round) if round.stored > 0 => {
                tracing::debug!(stored = round.stored, bytes = round.bytes, "aggregate snapshots stored");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "could not store the aggregate snapshots; will retry"),
        }
    }
}

#[cfg(test)]
mod tests {
    use ygor_ledger::{PartnerId, Tokens};
    use ygor_store::Backend;

    use super::*;
    use crate::EngineOptions;
    use crate::compact::CachedPartner;
    use crate::testing::{certification, register_citizen, territory};

    /// The same engine started again on the same log: nothing cached, as after a restart.
    async fn restarted(engine: &Engine) -> Engine {
        Engine::open_with(engine.log().clone(), engine.seeds().clone(), EngineOptions::default()).await.expect("opens")
    }

    /// The partner's cached state after a load, and the sequence of the snapshot it started from.
    async fn partner(engine: &Engine, id: PartnerId) -> (CachedPartner, usize) {
        engine.load_partner(id).await.expect("loads");
        let (_, shared) =
            engine.inner.aggregates.partners().into_iter().find(|(cached, _)| *cached == id).expect("cached");
        let cached = shared.lock().await;
        (cached.state.clone(), cached.snapshot)
    }

    async fn territory_state(engine: &Engine) -> (Territory, usize) {
        let cached = engine.inner.territory.lock().await;
        (cached.state.clone(), cached.snapshot)
    }

    /// The partner and the territory as a full replay of their streams gives them.
    async fn replayed(engine: &Engine, id: PartnerId) -> (CachedPartner, Territory) {
        let log = engine.log();
        log.delete_aggregate_snapshot(Partner::TYPE, &id.to_string()).await.expect("deleted");
        log.delete_aggregate_snapshot(Territory::TYPE, TERRITORY_ID).await.expect("deleted");
        let replay = restarted(engine).await;
        let (partner, from) = partner(&replay, id).await;
        let (territory, territory_from) = territory_state(&replay).await;
        assert_eq!((from, territory_from), (0, 0), "a replay from the first event");
        (partner, territory)
    }

    async fn a_restart_reads_the_snapshot_and_the_events_after_it(backend: Backend) {
        let (engine, association, citizen, _guard) = territory(backend, EngineOptions::default()).await;
        let first = certification(association, citizen);
        engine.certify(first.clone()).await.expect("certified");
        for _ in 0..29 {
            engine.certify(certification(association, citizen)).await.expect("certified");
        }
        let round = engine.store_snapshots(1).await.expect("stored");
        assert_eq!(round.stored, 2, "the territory and the association");
        assert_eq!(engine.store_snapshots(1).await.expect("a round"), SnapshotRound::default(), "nothing new");
        let snapshotted = partner(&engine, association).await.0.version();
        let territory_snapshotted = territory_state(&engine).await.0.version();
        let mut last = first.clone();
        for _ in 0..5 {
            last = certification(association, citizen);
            engine.certify(last.clone()).await.expect("certified");
        }

        let again = restarted(&engine).await;
        let (state, from) = partner(&again, association).await;
        assert_eq!(from, snapshotted, "loaded from the snapshot");
        assert_eq!(state.version(), snapshotted + 5, "and the five events after it");
        assert_eq!(territory_state(&again).await.1, territory_snapshotted, "the territory too");
        // Retries of a certification before the snapshot and of one after it are answered as
        // replays; a new one is certified.
        for retry in [first, last] {
            let answered = again.certify(retry).await.expect("a retry");
            assert!(answered.replayed);
        }
        let another_citizen = register_citizen(&again).await;
        let new = again.certify(certification(association, another_citizen)).await.expect("certified");
        assert!(!new.replayed);
        assert_eq!(new.outcome.tokens, Tokens::new(10));

        let (partner_now, territory_now) = (partner(&again, association).await.0, territory_state(&again).await.0);
        assert_eq!(replayed(&again, association).await, (partner_now, territory_now), "as a full replay");
    }

    #[tokio::test]
    async fn a_restart_reads_the_snapshot_and_the_events_after_it_on_sqlite() {
        a_restart_reads_the_snapshot_and_the_events_after_it(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn a_restart_reads_the_snapshot_and_the_events_after_it_on_postgres() {
        a_restart_reads_the_snapshot_and_the_events_after_it(Backend::Postgres).await;
    }

    async fn snapshots_taken_under_load_hold_only_committed_events(backend: Backend) {
        let (engine, association, _citizen, _guard) = territory(backend, EngineOptions::default()).await;
        let mut citizens = Vec::new();
        for _ in 0..20 {
            citizens.push(register_citizen(&engine).await);
        }
        let writers: Vec<_> = citizens
            .iter()
            .map(|citizen| {
                let (engine, citizen) = (engine.clone(), *citizen);
                tokio::spawn(async move {
                    for _ in 0..15 {
                        engine.certify(certification(association, citizen)).await.expect("certified");
                    }
                })
            })
            .collect();
        let mut stored = 0;
        while !writers.iter().all(tokio::task::JoinHandle::is_finished) {
            stored += engine.store_snapshots(1).await.expect("a round").stored;
            tokio::task::yield_now().await;
        }
        for writer in writers {
            writer.await.expect("no panic");
        }
        assert!(stored > 0, "some snapshots were stored under load");
        // The stored snapshot is a prefix of the stream: the load from it ends where a replay does.
        let again = restarted(&engine).await;
        let (state, from) = partner(&again, association).await;
        assert!(from > 0, "loaded from a snapshot");
        assert_eq!(state.version(), partner(&engine, association).await.0.version());
        let territory_now = territory_state(&again).await.0;
        assert_eq!(replayed(&again, association).await, (state, territory_now));
    }

    #[tokio::test]
    async fn snapshots_taken_under_load_hold_only_committed_events_on_sqlite() {
        snapshots_taken_under_load_hold_only_committed_events(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn snapshots_taken_under_load_hold_only_committed_events_on_postgres() {
        snapshots_taken_under_load_hold_only_committed_events(Backend::Postgres).await;
    }

    #[tokio::test]
    async fn a_snapshot_of_another_format_or_that_does_not_decode_is_ignored() {
        let (engine, association, citizen, _guard) = territory(Backend::Sqlite, EngineOptions::default()).await;
        for _ in 0..3 {
            engine.certify(certification(association, citizen)).await.expect("certified");
        }
        for broken in [false, true] {
            let (whole, _) = partner(&engine, association).await;
            let sequence = whole.version();
            let position = engine
                .log()
                .position_of(Partner::TYPE, &association.to_string(), sequence)
                .await
                .expect("read")
                .expect("a position");
            let (format, body) = if broken {
                (PARTNER_FORMAT, vec![0xff; 7])
            } else {
                (PARTNER_FORMAT + 1, encode(&whole).expect("encodes"))
            };
            let log = engine.log();
            log.delete_aggregate_snapshot(Partner::TYPE, &association.to_string()).await.expect("deleted");
            let snapshot = AggregateSnapshot {
                aggregate_type: Partner::TYPE.to_owned(),
                aggregate_id: association.to_string(),
                sequence,
                position,
                format,
                body,
            };
            assert!(log.save_aggregate_snapshot(&snapshot).await.expect("saved"));
            let again = restarted(&engine).await;
            let (state, from) = partner(&again, association).await;
            assert_eq!((from, &state), (0, &whole), "read from the first event");
            engine.certify(certification(association, citizen)).await.expect("certified");
        }
    }

    #[test]
    fn a_partner_and_the_territory_read_back_from_their_snapshots_unchanged() {
        let mut partner = CachedPartner::default();
        let at = chrono::Utc::now();
        partner.apply(ygor_ledger::partner::PartnerEvent::PartnerRegistered {
            kind: ygor_ledger::PartnerKind::Association,
            name: "Les Amis du Parc".to_owned(),
            public_key: "k".to_owned(),
            registered_at: at,
        });
        for index in 0..1_000u32 {
            let action_id = ygor_ledger::ActionId::from_uuid(uuid::Uuid::from_u128(u128::from(index) * 7_919));
            partner.certifications.insert(action_id, index as usize + 2);
        }
        let body = encode(&partner).expect("encodes");
        assert_eq!(decode::<CachedPartner>(&body).expect("decodes"), partner);
        assert!(decode::<CachedPartner>(&body[..body.len() / 2]).is_err(), "a truncated body does not decode");

        let mut territory = Territory::default();
        let rules = ygor_rules::Rules::parse(include_str!("../../docs/rules.example.toml")).expect("rules");
        territory.apply_event(ygor_ledger::territory::TerritoryEvent::RulesPublished {
            version: 1,
            rules,
            source: include_str!("../../docs/rules.example.toml").to_owned(),
            published_at: at,
        });
        let body = encode(&territory).expect("encodes");
        assert_eq!(decode::<Territory>(&body).expect("decodes"), territory);
    }
}
