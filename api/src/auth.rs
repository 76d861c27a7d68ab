//! Bearer tokens, one role each. Tokens are random 256-bit strings; only their SHA-256 is stored,
//! so a copy of the database does not let anyone act as a partner or a citizen.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use ygor_ledger::{CitizenId, PartnerId};

use crate::AppState;
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Admin,
    Association(PartnerId),
    Venue(PartnerId),
    Citizen(CitizenId),
}

impl Caller {
    pub fn admin(self) -> Result<(), ApiError> {
        match self {
            Caller::Admin => Ok(()),
            _ => Err(ApiError::forbidden("this needs the collectivity's admin token")),
        }
    }

    pub fn association(self) -> Result<PartnerId, ApiError> {
        match self {
            Caller::Association(id) => Ok(id),
            _ => Err(ApiError::forbidden("this needs an association's token")),
        }
    }

    pub fn venue(self) -> Result<PartnerId, ApiError> {
        match self {
            Caller::Venue(id) => Ok(id),
            _ => Err(ApiError::forbidden("this needs a venue's token")),
        }
    }

    pub fn citizen(self) -> Result<CitizenId, ApiError> {
        match self {
            Caller::Citizen(id) => Ok(id),
            _ => Err(ApiError::forbidden("this needs a citizen's token")),
        }
    }
}

/// Longest bearer token accepted; ours are ~52 characters.
const TOKEN_MAX: usize = 256;

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(ApiError::unauthorized)?;
        let text = value.to_str().map_err(|_| ApiError::unauthorized())?;
        let token = text.strip_prefix("Bearer ").ok_or_else(ApiError::unauthorized)?.trim();
        if token.is_empty() || token.len() > TOKEN_MAX {
            return Err(ApiError::unauthorized());
        }
        let hash = ygor_crypto::hash_token(token);
        let credential = state.log().find_credential(&hash).await?.ok_or_else(ApiError::unauthorized)?;
        let subject = credential.subject_id.as_str();
        let corrupt = || {
            tracing::error!(role = %credential.role, "a stored credential names a malformed subject");
            ApiError::internal()
        };
        match credential.role.as_str() {
            "admin" => Ok(Caller::Admin),
            "association" => PartnerId::parse(subject).map(Caller::Association).map_err(|_| corrupt()),
            "venue" => PartnerId::parse(subject).map(Caller::Venue).map_err(|_| corrupt()),
            "citizen" => CitizenId::parse(subject).map(Caller::Citizen).map_err(|_| corrupt()),
            _ => Err(corrupt()),
        }
    }
}
