//! The bare database ceiling: one event-shaped row per durable transaction, at the same
//! concurrency, right before each scenario.

#[allow(unused_imports)]
use super::*;

/// An event-shaped payload of about 300 bytes (a certification's essentials).
pub(crate) fn bare_payload(worker: usize, sequence: i64) -> Value {
    json!({
        "CertificationRecorded": {
            "record": {
                "action_id": uuid::Uuid::new_v4().to_string(),
                "citizen_id": "0b5d8b8e-1c5f-4e4b-9c55-6a0c2a8f1e11",
                "category": "ecologie",
                "quantity": 1,
                "occurred_at": "2026-03-02T08:00:00Z",
                "fingerprint": "9f2c4b7d0e1a3c5b7d9f1e3a5c7b9d1f3e5a7c9b1d3f5e7a9c1b3d5f7e9a1c3b",
                "tokens": 10 + (worker as i64 % 7) + sequence % 3,
            },
            "certified_at": "2026-03-02T09:00:00Z"
        }
    })
}

pub(crate) const BARE_TABLE: &str = "CREATE TABLE IF NOT EXISTS scratch_events (
    aggregate_type text NOT NULL, aggregate_id text NOT NULL, sequence bigint NOT NULL,
    event_type text NOT NULL, event_version text NOT NULL, payload jsonb NOT NULL, metadata jsonb NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence))";

pub(crate) const BARE_TABLE_SQLITE: &str = "CREATE TABLE IF NOT EXISTS scratch_events (
    aggregate_type TEXT NOT NULL, aggregate_id TEXT NOT NULL, sequence INTEGER NOT NULL,
    event_type TEXT NOT NULL, event_version TEXT NOT NULL, payload TEXT NOT NULL, metadata TEXT NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence))";

pub(crate) const BARE_INSERT_PG: &str = "INSERT INTO scratch_events
    (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
    VALUES ($1, $2, $3, $4, $5, $6, $7)";

pub(crate) const BARE_INSERT_SQLITE: &str = "INSERT INTO scratch_events
    (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
    VALUES (?, ?, ?, ?, ?, ?, ?)";

pub(crate) enum BarePool {
    Postgres(sqlx::PgPool),
    /// One connection, taken in turn (FIFO) by the tasks.
    Sqlite(Arc<tokio::sync::Mutex<sqlx::SqliteConnection>>),
}

pub(crate) struct Bare {
    pub(crate) pool: BarePool,
    /// Kept for its lifetime (SQLite file) or to drop it at the end (PostgreSQL).
    pub(crate) _directory: Option<tempfile::TempDir>,
    pub(crate) database_url: Option<String>,
}

pub(crate) async fn open_bare(backend: Backend, connections: usize) -> Bare {
    match backend {
        Backend::Postgres => {
            let url = ygor_store::testing::fresh_postgres_url().await;
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(connections as u32)
                .min_connections(connections as u32)
                // Exactly as the server reaches it (no TLS on loopback unless the URL asks).
                .connect_with(ygor_store::postgres_connect_options(&url).expect("bare PostgreSQL URL"))
                .await
                .expect("bare PostgreSQL");
            sqlx::query(BARE_TABLE).execute(&pool).await.expect("scratch table");
            let synchronous: String =
                sqlx::query_scalar("SHOW synchronous_commit").fetch_one(&pool).await.expect("synchronous_commit");
            assert_eq!(synchronous, "on", "the bare ceiling is measured with durable commits");
            Bare { pool: BarePool::Postgres(pool), _directory: None, database_url: Some(url) }
        }
        Backend::Sqlite => {
            let directory = tempfile::Builder::new().prefix("ygor-bare-").tempdir().expect("temp dir");
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(directory.path().join("scratch.db"))
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10));
            // SQLite writes one transaction at a time: one connection that the tasks take in turn
            // through a fair async mutex is its best (as the server does it: more connections only
            // add busy-waiting on the file lock).
            let mut connection = sqlx::SqliteConnection::connect_with(&options).await.expect("bare SQLite");
            sqlx::query(BARE_TABLE_SQLITE).execute(&mut connection).await.expect("scratch table");
            let connection = Arc::new(tokio::sync::Mutex::new(connection));
            Bare { pool: BarePool::Sqlite(connection), _directory: Some(directory), database_url: None }
        }
    }
}

/// N tasks, each inserting one event-shaped row per transaction (autocommit), for `seconds`.
pub(crate) async fn bare_ceiling(bare: &Bare, concurrency: usize, seconds: f64) -> Outcome {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let pool = match &bare.pool {
            BarePool::Postgres(pool) => BarePool::Postgres(pool.clone()),
            BarePool::Sqlite(pool) => BarePool::Sqlite(pool.clone()),
        };
        workers.push(tokio::spawn(async move {
            let aggregate_id = uuid::Uuid::new_v4().to_string();
            let mut outcome = Outcome::default();
            let mut sequence = 0i64;
            while Instant::now() < deadline {
                sequence += 1;
                let payload = bare_payload(worker, sequence);
                let sent = Instant::now();
                let result = match &pool {
                    BarePool::Postgres(pool) => sqlx::query(BARE_INSERT_PG)
                        .bind("partner")
                        .bind(&aggregate_id)
                        .bind(sequence)
                        .bind("CertificationRecorded")
                        .bind("1")
                        .bind(&payload)
                        .bind(json!({}))
                        .execute(pool)
                        .await
                        .map(|_| ()),
                    BarePool::Sqlite(connection) => {
                        let mut connection = connection.lock().await;
                        sqlx::query(BARE_INSERT_SQLITE)
                            .bind("partner")
                            .bind(&aggregate_id)
                            .bind(sequence)
                            .bind("CertificationRecorded")
                            .bind("1")
                            .bind(payload.to_string())
                            .bind("{}")
                            .execute(&mut *connection)
                            .await
                            .map(|_| ())
                    }
                };
                match result {
                    Ok(()) => outcome.record(sent),
                    Err(error) => *outcome.errors.entry(error.to_string()).or_default() += 1,
                }
            }
            outcome
        }));
    }
    let mut merged = Outcome::gather(workers, "bare worker").await;
    merged.elapsed = started.elapsed().as_secs_f64();
    merged.latencies_us.sort_unstable();
    merged
}

// ---------------------------------------------------------------------------------------------
// Runs and report
