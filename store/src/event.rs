//! The events the log stores: what an append takes ([`NewEvent`], made once, off the committer's
//! path) and what a read returns ([`RecordedEvent`]).

use chrono::{DateTime, Utc};
use cqrs_es::persist::SerializedEvent;

use crate::{Position, StoreError, truncate_to_micros};

/// An event to append, and when it was recorded (the clock is read by the caller, at the edge).
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// The event as cqrs-es serialises it; its `aggregate_type` is stored as given, so one batch
    /// may hold several aggregate types.
    pub(crate) event: SerializedEvent,
    /// Stored with microsecond precision (PostgreSQL's), on both backends.
    pub recorded_at: DateTime<Utc>,
    /// `event.payload` and `event.metadata` as the JSON text that is stored: written when the
    /// event is made (by the request that decided it, on any core), not by the committer, whose
    /// work is the serial part of every group commit.
    pub(crate) payload_text: String,
    pub(crate) metadata_text: String,
    /// Whether `payload_text` is the payload's RFC 8785 canonical form.
    canonical: bool,
    /// Whether `event.payload` holds the payload. An event made from its text alone
    /// ([`NewEvent::from_text`]) leaves it `null` and parses the text when asked.
    payload_parsed: bool,
}

impl NewEvent {
    /// The event to append, serialised once for storage.
    pub fn new(event: SerializedEvent, recorded_at: DateTime<Utc>) -> Result<NewEvent, StoreError> {
        let payload_text = json_text(&event.payload)?;
        let metadata_text = json_text(&event.metadata)?;
        Ok(NewEvent { event, recorded_at, payload_text, metadata_text, canonical: false, payload_parsed: true })
    }

    /// The event to append from its payload's JSON text, with empty metadata: what the engine
    /// appends, without a `serde_json::Value` of the payload in between (building one cost a
    /// twentieth of the server's CPU). `canonical` says that the text is the payload's RFC 8785
    /// canonical form: the projections of this process then hash its audit leaf from the text as
    /// it is. The caller vouches for the text (the engine passes `ygor_audit::canonical_text` of
    /// the event's compact JSON); the tests that rebuild the read models from the log and compare
    /// them with the live ones, Merkle roots included, check it.
    pub fn from_text(
        head: EventHead<'_>,
        recorded_at: DateTime<Utc>,
        payload_text: String,
        canonical: bool,
    ) -> NewEvent {
        let event = SerializedEvent::new(
            head.aggregate_id.to_owned(),
            head.sequence,
            head.aggregate_type.to_owned(),
            head.event_type.to_owned(),
            head.event_version.to_owned(),
            serde_json::Value::Null,
            serde_json::Value::Object(serde_json::Map::new()),
        );
        NewEvent { event, recorded_at, payload_text, metadata_text: "{}".to_owned(), canonical, payload_parsed: false }
    }

    /// When it was recorded, as stored and read back: to the microsecond.
    pub fn stored_recorded_at(&self) -> DateTime<Utc> {
        truncate_to_micros(self.recorded_at)
    }

    /// The payload's RFC 8785 canonical form, when the event was made with it.
    pub fn canonical_payload(&self) -> Option<&str> {
        self.canonical.then_some(self.payload_text.as_str())
    }

    /// The event, its payload parsed from the stored text if it was made from text.
    pub fn event(&self) -> std::borrow::Cow<'_, SerializedEvent> {
        if self.payload_parsed {
            return std::borrow::Cow::Borrowed(&self.event);
        }
        let mut event = self.event.clone();
        event.payload = serde_json::from_str(&self.payload_text).expect("a new event's payload text is JSON");
        std::borrow::Cow::Owned(event)
    }

    /// The event but its payload and metadata: what the audit leaf needs beside the payload text.
    pub fn head(&self) -> EventHead<'_> {
        EventHead {
            aggregate_type: &self.event.aggregate_type,
            aggregate_id: &self.event.aggregate_id,
            sequence: self.event.sequence,
            event_type: &self.event.event_type,
            event_version: &self.event.event_version,
        }
    }

    /// The payload's JSON text, as it is stored.
    pub fn payload_text(&self) -> &str {
        &self.payload_text
    }
}

/// What identifies an event and its kind, without its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventHead<'a> {
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    /// Its sequence within its aggregate, from 1.
    pub sequence: usize,
    pub event_type: &'a str,
    pub event_version: &'a str,
}

/// An event read back in position order.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedEvent {
    /// Its global position.
    pub position: Position,
    /// When it was appended, to the microsecond.
    pub recorded_at: DateTime<Utc>,
    /// The event.
    pub event: SerializedEvent,
}

impl RecordedEvent {
    /// The event `new_event` appended at `position`, exactly as [`EventLog::read_after`] will
    /// return it (the time cut to the microsecond as stored).
    pub fn appended(position: Position, new_event: NewEvent) -> Self {
        RecordedEvent { position, recorded_at: truncate_to_micros(new_event.recorded_at), event: new_event.event }
    }
}

/// JSON text of a payload or metadata value, as both databases store it.
fn json_text(value: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|error| StoreError::Serialization(error.to_string()))
}
