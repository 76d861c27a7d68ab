//! Reads for replays (projection rebuilds and starts): events as the database stores them, their
//! payload left as JSON text.
//!
//! [`EventLog::read_after`] decodes every payload into a `serde_json::Value`, which a replay then
//! turns into a typed event and into its canonical form for the audit leaf: two passes over the
//! JSON and a tree of small allocations per event. [`EventLog::read_stored_after`] returns the
//! text instead (the stored text on both backends: SQLite's `TEXT` column, PostgreSQL's `json`
//! column, which keeps the text as written), so that the reader decodes it once, straight into
//! the type it needs. It skips the metadata, which no replay reads. It is gap-safe exactly like
//! `read_after`: on PostgreSQL it reads only up to the watermark (see `postgres.rs`).
//!
//! On SQLite the replay reads with `rusqlite` on a connection of its own, on a blocking thread,
//! borrowing each column rather than having sqlx copy every value onto its worker thread first
//! (decision 20): that copy and the hand-off cost more than SQLite's own work.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::Row;

use crate::postgres::PostgresLog;
use crate::{EventLog, MAX_READ_LIMIT, Position, Store, StoreError};

/// An event read back for a replay, in position order, its payload not decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its global position.
    pub position: Position,
    /// When it was appended, to the microsecond.
    pub recorded_at: DateTime<Utc>,
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// Its sequence within its aggregate, from 1.
    pub sequence: usize,
    pub event_type: String,
    pub event_version: String,
    /// The payload as JSON text, as stored (on PostgreSQL, a log migrated from the `jsonb` column
    /// of the first schema holds `jsonb`'s text form for its older events: members ordered by
    /// name length, with spaces). Parsing it gives the `Value` that [`EventLog::read_after`]
    /// returns as `event.payload`.
    pub payload: String,
}

const POSTGRES_SELECT_STORED_AFTER: &str = "
SELECT position, recorded_at, aggregate_type, aggregate_id, sequence, event_type, event_version, payload::text
  FROM events
  WHERE position > $1 AND position <= $2
  ORDER BY position
  LIMIT $3";

impl EventLog {
    /// [`EventLog::read_after`] for replays: the same events, in the same order and with the same
    /// gap safety, each with its payload as JSON text rather than a `Value`, and without metadata.
    ///
    /// On SQLite each call opens a connection of its own: a replay reads through one
    /// [`EventLog::stored_reader`] instead.
    pub async fn read_stored_after(&self, after: Position, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        if sql_limit(limit).is_none() {
            return Ok(Vec::new());
        }
        self.stored_reader().await?.read_after(after, limit).await
    }

    /// A reader for one replay: [`StoredReader::read_after`] reads what
    /// [`EventLog::read_stored_after`] reads, faster when it is called page after page.
    pub async fn stored_reader(&self) -> Result<StoredReader, StoreError> {
        let reader = match &self.store {
            Store::Sqlite(log) => {
                let path = log.pool().connect_options().get_filename().to_path_buf();
                let connection = tokio::task::spawn_blocking(move || open_replay_connection(&path))
                    .await
                    .map_err(|failed| blocking_failed("opening the replay's connection", failed))??;
                Reader::Sqlite(Some(connection))
            }
            Store::Postgres(log) => Reader::Postgres(log.clone()),
        };
        Ok(StoredReader { reader })
    }
}

/// Reads the log page after page for a replay (see [`EventLog::stored_reader`]).
pub struct StoredReader {
    reader: Reader,
}

enum Reader {
    /// Lent to a blocking thread while it reads a page; `None` after a read whose thread failed.
    Sqlite(Option<rusqlite::Connection>),
    Postgres(Arc<PostgresLog>),
}

impl std::fmt::Debug for StoredReader {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("StoredReader").finish_non_exhaustive()
    }
}

impl StoredReader {
    /// Exactly [`EventLog::read_stored_after`].
    pub async fn read_after(&mut self, after: Position, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let Some(limit) = sql_limit(limit) else {
            return Ok(Vec::new());
        };
        let events = match &mut self.reader {
            Reader::Sqlite(slot) => {
                let connection = slot.take().ok_or_else(|| {
                    StoreError::Serialization("an earlier read of this replay failed; start another".to_owned())
                })?;
                let (connection, events) = tokio::task::spawn_blocking(move || {
                    let events = read_sqlite(&connection, after, limit);
                    (connection, events)
                })
                .await
                .map_err(|failed| blocking_failed("reading the log", failed))?;
                *slot = Some(connection);
                events?
            }
            Reader::Postgres(log) => read_postgres(log, after, limit).await?,
        };
        check_order(&events, after);
        Ok(events)
    }
}

/// The limit of a read as SQL takes it, at most [`MAX_READ_LIMIT`]; `None` for 0.
fn sql_limit(limit: usize) -> Option<i64> {
    // MAX_READ_LIMIT fits an i64, so the conversion cannot fail.
    Some(limit.min(MAX_READ_LIMIT)).filter(|limit| *limit > 0).map(|limit| i64::try_from(limit).unwrap_or(i64::MAX))
}

fn check_order(events: &[StoredEvent], after: Position) {
    debug_assert!(events.windows(2).all(|pair| pair[0].position < pair[1].position));
    debug_assert!(events.iter().all(|event| event.position > after));
}

const SQLITE_SELECT_STORED_AFTER: &str = "
SELECT position, recorded_at, aggregate_type, aggregate_id, sequence, event_type, event_version, payload
  FROM events
  WHERE position > ?1
  ORDER BY position
  LIMIT ?2";

/// A connection to the log's file for a replay's reads. Opened read-write but `query_only`: a
/// read-only connection could not recover the write-ahead log of a process that stopped
/// mid-write, whereas this one can, and still writes nothing.
fn open_replay_connection(path: &std::path::Path) -> Result<rusqlite::Connection, StoreError> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = rusqlite::Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(crate::sqlite::BUSY_TIMEOUT)?;
    connection.pragma_update(None, "query_only", true)?;
    Ok(connection)
}

fn blocking_failed(what: &str, failed: tokio::task::JoinError) -> StoreError {
    if failed.is_panic() {
        std::panic::resume_unwind(failed.into_panic());
    }
    StoreError::Serialization(format!("{what}: {failed}"))
}

/// Up to `limit` events after `after`, in position order. Every visible event is at or below the
/// safe position (see `sqlite.rs`). The columns are borrowed from SQLite's row, and copied once,
/// into the event.
fn read_sqlite(connection: &rusqlite::Connection, after: Position, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
    let mut statement = connection.prepare_cached(SQLITE_SELECT_STORED_AFTER)?;
    let mut rows = statement.query((after, limit))?;
    let mut events = Vec::with_capacity(usize::try_from(limit).unwrap_or(0));
    while let Some(row) = rows.next()? {
        let text = |index: usize| -> Result<&str, StoreError> {
            row.get_ref(index)?.as_str().map_err(|error| {
                StoreError::Serialization(format!("column {index} of the event after position {after}: {error}"))
            })
        };
        events.push(StoredEvent {
            position: row.get(0)?,
            recorded_at: parse_recorded_at(text(1)?)?,
            aggregate_type: text(2)?.to_owned(),
            aggregate_id: text(3)?.to_owned(),
            sequence: crate::sequence_from_i64(row.get(4)?)?,
            event_type: text(5)?.to_owned(),
            event_version: text(6)?.to_owned(),
            payload: text(7)?.to_owned(),
        });
    }
    Ok(events)
}

/// `recorded_at` as SQLite stores it. The store writes `YYYY-MM-DDTHH:MM:SS.ffffffZ` (see
/// `sqlite.rs`), read here digit by digit; any other spelling goes through chrono's RFC 3339
/// parser, as `read_after` does for every row.
fn parse_recorded_at(text: &str) -> Result<DateTime<Utc>, StoreError> {
    if let Some(instant) = parse_fixed_width(text) {
        return Ok(instant);
    }
    Ok(DateTime::parse_from_rfc3339(text)
        .map_err(|error| StoreError::Serialization(format!("recorded_at `{text}` is not RFC 3339: {error}")))?
        .with_timezone(&Utc))
}

fn parse_fixed_width(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (19, b'.'), (26, b'Z')];
    if bytes.len() != 27 || separators.iter().any(|&(index, separator)| bytes[index] != separator) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| {
        bytes[range]
            .iter()
            .try_fold(0u32, |number, &digit| digit.is_ascii_digit().then(|| number * 10 + u32::from(digit - b'0')))
    };
    let year = i32::try_from(number(0..4)?).ok()?;
    let date = chrono::NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)?;
    // A leap second (60) is refused here and left to chrono.
    let time =
        chrono::NaiveTime::from_hms_micro_opt(number(11..13)?, number(14..16)?, number(17..19)?, number(20..26)?)?;
    Some(date.and_time(time).and_utc())
}

async fn read_postgres(log: &PostgresLog, after: Position, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
    // The check must come first: the rows are then read with a later snapshot, which sees every
    // transaction that ended before the check (see `postgres.rs`).
    let safe = log.safe_position().await?;
    if safe <= after {
        return Ok(Vec::new());
    }
    crate::postgres::read_windows(log, after, safe, limit, |from, to, wanted| async move {
        let mut rows = sqlx::query(POSTGRES_SELECT_STORED_AFTER).bind(from).bind(to).bind(wanted).fetch(log.pool());
        let mut events = Vec::with_capacity(usize::try_from(wanted).unwrap_or(0));
        while let Some(row) = rows.try_next().await? {
            events.push(StoredEvent {
                position: row.try_get(0)?,
                recorded_at: row.try_get(1)?,
                aggregate_type: row.try_get(2)?,
                aggregate_id: row.try_get(3)?,
                sequence: crate::sequence_from_i64(row.try_get(4)?)?,
                event_type: row.try_get(5)?,
                event_version: row.try_get(6)?,
                payload: row.try_get(7)?,
            });
        }
        Ok(events)
    })
    .await
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};
    use serde_json::{Value, json};

    use super::{Reader, parse_recorded_at};

    use crate::testing::fresh_event_log;
    use crate::{AppendBatch, Backend, EventLog, NewEvent, SerializedEvent, StoredEvent};

    fn new_event(aggregate_type: &str, aggregate_id: &str, sequence: usize, payload: Value) -> NewEvent {
        NewEvent::new(
            SerializedEvent::new(
                aggregate_id.to_owned(),
                sequence,
                aggregate_type.to_owned(),
                "Happened".to_owned(),
                "1".to_owned(),
                payload,
                json!({"correlation": "x"}),
            ),
            Utc.timestamp_opt(1_800_000_000, 123_456_789).single().expect("valid instant"),
        )
        .expect("serialises")
    }

    /// Payloads that exercise the JSON text: nesting, member order, numbers of every kind,
    /// escapes, non-ASCII text and keys.
    fn payloads() -> Vec<Value> {
        vec![
            json!({"Registered": {"name": "Zoé", "tags": ["a", "b"], "count": 3}}),
            json!({"b": 1, "aa": 2, "a": {"zz": [1, 2.5, -0.0, 1e30], "é": "clé", "ccc": null}}),
            json!({"text": "quote \" backslash \\ newline \n tab \t unit separator \u{1f} del \u{7f} emoji 😀"}),
            json!({"big": 9_007_199_254_740_991_i64, "negative": -42, "fraction": 0.1, "tiny": 5e-324}),
            json!([]),
            json!("just a string"),
        ]
    }

    #[test]
    fn recorded_at_is_read_as_chrono_reads_it() {
        for text in [
            "2026-11-22T09:05:03.001234Z",
            "2024-02-29T23:59:59.999999Z",
            "0001-01-01T00:00:00.000000Z",
            "2016-12-31T23:59:60.500000Z",
            "2026-11-22T09:05:03Z",
            "2026-11-22t09:05:03.001234z",
            "2026-11-22T09:05:03.001234+02:00",
            "2026-02-30T09:05:03.001234Z",
            "2026-11-22T24:05:03.001234Z",
            "2026-11-22T09:05:03.00123xZ",
            "+2026-11-22T09:05:03.00123Z",
        ] {
            let chrono = DateTime::parse_from_rfc3339(text).map(|instant| instant.with_timezone(&Utc)).ok();
            assert_eq!(parse_recorded_at(text).ok(), chrono, "{text}");
        }
    }

    async fn append_samples(log: &EventLog) -> Vec<i64> {
        let mut positions = Vec::new();
        for (index, payload) in payloads().into_iter().enumerate() {
            let batch = AppendBatch {
                events: vec![
                    new_event("Wallet", &format!("wallet-{index}"), 1, payload.clone()),
                    new_event("Partner", "partner", index + 1, payload),
                ],
                ..AppendBatch::default()
            };
            positions.extend(log.append(&batch).await.expect("append"));
        }
        positions
    }

    async fn stored_events_match_read_after(backend: Backend) {
        // Given a log holding events of two aggregate types with varied payloads
        let (log, _guard) = fresh_event_log(backend).await;
        let positions = append_samples(&log).await;
        log.wait_until_safe(*positions.last().expect("events"), std::time::Duration::from_secs(30))
            .await
            .expect("safe");
        // When the events are read both ways, in pages of 5
        let mut stored: Vec<StoredEvent> = Vec::new();
        let mut after = 0;
        loop {
            let page = log.read_stored_after(after, 5).await.expect("read_stored_after");
            let Some(last) = page.last() else { break };
            after = last.position;
            stored.extend(page);
        }
        let mut reader = log.stored_reader().await.expect("stored_reader");
        let mut through_reader: Vec<StoredEvent> = Vec::new();
        let mut after_reader = 0;
        loop {
            let page = reader.read_after(after_reader, 3).await.expect("StoredReader::read_after");
            let Some(last) = page.last() else { break };
            after_reader = last.position;
            through_reader.extend(page);
        }
        assert_eq!(through_reader, stored, "a reader reads what read_stored_after reads");
        let recorded = log.read_after(0, 100).await.expect("read_after");
        // Then they are the same events, field for field, and each text parses into the payload
        assert_eq!(stored.len(), positions.len());
        assert_eq!(stored.iter().map(|event| event.position).collect::<Vec<_>>(), positions);
        for (stored, recorded) in stored.iter().zip(&recorded) {
            assert_eq!(stored.position, recorded.position);
            assert_eq!(stored.recorded_at, recorded.recorded_at);
            assert_eq!(stored.aggregate_type, recorded.event.aggregate_type);
            assert_eq!(stored.aggregate_id, recorded.event.aggregate_id);
            assert_eq!(stored.sequence, recorded.event.sequence);
            assert_eq!(stored.event_type, recorded.event.event_type);
            assert_eq!(stored.event_version, recorded.event.event_version);
            let parsed: Value = serde_json::from_str(&stored.payload).expect("the payload text is JSON");
            assert_eq!(parsed, recorded.event.payload);
        }
        // And a read after the last event, or with a zero limit, is empty
        assert!(log.read_stored_after(after, 100).await.expect("read").is_empty());
        assert!(log.read_stored_after(0, 0).await.expect("read").is_empty());
        assert!(reader.read_after(after, 100).await.expect("read").is_empty());
        assert!(reader.read_after(0, 0).await.expect("read").is_empty());
    }

    #[tokio::test]
    async fn sqlite_stored_events_are_the_events_of_read_after() {
        stored_events_match_read_after(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn postgres_stored_events_are_the_events_of_read_after() {
        stored_events_match_read_after(Backend::Postgres).await;
    }

    /// On SQLite the replay reads with a connection of its own (rusqlite): it sees what commits
    /// after it opened, never a batch still being written, and writes nothing itself.
    #[tokio::test]
    async fn sqlite_reader_sees_later_commits_and_nothing_uncommitted() {
        let (log, _guard) = fresh_event_log(Backend::Sqlite).await;
        let batch = |id: &str| AppendBatch {
            events: vec![new_event("Wallet", id, 1, json!({"id": id}))],
            ..AppendBatch::default()
        };
        let first = log.append(&batch("wallet-a")).await.expect("append A")[0];
        let mut reader = log.stored_reader().await.expect("stored_reader");
        let page = reader.read_after(0, 100).await.expect("read");
        assert_eq!(page.iter().map(|event| event.position).collect::<Vec<_>>(), vec![first]);

        // A batch written but not committed is not read; once committed, it is.
        let open = log.begin_append(&batch("wallet-b")).await.expect("write B");
        let second = open.positions()[0];
        assert!(reader.read_after(first, 100).await.expect("read").is_empty());
        open.commit().await.expect("commit B");
        let page = reader.read_after(first, 100).await.expect("read");
        assert_eq!(page.iter().map(|event| event.position).collect::<Vec<_>>(), vec![second]);
        assert_eq!(page[0].payload, r#"{"id":"wallet-b"}"#);

        // The reader's connection refuses to write.
        let Reader::Sqlite(Some(connection)) = &reader.reader else { panic!("an SQLite reader") };
        assert!(connection.execute("DELETE FROM events", ()).is_err());
        assert_eq!(log.event_count().await.expect("count"), 2);
    }

    /// The replay read is gap-safe like `read_after`: an event below an open transaction's position
    /// is not returned until that transaction ends.
    #[tokio::test]
    async fn postgres_stored_read_waits_for_an_open_transaction_below_a_committed_position() {
        let (log, _guard) = fresh_event_log(Backend::Postgres).await;
        let pool = log.postgres_pool().expect("PostgreSQL log").clone();
        let batch =
            |id: &str| AppendBatch { events: vec![new_event("Wallet", id, 1, json!({}))], ..AppendBatch::default() };

        let mut open = crate::postgres::begin_append(&pool).await.expect("begin A");
        let first = crate::postgres::write_batch(&mut open, &batch("wallet-a")).await.expect("write A")[0];
        let second = log.append(&batch("wallet-b")).await.expect("append B")[0];
        assert!(second > first);

        let mut reader = log.stored_reader().await.expect("stored_reader");
        for visible in [
            log.read_stored_after(0, 100).await.expect("read_stored_after"),
            reader.read_after(0, 100).await.expect("StoredReader::read_after"),
        ] {
            assert!(
                visible.iter().all(|event| event.position < first),
                "the replay read returned {visible:?} while position {first} is still open"
            );
        }

        open.commit().await.expect("commit A");
        log.wait_until_safe(second, std::time::Duration::from_secs(30)).await.expect("safe");
        let positions: Vec<i64> =
            log.read_stored_after(0, 100).await.expect("read").iter().map(|event| event.position).collect();
        assert_eq!(positions, vec![first, second]);
        let positions: Vec<i64> =
            reader.read_after(0, 100).await.expect("read").iter().map(|event| event.position).collect();
        assert_eq!(positions, vec![first, second]);
    }
}
