//! Cryptography for Ygor: everything that makes the ledger checkable by someone who does not
//! trust the server.
//!
//! Associations sign their certifications and venues their redemptions with ed25519 keys; the
//! territory signs vouchers and the audit log's checkpoints. All of them sign JSON objects the
//! same way, `context + "\n" + RFC 8785 canonical JSON of the object without its signature`, so a
//! third-party auditor can re-verify every signature in any language from the exported events.
//! The crate also generates and hashes bearer tokens, makes the short codes people read aloud
//! (citizen codes, countermarks), and reads and writes partner key files.
//!
//! It is pure on purpose: no clock (callers pass times, and expiry is theirs to check), no
//! network, and file access only in [`write_key_file`] and [`read_key_file`], which the CLI
//! needs. Randomness is drawn only to generate keys, tokens and citizen codes.

#![forbid(unsafe_code)]

mod canonical;
mod error;
mod key_file;
mod keys;
mod short_code;
mod signing;
mod tokens;
mod voucher;

pub use canonical::{MAX_SAFE_INTEGER, canonical_json};
pub use error::CryptoError;
pub use key_file::{MAX_DOCUMENT_BYTES, read_key_file, sign_document, write_key_file};
pub use keys::{PublicKey, SecretKey, Signature};
pub use short_code::{
    SHORT_CODE_INPUT_MAX, SHORT_CODE_LENGTH, derived_short_code, encode_short_code, random_short_code, read_short_code,
};
pub use signing::{
    PUBLIC_KEY_FIELD, SIGNATURE_FIELD, SignedKind, invalid_signature_indexes, sign_object, signature_and_message,
    signing_message, verify_batch, verify_object, verify_object_message,
};
pub use tokens::{TOKEN_RANDOM_BYTES, generate_token, hash_token, sha256, sha256_hex};
pub use voucher::{MAX_VOUCHER_BYTES, VOUCHER_PREFIX, VoucherClaims, issue_voucher, open_voucher, voucher_countermark};
