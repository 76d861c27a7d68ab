//! Everything an outsider needs to re-derive Ygor's public outcomes from public data.
//!
//! Ygor's ledger is meant to be checked by people who do not trust the server. This crate holds
//! the procedures they re-run, each specified byte for byte in `docs/audit.md` so that it can be
//! re-implemented in any language:
//!
//! - the log's tamper evidence: an RFC 9162 Merkle tree over the exported events in position
//!   order ([`MerkleLog`], [`leaf_data`]), inclusion and consistency proofs
//!   ([`verify_inclusion`], [`verify_consistency`]) and the territory's signed checkpoints
//!   ([`sign_checkpoint`], [`verify_checkpoint`]);
//! - gold outcomes, decided by a committed and later revealed seed ([`gold_earned`]);
//! - draws, weighted by tickets, without replacement, from a committed seed
//!   ([`entries_root`], [`draw_winners`]).
//!
//! The server is meant to produce these values with the same functions an auditor re-runs, so
//! the two cannot drift apart. The crate is pure: no I/O, no clock, and no randomness of its own
//! (seeds, keys and times are inputs).

#![forbid(unsafe_code)]

mod checkpoint;
mod draw;
mod encoding;
mod error;
mod event;
mod gold;
mod merkle;

pub use checkpoint::{
    Checkpoint, SignedCheckpoint, checkpoint_signing_message, sign_checkpoint, verify_checkpoint,
    verify_checkpoint_from,
};
pub use draw::{
    DrawEntry, draw_entrants, draw_generator_key, draw_stream, draw_winners, entries_root, entry_leaf_data,
    uniform_below,
};
pub use encoding::decode_hex_32;
pub use error::AuditError;
pub use event::{
    ExportedEvent, ExportedFields, ExportedRef, ExportedText, canonical_text, event_leaf_hash, leaf_data,
    leaf_data_canonical, leaf_data_ref, leaf_data_text,
};
pub use gold::{gold_earned, gold_hash, hash_below_probability, seed_commitment, seed_matches_commitment};
pub use merkle::{
    BlockLeaves, EMPTY_TREE_ROOT, MAX_BLOCK_HEIGHT, MerkleLog, MissingBlocks, leaf_hash, node_hash, verify_consistency,
    verify_inclusion,
};
