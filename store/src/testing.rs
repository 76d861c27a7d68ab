//! Fresh databases for tests, in this crate and in every other crate of the workspace.
//!
//! Every test gets its own SQLite directory or PostgreSQL database, so tests run in parallel and
//! never see each other's events. PostgreSQL is never optional: if the server at
//! `YGOR_TEST_POSTGRES_URL` cannot be reached, these helpers panic, and the test fails instead of
//! silently testing SQLite only.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{Connection, PgConnection, Row};

use crate::{Backend, EventLog};

/// The environment variable naming the PostgreSQL server the tests use.
pub const POSTGRES_URL_VARIABLE: &str = "YGOR_TEST_POSTGRES_URL";

/// The server used when [`POSTGRES_URL_VARIABLE`] is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Test databases are named `ygor_test_<unix seconds>_<random>`.
const DATABASE_PREFIX: &str = "ygor_test_";

/// Test databases older than this are dropped by the next test run: long enough never to hit a
/// test still running, short enough that the server does not fill up.
const STALE_AFTER: Duration = Duration::from_secs(6 * 60 * 60);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The URL of the test server (its maintenance database), from [`POSTGRES_URL_VARIABLE`].
pub fn postgres_server_url() -> String {
    std::env::var(POSTGRES_URL_VARIABLE)
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
}

/// Creates a new, empty, uniquely named database on the test server and returns its URL.
///
/// # Panics
/// If the server cannot be reached or refuses to create the database: a test that needs
/// PostgreSQL must fail, never skip.
pub async fn fresh_postgres_url() -> String {
    let server_url = postgres_server_url();
    let mut connection = match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(&server_url)).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(error)) => panic!(
            "the PostgreSQL test server at {server_url} is unreachable ({error}); start it or set \
             {POSTGRES_URL_VARIABLE}: tests never skip PostgreSQL"
        ),
        Err(_) => panic!(
            "the PostgreSQL test server at {server_url} did not answer within {CONNECT_TIMEOUT:?}; \
             start it or set {POSTGRES_URL_VARIABLE}: tests never skip PostgreSQL"
        ),
    };
    let now = seconds_since_epoch();
    drop_stale_databases_once(&mut connection, now).await;
    let name = format!("{DATABASE_PREFIX}{now}_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    // The name is made of [a-z0-9_] only, so it needs no quoting beyond the identifier quotes.
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut connection)
        .await
        .unwrap_or_else(|error| panic!("cannot create the test database {name} on {server_url}: {error}"));
    // Closing politely lets the server release the session at once.
    let _ = connection.close().await;
    with_database(&server_url, &name)
}

/// A temporary directory for a SQLite file, deleted when the guard is dropped.
///
/// # Panics
/// If the system's temporary directory cannot be written.
pub fn fresh_sqlite_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ygor-test-")
        .tempdir()
        .unwrap_or_else(|error| panic!("cannot create a temporary directory: {error}"))
}

/// A migrated, empty event log on a fresh database of the given backend. Keep the guard alive
/// as long as the log: for SQLite it owns the directory of the file.
///
/// # Panics
/// If the database cannot be created, opened or migrated.
pub async fn fresh_event_log(backend: Backend) -> (EventLog, Option<tempfile::TempDir>) {
    let (log, guard) = match backend {
        Backend::Sqlite => {
            let directory = fresh_sqlite_dir();
            let path = directory.path().join(crate::DEFAULT_SQLITE_FILE);
            let log = EventLog::open_sqlite(&path)
                .await
                .unwrap_or_else(|error| panic!("cannot open {}: {error}", path.display()));
            (log, Some(directory))
        }
        Backend::Postgres => {
            let url = fresh_postgres_url().await;
            let log = EventLog::open_postgres(&url).await.unwrap_or_else(|error| panic!("cannot open {url}: {error}"));
            (log, None)
        }
    };
    log.migrate().await.unwrap_or_else(|error| panic!("cannot migrate the {backend:?} test database: {error}"));
    (log, guard)
}

/// `url` with its path (the database name) replaced by `database`, query kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |index| index + "://".len());
    let path_start = base[authority_start..].find('/').map_or(base.len(), |index| authority_start + index);
    let mut result = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    result
}

fn seconds_since_epoch() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// Best effort, once per test process: every test creates a database and nothing drops it
/// (there is no async drop), so old ones are removed here. Failures are ignored; another test
/// process may be dropping the same databases.
async fn drop_stale_databases_once(connection: &mut PgConnection, now: u64) {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.swap(true, Ordering::SeqCst) {
        return;
    }
    let Ok(rows) = sqlx::query("SELECT datname FROM pg_database WHERE datname LIKE 'ygor\\_test\\_%'")
        .fetch_all(&mut *connection)
        .await
    else {
        return;
    };
    for row in rows {
        let Ok(name) = row.try_get::<String, _>("datname") else {
            continue;
        };
        let Some(created) = created_at_seconds(&name) else {
            continue;
        };
        if now.saturating_sub(created) > STALE_AFTER.as_secs() {
            let statement = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            if let Err(error) = sqlx::query(&statement).execute(&mut *connection).await {
                tracing::debug!(%name, %error, "could not drop a stale test database");
            }
        }
    }
}

/// The creation time written in a test database's name, if it is one of ours.
fn created_at_seconds(name: &str) -> Option<u64> {
    let rest = name.strip_prefix(DATABASE_PREFIX)?;
    let (seconds, random) = rest.split_once('_')?;
    let ours = random.chars().all(|character| character.is_ascii_hexdigit() && !character.is_ascii_uppercase());
    if ours { seconds.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::{created_at_seconds, with_database};

    #[test]
    fn database_is_replaced_in_the_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "ygor_test_1_ab"),
            "postgres://postgres@127.0.0.1:5432/ygor_test_1_ab"
        );
        assert_eq!(
            with_database("postgresql://u:p@db:5432?sslmode=disable", "x"),
            "postgresql://u:p@db:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://db/", "x"), "postgres://db/x");
    }

    #[test]
    fn only_our_database_names_are_dated() {
        assert_eq!(created_at_seconds("ygor_test_1763800000_0123456789ab"), Some(1_763_800_000));
        assert_eq!(created_at_seconds("ygor_test_main"), None);
        assert_eq!(created_at_seconds("ygor_test_17_NOT-OURS"), None);
        assert_eq!(created_at_seconds("postgres"), None);
    }
}
