//! The one mapping from every failure to HTTP: RFC 9457 problem+json with a stable snake_case
//! `code`. User errors say what to do; unexpected ones are logged and answered as a bare 500.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use ygor_ledger::LedgerError;

use ygor_engine::EngineError;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:ygor:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    /// Stable, machine-readable: the table of docs/api.md.
    pub code: String,
    /// What went wrong and what to do, for a person.
    pub detail: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Sent as `Retry-After` (seconds): when to try again a request refused for a passing cause.
    pub retry_after_seconds: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into(), retry_after_seconds: None }
    }

    /// A `503` that says when to try again.
    pub fn unavailable(code: &'static str, detail: impl Into<String>, retry_after_seconds: u32) -> Self {
        Self {
            retry_after_seconds: Some(retry_after_seconds),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, detail)
        }
    }

    pub fn validation(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation_failed", detail)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "send a valid token as `Authorization: Bearer <token>`")
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    /// `405 method_not_allowed`: the path exists, not with this method (the router adds `Allow`).
    pub fn method_not_allowed(method: &axum::http::Method) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("this endpoint does not take {method}; the `Allow` header lists the methods it takes"),
        )
    }

    /// `408 request_timeout`: the request was not read and answered within the server's bound.
    /// A write cut short this way may still be recorded: the detail says to resend it as it was.
    pub fn request_timeout(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request was not received and answered within {} s; a write may still have been recorded: \
                 send the same request again (the same ids) to find out",
                limit.as_secs_f64()
            ),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the server failed to handle the request; nothing was changed if no position was returned. Retry later",
        )
    }
}

fn title(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("Error").to_owned()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            problem_type: format!("urn:ygor:problem:{}", self.code),
            title: title(self.status),
            status: self.status.as_u16(),
            code: self.code.to_owned(),
            detail: self.detail,
        };
        let mut response = (self.status, axum::Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(seconds) = self.retry_after_seconds {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<LedgerError> for ApiError {
    fn from(error: LedgerError) -> Self {
        use LedgerError as E;
        let detail = error.to_string();
        let (status, code) = match &error {
            E::IdConflict { .. } | E::AlreadyRegistered(_) => (StatusCode::CONFLICT, "id_conflict"),
            E::InsufficientBalance { .. } => (StatusCode::CONFLICT, "insufficient_balance"),
            E::EnvelopeExhausted { .. } => (StatusCode::CONFLICT, "envelope_exhausted"),
            E::TreasuryExhausted { .. } => (StatusCode::CONFLICT, "treasury_exhausted"),
            E::VoucherUsed => (StatusCode::CONFLICT, "voucher_used"),
            E::VoucherExpired => (StatusCode::GONE, "voucher_expired"),
            E::VoucherAmountExceeded { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_voucher"),
            E::UnknownCategory(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_category"),
            E::UnknownPartner(_) | E::NotAnAssociation(_) | E::NotAVenue(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "unknown_partner")
            }
            E::UnknownCitizen(_) | E::NotRegistered => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_citizen"),
            E::PartnerSuspended(_) => (StatusCode::FORBIDDEN, "partner_suspended"),
            E::OccurredInFuture => (StatusCode::UNPROCESSABLE_ENTITY, "occurred_in_future"),
            E::OccurredTooLongAgo { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "occurred_too_long_ago"),
            E::UnknownNeighbourhood(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_neighbourhood"),
            E::RulesNotPublished => (StatusCode::CONFLICT, "rules_not_published"),
            E::UnknownAction(_) | E::UnknownMission | E::UnknownDraw => (StatusCode::NOT_FOUND, "not_found"),
            E::InsufficientGold { .. } => (StatusCode::CONFLICT, "insufficient_gold"),
            E::DrawClosed => (StatusCode::CONFLICT, "draw_closed"),
            E::DrawOpen => (StatusCode::CONFLICT, "draw_open"),
            E::UnknownOffer(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_offer"),
            E::OfferClosed(_) => (StatusCode::CONFLICT, "offer_closed"),
            E::OfferFull(_) => (StatusCode::CONFLICT, "offer_full"),
            E::VoucherForOffer(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_voucher"),
            E::Overflow => (StatusCode::BAD_REQUEST, "validation_failed"),
        };
        ApiError::new(status, code, detail)
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Ledger(error) => error.into(),
            EngineError::Overloaded(waiting) => {
                tracing::warn!(waiting, "a write was refused: the write queue is full");
                ApiError::unavailable(
                    "overloaded",
                    format!(
                        "the server has {waiting} writes waiting for the database and takes no more for now; \
                         nothing was changed: retry in a moment"
                    ),
                    1,
                )
            }
            EngineError::StorageUnavailable(why) => storage_unavailable(&why),
            EngineError::Store(error) if error.is_unavailable() => storage_unavailable(&error.to_string()),
            EngineError::OutcomeUnknown(why) => {
                tracing::error!(%why, "a write's outcome is unknown");
                ApiError::unavailable(
                    "outcome_unknown",
                    "the database went away while this write was being committed, and whether it was recorded \
                     could not be found out; send the same request again (the same ids): if it was recorded, \
                     the answer comes from the log, otherwise it is written then",
                    1,
                )
            }
            EngineError::NotWriter(why) => ApiError::unavailable(
                "not_writer",
                format!("this server takes no writes: {why}; send writes to the server that holds the database"),
                5,
            ),
            EngineError::Contention => {
                tracing::warn!("a write was refused: another writer kept winning the race for the same records");
                ApiError::unavailable(
                    "contention",
                    "another writer to the same database kept changing the same records; nothing was changed: \
                     retry in a moment",
                    1,
                )
            }
            other => {
                tracing::error!(error = %other, "request failed inside the server");
                ApiError::internal()
            }
        }
    }
}

/// `503 storage_unavailable`: nothing was written, the database is out of reach for now.
fn storage_unavailable(why: &str) -> ApiError {
    tracing::warn!(%why, "a request failed: the database cannot be reached");
    ApiError::unavailable(
        "storage_unavailable",
        "the database cannot be reached right now; nothing was changed: retry in a moment",
        2,
    )
}

impl From<ygor_store::StoreError> for ApiError {
    fn from(error: ygor_store::StoreError) -> Self {
        EngineError::from(error).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The status, code and `Retry-After` an engine error is answered with.
    fn answered(error: EngineError) -> (StatusCode, &'static str, Option<String>) {
        let api = ApiError::from(error);
        let code = api.code;
        let response = api.into_response();
        let retry_after =
            response.headers().get(header::RETRY_AFTER).map(|value| value.to_str().expect("text").to_owned());
        (response.status(), code, retry_after)
    }

    #[test]
    fn a_write_refused_for_a_passing_cause_is_a_503_that_says_when_to_retry() {
        let unavailable = StatusCode::SERVICE_UNAVAILABLE;
        assert_eq!(answered(EngineError::Overloaded(4096)), (unavailable, "overloaded", Some("1".to_owned())));
        assert_eq!(answered(EngineError::Contention), (unavailable, "contention", Some("1".to_owned())));
    }

    #[test]
    fn a_defect_is_a_bare_500_and_a_refusal_of_the_ledger_keeps_its_code() {
        let violation = ygor_engine::conservation::Violation::NotHeld {
            holder: ygor_engine::conservation::Holder::GoldIssuance,
            change: 1,
        };
        let (status, code, retry_after) = answered(EngineError::Conservation(violation));
        assert_eq!((status, code, retry_after), (StatusCode::INTERNAL_SERVER_ERROR, "internal_error", None));
        assert_eq!(
            answered(EngineError::Ledger(LedgerError::VoucherUsed)),
            (StatusCode::CONFLICT, "voucher_used", None)
        );
    }
}
