//! The states the cache keeps of partners and wallets: the plain ledger aggregates, plus what
//! the engine needs to keep them small.
//!
//! - A partner is kept whole, beside an index of where each of its certifications is in its
//!   stream ([`CertificationIndex`], decisions 15 and 17): every certification needs to know
//!   whether its action id is taken, and an association records hundreds of thousands.
//! - A wallet is kept whole while it spends, and as a [`WalletSummary`] once it has not needed
//!   its history for a while (decision 16): a certification reads only what the summary keeps.
//!   Any other decision first reads the whole wallet back from the log.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ygor_ledger::partner::{PartnerEvent, RecordedCertification};
use ygor_ledger::wallet::{Crediting, MonthlyEarnings, WalletEvent};
use ygor_ledger::{ActionId, CategoryId, Partner, Tokens, Wallet};

/// A 32-bit digest of an action id, its four 32-bit words folded together: what the cache keeps
/// of each action to know that a new action is new. Action ids are chosen by the associations,
/// as UUIDs whose version 4 bits are random; one that chose colliding ids would only make its own
/// certifications read more back from the log.
pub fn action_fingerprint(action_id: ActionId) -> u32 {
    action_id
        .as_uuid()
        .as_bytes()
        .chunks_exact(4)
        .map(|word| u32::from_le_bytes(word.try_into().expect("four bytes")))
        .fold(0, |folded, word| folded ^ word)
}

/// Where an association's certification of an action may be: the sequence of a
/// `CertificationRecorded` event in its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub sequence: usize,
    /// Whether that event is certainly this action's certification; otherwise it may be another
    /// action's, whose id has the same fingerprint, and then this action was not certified.
    pub certain: bool,
}

/// The certifications an association recorded, in little memory: each is found by the
/// fingerprint of its action id, with the sequence of its event as a `u32` (9 bytes a bucket);
/// the few whose fingerprint an earlier one already had are kept by their whole id. A candidate
/// found by its fingerprint is checked against the event read back from the log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CertificationIndex {
    /// By fingerprint, the sequence of the first certification with that fingerprint.
    first: HashMap<u32, u32>,
    /// The certifications whose fingerprint an earlier one had, by action id.
    others: HashMap<ActionId, usize>,
}

impl CertificationIndex {
    /// Where the certification of `action_id` may be; `None` means the association certainly did
    /// not certify it.
    pub fn candidate(&self, action_id: ActionId) -> Option<Candidate> {
        if let Some(sequence) = self.others.get(&action_id) {
            return Some(Candidate { sequence: *sequence, certain: true });
        }
        let sequence = self.first.get(&action_fingerprint(action_id))?;
        Some(Candidate { sequence: *sequence as usize, certain: false })
    }

    /// Files the certification of `action_id`, recorded at `sequence`: under its fingerprint, or
    /// by its whole id if that fingerprint is taken. The same structure on every load of the
    /// same stream.
    pub fn insert(&mut self, action_id: ActionId, sequence: usize) {
        match self.first.entry(action_fingerprint(action_id)) {
            Entry::Vacant(vacant) => {
                vacant.insert(u32::try_from(sequence).expect("fewer than 2^32 events in a partner's stream"));
            }
            Entry::Occupied(_) => {
                self.others.insert(action_id, sequence);
            }
        }
    }

    /// The certification of `action_id` among what was read back at `candidate`, or `None` when
    /// it is another action's (an uncertain candidate whose fingerprint two ids share).
    /// Anything else at that place (another action's at a certain candidate, or no
    /// certification) means the index and the log disagree.
    pub fn resolve(
        candidate: Candidate,
        action_id: ActionId,
        read: Option<RecordedCertification>,
    ) -> Result<Option<RecordedCertification>, StaleCandidate> {
        match read {
            Some(recorded) if recorded.outcome.action_id == action_id => Ok(Some(recorded)),
            Some(_) if !candidate.certain => Ok(None),
            _ => Err(StaleCandidate),
        }
    }

    pub(crate) fn capacities(&self) -> (usize, usize) {
        (self.first.capacity(), self.others.capacity())
    }
}

/// The log holds, where the index placed an action's certification, something else: the partner
/// was loaded again since the index was read (a pipelined transaction failed), or a defect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaleCandidate;

/// The cached state of a partner.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CachedPartner {
    pub partner: Partner,
    pub certifications: CertificationIndex,
}

impl CachedPartner {
    pub fn apply(&mut self, event: PartnerEvent) {
        let certified = match &event {
            PartnerEvent::CertificationRecorded { record, .. } => Some(record.action_id),
            _ => None,
        };
        self.partner.apply_event(event);
        if let Some(action_id) = certified {
            self.certifications.insert(action_id, self.partner.version());
        }
    }
}

/// What the cache keeps of a wallet that has not needed its history for a while: what a
/// certification reads ([`Crediting`]), a fingerprint of each action it was credited for, and the
/// certifications applied since it was summarised (the only events applied to a summary), so that
/// the whole wallet can be rebuilt: its first `through` events from the log (all durable when it
/// was summarised), then those.
#[derive(Debug, Clone, PartialEq)]
pub struct WalletSummary {
    through: usize,
    since: Vec<WalletEvent>,
    version: usize,
    registered: bool,
    earnings: MonthlyEarnings,
    held: Tokens,
    gold: u64,
    /// Sorted.
    fingerprints: Vec<u32>,
}

impl WalletSummary {
    /// The summary of a whole wallet whose events are all durable.
    pub fn of(wallet: &Wallet) -> WalletSummary {
        let mut fingerprints: Vec<u32> = wallet.actions().keys().copied().map(action_fingerprint).collect();
        fingerprints.sort_unstable();
        WalletSummary {
            through: wallet.version(),
            since: Vec::new(),
            version: wallet.version(),
            registered: wallet.holdings().is_registered(),
            earnings: wallet.monthly_earnings().clone(),
            held: wallet.holdings().held(),
            gold: wallet.holdings().gold(),
            fingerprints,
        }
    }

    /// The same summary once the certifications applied since are durable too: the whole wallet
    /// is then rebuilt from the log alone.
    pub fn settle(&mut self) {
        self.through = self.version;
        self.since = Vec::new();
    }

    pub fn version(&self) -> usize {
        self.version
    }

    /// Tokens in the wallet's unswept lots.
    pub fn held(&self) -> Tokens {
        self.held
    }

    /// Gold tokens held.
    pub fn gold(&self) -> u64 {
        self.gold
    }

    /// How many of the wallet's first events the log holds for the whole wallet.
    pub fn through(&self) -> usize {
        self.through
    }

    /// Whether the wallet may hold the action: its fingerprint is one of the wallet's (one chance
    /// in 2^32 per action that it is another's, or the id was reused for this citizen). Only the
    /// whole wallet can tell.
    pub fn may_hold(&self, action_id: ActionId) -> bool {
        self.fingerprints.binary_search(&action_fingerprint(action_id)).is_ok()
    }

    /// What crediting `action_id` reads of the wallet, unless the summary cannot tell whether the
    /// wallet holds the action ([`WalletSummary::may_hold`]): then the whole wallet is needed.
    pub fn crediting(
        &self,
        action_id: ActionId,
        category: &CategoryId,
        occurred_at: DateTime<Utc>,
    ) -> Option<Crediting> {
        if self.may_hold(action_id) {
            return None;
        }
        Some(Crediting {
            registered: self.registered,
            holds_action: false,
            earned_in_month: self.earnings.earned(category, occurred_at),
            held: self.held,
        })
    }

    /// Applies a certification decided on the summary. No other event applies to a summary: any
    /// other decision reads the whole wallet first.
    pub fn apply(&mut self, event: WalletEvent) {
        let WalletEvent::ActionCertified { action_id, category, occurred_at, tokens, gold, .. } = &event else {
            panic!("only a certification is decided on a wallet's summary, not {event:?}");
        };
        self.earnings.credit(category, *occurred_at, *tokens);
        self.held.add_assign_checked(*tokens);
        self.gold += u64::from(*gold);
        let fingerprint = action_fingerprint(*action_id);
        let at = self.fingerprints.partition_point(|known| *known < fingerprint);
        self.fingerprints.insert(at, fingerprint);
        self.version += 1;
        self.since.push(event);
    }

    /// The whole wallet from its first [`WalletSummary::through`] events, read from the log,
    /// followed by the certifications applied since; refused, saying why, if the result is not
    /// the wallet summarised (the log was changed, or a defect).
    pub fn rebuild(&self, earlier: Vec<WalletEvent>) -> Result<Wallet, String> {
        if earlier.len() != self.through {
            return Err(format!(
                "the wallet was summarised after {} events, the log holds {}",
                self.through,
                earlier.len()
            ));
        }
        let mut wallet = Wallet::default();
        for event in earlier.into_iter().chain(self.since.iter().cloned()) {
            wallet.apply_event(event);
        }
        let again = WalletSummary { through: self.through, since: self.since.clone(), ..WalletSummary::of(&wallet) };
        if again != *self {
            return Err(format!(
                "the wallet read back holds {} tokens, {} gold and {} actions at version {}; the summary {}, {}, {} at {}",
                again.held.value(),
                again.gold,
                again.fingerprints.len(),
                again.version,
                self.held.value(),
                self.gold,
                self.fingerprints.len(),
                self.version
            ));
        }
        Ok(wallet)
    }

    pub(crate) fn sizes(&self) -> (usize, usize, (usize, usize)) {
        (self.since.capacity(), self.fingerprints.capacity(), self.earnings.sizes())
    }
}

/// The cached state of a wallet.
#[derive(Debug, Clone, PartialEq)]
pub enum CachedWallet {
    Whole(Wallet),
    Summary(WalletSummary),
}

impl Default for CachedWallet {
    fn default() -> Self {
        CachedWallet::Whole(Wallet::default())
    }
}

impl CachedWallet {
    pub fn version(&self) -> usize {
        match self {
            CachedWallet::Whole(wallet) => wallet.version(),
            CachedWallet::Summary(summary) => summary.version(),
        }
    }

    pub fn apply(&mut self, event: WalletEvent) {
        match self {
            CachedWallet::Whole(wallet) => wallet.apply_event(event),
            CachedWallet::Summary(summary) => summary.apply(event),
        }
    }

    /// Tokens in the wallet's unswept lots.
    pub fn held(&self) -> Tokens {
        match self {
            CachedWallet::Whole(wallet) => wallet.holdings().held(),
            CachedWallet::Summary(summary) => summary.held(),
        }
    }

    /// Gold tokens held.
    pub fn gold(&self) -> u64 {
        match self {
            CachedWallet::Whole(wallet) => wallet.holdings().gold(),
            CachedWallet::Summary(summary) => summary.gold(),
        }
    }

    /// Summarises a whole wallet that holds any history (lots, actions, used vouchers), or
    /// settles a summary; returns whether the state changed. The caller guarantees that every
    /// event applied is durable.
    pub fn summarise(&mut self) -> bool {
        match self {
            CachedWallet::Whole(wallet) => {
                let history = !wallet.holdings().lots().is_empty()
                    || !wallet.actions().is_empty()
                    || !wallet.used_vouchers().is_empty();
                if history {
                    *self = CachedWallet::Summary(WalletSummary::of(wallet));
                }
                history
            }
            CachedWallet::Summary(summary) => {
                let settled = !summary.since.is_empty();
                summary.settle();
                settled
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ygor_ledger::wallet::{Credit, Demographics, NewLot, WalletCommand};
    use ygor_ledger::{LotId, PartnerId};

    use super::*;

    fn at(day: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + day * 86_400, 0).expect("a time")
    }

    fn category() -> CategoryId {
        CategoryId::parse("ecologie").expect("a category")
    }

    fn credit(action_id: ActionId, tokens: u64, gold: bool) -> WalletCommand {
        WalletCommand::CreditAction(Credit {
            action_id,
            association_id: PartnerId::from_uuid(uuid::Uuid::new_v4()),
            category: category(),
            quantity: 1,
            occurred_at: at(1),
            tokens: Tokens::new(tokens),
            lot: Some(NewLot { lot_id: LotId::from_uuid(uuid::Uuid::new_v4()), issued_at: at(1), expires_at: at(90) }),
            gold,
            at: at(1),
        })
    }

    /// A registered wallet credited for three actions, and its events.
    fn wallet() -> (Wallet, Vec<WalletEvent>) {
        let mut wallet = Wallet::default();
        let mut log = Vec::new();
        let register = WalletCommand::Register { demographics: Demographics::default(), interests: vec![], at: at(0) };
        for command in
            [register, credit(new_action(), 10, false), credit(new_action(), 5, true), credit(new_action(), 7, false)]
        {
            for event in wallet.decide(command).expect("decided") {
                log.push(event.clone());
                wallet.apply_event(event);
            }
        }
        (wallet, log)
    }

    fn new_action() -> ActionId {
        ActionId::from_uuid(uuid::Uuid::new_v4())
    }

    /// An action id whose fingerprint is `action_id`'s: the same bits flipped in two of its four
    /// words, which the fold cancels out.
    fn twin(action_id: ActionId) -> ActionId {
        let mut bytes = *action_id.as_uuid().as_bytes();
        bytes[0] ^= 0x5a;
        bytes[4] ^= 0x5a;
        let twin = ActionId::from_uuid(uuid::Uuid::from_bytes(bytes));
        assert_eq!(action_fingerprint(twin), action_fingerprint(action_id));
        twin
    }

    #[test]
    fn a_summary_credits_a_new_action_as_the_whole_wallet_does() {
        let (mut whole, log) = wallet();
        let mut cached = CachedWallet::Whole(whole.clone());
        assert!(cached.summarise());
        let CachedWallet::Summary(summary) = &cached else { panic!("summarised") };
        let action_id = new_action();
        assert_eq!(
            summary.crediting(action_id, &category(), at(1)),
            Some(whole.crediting(action_id, &category(), at(1)))
        );
        assert_eq!((summary.held(), summary.gold()), (Tokens::new(22), 1));
        // The same certification applied to both.
        let events = whole.decide(credit(action_id, 4, true)).expect("credited");
        for event in events.clone() {
            whole.apply_event(event.clone());
            cached.apply(event);
        }
        assert_eq!((cached.held(), cached.gold(), cached.version()), (Tokens::new(26), 2, whole.version()));
        // Rebuilt from the log (the events summarised) and the certification since.
        let CachedWallet::Summary(summary) = &cached else { panic!("still summarised") };
        assert_eq!(summary.rebuild(log.clone()).expect("rebuilt"), whole);
        // Settled, it is rebuilt from the log alone.
        assert!(cached.summarise());
        let CachedWallet::Summary(summary) = &cached else { panic!("still summarised") };
        let all: Vec<WalletEvent> = log.into_iter().chain(events).collect();
        assert_eq!(summary.rebuild(all).expect("rebuilt"), whole);
    }

    #[test]
    fn a_summary_cannot_tell_an_action_whose_fingerprint_it_keeps() {
        let (whole, _) = wallet();
        let credited = *whole.actions().keys().next().expect("an action");
        let summary = WalletSummary::of(&whole);
        assert_eq!(summary.crediting(credited, &category(), at(1)), None, "maybe credited: ask the whole wallet");
        assert_eq!(summary.crediting(twin(credited), &category(), at(1)), None, "a false alarm, but unknown here");
        assert!(!whole.crediting(twin(credited), &category(), at(1)).holds_action);
    }

    #[test]
    fn a_history_read_back_that_is_not_the_one_summarised_is_refused() {
        let (whole, log) = wallet();
        let summary = WalletSummary::of(&whole);
        assert!(summary.rebuild(log[..3].to_vec()).is_err(), "too few events");
        let mut other = log.clone();
        other[2] = match credit(new_action(), 5, false) {
            WalletCommand::CreditAction(credit) => WalletEvent::ActionCertified {
                action_id: credit.action_id,
                association_id: credit.association_id,
                category: credit.category,
                quantity: 1,
                occurred_at: credit.occurred_at,
                tokens: credit.tokens,
                lot: credit.lot,
                gold: false,
                certified_at: credit.at,
            },
            _ => unreachable!("a credit"),
        };
        let error = summary.rebuild(other).expect_err("another history");
        assert!(error.contains("gold"), "{error}");
    }

    #[test]
    fn the_index_tells_apart_ids_that_share_a_fingerprint_by_what_the_log_holds() {
        let mut index = CertificationIndex::default();
        let first = new_action();
        let second = twin(first);
        assert_eq!(index.candidate(first), None);
        index.insert(first, 3);
        // The second id's candidate is the first's event: not certain.
        assert_eq!(index.candidate(second), Some(Candidate { sequence: 3, certain: false }));
        index.insert(second, 7);
        assert_eq!(index.candidate(second), Some(Candidate { sequence: 7, certain: true }));
        assert_eq!(index.candidate(first), Some(Candidate { sequence: 3, certain: false }));
    }
}
