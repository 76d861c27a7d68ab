//! The one error type of this crate.
//!
//! Most of what an auditor checks answers yes or no (a proof verifies or it does not), so those
//! functions return `bool`. Errors are for inputs that cannot be processed at all: malformed
//! hex or keys, JSON that has no canonical form, numbers outside the range the documented
//! procedures cover, a log whose positions go backwards, and signatures that do not verify.

use ygor_crypto::CryptoError;

/// Everything that can go wrong while re-deriving Ygor's public outcomes.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum AuditError {
    /// A hash or seed is not exactly 64 lowercase hexadecimal characters (32 bytes).
    #[error("malformed {field}: expected 64 lowercase hexadecimal characters (32 bytes)")]
    MalformedHex {
        /// Which value was malformed (`root_hash`, `seed`, `commitment`, …).
        field: &'static str,
    },

    /// A timestamp is not RFC 3339 text.
    #[error("malformed {field}: expected an RFC 3339 timestamp such as 2026-11-22T10:00:00.123456Z")]
    MalformedTimestamp {
        /// Which value was malformed.
        field: &'static str,
    },

    /// The value has no RFC 8785 canonical form (for example an integer beyond ±(2^53 − 1)), so
    /// no leaf data or signed message can be built from it.
    #[error("cannot canonicalise JSON: {0}")]
    Canonicalization(String),

    /// The `public_key` field is not the base64url text of a usable ed25519 public key.
    #[error("malformed public key: expected the base64url encoding (no padding) of a 32-byte ed25519 public key")]
    MalformedPublicKey,

    /// The `signature` field is not the base64url text of 64 bytes.
    #[error("malformed signature: expected the base64url encoding (no padding) of a 64-byte ed25519 signature")]
    MalformedSignature,

    /// The signature does not verify for this checkpoint and key.
    #[error("invalid signature: it does not match the checkpoint's tree_size, root_hash and signed_at, or its key")]
    InvalidSignature,

    /// The checkpoint names a public key other than the territory's.
    #[error("the checkpoint is signed by {found}, not by the territory's key {expected}")]
    UnexpectedPublicKey {
        /// The territory's key, as the auditor knows it.
        expected: String,
        /// The key the checkpoint names.
        found: String,
    },

    /// Exported events are not in strictly increasing position order.
    #[error("events out of order: position {position} follows position {previous}; positions must strictly increase")]
    PositionsOutOfOrder {
        /// The position of the event before.
        previous: i64,
        /// The position that does not exceed it.
        position: i64,
    },

    /// The tickets of a draw add up to more than 2^53 − 1, the largest count JSON carries exactly.
    #[error("too many tickets: a draw's tickets add up to at most 9007199254740991 (2^53 - 1)")]
    TooManyTickets,
}

impl From<CryptoError> for AuditError {
    /// Keeps the distinctions an auditor acts on (a broken key is not a forged signature) and
    /// folds the rest, which only canonicalisation can produce here, into `Canonicalization`.
    fn from(error: CryptoError) -> Self {
        match error {
            CryptoError::MalformedPublicKey => AuditError::MalformedPublicKey,
            CryptoError::MalformedSignature | CryptoError::MissingSignature => AuditError::MalformedSignature,
            CryptoError::InvalidSignature => AuditError::InvalidSignature,
            other => AuditError::Canonicalization(other.to_string()),
        }
    }
}
