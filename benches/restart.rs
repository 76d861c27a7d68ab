//! The first write after a restart for a busy association: an association with 100,000
//! certifications, a new engine on the same log (as after a restart), and the time of its first
//! certification for that association, on SQLite and on PostgreSQL.
//!
//!     cargo bench --bench restart                                  # 100,000 certifications, both backends
//!     YGOR_BENCH_CERTIFICATIONS=20000 YGOR_BENCH_BACKENDS=sqlite cargo bench --bench restart
//!
//! Three cases, each timed `YGOR_BENCH_ROUNDS` times (default 5) with a new engine each time:
//! * **no snapshot**: the association's whole stream is read (what every restart did before
//!   aggregate snapshots);
//! * **snapshot at the head**: the snapshot a graceful stop stores;
//! * **snapshot and 999 events after it**: the most a crash leaves beyond the last snapshot the
//!   engine's job stored (it stores one every 1,000 events).
//!
//! Each round opens the log anew (a new SQLite pool or PostgreSQL pool), opens the engine (which
//! loads the territory) and certifies one new action for a citizen of the association; "first
//! write" is that certification, from the call to its durable answer. The engine alone is timed:
//! no HTTP, no signature check (the server's routes check signatures before the engine).
//!
//! `cargo test --all-targets` runs this binary without `--bench`: it then runs every case once on
//! 300 certifications, as a test. PostgreSQL comes from `YGOR_TEST_POSTGRES_URL`, as for the tests.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cqrs_es::Aggregate;
use ygor_engine::testing::{certification, fund_association, register_citizen};
use ygor_engine::{Engine, EngineOptions, Seeds};
use ygor_ledger::{CitizenId, Partner, PartnerId, Tokens};
use ygor_store::{Backend, EventLog};

const RULES: &str = include_str!("bench_rules.toml");

/// Where the log lives, so that each round can open it anew.
enum Place {
    Sqlite { path: PathBuf, _directory: tempfile::TempDir },
    Postgres(String),
}

impl Place {
    async fn new(backend: Backend) -> Place {
        match backend {
            Backend::Sqlite => {
                let directory = ygor_store::testing::fresh_sqlite_dir();
                let path = directory.path().join(ygor_store::DEFAULT_SQLITE_FILE);
                Place::Sqlite { path, _directory: directory }
            }
            Backend::Postgres => Place::Postgres(ygor_store::testing::fresh_postgres_url().await),
        }
    }

    async fn open(&self) -> EventLog {
        let log = match self {
            Place::Sqlite { path, .. } => EventLog::open_sqlite(path).await.expect("the SQLite log opens"),
            Place::Postgres(url) => EventLog::open_postgres(url).await.expect("the PostgreSQL log opens"),
        };
        log.migrate().await.expect("migrated");
        log
    }
}

struct Territory {
    place: Place,
    seeds: Seeds,
    association: PartnerId,
    citizens: Vec<CitizenId>,
}

/// A territory whose association recorded `certifications`, by 32 concurrent writers.
async fn busy_territory(backend: Backend, certifications: usize, citizens: usize) -> (Territory, Engine) {
    let place = Place::new(backend).await;
    let seeds = Seeds::new(ygor_crypto::SecretKey::generate());
    let engine = Engine::open_with(place.open().await, seeds.clone(), EngineOptions::default()).await.expect("opens");
    let envelope = Tokens::new(10 * certifications as u64 + 1_000_000);
    let association = fund_association(&engine, RULES, envelope).await;
    let mut ids = Vec::with_capacity(citizens);
    for _ in 0..citizens {
        ids.push(register_citizen(&engine).await);
    }
    let territory = Territory { place, seeds, association, citizens: ids };
    certify_many(&engine, &territory, certifications).await;
    (territory, engine)
}

async fn certify_many(engine: &Engine, territory: &Territory, count: usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let citizens = Arc::new(territory.citizens.clone());
    let writers: Vec<_> = (0..32)
        .map(|_| {
            let (engine, next, citizens, association) =
                (engine.clone(), next.clone(), citizens.clone(), territory.association);
            tokio::spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        break;
                    }
                    let citizen = citizens[index % citizens.len()];
                    engine.certify(certification(association, citizen)).await.expect("certified");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("a writer");
    }
}

/// One restart: a new log pool and a new engine, then one certification for the association.
/// Returns (open, first write).
async fn restart(territory: &Territory, round: usize) -> (Duration, Duration, Engine) {
    let started = Instant::now();
    let log = territory.place.open().await;
    let engine = Engine::open_with(log, territory.seeds.clone(), EngineOptions::default()).await.expect("opens");
    let opened = started.elapsed();
    let citizen = territory.citizens[round % territory.citizens.len()];
    let started = Instant::now();
    let answer = engine.certify(certification(territory.association, citizen)).await.expect("certified");
    let first = started.elapsed();
    assert!(!answer.replayed);
    (opened, first, engine)
}

async fn stop(engine: Engine) {
    assert!(engine.flush(Duration::from_secs(10)).await, "the engine's writes are flushed");
    drop(engine);
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

struct Case {
    name: &'static str,
    opens: Vec<f64>,
    firsts: Vec<f64>,
}

impl Case {
    fn print(&self, backend: &str, certifications: usize) {
        let max = self.firsts.iter().copied().fold(0.0, f64::max);
        println!(
            "| {backend} | {certifications} | {} | {:.1} | {:.1} | {:.1} |",
            self.name,
            median(self.opens.clone()),
            median(self.firsts.clone()),
            max
        );
    }
}

async fn run(backend: Backend, certifications: usize, rounds: usize) {
    let label = match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    let started = Instant::now();
    let citizens = (certifications / 50).clamp(10, 2_000);
    let (territory, engine) = busy_territory(backend, certifications, citizens).await;
    let loaded = started.elapsed();
    eprintln!(
        "{label}: {certifications} certifications for one association, {citizens} citizens, in {:.1} s",
        loaded.as_secs_f64()
    );
    let association = territory.association.to_string();

    // No snapshot: the whole stream.
    let log = engine.log().clone();
    stop(engine).await;
    let mut none = Case { name: "no snapshot", opens: vec![], firsts: vec![] };
    for round in 0..rounds {
        log.delete_aggregate_snapshot(Partner::TYPE, &association).await.expect("deleted");
        let (opened, first, engine) = restart(&territory, round).await;
        none.opens.push(millis(opened));
        none.firsts.push(millis(first));
        stop(engine).await;
    }

    // A snapshot at the head, as a graceful stop leaves it.
    let mut head = Case { name: "snapshot at the head", opens: vec![], firsts: vec![] };
    let mut sizes = Vec::new();
    let (_, _, mut engine) = restart(&territory, rounds).await;
    for round in 0..rounds {
        let started = Instant::now();
        let stored = engine.store_snapshots(1).await.expect("snapshots stored");
        sizes.push((millis(started.elapsed()), stored.bytes));
        stop(engine).await;
        let (opened, first, next) = restart(&territory, round).await;
        head.opens.push(millis(opened));
        head.firsts.push(millis(first));
        engine = next;
    }

    // A snapshot and 999 events after it, as a crash may leave it.
    let mut tail = Case { name: "snapshot + 999 events", opens: vec![], firsts: vec![] };
    for round in 0..rounds {
        engine.store_snapshots(1).await.expect("snapshots stored");
        certify_many(&engine, &territory, 999).await;
        stop(engine).await;
        let (opened, first, next) = restart(&territory, round).await;
        tail.opens.push(millis(opened));
        tail.firsts.push(millis(first));
        engine = next;
    }
    stop(engine).await;

    let (store_ms, bytes) = sizes.last().copied().unwrap_or_default();
    println!(
        "{label}: the association's snapshot takes {bytes} bytes; storing it (and the territory's) took {store_ms:.1} ms"
    );
    println!("| backend | certifications | case | open (median ms) | first write (median ms) | first write (max ms) |");
    println!("|---|---:|---|---:|---:|---:|");
    for case in [none, head, tail] {
        case.print(label, certifications);
    }
}

fn main() {
    let benching = std::env::args().any(|argument| argument == "--bench");
    let variable = |name: &str, default: usize| {
        std::env::var(name).ok().and_then(|value| value.parse().ok()).filter(|value| *value > 0).unwrap_or(default)
    };
    let (certifications, rounds) = if benching {
        (variable("YGOR_BENCH_CERTIFICATIONS", 100_000), variable("YGOR_BENCH_ROUNDS", 5))
    } else {
        (300, 1)
    };
    let backends = std::env::var("YGOR_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    for name in backends.split(',').map(str::trim).filter(|name| !name.is_empty()) {
        let backend = match name {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => panic!("YGOR_BENCH_BACKENDS names {other:?}: use sqlite, postgres or both"),
        };
        runtime.block_on(run(backend, certifications, rounds));
    }
}
