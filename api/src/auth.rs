//! Bearer tokens, one role each, as typed extractors: a handler takes an [`Admin`], an
//! [`Association`], a [`Venue`] or a [`Citizen`], and a request with another role's token is
//! refused (`403 forbidden`) before the handler runs, before its body is even read. A handler that
//! forgets its role does not compile: it has no id to act on. [`Caller`] is for the few reads open
//! to several roles, which match on it; `Option<Caller>` for the public reads that say more to a
//! caller who sends a token (a token sent must still be valid).
//!
//! Tokens are random 256-bit strings; only their SHA-256 is stored, so a copy of the database does
//! not let anyone act as a partner or a citizen.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use ygor_ledger::{CitizenId, PartnerId};

use crate::AppState;
use crate::error::ApiError;

/// Any valid token, with its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Admin,
    Association(PartnerId),
    Venue(PartnerId),
    Citizen(CitizenId),
}

/// The collectivity's admin token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admin;

/// An association's token, with the association's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Association(pub PartnerId);

/// A venue's token, with the venue's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Venue(pub PartnerId);

/// A citizen's token, with the citizen's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Citizen(pub CitizenId);

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
        Caller::of(&credential)
    }
}

impl Caller {
    /// The caller a stored credential (or a web session) acts as.
    pub(crate) fn of(credential: &ygor_store::Credential) -> Result<Self, ApiError> {
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

/// No `Authorization` header: no caller. A header with a malformed or unknown token is still
/// `401 unauthorized`, as on every endpoint: a client that meant to send a token learns it failed.
/// (The trait is named by its path: in scope, its method would make `Caller::from_request_parts`
/// ambiguous.)
impl axum::extract::OptionalFromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(None);
        }
        <Caller as FromRequestParts<AppState>>::from_request_parts(parts, state).await.map(Some)
    }
}

/// Implements the extractor of one role: any valid token of another role is `403 forbidden`.
macro_rules! role {
    ($role:ident, $pattern:pat => $value:expr, $refusal:literal) => {
        impl FromRequestParts<AppState> for $role {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
                match Caller::from_request_parts(parts, state).await? {
                    $pattern => Ok($value),
                    _ => Err(ApiError::forbidden($refusal)),
                }
            }
        }
    };
}

role!(Admin, Caller::Admin => Admin, "this needs the collectivity's admin token");
role!(Association, Caller::Association(id) => Association(id), "this needs an association's token");
role!(Venue, Caller::Venue(id) => Venue(id), "this needs a venue's token");
role!(Citizen, Caller::Citizen(id) => Citizen(id), "this needs a citizen's token");
