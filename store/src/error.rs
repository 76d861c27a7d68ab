//! The one error type of the storage layer.
//!
//! Operating errors only: a conflict, a refused input, an unreachable or failing database. The
//! command engine maps [`StoreError::Conflict`] to a retry or a 409 and everything else to a 500.

use std::path::PathBuf;

/// An error of the event log or of the tables written with it.
#[derive(thiserror::Error, Debug)]
pub enum StoreError {
    /// Another writer already appended this sequence of this aggregate (optimistic concurrency), or
    /// the batch itself holds it twice. Nothing of the batch was written.
    #[error("conflict: {aggregate_type} {aggregate_id} already has an event at sequence {sequence}")]
    Conflict {
        /// The aggregate type of the first event that conflicted.
        aggregate_type: String,
        /// The aggregate id of the first event that conflicted.
        aggregate_id: String,
        /// The sequence that was already taken.
        sequence: usize,
    },
    /// A credential with this token hash already exists. Nothing of the batch was written.
    #[error("a credential with this token hash already exists")]
    DuplicateCredential,
    /// Another citizen already has this citizen code (one chance in 10^12 per draw): draw another.
    /// Nothing of the batch was written.
    #[error("another citizen already has this citizen code")]
    CitizenCodeTaken,
    /// A credential's role is not one of the four roles.
    #[error("unknown credential role `{role}`: expected admin, association, venue or citizen")]
    InvalidRole {
        /// The refused role.
        role: String,
    },
    /// An event's sequence is 0 or does not fit the database's 64-bit integer.
    #[error("event sequence {sequence} of {aggregate_type} {aggregate_id} is out of range (1..=i64::MAX)")]
    InvalidSequence {
        /// The aggregate type of the refused event.
        aggregate_type: String,
        /// The aggregate id of the refused event.
        aggregate_id: String,
        /// The refused sequence.
        sequence: usize,
    },
    /// One list of the batch is longer than one transaction may write.
    #[error("an append batch holds {len} {list}, more than the limit of {limit}")]
    BatchTooLarge {
        /// Which list: "events", "credentials" or "citizen details".
        list: &'static str,
        /// Its length.
        len: usize,
        /// The limit ([`crate::MAX_BATCH_LEN`]).
        limit: usize,
    },
    /// The database URL names no supported backend, or a SQLite form this store refuses.
    #[error(
        "invalid database URL: {reason}; accepted: no URL (the SQLite file ygor.db in the data \
         directory), `sqlite:<path>` or `sqlite://<path>`, `postgres://…` or `postgresql://…`"
    )]
    InvalidDatabaseUrl {
        /// What is wrong with it. Never the whole URL, which may hold a password.
        reason: String,
    },
    /// The directory of the SQLite file could not be created.
    #[error("cannot create the database directory {path}: {source}")]
    CreateDirectory {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The SQLite file failed while a replay read it (see `replay.rs`, which reads with rusqlite).
    #[error("database error while reading the log for a replay: {0}")]
    ReplayRead(#[from] rusqlite::Error),
    /// A migration failed, or the database holds migrations this build does not know.
    #[error("migration error: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The stock cqrs-es repository failed while loading a stream.
    #[error("event repository error: {0}")]
    Repository(#[from] cqrs_es::persist::PersistenceError),
    /// A stored value could not be turned back into its Rust type (a corrupt row).
    #[error("stored value cannot be read: {0}")]
    Serialization(String),
    /// The database could not be reached; nothing of the batch was written.
    #[error("the database cannot be reached: {0}")]
    Unavailable(String),
    /// The connection was lost while the database committed the batch, and whether it did could
    /// not be found out: the batch may or may not be in the log.
    #[error("the database went away during a commit, whose outcome is unknown: {0}")]
    OutcomeUnknown(String),
    /// Another process holds the writer lock of this database (see [`crate::WriterLock`]).
    #[error("{0}")]
    NotWriter(String),
}

impl StoreError {
    /// Whether the error says the database is out of reach (down, unreachable, no free
    /// connection in time) rather than that it refused something: a passing state, worth a retry.
    pub fn is_unavailable(&self) -> bool {
        use cqrs_es::persist::PersistenceError;
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Database(error) => unreachable_database(error),
            StoreError::Repository(PersistenceError::ConnectionError(_)) => true,
            StoreError::Repository(PersistenceError::UnknownError(error)) => {
                error.downcast_ref::<sqlx::Error>().is_some_and(unreachable_database)
            }
            _ => false,
        }
    }
}

/// Whether sqlx failed for want of a database to talk to, rather than because the database
/// refused a statement.
fn unreachable_database(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_)
    )
}
