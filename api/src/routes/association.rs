//! The association's endpoints: signed certifications, one or a batch at a time, and revocations;
//! its envelope, and its certifications read back from its stream in the log.

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;
use ygor_crypto::{CryptoError, PublicKey, Signature, SignedKind};
use ygor_ledger::operations::Certify;
use ygor_ledger::partner::CertificationOutcome;
use ygor_ledger::{ActionId, CategoryId, CitizenId, LotId, PartnerId};

use super::{checked_text, created_or_replayed, now};
use crate::AppState;
use crate::auth::Association;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiJsonItems, ApiPath, ApiQuery, Consistent, Signed, parse_signed};
use ygor_engine::{Committed, PartnerInfo};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/certifications", post(certify))
        .route("/v1/certifications/batch", post(certify_batch).layer(DefaultBodyLimit::max(BATCH_BODY_LIMIT)))
        .route("/v1/certifications/{action_id}/revoke", post(revoke))
        .route("/v1/me/envelope", get(envelope))
        .route("/v1/me/certifications", get(certifications))
}

/// Largest `quantity` of one action (e.g. km).
pub const QUANTITY_MAX: u64 = 1_000_000;

/// Most certifications one batch carries.
pub const BATCH_MAX: usize = 1_000;

/// The largest body of a batch, the one route whose limit is above [`crate::BODY_LIMIT`]: a signed
/// certification takes about 330 bytes as JSON (420 with a 64-character category and a time with
/// fractions and an offset), so 1,000 of them fit with room for spacing.
pub const BATCH_BODY_LIMIT: usize = 512 * 1024;

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
    #[serde(flatten)]
    pub certified: Certified,
    pub position: i64,
}

/// What a certification earned.
#[derive(Serialize, ToSchema)]
pub struct Certified {
    pub tokens: u64,
    pub gold: bool,
    /// The gold period whose seed decided `gold` (see `GET /v1/gold/periods`); null without gold.
    pub gold_period: Option<u64>,
    pub lot_id: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Certified {
    fn of(outcome: &CertificationOutcome) -> Certified {
        Certified {
            tokens: outcome.tokens.value(),
            gold: outcome.gold,
            gold_period: outcome.gold_period,
            lot_id: outcome.lot_id.map(|id| id.to_string()),
            expires_at: outcome.expires_at,
        }
    }
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
    let key = partner.key.as_ref().ok_or_else(unusable_key)?;
    let (_, message) =
        ygor_crypto::verify_object_message(kind, object, key).map_err(|error| invalid_signature(kind, error))?;
    Ok(ygor_crypto::sha256_hex(&message))
}

fn invalid_signature(kind: SignedKind, error: CryptoError) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_signature",
        format!(
            "{error}; sign \"{}\\n\" + JCS(body without signature) with the key registered for this partner",
            kind.context()
        ),
    )
}

fn unusable_key() -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_signature", "the partner's registered key is unusable")
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
    let (replayed, answer) = certify_signed(&state, association_id, signed).await?;
    Ok(created_or_replayed(replayed, answer))
}

/// The certification of `POST /v1/certifications` by `association_id`, for the API and the
/// association's page: whether it was an identical retry, and the answer.
pub async fn certify_signed(
    state: &AppState,
    association_id: PartnerId,
    signed: Signed<CertificationRequest>,
) -> Result<(bool, CertificationAnswer), ApiError> {
    let checked = CheckedCertification::check(association_id, signed)?;
    let partner = active_partner(state, association_id).await?;
    let fingerprint = verify_partner_signature(SignedKind::Certification, &checked.object, &partner)?;
    let committed = state.engine().certify(checked.into_command(association_id, fingerprint, now())).await?;
    let answer = CertificationAnswer {
        action_id: committed.outcome.action_id.to_string(),
        certified: Certified::of(&committed.outcome),
        position: committed.position,
    };
    Ok((committed.replayed, answer))
}

/// A certification request whose fields are checked, its signature not yet.
struct CheckedCertification {
    action_id: ActionId,
    citizen_id: CitizenId,
    category: CategoryId,
    quantity: u64,
    occurred_at: DateTime<Utc>,
    signature: String,
    /// The object as sent, which the signature covers.
    object: serde_json::Map<String, serde_json::Value>,
}

impl CheckedCertification {
    /// The checks of a certification before its signature, in the order of docs/api.md: the
    /// token's association (`403 forbidden`), then the fields' values (`400 validation_failed`).
    fn check(association_id: PartnerId, signed: Signed<CertificationRequest>) -> Result<Self, ApiError> {
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
        Ok(CheckedCertification {
            action_id,
            citizen_id,
            category,
            quantity: request.quantity,
            occurred_at,
            signature: request.signature,
            object: signed.object,
        })
    }

    /// The command, once the signature is verified (`fingerprint`: of the signed message).
    fn into_command(self, association_id: PartnerId, fingerprint: String, at: DateTime<Utc>) -> Certify {
        Certify {
            action_id: self.action_id,
            association_id,
            citizen_id: self.citizen_id,
            category: self.category,
            quantity: self.quantity,
            occurred_at: self.occurred_at,
            signature: self.signature,
            request: ygor_ledger::partner::SignedRequest::of(self.object),
            fingerprint,
            gold: false,
            gold_period: None,
            lot_id: LotId::from_uuid(uuid::Uuid::new_v4()),
            at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificationBatchRequest {
    /// 1 to 1,000 signed certifications, each exactly the body `POST /v1/certifications` takes.
    #[schema(value_type = Vec<CertificationRequest>)]
    pub certifications: Vec<Box<RawValue>>,
}

#[derive(Serialize, ToSchema)]
pub struct CertificationBatchAnswer {
    /// One per certification sent, in the same order.
    pub results: Vec<CertificationResult>,
    /// The position of the last event of the certifications answered 201 or 200; the log's
    /// position when there is none.
    pub position: i64,
}

/// What `POST /v1/certifications` would have answered for one certification of a batch sent
/// alone.
#[derive(Serialize, ToSchema)]
pub struct CertificationResult {
    /// The certification's `action_id`, in lowercase; null when it has no valid one.
    pub action_id: Option<String>,
    /// 201 for a new certification, 200 for a retry, or the status of its refusal.
    pub status: u16,
    /// The refusal's code (see the table of errors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// What is wrong with this certification, for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// This and the fields below, for 201 and 200 only: what the certification earned, as
    /// `POST /v1/certifications` answers it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gold: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gold_period: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lot_id: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

impl CertificationResult {
    fn certified(committed: &Committed<CertificationOutcome>) -> CertificationResult {
        let Certified { tokens, gold, gold_period, lot_id, expires_at } = Certified::of(&committed.outcome);
        CertificationResult {
            action_id: Some(committed.outcome.action_id.to_string()),
            status: if committed.replayed { StatusCode::OK } else { StatusCode::CREATED }.as_u16(),
            code: None,
            detail: None,
            tokens: Some(tokens),
            gold: Some(gold),
            gold_period: Some(gold_period),
            lot_id: Some(lot_id),
            expires_at: Some(expires_at),
        }
    }

    fn refused(action_id: Option<String>, refusal: ApiError) -> CertificationResult {
        CertificationResult {
            action_id,
            status: refusal.status.as_u16(),
            code: Some(refusal.code),
            detail: Some(refusal.detail),
            tokens: None,
            gold: None,
            gold_period: None,
            lot_id: None,
            expires_at: None,
        }
    }
}

/// The `action_id` of an item refused before its fields were read, if it has a valid one.
fn action_id_of(item: &RawValue) -> Option<String> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(item.get()).ok()?;
    ActionId::parse(object.get("action_id")?.as_str()?).ok().map(|id| id.to_string())
}

/// The fingerprint of each checked certification's signed message, or why its signature is
/// refused. The signatures are verified together (ed25519 batch verification); only when the
/// batch fails are they checked one by one, to find the bad ones.
fn verify_signatures(partner: &PartnerInfo, items: &[CheckedCertification]) -> Vec<Result<String, ApiError>> {
    let kind = SignedKind::Certification;
    let Some(key) = partner.key.as_ref() else {
        return items.iter().map(|_| Err(unusable_key())).collect();
    };
    let read: Vec<Result<(Signature, Vec<u8>), CryptoError>> =
        items.iter().map(|item| ygor_crypto::signature_and_message(kind, &item.object)).collect();
    let mut answers: Vec<Result<String, ApiError>> = Vec::with_capacity(read.len());
    // The signatures to verify, and the answer each one's item has.
    let mut signed: Vec<(Vec<u8>, Signature, PublicKey)> = Vec::with_capacity(read.len());
    let mut answer_of = Vec::with_capacity(read.len());
    for item in read {
        match item {
            Ok((signature, message)) => {
                answers.push(Ok(ygor_crypto::sha256_hex(&message)));
                answer_of.push(answers.len() - 1);
                signed.push((message, signature, *key));
            }
            Err(error) => answers.push(Err(invalid_signature(kind, error))),
        }
    }
    if ygor_crypto::verify_batch(&signed).is_err() {
        for bad in ygor_crypto::invalid_signature_indexes(&signed) {
            answers[answer_of[bad]] = Err(invalid_signature(kind, CryptoError::InvalidSignature));
        }
    }
    answers
}

/// Certifies many actions at once: each certification is decided as if it were sent alone to
/// `POST /v1/certifications`, in order, and those accepted are committed together.
#[utoipa::path(post, path = "/v1/certifications/batch", tag = "association", request_body = CertificationBatchRequest,
    responses((status = 200, description = "each certification's own answer, in order", body = CertificationBatchAnswer),
        (status = 403, description = "forbidden (another role), partner_suspended", body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn certify_batch(
    State(state): State<AppState>,
    Association(association_id): Association,
    ApiJsonItems(request): ApiJsonItems<CertificationBatchRequest, BATCH_BODY_LIMIT>,
) -> Result<axum::Json<CertificationBatchAnswer>, ApiError> {
    let count = request.certifications.len();
    if count == 0 || count > BATCH_MAX {
        return Err(ApiError::validation(format!(
            "certifications holds {count} items; send 1 to {BATCH_MAX} signed certifications per batch"
        )));
    }
    let partner = active_partner(&state, association_id).await?;
    let at = now();
    // Reading and verifying up to 1,000 signed objects takes milliseconds of CPU: off the
    // workers that serve other requests.
    let (mut results, commands, command_indexes) =
        tokio::task::spawn_blocking(move || read_batch(association_id, &partner, &request.certifications, at))
            .await
            .map_err(|error| {
                tracing::error!(%error, "reading a batch of certifications failed");
                ApiError::internal()
            })?;
    let answers = state.engine().certify_batch(&commands).await?;
    let mut position = None;
    for ((command, answer), index) in commands.iter().zip(answers).zip(command_indexes) {
        results[index] = Some(match answer {
            Ok(committed) => {
                position = position.max(Some(committed.position));
                CertificationResult::certified(&committed)
            }
            Err(refusal) => CertificationResult::refused(Some(command.action_id.to_string()), refusal.into()),
        });
    }
    let position = match position {
        Some(position) => position,
        None => state.log().last_position().await?,
    };
    let results = results.into_iter().collect::<Option<Vec<_>>>().ok_or_else(|| {
        tracing::error!("a certification of a batch was left unanswered");
        ApiError::internal()
    })?;
    Ok(axum::Json(CertificationBatchAnswer { results, position }))
}

/// Each certification of a batch read and checked as `POST /v1/certifications` does, up to its
/// signature: the answers of those refused so far (the others' are `None`), and the commands of
/// the others, with their indexes in the batch.
fn read_batch(
    association_id: PartnerId,
    partner: &PartnerInfo,
    items: &[Box<RawValue>],
    at: DateTime<Utc>,
) -> (Vec<Option<CertificationResult>>, Vec<Certify>, Vec<usize>) {
    let mut results: Vec<Option<CertificationResult>> = (0..items.len()).map(|_| None).collect();
    let mut checked = Vec::new();
    let mut indexes = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let read =
            parse_signed(item.get().as_bytes()).and_then(|signed| CheckedCertification::check(association_id, signed));
        match read {
            Ok(certification) => {
                checked.push(certification);
                indexes.push(index);
            }
            Err(refusal) => results[index] = Some(CertificationResult::refused(action_id_of(item), refusal)),
        }
    }
    let fingerprints = verify_signatures(partner, &checked);
    let mut commands = Vec::with_capacity(checked.len());
    let mut command_indexes = Vec::with_capacity(checked.len());
    for ((certification, fingerprint), index) in checked.into_iter().zip(fingerprints).zip(indexes) {
        match fingerprint {
            Ok(fingerprint) => {
                commands.push(certification.into_command(association_id, fingerprint, at));
                command_indexes.push(index);
            }
            Err(refusal) => {
                results[index] = Some(CertificationResult::refused(Some(certification.action_id.to_string()), refusal));
            }
        }
    }
    (results, commands, command_indexes)
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
