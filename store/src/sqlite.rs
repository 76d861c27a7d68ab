//! The event log in an embedded SQLite file.
//!
//! SQLite runs one write transaction at a time per file, and a position is drawn inside it, so
//! positions become visible in order: the highest visible position is always safe to read up to,
//! and no watermark bookkeeping is needed (contrast with `postgres.rs`).
//!
//! The file is opened in WAL mode, so that readers (projection runners, queries) do not block the
//! writer and see a consistent snapshot, with `synchronous=FULL`, so that a commit survives a power
//! loss like a PostgreSQL commit does (the stock sqlite-es pool uses NORMAL, which may lose the last
//! commits).

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use cqrs_es::Aggregate;
use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};
use sqlite_es::SqliteEventRepository;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::{
    AppendBatch, NewEvent, OpenAppend, OpenTransaction, Position, RecordedEvent, StoreError, conflict_or_database,
    sequence_to_i64,
};

/// Connections in the pool. Writes are serialised anyway; the rest serve concurrent readers
/// (HTTP queries, projection runners) without queueing behind one another.
const POOL_CONNECTIONS: u32 = 8;

/// How long a connection waits for a write lock held by another process (`ygor migrate` while the
/// server runs, a backup) before failing with SQLITE_BUSY.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request waits for a free connection before failing instead of hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The most events one INSERT statement carries: 8 parameters each, well under SQLite's limit of
/// 32,766 parameters per statement.
const INSERT_CHUNK_MAX: usize = 256;

/// `INSERT … VALUES (…), (…) … RETURNING` for `rows` events, for each power of two up to
/// [`INSERT_CHUNK_MAX`]: a batch is cut into such chunks, so that a group commit costs a few
/// statements (each a hand-off to sqlx's SQLite thread) instead of one per event, and the
/// statement cache holds at most nine shapes.
fn insert_events_sql(rows: usize) -> &'static str {
    static STATEMENTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let statements = STATEMENTS.get_or_init(|| {
        (0..=INSERT_CHUNK_MAX.trailing_zeros())
            .map(|power| {
                let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; 1 << power].join(", ");
                format!(
                    "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, \
                     metadata, recorded_at) VALUES {values} RETURNING position, aggregate_type, aggregate_id, sequence"
                )
            })
            .collect()
    });
    debug_assert!(rows.is_power_of_two() && rows <= INSERT_CHUNK_MAX);
    &statements[rows.trailing_zeros() as usize]
}

/// The largest chunk size [`insert_events_sql`] has that fits `remaining` events.
fn chunk_len(remaining: usize) -> usize {
    let largest_power = 1 << (usize::BITS - 1 - remaining.leading_zeros());
    largest_power.min(INSERT_CHUNK_MAX)
}

const SELECT_AFTER: &str = concat!(
    "\nSELECT ",
    crate::queries::recorded_event_columns!(),
    "\n  FROM events\n  WHERE position > ?\n  ORDER BY position\n  LIMIT ?"
);

/// The event log in a SQLite file.
pub(crate) struct SqliteLog {
    pool: SqlitePool,
    repository: SqliteEventRepository,
    path: std::path::PathBuf,
    /// Serialises this process's appends. SQLite would serialise them anyway, but a writer that
    /// finds the file locked sleeps in its busy handler (in steps of up to 100 ms) instead of
    /// being woken when the lock is free; an async mutex hands the turn over at once.
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    _checkpointer: AbortOnDrop,
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Copies the WAL back into the database file, off the write path. By default SQLite does it
/// inside the commit that crosses 1,000 WAL pages, with a sync of the database file, so one
/// commit in a few thousand events stalled the committer and every request queued behind it. A
/// PASSIVE checkpoint waits for no reader or writer; when a checkpoint has copied every frame,
/// the next writer starts the WAL again from its beginning, so it does not grow without bound.
async fn checkpoint_in_background(pool: SqlitePool) {
    loop {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        if pool.is_closed() {
            return;
        }
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
            tracing::warn!(%error, "WAL checkpoint failed; retrying later");
        }
    }
}

/// Stops the background checkpoints when the log is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

crate::queries::common_queries!(SqliteLog);

impl SqliteLog {
    pub(crate) async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(directory) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(directory)
                .map_err(|source| StoreError::CreateDirectory { path: directory.to_path_buf(), source })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            // No checkpoint inside a commit: see `checkpoint_in_background`.
            .pragma("wal_autocheckpoint", "0")
            // When the WAL starts again from its beginning, cut the file back to 64 MiB.
            .pragma("journal_size_limit", "67108864");
        let pool = crate::checked_after_idle(SqlitePoolOptions::new())
            .max_connections(POOL_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        let checkpointer = AbortOnDrop(tokio::spawn(checkpoint_in_background(pool.clone())));
        Ok(Self {
            repository: SqliteEventRepository::new(pool.clone()),
            pool,
            path: path.to_path_buf(),
            writer: std::sync::Arc::default(),
            _checkpointer: checkpointer,
        })
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("../migrations/sqlite").run(&self.pool).await?;
        Ok(())
    }

    /// The process's write turn (see `writer`), for a writer other than the committer's appends.
    pub(crate) async fn write_turn(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.writer.clone().lock_owned().await
    }

    pub(crate) async fn open_append(&self) -> Result<OpenTransaction, StoreError> {
        let turn = self.write_turn().await;
        // IMMEDIATE takes the write lock at BEGIN, so the transaction never has to upgrade a read
        // lock later (an upgrade can fail with SQLITE_BUSY without waiting).
        let transaction = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(OpenTransaction::Sqlite(transaction, turn))
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
        // Every visible event is at or below the safe position (see the module documentation),
        // so no upper bound is needed.
        let rows = sqlx::query(SELECT_AFTER).bind(after).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(recorded_event).collect()
    }

    pub(crate) async fn last_position(&self) -> Result<Position, StoreError> {
        let position: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events").fetch_one(&self.pool).await?;
        Ok(position)
    }
}

/// Writes a batch in a transaction opened by [`SqliteLog::open_append`], left open.
pub(crate) async fn write_batch(
    mut transaction: sqlx::Transaction<'static, sqlx::Sqlite>,
    turn: tokio::sync::OwnedMutexGuard<()>,
    batch: &AppendBatch,
) -> Result<OpenAppend, StoreError> {
    let mut positions = Vec::with_capacity(batch.events.len());
    let mut rest = batch.events.as_slice();
    while !rest.is_empty() {
        let (chunk, others) = rest.split_at(chunk_len(rest.len()));
        rest = others;
        let mut query = sqlx::query(insert_events_sql(chunk.len()));
        for NewEvent { event, recorded_at, payload_text, metadata_text, .. } in chunk {
            query = query
                .bind(&event.aggregate_type)
                .bind(&event.aggregate_id)
                .bind(sequence_to_i64(event)?)
                .bind(&event.event_type)
                .bind(&event.event_version)
                .bind(payload_text.as_str())
                .bind(metadata_text.as_str())
                .bind(format_recorded_at(*recorded_at));
        }
        let rows =
            query.fetch_all(&mut *transaction).await.map_err(|error| conflict_or_database(error, &chunk[0].event))?;
        positions.extend(crate::positions_in_batch_order(chunk, &rows)?);
    }
    crate::queries::write_side_rows!(transaction, batch);
    Ok(OpenAppend { transaction: OpenTransaction::Sqlite(transaction, turn), positions, outcome: None })
}

/// RFC 3339 in UTC with exactly six fractional digits: fixed width, so that text order is time
/// order, and microseconds, the precision of PostgreSQL's timestamptz.
fn format_recorded_at(recorded_at: DateTime<Utc>) -> String {
    crate::truncate_to_micros(recorded_at).to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn recorded_event(row: &SqliteRow) -> Result<RecordedEvent, StoreError> {
    let sequence: i64 = row.try_get("sequence")?;
    let recorded_at: String = row.try_get("recorded_at")?;
    let recorded_at = DateTime::parse_from_rfc3339(&recorded_at)
        .map_err(|error| StoreError::Serialization(format!("recorded_at `{recorded_at}` is not RFC 3339: {error}")))?
        .with_timezone(&Utc);
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

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::format_recorded_at;

    #[test]
    fn chunks_are_the_largest_power_of_two_that_fits() {
        assert_eq!(super::chunk_len(1), 1);
        assert_eq!(super::chunk_len(3), 2);
        assert_eq!(super::chunk_len(256), 256);
        assert_eq!(super::chunk_len(1_000), 256);
        assert!(super::insert_events_sql(4).matches("(?, ?, ?, ?, ?, ?, ?, ?)").count() == 4);
    }

    #[test]
    fn recorded_at_is_fixed_width_utc_with_microseconds() {
        let instant = Utc.with_ymd_and_hms(2026, 11, 22, 9, 5, 3).single().expect("valid date");
        assert_eq!(format_recorded_at(instant), "2026-11-22T09:05:03.000000Z");
        let with_nanoseconds = instant + chrono::TimeDelta::nanoseconds(1_234_567);
        assert_eq!(format_recorded_at(with_nanoseconds), "2026-11-22T09:05:03.001234Z");
    }
}
