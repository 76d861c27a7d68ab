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

/// An exported event's fields, borrowed, with its payload as `P`: the server hashes stored events
/// without copying them.
#[derive(Clone, Copy, Debug)]
pub struct ExportedFields<'a, P: ?Sized> {
    pub position: i64,
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub sequence: i64,
    pub event_type: &'a str,
    pub event_version: &'a str,
    pub payload: &'a P,
    pub recorded_at: &'a str,
}

/// An exported event with its payload parsed.
pub type ExportedRef<'a> = ExportedFields<'a, Value>;

/// An exported event whose payload is JSON text (as the database stores it), in any spelling
/// (member order, whitespace, escapes): how a replay hashes the log without building a `Value`
/// per event.
pub type ExportedText<'a> = ExportedFields<'a, str>;

impl<'a, P: ?Sized> ExportedFields<'a, P> {
    fn envelope(&self) -> Envelope<'a> {
        Envelope {
            position: self.position,
            aggregate_type: self.aggregate_type,
            aggregate_id: self.aggregate_id,
            sequence: self.sequence,
            event_type: self.event_type,
            event_version: self.event_version,
            recorded_at: self.recorded_at,
        }
    }
}

/// [`leaf_data`] of borrowed fields. The object's members are written directly in RFC 8785 order
/// (their names are ASCII, so byte order is UTF-16 order), the payload through the canonicaliser:
/// the same bytes as canonicalising the whole exported object, without building it.
pub fn leaf_data_ref(event: &ExportedRef<'_>) -> Result<Vec<u8>, AuditError> {
    let payload = ygor_crypto::canonical_json(event.payload)?;
    let envelope = event.envelope();
    envelope.write(payload.len(), |out| {
        out.extend_from_slice(&payload);
        Ok(())
    })
}

/// [`leaf_data`] of an event whose payload is JSON text: the same bytes as [`leaf_data`] of the
/// event with `payload` parsed into a `Value`, whatever the text's spelling.
///
/// Payloads that hold only integers, `true`, `false`, `null`, strings, and objects with ASCII
/// names written without escapes (every event Ygor writes but a rule publication) are
/// canonicalised straight from the text: the object members are sorted and the whitespace
/// dropped, the rest copied as written when it is already in canonical form. Anything else (a
/// fraction or exponent, a non-canonical escape, a non-ASCII or escaped name, a repeated name,
/// an integer beyond ±(2^53 − 1)) is parsed into a `Value` and canonicalised as [`leaf_data`]
/// does, with the same result or the same error.
pub fn leaf_data_text(event: &ExportedText<'_>) -> Result<Vec<u8>, AuditError> {
    event.envelope().write(event.payload.len(), |out| write_canonical_text(event.payload, out))
}

/// The RFC 8785 canonical form of JSON text, whatever its spelling: the same bytes as
/// `ygor_crypto::canonical_json` of the text parsed into a `Value`, or the same error. Plain JSON
/// (see [`leaf_data_text`]) is canonicalised straight from the text, without a `Value`.
pub fn canonical_text(text: &str) -> Result<String, AuditError> {
    let mut out = Vec::with_capacity(text.len());
    write_canonical_text(text, &mut out)?;
    String::from_utf8(out).map_err(|error| AuditError::Canonicalization(error.to_string()))
}

fn write_canonical_text(text: &str, out: &mut Vec<u8>) -> Result<(), AuditError> {
    let start = out.len();
    if plain::write_canonical(text.as_bytes(), out) {
        return Ok(());
    }
    out.truncate(start);
    let value: Value = serde_json::from_str(text)
        .map_err(|error| AuditError::Canonicalization(format!("the payload is not JSON: {error}")))?;
    out.extend_from_slice(&ygor_crypto::canonical_json(&value)?);
    Ok(())
}

/// [`leaf_data`] of an event whose payload text is already its RFC 8785 canonical form (as the
/// engine writes every payload it appends): the text is copied, not parsed. The caller vouches
/// for the form; [`leaf_data_text`] is the function for text of any other spelling.
pub fn leaf_data_canonical(event: &ExportedText<'_>) -> Result<Vec<u8>, AuditError> {
    event.envelope().write(event.payload.len(), |out| {
        out.extend_from_slice(event.payload.as_bytes());
        Ok(())
    })
}

/// The members of an exported event but its payload.
struct Envelope<'a> {
    position: i64,
    aggregate_type: &'a str,
    aggregate_id: &'a str,
    sequence: i64,
    event_type: &'a str,
    event_version: &'a str,
    recorded_at: &'a str,
}

impl Envelope<'_> {
    /// The leaf data, the canonical payload (about `payload_len` bytes) written by `payload`.
    fn write(
        &self,
        payload_len: usize,
        payload: impl FnOnce(&mut Vec<u8>) -> Result<(), AuditError>,
    ) -> Result<Vec<u8>, AuditError> {
        let exact = |name: &str, value: i64| {
            if value.unsigned_abs() > ygor_crypto::MAX_SAFE_INTEGER {
                Err(AuditError::Canonicalization(format!("{name} {value} cannot be written exactly in JSON")))
            } else {
                Ok(value)
            }
        };
        let text = |out: &mut Vec<u8>, value: &str| {
            serde_json::to_writer(out, value).map_err(|error| AuditError::Canonicalization(error.to_string()))
        };
        let mut out = Vec::with_capacity(payload_len + 256);
        for (prefix, part) in [
            ("{\"aggregate_id\":", self.aggregate_id),
            (",\"aggregate_type\":", self.aggregate_type),
            (",\"event_type\":", self.event_type),
            (",\"event_version\":", self.event_version),
        ] {
            out.extend_from_slice(prefix.as_bytes());
            text(&mut out, part)?;
        }
        out.extend_from_slice(b",\"payload\":");
        payload(&mut out)?;
        // Checked after the payload, in the order the members are written.
        let position = exact("position", self.position)?;
        let sequence = exact("sequence", self.sequence)?;
        out.extend_from_slice(b",\"position\":");
        out.extend_from_slice(position.to_string().as_bytes());
        out.extend_from_slice(b",\"recorded_at\":");
        text(&mut out, self.recorded_at)?;
        out.extend_from_slice(b",\"sequence\":");
        out.extend_from_slice(sequence.to_string().as_bytes());
        out.push(b'}');
        Ok(out)
    }
}

/// The leaf hash of an event: `SHA-256(0x00 ‖ leaf_data(event))`.
pub fn event_leaf_hash(event: &ExportedEvent) -> Result<[u8; 32], AuditError> {
    Ok(leaf_hash(&leaf_data(event)?))
}

/// RFC 8785 straight from JSON text, for the "plain" JSON of [`leaf_data_text`].
mod plain {
    use std::cmp::Ordering;
    use std::ops::Range;

    /// Deeper values are left to serde_json (which refuses more than 127 levels), so that the
    /// general path decides what happens to them.
    const MAX_DEPTH: usize = 100;

    /// Writes the RFC 8785 form of `text` to `out` and returns true; or returns false, having
    /// written anything to `out`, when `text` is not plain JSON (see [`super::leaf_data_text`]).
    ///
    /// For plain JSON the canonical form is serde_json's compact output of the parsed `Value`
    /// (see `ygor_crypto::canonical_json`): members sorted by name bytes, no whitespace, integers
    /// as bare digits, strings escaped as `\"`, `\\`, `\b\f\n\r\t` and lowercase `\u00xx` for other
    /// controls, nothing else. Strings and integers are therefore copied only when the text
    /// already writes them so; every other spelling returns false.
    pub(super) fn write_canonical(text: &[u8], out: &mut Vec<u8>) -> bool {
        let mut writer = Writer { text, at: 0, members: Vec::new(), scratch: Vec::new() };
        writer.skip_whitespace();
        if !writer.value(out, 0) {
            return false;
        }
        writer.skip_whitespace();
        writer.at == text.len()
    }

    struct Member {
        /// The name, without its quotes, in the text.
        name: Range<usize>,
        /// `"name":value` in the output, relative to the opening brace of its object.
        written: Range<usize>,
    }

    struct Writer<'a> {
        text: &'a [u8],
        at: usize,
        /// The members of the objects being written, innermost last.
        members: Vec<Member>,
        /// Where the members of an object are copied while they are put in order.
        scratch: Vec<u8>,
    }

    impl Writer<'_> {
        fn peek(&self) -> Option<u8> {
            self.text.get(self.at).copied()
        }

        fn skip_whitespace(&mut self) {
            while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
                self.at += 1;
            }
        }

        fn value(&mut self, out: &mut Vec<u8>, depth: usize) -> bool {
            match self.peek() {
                Some(b'{') => depth < MAX_DEPTH && self.object(out, depth + 1),
                Some(b'[') => depth < MAX_DEPTH && self.array(out, depth + 1),
                Some(b'"') => self.string(out).is_some(),
                Some(b'-' | b'0'..=b'9') => self.integer(out),
                Some(b't') => self.literal(b"true", out),
                Some(b'f') => self.literal(b"false", out),
                Some(b'n') => self.literal(b"null", out),
                _ => false,
            }
        }

        fn literal(&mut self, word: &[u8], out: &mut Vec<u8>) -> bool {
            if !self.text[self.at..].starts_with(word) {
                return false;
            }
            self.at += word.len();
            out.extend_from_slice(word);
            true
        }

        /// An integer within ±(2^53 − 1), without leading zeros, and not `-0`.
        fn integer(&mut self, out: &mut Vec<u8>) -> bool {
            let start = self.at;
            let negative = self.peek() == Some(b'-');
            if negative {
                self.at += 1;
            }
            let digits_start = self.at;
            while let Some(b'0'..=b'9') = self.peek() {
                self.at += 1;
            }
            let digits = &self.text[digits_start..self.at];
            let canonical = match digits {
                [] => false,
                [b'0'] => !negative,
                [b'0', ..] => false,
                _ => digits.len() <= 16,
            };
            if !canonical || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
                return false;
            }
            let magnitude = digits.iter().fold(0u64, |magnitude, digit| magnitude * 10 + u64::from(digit - b'0'));
            if magnitude > ygor_crypto::MAX_SAFE_INTEGER {
                return false;
            }
            out.extend_from_slice(&self.text[start..self.at]);
            true
        }

        /// Copies a string written with exactly the escapes RFC 8785 uses; returns the range of its
        /// content (between the quotes) in the text.
        fn string(&mut self, out: &mut Vec<u8>) -> Option<Range<usize>> {
            let start = self.at;
            self.at += 1;
            loop {
                self.skip_unescaped();
                match *self.text.get(self.at)? {
                    b'"' => break,
                    b'\\' => match *self.text.get(self.at + 1)? {
                        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 2,
                        b'u' => {
                            // Only the controls without a short escape, in lowercase hexadecimal.
                            let code = match *self.text.get(self.at + 2..self.at + 6)? {
                                [b'0', b'0', high @ (b'0' | b'1'), low @ (b'0'..=b'9' | b'a'..=b'f')] => {
                                    let low = if low.is_ascii_digit() { low - b'0' } else { low - b'a' + 10 };
                                    (high - b'0') * 16 + low
                                }
                                _ => return None,
                            };
                            if matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                                return None;
                            }
                            self.at += 6;
                        }
                        _ => return None,
                    },
                    // A raw control character is not JSON.
                    0x00..=0x1f => return None,
                    _ => self.at += 1,
                }
            }
            self.at += 1;
            out.extend_from_slice(&self.text[start..self.at]);
            Some(start + 1..self.at - 1)
        }

        /// Moves past string bytes that are neither `"`, `\\` nor a control, eight at a time (most of
        /// a payload's bytes are in strings: ids, signatures, fingerprints).
        fn skip_unescaped(&mut self) {
            const ONES: u64 = u64::from_le_bytes([0x01; 8]);
            const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
            // Whether a byte of `word` is below `bound` (at most 0x80); exact, as a yes or no.
            let any_below = |word: u64, bound: u8| word.wrapping_sub(ONES * u64::from(bound)) & !word & HIGHS != 0;
            while let Some(bytes) = self.text.get(self.at..self.at + 8) {
                let Ok(bytes) = <[u8; 8]>::try_from(bytes) else {
                    return;
                };
                let word = u64::from_le_bytes(bytes);
                let special = any_below(word, 0x20)
                    || any_below(word ^ (ONES * u64::from(b'"')), 1)
                    || any_below(word ^ (ONES * u64::from(b'\\')), 1);
                if special {
                    return;
                }
                self.at += 8;
            }
        }

        fn array(&mut self, out: &mut Vec<u8>, depth: usize) -> bool {
            self.at += 1;
            out.push(b'[');
            self.skip_whitespace();
            if self.peek() == Some(b']') {
                self.at += 1;
                out.push(b']');
                return true;
            }
            loop {
                self.skip_whitespace();
                if !self.value(out, depth) {
                    return false;
                }
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => out.push(b','),
                    Some(b']') => {
                        self.at += 1;
                        out.push(b']');
                        return true;
                    }
                    _ => return false,
                }
                self.at += 1;
            }
        }

        fn object(&mut self, out: &mut Vec<u8>, depth: usize) -> bool {
            let open = out.len();
            self.at += 1;
            out.push(b'{');
            self.skip_whitespace();
            if self.peek() == Some(b'}') {
                self.at += 1;
                out.push(b'}');
                return true;
            }
            let first = self.members.len();
            let mut ordered = true;
            loop {
                self.skip_whitespace();
                if self.peek() != Some(b'"') {
                    return false;
                }
                let begin = out.len();
                let Some(name) = self.string(out) else {
                    return false;
                };
                // Printable ASCII without escapes: the text is the name, and byte order is RFC
                // 8785's UTF-16 order.
                if !self.text[name.clone()].iter().all(|&byte| (0x20..0x7f).contains(&byte) && byte != b'\\') {
                    return false;
                }
                if let Some(previous) = self.members[first..].last() {
                    match self.text[previous.name.clone()].cmp(&self.text[name.clone()]) {
                        Ordering::Less => {}
                        // A repeated name: serde_json keeps the last value; let it.
                        Ordering::Equal => return false,
                        Ordering::Greater => ordered = false,
                    }
                }
                self.skip_whitespace();
                if self.peek() != Some(b':') {
                    return false;
                }
                self.at += 1;
                out.push(b':');
                self.skip_whitespace();
                if !self.value(out, depth) {
                    return false;
                }
                self.members.push(Member { name, written: begin - open..out.len() - open });
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => out.push(b','),
                    Some(b'}') => break,
                    _ => return false,
                }
                self.at += 1;
            }
            self.at += 1;
            if !ordered && !self.put_in_order(out, open, first) {
                return false;
            }
            self.members.truncate(first);
            out.push(b'}');
            true
        }

        /// Rewrites the members of the object opened at `open` (without its closing brace) sorted by
        /// name; false if a name is repeated.
        fn put_in_order(&mut self, out: &mut Vec<u8>, open: usize, first: usize) -> bool {
            let text = self.text;
            let members = &mut self.members[first..];
            members.sort_unstable_by(|left, right| text[left.name.clone()].cmp(&text[right.name.clone()]));
            if members.windows(2).any(|pair| text[pair[0].name.clone()] == text[pair[1].name.clone()]) {
                return false;
            }
            self.scratch.clear();
            self.scratch.extend_from_slice(&out[open..]);
            out.truncate(open + 1);
            for (index, member) in members.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&self.scratch[member.written.clone()]);
            }
            true
        }
    }
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
            let event = super::text_tests::exported(payload);
            let whole = ygor_crypto::canonical_json(&serde_json::to_value(&event).unwrap()).unwrap();
            assert_eq!(String::from_utf8(leaf_data(&event).unwrap()).unwrap(), String::from_utf8(whole).unwrap());
        }
    }
}

#[cfg(test)]
mod text_tests {
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    use super::*;

    pub(super) fn exported(payload: Value) -> ExportedEvent {
        ExportedEvent {
            position: 42,
            aggregate_type: "wallet".to_owned(),
            aggregate_id: "3f2504e0-4f89-41d3-9a0c-0305e82c3301".to_owned(),
            sequence: 7,
            event_type: "TokensRedeemed".to_owned(),
            event_version: "1".to_owned(),
            payload,
            recorded_at: "2026-11-22T10:00:00.123456Z".to_owned(),
        }
    }

    fn from_text(payload: &str) -> Result<Vec<u8>, AuditError> {
        let event = exported(Value::Null);
        leaf_data_text(&ExportedText {
            position: event.position,
            aggregate_type: &event.aggregate_type,
            aggregate_id: &event.aggregate_id,
            sequence: event.sequence,
            event_type: &event.event_type,
            event_version: &event.event_version,
            payload,
            recorded_at: &event.recorded_at,
        })
    }

    /// What the text must give: the leaf of its parsed `Value`, or an error when it has none.
    fn expected(payload: &str) -> Option<Vec<u8>> {
        let value: Value = serde_json::from_str(payload).ok()?;
        leaf_data(&exported(value)).ok()
    }

    fn plain(text: &str) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        plain::write_canonical(text.as_bytes(), &mut out).then_some(out)
    }

    /// PostgreSQL's `jsonb` text output: members ordered by name length, then bytes; a space after
    /// every `:` and `,`.
    fn jsonb_text(value: &Value) -> String {
        match value {
            Value::Array(items) => format!("[{}]", items.iter().map(jsonb_text).collect::<Vec<_>>().join(", ")),
            Value::Object(members) => {
                let mut members: Vec<(&String, &Value)> = members.iter().collect();
                members.sort_by(|left, right| (left.0.len(), left.0).cmp(&(right.0.len(), right.0)));
                let members: Vec<String> = members
                    .into_iter()
                    .map(|(name, value)| format!("{}: {}", Value::String(name.clone()), jsonb_text(value)))
                    .collect();
                format!("{{{}}}", members.join(", "))
            }
            other => other.to_string(),
        }
    }

    /// The same value with every member list reversed, every non-ASCII character and every `/`
    /// escaped, and every number written with an exponent when it can be.
    fn odd_text(value: &Value) -> String {
        match value {
            Value::Array(items) => format!("[ {} ]", items.iter().map(odd_text).collect::<Vec<_>>().join(" ,")),
            Value::Object(members) => {
                let members: Vec<String> = members
                    .iter()
                    .rev()
                    .map(|(name, value)| format!("{}\n:\t{}", odd_string(name), odd_text(value)))
                    .collect();
                format!("{{\r{}}}", members.join(","))
            }
            Value::String(text) => odd_string(text),
            Value::Number(number) => match number.as_i64() {
                Some(integer) if integer != 0 && integer % 10 == 0 => format!("{}e1", integer / 10),
                _ => number.to_string(),
            },
            other => other.to_string(),
        }
    }

    fn odd_string(text: &str) -> String {
        let mut out = String::from("\"");
        for character in text.chars() {
            match character {
                '/' => out.push_str("\\/"),
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                character if character.is_ascii() && !character.is_ascii_control() => out.push(character),
                character => {
                    let mut units = [0u16; 2];
                    for unit in character.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{unit:04X}"));
                    }
                }
            }
        }
        out.push('"');
        out
    }

    fn text_strategy() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                4 => prop::char::range('a', 'z'),
                1 => prop::char::range('\u{0}', '\u{7f}'),
                1 => prop::sample::select(vec!['é', '😀', '\u{2028}', '\u{fb33}', '\u{80}', '"', '\\', '/']),
            ],
            0..6,
        )
        .prop_map(|characters| characters.into_iter().collect())
    }

    fn value_strategy() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-1_000i64..1_000).prop_map(|number| json!(number)),
            any::<i64>().prop_map(|number| json!(number)),
            any::<u64>().prop_map(|number| json!(number)),
            prop::sample::select(vec![0.5, -0.0, 1e30, 4.5, 0.1, 5e-324, 1e21, 123.0]).prop_map(|number| json!(number)),
            any::<f64>().prop_filter("finite", |number| number.is_finite()).prop_map(|number| json!(number)),
            text_strategy().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((text_strategy(), inner), 0..5)
                    .prop_map(|members| Value::Object(members.into_iter().collect::<Map<String, Value>>())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

        #[test]
        fn every_spelling_of_a_payload_gives_the_leaf_of_its_value(value in value_strategy()) {
            let whole = leaf_data(&exported(value.clone())).ok();
            for text in [serde_json::to_string(&value).unwrap(), serde_json::to_string_pretty(&value).unwrap(), jsonb_text(&value)] {
                prop_assert_eq!(from_text(&text).ok(), whole.clone(), "{}", text);
            }
            // An exponent makes an integer a double, which may be another value: compare with the
            // value the text holds.
            let odd = odd_text(&value);
            prop_assert_eq!(from_text(&odd).ok(), expected(&odd), "{}", odd);
        }

        #[test]
        fn a_damaged_text_gives_the_leaf_of_what_it_parses_to_or_none(
            value in value_strategy(),
            at in any::<prop::sample::Index>(),
            replacement in prop::sample::select(b" \t{}[]:,\"\\-0123456789.eEtrufalsn/xu\x01".to_vec()),
            jsonb in any::<bool>(),
        ) {
            let text = if jsonb { jsonb_text(&value) } else { serde_json::to_string(&value).unwrap() };
            let mut bytes = text.into_bytes();
            let index = at.index(bytes.len());
            if bytes[index].is_ascii() {
                bytes[index] = replacement;
            }
            let text = String::from_utf8(bytes).unwrap();
            prop_assert_eq!(from_text(&text).ok(), expected(&text), "{}", text);
        }

        #[test]
        fn plain_values_take_the_text_path_in_both_stored_spellings(value in value_strategy()) {
            let compact = serde_json::to_string(&value).unwrap();
            let canonical = ygor_crypto::canonical_json(&value).ok();
            if let Some(written) = plain(&compact) {
                prop_assert_eq!(Some(written.clone()), canonical.clone());
                prop_assert_eq!(plain(&jsonb_text(&value)), Some(written));
            }
        }
    }

    #[test]
    fn ygor_payloads_take_the_text_path() {
        let samples = [
            json!({"TokensRedeemed": {"amount": 5, "spent": [{"lot_id": "x", "amount": 5}], "venue_id": "v"}}),
            json!({"CertificationRecorded": {"record": {"request": {"signature": "ab/+", "quantity": 1,
                "note": "vélo \"cargo\"\n"}, "outcome": {"tokens": 10, "gold": false, "lot_id": null}}}}),
            json!({"WalletRegistered": {"interests": [], "demographics": {}}}),
            json!(-9007199254740991i64),
        ];
        for sample in samples {
            let canonical = ygor_crypto::canonical_json(&sample).unwrap();
            assert_eq!(plain(&serde_json::to_string(&sample).unwrap()), Some(canonical.clone()));
            assert_eq!(plain(&jsonb_text(&sample)), Some(canonical));
        }
    }

    #[test]
    fn long_strings_are_scanned_exactly_wherever_their_escapes_fall() {
        // Every escape and forbidden byte, at every offset of an eight-byte word, in long strings.
        for special in ["\\\"", "\\\\", "\\n", "\\u001f", "\\u0041", "\\/", "\u{1}", "\u{7f}", "é", "😀", "\""] {
            for offset in 0..20 {
                let text = format!("{{\"k\":\"{}{special}{}\"}}", "a".repeat(offset), "b".repeat(25 - offset));
                let canonical = expected(&text);
                assert_eq!(from_text(&text).ok(), canonical, "{text}");
                let compact =
                    serde_json::from_str::<Value>(&text).ok().map(|value| serde_json::to_string(&value).unwrap());
                assert_eq!(plain(&text).is_some(), compact.as_deref() == Some(text.as_str()), "{text}");
            }
        }
    }

    #[test]
    fn other_texts_take_the_general_path_with_the_same_result() {
        for text in [
            r#"{"p": 0.50}"#,
            r#"{"clé": 1}"#,
            r#"{"a\u0062": 1}"#,
            r#"{"a": 1, "a": 2}"#,
            r#"{"b": 1, "a": 2, "b": 3}"#,
            r#""\u00e9\/""#,
            r#""\u000A""#,
            r#"-0"#,
            r#"1E2"#,
            r#"9007199254740992"#,
            r#"[1, 2,]"#,
            r#"{"a": 1} x"#,
            r#"nul"#,
            "\"\u{1}\"",
            "",
        ] {
            assert_eq!(plain(text), None, "{text}");
            assert_eq!(from_text(text).ok(), expected(text), "{text}");
        }
        let deep = format!("{}{}", "[".repeat(120), "]".repeat(120));
        assert_eq!(plain(&deep), None);
        assert_eq!(from_text(&deep).ok(), expected(&deep));
        let too_deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(from_text(&too_deep).is_err());
    }
}
