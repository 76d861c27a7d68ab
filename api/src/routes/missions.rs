//! Missions: published and closed by associations, listed for everyone, matched to citizens.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use ygor_ledger::mission::MissionDetails;
use ygor_ledger::{CategoryId, MissionId};
use ygor_projections::missions::MissionView;

use super::{checked_text, created_or_replayed, now};
use crate::AppState;
use crate::auth::{Association, Caller, Citizen};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, Consistent};

/// Most categories one mission may list.
const CATEGORIES_MAX: usize = 16;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/missions", post(publish).get(list))
        .route("/v1/missions/{mission_id}/close", post(close))
        .route("/v1/me/missions", get(matching))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MissionRequest {
    pub mission_id: String,
    pub title: String,
    /// Category ids.
    pub categories: Vec<String>,
    pub neighbourhood: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct MissionAnswer {
    pub mission_id: String,
    pub position: i64,
}

pub(crate) fn categories(list: &[String], max: usize) -> Result<Vec<CategoryId>, ApiError> {
    if list.len() > max {
        return Err(ApiError::validation(format!("at most {max} categories")));
    }
    let mut parsed = Vec::with_capacity(list.len());
    for text in list {
        let category = CategoryId::parse(text).map_err(|error| ApiError::validation(error.to_string()))?;
        if !parsed.contains(&category) {
            parsed.push(category);
        }
    }
    Ok(parsed)
}

/// Publishes a mission of the association (idempotent on `mission_id`).
#[utoipa::path(post, path = "/v1/missions", tag = "association", request_body = MissionRequest,
    responses((status = 201, body = MissionAnswer), (status = 200, description = "identical retry", body = MissionAnswer),
        (status = 409, description = "id_conflict", body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn publish(
    State(state): State<AppState>,
    Association(association_id): Association,
    ApiJson(request): ApiJson<MissionRequest>,
) -> Result<Response, ApiError> {
    let mission_id = MissionId::parse(&request.mission_id).map_err(|error| ApiError::validation(error.to_string()))?;
    let title = checked_text("title", &request.title, 200)?;
    let categories = categories(&request.categories, CATEGORIES_MAX)?;
    if categories.is_empty() {
        return Err(ApiError::validation("a mission has at least one category"));
    }
    let neighbourhood =
        request.neighbourhood.as_deref().map(|text| checked_text("neighbourhood", text, 100)).transpose()?;
    if request.starts_at >= request.ends_at {
        return Err(ApiError::validation("starts_at must be before ends_at"));
    }
    super::association::active_partner(&state, association_id).await?;
    let details = MissionDetails {
        association_id,
        title,
        categories,
        neighbourhood,
        starts_at: request.starts_at,
        ends_at: request.ends_at,
    };
    let committed = state.engine().publish_mission(mission_id, details, now()).await?;
    Ok(created_or_replayed(
        committed.replayed,
        MissionAnswer { mission_id: mission_id.to_string(), position: committed.position },
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {}

/// Closes a mission of the association: it no longer shows in lists and matches.
#[utoipa::path(post, path = "/v1/missions/{mission_id}/close", tag = "association", request_body = CloseRequest,
    params(("mission_id" = String, Path)), responses((status = 200, body = MissionAnswer), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn close(
    State(state): State<AppState>,
    Association(association_id): Association,
    ApiPath(mission_id): ApiPath<String>,
    ApiJson(_request): ApiJson<CloseRequest>,
) -> Result<axum::Json<MissionAnswer>, ApiError> {
    let mission_id = MissionId::parse(&mission_id).map_err(|_| ApiError::not_found("no mission has this id"))?;
    super::association::active_partner(&state, association_id).await?;
    let committed = state.engine().close_mission(mission_id, association_id, now()).await?;
    Ok(axum::Json(MissionAnswer { mission_id: mission_id.to_string(), position: committed.position }))
}

#[derive(Serialize, ToSchema)]
pub struct MissionItem {
    pub mission_id: String,
    pub association_id: String,
    pub association: Option<String>,
    pub title: String,
    pub categories: Vec<String>,
    pub neighbourhood: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Why it matches the citizen (only in `/v1/me/missions`), in French.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_interests: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_neighbourhood: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct MissionList {
    pub missions: Vec<MissionItem>,
    pub position: i64,
}

fn item(mission: &MissionView, association: Option<String>) -> MissionItem {
    MissionItem {
        mission_id: mission.mission_id.to_string(),
        association_id: mission.details.association_id.to_string(),
        association,
        title: mission.details.title.clone(),
        categories: mission.details.categories.iter().map(ToString::to_string).collect(),
        neighbourhood: mission.details.neighbourhood.clone(),
        starts_at: mission.details.starts_at,
        ends_at: mission.details.ends_at,
        why: None,
        shared_interests: None,
        same_neighbourhood: None,
    }
}

/// Open missions, soonest first (any token).
#[utoipa::path(get, path = "/v1/missions", tag = "citizen", params(("min_position" = Option<i64>, Query)),
    responses((status = 200, body = MissionList)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    _consistent: Consistent,
) -> Result<axum::Json<MissionList>, ApiError> {
    let at = now();
    let list = state.projections().read(|models| {
        let names = models.association_names();
        MissionList {
            missions: models
                .missions
                .open_at(at)
                .into_iter()
                .map(|mission| item(mission, names.get(&mission.details.association_id).cloned()))
                .collect(),
            position: models.position,
        }
    });
    Ok(axum::Json(list))
}

/// Open missions matching the citizen's interests: most shared interests first, then the
/// citizen's neighbourhood, then the soonest; each says why it matched.
#[utoipa::path(get, path = "/v1/me/missions", tag = "citizen", params(("min_position" = Option<i64>, Query)),
    responses((status = 200, body = MissionList)), security(("bearer" = [])))]
pub async fn matching(
    State(state): State<AppState>,
    Citizen(citizen_id): Citizen,
    _consistent: Consistent,
) -> Result<axum::Json<MissionList>, ApiError> {
    let at = now();
    let list = state.projections().read(|models| {
        let names = models.association_names();
        let wallet = models.wallets.get(&citizen_id);
        let interests = wallet.map(|wallet| wallet.interests().to_vec()).unwrap_or_default();
        let neighbourhood = wallet.and_then(|wallet| wallet.demographics().neighbourhood.clone());
        let labels = |category: &CategoryId| {
            models
                .rules
                .as_ref()
                .and_then(|rules| rules.category(category.as_str()))
                .map(|found| found.label.clone())
                .unwrap_or_else(|| category.to_string())
        };
        let missions = models
            .missions
            .matching(&interests, neighbourhood.as_deref(), at)
            .into_iter()
            .map(|found| {
                let mut entry = item(found.mission, names.get(&found.mission.details.association_id).cloned());
                let shared: Vec<String> = found.shared_interests.iter().map(labels).collect();
                let mut why = format!("Correspond à vos centres d'intérêt : {}", shared.join(", "));
                if found.same_neighbourhood {
                    why.push_str(&format!(" ; dans votre quartier ({})", neighbourhood.clone().unwrap_or_default()));
                }
                entry.why = Some(why);
                entry.shared_interests = Some(found.shared_interests.iter().map(ToString::to_string).collect());
                entry.same_neighbourhood = Some(found.same_neighbourhood);
                entry
            })
            .collect();
        MissionList { missions, position: models.position }
    });
    Ok(axum::Json(list))
}
