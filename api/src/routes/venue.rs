//! The venue's endpoints: signed redemptions of citizens' vouchers, and its redemption list.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use ygor_crypto::SignedKind;
use ygor_ledger::operations::Redeem;
use ygor_ledger::wallet::VerifiedVoucher;
use ygor_ledger::{CitizenId, PartnerId, RedemptionId, Tokens, VoucherId};

use super::association::{active_partner, verify_partner_signature};
use super::created_or_replayed;
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Consistent, Signed};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/redemptions", post(redeem)).route("/v1/venues/{venue_id}/redemptions", get(redemptions))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedemptionRequest {
    pub redemption_id: String,
    pub venue_id: String,
    /// The voucher the citizen showed (from `POST /v1/me/vouchers`).
    pub voucher: String,
    pub amount: u64,
    /// ed25519 over `"ygor/redemption/v1\n" + JCS(object minus signature)`, base64url.
    pub signature: String,
}

#[derive(Serialize, ToSchema)]
pub struct RedemptionAnswer {
    pub redemption_id: String,
    pub amount: u64,
    pub position: i64,
}

fn invalid_voucher(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_voucher", detail)
}

/// Redeems a citizen's voucher: the lots that expire first are spent first.
#[utoipa::path(post, path = "/v1/redemptions", tag = "venue", request_body = RedemptionRequest,
    responses((status = 201, body = RedemptionAnswer), (status = 200, description = "identical retry", body = RedemptionAnswer),
        (status = 409, description = "insufficient_balance, voucher_used, id_conflict", body = crate::error::Problem),
        (status = 410, description = "voucher_expired", body = crate::error::Problem),
        (status = 422, description = "invalid_signature, invalid_voucher", body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn redeem(
    State(state): State<AppState>,
    caller: Caller,
    signed: Signed<RedemptionRequest>,
) -> Result<Response, ApiError> {
    let venue_id = caller.venue()?;
    let request = signed.body;
    let claimed = PartnerId::parse(&request.venue_id).map_err(|error| ApiError::validation(error.to_string()))?;
    if claimed != venue_id {
        return Err(ApiError::forbidden("venue_id is not the venue of this token"));
    }
    let redemption_id =
        RedemptionId::parse(&request.redemption_id).map_err(|error| ApiError::validation(error.to_string()))?;
    let amount = Tokens::positive(request.amount).map_err(|error| ApiError::validation(error.to_string()))?;
    let partner = active_partner(&state, venue_id).await?;
    let fingerprint = verify_partner_signature(SignedKind::Redemption, &signed.object, &partner)?;
    let claims = ygor_crypto::open_voucher(&request.voucher, state.territory_public_key())
        .map_err(|error| invalid_voucher(format!("{error}; ask the citizen for a new voucher")))?;
    let voucher = VerifiedVoucher {
        voucher_id: VoucherId::from_uuid(claims.voucher_id),
        amount_max: Tokens::new(claims.amount_max),
        expires_at: claims.expires_at,
    };
    let command = Redeem {
        redemption_id,
        venue_id,
        citizen_id: CitizenId::from_uuid(claims.citizen_id),
        voucher,
        voucher_text: request.voucher,
        amount,
        signature: request.signature,
        fingerprint,
        at: super::now(),
    };
    let committed = state.engine().redeem(command).await?;
    let answer = RedemptionAnswer {
        redemption_id: committed.outcome.redemption_id.to_string(),
        amount: committed.outcome.amount.value(),
        position: committed.position,
    };
    Ok(created_or_replayed(committed.replayed, answer))
}

#[derive(Serialize, ToSchema)]
pub struct RedemptionItem {
    pub redemption_id: String,
    pub citizen_id: String,
    pub amount: u64,
    pub redeemed_at: DateTime<Utc>,
    pub settled: bool,
}

#[derive(Serialize, ToSchema)]
pub struct RedemptionList {
    /// Newest first.
    pub redemptions: Vec<RedemptionItem>,
}

/// A venue's redemptions, newest first (the venue's own token, or the admin's).
#[utoipa::path(get, path = "/v1/venues/{venue_id}/redemptions", tag = "venue",
    params(("venue_id" = String, Path), ("min_position" = Option<i64>, Query)),
    responses((status = 200, body = RedemptionList)), security(("bearer" = [])))]
pub async fn redemptions(
    State(state): State<AppState>,
    caller: Caller,
    Path(venue_id): Path<String>,
    _consistent: Consistent,
) -> Result<axum::Json<RedemptionList>, ApiError> {
    let venue_id = PartnerId::parse(&venue_id).map_err(|_| ApiError::not_found("no venue has this id"))?;
    match caller {
        Caller::Admin => {}
        Caller::Venue(own) if own == venue_id => {}
        Caller::Venue(_) => return Err(ApiError::forbidden("a venue sees only its own redemptions")),
        _ => return Err(ApiError::forbidden("this needs the venue's token or the admin token")),
    }
    let info = state.engine().partner_info(venue_id).await?;
    if !info.is_some_and(|info| info.kind == ygor_ledger::PartnerKind::Venue) {
        return Err(ApiError::not_found("no venue has this id"));
    }
    let redemptions = state.projections().read(|models| {
        models
            .redemptions
            .get(&venue_id)
            .map(|list| {
                list.iter()
                    .rev()
                    .map(|view| RedemptionItem {
                        redemption_id: view.redemption_id.to_string(),
                        citizen_id: view.citizen_id.to_string(),
                        amount: view.amount.value(),
                        redeemed_at: view.redeemed_at,
                        settled: view.settled,
                    })
                    .collect()
            })
            .unwrap_or_default()
    });
    Ok(axum::Json(RedemptionList { redemptions }))
}
