//! The `Territory` aggregate: the collectivity's treasury (minted supply), the versions of its
//! rules, and the mirror entries of tokens coming back from settlements and expiries.

use chrono::{DateTime, Utc};
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
    gold_periods: Vec<GoldPeriod>,
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

/// A gold seed period: its commitment is in the log before it starts, its seed after it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoldPeriod {
    pub period: u64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Hex SHA-256 of the 32-byte seed.
    pub commitment: String,
    /// Hex of the seed, once revealed.
    pub seed: Option<String>,
}

/// Most gold events one schedule step writes (after a long downtime the schedule catches up over
/// several steps).
const GOLD_STEP_MAX: usize = 64;

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
    /// The commitment `SHA-256(seed)` of a gold period, in the log before the period starts.
    GoldPeriodCommitted {
        period: u64,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        commitment: String,
    },
    /// The seed of a gold period, revealed once it has ended.
    GoldSeedRevealed {
        period: u64,
        seed: String,
    },
}

crate::macros::domain_event!(TerritoryEvent in "territory" {
    RulesPublished = "3",
    SupplyMinted = "1",
    EnvelopeAllocated = "1",
    SettlementRecovered = "1",
    ExpiredRecovered = "1",
    CheckpointRecorded = "1",
    GoldPeriodCommitted = "1",
    GoldSeedRevealed = "1"
} upcasters: upcast);

/// Version 1 of `RulesPublished` holds rules from before `backdate_max` and `[[neighbourhoods]]`;
/// they read as the rules a file without those keys gives: 30 days, no neighbourhoods. Versions 1
/// and 2 hold rules from before `unit` and `[settlement]`: categories without a unit, tokens with no
/// value in euros.
fn upcast(kind: &str, version: &str) -> Option<crate::codec::Upcaster> {
    use crate::codec::default_field;
    match (kind, version) {
        ("RulesPublished", "1") => Some(|payload| {
            let rules = ["RulesPublished", "rules"];
            let backdate_max = ygor_rules::DEFAULT_BACKDATE_MAX.to_string();
            default_field(payload, &rules, "backdate_max", serde_json::Value::String(backdate_max));
            default_field(payload, &rules, "neighbourhoods", serde_json::json!([]));
            before_version_3(payload);
        }),
        ("RulesPublished", "2") => Some(before_version_3),
        _ => None,
    }
}

/// Rules of versions 1 and 2 as version 3 reads them: each category with `"unit": null`, and
/// `"settlement": null`.
fn before_version_3(payload: &mut serde_json::Value) {
    let categories = payload.pointer_mut("/RulesPublished/rules/categories").and_then(serde_json::Value::as_array_mut);
    for category in categories.into_iter().flatten() {
        crate::codec::default_field(category, &[], "unit", serde_json::Value::Null);
    }
    crate::codec::default_field(payload, &["RulesPublished", "rules"], "settlement", serde_json::Value::Null);
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

    /// What a token is worth under the rules in force, if they give it a value (`[settlement]`).
    pub fn token_value(&self) -> Option<crate::partner::TokenValue> {
        let in_force = self.rules_in_force()?;
        let settlement = in_force.rules.settlement?;
        Some(crate::partner::TokenValue { rules_version: in_force.version, settlement })
    }

    pub fn rules_versions(&self) -> &[RulesVersion] {
        &self.rules
    }

    /// How many events the latest recorded checkpoint covers, if one was recorded.
    pub fn last_checkpoint_size(&self) -> Option<u64> {
        self.last_checkpoint_size
    }

    pub fn gold_periods(&self) -> &[GoldPeriod] {
        &self.gold_periods
    }

    /// The gold period in force at `at`, if one is committed.
    pub fn gold_period_at(&self, at: DateTime<Utc>) -> Option<&GoldPeriod> {
        self.gold_periods.iter().rev().find(|period| period.starts_at <= at && at < period.ends_at)
    }

    /// The events that bring the gold schedule up to `now`: periods back to back from the first
    /// publication of rules with gold (`first_start`), always one period committed ahead of the
    /// current one (so every commitment is in the log before its period starts), and the seed of
    /// every ended period revealed. `seed_of(period)` gives a period's secret seed; `gold` is the
    /// gold table in force (no new period is committed without one).
    pub fn gold_schedule(
        &self,
        now: DateTime<Utc>,
        gold: Option<&ygor_rules::GoldRules>,
        first_start: DateTime<Utc>,
        seed_of: impl Fn(u64) -> [u8; 32],
    ) -> Vec<TerritoryEvent> {
        use sha2::Digest;
        let mut events = Vec::new();
        for period in self.gold_periods.iter().filter(|period| period.seed.is_none() && period.ends_at <= now) {
            events.push(TerritoryEvent::GoldSeedRevealed {
                period: period.period,
                seed: hex::encode(seed_of(period.period)),
            });
            if events.len() >= GOLD_STEP_MAX {
                return events;
            }
        }
        let Some(gold) = gold else {
            return events;
        };
        let mut next = self.gold_periods.len() as u64;
        let mut last_start = self.gold_periods.last().map(|period| period.starts_at);
        let mut start = self.gold_periods.last().map_or(first_start, |last| last.ends_at);
        // Commit until the last committed period starts after `now`: the current period and the
        // next one are then both committed.
        while last_start.is_none_or(|last_start| last_start <= now) && events.len() < GOLD_STEP_MAX {
            let Some(end) = gold.period.add_to(start).filter(|end| *end > start) else {
                break;
            };
            let seed = seed_of(next);
            events.push(TerritoryEvent::GoldPeriodCommitted {
                period: next,
                starts_at: start,
                ends_at: end,
                commitment: hex::encode(sha2::Sha256::digest(seed)),
            });
            // A period that already ended (after a downtime) is revealed at once.
            if end <= now {
                events.push(TerritoryEvent::GoldSeedRevealed { period: next, seed: hex::encode(seed) });
            }
            last_start = Some(start);
            start = end;
            next += 1;
        }
        events
    }

    pub fn decide(&self, command: TerritoryCommand) -> Result<Vec<TerritoryEvent>, LedgerError> {
        match command {
            TerritoryCommand::PublishRules { rules, source, at } => {
                // The rules in force again (the same parsed rules, whatever the comments and layout
                // of the file) are no new version: nothing would change.
                if self.rules_in_force().is_some_and(|in_force| in_force.rules == rules) {
                    return Ok(vec![]);
                }
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
            TerritoryEvent::GoldPeriodCommitted { period, starts_at, ends_at, commitment } => {
                assert_eq!(period, self.gold_periods.len() as u64, "gold periods are numbered from 0, in order");
                self.gold_periods.push(GoldPeriod { period, starts_at, ends_at, commitment, seed: None });
            }
            TerritoryEvent::GoldSeedRevealed { period, seed } => {
                let entry = self.gold_periods.get_mut(period as usize).expect("a revealed period was committed");
                entry.seed = Some(seed);
            }
        }
        assert!(self.treasury <= self.minted, "the treasury can never hold more than was minted");
    }
}

crate::macros::aggregate!(Territory, TerritoryCommand, TerritoryEvent);
