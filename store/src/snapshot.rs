//! Snapshots of read models, written and read back in parts of [`SNAPSHOT_PART_BYTES`].
//!
//! A snapshot is by far the largest value that crosses a connection (tens of MB). It is written as
//! it is produced, part after part, and read back the same way, so that neither side needs the
//! whole body in memory beside the read models it is made of (decision 14):
//!
//! 1. [`EventLog::snapshot_writer`] opens a connection of its own (closed afterwards: a
//!    connection keeps buffers as large as the largest message it carried) and picks the key the
//!    parts are stored under, `name@position`, removing any parts a failed attempt left there.
//! 2. [`SnapshotWriter::write`] stores each full part in its own short transaction — on SQLite
//!    inside the process's write turn, between two of the committer's groups, so that a snapshot
//!    never holds the database's only write lock for the seconds it takes to serialise.
//! 3. [`SnapshotWriter::finish`] then, in one transaction, checks that every part is there, points
//!    the snapshot's row at the new key and deletes the parts of every other key of that name.
//!
//! Until step 3 commits, readers see the previous snapshot, whole; a writer dropped before it
//! leaves parts under its key that the next snapshot of that name deletes. A row whose `parts` is
//! NULL keeps its body inline (the first format of the table); one whose `parts_key` is NULL has
//! its parts under its name (decision 13's format); both are still read.

use sqlx::{Connection as _, PgConnection, Row as _, SqliteConnection};

use crate::{EventLog, Position, Store, StoreError};

/// The size of the parts a snapshot's body is stored in (the last one may be shorter). Each part
/// is copied by the driver and by the database, and on SQLite holds the write turn while it is
/// stored: small enough that neither shows, large enough that a million-event snapshot (55 MB)
/// takes a few dozen short transactions.
pub const SNAPSHOT_PART_BYTES: usize = 1 << 20;

/// A snapshot of read models: their serialised state and the log position it includes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub name: String,
    pub position: Position,
    /// The shape of `body`; readers ignore a format they do not know.
    pub format: i32,
    pub body: Vec<u8>,
}

/// A connection of a snapshot's own.
enum Connection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// Runs the same statements on either backend's connection (`$n` placeholders, which SQLite reads
/// as well): `$body` is compiled once per connection type.
macro_rules! on_connection {
    ($connection:expr, |$bound:ident| $body:expr) => {
        match $connection {
            Connection::Sqlite($bound) => $body,
            Connection::Postgres($bound) => $body,
        }
    };
}

impl Connection {
    async fn open(log: &EventLog) -> Result<Connection, StoreError> {
        Ok(match &log.store {
            Store::Sqlite(sqlite) => Connection::Sqlite(sqlite.pool().acquire().await?.detach()),
            Store::Postgres(postgres) => Connection::Postgres(postgres.pool().acquire().await?.detach()),
        })
    }

    async fn close(self) {
        // Only the work done on it mattered; a failure to say goodbye does not.
        let _ = on_connection!(self, |connection| connection.close().await);
    }
}

impl EventLog {
    /// Starts writing a snapshot of `name` that includes the log up to `position` (see the module
    /// documentation). Nothing is visible to readers until [`SnapshotWriter::finish`].
    pub async fn snapshot_writer(
        &self,
        name: &str,
        position: Position,
        format: i32,
    ) -> Result<SnapshotWriter, StoreError> {
        let key = format!("{name}@{position}");
        let mut writer = SnapshotWriter {
            log: self.clone(),
            connection: Some(Connection::open(self).await?),
            name: name.to_owned(),
            position,
            format,
            key,
            parts: 0,
            pending: Vec::new(),
        };
        // Parts an earlier attempt at the same snapshot left behind.
        writer
            .in_write_turn(|connection, key| async move {
                on_connection!(connection, |connection| sqlx::query(
                    "DELETE FROM projection_snapshot_parts WHERE name = $1"
                )
                .bind(key)
                .execute(&mut *connection)
                .await
                .map(drop)
                .map_err(StoreError::from))
            })
            .await?;
        Ok(writer)
    }

    /// Saves a whole snapshot (see [`EventLog::snapshot_writer`]).
    pub async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let mut writer = self.snapshot_writer(&snapshot.name, snapshot.position, snapshot.format).await?;
        writer.write(&snapshot.body).await?;
        writer.finish().await
    }

    /// Starts reading the snapshot of `name`, if there is one; its parts come with
    /// [`SnapshotReader::next_part`].
    pub async fn snapshot_reader(&self, name: &str) -> Result<Option<SnapshotReader>, StoreError> {
        let mut connection = Connection::open(self).await?;
        let header = on_connection!(&mut connection, |connection| {
            sqlx::query(
                "SELECT position, format, parts, coalesce(parts_key, name) AS parts_key, \
                 CASE WHEN parts IS NULL THEN body END AS body, \
                 (SELECT sum(length(p.body)) FROM projection_snapshot_parts AS p \
                  WHERE p.name = coalesce(s.parts_key, s.name)) AS size \
                 FROM projection_snapshots AS s WHERE name = $1",
            )
            .bind(name)
            .fetch_optional(&mut *connection)
            .await?
            .map(|row| -> Result<_, StoreError> {
                Ok((
                    row.try_get::<Position, _>("position")?,
                    row.try_get::<i32, _>("format")?,
                    row.try_get::<Option<i32>, _>("parts")?,
                    row.try_get::<String, _>("parts_key")?,
                    row.try_get::<Option<Vec<u8>>, _>("body")?,
                    row.try_get::<Option<i64>, _>("size")?,
                ))
            })
            .transpose()
        });
        // On an error or no snapshot, dropping the connection closes it.
        let Some((position, format, parts, key, inline, size)) = header? else {
            return Ok(None);
        };
        let (parts, inline, size) = match parts {
            Some(parts) => (parts, None, usize::try_from(size.unwrap_or(0)).unwrap_or(0)),
            None => {
                let body = inline.unwrap_or_default();
                let size = body.len();
                (1, Some(body), size)
            }
        };
        Ok(Some(SnapshotReader {
            connection: Some(connection),
            name: name.to_owned(),
            key,
            position,
            format,
            size,
            parts,
            next: 0,
            inline,
        }))
    }

    /// The snapshot of `name`, whole, if there is one: its parts read one by one into a body
    /// allocated once at its full size. A part missing or out of order is
    /// [`StoreError::Serialization`].
    pub async fn load_snapshot(&self, name: &str) -> Result<Option<Snapshot>, StoreError> {
        let Some(mut reader) = self.snapshot_reader(name).await? else {
            return Ok(None);
        };
        let mut body = Vec::with_capacity(reader.size());
        while let Some(part) = reader.next_part().await? {
            body.extend_from_slice(&part);
        }
        Ok(Some(Snapshot { name: name.to_owned(), position: reader.position(), format: reader.format(), body }))
    }
}

/// A snapshot being written (see [`EventLog::snapshot_writer`]). Dropped before
/// [`SnapshotWriter::finish`], it changes nothing readers see.
pub struct SnapshotWriter {
    log: EventLog,
    /// `None` only once finished.
    connection: Option<Connection>,
    name: String,
    position: Position,
    format: i32,
    /// What the parts are stored under.
    key: String,
    /// Parts stored so far.
    parts: i32,
    /// Bytes written that do not fill a part yet.
    pending: Vec<u8>,
}

impl std::fmt::Debug for SnapshotWriter {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("SnapshotWriter").field("key", &self.key).field("parts", &self.parts).finish()
    }
}

impl SnapshotWriter {
    /// Appends `bytes` to the body: every part they fill is stored now, the rest waits for the
    /// next call or for [`SnapshotWriter::finish`].
    pub async fn write(&mut self, mut bytes: &[u8]) -> Result<(), StoreError> {
        if !self.pending.is_empty() {
            let taken = bytes.len().min(SNAPSHOT_PART_BYTES - self.pending.len());
            self.pending.extend_from_slice(&bytes[..taken]);
            bytes = &bytes[taken..];
            if self.pending.len() < SNAPSHOT_PART_BYTES {
                return Ok(());
            }
            let part = std::mem::take(&mut self.pending);
            self.store_part(&part).await?;
        }
        while bytes.len() >= SNAPSHOT_PART_BYTES {
            let (part, rest) = bytes.split_at(SNAPSHOT_PART_BYTES);
            self.store_part(part).await?;
            bytes = rest;
        }
        if !bytes.is_empty() {
            self.pending.reserve_exact(SNAPSHOT_PART_BYTES);
            self.pending.extend_from_slice(bytes);
        }
        Ok(())
    }

    /// Stores what is left of the body and makes the snapshot the one readers see, atomically.
    pub async fn finish(mut self) -> Result<(), StoreError> {
        if !self.pending.is_empty() {
            let part = std::mem::take(&mut self.pending);
            self.store_part(&part).await?;
        }
        let (name, position, format, parts) = (self.name.clone(), self.position, self.format, self.parts);
        let finished = self
            .in_write_turn(|connection, key| async move {
                on_connection!(connection, |connection| {
                    let mut transaction = connection.begin().await?;
                    let stored: i64 =
                        sqlx::query_scalar("SELECT count(*) FROM projection_snapshot_parts WHERE name = $1")
                            .bind(key)
                            .fetch_one(&mut *transaction)
                            .await?;
                    if stored != i64::from(parts) {
                        return Err(StoreError::Serialization(format!(
                            "snapshot {key}: {stored} of its {parts} parts are stored (another writer removed them)"
                        )));
                    }
                    // Every other generation of this name: the previous snapshot's, and any a
                    // failed attempt left behind (the name alone: parts written before keys).
                    sqlx::query(
                        "DELETE FROM projection_snapshot_parts WHERE name <> $2 \
                         AND (name = $1 OR substr(name, 1, length($1) + 1) = $1 || '@')",
                    )
                    .bind(&name)
                    .bind(key)
                    .execute(&mut *transaction)
                    .await?;
                    sqlx::query(
                        "INSERT INTO projection_snapshots (name, position, format, body, parts, parts_key) \
                         VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (name) DO UPDATE SET position = excluded.position, format = excluded.format, \
                         body = excluded.body, parts = excluded.parts, parts_key = excluded.parts_key, \
                         written_at = excluded.written_at",
                    )
                    .bind(&name)
                    .bind(position)
                    .bind(format)
                    .bind(&[] as &[u8])
                    .bind(parts)
                    .bind(key)
                    .execute(&mut *transaction)
                    .await?;
                    transaction.commit().await?;
                    Ok(())
                })
            })
            .await;
        if let Some(connection) = self.connection.take() {
            connection.close().await;
        }
        finished
    }

    async fn store_part(&mut self, part: &[u8]) -> Result<(), StoreError> {
        let index = self.parts;
        self.in_write_turn(|connection, key| async move {
            on_connection!(connection, |connection| {
                sqlx::query("INSERT INTO projection_snapshot_parts (name, part, body) VALUES ($1, $2, $3)")
                    .bind(key)
                    .bind(index)
                    .bind(part)
                    .execute(&mut *connection)
                    .await
                    .map(drop)
                    .map_err(StoreError::from)
            })
        })
        .await?;
        self.parts = index.checked_add(1).ok_or_else(|| StoreError::Serialization("too many parts".to_owned()))?;
        Ok(())
    }

    /// Runs `work` on the snapshot's connection, on SQLite within the process's write turn (see
    /// the module documentation).
    async fn in_write_turn<'a, F, Fut>(&'a mut self, work: F) -> Result<(), StoreError>
    where
        F: FnOnce(&'a mut Connection, &'a str) -> Fut,
        Fut: std::future::Future<Output = Result<(), StoreError>> + 'a,
    {
        let turn = self.log.sqlite_write_turn().await;
        let connection = self.connection.as_mut().ok_or_else(|| StoreError::Serialization("finished".to_owned()))?;
        let done = work(connection, &self.key).await;
        drop(turn);
        done
    }
}

/// A snapshot being read (see [`EventLog::snapshot_reader`]).
pub struct SnapshotReader {
    /// `None` once every part is read.
    connection: Option<Connection>,
    name: String,
    key: String,
    position: Position,
    format: i32,
    size: usize,
    parts: i32,
    next: i32,
    /// The body of a snapshot written before parts existed: its one part.
    inline: Option<Vec<u8>>,
}

impl std::fmt::Debug for SnapshotReader {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("SnapshotReader").field("key", &self.key).field("next", &self.next).finish()
    }
}

impl SnapshotReader {
    /// The log position the snapshot includes.
    pub fn position(&self) -> Position {
        self.position
    }

    /// The shape of its body.
    pub fn format(&self) -> i32 {
        self.format
    }

    /// The size of its body, all parts together.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The next part of the body, `None` after the last. A part missing is
    /// [`StoreError::Serialization`].
    pub async fn next_part(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        if self.next >= self.parts {
            if let Some(connection) = self.connection.take() {
                connection.close().await;
            }
            return Ok(None);
        }
        let index = self.next;
        self.next += 1;
        if let Some(body) = self.inline.take() {
            return Ok(Some(body));
        }
        let connection = self.connection.as_mut().ok_or_else(|| StoreError::Serialization("read".to_owned()))?;
        let part: Option<Vec<u8>> = on_connection!(connection, |connection| {
            sqlx::query_scalar("SELECT body FROM projection_snapshot_parts WHERE name = $1 AND part = $2")
                .bind(&self.key)
                .bind(index)
                .fetch_optional(&mut *connection)
                .await?
        });
        part.map(Some).ok_or_else(|| {
            StoreError::Serialization(format!(
                "snapshot {}: part {index} of its {} parts is missing",
                self.name, self.parts
            ))
        })
    }
}
