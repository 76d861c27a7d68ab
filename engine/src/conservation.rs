//! The paired assertion of conservation, before any append (TigerBeetle style): the projections
//! check conservation again after reading the events back.
//!
//! An operation's events say the same movement twice. The books read one event per movement (the
//! ledger entry, `ygor_ledger::books::ledger_entry`: the association's `CertificationRecorded`
//! moves tokens from its envelope to the citizen's wallet); each aggregate reads its own events
//! (the wallet's mirror `ActionCertified` adds tokens to its lots). Before the events are
//! appended, every balance they change must change by the same amount in both readings, and none
//! may go below zero, for standard tokens and gold tokens alike. Otherwise the decision is a
//! defect: nothing is written and the command fails.

use ygor_ledger::books::{Account, AnyEvent, ledger_entry};
use ygor_ledger::draw::DrawEvent;
use ygor_ledger::partner::PartnerEvent;
use ygor_ledger::territory::TerritoryEvent;
use ygor_ledger::wallet::WalletEvent;
use ygor_ledger::{CitizenId, DrawId, Tokens};

/// Who holds a balance: an account of the standard-token books, or a holder of gold tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holder {
    Tokens(Account),
    /// Where gold tokens come from: certifications that won one.
    GoldIssuance,
    Gold(CitizenId),
    /// Gold tokens entered in a draw as tickets.
    Tickets(DrawId),
}

/// The balances an operation starts from, as the aggregates it holds know them; `None` for a
/// holder whose aggregate it does not hold.
pub trait Balances {
    fn balance(&self, holder: Holder) -> Option<u64>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("{holder:?} changes by {books} in the books and by {aggregates} in its aggregate's events")]
    Unbalanced { holder: Holder, books: i128, aggregates: i128 },
    #[error("{holder:?} holds {holds} and would change by {change}")]
    Overdrawn { holder: Holder, holds: u64, change: i128 },
    #[error("{holder:?} changes by {change}, and the operation does not hold its aggregate")]
    NotHeld { holder: Holder, change: i128 },
}

/// The change of every balance, as the books read the events and as the aggregates do, in the
/// order the holders first appear (an operation changes a few; a sweep a few hundred).
#[derive(Default)]
struct Changes {
    by_holder: Vec<(Holder, i128, i128)>,
}

impl Changes {
    fn entry(&mut self, holder: Holder) -> &mut (Holder, i128, i128) {
        match self.by_holder.iter().position(|(known, _, _)| *known == holder) {
            Some(index) => &mut self.by_holder[index],
            None => {
                self.by_holder.push((holder, 0, 0));
                self.by_holder.last_mut().expect("just pushed")
            }
        }
    }

    fn books(&mut self, holder: Holder, amount: i128) {
        self.entry(holder).1 += amount;
    }

    fn aggregate(&mut self, holder: Holder, amount: i128) {
        self.entry(holder).2 += amount;
    }
}

fn amount(tokens: Tokens) -> i128 {
    i128::from(tokens.value())
}

/// How the books read an event: its ledger entry, and its gold movement.
fn as_books(event: &AnyEvent, changes: &mut Changes) {
    if let Some(transfer) = ledger_entry(event) {
        changes.books(Holder::Tokens(transfer.debit), -amount(transfer.amount));
        changes.books(Holder::Tokens(transfer.credit), amount(transfer.amount));
    }
    match event {
        AnyEvent::Wallet(citizen, WalletEvent::ActionCertified { gold: true, .. }) => {
            changes.books(Holder::GoldIssuance, -1);
            changes.books(Holder::Gold(*citizen), 1);
        }
        AnyEvent::Wallet(citizen, WalletEvent::GoldSpent { draw_id, tickets, .. }) => {
            changes.books(Holder::Gold(*citizen), -i128::from(*tickets));
            changes.books(Holder::Tickets(*draw_id), i128::from(*tickets));
        }
        AnyEvent::Wallet(citizen, WalletEvent::CertificationRevoked { gold_taken_back: true, .. }) => {
            changes.books(Holder::Gold(*citizen), -1);
            changes.books(Holder::GoldIssuance, 1);
        }
        _ => {}
    }
}

/// How the aggregate whose stream holds an event reads it: what it does to its own balances.
fn as_aggregate(event: &AnyEvent, changes: &mut Changes) {
    let spent = |lots: &[ygor_ledger::wallet::LotSpend]| -lots.iter().map(|spend| amount(spend.amount)).sum::<i128>();
    match event {
        AnyEvent::Territory(event) => match event {
            TerritoryEvent::SupplyMinted { amount: minted, .. } => {
                changes.aggregate(Holder::Tokens(Account::Issuance), -amount(*minted));
                changes.aggregate(Holder::Tokens(Account::Treasury), amount(*minted));
            }
            TerritoryEvent::EnvelopeAllocated { amount: allocated, .. } => {
                changes.aggregate(Holder::Tokens(Account::Treasury), -amount(*allocated))
            }
            TerritoryEvent::SettlementRecovered { amount: recovered, .. }
            | TerritoryEvent::ExpiredRecovered { amount: recovered, .. } => {
                changes.aggregate(Holder::Tokens(Account::Treasury), amount(*recovered))
            }
            _ => {}
        },
        AnyEvent::Partner(id, event) => match event {
            PartnerEvent::EnvelopeReceived { amount: received, .. }
            | PartnerEvent::RevocationRefunded { amount: received, .. } => {
                changes.aggregate(Holder::Tokens(Account::Envelope(*id)), amount(*received))
            }
            PartnerEvent::CertificationRecorded { record, .. } => {
                changes.aggregate(Holder::Tokens(Account::Envelope(*id)), -amount(record.outcome.tokens))
            }
            PartnerEvent::RedemptionRecorded { record, .. } => {
                changes.aggregate(Holder::Tokens(Account::Redeemed(*id)), amount(record.amount))
            }
            PartnerEvent::VenueSettled { amount: settled, .. } => {
                changes.aggregate(Holder::Tokens(Account::Redeemed(*id)), -amount(*settled))
            }
            _ => {}
        },
        AnyEvent::Wallet(id, event) => {
            let wallet = Holder::Tokens(Account::Wallet(*id));
            match event {
                WalletEvent::ActionCertified { tokens, lot, gold, .. } => {
                    // A wallet opens a lot, and holds the tokens, only with a lot.
                    if lot.is_some() {
                        changes.aggregate(wallet, amount(*tokens));
                    }
                    if *gold {
                        changes.aggregate(Holder::GoldIssuance, -1);
                        changes.aggregate(Holder::Gold(*id), 1);
                    }
                }
                WalletEvent::CertificationRevoked { lot_id, returned, gold_taken_back, .. } => {
                    if lot_id.is_some() {
                        changes.aggregate(wallet, -amount(*returned));
                    }
                    if *gold_taken_back {
                        changes.aggregate(Holder::Gold(*id), -1);
                        changes.aggregate(Holder::GoldIssuance, 1);
                    }
                }
                WalletEvent::TokensRedeemed { spent: lots, .. } | WalletEvent::TokensExpired { lots, .. } => {
                    changes.aggregate(wallet, spent(lots))
                }
                WalletEvent::GoldSpent { tickets, .. } => changes.aggregate(Holder::Gold(*id), -i128::from(*tickets)),
                _ => {}
            }
        }
        AnyEvent::Draw(id, DrawEvent::EntryRecorded { tickets, .. }) => {
            changes.aggregate(Holder::Tickets(*id), i128::from(*tickets))
        }
        AnyEvent::Draw(..) | AnyEvent::Mission(..) => {}
    }
}

/// Checks that `events`, decided together, change every balance the same way in the books and in
/// their aggregates, and leave none below zero from `before`.
pub fn check(events: &[AnyEvent], before: &impl Balances) -> Result<(), Violation> {
    let mut changes = Changes::default();
    for event in events {
        as_books(event, &mut changes);
        as_aggregate(event, &mut changes);
    }
    for (holder, books, aggregates) in changes.by_holder {
        if books != aggregates {
            return Err(Violation::Unbalanced { holder, books, aggregates });
        }
        if books == 0 || matches!(holder, Holder::Tokens(Account::Issuance) | Holder::GoldIssuance) {
            continue;
        }
        let holds = before.balance(holder).ok_or(Violation::NotHeld { holder, change: books })?;
        if i128::from(holds) + books < 0 {
            return Err(Violation::Overdrawn { holder, holds, change: books });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use ygor_ledger::partner::{CertificationOutcome, CertificationRecord, SignedRequest};
    use ygor_ledger::wallet::NewLot;
    use ygor_ledger::{ActionId, CategoryId, LotId, PartnerId};

    use std::collections::HashMap;

    use super::*;

    struct Held(HashMap<Holder, u64>);

    impl Balances for Held {
        fn balance(&self, holder: Holder) -> Option<u64> {
            self.0.get(&holder).copied()
        }
    }

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000, 0).expect("a time")
    }

    /// A certification of `recorded` tokens by the association, and of `credited` by the wallet.
    fn certification(association: PartnerId, citizen: CitizenId, recorded: u64, credited: u64) -> Vec<AnyEvent> {
        let action_id = ActionId::from_uuid(uuid::Uuid::new_v4());
        let lot = NewLot { lot_id: LotId::from_uuid(uuid::Uuid::new_v4()), issued_at: at(), expires_at: at() };
        let outcome = CertificationOutcome {
            action_id,
            tokens: Tokens::new(recorded),
            gold: true,
            gold_period: Some(1),
            lot_id: Some(lot.lot_id),
            expires_at: Some(at()),
        };
        let record = CertificationRecord {
            action_id,
            citizen_id: citizen,
            category: CategoryId::parse("ecologie").expect("a category"),
            quantity: 1,
            occurred_at: at(),
            signature: String::new(),
            request: SignedRequest::none(),
            fingerprint: String::new(),
            rules_version: 1,
            gold_period: Some(1),
            outcome,
        };
        vec![
            AnyEvent::Wallet(
                citizen,
                WalletEvent::ActionCertified {
                    action_id,
                    association_id: association,
                    category: record.category.clone(),
                    quantity: 1,
                    occurred_at: at(),
                    tokens: Tokens::new(credited),
                    lot: Some(lot),
                    gold: true,
                    certified_at: at(),
                },
            ),
            AnyEvent::Partner(association, PartnerEvent::CertificationRecorded { record, certified_at: at() }),
        ]
    }

    fn held(association: PartnerId, citizen: CitizenId, envelope: u64) -> Held {
        Held(HashMap::from([
            (Holder::Tokens(Account::Envelope(association)), envelope),
            (Holder::Tokens(Account::Wallet(citizen)), 0),
            (Holder::Gold(citizen), 0),
        ]))
    }

    #[test]
    fn a_certification_whose_two_sides_agree_conserves_tokens_and_gold() {
        let (association, citizen) =
            (PartnerId::from_uuid(uuid::Uuid::new_v4()), CitizenId::from_uuid(uuid::Uuid::new_v4()));
        assert_eq!(check(&certification(association, citizen, 10, 10), &held(association, citizen, 10)), Ok(()));
    }

    fn gold_taken_back(association: PartnerId, citizen: CitizenId) -> AnyEvent {
        AnyEvent::Wallet(
            citizen,
            WalletEvent::CertificationRevoked {
                action_id: ActionId::from_uuid(uuid::Uuid::new_v4()),
                association_id: association,
                lot_id: None,
                returned: Tokens::ZERO,
                gold_taken_back: true,
                reason: "erreur".to_owned(),
                revoked_at: at(),
            },
        )
    }

    #[test]
    fn a_gold_token_taken_back_from_a_citizen_who_holds_one_conserves_gold() {
        let (association, citizen) =
            (PartnerId::from_uuid(uuid::Uuid::new_v4()), CitizenId::from_uuid(uuid::Uuid::new_v4()));
        let mut holds_one = held(association, citizen, 0);
        holds_one.0.insert(Holder::Gold(citizen), 1);
        assert_eq!(check(&[gold_taken_back(association, citizen)], &holds_one), Ok(()));
    }

    #[test]
    fn a_gold_token_taken_back_from_a_citizen_who_holds_none_is_refused() {
        let (association, citizen) =
            (PartnerId::from_uuid(uuid::Uuid::new_v4()), CitizenId::from_uuid(uuid::Uuid::new_v4()));
        let error = check(&[gold_taken_back(association, citizen)], &held(association, citizen, 0)).unwrap_err();
        assert_eq!(error, Violation::Overdrawn { holder: Holder::Gold(citizen), holds: 0, change: -1 });
    }

    #[test]
    fn a_wallet_credited_more_than_the_envelope_gave_is_refused() {
        let (association, citizen) =
            (PartnerId::from_uuid(uuid::Uuid::new_v4()), CitizenId::from_uuid(uuid::Uuid::new_v4()));
        let error = check(&certification(association, citizen, 10, 12), &held(association, citizen, 100)).unwrap_err();
        assert_eq!(
            error,
            Violation::Unbalanced { holder: Holder::Tokens(Account::Wallet(citizen)), books: 10, aggregates: 12 }
        );
    }

    #[test]
    fn an_envelope_that_would_go_below_zero_is_refused() {
        let (association, citizen) =
            (PartnerId::from_uuid(uuid::Uuid::new_v4()), CitizenId::from_uuid(uuid::Uuid::new_v4()));
        let error = check(&certification(association, citizen, 10, 10), &held(association, citizen, 9)).unwrap_err();
        assert_eq!(
            error,
            Violation::Overdrawn { holder: Holder::Tokens(Account::Envelope(association)), holds: 9, change: -10 }
        );
    }

    #[test]
    fn a_balance_of_an_aggregate_not_held_is_refused() {
        let (association, citizen) =
            (PartnerId::from_uuid(uuid::Uuid::new_v4()), CitizenId::from_uuid(uuid::Uuid::new_v4()));
        let mut balances = held(association, citizen, 10);
        balances.0.remove(&Holder::Gold(citizen));
        let error = check(&certification(association, citizen, 10, 10), &balances).unwrap_err();
        assert_eq!(error, Violation::NotHeld { holder: Holder::Gold(citizen), change: 1 });
    }

    #[test]
    fn a_redemption_whose_lots_do_not_add_up_to_its_amount_is_refused() {
        let (venue, citizen) = (PartnerId::from_uuid(uuid::Uuid::new_v4()), CitizenId::from_uuid(uuid::Uuid::new_v4()));
        let spent = vec![ygor_ledger::wallet::LotSpend {
            lot_id: LotId::from_uuid(uuid::Uuid::new_v4()),
            amount: Tokens::new(4),
        }];
        let events = vec![AnyEvent::Wallet(
            citizen,
            WalletEvent::TokensRedeemed {
                redemption_id: ygor_ledger::RedemptionId::from_uuid(uuid::Uuid::new_v4()),
                venue_id: venue,
                voucher_id: ygor_ledger::VoucherId::from_uuid(uuid::Uuid::new_v4()),
                amount: Tokens::new(5),
                spent,
                redeemed_at: at(),
            },
        )];
        let balances = Held(HashMap::from([(Holder::Tokens(Account::Wallet(citizen)), 10)]));
        let error = check(&events, &balances).unwrap_err();
        assert!(matches!(error, Violation::Unbalanced { books: -5, aggregates: -4, .. }), "{error}");
    }
}
