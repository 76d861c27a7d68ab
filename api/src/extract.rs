//! Request extractors: JSON bodies that refuse unknown fields and answer problem+json, signed
//! objects kept as their raw JSON map for signature checks, and read-your-writes waits.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::header;
use axum::http::request::Parts;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::AppState;
use crate::error::ApiError;

/// How long a read waits for the projections to reach `min_position`.
pub const READ_WAIT: Duration = Duration::from_secs(5);

fn require_json_content_type(request: &Request) -> Result<(), ApiError> {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ))
    }
}

async fn body_bytes(request: Request, state: &AppState) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::validation(format!("the body is larger than the {} bytes accepted", crate::BODY_LIMIT))
        } else {
            ApiError::validation(format!("the body could not be read: {rejection}"))
        }
    })
}

/// A JSON body as `T`; a body that is not JSON, that repeats a key in an object, or that does not
/// fit `T` is `400 validation_failed`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    crate::json::check_unique_keys(bytes)
        .map_err(|error| ApiError::validation(format!("invalid JSON body: {error}")))?;
    serde_json::from_slice(bytes).map_err(|error| ApiError::validation(format!("invalid JSON body: {error}")))
}

/// A JSON body deserialised into `T` (whose serde derive denies unknown fields).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        require_json_content_type(&request)?;
        let bytes = body_bytes(request, state).await?;
        Ok(ApiJson(parse_json(&bytes)?))
    }
}

/// A signed JSON object: the typed body and the raw object the signature covers.
pub struct Signed<T> {
    pub body: T,
    pub object: Map<String, Value>,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Signed<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        require_json_content_type(&request)?;
        let bytes = body_bytes(request, state).await?;
        let value: Value = parse_json(&bytes)?;
        let Value::Object(object) = value else {
            return Err(ApiError::validation("the body must be a JSON object"));
        };
        let object = Value::Object(object);
        // Read from the parsed value by reference: the object itself is kept for the signature.
        let body = T::deserialize(&object).map_err(|error| ApiError::validation(format!("invalid body: {error}")))?;
        let Value::Object(object) = object else { unreachable!("an object, matched above") };
        Ok(Signed { body, object })
    }
}

/// `?min_position=N` on a read: waits until the projections have applied N (read-your-writes),
/// at most [`READ_WAIT`], then answers `503 projection_lagging`.
pub struct Consistent;

impl FromRequestParts<AppState> for Consistent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Query(query) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::validation(format!("invalid query string: {rejection}")))?;
        if let Some(text) = query.get("min_position") {
            let position: i64 = text
                .parse()
                .ok()
                .filter(|position| *position >= 0)
                .ok_or_else(|| ApiError::validation("min_position must be a whole number ≥ 0"))?;
            if !state.projections().wait_for(position, READ_WAIT).await {
                return Err(ApiError::unavailable(
                    "projection_lagging",
                    format!(
                        "the read models have applied position {} and not yet {position}; retry shortly",
                        state.projections().applied()
                    ),
                    1,
                ));
            }
        }
        Ok(Consistent)
    }
}
