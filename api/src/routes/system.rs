//! Liveness, status and the fallback for unknown paths.

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/v1/status", get(status))
        .route("/metrics", get(metrics))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// Answers 200 once the server accepts requests.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Health)))]
pub async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// How long readiness waits for the database to answer.
const READY_PING: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` when writes can succeed, else `unavailable`.
    pub status: &'static str,
    /// `ok` or `unreachable`.
    pub storage: &'static str,
    /// `held` (this server writes), `taken` (another process does), `unreachable`.
    pub writer: &'static str,
    /// Highest position the read models have applied.
    pub projection_position: i64,
    /// Events committed but not applied yet by the read models (-1 when the log cannot be read).
    pub projection_lag_events: i64,
}

/// Answers 200 when writes can succeed (the database answers and this server holds its writer
/// lock), else 503; the body says which part is missing and how far the read models lag.
#[utoipa::path(get, path = "/readyz", tag = "system",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let reachable = state.log().ping(READY_PING).await;
    let writer = match state.engine().writer_state() {
        None | Some(ygor_store::WriterState::Held) => "held",
        Some(ygor_store::WriterState::Taken(_)) => "taken",
        Some(ygor_store::WriterState::Unreachable) => "unreachable",
    };
    let projection_position = state.projections().applied();
    let lag = match reachable {
        true => match tokio::time::timeout(READY_PING, state.log().last_position()).await {
            Ok(Ok(position)) => (position - projection_position).max(0),
            _ => -1,
        },
        false => -1,
    };
    let ready = reachable && writer == "held";
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" },
        storage: if reachable { "ok" } else { "unreachable" },
        writer,
        projection_position,
        projection_lag_events: lag,
    };
    let status = if ready { axum::http::StatusCode::OK } else { axum::http::StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body))
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    /// Storage backend: `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Highest position committed in the log.
    pub log_position: i64,
    /// Highest position the read models have applied.
    pub projection_position: i64,
    /// `log_position - projection_position`.
    pub projection_lag_events: i64,
}

/// Where the log and the projections stand.
#[utoipa::path(get, path = "/v1/status", tag = "system", responses((status = 200, body = Status)))]
pub async fn status(State(state): State<AppState>) -> Result<axum::Json<Status>, ApiError> {
    let log_position = state.log().last_position().await?;
    let projection_position = state.projections().applied();
    Ok(axum::Json(Status {
        backend: match state.log().backend() {
            ygor_store::Backend::Sqlite => "sqlite",
            ygor_store::Backend::Postgres => "postgres",
        },
        log_position,
        projection_position,
        projection_lag_events: (log_position - projection_position).max(0),
    }))
}

/// An unknown path: problem+json for the API, or a French page for a browser asking for HTML
/// outside `/v1/`.
pub async fn not_found(uri: axum::http::Uri, headers: axum::http::HeaderMap) -> axum::response::Response {
    let wants_html = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html && !uri.path().starts_with("/v1/") {
        return crate::web::not_found_page();
    }
    ApiError::not_found("no such endpoint; see /openapi.json or /docs").into_response()
}

/// The answer to a known path with a method it does not take; the router adds `Allow`.
pub async fn method_not_allowed(method: axum::http::Method) -> impl IntoResponse {
    ApiError::method_not_allowed(&method)
}

/// Prometheus text metrics: log position, projection position and lag.
#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let log_position = state.log().last_position().await?;
    let projection_position = state.projections().applied();
    let body = format!(
        "# HELP ygor_log_position Highest committed position of the event log.\n# TYPE ygor_log_position gauge\nygor_log_position {log_position}\n\
         # HELP ygor_projection_position Highest position applied by the read models.\n# TYPE ygor_projection_position gauge\nygor_projection_position {projection_position}\n\
         # HELP ygor_projection_lag_events Events committed but not yet applied by the read models.\n# TYPE ygor_projection_lag_events gauge\nygor_projection_lag_events {}\n",
        (log_position - projection_position).max(0)
    );
    let stats = state.engine().commit_stats();
    let read = |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
    let body = format!(
        "{body}# HELP ygor_commit_groups_total Transactions the committer appended (group commit).\n# TYPE ygor_commit_groups_total counter\nygor_commit_groups_total {}\n\
         # HELP ygor_commit_operations_total Operations (commands) those transactions held.\n# TYPE ygor_commit_operations_total counter\nygor_commit_operations_total {}\n\
         # HELP ygor_commit_events_total Events those transactions appended.\n# TYPE ygor_commit_events_total counter\nygor_commit_events_total {}\n\
         # HELP ygor_commit_write_seconds_total Time spent writing the groups (the INSERT, and BEGIN when no transaction was opened ahead).\n# TYPE ygor_commit_write_seconds_total counter\nygor_commit_write_seconds_total {}\n\
         # HELP ygor_commit_sync_seconds_total Time spent committing the groups (COMMIT and its disk sync).\n# TYPE ygor_commit_sync_seconds_total counter\nygor_commit_sync_seconds_total {}\n",
        read(&stats.groups),
        read(&stats.operations),
        read(&stats.events),
        read(&stats.write_micros) as f64 / 1e6,
        read(&stats.commit_micros) as f64 / 1e6,
    );
    let cache = state.engine().cache_figures();
    let body = format!(
        "{body}# HELP ygor_aggregate_cache_entries Aggregates the engine keeps in memory between commands.\n# TYPE ygor_aggregate_cache_entries gauge\nygor_aggregate_cache_entries {}\n\
         # HELP ygor_aggregate_cache_bytes Estimated bytes of those aggregates, at the last trim.\n# TYPE ygor_aggregate_cache_bytes gauge\nygor_aggregate_cache_bytes {}\n\
         # HELP ygor_aggregate_cache_budget_bytes The bound on that estimate (ygor serve --cache-mb).\n# TYPE ygor_aggregate_cache_budget_bytes gauge\nygor_aggregate_cache_budget_bytes {}\n\
         # HELP ygor_aggregate_cache_evictions_total Aggregates dropped from memory to stay within the budget.\n# TYPE ygor_aggregate_cache_evictions_total counter\nygor_aggregate_cache_evictions_total {}\n\
         # HELP ygor_aggregate_cache_histories_forgotten_total Wallets whose history (lots, actions, used vouchers) was dropped from memory.\n# TYPE ygor_aggregate_cache_histories_forgotten_total counter\nygor_aggregate_cache_histories_forgotten_total {}\n\
         # HELP ygor_aggregate_cache_histories_restored_total Wallets whose history was read back from the log for a redemption, a revocation, a sweep or a certification.\n# TYPE ygor_aggregate_cache_histories_restored_total counter\nygor_aggregate_cache_histories_restored_total {}\n",
        cache.entries, cache.bytes, cache.budget, cache.evicted, cache.histories_forgotten, cache.histories_restored,
    );
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body))
}
