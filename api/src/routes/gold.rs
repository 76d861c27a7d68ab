//! Gold tokens and draws: the public schedule of gold seed periods, draws created by the
//! collectivity, citizens' entries paid in gold tokens, and verifiable closing (docs/audit.md).

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use ygor_ledger::DrawId;

use super::{checked_text, created_or_replayed, now};
use crate::AppState;
use crate::auth::{Admin, Caller, Citizen};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Consistent};

/// Most winners one draw may have, and most tickets one entry may carry.
pub const WINNERS_MAX: u32 = 10_000;
pub const TICKETS_MAX: u64 = 1_000_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/gold/periods", get(periods))
        .route("/v1/draws", post(create))
        .route("/v1/draws", get(list))
        .route("/v1/draws/{draw_id}", get(show))
        .route("/v1/draws/{draw_id}/close", post(close))
        .route("/v1/me/draws/{draw_id}/entries", post(enter))
}

#[derive(Serialize, ToSchema)]
pub struct GoldPeriodView {
    pub period: u64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Hex SHA-256 of the period's seed, published before the period starts.
    pub commitment: String,
    /// Hex seed, once the period is over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
}

/// The gold seed periods: commitments before, seeds after (anyone).
#[utoipa::path(get, path = "/v1/gold/periods", tag = "gold", responses((status = 200, body = Vec<GoldPeriodView>)))]
pub async fn periods(State(state): State<AppState>) -> axum::Json<Vec<GoldPeriodView>> {
    let periods = state
        .engine()
        .gold_periods()
        .into_iter()
        .map(|period| GoldPeriodView {
            period: period.period,
            starts_at: period.starts_at,
            ends_at: period.ends_at,
            commitment: period.commitment,
            seed: period.seed,
        })
        .collect();
    axum::Json(periods)
}

fn draw_id(text: &str) -> Result<DrawId, ApiError> {
    DrawId::parse(text).map_err(|_| ApiError::not_found("no draw has this id"))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrawRequest {
    pub draw_id: String,
    pub prize: String,
    pub closes_at: DateTime<Utc>,
    /// How many winners.
    pub winners: u32,
}

#[derive(Serialize, ToSchema)]
pub struct DrawCreated {
    pub draw_id: String,
    /// Hex SHA-256 of the draw's seed, revealed when it closes.
    pub commitment: String,
    pub position: i64,
}

/// Creates a draw committed to its seed (admin; idempotent on `draw_id`).
#[utoipa::path(post, path = "/v1/draws", tag = "gold", request_body = DrawRequest,
    responses((status = 201, body = DrawCreated), (status = 200, description = "identical retry", body = DrawCreated)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(request): ApiJson<DrawRequest>,
) -> Result<Response, ApiError> {
    let (body, replayed) = draw_created(&state, admin, request).await?;
    Ok(created_or_replayed(replayed, body))
}

/// Creates a draw: the API's `POST /v1/draws` and the collectivity's draws page. The flag is true
/// when the same draw had already been created (an identical retry).
pub(crate) async fn draw_created(
    state: &AppState,
    _admin: Admin,
    request: DrawRequest,
) -> Result<(DrawCreated, bool), ApiError> {
    let id = DrawId::parse(&request.draw_id).map_err(|error| ApiError::validation(error.to_string()))?;
    let prize = checked_text("prize", &request.prize, 200)?;
    if request.winners == 0 || request.winners > WINNERS_MAX {
        return Err(ApiError::validation(format!("winners must be between 1 and {WINNERS_MAX}")));
    }
    let committed = state.engine().create_draw(id, prize, request.closes_at, request.winners, now()).await?;
    let body =
        DrawCreated { draw_id: id.to_string(), commitment: committed.outcome.commitment, position: committed.position };
    Ok((body, committed.replayed))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryRequest {
    /// Gold tokens to spend, one ticket each.
    pub gold: u64,
}

#[derive(Serialize, ToSchema)]
pub struct EntryAnswer {
    pub draw_id: String,
    /// The citizen's tickets in the draw, this entry included.
    pub tickets: u64,
    pub position: i64,
}

/// Spends gold tokens as tickets in an open draw (citizen).
#[utoipa::path(post, path = "/v1/me/draws/{draw_id}/entries", tag = "gold", request_body = EntryRequest, params(("draw_id" = String, Path)),
    responses((status = 201, body = EntryAnswer), (status = 409, description = "insufficient_gold, draw_closed", body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn enter(
    State(state): State<AppState>,
    Citizen(citizen_id): Citizen,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<EntryRequest>,
) -> Result<Response, ApiError> {
    let id = draw_id(&id)?;
    if request.gold == 0 || request.gold > TICKETS_MAX {
        return Err(ApiError::validation(format!("gold must be between 1 and {TICKETS_MAX}")));
    }
    let committed = state.engine().enter_draw(id, citizen_id, request.gold, now()).await?;
    Ok(created_or_replayed(
        false,
        EntryAnswer { draw_id: id.to_string(), tickets: committed.outcome, position: committed.position },
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {}

#[derive(Serialize, ToSchema)]
pub struct DrawClosedAnswer {
    /// Winners' citizen ids, in draw order.
    pub winners: Vec<String>,
    /// Hex of the revealed seed.
    pub seed: String,
    /// Hex root over the entries (docs/audit.md).
    pub entries_root: String,
    pub position: i64,
}

/// Closes a draw after `closes_at` and draws its winners (admin); `409 draw_open` before.
#[utoipa::path(post, path = "/v1/draws/{draw_id}/close", tag = "gold", request_body = CloseRequest, params(("draw_id" = String, Path)),
    responses((status = 200, body = DrawClosedAnswer), (status = 409, description = "draw_open", body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn close(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(_request): ApiJson<CloseRequest>,
) -> Result<axum::Json<DrawClosedAnswer>, ApiError> {
    let id = draw_id(&id)?;
    let committed = state.engine().close_draw(id, now()).await?;
    let result = committed.outcome;
    Ok(axum::Json(DrawClosedAnswer {
        winners: result.winners.iter().map(ToString::to_string).collect(),
        seed: result.seed,
        entries_root: result.entries_root,
        position: committed.position,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct EntryView {
    pub citizen_id: String,
    pub tickets: u64,
}

#[derive(Serialize, ToSchema)]
pub struct DrawView {
    pub draw_id: String,
    pub prize: String,
    pub closes_at: DateTime<Utc>,
    /// How many winners will be drawn.
    pub winners_count: u32,
    pub commitment: String,
    pub entries: Vec<EntryView>,
    pub closed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries_root: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub winners: Option<Vec<String>>,
    pub position: i64,
}

/// A draw as anyone may check it: terms, entries, and once closed seed, entries_root, winners.
#[utoipa::path(get, path = "/v1/draws/{draw_id}", tag = "gold", params(("draw_id" = String, Path), ("min_position" = Option<i64>, Query)),
    responses((status = 200, body = DrawView), (status = 404, body = crate::error::Problem)))]
pub async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    _consistent: Consistent,
) -> Result<axum::Json<DrawView>, ApiError> {
    let id = draw_id(&id)?;
    let view = state.projections().read(|models| {
        let draw = models.draws.get(&id)?;
        let terms = draw.terms()?;
        let result = draw.result();
        Some(DrawView {
            draw_id: id.to_string(),
            prize: terms.prize.clone(),
            closes_at: terms.closes_at,
            winners_count: terms.winners,
            commitment: terms.commitment.clone(),
            entries: draw
                .entries()
                .iter()
                .map(|(citizen, tickets)| EntryView { citizen_id: citizen.to_string(), tickets: *tickets })
                .collect(),
            closed: result.is_some(),
            seed: result.map(|result| result.seed.clone()),
            entries_root: result.map(|result| result.entries_root.clone()),
            winners: result.map(|result| result.winners.iter().map(ToString::to_string).collect()),
            position: models.position,
        })
    });
    view.map(axum::Json).ok_or_else(|| ApiError::not_found("no draw has this id"))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct DrawsQuery {
    /// The `next` of the previous page: draws created before it.
    pub after: Option<usize>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
    pub min_position: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct DrawSummary {
    pub draw_id: String,
    pub prize: String,
    pub created_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    /// How many winners will be drawn.
    pub winners_count: u32,
    /// `open` (entries taken), `closing` (past `closes_at`, winners not drawn yet: entries
    /// refused) or `closed` (winners drawn).
    pub status: String,
    /// Citizens who entered.
    pub entrants: u64,
    /// Tickets entered, all citizens together.
    pub tickets: u64,
    /// The calling citizen's tickets (a citizen's token only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub my_tickets: Option<u64>,
    /// Whether the calling citizen won (a citizen's token, once the draw is closed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub won: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct DrawsPage {
    /// Newest first (by creation).
    pub draws: Vec<DrawSummary>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<usize>,
    pub position: i64,
}

/// Every draw, newest first, page by page (anyone; a citizen's token adds their tickets).
#[utoipa::path(get, path = "/v1/draws", tag = "gold", params(DrawsQuery),
    responses((status = 200, body = DrawsPage)), security((), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Option<Caller>,
    ApiQuery(query): ApiQuery<DrawsQuery>,
    _consistent: Consistent,
) -> Result<axum::Json<DrawsPage>, ApiError> {
    let limit = super::page_limit(query.limit)?;
    let citizen = match caller {
        Some(Caller::Citizen(citizen)) => Some(citizen),
        _ => None,
    };
    let at = now();
    let page = state.projections().read(|models| {
        let created = &models.directory.draws;
        // A draw's cursor is its rank in creation order, from 1: the list only ever grows.
        let end = query.after.map_or(created.len(), |after| after.saturating_sub(1).min(created.len()));
        let mut draws = Vec::new();
        let mut next = None;
        for (index, (draw_id, created_at)) in created[..end].iter().enumerate().rev() {
            if draws.len() == limit {
                // The rank of the last draw listed, which is the one after this.
                next = Some(index + 2);
                break;
            }
            let Some(draw) = models.draws.get(draw_id) else { continue };
            let Some(terms) = draw.terms() else { continue };
            let result = draw.result();
            let status = match result {
                Some(_) => "closed",
                None if at >= terms.closes_at => "closing",
                None => "open",
            };
            draws.push(DrawSummary {
                draw_id: draw_id.to_string(),
                prize: terms.prize.clone(),
                created_at: *created_at,
                closes_at: terms.closes_at,
                winners_count: terms.winners,
                status: status.to_owned(),
                entrants: draw.entries().len() as u64,
                tickets: draw.entries().values().sum(),
                my_tickets: citizen.map(|citizen| draw.entries().get(&citizen).copied().unwrap_or(0)),
                won: citizen.and_then(|citizen| result.map(|result| result.winners.contains(&citizen))),
            });
        }
        DrawsPage { draws, next, position: models.position }
    });
    Ok(axum::Json(page))
}
