//! What a command can fail with. A business refusal is the ledger's ([`LedgerError`]); every
//! other variant is the engine's own, and the HTTP layer maps each to one status and code.

use ygor_ledger::LedgerError;
use ygor_ledger::codec::DecodeError;
use ygor_store::StoreError;

use crate::conservation::Violation;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The ledger refused the command: the caller's to fix.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    /// A group commit failed; nothing of the operation was written.
    #[error("storage failed: {0}")]
    Storage(String),
    /// The database cannot be reached; nothing of the operation was written.
    #[error("the database cannot be reached, nothing was written: {0}")]
    StorageUnavailable(String),
    /// The database went away while it committed the operation, and whether it did is unknown:
    /// the same request again (the same ids) is answered from the log if it was written.
    #[error("the outcome of the commit is unknown: {0}")]
    OutcomeUnknown(String),
    /// Another process holds the writer lock of the database: this one takes no writes.
    #[error("another process writes to this database: {0}")]
    NotWriter(String),
    #[error("event {sequence} of {aggregate} does not decode: {source}")]
    Decode { aggregate: String, sequence: usize, source: DecodeError },
    /// What the log holds is not what the engine expected of it (a stream with a gap, a history
    /// read back that is not the one summarised): a defect or a log changed behind the engine.
    #[error("the log disagrees with the engine: {0}")]
    Inconsistent(String),
    /// Another writer on the same database kept winning the race for the same aggregates.
    #[error("another writer kept winning the race for the same aggregates")]
    Contention,
    /// The committer's queue is full: the database does not keep up. Nothing was changed.
    #[error("the write queue is full ({0} operations waiting); nothing was changed")]
    Overloaded(usize),
    /// The decided changes would not conserve tokens: a defect, refused before any append.
    #[error("a decision would break conservation, nothing was written: {0}")]
    Conservation(#[from] Violation),
    /// The committer has stopped (the engine is shutting down).
    #[error("the committer has stopped")]
    Stopped,
}
