//! Every command of the engine: what it locks ([`Plan`]) and how the ledger decides it, run by
//! the one generic [`Engine::execute`](crate::Engine).

use chrono::{DateTime, Utc};
use ygor_ledger::draw::{DrawCommand, DrawResult, DrawTerms};
use ygor_ledger::mission::{MissionCommand, MissionDetails, Publication};
use ygor_ledger::offer::OfferTerms;
use ygor_ledger::operations::{
    self, Certify, Changes, Decided, EventRef, Redeem, RedemptionOutcome, RevocationOutcome, SweepOutcome,
};
use ygor_ledger::partner::{CertificationOutcome, PartnerCommand};
use ygor_ledger::territory::{SignedCheckpointRecord, TerritoryCommand};
use ygor_ledger::vocabulary;
use ygor_ledger::wallet::{Demographics, WalletCommand};
use ygor_ledger::{
    ActionId, CategoryId, CitizenId, DrawId, LedgerError, MissionId, OfferId, PartnerId, PartnerKind, SettlementId,
    Tokens, Wallet,
};
use ygor_rules::Rules;
use ygor_store::{CitizenCode, CitizenDetails, NewCredential, StoreError};

use crate::execute::{AttemptError, OutsideLog};
use crate::locks::{Held, Plan};
use crate::{Committed, Engine, EngineError};

/// How many wallets one expiry transaction sweeps.
const SWEEP_BATCH: usize = 256;

/// How many citizen codes are drawn for a citizen before giving up: each is taken with a chance
/// of about one in 10^12, so a second draw is already rare.
const CODE_DRAWS: usize = 8;

/// What a certification locks: its association (with its earlier certification of the action,
/// if any) and the citizen's wallet, to credit the action.
fn certification_plan(command: &Certify) -> Plan {
    Plan::new()
        .certification(command.association_id, command.action_id)
        .crediting(command.citizen_id, command.action_id)
}

/// The first event of an aggregate's stream: what answers a retry of its creation.
fn first_event(aggregate_type: &'static str, aggregate_id: String) -> EventRef {
    EventRef { aggregate_type, aggregate_id, sequence: 1 }
}

impl Engine {
    /// Commits the coming gold periods and reveals the ended ones (see `Territory::gold_schedule`);
    /// run every fraction of a second by [`crate::jobs`], and before a certification that finds
    /// no period committed for its time.
    pub async fn maintain_gold(&self, now: DateTime<Utc>) -> Result<(), EngineError> {
        let seeds = &self.inner.seeds;
        self.execute(Plan::new().territory(), OutsideLog::default(), now, |held| {
            let territory = held.territory();
            let gold = territory.rules_in_force().and_then(|version| version.rules.gold.clone());
            let events = territory.gold_schedule(now, gold.as_ref(), now, |period| seeds.gold(period));
            Ok(Decided::apply(Changes::territory(events), ()))
        })
        .await
        .map(drop)
    }

    /// Publishes the rules as a new version; answers the version in force and whether it is new
    /// (rules identical to those in force write nothing).
    pub async fn publish_rules(
        &self,
        rules: Rules,
        source: String,
        at: DateTime<Utc>,
    ) -> Result<Committed<(u32, bool)>, EngineError> {
        let seeds = &self.inner.seeds;
        self.execute(Plan::new().territory(), OutsideLog::default(), at, |held| {
            let territory = held.territory();
            let in_force = territory.rules_versions().len() as u32;
            let mut events = territory.decide(TerritoryCommand::PublishRules {
                rules: rules.clone(),
                source: source.clone(),
                at,
            })?;
            if events.is_empty() {
                return Ok(Decided::apply(Changes::default(), (in_force, false)));
            }
            // Rules with gold start the first period now: its commitment goes in the same transaction.
            events.extend(territory.gold_schedule(at, rules.gold.as_ref(), at, |period| seeds.gold(period)));
            Ok(Decided::apply(Changes::territory(events), (in_force + 1, true)))
        })
        .await
    }

    /// Records a signed checkpoint in the log (nothing if one as large is already recorded).
    pub async fn record_checkpoint(
        &self,
        checkpoint: SignedCheckpointRecord,
        at: DateTime<Utc>,
    ) -> Result<Committed<()>, EngineError> {
        self.execute(Plan::new().territory(), OutsideLog::default(), at, |held| {
            let command = TerritoryCommand::RecordCheckpoint { checkpoint: checkpoint.clone() };
            Ok(Decided::apply(Changes::territory(held.territory().decide(command)?), ()))
        })
        .await
    }

    pub async fn mint(&self, amount: Tokens, at: DateTime<Utc>) -> Result<Committed<Tokens>, EngineError> {
        self.execute(Plan::new().territory(), OutsideLog::default(), at, |held| {
            let events = held.territory().decide(TerritoryCommand::MintSupply { amount, at })?;
            Ok(Decided::apply(Changes::territory(events), amount))
        })
        .await
    }

    /// Registers a partner under a fresh id, with the hash of its bearer token.
    pub async fn register_partner(
        &self,
        id: PartnerId,
        kind: PartnerKind,
        name: String,
        public_key: String,
        token_hash: [u8; 32],
        at: DateTime<Utc>,
    ) -> Result<Committed<PartnerId>, EngineError> {
        let credential = NewCredential { token_hash, role: kind.to_string(), subject_id: id.to_string() };
        let outside = OutsideLog { credentials: vec![credential], ..OutsideLog::default() };
        self.execute(Plan::new().partner(id), outside, at, |held| {
            let command = PartnerCommand::Register { kind, name: name.clone(), public_key: public_key.clone(), at };
            Ok(Decided::apply(Changes::partner(id, held.partner(id).decide(command)?), id))
        })
        .await
    }

    pub async fn suspend_partner(&self, id: PartnerId, at: DateTime<Utc>) -> Result<Committed<()>, EngineError> {
        self.execute(Plan::new().partner(id), OutsideLog::default(), at, |held| {
            let partner = held.partner(id);
            if partner.registration().is_none() {
                return Err(LedgerError::UnknownPartner(id).into());
            }
            Ok(Decided::apply(Changes::partner(id, partner.decide(PartnerCommand::Suspend { at })?), ()))
        })
        .await
    }

    /// Lifts a partner's suspension; an active partner is left as it is (nothing written).
    pub async fn reinstate_partner(&self, id: PartnerId, at: DateTime<Utc>) -> Result<Committed<()>, EngineError> {
        self.execute(Plan::new().partner(id), OutsideLog::default(), at, |held| {
            let partner = held.partner(id);
            if partner.registration().is_none() {
                return Err(LedgerError::UnknownPartner(id).into());
            }
            Ok(Decided::apply(Changes::partner(id, partner.decide(PartnerCommand::Reinstate { at })?), ()))
        })
        .await
    }

    pub async fn allocate_envelope(
        &self,
        id: PartnerId,
        amount: Tokens,
        at: DateTime<Utc>,
    ) -> Result<Committed<Tokens>, EngineError> {
        self.execute(Plan::new().territory().partner(id), OutsideLog::default(), at, |held| {
            Ok(operations::allocate_envelope(held.territory(), held.partner(id), id, amount, at)?)
        })
        .await
    }

    /// Registers a citizen with its token, its personal details and a citizen code drawn from
    /// `codes` (`ygor_crypto::random_short_code`), all written with its first event; answers the
    /// code. A code another citizen has by then (one chance in 10^12) fails the commit, and the
    /// registration is decided again with a new code.
    #[allow(clippy::too_many_arguments, reason = "one command's checked values, each named")]
    pub async fn register_citizen(
        &self,
        id: CitizenId,
        demographics: Demographics,
        interests: Vec<CategoryId>,
        details: CitizenDetails,
        token_hash: [u8; 32],
        mut codes: impl FnMut() -> String + Send,
        at: DateTime<Utc>,
    ) -> Result<Committed<String>, EngineError> {
        let credential = NewCredential { token_hash, role: "citizen".to_owned(), subject_id: id.to_string() };
        let plan = &Plan::new().wallet(id);
        let decide = &|held: &Held, code: String| {
            let rules = self.rules();
            let rules = rules.as_ref().map(|version| &version.rules);
            vocabulary::check_categories(rules, &interests)?;
            vocabulary::check_neighbourhood(rules, demographics.neighbourhood.as_deref())?;
            let command =
                WalletCommand::Register { demographics: demographics.clone(), interests: interests.clone(), at };
            Ok(Decided::apply(Changes::wallet(id, held.wallet(id).decide(command)?), code))
        };
        self.run(|| {
            let code = codes();
            let outside = OutsideLog {
                credentials: vec![credential.clone()],
                citizen_details: vec![details.clone()],
                citizen_codes: vec![CitizenCode { citizen_id: id.to_string(), code: code.clone() }],
            };
            self.attempt(plan, None, outside, at, move |held| decide(held, code))
        })
        .await
    }

    /// The citizen's code. A citizen registered before codes existed has none: it is given one
    /// now, drawn from `codes`, and keeps it. Safe when several requests ask at once: they all
    /// answer the code the first one wrote.
    pub async fn citizen_code(&self, id: CitizenId, mut codes: impl FnMut() -> String) -> Result<String, EngineError> {
        let citizen_id = id.to_string();
        if let Some(code) = self.log().citizen_code(&citizen_id).await? {
            return Ok(code);
        }
        for _ in 0..CODE_DRAWS {
            match self.log().assign_citizen_code(&citizen_id, &codes()).await {
                Err(StoreError::CitizenCodeTaken) => continue,
                assigned => return Ok(assigned?),
            }
        }
        Err(EngineError::Inconsistent(format!("{CODE_DRAWS} citizen codes drawn in a row were all taken")))
    }

    pub async fn set_interests(
        &self,
        id: CitizenId,
        interests: Vec<CategoryId>,
        at: DateTime<Utc>,
    ) -> Result<Committed<()>, EngineError> {
        self.execute(Plan::new().wallet_account(id), OutsideLog::default(), at, |held| {
            vocabulary::check_categories(self.rules().as_ref().map(|version| &version.rules), &interests)?;
            let command = WalletCommand::SetInterests { interests: interests.clone(), at };
            Ok(Decided::apply(Changes::wallet(id, held.wallet(id).decide(command)?), ()))
        })
        .await
    }

    /// Publishes a mission; the same mission again is answered from the log, another one under
    /// the same id is `id_conflict`.
    pub async fn publish_mission(
        &self,
        id: MissionId,
        details: MissionDetails,
        at: DateTime<Utc>,
    ) -> Result<Committed<()>, EngineError> {
        self.execute(Plan::new().mission(id), OutsideLog::default(), at, |held| {
            let mission = held.mission(id);
            Ok(match mission.publication(&details, &format!("mission_id {id}"))? {
                Publication::AlreadyPublished => {
                    Decided::Replay { outcome: (), original: first_event("mission", id.to_string()) }
                }
                Publication::New => {
                    // Checked only for a new mission: a retry is answered as it was, whatever the
                    // rules in force now.
                    let rules = self.rules();
                    let rules = rules.as_ref().map(|version| &version.rules);
                    vocabulary::check_categories(rules, &details.categories)?;
                    vocabulary::check_neighbourhood(rules, details.neighbourhood.as_deref())?;
                    let events = mission.decide(MissionCommand::Publish { details: details.clone(), at })?;
                    Decided::apply(Changes::mission(id, events), ())
                }
            })
        })
        .await
    }

    pub async fn close_mission(
        &self,
        id: MissionId,
        association_id: PartnerId,
        at: DateTime<Utc>,
    ) -> Result<Committed<()>, EngineError> {
        self.execute(Plan::new().mission(id), OutsideLog::default(), at, |held| {
            let events = held.mission(id).decide(MissionCommand::Close { association_id, at })?;
            Ok(Decided::apply(Changes::mission(id, events), ()))
        })
        .await
    }

    /// Publishes a venue's offer; the same offer again is answered from the log, other terms
    /// under the same id are `id_conflict`.
    pub async fn publish_offer(
        &self,
        venue_id: PartnerId,
        offer_id: OfferId,
        terms: OfferTerms,
        at: DateTime<Utc>,
    ) -> Result<Committed<()>, EngineError> {
        self.execute(Plan::new().partner(venue_id), OutsideLog::default(), at, |held| {
            let venue = held.partner(venue_id);
            venue.ensure_active(venue_id, PartnerKind::Venue)?;
            Ok(match venue.offer_publication(offer_id, &terms)? {
                Publication::AlreadyPublished => {
                    let sequence = venue.offer(offer_id).expect("a published offer").sequence;
                    let original = EventRef { aggregate_type: "partner", aggregate_id: venue_id.to_string(), sequence };
                    Decided::Replay { outcome: (), original }
                }
                Publication::New => {
                    // Checked only for a new offer, as for missions.
                    let rules = self.rules();
                    let rules = rules.as_ref().map(|version| &version.rules);
                    vocabulary::check_categories(rules, terms.category.as_slice())?;
                    for neighbourhood in terms.audience.iter().flat_map(|audience| &audience.neighbourhoods) {
                        vocabulary::check_neighbourhood(rules, Some(neighbourhood))?;
                    }
                    let events = venue.decide(PartnerCommand::PublishOffer { offer_id, terms: terms.clone(), at })?;
                    Decided::apply(Changes::partner(venue_id, events), ())
                }
            })
        })
        .await
    }

    /// Closes a venue's offer: it takes no more vouchers or redemptions. Closing again writes
    /// nothing.
    pub async fn close_offer(
        &self,
        venue_id: PartnerId,
        offer_id: OfferId,
        at: DateTime<Utc>,
    ) -> Result<Committed<()>, EngineError> {
        self.execute(Plan::new().partner(venue_id), OutsideLog::default(), at, |held| {
            let venue = held.partner(venue_id);
            venue.ensure_active(venue_id, PartnerKind::Venue)?;
            let events = venue.decide(PartnerCommand::CloseOffer { offer_id, at })?;
            Ok(Decided::apply(Changes::partner(venue_id, events), ()))
        })
        .await
    }

    /// Creates a draw committed to its seed; the same draw again is answered from the log.
    pub async fn create_draw(
        &self,
        id: DrawId,
        prize: String,
        closes_at: DateTime<Utc>,
        winners: u32,
        at: DateTime<Utc>,
    ) -> Result<Committed<DrawTerms>, EngineError> {
        let commitment = ygor_audit::seed_commitment(&self.inner.seeds.draw(id));
        let terms = DrawTerms { prize, closes_at, winners, commitment };
        self.execute(Plan::new().draw(id), OutsideLog::default(), at, |held| {
            let draw = held.draw(id);
            Ok(match draw.terms() {
                Some(existing) if *existing == terms => {
                    Decided::Replay { outcome: terms.clone(), original: first_event("draw", id.to_string()) }
                }
                Some(_) => return Err(LedgerError::IdConflict { what: format!("draw_id {id}") }.into()),
                None => {
                    let events = draw.decide(DrawCommand::Create { terms: terms.clone(), at })?;
                    Decided::apply(Changes::draw(id, events), terms.clone())
                }
            })
        })
        .await
    }

    /// Spends a citizen's gold tokens as tickets; answers the citizen's tickets in the draw.
    pub async fn enter_draw(
        &self,
        id: DrawId,
        citizen_id: CitizenId,
        tickets: u64,
        at: DateTime<Utc>,
    ) -> Result<Committed<u64>, EngineError> {
        self.execute(Plan::new().draw(id).wallet_account(citizen_id), OutsideLog::default(), at, |held| {
            Ok(operations::enter_draw(held.draw(id), held.wallet(citizen_id), id, citizen_id, tickets, at)?)
        })
        .await
    }

    /// Closes a draw after `closes_at`: reveals its seed and draws the winners (docs/audit.md).
    /// Closing again answers the same result.
    pub async fn close_draw(&self, id: DrawId, at: DateTime<Utc>) -> Result<Committed<DrawResult>, EngineError> {
        let seed = self.inner.seeds.draw(id);
        self.execute(Plan::new().draw(id), OutsideLog::default(), at, |held| {
            let draw = held.draw(id);
            let terms = draw.terms().ok_or(LedgerError::UnknownDraw)?;
            if let Some(result) = draw.result().cloned() {
                let original =
                    EventRef { aggregate_type: "draw", aggregate_id: id.to_string(), sequence: draw.version() };
                return Ok(Decided::Replay { outcome: result, original });
            }
            if at < terms.closes_at {
                return Err(LedgerError::DrawOpen.into());
            }
            let entries: Vec<ygor_audit::DrawEntry> = draw
                .entries()
                .iter()
                .map(|(citizen, tickets)| ygor_audit::DrawEntry { citizen_id: citizen.to_string(), tickets: *tickets })
                .collect();
            let invalid = |error: ygor_audit::AuditError| EngineError::Inconsistent(format!("draw {id}: {error}"));
            let root = ygor_audit::entries_root(&entries).map_err(invalid)?;
            let winners =
                ygor_audit::draw_winners(&seed, &id.to_string(), &entries, terms.winners as usize).map_err(invalid)?;
            let winners = winners
                .iter()
                .map(|text| {
                    CitizenId::parse(text).map_err(|_| EngineError::Inconsistent(format!("draw {id}: winner {text}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let result =
                DrawResult { seed: hex::encode(seed), entries_root: hex::encode(root), winners, closed_at: at };
            let events = draw.decide(DrawCommand::Close { result: result.clone() })?;
            Ok(Decided::apply(Changes::draw(id, events), result))
        })
        .await
    }

    pub async fn certify(&self, command: Certify) -> Result<Committed<CertificationOutcome>, EngineError> {
        self.commit_gold_period_for(command.at).await?;
        self.execute(certification_plan(&command), OutsideLog::default(), command.at, |held| {
            self.decide_certification(held, &command)
        })
        .await
    }

    /// Certifies actions of one association in order, each decided as [`Engine::certify`]
    /// decides it alone, on the states the ones before it left: two for one citizen share its
    /// monthly cap, the envelope is debited one after the other, and an action id certified
    /// earlier in the batch is a retry or a conflict. They are committed together, in as few
    /// groups as the committer makes of them (see [`Engine::execute_in_order`]). Each answer is
    /// the certification's, or the ledger's refusal of it.
    pub async fn certify_batch(
        &self,
        commands: &[Certify],
    ) -> Result<Vec<Result<Committed<CertificationOutcome>, EngineError>>, EngineError> {
        let mut times: Vec<DateTime<Utc>> = commands.iter().map(|command| command.at).collect();
        times.dedup();
        for at in times {
            self.commit_gold_period_for(at).await?;
        }
        let operations: Vec<(Plan, DateTime<Utc>)> =
            commands.iter().map(|command| (certification_plan(command), command.at)).collect();
        self.execute_in_order(&operations, |index, held| self.decide_certification(held, &commands[index])).await
    }

    /// Commits the gold period in force at `at`, if the rules have gold and none is committed
    /// yet (the jobs normally do it ahead of time).
    async fn commit_gold_period_for(&self, at: DateTime<Utc>) -> Result<(), EngineError> {
        let has_gold = self.rules().is_some_and(|rules| rules.rules.gold.is_some());
        if has_gold && self.gold_period_at(at).is_none() {
            self.maintain_gold(at).await?;
        }
        Ok(())
    }

    /// How the ledger decides a certification on what its plan holds: the one decision of
    /// [`Engine::certify`] and of each command of [`Engine::certify_batch`].
    fn decide_certification(
        &self,
        held: &Held,
        command: &Certify,
    ) -> Result<Decided<CertificationOutcome>, EngineError> {
        let partner = held.partner(command.association_id);
        // A retry (or a reused id) is answered from the earlier certification alone.
        if let Some(earlier) = held.earlier_certification() {
            return Ok(operations::recertify(partner, earlier, command)?);
        }
        let rules = self.rules();
        let mut command = command.clone();
        // The gold outcome: the formula of docs/api.md, with the seed of the period in force
        // when the certification arrived and the probability of the rules it is decided with.
        let gold = rules.as_ref().and_then(|rules| rules.rules.gold.clone());
        (command.gold, command.gold_period) = match (gold, self.gold_period_at(command.at)) {
            (Some(gold), Some(period)) => {
                let seed = self.inner.seeds.gold(period);
                (ygor_audit::gold_earned(&seed, &command.action_id.to_string(), gold.probability), Some(period))
            }
            _ => (false, None),
        };
        let wallet = held.crediting(command.citizen_id, command.action_id, &command.category, command.occurred_at);
        Ok(operations::certify(rules.as_deref(), partner, None, &wallet, command)?)
    }

    pub async fn revoke(
        &self,
        association_id: PartnerId,
        action_id: ActionId,
        reason: String,
        at: DateTime<Utc>,
    ) -> Result<Committed<RevocationOutcome>, EngineError> {
        self.run(|| async {
            // The citizen is in the certification's record, read before the wallet is locked.
            let Some((recorded, read)) = self.certification_of(association_id, action_id).await? else {
                return Err(AttemptError::from(LedgerError::UnknownAction(action_id)));
            };
            let citizen_id = recorded.citizen_id;
            let plan = Plan::new().certification(association_id, action_id).wallet(citizen_id);
            self.attempt(&plan, Some(read), OutsideLog::default(), at, |held| {
                let (partner, wallet) = (held.partner(association_id), held.wallet(citizen_id));
                let recorded = held.earlier_certification();
                Ok(operations::revoke(partner, wallet, recorded, association_id, action_id, reason.clone(), at)?)
            })
            .await
        })
        .await
    }

    pub async fn redeem(&self, command: Redeem) -> Result<Committed<RedemptionOutcome>, EngineError> {
        let plan = Plan::new().partner(command.venue_id).wallet(command.citizen_id);
        self.execute(plan, OutsideLog::default(), command.at, |held| {
            let (venue, wallet) = (held.partner(command.venue_id), held.wallet(command.citizen_id));
            Ok(operations::redeem(venue, wallet, command.clone())?)
        })
        .await
    }

    pub async fn settle(
        &self,
        venue_id: PartnerId,
        at: DateTime<Utc>,
    ) -> Result<Committed<operations::SettlementOutcome>, EngineError> {
        let settlement_id = SettlementId::from_uuid(uuid::Uuid::new_v4());
        self.execute(Plan::new().territory().partner(venue_id), OutsideLog::default(), at, |held| {
            Ok(operations::settle(held.territory(), held.partner(venue_id), venue_id, settlement_id, at)?)
        })
        .await
    }

    /// Sweeps the expired lots of the given wallets, in batches of [`SWEEP_BATCH`] wallets per
    /// transaction; each batch also credits the treasury once.
    pub async fn sweep(
        &self,
        mut candidates: Vec<CitizenId>,
        at: DateTime<Utc>,
    ) -> Result<Committed<SweepOutcome>, EngineError> {
        candidates.sort();
        candidates.dedup();
        let mut total = SweepOutcome::default();
        let mut position = self.inner.log.last_position().await?;
        for chunk in candidates.chunks(SWEEP_BATCH) {
            let plan = chunk.iter().fold(Plan::new().territory(), |plan, id| plan.wallet(*id));
            let committed = self
                .execute(plan, OutsideLog::default(), at, |held| {
                    let wallets: Vec<(CitizenId, &Wallet)> = chunk.iter().map(|id| (*id, held.wallet(*id))).collect();
                    Ok(operations::sweep_expired(held.territory(), &wallets, at)?)
                })
                .await?;
            total.expired_lots += committed.outcome.expired_lots;
            total.expired_tokens =
                total.expired_tokens.checked_add(committed.outcome.expired_tokens).ok_or(LedgerError::Overflow)?;
            position = position.max(committed.position);
        }
        Ok(Committed { outcome: total, position, replayed: false })
    }

    /// A copy of a citizen's wallet as the engine sees it (authoritative, not a projection).
    pub async fn wallet(&self, id: CitizenId) -> Result<Wallet, EngineError> {
        let held = match self.acquire(&Plan::new().wallet(id), None).await {
            Ok(held) => held,
            Err(AttemptError::Engine(error)) => return Err(error),
            Err(AttemptError::Conflict) => return Err(EngineError::Contention),
        };
        Ok(held.wallet(id).clone())
    }
}

#[cfg(test)]
mod tests {
    use ygor_ledger::partner::CertificationOutcome;
    use ygor_ledger::{CategoryId, Tokens};
    use ygor_store::Backend;

    use super::*;
    use crate::testing::{certification, fund_association, register_citizen, territory};
    use crate::{EngineOptions, Seeds};

    fn details(id: CitizenId) -> CitizenDetails {
        CitizenDetails { citizen_id: id.to_string(), neighbourhood: None, birth_year: None, email: None }
    }

    /// Codes drawn from this list, in order.
    fn drawn_from(codes: &[&str]) -> impl FnMut() -> String + Send + use<> {
        let mut codes: Vec<String> = codes.iter().rev().map(|code| (*code).to_owned()).collect();
        move || codes.pop().expect("a code left to draw")
    }

    #[tokio::test]
    async fn a_registration_whose_code_is_taken_draws_another_and_succeeds() {
        let (engine, _association, _citizen, _guard) = territory(Backend::Sqlite, EngineOptions::default()).await;
        let (first, second) = (CitizenId::from_uuid(uuid::Uuid::new_v4()), CitizenId::from_uuid(uuid::Uuid::new_v4()));
        let register = |id: CitizenId, token_hash: u8, codes: &[&str]| {
            engine.register_citizen(
                id,
                Demographics::default(),
                vec![],
                details(id),
                [token_hash; 32],
                drawn_from(codes),
                Utc::now(),
            )
        };
        let committed = register(first, 201, &["7K3FQ9RD"]).await.expect("registered");
        assert_eq!(committed.outcome, "7K3FQ9RD");
        let committed = register(second, 202, &["7K3FQ9RD", "AAAAAAAA"]).await.expect("registered all the same");
        assert_eq!(committed.outcome, "AAAAAAAA");
        assert_eq!(engine.log().citizen_with_code("AAAAAAAA").await.expect("read"), Some(second.to_string()));
        assert!(engine.wallet(second).await.expect("a wallet").holdings().is_registered());
    }

    #[tokio::test]
    async fn a_citizen_without_a_code_is_given_one_once() {
        let (engine, _association, citizen, _guard) = territory(Backend::Sqlite, EngineOptions::default()).await;
        let registered = engine.log().citizen_code(&citizen.to_string()).await.expect("read").expect("a code");
        // As a citizen registered before codes existed: no code yet.
        let older = CitizenId::from_uuid(uuid::Uuid::new_v4());
        assert_eq!(engine.citizen_code(citizen, drawn_from(&[])).await.expect("its code"), registered);
        let given = engine.citizen_code(older, drawn_from(&[&registered, "BBBBBBBB"])).await.expect("given");
        assert_eq!(given, "BBBBBBBB", "a taken code is drawn again");
        assert_eq!(engine.citizen_code(older, drawn_from(&["CCCCCCCC"])).await.expect("kept"), "BBBBBBBB");
    }

    type Answer = Result<Committed<CertificationOutcome>, EngineError>;

    fn tokens(answer: &Answer) -> Tokens {
        answer.as_ref().expect("certified").outcome.tokens
    }

    #[tokio::test]
    async fn a_batch_is_committed_in_far_fewer_groups_than_it_has_certifications() {
        let (engine, association, first, _guard) = territory(Backend::Sqlite, EngineOptions::default()).await;
        let second = register_citizen(&engine).await;
        let commands: Vec<Certify> =
            (0..300).map(|index| certification(association, if index % 2 == 0 { first } else { second })).collect();
        let groups_before = engine.commit_stats().groups.load(std::sync::atomic::Ordering::Relaxed);
        let answers = engine.certify_batch(&commands).await.expect("the batch is committed");
        let groups = engine.commit_stats().groups.load(std::sync::atomic::Ordering::Relaxed) - groups_before;
        assert!(groups <= 30, "300 certifications took {groups} groups");
        assert!(answers.iter().all(|answer| answer.as_ref().is_ok_and(|committed| !committed.replayed)));
        let positions: Vec<i64> = answers.iter().map(|answer| answer.as_ref().expect("certified").position).collect();
        assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "committed in the batch's order");
        for citizen in [first, second] {
            let wallet = engine.wallet(citizen).await.expect("a wallet");
            assert_eq!(wallet.holdings().held(), Tokens::new(1_500));
        }
        // The same batch again: every certification is answered from the log, nothing written.
        let last = engine.log().last_position().await.expect("a position");
        let again = engine.certify_batch(&commands).await.expect("answered");
        for (first, second) in answers.iter().zip(&again) {
            let (first, second) = (first.as_ref().expect("certified"), second.as_ref().expect("answered"));
            assert!(second.replayed);
            assert_eq!((&first.outcome, first.position), (&second.outcome, second.position));
        }
        assert_eq!(engine.log().last_position().await.expect("a position"), last);
    }

    #[tokio::test]
    async fn each_certification_of_a_batch_is_decided_on_what_the_ones_before_it_left() {
        let (log, _guard) = ygor_store::testing::fresh_event_log(Backend::Sqlite).await;
        let engine = Engine::open(log, Seeds::new(ygor_crypto::SecretKey::generate())).await.expect("opens");
        let rules = "[tokens]\nlifetime = \"P6M\"\n\n[[categories]]\nid = \"ecologie\"\nlabel = \"Écologie\"\n\
                     tokens_per_action = 10\ncap_per_citizen_per_month = 20\n\n[[categories]]\nid = \"culture\"\n\
                     label = \"Culture\"\ntokens_per_action = 3\n";
        let association = fund_association(&engine, rules, Tokens::new(26)).await;
        let (one, two) = (register_citizen(&engine).await, register_citizen(&engine).await);
        let culture = |citizen| Certify {
            category: CategoryId::parse("culture").expect("a category"),
            ..certification(association, citizen)
        };
        let first = certification(association, one);
        let commands = vec![
            first.clone(),
            certification(association, one),
            // Over the monthly cap: certified, no tokens.
            certification(association, one),
            // 6 tokens left in the envelope: not enough for 10, enough for 3.
            certification(association, two),
            culture(two),
            // The first again, then its id with another request.
            first.clone(),
            Certify { fingerprint: "another request".to_owned(), ..first },
        ];
        let answers = engine.certify_batch(&commands).await.expect("the batch is committed");
        assert_eq!(tokens(&answers[0]), Tokens::new(10));
        assert_eq!(tokens(&answers[1]), Tokens::new(10));
        assert_eq!(tokens(&answers[2]), Tokens::new(0));
        assert!(
            matches!(answers[3], Err(EngineError::Ledger(ygor_ledger::LedgerError::EnvelopeExhausted { .. }))),
            "{:?}",
            answers[3]
        );
        assert_eq!(tokens(&answers[4]), Tokens::new(3));
        let (original, retry) = (answers[0].as_ref().expect("certified"), answers[5].as_ref().expect("a retry"));
        assert!(retry.replayed && !original.replayed);
        assert_eq!((&retry.outcome, retry.position), (&original.outcome, original.position));
        assert!(
            matches!(answers[6], Err(EngineError::Ledger(ygor_ledger::LedgerError::IdConflict { .. }))),
            "{:?}",
            answers[6]
        );
        assert_eq!(engine.wallet(one).await.expect("a wallet").holdings().held(), Tokens::new(20));
        assert_eq!(engine.wallet(two).await.expect("a wallet").holdings().held(), Tokens::new(3));
    }
}
