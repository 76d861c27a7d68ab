//! The one error type of this crate.
//!
//! Variants are stable: other crates match on them to choose an HTTP status or an exit code, so a
//! variant is never renamed or repurposed. The messages are written for the person who has to fix
//! the input (a partner's developer, an operator), and never contain secret material.

/// Everything that can go wrong while parsing keys, canonicalising, signing or verifying.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The text is not the unpadded base64url encoding of a usable 32-byte ed25519 public key.
    #[error(
        "malformed public key: expected the base64url encoding (no padding) of a 32-byte ed25519 public key (43 characters)"
    )]
    MalformedPublicKey,

    /// The text is not the unpadded base64url encoding of a 32-byte ed25519 secret key seed.
    #[error(
        "malformed secret key: expected the base64url encoding (no padding) of a 32-byte ed25519 seed (43 characters)"
    )]
    MalformedSecretKey,

    /// The `signature` field is not a string holding the unpadded base64url encoding of 64 bytes.
    #[error(
        "malformed signature: expected the base64url encoding (no padding) of a 64-byte ed25519 signature (86 characters)"
    )]
    MalformedSignature,

    /// The object has no `signature` field.
    #[error("missing signature: the object has no \"signature\" field")]
    MissingSignature,

    /// The signature is well formed but does not verify for this message, context and key.
    #[error("invalid signature: it does not match the object's content, its kind (context string) or the public key")]
    InvalidSignature,

    /// The voucher text was refused; the reason says why. Every refusal of `open_voucher` is this
    /// variant, so that callers can map all of them to one answer (`invalid_voucher`).
    #[error("invalid voucher: {0}")]
    MalformedVoucher(String),

    /// The value cannot be put in RFC 8785 canonical form (for example an integer JSON numbers
    /// cannot represent exactly).
    #[error("cannot canonicalise JSON: {0}")]
    Canonicalization(String),

    /// The input text is not JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),

    /// A key file could not be read or does not hold a consistent key pair.
    #[error("key file: {0}")]
    KeyFile(String),

    /// A JSON object was expected.
    #[error("not a JSON object: a signed document must be a JSON object ({{...}})")]
    NotAnObject,

    /// The document to sign is over its size limit ([`crate::MAX_DOCUMENT_BYTES`], 64 KiB).
    #[error("input too large: a document to sign is at most 65536 bytes (64 KiB)")]
    TooLarge,
}
