//! The sample territory of `shared/samples/territory.md`: its categories and neighbourhoods, the
//! associations and venues (those named there, then generated ones), how each kind of activity
//! varies with the seasons and with age, and the rules versions of the year.

use chrono::{DateTime, Datelike, TimeDelta, TimeZone, Utc};
use ygor_ledger::CategoryId;
use ygor_ledger::offer::CapacityPeriod;
use ygor_rules::Rules;

use crate::DemoError;

/// The rules of the sample territory (a copy of `shared/samples/rules.toml`).
const SAMPLE_RULES: &str = include_str!("demo_rules.toml");

pub(crate) const ECOLOGIE: &str = "ecologie";
pub(crate) const SOLIDARITE: &str = "solidarite";
pub(crate) const CULTURE: &str = "culture";
pub(crate) const CITOYENNETE: &str = "citoyennete";
pub(crate) const TRANSMISSION: &str = "transmission";
pub(crate) const VELO: &str = "velo";
pub(crate) const CATEGORIES: [&str; 6] = [ECOLOGIE, SOLIDARITE, CULTURE, CITOYENNETE, TRANSMISSION, VELO];

/// Neighbourhoods and their share of the population.
pub(crate) const NEIGHBOURHOODS: [(&str, f64); 6] = [
    ("Centre", 22.0),
    ("Plaisance", 18.0),
    ("Gare", 15.0),
    ("Les Rives", 15.0),
    ("Belleroche", 15.0),
    ("Quartier Nord", 15.0),
];

pub(crate) struct AssociationSpec {
    pub(crate) name: &'static str,
    /// The categories it certifies, with their weights.
    pub(crate) categories: &'static [(&'static str, f64)],
    pub(crate) neighbourhood: Option<&'static str>,
    /// Relative number of volunteers.
    pub(crate) size: f64,
    /// The title of the mission it publishes, for the generated associations (the missions of
    /// `territory.md` are in `plan::calendar`).
    pub(crate) mission: Option<&'static str>,
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
pub(crate) const ASSOCIATIONS: &[AssociationSpec] = &[
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
pub(crate) enum Season {
    AllYear,
    Summer,
    Winter,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    Everyone,
    Young,
    Senior,
}

/// An offer a venue publishes: its title, price in tokens, and capacity per period, if any.
pub(crate) struct OfferSpec {
    pub(crate) title: &'static str,
    pub(crate) price: u64,
    pub(crate) capacity: Option<(u32, CapacityPeriod)>,
}

const fn offer(title: &'static str, price: u64, capacity: Option<(u32, CapacityPeriod)>) -> OfferSpec {
    OfferSpec { title, price, capacity }
}

const fn per_day(count: u32) -> Option<(u32, CapacityPeriod)> {
    Some((count, CapacityPeriod::Day))
}

const fn per_week(count: u32) -> Option<(u32, CapacityPeriod)> {
    Some((count, CapacityPeriod::Week))
}

const fn per_month(count: u32) -> Option<(u32, CapacityPeriod)> {
    Some((count, CapacityPeriod::Month))
}

pub(crate) struct VenueSpec {
    pub(crate) name: &'static str,
    /// Its offers, the cheapest first.
    pub(crate) offers: &'static [OfferSpec],
    /// Relative number of visits.
    pub(crate) weight: f64,
    pub(crate) season: Season,
    pub(crate) audience: Audience,
}

const fn venue(
    name: &'static str,
    offers: &'static [OfferSpec],
    weight: f64,
    season: Season,
    audience: Audience,
) -> VenueSpec {
    VenueSpec { name, offers, weight, season, audience }
}

/// The seven venues of `territory.md` first, then generated ones. Capacities are those of small
/// places (a pool's daily entries for the scheme, a theatre's seats set aside each week): in
/// season, some days are full and a citizen is turned away; out of it, most places go unused.
pub(crate) const VENUES: &[VenueSpec] = &[
    venue(
        "Piscine municipale",
        &[offer("Entrée piscine", 5, per_day(25)), offer("Carte de 10 entrées", 40, None)],
        4.0,
        Season::Summer,
        Audience::Young,
    ),
    venue(
        "Théâtre municipal",
        &[offer("Place de théâtre", 15, per_week(30)), offer("Place pour une première", 25, per_week(8))],
        2.0,
        Season::AllYear,
        Audience::Senior,
    ),
    venue("Musée d'histoire locale", &[offer("Entrée du musée", 6, None)], 1.5, Season::AllYear, Audience::Senior),
    venue(
        "Médiathèque",
        &[offer("Atelier numérique", 4, per_week(12)), offer("Abonnement annuel", 15, None)],
        3.0,
        Season::AllYear,
        Audience::Everyone,
    ),
    venue("Cinéma associatif", &[offer("Séance de cinéma", 8, per_week(60))], 4.0, Season::Winter, Audience::Young),
    venue(
        "AMAP des Rives (circuit court)",
        &[offer("Panier de légumes", 12, per_week(20)), offer("Grand panier de saison", 20, per_week(8))],
        2.0,
        Season::AllYear,
        Audience::Everyone,
    ),
    venue(
        "Recyclerie (économie sociale et solidaire)",
        &[offer("Petit objet réparé", 5, None), offer("Bon d'achat recyclerie", 10, None)],
        2.0,
        Season::AllYear,
        Audience::Everyone,
    ),
    venue("Patinoire municipale", &[offer("Entrée patinoire", 6, per_day(30))], 2.0, Season::Winter, Audience::Young),
    venue(
        "Conservatoire de musique",
        &[offer("Cours d'essai", 25, per_month(6))],
        1.0,
        Season::AllYear,
        Audience::Everyone,
    ),
    venue(
        "Salle de concerts La Cale",
        &[offer("Place de concert", 15, per_week(25))],
        2.0,
        Season::AllYear,
        Audience::Young,
    ),
    venue(
        "Librairie indépendante Le Marque-Page",
        &[offer("Bon de lecture", 12, None)],
        2.0,
        Season::AllYear,
        Audience::Senior,
    ),
    venue(
        "Épicerie coopérative du Centre",
        &[offer("Panier solidaire", 10, per_week(40))],
        2.0,
        Season::AllYear,
        Audience::Everyone,
    ),
    venue(
        "Café associatif Le Comptoir",
        &[offer("Boisson", 3, None), offer("Repas du midi", 6, per_day(15))],
        2.0,
        Season::AllYear,
        Audience::Everyone,
    ),
    venue(
        "Base nautique de la Saône",
        &[offer("Initiation à la voile", 12, per_day(8))],
        1.5,
        Season::Summer,
        Audience::Young,
    ),
    venue(
        "Maison du vélo (réparation et location)",
        &[offer("Réparation de vélo", 8, per_week(15)), offer("Location d'un vélo pour la journée", 20, per_day(4))],
        1.5,
        Season::AllYear,
        Audience::Everyone,
    ),
];

/// How a category's activity varies over the year (index: month − 1).
pub(crate) fn seasonality(category: &str, month: u32) -> f64 {
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
pub(crate) fn affinity(category: &str, age: i32) -> f64 {
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

pub(crate) fn venue_appeal(venue: &VenueSpec, month: u32, age: i32) -> f64 {
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

pub(crate) fn association_index(name: &str) -> usize {
    ASSOCIATIONS.iter().position(|spec| spec.name == name).unwrap_or_else(|| panic!("no demo association {name}"))
}

pub(crate) fn category_id(text: &str) -> CategoryId {
    CategoryId::parse(text).expect("the demo's categories are valid ids")
}

/// The July of the simulated year (ending at `end`), when the bike challenge and its badge are.
pub(crate) fn simulated_july(end: DateTime<Utc>) -> i32 {
    if end.month() > 7 { end.year() } else { end.year() - 1 }
}

/// A version of the rules, published at `at`.
#[derive(Debug, Clone)]
pub(crate) struct RulesChange {
    pub(crate) at: DateTime<Utc>,
    pub(crate) rules: Rules,
    pub(crate) source: String,
    /// What changed, in French, for the progress lines.
    pub(crate) note: &'static str,
}

/// The rules versions of the year: the sample rules, a winter version that raises solidarity,
/// and the sample rules again in spring.
pub(crate) fn rules_changes(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Vec<RulesChange>, DemoError> {
    const SOLIDARITY_NORMAL: &str = "tokens_per_action = 12\ncap_per_citizen_per_month = 72";
    const SOLIDARITY_WINTER: &str = "tokens_per_action = 18\ncap_per_citizen_per_month = 108";
    const JULY: (&str, &str) = ("2026-07-01T00:00:00Z", "2026-08-01T00:00:00Z");
    assert!(SAMPLE_RULES.contains(SOLIDARITY_NORMAL), "the sample rules give solidarity 12 tokens, capped at 72");
    assert!(SAMPLE_RULES.contains(JULY.0) && SAMPLE_RULES.contains(JULY.1), "the sample bike badge is in July 2026");
    // The bike badge is for the July of the simulated year.
    let july = simulated_july(end);
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
