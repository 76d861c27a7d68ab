//! What users look up to find what concerns them: the versions of the rules and the text of the
//! one in force, each partner's registration time, suspension and envelope flows, and the draws
//! in the order they were created. The other read models keep none of it: the rules model holds
//! the parsed rules only, the draws are keyed by id, and the books hold an envelope's balance but
//! not what went in and out of it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ygor_ledger::books::{Account, AnyEvent, ledger_entry};
use ygor_ledger::draw::DrawEvent;
use ygor_ledger::partner::PartnerEvent;
use ygor_ledger::territory::{SignedCheckpointRecord, TerritoryEvent};
use ygor_ledger::{DrawId, PartnerId, PartnerKind, Tokens};

use crate::ReadModels;

/// One published version of the rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedVersion {
    pub version: u32,
    pub published_at: DateTime<Utc>,
}

/// An association's envelope as running totals: `balance = allocated − issued + returned`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeFlows {
    /// Received from the treasury.
    pub allocated: Tokens,
    /// Given to citizens by the association's certifications.
    pub issued: Tokens,
    /// Given back to the envelope by revocations.
    pub returned: Tokens,
}

impl EnvelopeFlows {
    /// `allocated − issued + returned`; `None` if the totals say the envelope went below zero,
    /// which the books never let happen.
    pub fn balance(&self) -> Option<Tokens> {
        self.allocated.checked_add(self.returned)?.checked_sub(self.issued)
    }
}

/// What the directory knows of a partner beside its kind and name (in `ReadModels::partners`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerState {
    pub registered_at: Option<DateTime<Utc>>,
    pub suspended: bool,
    /// All zero for a venue.
    pub envelope: EnvelopeFlows,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    /// Every version of the rules, oldest first.
    pub rules_versions: Vec<PublishedVersion>,
    /// The published text of the rules in force (one version's text only: the others are in the
    /// log).
    pub rules_source: Option<String>,
    pub partners: BTreeMap<PartnerId, PartnerState>,
    /// Every draw, in the order it was created, with when.
    pub draws: Vec<(DrawId, DateTime<Utc>)>,
    /// The latest [`RECENT_CHECKPOINTS`] checkpoints recorded in the log, oldest first (the
    /// others are in the log).
    pub checkpoints: Vec<SignedCheckpointRecord>,
    /// How many checkpoints the log records.
    pub checkpoints_recorded: u64,
}

/// How many recorded checkpoints the directory keeps for the pages.
pub const RECENT_CHECKPOINTS: usize = 20;

impl Directory {
    /// Applies one event; returns the association whose envelope it moved, if any, so that the
    /// caller checks the flows against the books.
    pub fn apply(&mut self, event: &AnyEvent) -> Option<PartnerId> {
        match event {
            AnyEvent::Territory(TerritoryEvent::RulesPublished { version, source, published_at, .. }) => {
                self.rules_versions.push(PublishedVersion { version: *version, published_at: *published_at });
                self.rules_source = Some(source.clone());
            }
            AnyEvent::Partner(id, PartnerEvent::PartnerRegistered { registered_at, .. }) => {
                self.partners.entry(*id).or_default().registered_at = Some(*registered_at);
            }
            AnyEvent::Partner(id, PartnerEvent::PartnerSuspended { .. }) => {
                self.partners.entry(*id).or_default().suspended = true;
            }
            AnyEvent::Partner(id, PartnerEvent::PartnerReinstated { .. }) => {
                self.partners.entry(*id).or_default().suspended = false;
            }
            AnyEvent::Draw(id, DrawEvent::DrawCreated { created_at, .. }) => self.draws.push((*id, *created_at)),
            AnyEvent::Territory(TerritoryEvent::CheckpointRecorded { checkpoint }) => {
                if self.checkpoints.len() == RECENT_CHECKPOINTS {
                    self.checkpoints.remove(0);
                }
                self.checkpoints.push(checkpoint.clone());
                self.checkpoints_recorded += 1;
            }
            _ => {}
        }
        // The envelope's flows are read from the ledger entries, the one definition of what
        // moves tokens, not from the partner's mirror events.
        let transfer = ledger_entry(event)?;
        let (id, total): (PartnerId, fn(&mut EnvelopeFlows) -> &mut Tokens) = match (transfer.debit, transfer.credit) {
            (Account::Treasury, Account::Envelope(id)) => (id, |flows| &mut flows.allocated),
            (Account::Envelope(id), Account::Wallet(_)) => (id, |flows| &mut flows.issued),
            (Account::Wallet(_), Account::Envelope(id)) => (id, |flows| &mut flows.returned),
            _ => return None,
        };
        total(&mut self.partners.entry(id).or_default().envelope).add_assign_checked(transfer.amount);
        Some(id)
    }

    /// The envelope flows of an association (all zero for an unknown id).
    pub fn envelope(&self, id: PartnerId) -> EnvelopeFlows {
        self.partners.get(&id).map(|state| state.envelope).unwrap_or_default()
    }
}

/// A registered partner as lists show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartnerEntry<'a> {
    pub partner_id: PartnerId,
    pub kind: PartnerKind,
    pub name: &'a str,
    pub state: PartnerState,
}

impl ReadModels {
    /// Every registered partner, sorted by name without regard to case (Unicode lowercase), then
    /// by id.
    pub fn partner_list(&self) -> Vec<PartnerEntry<'_>> {
        let mut entries: Vec<(String, PartnerEntry<'_>)> = self
            .partners
            .iter()
            .map(|(id, (kind, name))| {
                let state = self.directory.partners.get(id).copied().unwrap_or_default();
                (name.to_lowercase(), PartnerEntry { partner_id: *id, kind: *kind, name, state })
            })
            .collect();
        entries.sort_by(|(a, first), (b, second)| a.cmp(b).then_with(|| first.partner_id.cmp(&second.partner_id)));
        entries.into_iter().map(|(_, entry)| entry).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_balance_is_what_came_in_less_what_went_out() {
        let flows = EnvelopeFlows { allocated: Tokens::new(100), issued: Tokens::new(30), returned: Tokens::new(5) };
        assert_eq!(flows.balance(), Some(Tokens::new(75)));
        let overdrawn = EnvelopeFlows { allocated: Tokens::new(10), issued: Tokens::new(30), returned: Tokens::ZERO };
        assert_eq!(overdrawn.balance(), None);
    }

    #[test]
    fn the_directory_keeps_the_latest_checkpoints_and_counts_them_all() {
        let mut directory = Directory::default();
        let total = RECENT_CHECKPOINTS as u64 + 3;
        for tree_size in 1..=total {
            let checkpoint = SignedCheckpointRecord {
                tree_size,
                root_hash: format!("{tree_size:064x}"),
                signed_at: "2026-12-07T10:00:00Z".to_owned(),
                signature: "signature".to_owned(),
                public_key: "key".to_owned(),
            };
            directory.apply(&AnyEvent::Territory(TerritoryEvent::CheckpointRecorded { checkpoint }));
        }
        assert_eq!(directory.checkpoints_recorded, total);
        let sizes: Vec<u64> = directory.checkpoints.iter().map(|checkpoint| checkpoint.tree_size).collect();
        assert_eq!(sizes, (4..=total).collect::<Vec<_>>(), "the latest, oldest first");
    }
}
