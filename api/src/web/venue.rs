//! The venue's desk, made for a counter: look a citizen's voucher up by its countermark or its QR
//! code, validate it (signed in the browser with the venue's key, which never leaves it), import
//! that key, read the redemptions and the statement, and manage the venue's offers.
//!
//! Each page reads and writes through the same handler code as the JSON API: a redemption is
//! checked and committed by [`routes::venue::redeem_signed`], an offer published by
//! [`routes::offers::publish_offer`], the statement computed by [`routes::venue::statement_of`].

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use ygor_ledger::offer::CapacityPeriod;
use ygor_ledger::{OfferId, PartnerId};

use crate::AppState;
use crate::auth::{Caller, Venue};
use crate::error::ApiError;
use crate::export::FileFormat;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Consistent, parse_signed};
use crate::routes;
use crate::routes::offers::{CapacityBody, OfferRequest, OffersQuery};
use crate::routes::venue::RedemptionRequest;
use crate::web::Notice;
use crate::web::citizen::caught_up;
use crate::web::format;
use crate::web::messages::french;
use crate::web::session::{Form, VenuePage, Visitor};
use crate::web::{Chrome, PageError, key, render, script_partner, script_refusal};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/guichet", get(desk).post(look_up))
        .route("/guichet/valider", post(validate))
        .route("/guichet/cle", get(key_page))
        .route("/guichet/historique", get(history))
        .route("/guichet/historique.csv", get(history_csv))
        .route("/guichet/historique.xlsx", get(history_xlsx))
        .route("/guichet/offres", get(offers).post(publish))
        .route("/guichet/offres/{offer_id}/cloturer", post(close))
}

/// The venue of a form's visitor.
fn venue_of(visitor: &Visitor) -> Result<PartnerId, PageError> {
    match visitor.caller {
        Some(Caller::Venue(id)) => Ok(id),
        Some(_) => Err(PageError::WrongRole("lieux partenaires")),
        None => Err(PageError::Login),
    }
}

// ---------------------------------------------------------------------------------------------
// The desk: look a voucher up, then validate it

/// A voucher found at the desk, and what the browser signs to redeem it.
struct Found {
    offer_title: Option<String>,
    offer_id: Option<String>,
    amount: u64,
    amount_text: String,
    expires: String,
    expires_at: String,
    countermark: Option<String>,
    voucher: Option<String>,
}

#[derive(Template)]
#[template(path = "guichet.html")]
struct DeskPage {
    chrome: Chrome,
    venue_id: String,
    code: String,
    error: Option<String>,
    found: Option<Found>,
}

impl DeskPage {
    fn new(visitor: &Visitor, venue_id: PartnerId) -> Self {
        DeskPage {
            chrome: Chrome::new(visitor, "Guichet", "/guichet").with_script("guichet.js"),
            venue_id: venue_id.to_string(),
            code: String::new(),
            error: None,
            found: None,
        }
    }
}

async fn desk(page: VenuePage) -> Response {
    render(&DeskPage::new(&page.visitor, page.venue_id))
}

#[derive(Deserialize)]
struct LookUpForm {
    #[serde(default)]
    code: String,
}

/// What was typed or scanned: a voucher's whole text (`v1.<claims>.<signature>`), or a
/// countermark read canonically.
enum Presented {
    Voucher(String),
    Countermark(String),
}

const MALFORMED: &str = "Ce code n'est ni une contremarque ni un bon : une contremarque a 8 caractères, chiffres et \
                         lettres, par exemple 7K3F-Q9RD. Vérifiez la saisie ou scannez à nouveau le QR code.";

fn read_presented(text: &str) -> Result<Presented, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("Saisissez la contremarque de 8 caractères du bon, ou scannez son QR code.".to_owned());
    }
    if text.contains('.') {
        // Scanners may break a long text over lines; a voucher has no blank in it.
        let voucher: String = text.chars().filter(|character| !character.is_whitespace()).collect();
        return Ok(Presented::Voucher(voucher));
    }
    ygor_crypto::read_short_code(text).map(Presented::Countermark).ok_or_else(|| MALFORMED.to_owned())
}

/// Looks the voucher up and says what it is for, or why it cannot be used.
async fn find(state: &AppState, presented: Presented) -> Result<Found, String> {
    let now = routes::now();
    let (text, countermark) = match presented {
        Presented::Voucher(text) => (text, None),
        Presented::Countermark(countermark) => {
            let found = state
                .log()
                .find_countermark(&countermark, now)
                .await
                .map_err(|error| french(&ApiError::from(error)))?;
            let text = found.ok_or_else(|| {
                french(&ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_countermark", "unknown countermark"))
            })?;
            (text, Some(countermark))
        }
    };
    let claims = ygor_crypto::open_voucher(&text, state.territory_public_key()).map_err(|_| {
        "Ce QR code n'est pas un bon de ce territoire, ou il a été mal lu : scannez-le à nouveau, ou saisissez la \
         contremarque."
            .to_owned()
    })?;
    if claims.expires_at <= now {
        return Err(french(&ApiError::new(StatusCode::GONE, "voucher_expired", "expired")));
    }
    let offer_id = claims.offer_id.map(OfferId::from_uuid);
    let offer_title = offer_id.and_then(|offer_id| {
        state.projections().read(|models| models.offers.offers.get(&offer_id).map(|offer| offer.terms.title.clone()))
    });
    Ok(Found {
        offer_title,
        offer_id: offer_id.map(|offer_id| offer_id.to_string()),
        amount: claims.amount_max,
        amount_text: format::tokens(claims.amount_max),
        expires: format::date_time(claims.expires_at),
        expires_at: claims.expires_at.to_rfc3339(),
        voucher: countermark.is_none().then_some(text),
        countermark,
    })
}

async fn look_up(State(state): State<AppState>, form: Form<LookUpForm>) -> Result<Response, PageError> {
    let venue_id = venue_of(&form.visitor)?;
    caught_up(&state).await;
    let mut page = DeskPage::new(&form.visitor, venue_id);
    let result = match read_presented(&form.value.code) {
        Ok(presented) => find(&state, presented).await,
        Err(message) => Err(message),
    };
    match result {
        Ok(found) => page.found = Some(found),
        Err(message) => {
            page.error = Some(message);
            page.code = form.value.code.trim().chars().take(2048).collect();
        }
    }
    let mut response = render(&page);
    if page.error.is_some() {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

/// Redeems a voucher with a redemption the browser signed with the venue's key: the same checks
/// and command as `POST /v1/redemptions`, with the session instead of the bearer token and the
/// page's CSRF value in the `x-csrf` header. Answers JSON for the desk's script.
async fn validate(State(state): State<AppState>, visitor: Visitor, headers: HeaderMap, body: Bytes) -> Response {
    let role = |caller| match caller {
        Caller::Venue(id) => Some(id),
        _ => None,
    };
    let venue_id = match script_partner(&visitor, &headers, role, "d'un lieu partenaire") {
        Ok(venue_id) => venue_id,
        Err(refusal) => return refusal.into_response(),
    };
    let signed = match parse_signed::<RedemptionRequest>(&body) {
        Ok(signed) => signed,
        Err(error) => return script_refusal(&error),
    };
    match routes::venue::redeem_signed(&state, venue_id, signed).await {
        Ok((_, answer)) => {
            let message = format!("Bon validé : {}", format::tokens(answer.amount));
            (
                StatusCode::OK,
                Json(json!({ "ok": true, "code": "redeemed", "message": message, "amount": answer.amount,
                "redemption_id": answer.redemption_id })),
            )
                .into_response()
        }
        Err(error) => script_refusal(&error),
    }
}

// ---------------------------------------------------------------------------------------------
// The venue's key, imported into this browser

async fn key_page(State(state): State<AppState>, page: VenuePage) -> Result<Response, PageError> {
    key::page(&state, &page.visitor, page.venue_id, &key::VENUE).await
}

// ---------------------------------------------------------------------------------------------
// History and statement

struct RedemptionLine {
    at: String,
    amount: String,
    offer: Option<String>,
    settled: bool,
}

struct Total {
    label: &'static str,
    tokens: String,
    euros: Option<String>,
}

#[derive(Template)]
#[template(path = "guichet_historique.html")]
struct HistoryPage {
    chrome: Chrome,
    today: Vec<RedemptionLine>,
    earlier: Vec<RedemptionLine>,
    earlier_left_out: usize,
    totals: Vec<Total>,
    redemptions: String,
}

/// The most earlier redemptions the page lists; the files have them all.
const HISTORY_ROWS: usize = 500;

async fn history(State(state): State<AppState>, page: VenuePage) -> Result<Response, PageError> {
    caught_up(&state).await;
    let venue_id = page.venue_id;
    let start_of_today = Some(format::start_of_today(Utc::now()));
    let lines: Vec<(DateTime<Utc>, RedemptionLine)> = routes::venue::redemptions_of(&state, venue_id)
        .into_iter()
        .map(|(item, offer)| {
            let line = RedemptionLine {
                at: format::date_time(item.redeemed_at),
                amount: format::tokens(item.amount),
                offer,
                settled: item.settled,
            };
            (item.redeemed_at, line)
        })
        .collect();
    let (today, earlier): (Vec<_>, Vec<_>) =
        lines.into_iter().partition(|(at, _)| start_of_today.is_some_and(|start| *at >= start));
    let earlier_left_out = earlier.len().saturating_sub(HISTORY_ROWS);
    let statement = routes::venue::statement_of(&state, venue_id, (None, None));
    let total = |label, tokens: u64, cents: Option<u64>| Total {
        label,
        tokens: format::tokens(tokens),
        euros: cents.map(format::euros),
    };
    let totals = vec![
        total("Jetons reçus", statement.redeemed_tokens, statement.redeemed_amount_cents),
        total("Déjà remboursés", statement.settled_tokens, statement.settled_amount_cents),
        total("À rembourser", statement.unsettled_tokens, statement.unsettled_amount_cents),
    ];
    Ok(render(&HistoryPage {
        chrome: Chrome::new(&page.visitor, "Historique du guichet", "/guichet/historique"),
        today: today.into_iter().map(|(_, line)| line).collect(),
        earlier: earlier.into_iter().take(HISTORY_ROWS).map(|(_, line)| line).collect(),
        earlier_left_out,
        totals,
        redemptions: format::count(statement.redemptions, "bon validé", "bons validés"),
    }))
}

async fn history_file(state: AppState, page: VenuePage, file: FileFormat) -> Result<Response, PageError> {
    caught_up(&state).await;
    Ok(routes::venue::statement_file(&state, page.venue_id, (None, None), file)?)
}

async fn history_csv(State(state): State<AppState>, page: VenuePage) -> Result<Response, PageError> {
    history_file(state, page, FileFormat::Csv).await
}

async fn history_xlsx(State(state): State<AppState>, page: VenuePage) -> Result<Response, PageError> {
    history_file(state, page, FileFormat::Xlsx).await
}

// ---------------------------------------------------------------------------------------------
// The venue's offers

struct OfferLine {
    offer_id: String,
    title: String,
    price: String,
    capacity: String,
    status: &'static str,
    status_tag: &'static str,
    closable: bool,
}

/// The publication form's values and errors, kept when it comes back with an error.
#[derive(Default)]
struct OfferDraft {
    offer_id: String,
    title: String,
    description: String,
    price: String,
    capacity_count: String,
    capacity_per: String,
    title_error: Option<String>,
    description_error: Option<String>,
    price_error: Option<String>,
    capacity_error: Option<String>,
}

#[derive(Template)]
#[template(path = "guichet_offres.html")]
struct OffersPage {
    chrome: Chrome,
    notice: Option<Notice>,
    offers: Vec<OfferLine>,
    draft: OfferDraft,
}

fn period_word(per: CapacityPeriod) -> &'static str {
    match per {
        CapacityPeriod::Day => "par jour",
        CapacityPeriod::Week => "par semaine",
        CapacityPeriod::Month => "par mois",
    }
}

fn status_text(status: &str) -> (&'static str, &'static str) {
    match status {
        "open" => ("Ouverte", ""),
        "full" => ("Complète pour cette période", "tag--alert"),
        "upcoming" => ("À venir", "tag--muted"),
        "ended" => ("Terminée", "tag--muted"),
        _ => ("Clôturée", "tag--muted"),
    }
}

async fn offers_page(
    state: &AppState,
    visitor: &Visitor,
    venue_id: PartnerId,
    notice: Option<Notice>,
    draft: OfferDraft,
) -> Result<Response, PageError> {
    caught_up(state).await;
    let query = OffersQuery {
        venue_id: Some(venue_id.to_string()),
        category: None,
        age: None,
        all: Some(true),
        min_position: None,
    };
    let list = routes::offers::list(State(state.clone()), ApiQuery(query), Consistent).await?.0;
    let offers = list
        .offers
        .into_iter()
        .map(|offer| {
            let capacity = match (&offer.capacity, offer.remaining) {
                (Some(capacity), Some(remaining)) => format!(
                    "{} sur {} {}",
                    format::count(u64::from(remaining), "place restante", "places restantes"),
                    format::number(u64::from(capacity.count)),
                    period_word(capacity.per)
                ),
                (Some(capacity), None) => {
                    format!(
                        "{} {}",
                        format::count(u64::from(capacity.count), "place", "places"),
                        period_word(capacity.per)
                    )
                }
                (None, _) => "Sans limite".to_owned(),
            };
            let (status, status_tag) = status_text(offer.status);
            OfferLine {
                closable: matches!(offer.status, "open" | "full" | "upcoming"),
                offer_id: offer.offer_id,
                title: offer.title,
                price: format::tokens(offer.price),
                capacity,
                status,
                status_tag,
            }
        })
        .collect();
    let draft = OfferDraft {
        offer_id: if draft.offer_id.is_empty() { uuid::Uuid::new_v4().to_string() } else { draft.offer_id },
        capacity_per: if draft.capacity_per.is_empty() { "week".to_owned() } else { draft.capacity_per },
        ..draft
    };
    let invalid = draft.title_error.is_some()
        || draft.description_error.is_some()
        || draft.price_error.is_some()
        || draft.capacity_error.is_some();
    let page = OffersPage { chrome: Chrome::new(visitor, "Mes offres", "/guichet/offres"), notice, offers, draft };
    let mut response = render(&page);
    if invalid {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

async fn offers(
    State(state): State<AppState>,
    page: VenuePage,
    Query(flags): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, PageError> {
    let notice = Notice::of_flags(
        &flags,
        &[
            ("publiee", "Offre publiée : les citoyens la voient dans le catalogue."),
            ("cloturee", "Offre clôturée : plus aucun bon ne peut être pris ni validé pour elle."),
        ],
    );
    offers_page(&state, &page.visitor, page.venue_id, notice, OfferDraft::default()).await
}

#[derive(Deserialize)]
struct OfferForm {
    #[serde(default)]
    offer_id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    price: String,
    #[serde(default)]
    capacity_count: String,
    #[serde(default)]
    capacity_per: String,
}

/// Limits of an offer's fields, as `POST /v1/offers` checks them.
const TITLE_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 2_000;
const PRICE_MAX: u64 = 1_000_000;
const CAPACITY_MAX: u32 = 1_000_000;

/// The form's values checked field by field, in French; the API checks them again.
fn checked_offer(form: &OfferForm) -> (OfferDraft, Option<OfferRequest>) {
    let mut draft = OfferDraft {
        offer_id: form.offer_id.clone(),
        title: form.title.clone(),
        description: form.description.clone(),
        price: form.price.clone(),
        capacity_count: form.capacity_count.clone(),
        capacity_per: form.capacity_per.clone(),
        ..OfferDraft::default()
    };
    let title = form.title.trim();
    if title.is_empty() || title.chars().count() > TITLE_MAX {
        draft.title_error = Some(format!("Donnez un titre à l'offre, de {TITLE_MAX} caractères au plus."));
    } else if title.chars().any(char::is_control) {
        draft.title_error = Some("Le titre ne peut pas contenir de caractère de contrôle.".to_owned());
    }
    // The API takes a description on one line: line breaks become spaces.
    let description = form.description.split_whitespace().collect::<Vec<_>>().join(" ");
    if description.chars().count() > DESCRIPTION_MAX {
        draft.description_error = Some(format!("La description compte {DESCRIPTION_MAX} caractères au plus."));
    } else if description.chars().any(char::is_control) {
        draft.description_error = Some("La description ne peut pas contenir de caractère de contrôle.".to_owned());
    }
    let price = form.price.trim().parse::<u64>().ok().filter(|price| (1..=PRICE_MAX).contains(price));
    if price.is_none() {
        draft.price_error =
            Some(format!("Indiquez un prix en jetons : un nombre entier de 1 à {}.", format::number(PRICE_MAX)));
    }
    let capacity = if form.capacity_count.trim().is_empty() {
        None
    } else {
        let count = form.capacity_count.trim().parse::<u32>().ok().filter(|count| (1..=CAPACITY_MAX).contains(count));
        let per = match form.capacity_per.as_str() {
            "day" => Some(CapacityPeriod::Day),
            "week" => Some(CapacityPeriod::Week),
            "month" => Some(CapacityPeriod::Month),
            _ => None,
        };
        match (count, per) {
            (Some(count), Some(per)) => Some(CapacityBody { count, per }),
            (None, _) => {
                draft.capacity_error = Some(format!(
                    "Indiquez un nombre entier de places de 1 à {}, ou laissez vide pour ne pas limiter.",
                    format::number(u64::from(CAPACITY_MAX))
                ));
                None
            }
            (_, None) => {
                draft.capacity_error = Some("Choisissez la période : par jour, par semaine ou par mois.".to_owned());
                None
            }
        }
    };
    let offer_id = OfferId::parse(&form.offer_id).ok().map(|id| id.to_string()).unwrap_or_default();
    let invalid = draft.title_error.is_some()
        || draft.description_error.is_some()
        || draft.price_error.is_some()
        || draft.capacity_error.is_some();
    let request = match price {
        Some(price) if !invalid => Some(OfferRequest {
            offer_id: if offer_id.is_empty() { uuid::Uuid::new_v4().to_string() } else { offer_id },
            title: title.to_owned(),
            description: (!description.is_empty()).then_some(description),
            category: None,
            price,
            capacity,
            audience: None,
            starts_at: None,
            ends_at: None,
        }),
        _ => None,
    };
    (draft, request)
}

async fn publish(State(state): State<AppState>, form: Form<OfferForm>) -> Result<Response, PageError> {
    let venue_id = venue_of(&form.visitor)?;
    let (draft, request) = checked_offer(&form.value);
    let Some(request) = request else {
        let notice =
            Notice { kind: "alert", text: "L'offre n'est pas publiée : corrigez les champs signalés.".to_owned() };
        return offers_page(&state, &form.visitor, venue_id, Some(notice), draft).await;
    };
    match routes::offers::publish_offer(&state, venue_id, &request).await {
        Ok(_) => Ok(Redirect::to("/guichet/offres?publiee=1").into_response()),
        Err(error) => {
            let notice = Notice { kind: "alert", text: format!("L'offre n'est pas publiée. {}", french(&error)) };
            let mut response = offers_page(&state, &form.visitor, venue_id, Some(notice), draft).await?;
            *response.status_mut() = error.status;
            Ok(response)
        }
    }
}

async fn close(
    State(state): State<AppState>,
    Path(offer_id): Path<String>,
    form: Form<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let venue_id = venue_of(&form.visitor)?;
    let empty = routes::collectivity::Empty {};
    match routes::offers::close(State(state.clone()), Venue(venue_id), ApiPath(offer_id), ApiJson(empty)).await {
        Ok(_) => Ok(Redirect::to("/guichet/offres?cloturee=1").into_response()),
        Err(error) => {
            let notice = Notice { kind: "alert", text: format!("L'offre n'est pas clôturée. {}", french(&error)) };
            let mut response =
                offers_page(&state, &form.visitor, venue_id, Some(notice), OfferDraft::default()).await?;
            *response.status_mut() = error.status;
            Ok(response)
        }
    }
}
