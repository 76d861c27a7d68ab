//! `ygor`: the service (`serve`), its storage maintenance (`migrate`, `rebuild`) and the partner
//! tooling (`keys generate`, `sign`). The library crates do the work; this file parses arguments.

/// mimalloc instead of glibc malloc: the server, the replay and the benchmarks allocate many small,
/// short-lived objects per request and per event, where glibc's allocator costs up to half the CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use ygor_api::server::{ServerLimits, serve_until};
use ygor_api::setup::{self, Config};
use ygor_crypto::SignedKind;

#[derive(Parser)]
#[command(name = "ygor", version, about = "Registre de jetons citoyens — event-sourced citizen token ledger")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Storage {
    /// Directory for the SQLite file, the territory key and the admin token.
    #[arg(long, env = "YGOR_DATA_DIR", default_value = "./ygor-data")]
    data_dir: PathBuf,
    /// `postgres://…` selects PostgreSQL; without it, SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
}

/// How the pages build links and send login links.
#[derive(Args, Clone)]
struct Web {
    /// The address citizens reach this server at, e.g. `https://ygor.example.fr`: the start of the
    /// login links sent by email and printed on cards (cookies are `Secure` when it is https).
    /// Without it, links start with the `Host` a request came to.
    #[arg(long, env = "YGOR_PUBLIC_URL")]
    public_url: Option<String>,
    /// `smtp://host:port` (plain, to a relay), `smtp://host?tls=required` (STARTTLS) or
    /// `smtps://user:password@host` (TLS): sends login links by email from `/connexion`.
    #[arg(long, env = "YGOR_SMTP_URL")]
    smtp_url: Option<String>,
    /// The sender of those emails.
    #[arg(long, env = "YGOR_MAIL_FROM", default_value = setup::DEFAULT_MAIL_FROM)]
    mail_from: String,
}

impl Storage {
    fn config(&self) -> Config {
        Config {
            admin_token: std::env::var("YGOR_ADMIN_TOKEN").ok().filter(|token| !token.is_empty()),
            ..Config::new(self.data_dir.clone(), self.database_url.clone())
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Runs the HTTP service.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "YGOR_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Memory for the aggregates kept between commands, in MiB (an estimate): past it, the
        /// least recently used idle ones are dropped and loaded again from the log when needed.
        #[arg(long, env = "YGOR_CACHE_MB", default_value_t = (ygor_engine::DEFAULT_CACHE_BUDGET >> 20) as u64,
              value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
        cache_mb: u64,
        /// How often expired lots are swept back to the treasury (e.g. `1h`, `15m`, `30s`);
        /// `POST /v1/expiry/sweep` sweeps at once.
        #[arg(long, env = "YGOR_EXPIRY_EVERY", default_value = "1h", value_parser = interval)]
        expiry_every: std::time::Duration,
        /// How often a signed checkpoint of the log is recorded when it grew (also at start and at
        /// a graceful shutdown).
        #[arg(long, env = "YGOR_CHECKPOINT_EVERY", default_value = "10s", value_parser = interval)]
        checkpoint_every: std::time::Duration,
        /// Connections served at once; more wait in the accept backlog until one closes.
        #[arg(long, env = "YGOR_MAX_CONNECTIONS", default_value_t = 10_000,
              value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        max_connections: u32,
        #[command(flatten)]
        storage: Storage,
        #[command(flatten)]
        web: Web,
    },
    /// Runs the database migrations and exits.
    Migrate {
        #[command(flatten)]
        storage: Storage,
    },
    /// Drops the read-model snapshot and replays the whole log, checking conservation at every
    /// event; writes a fresh snapshot.
    Rebuild {
        #[command(flatten)]
        storage: Storage,
    },
    /// Fills a fresh data directory with a sample territory that lived for a year (thousands of
    /// citizens, dozens of associations and venues) and prints tokens to log in as each kind of user.
    Demo {
        #[command(flatten)]
        storage: Storage,
        /// How many citizens live in the territory.
        #[arg(long, default_value_t = 3000)]
        citizens: usize,
        /// Seed of the simulation: the same seed (in the same month) builds the same territory.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Audit of the log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Partner keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Signs a JSON object read from standard input and prints it with its `signature`.
    Sign {
        kind: SignKind,
        /// Key file written by `ygor keys generate`.
        #[arg(long)]
        key: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Writes a new ed25519 key pair to FILE (mode 0600) and prints the public key to register.
    Generate {
        #[arg(long, default_value = "ygor-key.json")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Replays the whole log and checks conservation, every signature, the rules, and every
    /// recorded checkpoint's Merkle root. Exit 0 when all holds; otherwise 1, one line per
    /// violation naming its position.
    Verify {
        #[command(flatten)]
        storage: Storage,
    },
    /// Recomputes a closed draw from the log (seed against its commitment, entries_root, winners)
    /// and prints it; exit 1 if the recorded result differs.
    Draw {
        draw_id: String,
        #[command(flatten)]
        storage: Storage,
    },
}

/// Resolves at the first SIGTERM or SIGINT (Ctrl-C).
async fn stop_asked() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = terminate => tracing::info!("SIGTERM: stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
    }
}

/// A duration of at least a second and at most a week, such as `1h`, `15m` or `90s`.
fn interval(text: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|error| format!("{error}; write it like 1h, 15m or 90s"))?;
    if duration < std::time::Duration::from_secs(1) || duration > std::time::Duration::from_secs(7 * 24 * 3600) {
        return Err("must be between 1s and 7 days".to_owned());
    }
    Ok(duration)
}

#[derive(Clone, Copy, ValueEnum)]
enum SignKind {
    Certification,
    Redemption,
}

/// `mi_option_purge_delay` in mimalloc 3's `mimalloc.h` (the 16th option; the Rust bindings name
/// only the options whose number did not change between versions).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// mimalloc's default purge delay: a freed page is given back to the system a second later, and
/// only when its thread next allocates, so pages freed by a thread that then idles (a replay's
/// decoder, the thread that wrote a snapshot) stay resident: a server started on a million-event
/// log would keep 60–70 MB more than its read models need. For the server, whose memory is what
/// counts, purging at once costs no measurable throughput; batch
/// commands (`rebuild`, `audit verify`) keep the default, as purging at once slows a replay by a
/// sixth (each page the replay frees is zeroed again when it is reused). A
/// `MIMALLOC_PURGE_DELAY` in the environment still wins.
fn return_freed_memory_at_once() {
    // SAFETY: `mi_option_get` and `mi_option_set` only read and write mimalloc's table of
    // options, for any option number below its last; the check that the option holds its
    // default (1000 ms in mimalloc 3's options.c) keeps us from changing another option if the
    // numbering differs.
    unsafe {
        if libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) == 1000 {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        }
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Keys { command: KeysCommand::Generate { out } } => {
            let key = ygor_crypto::SecretKey::generate();
            ygor_crypto::write_key_file(&out, &key).with_context(|| format!("cannot write {}", out.display()))?;
            println!("{}", key.public_key());
            eprintln!(
                "Clé écrite dans {} — key written to {}; register the public key above.",
                out.display(),
                out.display()
            );
            Ok(())
        }
        Command::Sign { kind, key } => {
            let key = ygor_crypto::read_key_file(&key)?;
            let mut input = String::new();
            std::io::stdin()
                .take(ygor_crypto::MAX_DOCUMENT_BYTES as u64 + 1)
                .read_to_string(&mut input)
                .context("cannot read standard input")?;
            let kind = match kind {
                SignKind::Certification => SignedKind::Certification,
                SignKind::Redemption => SignedKind::Redemption,
            };
            println!("{}", ygor_crypto::sign_document(kind, &input, &key)?);
            Ok(())
        }
        other => tokio::runtime::Runtime::new()?.block_on(run(other)),
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { listen, cache_mb, expiry_every, checkpoint_every, max_connections, storage, web } => {
            return_freed_memory_at_once();
            let cache_budget = usize::try_from(cache_mb << 20).context("--cache-mb is too large for this machine")?;
            let defaults = storage.config();
            let config = Config {
                engine: ygor_engine::EngineOptions { cache_budget, ..defaults.engine },
                schedule: ygor_engine::jobs::Schedule { expiry_every, checkpoint_every },
                server: ServerLimits {
                    max_connections: usize::try_from(max_connections).context("--max-connections is too large")?,
                    ..defaults.server
                },
                web: setup::WebConfig {
                    public_url: web.public_url,
                    smtp_url: web.smtp_url,
                    mail_from: Some(web.mail_from),
                },
                ..defaults
            };
            let service = setup::start(&config).await?;
            if let Some(token) = &service.new_admin_token {
                println!("Jeton administrateur (affiché une seule fois) / admin token (shown once): {token}");
                println!("It is also in {}", config.data_dir.join(setup::ADMIN_TOKEN_FILE).display());
            }
            let listener =
                tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
            tracing::info!(address = %listener.local_addr()?, "ygor is serving");
            let setup::Service { state, projection_task, jobs, .. } = service;
            tokio::select! {
                // A stop takes no new connection and lets the requests in flight finish, at most
                // `drain` (10 s).
                () = serve_until(listener, ygor_api::app(state.clone()), config.server, stop_asked()) => {}
                stopped = projection_task => {
                    anyhow::bail!("the projections stopped: {stopped:?}");
                }
            }
            setup::finish(&state, jobs).await;
            tracing::info!("ygor stopped");
            Ok(())
        }
        Command::Audit { command: AuditCommand::Verify { storage } } => {
            let config = storage.config();
            let key_file = config.data_dir.join(setup::TERRITORY_KEY_FILE);
            anyhow::ensure!(
                key_file.exists(),
                "{} not found: give the --data-dir of the server, whose territory key signed the vouchers and checkpoints",
                key_file.display()
            );
            let log = setup::open_log(&config).await?;
            let key = setup::territory_key(&config.data_dir)?.public_key();
            let report = ygor_projections::verify::verify(&log, &key).await?;
            for violation in &report.violations {
                println!("{violation}");
            }
            if report.violations.is_empty() {
                println!(
                    "ok: {} events, {} signatures, {} checkpoints verified; conservation holds at every position",
                    report.events, report.signatures, report.checkpoints
                );
                Ok(())
            } else {
                eprintln!("{} violation(s) found", report.violations.len());
                std::process::exit(1);
            }
        }
        Command::Audit { command: AuditCommand::Draw { draw_id, storage } } => {
            let log = setup::open_log(&storage.config()).await?;
            let id = ygor_ledger::DrawId::parse(&draw_id).map_err(|error| anyhow::anyhow!("{error}"))?;
            let report = ygor_projections::verify::recompute_draw(&log, id).await?;
            println!("{}", serde_json::to_string_pretty(&report.summary)?);
            if report.problems.is_empty() {
                Ok(())
            } else {
                for problem in &report.problems {
                    eprintln!("{problem}");
                }
                std::process::exit(1);
            }
        }
        Command::Migrate { storage } => {
            setup::open_log(&storage.config()).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Rebuild { storage } => {
            let log = setup::open_log(&storage.config()).await?;
            let started = std::time::Instant::now();
            log.delete_snapshots().await?;
            let models = ygor_projections::rebuild(&log).await?;
            let replayed = started.elapsed().as_secs_f64();
            let models = ygor_projections::save_snapshot(&log, models).await?;
            let events = models.audit.size();
            println!(
                "replayed {events} events up to position {} in {replayed:.3} s ({:.0} events/s), snapshot written in {:.3} s; circulation: {}",
                models.position,
                events as f64 / replayed.max(f64::MIN_POSITIVE),
                started.elapsed().as_secs_f64() - replayed,
                serde_json::to_string(&models.circulation())?
            );
            Ok(())
        }
        Command::Demo { storage, citizens, seed } => {
            let options = ygor_demo::Options { config: storage.config(), citizens, seed };
            let report = ygor_demo::run(&options).await?;
            print!("{}", report.text());
            Ok(())
        }
        Command::Keys { .. } | Command::Sign { .. } => unreachable!("handled without a runtime"),
    }
}
