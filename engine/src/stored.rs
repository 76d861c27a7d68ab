//! Events in their stored form: new events encoded for an append, and an aggregate's stream
//! decoded, both through the ledger's versioned codec (`ygor_ledger::codec`).

use chrono::{DateTime, Utc};
use cqrs_es::persist::SerializedEvent;
use ygor_ledger::codec::{self, Payload, Versioned};
use ygor_store::{EventHead, NewEvent};

use crate::{Engine, EngineError};

/// The stored form of an aggregate's new events, numbered from `first_sequence`.
pub fn encode<E: Versioned>(
    aggregate_id: &str,
    first_sequence: usize,
    events: &[E],
    at: DateTime<Utc>,
) -> Result<Vec<NewEvent>, EngineError> {
    events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let encoded = codec::encode(event).map_err(|error| {
                EngineError::Inconsistent(format!("{} event does not serialise: {error}", E::AGGREGATE_TYPE))
            })?;
            let head = EventHead {
                aggregate_type: E::AGGREGATE_TYPE,
                aggregate_id,
                sequence: first_sequence + index,
                event_type: encoded.event_type,
                event_version: encoded.event_version,
            };
            Ok(NewEvent::from_text(head, at, encoded.payload, encoded.canonical))
        })
        .collect()
}

impl Engine {
    /// The events of an aggregate's stream read after sequence `after`, decoded in order; a gap
    /// in the sequences is refused.
    pub(crate) fn decode_stream<E: Versioned>(
        &self,
        aggregate_id: &str,
        after: usize,
        stored: &[SerializedEvent],
    ) -> Result<Vec<E>, EngineError> {
        let aggregate = || format!("{} {aggregate_id}", E::AGGREGATE_TYPE);
        stored
            .iter()
            .enumerate()
            .map(|(index, event)| {
                let expected = after + index + 1;
                if event.sequence != expected {
                    return Err(EngineError::Inconsistent(format!(
                        "{}: expected event {expected}, found {}",
                        aggregate(),
                        event.sequence
                    )));
                }
                codec::decode(&event.event_type, &event.event_version, Payload::Value(&event.payload))
                    .map_err(|source| EngineError::Decode { aggregate: aggregate(), sequence: expected, source })
            })
            .collect()
    }
}
