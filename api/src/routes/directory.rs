//! What anyone may read without a token: the rules in force and their versions, and the active
//! venues and associations (partners are public bodies: their names are not personal data). A
//! token is not needed, but one sent must be valid (`401` otherwise), as everywhere: a client that
//! meant to authenticate learns that it did not.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use ygor_ledger::PartnerKind;
use ygor_projections::ReadModels;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{ApiQuery, Consistent};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/rules", get(rules))
        .route("/v1/rules/versions", get(rules_versions))
        .route("/v1/venues", get(venues))
        .route("/v1/associations", get(associations))
}

#[derive(Deserialize, IntoParams)]
pub struct RulesQuery {
    /// `json` (default) or `toml`: the text as it was published.
    pub format: Option<String>,
    pub min_position: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct RulesView {
    pub version: u32,
    pub published_at: DateTime<Utc>,
    /// The rules as parsed: every key of the file, defaults filled in (see docs/api.md, Rules).
    #[schema(value_type = Object)]
    pub rules: ygor_rules::Rules,
    pub position: i64,
}

fn no_rules() -> ApiError {
    ApiError::not_found("no rules are published yet: the collectivity publishes them with PUT /v1/rules")
}

/// The rules in force (anyone): parsed as JSON, or with `?format=toml` the text as published.
#[utoipa::path(get, path = "/v1/rules", tag = "collectivity", params(RulesQuery),
    responses((status = 200, body = RulesView),
        (status = 200, description = "TOML, with ?format=toml", content_type = "application/toml", body = String),
        (status = 404, description = "not_found: no rules are published yet", body = crate::error::Problem)))]
pub async fn rules(
    State(state): State<AppState>,
    _caller: Option<Caller>,
    ApiQuery(query): ApiQuery<RulesQuery>,
    _consistent: Consistent,
) -> Result<Response, ApiError> {
    let toml = match query.format.as_deref() {
        None | Some("json") => false,
        Some("toml") => true,
        Some(_) => return Err(ApiError::validation("format must be json or toml")),
    };
    if toml {
        let source = state.projections().read(|models| models.directory.rules_source.clone());
        let source = source.ok_or_else(no_rules)?;
        return Ok(([(header::CONTENT_TYPE, "application/toml; charset=utf-8")], source).into_response());
    }
    let view = state.projections().read(|models| {
        let published = models.directory.rules_versions.last()?;
        Some(RulesView {
            version: published.version,
            published_at: published.published_at,
            rules: models.rules.clone()?,
            position: models.position,
        })
    });
    Ok(axum::Json(view.ok_or_else(no_rules)?).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct RulesVersionView {
    pub version: u32,
    pub published_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct RulesVersionsView {
    /// Oldest first; empty before the first publication.
    pub versions: Vec<RulesVersionView>,
    pub position: i64,
}

/// Every version of the rules published, oldest first (anyone).
#[utoipa::path(get, path = "/v1/rules/versions", tag = "collectivity", params(("min_position" = Option<i64>, Query)),
    responses((status = 200, body = RulesVersionsView)))]
pub async fn rules_versions(
    State(state): State<AppState>,
    _caller: Option<Caller>,
    _consistent: Consistent,
) -> Result<axum::Json<RulesVersionsView>, ApiError> {
    let view = state.projections().read(|models| RulesVersionsView {
        versions: models
            .directory
            .rules_versions
            .iter()
            .map(|published| RulesVersionView { version: published.version, published_at: published.published_at })
            .collect(),
        position: models.position,
    });
    Ok(axum::Json(view))
}

#[derive(Serialize, ToSchema)]
pub struct PartnerName {
    pub partner_id: String,
    pub name: String,
}

/// The active (not suspended) partners of a kind, by name.
fn active(models: &ReadModels, kind: PartnerKind) -> Vec<PartnerName> {
    models
        .partner_list()
        .into_iter()
        .filter(|entry| entry.kind == kind && !entry.state.suspended)
        .map(|entry| PartnerName { partner_id: entry.partner_id.to_string(), name: entry.name.to_owned() })
        .collect()
}

#[derive(Serialize, ToSchema)]
pub struct VenuesView {
    /// Active venues, sorted by name without regard to case.
    pub venues: Vec<PartnerName>,
    pub position: i64,
}

/// The active venues, by name (anyone).
#[utoipa::path(get, path = "/v1/venues", tag = "venue", params(("min_position" = Option<i64>, Query)),
    responses((status = 200, body = VenuesView)))]
pub async fn venues(
    State(state): State<AppState>,
    _consistent: Consistent,
) -> Result<axum::Json<VenuesView>, ApiError> {
    let view = state
        .projections()
        .read(|models| VenuesView { venues: active(models, PartnerKind::Venue), position: models.position });
    Ok(axum::Json(view))
}

#[derive(Serialize, ToSchema)]
pub struct AssociationsView {
    /// Active associations, sorted by name without regard to case.
    pub associations: Vec<PartnerName>,
    pub position: i64,
}

/// The active associations, by name (anyone).
#[utoipa::path(get, path = "/v1/associations", tag = "association", params(("min_position" = Option<i64>, Query)),
    responses((status = 200, body = AssociationsView)))]
pub async fn associations(
    State(state): State<AppState>,
    _caller: Option<Caller>,
    _consistent: Consistent,
) -> Result<axum::Json<AssociationsView>, ApiError> {
    let view = state.projections().read(|models| AssociationsView {
        associations: active(models, PartnerKind::Association),
        position: models.position,
    });
    Ok(axum::Json(view))
}
