//! The one way a command runs: lock what its plan names, let the ledger decide, check that the
//! decision conserves tokens, apply it to the cached states, and queue its events for the
//! committer; decide again after a conflict with another writer.

use std::future::Future;

use chrono::{DateTime, Utc};
use ygor_ledger::books::AnyEvent;
use ygor_ledger::operations::{Changes, Decided};
use ygor_ledger::territory::TERRITORY_ID;
use ygor_store::{AppendBatch, CitizenCode, CitizenDetails, NewCredential, NewEvent};

use crate::cache::{Handle, State};
use tokio::sync::mpsc::Permit;
use tokio::sync::oneshot;
use ygor_store::Position;

use crate::committer::{CommitFailure, Pending};
use crate::locks::{CertificationRead, Held, Plan, once_durable};
use crate::stored::encode;
use crate::{Committed, Engine, EngineError, conservation};

/// How many times an operation is decided again after another writer (another process on the same
/// database) appended to one of its aggregates first.
const CONFLICT_RETRIES: usize = 8;

/// Why one attempt at an operation did not commit.
pub(crate) enum AttemptError {
    /// Another writer won a race, or a transaction this one depended on failed: decide again.
    Conflict,
    Engine(EngineError),
}

impl From<EngineError> for AttemptError {
    fn from(error: EngineError) -> Self {
        AttemptError::Engine(error)
    }
}

impl From<ygor_ledger::LedgerError> for AttemptError {
    fn from(error: ygor_ledger::LedgerError) -> Self {
        AttemptError::Engine(error.into())
    }
}

/// Counts an operation that holds a place in the committer's queue until it is answered (or fails
/// before it is queued).
struct Outstanding<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Outstanding<'a> {
    fn count(counter: &'a std::sync::atomic::AtomicUsize) -> Self {
        counter.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Outstanding(counter)
    }
}

impl Drop for Outstanding<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// What is written outside the event log, in the same transaction as the events: credentials,
/// citizens' personal details and citizens' codes.
#[derive(Debug, Clone, Default)]
pub struct OutsideLog {
    pub credentials: Vec<NewCredential>,
    pub citizen_details: Vec<CitizenDetails>,
    pub citizen_codes: Vec<CitizenCode>,
}

impl OutsideLog {
    fn is_empty(&self) -> bool {
        self.credentials.is_empty() && self.citizen_details.is_empty() && self.citizen_codes.is_empty()
    }
}

/// An operation decided and queued for the committer, waiting for its group to be durable.
pub(crate) struct Queued<'a, T> {
    outcome: T,
    answer: oneshot::Receiver<Result<Vec<Position>, CommitFailure>>,
    _outstanding: Outstanding<'a>,
}

/// How far an attempt went once decided: answered at once (a retry, or nothing to write), or
/// queued for the committer.
pub(crate) enum Attempted<'a, T> {
    Answered(Committed<T>),
    Queued(Queued<'a, T>),
}

impl<T> Attempted<'_, T> {
    /// The operation's result once its events are durable, or why they are not.
    pub(crate) async fn durable(self) -> Result<Committed<T>, AttemptError> {
        let Queued { outcome, answer, _outstanding } = match self {
            Attempted::Answered(committed) => return Ok(committed),
            Attempted::Queued(queued) => queued,
        };
        let positions = match answer.await {
            Ok(Ok(positions)) => positions,
            Ok(Err(CommitFailure::Retry)) => return Err(AttemptError::Conflict),
            Ok(Err(CommitFailure::Storage(message))) => return Err(EngineError::Storage(message).into()),
            Ok(Err(CommitFailure::Unavailable(message))) => return Err(EngineError::StorageUnavailable(message).into()),
            Ok(Err(CommitFailure::Unknown(message))) => return Err(EngineError::OutcomeUnknown(message).into()),
            Err(_) => return Err(EngineError::Stopped.into()),
        };
        let position = positions.last().copied().unwrap_or(0);
        Ok(Committed { outcome, position, replayed: false })
    }
}

impl Engine {
    /// Runs `attempt` until it commits, deciding again after a conflict with another writer.
    pub(crate) async fn run<T, F, Fut>(&self, mut attempt: F) -> Result<Committed<T>, EngineError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Committed<T>, AttemptError>>,
    {
        for _ in 0..CONFLICT_RETRIES {
            self.ensure_writer().await?;
            match attempt().await {
                Ok(committed) => return Ok(committed),
                Err(AttemptError::Conflict) => continue,
                Err(AttemptError::Engine(error)) => return Err(error),
            }
        }
        Err(EngineError::Contention)
    }

    /// Locks what `plan` names, decides with `decide` on what it holds, and commits the decision
    /// with `outside`; retried after a conflict.
    pub(crate) async fn execute<T, D>(
        &self,
        plan: Plan,
        outside: OutsideLog,
        at: DateTime<Utc>,
        decide: D,
    ) -> Result<Committed<T>, EngineError>
    where
        D: Fn(&Held) -> Result<Decided<T>, EngineError>,
    {
        self.run(|| self.attempt(&plan, None, outside.clone(), at, &decide)).await
    }

    /// Runs `operations` in order, each decided by `decide` (given its index) as
    /// [`Engine::execute`] decides it alone, on the states the ones before it left. None waits
    /// for the one before to be durable: each is queued as soon as it is decided, its locks
    /// released, so that the committer writes them in shared groups rather than one disk sync
    /// each. Answers once every queued operation is durable, or its group failed.
    ///
    /// Each operation's own refusal (the ledger's, or a decision that would break conservation) is
    /// its answer. When a group fails for a conflict with another writer, its operations and every
    /// one after them are decided again, in order. Any other failure is the whole call's; if an
    /// operation of the call was recorded before it, the call answers
    /// [`EngineError::OutcomeUnknown`]: the same operations again are answered from the log.
    pub(crate) async fn execute_in_order<T, D>(
        &self,
        operations: &[(Plan, DateTime<Utc>)],
        decide: D,
    ) -> Result<Vec<Result<Committed<T>, EngineError>>, EngineError>
    where
        D: Fn(usize, &Held) -> Result<Decided<T>, EngineError>,
    {
        let count = operations.len();
        let mut answers: Vec<Option<Result<Committed<T>, EngineError>>> = (0..count).map(|_| None).collect();
        let mut written = false;
        let in_doubt = |error: EngineError, written: bool| match error {
            EngineError::OutcomeUnknown(_) => error,
            other if written => EngineError::OutcomeUnknown(format!(
                "some operations of the call were recorded before this failure: {other}"
            )),
            other => other,
        };
        let mut from = 0;
        for _ in 0..CONFLICT_RETRIES {
            if let Err(error) = self.ensure_writer().await {
                return Err(in_doubt(error, written));
            }
            // Every place in the queue at once: when the database does not keep up, the call is
            // refused before any of its operations changed anything.
            let Ok(mut places) = self.inner.queue.try_reserve_many(count - from) else {
                return Err(in_doubt(EngineError::Overloaded(self.inner.queue_capacity), written));
            };
            let mut queued = Vec::new();
            let mut again = None;
            let mut failure = None;
            for (index, (plan, at)) in operations.iter().enumerate().skip(from) {
                let place = places.next().expect("a place per operation");
                let decide = |held: &Held| decide(index, held);
                match self.attempt_queued(plan, None, OutsideLog::default(), *at, Some(place), decide).await {
                    Ok(attempted) => queued.push((index, attempted)),
                    Err(AttemptError::Engine(error @ (EngineError::Ledger(_) | EngineError::Conservation(_)))) => {
                        answers[index] = Some(Err(error));
                    }
                    Err(AttemptError::Engine(error)) => {
                        failure = Some(error);
                        break;
                    }
                    Err(AttemptError::Conflict) => {
                        again = Some(index);
                        break;
                    }
                }
            }
            drop(places);
            // Every queued operation is answered before the call is: none is left in flight.
            for (index, attempted) in queued {
                match attempted.durable().await {
                    Ok(committed) => {
                        written |= !committed.replayed;
                        answers[index] = Some(Ok(committed));
                    }
                    Err(AttemptError::Conflict) => again = Some(again.map_or(index, |first: usize| first.min(index))),
                    Err(AttemptError::Engine(error)) => failure = failure.or(Some(error)),
                }
            }
            if let Some(error) = failure {
                return Err(in_doubt(error, written));
            }
            let Some(first) = again else {
                return Ok(answers.into_iter().map(|answer| answer.expect("every operation is answered")).collect());
            };
            // The operations from the first one not committed on were decided on states that
            // included it: all of them are decided again.
            answers[first..].iter_mut().for_each(|answer| *answer = None);
            from = first;
        }
        Err(in_doubt(EngineError::Contention, written))
    }

    /// One attempt of [`Engine::execute`]; `read` is an earlier certification already read.
    pub(crate) async fn attempt<T, D>(
        &self,
        plan: &Plan,
        read: Option<CertificationRead>,
        outside: OutsideLog,
        at: DateTime<Utc>,
        decide: D,
    ) -> Result<Committed<T>, AttemptError>
    where
        D: FnOnce(&Held) -> Result<Decided<T>, EngineError>,
    {
        self.attempt_queued(plan, read, outside, at, None, decide).await?.durable().await
    }

    /// [`Engine::attempt`] up to the committer's queue: the operation is decided, applied to the
    /// cached states and queued (its locks released), and not yet durable. `place` is a place in
    /// the queue reserved beforehand; without one, a place is taken now or the operation refused.
    pub(crate) async fn attempt_queued<'a, T, D>(
        &'a self,
        plan: &Plan,
        read: Option<CertificationRead>,
        outside: OutsideLog,
        at: DateTime<Utc>,
        place: Option<Permit<'a, Pending>>,
        decide: D,
    ) -> Result<Attempted<'a, T>, AttemptError>
    where
        D: FnOnce(&Held) -> Result<Decided<T>, EngineError>,
    {
        let held = self.acquire(plan, read).await?;
        let decided = decide(&held)?;
        self.queue(held, decided, outside, at, place).await
    }

    /// Applies what was decided to the cached states and queues its events for the committer, or
    /// answers a retry from the log.
    async fn queue<'a, T>(
        &'a self,
        mut held: Held,
        decided: Decided<T>,
        outside: OutsideLog,
        at: DateTime<Utc>,
        place: Option<Permit<'a, Pending>>,
    ) -> Result<Attempted<'a, T>, AttemptError> {
        let (changes, outcome) = match decided {
            Decided::Replay { outcome, original } => {
                // A retry of the earlier certification read for this operation: its position is known.
                let association = (original.aggregate_type == "partner")
                    .then(|| ygor_ledger::PartnerId::parse(&original.aggregate_id).ok())
                    .flatten();
                let known = association.and_then(|id| held.earlier_position(id, original.sequence));
                drop(held);
                let position = match known {
                    Some(position) => position,
                    None => {
                        let log = &self.inner.log;
                        once_durable(|| {
                            log.position_of(original.aggregate_type, &original.aggregate_id, original.sequence)
                        })
                        .await?
                    }
                };
                return Ok(Attempted::Answered(Committed { outcome, position, replayed: true }));
            }
            Decided::Apply { changes, outcome } => (changes, outcome),
        };
        if changes.is_empty() && outside.is_empty() {
            let position = self.inner.log.last_position().await.map_err(EngineError::from)?;
            return Ok(Attempted::Answered(Committed { outcome, position, replayed: false }));
        }
        // A place in the committer's queue first: when the database does not keep up, the
        // operation is refused before anything changed.
        let permit = match place {
            Some(reserved) => reserved,
            None => self.inner.queue.try_reserve().map_err(|_| EngineError::Overloaded(self.inner.queue_capacity))?,
        };
        let outstanding = Outstanding::count(&self.inner.outstanding);
        let typed = typed_events(&changes);
        if let Err(violation) = conservation::check(&typed, &held) {
            tracing::error!(%violation, ?typed, "a decision would break conservation; nothing was written");
            return Err(EngineError::Conservation(violation).into());
        }
        let events = self.encode_changes(&held, &changes, at)?;
        let touched = self.apply(&mut held, changes);
        let batch = AppendBatch {
            events,
            credentials: outside.credentials,
            citizen_details: outside.citizen_details,
            citizen_codes: outside.citizen_codes,
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        // Queued while the locks are held, so that the queue keeps each aggregate's order; the
        // locks are released before the wait for durability, so that commands to one hot
        // aggregate pipeline into shared transactions.
        permit.send(Pending { batch, typed, touched, reply });
        drop(held);
        Ok(Attempted::Queued(Queued { outcome, answer, _outstanding: outstanding }))
    }

    /// The stored form of every event decided, in the order of [`typed_events`], numbered after
    /// each held aggregate's version.
    fn encode_changes(&self, held: &Held, changes: &Changes, at: DateTime<Utc>) -> Result<Vec<NewEvent>, EngineError> {
        let mut events = Vec::new();
        for (id, decided) in &changes.missions {
            events.extend(encode(&id.to_string(), held.mission(*id).version() + 1, decided, at)?);
        }
        for (id, decided) in &changes.draws {
            events.extend(encode(&id.to_string(), held.draw(*id).version() + 1, decided, at)?);
        }
        for (id, decided) in &changes.wallets {
            let version =
                held.wallets.iter().find(|(held, _)| held == id).expect("the plan locks this wallet").1.state.version();
            events.extend(encode(&id.to_string(), version + 1, decided, at)?);
        }
        for (id, decided) in &changes.partners {
            events.extend(encode(&id.to_string(), held.partner(*id).version() + 1, decided, at)?);
        }
        if !changes.territory.is_empty() {
            events.extend(encode(TERRITORY_ID, held.territory().version() + 1, &changes.territory, at)?);
        }
        Ok(events)
    }

    /// Applies the decided events to the held states, and returns them: the committer resets them
    /// if the transaction fails.
    fn apply(&self, held: &mut Held, changes: Changes) -> Vec<Handle> {
        let Changes { territory, partners, wallets, missions, draws } = changes;
        let mut touched = Vec::new();
        if !territory.is_empty() {
            let guard = held.territory.as_mut().expect("the plan locks the territory");
            touched.push(Handle::Territory(tokio::sync::OwnedMutexGuard::mutex(guard).clone()));
            for event in territory {
                guard.state.apply_event(event);
            }
            self.publish_territory(&guard.state);
        }
        for (id, events) in partners {
            let guard =
                &mut held.partners.iter_mut().find(|(held, _)| *held == id).expect("the plan locks this partner").1;
            touched.push(Handle::Partner(tokio::sync::OwnedMutexGuard::mutex(guard).clone()));
            for event in events {
                guard.state.apply(event);
            }
            self.remember_partner(id, &guard.state.partner);
        }
        for (id, events) in wallets {
            let guard =
                &mut held.wallets.iter_mut().find(|(held, _)| *held == id).expect("the plan locks this wallet").1;
            touched.push(Handle::Wallet(tokio::sync::OwnedMutexGuard::mutex(guard).clone()));
            for event in events {
                State::apply(&mut guard.state, event);
            }
        }
        for (_, events) in missions {
            let guard = &mut held.mission.as_mut().expect("the plan locks a mission").1;
            touched.push(Handle::Mission(tokio::sync::OwnedMutexGuard::mutex(guard).clone()));
            for event in events {
                guard.state.apply_event(event);
            }
        }
        for (_, events) in draws {
            let guard = &mut held.draw.as_mut().expect("the plan locks a draw").1;
            touched.push(Handle::Draw(tokio::sync::OwnedMutexGuard::mutex(guard).clone()));
            for event in events {
                guard.state.apply_event(event);
            }
        }
        touched
    }
}

/// Every decided event with its stream, in the order they are appended: missions, draws, wallets,
/// partners, then the territory (the order `EventRef` relies on: a certification's or a
/// redemption's last event is the partner's).
fn typed_events(changes: &Changes) -> Vec<AnyEvent> {
    let mut typed = Vec::new();
    for (id, events) in &changes.missions {
        typed.extend(events.iter().map(|event| AnyEvent::Mission(*id, event.clone())));
    }
    for (id, events) in &changes.draws {
        typed.extend(events.iter().map(|event| AnyEvent::Draw(*id, event.clone())));
    }
    for (id, events) in &changes.wallets {
        typed.extend(events.iter().map(|event| AnyEvent::Wallet(*id, event.clone())));
    }
    for (id, events) in &changes.partners {
        typed.extend(events.iter().map(|event| AnyEvent::Partner(*id, event.clone())));
    }
    typed.extend(changes.territory.iter().cloned().map(AnyEvent::Territory));
    typed
}

#[cfg(test)]
mod tests {
    use ygor_ledger::Tokens;
    use ygor_ledger::operations::Certify;
    use ygor_ledger::wallet::WalletEvent;
    use ygor_store::Backend;

    use super::*;
    use crate::EngineOptions;
    use crate::testing::{certification, territory};

    #[tokio::test]
    async fn a_change_that_does_not_conserve_tokens_is_refused_before_it_reaches_the_log() {
        let (engine, association, citizen, _guard) = territory(Backend::Sqlite, EngineOptions::default()).await;
        let before = engine.log().last_position().await.expect("a position");
        let command = certification(association, citizen);
        let plan = Plan::new().certification(association, command.action_id).crediting(citizen, command.action_id);
        // A decision whose wallet side credits 2 tokens more than the envelope gives: a defect.
        let refused = engine
            .execute(plan, OutsideLog::default(), command.at, |held| {
                let wallet = held.crediting(citizen, command.action_id, &command.category, command.occurred_at);
                let partner = held.partner(association);
                let decided = ygor_ledger::operations::certify(
                    engine.rules().as_deref(),
                    partner,
                    None,
                    &wallet,
                    command.clone(),
                )?;
                let Decided::Apply { mut changes, outcome } = decided else { unreachable!("a new certification") };
                let WalletEvent::ActionCertified { tokens, .. } = &mut changes.wallets[0].1[0] else {
                    unreachable!("credited")
                };
                *tokens = Tokens::new(tokens.value() + 2);
                Ok(Decided::apply(changes, outcome))
            })
            .await;
        let Err(EngineError::Conservation(violation)) = refused else { panic!("not refused: {refused:?}") };
        assert!(violation.to_string().contains("by 10 in the books and by 12"), "{violation}");
        assert_eq!(engine.log().last_position().await.expect("a position"), before, "nothing reached the log");
        // Nothing changed in memory either: the same certification, decided rightly, goes through.
        let committed = engine.certify(command).await.expect("certified");
        assert_eq!(committed.outcome.tokens, Tokens::new(10));
        assert_eq!(engine.wallet(citizen).await.expect("a wallet").holdings().held(), Tokens::new(10));
        let partner_events =
            engine.log().load_stream::<ygor_ledger::Partner>(&association.to_string(), 0).await.expect("the stream");
        let recorded = partner_events.iter().filter(|event| event.event_type == "CertificationRecorded").count();
        assert_eq!(recorded, 1);
    }

    #[tokio::test]
    async fn a_wallet_kept_as_a_summary_comes_back_whole_for_a_decision_that_needs_it() {
        // Room for nothing idle: every aggregate is dropped or summarised at every trim.
        let options = EngineOptions { cache_budget: 1, keep_aggregates: true, ..EngineOptions::default() };
        let (engine, association, citizen, _guard) = territory(Backend::Sqlite, options).await;
        let first = certification(association, citizen);
        engine.certify(first.clone()).await.expect("certified");
        engine.inner.aggregates.trim_now();
        // Certified on the summary; a retry of the first is answered from the association's
        // record, without reading the wallet back.
        engine.certify(certification(association, citizen)).await.expect("certified on the summary");
        let restored = engine.cache_figures().histories_restored;
        let retried = engine.certify(first.clone()).await.expect("a retry");
        assert!(retried.replayed);
        assert_eq!(engine.cache_figures().histories_restored, restored, "a retry reads no wallet back");
        // A decision that reads the history reads the wallet back whole.
        let wallet = engine.wallet(citizen).await.expect("a wallet");
        assert_eq!(wallet.holdings().held(), Tokens::new(20));
        assert_eq!(wallet.actions().len(), 2);
        assert_eq!(engine.cache_figures().histories_restored, restored + 1);
        // The same action id reused for this citizen by the same association with another request:
        // a conflict, still without the wallet.
        let reused = Certify { fingerprint: "another request".to_owned(), ..first };
        let refused = engine.certify(reused).await;
        assert!(
            matches!(refused, Err(EngineError::Ledger(ygor_ledger::LedgerError::IdConflict { .. }))),
            "{refused:?}"
        );
    }
}
