//! Signed JSON objects: certifications, redemptions, checkpoints and vouchers.
//!
//! A signed object is a JSON object with a `signature` field. The signed message is the ASCII
//! context string of the object's kind, a newline, then the RFC 8785 canonical form of the object
//! without `signature` (and, for a checkpoint, without `public_key`, which only tells the reader
//! which key to use). The context string binds a signature to one kind of object, so a signed
//! certification can never be replayed as a redemption even if the fields happened to line up.

use std::fmt;

use serde_json::{Map, Value};

use crate::{CryptoError, PublicKey, SecretKey, Signature};

/// The name of the field that carries an object's signature.
pub const SIGNATURE_FIELD: &str = "signature";

/// The name of the field a checkpoint uses to say which key signed it.
pub const PUBLIC_KEY_FIELD: &str = "public_key";

/// The kinds of signed objects, each with its own context string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignedKind {
    /// An association certifies a citizen's action (`POST /v1/certifications`).
    Certification,
    /// A venue redeems a citizen's voucher (`POST /v1/redemptions`).
    Redemption,
    /// The territory signs the head of the audit log (`GET /v1/audit/checkpoint`).
    Checkpoint,
    /// The territory authorises a citizen to spend (see [`crate::issue_voucher`]).
    Voucher,
}

impl SignedKind {
    /// The context string that starts every message of this kind. It is versioned so that a
    /// future change of the signed shape gets a new string instead of a silent reinterpretation.
    pub fn context(&self) -> &'static str {
        match self {
            SignedKind::Certification => "ygor/certification/v1",
            SignedKind::Redemption => "ygor/redemption/v1",
            SignedKind::Checkpoint => "ygor/checkpoint/v1",
            SignedKind::Voucher => "ygor/voucher/v1",
        }
    }

    /// The fields left out of the signed message.
    fn excluded_fields(&self) -> &'static [&'static str] {
        match self {
            SignedKind::Checkpoint => &[SIGNATURE_FIELD, PUBLIC_KEY_FIELD],
            SignedKind::Certification | SignedKind::Redemption | SignedKind::Voucher => &[SIGNATURE_FIELD],
        }
    }
}

impl fmt::Display for SignedKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.context())
    }
}

/// Builds the exact bytes that are signed for an object of the given kind:
/// `context + "\n" + JCS(object minus "signature")` (for a checkpoint, minus `public_key` too).
pub fn signing_message(kind: SignedKind, object: &Map<String, Value>) -> Result<Vec<u8>, CryptoError> {
    let canonical = crate::canonical::canonical_object_without(object, kind.excluded_fields())?;
    let context = kind.context();
    let mut message = Vec::with_capacity(context.len() + 1 + canonical.len());
    message.extend_from_slice(context.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(&canonical);
    Ok(message)
}

/// Signs an object and returns it with its `signature` field set, replacing any earlier one.
///
/// A checkpoint's `public_key` field is not touched: the caller sets it if it wants readers to
/// see which key signed.
pub fn sign_object(
    kind: SignedKind,
    mut object: Map<String, Value>,
    key: &SecretKey,
) -> Result<Map<String, Value>, CryptoError> {
    let message = signing_message(kind, &object)?;
    let signature = key.sign(&message);
    object.insert(SIGNATURE_FIELD.to_owned(), Value::String(signature.to_string()));
    Ok(object)
}

/// Verifies the `signature` field of an object of the given kind and returns the signature, so
/// that the caller can store it with the event.
///
/// Errors: [`CryptoError::MissingSignature`] when there is no `signature` field,
/// [`CryptoError::MalformedSignature`] when it is not the text of 64 bytes, and
/// [`CryptoError::InvalidSignature`] when it does not verify (another content, another kind or
/// another key). Verification is ed25519's strict one (see [`PublicKey::verify`]).
pub fn verify_object(kind: SignedKind, object: &Map<String, Value>, key: &PublicKey) -> Result<Signature, CryptoError> {
    verify_object_message(kind, object, key).map(|(signature, _)| signature)
}

/// [`verify_object`], returning the signed message too (for a fingerprint of the request), so
/// that it is built once.
pub fn verify_object_message(
    kind: SignedKind,
    object: &Map<String, Value>,
    key: &PublicKey,
) -> Result<(Signature, Vec<u8>), CryptoError> {
    let (signature, message) = signature_and_message(kind, object)?;
    key.verify(&message, &signature)?;
    Ok((signature, message))
}

/// The signature an object carries and the message it must cover, not yet verified: what
/// [`verify_batch`] takes for each object of a batch.
///
/// Errors: [`CryptoError::MissingSignature`] and [`CryptoError::MalformedSignature`] as for
/// [`verify_object`], and those of the canonical form.
pub fn signature_and_message(
    kind: SignedKind,
    object: &Map<String, Value>,
) -> Result<(Signature, Vec<u8>), CryptoError> {
    let signature = match object.get(SIGNATURE_FIELD) {
        None => return Err(CryptoError::MissingSignature),
        Some(Value::String(text)) => Signature::parse(text)?,
        Some(_) => return Err(CryptoError::MalformedSignature),
    };
    Ok((signature, signing_message(kind, object)?))
}

/// Verifies many signatures at once, each over its own message with its own key.
///
/// This uses ed25519-dalek's batch verification (its `batch` feature, enabled in this crate),
/// which checks one random linear combination of all the verification equations and costs about
/// half of verifying one by one; that is what the audit needs when it re-checks a whole log. The
/// random coefficients are derived from the inputs themselves, so the result is deterministic.
///
/// Two limits come with batching. First, a failure does not say which signature is bad: the
/// error is [`CryptoError::InvalidSignature`] for the whole batch, and
/// [`invalid_signature_indexes`] finds the culprits one by one. Second, the batch equation is
/// ed25519's permissive one: every signature that [`verify_object`] and [`PublicKey::verify`]
/// accept also passes here, but a signature crafted by a key's owner with small-order components
/// might pass here although strict verification refuses it. Signatures are checked strictly on
/// arrival, so the audit never refuses something the server accepted.
///
/// An empty batch is valid.
pub fn verify_batch(items: &[(Vec<u8>, Signature, PublicKey)]) -> Result<(), CryptoError> {
    if items.is_empty() {
        return Ok(());
    }
    let messages: Vec<&[u8]> = items.iter().map(|(message, _, _)| message.as_slice()).collect();
    let signatures: Vec<ed25519_dalek::Signature> = items.iter().map(|(_, signature, _)| *signature.inner()).collect();
    let keys: Vec<ed25519_dalek::VerifyingKey> = items.iter().map(|(_, _, key)| *key.verifying_key()).collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).map_err(|_| CryptoError::InvalidSignature)
}

/// Returns the positions (in `items`) of the signatures that do not verify strictly, in order.
/// It verifies one by one, so it is meant for after [`verify_batch`] has failed.
pub fn invalid_signature_indexes(items: &[(Vec<u8>, Signature, PublicKey)]) -> Vec<usize> {
    items
        .iter()
        .enumerate()
        .filter(|(_, (message, signature, key))| key.verify(message, signature).is_err())
        .map(|(index, _)| index)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("test fixture is not an object: {other}"),
        }
    }

    fn certification() -> Map<String, Value> {
        object(json!({
            "action_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
            "association_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "citizen_id": "16fd2706-8baf-433b-82eb-8c7fada847da",
            "category": "ecologie",
            "quantity": 3,
            "occurred_at": "2026-07-14T09:30:00Z"
        }))
    }

    fn association_key() -> SecretKey {
        SecretKey::from_seed(&[42; 32])
    }

    #[test]
    fn each_kind_has_its_own_versioned_context_string() {
        assert_eq!(SignedKind::Certification.context(), "ygor/certification/v1");
        assert_eq!(SignedKind::Redemption.context(), "ygor/redemption/v1");
        assert_eq!(SignedKind::Checkpoint.context(), "ygor/checkpoint/v1");
        assert_eq!(SignedKind::Voucher.context(), "ygor/voucher/v1");
    }

    #[test]
    fn signing_message_is_context_newline_and_canonical_object_without_signature() {
        // Given an object that already carries a signature field
        let mut certification = object(json!({"b": 2, "a": "x", "signature": "anything"}));
        certification.insert("c".to_owned(), json!(4.50));
        // When its signing message is built
        let message = signing_message(SignedKind::Certification, &certification).expect("message builds");
        // Then it is the context, a newline and the JCS form without "signature"
        assert_eq!(
            String::from_utf8(message).expect("UTF-8"),
            "ygor/certification/v1\n{\"a\":\"x\",\"b\":2,\"c\":4.5}"
        );
    }

    #[test]
    fn checkpoint_message_also_leaves_out_the_public_key() {
        let checkpoint = object(json!({
            "tree_size": 3,
            "root_hash": "ab",
            "signed_at": "2026-01-01T00:00:00Z",
            "signature": "x",
            "public_key": "y"
        }));
        let message = signing_message(SignedKind::Checkpoint, &checkpoint).expect("builds");
        assert_eq!(
            String::from_utf8(message).expect("UTF-8"),
            "ygor/checkpoint/v1\n{\"root_hash\":\"ab\",\"signed_at\":\"2026-01-01T00:00:00Z\",\"tree_size\":3}"
        );
        // For other kinds a "public_key" field is an ordinary, signed field.
        let message = signing_message(SignedKind::Redemption, &checkpoint).expect("builds");
        assert!(String::from_utf8(message).expect("UTF-8").contains("\"public_key\":\"y\""));
    }

    #[test]
    fn signed_object_verifies_with_the_signers_public_key() {
        // Given a certification signed by an association
        let key = association_key();
        let signed = sign_object(SignedKind::Certification, certification(), &key).expect("signs");
        // When it is verified as a certification with the association's public key
        let result = verify_object(SignedKind::Certification, &signed, &key.public_key());
        // Then it is accepted and the returned signature is the one in the object
        let signature = result.expect("verifies");
        assert_eq!(signed.get("signature"), Some(&json!(signature.to_string())));
    }

    #[test]
    fn signing_replaces_an_existing_signature() {
        let key = association_key();
        let mut unsigned = certification();
        unsigned.insert("signature".to_owned(), json!("stale"));
        let signed = sign_object(SignedKind::Certification, unsigned, &key).expect("signs");
        assert_ne!(signed.get("signature"), Some(&json!("stale")));
        assert!(verify_object(SignedKind::Certification, &signed, &key.public_key()).is_ok());
    }

    #[test]
    fn tampering_with_any_field_invalidates_the_signature() {
        // Given a signed certification
        let key = association_key();
        let signed = sign_object(SignedKind::Certification, certification(), &key).expect("signs");
        let names: Vec<String> = certification().keys().cloned().collect();
        for name in names {
            // When any one field is changed
            let mut tampered = signed.clone();
            tampered.insert(name.clone(), json!("tampered"));
            // Then verification fails
            assert_eq!(
                verify_object(SignedKind::Certification, &tampered, &key.public_key()),
                Err(CryptoError::InvalidSignature),
                "changing {name} must break the signature"
            );
        }
    }

    #[test]
    fn adding_or_removing_a_field_invalidates_the_signature() {
        let key = association_key();
        let signed = sign_object(SignedKind::Certification, certification(), &key).expect("signs");
        let mut added = signed.clone();
        added.insert("extra".to_owned(), json!(1));
        let mut removed = signed.clone();
        removed.remove("quantity");
        for tampered in [added, removed] {
            assert_eq!(
                verify_object(SignedKind::Certification, &tampered, &key.public_key()),
                Err(CryptoError::InvalidSignature)
            );
        }
    }

    #[test]
    fn certification_signature_does_not_verify_as_a_redemption() {
        // Given a signed certification
        let key = association_key();
        let signed = sign_object(SignedKind::Certification, certification(), &key).expect("signs");
        // When it is verified as a redemption
        let result = verify_object(SignedKind::Redemption, &signed, &key.public_key());
        // Then the context string makes it fail
        assert_eq!(result, Err(CryptoError::InvalidSignature));
    }

    #[test]
    fn signature_does_not_verify_with_another_key() {
        let signed = sign_object(SignedKind::Certification, certification(), &association_key()).expect("signs");
        let other = SecretKey::from_seed(&[43; 32]).public_key();
        assert_eq!(verify_object(SignedKind::Certification, &signed, &other), Err(CryptoError::InvalidSignature));
    }

    #[test]
    fn member_order_and_number_spelling_do_not_affect_verification() {
        // Given a certification signed as one JSON text
        let key = association_key();
        let signed = sign_object(SignedKind::Certification, certification(), &key).expect("signs");
        let signature = signed.get("signature").cloned().expect("signature set");
        // When a verifier receives the same object written differently
        let text = format!(
            r#"{{"signature": {signature}, "quantity": 3.0, "occurred_at": "2026-07-14T09:30:00Z",
                "category": "\u0065cologie", "citizen_id": "16fd2706-8baf-433b-82eb-8c7fada847da",
                "association_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                "action_id": "0f8fad5b-d9cb-469f-a165-70867728950e"}}"#
        );
        let received: Map<String, Value> = serde_json::from_str(&text).expect("valid JSON");
        // Then the signature still verifies
        assert!(verify_object(SignedKind::Certification, &received, &key.public_key()).is_ok());
    }

    #[test]
    fn missing_signature_is_reported_as_missing() {
        assert_eq!(
            verify_object(SignedKind::Certification, &certification(), &association_key().public_key()),
            Err(CryptoError::MissingSignature)
        );
    }

    #[test]
    fn signature_that_is_not_a_64_byte_text_is_reported_as_malformed() {
        let key = association_key().public_key();
        for bad in [json!(null), json!(12), json!("abc"), json!("")] {
            let mut object = certification();
            object.insert("signature".to_owned(), bad.clone());
            assert_eq!(
                verify_object(SignedKind::Certification, &object, &key),
                Err(CryptoError::MalformedSignature),
                "signature {bad}"
            );
        }
    }

    #[test]
    fn object_with_an_inexact_integer_cannot_be_signed() {
        let mut unsigned = certification();
        unsigned.insert("quantity".to_owned(), json!(u64::MAX));
        assert!(matches!(
            sign_object(SignedKind::Certification, unsigned, &association_key()),
            Err(CryptoError::Canonicalization(_))
        ));
    }

    #[test]
    fn rfc_8032_test_vector_1_is_reproduced() {
        // Given the secret key of RFC 8032 section 7.1, TEST 1
        let seed: [u8; 32] = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        let key = SecretKey::from_seed(&seed);
        // When it signs the empty message
        let signature = key.sign(b"");
        // Then the public key and the signature are the RFC's
        assert_eq!(
            hex::encode(key.public_key().to_bytes()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex::encode(signature.to_bytes()),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    /// RFC 8032 section 7.1, TESTS 1 to 3: (public key, message, signature), in hexadecimal.
    const RFC_8032_VECTORS: [(&str, &str, &str); 3] = [
        (
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
    ];

    #[test]
    fn rfc_8032_signatures_verify_with_the_backend_this_cpu_runs() {
        // curve25519-dalek picks its arithmetic (IFMA, AVX2 or portable) when the process starts
        // (decision 19): whichever it picked here must accept the RFC's signatures, singly and in
        // a batch, and refuse each of them once one bit of the message or signature is flipped.
        let mut items = Vec::new();
        for (public, message, signature) in RFC_8032_VECTORS {
            let key = PublicKey::from_bytes(&hex::decode(public).expect("hex").try_into().expect("32 bytes"))
                .expect("a valid key");
            let message = hex::decode(message).expect("hex");
            let signature = Signature::from_bytes(&hex::decode(signature).expect("hex").try_into().expect("64 bytes"));
            key.verify(&message, &signature).expect("the RFC's signature verifies");

            let mut flipped = signature.to_bytes();
            flipped[0] ^= 1;
            assert!(key.verify(&message, &Signature::from_bytes(&flipped)).is_err());
            flipped = signature.to_bytes();
            flipped[40] ^= 0x10;
            assert!(key.verify(&message, &Signature::from_bytes(&flipped)).is_err());
            let mut longer = message.clone();
            longer.push(0);
            assert!(key.verify(&longer, &signature).is_err());
            items.push((message, signature, key));
        }
        verify_batch(&items).expect("the batch verifies");
        items[1].0.push(0);
        assert!(verify_batch(&items).is_err());
        assert_eq!(invalid_signature_indexes(&items), vec![1]);
    }

    #[test]
    fn signed_certification_matches_the_pinned_known_answer() {
        // Given a fixed key and a fixed certification (ed25519 signatures are deterministic)
        let key = association_key();
        // When it is signed
        let signed = sign_object(SignedKind::Certification, certification(), &key).expect("signs");
        // Then the key and the signature are the pinned ones, which an independent ed25519 and
        // JCS implementation (Python's `cryptography`) produced too. An auditor re-implementing
        // the format can check against them, and any change to the message format breaks this.
        assert_eq!(key.public_key().to_string(), PINNED_PUBLIC_KEY);
        assert_eq!(signed.get("signature"), Some(&json!(PINNED_SIGNATURE)));
    }

    const PINNED_PUBLIC_KEY: &str = "GX9rI-FshTLGq8g4-s1ep4m-DHaykgM0A5v6iz02jWE";
    const PINNED_SIGNATURE: &str =
        "O4q-gOad46hrj2cpS5JXdUpJ9NZhyZir8UhUKgAFv6fhsr7g0urQL0I0iuSv3tJP3gY5vGDUgQPRlwpLJseBBA";

    fn batch_of(count: u8) -> Vec<(Vec<u8>, Signature, PublicKey)> {
        (0..count)
            .map(|index| {
                let key = SecretKey::from_seed(&[index; 32]);
                let message = format!("ygor/certification/v1\n{{\"n\":{index}}}").into_bytes();
                let signature = key.sign(&message);
                (message, signature, key.public_key())
            })
            .collect()
    }

    #[test]
    fn batch_of_good_signatures_is_accepted() {
        assert_eq!(verify_batch(&batch_of(16)), Ok(()));
        assert_eq!(verify_batch(&batch_of(1)), Ok(()));
        assert_eq!(verify_batch(&[]), Ok(()));
    }

    #[test]
    fn batch_with_one_bad_signature_is_rejected_and_the_culprit_can_be_found() {
        // Given a batch of good signatures where one message was altered after signing
        let mut items = batch_of(16);
        items[5].0.push(b' ');
        // When the batch is verified
        let result = verify_batch(&items);
        // Then the whole batch is refused, and checking one by one names the altered item
        assert_eq!(result, Err(CryptoError::InvalidSignature));
        assert_eq!(invalid_signature_indexes(&items), vec![5]);
    }

    #[test]
    fn batch_with_a_signature_under_the_wrong_key_is_rejected() {
        let mut items = batch_of(4);
        items[2].2 = items[3].2;
        assert_eq!(verify_batch(&items), Err(CryptoError::InvalidSignature));
        assert_eq!(invalid_signature_indexes(&items), vec![2]);
    }
}
