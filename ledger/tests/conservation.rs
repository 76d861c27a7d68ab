//! Property test of the double-entry ledger: random sequences of commands (allocations,
//! certifications, revocations, redemptions, settlements, sweeps, retries, new rules, time moving
//! past lot expiries) go through the same operations and aggregate decisions as the engine, and
//! after every step the books balance, agree with every aggregate and with a shadow tally of every
//! flow, and no balance ever goes negative.

mod support;

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use proptest::sample::Index;
use support::{RULES, World, at};
use ygor_ledger::books::{Account, Circulation};
use ygor_ledger::operations::{self, Certify, Changes, Decided, EventRef, Redeem, RedemptionOutcome};
use ygor_ledger::partner::{CertificationOutcome, PartnerCommand, PartnerEvent};
use ygor_ledger::territory::TerritoryCommand;
use ygor_ledger::wallet::{VerifiedVoucher, WalletCommand, WalletEvent};
use ygor_ledger::{
    ActionId, CategoryId, CitizenId, LedgerError, LotId, Partner, PartnerId, PartnerKind, RedemptionId, SettlementId,
    Territory, Tokens, VoucherId, Wallet,
};

/// Rules versions the generator publishes: different lifetimes (from 36 hours to six months),
/// caps, amounts, and categories that come and go between versions.
const RULES_VERSIONS: [&str; 4] = [
    RULES,
    r#"
[tokens]
lifetime = "P3D"

[[categories]]
id = "ecologie"
label = "Écologie"
tokens_per_action = 10
cap_per_citizen_per_month = 20

[[categories]]
id = "velo"
label = "Vélo"
tokens_per_action = 2
tokens_per_unit = 1
cap_per_citizen_per_month = 25

[[categories]]
id = "compost"
label = "Compost"
tokens_per_action = 5
"#,
    r#"
[tokens]
lifetime = "PT36H"

[[categories]]
id = "ecologie"
label = "Écologie"
tokens_per_action = 15

[[categories]]
id = "compost"
label = "Compost"
tokens_per_action = 5
cap_per_citizen_per_month = 10
"#,
    r#"
[tokens]
lifetime = "P1M"

[[categories]]
id = "ecologie"
label = "Écologie"
tokens_per_action = 5
cap_per_citizen_per_month = 15

[[categories]]
id = "velo"
label = "Vélo"
tokens_per_action = 0
tokens_per_unit = 1
"#,
];

/// `astronomie` is in no version: certifying it is always an unknown category.
const CATEGORIES: [&str; 4] = ["ecologie", "velo", "compost", "astronomie"];
const REASONS: [&str; 2] = ["erreur", "fraude"];

/// Partners 0..3 are associations, 3..5 venues.
const ASSOCIATIONS: usize = 3;
const PARTNERS: usize = 5;
/// Citizens 0..3 are registered at the start; the last one only if the sequence registers it.
const CITIZENS: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    Advance {
        hours: i64,
    },
    Publish {
        version: usize,
    },
    Mint {
        amount: u64,
    },
    Allocate {
        partner: usize,
        amount: u64,
    },
    RegisterCitizen {
        citizen: usize,
    },
    Suspend {
        partner: usize,
    },
    Reinstate {
        partner: usize,
    },
    Certify {
        partner: usize,
        citizen: usize,
        category: usize,
        quantity: u64,
        hours_ago: i64,
        gold: bool,
    },
    /// The same action id again: 0 the same request, 1 a changed request, 2 another association.
    RetryCertification {
        which: Index,
        variant: u8,
    },
    /// Revokes an earlier certification, by its association or (when `by_other`) another one.
    Revoke {
        which: Index,
        by_other: bool,
        reason: usize,
    },
    RetryRevocation {
        which: Index,
        same_reason: bool,
    },
    Redeem {
        partner: usize,
        citizen: usize,
        amount: Amount,
        voucher_hours: i64,
        voucher_slack: i64,
    },
    /// A new redemption presenting the voucher of an earlier accepted one.
    ReuseVoucher {
        which: Index,
        partner: usize,
        amount: u64,
    },
    RetryRedemption {
        which: Index,
        same_fingerprint: bool,
    },
    Settle {
        partner: usize,
    },
    /// Sweeps the citizens whose bit is set.
    Sweep {
        citizens: u8,
    },
}

/// How much a redemption asks: a fixed amount (often beyond the balance), or a share of what the
/// wallet can spend now, plus up to 2 over it.
#[derive(Debug, Clone)]
enum Amount {
    Fixed(u64),
    Share(Index),
}

fn association() -> impl Strategy<Value = usize> {
    prop_oneof![9 => 0..ASSOCIATIONS, 1 => ASSOCIATIONS..PARTNERS]
}

fn venue() -> impl Strategy<Value = usize> {
    prop_oneof![9 => ASSOCIATIONS..PARTNERS, 1 => 0..ASSOCIATIONS]
}

fn citizen() -> impl Strategy<Value = usize> {
    prop_oneof![9 => 0..CITIZENS - 1, 1 => Just(CITIZENS - 1)]
}

fn hours() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => Just(1),
        3 => Just(6),
        4 => Just(24),
        3 => Just(72),
        2 => Just(24 * 10),
        1 => Just(24 * 35),
        1 => Just(24 * 190),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => hours().prop_map(|hours| Op::Advance { hours }),
        2 => (0..RULES_VERSIONS.len()).prop_map(|version| Op::Publish { version }),
        2 => (1..=300u64).prop_map(|amount| Op::Mint { amount }),
        4 => (association(), 1..=200u64).prop_map(|(partner, amount)| Op::Allocate { partner, amount }),
        1 => (0..CITIZENS).prop_map(|citizen| Op::RegisterCitizen { citizen }),
        1 => (0..PARTNERS).prop_map(|partner| Op::Suspend { partner }),
        1 => (0..PARTNERS).prop_map(|partner| Op::Reinstate { partner }),
        18 => (
            association(),
            citizen(),
            prop_oneof![4 => Just(0usize), 3 => Just(1usize), 2 => Just(2usize), 1 => Just(3usize)],
            1..=20u64,
            prop_oneof![1 => -3..0i64, 12 => 0..=72i64, 3 => 73..=24 * 40i64],
            any::<bool>(),
        )
            .prop_map(|(partner, citizen, category, quantity, hours_ago, gold)| Op::Certify {
                partner,
                citizen,
                category,
                quantity,
                hours_ago,
                gold
            }),
        4 => (any::<Index>(), 0..3u8).prop_map(|(which, variant)| Op::RetryCertification { which, variant }),
        4 => (any::<Index>(), prop::bool::weighted(0.15), 0..REASONS.len())
            .prop_map(|(which, by_other, reason)| Op::Revoke { which, by_other, reason }),
        2 => (any::<Index>(), any::<bool>())
            .prop_map(|(which, same_reason)| Op::RetryRevocation { which, same_reason }),
        10 => (
            venue(),
            citizen(),
            prop_oneof![1 => (1..=40u64).prop_map(Amount::Fixed), 3 => any::<Index>().prop_map(Amount::Share)],
            prop_oneof![1 => -2..=0i64, 9 => 1..=48i64],
            prop_oneof![1 => -3..0i64, 9 => 0..=20i64],
        )
            .prop_map(|(partner, citizen, amount, voucher_hours, voucher_slack)| Op::Redeem {
                partner,
                citizen,
                amount,
                voucher_hours,
                voucher_slack
            }),
        3 => (any::<Index>(), venue(), 1..=12u64)
            .prop_map(|(which, partner, amount)| Op::ReuseVoucher { which, partner, amount }),
        3 => (any::<Index>(), any::<bool>())
            .prop_map(|(which, same_fingerprint)| Op::RetryRedemption { which, same_fingerprint }),
        3 => venue().prop_map(|partner| Op::Settle { partner }),
        3 => (1..16u8).prop_map(|citizens| Op::Sweep { citizens }),
    ]
}

fn add<K: Hash + Eq>(tally: &mut HashMap<K, u64>, key: K, amount: Tokens) {
    *tally.entry(key).or_default() += amount.value();
}

fn get<K: Hash + Eq>(tally: &HashMap<K, u64>, key: &K) -> u64 {
    tally.get(key).copied().unwrap_or(0)
}

fn total<K>(tally: &HashMap<K, u64>) -> u64 {
    tally.values().sum()
}

/// Checks a decision against the reasons it should be refused for: accepted (and not a replay)
/// when there are none, otherwise refused with one of them. Never `Overflow`: the amounts here
/// are small.
fn expect_decision<T: Debug>(
    what: &str,
    result: Result<Decided<T>, LedgerError>,
    reasons: &[LedgerError],
) -> Option<(Changes, T)> {
    match result {
        Ok(Decided::Apply { changes, outcome }) => {
            assert!(reasons.is_empty(), "{what} was accepted although it should be refused with one of {reasons:?}");
            Some((changes, outcome))
        }
        Ok(Decided::Replay { outcome, original }) => {
            panic!("{what} is a new request but was answered as a replay of {original:?}: {outcome:?}")
        }
        Err(error) => {
            assert_ne!(error, LedgerError::Overflow, "{what} overflowed");
            assert!(reasons.contains(&error), "{what} was refused with {error:?}, expected one of {reasons:?}");
            None
        }
    }
}

/// Everything a replay must leave untouched.
#[derive(Debug, PartialEq)]
struct Snapshot {
    territory: Territory,
    partners: HashMap<PartnerId, Partner>,
    wallets: HashMap<CitizenId, Wallet>,
    circulation: Circulation,
}

struct Revoked {
    association_id: PartnerId,
    citizen_id: CitizenId,
    action_id: ActionId,
    reason: String,
    returned: Tokens,
    gold_taken_back: bool,
}

/// The world, the clock, and a shadow tally of every flow, kept from the outcomes of accepted
/// commands only.
struct Run {
    world: World,
    now: DateTime<Utc>,
    next_id: u128,
    partners: Vec<PartnerId>,
    citizens: Vec<CitizenId>,
    minted: u64,
    allocated: HashMap<PartnerId, u64>,
    certified: HashMap<PartnerId, u64>,
    refunded: HashMap<PartnerId, u64>,
    credited: HashMap<CitizenId, u64>,
    returned: HashMap<CitizenId, u64>,
    spent: HashMap<CitizenId, u64>,
    expired: HashMap<CitizenId, u64>,
    received: HashMap<PartnerId, u64>,
    settled: HashMap<PartnerId, u64>,
    certifications: Vec<(Certify, CertificationOutcome)>,
    revocations: Vec<Revoked>,
    redemptions: Vec<(Redeem, RedemptionOutcome)>,
}

impl Run {
    fn new(rules: usize) -> Self {
        let mut world = World::default();
        let now = at(1, 8);
        world.publish(RULES_VERSIONS[rules], now);
        world.mint(500);
        let mut partners = Vec::new();
        for index in 0..PARTNERS {
            let kind = if index < ASSOCIATIONS { PartnerKind::Association } else { PartnerKind::Venue };
            partners.push(world.register_partner(kind));
        }
        let mut citizens: Vec<CitizenId> = (0..CITIZENS - 1).map(|_| world.register_citizen()).collect();
        citizens.push(CitizenId::from_uuid(uuid::Uuid::new_v4()));
        let mut run = Run {
            world,
            now,
            next_id: 1,
            partners,
            citizens,
            minted: 500,
            allocated: HashMap::new(),
            certified: HashMap::new(),
            refunded: HashMap::new(),
            credited: HashMap::new(),
            returned: HashMap::new(),
            spent: HashMap::new(),
            expired: HashMap::new(),
            received: HashMap::new(),
            settled: HashMap::new(),
            certifications: Vec::new(),
            revocations: Vec::new(),
            redemptions: Vec::new(),
        };
        for partner in 0..ASSOCIATIONS {
            run.allocate(partner, 100);
        }
        run
    }

    fn fresh(&mut self) -> uuid::Uuid {
        self.next_id += 1;
        uuid::Uuid::from_u128(self.next_id)
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            territory: self.world.territory.clone(),
            partners: self.world.partners.clone(),
            wallets: self.world.wallets.clone(),
            circulation: self.world.books.circulation(),
        }
    }

    /// Applies a decision that must be a replay answering `expected` (and naming the original
    /// request's event, when given), and checks it changed nothing.
    fn expect_replay<T: Debug + PartialEq>(
        &mut self,
        what: &str,
        result: Result<Decided<T>, LedgerError>,
        expected: &T,
        original_event: Option<EventRef>,
    ) {
        let before = self.snapshot();
        match result {
            Ok(decided @ Decided::Replay { .. }) => {
                if let (Decided::Replay { original, .. }, Some(expected)) = (&decided, original_event) {
                    assert_eq!(*original, expected, "{what}: a replay names the original request's event");
                }
                let outcome = self.world.apply(decided);
                assert_eq!(&outcome, expected, "{what}: a replay answers what the original request got");
            }
            other => panic!("{what}: expected a replay, got {other:?}"),
        }
        assert_eq!(self.snapshot(), before, "{what}: a replay changes nothing");
    }

    fn expect_refusal<T: Debug>(&self, what: &str, result: Result<Decided<T>, LedgerError>, expected: &LedgerError) {
        match result {
            // The text of an id conflict names the id; only its kind matters here.
            Err(error) => assert!(
                error == *expected
                    || matches!((&error, expected), (LedgerError::IdConflict { .. }, LedgerError::IdConflict { .. })),
                "{what}: refused with {error:?}, expected {expected:?}"
            ),
            Ok(other) => panic!("{what}: expected {expected:?}, got {other:?}"),
        }
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Advance { hours } => self.now += Duration::hours(hours),
            Op::Publish { version } => self.world.publish(RULES_VERSIONS[version], self.now),
            Op::Mint { amount } => {
                let events = self
                    .world
                    .territory
                    .decide(TerritoryCommand::MintSupply { amount: Tokens::new(amount), at: self.now })
                    .expect("minting a small amount is accepted");
                self.world.apply_changes(Changes { territory: events, ..Changes::default() });
                self.minted += amount;
            }
            Op::Allocate { partner, amount } => self.allocate(partner, amount),
            Op::RegisterCitizen { citizen } => {
                let citizen_id = self.citizens[citizen];
                let wallet = self.world.wallet(citizen_id);
                let result = wallet.decide(WalletCommand::Register {
                    demographics: Default::default(),
                    interests: vec![],
                    at: self.now,
                });
                if wallet.holdings().is_registered() {
                    assert!(matches!(result, Err(LedgerError::AlreadyRegistered(_))), "registering twice: {result:?}");
                } else {
                    let events = result.expect("registering a new citizen");
                    self.world.apply_changes(Changes { wallets: vec![(citizen_id, events)], ..Changes::default() });
                }
            }
            Op::Suspend { partner } => {
                let partner_id = self.partners[partner];
                let events = self
                    .world
                    .partner(partner_id)
                    .decide(PartnerCommand::Suspend { at: self.now })
                    .expect("suspending is always accepted");
                self.world.apply_changes(Changes { partners: vec![(partner_id, events)], ..Changes::default() });
            }
            Op::Reinstate { partner } => {
                let partner_id = self.partners[partner];
                let events = self
                    .world
                    .partner(partner_id)
                    .decide(PartnerCommand::Reinstate { at: self.now })
                    .expect("reinstating is always accepted");
                self.world.apply_changes(Changes { partners: vec![(partner_id, events)], ..Changes::default() });
                assert!(!self.world.partner(partner_id).is_suspended(), "a reinstated partner is active");
            }
            Op::Certify { partner, citizen, category, quantity, hours_ago, gold } => {
                self.certify(partner, citizen, category, quantity, hours_ago, gold)
            }
            Op::RetryCertification { which, variant } => self.retry_certification(which, variant),
            Op::Revoke { which, by_other, reason } => {
                if self.certifications.is_empty() {
                    return;
                }
                let (command, _) = &self.certifications[which.index(self.certifications.len())];
                let (action_id, certifier, citizen_id) =
                    (command.action_id, command.association_id, command.citizen_id);
                let association_id = if by_other {
                    let index = self.partners.iter().position(|id| *id == certifier).expect("known association");
                    self.partners[(index + 1) % ASSOCIATIONS]
                } else {
                    certifier
                };
                self.revoke(
                    association_id,
                    citizen_id,
                    action_id,
                    REASONS[reason].to_owned(),
                    association_id == certifier,
                );
            }
            Op::RetryRevocation { which, same_reason } => {
                if self.revocations.is_empty() {
                    return;
                }
                let revoked = &self.revocations[which.index(self.revocations.len())];
                let (association_id, citizen_id, action_id) =
                    (revoked.association_id, revoked.citizen_id, revoked.action_id);
                let reason = if same_reason {
                    revoked.reason.clone()
                } else {
                    REASONS.iter().find(|reason| **reason != revoked.reason).expect("two reasons").to_string()
                };
                self.revoke(association_id, citizen_id, action_id, reason, true);
            }
            Op::Redeem { partner, citizen, amount, voucher_hours, voucher_slack } => {
                let citizen_id = self.citizens[citizen];
                let amount = match amount {
                    Amount::Fixed(amount) => amount,
                    Amount::Share(share) => {
                        let spendable = self.world.wallet(citizen_id).holdings().spendable(self.now).value();
                        1 + share.index(usize::try_from(spendable).expect("small balance") + 2) as u64
                    }
                };
                let amount_max = amount.saturating_add_signed(voucher_slack);
                let voucher = VerifiedVoucher {
                    voucher_id: VoucherId::from_uuid(self.fresh()),
                    amount_max: Tokens::new(amount_max),
                    expires_at: self.now + Duration::hours(voucher_hours),
                    offer_id: None,
                };
                self.redeem(partner, citizen_id, amount, voucher);
            }
            Op::ReuseVoucher { which, partner, amount } => {
                if self.redemptions.is_empty() {
                    return;
                }
                let (earlier, _) = &self.redemptions[which.index(self.redemptions.len())];
                let (citizen_id, voucher) = (earlier.citizen_id, earlier.voucher.clone());
                self.redeem(partner, citizen_id, amount, voucher);
            }
            Op::RetryRedemption { which, same_fingerprint } => self.retry_redemption(which, same_fingerprint),
            Op::Settle { partner } => self.settle(partner),
            Op::Sweep { citizens } => self.sweep(citizens),
        }
    }

    fn allocate(&mut self, partner: usize, amount: u64) {
        let partner_id = self.partners[partner];
        let amount = Tokens::new(amount);
        let treasury = self.world.territory.treasury();
        let mut reasons = Vec::new();
        if partner >= ASSOCIATIONS {
            reasons.push(LedgerError::NotAnAssociation(partner_id));
        }
        if amount > treasury {
            reasons.push(LedgerError::TreasuryExhausted { available: treasury, requested: amount });
        }
        let result = operations::allocate_envelope(
            &self.world.territory,
            &self.world.partner(partner_id),
            partner_id,
            amount,
            self.now,
        );
        if let Some((changes, outcome)) = expect_decision("allocation", result, &reasons) {
            assert_eq!(outcome, amount);
            self.world.apply_changes(changes);
            add(&mut self.allocated, partner_id, amount);
        }
    }

    fn certify(&mut self, partner: usize, citizen: usize, category: usize, quantity: u64, hours_ago: i64, gold: bool) {
        let association_id = self.partners[partner];
        let citizen_id = self.citizens[citizen];
        let category = CategoryId::parse(CATEGORIES[category]).expect("a valid category id");
        let occurred_at = self.now - Duration::hours(hours_ago);
        let association = self.world.partner(association_id);
        let wallet = self.world.wallet(citizen_id);
        let rules = self.world.territory.rules_in_force().expect("rules are published at the start").clone();

        let mut reasons = Vec::new();
        if partner >= ASSOCIATIONS {
            reasons.push(LedgerError::NotAnAssociation(association_id));
        }
        if association.is_suspended() {
            reasons.push(LedgerError::PartnerSuspended(association_id));
        }
        if !wallet.holdings().is_registered() {
            reasons.push(LedgerError::UnknownCitizen(citizen_id));
        }
        if occurred_at > self.now {
            reasons.push(LedgerError::OccurredInFuture);
        }
        if rules.rules.occurred_too_long_ago(occurred_at, self.now) {
            reasons.push(LedgerError::OccurredTooLongAgo { backdate_max: rules.rules.backdate_max.to_string() });
        }
        let expected_tokens = match rules.rules.category(category.as_str()) {
            None => {
                reasons.push(LedgerError::UnknownCategory(category.clone()));
                None
            }
            Some(rule) => {
                let base = rule.tokens_for(quantity).expect("small quantities do not overflow");
                let tokens = match rule.cap_per_citizen_per_month {
                    None => base,
                    Some(cap) => base.min(cap.saturating_sub(wallet.earned_in_month(&category, occurred_at).value())),
                };
                let tokens = Tokens::new(tokens);
                if tokens > association.envelope() {
                    reasons
                        .push(LedgerError::EnvelopeExhausted { available: association.envelope(), requested: tokens });
                }
                Some(tokens)
            }
        };

        let id = self.fresh();
        let command = Certify {
            action_id: ActionId::from_uuid(id),
            association_id,
            citizen_id,
            category,
            quantity,
            occurred_at,
            signature: "sig".to_owned(),
            request: ygor_ledger::partner::SignedRequest::none(),
            fingerprint: format!("certification-{id}"),
            gold,
            gold_period: gold.then_some(0),
            lot_id: LotId::from_uuid(self.fresh()),
            at: self.now,
        };
        let recorded = self.world.recorded_certification(association_id, command.action_id);
        let crediting = wallet.crediting(command.action_id, &command.category, command.occurred_at);
        let result = operations::certify(Some(&rules), &association, recorded.as_ref(), &crediting, command.clone());
        let Some((changes, outcome)) = expect_decision("certification", result, &reasons) else {
            return;
        };
        assert_eq!(Some(outcome.tokens), expected_tokens, "tokens earned, within the monthly cap");
        assert_eq!(outcome.gold, gold && !outcome.tokens.is_zero(), "gold only with tokens");
        if outcome.tokens.is_zero() {
            assert_eq!((outcome.lot_id, outcome.expires_at), (None, None), "no tokens, no lot");
        } else {
            assert_eq!(outcome.lot_id, Some(command.lot_id));
            assert_eq!(outcome.expires_at, rules.rules.lifetime.add_to(self.now), "lifetime of the rules in force");
        }
        let recorded = changes.partners.iter().flat_map(|(_, events)| events).find_map(|event| match event {
            PartnerEvent::CertificationRecorded { record, .. } => Some(record.rules_version),
            _ => None,
        });
        assert_eq!(recorded, Some(rules.version), "the certification records the rules version in force");
        self.world.apply_changes(changes);
        add(&mut self.certified, association_id, outcome.tokens);
        add(&mut self.credited, citizen_id, outcome.tokens);
        self.certifications.push((command, outcome));
    }

    fn retry_certification(&mut self, which: Index, variant: u8) {
        if self.certifications.is_empty() {
            return;
        }
        let (original, outcome) = self.certifications[which.index(self.certifications.len())].clone();
        // A retry arrives later; the edge gives it a fresh lot id, which a replay must not use.
        let mut command = Certify { at: self.now, lot_id: LotId::from_uuid(self.fresh()), ..original };
        if variant == 2 {
            let index = self.partners.iter().position(|id| *id == command.association_id).expect("known association");
            command.association_id = self.partners[(index + 1) % ASSOCIATIONS];
            command.fingerprint = format!("certification-{}", self.fresh());
        } else if variant == 1 {
            command.fingerprint.push_str("-changed");
            command.quantity += 1;
        }
        let association = self.world.partner(command.association_id);
        let wallet = self.world.wallet(command.citizen_id);
        let suspended = association.is_suspended().then_some(command.association_id);
        let recorded = self.world.recorded_certification(command.association_id, command.action_id);
        let original_event =
            recorded.as_ref().filter(|recorded| recorded.outcome.action_id == command.action_id).map(|recorded| {
                EventRef {
                    aggregate_type: "partner",
                    aggregate_id: command.association_id.to_string(),
                    sequence: recorded.sequence,
                }
            });
        let crediting = wallet.crediting(command.action_id, &command.category, command.occurred_at);
        let result = operations::certify(
            self.world.territory.rules_in_force(),
            &association,
            recorded.as_ref(),
            &crediting,
            command,
        );
        if let Some(id) = suspended {
            self.expect_refusal("retried certification", result, &LedgerError::PartnerSuspended(id));
        } else if variant == 0 {
            self.expect_replay("retried certification", result, &outcome, original_event);
        } else {
            self.expect_refusal("reused action id", result, &LedgerError::IdConflict { what: String::new() });
        }
    }

    fn revoke(
        &mut self,
        association_id: PartnerId,
        citizen_id: CitizenId,
        action_id: ActionId,
        reason: String,
        by_certifier: bool,
    ) {
        let association = self.world.partner(association_id);
        let wallet = self.world.wallet(citizen_id);
        let recorded = self.world.recorded_certification(association_id, action_id);
        let result = operations::revoke(
            &association,
            &wallet,
            recorded.as_ref(),
            association_id,
            action_id,
            reason.clone(),
            self.now,
        );
        if association.is_suspended() {
            return self.expect_refusal("revocation", result, &LedgerError::PartnerSuspended(association_id));
        }
        if !by_certifier {
            return self.expect_refusal(
                "revocation by another association",
                result,
                &LedgerError::UnknownAction(action_id),
            );
        }
        let previous =
            self.revocations.iter().find(|revoked| revoked.action_id == action_id && revoked.citizen_id == citizen_id);
        if let Some(previous) = previous {
            if previous.reason == reason {
                let (returned, gold_taken_back) = (previous.returned, previous.gold_taken_back);
                let expected = operations::RevocationOutcome { action_id, returned, gold_taken_back };
                return self.expect_replay("retried revocation", result, &expected, None);
            }
            return self.expect_refusal("changed revocation", result, &LedgerError::IdConflict { what: String::new() });
        }
        // The unspent part of the lot comes back, unless the sweep took it already; that includes
        // a lot past its expiry that the sweep has not reached yet.
        assert!(wallet.action(action_id).is_some(), "a certified action is in the wallet");
        let lot_id = self
            .certifications
            .iter()
            .find(|(command, _)| command.action_id == action_id)
            .and_then(|(_, outcome)| outcome.lot_id);
        let expected = lot_id
            .and_then(|lot_id| wallet.holdings().lots().iter().find(|lot| lot.lot_id == lot_id))
            .filter(|lot| !lot.swept)
            .map_or(Tokens::ZERO, |lot| lot.remaining);
        let Some((changes, outcome)) = expect_decision("revocation", result, &[]) else {
            return;
        };
        assert_eq!(outcome.returned, expected, "a revocation returns what is left of the lot");
        let earned_gold = recorded.as_ref().is_some_and(|recorded| recorded.outcome.gold);
        assert_eq!(
            outcome.gold_taken_back,
            earned_gold && wallet.holdings().gold() >= 1,
            "the action's gold token comes back while the citizen holds one"
        );
        let gold_before = wallet.holdings().gold();
        self.world.apply_changes(changes);
        let gold_after = self.world.wallet(citizen_id).holdings().gold();
        assert_eq!(gold_before - gold_after, u64::from(outcome.gold_taken_back), "one gold token at most");
        add(&mut self.refunded, association_id, outcome.returned);
        add(&mut self.returned, citizen_id, outcome.returned);
        let (returned, gold_taken_back) = (outcome.returned, outcome.gold_taken_back);
        self.revocations.push(Revoked { association_id, citizen_id, action_id, reason, returned, gold_taken_back });
    }

    fn redeem(&mut self, partner: usize, citizen_id: CitizenId, amount: u64, voucher: VerifiedVoucher) {
        let venue_id = self.partners[partner];
        let amount = Tokens::new(amount);
        let venue = self.world.partner(venue_id);
        let wallet = self.world.wallet(citizen_id);
        let mut reasons = Vec::new();
        if partner < ASSOCIATIONS {
            reasons.push(LedgerError::NotAVenue(venue_id));
        }
        if venue.is_suspended() {
            reasons.push(LedgerError::PartnerSuspended(venue_id));
        }
        if !wallet.holdings().is_registered() {
            reasons.push(LedgerError::UnknownCitizen(citizen_id));
        }
        let reused = self.redemptions.iter().any(|(earlier, _)| earlier.voucher.voucher_id == voucher.voucher_id);
        if reused {
            reasons.push(LedgerError::VoucherUsed);
        }
        if self.now >= voucher.expires_at {
            reasons.push(LedgerError::VoucherExpired);
        }
        if amount > voucher.amount_max {
            reasons.push(LedgerError::VoucherAmountExceeded { allowed: voucher.amount_max, requested: amount });
        }
        let available = wallet.holdings().spendable(self.now);
        if amount > available {
            reasons.push(LedgerError::InsufficientBalance { available, requested: amount });
        }
        let id = self.fresh();
        let command = Redeem {
            redemption_id: RedemptionId::from_uuid(id),
            venue_id,
            citizen_id,
            voucher,
            voucher_text: "voucher".to_owned(),
            amount,
            offer_id: None,
            signature: "sig".to_owned(),
            request: ygor_ledger::partner::SignedRequest::none(),
            fingerprint: format!("redemption-{id}"),
            at: self.now,
        };
        let result = operations::redeem(&venue, &wallet, command.clone());
        if reused && partner >= ASSOCIATIONS && !venue.is_suspended() {
            // An active venue and the voucher's own (registered) citizen: a reused voucher is
            // refused as such, whatever else is wrong with the request.
            return self.expect_refusal("reused voucher", result, &LedgerError::VoucherUsed);
        }
        let Some((changes, outcome)) = expect_decision("redemption", result, &reasons) else {
            return;
        };
        assert_eq!(outcome.amount, amount);
        self.check_spend_plan(&wallet, amount, &changes);
        self.world.apply_changes(changes);
        add(&mut self.spent, citizen_id, amount);
        add(&mut self.received, venue_id, amount);
        self.redemptions.push((command, outcome));
    }

    /// The redemption spends exactly `amount`, only from lots spendable now, at most what each
    /// holds, and the lots that expire first.
    fn check_spend_plan(&self, wallet: &Wallet, amount: Tokens, changes: &Changes) {
        let plans: Vec<_> = changes
            .wallets
            .iter()
            .flat_map(|(_, events)| events)
            .filter_map(|event| match event {
                WalletEvent::TokensRedeemed { spent, .. } => Some(spent.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(plans.len(), 1, "a redemption is one ledger entry");
        let plan = &plans[0];
        assert_eq!(plan.iter().map(|spend| spend.amount).sum::<Tokens>(), amount);
        let mut left: HashMap<LotId, Tokens> = HashMap::new();
        for lot in wallet.holdings().lots().iter().filter(|lot| lot.is_spendable_at(self.now)) {
            left.insert(lot.lot_id, lot.remaining);
        }
        for spend in plan {
            let remaining = left.get_mut(&spend.lot_id).expect("only spendable lots are spent");
            *remaining = remaining.checked_sub(spend.amount).expect("a lot is never overspent");
        }
        let expiry =
            |lot_id: LotId| wallet.holdings().lots().iter().find(|lot| lot.lot_id == lot_id).expect("lot").expires_at;
        for spend in plan {
            for (lot_id, remaining) in &left {
                if *lot_id != spend.lot_id && !remaining.is_zero() {
                    assert!(
                        expiry(spend.lot_id) <= expiry(*lot_id),
                        "a lot expiring later was spent while one expiring sooner kept tokens"
                    );
                }
            }
        }
    }

    fn retry_redemption(&mut self, which: Index, same_fingerprint: bool) {
        if self.redemptions.is_empty() {
            return;
        }
        let (original, outcome) = self.redemptions[which.index(self.redemptions.len())].clone();
        let mut command = Redeem { at: self.now, ..original };
        if !same_fingerprint {
            command.fingerprint.push_str("-changed");
            command.amount = Tokens::new(command.amount.value() + 1);
        }
        let venue = self.world.partner(command.venue_id);
        let wallet = self.world.wallet(command.citizen_id);
        let suspended = venue.is_suspended().then_some(command.venue_id);
        let original_event = venue.redemption(command.redemption_id).map(|state| EventRef {
            aggregate_type: "partner",
            aggregate_id: command.venue_id.to_string(),
            sequence: state.sequence,
        });
        let result = operations::redeem(&venue, &wallet, command);
        if let Some(id) = suspended {
            self.expect_refusal("retried redemption", result, &LedgerError::PartnerSuspended(id));
        } else if same_fingerprint {
            self.expect_replay("retried redemption", result, &outcome, original_event);
        } else {
            self.expect_refusal("reused redemption id", result, &LedgerError::IdConflict { what: String::new() });
        }
    }

    fn settle(&mut self, partner: usize) {
        let venue_id = self.partners[partner];
        let venue = self.world.partner(venue_id);
        let reasons = if partner < ASSOCIATIONS { vec![LedgerError::NotAVenue(venue_id)] } else { vec![] };
        let settlement_id = SettlementId::from_uuid(self.fresh());
        let result = operations::settle(&self.world.territory, &venue, venue_id, settlement_id, self.now);
        if let Some((changes, outcome)) = expect_decision("settlement", result, &reasons) {
            assert_eq!(outcome.amount, venue.redeemed_unsettled(), "a settlement takes all the venue redeemed");
            assert_eq!(changes.is_empty(), outcome.amount.is_zero(), "settling nothing writes nothing");
            self.world.apply_changes(changes);
            add(&mut self.settled, venue_id, outcome.amount);
        }
    }

    fn sweep(&mut self, mask: u8) {
        let chosen: Vec<(CitizenId, Wallet)> = (0..CITIZENS)
            .filter(|index| mask & (1 << index) != 0)
            .map(|index| (self.citizens[index], self.world.wallet(self.citizens[index])))
            .collect();
        let expected: Vec<_> =
            chosen.iter().flat_map(|(_, wallet)| wallet.holdings().expired_unswept(self.now)).collect();
        let wallets: Vec<(CitizenId, &Wallet)> = chosen.iter().map(|(id, wallet)| (*id, wallet)).collect();
        let result = operations::sweep_expired(&self.world.territory, &wallets, self.now);
        let (changes, outcome) = expect_decision("sweep", result, &[]).expect("a sweep is never refused");
        assert_eq!(outcome.expired_lots, expected.len() as u64);
        assert_eq!(changes.is_empty(), expected.is_empty(), "a sweep with nothing expired writes nothing");
        assert_eq!(outcome.expired_tokens, expected.iter().map(|spend| spend.amount).sum::<Tokens>());
        for (citizen_id, events) in &changes.wallets {
            for event in events {
                if let WalletEvent::TokensExpired { amount, .. } = event {
                    add(&mut self.expired, *citizen_id, *amount);
                }
            }
        }
        self.world.apply_changes(changes);
        for (citizen_id, _) in &chosen {
            assert!(
                self.world.wallet(*citizen_id).holdings().expired_unswept(self.now).is_empty(),
                "the sweep takes every expired lot"
            );
        }
    }

    /// The invariants that hold after every step.
    fn check(&self) {
        self.world.assert_consistent();
        let books = &self.world.books;
        let circulation = books.circulation();
        let territory = &self.world.territory;
        assert_eq!(territory.minted().value(), self.minted);
        assert_eq!(
            territory.treasury().value() + total(&self.allocated),
            self.minted + total(&self.settled) + total(&self.expired),
            "treasury = minted - allocated + settled + expired"
        );
        assert_eq!(circulation.issued.value(), total(&self.credited));
        assert_eq!(circulation.revoked.value(), total(&self.returned));
        assert_eq!(circulation.redeemed.value(), total(&self.spent));
        assert_eq!(circulation.recovered.value(), total(&self.settled));
        assert_eq!(circulation.expired.value(), total(&self.expired));

        for id in &self.partners {
            let partner = self.world.partner(*id);
            assert_eq!(books.balance(Account::Envelope(*id)), partner.envelope());
            assert_eq!(books.balance(Account::Redeemed(*id)), partner.redeemed_unsettled());
            assert_eq!(
                partner.envelope().value() + get(&self.certified, id),
                get(&self.allocated, id) + get(&self.refunded, id),
                "envelope = allocations + refunds - certifications"
            );
            assert_eq!(
                partner.redeemed_unsettled().value() + get(&self.settled, id),
                get(&self.received, id),
                "settled + unsettled = redeemed at this venue"
            );
            let unsettled: u64 = self
                .redemptions
                .iter()
                .filter(|(command, _)| command.venue_id == *id)
                .filter(|(command, _)| !partner.redemption(command.redemption_id).expect("recorded").settled)
                .map(|(command, _)| command.amount.value())
                .sum();
            assert_eq!(unsettled, partner.redeemed_unsettled().value(), "unsettled = the redemptions not yet settled");
        }
        assert_eq!(total(&self.received), total(&self.spent), "venues received what wallets redeemed");

        for id in &self.citizens {
            let wallet = self.world.wallet(*id);
            for lot in wallet.holdings().lots() {
                assert!(lot.remaining <= lot.amount, "lot {lot:?} holds more than it was issued");
            }
            let (spendable, held, credited) =
                (wallet.holdings().spendable(self.now), wallet.holdings().held(), get(&self.credited, id));
            assert!(spendable <= held, "spendable {spendable} > held {held}");
            assert!(held.value() <= credited, "held {held} > credited {credited}");
            assert_eq!(
                held.value() + get(&self.returned, id) + get(&self.spent, id) + get(&self.expired, id),
                credited,
                "held = credited - revoked - redeemed - expired"
            );
            assert_eq!(books.balance(Account::Wallet(*id)), held);
        }
    }
}

#[test]
fn every_rules_version_of_the_generator_parses() {
    for source in RULES_VERSIONS {
        ygor_rules::Rules::parse(source).expect("rules parse");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_command_sequences_keep_conservation_and_never_overdraw(
        rules in 0..RULES_VERSIONS.len(),
        ops in prop::collection::vec(op(), 1..=60),
    ) {
        let mut run = Run::new(rules);
        run.check();
        for op in ops {
            run.step(op);
            run.check();
        }
    }
}
