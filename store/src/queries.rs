//! The queries that read the same on both backends, written once and implemented for each log
//! (sqlx's pools are typed per database, so a macro rather than a generic function). Each backend
//! module invokes it, where its log's pool is visible.

macro_rules! common_queries {
    ($log:ty, $connection:ty) => {
        impl $log {
            pub(crate) async fn find_credential(
                &self,
                token_hash: &[u8; 32],
            ) -> Result<Option<$crate::Credential>, $crate::StoreError> {
                use sqlx::Row;
                let row = sqlx::query("SELECT role, subject_id FROM credentials WHERE token_hash = $1")
                    .bind(token_hash.as_slice())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|row| {
                    Ok($crate::Credential { role: row.try_get("role")?, subject_id: row.try_get("subject_id")? })
                })
                .transpose()
            }

            pub(crate) async fn citizen_details(
                &self,
                citizen_id: &str,
            ) -> Result<Option<$crate::CitizenDetails>, $crate::StoreError> {
                use sqlx::Row;
                let row = sqlx::query(
                    "SELECT citizen_id, neighbourhood, birth_year FROM citizen_details WHERE citizen_id = $1",
                )
                .bind(citizen_id)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|row| {
                    Ok($crate::CitizenDetails {
                        citizen_id: row.try_get("citizen_id")?,
                        neighbourhood: row.try_get("neighbourhood")?,
                        birth_year: row.try_get("birth_year")?,
                    })
                })
                .transpose()
            }

            pub(crate) async fn position_of(
                &self,
                aggregate_type: &str,
                aggregate_id: &str,
                sequence: usize,
            ) -> Result<Option<$crate::Position>, $crate::StoreError> {
                let position: Option<i64> = sqlx::query_scalar(
                    "SELECT position FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
                )
                .bind(aggregate_type)
                .bind(aggregate_id)
                .bind(sequence as i64)
                .fetch_optional(&self.pool)
                .await?;
                Ok(position)
            }

            /// A snapshot is by far the largest value that crosses a connection (tens of MB), and
            /// a connection keeps buffers as large as the largest message it carried: snapshots
            /// go through a connection of their own, closed afterwards, so that the pool does not
            /// hold them for good.
            ///
            /// The body is written in parts of [`SNAPSHOT_PART_BYTES`](crate::SNAPSHOT_PART_BYTES),
            /// in one transaction with the snapshot's row: each part is copied by the driver and
            /// the database on its own, so the write needs a few MB beside the body, not several
            /// times its size.
            pub(crate) async fn save_snapshot(&self, snapshot: &$crate::Snapshot) -> Result<(), $crate::StoreError> {
                let mut connection = self.pool.acquire().await?.detach();
                let written = async {
                    let mut transaction = sqlx::Connection::begin(&mut connection).await?;
                    sqlx::query("DELETE FROM projection_snapshot_parts WHERE name = $1")
                        .bind(&snapshot.name)
                        .execute(&mut *transaction)
                        .await?;
                    let parts = snapshot.body.chunks(crate::SNAPSHOT_PART_BYTES);
                    let count = parts.len();
                    for (index, part) in parts.enumerate() {
                        sqlx::query("INSERT INTO projection_snapshot_parts (name, part, body) VALUES ($1, $2, $3)")
                            .bind(&snapshot.name)
                            .bind(index as i32)
                            .bind(part)
                            .execute(&mut *transaction)
                            .await?;
                    }
                    sqlx::query(
                        "INSERT INTO projection_snapshots (name, position, format, body, parts) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (name) DO UPDATE SET position = excluded.position, format = excluded.format, \
                         body = excluded.body, parts = excluded.parts, written_at = excluded.written_at",
                    )
                    .bind(&snapshot.name)
                    .bind(snapshot.position)
                    .bind(snapshot.format)
                    .bind(&[] as &[u8])
                    .bind(i32::try_from(count).unwrap_or(i32::MAX))
                    .execute(&mut *transaction)
                    .await?;
                    transaction.commit().await
                }
                .await;
                // Only the write mattered; a failure to say goodbye does not.
                let _ = sqlx::Connection::close(connection).await;
                written?;
                Ok(())
            }

            /// Reads the row, then the parts one by one into a body allocated once at its full
            /// size. A part missing or out of order is [`StoreError::Serialization`].
            pub(crate) async fn load_snapshot(
                &self,
                name: &str,
            ) -> Result<Option<$crate::Snapshot>, $crate::StoreError> {
                let mut connection = self.pool.acquire().await?.detach();
                let read = Self::read_snapshot(&mut connection, name).await;
                let _ = sqlx::Connection::close(connection).await;
                read
            }

            async fn read_snapshot(
                connection: &mut $connection,
                name: &str,
            ) -> Result<Option<$crate::Snapshot>, $crate::StoreError> {
                use futures::TryStreamExt as _;
                use sqlx::Row;
                let Some(row) = sqlx::query(
                    "SELECT name, position, format, parts, CASE WHEN parts IS NULL THEN body END AS body, \
                     (SELECT sum(length(p.body)) FROM projection_snapshot_parts AS p WHERE p.name = s.name) AS size \
                     FROM projection_snapshots AS s WHERE name = $1",
                )
                .bind(name)
                .fetch_optional(&mut *connection)
                .await?
                else {
                    return Ok(None);
                };
                let mut snapshot = $crate::Snapshot {
                    name: row.try_get("name")?,
                    position: row.try_get("position")?,
                    format: row.try_get("format")?,
                    body: Vec::new(),
                };
                let Some(parts) = row.try_get::<Option<i32>, _>("parts")? else {
                    snapshot.body = row.try_get("body")?;
                    return Ok(Some(snapshot));
                };
                let size = row.try_get::<Option<i64>, _>("size")?.unwrap_or(0);
                snapshot.body.reserve_exact(usize::try_from(size).unwrap_or(0));
                let mut read = 0;
                let mut rows = sqlx::query("SELECT part, body FROM projection_snapshot_parts WHERE name = $1 ORDER BY part")
                    .bind(name)
                    .fetch(&mut *connection);
                while let Some(row) = rows.try_next().await? {
                    if row.try_get::<i32, _>("part")? != read {
                        break;
                    }
                    snapshot.body.extend_from_slice(row.try_get::<&[u8], _>("body")?);
                    read += 1;
                }
                if read != parts {
                    return Err($crate::StoreError::Serialization(format!(
                        "snapshot {name}: {read} of its {parts} parts follow on from the first"
                    )));
                }
                Ok(Some(snapshot))
            }

            pub(crate) async fn delete_snapshots(&self) -> Result<(), $crate::StoreError> {
                let mut transaction = self.pool.begin().await?;
                sqlx::query("DELETE FROM projection_snapshot_parts").execute(&mut *transaction).await?;
                sqlx::query("DELETE FROM projection_snapshots").execute(&mut *transaction).await?;
                transaction.commit().await?;
                Ok(())
            }

            pub(crate) async fn event_count(&self) -> Result<i64, $crate::StoreError> {
                let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&self.pool).await?;
                Ok(count)
            }
        }
    };
}

pub(crate) use common_queries;

/// Writes the rows an append carries beside its events (new credentials, citizens' details) on
/// `connection`, inside the append's transaction: the same statements on both backends (`$n`
/// placeholders, which SQLite reads as well).
macro_rules! write_side_rows {
    ($connection:expr, $batch:expr) => {{
        for credential in &$batch.credentials {
            sqlx::query("INSERT INTO credentials (token_hash, role, subject_id) VALUES ($1, $2, $3)")
                .bind(credential.token_hash.as_slice())
                .bind(&credential.role)
                .bind(&credential.subject_id)
                .execute(&mut *$connection)
                .await
                .map_err($crate::credential_error)?;
        }
        for details in &$batch.citizen_details {
            // Details change (a citizen moves); the latest write wins. Erasure deletes the row.
            sqlx::query(
                "INSERT INTO citizen_details (citizen_id, neighbourhood, birth_year) VALUES ($1, $2, $3)
                 ON CONFLICT (citizen_id) DO UPDATE
                 SET neighbourhood = excluded.neighbourhood, birth_year = excluded.birth_year",
            )
            .bind(&details.citizen_id)
            .bind(&details.neighbourhood)
            .bind(details.birth_year)
            .execute(&mut *$connection)
            .await?;
        }
    }};
}

pub(crate) use write_side_rows;
