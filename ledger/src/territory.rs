//! The `Territory` aggregate: the collectivity's treasury (minted supply), the versions of its
//! rules, and the mirror entries of tokens coming back from settlements and expiries.

use chrono::{DateTime, Utc};
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use ygor_rules::Rules;

use crate::amount::Tokens;
use crate::error::LedgerError;
use crate::ids::{PartnerId, SettlementId};

/// There is one territory per deployment; its stream has this id.
pub const TERRITORY_ID: &str = "territory";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulesVersion {
    pub version: u32,
    pub published_at: DateTime<Utc>,
    pub rules: Rules,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Territory {
    minted: Tokens,
    treasury: Tokens,
    rules: Vec<RulesVersion>,
    last_checkpoint_size: Option<u64>,
    /// Number of events applied: the sequence of the last one.
    version: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TerritoryCommand {
    PublishRules {
        rules: Rules,
        source: String,
        at: DateTime<Utc>,
    },
    MintSupply {
        amount: Tokens,
        at: DateTime<Utc>,
    },
    /// The treasury side of an allocation; the envelope side is `PartnerCommand::ReceiveEnvelope`.
    AllocateEnvelope {
        partner_id: PartnerId,
        amount: Tokens,
        at: DateTime<Utc>,
    },
    /// The treasury side of a settlement (mirror of `PartnerEvent::VenueSettled`).
    RecoverSettlement {
        venue_id: PartnerId,
        settlement_id: SettlementId,
        amount: Tokens,
        at: DateTime<Utc>,
    },
    /// The treasury side of an expiry sweep (mirror of the wallets' `TokensExpired`).
    RecoverExpired {
        amount: Tokens,
        lots: u64,
        at: DateTime<Utc>,
    },
    /// Records a checkpoint the territory signed over the first `tree_size` events.
    RecordCheckpoint {
        checkpoint: SignedCheckpointRecord,
    },
}

/// A signed checkpoint of the log (see docs/audit.md): the root of the Merkle tree over the first
/// `tree_size` events, signed by the territory. Recorded in the log so that the audit can check
/// every past root against the events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpointRecord {
    pub tree_size: u64,
    pub root_hash: String,
    pub signed_at: String,
    pub signature: String,
    pub public_key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TerritoryEvent {
    RulesPublished {
        version: u32,
        rules: Rules,
        source: String,
        published_at: DateTime<Utc>,
    },
    /// Ledger entry: outside → treasury (the only way tokens come into existence).
    SupplyMinted {
        amount: Tokens,
        minted_at: DateTime<Utc>,
    },
    /// Ledger entry: treasury → the association's envelope.
    EnvelopeAllocated {
        partner_id: PartnerId,
        amount: Tokens,
        allocated_at: DateTime<Utc>,
    },
    /// Mirror of `PartnerEvent::VenueSettled` (which is the ledger entry).
    SettlementRecovered {
        venue_id: PartnerId,
        settlement_id: SettlementId,
        amount: Tokens,
        settled_at: DateTime<Utc>,
    },
    /// Mirror of the wallets' `TokensExpired` events of one sweep batch (which are the ledger entries).
    ExpiredRecovered {
        amount: Tokens,
        lots: u64,
        swept_at: DateTime<Utc>,
    },
    CheckpointRecorded {
        checkpoint: SignedCheckpointRecord,
    },
}

impl DomainEvent for TerritoryEvent {
    fn event_type(&self) -> String {
        match self {
            TerritoryEvent::RulesPublished { .. } => "RulesPublished",
            TerritoryEvent::SupplyMinted { .. } => "SupplyMinted",
            TerritoryEvent::EnvelopeAllocated { .. } => "EnvelopeAllocated",
            TerritoryEvent::SettlementRecovered { .. } => "SettlementRecovered",
            TerritoryEvent::ExpiredRecovered { .. } => "ExpiredRecovered",
            TerritoryEvent::CheckpointRecorded { .. } => "CheckpointRecorded",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

impl Territory {
    pub fn minted(&self) -> Tokens {
        self.minted
    }

    pub fn treasury(&self) -> Tokens {
        self.treasury
    }

    pub fn version(&self) -> usize {
        self.version
    }

    /// The rules in force now: the last published version.
    pub fn rules_in_force(&self) -> Option<&RulesVersion> {
        self.rules.last()
    }

    pub fn rules_versions(&self) -> &[RulesVersion] {
        &self.rules
    }

    pub fn decide(&self, command: TerritoryCommand) -> Result<Vec<TerritoryEvent>, LedgerError> {
        match command {
            TerritoryCommand::PublishRules { rules, source, at } => {
                let version = u32::try_from(self.rules.len() + 1).map_err(|_| LedgerError::Overflow)?;
                Ok(vec![TerritoryEvent::RulesPublished { version, rules, source, published_at: at }])
            }
            TerritoryCommand::MintSupply { amount, at } => {
                self.minted.checked_add(amount).ok_or(LedgerError::Overflow)?;
                Ok(vec![TerritoryEvent::SupplyMinted { amount, minted_at: at }])
            }
            TerritoryCommand::AllocateEnvelope { partner_id, amount, at } => {
                if amount > self.treasury {
                    return Err(LedgerError::TreasuryExhausted { available: self.treasury, requested: amount });
                }
                Ok(vec![TerritoryEvent::EnvelopeAllocated { partner_id, amount, allocated_at: at }])
            }
            TerritoryCommand::RecoverSettlement { venue_id, settlement_id, amount, at } => {
                self.treasury.checked_add(amount).ok_or(LedgerError::Overflow)?;
                Ok(vec![TerritoryEvent::SettlementRecovered { venue_id, settlement_id, amount, settled_at: at }])
            }
            TerritoryCommand::RecordCheckpoint { checkpoint } => {
                if self.last_checkpoint_size.is_some_and(|size| size >= checkpoint.tree_size) {
                    return Ok(vec![]);
                }
                Ok(vec![TerritoryEvent::CheckpointRecorded { checkpoint }])
            }
            TerritoryCommand::RecoverExpired { amount, lots, at } => {
                self.treasury.checked_add(amount).ok_or(LedgerError::Overflow)?;
                Ok(vec![TerritoryEvent::ExpiredRecovered { amount, lots, swept_at: at }])
            }
        }
    }

    pub fn apply_event(&mut self, event: TerritoryEvent) {
        self.version += 1;
        match event {
            TerritoryEvent::RulesPublished { version, rules, published_at, .. } => {
                self.rules.push(RulesVersion { version, published_at, rules });
            }
            TerritoryEvent::SupplyMinted { amount, .. } => {
                self.minted.add_assign_checked(amount);
                self.treasury.add_assign_checked(amount);
            }
            TerritoryEvent::EnvelopeAllocated { amount, .. } => self.treasury.sub_assign_checked(amount),
            TerritoryEvent::SettlementRecovered { amount, .. } | TerritoryEvent::ExpiredRecovered { amount, .. } => {
                self.treasury.add_assign_checked(amount)
            }
            TerritoryEvent::CheckpointRecorded { checkpoint } => self.last_checkpoint_size = Some(checkpoint.tree_size),
        }
        assert!(self.treasury <= self.minted, "the treasury can never hold more than was minted");
    }
}

impl Aggregate for Territory {
    const TYPE: &'static str = "territory";
    type Command = TerritoryCommand;
    type Event = TerritoryEvent;
    type Error = LedgerError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &cqrs_es::event_sink::EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.apply_event(event);
    }
}
