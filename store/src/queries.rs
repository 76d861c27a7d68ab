//! The queries that read the same on both backends, written once and implemented for each log
//! (sqlx's pools are typed per database, so a macro rather than a generic function). Each backend
//! module invokes it, where its log's pool is visible.

/// The columns [`crate::RecordedEvent`] is read from (each backend's `recorded_event`), for the
/// queries that return whole events: a string literal, for `concat!`.
macro_rules! recorded_event_columns {
    () => {
        "position, recorded_at, aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata"
    };
}

macro_rules! common_queries {
    ($log:ty) => {
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
                    "SELECT citizen_id, neighbourhood, birth_year, email FROM citizen_details WHERE citizen_id = $1",
                )
                .bind(citizen_id)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|row| {
                    Ok($crate::CitizenDetails {
                        citizen_id: row.try_get("citizen_id")?,
                        neighbourhood: row.try_get("neighbourhood")?,
                        birth_year: row.try_get("birth_year")?,
                        email: row.try_get("email")?,
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
                .bind(i64::try_from(sequence).unwrap_or(i64::MAX))
                .fetch_optional(&self.pool)
                .await?;
                Ok(position)
            }

            /// The events of one aggregate with a sequence in `first..=last`, in sequence order
            /// (`EventLog::event_at` and `EventLog::load_stream_through`).
            pub(crate) async fn events_in(
                &self,
                aggregate_type: &str,
                aggregate_id: &str,
                first: usize,
                last: usize,
            ) -> Result<Vec<$crate::RecordedEvent>, $crate::StoreError> {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    $crate::queries::recorded_event_columns!(),
                    " FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence BETWEEN $3 AND $4",
                    " ORDER BY sequence"
                ))
                .bind(aggregate_type)
                .bind(aggregate_id)
                .bind(i64::try_from(first).unwrap_or(i64::MAX))
                .bind(i64::try_from(last).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(recorded_event).collect()
            }

            /// Up to `limit` events of one aggregate with a sequence below `before`, newest first
            /// (`EventLog::stream_newest_first`).
            pub(crate) async fn events_before(
                &self,
                aggregate_type: &str,
                aggregate_id: &str,
                before: usize,
                limit: usize,
            ) -> Result<Vec<$crate::RecordedEvent>, $crate::StoreError> {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    $crate::queries::recorded_event_columns!(),
                    " FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence < $3",
                    " ORDER BY sequence DESC LIMIT $4"
                ))
                .bind(aggregate_type)
                .bind(aggregate_id)
                .bind(i64::try_from(before).unwrap_or(i64::MAX))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(recorded_event).collect()
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
pub(crate) use recorded_event_columns;

/// Writes the rows an append carries beside its events (new credentials, citizens' details and codes) on
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
                "INSERT INTO citizen_details (citizen_id, neighbourhood, birth_year, email) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (citizen_id) DO UPDATE
                 SET neighbourhood = excluded.neighbourhood, birth_year = excluded.birth_year, email = excluded.email",
            )
            .bind(&details.citizen_id)
            .bind(&details.neighbourhood)
            .bind(details.birth_year)
            .bind(&details.email)
            .execute(&mut *$connection)
            .await?;
        }
        for citizen_code in &$batch.citizen_codes {
            sqlx::query("INSERT INTO citizen_codes (citizen_id, code) VALUES ($1, $2)")
                .bind(&citizen_code.citizen_id)
                .bind(&citizen_code.code)
                .execute(&mut *$connection)
                .await
                .map_err($crate::citizen_code_error)?;
        }
    }};
}

pub(crate) use write_side_rows;
