//! The server under load: the real `ygor serve` started in a process of its own, what it costs
//! (RSS, CPU, disk), and the territory set up on it over HTTP.

#[allow(unused_imports)]
use super::*;

/// A field of `/proc/<pid>/status`, in kB.
pub(crate) fn status_kb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| status.lines().find(|line| line.starts_with(field)).map(str::to_owned))
        .and_then(|line| line.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .unwrap_or(0.0)
}

/// User and system CPU time of a process so far, in clock ticks.
pub(crate) fn process_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime and stime are the 12th and 13th.
    stat.rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().skip(11).take(2).filter_map(|field| field.parse::<u64>().ok()).sum())
        .unwrap_or(0)
}

/// CPU time so far, in clock ticks summed over the cores: the whole machine busy, the whole
/// machine, the server process and this (client) process.
#[derive(Clone, Copy)]
pub(crate) struct CpuTimes {
    pub(crate) busy: u64,
    pub(crate) total: u64,
    pub(crate) steal: u64,
    pub(crate) server: u64,
    pub(crate) client: u64,
}

pub(crate) fn cpu_times(server_pid: u32) -> CpuTimes {
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
pub(crate) struct CpuShares {
    pub(crate) busy: f64,
    pub(crate) steal: f64,
    pub(crate) server: f64,
    pub(crate) client: f64,
}

impl CpuShares {
    /// Microseconds of CPU (all processes of the machine) per operation, over a run of `seconds`.
    pub(crate) fn machine_micros_per(&self, operations_per_second: f64) -> f64 {
        let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        self.busy / 100.0 * cores * 1e6 / operations_per_second.max(f64::MIN_POSITIVE)
    }
}

pub(crate) fn cpu_shares(before: CpuTimes, after: CpuTimes) -> CpuShares {
    let total = (after.total - before.total).max(1) as f64;
    let share = |after: u64, before: u64| 100.0 * after.saturating_sub(before) as f64 / total;
    CpuShares {
        busy: share(after.busy, before.busy),
        steal: share(after.steal, before.steal),
        server: share(after.server, before.server),
        client: share(after.client, before.client),
    }
}

pub(crate) fn directory_bytes(directory: &Path) -> u64 {
    std::fs::read_dir(directory)
        .map(|entries| {
            entries.filter_map(Result::ok).filter_map(|entry| entry.metadata().ok()).map(|meta| meta.len()).sum()
        })
        .unwrap_or(0)
}

pub(crate) fn percentile(sorted: &[u32], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

// ---------------------------------------------------------------------------------------------
// The server and its territory

pub(crate) struct Partner {
    pub(crate) id: String,
    pub(crate) token: Arc<str>,
    pub(crate) key: SecretKey,
}

pub(crate) struct Citizen {
    pub(crate) id: String,
    pub(crate) token: Arc<str>,
}

/// The server's database, opened by the benchmark for the figures on disk only.
pub(crate) enum Database {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

/// A `ygor serve` process and what the benchmark needs to talk to it.
pub(crate) struct Server {
    pub(crate) process: std::process::Child,
    pub(crate) address: SocketAddr,
    pub(crate) base_url: String,
    pub(crate) admin_token: String,
    pub(crate) client: reqwest::Client,
    pub(crate) data_dir: tempfile::TempDir,
    pub(crate) database_url: Option<String>,
    pub(crate) database: Database,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Starts the real `ygor serve` binary with its defaults, on a fresh database and a free port.
pub(crate) async fn start_server(backend: Backend) -> Server {
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
    pub(crate) fn pid(&self) -> u32 {
        self.process.id()
    }

    pub(crate) fn rss_mb(&self) -> f64 {
        status_kb(self.pid(), "VmRSS:") / 1024.0
    }

    pub(crate) fn peak_rss_mb(&self) -> f64 {
        status_kb(self.pid(), "VmHWM:") / 1024.0
    }

    pub(crate) async fn post(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
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

    pub(crate) async fn expect(&self, path: &str, token: &str, body: &Value, expected: StatusCode) -> Value {
        let (status, answer) = self.post(path, token, body).await;
        assert_eq!(status, expected, "{path}: {answer}");
        answer
    }

    pub(crate) async fn register_partner(&self, kind: &str, index: usize) -> Partner {
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
    pub(crate) async fn status(&self) -> (i64, i64) {
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
    pub(crate) async fn commit_counters(&self) -> [f64; 5] {
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
    pub(crate) async fn cache_figures(&self) -> [f64; 5] {
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
    pub(crate) async fn metrics<const N: usize>(&self, names: &[&str; N]) -> [f64; N] {
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
    pub(crate) async fn wait_for_projections(&self, position: i64, timeout: Duration) -> bool {
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
    pub(crate) async fn disk_figures(&self) -> (i64, u64, u64) {
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

pub(crate) struct Territory {
    pub(crate) associations: Vec<Partner>,
    pub(crate) hot: Partner,
    pub(crate) venues: Vec<Partner>,
    pub(crate) citizens: Vec<Citizen>,
    /// The first `funded` citizens hold tokens for the redemptions.
    pub(crate) funded: usize,
}

pub(crate) fn certification(
    association: &Partner,
    citizen: &Citizen,
    category: &str,
    quantity: u64,
    occurred_at: &str,
) -> Value {
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

pub(crate) fn occurred_at() -> String {
    (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339()
}

pub(crate) async fn set_up_territory(server: &Server, options: &Options) -> Territory {
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
