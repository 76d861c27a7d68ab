//! The `Wallet` aggregate: a citizen's lots of tokens, each with its own expiry, the registry of
//! their certified actions (deduplicated by action id, counted against monthly caps), the
//! vouchers already used, and the redemptions and expiries that emptied lots.
//!
//! A certification reads little of the wallet it credits: [`Crediting`] names those facts, and
//! [`credit`] decides the wallet's side of a certification from them alone, exactly as
//! [`Wallet::decide`] does with the whole wallet.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

use crate::amount::Tokens;
use crate::error::LedgerError;
use crate::ids::{ActionId, CategoryId, DrawId, LotId, PartnerId, RedemptionId, VoucherId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LotKind {
    Standard,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lot {
    pub lot_id: LotId,
    pub action_id: ActionId,
    pub kind: LotKind,
    pub amount: Tokens,
    pub remaining: Tokens,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Set once the sweep wrote `TokensExpired` for this lot.
    pub swept: bool,
}

impl Lot {
    /// A lot is spendable strictly before its expiry, whether or not the sweep has run.
    pub fn is_spendable_at(&self, now: DateTime<Utc>) -> bool {
        !self.swept && now < self.expires_at && !self.remaining.is_zero()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewLot {
    pub lot_id: LotId,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotSpend {
    pub lot_id: LotId,
    pub amount: Tokens,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub reason: String,
    pub returned: Tokens,
    /// Whether the revocation took back the gold token the action had earned.
    pub gold_taken_back: bool,
    pub revoked_at: DateTime<Utc>,
    pub sequence: usize,
}

/// What the wallet keeps of a certified action (its id is the key of [`Wallet::action`]): what a
/// revocation takes out of the monthly caps. The action's lot is found by the action id the lot
/// carries, the association that may revoke it is proven by that association's own record
/// (`operations::revoke`), and the rest is in the log (decision 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionEntry {
    /// The tokens it earned, counted in its month.
    pub tokens: Tokens,
    /// Its month, an index into the wallet's [`MonthlyEarnings`].
    month: u32,
}

/// Tokens earned in one category and calendar month (see [`month_key`]), revoked actions excluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct MonthTotal {
    key: String,
    earned: Tokens,
}

/// Tokens earned per category and calendar month of `occurred_at`, in the order the months first
/// appeared, revoked actions excluded: what the monthly caps are checked against. A wallet has a
/// few of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MonthlyEarnings(Vec<MonthTotal>);

impl MonthlyEarnings {
    /// Tokens earned in the category in the calendar month of `occurred_at`.
    pub fn earned(&self, category: &CategoryId, occurred_at: DateTime<Utc>) -> Tokens {
        self.position(&month_key(category, occurred_at)).map_or(Tokens::ZERO, |index| self.0[index].earned)
    }

    /// Adds an action's tokens to its month; returns the month's index (for [`ActionEntry`]).
    pub fn credit(&mut self, category: &CategoryId, occurred_at: DateTime<Utc>, tokens: Tokens) -> u32 {
        let key = month_key(category, occurred_at);
        let index = match self.position(&key) {
            Some(index) => index,
            None => {
                self.0.push(MonthTotal { key, earned: Tokens::ZERO });
                self.0.len() - 1
            }
        };
        self.0[index].earned.add_assign_checked(tokens);
        u32::try_from(index).expect("fewer than 2^32 months in a wallet")
    }

    /// Takes a revoked action's tokens out of its month.
    fn debit(&mut self, month: u32, tokens: Tokens) {
        self.0[month as usize].earned.sub_assign_checked(tokens);
    }

    /// How many months are kept, and the bytes of their keys' texts.
    pub fn sizes(&self) -> (usize, usize) {
        (self.0.len(), self.0.iter().map(|month| month.key.len()).sum())
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|month| month.key == key)
    }
}

/// What crediting an action reads of the wallet it credits: every fact a certification decides
/// on. [`Wallet::crediting`] gives them for a whole wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crediting {
    pub registered: bool,
    /// Whether the wallet was already credited for this action id (revoked or not).
    pub holds_action: bool,
    /// Tokens already earned in the action's category and month, revoked actions excluded.
    pub earned_in_month: Tokens,
    /// Every token in the wallet's unswept lots.
    pub held: Tokens,
}

/// The wallet's side of a certification, with the amount already decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Credit {
    pub action_id: ActionId,
    pub association_id: PartnerId,
    pub category: CategoryId,
    pub quantity: u64,
    pub occurred_at: DateTime<Utc>,
    pub tokens: Tokens,
    pub lot: Option<NewLot>,
    pub gold: bool,
    pub at: DateTime<Utc>,
}

/// Decides the wallet's side of a certification from what it reads of the wallet.
pub fn credit(wallet: &Crediting, credit: Credit) -> Result<Vec<WalletEvent>, LedgerError> {
    if !wallet.registered {
        return Err(LedgerError::NotRegistered);
    }
    if wallet.holds_action {
        return Err(LedgerError::IdConflict { what: format!("action_id {}", credit.action_id) });
    }
    let Credit { action_id, association_id, category, quantity, occurred_at, tokens, lot, gold, at } = credit;
    assert_eq!(lot.is_some(), !tokens.is_zero(), "a lot is opened exactly when tokens are earned");
    wallet.held.checked_add(tokens).ok_or(LedgerError::Overflow)?;
    Ok(vec![WalletEvent::ActionCertified {
        action_id,
        association_id,
        category,
        quantity,
        occurred_at,
        tokens,
        lot,
        gold,
        certified_at: at,
    }])
}

/// A voucher whose territory signature was checked at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedVoucher {
    pub voucher_id: VoucherId,
    pub amount_max: Tokens,
    pub expires_at: DateTime<Utc>,
    /// The offer the voucher was issued for, if any: it may only redeem that offer.
    pub offer_id: Option<crate::ids::OfferId>,
}

/// Coarse statistical attributes of a citizen, in the log so that participation figures by
/// neighbourhood and age band survive the erasure of the person's identifying data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Demographics {
    pub neighbourhood: Option<String>,
    pub birth_year: Option<i32>,
}

/// What a citizen holds and shows: registration, interests, lots and gold. The read models keep
/// only this part of each wallet; the aggregate adds what its decisions need besides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Holdings {
    registered_at: Option<DateTime<Utc>>,
    demographics: Demographics,
    interests: Vec<CategoryId>,
    lots: Vec<Lot>,
    gold_issued: u64,
    gold_spent: u64,
    /// Gold tokens taken back by revocations of the actions that earned them.
    gold_taken_back: u64,
    /// [`Holdings::next_expiry`], kept up to date by [`Holdings::apply`]: the read models ask for
    /// it at every wallet event, and finding it among a year of lots cost a few % of a replay.
    next_expiry: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Wallet {
    holdings: Holdings,
    /// Every action the wallet was credited for, revoked or not.
    actions: HashMap<ActionId, ActionEntry>,
    /// The revoked actions (rare), by action id.
    revocations: HashMap<ActionId, Revocation>,
    months: MonthlyEarnings,
    /// The vouchers it spent.
    used_vouchers: BTreeSet<VoucherId>,
    version: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WalletCommand {
    Register {
        demographics: Demographics,
        interests: Vec<CategoryId>,
        at: DateTime<Utc>,
    },
    SetInterests {
        interests: Vec<CategoryId>,
        at: DateTime<Utc>,
    },
    /// The wallet side of a certification, with the amount already decided.
    CreditAction(Credit),
    Revoke {
        action_id: ActionId,
        association_id: PartnerId,
        /// Whether the action earned a gold token (the association's record says).
        gold: bool,
        reason: String,
        at: DateTime<Utc>,
    },
    Redeem {
        redemption_id: RedemptionId,
        venue_id: PartnerId,
        voucher: VerifiedVoucher,
        amount: Tokens,
        at: DateTime<Utc>,
    },
    SpendGold {
        draw_id: DrawId,
        tickets: u64,
        at: DateTime<Utc>,
    },
    SweepExpired {
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WalletEvent {
    CitizenRegistered {
        demographics: Demographics,
        interests: Vec<CategoryId>,
        registered_at: DateTime<Utc>,
    },
    InterestsChanged {
        interests: Vec<CategoryId>,
        changed_at: DateTime<Utc>,
    },
    /// Mirror of `PartnerEvent::CertificationRecorded` (the ledger entry); opens the lot.
    ActionCertified {
        action_id: ActionId,
        association_id: PartnerId,
        category: CategoryId,
        quantity: u64,
        occurred_at: DateTime<Utc>,
        tokens: Tokens,
        lot: Option<NewLot>,
        /// Whether the action also earned a gold token (its own ledger: issued here).
        gold: bool,
        certified_at: DateTime<Utc>,
    },
    /// Gold ledger entry: the citizen's gold tokens → tickets in a draw.
    GoldSpent {
        draw_id: DrawId,
        tickets: u64,
        spent_at: DateTime<Utc>,
    },
    /// Ledger entry: wallet → the association's envelope (the lot's unspent tokens); and on the
    /// gold ledger, the citizen's gold → gold issuance when `gold_taken_back`.
    CertificationRevoked {
        action_id: ActionId,
        association_id: PartnerId,
        lot_id: Option<LotId>,
        returned: Tokens,
        /// Whether the gold token the action earned was taken back: it had earned one and the
        /// citizen still held one (gold tokens are alike; one spent as a ticket stays spent).
        gold_taken_back: bool,
        reason: String,
        revoked_at: DateTime<Utc>,
    },
    /// Ledger entry: wallet → the venue's redeemed tokens.
    TokensRedeemed {
        redemption_id: RedemptionId,
        venue_id: PartnerId,
        voucher_id: VoucherId,
        amount: Tokens,
        spent: Vec<LotSpend>,
        redeemed_at: DateTime<Utc>,
    },
    /// Ledger entry: wallet → treasury.
    TokensExpired {
        lots: Vec<LotSpend>,
        amount: Tokens,
        swept_at: DateTime<Utc>,
    },
}

crate::macros::domain_event!(WalletEvent in "wallet" {
    CitizenRegistered = "2",
    InterestsChanged = "1",
    ActionCertified = "2",
    GoldSpent = "1",
    CertificationRevoked = "2",
    TokensRedeemed = "1",
    TokensExpired = "1"
} upcasters: upcast);

/// Version 1 of `CitizenRegistered` could lack `demographics`, of `ActionCertified` could lack
/// `gold`, and of `CertificationRevoked` never took gold back; version 2 requires the field.
fn upcast(kind: &str, version: &str) -> Option<crate::codec::Upcaster> {
    use crate::codec::default_field;
    match (kind, version) {
        ("CitizenRegistered", "1") => {
            Some(|payload| default_field(payload, &["CitizenRegistered"], "demographics", serde_json::json!({})))
        }
        ("ActionCertified", "1") => {
            Some(|payload| default_field(payload, &["ActionCertified"], "gold", serde_json::Value::Bool(false)))
        }
        ("CertificationRevoked", "1") => Some(|payload| {
            default_field(payload, &["CertificationRevoked"], "gold_taken_back", serde_json::Value::Bool(false))
        }),
        _ => None,
    }
}

/// The key of the monthly cap: a category and the calendar month (UTC) of `occurred_at`.
pub fn month_key(category: &CategoryId, occurred_at: DateTime<Utc>) -> String {
    format!("{}/{:04}-{:02}", category, occurred_at.year(), occurred_at.month())
}

impl Holdings {
    pub fn is_registered(&self) -> bool {
        self.registered_at.is_some()
    }

    pub fn interests(&self) -> &[CategoryId] {
        &self.interests
    }

    /// Gold tokens held: issued by certifications, neither spent as draw tickets nor taken back
    /// by a revocation.
    pub fn gold(&self) -> u64 {
        self.gold_issued - self.gold_spent - self.gold_taken_back
    }

    pub fn gold_issued(&self) -> u64 {
        self.gold_issued
    }

    pub fn demographics(&self) -> &Demographics {
        &self.demographics
    }

    pub fn registered_at(&self) -> Option<DateTime<Utc>> {
        self.registered_at
    }

    pub fn lots(&self) -> &[Lot] {
        &self.lots
    }

    /// Tokens spendable at `now`: lots not yet expired (swept or not).
    pub fn spendable(&self, now: DateTime<Utc>) -> Tokens {
        self.lots.iter().filter(|lot| lot.is_spendable_at(now)).map(|lot| lot.remaining).sum()
    }

    /// Every token still in a lot that has not been swept, expired or not: the wallet's share of
    /// the books (`wallets` in the conservation equation).
    pub fn held(&self) -> Tokens {
        self.lots.iter().filter(|lot| !lot.swept).map(|lot| lot.remaining).sum()
    }

    /// When the next lot still holding tokens expires, among those the sweep has not written off
    /// (past or future): what the expiry sweep's index keeps, one time per wallet.
    pub fn next_expiry(&self) -> Option<DateTime<Utc>> {
        debug_assert_eq!(self.next_expiry, self.find_next_expiry(), "the next expiry follows the lots");
        self.next_expiry
    }

    fn find_next_expiry(&self) -> Option<DateTime<Utc>> {
        self.lots.iter().filter(|lot| !lot.swept && !lot.remaining.is_zero()).map(|lot| lot.expires_at).min()
    }

    /// Lots past expiry that the sweep has not yet written off, with what they still hold.
    pub fn expired_unswept(&self, now: DateTime<Utc>) -> Vec<LotSpend> {
        self.lots
            .iter()
            .filter(|lot| !lot.swept && lot.expires_at <= now && !lot.remaining.is_zero())
            .map(|lot| LotSpend { lot_id: lot.lot_id, amount: lot.remaining })
            .collect()
    }

    /// The lots that expire first are spent first (ties: the older issue, then the lot id, so
    /// the plan is deterministic).
    fn spend_plan(&self, amount: Tokens, now: DateTime<Utc>) -> Vec<LotSpend> {
        let mut candidates: Vec<&Lot> = self.lots.iter().filter(|lot| lot.is_spendable_at(now)).collect();
        candidates.sort_by_key(|lot| (lot.expires_at, lot.issued_at, lot.lot_id));
        let mut left = amount;
        let mut plan = Vec::new();
        for lot in candidates {
            if left.is_zero() {
                break;
            }
            let take = lot.remaining.min(left);
            left = left.saturating_sub(take);
            plan.push(LotSpend { lot_id: lot.lot_id, amount: take });
        }
        assert!(left.is_zero(), "the spend plan covers the whole amount once the balance was checked");
        plan
    }

    fn lot_mut(&mut self, lot_id: LotId) -> &mut Lot {
        self.lots.iter_mut().find(|lot| lot.lot_id == lot_id).expect("an event names a lot of this wallet")
    }

    /// Applies the part of a wallet event that concerns the holdings.
    pub fn apply(&mut self, event: &WalletEvent) {
        // Whether a lot that expires at the next expiry may have emptied or been swept.
        let mut emptied_first = false;
        match event {
            WalletEvent::CitizenRegistered { demographics, interests, registered_at } => {
                self.registered_at = Some(*registered_at);
                self.demographics = demographics.clone();
                self.interests = interests.clone();
            }
            WalletEvent::InterestsChanged { interests, .. } => self.interests = interests.clone(),
            WalletEvent::ActionCertified { action_id, tokens, lot, gold, .. } => {
                if *gold {
                    self.gold_issued += 1;
                }
                if let Some(lot) = lot {
                    if !tokens.is_zero() {
                        self.next_expiry =
                            Some(self.next_expiry.map_or(lot.expires_at, |next| next.min(lot.expires_at)));
                    }
                    self.lots.push(Lot {
                        lot_id: lot.lot_id,
                        action_id: *action_id,
                        kind: LotKind::Standard,
                        amount: *tokens,
                        remaining: *tokens,
                        issued_at: lot.issued_at,
                        expires_at: lot.expires_at,
                        swept: false,
                    });
                }
            }
            WalletEvent::CertificationRevoked { lot_id, returned, gold_taken_back, .. } => {
                if *gold_taken_back {
                    assert!(self.gold() >= 1, "a gold token is taken back only from a wallet that holds one");
                    self.gold_taken_back += 1;
                }
                if let Some(lot_id) = lot_id {
                    let lot = self.lot_mut(*lot_id);
                    lot.remaining.sub_assign_checked(*returned);
                    let expires_at = lot.expires_at;
                    emptied_first |= Some(expires_at) == self.next_expiry;
                }
            }
            WalletEvent::GoldSpent { tickets, .. } => {
                assert!(*tickets <= self.gold(), "gold is never spent beyond what was issued");
                self.gold_spent += tickets;
            }
            WalletEvent::TokensRedeemed { spent, .. } => {
                for spend in spent {
                    let lot = self.lot_mut(spend.lot_id);
                    lot.remaining.sub_assign_checked(spend.amount);
                    let expires_at = lot.expires_at;
                    emptied_first |= Some(expires_at) == self.next_expiry;
                }
            }
            WalletEvent::TokensExpired { lots, .. } => {
                for spend in lots {
                    let lot = self.lot_mut(spend.lot_id);
                    assert!(!lot.swept, "a lot is swept once");
                    assert_eq!(lot.remaining, spend.amount, "an expiry takes all that is left in the lot");
                    lot.swept = true;
                    let expires_at = lot.expires_at;
                    emptied_first |= Some(expires_at) == self.next_expiry;
                }
            }
        }
        // A lot's `remaining` starts at its `amount` and only ever goes down (checked), so only
        // the lots that went down can have changed the next expiry.
        if emptied_first {
            self.next_expiry = self.find_next_expiry();
        }
    }
}

impl Wallet {
    /// What the citizen holds: lots, gold, registration and interests.
    pub fn holdings(&self) -> &Holdings {
        &self.holdings
    }

    pub fn version(&self) -> usize {
        self.version
    }

    /// The action, if this wallet was credited for it (revoked or not).
    pub fn action(&self, action_id: ActionId) -> Option<ActionEntry> {
        self.actions.get(&action_id).copied()
    }

    /// Every action the wallet was credited for, revoked or not.
    pub fn actions(&self) -> &HashMap<ActionId, ActionEntry> {
        &self.actions
    }

    /// The action's revocation, if it was revoked.
    pub fn revocation(&self, action_id: ActionId) -> Option<&Revocation> {
        self.revocations.get(&action_id)
    }

    /// How many of its actions were revoked.
    pub fn revocation_count(&self) -> usize {
        self.revocations.len()
    }

    /// The vouchers it spent.
    pub fn used_vouchers(&self) -> &BTreeSet<VoucherId> {
        &self.used_vouchers
    }

    /// Whether the action counts in its monthly cap: credited here and not revoked.
    pub fn counts_in_cap(&self, action_id: ActionId) -> bool {
        self.actions.contains_key(&action_id) && !self.revocations.contains_key(&action_id)
    }

    /// Tokens earned per category and month, revoked actions excluded.
    pub fn monthly_earnings(&self) -> &MonthlyEarnings {
        &self.months
    }

    /// Tokens already earned this month in the category, revoked actions excluded.
    pub fn earned_in_month(&self, category: &CategoryId, occurred_at: DateTime<Utc>) -> Tokens {
        self.months.earned(category, occurred_at)
    }

    /// What crediting `action_id` (of `category`, done at `occurred_at`) reads of this wallet.
    pub fn crediting(&self, action_id: ActionId, category: &CategoryId, occurred_at: DateTime<Utc>) -> Crediting {
        Crediting {
            registered: self.holdings.is_registered(),
            holds_action: self.actions.contains_key(&action_id),
            earned_in_month: self.earned_in_month(category, occurred_at),
            held: self.holdings.held(),
        }
    }

    pub fn decide(&self, command: WalletCommand) -> Result<Vec<WalletEvent>, LedgerError> {
        let holdings = &self.holdings;
        match command {
            WalletCommand::Register { demographics, interests, at } => {
                if holdings.is_registered() {
                    return Err(LedgerError::AlreadyRegistered("this citizen".to_owned()));
                }
                Ok(vec![WalletEvent::CitizenRegistered { demographics, interests, registered_at: at }])
            }
            WalletCommand::SetInterests { interests, at } => {
                if !holdings.is_registered() {
                    return Err(LedgerError::NotRegistered);
                }
                if interests == holdings.interests {
                    return Ok(vec![]);
                }
                Ok(vec![WalletEvent::InterestsChanged { interests, changed_at: at }])
            }
            WalletCommand::CreditAction(command) => {
                credit(&self.crediting(command.action_id, &command.category, command.occurred_at), command)
            }
            WalletCommand::SpendGold { draw_id, tickets, at } => {
                if !holdings.is_registered() {
                    return Err(LedgerError::NotRegistered);
                }
                let available = holdings.gold();
                if tickets == 0 || tickets > available {
                    return Err(LedgerError::InsufficientGold { available, requested: tickets });
                }
                Ok(vec![WalletEvent::GoldSpent { draw_id, tickets, spent_at: at }])
            }
            WalletCommand::Revoke { action_id, association_id, gold, reason, at } => {
                // That `association_id` certified this action for this citizen is the
                // association's record to prove (`operations::revoke`).
                if !self.actions.contains_key(&action_id) {
                    return Err(LedgerError::UnknownAction(action_id));
                }
                if self.revocations.contains_key(&action_id) {
                    return Err(LedgerError::IdConflict { what: format!("revocation of action {action_id}") });
                }
                // The lot the certification opened, if it earned tokens.
                let lot = holdings.lots.iter().find(|lot| lot.action_id == action_id);
                let returned = lot.filter(|lot| !lot.swept).map_or(Tokens::ZERO, |lot| lot.remaining);
                // Gold tokens are alike: the one this action earned is taken back while the
                // citizen holds any; once all were spent as tickets, the tickets stay.
                let gold_taken_back = gold && holdings.gold() >= 1;
                Ok(vec![WalletEvent::CertificationRevoked {
                    action_id,
                    association_id,
                    lot_id: lot.map(|lot| lot.lot_id),
                    returned,
                    gold_taken_back,
                    reason,
                    revoked_at: at,
                }])
            }
            WalletCommand::Redeem { redemption_id, venue_id, voucher, amount, at } => {
                if !holdings.is_registered() {
                    return Err(LedgerError::NotRegistered);
                }
                if self.used_vouchers.contains(&voucher.voucher_id) {
                    return Err(LedgerError::VoucherUsed);
                }
                if at >= voucher.expires_at {
                    return Err(LedgerError::VoucherExpired);
                }
                if amount > voucher.amount_max {
                    return Err(LedgerError::VoucherAmountExceeded { allowed: voucher.amount_max, requested: amount });
                }
                let available = holdings.spendable(at);
                if amount > available {
                    return Err(LedgerError::InsufficientBalance { available, requested: amount });
                }
                let spent = holdings.spend_plan(amount, at);
                Ok(vec![WalletEvent::TokensRedeemed {
                    redemption_id,
                    venue_id,
                    voucher_id: voucher.voucher_id,
                    amount,
                    spent,
                    redeemed_at: at,
                }])
            }
            WalletCommand::SweepExpired { at } => {
                let lots = holdings.expired_unswept(at);
                if lots.is_empty() {
                    return Ok(vec![]);
                }
                let amount = lots.iter().map(|spend| spend.amount).sum();
                Ok(vec![WalletEvent::TokensExpired { lots, amount, swept_at: at }])
            }
        }
    }

    pub fn apply_event(&mut self, event: WalletEvent) {
        self.version += 1;
        self.holdings.apply(&event);
        match event {
            WalletEvent::ActionCertified { action_id, category, occurred_at, tokens, .. } => {
                let month = self.months.credit(&category, occurred_at, tokens);
                self.actions.insert(action_id, ActionEntry { tokens, month });
            }
            WalletEvent::CertificationRevoked { action_id, returned, gold_taken_back, reason, revoked_at, .. } => {
                let sequence = self.version;
                let action = *self.actions.get(&action_id).expect("a revocation names a certified action");
                let revocation = Revocation { reason, returned, gold_taken_back, revoked_at, sequence };
                self.revocations.insert(action_id, revocation);
                self.months.debit(action.month, action.tokens);
            }
            WalletEvent::TokensRedeemed { voucher_id, .. } => {
                self.used_vouchers.insert(voucher_id);
            }
            WalletEvent::CitizenRegistered { .. }
            | WalletEvent::InterestsChanged { .. }
            | WalletEvent::GoldSpent { .. }
            | WalletEvent::TokensExpired { .. } => {}
        }
    }
}

crate::macros::aggregate!(Wallet, WalletCommand, WalletEvent);

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + day * 86_400, 0).expect("a time")
    }

    fn certified(lot_id: LotId, tokens: u64, expires_on: i64) -> WalletEvent {
        WalletEvent::ActionCertified {
            action_id: ActionId::from_uuid(uuid::Uuid::new_v4()),
            association_id: PartnerId::from_uuid(uuid::Uuid::new_v4()),
            category: CategoryId::parse("solidarite").expect("a category"),
            quantity: 1,
            occurred_at: at(0),
            tokens: Tokens::new(tokens),
            lot: Some(NewLot { lot_id, issued_at: at(0), expires_at: at(expires_on) }),
            gold: false,
            certified_at: at(0),
        }
    }

    /// The kept next expiry against a scan of the lots, after each event.
    fn apply(holdings: &mut Holdings, event: WalletEvent) -> Option<DateTime<Utc>> {
        holdings.apply(&event);
        assert_eq!(holdings.next_expiry, holdings.find_next_expiry());
        holdings.next_expiry
    }

    fn registered() -> WalletEvent {
        WalletEvent::CitizenRegistered {
            demographics: Demographics::default(),
            interests: vec![],
            registered_at: at(0),
        }
    }

    fn credit_for(action_id: ActionId, tokens: u64) -> WalletCommand {
        WalletCommand::CreditAction(Credit {
            action_id,
            association_id: PartnerId::from_uuid(uuid::Uuid::new_v4()),
            category: CategoryId::parse("solidarite").expect("a category"),
            quantity: 1,
            occurred_at: at(1),
            tokens: Tokens::new(tokens),
            lot: Some(NewLot { lot_id: LotId::from_uuid(uuid::Uuid::new_v4()), issued_at: at(1), expires_at: at(9) }),
            gold: false,
            at: at(1),
        })
    }

    #[test]
    fn an_action_is_credited_once_and_counted_in_its_month() {
        let mut wallet = Wallet::default();
        wallet.apply_event(registered());
        let action_id = ActionId::from_uuid(uuid::Uuid::new_v4());
        let category = CategoryId::parse("solidarite").expect("a category");
        let before = wallet.crediting(action_id, &category, at(1));
        assert_eq!(
            before,
            Crediting { registered: true, holds_action: false, earned_in_month: Tokens::ZERO, held: Tokens::ZERO }
        );
        for event in wallet.decide(credit_for(action_id, 7)).expect("credited") {
            wallet.apply_event(event);
        }
        let after = wallet.crediting(action_id, &category, at(1));
        assert_eq!(
            after,
            Crediting { registered: true, holds_action: true, earned_in_month: Tokens::new(7), held: Tokens::new(7) }
        );
        assert_eq!(
            wallet.decide(credit_for(action_id, 7)),
            Err(LedgerError::IdConflict { what: format!("action_id {action_id}") })
        );
        // Another month of the same category starts at zero.
        assert_eq!(wallet.earned_in_month(&category, at(40)), Tokens::ZERO);
    }

    fn credited_with_gold(wallet: &mut Wallet, tokens: u64) -> ActionId {
        let action_id = ActionId::from_uuid(uuid::Uuid::new_v4());
        let WalletCommand::CreditAction(credit) = credit_for(action_id, tokens) else { unreachable!() };
        let lot = (tokens > 0).then_some(credit.lot.clone()).flatten();
        let command = WalletCommand::CreditAction(Credit { gold: true, lot, ..credit });
        for event in wallet.decide(command).expect("credited") {
            wallet.apply_event(event);
        }
        action_id
    }

    fn revoke(wallet: &mut Wallet, action_id: ActionId, gold: bool) -> bool {
        let association_id = PartnerId::from_uuid(uuid::Uuid::new_v4());
        let command = WalletCommand::Revoke { action_id, association_id, gold, reason: "erreur".to_owned(), at: at(2) };
        let events = wallet.decide(command).expect("revoked");
        let [WalletEvent::CertificationRevoked { gold_taken_back, .. }] = events.as_slice() else {
            panic!("one revocation event, not {events:?}")
        };
        let taken_back = *gold_taken_back;
        for event in events {
            wallet.apply_event(event);
        }
        taken_back
    }

    #[test]
    fn revoking_an_action_takes_back_its_unspent_gold_token() {
        let mut wallet = Wallet::default();
        wallet.apply_event(registered());
        let action_id = credited_with_gold(&mut wallet, 5);
        assert_eq!(wallet.holdings().gold(), 1);
        assert!(revoke(&mut wallet, action_id, true));
        assert_eq!((wallet.holdings().gold(), wallet.holdings().gold_issued()), (0, 1));
        assert!(wallet.revocation(action_id).is_some_and(|revocation| revocation.gold_taken_back));
    }

    #[test]
    fn revoking_an_action_whose_gold_was_spent_in_a_draw_leaves_the_tickets() {
        let mut wallet = Wallet::default();
        wallet.apply_event(registered());
        let action_id = credited_with_gold(&mut wallet, 5);
        let spend =
            WalletCommand::SpendGold { draw_id: DrawId::from_uuid(uuid::Uuid::new_v4()), tickets: 1, at: at(1) };
        for event in wallet.decide(spend).expect("entered") {
            wallet.apply_event(event);
        }
        assert!(!revoke(&mut wallet, action_id, true), "no gold left to take back");
        assert_eq!(wallet.holdings().gold(), 0);
    }

    #[test]
    fn revoking_an_action_without_gold_takes_no_gold_back() {
        let mut wallet = Wallet::default();
        wallet.apply_event(registered());
        let golden = credited_with_gold(&mut wallet, 5);
        let plain = ActionId::from_uuid(uuid::Uuid::new_v4());
        for event in wallet.decide(credit_for(plain, 3)).expect("credited") {
            wallet.apply_event(event);
        }
        assert!(!revoke(&mut wallet, plain, false));
        assert_eq!(wallet.holdings().gold(), 1, "the other action's gold token stays");
        assert!(revoke(&mut wallet, golden, true));
    }

    #[test]
    fn a_version_1_revocation_took_no_gold_back() {
        let stored = serde_json::json!({"CertificationRevoked": {
            "action_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "association_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3302",
            "lot_id": null, "returned": 0, "reason": "erreur", "revoked_at": "2026-05-28T20:26:40Z"
        }});
        let event: WalletEvent =
            crate::codec::decode("CertificationRevoked", "1", crate::codec::Payload::Value(&stored)).expect("upcast");
        assert!(matches!(event, WalletEvent::CertificationRevoked { gold_taken_back: false, .. }));
        assert_eq!(crate::codec::encode(&event).expect("encodes").event_version, "2");
    }

    #[test]
    fn an_unregistered_wallet_is_not_credited() {
        let wallet = Wallet::default();
        let action_id = ActionId::from_uuid(uuid::Uuid::new_v4());
        assert_eq!(wallet.decide(credit_for(action_id, 3)), Err(LedgerError::NotRegistered));
    }

    #[test]
    fn the_next_expiry_follows_lots_as_they_come_empty_and_are_swept() {
        let (first, second, third) = (
            LotId::from_uuid(uuid::Uuid::new_v4()),
            LotId::from_uuid(uuid::Uuid::new_v4()),
            LotId::from_uuid(uuid::Uuid::new_v4()),
        );
        let mut holdings = Holdings::default();
        assert_eq!(apply(&mut holdings, certified(second, 10, 20)), Some(at(20)));
        // An earlier lot brings it forward; a later one, or an empty one, does not.
        assert_eq!(apply(&mut holdings, certified(first, 5, 10)), Some(at(10)));
        assert_eq!(apply(&mut holdings, certified(third, 7, 30)), Some(at(10)));
        assert_eq!(apply(&mut holdings, certified(LotId::from_uuid(uuid::Uuid::new_v4()), 0, 1)), Some(at(10)));
        let redeem = |spent: Vec<LotSpend>| WalletEvent::TokensRedeemed {
            redemption_id: RedemptionId::from_uuid(uuid::Uuid::new_v4()),
            venue_id: PartnerId::from_uuid(uuid::Uuid::new_v4()),
            voucher_id: VoucherId::from_uuid(uuid::Uuid::new_v4()),
            amount: spent.iter().map(|spend| spend.amount).sum(),
            spent,
            redeemed_at: at(2),
        };
        // Part of the first lot: it still comes first; all of it: the second comes next.
        assert_eq!(
            apply(&mut holdings, redeem(vec![LotSpend { lot_id: first, amount: Tokens::new(2) }])),
            Some(at(10))
        );
        assert_eq!(
            apply(&mut holdings, redeem(vec![LotSpend { lot_id: first, amount: Tokens::new(3) }])),
            Some(at(20))
        );
        // A revocation that empties the second lot.
        let revoke = WalletEvent::CertificationRevoked {
            action_id: ActionId::from_uuid(uuid::Uuid::new_v4()),
            association_id: PartnerId::from_uuid(uuid::Uuid::new_v4()),
            lot_id: Some(second),
            returned: Tokens::new(10),
            gold_taken_back: false,
            reason: "erreur".to_owned(),
            revoked_at: at(3),
        };
        assert_eq!(apply(&mut holdings, revoke), Some(at(30)));
        // The sweep writes the last lot off.
        let sweep = WalletEvent::TokensExpired {
            lots: vec![LotSpend { lot_id: third, amount: Tokens::new(7) }],
            amount: Tokens::new(7),
            swept_at: at(31),
        };
        assert_eq!(apply(&mut holdings, sweep), None);
    }
}
