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
//!                                 [--seconds 10] [--scenario certify|redeem|hot|retry|bulk|all]
//!
//! Scenarios:
//! * `certify`: certifications spread over many associations and citizens;
//! * `redeem`: redemptions at many venues, with vouchers fetched before the timed window;
//! * `hot`: ONE association certifying for 10,000 citizens from N clients;
//! * `retry`: certifications already recorded, sent again (lost answers): each is answered from the
//!   log (the record read back, the original position) and writes nothing;
//! * `bulk`: certifications sent in batches (`POST /v1/certifications/batch`) of each size of
//!   `--batch-sizes` (1,10,100,1000), one row per size, by `--bulk-clients` associations (4) that
//!   each send their next batch once the last is answered, whatever `--concurrency` says (so that
//!   the batches in flight always fit in the server's write queue, 4,096 places). Its operations
//!   are certifications: a batch counts the certifications it recorded, its latency is the batch's.
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
//! server's RSS then: `--fill-events 1000000` measures a server with a million events in its log),
//! `--batch-sizes 1,10,100,1000` and `--bulk-clients N` (4) for `bulk`.
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

mod bare;
mod client;
mod server;

use bare::*;
use client::*;
use server::*;

/// The rules both benchmarks run under (no caps, so only envelopes and balances limit).
const RULES: &str = include_str!("../bench_rules.toml");

/// Concurrent requests while setting the territory up (not measured).
const SETUP_CONCURRENCY: usize = 16;
/// Tokens each redemption spends; each funded citizen gets `FUNDING` tokens.
const REDEEM_AMOUNT: u64 = 5;
const FUNDING: u64 = 100_000;
/// The batch sizes of `bulk`.
const BATCH_SIZES: [usize; 4] = [1, 10, 100, 1_000];
/// The most connections the bare ceiling opens (PostgreSQL allows 100 by default and the server
/// under test keeps its own pool).
const BARE_MAX_CONNECTIONS: usize = 64;

use ygor_store::Backend;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Certify,
    Redeem,
    Hot,
    Retry,
    /// Certifications in batches of this size.
    Bulk(usize),
}

impl Scenario {
    fn name(self) -> String {
        match self {
            Scenario::Certify => "certify".to_owned(),
            Scenario::Redeem => "redeem".to_owned(),
            Scenario::Hot => "hot".to_owned(),
            Scenario::Retry => "retry".to_owned(),
            Scenario::Bulk(size) => format!("bulk{size}"),
        }
    }
}

/// Every scenario of `--scenario all`, `bulk` with its batch sizes.
fn every_scenario(batch_sizes: &[usize]) -> Vec<Scenario> {
    let mut scenarios = vec![Scenario::Certify, Scenario::Redeem, Scenario::Hot, Scenario::Retry];
    scenarios.extend(batch_sizes.iter().map(|size| Scenario::Bulk(*size)));
    scenarios
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
    /// The clients of `bulk`, each an association sending one batch at a time.
    bulk_clients: usize,
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
            scenarios: every_scenario(&[1, 10, 100]),
            citizens: 20,
            associations: 4,
            venues: 4,
            funded: 8,
            max_rate: 200.0,
            fill_events: 0,
            bulk_clients: 2,
        }
    } else {
        Options {
            backends: vec![Backend::Sqlite, Backend::Postgres],
            concurrency: vec![1, 8, 32, 128],
            seconds: 10.0,
            scenarios: every_scenario(&BATCH_SIZES),
            citizens: 10_000,
            associations: 256,
            venues: 128,
            funded: 2_000,
            max_rate: 20_000.0,
            fill_events: 0,
            bulk_clients: 4,
        }
    };
    let mut batch_sizes = BATCH_SIZES.to_vec();
    let mut scenario = None;
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
            "--scenario" => scenario = Some(value(index, name)),
            "--batch-sizes" => {
                batch_sizes = value(index, name)
                    .split(',')
                    .map(|part| {
                        let size = part.trim().parse::<usize>().ok();
                        size.filter(|size| (1..=1_000).contains(size)).expect("--batch-sizes 1,10,100,1000 (1 to 1000)")
                    })
                    .collect()
            }
            "--bulk-clients" => options.bulk_clients = number(value(index, name), name) as usize,
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
    if let Some(scenario) = scenario {
        options.scenarios = match scenario.as_str() {
            "certify" => vec![Scenario::Certify],
            "redeem" => vec![Scenario::Redeem],
            "hot" => vec![Scenario::Hot],
            "retry" => vec![Scenario::Retry],
            "bulk" => batch_sizes.iter().map(|size| Scenario::Bulk(*size)).collect(),
            "all" => every_scenario(&batch_sizes),
            other => panic!("--scenario {other}: use certify, redeem, hot, retry, bulk or all"),
        };
    }
    options.funded = options.funded.min(options.citizens);
    options
}

// ---------------------------------------------------------------------------------------------
// Process figures

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
    if let Scenario::Bulk(size) = scenario {
        // The batches' answers and the log agree: two events per recorded certification.
        let (events_now, _, _) = server.disk_figures().await;
        assert!(
            events_now - events_before >= 2 * outcome.ok as i64,
            "bulk{size}: {} certifications counted, {} events written",
            outcome.ok,
            events_now - events_before
        );
    }
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
    let largest = options.concurrency.iter().copied().chain([options.bulk_clients]).max().unwrap_or(1);
    let bare = open_bare(backend, largest.min(BARE_MAX_CONNECTIONS)).await;
    let mut rows = Vec::new();
    let (bulk, others): (Vec<Scenario>, Vec<Scenario>) =
        options.scenarios.iter().partition(|scenario| matches!(scenario, Scenario::Bulk(_)));
    for &concurrency in &options.concurrency {
        for &scenario in &others {
            rows.push(run_one(&server, &territory, &bare, (backend, scenario, concurrency), options).await);
        }
    }
    // `bulk` at its own number of clients, once.
    for &scenario in &bulk {
        rows.push(run_one(&server, &territory, &bare, (backend, scenario, options.bulk_clients), options).await);
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
        "Ygor load benchmark: backends {:?}, concurrency {:?} ({} for bulk), {} s per run, scenarios {:?}; {} citizens, {} associations (+1 hot), {} venues; {} cores",
        options.backends.iter().map(|backend| backend.name()).collect::<Vec<_>>(),
        options.concurrency,
        options.bulk_clients,
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
