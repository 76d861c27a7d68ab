//! The association's pages: certify an action for a citizen, one at a time or a batch after an
//! event (signed in the browser with the association's key, which never leaves it), read and
//! revoke its certifications, and publish and close its missions.
//!
//! Each page reads and writes through the same handler code as the JSON API: a certification is
//! checked and committed by [`routes::association::certify_signed`], a batch by
//! [`routes::association::certify_batch`], a citizen's code read by [`routes::citizen::lookup`],
//! the envelope by [`routes::association::envelope`], the list by
//! [`routes::association::certifications`], a revocation by [`routes::association::revoke`], the
//! missions by [`routes::missions`].

use askama::Template;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::Deserialize;
use serde_json::json;
use ygor_ledger::PartnerId;

use crate::AppState;
use crate::auth::{Association, Caller};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiJsonItems, ApiPath, ApiQuery, Consistent, parse_signed};
use crate::routes;
use crate::routes::association::{
    BATCH_BODY_LIMIT, BATCH_MAX, CertificationBatchRequest, CertificationRequest, CertificationsQuery,
    RevocationRequest,
};
use crate::routes::citizen::LookupQuery;
use crate::routes::missions::{CloseRequest, MissionRequest};
use crate::web::citizen::caught_up;
use crate::web::format;
use crate::web::messages::{french, french_for_code};
use crate::web::session::{AssociationPage, Form, Visitor};
use crate::web::{
    Chrome, Notice, PageError, ScriptRefusal, key, render, script_answer, script_partner, script_refusal,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/association", get(desk))
        .route("/association/citoyens", post(look_up))
        .route("/association/certifier", post(certify))
        .route("/association/lot", post(certify_batch).layer(DefaultBodyLimit::max(BATCH_BODY_LIMIT)))
        .route("/association/cle", get(key_page))
        .route("/association/certifications", get(certifications))
        .route("/association/certifications/{action_id}/revoquer", post(revoke))
        .route("/association/missions", get(missions).post(publish))
        .route("/association/missions/{mission_id}/cloturer", post(close))
}

/// The association of a form's visitor.
fn association_of(visitor: &Visitor) -> Result<PartnerId, PageError> {
    match visitor.caller {
        Some(Caller::Association(id)) => Ok(id),
        Some(_) => Err(PageError::WrongRole("associations")),
        None => Err(PageError::Login),
    }
}

/// The association a script's JSON request writes for (see [`script_partner`]).
fn script_association(visitor: &Visitor, headers: &HeaderMap) -> Result<PartnerId, ScriptRefusal> {
    let role = |caller| match caller {
        Caller::Association(id) => Some(id),
        _ => None,
    };
    script_partner(visitor, headers, role, "d'une association")
}

/// The start of the current month in the pages' time zone, as a UTC instant.
fn start_of_month(now: DateTime<Utc>) -> DateTime<Utc> {
    let local = now.with_timezone(&format::TIME_ZONE);
    NaiveDate::from_ymd_opt(local.year(), local.month(), 1)
        .and_then(|first| first.and_hms_opt(0, 0, 0))
        .and_then(|midnight| format::TIME_ZONE.from_local_datetime(&midnight).earliest())
        .map(|start| start.with_timezone(&Utc))
        .unwrap_or(now)
}

// ---------------------------------------------------------------------------------------------
// The desk: certify one action, or a batch

/// A category of the rules, as the form offers it.
struct CategoryChoice {
    id: String,
    label: String,
    /// « km », or empty when the category counts actions only.
    unit: String,
}

#[derive(Template)]
#[template(path = "association.html")]
struct DeskPage {
    chrome: Chrome,
    association_id: String,
    figures: Figures,
    categories: Vec<CategoryChoice>,
    today: String,
}

fn category_choices(state: &AppState) -> Vec<CategoryChoice> {
    state.projections().read(|models| {
        models
            .rules
            .as_ref()
            .map(|rules| {
                rules
                    .categories
                    .iter()
                    .map(|category| CategoryChoice {
                        id: category.id.clone(),
                        label: category.label.clone(),
                        unit: category.unit.clone().unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// Certifications read back per page to sum this month's.
const MONTH_ROWS: usize = 1_000;

/// The envelope's figures the desk shows, and sends again to its script after each write so that
/// they stay true without a reload.
#[derive(serde::Serialize)]
struct Figures {
    balance: String,
    issued_this_month: String,
    certified_this_month: String,
}

/// The association's envelope balance and what it certified this month (revocations left out).
async fn figures(state: &AppState, association_id: PartnerId) -> Result<Figures, ApiError> {
    caught_up(state).await;
    let association = Association(association_id);
    let envelope = routes::association::envelope(State(state.clone()), association, Consistent).await?.0;
    let month = start_of_month(routes::now());
    // Newest first, page by page, until a certification from before this month.
    let (mut count, mut tokens, mut after) = (0u64, 0u64, None);
    loop {
        let query = CertificationsQuery { after, limit: Some(MONTH_ROWS), min_position: None };
        let list = routes::association::certifications(State(state.clone()), association, ApiQuery(query), Consistent)
            .await?
            .0;
        for view in list.certifications.iter().filter(|view| view.certified_at >= month && !view.revoked) {
            count += 1;
            tokens += view.tokens;
        }
        let older = list.certifications.last().is_none_or(|view| view.certified_at < month);
        match list.next {
            Some(next) if !older => after = Some(next),
            _ => break,
        }
    }
    Ok(Figures {
        balance: format::tokens(envelope.balance),
        issued_this_month: format::tokens(tokens),
        certified_this_month: format::count(count, "action certifiée", "actions certifiées"),
    })
}

/// [`figures`] as the `figures` member of a script's answer (`null` if they could not be read:
/// the write itself succeeded, and the page shows them again on reload).
async fn figures_json(state: &AppState, association_id: PartnerId) -> serde_json::Value {
    figures(state, association_id).await.ok().map_or(serde_json::Value::Null, |figures| json!(figures))
}

async fn desk(State(state): State<AppState>, page: AssociationPage) -> Result<Response, PageError> {
    let figures = figures(&state, page.association_id).await?;
    let today = routes::now().with_timezone(&format::TIME_ZONE).date_naive().format("%Y-%m-%d").to_string();
    Ok(render(&DeskPage {
        chrome: Chrome::new(&page.visitor, "Certifier", "/association").with_script("association.js"),
        association_id: page.association_id.to_string(),
        figures,
        categories: category_choices(&state),
        today,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LookUpRequest {
    codes: Vec<String>,
}

/// The citizens the codes typed name, for the script to sign their certifications: for each code
/// in order, `citizen_id`, or the French `message` of why none. Reads as `GET
/// /v1/citizens/lookup` does, with the session and the page's CSRF value.
async fn look_up(State(state): State<AppState>, visitor: Visitor, headers: HeaderMap, body: Bytes) -> Response {
    let association_id = match script_association(&visitor, &headers) {
        Ok(id) => id,
        Err(refusal) => return refusal.into_response(),
    };
    let request: LookUpRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return script_refusal(&ApiError::validation(format!("invalid body: {error}"))),
    };
    if request.codes.is_empty() || request.codes.len() > BATCH_MAX {
        let message = format!("Saisissez de 1 à {} codes de citoyens.", format::number(BATCH_MAX as u64));
        return script_answer(StatusCode::UNPROCESSABLE_ENTITY, false, "validation_failed", message);
    }
    let mut found = Vec::with_capacity(request.codes.len());
    for code in request.codes {
        let query = LookupQuery { code: code.clone() };
        let caller = Caller::Association(association_id);
        let answer = routes::citizen::lookup(State(state.clone()), caller, ApiQuery(query)).await;
        found.push(match answer {
            Ok(citizen) => json!({ "code": code, "citizen_id": citizen.0.citizen_id }),
            Err(error) if error.code == "validation_failed" => json!({ "code": code, "message":
                "Ce code n'est pas un code de citoyen : il a 8 caractères, chiffres et lettres, par exemple 7K3F-Q9RD." }),
            Err(error) if error.status == StatusCode::NOT_FOUND => json!({ "code": code, "message":
                "Aucun citoyen n'a ce code. Vérifiez les 8 caractères avec le citoyen." }),
            Err(error) => return script_refusal(&error),
        });
    }
    (StatusCode::OK, Json(json!({ "ok": true, "citizens": found }))).into_response()
}

/// What one certification earned, in French: « 5 jetons + 1 jeton d'or ».
fn earned(tokens: u64, gold: bool) -> String {
    let gold = if gold { " + 1 jeton d'or" } else { "" };
    format!("{}{gold}", format::tokens(tokens))
}

/// Certifies an action the browser signed with the association's key: the same checks and
/// command as `POST /v1/certifications`, with the session instead of the bearer token and the
/// page's CSRF value in the `x-csrf` header. Answers JSON for the page's script.
async fn certify(State(state): State<AppState>, visitor: Visitor, headers: HeaderMap, body: Bytes) -> Response {
    let association_id = match script_association(&visitor, &headers) {
        Ok(id) => id,
        Err(refusal) => return refusal.into_response(),
    };
    let signed = match parse_signed::<CertificationRequest>(&body) {
        Ok(signed) => signed,
        Err(error) => return script_refusal(&error),
    };
    match routes::association::certify_signed(&state, association_id, signed).await {
        Ok((_, answer)) => {
            let certified = &answer.certified;
            let message = format!("Action certifiée : {} pour ce citoyen.", earned(certified.tokens, certified.gold));
            let figures = figures_json(&state, association_id).await;
            (
                StatusCode::OK,
                Json(json!({ "ok": true, "code": "certified", "message": message, "action_id": answer.action_id,
                    "tokens": certified.tokens, "gold": certified.gold, "figures": figures })),
            )
                .into_response()
        }
        Err(error) => script_refusal(&error),
    }
}

/// Certifies a batch the browser signed, as `POST /v1/certifications/batch` does; each line's
/// answer is said in French.
async fn certify_batch(State(state): State<AppState>, visitor: Visitor, headers: HeaderMap, body: Bytes) -> Response {
    let association_id = match script_association(&visitor, &headers) {
        Ok(id) => id,
        Err(refusal) => return refusal.into_response(),
    };
    let request: CertificationBatchRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return script_refusal(&ApiError::validation(format!("invalid JSON body: {error}"))),
    };
    let answer =
        routes::association::certify_batch(State(state.clone()), Association(association_id), ApiJsonItems(request))
            .await;
    match answer {
        Ok(answer) => {
            let results: Vec<_> = answer
                .0
                .results
                .iter()
                .map(|result| {
                    let ok = result.status < 300;
                    let message = match result.code {
                        Some(code) if !ok => french_for_code(code),
                        _ => earned(result.tokens.unwrap_or(0), result.gold.unwrap_or(false)),
                    };
                    json!({ "action_id": result.action_id, "ok": ok, "code": result.code,
                        "tokens": result.tokens, "gold": result.gold, "message": message })
                })
                .collect();
            let certified = results.iter().filter(|result| result["ok"] == true).count() as u64;
            let message = format!(
                "{} sur {}.",
                format::count(certified, "action certifiée", "actions certifiées"),
                results.len()
            );
            let figures = figures_json(&state, association_id).await;
            (
                StatusCode::OK,
                Json(
                    json!({ "ok": true, "code": "batch", "message": message, "results": results, "figures": figures }),
                ),
            )
                .into_response()
        }
        Err(error) => script_refusal(&error),
    }
}

async fn key_page(State(state): State<AppState>, page: AssociationPage) -> Result<Response, PageError> {
    key::page(&state, &page.visitor, page.association_id, &key::ASSOCIATION).await
}

// ---------------------------------------------------------------------------------------------
// Certifications, and their revocation

struct CertificationLine {
    action_id: String,
    /// The citizen's code (their id when they have none).
    citizen: String,
    category: String,
    occurred: String,
    certified: String,
    tokens: String,
    gold: bool,
    revoked: bool,
    /// The refusal of a revocation of this line, said next to its reason field.
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "association_certifications.html")]
struct CertificationsListPage {
    chrome: Chrome,
    notice: Option<Notice>,
    lines: Vec<CertificationLine>,
    next: Option<usize>,
}

#[derive(Deserialize)]
struct ListQuery {
    apres: Option<usize>,
}

/// Certifications shown per page.
const LIST_ROWS: usize = 100;

async fn certifications_page(
    state: &AppState,
    visitor: &Visitor,
    association_id: PartnerId,
    after: Option<usize>,
    notice: Option<Notice>,
    error: Option<(String, String)>,
) -> Result<Response, PageError> {
    caught_up(state).await;
    let query = CertificationsQuery { after, limit: Some(LIST_ROWS), min_position: None };
    let list = routes::association::certifications(
        State(state.clone()),
        Association(association_id),
        ApiQuery(query),
        Consistent,
    )
    .await?
    .0;
    let labels = state.projections().read(|models| models.rules.clone());
    let mut codes = Vec::with_capacity(list.certifications.len());
    for view in &list.certifications {
        codes.push(state.log().citizen_code(&view.citizen_id).await.map_err(PageError::store)?);
    }
    let lines = list
        .certifications
        .into_iter()
        .zip(codes)
        .map(|(view, code)| {
            let label = labels
                .as_ref()
                .and_then(|rules| rules.category(&view.category))
                .map(|category| match &category.unit {
                    Some(unit) => format!("{} ({} {unit})", category.label, format::number(view.quantity)),
                    None => category.label.clone(),
                })
                .unwrap_or_else(|| view.category.clone());
            CertificationLine {
                error: error.as_ref().filter(|(id, _)| *id == view.action_id).map(|(_, message)| message.clone()),
                action_id: view.action_id,
                citizen: code.unwrap_or(view.citizen_id),
                category: label,
                occurred: format::date(view.occurred_at),
                certified: format::date_time(view.certified_at),
                tokens: format::tokens(view.tokens),
                gold: view.gold,
                revoked: view.revoked,
            }
        })
        .collect();
    let invalid = error.is_some();
    let page = CertificationsListPage {
        chrome: Chrome::new(visitor, "Certifications", "/association/certifications"),
        notice,
        lines,
        next: list.next,
    };
    let mut response = render(&page);
    if invalid {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

async fn certifications(
    State(state): State<AppState>,
    page: AssociationPage,
    Query(query): Query<ListQuery>,
    Query(flags): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, PageError> {
    let notice = Notice::of_flags(
        &flags,
        &[("revoquee", "Certification révoquée : les jetons non dépensés sont revenus dans l'enveloppe.")],
    );
    certifications_page(&state, &page.visitor, page.association_id, query.apres, notice, None).await
}

#[derive(Deserialize)]
struct RevocationForm {
    #[serde(default)]
    reason: String,
}

async fn revoke(
    State(state): State<AppState>,
    Path(action_id): Path<String>,
    form: Form<RevocationForm>,
) -> Result<Response, PageError> {
    let association_id = association_of(&form.visitor)?;
    let reason = form.value.reason.split_whitespace().collect::<Vec<_>>().join(" ");
    let refused = |message: String| Some((action_id.clone(), message));
    let error = if reason.is_empty() {
        refused("Indiquez le motif de la révocation.".to_owned())
    } else if reason.chars().count() > 500 {
        refused("Le motif compte 500 caractères au plus.".to_owned())
    } else {
        let request = RevocationRequest { reason };
        let path = ApiPath(action_id.clone());
        match routes::association::revoke(State(state.clone()), Association(association_id), path, ApiJson(request))
            .await
        {
            Ok(_) => return Ok(Redirect::to("/association/certifications?revoquee=1").into_response()),
            Err(error) => refused(format!("La certification n'est pas révoquée. {}", french(&error))),
        }
    };
    let notice =
        Notice { kind: "alert", text: "La certification n'est pas révoquée : voyez le motif signalé.".to_owned() };
    certifications_page(&state, &form.visitor, association_id, None, Some(notice), error).await
}

// ---------------------------------------------------------------------------------------------
// Missions

struct MissionLine {
    mission_id: String,
    title: String,
    categories: String,
    dates: String,
    neighbourhood: Option<String>,
}

/// The publication form's values and errors, kept when it comes back with an error.
#[derive(Default)]
struct MissionDraft {
    mission_id: String,
    title: String,
    categories: Vec<String>,
    neighbourhood: String,
    starts: String,
    ends: String,
    title_error: Option<String>,
    categories_error: Option<String>,
    dates_error: Option<String>,
    neighbourhood_error: Option<String>,
}

impl MissionDraft {
    fn invalid(&self) -> bool {
        self.title_error.is_some()
            || self.categories_error.is_some()
            || self.dates_error.is_some()
            || self.neighbourhood_error.is_some()
    }
}

struct Choice {
    id: String,
    label: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "association_missions.html")]
struct MissionsPage {
    chrome: Chrome,
    notice: Option<Notice>,
    missions: Vec<MissionLine>,
    categories: Vec<Choice>,
    neighbourhoods: Vec<Choice>,
    draft: MissionDraft,
}

async fn missions_page(
    state: &AppState,
    visitor: &Visitor,
    association_id: PartnerId,
    notice: Option<Notice>,
    draft: MissionDraft,
) -> Result<Response, PageError> {
    caught_up(state).await;
    let list = routes::missions::list(State(state.clone()), Caller::Association(association_id), Consistent).await?.0;
    let rules = state.projections().read(|models| models.rules.clone());
    let label = |id: &str| {
        rules.as_ref().and_then(|rules| rules.category(id)).map(|found| found.label.clone()).unwrap_or(id.to_owned())
    };
    let own = association_id.to_string();
    let missions = list
        .missions
        .into_iter()
        .filter(|mission| mission.association_id == own)
        .map(|mission| MissionLine {
            categories: mission.categories.iter().map(|id| label(id)).collect::<Vec<_>>().join(", "),
            // A mission ends at the start of the day after its last day.
            dates: format!(
                "du {} au {}",
                format::date(mission.starts_at),
                format::date(mission.ends_at - chrono::Duration::seconds(1))
            ),
            mission_id: mission.mission_id,
            title: mission.title,
            neighbourhood: mission.neighbourhood,
        })
        .collect();
    let categories = rules
        .as_ref()
        .map(|rules| {
            rules
                .categories
                .iter()
                .map(|category| Choice {
                    checked: draft.categories.contains(&category.id),
                    id: category.id.clone(),
                    label: category.label.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let neighbourhoods = rules
        .as_ref()
        .map(|rules| {
            rules
                .neighbourhoods
                .iter()
                .map(|place| Choice {
                    checked: draft.neighbourhood == place.id,
                    id: place.id.clone(),
                    label: place.label.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let draft = MissionDraft {
        mission_id: if draft.mission_id.is_empty() { uuid::Uuid::new_v4().to_string() } else { draft.mission_id },
        ..draft
    };
    let invalid = draft.invalid();
    let page = MissionsPage {
        chrome: Chrome::new(visitor, "Missions", "/association/missions"),
        notice,
        missions,
        categories,
        neighbourhoods,
        draft,
    };
    let mut response = render(&page);
    if invalid {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

async fn missions(
    State(state): State<AppState>,
    page: AssociationPage,
    Query(flags): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, PageError> {
    let notice = Notice::of_flags(
        &flags,
        &[
            ("publiee", "Mission publiée : les citoyens intéressés la voient."),
            ("cloturee", "Mission clôturée : elle n'est plus proposée aux citoyens."),
        ],
    );
    missions_page(&state, &page.visitor, page.association_id, notice, MissionDraft::default()).await
}

/// A day typed in a date field (`2026-07-12`) at `hour`:00 in the pages' time zone.
fn day_at(text: &str, hour: u32) -> Option<DateTime<Utc>> {
    let day = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    let at = day.and_hms_opt(hour, 0, 0)?;
    format::TIME_ZONE.from_local_datetime(&at).earliest().map(|at| at.with_timezone(&Utc))
}

/// The form's values checked field by field, in French; the API checks them again.
fn checked_mission(fields: &[(String, String)]) -> (MissionDraft, Option<MissionRequest>) {
    let value =
        |name: &str| fields.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()).unwrap_or_default();
    let mut draft = MissionDraft {
        mission_id: value("mission_id"),
        title: value("title"),
        categories: fields.iter().filter(|(key, _)| key == "categories").map(|(_, value)| value.clone()).collect(),
        neighbourhood: value("neighbourhood").trim().to_owned(),
        starts: value("starts"),
        ends: value("ends"),
        ..MissionDraft::default()
    };
    let title = draft.title.trim().to_owned();
    if title.is_empty() || title.chars().count() > 200 || title.chars().any(char::is_control) {
        draft.title_error = Some("Donnez un titre à la mission, de 200 caractères au plus.".to_owned());
    }
    if draft.categories.is_empty() {
        draft.categories_error = Some("Cochez au moins une catégorie d'action.".to_owned());
    }
    let starts = day_at(&draft.starts, 0);
    let ends = day_at(&draft.ends, 0).map(|end| end + chrono::Duration::days(1));
    match (starts, ends) {
        (Some(starts), Some(ends)) if starts < ends => {}
        (Some(_), Some(_)) => {
            draft.dates_error = Some("Le dernier jour ne peut pas précéder le premier.".to_owned());
        }
        _ => draft.dates_error = Some("Indiquez le premier et le dernier jour de la mission.".to_owned()),
    }
    if draft.neighbourhood.chars().count() > 100 {
        draft.neighbourhood_error = Some("Le quartier compte 100 caractères au plus.".to_owned());
    }
    let request = match (starts, ends) {
        (Some(starts_at), Some(ends_at)) if !draft.invalid() => Some(MissionRequest {
            mission_id: if draft.mission_id.is_empty() {
                uuid::Uuid::new_v4().to_string()
            } else {
                draft.mission_id.clone()
            },
            title,
            categories: draft.categories.clone(),
            neighbourhood: (!draft.neighbourhood.is_empty()).then(|| draft.neighbourhood.clone()),
            starts_at,
            ends_at,
        }),
        _ => None,
    };
    (draft, request)
}

async fn publish(State(state): State<AppState>, form: Form<Vec<(String, String)>>) -> Result<Response, PageError> {
    let association_id = association_of(&form.visitor)?;
    let (draft, request) = checked_mission(&form.value);
    let Some(request) = request else {
        let notice =
            Notice { kind: "alert", text: "La mission n'est pas publiée : corrigez les champs signalés.".to_owned() };
        return missions_page(&state, &form.visitor, association_id, Some(notice), draft).await;
    };
    match routes::missions::publish(State(state.clone()), Association(association_id), ApiJson(request)).await {
        Ok(_) => Ok(Redirect::to("/association/missions?publiee=1").into_response()),
        Err(error) => {
            let notice = Notice { kind: "alert", text: format!("La mission n'est pas publiée. {}", french(&error)) };
            let mut response = missions_page(&state, &form.visitor, association_id, Some(notice), draft).await?;
            *response.status_mut() = error.status;
            Ok(response)
        }
    }
}

async fn close(
    State(state): State<AppState>,
    Path(mission_id): Path<String>,
    form: Form<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let association_id = association_of(&form.visitor)?;
    let path = ApiPath(mission_id);
    match routes::missions::close(State(state.clone()), Association(association_id), path, ApiJson(CloseRequest {}))
        .await
    {
        Ok(_) => Ok(Redirect::to("/association/missions?cloturee=1").into_response()),
        Err(error) => {
            let notice = Notice { kind: "alert", text: format!("La mission n'est pas clôturée. {}", french(&error)) };
            let mut response =
                missions_page(&state, &form.visitor, association_id, Some(notice), MissionDraft::default()).await?;
            *response.status_mut() = error.status;
            Ok(response)
        }
    }
}
