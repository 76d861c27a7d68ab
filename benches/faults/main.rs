//! Fault harness: the real `ygor serve` binary, on a fresh territory of its own, driven by several
//! concurrent clients sending signed certifications and redemptions over loopback HTTP, while the
//! harness breaks it N times in one of three ways:
//!
//! * `kill -9` the server, then start it again on the same storage;
//! * `SIGSTOP` the server, wait a few seconds, `SIGCONT` it;
//! * (PostgreSQL) stop the database at once (`pg_ctl stop -m immediate`) and start it again. The
//!   PostgreSQL backend always runs on a throwaway cluster made by `scripts/ensure-postgres.sh`,
//!   never on the machine's shared server.
//!
//! Clients behave as a careful partner does: a write whose answer was lost (connection refused or
//! reset, `503`) is sent again, with the same id and the same signed bytes, until it gets a
//! definite answer. After each fault the harness stops the clients and compares the server with
//! its own model of what was acknowledged: every acknowledged certification is in its citizen's
//! profile and every acknowledged redemption in its venue's list (nothing lost), every wallet
//! holds exactly what the model says (no double issuance, no overdraft), acknowledged writes sent
//! again answer `200` with their original position (replayed, never issued twice), the
//! circulation dashboard balances (conservation) and matches the model, `ygor audit verify`
//! exits 0, and a restarted server answers `/readyz` 200 within 2 s of its start.
//!
//!     cargo bench --bench faults -- [--backend sqlite|postgres|both] [--faults 20] [--seconds 900]
//!                                   [--clients 4]
//!
//! `--seconds` bounds each backend's run: no fault is started after it. The table it prints ends
//! the run; the exit status is 1 when any check failed. Run without `--bench` (as
//! `cargo test --all-targets` does), it injects 3 faults per backend on a small territory, as a
//! test. `cargo test --bench faults -- --bench …` runs the full harness on a debug build.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use ygor_crypto::{SecretKey, SignedKind};

#[path = "../../tests/support/throwaway_postgres.rs"]
mod throwaway_postgres;
use throwaway_postgres::Cluster;

/// Rules without caps or gold: each certification earns a known number of tokens.
const RULES: &str = r#"
[tokens]
lifetime = "P6M"

[[categories]]
id = "ecologie"
label = "Écologie"
tokens_per_action = 10

[[categories]]
id = "velo"
label = "Vélo (par km)"
tokens_per_action = 0
tokens_per_unit = 1
"#;

const MINTED: u64 = 1_000_000_000;
const ENVELOPE: u64 = 10_000_000;
/// A restarted server must answer `/readyz` 200 within this time of its process start.
const RESTART_MAX: Duration = Duration::from_secs(2);
/// A write that has no definite answer after this long counts as unresolved.
const WRITE_DEADLINE: Duration = Duration::from_secs(60);
/// How long one request may take before the client gives up on it (and sends it again).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Answers other than 2xx, 4xx and 503 (a 500 says nothing about what happened): each one is a
/// wrong answer.
static SERVER_ERRORS: AtomicU64 = AtomicU64::new(0);
/// Acknowledged writes of each kind sent again after each fault.
const REPLAYS_PER_FAULT: usize = 8;

use ygor_store::Backend;

/// The faults a backend can meet: a database server of its own only on PostgreSQL.
fn fault_kinds(backend: Backend) -> &'static [FaultKind] {
    match backend {
        Backend::Sqlite => &[FaultKind::Kill, FaultKind::Pause],
        Backend::Postgres => &[FaultKind::Kill, FaultKind::Pause, FaultKind::DatabaseCrash],
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum FaultKind {
    Kill,
    Pause,
    DatabaseCrash,
}

impl FaultKind {
    fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill -9",
            FaultKind::Pause => "stop/cont",
            FaultKind::DatabaseCrash => "db crash",
        }
    }
}

#[derive(Debug, Clone)]
struct Options {
    backends: Vec<Backend>,
    faults: usize,
    seconds: f64,
    clients: usize,
    citizens: usize,
    /// Load before each fault, and how long a paused server or a stopped database stays down.
    load_before: Duration,
    down_for: Duration,
}

fn parse_options() -> Options {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it.
    let testing = !arguments.iter().any(|argument| argument == "--bench");
    let mut options = if testing {
        Options {
            backends: vec![Backend::Sqlite, Backend::Postgres],
            faults: 3,
            seconds: 50.0,
            clients: 3,
            citizens: 6,
            load_before: Duration::from_millis(500),
            down_for: Duration::from_millis(1500),
        }
    } else {
        Options {
            backends: vec![Backend::Sqlite, Backend::Postgres],
            faults: 20,
            seconds: 900.0,
            clients: 4,
            citizens: 16,
            load_before: Duration::from_millis(1500),
            down_for: Duration::from_secs(3),
        }
    };
    let mut index = 0;
    while index < arguments.len() {
        let name = arguments[index].as_str();
        let value = || arguments.get(index + 1).cloned().unwrap_or_else(|| fail(&format!("{name} needs a value")));
        let count = || {
            value().parse::<usize>().ok().filter(|n| *n > 0).unwrap_or_else(|| fail(&format!("{name}: a number > 0")))
        };
        match name {
            "--bench" | "--test" | "--nocapture" => {
                index += 1;
                continue;
            }
            "--backend" => {
                options.backends = match value().as_str() {
                    "sqlite" => vec![Backend::Sqlite],
                    "postgres" => vec![Backend::Postgres],
                    "both" => vec![Backend::Sqlite, Backend::Postgres],
                    other => fail(&format!("--backend {other}: use sqlite, postgres or both")),
                }
            }
            "--faults" => options.faults = count(),
            "--clients" => options.clients = count(),
            "--citizens" => options.citizens = count(),
            "--seconds" => {
                options.seconds = value()
                    .parse::<f64>()
                    .ok()
                    .filter(|seconds| *seconds > 0.0)
                    .unwrap_or_else(|| fail("--seconds: a number > 0"))
            }
            other => fail(&format!(
                "unknown option {other}; options: --backend sqlite|postgres|both, --faults N, --seconds S, --clients N, --citizens N"
            )),
        }
        index += 2;
    }
    options.citizens = options.citizens.max(options.clients);
    options
}

fn fail(message: &str) -> ! {
    eprintln!("faults: {message}");
    std::process::exit(2)
}

// ---------------------------------------------------------------------------------------------
// Processes: a throwaway PostgreSQL cluster and the server

/// The real `ygor serve` on a data directory (and database) of its own, on a fixed loopback port
/// so that clients find it again after a restart.
struct Server {
    child: Option<Child>,
    paused: bool,
    base_url: String,
    listen: String,
    data_dir: tempfile::TempDir,
    database_url: Option<String>,
    admin_token: String,
    client: reqwest::Client,
}

fn ygor_program() -> PathBuf {
    std::env::var_os("YGOR_FAULTS_SERVER_BIN").map_or_else(|| env!("CARGO_BIN_EXE_ygor").into(), PathBuf::from)
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).status().expect("kill runs");
    assert!(status.success(), "kill -{name} {pid}");
}

impl Server {
    fn new(database_url: Option<String>) -> Server {
        let data_dir = tempfile::Builder::new().prefix("ygor-faults-").tempdir().expect("a data directory");
        let address =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("a free port");
        Server {
            child: None,
            paused: false,
            base_url: format!("http://{address}"),
            listen: address.to_string(),
            data_dir,
            database_url,
            admin_token: format!("admin-{}", uuid::Uuid::new_v4()),
            client: http_client(),
        }
    }

    fn storage_arguments(&self) -> Vec<String> {
        let mut arguments = vec!["--data-dir".to_owned(), self.data_dir.path().display().to_string()];
        if let Some(url) = &self.database_url {
            arguments.extend(["--database-url".to_owned(), url.clone()]);
        }
        arguments
    }

    fn log_path(&self) -> PathBuf {
        self.data_dir.path().join("serve.log")
    }

    /// Starts the process and waits for `/readyz` 200: the time from the start to that answer.
    async fn start(&mut self) -> Duration {
        assert!(self.child.is_none(), "one server process at a time");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).expect("server log");
        let started = Instant::now();
        let child = Command::new(ygor_program())
            .args(["serve", "--listen", &self.listen])
            .args(self.storage_arguments())
            .env_remove("DATABASE_URL")
            .env_remove("YGOR_DATA_DIR")
            .env("YGOR_ADMIN_TOKEN", &self.admin_token)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start ygor serve");
        self.child = Some(child);
        self.wait_ready(started, Duration::from_secs(60)).await;
        started.elapsed()
    }

    /// Waits until `/readyz` answers 200, panicking (with the server's log) after `timeout`.
    async fn wait_ready(&mut self, since: Instant, timeout: Duration) {
        loop {
            if let Some(child) = &mut self.child
                && let Some(status) = child.try_wait().expect("wait")
            {
                panic!("ygor serve stopped ({status}):\n{}", self.log_tail());
            }
            let ready =
                self.client.get(format!("{}/readyz", self.base_url)).timeout(Duration::from_secs(2)).send().await;
            if ready.is_ok_and(|response| response.status() == StatusCode::OK) {
                return;
            }
            assert!(since.elapsed() < timeout, "ygor serve not ready after {timeout:?}:\n{}", self.log_tail());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("a running server").id()
    }

    fn kill(&mut self) {
        let mut child = self.child.take().expect("a running server");
        child.kill().expect("kill -9");
        child.wait().expect("the killed server is reaped");
        self.paused = false;
    }

    fn pause(&mut self) {
        signal(self.pid(), "STOP");
        self.paused = true;
    }

    fn resume(&mut self) {
        signal(self.pid(), "CONT");
        self.paused = false;
    }

    /// `ygor audit verify` on the server's storage: (exit code, output).
    fn audit_verify(&self) -> (i32, String) {
        let output = Command::new(ygor_program())
            .args(["audit", "verify"])
            .args(self.storage_arguments())
            .env_remove("DATABASE_URL")
            .env_remove("YGOR_DATA_DIR")
            .stdin(Stdio::null())
            .output()
            .expect("run ygor audit verify");
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.code().unwrap_or(-1), text)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL ends a stopped process too.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(1))
        .pool_idle_timeout(Duration::from_secs(2))
        .no_proxy()
        .build()
        .expect("an HTTP client")
}

// ---------------------------------------------------------------------------------------------
// The territory and the model

struct Partner {
    id: String,
    token: String,
    key: SecretKey,
}

struct Citizen {
    id: String,
    token: String,
}

struct Territory {
    associations: Vec<Partner>,
    venues: Vec<Partner>,
    citizens: Vec<Citizen>,
}

/// An acknowledged write: what to send again, and what it answered.
#[derive(Clone)]
struct Acknowledged {
    path: &'static str,
    token: String,
    body: Value,
    position: i64,
    /// The citizen it credits or debits.
    citizen: usize,
    /// The venue of a redemption.
    venue: Option<usize>,
}

/// What the harness knows was acknowledged, and what went wrong.
#[derive(Default)]
struct Model {
    certifications: HashMap<String, Acknowledged>,
    redemptions: HashMap<String, Acknowledged>,
    balances: Vec<i64>,
    issued: u64,
    redeemed: u64,
    /// Writes whose first answer was lost or unavailable, acknowledged on a later attempt, and of
    /// those how many were answered as replays (they had been written before).
    retried: u64,
    retried_replayed: u64,
    overdrafts_refused: u64,
    violations: Violations,
}

#[derive(Default, Clone)]
struct Violations {
    lost: u64,
    double_issues: u64,
    overdrafts: u64,
    conservation: u64,
    audit: u64,
    unresolved: u64,
    slow_restarts: u64,
    server_errors: u64,
    messages: Vec<String>,
}

impl Violations {
    fn total(&self) -> u64 {
        self.lost
            + self.double_issues
            + self.overdrafts
            + self.conservation
            + self.audit
            + self.unresolved
            + self.slow_restarts
            + self.server_errors
    }

    fn note(&mut self, message: String) {
        eprintln!("faults: VIOLATION: {message}");
        if self.messages.len() < 50 {
            self.messages.push(message);
        }
    }
}

/// A small deterministic generator for the clients' choices (no clock or OS randomness needed).
struct Choices(u64);

impl Choices {
    fn next(&mut self, below: u64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % below.max(1)
    }
}

async fn send(request: reqwest::RequestBuilder) -> Result<(StatusCode, Value), String> {
    let response = request.send().await.map_err(|error| error.to_string())?;
    let status = response.status();
    let text = response.text().await.map_err(|error| error.to_string())?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
}

/// What became of a write.
enum Outcome {
    /// `201` or `200`; `retried` when earlier attempts got no definite answer.
    Acknowledged { status: StatusCode, body: Value, retried: bool },
    /// A definite refusal (4xx): nothing was written.
    Refused { status: StatusCode, body: Value },
    /// No definite answer within [`WRITE_DEADLINE`].
    Unresolved(String),
}

/// Sends a write until it has a definite answer: a lost answer (connection refused or reset, a
/// timeout) or a `503` is sent again with the same bytes, as the API asks.
async fn write(client: &reqwest::Client, base_url: &str, path: &str, token: &str, body: &Value) -> Outcome {
    let started = Instant::now();
    let mut retried = false;
    let mut last = String::new();
    while started.elapsed() < WRITE_DEADLINE {
        let request = client.post(format!("{base_url}{path}")).bearer_auth(token).json(body);
        match send(request).await {
            Ok((status, body)) if status.is_success() => return Outcome::Acknowledged { status, body, retried },
            Ok((status, body)) if status.is_client_error() => return Outcome::Refused { status, body },
            Ok((status, body)) if status == StatusCode::SERVICE_UNAVAILABLE => last = format!("503 {body}"),
            Ok((status, body)) => {
                // A 500 is a wrong answer in itself; the write is still sent again to learn its fate.
                last = format!("{status} {body}");
                SERVER_ERRORS.fetch_add(1, Ordering::Relaxed);
                eprintln!("faults: VIOLATION: {path} answered {last}");
            }
            Err(error) => last = error,
        }
        retried = true;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Outcome::Unresolved(last)
}

async fn admin_get(server: &Server, path: &str) -> Value {
    get_as(&server.client, &server.base_url, path, &server.admin_token).await
}

async fn get_as(client: &reqwest::Client, base_url: &str, path: &str, token: &str) -> Value {
    let started = Instant::now();
    loop {
        let request = client.get(format!("{base_url}{path}")).bearer_auth(token);
        match send(request).await {
            Ok((StatusCode::OK, body)) => return body,
            answer => assert!(started.elapsed() < WRITE_DEADLINE, "GET {path}: {answer:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn set_up(server: &Server, citizens: usize) -> Territory {
    let client = &server.client;
    let admin = server.admin_token.as_str();
    let response = client
        .put(format!("{}/v1/rules", server.base_url))
        .bearer_auth(admin)
        .header("content-type", "application/toml")
        .body(RULES)
        .send()
        .await
        .expect("rules");
    assert_eq!(response.status(), StatusCode::OK, "rules");
    let expect = |outcome: Outcome, what: &str| match outcome {
        Outcome::Acknowledged { body, .. } => body,
        Outcome::Refused { status, body } => panic!("{what}: {status} {body}"),
        Outcome::Unresolved(last) => panic!("{what}: {last}"),
    };
    expect(write(client, &server.base_url, "/v1/supply", admin, &json!({ "amount": MINTED })).await, "supply");
    let partner = async |kind: &str, index: usize| {
        let key = SecretKey::generate();
        let body =
            json!({ "kind": kind, "name": format!("{kind} {index}"), "public_key": key.public_key().to_string() });
        let answer = expect(write(client, &server.base_url, "/v1/partners", admin, &body).await, "partner");
        Partner {
            id: answer["partner_id"].as_str().expect("partner_id").to_owned(),
            token: answer["token"].as_str().expect("token").to_owned(),
            key,
        }
    };
    let mut associations = Vec::new();
    for index in 0..3 {
        associations.push(partner("association", index).await);
    }
    let mut venues = Vec::new();
    for index in 0..2 {
        venues.push(partner("venue", index).await);
    }
    for association in &associations {
        let path = format!("/v1/partners/{}/envelope", association.id);
        expect(write(client, &server.base_url, &path, admin, &json!({ "amount": ENVELOPE })).await, "envelope");
    }
    let mut registered = Vec::new();
    for index in 0..citizens {
        let body = json!({ "neighbourhood": "Centre", "birth_year": 1960 + index as i32, "interests": ["ecologie"] });
        let answer = expect(write(client, &server.base_url, "/v1/citizens", admin, &body).await, "citizen");
        registered.push(Citizen {
            id: answer["citizen_id"].as_str().expect("citizen_id").to_owned(),
            token: answer["token"].as_str().expect("token").to_owned(),
        });
    }
    Territory { associations, venues, citizens: registered }
}

fn signed(kind: SignedKind, body: Value, key: &SecretKey) -> Value {
    let Value::Object(object) = body else { unreachable!("an object") };
    Value::Object(ygor_crypto::sign_object(kind, object, key).expect("sign"))
}

// ---------------------------------------------------------------------------------------------
// Clients

struct Shared {
    base_url: String,
    territory: Territory,
    model: Mutex<Model>,
    stop: AtomicBool,
    seed: AtomicU64,
}

/// One client: it owns the citizens `index`, `index + clients`, … so that its redemptions never
/// race another client's for the same wallet, and the model of each wallet stays exact.
async fn client(shared: Arc<Shared>, index: usize, clients: usize) {
    let http = http_client();
    let mut choices = Choices(shared.seed.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) | 1);
    let mine: Vec<usize> = (index..shared.territory.citizens.len()).step_by(clients).collect();
    let mut turn = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        let citizen = mine[turn % mine.len()];
        turn += 1;
        let balance = shared.model.lock().expect("model").balances[citizen];
        let roll = choices.next(100);
        if balance > 0 && roll < 5 {
            overdraft(&shared, &http, citizen, balance, &mut choices).await;
        } else if balance > 0 && roll < 40 {
            let amount = 1 + choices.next(balance.min(20) as u64);
            redeem(&shared, &http, citizen, amount, &mut choices).await;
        } else {
            certify(&shared, &http, citizen, &mut choices).await;
        }
    }
}

async fn certify(shared: &Shared, http: &reqwest::Client, citizen: usize, choices: &mut Choices) {
    let territory = &shared.territory;
    let association = &territory.associations[choices.next(territory.associations.len() as u64) as usize];
    let (category, quantity, tokens) = match choices.next(2) {
        0 => ("ecologie", 1, 10),
        _ => {
            let kilometres = 1 + choices.next(5);
            ("velo", kilometres, kilometres)
        }
    };
    let action_id = uuid::Uuid::new_v4().to_string();
    let body = signed(
        SignedKind::Certification,
        json!({
            "action_id": action_id,
            "association_id": association.id,
            "citizen_id": territory.citizens[citizen].id,
            "category": category,
            "quantity": quantity,
            "occurred_at": (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339(),
        }),
        &association.key,
    );
    let outcome = write(http, &shared.base_url, "/v1/certifications", &association.token, &body).await;
    let mut model = shared.model.lock().expect("model");
    match outcome {
        Outcome::Acknowledged { status, body: answer, retried } => {
            let earned = answer["tokens"].as_u64().unwrap_or(u64::MAX);
            if earned != tokens {
                model.violations.double_issues += 1;
                model.violations.note(format!("certification {action_id} earned {earned}, the rules say {tokens}"));
            }
            if status == StatusCode::OK && !retried {
                model.violations.double_issues += 1;
                model.violations.note(format!("a new certification {action_id} answered 200 (replayed)"));
            }
            model.note_retry(retried, status);
            model.balances[citizen] += tokens as i64;
            model.issued += tokens;
            let position = answer["position"].as_i64().unwrap_or(-1);
            let acknowledged = Acknowledged {
                path: "/v1/certifications",
                token: association.token.clone(),
                body,
                position,
                citizen,
                venue: None,
            };
            model.certifications.insert(action_id, acknowledged);
        }
        Outcome::Refused { status, body } => {
            model.violations.unresolved += 1;
            model.violations.note(format!("certification {action_id} refused: {status} {body}"));
        }
        Outcome::Unresolved(last) => {
            model.violations.unresolved += 1;
            model.violations.note(format!("certification {action_id} has no definite answer: {last}"));
        }
    }
}

impl Model {
    fn note_retry(&mut self, retried: bool, status: StatusCode) {
        if retried {
            self.retried += 1;
            if status == StatusCode::OK {
                self.retried_replayed += 1;
            }
        }
    }
}

/// A voucher for `amount`, or `None` when the server refuses one (not enough tokens) or cannot be
/// reached before the clients are told to stop.
async fn voucher(shared: &Shared, http: &reqwest::Client, citizen: usize, amount: u64) -> Option<Result<String, u16>> {
    let token = &shared.territory.citizens[citizen].token;
    loop {
        let request = http.post(format!("{}/v1/me/vouchers", shared.base_url)).bearer_auth(token);
        match send(request.json(&json!({ "amount": amount }))).await {
            Ok((StatusCode::CREATED, body)) => return Some(Ok(body["voucher"].as_str()?.to_owned())),
            Ok((status, _)) if status.is_client_error() => return Some(Err(status.as_u16())),
            _ if shared.stop.load(Ordering::Relaxed) => return None,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn redemption(shared: &Shared, venue: usize, voucher: &str, amount: u64) -> (String, Value) {
    let partner = &shared.territory.venues[venue];
    let redemption_id = uuid::Uuid::new_v4().to_string();
    let body = json!({ "redemption_id": redemption_id, "venue_id": partner.id, "voucher": voucher, "amount": amount });
    (redemption_id, signed(SignedKind::Redemption, body, &partner.key))
}

async fn redeem(shared: &Shared, http: &reqwest::Client, citizen: usize, amount: u64, choices: &mut Choices) {
    let Some(Ok(voucher)) = voucher(shared, http, citizen, amount).await else { return };
    let venue = choices.next(shared.territory.venues.len() as u64) as usize;
    let (redemption_id, body) = redemption(shared, venue, &voucher, amount);
    let token = shared.territory.venues[venue].token.clone();
    let outcome = write(http, &shared.base_url, "/v1/redemptions", &token, &body).await;
    let mut model = shared.model.lock().expect("model");
    match outcome {
        Outcome::Acknowledged { status, body: answer, retried } => {
            if status == StatusCode::OK && !retried {
                model.violations.double_issues += 1;
                model.violations.note(format!("a new redemption {redemption_id} answered 200 (replayed)"));
            }
            model.note_retry(retried, status);
            model.balances[citizen] -= amount as i64;
            model.redeemed += amount;
            if model.balances[citizen] < 0 {
                model.violations.overdrafts += 1;
                model.violations.note(format!("redemption {redemption_id} of {amount} overdrew its wallet"));
            }
            let position = answer["position"].as_i64().unwrap_or(-1);
            let acknowledged =
                Acknowledged { path: "/v1/redemptions", token, body, position, citizen, venue: Some(venue) };
            model.redemptions.insert(redemption_id, acknowledged);
        }
        Outcome::Refused { status, body } => {
            model.violations.unresolved += 1;
            model.violations.note(format!("redemption {redemption_id} within the balance refused: {status} {body}"));
        }
        Outcome::Unresolved(last) => {
            model.violations.unresolved += 1;
            model.violations.note(format!("redemption {redemption_id} has no definite answer: {last}"));
        }
    }
}

/// Tries to spend more than the wallet holds: the voucher or the redemption must be refused.
async fn overdraft(shared: &Shared, http: &reqwest::Client, citizen: usize, balance: i64, choices: &mut Choices) {
    let amount = balance as u64 + 1 + choices.next(10);
    let voucher = match voucher(shared, http, citizen, amount).await {
        None => return,
        Some(Err(_)) => {
            shared.model.lock().expect("model").overdrafts_refused += 1;
            return;
        }
        Some(Ok(voucher)) => voucher,
    };
    let venue = choices.next(shared.territory.venues.len() as u64) as usize;
    let (redemption_id, body) = redemption(shared, venue, &voucher, amount);
    let outcome = write(http, &shared.base_url, "/v1/redemptions", &shared.territory.venues[venue].token, &body).await;
    let mut model = shared.model.lock().expect("model");
    match outcome {
        Outcome::Refused { status: StatusCode::CONFLICT, body } if body["code"] == "insufficient_balance" => {
            model.overdrafts_refused += 1;
        }
        Outcome::Acknowledged { .. } => {
            model.violations.overdrafts += 1;
            model.balances[citizen] -= amount as i64;
            model.redeemed += amount;
            model
                .violations
                .note(format!("redemption {redemption_id} of {amount} over a balance of {balance} accepted"));
        }
        Outcome::Refused { status, body } => {
            model.violations.unresolved += 1;
            model.violations.note(format!("overdraft {redemption_id}: {status} {body}, not 409 insufficient_balance"));
        }
        Outcome::Unresolved(last) => {
            model.violations.unresolved += 1;
            model.violations.note(format!("overdraft {redemption_id} has no definite answer: {last}"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checks after each fault

/// Compares the server with the model; adds what differs to the model's violations.
async fn check(server: &Server, shared: &Shared, choices: &mut Choices) {
    let territory = &shared.territory;
    let (certifications, redemptions, balances, issued, redeemed) = {
        let model = shared.model.lock().expect("model");
        (model.certifications.clone(), model.redemptions.clone(), model.balances.clone(), model.issued, model.redeemed)
    };
    let mut found = Violations::default();

    // Acknowledged writes sent again answer 200 with their original position: replayed, not issued twice.
    let mut replays: Vec<&Acknowledged> = Vec::new();
    for writes in [&certifications, &redemptions] {
        let all: Vec<&Acknowledged> = writes.values().collect();
        for _ in 0..REPLAYS_PER_FAULT.min(all.len()) {
            replays.push(all[choices.next(all.len() as u64) as usize]);
        }
    }
    for acknowledged in replays {
        match write(&server.client, &server.base_url, acknowledged.path, &acknowledged.token, &acknowledged.body).await
        {
            Outcome::Acknowledged { status: StatusCode::OK, body, .. }
                if body["position"].as_i64() == Some(acknowledged.position) => {}
            Outcome::Acknowledged { status, body, .. } => {
                found.double_issues += 1;
                found.note(format!(
                    "{} sent again answered {status} {body}, not 200 at position {}",
                    acknowledged.path, acknowledged.position
                ));
            }
            Outcome::Refused { status, body } => {
                found.double_issues += 1;
                found.note(format!("{} sent again answered {status} {body}", acknowledged.path));
            }
            Outcome::Unresolved(last) => {
                found.unresolved += 1;
                found.note(format!("{} sent again has no answer: {last}", acknowledged.path));
            }
        }
    }

    let status = admin_get(server, "/v1/status").await;
    let position = status["log_position"].as_i64().expect("log_position");

    // Every acknowledged certification is in its citizen's profile; every wallet holds what the model says.
    let mut expected_actions: Vec<Vec<&str>> = vec![Vec::new(); territory.citizens.len()];
    for (action_id, acknowledged) in &certifications {
        expected_actions[acknowledged.citizen].push(action_id);
    }
    for (index, citizen) in territory.citizens.iter().enumerate() {
        let profile = get_as(
            &server.client,
            &server.base_url,
            &format!("/v1/me/profile?min_position={position}"),
            &citizen.token,
        )
        .await;
        let recorded: std::collections::HashSet<&str> = profile["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .filter_map(|action| action["action_id"].as_str())
            .collect();
        for action_id in &expected_actions[index] {
            if !recorded.contains(action_id) {
                found.lost += 1;
                found.note(format!("acknowledged certification {action_id} is not in the citizen's profile"));
            }
        }
        if recorded.len() > expected_actions[index].len() {
            found.double_issues += 1;
            found.note(format!(
                "citizen {} has {} actions, {} acknowledged",
                citizen.id,
                recorded.len(),
                expected_actions[index].len()
            ));
        }
        let wallet =
            get_as(&server.client, &server.base_url, &format!("/v1/me/wallet?min_position={position}"), &citizen.token)
                .await;
        let balance = wallet["balance"].as_i64().expect("balance");
        match balance.cmp(&balances[index]) {
            std::cmp::Ordering::Equal => {}
            std::cmp::Ordering::Less => {
                found.lost += 1;
                found.note(format!("citizen {} holds {balance}, the model {}", citizen.id, balances[index]));
            }
            std::cmp::Ordering::Greater => {
                found.double_issues += 1;
                found.note(format!("citizen {} holds {balance}, the model {}", citizen.id, balances[index]));
            }
        }
        if balances[index] < 0 {
            found.overdrafts += 1;
            found.note(format!("citizen {} overdrawn: {}", citizen.id, balances[index]));
        }
    }

    // Every acknowledged redemption is in its venue's list.
    for (venue_index, venue) in territory.venues.iter().enumerate() {
        let list = admin_get(server, &format!("/v1/venues/{}/redemptions?min_position={position}", venue.id)).await;
        let recorded: std::collections::HashSet<&str> = list["redemptions"]
            .as_array()
            .expect("redemptions")
            .iter()
            .filter_map(|redemption| redemption["redemption_id"].as_str())
            .collect();
        for (redemption_id, acknowledged) in &redemptions {
            if acknowledged.venue == Some(venue_index) && !recorded.contains(redemption_id.as_str()) {
                found.lost += 1;
                found.note(format!("acknowledged redemption {redemption_id} is not in its venue's list"));
            }
        }
    }

    // Conservation, and the circulation the model expects.
    let circulation = admin_get(server, &format!("/v1/dashboards/circulation?min_position={position}")).await;
    let figure = |name: &str| circulation[name].as_u64().unwrap_or(u64::MAX);
    if figure("minted") != figure("treasury") + figure("envelopes") + figure("wallets") + figure("redeemed_unsettled") {
        found.conservation += 1;
        found.note(format!("conservation does not hold: {circulation}"));
    }
    let wallets: i64 = balances.iter().sum();
    let expected = [
        ("minted", MINTED),
        ("issued", issued),
        ("redeemed", redeemed),
        ("redeemed_unsettled", redeemed),
        ("wallets", wallets.max(0) as u64),
        ("envelopes", ENVELOPE * territory.associations.len() as u64 - issued),
    ];
    for (name, value) in expected {
        if figure(name) != value {
            found.conservation += 1;
            found.note(format!("circulation {name} is {}, the model says {value}: {circulation}", figure(name)));
        }
    }

    let (code, output) = server.audit_verify();
    if code != 0 {
        found.audit += 1;
        found.note(format!("ygor audit verify exited {code}: {}", output.trim()));
    }

    let mut model = shared.model.lock().expect("model");
    let violations = &mut model.violations;
    violations.lost += found.lost;
    violations.double_issues += found.double_issues;
    violations.overdrafts += found.overdrafts;
    violations.conservation += found.conservation;
    violations.audit += found.audit;
    violations.unresolved += found.unresolved;
    violations.messages.extend(found.messages);
}

// ---------------------------------------------------------------------------------------------
// One backend's run

struct Report {
    backend: Backend,
    faults: BTreeMap<FaultKind, usize>,
    acknowledged: usize,
    retried: u64,
    retried_replayed: u64,
    overdrafts_refused: u64,
    violations: Violations,
    restart_max: Duration,
    recovery_max: Duration,
    /// Events in the log at the end of the run.
    events: i64,
    seconds: f64,
}

async fn run(backend: Backend, options: &Options) -> Report {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(options.seconds);
    let server_errors_before = SERVER_ERRORS.load(Ordering::Relaxed);
    let cluster = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(Cluster::start()),
    };
    let mut server = Server::new(cluster.as_ref().map(|cluster| cluster.url.clone()));
    server.start().await;
    let territory = set_up(&server, options.citizens).await;
    let citizens = territory.citizens.len();
    let shared = Arc::new(Shared {
        base_url: server.base_url.clone(),
        territory,
        model: Mutex::new(Model { balances: vec![0; citizens], ..Model::default() }),
        stop: AtomicBool::new(false),
        seed: AtomicU64::new(0x5EED_0000 + backend as u64),
    });
    let mut choices = Choices(0xFA17_5EED);
    let mut faults: BTreeMap<FaultKind, usize> = BTreeMap::new();
    let (mut restart_max, mut recovery_max) = (Duration::ZERO, Duration::ZERO);
    let mut slow_restarts = 0;
    for number in 0..options.faults {
        if Instant::now() >= deadline {
            eprintln!("faults: {}: the time bound stops the run after {number} faults", backend.name());
            break;
        }
        shared.stop.store(false, Ordering::Relaxed);
        let clients: Vec<_> =
            (0..options.clients).map(|index| tokio::spawn(client(shared.clone(), index, options.clients))).collect();
        tokio::time::sleep(options.load_before).await;
        let kinds = fault_kinds(backend);
        let kind = kinds[number % kinds.len()];
        match kind {
            FaultKind::Kill => {
                server.kill();
                let took = server.start().await;
                restart_max = restart_max.max(took);
                if took > RESTART_MAX {
                    slow_restarts += 1;
                    eprintln!("faults: VIOLATION: restart took {took:?}");
                }
            }
            FaultKind::Pause => {
                server.pause();
                tokio::time::sleep(options.down_for).await;
                server.resume();
                let resumed = Instant::now();
                server.wait_ready(resumed, Duration::from_secs(30)).await;
                recovery_max = recovery_max.max(resumed.elapsed());
            }
            FaultKind::DatabaseCrash => {
                let cluster = cluster.as_ref().expect("a throwaway cluster");
                cluster.crash();
                tokio::time::sleep(options.down_for).await;
                cluster.restart();
                let restarted = Instant::now();
                server.wait_ready(restarted, Duration::from_secs(30)).await;
                recovery_max = recovery_max.max(restarted.elapsed());
            }
        }
        *faults.entry(kind).or_default() += 1;
        // Writes resume: the clients keep going for a while on the recovered server.
        tokio::time::sleep(options.load_before / 2).await;
        shared.stop.store(true, Ordering::Relaxed);
        for client in clients {
            client.await.expect("a client");
        }
        check(&server, &shared, &mut choices).await;
        let model = shared.model.lock().expect("model");
        eprintln!(
            "faults: {} fault {} ({}) done: {} acknowledged writes, {} violations, {:.0} s",
            backend.name(),
            number + 1,
            kind.name(),
            model.certifications.len() + model.redemptions.len(),
            model.violations.total(),
            started.elapsed().as_secs_f64()
        );
    }
    let events = admin_get(&server, "/v1/status").await["log_position"].as_i64().unwrap_or(-1);
    drop(server);
    drop(cluster);
    let model = std::mem::take(&mut *shared.model.lock().expect("model"));
    let mut violations = model.violations;
    violations.slow_restarts = slow_restarts;
    violations.server_errors = SERVER_ERRORS.load(Ordering::Relaxed) - server_errors_before;
    Report {
        backend,
        faults,
        acknowledged: model.certifications.len() + model.redemptions.len(),
        retried: model.retried,
        retried_replayed: model.retried_replayed,
        overdrafts_refused: model.overdrafts_refused,
        violations,
        restart_max,
        recovery_max,
        events,
        seconds: started.elapsed().as_secs_f64(),
    }
}

fn print_table(reports: &[Report]) {
    println!();
    println!(
        "| backend | faults (kill -9 / stop-cont / db crash) | acknowledged writes | retried after a fault (replayed) | overdrafts refused | lost | double issues | overdrafts | conservation failures | audit failures | 5xx other than 503 | unresolved writes | max restart (readyz) | restarts over 2 s | max recovery | events in the log | seconds |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for report in reports {
        let count = |kind: FaultKind| report.faults.get(&kind).copied().unwrap_or(0);
        let database = match report.backend {
            Backend::Sqlite => "–".to_owned(),
            Backend::Postgres => count(FaultKind::DatabaseCrash).to_string(),
        };
        let violations = &report.violations;
        println!(
            "| {} | {} ({} / {} / {}) | {} | {} ({}) | {} | {} | {} | {} | {} | {} | {} | {} | {} ms | {} | {} ms | {} | {:.0} |",
            report.backend.name(),
            report.faults.values().sum::<usize>(),
            count(FaultKind::Kill),
            count(FaultKind::Pause),
            database,
            report.acknowledged,
            report.retried,
            report.retried_replayed,
            report.overdrafts_refused,
            violations.lost,
            violations.double_issues,
            violations.overdrafts,
            violations.conservation,
            violations.audit,
            violations.server_errors,
            violations.unresolved,
            report.restart_max.as_millis(),
            violations.slow_restarts,
            report.recovery_max.as_millis(),
            report.events,
            report.seconds,
        );
    }
    for report in reports {
        for message in &report.violations.messages {
            println!("{}: {message}", report.backend.name());
        }
    }
}

async fn harness(options: Options) -> bool {
    println!(
        "fault harness: {} ({} build), {} faults per backend, {} clients, {} citizens, at most {:.0} s per backend",
        options.backends.iter().map(|backend| backend.name()).collect::<Vec<_>>().join(", "),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        options.faults,
        options.clients,
        options.citizens,
        options.seconds
    );
    let mut reports = Vec::new();
    for &backend in &options.backends {
        reports.push(run(backend, &options).await);
    }
    print_table(&reports);
    reports
        .iter()
        .all(|report| report.violations.total() == 0 && report.faults.values().sum::<usize>() == options.faults)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let options = parse_options();
    let testing = !std::env::args().any(|argument| argument == "--bench");
    // Ctrl-C drops the run: its servers are killed and its throwaway cluster removed.
    let passed = tokio::select! {
        passed = harness(options.clone()) => passed,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("faults: interrupted; cleaning up");
            false
        }
    };
    if !passed {
        eprintln!("faults: FAILED (see the table and the violations above)");
        std::process::exit(1);
    }
    if testing {
        println!("faults: short run passed");
    }
}
