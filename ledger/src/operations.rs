//! Operations that span aggregates. Each is a pure function of the states it reads and of a
//! command whose time, verified signature and random outcome were settled at the edge. It lets
//! every aggregate decide its own part (the envelope guards itself, the wallet deduplicates
//! action ids) and returns all the events, which the engine appends in ONE transaction: a
//! certification can never debit an envelope without crediting the wallet, whatever crashes.
//!
//! A retried request is recognised here and answered from the log (`Decided::Replay`), so the
//! same request twice has one effect and one answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::amount::Tokens;
use crate::draw::{Draw, DrawCommand, DrawEvent};
use crate::error::LedgerError;
use crate::ids::{
    ActionId, CategoryId, CitizenId, DrawId, LotId, MissionId, PartnerId, PartnerKind, RedemptionId, SettlementId,
    VoucherId,
};
use crate::mission::MissionEvent;
use crate::partner::{
    CertificationOutcome, CertificationRecord, Partner, PartnerCommand, PartnerEvent, RecordedCertification,
    RedemptionRecord, RequestDigest,
};
use crate::territory::{RulesVersion, Territory, TerritoryCommand, TerritoryEvent};
use crate::wallet::{Credit, Crediting, NewLot, VerifiedVoucher, Wallet, WalletCommand, WalletEvent};

/// The events one operation produces, per aggregate, to be appended atomically.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub territory: Vec<TerritoryEvent>,
    pub partners: Vec<(PartnerId, Vec<PartnerEvent>)>,
    pub wallets: Vec<(CitizenId, Vec<WalletEvent>)>,
    pub missions: Vec<(MissionId, Vec<MissionEvent>)>,
    pub draws: Vec<(DrawId, Vec<DrawEvent>)>,
}

impl Changes {
    /// The territory's events alone.
    pub fn territory(events: Vec<TerritoryEvent>) -> Changes {
        Changes { territory: events, ..Changes::default() }
    }

    /// One partner's events alone.
    pub fn partner(id: PartnerId, events: Vec<PartnerEvent>) -> Changes {
        Changes { partners: vec![(id, events)], ..Changes::default() }
    }

    /// One wallet's events alone.
    pub fn wallet(id: CitizenId, events: Vec<WalletEvent>) -> Changes {
        Changes { wallets: vec![(id, events)], ..Changes::default() }
    }

    /// One mission's events alone.
    pub fn mission(id: MissionId, events: Vec<MissionEvent>) -> Changes {
        Changes { missions: vec![(id, events)], ..Changes::default() }
    }

    /// One draw's events alone.
    pub fn draw(id: DrawId, events: Vec<DrawEvent>) -> Changes {
        Changes { draws: vec![(id, events)], ..Changes::default() }
    }

    pub fn is_empty(&self) -> bool {
        self.territory.is_empty()
            && self.partners.iter().all(|(_, events)| events.is_empty())
            && self.wallets.iter().all(|(_, events)| events.is_empty())
            && self.missions.iter().all(|(_, events)| events.is_empty())
            && self.draws.iter().all(|(_, events)| events.is_empty())
    }
}

/// Where an earlier, identical request left its last event: the answer to a retry names its
/// position. The engine appends an operation's wallet events first, then partner events, then
/// territory events, so the partner's event of a certification or redemption is the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRef {
    pub aggregate_type: &'static str,
    pub aggregate_id: String,
    pub sequence: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decided<T> {
    Apply { changes: Changes, outcome: T },
    Replay { outcome: T, original: EventRef },
}

impl<T> Decided<T> {
    pub fn apply(changes: Changes, outcome: T) -> Decided<T> {
        Decided::Apply { changes, outcome }
    }
}

fn partner_ref(id: PartnerId, sequence: usize) -> EventRef {
    EventRef { aggregate_type: "partner", aggregate_id: id.to_string(), sequence }
}

fn wallet_ref(id: CitizenId, sequence: usize) -> EventRef {
    EventRef { aggregate_type: "wallet", aggregate_id: id.to_string(), sequence }
}

/// Moves tokens from the treasury to an association's envelope.
pub fn allocate_envelope(
    territory: &Territory,
    partner: &Partner,
    partner_id: PartnerId,
    amount: Tokens,
    at: DateTime<Utc>,
) -> Result<Decided<Tokens>, LedgerError> {
    let registration = partner.registration().ok_or(LedgerError::UnknownPartner(partner_id))?;
    if registration.kind != PartnerKind::Association {
        return Err(LedgerError::NotAnAssociation(partner_id));
    }
    let territory_events = territory.decide(TerritoryCommand::AllocateEnvelope { partner_id, amount, at })?;
    let partner_events = partner.decide(PartnerCommand::ReceiveEnvelope { amount, at })?;
    Ok(Decided::Apply {
        changes: Changes {
            territory: territory_events,
            partners: vec![(partner_id, partner_events)],
            wallets: vec![],
            missions: vec![],
            draws: vec![],
        },
        outcome: amount,
    })
}

/// A certification request whose association signature was verified at the edge.
#[derive(Debug, Clone, PartialEq)]
pub struct Certify {
    pub action_id: ActionId,
    pub association_id: PartnerId,
    pub citizen_id: CitizenId,
    pub category: CategoryId,
    pub quantity: u64,
    pub occurred_at: DateTime<Utc>,
    pub signature: String,
    /// The signed object as received, stored for re-verification by the audit.
    pub request: crate::partner::SignedRequest,
    pub fingerprint: String,
    /// The gold outcome, computed at the edge from the period's seed.
    pub gold: bool,
    /// The gold period in force when the certification arrived, if the rules have gold.
    pub gold_period: Option<u64>,
    /// A fresh id for the lot, used only if the action earns tokens.
    pub lot_id: LotId,
    pub at: DateTime<Utc>,
}

/// Decides a certification whose action id the association already certified: `earlier` is that
/// certification as the association's stream records it. The same request again is answered from
/// it; another request under that id is a conflict. Nothing else is read: not the wallet, not the
/// rules.
pub fn recertify(
    partner: &Partner,
    earlier: &RecordedCertification,
    command: &Certify,
) -> Result<Decided<CertificationOutcome>, LedgerError> {
    partner.ensure_active(command.association_id, PartnerKind::Association)?;
    assert_eq!(earlier.outcome.action_id, command.action_id, "the earlier certification is of this action");
    if earlier.digest == RequestDigest::of(&command.fingerprint) {
        return Ok(Decided::Replay {
            outcome: earlier.outcome.clone(),
            original: partner_ref(command.association_id, earlier.sequence),
        });
    }
    Err(LedgerError::IdConflict { what: format!("action_id {}", command.action_id) })
}

/// Decides a certification. `rules` is the version in force when the request arrives (read
/// without locking the territory, so that certifications never queue behind the treasury); the
/// event records which version it was. `earlier` is the association's earlier certification of
/// the same action id, as its stream records it, if there is one (see [`recertify`]). `wallet`
/// is what crediting the action reads of the citizen's wallet.
pub fn certify(
    rules: Option<&RulesVersion>,
    partner: &Partner,
    earlier: Option<&RecordedCertification>,
    wallet: &Crediting,
    command: Certify,
) -> Result<Decided<CertificationOutcome>, LedgerError> {
    if let Some(earlier) = earlier {
        return recertify(partner, earlier, &command);
    }
    partner.ensure_active(command.association_id, PartnerKind::Association)?;
    if !wallet.registered {
        return Err(LedgerError::UnknownCitizen(command.citizen_id));
    }
    if wallet.holds_action {
        return Err(LedgerError::IdConflict { what: format!("action_id {}", command.action_id) });
    }
    if command.occurred_at > command.at {
        return Err(LedgerError::OccurredInFuture);
    }
    let rules = rules.ok_or(LedgerError::RulesNotPublished)?;
    // Backdating is bounded, or an action dated years ago would earn full tokens, and one dated in
    // each past month would escape the monthly cap.
    if rules.rules.occurred_too_long_ago(command.occurred_at, command.at) {
        return Err(LedgerError::OccurredTooLongAgo { backdate_max: rules.rules.backdate_max.to_string() });
    }
    let category = rules
        .rules
        .category(command.category.as_str())
        .ok_or_else(|| LedgerError::UnknownCategory(command.category.clone()))?;
    let base = Tokens::new(category.tokens_for(command.quantity).ok_or(LedgerError::Overflow)?);
    let tokens = match category.cap_per_citizen_per_month {
        None => base,
        Some(cap) => base.min(Tokens::new(cap).saturating_sub(wallet.earned_in_month)),
    };
    // Gold rewards an action that earned tokens: one over its cap earns no gold either.
    let gold = command.gold && !tokens.is_zero();
    let lot = if tokens.is_zero() {
        None
    } else {
        let expires_at = rules.rules.lifetime.add_to(command.at).ok_or(LedgerError::Overflow)?;
        Some(NewLot { lot_id: command.lot_id, issued_at: command.at, expires_at })
    };
    let outcome = CertificationOutcome {
        action_id: command.action_id,
        tokens,
        gold,
        gold_period: command.gold_period,
        lot_id: lot.as_ref().map(|lot| lot.lot_id),
        expires_at: lot.as_ref().map(|lot| lot.expires_at),
    };
    let record = CertificationRecord {
        action_id: command.action_id,
        citizen_id: command.citizen_id,
        category: command.category.clone(),
        quantity: command.quantity,
        occurred_at: command.occurred_at,
        signature: command.signature,
        request: command.request,
        fingerprint: command.fingerprint,
        rules_version: rules.version,
        gold_period: command.gold_period,
        outcome: outcome.clone(),
    };
    let partner_events = partner.decide(PartnerCommand::RecordCertification { record, at: command.at })?;
    let wallet_events = crate::wallet::credit(
        wallet,
        Credit {
            action_id: command.action_id,
            association_id: command.association_id,
            category: command.category,
            quantity: command.quantity,
            occurred_at: command.occurred_at,
            tokens,
            lot,
            gold,
            at: command.at,
        },
    )?;
    Ok(Decided::Apply {
        changes: Changes {
            territory: vec![],
            partners: vec![(command.association_id, partner_events)],
            wallets: vec![(command.citizen_id, wallet_events)],
            missions: vec![],
            draws: vec![],
        },
        outcome,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationOutcome {
    pub action_id: ActionId,
    pub returned: Tokens,
    /// Whether the gold token the action earned was taken back (false when it earned none, or
    /// the citizen had spent every gold token as draw tickets).
    pub gold_taken_back: bool,
}

/// Revokes `action_id`, certified by `association_id`: `recorded` is that certification as the
/// association's stream records it (none if the association never certified the action), and
/// `wallet` the wallet of its citizen.
pub fn revoke(
    partner: &Partner,
    wallet: &Wallet,
    recorded: Option<&RecordedCertification>,
    association_id: PartnerId,
    action_id: ActionId,
    reason: String,
    at: DateTime<Utc>,
) -> Result<Decided<RevocationOutcome>, LedgerError> {
    partner.ensure_active(association_id, PartnerKind::Association)?;
    let recorded = recorded.ok_or(LedgerError::UnknownAction(action_id))?;
    assert_eq!(recorded.outcome.action_id, action_id, "the recorded certification is of this action");
    let citizen_id = recorded.citizen_id;
    if wallet.action(action_id).is_none() {
        return Err(LedgerError::UnknownAction(action_id));
    }
    if let Some(revocation) = wallet.revocation(action_id) {
        if revocation.reason == reason {
            // The answer names the last event of the original transaction: the refund, if any.
            let refund = partner.refund(action_id).map(|refund| refund.sequence);
            let original = match refund {
                Some(sequence) => partner_ref(association_id, sequence),
                None => wallet_ref(citizen_id, revocation.sequence),
            };
            return Ok(Decided::Replay {
                outcome: RevocationOutcome {
                    action_id,
                    returned: revocation.returned,
                    gold_taken_back: revocation.gold_taken_back,
                },
                original,
            });
        }
        return Err(LedgerError::IdConflict { what: format!("revocation of action {action_id}") });
    }
    let gold = recorded.outcome.gold;
    let wallet_events = wallet.decide(WalletCommand::Revoke { action_id, association_id, gold, reason, at })?;
    let (returned, gold_taken_back) = match wallet_events.as_slice() {
        [WalletEvent::CertificationRevoked { returned, gold_taken_back, .. }] => (*returned, *gold_taken_back),
        other => unreachable!("a revocation decides exactly one event, got {other:?}"),
    };
    if returned > recorded.outcome.tokens {
        return Err(LedgerError::Overflow);
    }
    let partner_events = if returned.is_zero() {
        vec![]
    } else {
        partner.decide(PartnerCommand::RefundRevocation { action_id, amount: returned, at })?
    };
    Ok(Decided::Apply {
        changes: Changes {
            territory: vec![],
            partners: vec![(association_id, partner_events)],
            wallets: vec![(citizen_id, wallet_events)],
            missions: vec![],
            draws: vec![],
        },
        outcome: RevocationOutcome { action_id, returned, gold_taken_back },
    })
}

/// A redemption request whose venue signature and voucher were verified at the edge.
#[derive(Debug, Clone, PartialEq)]
pub struct Redeem {
    pub redemption_id: RedemptionId,
    pub venue_id: PartnerId,
    pub citizen_id: CitizenId,
    pub voucher: VerifiedVoucher,
    pub voucher_text: String,
    pub amount: Tokens,
    /// The offer the venue redeems, if it named one.
    pub offer_id: Option<crate::ids::OfferId>,
    pub signature: String,
    /// The signed object as received, stored for re-verification by the audit.
    pub request: crate::partner::SignedRequest,
    pub fingerprint: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedemptionOutcome {
    pub redemption_id: RedemptionId,
    pub amount: Tokens,
}

pub fn redeem(venue: &Partner, wallet: &Wallet, command: Redeem) -> Result<Decided<RedemptionOutcome>, LedgerError> {
    venue.ensure_active(command.venue_id, PartnerKind::Venue)?;
    if let Some(existing) = venue.redemption(command.redemption_id) {
        if existing.digest == RequestDigest::of(&command.fingerprint) {
            return Ok(Decided::Replay {
                outcome: RedemptionOutcome { redemption_id: command.redemption_id, amount: existing.amount },
                original: partner_ref(command.venue_id, existing.sequence),
            });
        }
        return Err(LedgerError::IdConflict { what: format!("redemption_id {}", command.redemption_id) });
    }
    if !wallet.holdings().is_registered() {
        return Err(LedgerError::UnknownCitizen(command.citizen_id));
    }
    // A voucher issued for an offer redeems that offer only, and the redemption must say so.
    if let Some(voucher_offer) = command.voucher.offer_id
        && command.offer_id != Some(voucher_offer)
    {
        return Err(LedgerError::VoucherForOffer(voucher_offer));
    }
    if let Some(offer_id) = command.offer_id {
        venue.ensure_offer_available(offer_id, command.at)?;
    }
    let voucher_id: VoucherId = command.voucher.voucher_id;
    let wallet_events = wallet.decide(WalletCommand::Redeem {
        redemption_id: command.redemption_id,
        venue_id: command.venue_id,
        voucher: command.voucher,
        amount: command.amount,
        at: command.at,
    })?;
    let record = RedemptionRecord {
        redemption_id: command.redemption_id,
        citizen_id: command.citizen_id,
        voucher_id,
        amount: command.amount,
        signature: command.signature,
        request: command.request,
        fingerprint: command.fingerprint,
        voucher: command.voucher_text,
        offer_id: command.offer_id,
    };
    let partner_events = venue.decide(PartnerCommand::RecordRedemption { record, at: command.at })?;
    Ok(Decided::Apply {
        changes: Changes {
            territory: vec![],
            partners: vec![(command.venue_id, partner_events)],
            wallets: vec![(command.citizen_id, wallet_events)],
            missions: vec![],
            draws: vec![],
        },
        outcome: RedemptionOutcome { redemption_id: command.redemption_id, amount: command.amount },
    })
}

/// What a settlement recovered, and what it is worth in euros under the rules in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementOutcome {
    pub amount: Tokens,
    /// `None` when the rules in force give tokens no value; 0 when there was nothing to settle.
    pub amount_cents: Option<u64>,
}

/// Settles everything a venue redeemed so far: its redeemed tokens go back to the treasury, valued
/// in euros at the rules in force when the rules give tokens a value.
pub fn settle(
    territory: &Territory,
    venue: &Partner,
    venue_id: PartnerId,
    settlement_id: SettlementId,
    at: DateTime<Utc>,
) -> Result<Decided<SettlementOutcome>, LedgerError> {
    let registration = venue.registration().ok_or(LedgerError::UnknownPartner(venue_id))?;
    if registration.kind != PartnerKind::Venue {
        return Err(LedgerError::NotAVenue(venue_id));
    }
    let price = territory.token_value();
    let partner_events = venue.decide(PartnerCommand::Settle { settlement_id, price, at })?;
    let (amount, value) = match partner_events.as_slice() {
        [] => {
            let nothing = SettlementOutcome { amount: Tokens::ZERO, amount_cents: price.map(|_| 0) };
            return Ok(Decided::Apply { changes: Changes::default(), outcome: nothing });
        }
        [PartnerEvent::VenueSettled { amount, value, .. }] => (*amount, *value),
        other => unreachable!("a settlement decides at most one event, got {other:?}"),
    };
    let territory_events =
        territory.decide(TerritoryCommand::RecoverSettlement { venue_id, settlement_id, amount, at })?;
    Ok(Decided::Apply {
        changes: Changes {
            territory: territory_events,
            partners: vec![(venue_id, partner_events)],
            wallets: vec![],
            missions: vec![],
            draws: vec![],
        },
        outcome: SettlementOutcome { amount, amount_cents: value.map(|value| value.amount_cents) },
    })
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepOutcome {
    pub expired_lots: u64,
    pub expired_tokens: Tokens,
}

/// Writes off every lot past its expiry in the given wallets; the tokens go back to the treasury.
pub fn sweep_expired(
    territory: &Territory,
    wallets: &[(CitizenId, &Wallet)],
    at: DateTime<Utc>,
) -> Result<Decided<SweepOutcome>, LedgerError> {
    let mut outcome = SweepOutcome::default();
    let mut changes = Changes::default();
    for (citizen_id, wallet) in wallets {
        let events = wallet.decide(WalletCommand::SweepExpired { at })?;
        for event in &events {
            if let WalletEvent::TokensExpired { lots, amount, .. } = event {
                outcome.expired_lots += lots.len() as u64;
                outcome.expired_tokens = outcome.expired_tokens.checked_add(*amount).ok_or(LedgerError::Overflow)?;
            }
        }
        if !events.is_empty() {
            changes.wallets.push((*citizen_id, events));
        }
    }
    if !outcome.expired_tokens.is_zero() {
        changes.territory = territory.decide(TerritoryCommand::RecoverExpired {
            amount: outcome.expired_tokens,
            lots: outcome.expired_lots,
            at,
        })?;
    }
    Ok(Decided::Apply { changes, outcome })
}

/// Spends a citizen's gold tokens as tickets in a draw that is still open.
pub fn enter_draw(
    draw: &Draw,
    wallet: &Wallet,
    draw_id: DrawId,
    citizen_id: CitizenId,
    tickets: u64,
    at: DateTime<Utc>,
) -> Result<Decided<u64>, LedgerError> {
    if !wallet.holdings().is_registered() {
        return Err(LedgerError::UnknownCitizen(citizen_id));
    }
    let draw_events = draw.decide(DrawCommand::Enter { citizen_id, tickets, at })?;
    let wallet_events = wallet.decide(WalletCommand::SpendGold { draw_id, tickets, at })?;
    let total = draw.entries().get(&citizen_id).copied().unwrap_or(0) + tickets;
    Ok(Decided::Apply {
        changes: Changes {
            wallets: vec![(citizen_id, wallet_events)],
            draws: vec![(draw_id, draw_events)],
            ..Changes::default()
        },
        outcome: total,
    })
}
