//! The collectivity's partners pages (admin session): the associations and venues with their
//! status, each association's envelope, and the treasury they are allocated from; a form that
//! registers a partner and shows its token once; allocation, suspension and reinstatement; and
//! the venues' settlements, what each venue redeemed and awaits, in tokens and euros.
//!
//! Every write goes through the JSON API's own functions, so the page refuses what the API
//! refuses; the page checks the fields first only to say what is wrong next to each of them.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::AppState;
use crate::auth::Admin;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Consistent};
use crate::routes;
use crate::routes::collectivity::{AmountRequest, Empty, PartnerRequest, PartnersQuery, SettlementRequest};
use crate::web::citizen::caught_up;
use crate::web::messages::french;
use crate::web::session::{CollectivityPage, Form, Visitor, admin_of};
use crate::web::{Chrome, Notice, PageError, format, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/collectivite/partenaires", get(partners).post(register))
        .route("/collectivite/partenaires/{partner_id}/enveloppe", post(allocate))
        .route("/collectivite/partenaires/{partner_id}/suspendre", post(suspend))
        .route("/collectivite/partenaires/{partner_id}/reactiver", post(reinstate))
        .route("/collectivite/remboursements", get(settlements).post(settle))
}

/// Longest partner name, as the API accepts it.
const NAME_MAX: usize = 200;

/// One partner as the tables show it.
struct PartnerLine {
    partner_id: String,
    name: String,
    suspended: bool,
    registered: String,
    /// The association's envelope, « 1 250 jetons »; empty for a venue.
    envelope: String,
    /// The amount typed in this association's allocation form, kept when it was refused.
    amount: String,
    amount_error: Option<String>,
}

/// The registration form's values and what is wrong with each.
#[derive(Default)]
struct PartnerDraft {
    kind: String,
    name: String,
    public_key: String,
    kind_error: Option<String>,
    name_error: Option<String>,
    key_error: Option<String>,
}

#[derive(Template)]
#[template(path = "partenaires.html")]
struct PartnersPage {
    chrome: Chrome,
    notice: Option<Notice>,
    treasury: String,
    associations: Vec<PartnerLine>,
    venues: Vec<PartnerLine>,
    draft: PartnerDraft,
}

#[derive(Template)]
#[template(path = "partenaire_cree.html")]
struct RegisteredPage {
    chrome: Chrome,
    name: String,
    kind: &'static str,
    token: String,
}

/// A refused allocation: the association and the amount typed, with why.
struct AllocationRefused {
    partner_id: String,
    amount: String,
    error: String,
}

/// The page, with `notice` above it, the registration form as `draft`, and an allocation's
/// refusal next to its field.
async fn partners_page(
    state: &AppState,
    visitor: &Visitor,
    notice: Option<Notice>,
    draft: PartnerDraft,
    refused: Option<AllocationRefused>,
) -> Result<Response, PageError> {
    caught_up(state).await;
    let query = PartnersQuery { kind: None, status: None, min_position: None };
    let listed = routes::collectivity::list_partners(State(state.clone()), Admin, ApiQuery(query), Consistent).await?.0;
    let treasury = state.projections().read(|models| models.circulation().treasury.value());
    let (mut associations, mut venues) = (Vec::new(), Vec::new());
    for partner in listed.partners {
        let refusal = refused.as_ref().filter(|refused| refused.partner_id == partner.partner_id);
        let line = PartnerLine {
            suspended: partner.status == "suspended",
            registered: partner.registered_at.map(format::date).unwrap_or_default(),
            envelope: partner.envelope.map(format::tokens).unwrap_or_default(),
            amount: refusal.map(|refused| refused.amount.clone()).unwrap_or_default(),
            amount_error: refusal.map(|refused| refused.error.clone()),
            partner_id: partner.partner_id,
            name: partner.name,
        };
        if partner.kind == "association" { associations.push(line) } else { venues.push(line) }
    }
    Ok(render(&PartnersPage {
        chrome: Chrome::new(visitor, "Partenaires", "/collectivite/partenaires"),
        notice,
        treasury: format::tokens(treasury),
        associations,
        venues,
        draft,
    }))
}

/// What the redirects after a write carry, for the notice: `?alloue=500&a=ID`, `?suspendu=ID`,
/// `?reactive=ID`.
#[derive(Deserialize, Default)]
struct DoneQuery {
    alloue: Option<u64>,
    a: Option<String>,
    suspendu: Option<String>,
    reactive: Option<String>,
}

async fn partners(
    State(state): State<AppState>,
    page: CollectivityPage,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    caught_up(&state).await;
    let name_of = |id: &str| {
        let id = routes::collectivity::partner_id(id).ok()?;
        Some(state.projections().read(|models| models.partner_name(&id))).filter(|name| !name.is_empty())
    };
    let allocated = query.alloue.zip(query.a.as_deref().and_then(name_of)).map(|(amount, name)| {
        let verb = if amount > 1 { "alloués" } else { "alloué" };
        format!("{} {verb} à {name}.", format::tokens(amount))
    });
    let suspended = query
        .suspendu
        .as_deref()
        .and_then(name_of)
        .map(|name| format!("{name} : partenaire suspendu, ses opérations sont refusées jusqu'à sa réactivation."));
    let reinstated = query
        .reactive
        .as_deref()
        .and_then(name_of)
        .map(|name| format!("{name} : partenaire réactivé, ses opérations sont de nouveau acceptées."));
    let notice = allocated.or(suspended).or(reinstated);
    let notice = notice.map(|text| Notice { kind: "ok", text });
    partners_page(&state, &page.visitor, notice, PartnerDraft::default(), None).await
}

/// The form again with `notice` above it, as a `422`.
async fn refused_page(
    state: &AppState,
    visitor: &Visitor,
    text: String,
    draft: PartnerDraft,
    refused: Option<AllocationRefused>,
) -> Result<Response, PageError> {
    let notice = Some(Notice { kind: "alert", text });
    let mut response = partners_page(state, visitor, notice, draft, refused).await?;
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(response)
}

#[derive(Deserialize)]
struct RegistrationForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    public_key: String,
}

/// The form's values checked field by field, in French; the API checks them again.
fn checked_partner(form: &RegistrationForm) -> (PartnerDraft, Option<PartnerRequest>) {
    let mut draft = PartnerDraft {
        kind: form.kind.clone(),
        name: form.name.clone(),
        public_key: form.public_key.trim().to_owned(),
        ..PartnerDraft::default()
    };
    if draft.kind != "association" && draft.kind != "venue" {
        draft.kind_error = Some("Choisissez s'il s'agit d'une association ou d'un lieu partenaire.".to_owned());
    }
    let name = draft.name.trim();
    if name.is_empty() {
        draft.name_error = Some("Indiquez le nom du partenaire.".to_owned());
    } else if name.chars().count() > NAME_MAX {
        draft.name_error = Some(format!("Le nom compte {NAME_MAX} caractères au plus."));
    } else if name.chars().any(char::is_control) {
        draft.name_error = Some("Le nom ne peut pas contenir de caractères de contrôle.".to_owned());
    }
    if draft.public_key.is_empty() {
        draft.key_error = Some("Collez la clé publique du partenaire.".to_owned());
    } else if ygor_crypto::PublicKey::parse(&draft.public_key).is_err() {
        draft.key_error = Some(
            "Cette clé publique n'est pas valable : collez tel quel le « public_key » affiché par « ygor keys \
             generate » (43 caractères, lettres, chiffres, « - » et « _ »)."
                .to_owned(),
        );
    }
    let valid = draft.kind_error.is_none() && draft.name_error.is_none() && draft.key_error.is_none();
    let request = valid.then(|| PartnerRequest {
        kind: draft.kind.clone(),
        name: name.to_owned(),
        public_key: draft.public_key.clone(),
    });
    (draft, request)
}

async fn register(State(state): State<AppState>, form: Form<RegistrationForm>) -> Result<Response, PageError> {
    let admin = admin_of(&form.visitor)?;
    let (draft, request) = checked_partner(&form.value);
    let Some(request) = request else {
        let text = "Le partenaire n'est pas inscrit : corrigez les champs signalés.".to_owned();
        return refused_page(&state, &form.visitor, text, draft, None).await;
    };
    let name = request.name.clone();
    let kind = if request.kind == "association" { "Association" } else { "Lieu partenaire" };
    match routes::collectivity::partner_registered(&state, admin, request).await {
        Ok(registered) => Ok(render(&RegisteredPage {
            chrome: Chrome::new(&form.visitor, "Partenaire inscrit", "/collectivite/partenaires"),
            name,
            kind,
            token: registered.token,
        })),
        Err(error) if error.status.is_client_error() => {
            let text = format!("Le partenaire n'est pas inscrit. {}", french(&error));
            refused_page(&state, &form.visitor, text, draft, None).await
        }
        Err(error) => Err(error.into()),
    }
}

#[derive(Deserialize)]
struct AllocationForm {
    #[serde(default)]
    amount: String,
}

/// Largest allocation the page accepts in one go: far above any territory's treasury, and
/// below what an integer of the API holds.
const ALLOCATION_MAX: u64 = 1_000_000_000_000;

async fn allocate(
    State(state): State<AppState>,
    Path(partner_id): Path<String>,
    form: Form<AllocationForm>,
) -> Result<Response, PageError> {
    let admin = admin_of(&form.visitor)?;
    let typed = form.value.amount.trim().to_owned();
    let digits: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    let refuse = |error: String| AllocationRefused { partner_id: partner_id.clone(), amount: typed.clone(), error };
    let amount = match digits.parse::<u64>() {
        Ok(0) => Err("Indiquez un nombre de jetons supérieur à 0.".to_owned()),
        Ok(amount) if amount > ALLOCATION_MAX => {
            Err(format!("Indiquez au plus {} jetons.", format::number(ALLOCATION_MAX)))
        }
        Ok(amount) => Ok(amount),
        Err(_) => Err("Indiquez un nombre entier de jetons, par exemple 500.".to_owned()),
    };
    let amount = match amount {
        Ok(amount) => amount,
        Err(error) => {
            let text = "Rien n'est alloué : corrigez le montant signalé.".to_owned();
            return refused_page(&state, &form.visitor, text, PartnerDraft::default(), Some(refuse(error))).await;
        }
    };
    let path = ApiPath(partner_id.clone());
    match routes::collectivity::allocate_envelope(State(state.clone()), admin, path, ApiJson(AmountRequest { amount }))
        .await
    {
        Ok(allocated) => {
            let allocated = allocated.0;
            let to = format!("/collectivite/partenaires?alloue={}&a={}", allocated.amount, allocated.partner_id);
            Ok(Redirect::to(&to).into_response())
        }
        Err(error) if error.status.is_client_error() => {
            let message = match error.code {
                "treasury_exhausted" => {
                    let treasury = state.projections().read(|models| models.circulation().treasury.value());
                    format!("{} Il reste {} à allouer.", french(&error), format::tokens(treasury))
                }
                _ => french(&error),
            };
            let text = format!("Rien n'est alloué. {message}");
            return refused_page(&state, &form.visitor, text, PartnerDraft::default(), Some(refuse(message))).await;
        }
        Err(error) => Err(error.into()),
    }
}

/// Suspends or reinstates a partner, then back to the list with a notice.
async fn set_suspended(
    state: AppState,
    partner_id: String,
    form: Form<serde::de::IgnoredAny>,
    suspended: bool,
) -> Result<Response, PageError> {
    let admin = admin_of(&form.visitor)?;
    let path = ApiPath(partner_id);
    let done = if suspended {
        routes::collectivity::suspend_partner(State(state.clone()), admin, path, ApiJson(Empty {}))
            .await
            .map(|answer| format!("suspendu={}", answer.0.partner_id))
    } else {
        routes::collectivity::reinstate_partner(State(state.clone()), admin, path, ApiJson(Empty {}))
            .await
            .map(|answer| format!("reactive={}", answer.0.partner_id))
    };
    match done {
        Ok(query) => Ok(Redirect::to(&format!("/collectivite/partenaires?{query}")).into_response()),
        Err(error) if error.status.is_client_error() => {
            let what = if suspended { "suspendu" } else { "réactivé" };
            let text = format!("Le partenaire n'est pas {what}. {}", french(&error));
            refused_page(&state, &form.visitor, text, PartnerDraft::default(), None).await
        }
        Err(error) => Err(error.into()),
    }
}

async fn suspend(
    State(state): State<AppState>,
    Path(partner_id): Path<String>,
    form: Form<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    set_suspended(state, partner_id, form, true).await
}

async fn reinstate(
    State(state): State<AppState>,
    Path(partner_id): Path<String>,
    form: Form<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    set_suspended(state, partner_id, form, false).await
}

// ---------------------------------------------------------------------------------------------
// Settlements

/// A venue's redemptions: awaiting settlement and already settled, in tokens and euros.
struct SettlementLine {
    venue_id: String,
    name: String,
    suspended: bool,
    awaiting_tokens: String,
    awaiting_euros: String,
    settled_tokens: String,
    settled_euros: String,
    /// Something awaits settlement: the line has a « Rembourser » button.
    awaiting: bool,
}

#[derive(Template)]
#[template(path = "remboursements.html")]
struct SettlementsPage {
    chrome: Chrome,
    notice: Option<Notice>,
    lines: Vec<SettlementLine>,
    total: SettlementLine,
    /// Whether every amount has a value in euros (the rules in force give tokens one).
    valued: bool,
}

/// Euro cents as « 60,00 € », or « — » when the rules give tokens no value.
fn euros_or_dash(cents: Option<u64>) -> String {
    cents.map(format::euros).unwrap_or_else(|| "—".to_owned())
}

async fn settlements_page(state: &AppState, visitor: &Visitor, notice: Option<Notice>) -> Result<Response, PageError> {
    caught_up(state).await;
    let query = PartnersQuery { kind: Some("venue".to_owned()), status: None, min_position: None };
    let venues = routes::collectivity::list_partners(State(state.clone()), Admin, ApiQuery(query), Consistent).await?.0;
    let mut lines = Vec::new();
    let (mut awaiting, mut settled) = (0u64, 0u64);
    let (mut awaiting_cents, mut settled_cents) = (Some(0u64), Some(0u64));
    for venue in venues.partners {
        let venue_id = routes::collectivity::partner_id(&venue.partner_id)?;
        let statement = routes::venue::statement_of(state, venue_id, (None, None));
        awaiting += statement.unsettled_tokens;
        settled += statement.settled_tokens;
        awaiting_cents = awaiting_cents.zip(statement.unsettled_amount_cents).map(|(a, b)| a + b);
        settled_cents = settled_cents.zip(statement.settled_amount_cents).map(|(a, b)| a + b);
        lines.push(SettlementLine {
            venue_id: venue.partner_id,
            name: venue.name,
            suspended: venue.status == "suspended",
            awaiting_tokens: format::tokens(statement.unsettled_tokens),
            awaiting_euros: euros_or_dash(statement.unsettled_amount_cents),
            settled_tokens: format::tokens(statement.settled_tokens),
            settled_euros: euros_or_dash(statement.settled_amount_cents),
            awaiting: statement.unsettled_tokens > 0,
        });
    }
    let total = SettlementLine {
        venue_id: String::new(),
        name: "Total".to_owned(),
        suspended: false,
        awaiting_tokens: format::tokens(awaiting),
        awaiting_euros: euros_or_dash(awaiting_cents),
        settled_tokens: format::tokens(settled),
        settled_euros: euros_or_dash(settled_cents),
        awaiting: awaiting > 0,
    };
    Ok(render(&SettlementsPage {
        chrome: Chrome::new(visitor, "Remboursements", "/collectivite/remboursements"),
        notice,
        lines,
        total,
        valued: awaiting_cents.is_some() && settled_cents.is_some(),
    }))
}

/// What the redirect after a settlement carries, for the notice.
#[derive(Deserialize, Default)]
struct SettledQuery {
    rembourse: Option<String>,
    jetons: Option<u64>,
    centimes: Option<u64>,
}

async fn settlements(
    State(state): State<AppState>,
    page: CollectivityPage,
    Query(query): Query<SettledQuery>,
) -> Result<Response, PageError> {
    caught_up(&state).await;
    let name = query.rembourse.as_deref().and_then(|id| routes::collectivity::partner_id(id).ok()).and_then(|id| {
        state.projections().read(|models| {
            models.partner_list().into_iter().find(|entry| entry.partner_id == id).map(|entry| entry.name.to_owned())
        })
    });
    let notice = match (name, query.jetons) {
        (Some(name), Some(0)) => Some(Notice { kind: "info", text: format!("Rien à rembourser à {name}.") }),
        (Some(name), Some(tokens)) => {
            let euros = query.centimes.map(|cents| format!(", {}", format::euros(cents))).unwrap_or_default();
            Some(Notice { kind: "ok", text: format!("Remboursement de {name} : {}{euros}.", format::tokens(tokens)) })
        }
        _ => None,
    };
    settlements_page(&state, &page.visitor, notice).await
}

#[derive(Deserialize)]
struct SettleForm {
    #[serde(default)]
    venue_id: String,
}

async fn settle(State(state): State<AppState>, form: Form<SettleForm>) -> Result<Response, PageError> {
    let admin = admin_of(&form.visitor)?;
    let request = SettlementRequest { venue_id: form.value.venue_id.clone() };
    match routes::collectivity::settle_venue(State(state.clone()), admin, ApiJson(request)).await {
        Ok(settled) => {
            let settled = settled.0;
            let mut to =
                format!("/collectivite/remboursements?rembourse={}&jetons={}", settled.venue_id, settled.tokens);
            if let Some(cents) = settled.amount_cents {
                to.push_str(&format!("&centimes={cents}"));
            }
            Ok(Redirect::to(&to).into_response())
        }
        Err(error) if error.status.is_client_error() => {
            let notice = Some(Notice { kind: "alert", text: format!("Rien n'est remboursé. {}", french(&error)) });
            let mut response = settlements_page(&state, &form.visitor, notice).await?;
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(response)
        }
        Err(error) => Err(error.into()),
    }
}
