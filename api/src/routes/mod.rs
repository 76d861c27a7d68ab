//! Routers per resource. Each module exposes `router()`; request bodies become commands through
//! checked constructors, so the engine only ever sees valid values.

pub mod association;
pub mod audit;
pub mod citizen;
pub mod collectivity;
pub mod directory;
pub mod gold;
pub mod history;
pub mod missions;
pub mod offers;
pub mod system;
pub mod venue;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// `201 Created` for a new write, `200 OK` for the identical retry of an earlier one.
pub fn created_or_replayed<T: Serialize>(replayed: bool, body: T) -> Response {
    let status = if replayed { StatusCode::OK } else { StatusCode::CREATED };
    (status, axum::Json(body)).into_response()
}

/// The current time, read once per request at the edge and passed into the decision.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// Checks a free-text field: trimmed length within bounds, no control characters.
pub fn checked_text(field: &str, text: &str, max_chars: usize) -> Result<String, crate::error::ApiError> {
    let trimmed = text.trim();
    let count = trimmed.chars().count();
    if count == 0 || count > max_chars {
        return Err(crate::error::ApiError::validation(format!("{field} must be 1 to {max_chars} characters")));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(crate::error::ApiError::validation(format!("{field} must not contain control characters")));
    }
    Ok(trimmed.to_owned())
}

/// Largest page of a list read page by page (`?limit=`).
pub const PAGE_MAX: usize = 1_000;

/// `?limit=` of a list read page by page: 1 to [`PAGE_MAX`], 100 when not given.
pub fn page_limit(limit: Option<usize>) -> Result<usize, crate::error::ApiError> {
    let limit = limit.unwrap_or(100);
    if limit == 0 || limit > PAGE_MAX {
        return Err(crate::error::ApiError::validation(format!("limit must be between 1 and {PAGE_MAX}")));
    }
    Ok(limit)
}
