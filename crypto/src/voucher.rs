//! Vouchers: a citizen's short-lived, single-use authorisation to spend, signed by the territory.
//!
//! A citizen asks for a voucher with their token and hands it to a venue (as a QR code, say),
//! which puts it in its signed redemption. The venue never sees the citizen's token, and the
//! server can trust the claims without a database lookup because the territory key signed them.
//! Issuing writes nothing: single use is enforced on `voucher_id` at redemption, and expiry is
//! checked there against the caller's clock.
//!
//! Text form: `"v1." + base64url(JCS(claims)) + "." + base64url(signature)`, where the signature
//! is over `"ygor/voucher/v1\n" + JCS(claims)`. Every part is URL-safe and unpadded.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::keys::{decode_base64url_exact, encode_base64url};
use crate::{CryptoError, PublicKey, SecretKey, Signature, SignedKind, canonical_json};

/// The version tag that starts every voucher; a new shape gets a new tag.
pub const VOUCHER_PREFIX: &str = "v1.";

/// The longest voucher text [`open_voucher`] reads, in bytes. Real vouchers are about 350 bytes;
/// the limit stops oversized input before any decoding.
pub const MAX_VOUCHER_BYTES: usize = 1024;

/// What a voucher says. Unknown fields are refused, so that no claim is ever ignored silently.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VoucherClaims {
    /// Unique per voucher; redemption records it to enforce single use.
    pub voucher_id: uuid::Uuid,
    /// The citizen whose wallet pays.
    pub citizen_id: uuid::Uuid,
    /// The most tokens a redemption with this voucher may take.
    pub amount_max: u64,
    /// When the territory issued it.
    pub issued_at: DateTime<Utc>,
    /// After this instant the voucher is refused (checked by the caller, who has the clock).
    pub expires_at: DateTime<Utc>,
    /// The offer the voucher was issued for, if any: it redeems that offer only. Absent from
    /// the claims (not `null`) when there is none, so vouchers without an offer keep their shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_id: Option<uuid::Uuid>,
}

/// The context of a voucher's countermark.
const COUNTERMARK_CONTEXT: &str = "ygor/countermark/v1";

/// The countermark of a voucher: the 8-character code that stands for it at a venue's desk, the
/// first 40 bits of `SHA-256("ygor/countermark/v1\n" ‖ voucher text)` in Crockford's base32.
/// Derived rather than drawn, so the audit recomputes it from the voucher the log records.
pub fn voucher_countermark(voucher_text: &str) -> String {
    crate::short_code::derived_short_code(COUNTERMARK_CONTEXT, voucher_text.as_bytes())
}

/// The canonical JSON bytes of the claims, which are both the voucher's payload and (after the
/// context line) the signed message.
fn canonical_claims(claims: &VoucherClaims) -> Result<Vec<u8>, CryptoError> {
    let value = serde_json::to_value(claims).map_err(|error| CryptoError::Canonicalization(error.to_string()))?;
    canonical_json(&value)
}

/// The signed message for a canonical claims payload.
fn voucher_message(payload: &[u8]) -> Vec<u8> {
    let context = SignedKind::Voucher.context();
    let mut message = Vec::with_capacity(context.len() + 1 + payload.len());
    message.extend_from_slice(context.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(payload);
    message
}

/// Issues a voucher: the opaque, URL-safe text a citizen hands to a venue.
///
/// Fails only if `amount_max` is above 2^53 − 1, which JSON cannot carry exactly.
pub fn issue_voucher(claims: &VoucherClaims, territory_key: &SecretKey) -> Result<String, CryptoError> {
    let payload = canonical_claims(claims)?;
    let signature = territory_key.sign(&voucher_message(&payload));
    let text = format!("{VOUCHER_PREFIX}{}.{signature}", encode_base64url(&payload));
    // The claims have a bounded size (two UUIDs, a 16-digit amount, two timestamps), so the text
    // always fits; this guards the limit against a future field.
    assert!(text.len() <= MAX_VOUCHER_BYTES, "an issued voucher must fit in MAX_VOUCHER_BYTES");
    Ok(text)
}

/// Reads a voucher and returns its claims once the territory's signature is verified.
///
/// Refuses, as [`CryptoError::MalformedVoucher`] with the reason: text longer than
/// [`MAX_VOUCHER_BYTES`], a wrong prefix or shape, bad base64url, a signature that does not
/// verify with `territory_key`, claims that are not the expected JSON (missing or unknown fields,
/// wrong types) and claims not in their canonical form (so each voucher has one text).
///
/// The signature is checked before the claims are parsed, so no unauthenticated JSON is ever
/// interpreted. Expiry is **not** checked: compare `expires_at` with the current time.
pub fn open_voucher(text: &str, territory_key: &PublicKey) -> Result<VoucherClaims, CryptoError> {
    let refuse = |reason: &str| CryptoError::MalformedVoucher(reason.to_owned());
    if text.len() > MAX_VOUCHER_BYTES {
        return Err(refuse("the text is longer than 1024 bytes"));
    }
    let body = text.strip_prefix(VOUCHER_PREFIX).ok_or_else(|| refuse("the text does not start with \"v1.\""))?;
    let (payload_text, signature_text) =
        body.split_once('.').ok_or_else(|| refuse("expected \"v1.<claims>.<signature>\""))?;
    let payload =
        URL_SAFE_NO_PAD.decode(payload_text).map_err(|_| refuse("the claims part is not base64url without padding"))?;
    let signature_bytes = decode_base64url_exact::<64>(signature_text)
        .ok_or_else(|| refuse("the signature part is not the base64url text (no padding) of 64 bytes"))?;
    let signature = Signature::from_bytes(&signature_bytes);
    territory_key
        .verify(&voucher_message(&payload), &signature)
        .map_err(|_| refuse("the signature does not verify with the territory key"))?;
    let claims: VoucherClaims = serde_json::from_slice(&payload)
        .map_err(|error| CryptoError::MalformedVoucher(format!("the claims are not valid: {error}")))?;
    if canonical_claims(&claims)? != payload {
        return Err(refuse("the claims are not in canonical form"));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn territory_key() -> SecretKey {
        SecretKey::from_seed(&[9; 32])
    }

    fn claims() -> VoucherClaims {
        let issued_at = Utc.with_ymd_and_hms(2026, 7, 14, 9, 30, 0).single().expect("valid date");
        VoucherClaims {
            voucher_id: uuid::Uuid::from_u128(0x0f8f_ad5b_d9cb_469f_a165_7086_7728_950e),
            citizen_id: uuid::Uuid::from_u128(0x16fd_2706_8baf_433b_82eb_8c7f_ada8_47da),
            amount_max: 25,
            issued_at,
            expires_at: issued_at + chrono::Duration::minutes(10),
            offer_id: None,
        }
    }

    #[test]
    fn a_voucher_for_an_offer_names_it_and_one_without_keeps_its_shape() {
        let plain = issue_voucher(&claims(), &territory_key()).expect("issues");
        let payload = URL_SAFE_NO_PAD.decode(plain.split('.').nth(1).expect("claims")).expect("base64url");
        assert!(!String::from_utf8(payload).expect("UTF-8").contains("offer_id"));
        let offer = uuid::Uuid::from_u128(7);
        let for_offer = VoucherClaims { offer_id: Some(offer), ..claims() };
        let text = issue_voucher(&for_offer, &territory_key()).expect("issues");
        assert_eq!(open_voucher(&text, &territory_key().public_key()).expect("opens").offer_id, Some(offer));
        assert_ne!(voucher_countermark(&text), voucher_countermark(&plain));
        assert_eq!(voucher_countermark(&text).len(), 8);
    }

    fn is_malformed_voucher(result: &Result<VoucherClaims, CryptoError>) -> bool {
        matches!(result, Err(CryptoError::MalformedVoucher(_)))
    }

    /// Builds a voucher text from any payload, signed by the territory, to test what happens
    /// when the territory itself signed something odd.
    fn voucher_with_payload(payload: &[u8]) -> String {
        let signature = territory_key().sign(&voucher_message(payload));
        format!("v1.{}.{signature}", encode_base64url(payload))
    }

    #[test]
    fn issued_voucher_opens_to_the_same_claims() {
        // Given claims issued as a voucher by the territory
        let text = issue_voucher(&claims(), &territory_key()).expect("issues");
        // When the voucher is opened with the territory's public key
        let opened = open_voucher(&text, &territory_key().public_key());
        // Then the claims come back unchanged
        assert_eq!(opened, Ok(claims()));
    }

    #[test]
    fn voucher_with_sub_second_times_round_trips() {
        let mut precise = claims();
        precise.issued_at += chrono::Duration::nanoseconds(123_456_789);
        let text = issue_voucher(&precise, &territory_key()).expect("issues");
        assert_eq!(open_voucher(&text, &territory_key().public_key()), Ok(precise));
    }

    #[test]
    fn voucher_text_is_url_safe_and_has_the_documented_shape() {
        // Given an issued voucher
        let text = issue_voucher(&claims(), &territory_key()).expect("issues");
        // Then it is "v1." + base64url(JCS(claims)) + "." + base64url(signature)
        let parts: Vec<&str> = text.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "v1");
        let payload = URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url");
        assert_eq!(
            String::from_utf8(payload.clone()).expect("UTF-8"),
            "{\"amount_max\":25,\"citizen_id\":\"16fd2706-8baf-433b-82eb-8c7fada847da\",\"expires_at\":\"2026-07-14T09:40:00Z\",\"issued_at\":\"2026-07-14T09:30:00Z\",\"voucher_id\":\"0f8fad5b-d9cb-469f-a165-70867728950e\"}"
        );
        let mut message = b"ygor/voucher/v1\n".to_vec();
        message.extend_from_slice(&payload);
        let signature = Signature::parse(parts[2]).expect("signature text");
        assert_eq!(territory_key().public_key().verify(&message, &signature), Ok(()));
        assert!(text.chars().all(|character| character.is_ascii_alphanumeric() || "-_.".contains(character)));
    }

    #[test]
    fn voucher_with_altered_claims_is_refused() {
        // Given a voucher whose claims are replaced by richer ones, keeping the signature
        let text = issue_voucher(&claims(), &territory_key()).expect("issues");
        let signature = text.rsplit('.').next().expect("signature part");
        let mut richer = claims();
        richer.amount_max = 25_000;
        let forged_payload = canonical_claims(&richer).expect("canonical");
        let forged = format!("v1.{}.{signature}", encode_base64url(&forged_payload));
        // When it is opened, then it is refused
        assert!(is_malformed_voucher(&open_voucher(&forged, &territory_key().public_key())));
    }

    #[test]
    fn voucher_with_an_altered_signature_is_refused() {
        let text = issue_voucher(&claims(), &territory_key()).expect("issues");
        let (head, signature) = text.rsplit_once('.').expect("signature part");
        let mut bytes = Signature::parse(signature).expect("signature").to_bytes();
        bytes[0] ^= 1;
        let forged = format!("{head}.{}", Signature::from_bytes(&bytes));
        assert!(is_malformed_voucher(&open_voucher(&forged, &territory_key().public_key())));
    }

    #[test]
    fn voucher_signed_by_another_key_is_refused() {
        let text = issue_voucher(&claims(), &SecretKey::from_seed(&[10; 32])).expect("issues");
        let result = open_voucher(&text, &territory_key().public_key());
        assert_eq!(
            result,
            Err(CryptoError::MalformedVoucher("the signature does not verify with the territory key".to_owned()))
        );
    }

    #[test]
    fn voucher_longer_than_1024_bytes_is_refused_before_decoding() {
        let text = issue_voucher(&claims(), &territory_key()).expect("issues");
        let oversized = format!("{text}{}", "A".repeat(MAX_VOUCHER_BYTES));
        assert_eq!(
            open_voucher(&oversized, &territory_key().public_key()),
            Err(CryptoError::MalformedVoucher("the text is longer than 1024 bytes".to_owned()))
        );
    }

    #[test]
    fn voucher_with_a_wrong_prefix_or_shape_is_refused() {
        let key = territory_key().public_key();
        let text = issue_voucher(&claims(), &territory_key()).expect("issues");
        let body = text.strip_prefix("v1.").expect("prefix");
        let bad_texts = [
            format!("v2.{body}"),
            body.to_owned(),
            format!("v1.{}", body.replace('.', "")),
            format!("{text}.extra"),
            String::new(),
            "v1..".to_owned(),
        ];
        for bad in bad_texts {
            assert!(is_malformed_voucher(&open_voucher(&bad, &key)), "{bad}");
        }
    }

    #[test]
    fn voucher_with_padding_or_bad_base64_is_refused() {
        let key = territory_key().public_key();
        let text = issue_voucher(&claims(), &territory_key()).expect("issues");
        let (head, signature) = text.rsplit_once('.').expect("signature part");
        for bad in [
            format!("{head}.{signature}=="),
            format!("{head}=.{signature}"),
            text.replacen('-', "+", 1).replacen('_', "/", 1),
            format!("{head}!.{signature}"),
        ] {
            if bad != text {
                assert!(is_malformed_voucher(&open_voucher(&bad, &key)), "{bad}");
            }
        }
    }

    #[test]
    fn voucher_with_unknown_or_missing_fields_is_refused_even_if_signed() {
        // Given payloads signed by the territory but not matching the claims' shape
        let key = territory_key().public_key();
        let mut with_extra = serde_json::to_value(claims()).expect("serialises");
        with_extra["scope"] = serde_json::json!("everything");
        let mut without_amount = serde_json::to_value(claims()).expect("serialises");
        without_amount.as_object_mut().expect("object").remove("amount_max");
        for payload in [with_extra, without_amount] {
            let text = voucher_with_payload(&canonical_json(&payload).expect("canonical"));
            // When they are opened, then they are refused
            assert!(is_malformed_voucher(&open_voucher(&text, &key)), "{payload}");
        }
        let not_json = voucher_with_payload(b"not json");
        assert!(is_malformed_voucher(&open_voucher(&not_json, &key)));
    }

    #[test]
    fn voucher_with_non_canonical_claims_is_refused_even_if_signed() {
        let pretty = serde_json::to_vec_pretty(&claims()).expect("serialises");
        let text = voucher_with_payload(&pretty);
        assert_eq!(
            open_voucher(&text, &territory_key().public_key()),
            Err(CryptoError::MalformedVoucher("the claims are not in canonical form".to_owned()))
        );
    }

    #[test]
    fn voucher_is_opened_even_when_expired_because_the_caller_checks_time() {
        let mut old = claims();
        old.issued_at -= chrono::Duration::days(400);
        old.expires_at -= chrono::Duration::days(400);
        let text = issue_voucher(&old, &territory_key()).expect("issues");
        assert_eq!(open_voucher(&text, &territory_key().public_key()), Ok(old));
    }

    #[test]
    fn voucher_for_an_amount_json_cannot_carry_exactly_is_not_issued() {
        let mut huge = claims();
        huge.amount_max = u64::MAX;
        assert!(matches!(issue_voucher(&huge, &territory_key()), Err(CryptoError::Canonicalization(_))));
    }
}
