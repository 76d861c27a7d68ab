//! The audit trail: the RFC 9162 Merkle tree over the log in position order, one leaf per event
//! (the JCS form of the event as `GET /v1/audit/events` exports it). Proofs are answered from it.

use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use ygor_audit::{ExportedEvent, MerkleLog};
use ygor_store::{Position, RecordedEvent};

/// An event as the audit export shows it (and as its Merkle leaf covers it).
pub fn exported(recorded: &RecordedEvent) -> ExportedEvent {
    ExportedEvent {
        position: recorded.position,
        aggregate_type: recorded.event.aggregate_type.clone(),
        aggregate_id: recorded.event.aggregate_id.clone(),
        sequence: recorded.event.sequence as i64,
        event_type: recorded.event.event_type.clone(),
        event_version: recorded.event.event_version.clone(),
        payload: recorded.event.payload.clone(),
        recorded_at: recorded.recorded_at.to_rfc3339_opts(SecondsFormat::Micros, true),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditTrail {
    pub tree: MerkleLog,
    /// The position of each leaf, in leaf order.
    pub positions: Vec<Position>,
}

impl AuditTrail {
    pub fn append(&mut self, recorded: &RecordedEvent) -> Result<(), ygor_audit::AuditError> {
        let recorded_at = recorded.recorded_at.to_rfc3339_opts(SecondsFormat::Micros, true);
        let leaf = ygor_audit::leaf_data_ref(&ygor_audit::ExportedRef {
            position: recorded.position,
            aggregate_type: &recorded.event.aggregate_type,
            aggregate_id: &recorded.event.aggregate_id,
            sequence: recorded.event.sequence as i64,
            event_type: &recorded.event.event_type,
            event_version: &recorded.event.event_version,
            payload: &recorded.event.payload,
            recorded_at: &recorded_at,
        })?;
        let hash = ygor_audit::leaf_hash(&leaf);
        self.tree.push_leaf_hash(hash);
        self.positions.push(recorded.position);
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.positions.len() as u64
    }

    /// The leaf index of the event at `position`, if there is one.
    pub fn leaf_index(&self, position: Position) -> Option<u64> {
        self.positions.binary_search(&position).ok().map(|index| index as u64)
    }

    pub fn root_hex(&self, tree_size: u64) -> Option<String> {
        self.tree.root(tree_size).map(hex::encode)
    }
}
