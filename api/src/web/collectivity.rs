//! The collectivity's pages (admin session): circulation at a glance with the conservation
//! identity, and participation grouped as the clerk chooses over a period, drawn as an SVG chart
//! beside its table, with the table as CSV or XLSX.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use ygor_projections::participation::Dimension;

use crate::AppState;
use crate::auth::Admin;
use crate::extract::{ApiQuery, Consistent};
use crate::routes;
use crate::web::citizen::{category_labels, caught_up};
use crate::web::session::CollectivityPage;
use crate::web::session::{Form, admin_of};
use crate::web::transparency::{Figure, Row, balanced, circulation_figures, identity, month_label, rows};
use crate::web::{Chrome, Notice, PageError, chart, format, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/collectivite", get(home))
        .route("/collectivite/participation.csv", table_file(DashboardTable::Participation, "csv"))
        .route("/collectivite/participation.xlsx", table_file(DashboardTable::Participation, "xlsx"))
        .route("/collectivite/offres.csv", table_file(DashboardTable::Offers, "csv"))
        .route("/collectivite/offres.xlsx", table_file(DashboardTable::Offers, "xlsx"))
        .route("/collectivite/cartes", get(cards).post(reprint_card))
        .route("/collectivite/citoyens", axum::routing::post(register_citizen))
        .route("/collectivite/cartes/planche", axum::routing::post(new_sheet))
}

/// The groupings offered: the API's `by` and its French name.
const GROUPINGS: [(&str, &str); 5] = [
    ("month", "Mois"),
    ("category", "Catégorie"),
    ("association", "Association"),
    ("neighbourhood", "Quartier"),
    ("age_band", "Tranche d'âge"),
];

#[derive(Deserialize, Default)]
struct DashboardQuery {
    par: Option<String>,
    du: Option<String>,
    au: Option<String>,
}

impl DashboardQuery {
    /// The grouping asked for, or months.
    fn by(&self) -> &'static str {
        GROUPINGS.iter().map(|(by, _)| *by).find(|by| self.par.as_deref() == Some(*by)).unwrap_or("month")
    }

    /// `du` and `au` (dates, `AAAA-MM-JJ`) as the API's RFC 3339 bounds at midnight UTC.
    fn period(&self) -> (Option<String>, Option<String>) {
        let bound = |date: &Option<String>| {
            date.as_deref().filter(|text| !text.is_empty()).map(|text| format!("{text}T00:00:00Z"))
        };
        (bound(&self.du), bound(&self.au))
    }

    /// This query as a URL query string, for the download links.
    fn encoded(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("par", self.by());
        for (name, value) in [("du", &self.du), ("au", &self.au)] {
            if let Some(value) = value.as_deref().filter(|value| !value.is_empty()) {
                query.append_pair(name, value);
            }
        }
        query.finish()
    }
}

#[derive(Template)]
#[template(path = "collectivite.html")]
struct HomePage {
    chrome: Chrome,
    minted: String,
    identity: String,
    balanced: bool,
    figures: Vec<Figure>,
    groupings: Vec<(&'static str, &'static str)>,
    by: &'static str,
    from: String,
    to: String,
    period_error: Option<String>,
    key_label: &'static str,
    caption: String,
    chart: String,
    rows: Vec<Row>,
    query: String,
    gaps: Vec<Gap>,
    band_min: u64,
}

/// An offer whose reach differs between two age bands: the services some publics leave unused.
struct Gap {
    offer: String,
    venue: String,
    low: String,
    high: String,
    gap: String,
}

/// Age bands with fewer registered citizens than this are left out of the comparison.
const BAND_MIN_REGISTERED: u64 = 5;

/// The offers whose reach differs most between two age bands, widest gap first.
fn gaps(
    state: &AppState,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
) -> Vec<Gap> {
    let dashboard = routes::offers::offer_dashboard(state, ygor_projections::offer_uses::Grouping::Offer, from, to);
    let mut found: Vec<(f64, Gap)> = dashboard
        .rows
        .into_iter()
        .filter_map(|row| {
            let bands: Vec<(&str, f64)> = row
                .by_age_band
                .iter()
                .filter(|band| band.key != "inconnu" && band.registered >= BAND_MIN_REGISTERED)
                .filter_map(|band| band.reach_percent.map(|percent| (band.key.as_str(), percent)))
                .collect();
            let low = bands.iter().min_by(|a, b| a.1.total_cmp(&b.1))?;
            let high = bands.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
            let percent = |value: f64| format!("{}\u{A0}%", format!("{value:.1}").replace('.', ","));
            let gap = Gap {
                offer: row.offer.clone().unwrap_or_default(),
                venue: row.venue.clone(),
                low: format!("{} ans : {}", low.0, percent(low.1)),
                high: format!("{} ans : {}", high.0, percent(high.1)),
                gap: format!("{} points", format!("{:.1}", high.1 - low.1).replace('.', ",")),
            };
            Some((high.1 - low.1, gap))
        })
        .collect();
    found.sort_by(|a, b| b.0.total_cmp(&a.0));
    found.into_iter().take(10).map(|(_, gap)| gap).collect()
}

async fn home(
    State(state): State<AppState>,
    page: CollectivityPage,
    Query(query): Query<DashboardQuery>,
) -> Result<Response, PageError> {
    caught_up(&state).await;
    let by = query.by();
    let (from, to) = query.period();
    let mut period_error = None;
    let bounds = match routes::venue::parse_period(from.as_deref(), to.as_deref()) {
        Ok(bounds) => bounds,
        Err(_) => {
            period_error = Some("Indiquez des dates valables, la première avant la seconde.".to_owned());
            (None, None)
        }
    };
    let dimension = Dimension::parse(by).unwrap_or(Dimension::Month);
    let (circulation, mut found) =
        state.projections().read(|models| (models.circulation(), models.participation(dimension, bounds.0, bounds.1)));
    if by == "month" {
        found.sort_by(|a, b| a.key.cmp(&b.key));
    }
    let labels = category_labels(&state);
    let (bars, table) = rows(
        found,
        |key| match by {
            "month" => month_label(key),
            "category" => labels.get(key).cloned().unwrap_or_else(|| key.to_owned()),
            _ => key.to_owned(),
        },
        1,
    );
    let key_label = GROUPINGS.iter().find(|(name, _)| *name == by).map(|(_, label)| *label).unwrap_or("Mois");
    let caption = format!("Actions certifiées, citoyens distincts et jetons par {}", key_label.to_lowercase());
    let c = &circulation;
    let mut figures = circulation_figures(c);
    figures
        .push(Figure { label: "Jetons d'or détenus par les citoyens", value: format::number(c.gold_outstanding()) });
    Ok(render(&HomePage {
        chrome: Chrome::new(&page.visitor, "Tableau de bord", "/collectivite"),
        minted: format::tokens(c.minted.value()),
        identity: identity(c),
        balanced: balanced(c),
        figures,
        groupings: GROUPINGS.to_vec(),
        by,
        from: query.du.clone().unwrap_or_default(),
        to: query.au.clone().unwrap_or_default(),
        period_error,
        key_label,
        chart: chart::bars(&caption, &bars),
        caption,
        rows: table,
        query: query.encoded(),
        gaps: gaps(&state, bounds.0, bounds.1),
        band_min: BAND_MIN_REGISTERED,
    }))
}

/// The dashboard's tables offered as files.
#[derive(Clone, Copy)]
enum DashboardTable {
    /// Participation, grouped as the page is.
    Participation,
    /// The offers dashboard behind the under-consumed services: each offer's reach by age band
    /// and by neighbourhood.
    Offers,
}

/// The route of one table as a file (`csv` or `xlsx`) over the page's period, with the session
/// alone: the API's own export.
fn table_file(table: DashboardTable, format: &'static str) -> axum::routing::MethodRouter<AppState> {
    get(move |State(state): State<AppState>, _page: CollectivityPage, Query(query): Query<DashboardQuery>| async move {
        caught_up(&state).await;
        let (from, to) = query.period();
        let format = Some(format.to_owned());
        let answer = match table {
            DashboardTable::Participation => {
                let by = query.by().to_owned();
                let api_query = routes::collectivity::ParticipationQuery { by, from, to, format, min_position: None };
                routes::collectivity::participation(State(state), Admin, ApiQuery(api_query), Consistent).await
            }
            DashboardTable::Offers => {
                let api_query = routes::offers::OfferDashboardQuery { by: None, from, to, format, min_position: None };
                routes::offers::dashboard(State(state), Admin, ApiQuery(api_query), Consistent).await
            }
        };
        answer.map_err(PageError::from)
    })
}

/// How long the login link of a printed card stays valid.
const CARD_LINK_DAYS: i64 = 31;
/// Cards on one printed A4 sheet (2 columns of 5 credit-card-sized cards).
const SHEET_CARDS: usize = 10;

#[derive(Template)]
#[template(path = "cartes.html")]
struct CardsPage {
    chrome: Chrome,
    notice: Option<Notice>,
    sheet_cards: usize,
}

/// One card: a citizen's code, the QR code of their login link, and a smaller QR code of the
/// code itself for the partners' scanners.
struct CardView {
    code: String,
    qr_svg: String,
    code_qr_svg: String,
}

#[derive(Template)]
#[template(path = "carte.html")]
struct CardPage {
    chrome: Chrome,
    cards: Vec<CardView>,
    expires: String,
}

async fn cards(page: CollectivityPage) -> Response {
    render(&CardsPage {
        chrome: Chrome::new(&page.visitor, "Cartes citoyennes", "/collectivite/cartes"),
        notice: None,
        sheet_cards: SHEET_CARDS,
    })
}

/// The forms again, with what went wrong above them (`422`).
fn refused(visitor: &crate::web::session::Visitor, text: String) -> Response {
    let notice = Some(Notice { kind: "alert", text });
    let mut response = render(&CardsPage {
        chrome: Chrome::new(visitor, "Cartes citoyennes", "/collectivite/cartes"),
        notice,
        sheet_cards: SHEET_CARDS,
    });
    *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    response
}

/// The cards of `citizens` (id and code), each with a new one-time login link, on one page that
/// prints as an A4 sheet.
async fn print_cards(
    state: &AppState,
    visitor: &crate::web::session::Visitor,
    headers: &axum::http::HeaderMap,
    citizens: Vec<(ygor_ledger::CitizenId, String)>,
) -> Result<Response, PageError> {
    let now = chrono::Utc::now();
    let validity = chrono::Duration::days(CARD_LINK_DAYS);
    let mut cards = Vec::with_capacity(citizens.len());
    let mut expires = now + validity;
    for (citizen_id, code) in citizens {
        let (url, expires_at) =
            crate::web::login::new_link(state, &citizen_id.to_string(), Some(headers), validity, now).await?;
        expires = expires_at;
        let code_qr_svg = routes::offers::qr_svg(&code)?;
        cards.push(CardView { code, qr_svg: routes::offers::qr_svg(&url)?, code_qr_svg });
    }
    let title = if cards.len() == 1 { "Carte citoyenne" } else { "Planche de cartes citoyennes" };
    Ok(render(&CardPage {
        chrome: Chrome::new(visitor, title, "/collectivite/cartes"),
        cards,
        expires: format::date(expires),
    }))
}

#[derive(Deserialize)]
struct CodesForm {
    #[serde(default)]
    codes: String,
}

/// New cards for citizens already registered: one to ten codes, separated by spaces, commas or
/// lines; every code is checked before any card is printed.
async fn reprint_card(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    form: Form<CodesForm>,
) -> Result<Response, PageError> {
    admin_of(&form.visitor)?;
    let typed: Vec<&str> = form
        .value
        .codes
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|code| !code.is_empty())
        .collect();
    if typed.is_empty() || typed.len() > SHEET_CARDS {
        return Ok(refused(&form.visitor, format!("Saisissez de 1 à {SHEET_CARDS} codes citoyens, un par ligne.")));
    }
    let mut citizens: Vec<(ygor_ledger::CitizenId, String)> = Vec::with_capacity(typed.len());
    let (mut malformed, mut unknown) = (Vec::new(), Vec::new());
    for text in typed {
        let Some(code) = ygor_crypto::read_short_code(text) else {
            malformed.push(text.to_owned());
            continue;
        };
        match state.log().citizen_with_code(&code).await.map_err(PageError::store)? {
            Some(citizen) => {
                let citizen_id = ygor_ledger::CitizenId::parse(&citizen)
                    .map_err(|_| PageError::Api(crate::error::ApiError::internal()))?;
                if !citizens.iter().any(|(id, _)| *id == citizen_id) {
                    citizens.push((citizen_id, code));
                }
            }
            None => unknown.push(text.to_owned()),
        }
    }
    if !malformed.is_empty() {
        return Ok(refused(
            &form.visitor,
            format!(
                "Ces codes n'ont pas 8 caractères valables (par exemple 7K3F-Q9RD) : {}. Aucune carte n'a été imprimée.",
                malformed.join(", ")
            ),
        ));
    }
    if !unknown.is_empty() {
        return Ok(refused(
            &form.visitor,
            format!(
                "Aucun citoyen n'a ce code : {}. Vérifiez-le avec la personne ; aucune carte n'a été imprimée.",
                unknown.join(", ")
            ),
        ));
    }
    print_cards(&state, &form.visitor, &headers, citizens).await
}

#[derive(Deserialize)]
struct CitizenForm {
    neighbourhood: String,
    birth_year: String,
    email: String,
}

async fn register_citizen(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    form: Form<CitizenForm>,
) -> Result<Response, PageError> {
    admin_of(&form.visitor)?;
    let given = |text: &str| Some(text.trim().to_owned()).filter(|text| !text.is_empty());
    let birth_year = match given(&form.value.birth_year).map(|year| year.parse::<i32>()) {
        None => None,
        Some(Ok(year)) => Some(year),
        Some(Err(_)) => {
            return Ok(refused(
                &form.visitor,
                "L'année de naissance s'écrit en chiffres, par exemple 1987.".to_owned(),
            ));
        }
    };
    let request = routes::collectivity::CitizenRequest {
        neighbourhood: given(&form.value.neighbourhood),
        birth_year,
        interests: None,
        email: given(&form.value.email),
    };
    register_and_print(&state, &form.visitor, &headers, vec![request]).await
}

/// Registers a citizen for each request, one after the other, and prints their cards. A refusal
/// of the first (a neighbourhood the rules do not know…) is said on the cards page: nothing was
/// written, and the others would be refused alike.
async fn register_and_print(
    state: &AppState,
    visitor: &crate::web::session::Visitor,
    headers: &axum::http::HeaderMap,
    requests: Vec<routes::collectivity::CitizenRequest>,
) -> Result<Response, PageError> {
    let mut citizens = Vec::with_capacity(requests.len());
    for request in requests {
        let registered = match routes::collectivity::citizen_registered(state, Admin, request).await {
            Ok(registered) => registered,
            Err(error) if error.status.is_client_error() && citizens.is_empty() => {
                return Ok(refused(visitor, format!("Inscription refusée : {}", crate::web::messages::french(&error))));
            }
            Err(error) => return Err(error.into()),
        };
        let citizen_id = ygor_ledger::CitizenId::parse(&registered.citizen_id)
            .map_err(|_| PageError::Api(crate::error::ApiError::internal()))?;
        citizens.push((citizen_id, registered.citizen_code));
    }
    print_cards(state, visitor, headers, citizens).await
}

#[derive(Deserialize)]
struct SheetForm {
    #[serde(default)]
    count: String,
    #[serde(default)]
    neighbourhood: String,
}

/// A sheet of cards for new citizens registered now, without any detail: cards handed out at an
/// event or a front desk, each the only key to its wallet.
async fn new_sheet(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    form: Form<SheetForm>,
) -> Result<Response, PageError> {
    admin_of(&form.visitor)?;
    let count = match form.value.count.trim().parse::<usize>() {
        Ok(count) if (1..=SHEET_CARDS).contains(&count) => count,
        _ => {
            return Ok(refused(
                &form.visitor,
                format!("Indiquez un nombre de cartes de 1 à {SHEET_CARDS} (une planche A4)."),
            ));
        }
    };
    let neighbourhood = Some(form.value.neighbourhood.trim().to_owned()).filter(|text| !text.is_empty());
    let requests = (0..count)
        .map(|_| routes::collectivity::CitizenRequest {
            neighbourhood: neighbourhood.clone(),
            birth_year: None,
            interests: None,
            email: None,
        })
        .collect();
    register_and_print(&state, &form.visitor, &headers, requests).await
}
