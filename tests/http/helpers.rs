//! `spawn_app()`: a real server on a random port over a fresh database (a SQLite file in a temp
//! directory, or a new PostgreSQL database), and typed helpers that speak to it over real HTTP
//! with real signatures.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use ygor_api::setup::{self, Config};
use ygor_crypto::{SecretKey, SignedKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// SQLite, on a server whose aggregate cache has a budget of one byte: every aggregate no
    /// command holds is dropped at once and loaded again from the log by the next command.
    SqliteUncached,
    /// SQLite, on a server whose cache keeps every aggregate but makes each idle wallet forget
    /// its history at every look-up: every revocation, redemption and sweep reads it back.
    SqliteForgetting,
}

pub const RULES: &str = r#"
[tokens]
lifetime = "P6M"

[[categories]]
id = "ecologie"
label = "Écologie"
tokens_per_action = 10
cap_per_citizen_per_month = 100

[[categories]]
id = "velo"
label = "Vélo (par km)"
tokens_per_action = 0
tokens_per_unit = 1
cap_per_citizen_per_month = 30

[[categories]]
id = "culture"
label = "Culture"
tokens_per_action = 8
"#;

/// [`RULES`] with a `backdate_max` of its own, for tests that certify actions of past months.
pub fn rules_with_backdate_max(backdate_max: &str) -> String {
    RULES.replace("lifetime = \"P6M\"", &format!("lifetime = \"P6M\"\nbackdate_max = \"{backdate_max}\""))
}

pub struct TestApp {
    pub address: String,
    pub admin_token: String,
    pub client: reqwest::Client,
    pub config: Config,
    /// The server's state, to compare live read models with a rebuild.
    pub state: ygor_api::AppState,
    server: tokio::task::JoinHandle<()>,
    jobs: Vec<tokio::task::JoinHandle<()>>,
    _data_dir: Option<tempfile::TempDir>,
}

pub struct Partner {
    pub id: String,
    pub token: String,
    pub key: SecretKey,
}

pub struct Citizen {
    pub id: String,
    pub token: String,
}

/// The answer to a request: status and JSON body (problem+json for errors).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub content_type: String,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.body);
        self.body
    }

    #[track_caller]
    pub fn expect_problem(self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "unexpected answer: {}", self.body);
        assert_eq!(self.code(), code, "unexpected code: {}", self.body);
        assert!(self.content_type.starts_with("application/problem+json"), "errors are problem+json");
        assert!(
            self.body["detail"].as_str().is_some_and(|detail| !detail.is_empty()),
            "a problem says what went wrong"
        );
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// [`spawn_app`] with the configuration changed by `adjust` before the server starts.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let database_url = match backend {
        Backend::Sqlite | Backend::SqliteUncached | Backend::SqliteForgetting => None,
        Backend::Postgres => Some(ygor_store::testing::fresh_postgres_url().await),
    };
    let defaults = Config::new(data_dir.path().to_path_buf(), database_url);
    let config = Config {
        admin_token: Some(format!("admin-{}", uuid::Uuid::new_v4())),
        // Small, so that the tests write and reload snapshots.
        snapshot_every: 25,
        engine: ygor_engine::EngineOptions {
            cache_budget: if matches!(backend, Backend::SqliteUncached | Backend::SqliteForgetting) {
                1
            } else {
                defaults.engine.cache_budget
            },
            keep_aggregates: backend == Backend::SqliteForgetting,
            ..defaults.engine
        },
        ..defaults
    };
    let mut config = config;
    adjust(&mut config);
    let mut app = start_on(config).await;
    app._data_dir = Some(data_dir);
    app
}

/// Starts a server on an existing configuration (used to restart on the same data).
pub async fn start_on(config: Config) -> TestApp {
    let service = setup::start(&config).await.expect("the service starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    let state = service.state.clone();
    let jobs = service.jobs;
    let serving = service.state;
    let limits = config.server;
    let server =
        tokio::spawn(ygor_api::server::serve_until(listener, ygor_api::app(serving), limits, std::future::pending()));
    TestApp {
        address,
        admin_token: config.admin_token.clone().expect("tests set the admin token"),
        client: reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client"),
        config,
        state,
        server,
        jobs,
        _data_dir: None,
    }
}

impl TestApp {
    /// Runs the real `ygor audit verify` on the app's storage: (exit code, standard output).
    pub fn audit_verify(&self) -> (i32, String) {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ygor"));
        command.args(["audit", "verify", "--data-dir"]).arg(&self.config.data_dir);
        if let Some(url) = &self.config.database_url {
            command.args(["--database-url", url]);
        }
        let output = command.env_remove("DATABASE_URL").output().expect("run ygor audit verify");
        (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Stops serving and gives the database's writer lock up, as a stopped process would (the
    /// database and data directory stay).
    pub async fn stop(&self) {
        self.server.abort();
        for job in &self.jobs {
            job.abort();
        }
        self.state.engine().release_writer().await;
    }

    pub fn keep_data_dir(&mut self) -> Option<tempfile::TempDir> {
        self._data_dir.take()
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut request = self.client.request(method, format!("{}{}", self.address, path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        Self::answer(response).await
    }

    pub async fn answer(response: reqwest::Response) -> Answer {
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, body, content_type }
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.send(reqwest::Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(reqwest::Method::GET, path, Some(token), None).await
    }

    pub async fn put_rules(&self, rules: &str) -> Answer {
        let response = self
            .client
            .put(format!("{}/v1/rules", self.address))
            .bearer_auth(&self.admin_token)
            .header("content-type", "application/toml")
            .body(rules.to_owned())
            .send()
            .await
            .expect("the server answers");
        Self::answer(response).await
    }

    pub async fn mint(&self, amount: u64) -> Answer {
        self.post("/v1/supply", &self.admin_token, json!({ "amount": amount })).await
    }

    pub async fn register_partner(&self, kind: &str) -> Partner {
        let key = SecretKey::generate();
        let body =
            json!({ "kind": kind, "name": format!("{kind} de test"), "public_key": key.public_key().to_string() });
        let answer = self.post("/v1/partners", &self.admin_token, body).await.expect(StatusCode::CREATED);
        Partner {
            id: answer["partner_id"].as_str().expect("partner_id").to_owned(),
            token: answer["token"].as_str().expect("token").to_owned(),
            key,
        }
    }

    pub async fn register_citizen(&self) -> Citizen {
        let body = json!({ "neighbourhood": "Plaisance", "birth_year": 1990, "interests": ["ecologie"] });
        let answer = self.post("/v1/citizens", &self.admin_token, body).await.expect(StatusCode::CREATED);
        Citizen {
            id: answer["citizen_id"].as_str().expect("citizen_id").to_owned(),
            token: answer["token"].as_str().expect("token").to_owned(),
        }
    }

    pub async fn allocate(&self, partner: &Partner, amount: u64) -> Answer {
        self.post(&format!("/v1/partners/{}/envelope", partner.id), &self.admin_token, json!({ "amount": amount }))
            .await
    }

    /// Rules, 1,000,000 minted, one association with `envelope` tokens, one venue, one citizen.
    pub async fn territory(&self, envelope: u64) -> (Partner, Partner, Citizen) {
        self.put_rules(RULES).await.expect(StatusCode::OK);
        self.mint(1_000_000).await.expect(StatusCode::OK);
        let association = self.register_partner("association").await;
        let venue = self.register_partner("venue").await;
        let citizen = self.register_citizen().await;
        self.allocate(&association, envelope).await.expect(StatusCode::OK);
        (association, venue, citizen)
    }

    pub fn certification(association: &Partner, citizen: &Citizen, category: &str, quantity: u64) -> Value {
        json!({
            "action_id": uuid::Uuid::new_v4().to_string(),
            "association_id": association.id,
            "citizen_id": citizen.id,
            "category": category,
            "quantity": quantity,
            "occurred_at": (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339(),
        })
    }

    pub fn sign(kind: SignedKind, body: Value, key: &SecretKey) -> Value {
        let Value::Object(object) = body else { panic!("sign an object") };
        Value::Object(ygor_crypto::sign_object(kind, object, key).expect("sign"))
    }

    pub async fn certify_body(&self, association: &Partner, body: Value) -> Answer {
        let signed = Self::sign(SignedKind::Certification, body, &association.key);
        self.post("/v1/certifications", &association.token, signed).await
    }

    pub async fn certify(&self, association: &Partner, citizen: &Citizen, category: &str, quantity: u64) -> Answer {
        self.certify_body(association, Self::certification(association, citizen, category, quantity)).await
    }

    pub async fn voucher(&self, citizen: &Citizen, amount: u64) -> String {
        let answer =
            self.post("/v1/me/vouchers", &citizen.token, json!({ "amount": amount })).await.expect(StatusCode::CREATED);
        answer["voucher"].as_str().expect("voucher").to_owned()
    }

    pub fn redemption(venue: &Partner, voucher: &str, amount: u64) -> Value {
        json!({
            "redemption_id": uuid::Uuid::new_v4().to_string(),
            "venue_id": venue.id,
            "voucher": voucher,
            "amount": amount,
        })
    }

    pub async fn redeem_body(&self, venue: &Partner, body: Value) -> Answer {
        let signed = Self::sign(SignedKind::Redemption, body, &venue.key);
        self.post("/v1/redemptions", &venue.token, signed).await
    }

    pub async fn redeem(&self, venue: &Partner, citizen: &Citizen, amount: u64) -> Answer {
        let voucher = self.voucher(citizen, amount).await;
        self.redeem_body(venue, Self::redemption(venue, &voucher, amount)).await
    }

    /// The latest committed position: reads at it see every write made so far.
    /// The citizen's balance once the read models include every write so far.
    pub async fn balance(&self, citizen: &Citizen) -> u64 {
        let latest = self.latest().await;
        self.wallet(citizen, latest).await["balance"].as_u64().expect("balance")
    }

    /// The citizen's code, as they read it in their profile.
    pub async fn citizen_code(&self, citizen: &Citizen) -> String {
        let position = self.latest().await;
        let profile =
            self.get(&format!("/v1/me/profile?min_position={position}"), &citizen.token).await.expect(StatusCode::OK);
        profile["citizen_code"].as_str().expect("a citizen code").to_owned()
    }

    pub async fn latest(&self) -> i64 {
        let status = self.get("/v1/status", &self.admin_token).await.expect(StatusCode::OK);
        status["log_position"].as_i64().expect("log_position")
    }

    pub async fn wallet(&self, citizen: &Citizen, min_position: i64) -> Value {
        self.get(&format!("/v1/me/wallet?min_position={min_position}"), &citizen.token).await.expect(StatusCode::OK)
    }

    pub async fn circulation(&self, min_position: i64) -> Value {
        let body = self
            .get(&format!("/v1/dashboards/circulation?min_position={min_position}"), &self.admin_token)
            .await
            .expect(StatusCode::OK);
        let field = |name: &str| body[name].as_u64().unwrap_or_else(|| panic!("{name} in {body}"));
        assert_eq!(
            field("minted"),
            field("treasury") + field("envelopes") + field("wallets") + field("redeemed_unsettled"),
            "conservation: {body}"
        );
        body
    }

    /// A figure of `/metrics` (the first sample of that name).
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.client.get(format!("{}/metrics", self.address)).send().await.expect("metrics");
        let text = text.text().await.expect("text");
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    }

    /// The territory's own key, read from the data directory, to forge test vouchers.
    pub fn territory_key(&self) -> SecretKey {
        ygor_crypto::read_key_file(&self.config.data_dir.join(setup::TERRITORY_KEY_FILE)).expect("territory key")
    }
}

/// Declares each listed case once per backend: `sqlite::case` and `postgres::case`, and once more
/// on SQLite with no aggregate cache, `sqlite_uncached::case`, and once with wallets that forget
/// their history whenever they are idle, `sqlite_forgetting::case`.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::helpers::Backend::Postgres).await;
                }
            )*
        }
        mod sqlite_uncached {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::helpers::Backend::SqliteUncached).await;
                }
            )*
        }
        mod sqlite_forgetting {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::helpers::Backend::SqliteForgetting).await;
                }
            )*
        }
    };
}
