//! The audit trail: the RFC 9162 Merkle tree over the log in position order, one leaf per event
//! (the JCS form of the event as `GET /v1/audit/events` exports it). Proofs are answered from it.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Serialize};
use ygor_audit::{ExportedEvent, MerkleLog};
use ygor_store::{EventLog, Position, RecordedEvent, StoredEvent};

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

/// Leaves per block of the read models' Merkle tree: 2^10. The tree keeps one hash per block (and
/// the subtrees above), about 64 KB per million events instead of 36 MB; a proof about an older
/// block reads that block's 1,024 events back from the log and hashes them again (a few ms).
pub const BLOCK_HEIGHT: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditTrail {
    pub tree: MerkleLog,
    /// The position of each leaf, in leaf order.
    positions: Positions,
}

impl Default for AuditTrail {
    fn default() -> Self {
        AuditTrail { tree: MerkleLog::compact(BLOCK_HEIGHT), positions: Positions::default() }
    }
}

/// Increasing positions held as runs of consecutive positions: the log's positions are
/// consecutive but where a transaction failed, so a million leaves take a few runs, not 8 MB.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Positions {
    /// (first leaf index, its position) of each run, both increasing.
    runs: Vec<(u64, Position)>,
    len: u64,
}

impl Positions {
    /// Appends `position`, which must be above the last one (the log is read in position order).
    fn push(&mut self, position: Position) {
        let follows =
            self.runs.last().is_some_and(|&(first, start)| start + (self.len - first) as Position == position);
        if !follows {
            self.runs.push((self.len, position));
        }
        self.len += 1;
    }

    /// The position of the leaf at `index`, if there is one.
    fn position_of(&self, index: u64) -> Option<Position> {
        if index >= self.len {
            return None;
        }
        let run = self.runs.partition_point(|&(first, _)| first <= index).checked_sub(1)?;
        let (first, start) = self.runs[run];
        Some(start + (index - first) as Position)
    }

    /// The leaf index of `position`, if a leaf has it.
    fn leaf_index(&self, position: Position) -> Option<u64> {
        let run = self.runs.partition_point(|&(_, start)| start <= position).checked_sub(1)?;
        let (first, start) = self.runs[run];
        let end = self.runs.get(run + 1).map_or(self.len, |&(next, _)| next);
        let index = first + (position - start) as u64;
        (index < end).then_some(index)
    }
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
        self.push_leaf_hash(recorded.position, ygor_audit::leaf_hash(&leaf));
        Ok(())
    }

    /// Appends the leaf of the event at `position`, hashed already (see [`stored_leaf_hash`]).
    pub fn push_leaf_hash(&mut self, position: Position, leaf_hash: [u8; 32]) {
        self.tree.push_leaf_hash(leaf_hash);
        self.positions.push(position);
    }

    pub fn size(&self) -> u64 {
        self.positions.len
    }

    /// The leaf index of the event at `position`, if there is one.
    pub fn leaf_index(&self, position: Position) -> Option<u64> {
        self.positions.leaf_index(position)
    }

    pub fn root_hex(&self, tree_size: u64) -> Option<String> {
        self.tree.root(tree_size).map(hex::encode)
    }

    /// The position of the leaf at `leaf_index`, if there is one.
    pub fn position_of_leaf(&self, leaf_index: u64) -> Option<Position> {
        self.positions.position_of(leaf_index)
    }
}

/// Why the leaves of a block could not be given back.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error(transparent)]
    Store(#[from] ygor_store::StoreError),
    #[error("event at position {position}: {message}")]
    Leaf { position: Position, message: String },
    /// The events read back do not hash to the block's root the tree holds: the log was changed
    /// since the read models applied it (or they are wrong).
    #[error(
        "the events of leaves {first} to {last} (positions {first_position} to {last_position}) no longer hash to the root the audit trail recorded for them: the log was changed"
    )]
    Tampered { first: u64, last: u64, first_position: Position, last_position: Position },
}

/// Reads back from the log the leaves of the blocks `wanted` of `trail` (what a root or a proof
/// of its compact tree asked for), hashes them again, and checks each block against the root the
/// tree holds for it. `blocks` comes from [`AuditTrail::blocks_to_read`], taken under the read
/// models' lock, which is not held across the reads: a complete block never changes.
pub async fn read_blocks(
    log: &EventLog,
    blocks: &[(u64, Position, [u8; 32])],
) -> Result<ygor_audit::BlockLeaves, BlockError> {
    let block_len = 1usize << BLOCK_HEIGHT;
    let mut found = ygor_audit::BlockLeaves::new();
    if blocks.is_empty() {
        return Ok(found);
    }
    // One reader for every block: on SQLite, each reader opens a connection of its own.
    let mut reader = log.stored_reader().await?;
    for &(block, first_position, root) in blocks {
        let events = reader.read_after(first_position - 1, block_len).await?;
        let mut leaves = Vec::with_capacity(block_len);
        for event in &events {
            let leaf = stored_leaf_hash(event)
                .map_err(|error| BlockError::Leaf { position: event.position, message: error.to_string() })?;
            leaves.push(leaf);
        }
        let first = block * block_len as u64;
        let last = first + block_len as u64 - 1;
        if leaves.len() != block_len || MerkleLog::root_of_leaves(&leaves) != root {
            return Err(BlockError::Tampered {
                first,
                last,
                first_position,
                last_position: events.last().map_or(first_position, |event| event.position),
            });
        }
        found.insert(block, leaves);
    }
    Ok(found)
}

impl AuditTrail {
    /// For each block of `missing`: its index, the position of its first leaf and its root, as
    /// [`read_blocks`] needs them.
    pub fn blocks_to_read(&self, missing: &ygor_audit::MissingBlocks) -> Vec<(u64, Position, [u8; 32])> {
        let block_len = self.tree.block_len();
        missing
            .0
            .iter()
            .filter_map(|&block| Some((block, self.position_of_leaf(block * block_len)?, self.tree.block_root(block)?)))
            .collect()
    }
}

/// The Merkle leaf hash of a stored event: the same hash [`AuditTrail::append`] computes for the
/// event read back with `read_after`, from its payload text (no `Value` in between).
pub fn stored_leaf_hash(stored: &StoredEvent) -> Result<[u8; 32], ygor_audit::AuditError> {
    let recorded_at = rfc3339_micros(stored.recorded_at);
    let leaf = ygor_audit::leaf_data_text(&ygor_audit::ExportedText {
        position: stored.position,
        aggregate_type: &stored.aggregate_type,
        aggregate_id: &stored.aggregate_id,
        sequence: stored.sequence as i64,
        event_type: &stored.event_type,
        event_version: &stored.event_version,
        payload: &stored.payload,
        recorded_at: &recorded_at,
    })?;
    Ok(ygor_audit::leaf_hash(&leaf))
}

/// The Merkle leaf hash of an event this process appended (see [`crate::FedEvent`]): the same hash
/// [`AuditTrail::append`] computes for it once read back, from its canonical payload text when the
/// engine wrote one (no parsing at all), else from its stored text.
pub fn appended_leaf_hash(
    position: Position,
    appended: &ygor_store::NewEvent,
) -> Result<[u8; 32], ygor_audit::AuditError> {
    let head = appended.head();
    let recorded_at = rfc3339_micros(appended.stored_recorded_at());
    let fields = ygor_audit::ExportedText {
        position,
        aggregate_type: head.aggregate_type,
        aggregate_id: head.aggregate_id,
        sequence: head.sequence as i64,
        event_type: head.event_type,
        event_version: head.event_version,
        payload: appended.canonical_payload().unwrap_or(appended.payload_text()),
        recorded_at: &recorded_at,
    };
    let leaf = match appended.canonical_payload() {
        Some(_) => ygor_audit::leaf_data_canonical(&fields)?,
        None => ygor_audit::leaf_data_text(&fields)?,
    };
    Ok(ygor_audit::leaf_hash(&leaf))
}

/// `instant.to_rfc3339_opts(SecondsFormat::Micros, true)`, digit by digit for the years 0 to 9999
/// outside leap seconds (chrono's general formatter costs as much as hashing a small event).
fn rfc3339_micros(instant: DateTime<Utc>) -> String {
    let naive = instant.naive_utc();
    let Ok(year) = u32::try_from(naive.year()) else {
        return instant.to_rfc3339_opts(SecondsFormat::Micros, true);
    };
    let nanosecond = naive.nanosecond();
    if year > 9999 || nanosecond >= 1_000_000_000 {
        return instant.to_rfc3339_opts(SecondsFormat::Micros, true);
    }
    let mut text = String::with_capacity(27);
    let mut digits = |value: u32, width: u32, after: char| {
        for place in (0..width).rev() {
            text.push(char::from(b'0' + (value / 10u32.pow(place) % 10) as u8));
        }
        text.push(after);
    };
    digits(year, 4, '-');
    digits(naive.month(), 2, '-');
    digits(naive.day(), 2, 'T');
    digits(naive.hour(), 2, ':');
    digits(naive.minute(), 2, ':');
    digits(naive.second(), 2, '.');
    digits(nanosecond / 1_000, 6, 'Z');
    text
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    #[test]
    fn positions_in_runs_find_every_leaf_and_nothing_else() {
        let held: Vec<Position> = [1, 2, 3, 5, 6, 10, 11, 12, 13, 40, 1_000_000, 1_000_001].to_vec();
        let mut positions = Positions::default();
        held.iter().for_each(|&position| positions.push(position));
        assert_eq!(positions.runs.len(), 5, "{positions:?}");
        for position in -1..=1_000_003 {
            let expected = held.iter().position(|&found| found == position).map(|index| index as u64);
            assert_eq!(positions.leaf_index(position), expected, "position {position}");
        }
        for (index, position) in held.iter().enumerate() {
            assert_eq!(positions.position_of(index as u64), Some(*position), "leaf {index}");
        }
        assert_eq!(positions.position_of(held.len() as u64), None);
        assert_eq!(Positions::default().leaf_index(1), None);
    }

    #[test]
    fn recorded_at_is_written_as_chrono_writes_it() {
        let start = Utc.with_ymd_and_hms(2026, 11, 22, 9, 5, 3).single().expect("valid instant");
        let mut instants = vec![
            start,
            start + Duration::nanoseconds(1_234_567),
            start + Duration::nanoseconds(999_999_999),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).single().expect("year 0"),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).single().expect("year 9999"),
            Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).single().expect("year 10000"),
            Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).single().expect("year -1"),
            // A leap second, as chrono represents it.
            chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                .and_then(|date| date.and_hms_micro_opt(23, 59, 59, 1_500_000))
                .expect("leap second")
                .and_utc(),
        ];
        instants.extend((0..2_000).map(|step| start + Duration::microseconds(step * 7_777_777_777 + step)));
        for instant in instants {
            assert_eq!(rfc3339_micros(instant), instant.to_rfc3339_opts(SecondsFormat::Micros, true), "{instant:?}");
        }
    }
}
