//! Start-up: open and migrate storage, load or create the territory key and the admin token,
//! start the engine, its jobs and the projections. Serving is [`crate::server::serve_until`].

use std::path::{Path, PathBuf};

use ygor_crypto::SecretKey;
use ygor_store::{AppendBatch, EventLog, NewCredential};

use ygor_engine::{Engine, EngineOptions};

use crate::AppState;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Another process writes to this database (see `ygor_store::WriterLock`).
    #[error("{0}")]
    NotWriter(String),
    #[error("storage: {0}")]
    Store(#[from] ygor_store::StoreError),
    #[error("engine: {0}")]
    Engine(#[from] ygor_engine::EngineError),
    #[error("projections: {0}")]
    Projection(#[from] ygor_projections::ProjectionError),
    #[error("{0}")]
    Io(String),
    #[error("mail: {0}")]
    Mail(#[from] crate::web::mail::MailError),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub admin_token: Option<String>,
    /// Events between two snapshots of the read models.
    pub snapshot_every: usize,
    /// How often the engine's jobs record a checkpoint and sweep expired lots.
    pub schedule: ygor_engine::jobs::Schedule,
    /// The engine's cache budget and queue.
    pub engine: EngineOptions,
    /// Timeouts and the connection cap of whoever serves the app ([`crate::server::serve_until`]).
    pub server: crate::server::ServerLimits,
    /// Where the pages are served from, and how login links are sent.
    pub web: WebConfig,
}

/// `ygor serve --public-url --smtp-url --mail-from`.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// The start of links sent by email and printed on cards, e.g. `https://ygor.example.fr`.
    pub public_url: Option<String>,
    /// `smtp://host:port`: sends login links by email when set.
    pub smtp_url: Option<String>,
    /// The sender of those emails.
    pub mail_from: Option<String>,
}

/// The sender of login links when `--mail-from` is not given.
pub const DEFAULT_MAIL_FROM: &str = "Ygor <ne-pas-repondre@localhost>";

impl Config {
    /// The defaults of `ygor serve` for a data directory and an optional database URL.
    pub fn new(data_dir: PathBuf, database_url: Option<String>) -> Self {
        Config {
            data_dir,
            database_url,
            admin_token: None,
            snapshot_every: ygor_projections::RunnerOptions::default().snapshot_every,
            schedule: ygor_engine::jobs::Schedule::default(),
            engine: EngineOptions::default(),
            server: crate::server::ServerLimits::default(),
            web: WebConfig::default(),
        }
    }
}

/// The running pieces, before or after binding a port.
pub struct Service {
    pub state: AppState,
    /// Set when this start created the admin token: print it once.
    pub new_admin_token: Option<String>,
    pub projection_task: tokio::task::JoinHandle<Result<(), ygor_projections::ProjectionError>>,
    /// The engine's recurring jobs (gold schedule, checkpoints, expiry sweep).
    pub jobs: Vec<tokio::task::JoinHandle<()>>,
}

pub const TERRITORY_KEY_FILE: &str = "territory-key.json";
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Opens the event log named by the configuration and migrates it.
pub async fn open_log(config: &Config) -> Result<EventLog, SetupError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|error| {
        SetupError::Io(format!("cannot create the data directory {}: {error}", config.data_dir.display()))
    })?;
    let log = EventLog::open(config.database_url.as_deref(), &config.data_dir).await?;
    log.migrate().await?;
    Ok(log)
}

/// The territory's signing key (vouchers, checkpoints): created at first start, mode 0600.
pub fn territory_key(data_dir: &Path) -> Result<SecretKey, SetupError> {
    let path = data_dir.join(TERRITORY_KEY_FILE);
    if path.exists() {
        return ygor_crypto::read_key_file(&path).map_err(|error| SetupError::Io(error.to_string()));
    }
    let key = SecretKey::generate();
    ygor_crypto::write_key_file(&path, &key)
        .map_err(|error| SetupError::Io(format!("cannot write {}: {error}", path.display())))?;
    Ok(key)
}

/// Makes sure an admin token exists: `YGOR_ADMIN_TOKEN` if given, else the one created at first
/// start (written to the data directory, mode 0600). Returns a token created now, to print once.
async fn ensure_admin(log: &EventLog, config: &Config) -> Result<Option<String>, SetupError> {
    let (token, created) = match &config.admin_token {
        Some(token) => {
            if token.len() < 16 {
                return Err(SetupError::Io("YGOR_ADMIN_TOKEN must be at least 16 characters".to_owned()));
            }
            (token.clone(), false)
        }
        None => {
            let path = config.data_dir.join(ADMIN_TOKEN_FILE);
            match std::fs::read_to_string(&path) {
                Ok(text) => (text.trim().to_owned(), false),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    let token = ygor_crypto::generate_token("ygor_admin_");
                    write_private_file(&path, &format!("{token}\n"))?;
                    (token, true)
                }
                Err(error) => return Err(SetupError::Io(format!("cannot read {}: {error}", path.display()))),
            }
        }
    };
    let hash = ygor_crypto::hash_token(&token);
    if log.find_credential(&hash).await?.is_none() {
        let credential =
            NewCredential { token_hash: hash, role: "admin".to_owned(), subject_id: "territory".to_owned() };
        match log.append(&AppendBatch { credentials: vec![credential], ..AppendBatch::default() }).await {
            // Another replica starting at the same moment stored it first: it exists, as wanted.
            Ok(_) | Err(ygor_store::StoreError::DuplicateCredential) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(created.then_some(token))
}

fn write_private_file(path: &Path, content: &str) -> Result<(), SetupError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file =
        options.open(path).map_err(|error| SetupError::Io(format!("cannot create {}: {error}", path.display())))?;
    file.write_all(content.as_bytes())
        .map_err(|error| SetupError::Io(format!("cannot write {}: {error}", path.display())))?;
    file.sync_all().map_err(|error| SetupError::Io(format!("cannot sync {}: {error}", path.display())))
}

/// Opens everything and starts the projections; does not bind a port.
pub async fn start(config: &Config) -> Result<Service, SetupError> {
    let log = open_log(config).await?;
    // Before anything is written: one writer per database.
    let writer = log.lock_writer().await.map_err(|error| match error {
        ygor_store::StoreError::NotWriter(holder) => SetupError::NotWriter(holder),
        other => SetupError::Store(other),
    })?;
    let key = territory_key(&config.data_dir)?;
    let new_admin_token = ensure_admin(&log, config).await?;
    let engine = Engine::open_with(log.clone(), ygor_engine::Seeds::new(key.clone()), config.engine).await?;
    engine.guard_writes(writer);
    let options = ygor_projections::RunnerOptions { snapshot_every: config.snapshot_every, ..Default::default() };
    let (projections, projection_task) =
        ygor_projections::start(log, engine.committed(), Some(engine.committed_events()), options).await?;
    let jobs = ygor_engine::jobs::spawn(engine.clone(), projections.clone(), key.clone(), config.schedule);
    let mailer = match &config.web.smtp_url {
        Some(url) => {
            Some(crate::web::mail::Mailer::new(url, config.web.mail_from.as_deref().unwrap_or(DEFAULT_MAIL_FROM))?)
        }
        None => None,
    };
    let web = crate::web::WebOptions { public_url: config.web.public_url.clone(), mailer };
    let state = AppState::new(engine, projections, key, web);
    Ok(Service { state, new_admin_token, projection_task, jobs })
}

/// How long a graceful shutdown waits for the committer to answer the writes still queued.
const FLUSH: std::time::Duration = std::time::Duration::from_secs(10);

/// The end of a graceful shutdown, once the HTTP server takes no more requests: stops the jobs,
/// waits for the writes still queued, and records the final checkpoint.
pub async fn finish(state: &AppState, jobs: Vec<tokio::task::JoinHandle<()>>) {
    for job in &jobs {
        job.abort();
    }
    for job in jobs {
        let _ = job.await;
    }
    ygor_engine::jobs::finish(state.engine(), state.projections(), state.territory_key(), FLUSH).await;
    state.engine().release_writer().await;
}
