//! Snapshots of single aggregates, kept by the command engine so that an aggregate with a long
//! stream (an association's hundreds of thousands of certifications, the territory's checkpoints)
//! loads from its snapshot and the events after it instead of from its first event.
//!
//! One row per aggregate, replaced only by a snapshot of a later sequence. A snapshot is a cache
//! of what the log holds: the audit never reads it, and a reader ignores one whose event at
//! `sequence` is no longer at `position` ([`EventLog::aggregate_snapshot`] checks it).

use sqlx::Row as _;

use crate::{EventLog, Position, Store, StoreError};

/// The state of one aggregate after its first `sequence` events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateSnapshot {
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The number of events the state applied: the sequence of the last one.
    pub sequence: usize,
    /// The log position of the event at `sequence`.
    pub position: Position,
    /// The shape of `body`; readers ignore a format they do not know.
    pub format: i32,
    pub body: Vec<u8>,
}

/// The largest body stored: a snapshot is one value (an association's index of a million
/// certifications takes about 8 MB); anything larger is refused rather than copied around.
pub const MAX_AGGREGATE_SNAPSHOT_BYTES: usize = 64 << 20;

/// Runs the same statement on either backend's pool (`$n` placeholders, which SQLite reads as
/// well): `$body` is compiled once per pool type.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store {
            Store::Sqlite(log) => {
                let $pool = log.pool();
                $body
            }
            Store::Postgres(log) => {
                let $pool = log.pool();
                $body
            }
        }
    };
}

pub(crate) use on_pool;

impl EventLog {
    /// Stores `snapshot` unless the aggregate has one of the same or a later sequence already;
    /// returns whether it was stored. On SQLite the write waits for the process's write turn,
    /// between two of the committer's groups.
    pub async fn save_aggregate_snapshot(&self, snapshot: &AggregateSnapshot) -> Result<bool, StoreError> {
        if snapshot.body.len() > MAX_AGGREGATE_SNAPSHOT_BYTES {
            return Err(StoreError::Serialization(format!(
                "the snapshot of {} {} takes {} bytes, more than {MAX_AGGREGATE_SNAPSHOT_BYTES}",
                snapshot.aggregate_type,
                snapshot.aggregate_id,
                snapshot.body.len()
            )));
        }
        let sequence = i64::try_from(snapshot.sequence)
            .map_err(|_| StoreError::Serialization("a snapshot's sequence does not fit 64 bits".to_owned()))?;
        let _turn = self.sqlite_write_turn().await;
        let written = on_pool!(&self.store, |pool| sqlx::query(
            "INSERT INTO aggregate_snapshots (aggregate_type, aggregate_id, sequence, position, format, body) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET sequence = excluded.sequence, \
             position = excluded.position, format = excluded.format, body = excluded.body, \
             written_at = excluded.written_at \
             WHERE aggregate_snapshots.sequence < excluded.sequence OR aggregate_snapshots.format <> excluded.format"
        )
        .bind(&snapshot.aggregate_type)
        .bind(&snapshot.aggregate_id)
        .bind(sequence)
        .bind(snapshot.position)
        .bind(snapshot.format)
        .bind(&snapshot.body)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(written > 0)
    }

    /// The snapshot of an aggregate, if it has one whose event at `sequence` is still at
    /// `position` in the log; one that no longer matches the log is deleted.
    pub async fn aggregate_snapshot(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Option<AggregateSnapshot>, StoreError> {
        let row = on_pool!(&self.store, |pool| sqlx::query(
            "SELECT sequence, position, format, body FROM aggregate_snapshots \
             WHERE aggregate_type = $1 AND aggregate_id = $2"
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .fetch_optional(pool)
        .await?
        .map(|row| -> Result<(i64, Position, i32, Vec<u8>), StoreError> {
            Ok((row.try_get("sequence")?, row.try_get("position")?, row.try_get("format")?, row.try_get("body")?))
        })
        .transpose()?);
        let Some((sequence, position, format, body)) = row else {
            return Ok(None);
        };
        let snapshot = AggregateSnapshot {
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            sequence: usize::try_from(sequence)
                .map_err(|_| StoreError::Serialization(format!("a snapshot's sequence is {sequence}")))?,
            position,
            format,
            body,
        };
        let found = self.position_of(aggregate_type, aggregate_id, snapshot.sequence).await?;
        if found != Some(snapshot.position) {
            tracing::warn!(
                aggregate_type,
                aggregate_id,
                sequence = snapshot.sequence,
                "a snapshot no longer matches the log (restored from another copy?): it is deleted"
            );
            self.delete_aggregate_snapshot(aggregate_type, aggregate_id).await?;
            return Ok(None);
        }
        Ok(Some(snapshot))
    }

    /// Deletes the snapshot of an aggregate, if any.
    pub async fn delete_aggregate_snapshot(&self, aggregate_type: &str, aggregate_id: &str) -> Result<(), StoreError> {
        let _turn = self.sqlite_write_turn().await;
        on_pool!(&self.store, |pool| sqlx::query(
            "DELETE FROM aggregate_snapshots WHERE aggregate_type = $1 AND aggregate_id = $2"
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .execute(pool)
        .await
        .map(drop)?);
        Ok(())
    }
}
