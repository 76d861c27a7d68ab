//! Offers and vouchers: a venue publishes what it sells for tokens, anyone reads the catalogue,
//! and a citizen takes a voucher (for an offer, or for an amount) with its countermark and its QR
//! code.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use ygor_crypto::VoucherClaims;
use ygor_ledger::offer::{Audience, Availability, Capacity, CapacityPeriod, NotForYou, OfferTerms, age_in};
use ygor_ledger::{CitizenId, LedgerError, OfferId, PartnerId, Tokens};
use ygor_projections::ReadModels;
use ygor_projections::offers::OfferView;

use super::{checked_text, created_or_replayed, now};
use crate::AppState;
use crate::auth::{Citizen, Venue};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Consistent};

/// How long a voucher is valid.
pub const VOUCHER_LIFETIME: chrono::Duration = chrono::Duration::minutes(10);

/// How long past its voucher's expiry a countermark is kept: a retry of a redemption made with
/// it is still answered as a retry, and a late use as `voucher_expired` rather than unknown.
const COUNTERMARK_KEPT: chrono::Duration = chrono::Duration::days(1);

/// Limits of an offer's fields.
const PRICE_MAX: u64 = 1_000_000;
const CAPACITY_MAX: u32 = 1_000_000;
const DESCRIPTION_MAX: usize = 2_000;
const AGE_MAX: u8 = 150;
const AUDIENCE_NEIGHBOURHOODS_MAX: usize = 32;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/offers", post(publish).get(list))
        .route("/v1/offers/{offer_id}", get(show))
        .route("/v1/offers/{offer_id}/close", post(close))
        .route("/v1/me/vouchers", post(issue_voucher))
        .route("/v1/dashboards/offers", get(dashboard))
}

#[derive(Deserialize, Serialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct CapacityBody {
    /// Uses per period, 1 to 1,000,000.
    pub count: u32,
    /// `day`, `week` (from Monday) or `month`, calendar periods in UTC.
    #[schema(value_type = String)]
    pub per: CapacityPeriod,
}

#[derive(Deserialize, Serialize, ToSchema, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct AudienceBody {
    /// Youngest age admitted, in years reached this calendar year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_min: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_max: Option<u8>,
    /// Neighbourhood ids (at most 32); empty or absent: every neighbourhood.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub neighbourhoods: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferRequest {
    pub offer_id: String,
    /// 1–200 characters.
    pub title: String,
    /// 1–2,000 characters.
    pub description: Option<String>,
    /// A category of the rules in force.
    pub category: Option<String>,
    /// Tokens, 1 to 1,000,000.
    pub price: u64,
    pub capacity: Option<CapacityBody>,
    pub audience: Option<AudienceBody>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct OfferAnswer {
    pub offer_id: String,
    pub position: i64,
}

/// Waits (at most 2 s) until the read models include every write this server committed before
/// the request: a voucher asked for right after an offer was published or used sees it, and a page
/// shown after a form sees what the form did.
pub(crate) async fn caught_up(state: &AppState) {
    let committed = *state.engine().committed().borrow();
    let _ = state.projections().wait_for(committed, std::time::Duration::from_secs(2)).await;
}

fn parse_offer_id(text: &str) -> Result<OfferId, ApiError> {
    OfferId::parse(text).map_err(|error| ApiError::validation(error.to_string()))
}

impl OfferRequest {
    fn terms(&self) -> Result<OfferTerms, ApiError> {
        let title = checked_text("title", &self.title, 200)?;
        let description =
            self.description.as_deref().map(|text| checked_text("description", text, DESCRIPTION_MAX)).transpose()?;
        let category = match &self.category {
            Some(category) => super::missions::categories(std::slice::from_ref(category), 1)?.pop(),
            None => None,
        };
        if !(1..=PRICE_MAX).contains(&self.price) {
            return Err(ApiError::validation(format!("price must be 1 to {PRICE_MAX} tokens")));
        }
        let capacity = self.capacity.as_ref().map(|capacity| {
            if !(1..=CAPACITY_MAX).contains(&capacity.count) {
                return Err(ApiError::validation(format!("capacity.count must be 1 to {CAPACITY_MAX}")));
            }
            Ok(Capacity { count: capacity.count, per: capacity.per })
        });
        let audience = self.audience.as_ref().map(checked_audience).transpose()?;
        if let (Some(starts_at), Some(ends_at)) = (self.starts_at, self.ends_at)
            && starts_at >= ends_at
        {
            return Err(ApiError::validation("starts_at must be before ends_at"));
        }
        Ok(OfferTerms {
            title,
            description,
            category,
            price: Tokens::new(self.price),
            capacity: capacity.transpose()?,
            audience,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
        })
    }
}

fn checked_audience(audience: &AudienceBody) -> Result<Audience, ApiError> {
    for (name, age) in [("age_min", audience.age_min), ("age_max", audience.age_max)] {
        if age.is_some_and(|age| age > AGE_MAX) {
            return Err(ApiError::validation(format!("audience.{name} must be 0 to {AGE_MAX}")));
        }
    }
    if let (Some(minimum), Some(maximum)) = (audience.age_min, audience.age_max)
        && minimum > maximum
    {
        return Err(ApiError::validation("audience.age_min must not be above audience.age_max"));
    }
    if audience.neighbourhoods.len() > AUDIENCE_NEIGHBOURHOODS_MAX {
        return Err(ApiError::validation(format!(
            "audience.neighbourhoods lists at most {AUDIENCE_NEIGHBOURHOODS_MAX} neighbourhoods"
        )));
    }
    let mut neighbourhoods = audience
        .neighbourhoods
        .iter()
        .map(|neighbourhood| checked_text("audience.neighbourhoods", neighbourhood, 100))
        .collect::<Result<Vec<_>, _>>()?;
    neighbourhoods.sort();
    neighbourhoods.dedup();
    Ok(Audience { age_min: audience.age_min, age_max: audience.age_max, neighbourhoods })
}

/// Publishes an offer of the venue; the identical request again is `200`.
#[utoipa::path(post, path = "/v1/offers", tag = "offers", request_body = OfferRequest,
    responses((status = 201, body = OfferAnswer), (status = 200, description = "identical retry", body = OfferAnswer)),
    security(("bearer" = [])))]
pub async fn publish(
    State(state): State<AppState>,
    Venue(venue_id): Venue,
    ApiJson(request): ApiJson<OfferRequest>,
) -> Result<Response, ApiError> {
    let (replayed, answer) = publish_offer(&state, venue_id, &request).await?;
    Ok(created_or_replayed(replayed, answer))
}

/// The offer of `POST /v1/offers`, for the API and the venue's offers page: whether it was an
/// identical retry, and the answer.
pub async fn publish_offer(
    state: &AppState,
    venue_id: PartnerId,
    request: &OfferRequest,
) -> Result<(bool, OfferAnswer), ApiError> {
    let offer_id = parse_offer_id(&request.offer_id)?;
    let terms = request.terms()?;
    // Offer ids are the venues' own: one already published by another venue is taken.
    caught_up(state).await;
    let owner = state.projections().read(|models| models.offers.offers.get(&offer_id).map(|offer| offer.venue_id));
    if owner.is_some_and(|owner| owner != venue_id) {
        return Err(LedgerError::IdConflict { what: format!("offer_id {offer_id}") }.into());
    }
    let committed = state.engine().publish_offer(venue_id, offer_id, terms, now()).await?;
    Ok((committed.replayed, OfferAnswer { offer_id: offer_id.to_string(), position: committed.position }))
}

/// Closes an offer of the venue: no more vouchers or redemptions for it.
#[utoipa::path(post, path = "/v1/offers/{offer_id}/close", tag = "offers", request_body = crate::routes::collectivity::Empty,
    params(("offer_id" = String, Path)), responses((status = 200, body = OfferAnswer)), security(("bearer" = [])))]
pub async fn close(
    State(state): State<AppState>,
    Venue(venue_id): Venue,
    ApiPath(offer_id): ApiPath<String>,
    ApiJson(_empty): ApiJson<crate::routes::collectivity::Empty>,
) -> Result<axum::Json<OfferAnswer>, ApiError> {
    let not_found = || ApiError::not_found("this venue has no offer with this id");
    let offer_id = OfferId::parse(&offer_id).map_err(|_| not_found())?;
    let committed = match state.engine().close_offer(venue_id, offer_id, now()).await {
        Err(ygor_engine::EngineError::Ledger(LedgerError::UnknownOffer(_))) => return Err(not_found()),
        other => other?,
    };
    Ok(axum::Json(OfferAnswer { offer_id: offer_id.to_string(), position: committed.position }))
}

#[derive(Serialize, ToSchema)]
pub struct OfferItem {
    pub offer_id: String,
    pub venue_id: String,
    /// The venue's name.
    pub venue: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Tokens.
    pub price: u64,
    /// The price in euro cents, at the value of a token in the rules in force (`[settlement]`);
    /// absent when tokens have no value in euros.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_cents: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityBody>,
    /// Uses left in the current capacity period; absent when the offer has no capacity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<AudienceBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
    /// `open`, `full` (no use left this period), `upcoming` (before `starts_at`), `ended`
    /// (after `ends_at`) or `closed` (by its venue).
    pub status: &'static str,
    pub published_at: DateTime<Utc>,
}

fn status(offer: &OfferView, at: DateTime<Utc>) -> &'static str {
    if offer.closed_at.is_some() {
        return "closed";
    }
    if offer.terms.starts_at.is_some_and(|starts_at| at < starts_at) {
        return "upcoming";
    }
    match offer.availability(at) {
        Availability::Open => "open",
        Availability::Full => "full",
        Availability::Closed => "ended",
    }
}

fn item(models: &ReadModels, offer_id: OfferId, offer: &OfferView, at: DateTime<Utc>) -> OfferItem {
    let terms = &offer.terms;
    OfferItem {
        offer_id: offer_id.to_string(),
        venue_id: offer.venue_id.to_string(),
        venue: models.partner_name(&offer.venue_id),
        title: terms.title.clone(),
        description: terms.description.clone(),
        category: terms.category.as_ref().map(ToString::to_string),
        price: terms.price.value(),
        price_cents: models
            .rules
            .as_ref()
            .and_then(|rules| rules.settlement)
            .and_then(|value| value.cents_for(terms.price.value())),
        capacity: terms.capacity.map(|capacity| CapacityBody { count: capacity.count, per: capacity.per }),
        remaining: offer.remaining(at),
        audience: terms.audience.as_ref().map(|audience| AudienceBody {
            age_min: audience.age_min,
            age_max: audience.age_max,
            neighbourhoods: audience.neighbourhoods.clone(),
        }),
        starts_at: terms.starts_at,
        ends_at: terms.ends_at,
        status: status(offer, at),
        published_at: offer.published_at,
    }
}

#[derive(Deserialize, IntoParams)]
pub struct OffersQuery {
    /// Only this venue's offers.
    pub venue_id: Option<String>,
    /// Only offers of this category.
    pub category: Option<String>,
    /// Only offers whose audience admits this age (0 to 150).
    pub age: Option<u8>,
    /// Also closed and ended offers (`true`); by default only the others.
    pub all: Option<bool>,
    pub min_position: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct OfferList {
    /// By venue name, then title.
    pub offers: Vec<OfferItem>,
    pub position: i64,
}

/// The catalogue of offers: by default those not closed or ended, with each venue's name.
#[utoipa::path(get, path = "/v1/offers", tag = "offers", params(OffersQuery),
    responses((status = 200, body = OfferList)))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<OffersQuery>,
    _consistent: Consistent,
) -> Result<axum::Json<OfferList>, ApiError> {
    let venue_id = query
        .venue_id
        .as_deref()
        .map(|text| PartnerId::parse(text).map_err(|error| ApiError::validation(error.to_string())))
        .transpose()?;
    let category = match &query.category {
        Some(category) => super::missions::categories(std::slice::from_ref(category), 1)?.pop(),
        None => None,
    };
    if query.age.is_some_and(|age| age > AGE_MAX) {
        return Err(ApiError::validation(format!("age must be 0 to {AGE_MAX}")));
    }
    let at = now();
    let list = state.projections().read(|models| {
        let mut offers: Vec<OfferItem> = models
            .offers
            .offers
            .iter()
            .filter(|(_, offer)| venue_id.is_none_or(|venue_id| offer.venue_id == venue_id))
            .filter(|(_, offer)| category.is_none() || offer.terms.category == category)
            .filter(|(_, offer)| {
                query.age.is_none_or(|age| {
                    offer.terms.audience.as_ref().is_none_or(|audience| {
                        let ages_only = Audience { neighbourhoods: vec![], ..audience.clone() };
                        ages_only.admits(Some(u32::from(age)), None).is_ok()
                    })
                })
            })
            .map(|(offer_id, offer)| item(models, *offer_id, offer, at))
            .filter(|item| query.all == Some(true) || !matches!(item.status, "closed" | "ended"))
            .collect();
        offers.sort_by(|a, b| {
            (a.venue.to_lowercase(), a.title.to_lowercase(), &a.offer_id).cmp(&(
                b.venue.to_lowercase(),
                b.title.to_lowercase(),
                &b.offer_id,
            ))
        });
        OfferList { offers, position: models.position }
    });
    Ok(axum::Json(list))
}

/// One offer, whatever its status.
#[utoipa::path(get, path = "/v1/offers/{offer_id}", tag = "offers",
    params(("offer_id" = String, Path), ("min_position" = Option<i64>, Query)),
    responses((status = 200, body = OfferItem)))]
pub async fn show(
    State(state): State<AppState>,
    ApiPath(offer_id): ApiPath<String>,
    _consistent: Consistent,
) -> Result<axum::Json<OfferItem>, ApiError> {
    let not_found = || ApiError::not_found("no offer has this id");
    let offer_id = OfferId::parse(&offer_id).map_err(|_| not_found())?;
    let at = now();
    state
        .projections()
        .read(|models| models.offers.offers.get(&offer_id).map(|offer| item(models, offer_id, offer, at)))
        .map(axum::Json)
        .ok_or_else(not_found)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoucherRequest {
    /// The most the venue may redeem with it (1 to 10^12); or send `offer_id` instead.
    pub amount: Option<u64>,
    /// The offer the voucher is for: its price is the amount.
    pub offer_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct VoucherAnswer {
    /// Opaque, signed by the territory, single-use.
    pub voucher: String,
    /// 8 characters (Crockford base32) standing for the voucher until it expires.
    pub countermark: String,
    /// An SVG QR code of `voucher`.
    pub qr_svg: String,
    pub amount_max: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer_id: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// What a voucher for `offer_id` may take, checked for this citizen now: the offer's price.
fn offer_amount(
    models: &ReadModels,
    citizen_id: CitizenId,
    offer_id: OfferId,
    at: DateTime<Utc>,
) -> Result<Tokens, ApiError> {
    let offer = models.offers.offers.get(&offer_id).ok_or_else(|| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_offer", format!("no offer has the id {offer_id}"))
    })?;
    match offer.availability(at) {
        Availability::Open => {}
        Availability::Closed => return Err(LedgerError::OfferClosed(offer_id).into()),
        Availability::Full => return Err(LedgerError::OfferFull(offer_id).into()),
    }
    let holdings = models.wallets.get(&citizen_id).ok_or(LedgerError::UnknownCitizen(citizen_id))?;
    if let Some(audience) = &offer.terms.audience {
        let demographics = holdings.demographics();
        let age = age_in(demographics.birth_year, at);
        if let Err(reason) = audience.admits(age, demographics.neighbourhood.as_deref()) {
            let why = match reason {
                NotForYou::AgeUnknown => "it is for an age group and your birth year is not known",
                NotForYou::TooYoung | NotForYou::TooOld => "it is for another age group",
                NotForYou::Neighbourhood => "it is for residents of other neighbourhoods",
            };
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "offer_not_for_you",
                format!("this offer is not for you: {why}"),
            ));
        }
    }
    let spendable = holdings.spendable(at);
    if spendable < offer.terms.price {
        return Err(LedgerError::InsufficientBalance { available: spendable, requested: offer.terms.price }.into());
    }
    Ok(offer.terms.price)
}

/// Issues a voucher for an offer (its price) or for at most `amount` tokens, valid 10 minutes,
/// with its countermark and QR code. Writes nothing to the log and reserves nothing.
#[utoipa::path(post, path = "/v1/me/vouchers", tag = "citizen", request_body = VoucherRequest,
    responses((status = 201, body = VoucherAnswer)), security(("bearer" = [])))]
pub async fn issue_voucher(
    State(state): State<AppState>,
    Citizen(citizen_id): Citizen,
    ApiJson(request): ApiJson<VoucherRequest>,
) -> Result<Response, ApiError> {
    let answer = voucher_for(&state, citizen_id, &request).await?;
    Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
}

/// The voucher of `POST /v1/me/vouchers`, for the API and the pages.
pub async fn voucher_for(
    state: &AppState,
    citizen_id: CitizenId,
    request: &VoucherRequest,
) -> Result<VoucherAnswer, ApiError> {
    let at = now();
    let (amount, offer_id) = match (request.amount, request.offer_id.as_deref()) {
        (Some(amount), None) => {
            (Tokens::positive(amount).map_err(|error| ApiError::validation(error.to_string()))?, None)
        }
        (None, Some(offer_id)) => {
            let offer_id = parse_offer_id(offer_id)?;
            caught_up(state).await;
            let amount = state.projections().read(|models| offer_amount(models, citizen_id, offer_id, at))?;
            (amount, Some(offer_id))
        }
        _ => return Err(ApiError::validation("send either amount or offer_id")),
    };
    // A countermark another live voucher already has (one chance in about 10^12 per live
    // voucher) is avoided by issuing another voucher.
    for _ in 0..4 {
        let claims = VoucherClaims {
            voucher_id: uuid::Uuid::new_v4(),
            citizen_id: citizen_id.as_uuid(),
            amount_max: amount.value(),
            issued_at: at,
            expires_at: at + VOUCHER_LIFETIME,
            offer_id: offer_id.map(|offer_id| offer_id.as_uuid()),
        };
        let voucher = ygor_crypto::issue_voucher(&claims, state.territory_key())
            .map_err(|error| ApiError::validation(error.to_string()))?;
        let countermark = ygor_crypto::voucher_countermark(&voucher);
        if !state.log().put_countermark(&countermark, &voucher, claims.expires_at + COUNTERMARK_KEPT, at).await? {
            continue;
        }
        let answer = VoucherAnswer {
            qr_svg: qr_svg(&voucher)?,
            voucher,
            countermark,
            amount_max: amount.value(),
            offer_id: offer_id.map(|offer_id| offer_id.to_string()),
            expires_at: claims.expires_at,
        };
        return Ok(answer);
    }
    tracing::error!("four vouchers in a row had a countermark already taken");
    Err(ApiError::internal())
}

/// An SVG QR code of `text`, with its quiet zone, at least 256 px wide.
pub fn qr_svg(text: &str) -> Result<String, ApiError> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).map_err(|error| {
        tracing::error!(%error, "a voucher does not fit in a QR code");
        ApiError::internal()
    })?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

#[derive(Deserialize, IntoParams)]
pub struct OfferDashboardQuery {
    /// `offer` (default) or `venue`.
    pub by: Option<String>,
    /// Inclusive start (RFC 3339).
    pub from: Option<String>,
    /// Exclusive end (RFC 3339); now by default. Ages and bands are taken at this time.
    pub to: Option<String>,
    /// `json` (default), `csv` or `xlsx`.
    pub format: Option<String>,
    pub min_position: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ReachView {
    /// The age band (`0-14`, `15-24`, `25-34`, `35-49`, `50-64`, `65+`, `inconnu`) or the
    /// neighbourhood (`inconnu` when not given).
    pub key: String,
    pub uses: u64,
    /// Distinct citizens of this public who used it.
    pub citizens: u64,
    /// Citizens of this public registered at the end of the period.
    pub registered: u64,
    /// `citizens / registered × 100`, one decimal; absent when no citizen of this public is registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reach_percent: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct OfferUsesView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer_id: Option<String>,
    /// The offer's title (rows by offer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer: Option<String>,
    pub venue_id: String,
    pub venue: String,
    pub uses: u64,
    pub tokens: u64,
    /// `tokens` at the value of a token in the rules in force (`[settlement]`), else null.
    pub amount_cents: Option<u64>,
    pub citizens: u64,
    /// Uses its capacity allowed over the period while it ran (offers with a capacity).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub places: Option<u64>,
    /// `uses / places × 100`, one decimal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity_used_percent: Option<f64>,
    pub by_age_band: Vec<ReachView>,
    pub by_neighbourhood: Vec<ReachView>,
}

#[derive(Serialize, ToSchema)]
pub struct OfferDashboard {
    pub by: String,
    pub from: Option<DateTime<Utc>>,
    pub to: DateTime<Utc>,
    /// By venue name, then offer title.
    pub rows: Vec<OfferUsesView>,
    pub position: i64,
}

/// `part / whole × 100` in tenths, rounded half up, or `None` when `whole` is 0.
fn percent_tenths(part: u64, whole: u64) -> Option<u64> {
    (whole > 0).then(|| (part.saturating_mul(1000) + whole / 2) / whole)
}

/// `part / whole × 100` with one decimal, or `None` when `whole` is 0.
fn percent(part: u64, whole: u64) -> Option<f64> {
    percent_tenths(part, whole).map(|tenths| tenths as f64 / 10.0)
}

fn reach_views(reach: Vec<ygor_projections::offer_uses::Reach>) -> Vec<ReachView> {
    reach
        .into_iter()
        .map(|row| ReachView {
            reach_percent: percent(row.citizens, row.registered),
            key: row.key,
            uses: row.uses,
            citizens: row.citizens,
            registered: row.registered,
        })
        .collect()
}

/// The offers' uses over a period, by offer or by venue, with their reach in each age band and
/// neighbourhood: which services which publics do not use.
#[utoipa::path(get, path = "/v1/dashboards/offers", tag = "collectivity", params(OfferDashboardQuery),
    responses((status = 200, body = OfferDashboard),
        (status = 200, description = "CSV or XLSX (`format`)", content_type = "text/csv", body = String)),
    security(("bearer" = [])))]
pub async fn dashboard(
    State(state): State<AppState>,
    _admin: crate::auth::Admin,
    ApiQuery(query): ApiQuery<OfferDashboardQuery>,
    _consistent: Consistent,
) -> Result<Response, ApiError> {
    let grouping = match query.by.as_deref() {
        None | Some("offer") => ygor_projections::offer_uses::Grouping::Offer,
        Some("venue") => ygor_projections::offer_uses::Grouping::Venue,
        Some(_) => return Err(ApiError::validation("by must be offer or venue")),
    };
    let (from, to) = super::venue::parse_period(query.from.as_deref(), query.to.as_deref())?;
    let file = crate::export::file_format(query.format.as_deref())?;
    let dashboard = offer_dashboard(&state, grouping, from, to);
    match file {
        None => Ok(axum::Json(dashboard).into_response()),
        Some(file) => file.download(&dashboard_table(&dashboard), &format!("offres-{}", dashboard.by)),
    }
}

/// The offers dashboard's rows, for the API and the collectivity's page.
pub fn offer_dashboard(
    state: &AppState,
    grouping: ygor_projections::offer_uses::Grouping,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> OfferDashboard {
    use ygor_projections::offer_uses::{Grouping, rows};
    let reference = now();
    state.projections().read(|models| {
        let value = models.rules.as_ref().and_then(|rules| rules.settlement);
        let (rows, _) = rows(&models.venues, &models.offers, &models.wallets, grouping, from, to, reference);
        let mut rows: Vec<OfferUsesView> = rows
            .into_iter()
            .map(|row| OfferUsesView {
                offer_id: row.offer_id.map(|offer_id| offer_id.to_string()),
                offer: row
                    .offer_id
                    .and_then(|offer_id| models.offers.offers.get(&offer_id))
                    .map(|offer| offer.terms.title.clone()),
                venue_id: row.venue_id.to_string(),
                venue: models.partner_name(&row.venue_id),
                uses: row.uses,
                tokens: row.tokens,
                amount_cents: value.and_then(|value| value.cents_for(row.tokens)),
                citizens: row.citizens,
                places: row.places,
                capacity_used_percent: row.places.and_then(|places| percent(row.uses, places)),
                by_age_band: reach_views(row.by_age_band),
                by_neighbourhood: reach_views(row.by_neighbourhood),
            })
            .collect();
        rows.sort_by(|a, b| {
            (a.venue.to_lowercase(), a.offer.as_deref().map(str::to_lowercase), &a.offer_id).cmp(&(
                b.venue.to_lowercase(),
                b.offer.as_deref().map(str::to_lowercase),
                &b.offer_id,
            ))
        });
        OfferDashboard {
            by: if grouping == Grouping::Offer { "offer" } else { "venue" }.to_owned(),
            from,
            to: to.unwrap_or(reference),
            rows,
            position: models.position,
        }
    })
}

/// The dashboard as one table: per row of the dashboard, a `total` line, then a line per age band
/// and per neighbourhood.
fn dashboard_table(dashboard: &OfferDashboard) -> crate::export::Table {
    use crate::export::{Cell, Table};
    let mut table = Table::new(
        "offres",
        &[
            "venue_id",
            "venue",
            "offer_id",
            "offer",
            "public",
            "key",
            "uses",
            "tokens",
            "amount_cents",
            "citizens",
            "registered",
            "reach_percent",
            "places",
            "capacity_used_percent",
        ],
    );
    let text = |text: &Option<String>| text.clone().map_or(Cell::Empty, Cell::Text);
    for row in &dashboard.rows {
        let head = || {
            vec![Cell::Text(row.venue_id.clone()), Cell::Text(row.venue.clone()), text(&row.offer_id), text(&row.offer)]
        };
        let mut total = head();
        total.extend([
            Cell::Text("total".to_owned()),
            Cell::Empty,
            Cell::Integer(row.uses),
            Cell::Integer(row.tokens),
            row.amount_cents.into(),
            Cell::Integer(row.citizens),
            Cell::Empty,
            Cell::Empty,
            row.places.into(),
            row.places.and_then(|places| percent_tenths(row.uses, places)).map_or(Cell::Empty, Cell::Tenths),
        ]);
        table.push(total);
        for (public, reaches) in [("age_band", &row.by_age_band), ("neighbourhood", &row.by_neighbourhood)] {
            for reach in reaches {
                let mut line = head();
                line.extend([
                    Cell::Text(public.to_owned()),
                    Cell::Text(reach.key.clone()),
                    Cell::Integer(reach.uses),
                    Cell::Empty,
                    Cell::Empty,
                    Cell::Integer(reach.citizens),
                    Cell::Integer(reach.registered),
                    percent_tenths(reach.citizens, reach.registered).map_or(Cell::Empty, Cell::Tenths),
                    Cell::Empty,
                    Cell::Empty,
                ]);
                table.push(line);
            }
        }
    }
    table
}
