//! The one place events are encoded for the log and decoded from it, by every writer and reader
//! (the engine, the projections, the replay, the audit).
//!
//! Every event variant has a stored name (`event_type`, the variant's name) and a version
//! (`event_version`) of its stored shape. A reader decodes by (event type, version): the current
//! version straight into the event enum, an older one by first rewriting its JSON into the
//! current shape (an upcaster), never by guessing. A version this build does not know, a type it
//! does not know, or a payload that holds another variant than its `event_type` says is an error
//! that names what was found: a log written by a newer Ygor is refused, not misread.
//!
//! Writers store each payload in its RFC 8785 canonical form, so that the log holds one spelling
//! of each event and the audit leaf can be hashed from the stored text as it is.

use cqrs_es::persist::SerializedEvent;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use thiserror::Error;

use crate::books::AnyEvent;
use crate::ids::{CitizenId, DrawId, MissionId, PartnerId};

/// Rewrites the JSON payload of an older version of an event into the current shape.
pub type Upcaster = fn(&mut Value);

/// An event enum whose variants are stored under their name and a version of their shape.
/// Implemented by `domain_event!` for every aggregate's events.
pub trait Versioned: Serialize + DeserializeOwned {
    /// The aggregate type whose streams hold these events.
    const AGGREGATE_TYPE: &'static str;

    /// The stored `event_type`: the variant's name.
    fn kind(&self) -> &'static str;

    /// The version of the variant's current shape, written with every new event.
    fn version(&self) -> &'static str;

    /// The current version of the variant named `kind`, if there is such a variant.
    fn current_version(kind: &str) -> Option<&'static str>;

    /// The upcaster of an older `version` of `kind`, if this build can read that version.
    fn upcaster(kind: &str, version: &str) -> Option<Upcaster>;
}

/// A stored payload: JSON text (as the database stores it) or a parsed JSON value (as the
/// cqrs-es repositories return it). Both spellings of the same JSON decode to the same event.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    Text(&'a str),
    Value(&'a Value),
}

impl Payload<'_> {
    fn parse<T: DeserializeOwned>(self) -> Result<T, serde_json::Error> {
        match self {
            Payload::Text(text) => serde_json::from_str(text),
            Payload::Value(value) => T::deserialize(value),
        }
    }
}

#[derive(Debug, Error)]
pub enum DecodeError {
    #[error("unknown aggregate type `{0}`")]
    UnknownAggregateType(String),
    #[error("aggregate id `{0}` is not a UUID")]
    BadAggregateId(String),
    #[error("unknown event type `{event_type}` for a {aggregate_type}")]
    UnknownEventType { aggregate_type: &'static str, event_type: String },
    #[error(
        "{event_type} version {event_version} is not one this build reads (it writes version {current}); \
         the log was written by another version of Ygor"
    )]
    UnknownVersion { event_type: String, event_version: String, current: &'static str },
    #[error("payload of {event_type} v{event_version} does not decode: {source}")]
    Payload { event_type: String, event_version: String, source: serde_json::Error },
    #[error("the payload of a {event_type} event holds a {found}")]
    Mismatch { event_type: String, found: &'static str },
}

/// Decodes one stored event of an aggregate of type `E::AGGREGATE_TYPE`.
pub fn decode<E: Versioned>(event_type: &str, event_version: &str, payload: Payload<'_>) -> Result<E, DecodeError> {
    let payload_error = |source| DecodeError::Payload {
        event_type: event_type.to_owned(),
        event_version: event_version.to_owned(),
        source,
    };
    let current = E::current_version(event_type).ok_or_else(|| DecodeError::UnknownEventType {
        aggregate_type: E::AGGREGATE_TYPE,
        event_type: event_type.to_owned(),
    })?;
    let event: E = if event_version == current {
        payload.parse().map_err(payload_error)?
    } else if let Some(upcast) = E::upcaster(event_type, event_version) {
        let mut value: Value = payload.parse().map_err(payload_error)?;
        upcast(&mut value);
        E::deserialize(value).map_err(payload_error)?
    } else {
        return Err(DecodeError::UnknownVersion {
            event_type: event_type.to_owned(),
            event_version: event_version.to_owned(),
            current,
        });
    };
    if event.kind() != event_type {
        return Err(DecodeError::Mismatch { event_type: event_type.to_owned(), found: event.kind() });
    }
    Ok(event)
}

/// Decodes one stored event of any aggregate, with the id of its stream.
pub fn decode_any(
    aggregate_type: &str,
    aggregate_id: &str,
    event_type: &str,
    event_version: &str,
    payload: Payload<'_>,
) -> Result<AnyEvent, DecodeError> {
    fn id<T>(text: &str, parse: fn(&str) -> Result<T, crate::ParseError>) -> Result<T, DecodeError> {
        parse(text).map_err(|_| DecodeError::BadAggregateId(text.to_owned()))
    }
    Ok(match aggregate_type {
        crate::territory::TerritoryEvent::AGGREGATE_TYPE => {
            AnyEvent::Territory(decode(event_type, event_version, payload)?)
        }
        crate::partner::PartnerEvent::AGGREGATE_TYPE => {
            AnyEvent::Partner(id(aggregate_id, PartnerId::parse)?, decode(event_type, event_version, payload)?)
        }
        crate::wallet::WalletEvent::AGGREGATE_TYPE => {
            AnyEvent::Wallet(id(aggregate_id, CitizenId::parse)?, decode(event_type, event_version, payload)?)
        }
        crate::mission::MissionEvent::AGGREGATE_TYPE => {
            AnyEvent::Mission(id(aggregate_id, MissionId::parse)?, decode(event_type, event_version, payload)?)
        }
        crate::draw::DrawEvent::AGGREGATE_TYPE => {
            AnyEvent::Draw(id(aggregate_id, DrawId::parse)?, decode(event_type, event_version, payload)?)
        }
        other => return Err(DecodeError::UnknownAggregateType(other.to_owned())),
    })
}

/// [`decode_any`] of an event as the cqrs-es repositories return it.
pub fn decode_serialized(event: &SerializedEvent) -> Result<AnyEvent, DecodeError> {
    decode_any(
        &event.aggregate_type,
        &event.aggregate_id,
        &event.event_type,
        &event.event_version,
        Payload::Value(&event.payload),
    )
}

/// An event in its stored form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub event_type: &'static str,
    pub event_version: &'static str,
    /// The payload's JSON text: its RFC 8785 canonical form when `canonical`.
    pub payload: String,
    /// False only for an event without a canonical form (an integer beyond what JSON carries
    /// exactly, 2^53); its compact text is stored, and the audit will report it.
    pub canonical: bool,
}

/// Encodes an event for the log, in its current version.
pub fn encode<E: Versioned>(event: &E) -> Result<Encoded, serde_json::Error> {
    let text = serde_json::to_string(event)?;
    // serde_json's compact text with its members sorted (the audit's text canonicaliser) is the
    // canonical form of the event's `Value`, without building one.
    let (payload, canonical) = match ygor_audit::canonical_text(&text) {
        Ok(canonical) => (canonical, true),
        Err(_) => (text, false),
    };
    Ok(Encoded { event_type: event.kind(), event_version: event.version(), payload, canonical })
}

/// Sets `field` of the JSON object at `path` (object keys from the payload's root) to `value`
/// when it is absent: the shape of most upcasters, which add a field a later version requires.
pub(crate) fn default_field(payload: &mut Value, path: &[&str], field: &str, value: Value) {
    let mut object = payload;
    for key in path {
        match object.get_mut(*key) {
            Some(inner) => object = inner,
            None => return,
        }
    }
    if let Some(map) = object.as_object_mut() {
        map.entry(field).or_insert(value);
    }
}

/// For event enums that have only ever had one version of each variant.
pub(crate) fn no_upcasters(_kind: &str, _version: &str) -> Option<Upcaster> {
    None
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use serde_json::json;

    use super::*;
    use crate::partner::PartnerEvent;
    use crate::wallet::{Demographics, WalletEvent};

    fn at() -> DateTime<chrono::Utc> {
        DateTime::from_timestamp(1_780_000_000, 0).expect("a time")
    }

    #[test]
    fn a_version_1_registration_without_demographics_is_upcast() {
        let stored = r#"{"CitizenRegistered":{"interests":["ecologie"],"registered_at":"2026-05-28T20:26:40Z"}}"#;
        let event: WalletEvent = decode("CitizenRegistered", "1", Payload::Text(stored)).expect("upcast");
        let WalletEvent::CitizenRegistered { demographics, interests, .. } = &event else {
            panic!("another event: {event:?}")
        };
        assert_eq!(demographics, &Demographics::default());
        assert_eq!(interests.len(), 1);
        // Written again, it is the current version, with the field present.
        let encoded = encode(&event).expect("encodes");
        assert_eq!((encoded.event_type, encoded.event_version), ("CitizenRegistered", "2"));
        assert!(encoded.payload.contains("\"demographics\""), "{}", encoded.payload);
        let again: WalletEvent = decode("CitizenRegistered", "2", Payload::Text(&encoded.payload)).expect("decodes");
        assert_eq!(again, event);
        // The current version requires it.
        assert!(matches!(
            decode::<WalletEvent>("CitizenRegistered", "2", Payload::Text(stored)),
            Err(DecodeError::Payload { .. })
        ));
    }

    #[test]
    fn a_version_1_certification_without_gold_is_upcast_from_text_and_from_a_value() {
        let action = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
        let wallet = json!({"ActionCertified": {
            "action_id": action, "association_id": action, "category": "ecologie", "quantity": 1,
            "occurred_at": "2026-05-28T20:26:40Z", "tokens": 10, "lot": null, "certified_at": "2026-05-28T20:26:40Z"
        }});
        let text = wallet.to_string();
        let from_text: WalletEvent = decode("ActionCertified", "1", Payload::Text(&text)).expect("upcast");
        let from_value: WalletEvent = decode("ActionCertified", "1", Payload::Value(&wallet)).expect("upcast");
        assert_eq!(from_text, from_value);
        assert!(matches!(from_text, WalletEvent::ActionCertified { gold: false, .. }));
    }

    #[test]
    fn an_unknown_version_or_type_or_a_mismatched_payload_is_refused() {
        let event = WalletEvent::InterestsChanged { interests: vec![], changed_at: at() };
        let encoded = encode(&event).expect("encodes");
        let payload = Payload::Text(&encoded.payload);
        let error = decode::<WalletEvent>("InterestsChanged", "7", payload).expect_err("unknown version");
        assert!(matches!(error, DecodeError::UnknownVersion { current: "1", .. }), "{error}");
        assert!(error.to_string().contains("version 7"), "{error}");
        let error = decode::<WalletEvent>("LotsRenamed", "1", payload).expect_err("unknown type");
        assert!(matches!(error, DecodeError::UnknownEventType { aggregate_type: "wallet", .. }), "{error}");
        let error = decode::<WalletEvent>("GoldSpent", "1", payload).expect_err("another variant");
        assert!(matches!(error, DecodeError::Mismatch { found: "InterestsChanged", .. }), "{error}");
        let error = decode_any("basket", "x", "InterestsChanged", "1", payload).expect_err("unknown aggregate");
        assert!(matches!(error, DecodeError::UnknownAggregateType(_)), "{error}");
    }

    #[test]
    fn an_event_is_stored_in_the_canonical_form_of_its_value_and_reads_back_as_itself() {
        let event = WalletEvent::CitizenRegistered {
            demographics: Demographics { neighbourhood: Some("Gare « Sud »\n".to_owned()), birth_year: Some(1984) },
            interests: vec![],
            registered_at: at(),
        };
        let encoded = encode(&event).expect("encodes");
        let value = serde_json::to_value(&event).expect("a value");
        let canonical = String::from_utf8(ygor_crypto::canonical_json(&value).expect("canonical")).expect("UTF-8");
        assert_eq!(encoded.payload, canonical);
        assert!(encoded.canonical);
        let id = "3f2504e0-4f89-41d3-9a0c-0305e82c3302";
        let decoded =
            decode_any("wallet", id, encoded.event_type, encoded.event_version, Payload::Text(&encoded.payload))
                .expect("decodes");
        assert_eq!(decoded, AnyEvent::Wallet(CitizenId::parse(id).expect("an id"), event));
    }

    #[test]
    fn published_rules_with_fractions_are_stored_canonically_and_read_back_exactly() {
        // The gold probability is a fraction: the canonicaliser's general path, and the float must
        // read back bit for bit.
        let source = include_str!("../../rules/tests/fixtures/sample_rules.toml");
        let rules = ygor_rules::Rules::parse(source).expect("the sample rules");
        let event = crate::territory::TerritoryEvent::RulesPublished {
            version: 2,
            rules,
            source: source.to_owned(),
            published_at: at(),
        };
        let encoded = encode(&event).expect("encodes");
        let value = serde_json::to_value(&event).expect("a value");
        let canonical = String::from_utf8(ygor_crypto::canonical_json(&value).expect("canonical")).expect("UTF-8");
        assert_eq!((encoded.payload.as_str(), encoded.canonical), (canonical.as_str(), true));
        let decoded: crate::territory::TerritoryEvent =
            decode("RulesPublished", "3", Payload::Text(&encoded.payload)).expect("decodes");
        assert_eq!(decoded, event);
    }

    #[test]
    fn version_1_rules_read_as_rules_with_thirty_days_of_backdating_and_no_neighbourhoods() {
        let stored = json!({"RulesPublished": {
            "version": 1, "source": "…", "published_at": "2026-05-28T20:26:40Z",
            "rules": {"lifetime": "P6M", "gold": null, "badges": [], "categories": [{
                "id": "ecologie", "label": "Écologie", "tokens_per_action": 10, "tokens_per_unit": 0,
                "cap_per_citizen_per_month": null
            }]}
        }});
        let event: crate::territory::TerritoryEvent =
            decode("RulesPublished", "1", Payload::Value(&stored)).expect("upcast");
        let crate::territory::TerritoryEvent::RulesPublished { rules, .. } = &event else {
            panic!("another event: {event:?}")
        };
        assert_eq!(rules.backdate_max, ygor_rules::DEFAULT_BACKDATE_MAX);
        assert_eq!(rules.backdate_max.to_string(), "P30D");
        assert!(rules.neighbourhoods.is_empty());
        assert_eq!(rules.categories[0].unit, None);
        assert_eq!(rules.settlement, None);
        // The current version requires both.
        assert!(matches!(
            decode::<crate::territory::TerritoryEvent>("RulesPublished", "3", Payload::Value(&stored)),
            Err(DecodeError::Payload { .. })
        ));
        assert_eq!(encode(&event).expect("encodes").event_version, "3");
    }

    #[test]
    fn version_2_rules_read_as_rules_without_units_nor_a_value_in_euros() {
        let stored = json!({"RulesPublished": {
            "version": 1, "source": "…", "published_at": "2026-05-28T20:26:40Z",
            "rules": {"lifetime": "P6M", "backdate_max": "P30D", "gold": null, "badges": [], "neighbourhoods": [],
                "categories": [{
                    "id": "velo", "label": "Vélo", "tokens_per_action": 0, "tokens_per_unit": 1,
                    "cap_per_citizen_per_month": null
                }]}
        }});
        let event: crate::territory::TerritoryEvent =
            decode("RulesPublished", "2", Payload::Value(&stored)).expect("upcast");
        let crate::territory::TerritoryEvent::RulesPublished { rules, .. } = &event else {
            panic!("another event: {event:?}")
        };
        assert_eq!(rules.categories[0].unit, None);
        assert_eq!(rules.categories[0].tokens_per_unit, 1);
        assert_eq!(rules.settlement, None);
        let encoded = encode(&event).expect("encodes");
        assert_eq!(encoded.event_version, "3");
        assert!(encoded.payload.contains(r#""unit":null"#), "{}", encoded.payload);
        assert!(encoded.payload.contains(r#""settlement":null"#), "{}", encoded.payload);
    }

    #[test]
    fn an_event_without_a_canonical_form_is_stored_as_its_compact_text() {
        // Beyond 2^53 - 1: JSON cannot carry it exactly, so RFC 8785 has no form for it.
        let event = PartnerEvent::EnvelopeReceived { amount: crate::Tokens::new(u64::MAX), received_at: at() };
        let encoded = encode(&event).expect("encodes");
        assert!(!encoded.canonical);
        assert_eq!(encoded.payload, serde_json::to_string(&event).expect("compact text"));
    }
}
