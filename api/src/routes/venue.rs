//! The venue's endpoints: signed redemptions of citizens' vouchers, and its redemption list.

use std::collections::HashMap;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use ygor_crypto::SignedKind;
use ygor_ledger::operations::Redeem;
use ygor_ledger::wallet::VerifiedVoucher;
use ygor_ledger::{CitizenId, OfferId, PartnerId, RedemptionId, SettlementId, Tokens, VoucherId};
use ygor_projections::venues::SettlementView;
use ygor_rules::SettlementRules;

use super::association::{active_partner, verify_partner_signature};
use super::created_or_replayed;
use crate::AppState;
use crate::auth::{Caller, Venue};
use crate::error::ApiError;
use crate::export::{self, Cell, Table};
use crate::extract::{ApiPath, ApiQuery, Consistent, Signed};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/redemptions", post(redeem))
        .route("/v1/venues/{venue_id}/redemptions", get(redemptions))
        .route("/v1/venues/{venue_id}/statements", get(statement))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedemptionRequest {
    pub redemption_id: String,
    pub venue_id: String,
    /// The voucher the citizen showed (from `POST /v1/me/vouchers`); or send `countermark`.
    pub voucher: Option<String>,
    /// The voucher's 8-character countermark, as the citizen read or showed it, instead of
    /// `voucher`.
    pub countermark: Option<String>,
    /// The offer redeemed; required when the voucher was issued for one.
    pub offer_id: Option<String>,
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

/// What the venue presented for the citizen: the voucher, or its countermark read canonically.
enum Presented {
    Voucher(String),
    Countermark(String),
}

fn invalid_voucher(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_voucher", detail)
}

/// Redeems a citizen's voucher: the lots that expire first are spent first.
#[utoipa::path(post, path = "/v1/redemptions", tag = "venue", request_body = RedemptionRequest,
    responses((status = 201, body = RedemptionAnswer), (status = 200, description = "identical retry", body = RedemptionAnswer),
        (status = 409, description = "insufficient_balance, voucher_used, id_conflict, offer_full, offer_closed", body = crate::error::Problem),
        (status = 410, description = "voucher_expired", body = crate::error::Problem),
        (status = 422, description = "invalid_signature, invalid_voucher, unknown_countermark, unknown_offer", body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn redeem(
    State(state): State<AppState>,
    Venue(venue_id): Venue,
    signed: Signed<RedemptionRequest>,
) -> Result<Response, ApiError> {
    let (replayed, answer) = redeem_signed(&state, venue_id, signed).await?;
    Ok(created_or_replayed(replayed, answer))
}

/// The redemption of `POST /v1/redemptions` by `venue_id`, for the API and the venue's desk page:
/// whether it was an identical retry, and the answer.
pub async fn redeem_signed(
    state: &AppState,
    venue_id: PartnerId,
    signed: Signed<RedemptionRequest>,
) -> Result<(bool, RedemptionAnswer), ApiError> {
    let request = signed.body;
    let claimed = PartnerId::parse(&request.venue_id).map_err(|error| ApiError::validation(error.to_string()))?;
    if claimed != venue_id {
        return Err(ApiError::forbidden("venue_id is not the venue of this token"));
    }
    let redemption_id =
        RedemptionId::parse(&request.redemption_id).map_err(|error| ApiError::validation(error.to_string()))?;
    let amount = Tokens::positive(request.amount).map_err(|error| ApiError::validation(error.to_string()))?;
    let offer_id = request
        .offer_id
        .as_deref()
        .map(|text| OfferId::parse(text).map_err(|error| ApiError::validation(error.to_string())))
        .transpose()?;
    let presented = match (request.voucher, request.countermark.as_deref()) {
        (Some(voucher), None) => Presented::Voucher(voucher),
        (None, Some(countermark)) => Presented::Countermark(ygor_crypto::read_short_code(countermark).ok_or_else(|| {
            ApiError::validation(
                "countermark must be the 8 characters (digits and letters) the citizen's voucher shows, such as 7K3F-Q9RD",
            )
        })?),
        _ => return Err(ApiError::validation("send either voucher or countermark, not both")),
    };
    let partner = active_partner(state, venue_id).await?;
    let fingerprint = verify_partner_signature(SignedKind::Redemption, &signed.object, &partner)?;
    let at = super::now();
    let voucher_text = match presented {
        Presented::Voucher(voucher) => voucher,
        Presented::Countermark(countermark) => state.log().find_countermark(&countermark, at).await?.ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_countermark",
                format!(
                    "no voucher has the countermark {countermark}; check it with the citizen, or ask for a new voucher"
                ),
            )
        })?,
    };
    let claims = ygor_crypto::open_voucher(&voucher_text, state.territory_public_key())
        .map_err(|error| invalid_voucher(format!("{error}; ask the citizen for a new voucher")))?;
    let voucher = VerifiedVoucher {
        voucher_id: VoucherId::from_uuid(claims.voucher_id),
        amount_max: Tokens::new(claims.amount_max),
        expires_at: claims.expires_at,
        offer_id: claims.offer_id.map(OfferId::from_uuid),
    };
    let command = Redeem {
        redemption_id,
        venue_id,
        citizen_id: CitizenId::from_uuid(claims.citizen_id),
        voucher,
        voucher_text,
        amount,
        offer_id,
        signature: request.signature,
        request: ygor_ledger::partner::SignedRequest::of(signed.object),
        fingerprint,
        at,
    };
    let committed = state.engine().redeem(command).await?;
    let answer = RedemptionAnswer {
        redemption_id: committed.outcome.redemption_id.to_string(),
        amount: committed.outcome.amount.value(),
        position: committed.position,
    };
    Ok((committed.replayed, answer))
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
    ApiPath(venue_id): ApiPath<String>,
    _consistent: Consistent,
) -> Result<axum::Json<RedemptionList>, ApiError> {
    let venue_id = PartnerId::parse(&venue_id).map_err(|_| ApiError::not_found("no venue has this id"))?;
    ensure_venue_reader(&state, caller, venue_id).await?;
    let redemptions = redemptions_of(&state, venue_id).into_iter().map(|(item, _)| item).collect();
    Ok(axum::Json(RedemptionList { redemptions }))
}

/// A venue's redemptions, newest first, each with the title of the offer its voucher was for (none
/// for a redemption without an offer).
pub(crate) fn redemptions_of(state: &AppState, venue_id: PartnerId) -> Vec<(RedemptionItem, Option<String>)> {
    state.projections().read(|models| {
        let Some(book) = models.venues.venues.get(&venue_id) else { return Vec::new() };
        book.redemptions
            .iter()
            .rev()
            .map(|view| {
                let offer = view
                    .offer_id
                    .and_then(|offer_id| models.offers.offers.get(&offer_id))
                    .map(|offer| offer.terms.title.clone());
                let item = RedemptionItem {
                    redemption_id: view.redemption_id.to_string(),
                    citizen_id: view.citizen_id.to_string(),
                    amount: view.amount.value(),
                    redeemed_at: view.redeemed_at,
                    settled: view.settlement_id.is_some(),
                };
                (item, offer)
            })
            .collect()
    })
}

/// A venue's own figures are read by the venue itself or by the collectivity.
async fn ensure_venue_reader(state: &AppState, caller: Caller, venue_id: PartnerId) -> Result<(), ApiError> {
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
    Ok(())
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct StatementQuery {
    /// Inclusive start (RFC 3339).
    pub from: Option<String>,
    /// Exclusive end (RFC 3339).
    pub to: Option<String>,
    /// `json` (default), `csv` or `xlsx` (one row per redemption of the period).
    pub format: Option<String>,
    pub min_position: Option<i64>,
}

/// An optional `[from, to)` window.
pub(crate) type Period = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

pub(crate) fn parse_period(from: Option<&str>, to: Option<&str>) -> Result<Period, ApiError> {
    let parse = |name: &str, text: Option<&str>| {
        text.map(|text| {
            DateTime::parse_from_rfc3339(text).map(|time| time.with_timezone(&Utc)).map_err(|_| {
                ApiError::validation(format!("{name} must be an RFC 3339 time such as 2026-01-01T00:00:00Z"))
            })
        })
        .transpose()
    };
    let (from, to) = (parse("from", from)?, parse("to", to)?);
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        return Err(ApiError::validation("from must be before to"));
    }
    Ok((from, to))
}

#[derive(Serialize, ToSchema)]
pub struct SettlementItem {
    pub settlement_id: String,
    pub tokens: u64,
    /// What the tokens were worth in euro cents when they were settled; null when the rules then
    /// gave tokens no value.
    pub amount_cents: Option<u64>,
    pub redemptions: u64,
    pub settled_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct Statement {
    pub venue_id: String,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Redemptions in the period.
    pub redemptions: u64,
    /// Tokens redeemed in the period.
    pub redeemed_tokens: u64,
    /// `settled_amount_cents + unsettled_amount_cents`; null when either is.
    pub redeemed_amount_cents: Option<u64>,
    /// Of those, already settled (reimbursed).
    pub settled_tokens: u64,
    /// What they were worth when each was settled; null when one was settled without a value.
    pub settled_amount_cents: Option<u64>,
    /// Of those, still to settle.
    pub unsettled_tokens: u64,
    /// What they are worth under the rules in force; null when those give tokens no value.
    pub unsettled_amount_cents: Option<u64>,
    /// Settlements made in the period.
    pub settlements: Vec<SettlementItem>,
}

/// One redemption of a statement, valued: at its settlement's value once settled, at the rules in
/// force until then.
struct StatementLine {
    redemption_id: RedemptionId,
    redeemed_at: DateTime<Utc>,
    tokens: Tokens,
    amount_cents: Option<u64>,
    settlement: Option<(SettlementId, DateTime<Utc>)>,
}

/// The sum of some figures in euro cents, `None` if one is unknown (or the sum overflows).
fn total_cents<'a>(mut lines: impl Iterator<Item = &'a StatementLine>) -> Option<u64> {
    lines.try_fold(0_u64, |sum, line| sum.checked_add(line.amount_cents?))
}

/// A venue's settlement statement for a period: what it redeemed, what was settled, in tokens and,
/// when the rules say what a token is worth, in euro cents; `?format=csv` or `xlsx` for a file of
/// its redemptions.
#[utoipa::path(get, path = "/v1/venues/{venue_id}/statements", tag = "venue",
    params(("venue_id" = String, Path), StatementQuery),
    responses((status = 200, body = Statement),
        (status = 200, description = "CSV (`format=csv`)", content_type = "text/csv", body = String),
        (status = 200, description = "XLSX (`format=xlsx`)", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>)),
    security(("bearer" = [])))]
pub async fn statement(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(venue_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<StatementQuery>,
    _consistent: Consistent,
) -> Result<Response, ApiError> {
    let venue_id = PartnerId::parse(&venue_id).map_err(|_| ApiError::not_found("no venue has this id"))?;
    let (from, to) = parse_period(query.from.as_deref(), query.to.as_deref())?;
    let file = export::file_format(query.format.as_deref())?;
    ensure_venue_reader(&state, caller, venue_id).await?;
    let (lines, settlements) = statement_lines(&state, venue_id, (from, to));
    if let Some(file) = file {
        return file.download(&statement_table(lines), &format!("statement-{venue_id}"));
    }
    Ok(axum::Json(statement_summary(venue_id, (from, to), &lines, settlements)).into_response())
}

/// A venue's redemptions of a period, valued, and its settlements of the period.
fn statement_lines(
    state: &AppState,
    venue_id: PartnerId,
    (from, to): Period,
) -> (Vec<StatementLine>, Vec<SettlementItem>) {
    let in_period = move |time: DateTime<Utc>| from.is_none_or(|from| time >= from) && to.is_none_or(|to| time < to);
    state.projections().read(|models| {
        let empty = ygor_projections::venues::VenueBook::default();
        let book = models.venues.venues.get(&venue_id).unwrap_or(&empty);
        let settled: HashMap<SettlementId, &SettlementView> =
            book.settlements.iter().map(|settlement| (settlement.settlement_id, settlement)).collect();
        let price_now = models.rules.as_ref().and_then(|rules| rules.settlement);
        let lines: Vec<StatementLine> = book
            .redemptions
            .iter()
            .filter(|view| in_period(view.redeemed_at))
            .map(|view| {
                let settlement = view.settlement_id.and_then(|id| settled.get(&id));
                let price = match settlement {
                    Some(settlement) => {
                        settlement.value.map(|value| SettlementRules { token_value_cents: value.token_value_cents })
                    }
                    None => price_now,
                };
                StatementLine {
                    redemption_id: view.redemption_id,
                    redeemed_at: view.redeemed_at,
                    tokens: view.amount,
                    amount_cents: price.and_then(|price| price.cents_for(view.amount.value())),
                    settlement: settlement.map(|settlement| (settlement.settlement_id, settlement.settled_at)),
                }
            })
            .collect();
        let settlements: Vec<SettlementItem> = book
            .settlements
            .iter()
            .filter(|settlement| in_period(settlement.settled_at))
            .map(|settlement| SettlementItem {
                settlement_id: settlement.settlement_id.to_string(),
                tokens: settlement.amount.value(),
                amount_cents: settlement.value.map(|value| value.amount_cents),
                redemptions: settlement.redemptions,
                settled_at: settlement.settled_at,
            })
            .collect();
        (lines, settlements)
    })
}

/// The statement file of a venue (one row per redemption of the period), as the API serves it with
/// `?format=csv|xlsx`: for the API and the venue's history page.
pub fn statement_file(
    state: &AppState,
    venue_id: PartnerId,
    period: Period,
    file: export::FileFormat,
) -> Result<Response, ApiError> {
    let (lines, _) = statement_lines(state, venue_id, period);
    file.download(&statement_table(lines), &format!("statement-{venue_id}"))
}

/// The JSON statement of a venue for a period: for the API and the venue's history page.
pub fn statement_of(state: &AppState, venue_id: PartnerId, period: Period) -> Statement {
    let (lines, settlements) = statement_lines(state, venue_id, period);
    statement_summary(venue_id, period, &lines, settlements)
}

fn statement_table(lines: Vec<StatementLine>) -> Table {
    let columns = ["redemption_id", "redeemed_at", "tokens", "amount_cents", "settlement_id", "settled_at"];
    let mut table = Table::new("statement", &columns);
    for line in lines {
        let (settlement_id, settled_at) = match line.settlement {
            Some((id, at)) => (Cell::Text(id.to_string()), Cell::DateTime(at)),
            None => (Cell::Empty, Cell::Empty),
        };
        table.push(vec![
            Cell::Text(line.redemption_id.to_string()),
            Cell::DateTime(line.redeemed_at),
            Cell::Integer(line.tokens.value()),
            Cell::from(line.amount_cents),
            settlement_id,
            settled_at,
        ]);
    }
    table
}

fn statement_summary(
    venue_id: PartnerId,
    (from, to): Period,
    lines: &[StatementLine],
    settlements: Vec<SettlementItem>,
) -> Statement {
    let tokens = |settled: Option<bool>| {
        lines
            .iter()
            .filter(|line| settled.is_none_or(|settled| line.settlement.is_some() == settled))
            .map(|line| line.tokens.value())
            .sum()
    };
    let settled_amount_cents = total_cents(lines.iter().filter(|line| line.settlement.is_some()));
    let unsettled_amount_cents = total_cents(lines.iter().filter(|line| line.settlement.is_none()));
    Statement {
        venue_id: venue_id.to_string(),
        from,
        to,
        redemptions: lines.len() as u64,
        redeemed_tokens: tokens(None),
        redeemed_amount_cents: settled_amount_cents
            .zip(unsettled_amount_cents)
            .and_then(|(settled, unsettled)| settled.checked_add(unsettled)),
        settled_tokens: tokens(Some(true)),
        settled_amount_cents,
        unsettled_tokens: tokens(Some(false)),
        unsettled_amount_cents,
        settlements,
    }
}
