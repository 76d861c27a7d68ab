//! Double-entry books of the standard-token ledger. Every token movement is exactly one ledger
//! entry (one event), with a debit account and a credit account; mirror events on the other
//! aggregate of an operation are bookkeeping for that aggregate and move nothing here. After every
//! event, `minted = treasury + envelopes + wallets + redeemed_unsettled` must hold.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::amount::Tokens;
use crate::draw::DrawEvent;
use crate::ids::{CitizenId, DrawId, MissionId, PartnerId};
use crate::mission::MissionEvent;
use crate::partner::PartnerEvent;
use crate::territory::TerritoryEvent;
use crate::wallet::WalletEvent;

/// One event of the log, typed, with the id of the stream it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyEvent {
    Territory(TerritoryEvent),
    Partner(PartnerId, PartnerEvent),
    Wallet(CitizenId, WalletEvent),
    Mission(MissionId, MissionEvent),
    Draw(DrawId, DrawEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Account {
    /// Where minted tokens come from: the territory's issuance.
    Issuance,
    Treasury,
    Envelope(PartnerId),
    Wallet(CitizenId),
    Redeemed(PartnerId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    pub debit: Account,
    pub credit: Account,
    pub amount: Tokens,
}

/// The ledger entry an event is, if it is one.
pub fn ledger_entry(event: &AnyEvent) -> Option<Transfer> {
    let transfer = |debit, credit, amount| Some(Transfer { debit, credit, amount });
    match event {
        AnyEvent::Territory(TerritoryEvent::SupplyMinted { amount, .. }) => {
            transfer(Account::Issuance, Account::Treasury, *amount)
        }
        AnyEvent::Territory(TerritoryEvent::EnvelopeAllocated { partner_id, amount, .. }) => {
            transfer(Account::Treasury, Account::Envelope(*partner_id), *amount)
        }
        AnyEvent::Partner(partner_id, PartnerEvent::CertificationRecorded { record, .. }) => {
            transfer(Account::Envelope(*partner_id), Account::Wallet(record.citizen_id), record.outcome.tokens)
        }
        AnyEvent::Wallet(citizen_id, WalletEvent::CertificationRevoked { association_id, returned, .. }) => {
            transfer(Account::Wallet(*citizen_id), Account::Envelope(*association_id), *returned)
        }
        AnyEvent::Wallet(citizen_id, WalletEvent::TokensRedeemed { venue_id, amount, .. }) => {
            transfer(Account::Wallet(*citizen_id), Account::Redeemed(*venue_id), *amount)
        }
        AnyEvent::Partner(venue_id, PartnerEvent::VenueSettled { amount, .. }) => {
            transfer(Account::Redeemed(*venue_id), Account::Treasury, *amount)
        }
        AnyEvent::Wallet(citizen_id, WalletEvent::TokensExpired { amount, .. }) => {
            transfer(Account::Wallet(*citizen_id), Account::Treasury, *amount)
        }
        _ => None,
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConservationError {
    #[error("more gold tokens entered in draws or taken back than were ever issued")]
    GoldOverspent,
    #[error("account {account:?} would go below zero: holds {holds}, debited {amount}")]
    Overdrawn { account: String, holds: Tokens, amount: Tokens },
    #[error(
        "minted {minted} != treasury {treasury} + envelopes {envelopes} + wallets {wallets} + redeemed_unsettled {redeemed_unsettled}"
    )]
    Unbalanced { minted: Tokens, treasury: Tokens, envelopes: Tokens, wallets: Tokens, redeemed_unsettled: Tokens },
}

/// Balances and flow totals of the standard-token ledger: the circulation dashboard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Circulation {
    pub minted: Tokens,
    pub treasury: Tokens,
    pub envelopes: Tokens,
    pub wallets: Tokens,
    pub redeemed_unsettled: Tokens,
    /// Settled (recovered from venues) so far.
    pub recovered: Tokens,
    /// Expired and swept back so far.
    pub expired: Tokens,
    /// Credited to wallets by certifications so far.
    pub issued: Tokens,
    /// Spent at venues so far.
    pub redeemed: Tokens,
    /// Returned to envelopes by revocations so far.
    pub revoked: Tokens,
    /// Gold tokens earned by certifications so far (a ledger of its own).
    pub gold_issued: u64,
    /// Gold tokens spent as draw tickets so far.
    pub gold_entered: u64,
    /// Gold tokens taken back by revocations so far.
    pub gold_taken_back: u64,
}

impl Circulation {
    /// Gold tokens held by citizens: issued, neither entered in draws nor taken back.
    pub fn gold_outstanding(&self) -> u64 {
        self.gold_issued - self.gold_entered - self.gold_taken_back
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Books {
    circulation: Circulation,
    envelopes: BTreeMap<PartnerId, Tokens>,
    wallets: BTreeMap<CitizenId, Tokens>,
    redeemed: BTreeMap<PartnerId, Tokens>,
}

impl Books {
    pub fn circulation(&self) -> Circulation {
        self.circulation
    }

    pub fn balance(&self, account: Account) -> Tokens {
        let found = match account {
            Account::Issuance => None,
            Account::Treasury => Some(&self.circulation.treasury),
            Account::Envelope(id) => self.envelopes.get(&id),
            Account::Wallet(id) => self.wallets.get(&id),
            Account::Redeemed(id) => self.redeemed.get(&id),
        };
        found.copied().unwrap_or(Tokens::ZERO)
    }

    /// Posts the event's ledger entry, if any, and checks conservation. On error nothing changed.
    pub fn post(&mut self, event: &AnyEvent) -> Result<(), ConservationError> {
        match event {
            AnyEvent::Wallet(_, WalletEvent::ActionCertified { gold: true, .. }) => self.circulation.gold_issued += 1,
            AnyEvent::Wallet(_, WalletEvent::GoldSpent { tickets, .. }) => {
                if *tickets > self.circulation.gold_outstanding() {
                    return Err(ConservationError::GoldOverspent);
                }
                self.circulation.gold_entered += tickets;
            }
            AnyEvent::Wallet(_, WalletEvent::CertificationRevoked { gold_taken_back: true, .. }) => {
                if self.circulation.gold_outstanding() == 0 {
                    return Err(ConservationError::GoldOverspent);
                }
                self.circulation.gold_taken_back += 1;
            }
            _ => {}
        }
        let Some(transfer) = ledger_entry(event) else {
            return Ok(());
        };
        let holds = self.balance(transfer.debit);
        if transfer.debit != Account::Issuance && holds < transfer.amount {
            return Err(ConservationError::Overdrawn {
                account: format!("{:?}", transfer.debit),
                holds,
                amount: transfer.amount,
            });
        }
        let amount = transfer.amount;
        self.move_balance(transfer.debit, amount, false);
        self.move_balance(transfer.credit, amount, true);
        let flows = &mut self.circulation;
        match (transfer.debit, transfer.credit) {
            (Account::Issuance, _) => flows.minted.add_assign_checked(amount),
            (Account::Envelope(_), Account::Wallet(_)) => flows.issued.add_assign_checked(amount),
            (Account::Wallet(_), Account::Envelope(_)) => flows.revoked.add_assign_checked(amount),
            (Account::Wallet(_), Account::Redeemed(_)) => flows.redeemed.add_assign_checked(amount),
            (Account::Redeemed(_), Account::Treasury) => flows.recovered.add_assign_checked(amount),
            (Account::Wallet(_), Account::Treasury) => flows.expired.add_assign_checked(amount),
            _ => {}
        }
        self.check()
    }

    fn move_balance(&mut self, account: Account, amount: Tokens, credit: bool) {
        let change = |balance: &mut Tokens| {
            if credit { balance.add_assign_checked(amount) } else { balance.sub_assign_checked(amount) }
        };
        let totals = &mut self.circulation;
        match account {
            Account::Issuance => {}
            Account::Treasury => change(&mut totals.treasury),
            Account::Envelope(id) => {
                change(self.envelopes.entry(id).or_default());
                change(&mut totals.envelopes);
            }
            Account::Wallet(id) => {
                change(self.wallets.entry(id).or_default());
                change(&mut totals.wallets);
            }
            Account::Redeemed(id) => {
                change(self.redeemed.entry(id).or_default());
                change(&mut totals.redeemed_unsettled);
            }
        }
    }

    /// `minted = treasury + envelopes + wallets + redeemed_unsettled`.
    pub fn check(&self) -> Result<(), ConservationError> {
        let c = &self.circulation;
        let held = [c.treasury, c.envelopes, c.wallets, c.redeemed_unsettled]
            .into_iter()
            .try_fold(Tokens::ZERO, Tokens::checked_add);
        if held == Some(c.minted) {
            Ok(())
        } else {
            Err(ConservationError::Unbalanced {
                minted: c.minted,
                treasury: c.treasury,
                envelopes: c.envelopes,
                wallets: c.wallets,
                redeemed_unsettled: c.redeemed_unsettled,
            })
        }
    }
}
