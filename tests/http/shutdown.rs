//! The real `ygor serve` process, stopped as an operator stops it: SIGTERM lets the requests in
//! flight finish, flushes the writes, records a final checkpoint and exits 0; `kill -9` loses no
//! acknowledged write, and the next start records a checkpoint of what the log holds. Either way,
//! an event changed in the database afterwards is caught by `ygor audit verify`, however short the
//! server's life was.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{Backend, RULES};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_graceful_stop_finishes_requests_and_records_a_final_checkpoint() {
    a_graceful_stop_finishes_requests_and_records_a_final_checkpoint(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_graceful_stop_finishes_requests_and_records_a_final_checkpoint() {
    a_graceful_stop_finishes_requests_and_records_a_final_checkpoint(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_after_a_kill_the_next_start_checkpoints_what_the_log_holds() {
    after_a_kill_the_next_start_checkpoints_what_the_log_holds(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_after_a_kill_the_next_start_checkpoints_what_the_log_holds() {
    after_a_kill_the_next_start_checkpoints_what_the_log_holds(Backend::Postgres).await;
}

/// Storage for a server process: a data directory, and a fresh PostgreSQL database if asked.
struct Storage {
    data_dir: tempfile::TempDir,
    database_url: Option<String>,
}

impl Storage {
    async fn new(backend: Backend) -> Storage {
        let database_url = match backend {
            Backend::Postgres => Some(ygor_store::testing::fresh_postgres_url().await),
            _ => None,
        };
        Storage { data_dir: tempfile::tempdir().expect("a data directory"), database_url }
    }

    /// The storage arguments of a `ygor` command.
    fn arguments(&self) -> Vec<String> {
        let mut arguments = vec!["--data-dir".to_owned(), self.data_dir.path().display().to_string()];
        if let Some(url) = &self.database_url {
            arguments.extend(["--database-url".to_owned(), url.clone()]);
        }
        arguments
    }

    /// `ygor audit verify` on this storage: (exit code, standard output).
    fn verify(&self) -> (i32, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_ygor"))
            .args(["audit", "verify"])
            .args(self.arguments())
            .env_remove("DATABASE_URL")
            .output()
            .expect("run ygor audit verify");
        (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Changes the minted amount of the `SupplyMinted` event in the database, behind Ygor's back.
    async fn tamper_with_the_supply(&self) {
        use sqlx::Connection as _;
        let change = "replace(payload_text, '\"amount\":10000,', '\"amount\":910000,')";
        let touched = match &self.database_url {
            Some(url) => {
                let mut connection = sqlx::PgConnection::connect(url).await.expect("connects");
                let statement = format!(
                    "UPDATE events SET payload = ({})::json FROM (SELECT position AS at, payload::text AS payload_text FROM events) AS old \
                     WHERE position = old.at AND event_type = 'SupplyMinted' AND old.payload_text LIKE '%\"amount\":10000,%'",
                    change
                );
                sqlx::query(&statement).execute(&mut connection).await.expect("tampers").rows_affected()
            }
            None => {
                let path = self.data_dir.path().join("ygor.db");
                let mut connection =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.expect("connects");
                let statement = format!(
                    "UPDATE events SET payload = {} WHERE event_type = 'SupplyMinted' AND payload LIKE '%\"amount\":10000,%'",
                    change.replace("payload_text", "payload")
                );
                sqlx::query(&statement).execute(&mut connection).await.expect("tampers").rows_affected()
            }
        };
        assert_eq!(touched, 1, "the SupplyMinted event of 10,000 tokens changed");
    }
}

/// A `ygor serve` process on `storage`, listening on a free port of 127.0.0.1.
struct Server {
    child: Child,
    address: String,
    client: reqwest::Client,
    admin: String,
}

impl Server {
    async fn start(storage: &Storage, admin: &str) -> Server {
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("an address").port();
        let address = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_ygor"))
            .args(["serve", "--listen", &address, "--checkpoint-every", "1h"])
            .args(storage.arguments())
            .env_remove("DATABASE_URL")
            .env("YGOR_ADMIN_TOKEN", admin)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ygor serve starts");
        let server = Server {
            child,
            address: format!("http://{address}"),
            client: reqwest::Client::new(),
            admin: admin.to_owned(),
        };
        let started = Instant::now();
        while server.client.get(format!("{}/healthz", server.address)).send().await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "the server answers within 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    async fn send(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.address)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A short life: rules, 10,000 tokens, an association with an envelope, a citizen, one
    /// certification.
    async fn short_life(&self) {
        let rules = self
            .client
            .put(format!("{}/v1/rules", self.address))
            .bearer_auth(&self.admin)
            .header("content-type", "application/toml")
            .body(RULES)
            .send()
            .await
            .expect("rules");
        assert_eq!(rules.status(), StatusCode::OK);
        let (status, _) =
            self.send(reqwest::Method::POST, "/v1/supply", &self.admin, Some(json!({"amount": 10000}))).await;
        assert_eq!(status, StatusCode::OK);
        let key = ygor_crypto::SecretKey::generate();
        let partner =
            json!({"kind": "association", "name": "Les Amis du Parc", "public_key": key.public_key().to_string()});
        let (status, association) = self.send(reqwest::Method::POST, "/v1/partners", &self.admin, Some(partner)).await;
        assert_eq!(status, StatusCode::CREATED);
        let id = association["partner_id"].as_str().expect("an id").to_owned();
        let path = format!("/v1/partners/{id}/envelope");
        assert_eq!(
            self.send(reqwest::Method::POST, &path, &self.admin, Some(json!({"amount": 500}))).await.0,
            StatusCode::OK
        );
        let (status, citizen) = self.send(reqwest::Method::POST, "/v1/citizens", &self.admin, Some(json!({}))).await;
        assert_eq!(status, StatusCode::CREATED);
        let body = json!({
            "action_id": uuid::Uuid::new_v4().to_string(),
            "association_id": id,
            "citizen_id": citizen["citizen_id"],
            "category": "ecologie",
            "quantity": 1,
            "occurred_at": (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339(),
        });
        let Value::Object(object) = body else { unreachable!("an object") };
        let signed = ygor_crypto::sign_object(ygor_crypto::SignedKind::Certification, object, &key).expect("signs");
        let token = association["token"].as_str().expect("a token");
        let (status, _) =
            self.send(reqwest::Method::POST, "/v1/certifications", token, Some(Value::Object(signed))).await;
        assert_eq!(status, StatusCode::CREATED);
    }

    fn signal(&self, signal: &str) {
        let sent = Command::new("kill").args([signal, &self.child.id().to_string()]).status().expect("kill runs");
        assert!(sent.success(), "kill {signal}");
    }

    /// Waits for the process to end, at most `within`.
    fn wait(mut self, within: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("the process can be waited for") {
                return status;
            }
            if started.elapsed() > within {
                let _ = self.child.kill();
                panic!("the server did not stop within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The number of checkpoints `audit verify` checked, from its summary line.
fn checkpoints(output: &str) -> usize {
    let line = output.lines().find(|line| line.starts_with("ok:")).unwrap_or_else(|| panic!("no summary: {output}"));
    let before = line.split(" checkpoints verified").next().expect("a count");
    before.rsplit(' ').next().expect("a number").parse().expect("a number")
}

async fn a_graceful_stop_finishes_requests_and_records_a_final_checkpoint(backend: Backend) {
    let storage = Storage::new(backend).await;
    let admin = format!("admin-{}", uuid::Uuid::new_v4());
    let server = Server::start(&storage, &admin).await;
    server.short_life().await;
    // A write whose body is still arriving when the stop comes: in flight, it is finished.
    let mut in_flight =
        tokio::net::TcpStream::connect(server.address.trim_start_matches("http://")).await.expect("a connection");
    let body = br#"{"amount": 7}"#;
    let head = format!(
        "POST /v1/supply HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {admin}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    in_flight.write_all(head.as_bytes()).await.expect("headers sent");
    in_flight.write_all(&body[..5]).await.expect("half the body sent");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    server.signal("-TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server.client.get(format!("{}/healthz", server.address)).send().await.is_err(), "no new request is taken");
    in_flight.write_all(&body[5..]).await.expect("the rest of the body sent");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), in_flight.read_to_end(&mut answer))
        .await
        .expect("answered within the drain bound")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "the write in flight is finished: {answer}");
    let status = tokio::task::spawn_blocking(move || server.wait(Duration::from_secs(30))).await.expect("waited");
    assert!(status.success(), "a graceful stop exits 0: {status}");
    assert!(asked.elapsed() < Duration::from_secs(20), "within the drain bound");

    // The final checkpoint covers the short life: the log verifies, then a change does not.
    let (code, output) = storage.verify();
    assert_eq!(code, 0, "{output}");
    assert_eq!(checkpoints(&output), 1, "one checkpoint: the final one ({output})");
    storage.tamper_with_the_supply().await;
    let (code, output) = storage.verify();
    assert_eq!(code, 1, "a changed event is caught: {output}");
    assert!(output.contains("checkpoint"), "the checkpoint that no longer matches is named: {output}");
}

async fn after_a_kill_the_next_start_checkpoints_what_the_log_holds(backend: Backend) {
    let storage = Storage::new(backend).await;
    let admin = format!("admin-{}", uuid::Uuid::new_v4());
    let server = Server::start(&storage, &admin).await;
    server.short_life().await;
    server.signal("-KILL");
    let status = tokio::task::spawn_blocking(move || server.wait(Duration::from_secs(10))).await.expect("waited");
    assert!(!status.success());
    let (code, output) = storage.verify();
    assert_eq!((code, checkpoints(&output)), (0, 0), "killed before any checkpoint: {output}");

    // The next start checkpoints the log as it found it; killed again, nothing else is recorded.
    let server = Server::start(&storage, &admin).await;
    let started = Instant::now();
    loop {
        let (code, output) = storage.verify();
        assert_eq!(code, 0, "{output}");
        if checkpoints(&output) == 1 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "a checkpoint is recorded at start: {output}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.signal("-KILL");
    tokio::task::spawn_blocking(move || server.wait(Duration::from_secs(10))).await.expect("waited");
    storage.tamper_with_the_supply().await;
    let (code, output) = storage.verify();
    assert_eq!(code, 1, "a changed event is caught: {output}");
    assert!(output.contains("checkpoint"), "{output}");
}
