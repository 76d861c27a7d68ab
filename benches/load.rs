//! End-to-end load benchmark: the real `ygor serve` binary, started in a process of its own on a
//! random port of 127.0.0.1 (on a fresh SQLite file or a fresh PostgreSQL database), a territory
//! set up over HTTP, then signed certifications and redemptions driven over real HTTP by N
//! concurrent clients for a set time. Every run also measures, right before each scenario, at the
//! same concurrency and for the same time, the bare database ceiling: N tasks each inserting one
//! event-shaped row per transaction with durable commits, into a scratch table of a fresh database
//! (PostgreSQL) or a scratch file in WAL mode with `synchronous=FULL` (SQLite). Results are given
//! as ratios to it.
//!
//!     cargo bench --bench load -- [--backend sqlite|postgres|both] [--concurrency 1,8,32,128]
//!                                 [--seconds 10] [--scenario certify|redeem|hot|retry|all]
//!
//! Scenarios:
//! * `certify`: certifications spread over many associations and citizens;
//! * `redeem`: redemptions at many venues, with vouchers fetched before the timed window;
//! * `hot`: ONE association certifying for 10,000 citizens from N clients;
//! * `retry`: certifications already recorded, sent again (lost answers): each is answered from the
//!   log (the record read back, the original position) and writes nothing.
//!
//! Requests are signed (real ed25519 signatures) and written out as complete HTTP/1.1 requests
//! before the timed window; during it, each client task sends them over its own keep-alive
//! connection and reads the status line and the body of each answer (a minimal client, so that
//! the two cores, which the client shares with the server and the database, go to the server).
//! Each run is bounded by time and by the number of prepared requests (`--max-rate` requests per
//! second of the run are prepared, half as many redemptions; a run that uses them all stops early
//! and says so). The RSS and CPU reported are those of the server process.
//!
//! Other options: `--citizens N` (10000), `--associations N` (256), `--venues N` (128),
//! `--funded N` (citizens that get tokens for the redemptions, 2000), `--max-rate N` (20000),
//! `--fill-events N` (drive certifications first until the log holds N events, and report the
//! server's RSS then: `--fill-events 1000000` measures a server with a million events in its log).
//! `YGOR_BENCH_SERVER_LOG=path` keeps the server's standard error there; `YGOR_BENCH_SERVER_BIN=path`
//! runs that `ygor` binary instead of the one cargo built with the benchmark.
//! PostgreSQL comes from `YGOR_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//!
//! Run without `--bench` (as `cargo test --all-targets` does), it runs a tiny version of every
//! scenario on both backends, as a smoke test. Figures and their analysis: docs/performance.md.

/// mimalloc instead of glibc malloc: the server, the replay and the benchmarks allocate many small,
/// short-lived objects per request and per event, where glibc's allocator costs up to half the CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ygor_crypto::{SecretKey, SignedKind};

/// The rules both benchmarks run under (no caps, so only envelopes and balances limit).
const RULES: &str = include_str!("bench_rules.toml");

/// Concurrent requests while setting the territory up (not measured).
const SETUP_CONCURRENCY: usize = 16;
/// Tokens each redemption spends; each funded citizen gets `FUNDING` tokens.
const REDEEM_AMOUNT: u64 = 5;
const FUNDING: u64 = 100_000;
/// The most connections the bare ceiling opens (PostgreSQL allows 100 by default and the server
/// under test keeps its own pool).
const BARE_MAX_CONNECTIONS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Certify,
    Redeem,
    Hot,
    Retry,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Certify => "certify",
            Scenario::Redeem => "redeem",
            Scenario::Hot => "hot",
            Scenario::Retry => "retry",
        }
    }
}

#[derive(Debug, Clone)]
struct Options {
    backends: Vec<Backend>,
    concurrency: Vec<usize>,
    seconds: f64,
    scenarios: Vec<Scenario>,
    citizens: usize,
    associations: usize,
    venues: usize,
    funded: usize,
    max_rate: f64,
    /// Certifications are driven before the scenarios until the log holds this many events.
    fill_events: i64,
}

fn parse_options() -> Options {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it.
    let testing = arguments.iter().any(|argument| argument == "--test")
        || !arguments.iter().any(|argument| argument == "--bench");
    let mut options = if testing {
        Options {
            backends: vec![Backend::Sqlite, Backend::Postgres],
            concurrency: vec![2],
            seconds: 0.3,
            scenarios: vec![Scenario::Certify, Scenario::Redeem, Scenario::Hot, Scenario::Retry],
            citizens: 20,
            associations: 4,
            venues: 4,
            funded: 8,
            max_rate: 200.0,
            fill_events: 0,
        }
    } else {
        Options {
            backends: vec![Backend::Sqlite, Backend::Postgres],
            concurrency: vec![1, 8, 32, 128],
            seconds: 10.0,
            scenarios: vec![Scenario::Certify, Scenario::Redeem, Scenario::Hot, Scenario::Retry],
            citizens: 10_000,
            associations: 256,
            venues: 128,
            funded: 2_000,
            max_rate: 20_000.0,
            fill_events: 0,
        }
    };
    let mut index = 0;
    let value = |index: usize, name: &str| -> String {
        arguments.get(index + 1).cloned().unwrap_or_else(|| panic!("{name} needs a value"))
    };
    let number = |text: String, name: &str| -> f64 {
        text.parse::<f64>().ok().filter(|value| *value > 0.0).unwrap_or_else(|| panic!("{name}: not a positive number"))
    };
    while index < arguments.len() {
        let name = arguments[index].as_str();
        match name {
            "--bench" | "--test" | "--nocapture" => {
                index += 1;
                continue;
            }
            "--backend" => {
                options.backends = match value(index, name).as_str() {
                    "sqlite" => vec![Backend::Sqlite],
                    "postgres" => vec![Backend::Postgres],
                    "both" => vec![Backend::Sqlite, Backend::Postgres],
                    other => panic!("--backend {other}: use sqlite, postgres or both"),
                }
            }
            "--concurrency" => {
                options.concurrency = value(index, name)
                    .split(',')
                    .map(|part| part.trim().parse::<usize>().ok().filter(|n| *n > 0).expect("--concurrency 1,8,32"))
                    .collect()
            }
            "--seconds" => options.seconds = number(value(index, name), name),
            "--scenario" => {
                options.scenarios = match value(index, name).as_str() {
                    "certify" => vec![Scenario::Certify],
                    "redeem" => vec![Scenario::Redeem],
                    "hot" => vec![Scenario::Hot],
                    "retry" => vec![Scenario::Retry],
                    "all" => vec![Scenario::Certify, Scenario::Redeem, Scenario::Hot, Scenario::Retry],
                    other => panic!("--scenario {other}: use certify, redeem, hot, retry or all"),
                }
            }
            "--citizens" => options.citizens = number(value(index, name), name) as usize,
            "--associations" => options.associations = number(value(index, name), name) as usize,
            "--venues" => options.venues = number(value(index, name), name) as usize,
            "--funded" => options.funded = number(value(index, name), name) as usize,
            "--max-rate" => options.max_rate = number(value(index, name), name),
            "--fill-events" => options.fill_events = number(value(index, name), name) as i64,
            // Under `cargo test`, options meant for the test harness are ignored.
            other if other.starts_with("--") && !testing => {
                panic!("unknown option {other}; see the top of benches/load.rs")
            }
            // A positional argument is a test filter given by `cargo test`: ignore it.
            _ => {
                index += 1;
                continue;
            }
        }
        index += 2;
    }
    options.funded = options.funded.min(options.citizens);
    options
}

// ---------------------------------------------------------------------------------------------
// Process figures

/// A field of `/proc/<pid>/status`, in kB.
fn status_kb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| status.lines().find(|line| line.starts_with(field)).map(str::to_owned))
        .and_then(|line| line.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .unwrap_or(0.0)
}

/// User and system CPU time of a process so far, in clock ticks.
fn process_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime and stime are the 12th and 13th.
    stat.rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().skip(11).take(2).filter_map(|field| field.parse::<u64>().ok()).sum())
        .unwrap_or(0)
}

/// CPU time so far, in clock ticks summed over the cores: the whole machine busy, the whole
/// machine, the server process and this (client) process.
#[derive(Clone, Copy)]
struct CpuTimes {
    busy: u64,
    total: u64,
    steal: u64,
    server: u64,
    client: u64,
}

fn cpu_times(server_pid: u32) -> CpuTimes {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    // Time the hypervisor gave to other machines (8th field): counted in `total`, not as busy.
    let steal = fields.get(7).copied().unwrap_or(0);
    CpuTimes {
        busy: total - idle - steal,
        total,
        steal,
        server: process_ticks(server_pid),
        client: process_ticks(std::process::id()),
    }
}

/// Shares of all cores between two readings, in percent: machine busy, stolen by the hypervisor,
/// server, client.
#[derive(Clone, Copy, Default)]
struct CpuShares {
    busy: f64,
    steal: f64,
    server: f64,
    client: f64,
}

impl CpuShares {
    /// Microseconds of CPU (all processes of the machine) per operation, over a run of `seconds`.
    fn machine_micros_per(&self, operations_per_second: f64) -> f64 {
        let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        self.busy / 100.0 * cores * 1e6 / operations_per_second.max(f64::MIN_POSITIVE)
    }
}

fn cpu_shares(before: CpuTimes, after: CpuTimes) -> CpuShares {
    let total = (after.total - before.total).max(1) as f64;
    let share = |after: u64, before: u64| 100.0 * after.saturating_sub(before) as f64 / total;
    CpuShares {
        busy: share(after.busy, before.busy),
        steal: share(after.steal, before.steal),
        server: share(after.server, before.server),
        client: share(after.client, before.client),
    }
}

fn directory_bytes(directory: &Path) -> u64 {
    std::fs::read_dir(directory)
        .map(|entries| {
            entries.filter_map(Result::ok).filter_map(|entry| entry.metadata().ok()).map(|meta| meta.len()).sum()
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[u32], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

// ---------------------------------------------------------------------------------------------
// The server and its territory

struct Partner {
    id: String,
    token: Arc<str>,
    key: SecretKey,
}

struct Citizen {
    id: String,
    token: Arc<str>,
}

/// The server's database, opened by the benchmark for the figures on disk only.
enum Database {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

/// A `ygor serve` process and what the benchmark needs to talk to it.
struct Server {
    process: std::process::Child,
    address: SocketAddr,
    base_url: String,
    admin_token: String,
    client: reqwest::Client,
    data_dir: tempfile::TempDir,
    database_url: Option<String>,
    database: Database,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Starts the real `ygor serve` binary with its defaults, on a fresh database and a free port.
async fn start_server(backend: Backend) -> Server {
    let data_dir = tempfile::Builder::new().prefix("ygor-load-").tempdir().expect("temp dir");
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(ygor_store::testing::fresh_postgres_url().await),
    };
    let admin_token = format!("admin-{}", uuid::Uuid::new_v4());
    let address = std::net::TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("port");
    // The server's own log (warnings and errors): `YGOR_BENCH_SERVER_LOG` keeps it after the run.
    let log_path = std::env::var_os("YGOR_BENCH_SERVER_LOG")
        .map_or_else(|| data_dir.path().join("serve.log"), std::path::PathBuf::from);
    let log_file = std::fs::File::create(&log_path).expect("server log");
    // `YGOR_BENCH_SERVER_BIN` runs another build of the same code (one with frame pointers, for a profile).
    let program = std::env::var_os("YGOR_BENCH_SERVER_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_ygor").into());
    let mut command = std::process::Command::new(program);
    command
        .args(["serve", "--listen", &address.to_string(), "--data-dir", &data_dir.path().display().to_string()])
        .env("YGOR_ADMIN_TOKEN", &admin_token)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(log_file);
    if let Some(url) = &database_url {
        command.args(["--database-url", url]);
    }
    let mut process = command.spawn().expect("start ygor serve");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1024)
        .build()
        .expect("client");
    let base_url = format!("http://{address}");
    let started = Instant::now();
    loop {
        if let Some(status) = process.try_wait().expect("wait") {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("ygor serve stopped at start ({status}):\n{log}");
        }
        if client.get(format!("{base_url}/healthz")).send().await.is_ok_and(|response| response.status().is_success()) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "ygor serve did not answer /healthz in 2 minutes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let database = match &database_url {
        Some(url) => Database::Postgres(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect_with(ygor_store::postgres_connect_options(url).expect("URL"))
                .await
                .expect("the server's database"),
        ),
        None => Database::Sqlite(
            sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(
                    sqlx::sqlite::SqliteConnectOptions::new()
                        .filename(data_dir.path().join(ygor_store::DEFAULT_SQLITE_FILE))
                        .read_only(true),
                )
                .await
                .expect("the server's SQLite file"),
        ),
    };
    Server { process, address, base_url, admin_token, client, data_dir, database_url, database }
}

impl Server {
    fn pid(&self) -> u32 {
        self.process.id()
    }

    fn rss_mb(&self) -> f64 {
        status_kb(self.pid(), "VmRSS:") / 1024.0
    }

    fn peak_rss_mb(&self) -> f64 {
        status_kb(self.pid(), "VmHWM:") / 1024.0
    }

    async fn post(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn expect(&self, path: &str, token: &str, body: &Value, expected: StatusCode) -> Value {
        let (status, answer) = self.post(path, token, body).await;
        assert_eq!(status, expected, "{path}: {answer}");
        answer
    }

    async fn register_partner(&self, kind: &str, index: usize) -> Partner {
        let key = SecretKey::generate();
        let body =
            json!({ "kind": kind, "name": format!("{kind} {index}"), "public_key": key.public_key().to_string() });
        let answer = self.expect("/v1/partners", &self.admin_token, &body, StatusCode::CREATED).await;
        Partner {
            id: answer["partner_id"].as_str().expect("partner_id").to_owned(),
            token: answer["token"].as_str().expect("token").into(),
            key,
        }
    }

    /// (log position, position applied by the read models), as `GET /v1/status` tells them.
    async fn status(&self) -> (i64, i64) {
        let response = self
            .client
            .get(format!("{}/v1/status", self.base_url))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .expect("status");
        let body: Value = response.json().await.expect("status body");
        (body["log_position"].as_i64().expect("log_position"), body["projection_position"].as_i64().expect("applied"))
    }

    /// The committer's counters from `/metrics`: groups, operations, events, write and sync seconds.
    async fn commit_counters(&self) -> [f64; 5] {
        self.metrics(&[
            "ygor_commit_groups_total",
            "ygor_commit_operations_total",
            "ygor_commit_events_total",
            "ygor_commit_write_seconds_total",
            "ygor_commit_sync_seconds_total",
        ])
        .await
    }

    /// The aggregate cache: entries, estimated MB, evictions.
    async fn cache_figures(&self) -> [f64; 5] {
        let [entries, bytes, evicted, forgotten, restored] = self
            .metrics(&[
                "ygor_aggregate_cache_entries",
                "ygor_aggregate_cache_bytes",
                "ygor_aggregate_cache_evictions_total",
                "ygor_aggregate_cache_histories_forgotten_total",
                "ygor_aggregate_cache_histories_restored_total",
            ])
            .await;
        [entries, bytes / 1e6, evicted, forgotten, restored]
    }

    /// Figures of `/metrics`, NaN for a missing one.
    async fn metrics<const N: usize>(&self, names: &[&str; N]) -> [f64; N] {
        let text = self
            .client
            .get(format!("{}/metrics", self.base_url))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body");
        let value = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        names.map(value)
    }

    /// Waits until the read models have applied `position`; false after `timeout`.
    async fn wait_for_projections(&self, position: i64, timeout: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if self.status().await.1 >= position {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    }

    /// The number of events in the log, the bytes of the whole database on disk, and the bytes
    /// of the `events` table with its indexes.
    async fn disk_figures(&self) -> (i64, u64, u64) {
        match &self.database {
            Database::Postgres(pool) => {
                let events: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(pool).await.expect("event count");
                let database: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                    .fetch_one(pool)
                    .await
                    .expect("database size");
                let table: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('events')")
                    .fetch_one(pool)
                    .await
                    .expect("events size");
                (events, database as u64, table as u64)
            }
            Database::Sqlite(pool) => {
                let events: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(pool).await.expect("event count");
                // The file, its WAL and shared memory index; the table's own pages from `dbstat`.
                let table: Option<i64> = sqlx::query_scalar(
                    "SELECT SUM(d.pgsize) FROM dbstat AS d JOIN sqlite_master AS m ON d.name = m.name WHERE m.tbl_name = 'events'",
                )
                .fetch_one(pool)
                .await
                .ok()
                .flatten();
                (events, directory_bytes(self.data_dir.path()), table.unwrap_or(0) as u64)
            }
        }
    }
}

struct Territory {
    associations: Vec<Partner>,
    hot: Partner,
    venues: Vec<Partner>,
    citizens: Vec<Citizen>,
    /// The first `funded` citizens hold tokens for the redemptions.
    funded: usize,
}

fn certification(association: &Partner, citizen: &Citizen, category: &str, quantity: u64, occurred_at: &str) -> Value {
    let Value::Object(object) = json!({
        "action_id": uuid::Uuid::new_v4().to_string(),
        "association_id": association.id,
        "citizen_id": citizen.id,
        "category": category,
        "quantity": quantity,
        "occurred_at": occurred_at,
    }) else {
        unreachable!("an object")
    };
    Value::Object(ygor_crypto::sign_object(SignedKind::Certification, object, &association.key).expect("sign"))
}

fn occurred_at() -> String {
    (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339()
}

async fn set_up_territory(server: &Server, options: &Options) -> Territory {
    let started = Instant::now();
    let admin = server.admin_token.as_str();
    let response = server
        .client
        .put(format!("{}/v1/rules", server.base_url))
        .bearer_auth(admin)
        .header("content-type", "application/toml")
        .body(RULES)
        .send()
        .await
        .expect("rules");
    assert_eq!(response.status(), StatusCode::OK, "rules: {}", response.text().await.unwrap_or_default());
    server.expect("/v1/supply", admin, &json!({ "amount": 1_000_000_000_000u64 }), StatusCode::OK).await;

    let associations: Vec<Partner> = futures::stream::iter(0..options.associations + 1)
        .map(|index| async move {
            let partner = server.register_partner("association", index).await;
            let path = format!("/v1/partners/{}/envelope", partner.id);
            server.expect(&path, admin, &json!({ "amount": 1_000_000_000u64 }), StatusCode::OK).await;
            partner
        })
        .buffered(SETUP_CONCURRENCY)
        .collect()
        .await;
    let mut associations = associations;
    let hot = associations.pop().expect("one more than asked");
    let venues: Vec<Partner> = futures::stream::iter(0..options.venues)
        .map(|index| server.register_partner("venue", index))
        .buffered(SETUP_CONCURRENCY)
        .collect()
        .await;
    let citizens: Vec<Citizen> = futures::stream::iter(0..options.citizens)
        .map(|index| async move {
            let neighbourhood = ["Centre", "Gare", "Les Rives", "Plaisance"][index % 4];
            let body = json!({
                "neighbourhood": neighbourhood,
                "birth_year": 1950 + (index % 60) as i32,
                "interests": ["ecologie"],
            });
            let answer = server.expect("/v1/citizens", admin, &body, StatusCode::CREATED).await;
            Citizen {
                id: answer["citizen_id"].as_str().expect("citizen_id").to_owned(),
                token: answer["token"].as_str().expect("token").into(),
            }
        })
        .buffered(SETUP_CONCURRENCY)
        .collect()
        .await;
    // Tokens for the redemptions: one large `velo` certification per funded citizen.
    let when = occurred_at();
    let funding: Vec<(usize, Value)> = (0..options.funded)
        .map(|index| {
            let association = &associations[index % associations.len()];
            (index % associations.len(), certification(association, &citizens[index], "velo", FUNDING, &when))
        })
        .collect();
    futures::stream::iter(funding)
        .map(|(association, body)| {
            let token = associations[association].token.clone();
            async move { server.expect("/v1/certifications", &token, &body, StatusCode::CREATED).await }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    println!(
        "  set-up over HTTP: rules, supply, {} associations (+1 hot) with envelopes, {} venues, {} citizens, {} funded, in {:.1} s",
        associations.len(),
        venues.len(),
        citizens.len(),
        options.funded,
        started.elapsed().as_secs_f64()
    );
    Territory { associations, hot, venues, citizens, funded: options.funded }
}

// ---------------------------------------------------------------------------------------------
// Prepared requests

/// One complete HTTP/1.1 request, bytes ready to write.
#[derive(Clone)]
struct Prepared {
    bytes: Vec<u8>,
}

impl Prepared {
    fn post(address: SocketAddr, path: &str, token: &str, body: &[u8]) -> Prepared {
        let mut bytes = format!(
            "POST {path} HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body);
        Prepared { bytes }
    }
}

/// Signs `count` requests with `sign` on every core (before the timed window).
async fn sign_all<F>(count: usize, sign: F) -> Vec<Prepared>
where
    F: Fn(usize) -> Prepared + Send + Sync + 'static,
{
    let sign = Arc::new(sign);
    let threads = std::thread::available_parallelism().map_or(2, usize::from).max(1);
    let chunk = count.div_ceil(threads).max(1);
    let mut handles = Vec::new();
    for start in (0..count).step_by(chunk) {
        let sign = sign.clone();
        let end = (start + chunk).min(count);
        handles.push(tokio::task::spawn_blocking(move || (start..end).map(|index| sign(index)).collect::<Vec<_>>()));
    }
    let mut all = Vec::with_capacity(count);
    for handle in handles {
        all.extend(handle.await.expect("signing thread"));
    }
    all
}

/// How many distinct certifications the `retry` scenario records first, then sends again in turn.
const RETRIED: usize = 4_096;

async fn prepare(server: &Server, territory: &Territory, scenario: Scenario, count: usize) -> Vec<Prepared> {
    let when = occurred_at();
    let address = server.address;
    match scenario {
        Scenario::Retry => {
            let originals = Box::pin(prepare(server, territory, Scenario::Certify, RETRIED.min(count))).await;
            let recorded = drive(address, originals.clone(), 32, 3_600.0).await;
            assert!(recorded.errors.is_empty(), "recording the originals: {}", recorded.errors_text());
            originals.iter().cycle().take(count).cloned().collect()
        }
        Scenario::Certify | Scenario::Hot => {
            // Request j goes to association j mod A (or the hot one) and citizen j mod C, so that
            // the N requests in flight at any time touch N different aggregates (when N <= A).
            let associations: Vec<(String, Arc<str>, SecretKey)> = match scenario {
                Scenario::Hot => {
                    vec![(territory.hot.id.clone(), territory.hot.token.clone(), territory.hot.key.clone())]
                }
                _ => territory
                    .associations
                    .iter()
                    .map(|partner| (partner.id.clone(), partner.token.clone(), partner.key.clone()))
                    .collect(),
            };
            let citizens: Vec<String> = territory.citizens.iter().map(|citizen| citizen.id.clone()).collect();
            sign_all(count, move |index| {
                let (id, token, key) = &associations[index % associations.len()];
                let Value::Object(object) = json!({
                    "action_id": uuid::Uuid::new_v4().to_string(),
                    "association_id": id,
                    "citizen_id": citizens[index % citizens.len()],
                    "category": "ecologie",
                    "quantity": 1,
                    "occurred_at": when,
                }) else {
                    unreachable!("an object")
                };
                let signed = ygor_crypto::sign_object(SignedKind::Certification, object, key).expect("sign");
                Prepared::post(address, "/v1/certifications", token, &serde_json::to_vec(&signed).expect("json"))
            })
            .await
        }
        Scenario::Redeem => {
            let funded = &territory.citizens[..territory.funded.max(1)];
            let vouchers: Vec<String> = futures::stream::iter(0..count)
                .map(|index| {
                    let citizen = &funded[index % funded.len()];
                    async move {
                        let answer = server
                            .expect(
                                "/v1/me/vouchers",
                                &citizen.token,
                                &json!({ "amount": REDEEM_AMOUNT }),
                                StatusCode::CREATED,
                            )
                            .await;
                        answer["voucher"].as_str().expect("voucher").to_owned()
                    }
                })
                .buffered(32)
                .collect()
                .await;
            let venues: Vec<(String, Arc<str>, SecretKey)> = territory
                .venues
                .iter()
                .map(|partner| (partner.id.clone(), partner.token.clone(), partner.key.clone()))
                .collect();
            sign_all(count, move |index| {
                let (id, token, key) = &venues[index % venues.len()];
                let Value::Object(object) = json!({
                    "redemption_id": uuid::Uuid::new_v4().to_string(),
                    "venue_id": id,
                    "voucher": vouchers[index],
                    "amount": REDEEM_AMOUNT,
                }) else {
                    unreachable!("an object")
                };
                let signed = ygor_crypto::sign_object(SignedKind::Redemption, object, key).expect("sign");
                Prepared::post(address, "/v1/redemptions", token, &serde_json::to_vec(&signed).expect("json"))
            })
            .await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Driving the load

/// A keep-alive HTTP/1.1 connection that sends prepared requests and reads each answer's status
/// line, headers and `content-length` body: all a client needs to know that the request was served.
struct HttpConnection {
    stream: tokio::net::TcpStream,
    buffer: Vec<u8>,
}

impl HttpConnection {
    async fn open(address: SocketAddr) -> std::io::Result<HttpConnection> {
        let stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(HttpConnection { stream, buffer: Vec::with_capacity(8192) })
    }

    /// Sends one request and returns the status of its answer, once the whole answer is read.
    async fn exchange(&mut self, request: &[u8]) -> std::io::Result<u16> {
        self.stream.write_all(request).await?;
        loop {
            if let Some((status, length)) = parse_answer(&self.buffer)?
                && self.buffer.len() >= length
            {
                self.buffer.drain(..length);
                return Ok(status);
            }
            self.buffer.reserve(4096);
            if self.stream.read_buf(&mut self.buffer).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

/// The status and the total length (head and body) of the answer at the start of `buffer`, once
/// its head has arrived.
fn parse_answer(buffer: &[u8]) -> std::io::Result<Option<(u16, usize)>> {
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut answer = httparse::Response::new(&mut headers);
    match answer.parse(buffer).map_err(|error| invalid(error.to_string()))? {
        httparse::Status::Partial => Ok(None),
        httparse::Status::Complete(head) => {
            let length = answer
                .headers
                .iter()
                .find(|header| header.name.eq_ignore_ascii_case("content-length"))
                .and_then(|header| std::str::from_utf8(header.value).ok()?.trim().parse::<usize>().ok())
                .ok_or_else(|| invalid("an answer without content-length".to_owned()))?;
            Ok(Some((answer.code.unwrap_or(0), head + length)))
        }
    }
}

#[derive(Default)]
struct Outcome {
    ok: usize,
    latencies_us: Vec<u32>,
    errors: BTreeMap<String, usize>,
    elapsed: f64,
    exhausted: bool,
}

impl Outcome {
    /// The outcomes of the client tasks added up (successes, latencies, errors by kind).
    async fn gather(workers: Vec<tokio::task::JoinHandle<Outcome>>, what: &str) -> Outcome {
        let mut merged = Outcome::default();
        for worker in workers {
            let outcome = worker.await.unwrap_or_else(|error| panic!("{what}: {error}"));
            merged.ok += outcome.ok;
            merged.latencies_us.extend(outcome.latencies_us);
            for (kind, count) in outcome.errors {
                *merged.errors.entry(kind).or_default() += count;
            }
        }
        merged
    }

    fn record(&mut self, sent: Instant) {
        self.ok += 1;
        self.latencies_us.push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
    }

    fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed
    }

    fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return "none".to_owned();
        }
        self.errors.iter().map(|(status, count)| format!("{status}×{count}")).collect::<Vec<_>>().join(" ")
    }
}

/// N workers, each on its own connection, take the next prepared request until the time is up
/// or none is left.
async fn drive(address: SocketAddr, requests: Vec<Prepared>, concurrency: usize, seconds: f64) -> Outcome {
    let total = requests.len();
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let mut connections = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        connections.push(HttpConnection::open(address).await.expect("connect to the server"));
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let mut workers = Vec::new();
    for mut connection in connections {
        let (requests, next) = (requests.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut outcome = Outcome::default();
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(request) = requests.get(index) else {
                    break;
                };
                let sent = Instant::now();
                match connection.exchange(&request.bytes).await {
                    Ok(status) if (200..300).contains(&status) => outcome.record(sent),
                    Ok(status) => *outcome.errors.entry(status.to_string()).or_default() += 1,
                    Err(_) => {
                        *outcome.errors.entry("transport".to_owned()).or_default() += 1;
                        match HttpConnection::open(address).await {
                            Ok(fresh) => connection = fresh,
                            Err(_) => break,
                        }
                    }
                }
            }
            outcome
        }));
    }
    let mut merged = Outcome::gather(workers, "worker").await;
    merged.elapsed = started.elapsed().as_secs_f64();
    merged.exhausted = next.load(Ordering::Relaxed) >= total && merged.elapsed < seconds;
    merged.latencies_us.sort_unstable();
    merged
}

/// Samples the projection lag (log position − applied, from `GET /v1/status`) every 20 ms while
/// a run goes on; returns the largest seen.
fn sample_lag(server: &Server, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<i64> {
    let (client, url, token) =
        (server.client.clone(), format!("{}/v1/status", server.base_url), server.admin_token.clone());
    tokio::spawn(async move {
        let mut largest = 0;
        while !stop.load(Ordering::Relaxed) {
            if let Ok(response) = client.get(&url).bearer_auth(&token).send().await
                && let Ok(body) = response.json::<Value>().await
                && let (Some(log), Some(applied)) =
                    (body["log_position"].as_i64(), body["projection_position"].as_i64())
            {
                largest = largest.max(log - applied);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        largest
    })
}

// ---------------------------------------------------------------------------------------------
// The bare ceiling

/// An event-shaped payload of about 300 bytes (a certification's essentials).
fn bare_payload(worker: usize, sequence: i64) -> Value {
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

const BARE_TABLE: &str = "CREATE TABLE IF NOT EXISTS scratch_events (
    aggregate_type text NOT NULL, aggregate_id text NOT NULL, sequence bigint NOT NULL,
    event_type text NOT NULL, event_version text NOT NULL, payload jsonb NOT NULL, metadata jsonb NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence))";

const BARE_TABLE_SQLITE: &str = "CREATE TABLE IF NOT EXISTS scratch_events (
    aggregate_type TEXT NOT NULL, aggregate_id TEXT NOT NULL, sequence INTEGER NOT NULL,
    event_type TEXT NOT NULL, event_version TEXT NOT NULL, payload TEXT NOT NULL, metadata TEXT NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence))";

const BARE_INSERT_PG: &str = "INSERT INTO scratch_events
    (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
    VALUES ($1, $2, $3, $4, $5, $6, $7)";

const BARE_INSERT_SQLITE: &str = "INSERT INTO scratch_events
    (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
    VALUES (?, ?, ?, ?, ?, ?, ?)";

enum BarePool {
    Postgres(sqlx::PgPool),
    /// One connection, taken in turn (FIFO) by the tasks.
    Sqlite(Arc<tokio::sync::Mutex<sqlx::SqliteConnection>>),
}

struct Bare {
    pool: BarePool,
    /// Kept for its lifetime (SQLite file) or to drop it at the end (PostgreSQL).
    _directory: Option<tempfile::TempDir>,
    database_url: Option<String>,
}

async fn open_bare(backend: Backend, connections: usize) -> Bare {
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
async fn bare_ceiling(bare: &Bare, concurrency: usize, seconds: f64) -> Outcome {
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

struct Row {
    backend: Backend,
    scenario: Scenario,
    concurrency: usize,
    throughput: f64,
    events_per_second: f64,
    p50: f64,
    p99: f64,
    max: f64,
    errors: String,
    bare: f64,
    bare_p99: f64,
    lag_end: i64,
    lag_max: i64,
    catch_up_ms: f64,
    rss_mb: f64,
    events: i64,
    bytes_per_event: f64,
    table_bytes_per_event: f64,
    cpu: CpuShares,
}

/// Measures the bare ceiling at `concurrency`, right before the scenario that is compared to it.
async fn measure_bare(bare: &Bare, backend: Backend, concurrency: usize, seconds: f64, server_pid: u32) -> Outcome {
    let cpu_before = cpu_times(server_pid);
    let ceiling = bare_ceiling(bare, concurrency, seconds).await;
    let cpu = cpu_shares(cpu_before, cpu_times(server_pid));
    println!(
        "  {:<8} bare    N={:<4} {:>7.0} rows/s (one row per durable transaction{})  p50 {:.2} ms  p99 {:.2} ms  errors {}  CPU busy {:.0}% (this client process {:.0}%, stolen {:.0}%), {:.0} µs of CPU per row",
        backend.name(),
        concurrency,
        ceiling.throughput(),
        if backend == Backend::Postgres && concurrency > BARE_MAX_CONNECTIONS { ", 64 connections" } else { "" },
        percentile(&ceiling.latencies_us, 0.5),
        percentile(&ceiling.latencies_us, 0.99),
        ceiling.errors_text(),
        cpu.busy,
        cpu.client,
        cpu.steal,
        cpu.machine_micros_per(ceiling.throughput())
    );
    ceiling
}

async fn run_one(
    server: &Server,
    territory: &Territory,
    bare: &Bare,
    (backend, scenario, concurrency): (Backend, Scenario, usize),
    options: &Options,
) -> Row {
    // Redemptions cost more than certifications and each needs a voucher fetched over HTTP
    // beforehand: half as many are prepared.
    let rate = if scenario == Scenario::Redeem { options.max_rate / 2.0 } else { options.max_rate };
    let count = (options.seconds * rate).ceil() as usize;
    let preparing = Instant::now();
    let requests = prepare(server, territory, scenario, count).await;
    let prepared_in = preparing.elapsed().as_secs_f64();
    let (events_before, _, _) = server.disk_figures().await;
    // Let the projections catch up with the set-up before the windows open.
    let (log_position, _) = server.status().await;
    server.wait_for_projections(log_position, Duration::from_secs(120)).await;
    let ceiling = measure_bare(bare, backend, concurrency, options.seconds, server.pid()).await;

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_lag(server, stop.clone());
    let commits_before = server.commit_counters().await;
    let cpu_before = cpu_times(server.pid());
    let outcome = drive(server.address, requests, concurrency, options.seconds).await;
    let cpu = cpu_shares(cpu_before, cpu_times(server.pid()));
    let commits: Vec<f64> =
        server.commit_counters().await.iter().zip(commits_before).map(|(after, before)| after - before).collect();
    let (log_position, applied) = server.status().await;
    let caught_up = Instant::now();
    let lag_end = (log_position - applied).max(0);
    let in_time = server.wait_for_projections(log_position, Duration::from_secs(120)).await;
    let catch_up_ms = if in_time { caught_up.elapsed().as_secs_f64() * 1000.0 } else { f64::NAN };
    stop.store(true, Ordering::Relaxed);
    let lag_max = sampler.await.expect("sampler").max(lag_end);

    let (events, bytes, table_bytes) = server.disk_figures().await;
    let events_written = (events - events_before).max(0) as f64;
    let row = Row {
        backend,
        scenario,
        concurrency,
        throughput: outcome.throughput(),
        events_per_second: events_written / outcome.elapsed,
        p50: percentile(&outcome.latencies_us, 0.50),
        p99: percentile(&outcome.latencies_us, 0.99),
        max: percentile(&outcome.latencies_us, 1.0),
        errors: outcome.errors_text(),
        bare: ceiling.throughput(),
        bare_p99: percentile(&ceiling.latencies_us, 0.99),
        lag_end,
        lag_max,
        catch_up_ms,
        rss_mb: server.rss_mb(),
        events,
        bytes_per_event: bytes as f64 / events as f64,
        table_bytes_per_event: table_bytes as f64 / events as f64,
        cpu,
    };
    println!(
        "  {:<8} {:<7} N={:<4} {:>7.0} ops/s ({:>6.0} events/s) in {:.1} s  p50 {:.2} ms  p99 {:.2} ms  max {:.1} ms  errors {}  \
         ratio to bare {:.2}×  lag at end {} (max {}) caught up in {:.0} ms  server RSS {:.0} MB (peak {:.0})  {} events; on disk {:.0} B/event (events table and its indexes {:.0} B/event)  CPU busy {:.0}% (server {:.0}%, client {:.0}%, stolen {:.0}%), {:.0} µs of CPU per operation  [prepared {count} in {prepared_in:.1} s{}]",
        backend.name(),
        scenario.name(),
        concurrency,
        row.throughput,
        row.events_per_second,
        outcome.elapsed,
        row.p50,
        row.p99,
        row.max,
        row.errors,
        row.throughput / row.bare,
        row.lag_end,
        row.lag_max,
        row.catch_up_ms,
        row.rss_mb,
        server.peak_rss_mb(),
        events,
        row.bytes_per_event,
        row.table_bytes_per_event,
        row.cpu.busy,
        row.cpu.server,
        row.cpu.client,
        row.cpu.steal,
        row.cpu.machine_micros_per(row.throughput),
        if outcome.exhausted { "; ran out of prepared requests before the time was up" } else { "" }
    );
    let groups = commits[0].max(1.0);
    println!(
        "           committer: {:.0} groups, {:.1} operations and {:.1} events per group, writing {:.2} ms and committing {:.2} ms per group",
        commits[0],
        commits[1] / groups,
        commits[2] / groups,
        1000.0 * commits[3] / groups,
        1000.0 * commits[4] / groups
    );
    row
}

async fn run_backend(backend: Backend, options: &Options) -> Vec<Row> {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("{}: starting ygor serve (load average {})", backend.name(), load.trim());
    let server = start_server(backend).await;
    let territory = set_up_territory(&server, options).await;
    println!("  server RSS after set-up: {:.0} MB", server.rss_mb());
    fill(&server, &territory, options.fill_events).await;
    let largest = options.concurrency.iter().copied().max().unwrap_or(1);
    let bare = open_bare(backend, largest.min(BARE_MAX_CONNECTIONS)).await;
    let mut rows = Vec::new();
    for &concurrency in &options.concurrency {
        for &scenario in &options.scenarios {
            rows.push(run_one(&server, &territory, &bare, (backend, scenario, concurrency), options).await);
        }
    }
    if let BarePool::Postgres(pool) = &bare.pool {
        pool.close().await;
    }
    if let Database::Postgres(pool) = &server.database {
        pool.close().await;
    }
    let databases: Vec<String> =
        [server.database_url.clone(), bare.database_url.clone()].into_iter().flatten().collect();
    // Stop the server before dropping its database.
    drop(server);
    drop_databases(&databases).await;
    rows
}

/// Drives certifications (64 clients, untimed) until the log holds `target` events, so that the
/// scenarios run, and the server's RSS is read, with a log of that size.
async fn fill(server: &Server, territory: &Territory, target: i64) {
    if target <= 0 {
        return;
    }
    let started = Instant::now();
    loop {
        let (events, _, _) = server.disk_figures().await;
        if events >= target {
            let (log_position, _) = server.status().await;
            server.wait_for_projections(log_position, Duration::from_secs(600)).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            let [entries, cache_mb, evicted, forgotten, restored] = server.cache_figures().await;
            println!(
                "  filled the log to {events} events in {:.0} s; server RSS {:.0} MB (peak {:.0} MB); aggregate cache {entries} entries, ~{cache_mb:.0} MB, {evicted} evicted, {forgotten} wallet histories forgotten, {restored} read back",
                started.elapsed().as_secs_f64(),
                server.rss_mb(),
                server.peak_rss_mb()
            );
            return;
        }
        // Two events per certification.
        let count = (((target - events) / 2) as usize).clamp(1, 100_000);
        let requests = prepare(server, territory, Scenario::Certify, count).await;
        let outcome = drive(server.address, requests, 64, 3_600.0).await;
        assert!(outcome.errors.is_empty(), "filling the log: {}", outcome.errors_text());
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| backend | scenario | N | ops/s | events/s | p50 ms | p99 ms | max ms | errors | bare rows/s | bare p99 ms | ratio | lag at end (max) | caught up ms | server RSS MB | events | B/event (db) | B/event (events) | CPU busy % (server, client) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.1} | {} | {:.0} | {:.2} | {:.2} | {} ({}) | {:.0} | {:.0} | {} | {:.0} | {:.0} | {:.0} ({:.0}, {:.0}) |",
            row.backend.name(),
            row.scenario.name(),
            row.concurrency,
            row.throughput,
            row.events_per_second,
            row.p50,
            row.p99,
            row.max,
            row.errors,
            row.bare,
            row.bare_p99,
            row.throughput / row.bare,
            row.lag_end,
            row.lag_max,
            row.catch_up_ms,
            row.rss_mb,
            row.events,
            row.bytes_per_event,
            row.table_bytes_per_event,
            row.cpu.busy,
            row.cpu.server,
            row.cpu.client
        );
    }
}

/// Drops the databases this run created (after their pools are gone).
async fn drop_databases(urls: &[String]) {
    if urls.is_empty() {
        return;
    }
    let server = ygor_store::testing::postgres_server_url();
    let Ok(mut connection) = sqlx::PgConnection::connect(&server).await else {
        return;
    };
    for url in urls {
        let name = url.rsplit('/').next().unwrap_or_default().split('?').next().unwrap_or_default();
        if name.starts_with("ygor_test_") {
            let _ =
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut connection).await;
        }
    }
    let _ = connection.close().await;
}

fn main() {
    let options = parse_options();
    println!(
        "Ygor load benchmark: backends {:?}, concurrency {:?}, {} s per run, scenarios {:?}; {} citizens, {} associations (+1 hot), {} venues; {} cores",
        options.backends.iter().map(|backend| backend.name()).collect::<Vec<_>>(),
        options.concurrency,
        options.seconds,
        options.scenarios.iter().map(|scenario| scenario.name()).collect::<Vec<_>>(),
        options.citizens,
        options.associations,
        options.venues,
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let mut rows = Vec::new();
    for &backend in &options.backends {
        rows.extend(runtime.block_on(run_backend(backend, &options)));
    }
    print_table(&rows);
}
