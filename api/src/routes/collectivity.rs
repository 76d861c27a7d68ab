//! The collectivity's endpoints (admin token): rules, supply, partners, envelopes, citizens,
//! expiry, settlements and the circulation dashboard.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use ygor_ledger::{CategoryId, CitizenId, PartnerId, PartnerKind, Tokens};
use ygor_rules::Rules;
use ygor_store::CitizenDetails;

use super::{checked_text, now};
use crate::AppState;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::export::{self, Cell, Table};
use crate::extract::{ApiJson, ApiPath, ApiQuery, BodyBytes, Consistent};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/rules", put(publish_rules))
        .route("/v1/supply", post(mint_supply))
        .route("/v1/partners", post(register_partner))
        .route("/v1/partners/{partner_id}/envelope", post(allocate_envelope))
        .route("/v1/partners/{partner_id}/suspend", post(suspend_partner))
        .route("/v1/partners", get(list_partners))
        .route("/v1/partners/{partner_id}/reinstate", post(reinstate_partner))
        .route("/v1/citizens", post(register_citizen))
        .route("/v1/expiry/sweep", post(sweep_expired))
        .route("/v1/settlements", post(settle_venue))
        .route("/v1/dashboards/circulation", get(circulation))
        .route("/v1/dashboards/participation", get(participation))
}

fn amount(value: u64) -> Result<Tokens, ApiError> {
    Tokens::positive(value).map_err(|error| ApiError::validation(error.to_string()))
}

pub(crate) fn partner_id(text: &str) -> Result<PartnerId, ApiError> {
    PartnerId::parse(text).map_err(|_| ApiError::not_found("no partner has this id"))
}

#[derive(Serialize, ToSchema)]
pub struct RulesPublished {
    /// The version in force after the request.
    pub version: u32,
    /// False when the rules were identical to those in force: no new version was written.
    pub published: bool,
    pub position: i64,
}

/// Publishes a new version of the rules (TOML, `Content-Type: application/toml`).
#[utoipa::path(put, path = "/v1/rules", tag = "collectivity", request_body(content = String, content_type = "application/toml"),
    responses((status = 200, body = RulesPublished), (status = 422, description = "invalid_rules", body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn publish_rules(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    BodyBytes(body): BodyBytes,
) -> Result<axum::Json<RulesPublished>, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence != "application/toml" && essence != "text/plain" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the rules as TOML with `Content-Type: application/toml`",
        ));
    }
    let source = std::str::from_utf8(&body).map_err(|_| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_rules", "the rules file is not valid UTF-8")
    })?;
    let rules = Rules::parse(source)
        .map_err(|error| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_rules", error.to_string()))?;
    Ok(axum::Json(publish_parsed(&state, rules, source).await?))
}

/// Publishes rules already parsed from `source` (the text kept as published).
pub(crate) async fn publish_parsed(state: &AppState, rules: Rules, source: &str) -> Result<RulesPublished, ApiError> {
    let committed = state.engine().publish_rules(rules, source.to_owned(), now()).await?;
    let (version, published) = committed.outcome;
    Ok(RulesPublished { version, published, position: committed.position })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmountRequest {
    /// Whole tokens, > 0.
    pub amount: u64,
}

#[derive(Serialize, ToSchema)]
pub struct SupplyMinted {
    pub amount: u64,
    pub position: i64,
}

/// Mints tokens into the territory's treasury.
#[utoipa::path(post, path = "/v1/supply", tag = "collectivity", request_body = AmountRequest,
    responses((status = 200, body = SupplyMinted)), security(("bearer" = [])))]
pub async fn mint_supply(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(request): ApiJson<AmountRequest>,
) -> Result<axum::Json<SupplyMinted>, ApiError> {
    let committed = state.engine().mint(amount(request.amount)?, now()).await?;
    Ok(axum::Json(SupplyMinted { amount: committed.outcome.value(), position: committed.position }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerRequest {
    /// `association` or `venue`.
    pub kind: String,
    pub name: String,
    /// ed25519 public key, base64url without padding (32 bytes).
    pub public_key: String,
}

#[derive(Serialize, ToSchema)]
pub struct PartnerRegistered {
    pub partner_id: String,
    /// The partner's bearer token: shown once, stored only as a hash.
    pub token: String,
    pub position: i64,
}

/// Registers an association or a venue with its public key; returns its token once.
#[utoipa::path(post, path = "/v1/partners", tag = "collectivity", request_body = PartnerRequest,
    responses((status = 201, body = PartnerRegistered)), security(("bearer" = [])))]
pub async fn register_partner(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(request): ApiJson<PartnerRequest>,
) -> Result<Response, ApiError> {
    let body = partner_registered(&state, admin, request).await?;
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// Registers a partner: the API's `POST /v1/partners` and the collectivity's partners page.
pub(crate) async fn partner_registered(
    state: &AppState,
    _admin: Admin,
    request: PartnerRequest,
) -> Result<PartnerRegistered, ApiError> {
    let kind = match request.kind.as_str() {
        "association" => PartnerKind::Association,
        "venue" => PartnerKind::Venue,
        _ => return Err(ApiError::validation("kind must be `association` or `venue`")),
    };
    let name = checked_text("name", &request.name, 200)?;
    let public_key = ygor_crypto::PublicKey::parse(&request.public_key)
        .map_err(|error| ApiError::validation(format!("public_key: {error}")))?;
    let prefix = match kind {
        PartnerKind::Association => "ygor_asso_",
        PartnerKind::Venue => "ygor_venue_",
    };
    let token = ygor_crypto::generate_token(prefix);
    let id = PartnerId::from_uuid(uuid::Uuid::new_v4());
    let committed = state
        .engine()
        .register_partner(id, kind, name, public_key.to_string(), ygor_crypto::hash_token(&token), now())
        .await?;
    Ok(PartnerRegistered { partner_id: id.to_string(), token, position: committed.position })
}

#[derive(Serialize, ToSchema)]
pub struct EnvelopeAllocated {
    pub partner_id: String,
    pub amount: u64,
    pub position: i64,
}

/// Moves tokens from the treasury to an association's envelope.
#[utoipa::path(post, path = "/v1/partners/{partner_id}/envelope", tag = "collectivity", request_body = AmountRequest,
    params(("partner_id" = String, Path)),
    responses((status = 200, body = EnvelopeAllocated), (status = 409, description = "treasury_exhausted", body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn allocate_envelope(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<AmountRequest>,
) -> Result<axum::Json<EnvelopeAllocated>, ApiError> {
    let id = partner_id(&id)?;
    let amount = amount(request.amount)?;
    let committed = state.engine().allocate_envelope(id, amount, now()).await.map_err(unknown_partner_is_not_found)?;
    Ok(axum::Json(EnvelopeAllocated {
        partner_id: id.to_string(),
        amount: amount.value(),
        position: committed.position,
    }))
}

/// A partner named in the path that does not exist is a 404, not a 422.
fn unknown_partner_is_not_found(error: ygor_engine::EngineError) -> ApiError {
    match error {
        ygor_engine::EngineError::Ledger(ygor_ledger::LedgerError::UnknownPartner(_)) => {
            ApiError::not_found("no partner has this id")
        }
        other => other.into(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

#[derive(Serialize, ToSchema)]
pub struct PartnerSuspended {
    pub partner_id: String,
    pub suspended: bool,
    pub position: i64,
}

/// Suspends a partner: its writes are refused from now on (`403 partner_suspended`).
#[utoipa::path(post, path = "/v1/partners/{partner_id}/suspend", tag = "collectivity", request_body = Empty,
    params(("partner_id" = String, Path)), responses((status = 200, body = PartnerSuspended)), security(("bearer" = [])))]
pub async fn suspend_partner(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(_empty): ApiJson<Empty>,
) -> Result<axum::Json<PartnerSuspended>, ApiError> {
    let id = partner_id(&id)?;
    let committed = state.engine().suspend_partner(id, now()).await.map_err(unknown_partner_is_not_found)?;
    Ok(axum::Json(PartnerSuspended { partner_id: id.to_string(), suspended: true, position: committed.position }))
}

#[derive(Serialize, ToSchema)]
pub struct PartnerReinstated {
    pub partner_id: String,
    pub suspended: bool,
    pub position: i64,
}

/// Lifts a partner's suspension: its writes are accepted again.
#[utoipa::path(post, path = "/v1/partners/{partner_id}/reinstate", tag = "collectivity", request_body = Empty,
    params(("partner_id" = String, Path)), responses((status = 200, body = PartnerReinstated)), security(("bearer" = [])))]
pub async fn reinstate_partner(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(_empty): ApiJson<Empty>,
) -> Result<axum::Json<PartnerReinstated>, ApiError> {
    let id = partner_id(&id)?;
    let committed = state.engine().reinstate_partner(id, now()).await.map_err(unknown_partner_is_not_found)?;
    Ok(axum::Json(PartnerReinstated { partner_id: id.to_string(), suspended: false, position: committed.position }))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct PartnersQuery {
    /// `association` or `venue`; every kind when absent.
    pub kind: Option<String>,
    /// `active` or `suspended`; both when absent.
    pub status: Option<String>,
    pub min_position: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct PartnerView {
    pub partner_id: String,
    /// `association` or `venue`.
    pub kind: String,
    pub name: String,
    /// `active` or `suspended`.
    pub status: String,
    pub registered_at: Option<DateTime<Utc>>,
    /// The association's envelope balance; absent for a venue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envelope: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct PartnersView {
    /// Sorted by name without regard to case.
    pub partners: Vec<PartnerView>,
    pub position: i64,
}

/// Every registered partner with its status, and each association's envelope (admin).
#[utoipa::path(get, path = "/v1/partners", tag = "collectivity", params(PartnersQuery),
    responses((status = 200, body = PartnersView)), security(("bearer" = [])))]
pub async fn list_partners(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<PartnersQuery>,
    _consistent: Consistent,
) -> Result<axum::Json<PartnersView>, ApiError> {
    let kind = match query.kind.as_deref() {
        None => None,
        Some("association") => Some(PartnerKind::Association),
        Some("venue") => Some(PartnerKind::Venue),
        Some(_) => return Err(ApiError::validation("kind must be `association` or `venue`")),
    };
    let suspended = match query.status.as_deref() {
        None => None,
        Some("active") => Some(false),
        Some("suspended") => Some(true),
        Some(_) => return Err(ApiError::validation("status must be `active` or `suspended`")),
    };
    let view = state.projections().read(|models| PartnersView {
        partners: models
            .partner_list()
            .into_iter()
            .filter(|entry| kind.is_none_or(|kind| entry.kind == kind))
            .filter(|entry| suspended.is_none_or(|suspended| entry.state.suspended == suspended))
            .map(|entry| PartnerView {
                partner_id: entry.partner_id.to_string(),
                kind: entry.kind.to_string(),
                name: entry.name.to_owned(),
                status: if entry.state.suspended { "suspended" } else { "active" }.to_owned(),
                registered_at: entry.state.registered_at,
                envelope: (entry.kind == PartnerKind::Association)
                    .then(|| models.books.balance(ygor_ledger::books::Account::Envelope(entry.partner_id)).value()),
            })
            .collect(),
        position: models.position,
    });
    Ok(axum::Json(view))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CitizenRequest {
    pub neighbourhood: Option<String>,
    pub birth_year: Option<i32>,
    /// Category ids.
    pub interests: Option<Vec<String>>,
    /// Where `/connexion` sends the citizen's login links; kept outside the log with the other
    /// personal details.
    pub email: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CitizenRegistered {
    pub citizen_id: String,
    /// The citizen's bearer token: shown once, stored only as a hash.
    pub token: String,
    /// 8 characters of Crockford's base32 the citizen reads out at a partner's desk.
    pub citizen_code: String,
    pub position: i64,
}

/// Most interests a citizen may list.
const INTERESTS_MAX: usize = 32;

/// Registers a citizen under a pseudonymous id; personal details stay outside the log.
#[utoipa::path(post, path = "/v1/citizens", tag = "collectivity", request_body = CitizenRequest,
    responses((status = 201, body = CitizenRegistered)), security(("bearer" = [])))]
pub async fn register_citizen(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(request): ApiJson<CitizenRequest>,
) -> Result<Response, ApiError> {
    let body = citizen_registered(&state, admin, request).await?;
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// Registers a citizen: the API's `POST /v1/citizens` and the collectivity's card page.
pub async fn citizen_registered(
    state: &AppState,
    _admin: Admin,
    request: CitizenRequest,
) -> Result<CitizenRegistered, ApiError> {
    let at = now();
    let neighbourhood =
        request.neighbourhood.as_deref().map(|text| checked_text("neighbourhood", text, 100)).transpose()?;
    if let Some(year) = request.birth_year {
        let current = chrono::Datelike::year(&at);
        if !(1900..=current).contains(&year) {
            return Err(ApiError::validation(format!("birth_year must be between 1900 and {current}")));
        }
    }
    let interests = request.interests.unwrap_or_default();
    if interests.len() > INTERESTS_MAX {
        return Err(ApiError::validation(format!("at most {INTERESTS_MAX} interests")));
    }
    let mut categories = Vec::with_capacity(interests.len());
    for interest in &interests {
        let category =
            CategoryId::parse(interest).map_err(|error| ApiError::validation(format!("interests: {error}")))?;
        if !categories.contains(&category) {
            categories.push(category);
        }
    }
    let id = CitizenId::from_uuid(uuid::Uuid::new_v4());
    let token = ygor_crypto::generate_token("ygor_cit_");
    let email = request.email.as_deref().map(crate::web::mail::checked_email).transpose()?;
    let details = CitizenDetails { citizen_id: id.to_string(), neighbourhood, birth_year: request.birth_year, email };
    let demographics = ygor_ledger::wallet::Demographics {
        neighbourhood: details.neighbourhood.clone(),
        birth_year: details.birth_year,
    };
    let committed = state
        .engine()
        .register_citizen(
            id,
            demographics,
            categories,
            details,
            ygor_crypto::hash_token(&token),
            ygor_crypto::random_short_code,
            at,
        )
        .await?;
    Ok(CitizenRegistered {
        citizen_id: id.to_string(),
        token,
        citizen_code: committed.outcome,
        position: committed.position,
    })
}

#[derive(Serialize, ToSchema)]
pub struct SweepResult {
    pub expired_lots: u64,
    pub expired_tokens: u64,
    pub position: i64,
}

/// Writes `TokensExpired` for every lot past its expiry; the tokens go back to the treasury.
#[utoipa::path(post, path = "/v1/expiry/sweep", tag = "collectivity", request_body = Empty,
    responses((status = 200, body = SweepResult)), security(("bearer" = [])))]
pub async fn sweep_expired(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(_empty): ApiJson<Empty>,
) -> Result<axum::Json<SweepResult>, ApiError> {
    let committed = ygor_engine::jobs::sweep_expired(state.engine(), state.projections(), now()).await?;
    Ok(axum::Json(SweepResult {
        expired_lots: committed.outcome.expired_lots,
        expired_tokens: committed.outcome.expired_tokens.value(),
        position: committed.position,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettlementRequest {
    pub venue_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct Settlement {
    pub venue_id: String,
    /// Tokens recovered to the treasury by this settlement (0 when nothing was left to settle).
    pub tokens: u64,
    /// What they are worth in euro cents under the rules in force (`tokens × token_value_cents`
    /// of their `[settlement]`); null when those rules give tokens no value.
    pub amount_cents: Option<u64>,
    pub position: i64,
}

/// Settles everything a venue redeemed so far: recovered to the treasury, valued in euros when the
/// rules in force say what a token is worth.
#[utoipa::path(post, path = "/v1/settlements", tag = "collectivity", request_body = SettlementRequest,
    responses((status = 200, body = Settlement)), security(("bearer" = [])))]
pub async fn settle_venue(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(request): ApiJson<SettlementRequest>,
) -> Result<axum::Json<Settlement>, ApiError> {
    let venue_id = PartnerId::parse(&request.venue_id).map_err(|error| ApiError::validation(error.to_string()))?;
    let committed = state.engine().settle(venue_id, now()).await?;
    Ok(axum::Json(Settlement {
        venue_id: venue_id.to_string(),
        tokens: committed.outcome.amount.value(),
        amount_cents: committed.outcome.amount_cents,
        position: committed.position,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct CirculationView {
    pub minted: u64,
    pub treasury: u64,
    pub envelopes: u64,
    pub wallets: u64,
    pub redeemed_unsettled: u64,
    pub recovered: u64,
    pub expired: u64,
    pub issued: u64,
    pub redeemed: u64,
    pub revoked: u64,
    pub gold_issued: u64,
    /// Gold tokens held by citizens (issued, neither spent in draws nor taken back).
    pub gold_outstanding: u64,
    /// Gold tokens spent as draw tickets.
    pub gold_entered: u64,
    /// Gold tokens taken back by revocations of the actions that earned them.
    pub gold_taken_back: u64,
    /// The log position these figures include.
    pub position: i64,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct CirculationQuery {
    /// `json` (default), `csv` or `xlsx`.
    pub format: Option<String>,
    pub min_position: Option<i64>,
}

/// Token circulation; `minted = treasury + envelopes + wallets + redeemed_unsettled` always;
/// `?format=csv` or `xlsx` for a file of one row.
#[utoipa::path(get, path = "/v1/dashboards/circulation", tag = "collectivity", params(CirculationQuery),
    responses((status = 200, body = CirculationView),
        (status = 200, description = "CSV (`format=csv`)", content_type = "text/csv", body = String),
        (status = 200, description = "XLSX (`format=xlsx`)", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>)),
    security(("bearer" = [])))]
pub async fn circulation(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<CirculationQuery>,
    _consistent: Consistent,
) -> Result<Response, ApiError> {
    let file = export::file_format(query.format.as_deref())?;
    let view = state.projections().read(|models| {
        let c = models.circulation();
        CirculationView {
            minted: c.minted.value(),
            treasury: c.treasury.value(),
            envelopes: c.envelopes.value(),
            wallets: c.wallets.value(),
            redeemed_unsettled: c.redeemed_unsettled.value(),
            recovered: c.recovered.value(),
            expired: c.expired.value(),
            issued: c.issued.value(),
            redeemed: c.redeemed.value(),
            revoked: c.revoked.value(),
            gold_issued: c.gold_issued,
            gold_outstanding: c.gold_outstanding(),
            gold_entered: c.gold_entered,
            gold_taken_back: c.gold_taken_back,
            position: models.position,
        }
    });
    let Some(file) = file else {
        return Ok(axum::Json(view).into_response());
    };
    let figures = [
        ("minted", view.minted),
        ("treasury", view.treasury),
        ("envelopes", view.envelopes),
        ("wallets", view.wallets),
        ("redeemed_unsettled", view.redeemed_unsettled),
        ("recovered", view.recovered),
        ("expired", view.expired),
        ("issued", view.issued),
        ("redeemed", view.redeemed),
        ("revoked", view.revoked),
        ("gold_issued", view.gold_issued),
        ("gold_outstanding", view.gold_outstanding),
        ("gold_entered", view.gold_entered),
        ("gold_taken_back", view.gold_taken_back),
        // A log position is never negative.
        ("position", u64::try_from(view.position).unwrap_or(0)),
    ];
    let columns: Vec<&'static str> = figures.iter().map(|(name, _)| *name).collect();
    let mut table = Table::new("circulation", &columns);
    table.push(figures.iter().map(|(_, figure)| Cell::Integer(*figure)).collect());
    file.download(&table, "circulation")
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ParticipationQuery {
    /// `category`, `association`, `neighbourhood`, `month`, `age_band` or `venue`.
    pub by: String,
    /// Inclusive start on `occurred_at` (on `redeemed_at` for `venue`), RFC 3339.
    pub from: Option<String>,
    /// Exclusive end on `occurred_at` (on `redeemed_at` for `venue`), RFC 3339.
    pub to: Option<String>,
    /// `json` (default), `csv` or `xlsx`.
    pub format: Option<String>,
    pub min_position: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ParticipationRow {
    pub key: String,
    /// Certified actions (revoked ones excluded); redemptions for `by=venue`.
    pub actions: u64,
    /// Distinct citizens.
    pub citizens: u64,
    /// Tokens earned; tokens redeemed for `by=venue`.
    pub tokens: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ParticipationView {
    pub by: String,
    pub rows: Vec<ParticipationRow>,
    pub position: i64,
}

/// Participation by category, association, neighbourhood, month or age band, and redemptions by
/// venue; `?format=csv` or `xlsx` for a file.
#[utoipa::path(get, path = "/v1/dashboards/participation", tag = "collectivity", params(ParticipationQuery),
    responses((status = 200, body = ParticipationView),
        (status = 200, description = "CSV (`format=csv`)", content_type = "text/csv", body = String),
        (status = 200, description = "XLSX (`format=xlsx`)", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>)),
    security(("bearer" = [])))]
pub async fn participation(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<ParticipationQuery>,
    _consistent: Consistent,
) -> Result<Response, ApiError> {
    let dimension = ygor_projections::participation::Dimension::parse(&query.by).ok_or_else(|| {
        ApiError::validation("by must be one of category, association, neighbourhood, month, age_band, venue")
    })?;
    let (from, to) = super::venue::parse_period(query.from.as_deref(), query.to.as_deref())?;
    let file = export::file_format(query.format.as_deref())?;
    let (rows, position) =
        state.projections().read(|models| (models.participation(dimension, from, to), models.position));
    if let Some(file) = file {
        let mut table = Table::new("participation", &["key", "actions", "citizens", "tokens"]);
        for row in rows {
            table.push(vec![
                Cell::Text(row.key),
                Cell::Integer(row.actions),
                Cell::Integer(row.citizens),
                Cell::Integer(row.tokens),
            ]);
        }
        return file.download(&table, &format!("participation-{}", query.by));
    }
    let rows = rows
        .into_iter()
        .map(|row| ParticipationRow { key: row.key, actions: row.actions, citizens: row.citizens, tokens: row.tokens })
        .collect();
    Ok(axum::Json(ParticipationView { by: query.by, rows, position }).into_response())
}
