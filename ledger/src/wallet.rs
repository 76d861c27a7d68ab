//! The `Wallet` aggregate: a citizen's lots of tokens, each with its own expiry, the registry of
//! their certified actions (deduplicated by action id, counted against monthly caps), the
//! vouchers already used, and the redemptions and expiries that emptied lots.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

use crate::amount::Tokens;
use crate::error::LedgerError;
use crate::ids::{ActionId, CategoryId, DrawId, LotId, PartnerId, RedemptionId, VoucherId, action_fingerprint};

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
    pub revoked_at: DateTime<Utc>,
    pub sequence: usize,
}

/// What the wallet keeps of a certified action (its id is the key of [`Wallet::action`]): what a
/// revocation takes out of the monthly caps. One per certification for as long as the wallet is
/// cached, so nothing else is kept: the action's lot is found by its action id, the association
/// that may revoke it is proven by that association's own record (`operations::revoke`), and the
/// rest is in the log (decision 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionEntry {
    /// The tokens it earned, counted in its month.
    pub tokens: Tokens,
    /// Its month, an index into the wallet's monthly totals.
    month: u32,
}

/// What a wallet keeps of the history it forgot ([`Wallet::forget_history`]): its first `through`
/// events built that history (all of them durable when it was forgotten); its lots held `held`
/// tokens, unswept; and `fingerprints` holds a 32-bit fingerprint of each of its actions, sorted,
/// so that a new action id is known to be new without the actions themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Forgotten {
    through: usize,
    held: Tokens,
    fingerprints: Box<[u32]>,
}

impl Forgotten {
    /// Whether the forgotten actions may include `action_id` (rarely a false alarm: one chance
    /// in 2^32 per forgotten action).
    fn may_hold(&self, action_id: ActionId) -> bool {
        self.fingerprints.binary_search(&action_fingerprint(action_id)).is_ok()
    }
}

/// The sorted fingerprints of `actions`' ids and of those in `earlier` (already sorted): the new
/// ones sorted, then merged in one pass (a wallet forgets its history again after every few
/// certifications, and keeps hundreds of fingerprints after a few years).
fn fingerprints_of<'a>(earlier: &[u32], actions: impl Iterator<Item = &'a ActionId>) -> Box<[u32]> {
    let mut new: Vec<u32> = actions.copied().map(action_fingerprint).collect();
    new.sort_unstable();
    let mut merged = Vec::with_capacity(earlier.len() + new.len());
    let (mut old, mut new) = (earlier.iter().copied().peekable(), new.into_iter().peekable());
    while let (Some(&left), Some(&right)) = (old.peek(), new.peek()) {
        merged.push(if left <= right { old.next() } else { new.next() }.expect("peeked"));
    }
    merged.extend(old.chain(new));
    merged.into_boxed_slice()
}

/// Tokens earned in one category and calendar month (see [`month_key`]), revoked actions excluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct MonthTotal {
    key: String,
    earned: Tokens,
}

/// A voucher whose territory signature was checked at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedVoucher {
    pub voucher_id: VoucherId,
    pub amount_max: Tokens,
    pub expires_at: DateTime<Utc>,
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
    /// [`Holdings::next_expiry`], kept up to date by [`Holdings::apply`]: the read models ask for
    /// it at every wallet event, and finding it among a year of lots cost a few % of a replay.
    next_expiry: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Wallet {
    /// Its lots, but for those [`Wallet::forget_history`] forgot (see `forgotten`).
    holdings: Holdings,
    /// Set while the history built by the wallet's first events is forgotten (the engine's cache
    /// forgets the history of wallets that do not spend, to save memory): their lots, their
    /// actions' entries and the vouchers they used. Only decisions that read none of it are
    /// taken until [`Wallet::restore_history`] takes it back from the log. Never serialised: a
    /// wallet is only ever cached, and a copy handed out has its whole history (see the engine).
    #[serde(skip)]
    forgotten: Option<Forgotten>,
    /// The wallet's actions, but for those it forgot (see `forgotten`).
    actions: HashMap<ActionId, ActionEntry>,
    /// The revoked actions (rare), by action id.
    revocations: HashMap<ActionId, Revocation>,
    /// Tokens earned per category and calendar month of `occurred_at`, in the order the months
    /// first appeared: what the monthly caps are checked against. A wallet has a few of them.
    months: Vec<MonthTotal>,
    /// The vouchers it spent, but for those it forgot (see `forgotten`).
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
    CreditAction {
        action_id: ActionId,
        association_id: PartnerId,
        category: CategoryId,
        quantity: u64,
        occurred_at: DateTime<Utc>,
        tokens: Tokens,
        lot: Option<NewLot>,
        gold: bool,
        at: DateTime<Utc>,
    },
    Revoke {
        action_id: ActionId,
        association_id: PartnerId,
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
        #[serde(default)]
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
        #[serde(default)]
        gold: bool,
        certified_at: DateTime<Utc>,
    },
    /// Gold ledger entry: the citizen's gold tokens → tickets in a draw.
    GoldSpent {
        draw_id: DrawId,
        tickets: u64,
        spent_at: DateTime<Utc>,
    },
    /// Ledger entry: wallet → the association's envelope (the lot's unspent tokens).
    CertificationRevoked {
        action_id: ActionId,
        association_id: PartnerId,
        lot_id: Option<LotId>,
        returned: Tokens,
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

crate::macros::domain_event!(WalletEvent {
    CitizenRegistered,
    InterestsChanged,
    ActionCertified,
    GoldSpent,
    CertificationRevoked,
    TokensRedeemed,
    TokensExpired
});

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

    /// Gold tokens held: issued by certifications, not yet spent as draw tickets.
    pub fn gold(&self) -> u64 {
        self.gold_issued - self.gold_spent
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
            WalletEvent::CertificationRevoked { lot_id, returned, .. } => {
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

impl WalletCommand {
    /// Whether deciding it reads the wallet's history: lots, actions or used vouchers (so that
    /// all of it must be in memory). A certification reads only whether its action is new.
    fn reads_history(&self) -> bool {
        match self {
            WalletCommand::Revoke { .. } | WalletCommand::Redeem { .. } | WalletCommand::SweepExpired { .. } => true,
            WalletCommand::Register { .. }
            | WalletCommand::SetInterests { .. }
            | WalletCommand::CreditAction { .. }
            | WalletCommand::SpendGold { .. } => false,
        }
    }
}

impl WalletEvent {
    /// Whether applying it changes the history already there: a lot already open, an action
    /// already credited, the used vouchers (opening a lot, crediting an action do not count).
    fn touches_history(&self) -> bool {
        match self {
            WalletEvent::CertificationRevoked { .. }
            | WalletEvent::TokensRedeemed { .. }
            | WalletEvent::TokensExpired { .. } => true,
            WalletEvent::CitizenRegistered { .. }
            | WalletEvent::InterestsChanged { .. }
            | WalletEvent::ActionCertified { .. }
            | WalletEvent::GoldSpent { .. } => false,
        }
    }
}

impl Wallet {
    /// What the citizen holds: lots, gold, registration and interests. While the wallet's history
    /// is forgotten ([`Wallet::forgotten_through`]), the lots are only those opened since.
    pub fn holdings(&self) -> &Holdings {
        &self.holdings
    }

    /// Every token in the wallet's unswept lots, forgotten ones included.
    fn held(&self) -> Tokens {
        self.forgotten
            .as_ref()
            .map_or(Tokens::ZERO, |forgotten| forgotten.held)
            .checked_add(self.holdings.held())
            .expect("the held tokens were checked against overflow when their lots were opened")
    }

    /// If the wallet forgot its history ([`Wallet::forget_history`]): how many of its first
    /// events built it, the events [`Wallet::restore_history`] needs.
    pub fn forgotten_through(&self) -> Option<usize> {
        self.forgotten.as_ref().map(|forgotten| forgotten.through)
    }

    /// Forgets the wallet's history, to save memory: its lots, its actions (but for a fingerprint
    /// of each id) and its used vouchers; returns whether there was any to forget. The caller
    /// guarantees that every event the wallet applied is durable in the log: the history is read
    /// back from there ([`Wallet::restore_history`]) before a decision that reads it (a
    /// revocation, a redemption, a sweep, and a certification whose action id matches a
    /// fingerprint, which are refused with [`LedgerError::HistoryNeeded`] until then).
    /// Registrations, interests, gold and other certifications need none of it.
    pub fn forget_history(&mut self) -> bool {
        if self.holdings.lots.is_empty() && self.actions.is_empty() && self.used_vouchers.is_empty() {
            return false;
        }
        let earlier = self.forgotten.as_ref().map_or(&[][..], |forgotten| &forgotten.fingerprints[..]);
        self.forgotten = Some(Forgotten {
            through: self.version,
            held: self.held(),
            fingerprints: fingerprints_of(earlier, self.actions.keys()),
        });
        self.holdings.lots = Vec::new();
        self.holdings.next_expiry = None;
        self.actions = HashMap::new();
        self.used_vouchers = BTreeSet::new();
        true
    }

    /// Takes the forgotten history back from `earlier`, the wallet's first events in order (at
    /// least the [`Wallet::forgotten_through`] first; later ones are ignored). Changes nothing,
    /// and says why, if they are not those events (a gap, or another history than the one
    /// forgotten: other tokens held, other actions).
    pub fn restore_history(&mut self, earlier: impl IntoIterator<Item = (usize, WalletEvent)>) -> Result<(), String> {
        let Some(forgotten) = &self.forgotten else {
            return Ok(());
        };
        let mut restored = Wallet::default();
        for (sequence, event) in earlier.into_iter().take_while(|(sequence, _)| *sequence <= forgotten.through) {
            if sequence != restored.version + 1 {
                return Err(format!("expected event {} of the wallet, found {sequence}", restored.version + 1));
            }
            restored.apply_event(event);
        }
        if restored.version != forgotten.through {
            return Err(format!(
                "the wallet's history was built by {} events, the log holds {}",
                forgotten.through, restored.version
            ));
        }
        if restored.held() != forgotten.held {
            return Err(format!(
                "the lots read back hold {} tokens, those forgotten held {}",
                restored.held().value(),
                forgotten.held.value()
            ));
        }
        if fingerprints_of(&[], restored.actions.keys()) != forgotten.fingerprints {
            return Err(format!(
                "the log holds {} actions, other than the {} forgotten",
                restored.actions.len(),
                forgotten.fingerprints.len()
            ));
        }
        // What was applied since is the newer part of each: lots opened and actions credited
        // (never one of the forgotten ids), and no voucher (a redemption reads the history).
        restored.holdings.lots.append(&mut self.holdings.lots);
        self.holdings.lots = restored.holdings.lots;
        self.holdings.next_expiry = self.holdings.find_next_expiry();
        let credited = self.actions.len() + restored.actions.len();
        self.actions.extend(restored.actions);
        assert_eq!(self.actions.len(), credited, "an action credited since it was forgotten is new");
        assert!(self.used_vouchers.is_empty(), "no voucher is spent while the history is forgotten");
        self.used_vouchers = restored.used_vouchers;
        self.forgotten = None;
        Ok(())
    }

    pub fn version(&self) -> usize {
        self.version
    }

    /// The action, if this wallet was credited for it (revoked or not); refused with
    /// [`LedgerError::HistoryNeeded`] while the wallet's history, which may hold it, is forgotten.
    pub fn action(&self, action_id: ActionId) -> Result<Option<ActionEntry>, LedgerError> {
        if let Some(entry) = self.actions.get(&action_id) {
            return Ok(Some(*entry));
        }
        if self.forgotten.as_ref().is_some_and(|forgotten| forgotten.may_hold(action_id)) {
            return Err(LedgerError::HistoryNeeded);
        }
        Ok(None)
    }

    /// The action's revocation, if it was revoked.
    pub fn revocation(&self, action_id: ActionId) -> Option<&Revocation> {
        self.revocations.get(&action_id)
    }

    /// Whether the action counts in its monthly cap: credited here and not revoked. For a wallet
    /// with its whole history (one rebuilt from the log).
    pub fn counts_in_cap(&self, action_id: ActionId) -> bool {
        assert!(self.forgotten.is_none(), "a wallet's whole history is needed to say what counts in its caps");
        self.actions.contains_key(&action_id) && !self.revocations.contains_key(&action_id)
    }

    /// Tokens already earned this month in the category, revoked actions excluded.
    pub fn earned_in_month(&self, category: &CategoryId, occurred_at: DateTime<Utc>) -> Tokens {
        self.month_position(&month_key(category, occurred_at)).map_or(Tokens::ZERO, |index| self.months[index].earned)
    }

    fn month_position(&self, key: &str) -> Option<usize> {
        self.months.iter().position(|month| month.key == key)
    }

    /// The index of the month's total, added if it is new.
    fn month_index(&mut self, key: String) -> u32 {
        let index = match self.month_position(&key) {
            Some(index) => index,
            None => {
                self.months.push(MonthTotal { key, earned: Tokens::ZERO });
                self.months.len() - 1
            }
        };
        u32::try_from(index).expect("fewer than 2^32 months in a wallet")
    }

    pub fn decide(&self, command: WalletCommand) -> Result<Vec<WalletEvent>, LedgerError> {
        let holdings = &self.holdings;
        if self.forgotten.is_some() && command.reads_history() {
            return Err(LedgerError::HistoryNeeded);
        }
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
            WalletCommand::CreditAction {
                action_id,
                association_id,
                category,
                quantity,
                occurred_at,
                tokens,
                lot,
                gold,
                at,
            } => {
                if !holdings.is_registered() {
                    return Err(LedgerError::NotRegistered);
                }
                if self.action(action_id)?.is_some() {
                    return Err(LedgerError::IdConflict { what: format!("action_id {action_id}") });
                }
                assert_eq!(lot.is_some(), !tokens.is_zero(), "a lot is opened exactly when tokens are earned");
                self.held().checked_add(tokens).ok_or(LedgerError::Overflow)?;
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
            WalletCommand::Revoke { action_id, association_id, reason, at } => {
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
                Ok(vec![WalletEvent::CertificationRevoked {
                    action_id,
                    association_id,
                    lot_id: lot.map(|lot| lot.lot_id),
                    returned,
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
        assert!(
            self.forgotten.is_none() || !event.touches_history(),
            "an event that changes the history applies to the whole history"
        );
        self.version += 1;
        self.holdings.apply(&event);
        match event {
            WalletEvent::ActionCertified { action_id, category, occurred_at, tokens, .. } => {
                let month = self.month_index(month_key(&category, occurred_at));
                self.months[month as usize].earned.add_assign_checked(tokens);
                self.actions.insert(action_id, ActionEntry { tokens, month });
            }
            WalletEvent::CertificationRevoked { action_id, returned, reason, revoked_at, .. } => {
                let sequence = self.version;
                let action = *self.actions.get(&action_id).expect("a revocation names a certified action");
                self.revocations.insert(action_id, Revocation { reason, returned, revoked_at, sequence });
                self.months[action.month as usize].earned.sub_assign_checked(action.tokens);
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

impl crate::Footprint for Holdings {
    fn footprint(&self) -> usize {
        use crate::footprint::{text, vec};
        std::mem::size_of::<Self>()
            + vec::<Lot>(self.lots.capacity())
            + vec::<CategoryId>(self.interests.capacity())
            + self.interests.iter().map(|interest| text(interest.as_str().len())).sum::<usize>()
            + text(self.demographics.neighbourhood.as_ref().map_or(0, String::len))
    }
}

impl crate::Footprint for Wallet {
    /// Leaves out revocation reasons (few): no walk over the actions.
    fn footprint(&self) -> usize {
        use crate::footprint::{btree, hash_map, text, vec};
        std::mem::size_of::<Self>() - std::mem::size_of::<Holdings>()
            + self.holdings.footprint()
            + hash_map::<ActionId, ActionEntry>(self.actions.capacity())
            + hash_map::<ActionId, Revocation>(self.revocations.capacity())
            + vec::<MonthTotal>(self.months.capacity())
            + self.months.iter().map(|month| text(month.key.len())).sum::<usize>()
            + btree::<VoucherId, ()>(self.used_vouchers.len())
            + self.forgotten.as_ref().map_or(0, |forgotten| vec::<u32>(forgotten.fingerprints.len()))
    }
}

crate::macros::aggregate!(Wallet, "wallet", WalletCommand, WalletEvent);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Footprint as _;

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

    fn redeem_command(amount: u64) -> WalletCommand {
        WalletCommand::Redeem {
            redemption_id: RedemptionId::from_uuid(uuid::Uuid::new_v4()),
            venue_id: PartnerId::from_uuid(uuid::Uuid::new_v4()),
            voucher: VerifiedVoucher {
                voucher_id: VoucherId::from_uuid(uuid::Uuid::new_v4()),
                amount_max: Tokens::new(amount),
                expires_at: at(5),
            },
            amount: Tokens::new(amount),
            at: at(2),
        }
    }

    fn credit_command(tokens: u64) -> WalletCommand {
        credit_command_for(ActionId::from_uuid(uuid::Uuid::new_v4()), tokens)
    }

    fn credit_command_for(action_id: ActionId, tokens: u64) -> WalletCommand {
        WalletCommand::CreditAction {
            action_id,
            association_id: PartnerId::from_uuid(uuid::Uuid::new_v4()),
            category: CategoryId::parse("solidarite").expect("a category"),
            quantity: 1,
            occurred_at: at(1),
            tokens: Tokens::new(tokens),
            lot: Some(NewLot { lot_id: LotId::from_uuid(uuid::Uuid::new_v4()), issued_at: at(1), expires_at: at(9) }),
            gold: false,
            at: at(1),
        }
    }

    fn action_of(event: &WalletEvent) -> ActionId {
        match event {
            WalletEvent::ActionCertified { action_id, .. } => *action_id,
            other => panic!("not a certification: {other:?}"),
        }
    }

    /// Decides and applies, as the engine does.
    fn run(wallet: &mut Wallet, command: WalletCommand) -> Vec<WalletEvent> {
        let events = wallet.decide(command).expect("decided");
        events.iter().cloned().for_each(|event| wallet.apply_event(event));
        events
    }

    /// The events of `log` numbered from 1, as the engine reads them back.
    fn numbered(log: &[WalletEvent]) -> impl Iterator<Item = (usize, WalletEvent)> + '_ {
        log.iter().cloned().enumerate().map(|(index, event)| (index + 1, event))
    }

    #[test]
    fn a_wallet_that_forgot_its_history_certifies_and_reads_it_back_before_spending() {
        let mut log = vec![registered(), certified(LotId::from_uuid(uuid::Uuid::new_v4()), 10, 20)];
        log.push(certified(LotId::from_uuid(uuid::Uuid::new_v4()), 5, 8));
        let mut wallet = Wallet::default();
        log.iter().cloned().for_each(|event| wallet.apply_event(event));
        let spent = redeem_command(2);
        log.extend(run(&mut wallet, spent.clone()));
        let mut never_forgot = wallet.clone();
        let first_action = action_of(&log[1]);

        assert!(wallet.forget_history());
        assert_eq!(wallet.forgotten_through(), Some(4));
        assert!(wallet.holdings().lots().is_empty());
        assert!(wallet.footprint() < never_forgot.footprint());
        assert!(!wallet.forget_history(), "nothing more to forget");
        // Decisions that read the history are refused; a new action is credited, and kept.
        assert_eq!(wallet.decide(redeem_command(3)), Err(LedgerError::HistoryNeeded));
        assert_eq!(wallet.decide(WalletCommand::SweepExpired { at: at(30) }), Err(LedgerError::HistoryNeeded));
        let revoke = WalletCommand::Revoke {
            action_id: first_action,
            association_id: PartnerId::from_uuid(uuid::Uuid::new_v4()),
            reason: "erreur".to_owned(),
            at: at(2),
        };
        assert_eq!(wallet.decide(revoke.clone()), Err(LedgerError::HistoryNeeded));
        assert_eq!(wallet.action(first_action), Err(LedgerError::HistoryNeeded), "a forgotten action may be there");
        assert_eq!(wallet.decide(credit_command_for(first_action, 1)), Err(LedgerError::HistoryNeeded));
        let credited = run(&mut wallet, credit_command(7));
        credited.iter().cloned().for_each(|event| never_forgot.apply_event(event));
        assert_eq!(wallet.action(action_of(&credited[0])), never_forgot.action(action_of(&credited[0])));
        log.extend(credited);
        assert_eq!(wallet.holdings().lots().len(), 1);

        // The events read back from the log: the first four (later ones are ignored).
        wallet.restore_history(numbered(&log)).expect("restored");
        assert_eq!(wallet, never_forgot, "the same wallet as one that never forgot");
        assert_eq!(wallet.holdings().next_expiry(), Some(at(8)));
        assert_eq!(wallet.decide(spent), Err(LedgerError::VoucherUsed), "the used vouchers are back");
        assert_eq!(
            wallet.decide(credit_command_for(first_action, 1)),
            never_forgot.decide(credit_command_for(first_action, 1))
        );
        // The earliest expiry is spent first, as if nothing had been forgotten.
        let redeem = redeem_command(12);
        assert_eq!(run(&mut wallet, redeem.clone()), run(&mut never_forgot, redeem));
        assert_eq!(run(&mut wallet, revoke.clone()), run(&mut never_forgot, revoke));
        assert_eq!(wallet, never_forgot);
    }

    #[test]
    fn fingerprints_are_merged_in_order() {
        let ids: Vec<ActionId> = (0..300).map(|_| ActionId::from_uuid(uuid::Uuid::new_v4())).collect();
        let mut all: Vec<u32> = ids.iter().copied().map(action_fingerprint).collect();
        all.sort_unstable();
        for split in [0, 1, 150, 299, 300] {
            let earlier = fingerprints_of(&[], ids[..split].iter());
            assert!(earlier.windows(2).all(|pair| pair[0] <= pair[1]));
            assert_eq!(fingerprints_of(&earlier, ids[split..].iter()).to_vec(), all, "split at {split}");
        }
    }

    #[test]
    fn a_history_forgotten_twice_comes_back_whole() {
        let mut log = vec![registered(), certified(LotId::from_uuid(uuid::Uuid::new_v4()), 10, 20)];
        let mut wallet = Wallet::default();
        log.iter().cloned().for_each(|event| wallet.apply_event(event));
        let mut never_forgot = wallet.clone();
        assert!(wallet.forget_history());
        for tokens in [3, 4] {
            let credited = run(&mut wallet, credit_command(tokens));
            credited.iter().cloned().for_each(|event| never_forgot.apply_event(event));
            log.extend(credited);
        }
        assert!(wallet.forget_history());
        assert_eq!(wallet.forgotten_through(), Some(4));
        for (index, event) in log.iter().enumerate().skip(1) {
            assert_eq!(wallet.action(action_of(event)), Err(LedgerError::HistoryNeeded), "action {index}");
        }
        wallet.restore_history(numbered(&log)).expect("restored");
        assert_eq!(wallet, never_forgot);
        assert_eq!(wallet.holdings().held(), Tokens::new(17));
    }

    #[test]
    fn a_new_action_whose_fingerprint_matches_a_forgotten_one_is_credited_once_the_history_is_back() {
        let log = [registered(), certified(LotId::from_uuid(uuid::Uuid::new_v4()), 10, 20)];
        let mut wallet = Wallet::default();
        log.iter().cloned().for_each(|event| wallet.apply_event(event));
        // Another id whose four words fold to the same fingerprint.
        let mut bytes = *action_of(&log[1]).as_uuid().as_bytes();
        for index in [0, 4] {
            bytes[index] ^= 0x5a;
        }
        let twin = ActionId::from_uuid(uuid::Uuid::from_bytes(bytes));
        assert_ne!(twin, action_of(&log[1]));
        assert_eq!(action_fingerprint(twin), action_fingerprint(action_of(&log[1])));
        assert!(wallet.forget_history());
        assert_eq!(wallet.decide(credit_command_for(twin, 2)), Err(LedgerError::HistoryNeeded), "a false alarm");
        wallet.restore_history(numbered(&log)).expect("restored");
        assert_eq!(wallet.action(twin), Ok(None));
        assert_eq!(run(&mut wallet, credit_command_for(twin, 2)).len(), 1);
    }

    #[test]
    fn a_history_read_back_from_other_events_is_refused_and_changes_nothing() {
        let log = [registered(), certified(LotId::from_uuid(uuid::Uuid::new_v4()), 10, 20)];
        let mut wallet = Wallet::default();
        log.iter().cloned().for_each(|event| wallet.apply_event(event));
        assert!(wallet.forget_history());
        let forgot = wallet.clone();
        // Too few events, a gap, other lots than those forgotten, other actions.
        assert!(wallet.restore_history([(1, registered())]).is_err());
        assert!(wallet.restore_history([(1, log[0].clone()), (3, log[1].clone())]).is_err());
        let other = certified(LotId::from_uuid(uuid::Uuid::new_v4()), 11, 20);
        let error = wallet.restore_history([(1, registered()), (2, other)]).expect_err("refused");
        assert!(error.contains("11") && error.contains("10"), "{error}");
        let same_tokens = certified(LotId::from_uuid(uuid::Uuid::new_v4()), 10, 20);
        let error = wallet.restore_history([(1, registered()), (2, same_tokens)]).expect_err("refused");
        assert!(error.contains("actions"), "{error}");
        assert_eq!(wallet, forgot, "nothing changed");
        wallet.restore_history(numbered(&log)).expect("the right events");
        assert_eq!(wallet.forgotten_through(), None);
        assert_eq!(wallet.holdings().held(), Tokens::new(10));
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
