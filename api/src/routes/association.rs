//! The association's endpoints: signed certifications and revocations, its envelope, and its
//! certifications read back from its stream in the log.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use ygor_crypto::SignedKind;
use ygor_ledger::operations::Certify;
use ygor_ledger::{ActionId, CategoryId, CitizenId, LotId, PartnerId};

use super::{checked_text, created_or_replayed, now};
use crate::AppState;
use crate::auth::Association;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Consistent, Signed};
use ygor_engine::PartnerInfo;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/certifications", post(certify))
        .route("/v1/certifications/{action_id}/revoke", post(revoke))
        .route("/v1/me/envelope", get(envelope))
        .route("/v1/me/certifications", get(certifications))
}

/// Largest `quantity` of one action (e.g. km).
pub const QUANTITY_MAX: u64 = 1_000_000;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificationRequest {
    pub action_id: String,
    pub association_id: String,
    pub citizen_id: String,
    pub category: String,
    pub quantity: u64,
    /// RFC 3339, UTC.
    pub occurred_at: String,
    /// ed25519 over `"ygor/certification/v1\n" + JCS(object minus signature)`, base64url.
    pub signature: String,
}

#[derive(Serialize, ToSchema)]
pub struct CertificationAnswer {
    pub action_id: String,
    pub tokens: u64,
    pub gold: bool,
    /// The gold period whose seed decided `gold` (see `GET /v1/gold/periods`); null without gold.
    pub gold_period: Option<u64>,
    pub lot_id: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub position: i64,
}

fn field<T>(name: &str, parsed: Result<T, ygor_ledger::ParseError>) -> Result<T, ApiError> {
    parsed.map_err(|error| ApiError::validation(format!("{name}: {}", error.message)))
}

/// Checks the partner's signature over the object it sent; returns the message fingerprint.
/// Public so that `ygor demo` checks the signatures it makes exactly as this edge does.
pub fn verify_partner_signature(
    kind: SignedKind,
    object: &serde_json::Map<String, serde_json::Value>,
    partner: &PartnerInfo,
) -> Result<String, ApiError> {
    let invalid =
        |detail: String| ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "invalid_signature", detail);
    let key = partner.key.as_ref().ok_or_else(|| invalid("the partner's registered key is unusable".to_owned()))?;
    let (_, message) = ygor_crypto::verify_object_message(kind, object, key).map_err(|error| {
        invalid(format!(
            "{error}; sign \"{}\\n\" + JCS(body without signature) with the key registered for this partner",
            kind.context()
        ))
    })?;
    Ok(ygor_crypto::sha256_hex(&message))
}

pub(crate) async fn active_partner(state: &AppState, id: PartnerId) -> Result<std::sync::Arc<PartnerInfo>, ApiError> {
    let info = state
        .engine()
        .partner_info(id)
        .await?
        .ok_or_else(|| ApiError::forbidden("this token's partner is not registered"))?;
    if info.suspended {
        return Err(ygor_ledger::LedgerError::PartnerSuspended(id).into());
    }
    Ok(info)
}

/// Certifies an action: tokens move from the association's envelope to the citizen's wallet.
#[utoipa::path(post, path = "/v1/certifications", tag = "association", request_body = CertificationRequest,
    responses((status = 201, body = CertificationAnswer), (status = 200, description = "identical retry", body = CertificationAnswer),
        (status = 409, description = "envelope_exhausted, id_conflict", body = crate::error::Problem),
        (status = 422, description = "invalid_signature, unknown_category, unknown_citizen, occurred_in_future", body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn certify(
    State(state): State<AppState>,
    Association(association_id): Association,
    signed: Signed<CertificationRequest>,
) -> Result<Response, ApiError> {
    let request = signed.body;
    let claimed = field("association_id", PartnerId::parse(&request.association_id))?;
    if claimed != association_id {
        return Err(ApiError::forbidden("association_id is not the association of this token"));
    }
    let action_id = field("action_id", ActionId::parse(&request.action_id))?;
    let citizen_id = field("citizen_id", CitizenId::parse(&request.citizen_id))?;
    let category = field("category", CategoryId::parse(&request.category))?;
    if request.quantity > QUANTITY_MAX {
        return Err(ApiError::validation(format!("quantity must not exceed {QUANTITY_MAX}")));
    }
    let occurred_at = DateTime::parse_from_rfc3339(&request.occurred_at)
        .map_err(|_| ApiError::validation("occurred_at must be an RFC 3339 time such as 2026-07-14T10:00:00Z"))?
        .with_timezone(&Utc);
    let partner = active_partner(&state, association_id).await?;
    let fingerprint = verify_partner_signature(SignedKind::Certification, &signed.object, &partner)?;
    let command = Certify {
        action_id,
        association_id,
        citizen_id,
        category,
        quantity: request.quantity,
        occurred_at,
        signature: request.signature,
        request: ygor_ledger::partner::SignedRequest::of(signed.object),
        fingerprint,
        gold: false,
        gold_period: None,
        lot_id: LotId::from_uuid(uuid::Uuid::new_v4()),
        at: now(),
    };
    let committed = state.engine().certify(command).await?;
    let outcome = committed.outcome;
    let answer = CertificationAnswer {
        action_id: outcome.action_id.to_string(),
        tokens: outcome.tokens.value(),
        gold: outcome.gold,
        gold_period: outcome.gold_period,
        lot_id: outcome.lot_id.map(|id| id.to_string()),
        expires_at: outcome.expires_at,
        position: committed.position,
    };
    Ok(created_or_replayed(committed.replayed, answer))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevocationRequest {
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct RevocationAnswer {
    pub action_id: String,
    /// Unspent tokens of the lot returned to the envelope.
    pub returned: u64,
    /// Whether the gold token the action earned was taken back: false when it earned none, or
    /// when the citizen had already spent every gold token as draw tickets (those stay).
    pub gold_taken_back: bool,
    pub position: i64,
}

/// Revokes a mistaken certification: the lot's unspent tokens go back to the envelope.
#[utoipa::path(post, path = "/v1/certifications/{action_id}/revoke", tag = "association", request_body = RevocationRequest,
    params(("action_id" = String, Path)), responses((status = 200, body = RevocationAnswer), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    Association(association_id): Association,
    ApiPath(action_id): ApiPath<String>,
    ApiJson(request): ApiJson<RevocationRequest>,
) -> Result<axum::Json<RevocationAnswer>, ApiError> {
    let action_id = ActionId::parse(&action_id).map_err(|_| ApiError::not_found("no action has this id"))?;
    let reason = checked_text("reason", &request.reason, 500)?;
    active_partner(&state, association_id).await?;
    let committed = state.engine().revoke(association_id, action_id, reason, now()).await?;
    Ok(axum::Json(RevocationAnswer {
        action_id: action_id.to_string(),
        returned: committed.outcome.returned.value(),
        gold_taken_back: committed.outcome.gold_taken_back,
        position: committed.position,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct EnvelopeView {
    /// Tokens in the envelope now: `allocated − issued + returned`.
    pub balance: u64,
    /// Received from the treasury so far.
    pub allocated: u64,
    /// Given to citizens by the association's certifications so far.
    pub issued: u64,
    /// Given back to the envelope by revocations so far.
    pub returned: u64,
    pub position: i64,
}

/// The association's envelope: its balance and what went in and out of it.
#[utoipa::path(get, path = "/v1/me/envelope", tag = "association", params(("min_position" = Option<i64>, Query)),
    responses((status = 200, body = EnvelopeView)), security(("bearer" = [])))]
pub async fn envelope(
    State(state): State<AppState>,
    Association(association_id): Association,
    _consistent: Consistent,
) -> Result<axum::Json<EnvelopeView>, ApiError> {
    let view = state.projections().read(|models| {
        let flows = models.directory.envelope(association_id);
        EnvelopeView {
            balance: models.books.balance(ygor_ledger::books::Account::Envelope(association_id)).value(),
            allocated: flows.allocated.value(),
            issued: flows.issued.value(),
            returned: flows.returned.value(),
            position: models.position,
        }
    });
    Ok(axum::Json(view))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct CertificationsQuery {
    /// The `next` of the previous page: certifications older than it.
    pub after: Option<usize>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
    pub min_position: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct CertificationView {
    pub action_id: String,
    pub citizen_id: String,
    pub category: String,
    pub quantity: u64,
    pub occurred_at: DateTime<Utc>,
    pub certified_at: DateTime<Utc>,
    pub tokens: u64,
    pub gold: bool,
    /// Revoked since (as of `position`).
    pub revoked: bool,
}

#[derive(Serialize, ToSchema)]
pub struct CertificationsPage {
    /// Newest first.
    pub certifications: Vec<CertificationView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<usize>,
    pub position: i64,
}

/// The association's certifications, newest first, page by page (read from its stream in the log).
#[utoipa::path(get, path = "/v1/me/certifications", tag = "association", params(CertificationsQuery),
    responses((status = 200, body = CertificationsPage)), security(("bearer" = [])))]
pub async fn certifications(
    State(state): State<AppState>,
    Association(association_id): Association,
    ApiQuery(query): ApiQuery<CertificationsQuery>,
    _consistent: Consistent,
) -> Result<axum::Json<CertificationsPage>, ApiError> {
    let limit = super::page_limit(query.limit)?;
    let stream = association_id.to_string();
    // One more than asked, to know whether another page follows.
    let mut found: Vec<(usize, ygor_ledger::partner::CertificationRecord, DateTime<Utc>)> = Vec::new();
    let mut before = query.after;
    'stream: loop {
        let events = state.log().stream_newest_first("partner", &stream, before, limit + 1).await?;
        let exhausted = events.len() <= limit;
        for recorded in events {
            before = Some(recorded.event.sequence);
            if recorded.event.event_type != "CertificationRecorded" {
                continue;
            }
            match ygor_ledger::codec::decode_serialized(&recorded.event) {
                Ok(ygor_ledger::books::AnyEvent::Partner(
                    _,
                    ygor_ledger::partner::PartnerEvent::CertificationRecorded { record, certified_at },
                )) => found.push((recorded.event.sequence, record, certified_at)),
                other => {
                    tracing::error!(position = recorded.position, ?other, "a certification in the log does not decode");
                    return Err(ApiError::internal());
                }
            }
            if found.len() > limit {
                break 'stream;
            }
        }
        if exhausted {
            break;
        }
    }
    let next = (found.len() > limit).then(|| found[limit - 1].0);
    found.truncate(limit);
    let page = state.projections().read(|models| CertificationsPage {
        certifications: found
            .into_iter()
            .map(|(_, record, certified_at)| CertificationView {
                action_id: record.action_id.to_string(),
                citizen_id: record.citizen_id.to_string(),
                category: record.category.to_string(),
                quantity: record.quantity,
                occurred_at: record.occurred_at,
                certified_at,
                tokens: record.outcome.tokens.value(),
                gold: record.outcome.gold,
                revoked: models.profiles.is_revoked(record.citizen_id, record.action_id),
            })
            .collect(),
        next,
        position: models.position,
    });
    Ok(axum::Json(page))
}
