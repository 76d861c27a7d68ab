//! `ygor demo`: fills a fresh data directory with a sample territory that has lived for a year,
//! so that every dashboard, wallet, profile and statement has something true to show.
//!
//! The territory is the one of `shared/samples/territory.md`: a town of six neighbourhoods, the
//! associations and venues named there plus generated ones, their missions, and a few thousand
//! citizens. Nothing is written behind the engine's back: every rules version, mint, envelope,
//! registration, certification, redemption, settlement, expiry sweep and revocation goes through
//! the same [`Engine`] commands as the HTTP API, with the decision time of a simulated day of the
//! past year. Certifications carry a real ed25519 signature by the association's key; redemptions
//! carry a voucher signed by the territory key and the venue's signature; both are checked by the
//! same function as at the HTTP edge, so the log cannot be told from a real year's and the audit
//! can re-verify all of it.
//!
//! The simulation walks the year day by day. Each day runs, in this order: the collectivity's
//! chores (weekly expiry sweep, monthly settlements and envelope top-ups, rules changes, missions),
//! then the registrations, the redemptions (which spend only what was certified on earlier days),
//! the certifications, the revocations and interest changes, and the draws. Within a phase the
//! commands of different citizens run concurrently; one citizen's commands run in time order, so
//! monthly caps always decide the same way.
//!
//! Reproducibility: who lives where, who does what, when and where, comes from a seeded generator
//! (SplitMix64, written here because the API crate does not depend on `rand`), relative to the
//! month the demo runs in. The same seed in the same month gives the same territory and the same
//! figures, except the gold tokens, which the engine draws from the territory's secret seeds. Keys
//! and bearer tokens are fresh secrets on every run, as they must be.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::ops::AddAssign;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Months, NaiveDate, SecondsFormat, TimeDelta, TimeZone, Utc, Weekday};
use futures::StreamExt;
use serde_json::{Map, Value};
use ygor_crypto::{SecretKey, SignedKind, VoucherClaims};
use ygor_ledger::books::{Account, Circulation};
use ygor_ledger::mission::MissionDetails;
use ygor_ledger::operations::{Certify, Redeem};
use ygor_ledger::wallet::{Demographics, VerifiedVoucher};
use ygor_ledger::{
    ActionId, CategoryId, CitizenId, DrawId, LotId, MissionId, PartnerId, PartnerKind, RedemptionId, Tokens, VoucherId,
};
use ygor_rules::Rules;
use ygor_store::CitizenDetails;

use ygor_api::AppState;
use ygor_api::engine::{Engine, EngineError, PartnerInfo};
use ygor_api::routes::association::verify_partner_signature;
use ygor_api::routes::citizen::VOUCHER_LIFETIME;
use ygor_api::setup::{self, Config, SetupError};

/// The rules of the sample territory (a copy of `shared/samples/rules.toml`).
const SAMPLE_RULES: &str = include_str!("demo_rules.toml");

/// The most citizens a demo builds.
pub const CITIZENS_MAX: usize = 100_000;

/// Where the demo writes the tokens it prints (mode 0600).
pub const TOKENS_FILE: &str = "demo-tokens.txt";

/// Where the demo writes the partners' key files, so that `ygor sign` can sign for them.
pub const KEYS_DIR: &str = "demo-keys";

/// How many citizens' commands run at the same time.
const CONCURRENCY: usize = 16;

/// How long the demo waits for the projections to apply what it wrote.
const PROJECTION_WAIT: Duration = Duration::from_secs(120);

/// The address `ygor serve` listens on by default, for the printed examples.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

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

// ---------------------------------------------------------------------------------------------
// The sample territory
// ---------------------------------------------------------------------------------------------

const ECOLOGIE: &str = "ecologie";
const SOLIDARITE: &str = "solidarite";
const CULTURE: &str = "culture";
const CITOYENNETE: &str = "citoyennete";
const TRANSMISSION: &str = "transmission";
const VELO: &str = "velo";
const CATEGORIES: [&str; 6] = [ECOLOGIE, SOLIDARITE, CULTURE, CITOYENNETE, TRANSMISSION, VELO];

/// Neighbourhoods and their share of the population.
const NEIGHBOURHOODS: [(&str, f64); 6] = [
    ("Centre", 22.0),
    ("Plaisance", 18.0),
    ("Gare", 15.0),
    ("Les Rives", 15.0),
    ("Belleroche", 15.0),
    ("Quartier Nord", 15.0),
];

struct AssociationSpec {
    name: &'static str,
    /// The categories it certifies, with their weights.
    categories: &'static [(&'static str, f64)],
    neighbourhood: Option<&'static str>,
    /// Relative number of volunteers.
    size: f64,
    /// The title of the mission it publishes, for the generated associations (the missions of
    /// `territory.md` are in [`plan_missions`]).
    mission: Option<&'static str>,
}

const fn association(
    name: &'static str,
    categories: &'static [(&'static str, f64)],
    neighbourhood: Option<&'static str>,
    size: f64,
    mission: Option<&'static str>,
) -> AssociationSpec {
    AssociationSpec { name, categories, neighbourhood, size, mission }
}

/// The eight associations of `territory.md` first, then generated ones.
const ASSOCIATIONS: &[AssociationSpec] = &[
    association(
        "MJC (Maison des Jeunes et de la Culture)",
        &[(CULTURE, 3.0), (TRANSMISSION, 2.0), (CITOYENNETE, 1.0)],
        None,
        5.0,
        None,
    ),
    association("Les Amis des Berges", &[(ECOLOGIE, 3.0)], Some("Les Rives"), 3.0, None),
    association("Garde-manger solidaire", &[(SOLIDARITE, 3.0)], None, 4.0, None),
    association("Vélo en Ville", &[(VELO, 3.0), (ECOLOGIE, 1.0)], None, 3.0, None),
    association("Conseil de quartier Plaisance", &[(CITOYENNETE, 3.0)], Some("Plaisance"), 2.0, None),
    association("Forum des associations", &[(CITOYENNETE, 2.0), (CULTURE, 1.0)], None, 1.0, None),
    association("Ferme urbaine de Plaisance", &[(ECOLOGIE, 3.0), (TRANSMISSION, 1.0)], Some("Plaisance"), 2.0, None),
    association(
        "Club de lecture intergénérationnel",
        &[(CULTURE, 2.0), (TRANSMISSION, 2.0)],
        Some("Centre"),
        2.0,
        None,
    ),
    association("Comité du festival de musique", &[(CULTURE, 3.0), (SOLIDARITE, 1.0)], None, 2.0, None),
    association(
        "Épicerie solidaire des Rives",
        &[(SOLIDARITE, 3.0)],
        Some("Les Rives"),
        2.0,
        Some("Tenir l'épicerie solidaire le samedi matin"),
    ),
    association(
        "Entraide Quartier Nord",
        &[(SOLIDARITE, 3.0), (TRANSMISSION, 1.0)],
        Some("Quartier Nord"),
        2.0,
        Some("Accompagner les courses des voisins âgés"),
    ),
    association(
        "Jardins partagés de la Gare",
        &[(ECOLOGIE, 3.0), (TRANSMISSION, 1.0)],
        Some("Gare"),
        2.0,
        Some("Préparer les semis du printemps"),
    ),
    association(
        "Repair Café du Centre",
        &[(ECOLOGIE, 2.0), (TRANSMISSION, 2.0)],
        Some("Centre"),
        2.0,
        Some("Réparer plutôt que jeter : réparateurs bénévoles"),
    ),
    association("Chorale Saône et Voix", &[(CULTURE, 3.0)], None, 1.0, Some("Concert de Noël de la chorale")),
    association(
        "Théâtre amateur Les Tréteaux",
        &[(CULTURE, 3.0)],
        Some("Belleroche"),
        1.0,
        Some("Spectacle de fin d'année : décors et costumes"),
    ),
    association(
        "Accueil des nouveaux arrivants",
        &[(CITOYENNETE, 2.0), (SOLIDARITE, 1.0)],
        None,
        1.0,
        Some("Accueillir les nouveaux habitants du quartier"),
    ),
    association(
        "Soutien scolaire Gare–Plaisance",
        &[(TRANSMISSION, 3.0), (SOLIDARITE, 1.0)],
        Some("Gare"),
        2.0,
        Some("Aide aux devoirs après l'école"),
    ),
    association(
        "Alphabétisation pour tous",
        &[(TRANSMISSION, 3.0), (SOLIDARITE, 2.0)],
        None,
        2.0,
        Some("Ateliers de français pour adultes"),
    ),
    association(
        "Visites aux aînés isolés",
        &[(SOLIDARITE, 3.0)],
        None,
        2.0,
        Some("Visites de convivialité aux aînés isolés"),
    ),
    association(
        "Collectif Zéro Déchet",
        &[(ECOLOGIE, 3.0), (CITOYENNETE, 1.0)],
        None,
        2.0,
        Some("Défi familles zéro déchet"),
    ),
    association(
        "Ludothèque des Rives",
        &[(CULTURE, 2.0), (TRANSMISSION, 2.0)],
        Some("Les Rives"),
        1.0,
        Some("Animer les après-midi jeux de société"),
    ),
    association(
        "Comité citoyen du budget participatif",
        &[(CITOYENNETE, 3.0)],
        None,
        1.0,
        Some("Rédiger les projets du budget participatif"),
    ),
    association("Patrimoine et paysages du Val de Saône", &[(CULTURE, 2.0), (ECOLOGIE, 2.0)], None, 1.0, None),
    association(
        "Conseil de quartier Belleroche",
        &[(CITOYENNETE, 3.0)],
        Some("Belleroche"),
        1.0,
        Some("Réunion publique : aménagement de la place de Belleroche"),
    ),
    association(
        "Conseil de quartier Gare",
        &[(CITOYENNETE, 3.0)],
        Some("Gare"),
        1.0,
        Some("Marche exploratoire autour de la gare"),
    ),
    association(
        "Atelier vélo solidaire du Quartier Nord",
        &[(VELO, 2.0), (TRANSMISSION, 2.0)],
        Some("Quartier Nord"),
        1.0,
        Some("Apprendre à réparer son vélo"),
    ),
    association(
        "Banque alimentaire — relais local",
        &[(SOLIDARITE, 3.0)],
        None,
        2.0,
        Some("Tri des dons à la banque alimentaire"),
    ),
    association("Maraudes du Centre", &[(SOLIDARITE, 3.0)], Some("Centre"), 1.0, Some("Maraudes du soir en hiver")),
    association(
        "Club informatique des aînés",
        &[(TRANSMISSION, 3.0)],
        None,
        1.0,
        Some("Initier les aînés aux démarches en ligne"),
    ),
    association(
        "Sciences en fête",
        &[(TRANSMISSION, 2.0), (CULTURE, 2.0)],
        None,
        1.0,
        Some("Fête de la science : animer un stand"),
    ),
    association(
        "Nature et oiseaux de la Saône",
        &[(ECOLOGIE, 3.0), (TRANSMISSION, 1.0)],
        None,
        1.0,
        Some("Comptage des oiseaux des berges"),
    ),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Season {
    AllYear,
    Summer,
    Winter,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Audience {
    Everyone,
    Young,
    Senior,
}

struct VenueSpec {
    name: &'static str,
    /// Prices of its offers, in tokens.
    prices: &'static [u64],
    /// Relative number of visits.
    weight: f64,
    season: Season,
    audience: Audience,
}

const fn venue(
    name: &'static str,
    prices: &'static [u64],
    weight: f64,
    season: Season,
    audience: Audience,
) -> VenueSpec {
    VenueSpec { name, prices, weight, season, audience }
}

/// The seven venues of `territory.md` first, then generated ones.
const VENUES: &[VenueSpec] = &[
    venue("Piscine municipale", &[5, 40], 4.0, Season::Summer, Audience::Young),
    venue("Théâtre municipal", &[15, 25], 2.0, Season::AllYear, Audience::Senior),
    venue("Musée d'histoire locale", &[6], 1.5, Season::AllYear, Audience::Senior),
    venue("Médiathèque", &[4, 15], 3.0, Season::AllYear, Audience::Everyone),
    venue("Cinéma associatif", &[8], 4.0, Season::Winter, Audience::Young),
    venue("AMAP des Rives (circuit court)", &[12, 20], 2.0, Season::AllYear, Audience::Everyone),
    venue("Recyclerie (économie sociale et solidaire)", &[10, 5], 2.0, Season::AllYear, Audience::Everyone),
    venue("Patinoire municipale", &[6], 2.0, Season::Winter, Audience::Young),
    venue("Conservatoire de musique", &[25], 1.0, Season::AllYear, Audience::Everyone),
    venue("Salle de concerts La Cale", &[15], 2.0, Season::AllYear, Audience::Young),
    venue("Librairie indépendante Le Marque-Page", &[12], 2.0, Season::AllYear, Audience::Senior),
    venue("Épicerie coopérative du Centre", &[10], 2.0, Season::AllYear, Audience::Everyone),
    venue("Café associatif Le Comptoir", &[3, 6], 2.0, Season::AllYear, Audience::Everyone),
    venue("Base nautique de la Saône", &[12], 1.5, Season::Summer, Audience::Young),
    venue("Maison du vélo (réparation et location)", &[8, 20], 1.5, Season::AllYear, Audience::Everyone),
];

/// How a category's activity varies over the year (index: month − 1).
fn seasonality(category: &str, month: u32) -> f64 {
    let table: [f64; 12] = match category {
        ECOLOGIE => [0.5, 0.6, 1.3, 1.8, 1.8, 1.3, 0.9, 0.8, 1.3, 1.2, 0.8, 0.5],
        SOLIDARITE => [1.8, 1.5, 1.1, 0.9, 0.8, 0.7, 0.6, 0.6, 0.9, 1.1, 1.5, 2.0],
        CULTURE => [0.8, 0.8, 0.9, 1.0, 1.2, 1.6, 1.7, 1.4, 1.0, 1.0, 0.9, 1.0],
        CITOYENNETE => [0.9, 1.0, 1.1, 1.0, 1.0, 0.8, 0.4, 0.3, 1.3, 1.4, 1.3, 0.9],
        TRANSMISSION => [1.1, 1.1, 1.1, 1.1, 1.0, 0.9, 0.4, 0.3, 1.2, 1.2, 1.2, 1.0],
        VELO => [0.3, 0.3, 0.6, 1.0, 1.4, 1.5, 1.6, 1.3, 1.1, 0.8, 0.5, 0.3],
        other => unreachable!("no seasonality for category {other}"),
    };
    table[month as usize - 1]
}

/// How much a category appeals at a given age.
fn affinity(category: &str, age: i32) -> f64 {
    let (young, adult, senior) = match category {
        ECOLOGIE => (3.0, 2.0, 1.0),
        SOLIDARITE => (1.5, 2.0, 2.0),
        CULTURE => (3.0, 2.0, 2.5),
        CITOYENNETE => (1.0, 1.5, 2.0),
        TRANSMISSION => (0.5, 1.0, 3.0),
        VELO => (3.0, 1.5, 0.3),
        other => unreachable!("no affinity for category {other}"),
    };
    if age <= 25 {
        young
    } else if age < 65 {
        adult
    } else {
        senior
    }
}

fn venue_appeal(venue: &VenueSpec, month: u32, age: i32) -> f64 {
    let season = match venue.season {
        Season::AllYear => 1.0,
        Season::Summer if (6..=8).contains(&month) => 2.5,
        Season::Summer if month <= 3 || month >= 11 => 0.2,
        Season::Winter if month <= 2 || month >= 11 => 2.0,
        Season::Winter if (6..=8).contains(&month) => 0.3,
        Season::Summer | Season::Winter => 1.0,
    };
    let audience = match venue.audience {
        Audience::Everyone => 1.0,
        Audience::Young if age <= 25 => 2.0,
        Audience::Senior if age >= 65 => 2.0,
        Audience::Young | Audience::Senior => 0.7,
    };
    venue.weight * season * audience
}

fn association_index(name: &str) -> usize {
    ASSOCIATIONS.iter().position(|spec| spec.name == name).unwrap_or_else(|| panic!("no demo association {name}"))
}

fn category_id(text: &str) -> CategoryId {
    CategoryId::parse(text).expect("the demo's categories are valid ids")
}

// ---------------------------------------------------------------------------------------------
// A seeded generator
// ---------------------------------------------------------------------------------------------

/// SplitMix64: tiny, fast and good enough for a simulation. Each part of the plan draws from its
/// own stream, so that changing one part does not reshuffle the others.
#[derive(Debug, Clone)]
struct Random {
    state: u64,
}

const STREAM_CITIZENS: u64 = 1;
const STREAM_ACTIVITY: u64 = 2;
const STREAM_EVENTS: u64 = 3;
const STREAM_REDEMPTIONS: u64 = 4;
const STREAM_MISSIONS: u64 = 5;
const STREAM_REVOCATIONS: u64 = 6;
const STREAM_PARTNERS: u64 = 7;
const STREAM_DRAWS: u64 = 8;

impl Random {
    fn new(seed: u64, stream: u64, index: u64) -> Self {
        let mut random = Random { state: seed };
        random.state = random.next_u64() ^ stream.wrapping_mul(0xA076_1D64_78BD_642F);
        random.state = random.next_u64() ^ index.wrapping_mul(0xE703_7ED1_A0B4_28DB);
        random.next_u64();
        random
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound`.
    fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "an empty range has no element to draw");
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// Uniform in `low..=high`.
    fn between(&mut self, low: i64, high: i64) -> i64 {
        assert!(low <= high, "an empty range has no element to draw");
        low + self.below((high - low + 1) as u64) as i64
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, probability: f64) -> bool {
        self.unit() < probability
    }

    /// An index drawn with the given (non-negative, not all zero) weights.
    fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        assert!(total > 0.0, "at least one weight is positive");
        let mut left = self.unit() * total;
        for (index, weight) in weights.iter().enumerate() {
            if left < *weight {
                return index;
            }
            left -= weight;
        }
        weights.iter().rposition(|weight| *weight > 0.0).expect("a positive weight exists")
    }

    /// A Poisson-distributed count (Knuth's method; the means here are small).
    fn poisson(&mut self, mean: f64) -> u64 {
        if mean <= 0.0 {
            return 0;
        }
        let limit = (-mean).exp();
        let mut product = 1.0;
        let mut count = 0;
        loop {
            product *= self.unit();
            if product <= limit {
                return count;
            }
            count += 1;
        }
    }

    fn uuid(&mut self) -> uuid::Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

// ---------------------------------------------------------------------------------------------
// The plan: everything that will happen, decided before anything is written
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Registered, never certified (except, rarely, at a big event).
    Inactive,
    Occasional,
    Regular,
    VeryActive,
}

impl Level {
    /// Ordinary actions per month, before seasons.
    fn monthly_actions(self) -> f64 {
        match self {
            Level::Inactive => 0.0,
            Level::Occasional => 0.15,
            Level::Regular => 0.7,
            Level::VeryActive => 1.8,
        }
    }

    /// How likely the citizen joins a big event, relative to the base rate.
    fn event_factor(self) -> f64 {
        match self {
            Level::Inactive => 0.3,
            Level::Occasional => 1.0,
            Level::Regular => 1.5,
            Level::VeryActive => 2.0,
        }
    }

    /// The chance the citizen spends tokens at venues at all, and visits per month if so.
    fn redemption_habit(self) -> (f64, f64) {
        match self {
            Level::Inactive => (0.0, 0.0),
            Level::Occasional => (0.25, 0.45),
            Level::Regular => (0.6, 0.6),
            Level::VeryActive => (0.85, 0.8),
        }
    }
}

#[derive(Debug, Clone)]
struct CitizenPlan {
    id: CitizenId,
    neighbourhood: &'static str,
    birth_year: i32,
    age: i32,
    interests: Vec<&'static str>,
    level: Level,
    registration_day: usize,
    registered_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct CertificationPlan {
    citizen: usize,
    association: usize,
    category: &'static str,
    quantity: u64,
    occurred_at: DateTime<Utc>,
    at: DateTime<Utc>,
    action_id: ActionId,
    lot_id: LotId,
}

#[derive(Debug, Clone)]
struct RedemptionPlan {
    citizen: usize,
    venue: usize,
    /// Which offer the citizen would like, and whether they take two (drawn in advance so that
    /// the concurrent execution draws nothing).
    wish: u64,
    at: DateTime<Utc>,
    redemption_id: RedemptionId,
    voucher_id: VoucherId,
}

#[derive(Debug, Clone)]
struct RevocationPlan {
    association: usize,
    action_id: ActionId,
    reason: &'static str,
    at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct InterestChange {
    citizen: usize,
    interests: Vec<&'static str>,
    at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct MissionPlan {
    id: MissionId,
    association: usize,
    title: String,
    categories: Vec<&'static str>,
    neighbourhood: Option<&'static str>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    published_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
}

/// A draw of premium prizes among the citizens' gold tokens.
#[derive(Debug, Clone)]
struct DrawPlan {
    id: DrawId,
    prize: &'static str,
    winners: u32,
    created_at: DateTime<Utc>,
    /// When the citizens who hold gold tokens enter it.
    entries_at: DateTime<Utc>,
    closes_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
struct RulesChange {
    at: DateTime<Utc>,
    rules: Rules,
    source: String,
    /// What changed, in French, for the progress lines.
    note: &'static str,
}

#[derive(Debug, Default)]
struct DayPlan {
    registrations: Vec<usize>,
    redemptions: Vec<RedemptionPlan>,
    certifications: Vec<CertificationPlan>,
    revocations: Vec<RevocationPlan>,
    interest_changes: Vec<InterestChange>,
    missions_published: Vec<usize>,
    missions_closed: Vec<usize>,
    rules_changes: Vec<usize>,
    draws_created: Vec<usize>,
    draws_entered: Vec<usize>,
    draws_closed: Vec<usize>,
}

/// An action of a citizen, before its time of day is drawn.
struct Action {
    citizen: usize,
    association: usize,
    category: &'static str,
    quantity: u64,
    day: usize,
    /// The hours of the day it may start in.
    hours: (i64, i64),
}

struct Plan {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    days: Vec<DayPlan>,
    rules: Vec<RulesChange>,
    citizens: Vec<CitizenPlan>,
    missions: Vec<MissionPlan>,
    draws: Vec<DrawPlan>,
    partner_ids: Vec<PartnerId>,
    /// Upper bound of the tokens each association certifies, per month since the start.
    envelope_needs: Vec<Vec<u64>>,
    certifications: usize,
    redemption_attempts: usize,
    revocations: usize,
}

impl Plan {
    fn start_date(&self) -> NaiveDate {
        self.start.date_naive()
    }

    fn day(&self, date: NaiveDate) -> Option<usize> {
        let offset = (date - self.start_date()).num_days();
        usize::try_from(offset).ok().filter(|day| *day < self.days.len())
    }

    fn date(&self, day: usize) -> NaiveDate {
        self.start_date() + TimeDelta::days(day as i64)
    }

    fn time(&self, day: usize, hour: i64, minute: i64, second: i64) -> DateTime<Utc> {
        self.start
            + TimeDelta::days(day as i64)
            + TimeDelta::hours(hour)
            + TimeDelta::minutes(minute)
            + TimeDelta::seconds(second)
    }

    fn month(&self, date: NaiveDate) -> usize {
        let start = self.start_date();
        let months = (date.year() - start.year()) * 12 + date.month() as i32 - start.month() as i32;
        usize::try_from(months).expect("plan dates are not before the start")
    }

    fn month_count(&self) -> usize {
        self.month(self.end.date_naive()) + 1
    }

    /// The first and last day of a month of the plan, clamped to the plan.
    fn month_days(&self, month: usize) -> (usize, usize) {
        let first = self.start_date() + Months::new(month as u32);
        let last = first + Months::new(1) - TimeDelta::days(1);
        let first_day = self.day(first).expect("a month of the plan starts inside it");
        let last_day = self.day(last).unwrap_or(self.days.len() - 1);
        (first_day, last_day)
    }

    /// The dates with this month and day of month in the simulated year (after its first day).
    fn dates(&self, month: u32, day: u32) -> Vec<NaiveDate> {
        self.years()
            .filter_map(|year| NaiveDate::from_ymd_opt(year, month, day))
            .filter(|date| self.inside(*date))
            .collect()
    }

    /// The n-th Saturdays of a month in the simulated year.
    fn saturdays(&self, month: u32, nths: &[u8]) -> Vec<NaiveDate> {
        let mut dates = Vec::new();
        for year in self.years() {
            for nth in nths {
                if let Some(date) = NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sat, *nth)
                    && self.inside(date)
                {
                    dates.push(date);
                }
            }
        }
        dates
    }

    fn years(&self) -> impl Iterator<Item = i32> {
        self.start.year()..=self.end.year()
    }

    fn inside(&self, date: NaiveDate) -> bool {
        date > self.start_date() && date <= self.end.date_naive()
    }

    /// Adds the certification of an action; it is certified a few hours after it occurred.
    fn add_certification(&mut self, random: &mut Random, action: Action) {
        let Action { citizen, association, category, quantity, day, hours } = action;
        let occurred_at = self.time(day, random.between(hours.0, hours.1), random.between(0, 59), 0);
        if occurred_at > self.end {
            return;
        }
        let latest = self.time(day, 23, 30, 0).min(self.end);
        let at =
            (occurred_at + TimeDelta::minutes(random.between(20, 300)) + TimeDelta::seconds(random.between(0, 59)))
                .min(latest);
        let needed = self
            .rules
            .iter()
            .filter_map(|change| change.rules.category(category).and_then(|rule| rule.tokens_for(quantity)))
            .max()
            .unwrap_or(0);
        let month = self.month(at.date_naive());
        self.envelope_needs[month][association] += needed;
        let certification = CertificationPlan {
            citizen,
            association,
            category,
            quantity,
            occurred_at,
            at,
            action_id: ActionId::from_uuid(random.uuid()),
            lot_id: LotId::from_uuid(random.uuid()),
        };
        self.days[day].certifications.push(certification);
        self.certifications += 1;
    }
}

/// The rules versions of the year: the sample rules, a winter version that raises solidarity,
/// and the sample rules again in spring.
fn rules_changes(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Vec<RulesChange>, DemoError> {
    const SOLIDARITY_NORMAL: &str = "tokens_per_action = 12\ncap_per_citizen_per_month = 72";
    const SOLIDARITY_WINTER: &str = "tokens_per_action = 18\ncap_per_citizen_per_month = 108";
    const JULY: (&str, &str) = ("2026-07-01T00:00:00Z", "2026-08-01T00:00:00Z");
    assert!(SAMPLE_RULES.contains(SOLIDARITY_NORMAL), "the sample rules give solidarity 12 tokens, capped at 72");
    assert!(SAMPLE_RULES.contains(JULY.0) && SAMPLE_RULES.contains(JULY.1), "the sample bike badge is in July 2026");
    // The bike badge is for the July of the simulated year.
    let july = if end.month() > 7 { end.year() } else { end.year() - 1 };
    let base = SAMPLE_RULES
        .replace(JULY.0, &format!("{july}-07-01T00:00:00Z"))
        .replace(JULY.1, &format!("{july}-08-01T00:00:00Z"));
    let winter = format!(
        "# Plan grand froid : la solidarité rapporte 18 jetons par action en hiver (plafond 108 par mois).\n{}",
        base.replacen(SOLIDARITY_NORMAL, SOLIDARITY_WINTER, 1)
    );
    let spring = format!("# Fin du plan grand froid : retour au barème ordinaire.\n{base}");
    let parse = |source: &str| {
        Rules::parse(source).map_err(|error| DemoError::Invalid(format!("the demo's rules do not parse: {error}")))
    };
    let mut changes = vec![RulesChange {
        at: start + TimeDelta::minutes(5),
        rules: parse(&base)?,
        source: base,
        note: "règles publiées",
    }];
    let first_of = |year: i32, month: u32| {
        Utc.with_ymd_and_hms(year, month, 1, 7, 45, 0).single().expect("the first of a month at 07:45 exists")
    };
    let winter_at = (start.year()..=end.year())
        .map(|year| first_of(year, 12))
        .find(|at| *at > start + TimeDelta::days(1) && *at < end);
    if let Some(winter_at) = winter_at {
        changes.push(RulesChange {
            at: winter_at,
            rules: parse(&winter)?,
            source: winter,
            note: "plan grand froid : solidarité à 18 jetons",
        });
        let spring_at = first_of(winter_at.year() + 1, 3);
        if spring_at < end {
            changes.push(RulesChange {
                at: spring_at,
                rules: parse(&spring)?,
                source: spring,
                note: "fin du plan grand froid",
            });
        }
    }
    Ok(changes)
}

/// Decides the whole year. `now` is the end of the simulated year; it starts on the first day of
/// the same month a year earlier.
fn plan(seed: u64, citizen_count: usize, now: DateTime<Utc>) -> Result<Plan, DemoError> {
    let end = DateTime::from_timestamp(now.timestamp(), 0).expect("a whole second of now is a valid time");
    let start = Utc
        .with_ymd_and_hms(end.year() - 1, end.month(), 1, 0, 0, 0)
        .single()
        .expect("the first of a month at midnight exists");
    let day_count = (end.date_naive() - start.date_naive()).num_days() as usize + 1;
    let mut partner_random = Random::new(seed, STREAM_PARTNERS, 0);
    let mut plan = Plan {
        start,
        end,
        days: (0..day_count).map(|_| DayPlan::default()).collect(),
        rules: rules_changes(start, end)?,
        citizens: Vec::with_capacity(citizen_count),
        missions: Vec::new(),
        draws: Vec::new(),
        partner_ids: (0..ASSOCIATIONS.len() + VENUES.len())
            .map(|_| PartnerId::from_uuid(partner_random.uuid()))
            .collect(),
        envelope_needs: Vec::new(),
        certifications: 0,
        redemption_attempts: 0,
        revocations: 0,
    };
    plan.envelope_needs = vec![vec![0; ASSOCIATIONS.len()]; plan.month_count()];
    // The first version is published before anything else (see `build`).
    for (index, change) in plan.rules.iter().enumerate().skip(1) {
        let day = plan.day(change.at.date_naive()).expect("rules change inside the year");
        plan.days[day].rules_changes.push(index);
    }
    plan_citizens(&mut plan, seed, citizen_count);
    plan_activity(&mut plan, seed);
    plan_events(&mut plan, seed);
    plan_bike_challenge(&mut plan, seed);
    plan_revocations(&mut plan, seed);
    plan_redemptions(&mut plan, seed);
    plan_missions(&mut plan, seed);
    plan_draws(&mut plan, seed);
    Ok(plan)
}

fn plan_citizens(plan: &mut Plan, seed: u64, citizen_count: usize) {
    let last_day = plan.days.len() - 1;
    let launch_days = 45.min(last_day);
    for index in 0..citizen_count {
        let mut random = Random::new(seed, STREAM_CITIZENS, index as u64);
        // A bulge of 15–25 year-olds (the "Jeunes en ville" instance), then fewer over 75.
        let age = if random.chance(0.35) {
            // Ages are at the end of the year: nobody is under 15 when the year starts.
            random.between(16, 25) as i32
        } else {
            loop {
                let age = random.between(26, 85) as i32;
                if age <= 75 || random.chance(0.5) {
                    break age;
                }
            }
        };
        let neighbourhood = NEIGHBOURHOODS[random.weighted(&NEIGHBOURHOODS.map(|(_, share)| share))].0;
        let level = [Level::Inactive, Level::Occasional, Level::Regular, Level::VeryActive]
            [random.weighted(&[20.0, 50.0, 22.0, 8.0])];
        let interest_count = random.weighted(&[20.0, 35.0, 30.0, 15.0]);
        let mut interests: Vec<&'static str> = Vec::new();
        while interests.len() < interest_count {
            let weights =
                CATEGORIES.map(|category| if interests.contains(&category) { 0.0 } else { affinity(category, age) });
            interests.push(CATEGORIES[random.weighted(&weights)]);
        }
        // Most register during the launch campaign, the others along the year.
        let registration_day = if random.chance(0.55) {
            random.between(0, launch_days as i64) as usize
        } else {
            random.between(0, (last_day.saturating_sub(7)) as i64) as usize
        };
        let registered_at = plan
            .time(registration_day, random.between(8, 20), random.between(0, 59), random.between(0, 59))
            .min(plan.end);
        plan.days[registration_day].registrations.push(index);
        // Some change their mind about their interests later on.
        if random.chance(0.06) && registration_day + 30 < last_day {
            let day = random.between(registration_day as i64 + 30, last_day as i64) as usize;
            let mut changed = interests.clone();
            if changed.len() == 3 || (!changed.is_empty() && random.chance(0.3)) {
                changed.remove(random.below(changed.len() as u64) as usize);
            } else {
                let weights =
                    CATEGORIES.map(|category| if changed.contains(&category) { 0.0 } else { affinity(category, age) });
                changed.push(CATEGORIES[random.weighted(&weights)]);
            }
            let at = plan.time(day, random.between(7, 22), random.between(0, 59), 0);
            if at <= plan.end {
                plan.days[day].interest_changes.push(InterestChange { citizen: index, interests: changed, at });
            }
        }
        plan.citizens.push(CitizenPlan {
            id: CitizenId::from_uuid(random.uuid()),
            neighbourhood,
            birth_year: plan.end.year() - age,
            age,
            interests,
            level,
            registration_day,
            registered_at,
        });
    }
}

/// The association that certifies a citizen's action in a category: a big one, or one of their
/// neighbourhood.
fn pick_association(random: &mut Random, category: &str, neighbourhood: &str) -> usize {
    let weights: Vec<f64> = ASSOCIATIONS
        .iter()
        .map(|spec| {
            let weight =
                spec.categories.iter().find(|(id, _)| *id == category).map(|(_, weight)| *weight).unwrap_or(0.0);
            let local = match spec.neighbourhood {
                Some(place) if place == neighbourhood => 3.0,
                Some(_) => 0.5,
                None => 1.0,
            };
            weight * spec.size * local
        })
        .collect();
    random.weighted(&weights)
}

/// Ordinary life: each citizen's actions month by month, by interest, age and season.
fn plan_activity(plan: &mut Plan, seed: u64) {
    for index in 0..plan.citizens.len() {
        let citizen = plan.citizens[index].clone();
        let mut random = Random::new(seed, STREAM_ACTIVITY, index as u64);
        let preferences = CATEGORIES.map(|category| {
            affinity(category, citizen.age) * if citizen.interests.contains(&category) { 4.0 } else { 1.0 }
        });
        let total: f64 = preferences.iter().sum();
        for month in 0..plan.month_count() {
            let (first_day, last_day) = plan.month_days(month);
            let from = first_day.max(citizen.registration_day + 1);
            if from > last_day {
                continue;
            }
            let calendar_month = plan.date(first_day).month();
            let part = (last_day + 1 - from) as f64 / 30.0;
            for (category, preference) in CATEGORIES.iter().zip(preferences) {
                let mean =
                    citizen.level.monthly_actions() * preference / total * seasonality(category, calendar_month) * part;
                for _ in 0..random.poisson(mean) {
                    let day = random.between(from as i64, last_day as i64) as usize;
                    let association = pick_association(&mut random, category, citizen.neighbourhood);
                    let quantity = if *category == VELO { random.between(3, 25) as u64 } else { 1 };
                    let action = Action { citizen: index, association, category, quantity, day, hours: (8, 18) };
                    plan.add_certification(&mut random, action);
                }
            }
        }
    }
}

/// The big days of the year, each certified in bulk by its association.
fn plan_events(plan: &mut Plan, seed: u64) {
    struct Event {
        dates: Vec<NaiveDate>,
        association: &'static str,
        categories: &'static [(&'static str, f64)],
        base: f64,
    }
    let events = [
        // Spring cleanups of the river banks.
        Event {
            dates: plan.saturdays(4, &[1, 3]),
            association: "Les Amis des Berges",
            categories: &[(ECOLOGIE, 1.0)],
            base: 0.015,
        },
        // The music festival: cooking, stands, welcoming the artists.
        Event {
            dates: [plan.dates(6, 20), plan.dates(6, 21)].concat(),
            association: "Comité du festival de musique",
            categories: &[(CULTURE, 0.7), (SOLIDARITE, 0.3)],
            base: 0.02,
        },
        Event {
            dates: plan.saturdays(8, &[2]),
            association: "Patrimoine et paysages du Val de Saône",
            categories: &[(CULTURE, 0.7), (ECOLOGIE, 0.3)],
            base: 0.012,
        },
        Event {
            dates: plan.saturdays(9, &[1]),
            association: "Forum des associations",
            categories: &[(CITOYENNETE, 1.0)],
            base: 0.015,
        },
        Event {
            dates: plan.saturdays(9, &[3]),
            association: "Collectif Zéro Déchet",
            categories: &[(ECOLOGIE, 1.0)],
            base: 0.015,
        },
        Event {
            dates: plan.saturdays(10, &[2]),
            association: "Comité citoyen du budget participatif",
            categories: &[(CITOYENNETE, 1.0)],
            base: 0.012,
        },
        // Winter food collections.
        Event {
            dates: [plan.saturdays(12, &[1, 2]), plan.saturdays(1, &[4])].concat(),
            association: "Garde-manger solidaire",
            categories: &[(SOLIDARITE, 1.0)],
            base: 0.015,
        },
    ];
    let mut random = Random::new(seed, STREAM_EVENTS, 0);
    for event in &events {
        let association = association_index(event.association);
        let place = ASSOCIATIONS[association].neighbourhood;
        let shares: Vec<f64> = event.categories.iter().map(|(_, share)| *share).collect();
        for date in &event.dates {
            let Some(day) = plan.day(*date) else { continue };
            for index in 0..plan.citizens.len() {
                let citizen = &plan.citizens[index];
                if citizen.registration_day >= day {
                    continue;
                }
                let interested = event.categories.iter().any(|(category, _)| citizen.interests.contains(category));
                let local = if place == Some(citizen.neighbourhood) { 2.0 } else { 1.0 };
                let probability =
                    event.base * if interested { 3.0 } else { 1.0 } * citizen.level.event_factor() * local;
                if random.chance(probability) {
                    let category = event.categories[random.weighted(&shares)].0;
                    let action = Action { citizen: index, association, category, quantity: 1, day, hours: (9, 17) };
                    plan.add_certification(&mut random, action);
                }
            }
        }
    }
}

/// "Défi : plus de 50 km à vélo en juillet": rides logged through July.
fn plan_bike_challenge(plan: &mut Plan, seed: u64) {
    let july = if plan.end.month() > 7 { plan.end.year() } else { plan.end.year() - 1 };
    let first = NaiveDate::from_ymd_opt(july, 7, 1).expect("July the first exists");
    let (Some(first_day), Some(last_day)) = (plan.day(first), plan.day(first + TimeDelta::days(30))) else {
        return;
    };
    let mut random = Random::new(seed, STREAM_EVENTS, 1);
    let velo_en_ville = association_index("Vélo en Ville");
    let atelier = association_index("Atelier vélo solidaire du Quartier Nord");
    for index in 0..plan.citizens.len() {
        let citizen = &plan.citizens[index];
        if citizen.registration_day + 1 > last_day {
            continue;
        }
        let interested = if citizen.interests.contains(&VELO) { 3.0 } else { 1.0 };
        let age = if citizen.age <= 25 {
            1.5
        } else if citizen.age >= 65 {
            0.4
        } else {
            1.0
        };
        if !random.chance(0.04 * interested * age * citizen.level.event_factor()) {
            continue;
        }
        let from = first_day.max(citizen.registration_day + 1);
        for _ in 0..random.between(3, 9) {
            let day = random.between(from as i64, last_day as i64) as usize;
            let association = if random.chance(0.8) { velo_en_ville } else { atelier };
            let kilometres = random.between(4, 20) as u64;
            let action =
                Action { citizen: index, association, category: VELO, quantity: kilometres, day, hours: (7, 20) };
            plan.add_certification(&mut random, action);
        }
    }
}

/// A few certifications turn out to be mistakes and are revoked some days later.
fn plan_revocations(plan: &mut Plan, seed: u64) {
    const REASONS: [&str; 4] =
        ["Action saisie deux fois", "Erreur de bénéficiaire", "Action annulée (intempéries)", "Présence non confirmée"];
    let mut random = Random::new(seed, STREAM_REVOCATIONS, 0);
    let candidates: Vec<(usize, usize, ActionId, DateTime<Utc>)> = plan
        .days
        .iter()
        .flat_map(|day| &day.certifications)
        .map(|certification| {
            (certification.citizen, certification.association, certification.action_id, certification.at)
        })
        .collect();
    let mut chosen: Vec<usize> = (0..candidates.len()).filter(|_| random.chance(0.003)).collect();
    // Even a small demo shows a couple of revocations.
    let mut attempts = 0;
    while chosen.len() < 2 && chosen.len() < candidates.len() && attempts < 100 {
        attempts += 1;
        let pick = random.below(candidates.len() as u64) as usize;
        if !chosen.contains(&pick) {
            chosen.push(pick);
        }
    }
    chosen.sort_unstable();
    for pick in chosen {
        let (_, association, action_id, certified_at) = candidates[pick];
        let Some(certified_day) = plan.day(certified_at.date_naive()) else { continue };
        let day = certified_day + random.between(1, 10) as usize;
        if day >= plan.days.len() {
            continue;
        }
        let at = plan.time(day, random.between(9, 17), random.between(0, 59), 0);
        if at > plan.end {
            continue;
        }
        let reason = REASONS[random.below(REASONS.len() as u64) as usize];
        plan.days[day].revocations.push(RevocationPlan { association, action_id, reason, at });
        plan.revocations += 1;
    }
}

/// About a third of the citizens spend their tokens at venues, mostly at a favourite one.
fn plan_redemptions(plan: &mut Plan, seed: u64) {
    for index in 0..plan.citizens.len() {
        let citizen = plan.citizens[index].clone();
        let mut random = Random::new(seed, STREAM_REDEMPTIONS, index as u64);
        let (probability, visits) = citizen.level.redemption_habit();
        if !random.chance(probability) {
            continue;
        }
        let favourite = random.weighted(
            &VENUES
                .iter()
                .map(|venue| venue_appeal(venue, 1, citizen.age) + venue_appeal(venue, 7, citizen.age))
                .collect::<Vec<_>>(),
        );
        for month in 0..plan.month_count() {
            let (first_day, last_day) = plan.month_days(month);
            let from = first_day.max(citizen.registration_day + 3);
            if from > last_day {
                continue;
            }
            let calendar_month = plan.date(first_day).month();
            for _ in 0..random.poisson(visits) {
                let day = random.between(from as i64, last_day as i64) as usize;
                let venue = if random.chance(0.65) {
                    favourite
                } else {
                    random.weighted(
                        &VENUES
                            .iter()
                            .map(|venue| venue_appeal(venue, calendar_month, citizen.age))
                            .collect::<Vec<_>>(),
                    )
                };
                let at = plan.time(day, random.between(10, 19), random.between(0, 59), random.between(0, 59));
                let wish = random.next_u64();
                let redemption_id = RedemptionId::from_uuid(random.uuid());
                let voucher_id = VoucherId::from_uuid(random.uuid());
                if at <= plan.end {
                    plan.days[day].redemptions.push(RedemptionPlan {
                        citizen: index,
                        venue,
                        wish,
                        at,
                        redemption_id,
                        voucher_id,
                    });
                    plan.redemption_attempts += 1;
                }
            }
        }
    }
}

/// A mission before it is scheduled: association, title, categories, neighbourhood, start, end.
type MissionDraft = (&'static str, String, Vec<&'static str>, Option<&'static str>, DateTime<Utc>, DateTime<Utc>);

/// The missions of `territory.md`, at their season, and one mission of each generated
/// association. Past missions are closed the day after they end; some are still open at the end.
fn plan_missions(plan: &mut Plan, seed: u64) {
    let mut random = Random::new(seed, STREAM_MISSIONS, 0);
    let first_at = |plan: &Plan, dates: Vec<NaiveDate>| {
        dates.first().map(|date| plan.time(plan.day(*date).expect("inside"), 9, 0, 0))
    };
    let july = if plan.end.month() > 7 { plan.end.year() } else { plan.end.year() - 1 };
    let at = |year: i32, month: u32, day: u32| {
        Utc.with_ymd_and_hms(year, month, day, 9, 0, 0).single().expect("a valid mission date")
    };
    // The next winter's collection: the one that starts after the end of the simulated year.
    let next_winter = if plan.end.month() == 12 { plan.end.year() + 1 } else { plan.end.year() };
    let mut missions: Vec<MissionDraft> = Vec::new();
    let mut seasonal = |association: &'static str,
                        title: String,
                        categories: Vec<&'static str>,
                        neighbourhood: Option<&'static str>,
                        starts_at: Option<DateTime<Utc>>,
                        days: i64| {
        if let Some(starts_at) = starts_at {
            missions.push((
                association,
                title,
                categories,
                neighbourhood,
                starts_at,
                starts_at + TimeDelta::days(days),
            ));
        }
    };
    seasonal(
        "Les Amis des Berges",
        "Nettoyage des berges de la Saône".to_owned(),
        vec![ECOLOGIE],
        Some("Les Rives"),
        first_at(plan, plan.saturdays(4, &[1])),
        15,
    );
    seasonal(
        "Comité du festival de musique",
        "Bénévoles pour le festival de musique : préparer à manger, tenir les stands, accueillir les artistes (30 minutes, 1 h ou toute la journée)".to_owned(),
        vec![CULTURE, SOLIDARITE],
        None,
        first_at(plan, plan.dates(6, 20)),
        2,
    );
    seasonal(
        "Ferme urbaine de Plaisance",
        "Installer une ferme urbaine co-gérée par les habitants du quartier Plaisance".to_owned(),
        vec![ECOLOGIE, CITOYENNETE],
        Some("Plaisance"),
        first_at(plan, plan.dates(3, 15)),
        200,
    );
    seasonal(
        "Forum des associations",
        "Connecter les acteurs de la vie associative lors du forum".to_owned(),
        vec![CITOYENNETE],
        None,
        first_at(plan, plan.saturdays(9, &[1])),
        1,
    );
    seasonal(
        "Patrimoine et paysages du Val de Saône",
        "Mettre en place les « Jeux de notre territoire » pour valoriser le patrimoine et les paysages".to_owned(),
        vec![CULTURE, ECOLOGIE],
        None,
        first_at(plan, plan.saturdays(8, &[2])).map(|day| day - TimeDelta::days(30)),
        31,
    );
    seasonal(
        "Garde-manger solidaire",
        format!(
            "Garde-manger solidaire : collecte de denrées non périssables (hiver {}-{})",
            next_winter - 1,
            next_winter
        ),
        vec![SOLIDARITE],
        None,
        first_at(plan, plan.dates(12, 1)).filter(|starts_at| starts_at.year() == next_winter - 1),
        62,
    );
    seasonal(
        "Garde-manger solidaire",
        format!(
            "Garde-manger solidaire : collecte de denrées non périssables (hiver {}-{})",
            next_winter,
            next_winter + 1
        ),
        vec![SOLIDARITE],
        None,
        Some(at(next_winter, 12, 1)),
        62,
    );
    seasonal(
        "Club de lecture intergénérationnel",
        "Atelier d'écriture à la médiathèque".to_owned(),
        vec![CULTURE, TRANSMISSION],
        Some("Centre"),
        Some(plan.time(30.min(plan.days.len() - 1), 9, 0, 0)),
        540,
    );
    seasonal(
        "Vélo en Ville",
        "Défi : plus de 50 km à vélo en juillet".to_owned(),
        vec![VELO],
        None,
        Some(at(july, 7, 1)),
        31,
    );
    for spec in ASSOCIATIONS {
        let Some(title) = spec.mission else { continue };
        let day = random.between(14, plan.days.len() as i64 + 60);
        let starts_at = plan.start + TimeDelta::days(day) + TimeDelta::hours(random.between(9, 18));
        let mut categories: Vec<&'static str> = spec.categories.iter().map(|(category, _)| *category).collect();
        categories.truncate(2);
        let days = random.between(1, 90);
        missions.push((
            spec.name,
            title.to_owned(),
            categories,
            spec.neighbourhood,
            starts_at,
            starts_at + TimeDelta::days(days),
        ));
    }
    for (association, title, categories, neighbourhood, starts_at, ends_at) in missions {
        let published_at = (starts_at - TimeDelta::days(21)).max(plan.start + TimeDelta::hours(9)).min(plan.end);
        let closed_at = Some(ends_at + TimeDelta::days(1))
            .filter(|closed_at| *closed_at <= plan.end)
            .map(|closed_at| closed_at.max(published_at));
        let index = plan.missions.len();
        let published_day = plan.day(published_at.date_naive()).expect("published inside the year");
        plan.days[published_day].missions_published.push(index);
        if let Some(closed_at) = closed_at {
            let closed_day = plan.day(closed_at.date_naive()).expect("closed inside the year");
            plan.days[closed_day].missions_closed.push(index);
        }
        plan.missions.push(MissionPlan {
            id: MissionId::from_uuid(random.uuid()),
            association: association_index(association),
            title,
            categories,
            neighbourhood,
            starts_at,
            ends_at,
            published_at,
            closed_at,
        });
    }
}

/// Two draws among the gold tokens: a yearly pass for the pool, drawn in the middle of the year,
/// and seats at the big match, still open at the end.
fn plan_draws(plan: &mut Plan, seed: u64) {
    let mut random = Random::new(seed, STREAM_DRAWS, 0);
    let days = plan.days.len();
    let pool_closes = days * 8 / 12;
    let draws = [
        (
            "Pass annuel de la piscine municipale",
            3,
            plan.time(days * 4 / 12, 10, 0, 0),
            plan.time(pool_closes - 3, 12, 0, 0),
            plan.time(pool_closes, 18, 0, 0),
            Some(plan.time(pool_closes + 1, 9, 0, 0)),
        ),
        (
            "Places pour le grand match de la saison au stade",
            10,
            plan.time(days * 9 / 12, 10, 0, 0),
            plan.time(days - 2, 12, 0, 0),
            plan.end + TimeDelta::days(21),
            None,
        ),
    ];
    for (prize, winners, created_at, entries_at, closes_at, closed_at) in draws {
        let index = plan.draws.len();
        let day = |at: DateTime<Utc>| plan.day(at.date_naive()).expect("draw steps inside the year");
        let (created, entered) = (day(created_at), day(entries_at));
        let closed = closed_at.map(day);
        plan.days[created].draws_created.push(index);
        plan.days[entered].draws_entered.push(index);
        if let Some(closed) = closed {
            plan.days[closed].draws_closed.push(index);
        }
        let id = DrawId::from_uuid(random.uuid());
        plan.draws.push(DrawPlan { id, prize, winners, created_at, entries_at, closes_at, closed_at });
    }
}

// ---------------------------------------------------------------------------------------------
// Execution: the plan, through the engine
// ---------------------------------------------------------------------------------------------

struct Partner {
    id: PartnerId,
    name: &'static str,
    key: SecretKey,
    info: std::sync::Arc<PartnerInfo>,
    token: String,
    key_file: PathBuf,
}

/// What the concurrent jobs share.
struct Context {
    engine: Engine,
    state: AppState,
    associations: Vec<Partner>,
    venues: Vec<Partner>,
    citizens: Vec<CitizenId>,
    seed: u64,
}

/// What a batch of commands did, for the progress lines and the summary.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    registered: u64,
    certified: u64,
    issued: u64,
    capped: u64,
    redemptions: u64,
    redeemed: u64,
    revocations: u64,
    expired: u64,
    settled: u64,
    settlements: u64,
    draw_entries: u64,
    tickets: u64,
}

impl AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.registered += other.registered;
        self.certified += other.certified;
        self.issued += other.issued;
        self.capped += other.capped;
        self.redemptions += other.redemptions;
        self.redeemed += other.redeemed;
        self.revocations += other.revocations;
        self.expired += other.expired;
        self.settled += other.settled;
        self.settlements += other.settlements;
        self.draw_entries += other.draw_entries;
        self.tickets += other.tickets;
    }
}

/// Runs one job per item, at most [`CONCURRENCY`] at a time, on the runtime's threads.
async fn in_parallel<T, F, Fut>(items: Vec<T>, job: F) -> Result<Tally, DemoError>
where
    T: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<Tally, DemoError>> + Send + 'static,
{
    let mut running = futures::stream::iter(items).map(|item| tokio::spawn(job(item))).buffer_unordered(CONCURRENCY);
    let mut tally = Tally::default();
    while let Some(joined) = running.next().await {
        tally += joined.map_err(|error| DemoError::Io(format!("a demo task failed: {error}")))??;
    }
    Ok(tally)
}

/// Signs an object as the partner would, and checks it exactly as the HTTP edge does; returns
/// the signature, the fingerprint and the signed object, all stored with the event.
fn sign(
    kind: SignedKind,
    object: Map<String, Value>,
    partner: &Partner,
) -> Result<(String, String, ygor_ledger::partner::SignedRequest), DemoError> {
    let signed = ygor_crypto::sign_object(kind, object, &partner.key)?;
    let fingerprint =
        verify_partner_signature(kind, &signed, &partner.info).map_err(|error| DemoError::Signature(error.detail))?;
    let signature = signed
        .get(ygor_crypto::SIGNATURE_FIELD)
        .and_then(Value::as_str)
        .expect("sign_object sets the signature")
        .to_owned();
    Ok((signature, fingerprint, ygor_ledger::partner::SignedRequest::of(signed)))
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn register(context: Arc<Context>, job: (CitizenPlan, [u8; 32])) -> Result<Tally, DemoError> {
    let (citizen, token_hash) = job;
    let details = CitizenDetails {
        citizen_id: citizen.id.to_string(),
        neighbourhood: Some(citizen.neighbourhood.to_owned()),
        birth_year: Some(citizen.birth_year),
    };
    let demographics = Demographics { neighbourhood: details.neighbourhood.clone(), birth_year: details.birth_year };
    let interests = citizen.interests.iter().map(|category| category_id(category)).collect();
    context
        .engine
        .register_citizen(citizen.id, demographics, interests, details, token_hash, citizen.registered_at)
        .await?;
    Ok(Tally { registered: 1, ..Tally::default() })
}

/// One citizen's certifications of the day, in time order (monthly caps depend on the order).
async fn certify(context: Arc<Context>, mut jobs: Vec<CertificationPlan>) -> Result<Tally, DemoError> {
    jobs.sort_by_key(|job| job.at);
    let mut tally = Tally::default();
    for job in jobs {
        let association = &context.associations[job.association];
        let citizen_id = context.citizens[job.citizen];
        let mut object = Map::new();
        object.insert("action_id".to_owned(), Value::from(job.action_id.to_string()));
        object.insert("association_id".to_owned(), Value::from(association.id.to_string()));
        object.insert("citizen_id".to_owned(), Value::from(citizen_id.to_string()));
        object.insert("category".to_owned(), Value::from(job.category));
        object.insert("quantity".to_owned(), Value::from(job.quantity));
        object.insert("occurred_at".to_owned(), Value::from(rfc3339(job.occurred_at)));
        let (signature, fingerprint, request) = sign(SignedKind::Certification, object, association)?;
        let command = Certify {
            action_id: job.action_id,
            association_id: association.id,
            citizen_id,
            category: category_id(job.category),
            quantity: job.quantity,
            occurred_at: job.occurred_at,
            signature,
            request,
            fingerprint,
            gold: false,
            gold_period: None,
            lot_id: job.lot_id,
            at: job.at,
        };
        let outcome = context.engine.certify(command).await?.outcome;
        tally.certified += 1;
        tally.issued += outcome.tokens.value();
        if outcome.tokens.is_zero() {
            tally.capped += 1;
        }
    }
    Ok(tally)
}

/// The offer a citizen takes at a venue with what they can spend: the one they wish for if they
/// can afford it, else the dearest they can afford; two of it now and then.
fn redemption_amount(prices: &[u64], wish: u64, balance: u64) -> Option<u64> {
    let wished = prices[(wish % prices.len() as u64) as usize];
    let price =
        if wished <= balance { Some(wished) } else { prices.iter().copied().filter(|price| *price <= balance).max() }?;
    let two = (wish >> 32).is_multiple_of(4) && price * 2 <= balance;
    Some(if two { price * 2 } else { price })
}

/// Groups one phase's jobs by citizen: one citizen's commands run one after the other.
fn by_citizen<T>(jobs: Vec<T>, citizen: impl Fn(&T) -> usize) -> Vec<Vec<T>> {
    let mut groups: BTreeMap<usize, Vec<T>> = BTreeMap::new();
    for job in jobs {
        groups.entry(citizen(&job)).or_default().push(job);
    }
    groups.into_values().collect()
}

/// One citizen's visits to venues of the day, in time order (each spends what the last left).
async fn redeem_all(context: Arc<Context>, mut jobs: Vec<RedemptionPlan>) -> Result<Tally, DemoError> {
    jobs.sort_by_key(|job| job.at);
    let mut tally = Tally::default();
    for job in jobs {
        tally += redeem(context.clone(), job).await?;
    }
    Ok(tally)
}

/// A citizen asks for a voucher and shows it at a venue, which redeems it.
async fn redeem(context: Arc<Context>, job: RedemptionPlan) -> Result<Tally, DemoError> {
    let citizen_id = context.citizens[job.citizen];
    let balance = context.engine.wallet(citizen_id).await?.holdings().spendable(job.at).value();
    let Some(amount) = redemption_amount(VENUES[job.venue].prices, job.wish, balance) else {
        return Ok(Tally::default());
    };
    let venue = &context.venues[job.venue];
    let issued_at = job.at - TimeDelta::minutes(3);
    let claims = VoucherClaims {
        voucher_id: job.voucher_id.as_uuid(),
        citizen_id: citizen_id.as_uuid(),
        amount_max: amount,
        issued_at,
        expires_at: issued_at + VOUCHER_LIFETIME,
    };
    let voucher_text = ygor_crypto::issue_voucher(&claims, context.state.territory_key())?;
    let mut object = Map::new();
    object.insert("redemption_id".to_owned(), Value::from(job.redemption_id.to_string()));
    object.insert("venue_id".to_owned(), Value::from(venue.id.to_string()));
    object.insert("voucher".to_owned(), Value::from(voucher_text.clone()));
    object.insert("amount".to_owned(), Value::from(amount));
    let (signature, fingerprint, request) = sign(SignedKind::Redemption, object, venue)?;
    // The venue's side opens the voucher with the territory's public key, as the HTTP edge does.
    let opened = ygor_crypto::open_voucher(&voucher_text, context.state.territory_public_key())?;
    let voucher = VerifiedVoucher {
        voucher_id: VoucherId::from_uuid(opened.voucher_id),
        amount_max: Tokens::new(opened.amount_max),
        expires_at: opened.expires_at,
    };
    let command = Redeem {
        redemption_id: job.redemption_id,
        venue_id: venue.id,
        citizen_id: CitizenId::from_uuid(opened.citizen_id),
        voucher,
        voucher_text,
        amount: Tokens::new(amount),
        signature,
        request,
        fingerprint,
        at: job.at,
    };
    let outcome = context.engine.redeem(command).await?.outcome;
    Ok(Tally { redemptions: 1, redeemed: outcome.amount.value(), ..Tally::default() })
}

async fn revoke(context: Arc<Context>, job: RevocationPlan) -> Result<Tally, DemoError> {
    let association = context.associations[job.association].id;
    context.engine.revoke(association, job.action_id, job.reason.to_owned(), job.at).await?;
    Ok(Tally { revocations: 1, ..Tally::default() })
}

async fn change_interests(context: Arc<Context>, job: InterestChange) -> Result<Tally, DemoError> {
    let interests = job.interests.iter().map(|category| category_id(category)).collect();
    context.engine.set_interests(context.citizens[job.citizen], interests, job.at).await?;
    Ok(Tally::default())
}

/// Most citizens who hold gold tokens spend some of them as tickets in a draw.
async fn enter_draw(context: Arc<Context>, job: (usize, DrawId, usize, DateTime<Utc>)) -> Result<Tally, DemoError> {
    let (draw, draw_id, citizen, at) = job;
    let citizen_id = context.citizens[citizen];
    let gold = context.engine.wallet(citizen_id).await?.holdings().gold();
    // Drawn here but from the citizen's own stream, so the concurrent order does not matter.
    let mut random = Random::new(context.seed, STREAM_DRAWS, ((draw as u64 + 1) << 32) | citizen as u64);
    if gold == 0 || !random.chance(0.7) {
        return Ok(Tally::default());
    }
    let tickets = 1 + random.below(gold);
    context.engine.enter_draw(draw_id, citizen_id, tickets, at).await?;
    Ok(Tally { draw_entries: 1, tickets, ..Tally::default() })
}

/// Waits until the projections have applied everything written so far.
async fn caught_up(state: &AppState) -> Result<(), DemoError> {
    let position = state.log().last_position().await?;
    if state.projections().wait_for(position, PROJECTION_WAIT).await {
        Ok(())
    } else {
        Err(DemoError::Projections(format!("the projections did not reach position {position}")))
    }
}

/// The weekly expiry sweep, as `POST /v1/expiry/sweep` does it.
async fn sweep(context: &Context, at: DateTime<Utc>) -> Result<Tally, DemoError> {
    caught_up(&context.state).await?;
    let candidates = context.state.projections().read(|models| models.wallets_with_expired_lots(at));
    let outcome = context.engine.sweep(candidates, at).await?.outcome;
    Ok(Tally { expired: outcome.expired_tokens.value(), ..Tally::default() })
}

/// What each association keeps in its envelope beyond what the plan says it will certify, as a
/// collectivity that does not allocate to the token would. Without it an association often ended
/// the year with an empty envelope (the plan's needs are exact, and so were the top-ups), and the
/// first action certified after the demo, such as the printed example, was refused.
const ENVELOPE_RESERVE: u64 = 50;

/// Monthly: settles every venue, then tops up each association's envelope to what it will need
/// this month plus the [`ENVELOPE_RESERVE`], minting more supply when the treasury runs short.
/// As the plan's needs are an upper bound and revocations only give back, every envelope holds
/// at least the reserve at any time after its first top-up.
async fn monthly(context: &Context, plan: &Plan, day: usize, tally: &mut Tally) -> Result<(), DemoError> {
    if day > 0 {
        let at = plan.time(day, 6, 0, 0);
        for venue in &context.venues {
            let settled = context.engine.settle(venue.id, at).await?.outcome;
            if !settled.is_zero() {
                tally.settlements += 1;
                tally.settled += settled.value();
            }
        }
    }
    caught_up(&context.state).await?;
    let month = plan.month(plan.date(day));
    let (treasury, allocations) = context.state.projections().read(|models| {
        let allocations: Vec<u64> = context
            .associations
            .iter()
            .enumerate()
            .map(|(index, association)| {
                let holds = models.books.balance(Account::Envelope(association.id)).value();
                (plan.envelope_needs[month][index] + ENVELOPE_RESERVE).saturating_sub(holds).div_ceil(50) * 50
            })
            .collect();
        (models.circulation().treasury.value(), allocations)
    });
    let needed: u64 = allocations.iter().sum();
    if needed > treasury {
        let amount = (needed - treasury).div_ceil(10_000) * 10_000;
        context.engine.mint(Tokens::new(amount), plan.time(day, 7, 15, 0)).await?;
        eprintln!("[démo] {} : dotation complémentaire de {} jetons", plan.date(day).format("%d/%m/%Y"), fr(amount));
    }
    for (association, amount) in context.associations.iter().zip(allocations) {
        if amount > 0 {
            context.engine.allocate_envelope(association.id, Tokens::new(amount), plan.time(day, 7, 30, 0)).await?;
        }
    }
    Ok(())
}

const MONTHS: [&str; 12] =
    ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."];

/// `12345` as `12 345` (French) or `12,345` (English).
fn grouped(value: u64, separator: char) -> String {
    let digits = value.to_string();
    let mut text = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            text.push(separator);
        }
        text.push(digit);
    }
    text
}

fn fr(value: u64) -> String {
    grouped(value, ' ')
}

/// A French count: 0 and 1 take the singular.
fn fr_count(value: u64, singular: &str, plural: &str) -> String {
    format!("{} {}", fr(value), if value < 2 { singular } else { plural })
}

/// "Habitant·e du Centre", "de Plaisance", "des Rives"…
fn of_neighbourhood(name: &str) -> String {
    match name {
        "Centre" => "du Centre".to_owned(),
        "Gare" => "de la Gare".to_owned(),
        "Les Rives" => "des Rives".to_owned(),
        "Quartier Nord" => "du Quartier Nord".to_owned(),
        other => format!("de {other}"),
    }
}

fn en(value: u64) -> String {
    grouped(value, ',')
}

/// Registers the partners with fresh keys (written to `demo-keys/`) and tokens.
async fn register_partners(
    engine: &Engine,
    plan: &Plan,
    keys_dir: &Path,
) -> Result<(Vec<Partner>, Vec<Partner>), DemoError> {
    std::fs::create_dir_all(keys_dir)
        .map_err(|error| DemoError::Io(format!("cannot create {}: {error}", keys_dir.display())))?;
    let specs = ASSOCIATIONS
        .iter()
        .map(|spec| (PartnerKind::Association, spec.name))
        .chain(VENUES.iter().map(|spec| (PartnerKind::Venue, spec.name)));
    let mut associations = Vec::new();
    let mut venues = Vec::new();
    for (index, (kind, name)) in specs.enumerate() {
        let key = SecretKey::generate();
        let number = if kind == PartnerKind::Association { index + 1 } else { index + 1 - ASSOCIATIONS.len() };
        let key_file = keys_dir.join(format!("{kind}-{number:02}-{}.json", slug(name)));
        ygor_crypto::write_key_file(&key_file, &key).map_err(|error| {
            DemoError::Io(format!("cannot write {}: {error}; choose an empty directory", key_file.display()))
        })?;
        let prefix = if kind == PartnerKind::Association { "ygor_asso_" } else { "ygor_venue_" };
        let token = ygor_crypto::generate_token(prefix);
        let id = plan.partner_ids[index];
        let at = plan.start + TimeDelta::minutes(15) + TimeDelta::seconds(index as i64);
        engine
            .register_partner(
                id,
                kind,
                name.to_owned(),
                key.public_key().to_string(),
                ygor_crypto::hash_token(&token),
                at,
            )
            .await?;
        let info = engine.partner_info(id).await?.expect("a partner just registered is known");
        let partner = Partner { id, name, key, info, token, key_file };
        match kind {
            PartnerKind::Association => associations.push(partner),
            PartnerKind::Venue => venues.push(partner),
        }
    }
    Ok((associations, venues))
}

/// A file name from a French name: `Vélo en Ville` → `velo-en-ville`.
fn slug(name: &str) -> String {
    let mut slug = String::new();
    for character in name.chars().flat_map(char::to_lowercase) {
        let plain = match character {
            'à' | 'â' | 'ä' => 'a',
            'ç' => 'c',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'œ' => {
                slug.push_str("oe");
                continue;
            }
            other if other.is_ascii_alphanumeric() => other,
            _ => '-',
        };
        if plain != '-' || !(slug.is_empty() || slug.ends_with('-')) {
            slug.push(plain);
        }
        if slug.len() >= 40 {
            break;
        }
    }
    slug.trim_end_matches('-').to_owned()
}

/// Walks the year, day by day.
async fn simulate(context: Arc<Context>, mut plan: Plan, tokens: &[String]) -> Result<Plan, DemoError> {
    let engine = &context.engine;
    let mut total = Tally::default();
    let mut month_tally = Tally::default();
    for day in 0..plan.days.len() {
        let date = plan.date(day);
        let mut today = std::mem::take(&mut plan.days[day]);
        if day > 0 && date.weekday() == Weekday::Mon {
            month_tally += sweep(&context, plan.time(day, 3, 0, 0)).await?;
        }
        // In time order: settlements at 06:00, envelopes at 07:30, rules changes at 07:45.
        if date.day() == 1 {
            monthly(&context, &plan, day, &mut month_tally).await?;
        }
        for index in std::mem::take(&mut today.rules_changes) {
            let change = &plan.rules[index];
            let version = engine.publish_rules(change.rules.clone(), change.source.clone(), change.at).await?.outcome;
            eprintln!("[démo] {} : règles v{version} — {}", date.format("%d/%m/%Y"), change.note);
        }
        for index in &today.missions_published {
            let mission = &plan.missions[*index];
            let details = MissionDetails {
                association_id: context.associations[mission.association].id,
                title: mission.title.clone(),
                categories: mission.categories.iter().map(|category| category_id(category)).collect(),
                neighbourhood: mission.neighbourhood.map(str::to_owned),
                starts_at: mission.starts_at,
                ends_at: mission.ends_at,
            };
            engine.publish_mission(mission.id, details, mission.published_at).await?;
        }
        for index in &today.missions_closed {
            let mission = &plan.missions[*index];
            let closed_at = mission.closed_at.expect("a mission closed today has a closing time");
            engine.close_mission(mission.id, context.associations[mission.association].id, closed_at).await?;
        }
        let registrations: Vec<(CitizenPlan, [u8; 32])> = today
            .registrations
            .iter()
            .map(|index| (plan.citizens[*index].clone(), ygor_crypto::hash_token(&tokens[*index])))
            .collect();
        month_tally += in_parallel(registrations, |job| register(context.clone(), job)).await?;
        month_tally +=
            in_parallel(by_citizen(today.redemptions, |job| job.citizen), |jobs| redeem_all(context.clone(), jobs))
                .await?;
        month_tally +=
            in_parallel(by_citizen(today.certifications, |job| job.citizen), |jobs| certify(context.clone(), jobs))
                .await?;
        month_tally += in_parallel(today.revocations, |job| revoke(context.clone(), job)).await?;
        month_tally += in_parallel(today.interest_changes, |job| change_interests(context.clone(), job)).await?;
        for index in today.draws_created {
            let draw = &plan.draws[index];
            engine.create_draw(draw.id, draw.prize.to_owned(), draw.closes_at, draw.winners, draw.created_at).await?;
            eprintln!("[démo] {} : tirage au sort « {} » ouvert aux jetons d'or", date.format("%d/%m/%Y"), draw.prize);
        }
        for index in today.draws_entered {
            let draw = &plan.draws[index];
            let jobs = (0..plan.citizens.len()).map(|citizen| (index, draw.id, citizen, draw.entries_at)).collect();
            let entered = in_parallel(jobs, |job| enter_draw(context.clone(), job)).await?;
            eprintln!(
                "[démo] {} : {} au tirage « {} » ({})",
                date.format("%d/%m/%Y"),
                fr_count(entered.draw_entries, "participant", "participants"),
                draw.prize,
                fr_count(entered.tickets, "ticket", "tickets")
            );
        }
        for index in today.draws_closed {
            let draw = &plan.draws[index];
            let closed_at = draw.closed_at.expect("a draw closed today has a closing time");
            let result = engine.close_draw(draw.id, closed_at).await?.outcome;
            eprintln!(
                "[démo] {} : tirage « {} » clos, {}",
                date.format("%d/%m/%Y"),
                draw.prize,
                fr_count(result.winners.len() as u64, "gagnant", "gagnants")
            );
        }
        let last_of_month = day + 1 == plan.days.len() || plan.date(day + 1).day() == 1;
        if day + 1 == plan.days.len() {
            month_tally += sweep(&context, plan.end).await?;
        }
        if last_of_month {
            total += month_tally;
            eprintln!(
                "[démo] {} {} : {} (total {}), {} ({}, {} au plafond), {} ({}), {}, {}, {}",
                MONTHS[date.month() as usize - 1],
                date.year(),
                fr_count(month_tally.registered, "inscrit", "inscrits"),
                fr(total.registered),
                fr_count(month_tally.certified, "action certifiée", "actions certifiées"),
                fr_count(month_tally.issued, "jeton", "jetons"),
                fr(month_tally.capped),
                fr_count(month_tally.redemptions, "échange", "échanges"),
                fr_count(month_tally.redeemed, "jeton", "jetons"),
                fr_count(month_tally.revocations, "révocation", "révocations"),
                fr_count(month_tally.expired, "jeton expiré", "jetons expirés"),
                fr_count(month_tally.settled, "jeton remboursé aux lieux", "jetons remboursés aux lieux"),
            );
            month_tally = Tally::default();
        }
    }
    Ok(plan)
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Login {
    pub name: String,
    pub id: String,
    pub token: String,
    pub key_file: PathBuf,
}

#[derive(Debug, Clone)]
pub struct CitizenLogin {
    pub id: String,
    pub token: String,
    pub neighbourhood: String,
    pub age: i32,
    pub actions: u64,
    pub badges: u64,
    pub redemptions: u64,
    pub balance: u64,
}

/// What the demo built, read back from the projections.
#[derive(Debug, Clone)]
pub struct Summary {
    pub citizens: u64,
    pub associations: u64,
    pub venues: u64,
    pub missions: u64,
    pub open_missions: u64,
    pub certifications: u64,
    pub revoked_certifications: u64,
    pub redemptions: u64,
    pub settlements: u64,
    pub badges: u64,
    pub citizens_with_badges: u64,
    pub rules_versions: u64,
    pub draws: u64,
    pub closed_draws: u64,
    pub events: i64,
    pub circulation: Circulation,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub data_dir: PathBuf,
    /// The log is in PostgreSQL: `ygor serve` needs the same `--database-url`.
    pub postgres: bool,
    pub seed: u64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub admin_token: String,
    pub associations: Vec<Login>,
    pub venues: Vec<Login>,
    pub citizens: Vec<CitizenLogin>,
    pub summary: Summary,
    pub tokens_file: PathBuf,
    pub elapsed: Duration,
    /// A fresh action id for the example certification.
    pub example_action_id: String,
}

impl Report {
    fn serve_command(&self) -> String {
        let database = if self.postgres { " --database-url \"$DATABASE_URL\"" } else { "" };
        format!("ygor serve --data-dir {}{database}", self.data_dir.display())
    }

    fn exports(&self) -> String {
        let mut line = format!("export ADMIN='{}'", self.admin_token);
        if let Some(association) = self.associations.first() {
            line.push_str(&format!(" ASSO='{}'", association.token));
        }
        if let Some(venue) = self.venues.first() {
            line.push_str(&format!(" VENUE='{}'", venue.token));
        }
        if let Some(citizen) = self.citizens.first() {
            line.push_str(&format!(" CITIZEN='{}'", citizen.token));
        }
        line
    }

    fn examples(&self, comments: [&str; 4]) -> String {
        let url = format!("http://{DEFAULT_LISTEN}");
        let auth = |who: &str| format!("curl -s -H \"Authorization: Bearer ${who}\"");
        let mut text = String::new();
        text.push_str(&format!("  {}\n", self.exports()));
        text.push_str(&format!("  # {}\n", comments[0]));
        text.push_str(&format!("  {} {url}/v1/dashboards/circulation\n", auth("ADMIN")));
        text.push_str(&format!("  {} '{url}/v1/dashboards/participation?by=neighbourhood'\n", auth("ADMIN")));
        text.push_str(&format!("  {} '{url}/v1/dashboards/participation?by=month&format=csv'\n", auth("ADMIN")));
        text.push_str(&format!("  # {}\n", comments[1]));
        text.push_str(&format!("  {} {url}/v1/me/wallet\n", auth("CITIZEN")));
        text.push_str(&format!("  {} {url}/v1/me/profile\n", auth("CITIZEN")));
        text.push_str(&format!("  {} {url}/v1/me/missions\n", auth("CITIZEN")));
        if let Some(venue) = self.venues.first() {
            text.push_str(&format!("  # {}\n", comments[2]));
            text.push_str(&format!("  {} {url}/v1/venues/{}/redemptions\n", auth("VENUE"), venue.id));
            text.push_str(&format!("  {} {url}/v1/venues/{}/statements\n", auth("VENUE"), venue.id));
        }
        if let (Some(association), Some(citizen)) = (self.associations.first(), self.citizens.first()) {
            text.push_str(&format!("  # {}\n", comments[3]));
            text.push_str(&format!(
                "  echo '{{\"action_id\":\"{}\",\"association_id\":\"{}\",\"citizen_id\":\"{}\",\"category\":\"ecologie\",\"quantity\":1,\"occurred_at\":\"{}\"}}' \\\n    | ygor sign certification --key {} \\\n    | curl -s -X POST {url}/v1/certifications -H \"Authorization: Bearer $ASSO\" -H 'Content-Type: application/json' --data-binary @-\n",
                self.example_action_id,
                association.id,
                citizen.id,
                rfc3339(self.end),
                association.key_file.display(),
            ));
        }
        text
    }

    /// The text `ygor demo` prints: French first, then English.
    pub fn text(&self) -> String {
        let s = &self.summary;
        let c = &s.circulation;
        let mut text = String::new();
        // Français
        text.push_str(&format!(
            "\nDémo prête : {} habitants, graine {}, du {} au {}, en {:.1} s.\n",
            fr(s.citizens),
            self.seed,
            self.start.format("%d/%m/%Y"),
            self.end.format("%d/%m/%Y"),
            self.elapsed.as_secs_f64()
        ));
        text.push_str(&format!(
            "  Territoire : {} associations, {} lieux partenaires, {} missions ({} ouvertes), {} versions des règles, {} ({} clos).\n",
            s.associations,
            s.venues,
            s.missions,
            s.open_missions,
            s.rules_versions,
            fr_count(s.draws, "tirage au sort", "tirages au sort"),
            s.closed_draws
        ));
        text.push_str(&format!(
            "  Activité : {} actions certifiées ({} révoquées), {} échanges, {} règlements, {} badges pour {} habitants, {} événements au journal.\n",
            fr(s.certifications),
            fr(s.revoked_certifications),
            fr(s.redemptions),
            fr(s.settlements),
            fr(s.badges),
            fr(s.citizens_with_badges),
            fr(s.events as u64)
        ));
        text.push_str(&format!(
            "  Jetons : {} émis par la collectivité, {} distribués, {} dépensés, {} remboursés aux lieux, {} expirés, {} révoqués, {} jetons d'or gagnés ; en trésorerie {}, enveloppes {}, portefeuilles {}, à rembourser {}.\n",
            fr(c.minted.value()),
            fr(c.issued.value()),
            fr(c.redeemed.value()),
            fr(c.recovered.value()),
            fr(c.expired.value()),
            fr(c.revoked.value()),
            fr(c.gold_issued),
            fr(c.treasury.value()),
            fr(c.envelopes.value()),
            fr(c.wallets.value()),
            fr(c.redeemed_unsettled.value())
        ));
        text.push_str(&format!("\nPour démarrer : {}  puis http://{DEFAULT_LISTEN}/docs\n", self.serve_command()));
        text.push_str(&format!(
            "\nJetons de connexion (aussi dans {}, mode 0600 ; clés des partenaires dans {}) :\n",
            self.tokens_file.display(),
            self.data_dir.join(KEYS_DIR).display()
        ));
        text.push_str(&format!("  Collectivité (administration) : {}\n", self.admin_token));
        for association in &self.associations {
            text.push_str(&format!(
                "  Association « {} » ({}) : {}\n",
                association.name, association.id, association.token
            ));
        }
        for venue in &self.venues {
            text.push_str(&format!("  Lieu « {} » ({}) : {}\n", venue.name, venue.id, venue.token));
        }
        for citizen in &self.citizens {
            text.push_str(&format!(
                "  Habitant·e {}, {} ans — {}, {}, {}, solde {} : {}\n",
                of_neighbourhood(&citizen.neighbourhood),
                citizen.age,
                fr_count(citizen.actions, "action", "actions"),
                fr_count(citizen.badges, "badge", "badges"),
                fr_count(citizen.redemptions, "échange", "échanges"),
                fr_count(citizen.balance, "jeton", "jetons"),
                citizen.token
            ));
        }
        text.push_str("\nExemples :\n");
        text.push_str(&self.examples([
            "tableaux de bord de la collectivité",
            "portefeuille, profil et missions d'un·e habitant·e",
            "échanges et relevés d'un lieu partenaire",
            "certifier une action, signée avec la clé de l'association",
        ]));
        // English
        text.push_str(&format!(
            "\nDemo ready: {} citizens, seed {}, from {} to {}, in {:.1} s.\n",
            en(s.citizens),
            self.seed,
            self.start.format("%Y-%m-%d"),
            self.end.format("%Y-%m-%d"),
            self.elapsed.as_secs_f64()
        ));
        text.push_str(&format!(
            "  Territory: {} associations, {} partner venues, {} missions ({} open), {} rules versions, {} draws ({} closed).\n",
            s.associations, s.venues, s.missions, s.open_missions, s.rules_versions, s.draws, s.closed_draws
        ));
        text.push_str(&format!(
            "  Activity: {} certified actions ({} revoked), {} redemptions, {} settlements, {} badges for {} citizens, {} events in the log.\n",
            en(s.certifications),
            en(s.revoked_certifications),
            en(s.redemptions),
            en(s.settlements),
            en(s.badges),
            en(s.citizens_with_badges),
            en(s.events as u64)
        ));
        text.push_str(&format!(
            "  Tokens: {} minted, {} issued, {} redeemed, {} recovered from venues, {} expired, {} revoked, {} gold tokens earned; treasury {}, envelopes {}, wallets {}, to settle {}.\n",
            en(c.minted.value()),
            en(c.issued.value()),
            en(c.redeemed.value()),
            en(c.recovered.value()),
            en(c.expired.value()),
            en(c.revoked.value()),
            en(c.gold_issued),
            en(c.treasury.value()),
            en(c.envelopes.value()),
            en(c.wallets.value()),
            en(c.redeemed_unsettled.value())
        ));
        text.push_str(&format!("\nTo start: {}  then http://{DEFAULT_LISTEN}/docs\n", self.serve_command()));
        text.push_str(&format!(
            "\nLogin tokens (also in {}, mode 0600; partner keys in {}):\n",
            self.tokens_file.display(),
            self.data_dir.join(KEYS_DIR).display()
        ));
        text.push_str(&format!("  Collectivity (admin): {}\n", self.admin_token));
        for association in &self.associations {
            text.push_str(&format!(
                "  Association \"{}\" ({}): {}\n",
                association.name, association.id, association.token
            ));
        }
        for venue in &self.venues {
            text.push_str(&format!("  Venue \"{}\" ({}): {}\n", venue.name, venue.id, venue.token));
        }
        for citizen in &self.citizens {
            text.push_str(&format!(
                "  Citizen of {}, aged {} — {} actions, {} badges, {} redemptions, balance {}: {}\n",
                citizen.neighbourhood,
                citizen.age,
                citizen.actions,
                citizen.badges,
                citizen.redemptions,
                citizen.balance,
                citizen.token
            ));
        }
        text.push_str("\nExamples:\n");
        text.push_str(&self.examples([
            "the collectivity's dashboards",
            "a citizen's wallet, profile and missions",
            "a venue's redemptions and statement",
            "certify an action, signed with the association's key",
        ]));
        text
    }
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

/// Builds the demo territory in the configured data directory and returns what to print.
pub async fn run(options: &Options) -> Result<Report, DemoError> {
    let started = Instant::now();
    if options.citizens == 0 || options.citizens > CITIZENS_MAX {
        return Err(DemoError::Invalid(format!("--citizens must be between 1 and {CITIZENS_MAX}")));
    }
    let config = &options.config;
    ensure_fresh(config).await?;
    let plan = plan(options.seed, options.citizens, Utc::now())?;
    eprintln!(
        "[démo] Plan (graine {}) du {} au {} : {} habitants, {} associations, {} lieux, {} missions, {} actions, {} passages en lieux partenaires, {} révocations",
        options.seed,
        plan.start.format("%d/%m/%Y"),
        plan.end.format("%d/%m/%Y"),
        fr(plan.citizens.len() as u64),
        ASSOCIATIONS.len(),
        VENUES.len(),
        plan.missions.len(),
        fr(plan.certifications as u64),
        fr(plan.redemption_attempts as u64),
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
    eprintln!("[démo] {} : règles v1 publiées, {} jetons émis", plan.start.format("%d/%m/%Y"), fr(initial));
    let (associations, venues) = register_partners(&engine, &plan, &data_dir.join(KEYS_DIR)).await?;
    eprintln!(
        "[démo] {} associations et {} lieux partenaires inscrits, clés dans {}",
        associations.len(),
        venues.len(),
        data_dir.join(KEYS_DIR).display()
    );
    let tokens: Vec<String> = (0..plan.citizens.len()).map(|_| ygor_crypto::generate_token("ygor_cit_")).collect();
    let context = Arc::new(Context {
        engine,
        state: state.clone(),
        associations,
        venues,
        citizens: plan.citizens.iter().map(|citizen| citizen.id).collect(),
        seed: options.seed,
    });
    let plan = simulate(context.clone(), plan, &tokens).await?;
    caught_up(state).await?;
    let end = plan.end;
    let index_of: HashMap<CitizenId, usize> =
        plan.citizens.iter().enumerate().map(|(index, citizen)| (citizen.id, index)).collect();
    let (summary, picks) = state.projections().read(|models| {
        let mut redemptions: BTreeMap<CitizenId, u64> = BTreeMap::new();
        for book in models.venues.venues.values() {
            for redemption in &book.redemptions {
                *redemptions.entry(redemption.citizen_id).or_default() += 1;
            }
        }
        let actions = |id: &CitizenId| {
            models.profiles.profiles.get(id).map(|profile| profile.counted().count() as u64).unwrap_or(0)
        };
        let badges =
            |id: &CitizenId| models.profiles.profiles.get(id).map(|profile| profile.badges.len() as u64).unwrap_or(0);
        let mut picks: Vec<CitizenId> = Vec::new();
        let ids: Vec<CitizenId> = plan.citizens.iter().map(|citizen| citizen.id).collect();
        let best =
            |picks: &[CitizenId], key: &dyn Fn(&CitizenId) -> (u64, u64), filter: &dyn Fn(&CitizenId) -> bool| {
                ids.iter().filter(|id| !picks.contains(id) && filter(id)).max_by_key(|id| key(id)).copied()
            };
        // The most decorated citizen, the most frequent visitor of venues, and a senior.
        if let Some(id) = best(&picks, &|id| (badges(id), actions(id)), &|_| true) {
            picks.push(id);
        }
        if let Some(id) = best(&picks, &|id| (redemptions.get(id).copied().unwrap_or(0), actions(id)), &|_| true) {
            picks.push(id);
        }
        let senior = |id: &CitizenId| plan.citizens[index_of[id]].age >= 65;
        if let Some(id) = best(&picks, &|id| (actions(id), badges(id)), &senior)
            .or_else(|| best(&picks, &|id| (actions(id), badges(id)), &|_| true))
        {
            picks.push(id);
        }
        let picks: Vec<CitizenLogin> = picks
            .into_iter()
            .map(|id| {
                let index = index_of[&id];
                CitizenLogin {
                    id: id.to_string(),
                    token: tokens[index].clone(),
                    neighbourhood: plan.citizens[index].neighbourhood.to_owned(),
                    age: plan.citizens[index].age,
                    actions: actions(&id),
                    badges: badges(&id),
                    redemptions: redemptions.get(&id).copied().unwrap_or(0),
                    balance: models.wallets.get(&id).map(|wallet| wallet.spendable(end).value()).unwrap_or(0),
                }
            })
            .collect();
        let registry = || models.profiles.profiles.values().flat_map(|profile| &profile.actions);
        let summary = Summary {
            citizens: models.wallets.values().filter(|wallet| wallet.is_registered()).count() as u64,
            associations: models.partners.values().filter(|(kind, _)| *kind == PartnerKind::Association).count() as u64,
            venues: models.partners.values().filter(|(kind, _)| *kind == PartnerKind::Venue).count() as u64,
            missions: models.missions.missions.len() as u64,
            open_missions: models.missions.open_at(end).len() as u64,
            certifications: registry().count() as u64,
            revoked_certifications: registry().filter(|action| action.revoked).count() as u64,
            redemptions: redemptions.values().sum(),
            settlements: models.venues.venues.values().map(|book| book.settlements.len() as u64).sum(),
            badges: models.profiles.profiles.values().map(|profile| profile.badges.len() as u64).sum(),
            citizens_with_badges: models.profiles.profiles.values().filter(|profile| !profile.badges.is_empty()).count()
                as u64,
            rules_versions: plan.rules.len() as u64,
            draws: models.draws.len() as u64,
            closed_draws: models.draws.values().filter(|draw| draw.result().is_some()).count() as u64,
            events: models.position,
            circulation: models.circulation(),
        };
        (summary, picks)
    });
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
        end,
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
    use ygor_projections::participation::Dimension;

    const DIMENSIONS: [Dimension; 5] =
        [Dimension::Category, Dimension::Association, Dimension::Neighbourhood, Dimension::Month, Dimension::AgeBand];

    #[test]
    fn the_same_seed_plans_the_same_year() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 1, 15, 7).single().expect("a valid time");
        let first = plan(7, 200, now).expect("plan");
        let second = plan(7, 200, now).expect("plan");
        let summary = |plan: &Plan| {
            plan.days
                .iter()
                .flat_map(|day| day.certifications.iter().map(|c| (c.action_id, c.at, c.quantity, c.association)))
                .collect::<Vec<_>>()
        };
        assert_eq!(summary(&first), summary(&second));
        assert_eq!(first.redemption_attempts, second.redemption_attempts);
        let other = plan(8, 200, now).expect("plan");
        assert_ne!(summary(&first), summary(&other));
    }

    #[test]
    fn the_plan_spans_a_year_with_seasons_and_a_winter_rule_change() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 1, 15, 7).single().expect("a valid time");
        let plan = plan(1, 500, now).expect("plan");
        assert_eq!(plan.start, Utc.with_ymd_and_hms(2025, 11, 1, 0, 0, 0).single().expect("valid"));
        assert_eq!(plan.rules.len(), 3, "sample rules, winter rules, sample rules again");
        let certifications: Vec<&CertificationPlan> = plan.days.iter().flat_map(|day| &day.certifications).collect();
        assert!(certifications.iter().all(|c| c.occurred_at <= c.at && c.at <= plan.end));
        let in_month = |category: &str, month: u32| {
            certifications.iter().filter(|c| c.category == category && c.occurred_at.month() == month).count()
        };
        assert!(in_month(VELO, 7) > 3 * in_month(VELO, 1), "the bike challenge is in July");
        assert!(in_month(SOLIDARITE, 12) > in_month(SOLIDARITE, 8), "solidarity peaks in winter");
        assert!(in_month(ECOLOGIE, 4) > in_month(ECOLOGIE, 1), "cleanups are in spring");
        let young = plan.citizens.iter().filter(|citizen| (15..=25).contains(&citizen.age)).count();
        assert!(young * 4 > plan.citizens.len(), "a bulge of 15–25 year-olds");
        assert!(plan.citizens.iter().all(|citizen| (15..=85).contains(&citizen.age) && citizen.interests.len() <= 3));
    }

    #[test]
    fn redemptions_take_what_the_citizen_can_afford() {
        // The low bits choose the offer; `(wish >> 32) % 4 == 0` takes two when affordable.
        let one = 1 << 32;
        assert_eq!(redemption_amount(&[5, 40], 0, 3), None);
        assert_eq!(redemption_amount(&[5, 40], one + 1, 20), Some(5), "the dearest affordable one");
        assert_eq!(redemption_amount(&[5, 40], one + 1, 45), Some(40), "the wished one");
        assert_eq!(redemption_amount(&[8], 0, 100), Some(16), "two of it");
        assert_eq!(redemption_amount(&[8], 0, 10), Some(8), "two only when affordable");
        assert_eq!(redemption_amount(&[8], one, 100), Some(8));
    }

    #[test]
    fn slugs_are_plain_file_names() {
        assert_eq!(slug("Vélo en Ville"), "velo-en-ville");
        assert_eq!(slug("MJC (Maison des Jeunes et de la Culture)"), "mjc-maison-des-jeunes-et-de-la-culture");
        assert_eq!(grouped(1234567, ' '), "1 234 567");
        assert_eq!(grouped(999, ','), "999");
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
