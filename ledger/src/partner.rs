//! The `Partner` aggregate: an association (certifier, holding a token envelope) or a venue
//! (redeemer, holding redeemed tokens until they are settled). It guards registration,
//! suspension, the envelope never going below zero, and the single use of action and
//! redemption ids.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::amount::Tokens;
use crate::error::LedgerError;
use crate::ids::{
    ActionId, CategoryId, CitizenId, LotId, PartnerId, PartnerKind, RedemptionId, SettlementId, VoucherId,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    pub kind: PartnerKind,
    pub name: String,
    pub public_key: String,
    pub registered_at: DateTime<Utc>,
}

/// What a certification gave, as answered to the association (and again on a retry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificationOutcome {
    pub action_id: ActionId,
    pub tokens: Tokens,
    pub gold: bool,
    /// The gold period whose seed decided `gold` (None when the rules had no gold).
    #[serde(default)]
    pub gold_period: Option<u64>,
    pub lot_id: Option<LotId>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A certification as the association signed it, plus what the territory decided for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificationRecord {
    pub action_id: ActionId,
    pub citizen_id: CitizenId,
    pub category: CategoryId,
    pub quantity: u64,
    pub occurred_at: DateTime<Utc>,
    /// The partner's ed25519 signature over the canonical request, kept for the audit.
    pub signature: String,
    /// The signed object exactly as the partner sent it (signature included), so that anyone can
    /// re-verify the signature from the log.
    pub request: serde_json::Value,
    /// SHA-256 (hex) of the signed message: a retry with the same fingerprint is the same request.
    pub fingerprint: String,
    pub rules_version: u32,
    /// The gold period whose seed decided `outcome.gold` (None when the rules had no gold).
    #[serde(default)]
    pub gold_period: Option<u64>,
    pub outcome: CertificationOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedemptionRecord {
    pub redemption_id: RedemptionId,
    pub citizen_id: CitizenId,
    pub voucher_id: VoucherId,
    pub amount: Tokens,
    pub signature: String,
    /// The signed object exactly as the venue sent it (signature included).
    pub request: serde_json::Value,
    pub fingerprint: String,
    /// The voucher as presented, so that anyone can re-check the territory's signature on it.
    pub voucher: String,
}

/// A request's fingerprint as the partner remembers it: the SHA-256 of the fingerprint text, 32
/// bytes in place of a 64-character string on the heap. Two fingerprints are the same exactly
/// when their texts are (up to a SHA-256 collision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub fn of(text: &str) -> Fingerprint {
        use sha2::Digest as _;
        Fingerprint(sha2::Sha256::digest(text.as_bytes()).into())
    }
}

/// What the partner remembers of a certification: what later decisions need (a retry, a
/// revocation). The signed request stays in the log only: kept here for every certification it was
/// most of the engine's memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificationState {
    pub citizen_id: CitizenId,
    /// Of [`CertificationRecord::fingerprint`].
    pub fingerprint: Fingerprint,
    pub outcome: CertificationOutcome,
    pub certified_at: DateTime<Utc>,
    pub sequence: usize,
    pub refunded: Option<Tokens>,
    /// Sequence of the `RevocationRefunded` event, if the revocation returned anything.
    pub refund_sequence: Option<usize>,
}

/// What a venue remembers of a redemption (see [`CertificationState`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedemptionState {
    pub fingerprint: Fingerprint,
    pub amount: Tokens,
    pub redeemed_at: DateTime<Utc>,
    pub sequence: usize,
    pub settled: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Partner {
    registration: Option<Registration>,
    suspended: bool,
    envelope: Tokens,
    redeemed_unsettled: Tokens,
    certifications: HashMap<ActionId, CertificationState>,
    redemptions: HashMap<RedemptionId, RedemptionState>,
    unsettled: Vec<RedemptionId>,
    version: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PartnerCommand {
    Register {
        kind: PartnerKind,
        name: String,
        public_key: String,
        at: DateTime<Utc>,
    },
    Suspend {
        at: DateTime<Utc>,
    },
    /// The envelope side of an allocation (the treasury side is on the territory).
    ReceiveEnvelope {
        amount: Tokens,
        at: DateTime<Utc>,
    },
    RecordCertification {
        record: CertificationRecord,
        at: DateTime<Utc>,
    },
    /// The envelope side of a revocation: the lot's unspent tokens come back.
    RefundRevocation {
        action_id: ActionId,
        amount: Tokens,
        at: DateTime<Utc>,
    },
    RecordRedemption {
        record: RedemptionRecord,
        at: DateTime<Utc>,
    },
    Settle {
        settlement_id: SettlementId,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PartnerEvent {
    PartnerRegistered {
        kind: PartnerKind,
        name: String,
        public_key: String,
        registered_at: DateTime<Utc>,
    },
    PartnerSuspended {
        suspended_at: DateTime<Utc>,
    },
    /// Mirror of `TerritoryEvent::EnvelopeAllocated`.
    EnvelopeReceived {
        amount: Tokens,
        received_at: DateTime<Utc>,
    },
    /// Ledger entry: envelope → the citizen's wallet (`record.outcome.tokens`).
    CertificationRecorded {
        record: CertificationRecord,
        certified_at: DateTime<Utc>,
    },
    /// Mirror of `WalletEvent::CertificationRevoked`.
    RevocationRefunded {
        action_id: ActionId,
        amount: Tokens,
        refunded_at: DateTime<Utc>,
    },
    /// Mirror of `WalletEvent::TokensRedeemed`.
    RedemptionRecorded {
        record: RedemptionRecord,
        redeemed_at: DateTime<Utc>,
    },
    /// Ledger entry: the venue's redeemed tokens → treasury.
    VenueSettled {
        settlement_id: SettlementId,
        redemption_ids: Vec<RedemptionId>,
        amount: Tokens,
        settled_at: DateTime<Utc>,
    },
}

crate::macros::domain_event!(PartnerEvent {
    PartnerRegistered,
    PartnerSuspended,
    EnvelopeReceived,
    CertificationRecorded,
    RevocationRefunded,
    RedemptionRecorded,
    VenueSettled
});

impl Partner {
    pub fn registration(&self) -> Option<&Registration> {
        self.registration.as_ref()
    }

    pub fn is_suspended(&self) -> bool {
        self.suspended
    }

    pub fn envelope(&self) -> Tokens {
        self.envelope
    }

    pub fn redeemed_unsettled(&self) -> Tokens {
        self.redeemed_unsettled
    }

    pub fn version(&self) -> usize {
        self.version
    }

    pub fn certification(&self, action_id: ActionId) -> Option<&CertificationState> {
        self.certifications.get(&action_id)
    }

    pub fn redemption(&self, redemption_id: RedemptionId) -> Option<&RedemptionState> {
        self.redemptions.get(&redemption_id)
    }

    /// Refuses anything but a registered, active partner of the given kind.
    pub fn ensure_active(&self, id: PartnerId, kind: PartnerKind) -> Result<(), LedgerError> {
        let registration = self.registration.as_ref().ok_or(LedgerError::UnknownPartner(id))?;
        if registration.kind != kind {
            return Err(match kind {
                PartnerKind::Association => LedgerError::NotAnAssociation(id),
                PartnerKind::Venue => LedgerError::NotAVenue(id),
            });
        }
        if self.suspended {
            return Err(LedgerError::PartnerSuspended(id));
        }
        Ok(())
    }

    pub fn decide(&self, command: PartnerCommand) -> Result<Vec<PartnerEvent>, LedgerError> {
        match command {
            PartnerCommand::Register { kind, name, public_key, at } => {
                if self.registration.is_some() {
                    return Err(LedgerError::AlreadyRegistered("this partner".to_owned()));
                }
                Ok(vec![PartnerEvent::PartnerRegistered { kind, name, public_key, registered_at: at }])
            }
            PartnerCommand::Suspend { at } => {
                if self.registration.is_none() || self.suspended {
                    // Suspending twice is not an error and writes nothing: the state is already right.
                    return Ok(vec![]);
                }
                Ok(vec![PartnerEvent::PartnerSuspended { suspended_at: at }])
            }
            PartnerCommand::ReceiveEnvelope { amount, at } => {
                self.envelope.checked_add(amount).ok_or(LedgerError::Overflow)?;
                Ok(vec![PartnerEvent::EnvelopeReceived { amount, received_at: at }])
            }
            PartnerCommand::RecordCertification { record, at } => {
                if self.certifications.contains_key(&record.action_id) {
                    // Retries are recognised before reaching here; any other reuse is a conflict.
                    return Err(LedgerError::IdConflict { what: format!("action_id {}", record.action_id) });
                }
                let tokens = record.outcome.tokens;
                if tokens > self.envelope {
                    return Err(LedgerError::EnvelopeExhausted { available: self.envelope, requested: tokens });
                }
                Ok(vec![PartnerEvent::CertificationRecorded { record, certified_at: at }])
            }
            PartnerCommand::RefundRevocation { action_id, amount, at } => {
                let state = self.certifications.get(&action_id).ok_or(LedgerError::UnknownAction(action_id))?;
                if state.refunded.is_some() {
                    return Err(LedgerError::IdConflict { what: format!("revocation of action {action_id}") });
                }
                if amount > state.outcome.tokens {
                    return Err(LedgerError::Overflow);
                }
                Ok(vec![PartnerEvent::RevocationRefunded { action_id, amount, refunded_at: at }])
            }
            PartnerCommand::RecordRedemption { record, at } => {
                if self.redemptions.contains_key(&record.redemption_id) {
                    return Err(LedgerError::IdConflict { what: format!("redemption_id {}", record.redemption_id) });
                }
                self.redeemed_unsettled.checked_add(record.amount).ok_or(LedgerError::Overflow)?;
                Ok(vec![PartnerEvent::RedemptionRecorded { record, redeemed_at: at }])
            }
            PartnerCommand::Settle { settlement_id, at } => {
                if self.redeemed_unsettled.is_zero() {
                    return Ok(vec![]);
                }
                Ok(vec![PartnerEvent::VenueSettled {
                    settlement_id,
                    redemption_ids: self.unsettled.clone(),
                    amount: self.redeemed_unsettled,
                    settled_at: at,
                }])
            }
        }
    }

    pub fn apply_event(&mut self, event: PartnerEvent) {
        self.version += 1;
        match event {
            PartnerEvent::PartnerRegistered { kind, name, public_key, registered_at } => {
                self.registration = Some(Registration { kind, name, public_key, registered_at });
            }
            PartnerEvent::PartnerSuspended { .. } => self.suspended = true,
            PartnerEvent::EnvelopeReceived { amount, .. } => self.envelope.add_assign_checked(amount),
            PartnerEvent::CertificationRecorded { record, certified_at } => {
                self.envelope.sub_assign_checked(record.outcome.tokens);
                self.certifications.insert(
                    record.action_id,
                    CertificationState {
                        citizen_id: record.citizen_id,
                        fingerprint: Fingerprint::of(&record.fingerprint),
                        outcome: record.outcome,
                        certified_at,
                        sequence: self.version,
                        refunded: None,
                        refund_sequence: None,
                    },
                );
            }
            PartnerEvent::RevocationRefunded { action_id, amount, .. } => {
                self.envelope.add_assign_checked(amount);
                if let Some(state) = self.certifications.get_mut(&action_id) {
                    state.refunded = Some(amount);
                    state.refund_sequence = Some(self.version);
                }
            }
            PartnerEvent::RedemptionRecorded { record, redeemed_at } => {
                self.redeemed_unsettled.add_assign_checked(record.amount);
                self.unsettled.push(record.redemption_id);
                self.redemptions.insert(
                    record.redemption_id,
                    RedemptionState {
                        fingerprint: Fingerprint::of(&record.fingerprint),
                        amount: record.amount,
                        redeemed_at,
                        sequence: self.version,
                        settled: false,
                    },
                );
            }
            PartnerEvent::VenueSettled { redemption_ids, amount, .. } => {
                self.redeemed_unsettled.sub_assign_checked(amount);
                for id in &redemption_ids {
                    if let Some(state) = self.redemptions.get_mut(id) {
                        state.settled = true;
                    }
                }
                let settled: std::collections::HashSet<_> = redemption_ids.iter().collect();
                self.unsettled.retain(|id| !settled.contains(id));
            }
        }
    }
}

crate::macros::aggregate!(Partner, "partner", PartnerCommand, PartnerEvent);
