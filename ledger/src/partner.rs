//! The `Partner` aggregate: an association (certifier, holding a token envelope) or a venue
//! (redeemer, holding redeemed tokens until they are settled). It guards registration,
//! suspension (and its lifting), the envelope never going below zero, the single use of action
//! and redemption ids, and a venue's offers with their capacity (see [`crate::offer`]).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::amount::Tokens;
use crate::error::LedgerError;
use crate::ids::{
    ActionId, CategoryId, CitizenId, LotId, OfferId, PartnerId, PartnerKind, RedemptionId, SettlementId, VoucherId,
};
use crate::mission::Publication;
use crate::offer::{Availability, OfferState, OfferTerms, PeriodUses};

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
    pub gold_period: Option<u64>,
    pub lot_id: Option<LotId>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A partner's signed request (signature included) as the JSON text stored in the log, so that
/// anyone can re-verify the signature. Nothing in Ygor reads inside it but the audit: kept as text,
/// a replay copies it instead of building a tree of a dozen small allocations per event.
///
/// Built from the request's RFC 8785 canonical form, it is exactly the text the event's canonical
/// payload holds, so an event compares equal to itself read back. Two requests compare equal when
/// their texts are.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SignedRequest(Box<serde_json::value::RawValue>);

impl SignedRequest {
    /// The request in canonical form (its compact form, if it has none: an integer JSON cannot
    /// carry exactly).
    pub fn of(object: serde_json::Map<String, serde_json::Value>) -> SignedRequest {
        let value = serde_json::Value::Object(object);
        let text = ygor_crypto::canonical_json(&value)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_else(|| value.to_string());
        SignedRequest(serde_json::value::RawValue::from_string(text).expect("serialised JSON is JSON"))
    }

    /// `null`: no request (events built by tests and tools).
    pub fn none() -> SignedRequest {
        SignedRequest(serde_json::value::RawValue::from_string("null".to_owned()).expect("null is JSON"))
    }

    /// The JSON text as stored.
    pub fn text(&self) -> &str {
        self.0.get()
    }

    /// The request parsed, for the audit.
    pub fn parse(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }
}

impl PartialEq for SignedRequest {
    fn eq(&self, other: &SignedRequest) -> bool {
        self.text() == other.text()
    }
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
    /// The signed object as the partner sent it (signature included), so that anyone can
    /// re-verify the signature from the log.
    pub request: SignedRequest,
    /// SHA-256 (hex) of the signed message: a retry with the same fingerprint is the same request.
    pub fingerprint: String,
    pub rules_version: u32,
    /// The gold period whose seed decided `outcome.gold` (None when the rules had no gold).
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
    /// The signed object as the venue sent it (signature included).
    pub request: SignedRequest,
    pub fingerprint: String,
    /// The voucher as presented (or as its countermark stood for), so that anyone can re-check
    /// the territory's signature on it.
    pub voucher: String,
    /// The offer redeemed, when the venue named one: it counts against the offer's capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_id: Option<OfferId>,
}

/// What identifies a signed request among retries: the SHA-256 of its fingerprint text (the
/// SHA-256 of the signed message), 32 bytes in place of a 64-character string on the heap. Two
/// digests are the same exactly when the requests' fingerprints are (up to a SHA-256 collision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestDigest([u8; 32]);

impl RequestDigest {
    pub fn of(fingerprint: &str) -> RequestDigest {
        use sha2::Digest as _;
        RequestDigest(sha2::Sha256::digest(fingerprint.as_bytes()).into())
    }
}

/// An association's certification of an action as the log recorded it: what a later decision
/// about the same action id needs (a retry is answered from it, a revocation finds the citizen in
/// it). The partner aggregate does not keep its certifications; whoever decides reads this from
/// the association's stream (decision 15).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCertification {
    /// The sequence of its `CertificationRecorded` event in the partner's stream.
    pub sequence: usize,
    pub citizen_id: CitizenId,
    /// Of [`CertificationRecord::fingerprint`].
    pub digest: RequestDigest,
    /// What was answered to the association.
    pub outcome: CertificationOutcome,
}

impl RecordedCertification {
    /// The certification an event of the partner's stream at `sequence` recorded; `None` if the
    /// event is not a certification.
    pub fn from_event(sequence: usize, event: PartnerEvent) -> Option<RecordedCertification> {
        match event {
            PartnerEvent::CertificationRecorded { record, .. } => Some(RecordedCertification {
                sequence,
                citizen_id: record.citizen_id,
                digest: RequestDigest::of(&record.fingerprint),
                outcome: record.outcome,
            }),
            _ => None,
        }
    }
}

/// The envelope side of a revocation: how much came back, in the `RevocationRefunded` event at
/// `sequence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub amount: Tokens,
    pub sequence: usize,
}

/// What one token is worth under a version of the rules: the price a settlement is valued at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenValue {
    pub rules_version: u32,
    pub settlement: ygor_rules::SettlementRules,
}

/// What a settlement is worth in euros, fixed when it happens from the rules in force then: a
/// later version of the rules never changes what a venue was paid, and the audit re-checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementValue {
    /// The version of the rules whose `[settlement]` valued the tokens.
    pub rules_version: u32,
    /// The value of one token in euro cents under those rules.
    pub token_value_cents: u64,
    /// The settlement's tokens times `token_value_cents`.
    pub amount_cents: u64,
}

impl SettlementValue {
    /// `amount` tokens valued at `price`; `None` if the cents overflow.
    pub fn of(amount: Tokens, price: TokenValue) -> Option<SettlementValue> {
        Some(SettlementValue {
            rules_version: price.rules_version,
            token_value_cents: price.settlement.token_value_cents,
            amount_cents: price.settlement.cents_for(amount.value())?,
        })
    }
}

/// What a venue remembers of a redemption: what a retry needs to be answered, kept here (a venue
/// redeems far less often than associations certify).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedemptionState {
    pub digest: RequestDigest,
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
    /// The revocations that gave tokens back (rare), by action id.
    refunds: HashMap<ActionId, Refund>,
    redemptions: HashMap<RedemptionId, RedemptionState>,
    unsettled: Vec<RedemptionId>,
    /// A venue's offers, by id.
    offers: BTreeMap<OfferId, OfferState>,
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
    /// Lifts a suspension: the partner's writes are accepted again.
    Reinstate {
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
        /// The value of a token under the rules in force, if they give it one.
        price: Option<TokenValue>,
        at: DateTime<Utc>,
    },
    PublishOffer {
        offer_id: OfferId,
        terms: OfferTerms,
        at: DateTime<Utc>,
    },
    CloseOffer {
        offer_id: OfferId,
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
    /// A suspension lifted: the partner's writes are accepted again.
    PartnerReinstated {
        reinstated_at: DateTime<Utc>,
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
        /// What `amount` is worth in euros; `None` when the rules in force gave tokens no value.
        value: Option<SettlementValue>,
        settled_at: DateTime<Utc>,
    },
    OfferPublished {
        offer_id: OfferId,
        terms: OfferTerms,
        published_at: DateTime<Utc>,
    },
    OfferClosed {
        offer_id: OfferId,
        closed_at: DateTime<Utc>,
    },
}

crate::macros::domain_event!(PartnerEvent in "partner" {
    PartnerRegistered = "1",
    PartnerSuspended = "1",
    PartnerReinstated = "1",
    EnvelopeReceived = "1",
    CertificationRecorded = "1",
    RevocationRefunded = "1",
    RedemptionRecorded = "1",
    VenueSettled = "2",
    OfferPublished = "1",
    OfferClosed = "1"
} upcasters: upcast);

/// Version 1 of `VenueSettled` comes from before `[settlement]`: tokens had no value in euros.
fn upcast(kind: &str, version: &str) -> Option<crate::codec::Upcaster> {
    match (kind, version) {
        ("VenueSettled", "1") => {
            Some(|payload| crate::codec::default_field(payload, &["VenueSettled"], "value", serde_json::Value::Null))
        }
        _ => None,
    }
}

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

    /// The refund a revocation of this action gave back to the envelope, if any.
    pub fn refund(&self, action_id: ActionId) -> Option<Refund> {
        self.refunds.get(&action_id).copied()
    }

    pub fn redemption(&self, redemption_id: RedemptionId) -> Option<&RedemptionState> {
        self.redemptions.get(&redemption_id)
    }

    /// Every redemption the venue recorded, by id.
    pub fn redemptions(&self) -> &HashMap<RedemptionId, RedemptionState> {
        &self.redemptions
    }

    /// The redemptions not settled yet, in the order they were recorded.
    pub fn unsettled(&self) -> &[RedemptionId] {
        &self.unsettled
    }

    /// The refunds revocations gave back to the envelope, by action id.
    pub fn refunds(&self) -> &HashMap<ActionId, Refund> {
        &self.refunds
    }

    /// The venue's offers, by id.
    pub fn offers(&self) -> &BTreeMap<OfferId, OfferState> {
        &self.offers
    }

    pub fn offer(&self, offer_id: OfferId) -> Option<&OfferState> {
        self.offers.get(&offer_id)
    }

    /// Whether publishing `terms` under `offer_id` is new or a retry of what is already there.
    pub fn offer_publication(&self, offer_id: OfferId, terms: &OfferTerms) -> Result<Publication, LedgerError> {
        match self.offers.get(&offer_id) {
            None => Ok(Publication::New),
            Some(existing) if existing.terms == *terms => Ok(Publication::AlreadyPublished),
            Some(_) => Err(LedgerError::IdConflict { what: format!("offer_id {offer_id}") }),
        }
    }

    /// Refuses a use of `offer_id` at `at` that the offer cannot take: unknown to this venue,
    /// closed or not running, or at its capacity for the period.
    pub fn ensure_offer_available(&self, offer_id: OfferId, at: DateTime<Utc>) -> Result<(), LedgerError> {
        let offer = self.offers.get(&offer_id).ok_or(LedgerError::UnknownOffer(offer_id))?;
        match offer.availability(at) {
            Availability::Open => Ok(()),
            Availability::Closed => Err(LedgerError::OfferClosed(offer_id)),
            Availability::Full => Err(LedgerError::OfferFull(offer_id)),
        }
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
            PartnerCommand::Reinstate { at } => {
                if self.registration.is_none() || !self.suspended {
                    // Like suspending twice: an active partner is already where it should be.
                    return Ok(vec![]);
                }
                Ok(vec![PartnerEvent::PartnerReinstated { reinstated_at: at }])
            }
            PartnerCommand::ReceiveEnvelope { amount, at } => {
                self.envelope.checked_add(amount).ok_or(LedgerError::Overflow)?;
                Ok(vec![PartnerEvent::EnvelopeReceived { amount, received_at: at }])
            }
            PartnerCommand::RecordCertification { record, at } => {
                // That the action id is new to the association is proven by its stream, which
                // `operations::certify` is given; retries are recognised there too.
                let tokens = record.outcome.tokens;
                if tokens > self.envelope {
                    return Err(LedgerError::EnvelopeExhausted { available: self.envelope, requested: tokens });
                }
                Ok(vec![PartnerEvent::CertificationRecorded { record, certified_at: at }])
            }
            PartnerCommand::RefundRevocation { action_id, amount, at } => {
                // That the association certified the action, and that the amount is at most what
                // the certification gave, is checked with the certification's record
                // (`operations::revoke`).
                if self.refunds.contains_key(&action_id) {
                    return Err(LedgerError::IdConflict { what: format!("revocation of action {action_id}") });
                }
                self.envelope.checked_add(amount).ok_or(LedgerError::Overflow)?;
                Ok(vec![PartnerEvent::RevocationRefunded { action_id, amount, refunded_at: at }])
            }
            PartnerCommand::RecordRedemption { record, at } => {
                if self.redemptions.contains_key(&record.redemption_id) {
                    return Err(LedgerError::IdConflict { what: format!("redemption_id {}", record.redemption_id) });
                }
                self.redeemed_unsettled.checked_add(record.amount).ok_or(LedgerError::Overflow)?;
                if let Some(offer_id) = record.offer_id {
                    self.ensure_offer_available(offer_id, at)?;
                }
                Ok(vec![PartnerEvent::RedemptionRecorded { record, redeemed_at: at }])
            }
            PartnerCommand::Settle { settlement_id, price, at } => {
                if self.redeemed_unsettled.is_zero() {
                    return Ok(vec![]);
                }
                let amount = self.redeemed_unsettled;
                let value =
                    price.map(|price| SettlementValue::of(amount, price).ok_or(LedgerError::Overflow)).transpose()?;
                Ok(vec![PartnerEvent::VenueSettled {
                    settlement_id,
                    redemption_ids: self.unsettled.clone(),
                    amount,
                    value,
                    settled_at: at,
                }])
            }
            PartnerCommand::PublishOffer { offer_id, terms, at } => {
                if self.offers.contains_key(&offer_id) {
                    return Err(LedgerError::IdConflict { what: format!("offer_id {offer_id}") });
                }
                assert!(
                    !terms.price.is_zero()
                        && match (terms.starts_at, terms.ends_at) {
                            (Some(starts_at), Some(ends_at)) => starts_at < ends_at,
                            _ => true,
                        },
                    "an offer's price and dates are checked at the edge"
                );
                Ok(vec![PartnerEvent::OfferPublished { offer_id, terms, published_at: at }])
            }
            PartnerCommand::CloseOffer { offer_id, at } => {
                let offer = self.offers.get(&offer_id).ok_or(LedgerError::UnknownOffer(offer_id))?;
                if offer.closed_at.is_some() {
                    return Ok(vec![]);
                }
                Ok(vec![PartnerEvent::OfferClosed { offer_id, closed_at: at }])
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
            PartnerEvent::PartnerReinstated { .. } => self.suspended = false,
            PartnerEvent::EnvelopeReceived { amount, .. } => self.envelope.add_assign_checked(amount),
            PartnerEvent::CertificationRecorded { record, .. } => {
                self.envelope.sub_assign_checked(record.outcome.tokens);
            }
            PartnerEvent::RevocationRefunded { action_id, amount, .. } => {
                self.envelope.add_assign_checked(amount);
                self.refunds.insert(action_id, Refund { amount, sequence: self.version });
            }
            PartnerEvent::RedemptionRecorded { record, redeemed_at } => {
                if let Some(offer) = record.offer_id.and_then(|offer_id| self.offers.get_mut(&offer_id)) {
                    offer.uses.record(offer.terms.capacity.as_ref(), redeemed_at);
                }
                self.redeemed_unsettled.add_assign_checked(record.amount);
                self.unsettled.push(record.redemption_id);
                self.redemptions.insert(
                    record.redemption_id,
                    RedemptionState {
                        digest: RequestDigest::of(&record.fingerprint),
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
            PartnerEvent::OfferPublished { offer_id, terms, published_at } => {
                let offer = OfferState {
                    terms,
                    published_at,
                    closed_at: None,
                    uses: PeriodUses::default(),
                    sequence: self.version,
                };
                self.offers.insert(offer_id, offer);
            }
            PartnerEvent::OfferClosed { offer_id, closed_at } => {
                if let Some(offer) = self.offers.get_mut(&offer_id) {
                    offer.closed_at = Some(closed_at);
                }
            }
        }
    }
}

crate::macros::aggregate!(Partner, PartnerCommand, PartnerEvent);

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> SignedRequest {
        let object = serde_json::json!({
            "quantity": 3,
            "category": "solidarite",
            "note": "Vélo « Club » \"cité\"\n",
            "signature": "c2lnbmF0dXJl",
        });
        let serde_json::Value::Object(object) = object else { unreachable!("an object") };
        SignedRequest::of(object)
    }

    #[test]
    fn a_signed_request_is_kept_in_canonical_form_and_parses_back() {
        let request = request();
        assert_eq!(
            request.text(),
            r#"{"category":"solidarite","note":"Vélo « Club » \"cité\"\n","quantity":3,"signature":"c2lnbmF0dXJl"}"#
        );
        let parsed = request.parse().expect("parses");
        assert_eq!(parsed["quantity"], 3);
        assert_eq!(parsed["note"], "Vélo « Club » \"cité\"\n");
        assert_eq!(SignedRequest::none().text(), "null");
        assert_ne!(request, SignedRequest::none());
    }

    #[test]
    fn an_event_with_a_signed_request_reads_back_equal_from_its_canonical_payload() {
        let record = CertificationRecord {
            action_id: ActionId::parse("3f2504e0-4f89-41d3-9a0c-0305e82c3301").expect("an id"),
            citizen_id: CitizenId::parse("3f2504e0-4f89-41d3-9a0c-0305e82c3302").expect("an id"),
            category: CategoryId::parse("solidarite").expect("a category"),
            quantity: 3,
            occurred_at: DateTime::from_timestamp(1_780_000_000, 0).expect("a time"),
            signature: "c2lnbmF0dXJl".to_owned(),
            request: request(),
            fingerprint: "f".repeat(64),
            rules_version: 1,
            gold_period: None,
            outcome: CertificationOutcome {
                action_id: ActionId::parse("3f2504e0-4f89-41d3-9a0c-0305e82c3301").expect("an id"),
                tokens: Tokens::new(12),
                gold: false,
                gold_period: None,
                lot_id: None,
                expires_at: None,
            },
        };
        let event = PartnerEvent::CertificationRecorded {
            record,
            certified_at: DateTime::from_timestamp(1_780_000_060, 0).expect("a time"),
        };
        // As the engine stores it: the payload's canonical form.
        let payload = serde_json::to_value(&event).expect("serialises");
        let stored = String::from_utf8(ygor_crypto::canonical_json(&payload).expect("canonical")).expect("UTF-8");
        let read_back: PartnerEvent = serde_json::from_str(&stored).expect("decodes");
        assert_eq!(read_back, event);
        // And from the `Value` a `read_after` returns.
        let from_value: PartnerEvent = serde_json::from_value(payload).expect("decodes");
        assert_eq!(from_value, event);
    }
}
