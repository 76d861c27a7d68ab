//! One writer per database. The engine decides on states it keeps in memory (the rules in force,
//! every cached aggregate), so a second process writing to the same log would decide on stale
//! state: with two servers on one database, the second kept issuing version 1's tokens after
//! version 2 was published. A server takes the writer lock before it writes anything:
//!
//! - SQLite: an exclusive lock on the file `<database>.lock` beside the database (`flock`, released
//!   by the system when the process ends, however it ends), holding the writer's pid.
//! - PostgreSQL: a session advisory lock of the database (`pg_try_advisory_lock`), on a
//!   connection of its own named `ygor-writer`. The server ends such a lock with the connection:
//!   if the database restarts, the lock is lost, and another process may take it. A watchdog
//!   checks the connection every second; while the lock is not held the state says why
//!   ([`WriterState::Unreachable`], [`WriterState::Taken`]) and the engine takes no writes; when
//!   it is held again, its generation changes, and the engine forgets every state it kept before
//!   writing again.

use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use tokio::task::JoinHandle;

use crate::{EventLog, Store, StoreError};

/// The advisory lock's key on PostgreSQL: "ygorwrit" in ASCII.
pub const WRITER_LOCK_KEY: i64 = 0x7967_6f72_7772_6974;
const LOCK_KEY: i64 = WRITER_LOCK_KEY;

/// How often the watchdog checks the lock's connection, and how long one check may take.
const WATCH_EVERY: Duration = Duration::from_secs(1);
const WATCH_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether this process may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriterState {
    Held,
    /// The lock's connection is lost and the database cannot be reached to take it again.
    Unreachable,
    /// Another process holds the lock (described), or this one released it.
    Taken(String),
}

const HELD: u8 = 0;
const UNREACHABLE: u8 = 1;
const TAKEN: u8 = 2;

/// The writer lock of a database, held while this value lives (or until [`WriterLock::release`]).
#[derive(Clone)]
pub struct WriterLock {
    inner: Arc<Inner>,
}

struct Inner {
    state: AtomicU8,
    /// Who holds the lock when another process does.
    holder: Mutex<String>,
    /// Counts the times the lock was taken: a change means it was lost in between.
    generation: AtomicU64,
    kind: Kind,
}

enum Kind {
    Sqlite { file: Mutex<Option<File>>, path: PathBuf },
    Postgres { connection: tokio::sync::Mutex<Option<PgConnection>>, watchdog: Mutex<Option<JoinHandle<()>>> },
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Kind::Postgres { watchdog, .. } = &self.kind
            && let Some(task) = watchdog.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take()
        {
            task.abort();
        }
    }
}

impl EventLog {
    /// Takes the writer lock of this log's database, or says which process holds it
    /// ([`StoreError::NotWriter`]).
    pub async fn lock_writer(&self) -> Result<WriterLock, StoreError> {
        match &self.store {
            Store::Sqlite(log) => lock_file(log.path().with_extension("db.lock")),
            Store::Postgres(log) => lock_database(log.options().clone()).await,
        }
    }
}

fn lock_file(path: PathBuf) -> Result<WriterLock, StoreError> {
    let opened = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path);
    let mut file =
        opened.map_err(|error| StoreError::Unavailable(format!("cannot open {}: {error}", path.display())))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(StoreError::NotWriter(format!(
                "another ygor process (pid {}) writes to this database; stop it first, or give this one another \
                 data directory (lock file {})",
                holder.trim(),
                path.display()
            )));
        }
        Err(std::fs::TryLockError::Error(error)) => {
            return Err(StoreError::Unavailable(format!("cannot lock {}: {error}", path.display())));
        }
    }
    // The holder's pid, for the next process's message.
    let _ = file.set_len(0).and_then(|()| write!(file, "{}", std::process::id())).and_then(|()| file.sync_all());
    Ok(WriterLock {
        inner: Arc::new(Inner {
            state: AtomicU8::new(HELD),
            holder: Mutex::new(String::new()),
            generation: AtomicU64::new(1),
            kind: Kind::Sqlite { file: Mutex::new(Some(file)), path },
        }),
    })
}

/// A connection of the writer lock's own.
async fn connect(options: &PgConnectOptions) -> Result<PgConnection, sqlx::Error> {
    let options = options.clone().application_name("ygor-writer").disable_statement_logging();
    match tokio::time::timeout(WATCH_TIMEOUT, PgConnection::connect_with(&options)).await {
        Ok(connected) => connected,
        Err(_) => Err(sqlx::Error::PoolTimedOut),
    }
}

/// Tries the advisory lock on `connection`: `Ok(None)` when taken, else who holds it.
async fn try_lock(connection: &mut PgConnection) -> Result<Option<String>, sqlx::Error> {
    let taken: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(LOCK_KEY).fetch_one(&mut *connection).await?;
    if taken {
        return Ok(None);
    }
    let holder: Option<(i32, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT activity.pid, host(activity.client_addr), activity.backend_start::text
           FROM pg_locks AS locks JOIN pg_stat_activity AS activity ON activity.pid = locks.pid
          WHERE locks.locktype = 'advisory' AND locks.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND locks.classid = ($1 >> 32)::oid AND locks.objid = ($1 & 4294967295)::oid AND locks.granted
          LIMIT 1",
    )
    .bind(LOCK_KEY)
    .fetch_optional(&mut *connection)
    .await?;
    Ok(Some(match holder {
        Some((pid, address, since)) => format!(
            "another ygor process holds this database's writer lock (PostgreSQL backend {pid}{}{}); stop it first",
            address.map(|address| format!(", from {address}")).unwrap_or_default(),
            since.map(|since| format!(", since {since}")).unwrap_or_default()
        ),
        None => "another ygor process holds this database's writer lock; stop it first".to_owned(),
    }))
}

async fn lock_database(options: PgConnectOptions) -> Result<WriterLock, StoreError> {
    let mut connection = connect(&options).await?;
    if let Some(holder) = try_lock(&mut connection).await? {
        let _ = connection.close().await;
        return Err(StoreError::NotWriter(holder));
    }
    let lock = WriterLock {
        inner: Arc::new(Inner {
            state: AtomicU8::new(HELD),
            holder: Mutex::new(String::new()),
            generation: AtomicU64::new(1),
            kind: Kind::Postgres { connection: tokio::sync::Mutex::new(Some(connection)), watchdog: Mutex::new(None) },
        }),
    };
    let task = tokio::spawn(watch(Arc::downgrade(&lock.inner), options));
    if let Kind::Postgres { watchdog, .. } = &lock.inner.kind {
        *watchdog.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(task);
    }
    Ok(lock)
}

/// Checks the lock's connection every [`WATCH_EVERY`]; takes the lock again when it was lost.
async fn watch(inner: std::sync::Weak<Inner>, options: PgConnectOptions) {
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        let Some(inner) = inner.upgrade() else { return };
        let Kind::Postgres { connection, .. } = &inner.kind else { return };
        let mut connection = connection.lock().await;
        if inner.state.load(Ordering::Acquire) == HELD {
            let alive = match connection.as_mut() {
                Some(held) => {
                    matches!(tokio::time::timeout(WATCH_TIMEOUT, held.ping()).await, Ok(Ok(())))
                }
                None => false,
            };
            if alive {
                continue;
            }
            tracing::warn!("the writer lock's connection to PostgreSQL is lost: no writes until it is taken again");
            *connection = None;
            inner.state.store(UNREACHABLE, Ordering::Release);
        }
        if connection.is_none() {
            match connect(&options).await {
                Ok(fresh) => *connection = Some(fresh),
                Err(_) => {
                    inner.state.store(UNREACHABLE, Ordering::Release);
                    continue;
                }
            }
        }
        let Some(held) = connection.as_mut() else { continue };
        match try_lock(held).await {
            Ok(None) => {
                inner.generation.fetch_add(1, Ordering::AcqRel);
                inner.state.store(HELD, Ordering::Release);
                tracing::info!("the writer lock is held again");
            }
            Ok(Some(holder)) => {
                *inner.holder.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = holder;
                inner.state.store(TAKEN, Ordering::Release);
            }
            Err(_) => {
                *connection = None;
                inner.state.store(UNREACHABLE, Ordering::Release);
            }
        }
    }
}

impl WriterLock {
    /// Whether this process may write now.
    pub fn state(&self) -> WriterState {
        match self.inner.state.load(Ordering::Acquire) {
            HELD => WriterState::Held,
            UNREACHABLE => WriterState::Unreachable,
            _ => WriterState::Taken(self.inner.holder.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()),
        }
    }

    /// How many times the lock was taken: when it changes, the lock was lost in between, and
    /// another process may have written.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Gives the lock up: this process takes no more writes, another may start.
    pub async fn release(&self) {
        *self.inner.holder.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            "this process gave the writer lock up (it is stopping)".to_owned();
        self.inner.state.store(TAKEN, Ordering::Release);
        match &self.inner.kind {
            Kind::Sqlite { file, .. } => {
                if let Some(file) = file.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() {
                    let _ = file.unlock();
                }
            }
            Kind::Postgres { connection, watchdog } => {
                if let Some(task) = watchdog.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() {
                    task.abort();
                }
                if let Some(mut held) = connection.lock().await.take() {
                    let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(LOCK_KEY).execute(&mut held).await;
                    let _ = held.close().await;
                }
            }
        }
    }

    /// The lock file (SQLite), for messages and tests.
    pub fn file(&self) -> Option<&std::path::Path> {
        match &self.inner.kind {
            Kind::Sqlite { path, .. } => Some(path),
            Kind::Postgres { .. } => None,
        }
    }
}
