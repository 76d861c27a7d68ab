//! Request extractors: JSON bodies that refuse unknown fields and answer problem+json, signed
//! objects kept as their raw JSON map for signature checks, path and query parameters that name
//! the parameter they refuse, and read-your-writes waits. Every rejection here is an [`ApiError`]:
//! none of axum's plain-text rejections reaches a client.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, RawPathParams, Request};
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

/// The body, within the route's limit: [`crate::BODY_LIMIT`], or `limit` where the route raised
/// it (named in the refusal).
async fn body_bytes(request: Request, state: &AppState, limit: usize) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::validation(format!("the body is larger than the {limit} bytes accepted"))
        } else {
            ApiError::validation(format!("the body could not be read: {rejection}"))
        }
    })
}

/// The raw body, at most [`crate::BODY_LIMIT`] bytes; a larger one is `400 validation_failed`.
pub struct BodyBytes(pub Bytes);

impl FromRequest<AppState> for BodyBytes {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(BodyBytes(body_bytes(request, state, crate::BODY_LIMIT).await?))
    }
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
        let bytes = body_bytes(request, state, crate::BODY_LIMIT).await?;
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
        let bytes = body_bytes(request, state, crate::BODY_LIMIT).await?;
        parse_signed(&bytes)
    }
}

/// A signed JSON object read from `bytes` as [`Signed`] reads a body: also each object of a batch.
pub fn parse_signed<T: DeserializeOwned>(bytes: &[u8]) -> Result<Signed<T>, ApiError> {
    let value: Value = parse_json(bytes)?;
    let Value::Object(object) = value else {
        return Err(ApiError::validation("the body must be a JSON object"));
    };
    let object = Value::Object(object);
    // Read from the parsed value by reference: the object itself is kept for the signature.
    let body = T::deserialize(&object).map_err(|error| ApiError::validation(format!("invalid body: {error}")))?;
    let Value::Object(object) = object else { unreachable!("an object, matched above") };
    Ok(Signed { body, object })
}

/// A JSON body of at most `LIMIT` bytes (its route raises the body limit to `LIMIT`) whose items
/// are read one by one: `T` keeps them as raw JSON (`Box<RawValue>`), so that a malformed item, a
/// key repeated in it included, is that item's refusal and not the body's. `T`'s own fields are
/// read as any body's are (serde refuses one given twice).
pub struct ApiJsonItems<T, const LIMIT: usize>(pub T);

impl<T: DeserializeOwned, const LIMIT: usize> FromRequest<AppState> for ApiJsonItems<T, LIMIT> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        require_json_content_type(&request)?;
        let bytes = body_bytes(request, state, LIMIT).await?;
        serde_json::from_slice(&bytes)
            .map(ApiJsonItems)
            .map_err(|error| ApiError::validation(format!("invalid JSON body: {error}")))
    }
}

/// `?min_position=N` on a read: waits until the projections have applied N (read-your-writes),
/// at most [`READ_WAIT`], then answers `503 projection_lagging`. A position past the end of the
/// log is `400 validation_failed` at once: no write answered it.
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
            if position > *state.engine().committed().borrow() {
                let last = state.log().last_position().await.map_err(ygor_engine::EngineError::from)?;
                if position > last {
                    return Err(ApiError::validation(format!(
                        "min_position {position} is past the end of the log (position {last}): pass a position \
                         a write answered"
                    )));
                }
            }
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

/// Path parameters as `T`: a parameter that does not parse as its type (`/v1/audit/proof/x`) or
/// is not UTF-8 once decoded is `400 validation_failed` naming the parameter.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(PathRejection::FailedToDeserializePathParams(error)) => {
                // A single parameter deserialised as a plain value is reported without its name:
                // the route's own parameters give it.
                let names: Vec<String> = match RawPathParams::from_request_parts(parts, state).await {
                    Ok(params) => params.iter().map(|(name, _)| name.to_owned()).collect(),
                    Err(_) => Vec::new(),
                };
                let only = || names.first().filter(|_| names.len() == 1).map(String::as_str).unwrap_or("?");
                let refused = |name: &str, value: &str, expected: &str| {
                    ApiError::validation(format!(
                        "the path parameter `{name}` is `{value}`, which is not a valid {expected}"
                    ))
                };
                Err(match error.kind() {
                    ErrorKind::ParseErrorAtKey { key, value, expected_type } => refused(key, value, expected_type),
                    ErrorKind::ParseErrorAtIndex { index, value, expected_type } => {
                        refused(names.get(*index).map(String::as_str).unwrap_or("?"), value, expected_type)
                    }
                    ErrorKind::ParseError { value, expected_type } => refused(only(), value, expected_type),
                    ErrorKind::InvalidUtf8InPathParam { key } => {
                        ApiError::validation(format!("the path parameter `{key}` is not UTF-8 once percent-decoded"))
                    }
                    ErrorKind::DeserializeError { key, value, message } => ApiError::validation(format!(
                        "the path parameter `{key}` is `{value}`, which is not valid: {message}"
                    )),
                    // The route and the handler's type disagree: a defect, not the caller's fault.
                    other => {
                        tracing::error!(error = %other, "path parameters do not fit the handler");
                        ApiError::internal()
                    }
                })
            }
            Err(rejection) => {
                tracing::error!(%rejection, "path parameters extracted outside a route");
                Err(ApiError::internal())
            }
        }
    }
}

/// The query string as `T`: a missing parameter, one that does not parse as its type, or a query
/// string that is not `application/x-www-form-urlencoded` is `400 validation_failed` naming the
/// parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

/// `query` as `T`, with the name of the parameter that does not fit in the error.
fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let parameter = error.path().to_string();
        let error = error.into_inner();
        if parameter == "." {
            // Whole-query errors name the parameter themselves ("missing field `by`").
            ApiError::validation(format!("invalid query string: {error}"))
        } else {
            ApiError::validation(format!("the query parameter `{parameter}` is invalid: {error}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::parse_query;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code, reason = "read by the deserializer only")]
    struct Window {
        first: u64,
        limit: Option<usize>,
    }

    #[test]
    fn a_query_parameter_that_does_not_parse_is_named() {
        let error = parse_query::<Window>("first=1&limit=many").expect_err("not a number");
        assert_eq!(error.code, "validation_failed");
        assert!(error.detail.contains("`limit`"), "{}", error.detail);
        let error = parse_query::<Window>("limit=2").expect_err("missing");
        assert!(error.detail.contains("`first`"), "{}", error.detail);
        assert!(parse_query::<Window>("first=3").is_ok());
    }
}
