//! Ed25519 keys and signatures, and their one text form.
//!
//! Every key and signature that crosses a boundary (HTTP bodies, events, key files, the CLI) is the
//! base64url encoding of its raw bytes without padding. Parsing is strict: a wrong length, padding,
//! characters outside the URL-safe alphabet or non-zero trailing bits are refused, so that each key
//! and each signature has exactly one text. Tests, logs and the audit can therefore compare them as
//! strings.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::CryptoError;

/// The length of a public key or a secret key seed, in bytes.
const KEY_BYTES: usize = 32;
/// The length of a signature, in bytes.
const SIGNATURE_BYTES: usize = 64;

/// Encodes bytes as base64url without padding, the text form of every binary value here.
pub(crate) fn encode_base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url text that must hold exactly `N` bytes.
///
/// The length is checked before decoding so that an oversized input costs nothing. The engine
/// refuses padding and non-zero trailing bits, which makes the encoding of `N` bytes unique.
pub(crate) fn decode_base64url_exact<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != (N * 4).div_ceil(3) {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    bytes.try_into().ok()
}

/// An ed25519 public (verifying) key.
///
/// Parsing refuses, besides malformed text, bytes that are not a point of the curve, points whose
/// encoding is not the canonical one, and the small-order ("weak") points: a weak key would let
/// one signature verify for many messages, so no partner or territory may register one.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses the base64url (no padding) text of a 32-byte public key.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let bytes = decode_base64url_exact::<KEY_BYTES>(text).ok_or(CryptoError::MalformedPublicKey)?;
        Self::from_bytes(&bytes)
    }

    /// Builds a public key from its 32 raw bytes, with the same checks as [`PublicKey::parse`].
    pub fn from_bytes(bytes: &[u8; KEY_BYTES]) -> Result<Self, CryptoError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| CryptoError::MalformedPublicKey)?;
        // `from_bytes` accepts some non-canonical encodings of a point; re-encoding it tells them
        // apart, and refusing them keeps one text per key.
        let canonical = key.to_edwards().compress().to_bytes() == *bytes;
        if !canonical || key.is_weak() {
            return Err(CryptoError::MalformedPublicKey);
        }
        Ok(Self(key))
    }

    /// The 32 raw bytes of the key.
    pub fn to_bytes(&self) -> [u8; KEY_BYTES] {
        self.0.to_bytes()
    }

    /// Verifies a signature over a message with ed25519's strict rules.
    ///
    /// Strict verification also refuses non-canonical signatures and small-order components, so
    /// a signature accepted here is accepted by every conforming ed25519 verifier an auditor may
    /// use, and by [`crate::verify_batch`].
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
        self.0.verify_strict(message, &signature.0).map_err(|_| CryptoError::InvalidSignature)
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }
}

impl FromStr for PublicKey {
    type Err = CryptoError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&encode_base64url(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_tuple("PublicKey").field(&self.to_string()).finish()
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An ed25519 secret (signing) key: the territory's, or a partner's in the CLI.
///
/// Its `Debug` output shows only the public key, so that a secret never reaches a log by
/// accident; it has no `Display` and no `Serialize` for the same reason. The key material is wiped
/// from memory when the value is dropped (ed25519-dalek's `zeroize` feature).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// Generates a new key from the thread-local cryptographically secure generator of `rand`,
    /// which is seeded by the operating system.
    pub fn generate() -> Self {
        Self(SigningKey::generate(&mut rand::rng()))
    }

    /// Builds a key from its 32-byte seed; useful for fixed keys in tests.
    pub fn from_seed(seed: &[u8; KEY_BYTES]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// The public key that verifies this key's signatures.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The base64url (no padding) text of the 32-byte seed. Whoever holds it can sign: store it
    /// only where a secret belongs (a 0600 key file, a secret store).
    pub fn to_text(&self) -> String {
        encode_base64url(self.0.as_bytes())
    }

    /// Parses the text written by [`SecretKey::to_text`].
    pub fn from_text(text: &str) -> Result<Self, CryptoError> {
        let seed = decode_base64url_exact::<KEY_BYTES>(text).ok_or(CryptoError::MalformedSecretKey)?;
        Ok(Self::from_seed(&seed))
    }

    /// Signs raw bytes. Signed objects go through [`crate::sign_object`] instead, which adds the
    /// context string; this is for messages that are built elsewhere with their own context.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("SecretKey").field("public_key", &self.public_key().to_string()).finish_non_exhaustive()
    }
}

/// An ed25519 signature (64 bytes).
///
/// Parsing checks only the length and the encoding; whether the bytes form a valid signature is
/// decided by verification.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(ed25519_dalek::Signature);

impl Signature {
    /// Parses the base64url (no padding) text of a 64-byte signature.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let bytes = decode_base64url_exact::<SIGNATURE_BYTES>(text).ok_or(CryptoError::MalformedSignature)?;
        Ok(Self::from_bytes(&bytes))
    }

    /// Builds a signature from its 64 raw bytes.
    pub fn from_bytes(bytes: &[u8; SIGNATURE_BYTES]) -> Self {
        Self(ed25519_dalek::Signature::from_bytes(bytes))
    }

    /// The 64 raw bytes of the signature.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_BYTES] {
        self.0.to_bytes()
    }

    pub(crate) fn inner(&self) -> &ed25519_dalek::Signature {
        &self.0
    }
}

impl FromStr for Signature {
    type Err = CryptoError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&encode_base64url(&self.0.to_bytes()))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_tuple("Signature").field(&self.to_string()).finish()
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed_key() -> SecretKey {
        SecretKey::from_seed(&[7; 32])
    }

    #[test]
    fn public_key_text_round_trips_through_parse_and_display() {
        // Given a public key
        let key = fixed_key().public_key();
        // When it is written and parsed again
        let text = key.to_string();
        let parsed: PublicKey = text.parse().expect("own text parses");
        // Then it is the same key, in 43 URL-safe characters
        assert_eq!(parsed, key);
        assert_eq!(text.len(), 43);
        assert!(!text.contains(['=', '+', '/']));
    }

    #[test]
    fn public_key_text_with_padding_is_refused() {
        let text = format!("{}=", fixed_key().public_key());
        assert_eq!(PublicKey::parse(&text), Err(CryptoError::MalformedPublicKey));
    }

    #[test]
    fn public_key_text_of_the_wrong_length_is_refused() {
        let short = encode_base64url(&[1; 31]);
        let long = encode_base64url(&[1; 33]);
        assert_eq!(PublicKey::parse(&short), Err(CryptoError::MalformedPublicKey));
        assert_eq!(PublicKey::parse(&long), Err(CryptoError::MalformedPublicKey));
        assert_eq!(PublicKey::parse(""), Err(CryptoError::MalformedPublicKey));
    }

    #[test]
    fn public_key_text_in_standard_base64_alphabet_is_refused() {
        // Given a key whose URL-safe text contains '-' or '_' (found by trying seeds)
        let text = (0u8..=255)
            .map(|seed| SecretKey::from_seed(&[seed; 32]).public_key().to_string())
            .find(|text| text.contains(['-', '_']))
            .expect("some seed gives a text with a URL-safe character");
        // When it is written with the standard alphabet instead
        let standard = text.replace('-', "+").replace('_', "/");
        // Then it is refused
        assert_eq!(PublicKey::parse(&standard), Err(CryptoError::MalformedPublicKey));
    }

    #[test]
    fn public_key_text_with_non_zero_trailing_bits_is_refused() {
        // Given a valid key text whose last character carries two unused bits
        let text = fixed_key().public_key().to_string();
        let last = text.chars().last().expect("non-empty");
        // When those unused bits are set (the alphabet index changes by one or two)
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let index = alphabet.find(last).expect("URL-safe character");
        let altered_index = index ^ 0b01;
        let altered_char = alphabet.as_bytes()[altered_index] as char;
        let altered = format!("{}{}", &text[..text.len() - 1], altered_char);
        // Then it is refused: every key has exactly one text
        assert_eq!(PublicKey::parse(&altered), Err(CryptoError::MalformedPublicKey));
    }

    #[test]
    fn public_key_that_is_not_a_curve_point_is_refused() {
        // y = 2 is not the y-coordinate of any point of edwards25519.
        let mut bytes = [0u8; 32];
        bytes[0] = 2;
        assert_eq!(PublicKey::parse(&encode_base64url(&bytes)), Err(CryptoError::MalformedPublicKey));
    }

    #[test]
    fn small_order_public_key_is_refused() {
        // The identity point (y = 1) has order one: it would verify forged signatures.
        let mut bytes = [0u8; 32];
        bytes[0] = 1;
        assert_eq!(PublicKey::from_bytes(&bytes), Err(CryptoError::MalformedPublicKey));
    }

    #[test]
    fn public_key_serialises_as_its_text() {
        let key = fixed_key().public_key();
        let json = serde_json::to_value(key).expect("serialises");
        assert_eq!(json, serde_json::Value::String(key.to_string()));
        let back: PublicKey = serde_json::from_value(json).expect("deserialises");
        assert_eq!(back, key);
        let refused = serde_json::from_value::<PublicKey>(serde_json::json!("abc"));
        assert!(refused.is_err());
    }

    #[test]
    fn secret_key_text_round_trips_and_keeps_the_public_key() {
        let key = SecretKey::generate();
        let back = SecretKey::from_text(&key.to_text()).expect("own text parses");
        assert_eq!(back, key);
        assert_eq!(back.public_key(), key.public_key());
    }

    #[test]
    fn secret_key_text_of_the_wrong_length_or_with_padding_is_refused() {
        let text = fixed_key().to_text();
        assert_eq!(SecretKey::from_text(&format!("{text}=")), Err(CryptoError::MalformedSecretKey));
        assert_eq!(SecretKey::from_text(&text[..42]), Err(CryptoError::MalformedSecretKey));
    }

    #[test]
    fn secret_key_debug_output_does_not_reveal_the_secret() {
        let key = fixed_key();
        let debug = format!("{key:?}");
        assert!(!debug.contains(&key.to_text()));
        assert!(debug.contains(&key.public_key().to_string()));
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(SecretKey::generate(), SecretKey::generate());
    }

    #[test]
    fn signature_text_round_trips_and_is_86_characters() {
        let signature = fixed_key().sign(b"message");
        let text = signature.to_string();
        assert_eq!(text.len(), 86);
        assert_eq!(Signature::parse(&text), Ok(signature));
        let json = serde_json::to_value(signature).expect("serialises");
        assert_eq!(serde_json::from_value::<Signature>(json).ok(), Some(signature));
    }

    #[test]
    fn signature_text_of_the_wrong_length_or_with_padding_is_refused() {
        let text = fixed_key().sign(b"message").to_string();
        assert_eq!(Signature::parse(&format!("{text}==")), Err(CryptoError::MalformedSignature));
        assert_eq!(Signature::parse(&text[..85]), Err(CryptoError::MalformedSignature));
        assert_eq!(Signature::parse(&encode_base64url(&[0; 65])), Err(CryptoError::MalformedSignature));
        assert_eq!(Signature::parse("not base64!"), Err(CryptoError::MalformedSignature));
    }

    #[test]
    fn public_key_verifies_its_own_signature_and_no_other_message() {
        let key = fixed_key();
        let signature = key.sign(b"message");
        assert_eq!(key.public_key().verify(b"message", &signature), Ok(()));
        assert_eq!(key.public_key().verify(b"massage", &signature), Err(CryptoError::InvalidSignature));
        assert_eq!(
            SecretKey::generate().public_key().verify(b"message", &signature),
            Err(CryptoError::InvalidSignature)
        );
    }
}
