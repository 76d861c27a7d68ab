//! Signed checkpoints: the territory's signature over a size and root of the log.
//!
//! A checkpoint is what makes the tree tamper-evident to outsiders. Once a checkpoint is
//! published, the territory cannot rewrite the first `tree_size` events without either signing a
//! second root for the same size (evidence of tampering in itself) or failing a consistency proof
//! to any later checkpoint. The signed message is
//! `"ygor/checkpoint/v1\n" + JCS({"root_hash", "signed_at", "tree_size"})`: `signature` and
//! `public_key` are left out, the latter because it only tells the reader which key to use.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ygor_crypto::{PublicKey, SecretKey, SignedKind};

use crate::{AuditError, decode_hex_32};

/// The signed part of a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The number of events (leaves) the root covers.
    pub tree_size: u64,
    /// The root of the tree of `tree_size` leaves, as 64 lowercase hex characters.
    pub root_hash: String,
    /// When the territory signed it, RFC 3339 in UTC.
    pub signed_at: String,
}

/// A checkpoint as `GET /v1/audit/checkpoint` answers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedCheckpoint {
    /// The number of events (leaves) the root covers.
    pub tree_size: u64,
    /// The root of the tree of `tree_size` leaves, as 64 lowercase hex characters.
    pub root_hash: String,
    /// When the territory signed it, RFC 3339 in UTC.
    pub signed_at: String,
    /// The ed25519 signature, base64url without padding (86 characters).
    pub signature: String,
    /// The territory's ed25519 public key, base64url without padding (43 characters).
    pub public_key: String,
}

impl Checkpoint {
    /// The root hash as bytes, for [`crate::verify_inclusion`] and [`crate::verify_consistency`].
    pub fn root_hash_bytes(&self) -> Result<[u8; 32], AuditError> {
        decode_hex_32(&self.root_hash, "root_hash")
    }

    /// Checks the shape of the fields: a 32-byte lowercase hex root and an RFC 3339 time.
    fn check_fields(&self) -> Result<(), AuditError> {
        self.root_hash_bytes()?;
        chrono::DateTime::parse_from_rfc3339(&self.signed_at)
            .map_err(|_| AuditError::MalformedTimestamp { field: "signed_at" })?;
        Ok(())
    }

    /// The checkpoint as a JSON object, the form ygor-crypto signs.
    fn to_object(&self) -> Map<String, Value> {
        let mut object = Map::new();
        object.insert("tree_size".to_owned(), Value::from(self.tree_size));
        object.insert("root_hash".to_owned(), Value::from(self.root_hash.clone()));
        object.insert("signed_at".to_owned(), Value::from(self.signed_at.clone()));
        object
    }
}

impl SignedCheckpoint {
    /// The signed part of the checkpoint.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint { tree_size: self.tree_size, root_hash: self.root_hash.clone(), signed_at: self.signed_at.clone() }
    }

    /// The root hash as bytes, for [`crate::verify_inclusion`] and [`crate::verify_consistency`].
    pub fn root_hash_bytes(&self) -> Result<[u8; 32], AuditError> {
        decode_hex_32(&self.root_hash, "root_hash")
    }
}

/// The exact bytes the territory signs for a checkpoint:
/// `"ygor/checkpoint/v1\n" + JCS({"root_hash", "signed_at", "tree_size"})`.
pub fn checkpoint_signing_message(checkpoint: &Checkpoint) -> Result<Vec<u8>, AuditError> {
    Ok(ygor_crypto::signing_message(SignedKind::Checkpoint, &checkpoint.to_object())?)
}

/// Signs a checkpoint with the territory's key and names that key in `public_key`.
///
/// Refuses a checkpoint whose `root_hash` is not 64 lowercase hex characters or whose
/// `signed_at` is not RFC 3339, so that the territory never publishes one an auditor must reject,
/// and a `tree_size` beyond 2^53 − 1, which has no exact JSON form.
pub fn sign_checkpoint(checkpoint: &Checkpoint, territory_key: &SecretKey) -> Result<SignedCheckpoint, AuditError> {
    checkpoint.check_fields()?;
    let message = checkpoint_signing_message(checkpoint)?;
    Ok(SignedCheckpoint {
        tree_size: checkpoint.tree_size,
        root_hash: checkpoint.root_hash.clone(),
        signed_at: checkpoint.signed_at.clone(),
        signature: territory_key.sign(&message).to_string(),
        public_key: territory_key.public_key().to_string(),
    })
}

/// Verifies a checkpoint's signature with the key it names, and the shape of its fields.
///
/// This proves only that the holder of `public_key` signed it. An auditor must also know that
/// this key is the territory's: use [`verify_checkpoint_from`] with the key obtained out of band.
pub fn verify_checkpoint(signed: &SignedCheckpoint) -> Result<(), AuditError> {
    let checkpoint = signed.checkpoint();
    checkpoint.check_fields()?;
    let public_key = PublicKey::parse(&signed.public_key)?;
    // The object handed to ygor-crypto keeps `public_key`, so that leaving it out of the signed
    // message is ygor-crypto's rule for checkpoints and not an accident of this function.
    let mut object = checkpoint.to_object();
    object.insert("signature".to_owned(), Value::from(signed.signature.clone()));
    object.insert("public_key".to_owned(), Value::from(signed.public_key.clone()));
    ygor_crypto::verify_object(SignedKind::Checkpoint, &object, &public_key)?;
    Ok(())
}

/// Verifies a checkpoint like [`verify_checkpoint`] and checks that it names the territory's key.
pub fn verify_checkpoint_from(signed: &SignedCheckpoint, territory_key: &PublicKey) -> Result<(), AuditError> {
    let expected = territory_key.to_string();
    if signed.public_key != expected {
        return Err(AuditError::UnexpectedPublicKey { expected, found: signed.public_key.clone() });
    }
    verify_checkpoint(signed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn territory_key() -> SecretKey {
        SecretKey::from_seed(&[7; 32])
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            tree_size: 3,
            root_hash: "cd92a4d7e99dd00e9df0a7e0f210feffd706bb95446415ec9635c181fdd31342".to_owned(),
            signed_at: "2026-11-22T10:05:00Z".to_owned(),
        }
    }

    fn signed() -> SignedCheckpoint {
        sign_checkpoint(&checkpoint(), &territory_key()).expect("signs")
    }

    #[test]
    fn signed_message_leaves_out_signature_and_public_key() {
        // Given a signed checkpoint whose signature and public key are set
        let signed = signed();
        // When ygor-crypto builds the checkpoint message from the full object
        let mut object = signed.checkpoint().to_object();
        object.insert("signature".to_owned(), Value::from(signed.signature.clone()));
        object.insert("public_key".to_owned(), Value::from(signed.public_key.clone()));
        let message = ygor_crypto::signing_message(SignedKind::Checkpoint, &object).expect("message");
        // Then it is the context line and the JCS of the three signed fields only
        assert_eq!(message, checkpoint_signing_message(&checkpoint()).expect("message"));
        assert_eq!(
            String::from_utf8(message).expect("UTF-8"),
            "ygor/checkpoint/v1\n{\"root_hash\":\"cd92a4d7e99dd00e9df0a7e0f210feffd706bb95446415ec9635c181fdd31342\",\"signed_at\":\"2026-11-22T10:05:00Z\",\"tree_size\":3}"
        );
    }

    #[test]
    fn a_signed_checkpoint_verifies_with_the_territory_key() {
        let signed = signed();
        assert_eq!(verify_checkpoint(&signed), Ok(()));
        assert_eq!(verify_checkpoint_from(&signed, &territory_key().public_key()), Ok(()));
        assert_eq!(signed.checkpoint(), checkpoint());
        assert_eq!(
            signed.root_hash_bytes().map(hex::encode),
            Ok("cd92a4d7e99dd00e9df0a7e0f210feffd706bb95446415ec9635c181fdd31342".to_owned())
        );
    }

    #[test]
    fn changing_any_signed_field_breaks_the_signature() {
        let other_root = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_owned();
        let tampered = [
            SignedCheckpoint { tree_size: 4, ..signed() },
            SignedCheckpoint { root_hash: other_root, ..signed() },
            SignedCheckpoint { signed_at: "2026-11-22T10:05:01Z".to_owned(), ..signed() },
        ];
        for checkpoint in tampered {
            assert_eq!(verify_checkpoint(&checkpoint), Err(AuditError::InvalidSignature), "{checkpoint:?}");
        }
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_is_not_the_territorys() {
        // Given a checkpoint signed, consistently, by someone else's key
        let forger = SecretKey::from_seed(&[8; 32]);
        let forged = sign_checkpoint(&checkpoint(), &forger).expect("signs");
        // Then it is self-consistent but not from the territory
        assert_eq!(verify_checkpoint(&forged), Ok(()));
        assert_eq!(
            verify_checkpoint_from(&forged, &territory_key().public_key()),
            Err(AuditError::UnexpectedPublicKey {
                expected: territory_key().public_key().to_string(),
                found: forger.public_key().to_string(),
            })
        );
        // And naming the territory's key over the forger's signature does not help
        let relabelled = SignedCheckpoint { public_key: territory_key().public_key().to_string(), ..forged };
        assert_eq!(
            verify_checkpoint_from(&relabelled, &territory_key().public_key()),
            Err(AuditError::InvalidSignature)
        );
    }

    #[test]
    fn malformed_fields_are_refused_with_what_is_wrong() {
        let cases = [
            (
                SignedCheckpoint { root_hash: "CD92".to_owned(), ..signed() },
                AuditError::MalformedHex { field: "root_hash" },
            ),
            (
                SignedCheckpoint { signed_at: "22/11/2026".to_owned(), ..signed() },
                AuditError::MalformedTimestamp { field: "signed_at" },
            ),
            (SignedCheckpoint { public_key: "not a key".to_owned(), ..signed() }, AuditError::MalformedPublicKey),
            (SignedCheckpoint { signature: "short".to_owned(), ..signed() }, AuditError::MalformedSignature),
        ];
        for (checkpoint, expected) in cases {
            assert_eq!(verify_checkpoint(&checkpoint), Err(expected));
        }
        let unsignable = Checkpoint { root_hash: "xyz".to_owned(), ..checkpoint() };
        assert_eq!(
            sign_checkpoint(&unsignable, &territory_key()),
            Err(AuditError::MalformedHex { field: "root_hash" })
        );
    }

    #[test]
    fn a_tree_size_beyond_exact_json_integers_cannot_be_signed() {
        let huge = Checkpoint { tree_size: ygor_crypto::MAX_SAFE_INTEGER + 1, ..checkpoint() };
        assert!(matches!(sign_checkpoint(&huge, &territory_key()), Err(AuditError::Canonicalization(_))));
    }

    #[test]
    fn the_answer_of_get_audit_checkpoint_parses_and_verifies() {
        let text = serde_json::to_string(&signed()).expect("serialises");
        let parsed: SignedCheckpoint = serde_json::from_str(&text).expect("parses");
        assert_eq!(verify_checkpoint(&parsed), Ok(()));
        let with_extra = text.replacen('{', "{\"extra\":1,", 1);
        assert!(serde_json::from_str::<SignedCheckpoint>(&with_extra).is_err());
    }
}
