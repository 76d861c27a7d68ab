//! Exported events and their leaf data.
//!
//! The log's Merkle tree hashes events exactly as `GET /v1/audit/events` exports them, so an
//! auditor needs nothing but the export to rebuild it: the leaf data of an event is the RFC 8785
//! (JCS) canonical form of its exported JSON object, and its leaf index is its rank in position
//! order (positions may have gaps; leaf indexes never do).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{AuditError, MerkleLog, leaf_hash};

/// One event as `GET /v1/audit/events` exports it.
///
/// Unknown fields are refused when parsing: the leaf data covers the whole exported object, so a
/// field this type would drop would give a different leaf hash without saying why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedEvent {
    /// The global position of the event in the log; strictly increasing, possibly with gaps.
    pub position: i64,
    /// The kind of aggregate the event belongs to (for example `wallet`).
    pub aggregate_type: String,
    /// The id of that aggregate.
    pub aggregate_id: String,
    /// The event's number within its aggregate, from 1.
    pub sequence: i64,
    /// The event's type (for example `TokensIssued`).
    pub event_type: String,
    /// The version of the event's stored shape.
    pub event_version: String,
    /// The event's content.
    pub payload: Value,
    /// When the event was recorded: RFC 3339 in UTC with microseconds,
    /// e.g. `2026-11-22T10:00:00.123456Z`.
    pub recorded_at: String,
}

/// The leaf data of an event: the RFC 8785 canonical JSON of its exported object, as UTF-8.
///
/// Fails only when the event has no canonical form, i.e. when it holds an integer beyond
/// ±(2^53 − 1), which JSON numbers cannot carry exactly.
pub fn leaf_data(event: &ExportedEvent) -> Result<Vec<u8>, AuditError> {
    leaf_data_ref(&ExportedRef {
        position: event.position,
        aggregate_type: &event.aggregate_type,
        aggregate_id: &event.aggregate_id,
        sequence: event.sequence,
        event_type: &event.event_type,
        event_version: &event.event_version,
        payload: &event.payload,
        recorded_at: &event.recorded_at,
    })
}

/// An exported event's fields, borrowed: the server hashes stored events without copying them.
#[derive(Clone, Copy, Debug)]
pub struct ExportedRef<'a> {
    pub position: i64,
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub sequence: i64,
    pub event_type: &'a str,
    pub event_version: &'a str,
    pub payload: &'a Value,
    pub recorded_at: &'a str,
}

/// [`leaf_data`] of borrowed fields. The object's members are written directly in RFC 8785 order
/// (their names are ASCII, so byte order is UTF-16 order), the payload through the canonicaliser:
/// the same bytes as canonicalising the whole exported object, without building it.
pub fn leaf_data_ref(event: &ExportedRef<'_>) -> Result<Vec<u8>, AuditError> {
    let exact = |name: &str, value: i64| {
        if value.unsigned_abs() > ygor_crypto::MAX_SAFE_INTEGER {
            Err(AuditError::Canonicalization(format!("{name} {value} cannot be written exactly in JSON")))
        } else {
            Ok(value.to_string())
        }
    };
    let text =
        |value: &str| serde_json::to_string(value).map_err(|error| AuditError::Canonicalization(error.to_string()));
    let payload = ygor_crypto::canonical_json(event.payload)?;
    let mut out = Vec::with_capacity(payload.len() + 256);
    for (prefix, part) in [
        ("{\"aggregate_id\":", text(event.aggregate_id)?),
        (",\"aggregate_type\":", text(event.aggregate_type)?),
        (",\"event_type\":", text(event.event_type)?),
        (",\"event_version\":", text(event.event_version)?),
    ] {
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out.extend_from_slice(b",\"payload\":");
    out.extend_from_slice(&payload);
    for (prefix, part) in [
        (",\"position\":", exact("position", event.position)?),
        (",\"recorded_at\":", text(event.recorded_at)?),
        (",\"sequence\":", exact("sequence", event.sequence)?),
    ] {
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out.push(b'}');
    Ok(out)
}

/// The leaf hash of an event: `SHA-256(0x00 ‖ leaf_data(event))`.
pub fn event_leaf_hash(event: &ExportedEvent) -> Result<[u8; 32], AuditError> {
    Ok(leaf_hash(&leaf_data(event)?))
}

impl MerkleLog {
    /// Builds the log's tree from exported events given in position order, one leaf per event.
    ///
    /// Refuses events whose positions do not strictly increase: a reordered or repeated row
    /// would otherwise silently give another tree.
    pub fn from_events(events: &[ExportedEvent]) -> Result<Self, AuditError> {
        let mut log = MerkleLog::new();
        let mut previous: Option<i64> = None;
        for event in events {
            if let Some(previous) = previous
                && event.position <= previous
            {
                return Err(AuditError::PositionsOutOfOrder { previous, position: event.position });
            }
            log.push_leaf_hash(event_leaf_hash(event)?);
            previous = Some(event.position);
        }
        Ok(log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(position: i64, payload: Value) -> ExportedEvent {
        ExportedEvent {
            position,
            aggregate_type: "wallet".to_owned(),
            aggregate_id: "16fd2706-8baf-433b-82eb-8c7fada847da".to_owned(),
            sequence: position,
            event_type: "ActionCertified".to_owned(),
            event_version: "1".to_owned(),
            payload,
            recorded_at: "2026-11-22T10:00:00.123456Z".to_owned(),
        }
    }

    #[test]
    fn leaf_data_is_the_canonical_json_of_the_exported_object() {
        // Given an event whose payload members are not in canonical order and hold a 4.50
        let event = event(7, json!({"tokens": 10, "quantity": 4.50, "category": "vélo"}));
        // When its leaf data is built
        let data = leaf_data(&event).expect("canonical");
        // Then members are sorted, numbers written as JCS writes them, and text left unescaped
        assert_eq!(
            String::from_utf8(data).expect("UTF-8"),
            "{\"aggregate_id\":\"16fd2706-8baf-433b-82eb-8c7fada847da\",\"aggregate_type\":\"wallet\",\
             \"event_type\":\"ActionCertified\",\"event_version\":\"1\",\
             \"payload\":{\"category\":\"vélo\",\"quantity\":4.5,\"tokens\":10},\"position\":7,\
             \"recorded_at\":\"2026-11-22T10:00:00.123456Z\",\"sequence\":7}"
        );
    }

    #[test]
    fn the_export_parses_into_the_same_leaf_whatever_its_spelling() {
        let compact = r#"{"position":7,"aggregate_type":"wallet","aggregate_id":"a","sequence":1,"event_type":"X","event_version":"1","payload":{"b":1,"a":2.0},"recorded_at":"2026-11-22T10:00:00.000000Z"}"#;
        let spaced = r#"{ "payload": {"a": 2, "b": 1.0}, "recorded_at": "2026-11-22T10:00:00.000000Z", "event_version": "1",
            "event_type": "X", "sequence": 1, "aggregate_id": "a", "aggregate_type": "wallet", "position": 7 }"#;
        let left: ExportedEvent = serde_json::from_str(compact).expect("parses");
        let right: ExportedEvent = serde_json::from_str(spaced).expect("parses");
        assert_eq!(leaf_data(&left), leaf_data(&right));
    }

    #[test]
    fn an_exported_event_with_an_unknown_field_is_refused() {
        let text = r#"{"position":7,"aggregate_type":"wallet","aggregate_id":"a","sequence":1,"event_type":"X","event_version":"1","payload":{},"recorded_at":"2026-11-22T10:00:00.000000Z","extra":true}"#;
        assert!(serde_json::from_str::<ExportedEvent>(text).is_err());
    }

    #[test]
    fn an_integer_without_exact_json_form_has_no_leaf() {
        let event = event(1, json!({"amount": ygor_crypto::MAX_SAFE_INTEGER + 1}));
        assert!(matches!(leaf_data(&event), Err(AuditError::Canonicalization(_))));
    }

    #[test]
    fn leaf_index_is_the_rank_in_position_order_whatever_the_gaps() {
        let events = [event(3, json!({})), event(10, json!({"a": 1})), event(11, json!({"a": 2}))];
        let log = MerkleLog::from_events(&events).expect("positions increase");
        assert_eq!(log.len(), 3);
        for (index, event) in events.iter().enumerate() {
            assert_eq!(log.leaf_hash_at(index as u64), Some(event_leaf_hash(event).expect("hash")));
        }
    }

    #[test]
    fn events_out_of_position_order_are_refused() {
        let reordered = [event(1, json!({})), event(5, json!({})), event(4, json!({}))];
        assert_eq!(
            MerkleLog::from_events(&reordered),
            Err(AuditError::PositionsOutOfOrder { previous: 5, position: 4 })
        );
        let repeated = [event(1, json!({})), event(1, json!({}))];
        assert_eq!(
            MerkleLog::from_events(&repeated),
            Err(AuditError::PositionsOutOfOrder { previous: 1, position: 1 })
        );
    }

    #[test]
    fn a_changed_removed_or_swapped_event_changes_the_root() {
        let events: Vec<ExportedEvent> = (1..=5).map(|position| event(position, json!({"n": position}))).collect();
        let root = |events: &[ExportedEvent]| {
            let log = MerkleLog::from_events(events).expect("log");
            log.root(log.len())
        };
        let original = root(&events);
        let mut changed = events.clone();
        changed[2].payload = json!({"n": 300});
        let mut removed = events.clone();
        removed.remove(2);
        let mut swapped = events.clone();
        swapped.swap(1, 2);
        (swapped[1].position, swapped[2].position) = (2, 3);
        for tampered in [changed, removed, swapped] {
            assert_ne!(root(&tampered), original);
        }
    }
}

#[cfg(test)]
mod leaf_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn writing_the_leaf_directly_gives_the_canonical_form_of_the_whole_object() {
        for payload in [
            json!({"TokensRedeemed": {"amount": 5, "spent": [{"lot_id": "x", "amount": 5}]}}),
            json!({"RulesPublished": {"rules": {"gold": {"probability": 0.05}}, "source": "é \"q\" \n", "clé": 1}}),
        ] {
            let event = ExportedEvent {
                position: 42,
                aggregate_type: "wallet".to_owned(),
                aggregate_id: "3f2504e0-4f89-41d3-9a0c-0305e82c3301".to_owned(),
                sequence: 7,
                event_type: "TokensRedeemed".to_owned(),
                event_version: "1".to_owned(),
                payload,
                recorded_at: "2026-11-22T10:00:00.123456Z".to_owned(),
            };
            let whole = ygor_crypto::canonical_json(&serde_json::to_value(&event).unwrap()).unwrap();
            assert_eq!(String::from_utf8(leaf_data(&event).unwrap()).unwrap(), String::from_utf8(whole).unwrap());
        }
    }
}
