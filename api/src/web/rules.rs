//! `/collectivite/regles` (admin session): the rules in force, said in French; a new version
//! sent as a TOML file or pasted, refused with its error shown at its line; and the history of
//! the versions.

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use ygor_rules::{IsoDuration, MAX_SOURCE_BYTES, Rules};

use crate::AppState;
use crate::web::citizen::caught_up;
use crate::web::session::{CollectivityPage, Visitor, admin_of, check_csrf, refuse_cross_site};
use crate::web::{Chrome, Notice, PageError, format, messages, render};

/// Largest request the upload form may send: the file and the pasted text, each at most a rules
/// file's size, and the form's own framing.
const UPLOAD_LIMIT: usize = 2 * MAX_SOURCE_BYTES + 16 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/collectivite/regles", get(rules_page).post(upload).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)))
}

/// A duration of the rules in French: « 6 mois », « 1 an et 2 mois », « 30 jours ».
pub(crate) fn duration(value: &IsoDuration) -> String {
    let parts: Vec<String> = [
        (value.years, "an", "ans"),
        (value.months, "mois", "mois"),
        (value.weeks, "semaine", "semaines"),
        (value.days, "jour", "jours"),
        (value.hours, "heure", "heures"),
        (value.minutes, "minute", "minutes"),
        (value.seconds, "seconde", "secondes"),
    ]
    .into_iter()
    .filter(|(count, _, _)| *count > 0)
    .map(|(count, singular, plural)| format::count(u64::from(count), singular, plural))
    .collect();
    match parts.split_last() {
        None => "aucune durée".to_owned(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} et {last}", rest.join(", ")),
    }
}

/// The gold rules in French: « 2 % des actions certifiées, tirées par période de 1 mois ».
fn gold(rules: Option<&ygor_rules::GoldRules>) -> String {
    match rules {
        Some(gold) if gold.probability > 0.0 => {
            let percent = format!("{:.4}", gold.probability * 100.0);
            let percent = percent.trim_end_matches('0').trim_end_matches('.').replace('.', ",");
            format!("{percent} % des actions certifiées, tirées par période de {}", duration(&gold.period))
        }
        _ => "aucun : aucune action n'en fait gagner".to_owned(),
    }
}

/// A category as the page shows it.
struct CategoryLine {
    label: String,
    id: String,
    earns: String,
    cap: String,
}

/// A badge as the page shows it.
struct BadgeLine {
    label: String,
    category: String,
    condition: String,
    window: String,
}

/// The rules in force, said in French.
struct Readable {
    version: u32,
    published: String,
    facts: Vec<(&'static str, String)>,
    categories: Vec<CategoryLine>,
    badges: Vec<BadgeLine>,
    neighbourhoods: Vec<String>,
}

fn readable(rules: &Rules, version: u32, published_at: chrono::DateTime<chrono::Utc>) -> Readable {
    let unit_of = |category: &ygor_rules::Category| category.unit.clone().unwrap_or_else(|| "unité".to_owned());
    let mut facts = vec![
        ("Durée de vie des jetons", duration(&rules.lifetime)),
        ("Délai pour certifier une action passée", duration(&rules.backdate_max)),
    ];
    facts.push(("Jetons d'or", gold(rules.gold.as_ref())));
    facts.push(match rules.settlement {
        Some(settlement) => {
            ("Valeur d'un jeton pour rembourser les lieux", format::euros(settlement.token_value_cents))
        }
        None => (
            "Valeur d'un jeton pour rembourser les lieux",
            "non fixée : les remboursements se comptent en jetons".to_owned(),
        ),
    });
    let categories = rules
        .categories
        .iter()
        .map(|category| {
            let mut earns = Vec::new();
            if category.tokens_per_action > 0 {
                earns.push(format!("{} par action", format::tokens(category.tokens_per_action)));
            }
            if category.tokens_per_unit > 0 {
                earns.push(format!("{} par {}", format::tokens(category.tokens_per_unit), unit_of(category)));
            }
            CategoryLine {
                label: category.label.clone(),
                id: category.id.clone(),
                earns: if earns.is_empty() { "aucun jeton".to_owned() } else { earns.join(" + ") },
                cap: category
                    .cap_per_citizen_per_month
                    .map(|cap| format!("{} par mois", format::tokens(cap)))
                    .unwrap_or_else(|| "aucun".to_owned()),
            }
        })
        .collect();
    let badges = rules
        .badges
        .iter()
        .map(|badge| {
            let category = rules.category(&badge.category);
            let mut condition = Vec::new();
            if let Some(actions) = badge.actions_min {
                condition.push(format::count(actions, "action", "actions"));
            }
            if let Some(quantity) = badge.quantity_min {
                let unit = category.map(unit_of).unwrap_or_else(|| "unités".to_owned());
                condition.push(format!("{} {unit}", format::number(quantity)));
            }
            let window = match (badge.from, badge.to) {
                (None, None) => "toujours".to_owned(),
                (Some(from), None) => format!("à partir du {}", format::date(from)),
                (None, Some(to)) => format!("jusqu'au {} exclu", format::date(to)),
                (Some(from), Some(to)) => format!("du {} au {} exclu", format::date(from), format::date(to)),
            };
            BadgeLine {
                label: badge.label.clone(),
                category: category.map(|category| category.label.clone()).unwrap_or_else(|| badge.category.clone()),
                condition: if condition.is_empty() { "une action".to_owned() } else { condition.join(" et ") },
                window,
            }
        })
        .collect();
    Readable {
        version,
        published: format::date_time(published_at),
        facts,
        categories,
        badges,
        neighbourhoods: rules.neighbourhoods.iter().map(|neighbourhood| neighbourhood.label.clone()).collect(),
    }
}

/// One version of the rules in the history.
struct VersionLine {
    version: u32,
    published: String,
    in_force: bool,
}

/// A refused file: the error, its line and the lines around it.
struct Refusal {
    line: Option<usize>,
    message: String,
    excerpt: Vec<(usize, String, bool)>,
}

/// How many lines are shown on each side of the line an error is about.
const EXCERPT_CONTEXT: usize = 2;

fn refusal(source: &str, error: &ygor_rules::RulesError) -> Refusal {
    let excerpt = match error.line {
        Some(line) => source
            .lines()
            .enumerate()
            .map(|(index, text)| (index + 1, text))
            .filter(|(number, _)| number.abs_diff(line) <= EXCERPT_CONTEXT)
            .map(|(number, text)| (number, text.to_owned(), number == line))
            .collect(),
        None => Vec::new(),
    };
    Refusal { line: error.line, message: error.message.clone(), excerpt }
}

#[derive(Template)]
#[template(path = "regles.html")]
struct RulesPage {
    chrome: Chrome,
    notice: Option<Notice>,
    rules: Option<Readable>,
    versions: Vec<VersionLine>,
    text: String,
    refusal: Option<Refusal>,
    max_kib: usize,
}

#[derive(Deserialize, Default)]
struct RulesQuery {
    publiee: Option<u32>,
    identique: Option<u32>,
}

/// The page, with `text` in the editing field and what went wrong with it, if anything.
fn page(
    state: &AppState,
    visitor: &Visitor,
    notice: Option<Notice>,
    text: Option<String>,
    refusal: Option<Refusal>,
) -> Response {
    let (rules, versions, source) = state.projections().read(|models| {
        let latest = models.directory.rules_versions.last();
        let rules = models
            .rules
            .as_ref()
            .zip(latest)
            .map(|(rules, latest)| readable(rules, latest.version, latest.published_at));
        let versions = models
            .directory
            .rules_versions
            .iter()
            .rev()
            .map(|published| VersionLine {
                version: published.version,
                published: format::date_time(published.published_at),
                in_force: Some(published.version) == latest.map(|latest| latest.version),
            })
            .collect();
        (rules, versions, models.directory.rules_source.clone())
    });
    let status = if refusal.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let mut response = render(&RulesPage {
        chrome: Chrome::new(visitor, "Règles", "/collectivite/regles"),
        notice,
        rules,
        versions,
        text: text.or(source).unwrap_or_default(),
        refusal,
        max_kib: MAX_SOURCE_BYTES / 1024,
    });
    *response.status_mut() = status;
    response
}

async fn rules_page(
    State(state): State<AppState>,
    page_of: CollectivityPage,
    Query(query): Query<RulesQuery>,
) -> Response {
    caught_up(&state).await;
    let notice = match (query.publiee, query.identique) {
        (Some(version), _) => Some(Notice {
            kind: "ok",
            text: format!(
                "Version {version} des règles publiée : elle s'applique aux actions certifiées à partir de maintenant."
            ),
        }),
        (None, Some(version)) => Some(Notice {
            kind: "info",
            text: format!("Ces règles sont identiques à la version {version} en vigueur : rien n'a été publié."),
        }),
        _ => None,
    };
    page(&state, &page_of.visitor, notice, None, None)
}

/// The fields of the upload form.
#[derive(Default)]
struct Upload {
    csrf: Option<String>,
    file: Option<Vec<u8>>,
    text: Option<String>,
}

async fn read_upload(mut multipart: Multipart) -> Result<Upload, PageError> {
    let mut upload = Upload::default();
    let too_large = |_| PageError::TooLarge;
    while let Some(field) = multipart.next_field().await.map_err(|error| PageError::BadForm(error.body_text()))? {
        match field.name() {
            Some("csrf") => upload.csrf = Some(field.text().await.map_err(too_large)?),
            Some("fichier") => upload.file = Some(field.bytes().await.map_err(too_large)?.to_vec()),
            Some("texte") => upload.text = Some(field.text().await.map_err(too_large)?),
            _ => {}
        }
    }
    Ok(upload)
}

/// Publishes the file sent, or else the text pasted, as the new rules.
async fn upload(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Response, PageError> {
    refuse_cross_site(&headers)?;
    let upload = read_upload(multipart).await?;
    check_csrf(&visitor, upload.csrf.as_deref())?;
    admin_of(&visitor)?;
    caught_up(&state).await;
    let alert = |text: String| Some(Notice { kind: "alert", text });
    let source = match upload.file.filter(|file| !file.is_empty()) {
        Some(file) => match String::from_utf8(file) {
            Ok(text) => text,
            Err(_) => {
                let text = "Ce fichier n'est pas un texte UTF-8 : enregistrez-le en UTF-8 depuis votre éditeur.";
                return Ok(refused(page(&state, &visitor, alert(text.to_owned()), upload.text, None)));
            }
        },
        None => upload.text.unwrap_or_default(),
    };
    if source.trim().is_empty() {
        let text = "Choisissez un fichier de règles ou collez son texte.";
        return Ok(refused(page(&state, &visitor, alert(text.to_owned()), Some(source), None)));
    }
    let rules = match Rules::parse(&source) {
        Ok(rules) => rules,
        Err(error) => {
            let refusal = refusal(&source, &error);
            let text = match error.line {
                Some(line) => format!("Règles refusées : l'erreur est à la ligne {line}, rien n'a été publié."),
                None => "Règles refusées : rien n'a été publié.".to_owned(),
            };
            return Ok(page(&state, &visitor, alert(text), Some(source), Some(refusal)));
        }
    };
    match crate::routes::collectivity::publish_parsed(&state, rules, &source).await {
        Ok(published) if published.published => {
            Ok(Redirect::to(&format!("/collectivite/regles?publiee={}", published.version)).into_response())
        }
        Ok(published) => {
            Ok(Redirect::to(&format!("/collectivite/regles?identique={}", published.version)).into_response())
        }
        Err(error) if error.status.is_client_error() => {
            let text = format!("Règles refusées : {}", messages::french(&error));
            Ok(refused(page(&state, &visitor, alert(text), Some(source), None)))
        }
        Err(error) => Err(error.into()),
    }
}

/// The page answered as a refusal (`422`).
fn refused(mut response: Response) -> Response {
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_said_in_french() {
        let parse = |text: &str| IsoDuration::parse(text).expect("a duration");
        assert_eq!(duration(&parse("P6M")), "6 mois");
        assert_eq!(duration(&parse("P1Y")), "1 an");
        assert_eq!(duration(&parse("P1Y2M")), "1 an et 2 mois");
        assert_eq!(duration(&parse("P2WT3H")), "2 semaines et 3 heures");
        assert_eq!(duration(&parse("P1Y2M10D")), "1 an, 2 mois et 10 jours");
        assert_eq!(duration(&parse("P30D")), "30 jours");
    }

    #[test]
    fn the_gold_chance_is_said_as_a_percentage_and_none_when_zero() {
        let period = IsoDuration::parse("P1M").expect("a duration");
        let at = |probability: f64| gold(Some(&ygor_rules::GoldRules { probability, period }));
        assert_eq!(at(0.02), "2 % des actions certifiées, tirées par période de 1 mois");
        assert_eq!(at(0.07), "7 % des actions certifiées, tirées par période de 1 mois");
        assert_eq!(at(0.125), "12,5 % des actions certifiées, tirées par période de 1 mois");
        assert_eq!(at(1.0), "100 % des actions certifiées, tirées par période de 1 mois");
        assert_eq!(at(0.0), "aucun : aucune action n'en fait gagner");
        assert_eq!(gold(None), "aucun : aucune action n'en fait gagner");
    }

    #[test]
    fn a_refusal_shows_the_lines_around_its_line() {
        let source = "a\nb\nc\nd\ne\nf\ng";
        let error = ygor_rules::RulesError { line: Some(4), message: "bad".to_owned() };
        let shown = refusal(source, &error);
        let numbers: Vec<usize> = shown.excerpt.iter().map(|(number, _, _)| *number).collect();
        assert_eq!(numbers, vec![2, 3, 4, 5, 6]);
        assert_eq!(
            shown.excerpt.iter().filter(|(_, _, at)| *at).map(|(number, _, _)| *number).collect::<Vec<_>>(),
            vec![4]
        );
        let whole = refusal(source, &ygor_rules::RulesError { line: None, message: "bad".to_owned() });
        assert!(whole.excerpt.is_empty());
    }
}
