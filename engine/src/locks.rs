//! What an operation locks, and how: a [`Plan`] names the aggregates, [`Engine::acquire`] locks
//! them in the one lock order (territory → partners by ascending id → mission → draw → wallets by
//! ascending id, so that two operations never deadlock) and hands the decision a [`Held`] with
//! everything it reads.
//!
//! Some of what a decision reads is not kept in memory and is read from the log, never while a
//! lock is held, so that no other command waits behind a read:
//! - an association's earlier certification of the action (a retry is answered from it, a
//!   revocation finds its citizen in it): the partner's index says where it may be; the locks are
//!   released, the event read, and the locks taken again (decision 15);
//! - a wallet kept as a summary, for a decision that needs it whole: it is read back before the
//!   other aggregates are locked (decision 16).

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use tokio::sync::OwnedMutexGuard;
use ygor_ledger::books::Account;
use ygor_ledger::codec::{self, Payload};
use ygor_ledger::partner::{PartnerEvent, RecordedCertification};
use ygor_ledger::wallet::Crediting;
use ygor_ledger::{
    ActionId, CategoryId, CitizenId, Draw, DrawId, Mission, MissionId, Partner, PartnerId, Territory, Wallet,
};
use ygor_store::{Position, StoreError};

use crate::cache::{AggregateKey, Cached, Shared, State};
use crate::compact::{CachedPartner, CachedWallet, Candidate, CertificationIndex};
use crate::conservation::{Balances, Holder};
use crate::execute::AttemptError;
use crate::{Engine, EngineError};

/// How long a decision waits for an event a cached aggregate holds to be durable before deciding
/// again: polls of the log, this far apart (5 s in all).
const DURABLE_WAIT_POLLS: usize = 500;
const DURABLE_WAIT_PAUSE: Duration = Duration::from_millis(10);

/// How many times an operation releases its locks to read an earlier certification before it
/// gives up and decides again from scratch (the candidate kept moving: other writers).
const RELOCKS: usize = 4;

/// What a decision reads of a wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Its history (lots, actions, used vouchers): a redemption, a revocation, a sweep. The cache
    /// keeps a wallet whole for a while after such a decision (see [`crate::cache::WHOLE_KEPT`]).
    History,
    /// The whole wallet for this decision, which reads no history (a registration, interests, a
    /// draw entry): the cache may summarise it again at its next trim.
    Account,
    /// Only what crediting this action reads: a summary that certainly does not hold it will do.
    Credit(ActionId),
}

/// What one operation locks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    territory: bool,
    partners: Vec<PartnerId>,
    mission: Option<MissionId>,
    draw: Option<DrawId>,
    wallets: Vec<(CitizenId, Need)>,
    /// The association's earlier certification of an action, read from its stream.
    certification: Option<(PartnerId, ActionId)>,
}

impl Plan {
    pub fn new() -> Plan {
        Plan::default()
    }

    pub fn territory(mut self) -> Plan {
        self.territory = true;
        self
    }

    pub fn partner(mut self, id: PartnerId) -> Plan {
        if let Err(at) = self.partners.binary_search(&id) {
            self.partners.insert(at, id);
        }
        self
    }

    pub fn mission(mut self, id: MissionId) -> Plan {
        assert!(self.mission.is_none_or(|held| held == id), "one mission per operation");
        self.mission = Some(id);
        self
    }

    pub fn draw(mut self, id: DrawId) -> Plan {
        assert!(self.draw.is_none_or(|held| held == id), "one draw per operation");
        self.draw = Some(id);
        self
    }

    /// A wallet, with its history.
    pub fn wallet(self, id: CitizenId) -> Plan {
        self.wallet_for(id, Need::History)
    }

    /// A wallet whole, for a decision that reads no history.
    pub fn wallet_account(self, id: CitizenId) -> Plan {
        self.wallet_for(id, Need::Account)
    }

    /// A wallet, to credit `action_id`.
    pub fn crediting(self, id: CitizenId, action_id: ActionId) -> Plan {
        self.wallet_for(id, Need::Credit(action_id))
    }

    fn wallet_for(mut self, id: CitizenId, need: Need) -> Plan {
        match self.wallets.binary_search_by_key(&id, |(held, _)| *held) {
            // The most a decision reads wins: history, then account, then crediting.
            Ok(at) => {
                let held = &mut self.wallets[at].1;
                if need == Need::History || matches!(held, Need::Credit(_)) {
                    *held = need;
                }
            }
            Err(at) => self.wallets.insert(at, (id, need)),
        }
        self
    }

    /// The association's earlier certification of `action_id` (the association is locked too).
    pub fn certification(self, association_id: PartnerId, action_id: ActionId) -> Plan {
        let mut plan = self.partner(association_id);
        plan.certification = Some((association_id, action_id));
        plan
    }

    /// Whether the plan locks anything but wallets: then the wallets needed whole are read back
    /// before, so that the other aggregates do not wait for the read.
    fn locks_more_than_wallets(&self) -> bool {
        self.territory || !self.partners.is_empty() || self.mission.is_some() || self.draw.is_some()
    }
}

/// An association's certification of an action as read from its stream at `candidate`: the
/// record there (another action's when the candidate was found by a shared fingerprint), and the
/// event's position.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificationRead {
    candidate: Candidate,
    recorded: Option<RecordedCertification>,
    position: Position,
}

/// What stopped the locking: something to read from the log with no lock held.
enum Unmet {
    Certification { association_id: PartnerId, candidate: Candidate },
}

type Guard<S> = OwnedMutexGuard<Cached<S>>;

/// The aggregates an operation holds, locked, for the time of its decision and commit.
#[derive(Default)]
pub struct Held {
    pub(crate) territory: Option<Guard<Territory>>,
    pub(crate) partners: Vec<(PartnerId, Guard<CachedPartner>)>,
    pub(crate) mission: Option<(MissionId, Guard<Mission>)>,
    pub(crate) draw: Option<(DrawId, Guard<Draw>)>,
    pub(crate) wallets: Vec<(CitizenId, Guard<CachedWallet>)>,
    /// The earlier certification the plan asked for, if there is one, and its event's position.
    earlier: Option<(RecordedCertification, Position)>,
}

impl Held {
    pub fn territory(&self) -> &Territory {
        &self.territory.as_ref().expect("the plan locks the territory").state
    }

    fn cached_partner(&self, id: PartnerId) -> &CachedPartner {
        &self.partners.iter().find(|(held, _)| *held == id).expect("the plan locks this partner").1.state
    }

    pub fn partner(&self, id: PartnerId) -> &Partner {
        &self.cached_partner(id).partner
    }

    pub fn mission(&self, id: MissionId) -> &Mission {
        let (held, guard) = self.mission.as_ref().expect("the plan locks a mission");
        assert_eq!(*held, id, "the plan locks this mission");
        &guard.state
    }

    pub fn draw(&self, id: DrawId) -> &Draw {
        let (held, guard) = self.draw.as_ref().expect("the plan locks a draw");
        assert_eq!(*held, id, "the plan locks this draw");
        &guard.state
    }

    fn cached_wallet(&self, id: CitizenId) -> &CachedWallet {
        &self.wallets.iter().find(|(held, _)| *held == id).expect("the plan locks this wallet").1.state
    }

    /// A wallet the plan locked whole (for its history or its account).
    pub fn wallet(&self, id: CitizenId) -> &Wallet {
        match self.cached_wallet(id) {
            CachedWallet::Whole(wallet) => wallet,
            CachedWallet::Summary(_) => panic!("the plan locks wallet {id} whole"),
        }
    }

    /// What crediting `action_id` reads of a wallet the plan locked to credit it, when the plan's
    /// association did not certify the action before (otherwise the decision reads nothing of the
    /// wallet, and the lock phase did not read it back whole).
    pub fn crediting(
        &self,
        id: CitizenId,
        action_id: ActionId,
        category: &CategoryId,
        occurred_at: DateTime<Utc>,
    ) -> Crediting {
        match self.cached_wallet(id) {
            CachedWallet::Whole(wallet) => wallet.crediting(action_id, category, occurred_at),
            CachedWallet::Summary(summary) => summary
                .crediting(action_id, category, occurred_at)
                .expect("the plan reads a wallet whole when its summary may hold the action"),
        }
    }

    /// The earlier certification the plan asked for, as its association's stream records it.
    pub fn earlier_certification(&self) -> Option<&RecordedCertification> {
        self.earlier.as_ref().map(|(recorded, _)| recorded)
    }

    /// The position of the earlier certification's event, if `sequence` of `association_id`'s
    /// stream is where it is.
    pub(crate) fn earlier_position(&self, association_id: PartnerId, sequence: usize) -> Option<Position> {
        let (recorded, position) = self.earlier.as_ref()?;
        let partners = &self.partners;
        let association = partners.iter().any(|(held, _)| *held == association_id);
        (association && recorded.sequence == sequence).then_some(*position)
    }
}

impl Balances for Held {
    fn balance(&self, holder: Holder) -> Option<u64> {
        let partner =
            |id: PartnerId| self.partners.iter().find(|(held, _)| *held == id).map(|(_, guard)| &guard.state.partner);
        let wallet = |id: CitizenId| self.wallets.iter().find(|(held, _)| *held == id).map(|(_, guard)| &guard.state);
        match holder {
            Holder::Tokens(Account::Treasury) => self.territory.as_ref().map(|guard| guard.state.treasury().value()),
            Holder::Tokens(Account::Envelope(id)) => partner(id).map(|partner| partner.envelope().value()),
            Holder::Tokens(Account::Redeemed(id)) => partner(id).map(|partner| partner.redeemed_unsettled().value()),
            Holder::Tokens(Account::Wallet(id)) => wallet(id).map(|wallet| wallet.held().value()),
            Holder::Gold(id) => wallet(id).map(CachedWallet::gold),
            Holder::Tickets(id) => self
                .draw
                .as_ref()
                .filter(|(held, _)| *held == id)
                .map(|(_, guard)| guard.state.entries().values().sum()),
            Holder::Tokens(Account::Issuance) | Holder::GoldIssuance => None,
        }
    }
}

/// What `read` finds of an event a cached aggregate already holds, once the event is durable: it
/// may still be on its way to the disk (pipelined commits). If it never arrives (its transaction
/// failed, and the aggregate is being loaded again), the caller decides again.
pub(crate) async fn once_durable<T, F, Fut>(read: F) -> Result<T, AttemptError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Option<T>, StoreError>>,
{
    for _ in 0..DURABLE_WAIT_POLLS {
        if let Some(found) = read().await.map_err(EngineError::from)? {
            return Ok(found);
        }
        tokio::time::sleep(DURABLE_WAIT_PAUSE).await;
    }
    Err(AttemptError::Conflict)
}

impl Engine {
    /// Locks what `plan` names, reading first what must be read from the log; `read` is an
    /// earlier certification the caller already read.
    pub(crate) async fn acquire(&self, plan: &Plan, mut read: Option<CertificationRead>) -> Result<Held, AttemptError> {
        if plan.locks_more_than_wallets() {
            for (id, need) in &plan.wallets {
                if !matches!(need, Need::Credit(_)) {
                    self.read_wallet_whole(*id, *need).await?;
                }
            }
        }
        for _ in 0..RELOCKS {
            match self.try_acquire(plan, read.as_ref()).await? {
                Ok(held) => return Ok(held),
                Err(Unmet::Certification { association_id, candidate }) => {
                    read = Some(self.read_certification(association_id, candidate).await?);
                }
            }
        }
        Err(AttemptError::Conflict)
    }

    async fn try_acquire(
        &self,
        plan: &Plan,
        read: Option<&CertificationRead>,
    ) -> Result<Result<Held, Unmet>, AttemptError> {
        let mut held = Held::default();
        if plan.territory {
            let mut guard = self.inner.territory.clone().lock_owned().await;
            self.load(ygor_ledger::territory::TERRITORY_ID, &mut guard).await?;
            held.territory = Some(guard);
        }
        for id in &plan.partners {
            let guard = self.lock_partner(*id).await?;
            held.partners.push((*id, guard));
        }
        if let Some((association_id, action_id)) = plan.certification {
            let index = &held.cached_partner(association_id).certifications;
            if let Some(candidate) = index.candidate(action_id) {
                let Some(read) = read.filter(|read| read.candidate == candidate) else {
                    return Ok(Err(Unmet::Certification { association_id, candidate }));
                };
                // Anything but this action's record, or another's at a shared fingerprint, means
                // the partner was loaded again since the read: decide again.
                let recorded = CertificationIndex::resolve(candidate, action_id, read.recorded.clone())
                    .map_err(|_| AttemptError::Conflict)?;
                held.earlier = recorded.map(|recorded| (recorded, read.position));
            }
        }
        if let Some(id) = plan.mission {
            held.mission = Some((id, self.lock::<Mission>(AggregateKey::Mission(id), &id.to_string(), false).await?));
        }
        if let Some(id) = plan.draw {
            held.draw = Some((id, self.lock::<Draw>(AggregateKey::Draw(id), &id.to_string(), false).await?));
        }
        for (id, need) in &plan.wallets {
            let history = *need == Need::History;
            let mut guard = self.lock::<CachedWallet>(AggregateKey::Wallet(*id), &id.to_string(), history).await?;
            let may_hold =
                |action_id| matches!(&guard.state, CachedWallet::Summary(summary) if summary.may_hold(action_id));
            let needs_whole = match need {
                Need::History | Need::Account => true,
                // With an earlier certification of the action, the decision answers from it and
                // reads nothing of the wallet (a retry).
                Need::Credit(action_id) => held.earlier.is_none() && may_hold(*action_id),
            };
            if needs_whole {
                self.make_whole(*id, &mut guard).await?;
            }
            held.wallets.push((*id, guard));
        }
        Ok(Ok(held))
    }

    /// Locks one cached aggregate, loading it if needed.
    async fn lock<S: State>(
        &self,
        key: AggregateKey,
        aggregate_id: &str,
        whole: bool,
    ) -> Result<Guard<S>, EngineError> {
        let shared: Shared<S> = self.inner.aggregates.look_up(key, whole);
        let mut guard = shared.lock_owned().await;
        self.load(aggregate_id, &mut guard).await?;
        Ok(guard)
    }

    async fn lock_partner(&self, id: PartnerId) -> Result<Guard<CachedPartner>, EngineError> {
        let guard = self.lock::<CachedPartner>(AggregateKey::Partner(id), &id.to_string(), false).await?;
        self.remember_partner(id, &guard.state.partner);
        Ok(guard)
    }

    /// Loads a partner (and remembers what the API reads of it).
    pub(crate) async fn load_partner(&self, id: PartnerId) -> Result<(), EngineError> {
        self.lock_partner(id).await.map(drop)
    }

    /// Reads a cached state's stream from the log, unless it is loaded: from its snapshot and the
    /// events after it, if it is kept as snapshots and has one.
    pub(crate) async fn load<S: State>(&self, aggregate_id: &str, cached: &mut Cached<S>) -> Result<(), EngineError> {
        if cached.loaded {
            return Ok(());
        }
        if cached.state.version() == 0 {
            self.restore_snapshot(aggregate_id, cached).await?;
        }
        let stored = self.inner.log.load_stream::<S::Aggregate>(aggregate_id, cached.state.version()).await?;
        for event in self.decode_stream::<S::Event>(aggregate_id, cached.state.version(), &stored)? {
            cached.state.apply(event);
        }
        cached.loaded = true;
        self.note_loaded::<S>(aggregate_id, cached.state.version());
        Ok(())
    }

    /// A wallet kept as a summary, read back whole from the log.
    async fn make_whole(&self, id: CitizenId, cached: &mut Cached<CachedWallet>) -> Result<(), EngineError> {
        let CachedWallet::Summary(summary) = &cached.state else {
            return Ok(());
        };
        let aggregate_id = id.to_string();
        // Every event up to `through` was durable when the wallet was summarised.
        let stored = self.inner.log.load_stream_through::<Wallet>(&aggregate_id, summary.through()).await?;
        let earlier = self.decode_stream(&aggregate_id, 0, &stored)?;
        let wallet =
            summary.rebuild(earlier).map_err(|why| EngineError::Inconsistent(format!("wallet {id}: {why}")))?;
        cached.state = CachedWallet::Whole(wallet);
        self.inner.aggregates.count_restored();
        Ok(())
    }

    /// Reads a wallet back whole, locking it alone (see [`Engine::acquire`]). A look-up for its
    /// history keeps it whole for a while; should a trim still summarise it before the operation
    /// locks it, the operation reads it back itself.
    async fn read_wallet_whole(&self, id: CitizenId, need: Need) -> Result<(), EngineError> {
        let history = need == Need::History;
        let mut guard = self.lock::<CachedWallet>(AggregateKey::Wallet(id), &id.to_string(), history).await?;
        self.make_whole(id, &mut guard).await
    }

    /// The event at `candidate` in the association's stream, read once durable, with no lock.
    async fn read_certification(
        &self,
        association_id: PartnerId,
        candidate: Candidate,
    ) -> Result<CertificationRead, AttemptError> {
        let id = association_id.to_string();
        let sequence = candidate.sequence;
        let stored = once_durable(|| self.inner.log.event_at(Partner::TYPE, &id, sequence)).await?;
        let event = &stored.event;
        let decoded: PartnerEvent =
            codec::decode(&event.event_type, &event.event_version, Payload::Value(&event.payload))
                .map_err(|source| EngineError::Decode { aggregate: format!("partner {id}"), sequence, source })?;
        Ok(CertificationRead {
            candidate,
            recorded: RecordedCertification::from_event(sequence, decoded),
            position: stored.position,
        })
    }

    /// The association's certification of `action_id`, read before an operation locks the
    /// wallet it credited (a revocation); the association must be active.
    pub(crate) async fn certification_of(
        &self,
        association_id: PartnerId,
        action_id: ActionId,
    ) -> Result<Option<(RecordedCertification, CertificationRead)>, AttemptError> {
        let candidate = {
            let guard = self.lock_partner(association_id).await?;
            guard
                .state
                .partner
                .ensure_active(association_id, ygor_ledger::PartnerKind::Association)
                .map_err(EngineError::from)?;
            guard.state.certifications.candidate(action_id)
        };
        let Some(candidate) = candidate else {
            return Ok(None);
        };
        let read = self.read_certification(association_id, candidate).await?;
        let recorded = CertificationIndex::resolve(candidate, action_id, read.recorded.clone())
            .map_err(|_| AttemptError::Conflict)?;
        Ok(recorded.map(|recorded| (recorded, read)))
    }
}
