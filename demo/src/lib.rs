//! `ygor demo`: fills a fresh data directory with a sample territory that has lived for a year,
//! so that every dashboard, wallet, profile and statement has something true to show.
//!
//! The territory is the one of `shared/samples/territory.md`: a town of six neighbourhoods, the
//! associations and venues named there plus generated ones, their missions, and a few thousand
//! citizens. Nothing is written behind the engine's back: every rules version, mint, envelope,
//! registration, certification, redemption, settlement, expiry sweep and revocation goes through
//! the same [`Engine`](ygor_engine::Engine) commands as the HTTP API, with the decision time
//! of a simulated day of the past year. Certifications carry a real ed25519 signature by the
//! association's key; redemptions carry a voucher signed by the territory key and the venue's
//! signature; both are checked by the same function as at the HTTP edge, so the log cannot be told
//! from a real year's and the audit can re-verify all of it.
//!
//! The parts: `territory` is the sample town; `plan` decides the whole year before anything is
//! written; `simulation` carries it out day by day through the engine; `report` reads back what
//! was built and writes what `ygor demo` prints, in French and in English (`lang`).
//!
//! Reproducibility: who lives where, who does what, when and where, comes from seeded ChaCha8
//! streams (`random`), relative to the moment the simulated year ends: the last midnight (UTC)
//! before the run. The same seed on the same day gives the same territory and the same figures,
//! except the gold tokens, which the engine draws from the territory's secret seeds. Keys and
//! bearer tokens are fresh secrets on every run, as they must be.

mod lang;
mod plan;
mod random;
mod report;
mod simulation;
mod territory;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use ygor_api::AppState;
use ygor_api::setup::{self, Config, SetupError};
use ygor_engine::EngineError;
use ygor_ledger::Tokens;

use crate::lang::Lang;
use crate::plan::Plan;
pub use crate::report::{CitizenLogin, Login, Report, Summary};
use crate::simulation::{Context, Partner, caught_up, register_partners, simulate};
use crate::territory::{ASSOCIATIONS, VENUES};

/// The most citizens a demo builds.
pub const CITIZENS_MAX: usize = 100_000;

/// Where the demo writes the tokens it prints (mode 0600).
pub const TOKENS_FILE: &str = "demo-tokens.txt";

/// Where the demo writes the partners' key files, so that `ygor sign` can sign for them.
pub const KEYS_DIR: &str = "demo-keys";

/// The address `ygor serve` listens on by default, for the printed examples.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// What `ygor demo` is asked for: where to build, how many citizens, and the seed.
#[derive(Debug, Clone)]
pub struct Options {
    pub config: Config,
    pub citizens: usize,
    pub seed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    NotEmpty(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    #[error("storage: {0}")]
    Store(#[from] ygor_store::StoreError),
    #[error("cryptography: {0}")]
    Crypto(#[from] ygor_crypto::CryptoError),
    #[error("a signature the demo made was refused: {0}")]
    Signature(String),
    #[error("projections: {0}")]
    Projections(String),
    #[error("{0}")]
    Io(String),
}

/// A time as the API writes it: `2026-11-22T10:15:07Z`.
pub(crate) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Refuses a data directory (or database) that already holds a log.
async fn ensure_fresh(config: &Config) -> Result<(), DemoError> {
    let log = setup::open_log(config).await?;
    let events = log.last_position().await?;
    if events > 0 {
        let place = if config.database_url.as_deref().is_some_and(|url| url.starts_with("postgres")) {
            "the database".to_owned()
        } else {
            config.data_dir.display().to_string()
        };
        return Err(DemoError::NotEmpty(format!(
            "{place} already holds a Ygor log ({events} events): choose an empty directory \
             (le répertoire contient déjà un journal : choisissez un répertoire vide)"
        )));
    }
    Ok(())
}

fn write_private(path: &Path, content: &str) -> Result<(), DemoError> {
    use std::io::Write as _;
    let error = |error: std::io::Error| DemoError::Io(format!("cannot write {}: {error}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(error)?;
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).map_err(error)?;
    file.write_all(content.as_bytes()).map_err(error)?;
    file.sync_all().map_err(error)
}

fn tokens_file_text(report: &Report, context: &Context, plan: &Plan, tokens: &[String]) -> String {
    let mut text = format!(
        "# Ygor — jetons de la démo / demo tokens (graine / seed {}, {})\n# rôle / role\tid\tnom / name\tjeton / token\tclé / key\n",
        report.seed,
        rfc3339(report.end)
    );
    text.push_str(&format!("admin\tterritory\tCollectivité\t{}\n", report.admin_token));
    for (kind, partners) in [("association", &context.associations), ("venue", &context.venues)] {
        for partner in partners {
            text.push_str(&format!(
                "{kind}\t{}\t{}\t{}\t{}\n",
                partner.id,
                partner.name,
                partner.token,
                partner.key_file.display()
            ));
        }
    }
    for (citizen, token) in plan.citizens.iter().zip(tokens) {
        text.push_str(&format!("citizen\t{}\t{}, {} ans\t{token}\n", citizen.id, citizen.neighbourhood, citizen.age));
    }
    text
}

/// Builds the demo territory in the configured data directory and returns what to print. The
/// simulated year ends at the last midnight (UTC), so that runs on the same day agree.
pub async fn run(options: &Options) -> Result<Report, DemoError> {
    let now = Utc::now();
    let midnight = now.date_naive().and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
    run_until(options, midnight).await
}

/// [`run`], for a simulated year that ends at `now`.
async fn run_until(options: &Options, now: DateTime<Utc>) -> Result<Report, DemoError> {
    let started = Instant::now();
    if options.citizens == 0 || options.citizens > CITIZENS_MAX {
        return Err(DemoError::Invalid(format!("--citizens must be between 1 and {CITIZENS_MAX}")));
    }
    let config = &options.config;
    ensure_fresh(config).await?;
    let plan = plan::plan(options.seed, options.citizens, now)?;
    eprintln!(
        "[démo] Plan (graine {}) du {} au {} : {} habitants, {} associations, {} lieux, {} missions, {} actions, {} passages en lieux partenaires, {} révocations",
        options.seed,
        Lang::French.date(plan.start),
        Lang::French.date(plan.end),
        Lang::French.number(plan.citizens.len() as u64),
        ASSOCIATIONS.len(),
        VENUES.len(),
        plan.missions.len(),
        Lang::French.number(plan.certifications as u64),
        Lang::French.number(plan.redemption_attempts as u64),
        plan.revocations,
    );
    let service = setup::start(config).await?;
    let admin_token = match (&service.new_admin_token, &config.admin_token) {
        (Some(token), _) | (None, Some(token)) => token.clone(),
        (None, None) => {
            let path = config.data_dir.join(setup::ADMIN_TOKEN_FILE);
            std::fs::read_to_string(&path)
                .map_err(|error| DemoError::Io(format!("cannot read {}: {error}", path.display())))?
                .trim()
                .to_owned()
        }
    };
    let data_dir = std::fs::canonicalize(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
    let state = service.state.clone();
    let outcome = build(&state, plan, &data_dir, options, admin_token, started).await;
    match outcome {
        Err(DemoError::Projections(message)) if service.projection_task.is_finished() => {
            let stopped = service.projection_task.await;
            Err(DemoError::Projections(format!("{message}: the projections stopped: {stopped:?}")))
        }
        other => {
            service.projection_task.abort();
            other
        }
    }
}

async fn build(
    state: &AppState,
    plan: Plan,
    data_dir: &Path,
    options: &Options,
    admin_token: String,
    started: Instant,
) -> Result<Report, DemoError> {
    let engine = state.engine().clone();
    // The rules and a first supply come first, so that nothing happens under no rules.
    let first = &plan.rules[0];
    engine.publish_rules(first.rules.clone(), first.source.clone(), first.at).await?;
    let initial = (plan.citizens.len() as u64 * 40).div_ceil(10_000).max(1) * 10_000;
    engine.mint(Tokens::new(initial), plan.start + TimeDelta::minutes(10)).await?;
    eprintln!(
        "[démo] {} : règles v1 publiées, {} jetons émis",
        Lang::French.date(plan.start),
        Lang::French.number(initial)
    );
    let (associations, venues) = register_partners(&engine, &plan, &data_dir.join(KEYS_DIR)).await?;
    eprintln!(
        "[démo] {} associations et {} lieux partenaires inscrits, clés dans {}",
        associations.len(),
        venues.len(),
        data_dir.join(KEYS_DIR).display()
    );
    let offers =
        simulation::publish_offers(&engine, &venues, options.seed, plan.start + TimeDelta::minutes(20)).await?;
    eprintln!("[démo] {} offres publiées par les lieux partenaires", offers.iter().map(Vec::len).sum::<usize>());
    let tokens: Vec<String> = (0..plan.citizens.len()).map(|_| ygor_crypto::generate_token("ygor_cit_")).collect();
    let context = Arc::new(Context {
        engine,
        state: state.clone(),
        associations,
        venues,
        citizens: plan.citizens.iter().map(|citizen| citizen.id).collect(),
        offers,
        seed: options.seed,
    });
    let plan = simulate(context.clone(), plan, &tokens).await?;
    caught_up(state).await?;
    let (summary, picks) = state.projections().read(|models| report::read_back(models, &plan, &tokens));
    let login = |partner: &Partner| Login {
        name: partner.name.to_owned(),
        id: partner.id.to_string(),
        token: partner.token.clone(),
        key_file: partner.key_file.clone(),
    };
    let featured = |partners: &[Partner], names: [&str; 2]| -> Vec<Login> {
        names.iter().filter_map(|name| partners.iter().find(|partner| partner.name == *name)).map(login).collect()
    };
    let mut report = Report {
        data_dir: data_dir.to_path_buf(),
        postgres: options.config.database_url.as_deref().is_some_and(|url| url.starts_with("postgres")),
        seed: options.seed,
        start: plan.start,
        end: plan.end,
        admin_token,
        associations: featured(&context.associations, ["Les Amis des Berges", "Vélo en Ville"]),
        venues: featured(&context.venues, ["Piscine municipale", "Médiathèque"]),
        citizens: picks,
        summary,
        tokens_file: data_dir.join(TOKENS_FILE),
        elapsed: Duration::ZERO,
        example_action_id: uuid::Uuid::new_v4().to_string(),
    };
    write_private(&report.tokens_file, &tokens_file_text(&report, &context, &plan, &tokens))?;
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulation::ENVELOPE_RESERVE;
    use ygor_ledger::PartnerKind;
    use ygor_ledger::books::Account;
    use ygor_projections::participation::Dimension;

    const DIMENSIONS: [Dimension; 5] =
        [Dimension::Category, Dimension::Association, Dimension::Neighbourhood, Dimension::Month, Dimension::AgeBand];

    /// What a run built, less what depends on the gold tokens (the territory's secret seeds
    /// decide who wins them, and so who enters the draws) and on fresh secrets.
    fn without_gold(report: &Report) -> (Summary, Vec<CitizenLogin>, Vec<String>) {
        let mut summary = report.summary.clone();
        summary.events = 0;
        summary.circulation.gold_issued = 0;
        summary.circulation.gold_entered = 0;
        summary.circulation.gold_taken_back = 0;
        let citizens = report.citizens.iter().map(|citizen| CitizenLogin { token: String::new(), ..citizen.clone() });
        let partners = report.associations.iter().chain(&report.venues).map(|partner| partner.id.clone());
        (summary, citizens.collect(), partners.collect())
    }

    #[tokio::test]
    async fn the_same_seed_and_the_same_end_build_the_same_figures() {
        let now = Utc::now();
        let mut reports = Vec::new();
        for seed in [11, 11, 12] {
            let directory = ygor_store::testing::fresh_sqlite_dir();
            let options = Options { config: Config::new(directory.path().to_path_buf(), None), citizens: 200, seed };
            reports.push(run_until(&options, now).await.expect("the demo runs"));
        }
        assert_eq!(without_gold(&reports[0]), without_gold(&reports[1]));
        assert_ne!(without_gold(&reports[0]), without_gold(&reports[2]), "another seed, another territory");
        assert_ne!(reports[0].admin_token, reports[1].admin_token, "secrets are fresh on every run");
    }

    #[tokio::test]
    async fn the_demo_fills_every_read_model_and_keeps_the_books_balanced() {
        let directory = ygor_store::testing::fresh_sqlite_dir();
        let config = Config::new(directory.path().to_path_buf(), None);
        let options = Options { config: config.clone(), citizens: 60, seed: 3 };
        let report = run(&options).await.expect("the demo runs");
        assert!(report.admin_token.starts_with("ygor_admin_"));
        assert_eq!(report.associations.len(), 2);
        assert_eq!(report.venues.len(), 2);
        assert_eq!(report.citizens.len(), 3);
        let text = report.text();
        assert!(text.contains("Démo prête") && text.contains("Demo ready") && text.contains(&report.admin_token));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&report.tokens_file).expect("tokens file").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        // Read everything back from the log, as `ygor rebuild` does: conservation is checked at
        // every event on the way.
        let log = setup::open_log(&config).await.expect("open the log");
        let models = ygor_projections::rebuild(&log).await.expect("the log replays");
        models.books.check().expect("conservation holds");
        let circulation = models.circulation();
        assert_eq!(circulation, report.summary.circulation, "the live and rebuilt books agree");
        assert_eq!(
            circulation.minted.value(),
            circulation.treasury.value()
                + circulation.envelopes.value()
                + circulation.wallets.value()
                + circulation.redeemed_unsettled.value()
        );
        assert!(circulation.issued.value() > 0);
        assert!(circulation.redeemed.value() > 0);
        assert!(circulation.recovered.value() > 0, "venues were settled");
        assert!(circulation.expired.value() > 0, "tokens expired");
        let registry: Vec<_> = models.profiles.profiles.values().flat_map(|profile| &profile.actions).collect();
        assert!(registry.len() > 60, "a year of certifications: {}", registry.len());
        assert!(registry.iter().any(|action| action.revoked), "a few revocations");
        let redemptions: usize = models.venues.venues.values().map(|book| book.redemptions.len()).sum();
        let settlements: usize = models.venues.venues.values().map(|book| book.settlements.len()).sum();
        assert!(redemptions > 0 && settlements > 0, "{redemptions} redemptions, {settlements} settlements");
        // Every venue published its offers; every redemption was of one, some by countermark.
        let offers: usize = territory::VENUES.iter().map(|venue| venue.offers.len()).sum();
        assert_eq!(models.offers.offers.len(), offers);
        let books = || models.venues.venues.values().flat_map(|book| &book.redemptions);
        assert!(books().all(|redemption| redemption.offer_id.is_some()));
        let used: u64 = models.offers.offers.values().map(|offer| offer.total_uses).sum();
        assert_eq!(used, redemptions as u64);
        let reference = report.end;
        let (rows, _) = ygor_projections::offer_uses::rows(
            &models.venues,
            &models.offers,
            &models.wallets,
            ygor_projections::offer_uses::Grouping::Offer,
            None,
            None,
            reference,
        );
        assert_eq!(rows.len(), offers, "the dashboard has a row for each offer");
        // The rules say what a token is worth: every settlement recorded its euros.
        let settlements = || models.venues.venues.values().flat_map(|book| &book.settlements);
        assert!(settlements().all(|settlement| {
            settlement
                .value
                .is_some_and(|value| value.amount_cents == settlement.amount.value() * value.token_value_cents)
        }));
        assert!(report.summary.settled_cents > 0);
        assert!(models.profiles.profiles.values().any(|profile| !profile.badges.is_empty()), "a badge was awarded");
        assert!(models.missions.missions.len() >= 20, "missions: {}", models.missions.missions.len());
        assert!(models.missions.missions.values().any(|mission| mission.closed_at.is_some()));
        assert!(!models.missions.open_at(report.end).is_empty(), "some missions are still open");
        for dimension in DIMENSIONS {
            let rows = models.participation(dimension, None, None);
            assert!(!rows.is_empty(), "participation rows for {dimension:?}");
        }
        assert_eq!(models.participation(Dimension::Neighbourhood, None, None).len(), 6);
        let bands = models.participation(Dimension::AgeBand, None, None);
        assert!(bands.iter().all(|row| row.key != "0-14" && row.key != "inconnu"), "citizens are 15 to 85");
        let citizens = models.wallets.values().filter(|wallet| wallet.is_registered()).count();
        assert_eq!(citizens, 60);
        assert_eq!(models.draws.len(), 2, "the pool pass and the match seats");
        assert_eq!(models.draws.values().filter(|draw| draw.result().is_some()).count(), 1);
        // Every association can still certify after the demo, the printed example included.
        for (id, (kind, name)) in &models.partners {
            if *kind == PartnerKind::Association {
                let envelope = models.books.balance(Account::Envelope(*id)).value();
                assert!(envelope >= ENVELOPE_RESERVE, "{name} ends the year with {envelope} tokens in its envelope");
            }
        }

        // The whole log passes the audit: signatures, conservation, gold outcomes, draws.
        let territory_key = setup::territory_key(&config.data_dir).expect("territory key").public_key();
        let audit = ygor_projections::verify::verify(&log, &territory_key).await.expect("the audit runs");
        assert!(audit.violations.is_empty(), "{} violations", audit.violations.len());
        assert!(audit.signatures as usize > registry.len(), "certifications and redemptions are signed");
        drop(log);

        // A second demo into the same directory is refused.
        let error = run(&options).await.expect_err("a used directory is refused");
        assert!(error.to_string().contains("choose an empty directory"), "{error}");
    }
}
