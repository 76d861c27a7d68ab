//! The event log on PostgreSQL, and why its readers never skip an event.
//!
//! # The problem
//!
//! `events.position` is a bigint identity. Its value is drawn when a row is inserted, not when the
//! transaction commits, so concurrent appends commit out of position order: position 8 can be
//! visible while position 7 is still in an open transaction. A projection runner that read 8 and
//! moved its checkpoint past it would never see 7. A table lock or one global advisory lock would
//! serialise the appends and cap the server at ~280 commits/s here (see CQRS-NOTES.md); the method
//! below keeps PostgreSQL's group commit.
//!
//! # The method
//!
//! *Writers* ([`begin_append`], [`write_batch`]): every append transaction runs
//! `SELECT pg_current_xact_id()` right after its `BEGIN` (in the same round trip), so that its
//! transaction id (xid) is assigned **before** it draws any position.
//!
//! *Readers* ([`PostgresLog::safe_position`]) run two statements, in this order:
//! 1. `H` = the identity sequence's `last_value` (0 while it `is_called = false`). Sequences are not
//!    transactional: `H` is the highest position drawn so far by anyone, committed or not.
//! 2. `N` = the next xid the server will assign, read after `H`, and `M` = the `xmin` of the
//!    statement's snapshot (the oldest xid still running, or the snapshot's `xmax` if none is).
//!
//! Every transaction that drew a position `<= H` drew it before `H` was read, so its xid was
//! assigned before `N` was read: its xid is `< N`. Hence positions `<= H` are final (committed or
//! rolled back, never to appear later) as soon as every xid `< N` has ended, which a later snapshot
//! proves when its `xmin >= N`. Proof: a snapshot's `xmin` is `<=` every xid running when it is
//! taken (a running xid below the snapshot's `xmax` is in its list, and `xmin <= xmax <=` any xid at
//! or above `xmax`). If some xid `T < N` were running at that moment, `xmin <= T < N`; and an xid
//! `T < N` assigned after that moment would make `xmin <= xmax <= T < N` too. So `xmin >= N` means
//! that every xid below `N` had ended, whichever of the two readings came first.
//!
//! [`Watermark`] keeps the `(H, N)` pairs that are not yet safe in memory; each call retires the
//! pairs whose `N <= M` (the largest such `H` becomes the safe watermark, which never decreases),
//! then checks the fresh pair against the same `M` (it is safe at once when nothing is in flight)
//! or queues it. [`PostgresLog::read_after`] reads only positions `<=` the watermark, with a
//! snapshot taken after the check, so every transaction below it is visible or gone for good.
//!
//! ## Why not `pg_snapshot_xmax` for `N`
//!
//! The documentation calls a snapshot's `xmax` the "first as-yet-unassigned txid", but PostgreSQL
//! computes it as *latest completed xid + 1*. A transaction whose xid is assigned while no later xid
//! has completed is therefore **at or above** `xmax`, and invisible to `xmin` too. Measured on the
//! PostgreSQL 15 server of this project: with one transaction holding xid 727 open, another
//! session's `pg_current_snapshot()` was `727:727:`, so `xmin >= xmax` held while 727 was running;
//! a second open transaction (xid 728, a later position) would then make its position look safe,
//! the reader would pass 727's position, and lose it when 727 commits. `N` is therefore the real
//! next xid, `xmax + age(xid(xmax))`: `age(xid)` counts from the current transaction counter (the
//! next xid, for a statement that has no xid of its own), modulo 2^32, and `xmax` is within 2^31 of
//! it. The test `two_open_transactions_hold_back_the_watermark` covers this case.
//!
//! ## Operating consequences
//!
//! * Xids are cluster-wide: a long transaction in *any* database of the server (an idle session in a
//!   transaction, a long report) holds the watermark back. Projections then lag; they never skip.
//! * Every write to `events` must come from [`write_batch`] in a [`begin_append`] transaction: an insert that draws a position before
//!   its xid is assigned (postgres-es' own `persist`, for one) breaks the argument. The migration
//!   gives `recorded_at` no default, so such an insert fails.
//! * The identity must keep `CACHE 1` (set in the migration): a cached range would sit below `H`
//!   and be handed out later by a transaction whose xid may be `>= N`.

use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};
use postgres_es::PostgresEventRepository;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Connection, PgConnection, PgPool, Row};
use tokio::sync::OnceCell;

use crate::{
    AppendBatch, NewEvent, OpenAppend, OpenTransaction, Position, RecordedEvent, StoreError, conflict_or_database,
    sequence_to_i64,
};

/// Connections in the pool: enough for the committer's overlapping transactions and the reads
/// beside them, while leaving most of the server's default 100 connections to other processes.
const POOL_CONNECTIONS: u32 = 16;

/// How long a request waits for a connection before failing instead of hanging: a database that
/// is down refuses connections, and a write is answered `storage_unavailable` within 5 s. A write
/// may meet a few such waits in turn while the database is down (the territory reloaded after a
/// failed commit, its own aggregates' loads, its group's commit), so each is short.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a commit whose connection was lost asks the database whether it committed.
const OUTCOME_DEADLINE: Duration = Duration::from_secs(2);

/// The most `(H, N)` pairs kept in memory; see [`Watermark::observe`].
const MAX_PENDING_FRONTIERS: usize = 256;

/// Opens an append transaction and assigns its xid, in one round trip (a simple-protocol query of
/// two statements): the xid exists before the first position is drawn.
const BEGIN_APPEND: &str = "BEGIN; SELECT pg_current_xact_id()";

/// Every event of a batch in ONE statement: one round trip and one plan however large the group
/// commit. Rows are inserted in the arrays' order, so positions are drawn in that order; the
/// returned keys map each position back to its event whatever order RETURNING uses.
const INSERT_EVENTS: &str = "
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, recorded_at)
SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload::json, metadata::json, recorded_at
  FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])
       WITH ORDINALITY AS batch (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata,
                                 recorded_at, ordinal)
  ORDER BY ordinal
RETURNING position, aggregate_type, aggregate_id, sequence, pg_current_xact_id()::text AS xid";

const SELECT_AFTER: &str = concat!(
    "\nSELECT ",
    crate::queries::recorded_event_columns!(),
    "\n  FROM events\n  WHERE position > $1 AND position <= $2\n  ORDER BY position\n  LIMIT $3"
);

/// `N` and `M` of the module documentation, from one snapshot. `age(xid)` reads the transaction
/// counter when first called, after the snapshot was taken, which the proof allows.
const SELECT_NEXT_AND_OLDEST_XID: &str = "
SELECT pg_snapshot_xmax(snapshot)::text::bigint + age(xid(pg_snapshot_xmax(snapshot)))::bigint AS next_xid,
       pg_snapshot_xmin(snapshot)::text::bigint AS oldest_running_xid
  FROM (SELECT pg_current_snapshot() AS snapshot) AS current";

/// The event log on a PostgreSQL server.
pub(crate) struct PostgresLog {
    pool: PgPool,
    repository: PostgresEventRepository,
    options: PgConnectOptions,
    /// The identity sequence of `events.position`, as `pg_get_serial_sequence` names it (quoted).
    /// Resolved on first use because the table may not exist before `migrate`.
    sequence: OnceCell<String>,
    watermark: Mutex<Watermark>,
}

crate::queries::common_queries!(PostgresLog);

impl PostgresLog {
    pub(crate) async fn open(url: &str) -> Result<Self, StoreError> {
        let options = connect_options(url)?;
        // The pool retries a refused connection until its acquire timeout and then reports only
        // "pool timed out"; one direct connection first reports a wrong URL, a server that is
        // down or a refused login at once and with its real cause.
        let probe = PgConnection::connect_with(&options).await?;
        // Only the connection mattered; a failure to say goodbye does not.
        let _ = probe.close().await;
        let pool = crate::checked_after_idle(PgPoolOptions::new())
            .max_connections(POOL_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        Ok(Self {
            repository: PostgresEventRepository::new(pool.clone()),
            pool,
            options,
            sequence: OnceCell::new(),
            watermark: Mutex::new(Watermark::default()),
        })
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// How the log connects (for the writer lock's own connection).
    pub(crate) fn options(&self) -> &PgConnectOptions {
        &self.options
    }

    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("../migrations/postgres").run(&self.pool).await?;
        Ok(())
    }

    pub(crate) async fn open_append(&self) -> Result<OpenTransaction, StoreError> {
        Ok(OpenTransaction::Postgres(begin_append(&self.pool).await?))
    }

    pub(crate) async fn load_stream<A: Aggregate>(
        &self,
        aggregate_id: &str,
        after_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        let events = if after_sequence == 0 {
            self.repository.get_events::<A>(aggregate_id).await?
        } else {
            self.repository.get_last_events::<A>(aggregate_id, after_sequence).await?
        };
        Ok(events)
    }

    pub(crate) async fn read_after(&self, after: Position, limit: i64) -> Result<Vec<RecordedEvent>, StoreError> {
        // The check must come first: the rows are then read with a later snapshot, which sees
        // every transaction that ended before the check.
        let safe = self.safe_position().await?;
        if safe <= after {
            return Ok(Vec::new());
        }
        read_windows(self, after, safe, limit, |from, to, wanted| async move {
            let rows = sqlx::query(SELECT_AFTER).bind(from).bind(to).bind(wanted).fetch_all(&self.pool).await?;
            rows.iter().map(recorded_event).collect()
        })
        .await
    }

    pub(crate) async fn safe_position(&self) -> Result<Position, StoreError> {
        // (1) H, then (2) N and M: two statements, in this order (see the module documentation).
        let drawn = self.last_drawn_position().await?;
        let row = sqlx::query(SELECT_NEXT_AND_OLDEST_XID).fetch_one(&self.pool).await?;
        let next_xid: i64 = row.try_get("next_xid")?;
        let oldest_running_xid: i64 = row.try_get("oldest_running_xid")?;
        let mut watermark = self.watermark.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(watermark.observe(Frontier { drawn_position: drawn, next_xid }, oldest_running_xid))
    }

    pub(crate) fn mark_final(&self, position: Position) {
        self.watermark.lock().unwrap_or_else(std::sync::PoisonError::into_inner).mark_final(position);
    }

    pub(crate) async fn last_position(&self) -> Result<Position, StoreError> {
        let position: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events").fetch_one(&self.pool).await?;
        Ok(position)
    }

    /// `H`: the highest position drawn by any transaction so far, committed or not.
    async fn last_drawn_position(&self) -> Result<Position, StoreError> {
        let sequence = self
            .sequence
            .get_or_try_init(|| async {
                let name: Option<String> = sqlx::query_scalar("SELECT pg_get_serial_sequence('events', 'position')")
                    .fetch_one(&self.pool)
                    .await?;
                name.ok_or_else(|| {
                    StoreError::Serialization(
                        "events.position has no identity sequence: is the schema migrated?".to_owned(),
                    )
                })
            })
            .await?;
        // `sequence` comes from pg_get_serial_sequence, which returns a quoted, schema-qualified
        // name: it is safe to splice, and a relation name cannot be a bind parameter.
        let row = sqlx::query(&format!("SELECT last_value, is_called FROM {sequence}")).fetch_one(&self.pool).await?;
        let is_called: bool = row.try_get("is_called")?;
        // Before the first nextval, last_value holds the start value, which nobody has drawn yet.
        Ok(if is_called { row.try_get("last_value")? } else { 0 })
    }
}

/// The connection options of `url`. Without an explicit `sslmode` (in the URL or `PGSSLMODE`), a
/// server on the loopback interface or a Unix socket is reached without TLS: the bytes never
/// leave the machine, and TLS there cost CPU on every round trip (docs/decisions/0008). Anywhere
/// else libpq's default (`prefer`) applies.
pub(crate) fn connect_options(url: &str) -> Result<PgConnectOptions, StoreError> {
    let options = PgConnectOptions::from_str(url)?;
    let explicit = url.contains("sslmode=") || url.contains("ssl-mode=") || std::env::var_os("PGSSLMODE").is_some();
    let host = options.get_host();
    let local = host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|address| address.is_loopback());
    Ok(if local && !explicit { options.ssl_mode(sqlx::postgres::PgSslMode::Disable) } else { options })
}

/// Up to `limit` events with a position in `(after, safe]`, in position order, read window by
/// window: `read(from, to, wanted)` returns up to `wanted` events with a position in `(from, to]`,
/// and no window spans more than `limit` positions.
///
/// One query over the whole remaining range would do, with statistics. Without them (a table just
/// loaded, autovacuum not run yet or turned off), PostgreSQL estimates a few thousand rows, picks a
/// bitmap scan and sorts every remaining row for each page, which makes a replay of 300k events
/// about eight times slower. A window bounds that work to `limit` rows whatever the plan.
pub(crate) async fn read_windows<T, F, Fut>(
    log: &PostgresLog,
    after: Position,
    safe: Position,
    limit: i64,
    mut read: F,
) -> Result<Vec<T>, StoreError>
where
    F: FnMut(Position, Position, i64) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, StoreError>>,
{
    let mut events = Vec::new();
    let mut from = after;
    while from < safe {
        let wanted = limit - i64::try_from(events.len()).unwrap_or(i64::MAX);
        if wanted <= 0 {
            break;
        }
        let to = safe.min(from.saturating_add(limit));
        let mut window = read(from, to, wanted).await?;
        if window.is_empty() {
            // A gap of unused positions: jump to the next event, if any, rather than walk it.
            let next: Option<i64> =
                sqlx::query_scalar("SELECT min(position) FROM events WHERE position > $1 AND position <= $2")
                    .bind(to)
                    .bind(safe)
                    .fetch_one(&log.pool)
                    .await?;
            match next {
                Some(next) => from = next - 1,
                None => break,
            }
            continue;
        }
        events.append(&mut window);
        from = to;
    }
    Ok(events)
}

/// Begins a transaction for [`write_batch`], with its transaction id already assigned.
pub(crate) async fn begin_append(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
    Ok(pool.begin_with(BEGIN_APPEND).await?)
}

/// Writes a batch in a transaction opened by [`begin_append`] (whose xid is therefore assigned
/// before the first position is drawn; see the module documentation). The caller commits.
#[cfg(test)]
pub(crate) async fn write_batch(
    connection: &mut PgConnection,
    batch: &AppendBatch,
) -> Result<Vec<Position>, StoreError> {
    Ok(write_batch_in(connection, batch).await?.0)
}

/// [`write_batch`], also returning the transaction's id (when it inserted events).
async fn write_batch_in(
    connection: &mut PgConnection,
    batch: &AppendBatch,
) -> Result<(Vec<Position>, Option<i64>), StoreError> {
    let (positions, xid) =
        if batch.events.is_empty() { (Vec::new(), None) } else { insert_events(connection, &batch.events).await? };
    crate::queries::write_side_rows!(connection, batch);
    Ok((positions, xid))
}

/// Writes a batch in a transaction opened by [`PostgresLog::open_append`], left open.
pub(crate) async fn write_open_batch(
    mut transaction: sqlx::Transaction<'static, sqlx::Postgres>,
    batch: &AppendBatch,
    pool: &PgPool,
) -> Result<OpenAppend, StoreError> {
    let (positions, xid) = write_batch_in(&mut transaction, batch).await?;
    let outcome = xid.map(|xid| (xid, pool.clone()));
    Ok(OpenAppend { transaction: OpenTransaction::Postgres(transaction), positions, outcome })
}

/// What became of a transaction whose connection was lost during its COMMIT.
pub(crate) enum Outcome {
    Committed,
    Aborted,
    Unknown(String),
}

/// Asks the server what became of transaction `xid` (`pg_xact_status`, made for a connection lost
/// during COMMIT), until it knows or [`OUTCOME_DEADLINE`] passes. A transaction still in progress
/// (its backend has not yet seen the connection go) is asked about again.
pub(crate) async fn commit_outcome(pool: &PgPool, xid: i64) -> Outcome {
    let deadline = tokio::time::Instant::now() + OUTCOME_DEADLINE;
    loop {
        let status = sqlx::query_scalar::<_, Option<String>>("SELECT pg_xact_status($1::text::xid8)")
            .bind(xid.to_string())
            .fetch_one(pool)
            .await;
        let last = match status.as_ref().map(Option::as_deref) {
            Ok(Some("committed")) => return Outcome::Committed,
            Ok(Some("aborted")) => return Outcome::Aborted,
            Ok(Some(other)) => format!("transaction {xid} is {other}"),
            Ok(None) => return Outcome::Unknown(format!("the server no longer knows transaction {xid}")),
            Err(error) => error.to_string(),
        };
        if tokio::time::Instant::now() >= deadline {
            return Outcome::Unknown(last);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Inserts the events with [`INSERT_EVENTS`] and returns their positions in the batch's order.
async fn insert_events(
    connection: &mut PgConnection,
    events: &[NewEvent],
) -> Result<(Vec<Position>, Option<i64>), StoreError> {
    let count = events.len();
    let mut aggregate_types = Vec::with_capacity(count);
    let mut aggregate_ids = Vec::with_capacity(count);
    let mut sequences = Vec::with_capacity(count);
    let mut event_types = Vec::with_capacity(count);
    let mut event_versions = Vec::with_capacity(count);
    let mut payloads = Vec::with_capacity(count);
    let mut metadata = Vec::with_capacity(count);
    let mut recorded_at = Vec::with_capacity(count);
    for NewEvent { event, recorded_at: at, payload_text, metadata_text, .. } in events {
        aggregate_types.push(event.aggregate_type.as_str());
        aggregate_ids.push(event.aggregate_id.as_str());
        sequences.push(sequence_to_i64(event)?);
        event_types.push(event.event_type.as_str());
        event_versions.push(event.event_version.as_str());
        payloads.push(payload_text.as_str());
        metadata.push(metadata_text.as_str());
        recorded_at.push(crate::truncate_to_micros(*at));
    }
    let rows = sqlx::query(INSERT_EVENTS)
        .bind(&aggregate_types)
        .bind(&aggregate_ids)
        .bind(&sequences)
        .bind(&event_types)
        .bind(&event_versions)
        .bind(&payloads)
        .bind(&metadata)
        .bind(&recorded_at)
        .fetch_all(&mut *connection)
        .await
        .map_err(|error| conflict_or_database(error, &events[0].event))?;
    let xid = match rows.first() {
        Some(row) => Some(
            row.try_get::<String, _>("xid")?
                .parse::<i64>()
                .map_err(|error| StoreError::Serialization(format!("a transaction id: {error}")))?,
        ),
        None => None,
    };
    Ok((crate::positions_in_batch_order(events, &rows)?, xid))
}

fn recorded_event(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    let sequence: i64 = row.try_get("sequence")?;
    let recorded_at: DateTime<Utc> = row.try_get("recorded_at")?;
    Ok(RecordedEvent {
        position: row.try_get("position")?,
        recorded_at,
        event: SerializedEvent::new(
            row.try_get("aggregate_id")?,
            crate::sequence_from_i64(sequence)?,
            row.try_get("aggregate_type")?,
            row.try_get("event_type")?,
            row.try_get("event_version")?,
            row.try_get("payload")?,
            row.try_get("metadata")?,
        ),
    })
}

/// One reading of the log's frontier: every position up to `drawn_position` was drawn by a
/// transaction whose xid is below `next_xid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Frontier {
    /// `H`: the sequence's last value when read.
    pub(crate) drawn_position: Position,
    /// `N`: the next xid, read after `H`.
    pub(crate) next_xid: i64,
}

/// The gap-safe watermark and the frontiers that are not yet known to be final.
#[derive(Debug, Default)]
pub(crate) struct Watermark {
    safe: Position,
    pending: VecDeque<Frontier>,
}

impl Watermark {
    /// Records a fresh frontier and `M`, the oldest running xid of a snapshot taken by this call,
    /// and returns the watermark. `M` also retires frontiers queued by earlier or concurrent
    /// calls: the proof in the module documentation holds whichever of `N` and `M` was read first.
    pub(crate) fn observe(&mut self, fresh: Frontier, oldest_running_xid: i64) -> Position {
        let mut safe = self.safe;
        self.pending.retain(|frontier| {
            let is_final = frontier.next_xid <= oldest_running_xid;
            if is_final {
                safe = safe.max(frontier.drawn_position);
            }
            !is_final
        });
        if fresh.next_xid <= oldest_running_xid {
            // Nothing that drew a position up to `fresh` is still running (the idle case).
            safe = safe.max(fresh.drawn_position);
        } else if fresh.drawn_position > safe {
            self.remember(fresh);
        }
        // Pairs at or below the watermark can no longer raise it.
        self.pending.retain(|frontier| frontier.drawn_position > safe);
        self.safe = safe;
        safe
    }

    /// Raises the watermark to `position`, which the caller knows to be final (see
    /// [`crate::EventLog::mark_final`]).
    pub(crate) fn mark_final(&mut self, position: Position) {
        if position > self.safe {
            self.safe = position;
            self.pending.retain(|frontier| frontier.drawn_position > position);
        }
    }

    fn remember(&mut self, fresh: Frontier) {
        // A pending pair that covers as many positions and frees no later than `fresh` makes it
        // useless (concurrent callers can push pairs out of order, hence the full scan).
        let dominated = self
            .pending
            .iter()
            .any(|frontier| frontier.drawn_position >= fresh.drawn_position && frontier.next_xid <= fresh.next_xid);
        if dominated {
            return;
        }
        // Dropping a pair only delays the watermark (later pairs cover its positions), so a long
        // transaction elsewhere on the server cannot make this queue grow without bound. The
        // oldest pairs are kept: they are the first to become final.
        if self.pending.len() >= MAX_PENDING_FRONTIERS {
            self.pending.pop_back();
        }
        self.pending.push_back(fresh);
    }
}

#[cfg(test)]
mod tests {
    use super::{Frontier, MAX_PENDING_FRONTIERS, Watermark};

    fn frontier(drawn_position: i64, next_xid: i64) -> Frontier {
        Frontier { drawn_position, next_xid }
    }

    #[test]
    fn loopback_servers_are_reached_without_tls_unless_the_url_asks() {
        use sqlx::postgres::PgSslMode;
        if std::env::var_os("PGSSLMODE").is_some() {
            return;
        }
        let mode = |url: &str| format!("{:?}", super::connect_options(url).expect("options").get_ssl_mode());
        assert_eq!(mode("postgres://u@127.0.0.1:5432/db"), format!("{:?}", PgSslMode::Disable));
        assert_eq!(mode("postgres://u@localhost/db"), format!("{:?}", PgSslMode::Disable));
        assert_eq!(mode("postgres://u@[::1]:5432/db"), format!("{:?}", PgSslMode::Disable));
        assert_eq!(mode("postgres://u@127.0.0.1/db?sslmode=require"), format!("{:?}", PgSslMode::Require));
        assert_eq!(mode("postgres://u@db.example.org/db"), format!("{:?}", PgSslMode::Prefer));
    }

    #[test]
    fn idle_server_makes_the_fresh_frontier_safe_at_once() {
        let mut watermark = Watermark::default();
        assert_eq!(watermark.observe(frontier(7, 100), 100), 7);
        assert!(watermark.pending.is_empty());
    }

    #[test]
    fn frontier_waits_until_every_older_xid_has_ended() {
        let mut watermark = Watermark::default();
        assert_eq!(watermark.observe(frontier(7, 100), 98), 0);
        // A later call sees xid 99 still running: nothing moves, and the newer pair waits too.
        assert_eq!(watermark.observe(frontier(9, 103), 99), 0);
        // Everything below 100 ended, but 100..103 has not: only the first pair is final.
        assert_eq!(watermark.observe(frontier(9, 104), 101), 7);
        assert_eq!(watermark.observe(frontier(9, 104), 104), 9);
        assert!(watermark.pending.is_empty());
    }

    #[test]
    fn a_position_known_final_raises_the_watermark_and_never_lowers_it() {
        let mut watermark = Watermark::default();
        assert_eq!(watermark.observe(frontier(10, 100), 90), 0, "xids below 100 still run");
        watermark.mark_final(12);
        assert_eq!(watermark.observe(frontier(12, 101), 90), 12);
        watermark.mark_final(5);
        assert_eq!(watermark.observe(frontier(12, 101), 101), 12);
        assert_eq!(watermark.observe(frontier(20, 102), 102), 20);
    }

    #[test]
    fn watermark_never_decreases() {
        let mut watermark = Watermark::default();
        assert_eq!(watermark.observe(frontier(10, 50), 50), 10);
        // A slow concurrent caller reports an older frontier afterwards.
        assert_eq!(watermark.observe(frontier(8, 49), 49), 10);
    }

    #[test]
    fn pending_frontiers_are_bounded() {
        let mut watermark = Watermark::default();
        for step in 1..=(MAX_PENDING_FRONTIERS as i64 * 2) {
            watermark.observe(frontier(step, 1_000 + step), 500);
        }
        assert_eq!(watermark.pending.len(), MAX_PENDING_FRONTIERS);
        // The oldest pair was kept, so the watermark advances as soon as its xids end.
        assert_eq!(watermark.observe(frontier(10_000, 5_000), 1_001), 1);
    }
}

/// Gap safety against a real server: transactions are held open by hand around [`write_batch`],
/// the code path of every append.
#[cfg(test)]
mod gap_tests {
    use std::time::{Duration, Instant};

    use chrono::Utc;
    use serde_json::json;

    use super::write_batch;
    use crate::testing::fresh_event_log;
    use crate::{AppendBatch, Backend, EventLog, NewEvent, Position, SerializedEvent};

    /// How long a test waits for the watermark to pass events whose transactions have ended: other
    /// tests share the server, and their transactions hold the watermark back for a while.
    const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

    fn one_event(aggregate_id: &str) -> AppendBatch {
        AppendBatch {
            events: vec![
                NewEvent::new(
                    SerializedEvent::new(
                        aggregate_id.to_owned(),
                        1,
                        "Wallet".to_owned(),
                        "WalletOpened".to_owned(),
                        "1".to_owned(),
                        json!({ "wallet": aggregate_id }),
                        json!({}),
                    ),
                    Utc::now(),
                )
                .expect("serialises"),
            ],
            ..AppendBatch::default()
        }
    }

    async fn postgres_log() -> EventLog {
        let (log, _no_directory) = fresh_event_log(Backend::Postgres).await;
        log
    }

    /// Reads from position 0 until `expected` positions were returned, or fails after
    /// [`SETTLE_TIMEOUT`].
    async fn positions_once_settled(log: &EventLog, expected: usize) -> Vec<Position> {
        let started = Instant::now();
        loop {
            let positions: Vec<Position> =
                log.read_after(0, 100).await.expect("read_after").iter().map(|event| event.position).collect();
            if positions.len() >= expected || started.elapsed() > SETTLE_TIMEOUT {
                return positions;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn reader_waits_for_an_open_transaction_below_a_committed_position() {
        let log = postgres_log().await;
        let pool = log.postgres_pool().expect("PostgreSQL log").clone();

        let mut open = super::begin_append(&pool).await.expect("begin A");
        let first = write_batch(&mut open, &one_event("wallet-a")).await.expect("write A")[0];
        let second = log.append(&one_event("wallet-b")).await.expect("append B")[0];
        assert!(second > first, "B drew its position after A");

        let safe = log.safe_position().await.expect("safe_position");
        assert!(safe < first, "safe position {safe} passed the open position {first}");
        let visible = log.read_after(0, 100).await.expect("read_after");
        assert!(
            visible.iter().all(|event| event.position < first),
            "read_after returned {visible:?} while position {first} is still open"
        );
        assert_eq!(log.last_position().await.expect("last_position"), second);

        open.commit().await.expect("commit A");
        assert_eq!(positions_once_settled(&log, 2).await, vec![first, second]);
    }

    /// The case `pg_snapshot_xmax` gets wrong: while no transaction with a later xid has completed,
    /// the open ones are at or above every snapshot's xmax.
    #[tokio::test]
    async fn two_open_transactions_hold_back_the_watermark() {
        let log = postgres_log().await;
        let pool = log.postgres_pool().expect("PostgreSQL log").clone();

        let mut older = super::begin_append(&pool).await.expect("begin A");
        let first = write_batch(&mut older, &one_event("wallet-a")).await.expect("write A")[0];
        let mut newer = super::begin_append(&pool).await.expect("begin B");
        let second = write_batch(&mut newer, &one_event("wallet-b")).await.expect("write B")[0];
        assert!(second > first);

        let safe = log.safe_position().await.expect("safe_position");
        assert!(safe < first, "safe position {safe} passed open positions {first}, {second}");

        newer.commit().await.expect("commit B");
        let safe = log.safe_position().await.expect("safe_position");
        assert!(safe < first, "safe position {safe} passed the open position {first}");
        assert!(log.read_after(0, 100).await.expect("read_after").is_empty());

        older.commit().await.expect("commit A");
        assert_eq!(positions_once_settled(&log, 2).await, vec![first, second]);
    }

    #[tokio::test]
    async fn reader_passes_the_gap_of_a_rolled_back_transaction() {
        let log = postgres_log().await;
        let pool = log.postgres_pool().expect("PostgreSQL log").clone();

        let mut doomed = super::begin_append(&pool).await.expect("begin A");
        let lost = write_batch(&mut doomed, &one_event("wallet-a")).await.expect("write A")[0];
        let kept = log.append(&one_event("wallet-b")).await.expect("append B")[0];
        assert!(log.safe_position().await.expect("safe_position") < lost);
        doomed.rollback().await.expect("rollback A");

        assert_eq!(positions_once_settled(&log, 1).await, vec![kept]);
        assert!(log.safe_position().await.expect("safe_position") >= kept);

        // The rolled-back aggregate can be written again, past the gap.
        let later = log.append(&one_event("wallet-a")).await.expect("append A again")[0];
        assert!(later > kept);
        assert_eq!(positions_once_settled(&log, 2).await, vec![kept, later]);
    }

    /// Reads go window by window (see `read_windows`): a page still fills across gaps of unused
    /// positions, large or small, and both readers return the same events.
    #[tokio::test]
    async fn pages_fill_across_gaps_of_unused_positions() {
        let log = postgres_log().await;
        let pool = log.postgres_pool().expect("PostgreSQL log").clone();
        let mut written = Vec::new();
        for round in 0..3 {
            for index in 0..3 {
                written.push(log.append(&one_event(&format!("w-{round}-{index}"))).await.expect("append")[0]);
            }
            if round == 2 {
                break;
            }
            // Burn positions: a jump of a million, then of three (never after the last append:
            // a restarted identity reads as "nothing drawn yet" until its next value is drawn).
            let jump = if round == 0 { 1_000_000 } else { 3 };
            sqlx::query(&format!(
                "ALTER TABLE events ALTER COLUMN position RESTART WITH {}",
                written.last().unwrap() + jump
            ))
            .execute(&pool)
            .await
            .expect("restart the identity");
        }
        assert_eq!(positions_once_settled(&log, written.len()).await, written);
        let page: Vec<Position> =
            log.read_after(0, 4).await.expect("page").iter().map(|event| event.position).collect();
        assert_eq!(page, written[..4], "a page of 4 spans the jump of a million");
        let page: Vec<Position> =
            log.read_after(written[3], 4).await.expect("page").iter().map(|event| event.position).collect();
        assert_eq!(page, written[4..8]);
        let stored: Vec<Position> =
            log.read_stored_after(0, 5).await.expect("stored").iter().map(|event| event.position).collect();
        assert_eq!(stored, written[..5]);
        assert!(log.read_after(*written.last().unwrap(), 4).await.expect("past the end").is_empty());
    }

    #[tokio::test]
    async fn every_event_records_the_transaction_that_wrote_it() {
        let log = postgres_log().await;
        let mut batch = one_event("wallet-a");
        batch.events.extend(one_event("wallet-b").events);
        log.append(&batch).await.expect("append");
        let pool = log.postgres_pool().expect("PostgreSQL log");
        let transactions: Vec<String> = sqlx::query_scalar("SELECT DISTINCT transaction_id::text FROM events")
            .fetch_all(pool)
            .await
            .expect("select transaction ids");
        assert_eq!(transactions.len(), 1, "one batch, one transaction: {transactions:?}");
    }
}
