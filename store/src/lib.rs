//! The storage layer of Ygor's event log: one API over an embedded SQLite file (the default, no
//! server needed) and PostgreSQL (production).
//!
//! Two kinds of clients use it:
//! * the **command engine** loads an aggregate's stream ([`EventLog::load_stream`], through the
//!   stock postgres-es / sqlite-es repositories, so cqrs-es upcasting and types apply unchanged),
//!   decides events for one or several aggregates, and appends them with the credentials and
//!   personal data that go with them in **one transaction** ([`EventLog::append`]). A sequence
//!   already taken is an optimistic-concurrency [`StoreError::Conflict`], and nothing is written.
//! * **projection runners** tail the log in global position order ([`EventLog::read_after`]).
//!   Reads are gap-safe: an event is returned only once no event with a lower position can still
//!   commit, so a runner that checkpoints the last position it applied never skips one. On SQLite
//!   this is free (writes are serialised); on PostgreSQL positions commit out of order, and
//!   `postgres.rs` explains the watermark that restores the guarantee without a global lock.
//!
//! Appends do not go through cqrs-es' `persist`: it writes one aggregate per transaction, returns
//! no position, and on PostgreSQL would draw positions before the transaction id the watermark
//! relies on. The schema (in `migrations/`) keeps the stock repositories' columns and refuses
//! inserts that bypass [`EventLog::append`].
//!
//! Personal data ([`CitizenDetails`]) lives in its own table, outside the append-only log, so that
//! erasing a person never rewrites history.
//!
//! [`testing`] gives every crate's tests a fresh SQLite directory or PostgreSQL database.

mod aggregate_snapshot;
mod citizen_codes;
mod countermarks;
mod error;
mod event;
mod postgres;
mod queries;
mod replay;
mod snapshot;
mod sqlite;
pub mod testing;
mod web_sessions;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Timelike, Utc};
pub use cqrs_es::persist::SerializedEvent;

pub use crate::aggregate_snapshot::{AggregateSnapshot, MAX_AGGREGATE_SNAPSHOT_BYTES};
pub use crate::error::StoreError;
pub use crate::event::{EventHead, NewEvent, RecordedEvent};
use crate::postgres::PostgresLog;
pub use crate::replay::{StoredEvent, StoredReader};
pub use crate::snapshot::{SNAPSHOT_PART_BYTES, Snapshot, SnapshotReader, SnapshotWriter};
use crate::sqlite::SqliteLog;
pub use crate::web_sessions::CITIZENS_PER_EMAIL_MAX;
pub use crate::writer::{WRITER_LOCK_KEY, WriterLock, WriterState};

/// A global position in the log: > 0, strictly increasing in the order readers are given events;
/// it may have gaps (positions drawn by rolled-back transactions).
pub type Position = i64;

/// The most items in one list of an [`AppendBatch`]: a bulk certification fits, a runaway loop
/// does not hold the write lock (SQLite) or a transaction (PostgreSQL) for long.
pub const MAX_BATCH_LEN: usize = 10_000;

/// The most events one [`EventLog::read_after`] call returns, whatever limit it is given.
pub const MAX_READ_LIMIT: usize = 10_000;

/// The roles a credential may carry.
pub const CREDENTIAL_ROLES: [&str; 4] = ["admin", "association", "venue", "citizen"];

/// The SQLite file used when no database URL is given.
pub const DEFAULT_SQLITE_FILE: &str = "ygor.db";

/// The options Ygor connects to the PostgreSQL `url` with (TLS off on the loopback interface
/// unless the URL asks for it): for tools that must reach the server exactly as the log does.
pub fn postgres_connect_options(url: &str) -> Result<sqlx::postgres::PgConnectOptions, StoreError> {
    postgres::connect_options(url)
}

/// Which database holds the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// `sqlite` or `postgres`, as the API and the benchmarks name it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A transaction opened for a batch not written yet (see [`EventLog::open_append`]); dropping
/// it rolls it back.
pub struct AppendTransaction {
    transaction: OpenTransaction,
}

impl AppendTransaction {
    /// Rolls back at once (dropping it does the same, later).
    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.transaction {
            OpenTransaction::Sqlite(transaction, _turn) => transaction.rollback().await?,
            OpenTransaction::Postgres(transaction) => transaction.rollback().await?,
        }
        Ok(())
    }
}

/// A batch written in a transaction that is still open (see [`EventLog::begin_append`]).
pub struct OpenAppend {
    transaction: OpenTransaction,
    positions: Vec<Position>,
    /// On PostgreSQL, the transaction's id and a pool to ask what became of it if the connection
    /// is lost during the COMMIT.
    outcome: Option<(i64, sqlx::PgPool)>,
}

enum OpenTransaction {
    /// With the process's SQLite write turn, released when the transaction ends.
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>, tokio::sync::OwnedMutexGuard<()>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl OpenAppend {
    /// The positions drawn for the batch's events, in the batch's order.
    pub fn positions(&self) -> &[Position] {
        &self.positions
    }

    /// Commits (durably) and returns the positions.
    ///
    /// A COMMIT that fails with the database's own error did not commit. One whose connection was
    /// lost on the way may have: on PostgreSQL the server is asked what became of the transaction
    /// (a few seconds at most); if it committed, this returns the positions; if it did not,
    /// [`StoreError::Unavailable`]; if nobody can tell, [`StoreError::OutcomeUnknown`]. SQLite
    /// commits in this process: its COMMIT fails only without committing.
    pub async fn commit(self) -> Result<Vec<Position>, StoreError> {
        match self.transaction {
            OpenTransaction::Sqlite(transaction, _turn) => transaction.commit().await?,
            OpenTransaction::Postgres(transaction) => match transaction.commit().await {
                Ok(()) => {}
                Err(error @ sqlx::Error::Database(_)) => return Err(error.into()),
                Err(lost) => {
                    let Some((xid, pool)) = self.outcome else {
                        return Err(StoreError::OutcomeUnknown(lost.to_string()));
                    };
                    return match postgres::commit_outcome(&pool, xid).await {
                        postgres::Outcome::Committed => Ok(self.positions),
                        postgres::Outcome::Aborted => Err(StoreError::Unavailable(lost.to_string())),
                        postgres::Outcome::Unknown(why) => {
                            Err(StoreError::OutcomeUnknown(format!("{lost}; asking the server: {why}")))
                        }
                    };
                }
            },
        }
        Ok(self.positions)
    }

    /// Rolls back: none of the batch is ever visible. (Dropping it does the same, later.)
    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.transaction {
            OpenTransaction::Sqlite(transaction, _turn) => transaction.rollback().await?,
            OpenTransaction::Postgres(transaction) => transaction.rollback().await?,
        }
        Ok(())
    }
}

/// An API credential to store with the events that create it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCredential {
    /// SHA-256 of the bearer token; the token itself is never stored.
    pub token_hash: [u8; 32],
    /// One of [`CREDENTIAL_ROLES`].
    pub role: String,
    /// The partner or citizen id (or the admin's name) the credential acts for.
    pub subject_id: String,
}

/// A stored credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// One of [`CREDENTIAL_ROLES`].
    pub role: String,
    /// The id the credential acts for.
    pub subject_id: String,
}

/// Personal data of a citizen, kept out of the event log so that it can be erased. Writing it
/// again for the same citizen replaces it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CitizenDetails {
    /// The pseudonymous citizen id used in events.
    pub citizen_id: String,
    /// The neighbourhood, for participation dashboards.
    pub neighbourhood: Option<String>,
    /// The birth year, for age bands.
    pub birth_year: Option<i32>,
    /// Where the citizen's login links are sent, as typed at registration (trimmed); found again
    /// case-insensitively.
    pub email: Option<String>,
}

/// A citizen's short code (8 characters of Crockford's base32, `ygor_crypto::random_short_code`),
/// kept outside the log: one per citizen, and no two citizens with the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CitizenCode {
    pub citizen_id: String,
    /// Its canonical form, as `ygor_crypto::read_short_code` gives it.
    pub code: String,
}

/// Everything one command writes, committed atomically.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppendBatch {
    /// Events of any number of aggregates and aggregate types, in the order their positions are
    /// drawn.
    pub events: Vec<NewEvent>,
    /// Credentials to create.
    pub credentials: Vec<NewCredential>,
    /// Citizen details to create or replace.
    pub citizen_details: Vec<CitizenDetails>,
    /// Citizen codes to create; a code another citizen has is [`StoreError::CitizenCodeTaken`].
    pub citizen_codes: Vec<CitizenCode>,
}

/// The event log. Cheap to clone: the clones share the connection pool (and, on PostgreSQL, the
/// gap-safe watermark).
#[derive(Clone)]
pub struct EventLog {
    store: Store,
    /// Credentials already found, by token hash. A credential is immutable and never deleted, so
    /// a hit is always right, in every process; misses (unknown tokens) are not kept.
    credentials: Arc<std::sync::RwLock<std::collections::HashMap<[u8; 32], Credential>>>,
    /// Citizen codes already found, by citizen id: a code never changes once written, so a hit
    /// is always right (see `citizen_codes.rs`).
    citizen_codes: Arc<std::sync::RwLock<std::collections::HashMap<String, String>>>,
}

/// The most credentials [`EventLog::find_credential`] keeps in memory (about 100 bytes each); the
/// cache starts again empty when full.
const CREDENTIAL_CACHE_LEN: usize = 100_000;

#[derive(Clone)]
enum Store {
    Sqlite(Arc<SqliteLog>),
    Postgres(Arc<PostgresLog>),
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("EventLog").field("backend", &self.backend()).finish_non_exhaustive()
    }
}

impl EventLog {
    fn with_store(store: Store) -> Self {
        Self { store, credentials: Arc::default(), citizen_codes: Arc::default() }
    }

    /// Opens (creating it and its directory if needed) the SQLite file at `path`, in WAL mode with
    /// durable commits. Run [`EventLog::migrate`] before use.
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        let log = SqliteLog::open(path).await?;
        Ok(Self::with_store(Store::Sqlite(Arc::new(log))))
    }

    /// Connects to the PostgreSQL database at `url` (a pool of 16 connections). Run
    /// [`EventLog::migrate`] before use.
    pub async fn open_postgres(url: &str) -> Result<Self, StoreError> {
        let log = PostgresLog::open(url).await?;
        Ok(Self::with_store(Store::Postgres(Arc::new(log))))
    }

    /// Opens the log a configuration names: no URL (or a blank one) is the SQLite file
    /// `data_dir/ygor.db`; `sqlite:<path>` or `sqlite://<path>` another SQLite file;
    /// `postgres://…` or `postgresql://…` a PostgreSQL database. Anything else is
    /// [`StoreError::InvalidDatabaseUrl`].
    pub async fn open(database_url: Option<&str>, data_dir: &Path) -> Result<Self, StoreError> {
        match parse_database_url(database_url, data_dir)? {
            DatabaseLocation::Sqlite(path) => Self::open_sqlite(&path).await,
            DatabaseLocation::Postgres(url) => Self::open_postgres(url).await,
        }
    }

    /// Which database holds the log.
    pub fn backend(&self) -> Backend {
        match self.store {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite pool, for read models kept in the same file. Never write to `events` with it.
    pub fn sqlite_pool(&self) -> Option<&sqlx::SqlitePool> {
        match &self.store {
            Store::Sqlite(log) => Some(log.pool()),
            Store::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool, for read models kept in the same database. Never write to `events`
    /// with it: only [`EventLog::append`] keeps reads gap-safe.
    pub fn postgres_pool(&self) -> Option<&sqlx::PgPool> {
        match &self.store {
            Store::Sqlite(_) => None,
            Store::Postgres(log) => Some(log.pool()),
        }
    }

    /// Applies the migrations of `migrations/sqlite` or `migrations/postgres`, embedded in the
    /// binary at compile time. Idempotent; concurrent runs are serialised by sqlx.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.store {
            Store::Sqlite(log) => log.migrate().await,
            Store::Postgres(log) => log.migrate().await,
        }
    }

    /// Appends the batch in one transaction and returns the position of each event, in order.
    ///
    /// A sequence already taken (by another writer or earlier in the batch) is
    /// [`StoreError::Conflict`] naming the first such event, and a token hash already taken is
    /// [`StoreError::DuplicateCredential`]; in both cases nothing of the batch is written. The
    /// batch is checked before the database is touched (lengths, sequences, roles).
    pub async fn append(&self, batch: &AppendBatch) -> Result<Vec<Position>, StoreError> {
        self.begin_append(batch).await?.commit().await
    }

    /// Writes the batch in a transaction left open: its positions are drawn, but nothing is
    /// visible to readers or durable until [`OpenAppend::commit`]; dropping it rolls back. Errors
    /// as [`EventLog::append`].
    ///
    /// The engine's committer writes the next group while the previous one commits. On
    /// PostgreSQL the two transactions overlap; on SQLite an open append holds the file's write
    /// turn, so the next `begin_append` waits until this one commits or rolls back.
    pub async fn begin_append(&self, batch: &AppendBatch) -> Result<OpenAppend, StoreError> {
        validate(batch)?;
        let transaction = self.open_append().await?;
        self.write_append(transaction, batch).await
    }

    /// Opens a transaction for a later [`EventLog::write_append`]: on PostgreSQL with its
    /// transaction id already assigned (so that it draws positions after it, as the gap-safe
    /// readers need), on SQLite with the file's write turn. The committer opens the next one
    /// while it writes the current group, which takes a round trip off every group's path.
    ///
    /// While it is open it holds back the gap-safe watermark of readers (PostgreSQL) or every
    /// other writer (SQLite): write it soon, or drop it.
    pub async fn open_append(&self) -> Result<AppendTransaction, StoreError> {
        let transaction = match &self.store {
            Store::Sqlite(log) => log.open_append().await?,
            Store::Postgres(log) => log.open_append().await?,
        };
        Ok(AppendTransaction { transaction })
    }

    /// Writes the batch in a transaction from [`EventLog::open_append`]; as
    /// [`EventLog::begin_append`] otherwise (nothing is written if the batch is refused).
    pub async fn write_append(
        &self,
        transaction: AppendTransaction,
        batch: &AppendBatch,
    ) -> Result<OpenAppend, StoreError> {
        validate(batch)?;
        let opened = match transaction.transaction {
            OpenTransaction::Sqlite(transaction, turn) => sqlite::write_batch(transaction, turn, batch).await,
            OpenTransaction::Postgres(transaction) => {
                let Store::Postgres(log) = &self.store else { unreachable!("a PostgreSQL transaction of this log") };
                postgres::write_open_batch(transaction, batch, log.pool()).await
            }
        };
        match opened {
            Ok(open) => {
                debug_assert_eq!(open.positions.len(), batch.events.len());
                debug_assert!(open.positions.windows(2).all(|pair| pair[0] < pair[1]));
                Ok(open)
            }
            Err(StoreError::Conflict { .. }) => Err(self.locate_conflict(batch).await),
            Err(error) => Err(error),
        }
    }

    /// The events of aggregate `aggregate_id` of type `A` with a sequence above `after_sequence`
    /// (0 for all), in sequence order, loaded by the stock cqrs-es repository of the backend.
    pub async fn load_stream<A: cqrs_es::Aggregate>(
        &self,
        aggregate_id: &str,
        after_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        match &self.store {
            Store::Sqlite(log) => log.load_stream::<A>(aggregate_id, after_sequence).await,
            Store::Postgres(log) => log.load_stream::<A>(aggregate_id, after_sequence).await,
        }
    }

    /// The events of aggregate `aggregate_id` of type `A` with a sequence at or below `through`,
    /// in sequence order: the start of its stream, without reading the rest (a wallet reading
    /// back the history it forgot needs only the events it had applied then).
    pub async fn load_stream_through<A: cqrs_es::Aggregate>(
        &self,
        aggregate_id: &str,
        through: usize,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        let events = match &self.store {
            Store::Sqlite(log) => log.events_in(A::TYPE, aggregate_id, 0, through).await?,
            Store::Postgres(log) => log.events_in(A::TYPE, aggregate_id, 0, through).await?,
        };
        debug_assert!(events.windows(2).all(|pair| pair[0].event.sequence < pair[1].event.sequence));
        Ok(events.into_iter().map(|recorded| recorded.event).collect())
    }

    /// Up to `limit` events (at most [`MAX_READ_LIMIT`]) with a position above `after`, in
    /// position order, all at or below [`EventLog::safe_position`]: an event not returned because
    /// it is not yet safe will be returned by a later call, never skipped.
    pub async fn read_after(&self, after: Position, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let limit = limit.min(MAX_READ_LIMIT);
        if limit == 0 {
            return Ok(Vec::new());
        }
        // MAX_READ_LIMIT fits an i64, so the conversion cannot fail.
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let events = match &self.store {
            Store::Sqlite(log) => log.read_after(after, limit).await?,
            Store::Postgres(log) => log.read_after(after, limit).await?,
        };
        debug_assert!(events.windows(2).all(|pair| pair[0].position < pair[1].position));
        debug_assert!(events.iter().all(|event| event.position > after));
        Ok(events)
    }

    /// The highest position `P` such that no event at or below `P` can still appear. It never
    /// decreases. On PostgreSQL it trails [`EventLog::last_position`] while appends are in flight
    /// (and while any long transaction runs on the server); a reader polls again later.
    pub async fn safe_position(&self) -> Result<Position, StoreError> {
        match &self.store {
            Store::Sqlite(log) => log.last_position().await,
            Store::Postgres(log) => log.safe_position().await,
        }
    }

    /// Tells the log that every position up to `position` is final: each one was committed (or
    /// is known never to exist), as a projection runner knows of the positions it applied one
    /// after the other without a gap. [`EventLog::safe_position`] then never answers less, even
    /// before its own watermark has seen the transactions end. A no-op on SQLite.
    pub fn mark_final(&self, position: Position) {
        if let Store::Postgres(log) = &self.store {
            log.mark_final(position);
        }
    }

    /// Waits until every position up to `target` is safe to read (on PostgreSQL, until the
    /// transactions that drew them have ended; a long transaction anywhere on the server delays
    /// this). Returns the safe position reached, which is below `target` only on timeout.
    pub async fn wait_until_safe(
        &self,
        target: Position,
        timeout: std::time::Duration,
    ) -> Result<Position, StoreError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pause = std::time::Duration::from_millis(1);
        loop {
            let safe = self.safe_position().await?;
            if safe >= target || tokio::time::Instant::now() >= deadline {
                return Ok(safe);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(50));
        }
    }

    /// The highest committed position visible now, 0 if the log is empty: for status and lag
    /// figures, not for reading (see [`EventLog::safe_position`]).
    pub async fn last_position(&self) -> Result<Position, StoreError> {
        match &self.store {
            Store::Sqlite(log) => log.last_position().await,
            Store::Postgres(log) => log.last_position().await,
        }
    }

    /// The credential whose token hashes to `token_hash`, if any. Found credentials are kept in
    /// memory: every request authenticates, and a round trip to the database each time cost a
    /// fifth of a certification's time on PostgreSQL (docs/performance.md).
    pub async fn find_credential(&self, token_hash: &[u8; 32]) -> Result<Option<Credential>, StoreError> {
        let cached =
            self.credentials.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(token_hash).cloned();
        if cached.is_some() {
            return Ok(cached);
        }
        let found = match &self.store {
            Store::Sqlite(log) => log.find_credential(token_hash).await?,
            Store::Postgres(log) => log.find_credential(token_hash).await?,
        };
        if let Some(credential) = &found {
            let mut cache = self.credentials.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            if cache.len() >= CREDENTIAL_CACHE_LEN {
                cache.clear();
            }
            cache.insert(*token_hash, credential.clone());
        }
        Ok(found)
    }

    /// After a multi-row insert failed on a taken sequence: the first event of the batch whose
    /// sequence is taken (the database does not say which row of the statement failed).
    async fn locate_conflict(&self, batch: &AppendBatch) -> StoreError {
        for NewEvent { event, .. } in &batch.events {
            match self.position_of(&event.aggregate_type, &event.aggregate_id, event.sequence).await {
                Ok(Some(_)) => return conflict(event),
                Ok(None) => {}
                Err(error) => return error,
            }
        }
        // The conflicting event was rolled back by its writer since: still a conflict, the
        // caller decides again.
        batch
            .events
            .first()
            .map_or_else(|| StoreError::Serialization("empty batch conflicted".to_owned()), |new| conflict(&new.event))
    }

    /// The personal data of a citizen, if any was stored (and not erased).
    pub async fn citizen_details(&self, citizen_id: &str) -> Result<Option<CitizenDetails>, StoreError> {
        match &self.store {
            Store::Sqlite(log) => log.citizen_details(citizen_id).await,
            Store::Postgres(log) => log.citizen_details(citizen_id).await,
        }
    }

    /// The global position of one stored event, if it exists: how a retried request is answered
    /// with the position of the event its first attempt wrote.
    pub async fn position_of(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: usize,
    ) -> Result<Option<Position>, StoreError> {
        match &self.store {
            Store::Sqlite(log) => log.position_of(aggregate_type, aggregate_id, sequence).await,
            Store::Postgres(log) => log.position_of(aggregate_type, aggregate_id, sequence).await,
        }
    }

    /// One stored event of an aggregate's stream, if it exists (committed): how a decision reads
    /// back a record its aggregate does not keep in memory.
    pub async fn event_at(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: usize,
    ) -> Result<Option<RecordedEvent>, StoreError> {
        // The key (type, id, sequence) is the primary key: one event at most.
        let mut events = match &self.store {
            Store::Sqlite(log) => log.events_in(aggregate_type, aggregate_id, sequence, sequence).await?,
            Store::Postgres(log) => log.events_in(aggregate_type, aggregate_id, sequence, sequence).await?,
        };
        Ok(events.pop())
    }

    /// Up to `limit` (at most [`MAX_READ_LIMIT`]) committed events of one aggregate's stream
    /// with a sequence below `before` (`None`: from the end), newest first: how a wallet's or an
    /// association's history is read page by page without keeping it in memory. The next page
    /// is asked with `before` = the sequence of the last event returned.
    pub async fn stream_newest_first(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        before: Option<usize>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let limit = limit.min(MAX_READ_LIMIT);
        let before = before.unwrap_or(usize::MAX);
        if limit == 0 || before <= 1 {
            return Ok(Vec::new());
        }
        let events = match &self.store {
            Store::Sqlite(log) => log.events_before(aggregate_type, aggregate_id, before, limit).await?,
            Store::Postgres(log) => log.events_before(aggregate_type, aggregate_id, before, limit).await?,
        };
        debug_assert!(events.windows(2).all(|pair| pair[0].event.sequence > pair[1].event.sequence));
        Ok(events)
    }

    /// Whether the database answers a trivial query within `within`.
    pub async fn ping(&self, within: std::time::Duration) -> bool {
        let answered = match &self.store {
            Store::Sqlite(log) => {
                tokio::time::timeout(within, sqlx::query("SELECT 1").execute(log.pool())).await.map(|done| done.is_ok())
            }
            Store::Postgres(log) => {
                tokio::time::timeout(within, sqlx::query("SELECT 1").execute(log.pool())).await.map(|done| done.is_ok())
            }
        };
        answered.unwrap_or(false)
    }

    /// Drops every snapshot: the next start replays the read models from position 0.
    pub async fn delete_snapshots(&self) -> Result<(), StoreError> {
        match &self.store {
            Store::Sqlite(log) => log.delete_snapshots().await,
            Store::Postgres(log) => log.delete_snapshots().await,
        }
    }

    /// How many events the log holds.
    pub async fn event_count(&self) -> Result<i64, StoreError> {
        match &self.store {
            Store::Sqlite(log) => log.event_count().await,
            Store::Postgres(log) => log.event_count().await,
        }
    }
}

/// Where [`EventLog::open`] finds the log.
#[derive(Debug, PartialEq, Eq)]
enum DatabaseLocation<'a> {
    Sqlite(PathBuf),
    Postgres(&'a str),
}

fn parse_database_url<'a>(database_url: Option<&'a str>, data_dir: &Path) -> Result<DatabaseLocation<'a>, StoreError> {
    let Some(url) = database_url.map(str::trim).filter(|url| !url.is_empty()) else {
        // An empty variable (`YGOR_DATABASE_URL=`) means "not configured", as in most tools.
        return Ok(DatabaseLocation::Sqlite(data_dir.join(DEFAULT_SQLITE_FILE)));
    };
    let invalid = |reason: String| StoreError::InvalidDatabaseUrl { reason };
    if starts_with_ignore_case(url, "postgres://") || starts_with_ignore_case(url, "postgresql://") {
        return Ok(DatabaseLocation::Postgres(url));
    }
    let sqlite_path = if starts_with_ignore_case(url, "sqlite://") {
        &url["sqlite://".len()..]
    } else if starts_with_ignore_case(url, "sqlite:") {
        &url["sqlite:".len()..]
    } else {
        // Name only the scheme: the rest may hold a password.
        let scheme: String = url.split(':').next().unwrap_or_default().chars().take(20).collect();
        return Err(invalid(format!("unsupported scheme `{scheme}`")));
    };
    if sqlite_path.is_empty() {
        return Err(invalid("the SQLite URL names no file".to_owned()));
    }
    if sqlite_path.contains(":memory:") || sqlite_path.contains('?') {
        // Each pooled connection would open its own empty in-memory database, and the store sets
        // its own connection options (WAL, synchronous=FULL) for durability.
        return Err(invalid("in-memory SQLite and SQLite URL options are not supported".to_owned()));
    }
    Ok(DatabaseLocation::Sqlite(PathBuf::from(sqlite_path)))
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len()).is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// Refuses a batch that no database would accept, before a transaction is opened.
fn validate(batch: &AppendBatch) -> Result<(), StoreError> {
    for (list, len) in [
        ("events", batch.events.len()),
        ("credentials", batch.credentials.len()),
        ("citizen details", batch.citizen_details.len()),
        ("citizen codes", batch.citizen_codes.len()),
    ] {
        if len > MAX_BATCH_LEN {
            return Err(StoreError::BatchTooLarge { list, len, limit: MAX_BATCH_LEN });
        }
    }
    let mut keys = std::collections::HashSet::with_capacity(batch.events.len());
    for NewEvent { event, .. } in &batch.events {
        sequence_to_i64(event)?;
        // A batch holding one sequence twice conflicts with itself, whatever the database holds.
        if !keys.insert((event.aggregate_type.as_str(), event.aggregate_id.as_str(), event.sequence)) {
            return Err(conflict(event));
        }
    }
    if let Some(credential) =
        batch.credentials.iter().find(|credential| !CREDENTIAL_ROLES.contains(&credential.role.as_str()))
    {
        return Err(StoreError::InvalidRole { role: credential.role.clone() });
    }
    Ok(())
}

/// cqrs-es sequences start at 1; both databases store them as 64-bit integers.
fn sequence_to_i64(event: &SerializedEvent) -> Result<i64, StoreError> {
    i64::try_from(event.sequence).ok().filter(|sequence| *sequence >= 1).ok_or_else(|| StoreError::InvalidSequence {
        aggregate_type: event.aggregate_type.clone(),
        aggregate_id: event.aggregate_id.clone(),
        sequence: event.sequence,
    })
}

fn sequence_from_i64(sequence: i64) -> Result<usize, StoreError> {
    usize::try_from(sequence).map_err(|_| StoreError::Serialization(format!("stored sequence {sequence} is negative")))
}

/// PostgreSQL keeps microseconds; cutting the nanoseconds on both backends makes an event read
/// back from either equal.
fn truncate_to_micros(instant: DateTime<Utc>) -> DateTime<Utc> {
    let nanoseconds = instant.nanosecond();
    instant.with_nanosecond(nanoseconds - nanoseconds % 1_000).unwrap_or(instant)
}

fn unique_violation(error: &sqlx::Error) -> Option<&dyn sqlx::error::DatabaseError> {
    match error {
        sqlx::Error::Database(database_error) if database_error.is_unique_violation() => Some(database_error.as_ref()),
        _ => None,
    }
}

/// A unique violation while inserting `event` is an optimistic-concurrency conflict: the only
/// unique key such an insert can hit is (aggregate_type, aggregate_id, sequence), positions being
/// drawn by the database (PostgreSQL names the constraint; SQLite does not).
fn conflict(event: &SerializedEvent) -> StoreError {
    StoreError::Conflict {
        aggregate_type: event.aggregate_type.clone(),
        aggregate_id: event.aggregate_id.clone(),
        sequence: event.sequence,
    }
}

/// A unique violation of the events' key is a [`StoreError::Conflict`], provisionally named after
/// `event`; [`EventLog::append`] then finds the event that really conflicted.
fn conflict_or_database(error: sqlx::Error, event: &SerializedEvent) -> StoreError {
    let is_conflict = unique_violation(&error)
        .is_some_and(|violation| violation.constraint().is_none_or(|constraint| constraint == "events_pkey"));
    if is_conflict { conflict(event) } else { StoreError::Database(error) }
}

/// How long a pooled connection may sit idle before it is checked (a round trip) on its way
/// out of the pool; see [`checked_after_idle`].
const PING_AFTER_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// The pool's options with one change to sqlx's default check: a connection is pinged before it
/// is handed out only if it sat idle for [`PING_AFTER_IDLE`], where sqlx pings every time. Under
/// load the committer takes a connection for every group of operations, and the ping was one
/// more round trip in the path to the disk and 3% of the server's CPU. A connection the server dropped (a restart, an idle timeout) has almost always
/// been idle; one that fails in use fails its transaction, whose operations are decided again or
/// answered with an error to retry, and sqlx discards it.
fn checked_after_idle<DB: sqlx::Database>(options: sqlx::pool::PoolOptions<DB>) -> sqlx::pool::PoolOptions<DB> {
    use sqlx::Connection as _;
    options.test_before_acquire(false).before_acquire(|connection, metadata| {
        Box::pin(async move {
            if metadata.idle_for >= PING_AFTER_IDLE {
                connection.ping().await?;
            }
            Ok(true)
        })
    })
}

/// The positions of `events` in their order, from the rows their multi-row insert returned (in
/// any order) with `RETURNING position, aggregate_type, aggregate_id, sequence`.
fn positions_in_batch_order<R>(events: &[NewEvent], rows: &[R]) -> Result<Vec<Position>, StoreError>
where
    R: sqlx::Row,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'static str: sqlx::ColumnIndex<R>,
{
    if rows.len() != events.len() {
        return Err(StoreError::Serialization(format!(
            "inserted {} events but the database returned {} rows",
            events.len(),
            rows.len()
        )));
    }
    let mut by_key = std::collections::HashMap::with_capacity(rows.len());
    for row in rows {
        let sequence = sequence_from_i64(row.try_get("sequence")?)?;
        let key: (&str, &str, usize) = (row.try_get("aggregate_type")?, row.try_get("aggregate_id")?, sequence);
        by_key.insert(key, row.try_get::<i64, _>("position")?);
    }
    events
        .iter()
        .map(|NewEvent { event, .. }| {
            by_key.remove(&(event.aggregate_type.as_str(), event.aggregate_id.as_str(), event.sequence)).ok_or_else(
                || {
                    StoreError::Serialization(format!(
                        "the insert returned no position for {} {} at sequence {}",
                        event.aggregate_type, event.aggregate_id, event.sequence
                    ))
                },
            )
        })
        .collect()
}

pub(crate) fn credential_error(error: sqlx::Error) -> StoreError {
    if unique_violation(&error).is_some() { StoreError::DuplicateCredential } else { StoreError::Database(error) }
}

/// A unique violation while inserting a citizen code: the code is taken (a citizen id is new when
/// its code is written in the batch that registers it, and kept by `ON CONFLICT` otherwise).
pub(crate) fn citizen_code_error(error: sqlx::Error) -> StoreError {
    if unique_violation(&error).is_some() { StoreError::CitizenCodeTaken } else { StoreError::Database(error) }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use chrono::{TimeZone, Utc};

    use super::{DatabaseLocation, StoreError, parse_database_url, truncate_to_micros};

    fn location(url: Option<&str>) -> Result<DatabaseLocation<'_>, StoreError> {
        parse_database_url(url, Path::new("/var/lib/ygor"))
    }

    #[test]
    fn no_url_is_the_sqlite_file_in_the_data_directory() {
        let expected = DatabaseLocation::Sqlite(PathBuf::from("/var/lib/ygor/ygor.db"));
        assert_eq!(location(None).expect("default"), expected);
        assert_eq!(location(Some("  ")).expect("blank"), expected);
    }

    #[test]
    fn sqlite_urls_name_a_file() {
        for (url, path) in [
            ("sqlite:data/ygor.db", "data/ygor.db"),
            ("sqlite://data/ygor.db", "data/ygor.db"),
            ("sqlite:///srv/ygor.db", "/srv/ygor.db"),
            ("SQLITE:/srv/ygor.db", "/srv/ygor.db"),
        ] {
            assert_eq!(location(Some(url)).expect(url), DatabaseLocation::Sqlite(PathBuf::from(path)));
        }
    }

    #[test]
    fn postgres_urls_are_kept_whole() {
        for url in ["postgres://ygor:secret@db:5432/ygor", "postgresql://db/ygor?sslmode=require"] {
            assert_eq!(location(Some(url)).expect(url), DatabaseLocation::Postgres(url));
        }
    }

    #[test]
    fn unsupported_url_names_the_accepted_forms_but_not_the_password() {
        let error = location(Some("mysql://root:hunter2@db/ygor")).expect_err("mysql");
        let message = error.to_string();
        assert!(message.contains("`mysql`"), "{message}");
        assert!(message.contains("sqlite:<path>"), "{message}");
        assert!(message.contains("postgres://"), "{message}");
        assert!(message.contains("postgresql://"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn in_memory_and_optioned_sqlite_urls_are_refused() {
        for url in ["sqlite::memory:", "sqlite://ygor.db?mode=rwc", "sqlite:"] {
            assert!(matches!(location(Some(url)), Err(StoreError::InvalidDatabaseUrl { .. })), "{url}");
        }
    }

    #[test]
    fn recorded_at_keeps_microseconds() {
        let instant = Utc.timestamp_opt(1_800_000_000, 123_456_789).single().expect("valid instant");
        assert_eq!(
            truncate_to_micros(instant),
            Utc.timestamp_opt(1_800_000_000, 123_456_000).single().expect("valid instant")
        );
    }
}
