//! `ygor audit verify`: replays the whole log and checks everything an auditor would — that
//! events follow each other in every stream, that conservation holds after every event, every
//! partner and territory signature, that each certification earned what the rules in force said,
//! that each settlement is worth in euros what the rules in force said, and that every recorded
//! checkpoint's Merkle root matches the events. Each violation names the
//! position where it shows.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use ygor_audit::{MerkleLog, SignedCheckpoint};
use ygor_crypto::{PublicKey, SignedKind};
use ygor_ledger::books::{AnyEvent, Books, ConservationError};
use ygor_ledger::partner::{CertificationRecord, PartnerEvent, RedemptionRecord, SettlementValue};
use ygor_ledger::territory::TerritoryEvent;
use ygor_ledger::{CitizenId, Partner, PartnerId, Territory, Tokens, Wallet};
use ygor_store::{EventLog, Position, RecordedEvent, StoreError};

const PAGE: usize = 5_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub position: Position,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "position {}: {}", self.position, self.message)
    }
}

/// What a verification saw.
#[derive(Debug, Default)]
pub struct Report {
    pub events: u64,
    pub checkpoints: u64,
    pub signatures: u64,
    pub violations: Vec<Violation>,
}

/// A certification's gold outcome, checked once its period's seed is revealed.
struct PendingGold {
    certified: Position,
    action_id: String,
    gold: bool,
    probability: f64,
    earned_tokens: bool,
}

#[derive(Default)]
struct Verifier {
    report: Report,
    sequences: BTreeMap<(String, String), usize>,
    tree: MerkleLog,
    books: Books,
    balanced: bool,
    territory: Territory,
    partners: BTreeMap<PartnerId, Partner>,
    wallets: BTreeMap<CitizenId, Wallet>,
    /// Tokens each wallet event said, to check the partner's mirror of the same transaction.
    credited: BTreeMap<ygor_ledger::ActionId, (Position, Tokens)>,
    spent: BTreeMap<ygor_ledger::RedemptionId, (Position, Tokens)>,
    draws: BTreeMap<ygor_ledger::DrawId, ygor_ledger::Draw>,
    /// Certifications whose gold outcome waits for their period's seed: (position, action, gold, probability).
    gold_pending: BTreeMap<u64, Vec<PendingGold>>,
    /// Aggregates whose events could not be applied: later checks on them would only repeat it.
    broken: std::collections::BTreeSet<(String, String)>,
}

/// Runs `apply`, turning a panic (a state a valid log can never reach) into an error message.
fn guarded(apply: impl FnOnce()) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(apply)).map_err(|panic| {
        panic
            .downcast_ref::<&str>()
            .map(|text| (*text).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "the event cannot be applied".to_owned())
    })
}

fn as_object(value: &Value) -> Option<&Map<String, Value>> {
    value.as_object()
}

fn text<'a>(object: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    object.get(field).and_then(Value::as_str)
}

fn same_time(object: &Map<String, Value>, field: &str, expected: DateTime<Utc>) -> bool {
    text(object, field)
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .is_some_and(|time| time.with_timezone(&Utc) == expected)
}

impl Verifier {
    fn violation(&mut self, position: Position, message: impl Into<String>) {
        self.report.violations.push(Violation { position, message: message.into() });
    }

    fn event(&mut self, recorded: &RecordedEvent, territory_key: &PublicKey) {
        self.report.events += 1;
        let position = recorded.position;
        let stream = (recorded.event.aggregate_type.clone(), recorded.event.aggregate_id.clone());
        let expected = self.sequences.get(&stream).copied().unwrap_or(0) + 1;
        if recorded.event.sequence != expected {
            self.violation(
                position,
                format!(
                    "{} {} has sequence {} where {} was expected: an event is missing, repeated or moved",
                    stream.0, stream.1, recorded.event.sequence, expected
                ),
            );
        }
        self.sequences.insert(stream.clone(), recorded.event.sequence.max(expected));
        match ygor_audit::event_leaf_hash(&crate::audit::exported(recorded)) {
            Ok(hash) => {
                self.tree.push_leaf_hash(hash);
            }
            Err(error) => self.violation(position, format!("the event has no canonical form: {error}")),
        }
        let event = match ygor_ledger::codec::decode_serialized(&recorded.event) {
            Ok(event) => event,
            Err(error) => {
                self.violation(position, format!("the event does not decode: {error}"));
                self.broken.insert(stream);
                return;
            }
        };
        self.check_before(position, &event, territory_key);
        match self.books.post(&event) {
            Ok(()) => self.balanced = true,
            Err(error @ ConservationError::Overdrawn { .. }) => {
                self.violation(position, format!("conservation: {error}"))
            }
            Err(error) => {
                if self.balanced {
                    self.violation(position, format!("conservation: {error}"));
                }
                self.balanced = false;
            }
        }
        if !self.broken.contains(&stream) {
            let applied = match event {
                AnyEvent::Territory(event) => {
                    let territory = &mut self.territory;
                    guarded(|| territory.apply_event(event))
                }
                AnyEvent::Partner(id, event) => {
                    let partner = self.partners.entry(id).or_default();
                    guarded(|| partner.apply_event(event))
                }
                AnyEvent::Wallet(id, event) => {
                    let wallet = self.wallets.entry(id).or_default();
                    guarded(|| wallet.apply_event(event))
                }
                AnyEvent::Draw(id, event) => {
                    let draw = self.draws.entry(id).or_default();
                    guarded(|| draw.apply_event(event))
                }
                AnyEvent::Mission(..) => Ok(()),
            };
            if let Err(message) = applied {
                self.violation(position, format!("the event cannot follow its stream: {message}"));
                self.broken.insert(stream);
            }
        }
    }

    /// Checks that need the states before the event is applied.
    fn check_before(&mut self, position: Position, event: &AnyEvent, territory_key: &PublicKey) {
        use ygor_ledger::wallet::WalletEvent;
        match event {
            AnyEvent::Wallet(_, WalletEvent::ActionCertified { action_id, tokens, .. }) => {
                self.credited.insert(*action_id, (position, *tokens));
            }
            AnyEvent::Wallet(_, WalletEvent::TokensRedeemed { redemption_id, amount, spent, .. }) => {
                let total = spent.iter().try_fold(Tokens::ZERO, |sum, spend| sum.checked_add(spend.amount));
                if total != Some(*amount) {
                    self.violation(
                        position,
                        format!("the redemption spends {total:?} from its lots but says {amount}"),
                    );
                }
                self.spent.insert(*redemption_id, (position, *amount));
            }
            AnyEvent::Wallet(_, WalletEvent::TokensExpired { lots, amount, .. }) => {
                let total = lots.iter().try_fold(Tokens::ZERO, |sum, spend| sum.checked_add(spend.amount));
                if total != Some(*amount) {
                    self.violation(position, format!("the expiry takes {total:?} from its lots but says {amount}"));
                }
            }
            AnyEvent::Partner(id, PartnerEvent::CertificationRecorded { record, certified_at }) => {
                self.check_certification(position, *id, record, *certified_at);
            }
            AnyEvent::Partner(id, PartnerEvent::RedemptionRecorded { record, redeemed_at }) => {
                self.check_redemption(position, *id, record, *redeemed_at, territory_key);
            }
            AnyEvent::Partner(_, PartnerEvent::VenueSettled { amount, value, .. }) => {
                self.check_settlement_value(position, *amount, value.as_ref())
            }
            AnyEvent::Territory(TerritoryEvent::GoldSeedRevealed { period, seed }) => {
                self.check_gold_seed(position, *period, seed)
            }
            AnyEvent::Draw(id, ygor_ledger::draw::DrawEvent::DrawClosed { result }) => {
                self.check_draw(position, *id, result)
            }
            AnyEvent::Territory(TerritoryEvent::CheckpointRecorded { checkpoint }) => {
                self.report.checkpoints += 1;
                let signed = SignedCheckpoint {
                    tree_size: checkpoint.tree_size,
                    root_hash: checkpoint.root_hash.clone(),
                    signed_at: checkpoint.signed_at.clone(),
                    signature: checkpoint.signature.clone(),
                    public_key: checkpoint.public_key.clone(),
                };
                if let Err(error) = ygor_audit::verify_checkpoint_from(&signed, territory_key) {
                    self.violation(position, format!("checkpoint signature: {error}"));
                }
                self.report.signatures += 1;
                // The checkpoint was signed before it was appended: it covers earlier events only.
                let leaves_before = self.tree.len().saturating_sub(1);
                match self.tree.root(checkpoint.tree_size).filter(|_| checkpoint.tree_size <= leaves_before) {
                    Some(root) if hex::encode(root) == checkpoint.root_hash => {}
                    Some(root) => self.violation(
                        position,
                        format!(
                            "checkpoint of {} events has root {} but the log gives {}: an earlier event was changed, removed or reordered",
                            checkpoint.tree_size,
                            checkpoint.root_hash,
                            hex::encode(root)
                        ),
                    ),
                    None => self.violation(
                        position,
                        format!("checkpoint covers {} events but only {leaves_before} precede it", checkpoint.tree_size),
                    ),
                }
            }
            _ => {}
        }
    }

    /// A settlement is valued at the rules in force when it happened: their version, their
    /// `token_value_cents`, and `amount_cents = amount × token_value_cents`; under rules without
    /// `[settlement]` it has no value in euros.
    fn check_settlement_value(&mut self, position: Position, amount: Tokens, value: Option<&SettlementValue>) {
        let price = self.territory.token_value();
        match (value, price) {
            (None, None) => {}
            (Some(value), None) => self.violation(
                position,
                format!(
                    "the settlement is valued at {} euro cents under rules version {}, but the rules in force give \
                     tokens no value",
                    value.amount_cents, value.rules_version
                ),
            ),
            (None, Some(price)) => self.violation(
                position,
                format!(
                    "the settlement has no value in euros, but rules version {} in force value a token at {} cents",
                    price.rules_version, price.settlement.token_value_cents
                ),
            ),
            (Some(value), Some(price)) => {
                let expected = SettlementValue::of(amount, price);
                if expected.as_ref() != Some(value) {
                    let expected_cents =
                        expected.map_or_else(|| "an overflow".to_owned(), |e| e.amount_cents.to_string());
                    self.violation(
                        position,
                        format!(
                            "the settlement of {amount} tokens is valued at {} euro cents ({} cents a token, rules \
                             version {}) where rules version {} in force give {expected_cents} ({} cents a token)",
                            value.amount_cents,
                            value.token_value_cents,
                            value.rules_version,
                            price.rules_version,
                            price.settlement.token_value_cents
                        ),
                    );
                }
            }
        }
    }

    fn check_gold_seed(&mut self, position: Position, period: u64, seed_hex: &str) {
        let committed = self.territory.gold_periods().get(period as usize).map(|entry| entry.commitment.clone());
        let seed = ygor_audit::decode_hex_32(seed_hex, "seed");
        let Ok(seed) = seed else {
            return self.violation(position, format!("gold period {period}: the revealed seed is not 32 bytes of hex"));
        };
        if committed.as_deref().is_none_or(|commitment| !ygor_audit::seed_matches_commitment(&seed, commitment)) {
            self.violation(position, format!("gold period {period}: the revealed seed does not match its commitment"));
        }
        for pending in self.gold_pending.remove(&period).unwrap_or_default() {
            let PendingGold { certified, action_id, gold, probability, earned_tokens } = pending;
            let seed_gives = ygor_audit::gold_earned(&seed, &action_id, probability);
            // An action that earned no tokens earns no gold whatever the seed gives. Logs written
            // before that rule hold such actions with the seed's gold: both read as true.
            let expected = if earned_tokens { seed_gives } else { gold && seed_gives };
            if gold != expected {
                self.violation(
                    certified,
                    format!("action {action_id}: gold is {gold} where the seed of period {period} gives {expected}"),
                );
            }
        }
    }

    fn check_draw(&mut self, position: Position, id: ygor_ledger::DrawId, result: &ygor_ledger::draw::DrawResult) {
        let Some(terms) = self.draws.get(&id).and_then(|draw| draw.terms().cloned()) else {
            return self.violation(position, format!("draw {id} closes without having been created"));
        };
        let Ok(seed) = ygor_audit::decode_hex_32(&result.seed, "seed") else {
            return self.violation(position, format!("draw {id}: the revealed seed is not 32 bytes of hex"));
        };
        if !ygor_audit::seed_matches_commitment(&seed, &terms.commitment) {
            self.violation(position, format!("draw {id}: the revealed seed does not match its commitment"));
        }
        if result.closed_at < terms.closes_at {
            self.violation(position, format!("draw {id} closed before its closes_at"));
        }
        let entries: Vec<ygor_audit::DrawEntry> = self.draws[&id]
            .entries()
            .iter()
            .map(|(citizen, tickets)| ygor_audit::DrawEntry { citizen_id: citizen.to_string(), tickets: *tickets })
            .collect();
        match ygor_audit::entries_root(&entries) {
            Ok(root) if hex::encode(root) == result.entries_root => {}
            _ => self.violation(position, format!("draw {id}: entries_root does not match the recorded entries")),
        }
        let winners: Vec<String> = result.winners.iter().map(ToString::to_string).collect();
        match ygor_audit::draw_winners(&seed, &id.to_string(), &entries, terms.winners as usize) {
            Ok(expected) if expected == winners => {}
            _ => self.violation(position, format!("draw {id}: the winners are not the ones the seed draws")),
        }
    }

    fn partner_key(&self, id: PartnerId) -> Option<PublicKey> {
        self.partners
            .get(&id)
            .and_then(Partner::registration)
            .and_then(|registration| PublicKey::parse(&registration.public_key).ok())
    }

    fn check_certification(
        &mut self,
        position: Position,
        association: PartnerId,
        record: &CertificationRecord,
        at: DateTime<Utc>,
    ) {
        self.report.signatures += 1;
        match self.credited.remove(&record.action_id) {
            Some((_, tokens)) if tokens == record.outcome.tokens => {}
            Some((wallet_position, tokens)) => self.violation(
                wallet_position,
                format!("the wallet is credited {tokens} tokens where the association's record at position {position} says {}", record.outcome.tokens),
            ),
            None => self.violation(position, "no wallet was credited for this certification"),
        }
        let request = record.request.parse().ok();
        let Some(object) = request.as_ref().and_then(as_object) else {
            return self.violation(position, "the certification has no signed request");
        };
        match self.partner_key(association) {
            None => self.violation(position, format!("association {association} has no registered key")),
            Some(key) => {
                if let Err(error) = ygor_crypto::verify_object(SignedKind::Certification, object, &key) {
                    self.violation(position, format!("certification signature: {error}"));
                }
            }
        }
        let matches = text(object, "action_id") == Some(&record.action_id.to_string())
            && text(object, "association_id") == Some(&association.to_string())
            && text(object, "citizen_id") == Some(&record.citizen_id.to_string())
            && text(object, "category") == Some(record.category.as_str())
            && object.get("quantity").and_then(Value::as_u64) == Some(record.quantity)
            && same_time(object, "occurred_at", record.occurred_at)
            && text(object, "signature") == Some(record.signature.as_str());
        if !matches {
            self.violation(position, "the recorded certification differs from what the association signed");
        }
        // Re-apply the rules of the recorded version to the wallet as it was before this action.
        let found =
            self.territory.rules_versions().iter().find(|version| version.version == record.rules_version).cloned();
        let Some(rules) = found else {
            return self
                .violation(position, format!("rules version {} was never published before", record.rules_version));
        };
        let Some(category) = rules.rules.category(record.category.as_str()) else {
            return self.violation(
                position,
                format!("category {} is not in rules version {}", record.category, rules.version),
            );
        };
        let Some(base) = category.tokens_for(record.quantity) else {
            return self.violation(position, "the rules overflow for this quantity");
        };
        let wallet = self.wallets.get(&record.citizen_id).cloned().unwrap_or_default();
        let earned_now = wallet.earned_in_month(&record.category, record.occurred_at);
        // The wallet's event of the same transaction precedes this one: take this action out.
        let counted = wallet.counts_in_cap(record.action_id);
        let earned_before = if counted { earned_now.saturating_sub(record.outcome.tokens) } else { earned_now };
        let expected = match category.cap_per_citizen_per_month {
            None => Tokens::new(base),
            Some(cap) => Tokens::new(base).min(Tokens::new(cap).saturating_sub(earned_before)),
        };
        if expected != record.outcome.tokens {
            self.violation(
                position,
                format!(
                    "the action earned {} tokens where rules version {} give {expected}",
                    record.outcome.tokens, rules.version
                ),
            );
        }
        match (&rules.rules.gold, record.gold_period) {
            (None, None) => {}
            (None, Some(_)) => self.violation(position, "a gold period is recorded under rules without gold"),
            (Some(_), None) if record.outcome.gold => self.violation(position, "a gold token without a gold period"),
            (Some(_), None) => {}
            (Some(gold), Some(period)) => {
                let in_period = self
                    .territory
                    .gold_periods()
                    .get(period as usize)
                    .is_some_and(|entry| entry.starts_at <= at && at < entry.ends_at);
                if !in_period {
                    self.violation(
                        position,
                        format!("gold period {period} was not the period in force when the certification arrived"),
                    );
                }
                self.gold_pending.entry(period).or_default().push(PendingGold {
                    certified: position,
                    action_id: record.action_id.to_string(),
                    gold: record.outcome.gold,
                    probability: gold.probability,
                    earned_tokens: !record.outcome.tokens.is_zero(),
                });
            }
        }
        let expires_at = if expected.is_zero() { None } else { rules.rules.lifetime.add_to(at) };
        if record.outcome.expires_at != expires_at {
            self.violation(position, "the lot's expiry is not the lifetime of the rules in force");
        }
    }

    fn check_redemption(
        &mut self,
        position: Position,
        venue: PartnerId,
        record: &RedemptionRecord,
        at: DateTime<Utc>,
        territory_key: &PublicKey,
    ) {
        self.report.signatures += 2;
        match self.spent.remove(&record.redemption_id) {
            Some((_, amount)) if amount == record.amount => {}
            Some((wallet_position, amount)) => self.violation(
                wallet_position,
                format!(
                    "the wallet spends {amount} tokens where the venue's record at position {position} says {}",
                    record.amount
                ),
            ),
            None => self.violation(position, "no wallet spent the tokens of this redemption"),
        }
        let request = record.request.parse().ok();
        let Some(object) = request.as_ref().and_then(as_object) else {
            return self.violation(position, "the redemption has no signed request");
        };
        match self.partner_key(venue) {
            None => self.violation(position, format!("venue {venue} has no registered key")),
            Some(key) => {
                if let Err(error) = ygor_crypto::verify_object(SignedKind::Redemption, object, &key) {
                    self.violation(position, format!("redemption signature: {error}"));
                }
            }
        }
        // The venue signed either the voucher itself or its countermark, which must be the one
        // derived from the recorded voucher.
        let presented = match (text(object, "voucher"), text(object, "countermark")) {
            (Some(voucher), None) => voucher == record.voucher,
            (None, Some(countermark)) => {
                ygor_crypto::read_short_code(countermark) == Some(ygor_crypto::voucher_countermark(&record.voucher))
            }
            _ => false,
        };
        let offer_id = record.offer_id.map(|offer_id| offer_id.to_string());
        let matches = text(object, "redemption_id") == Some(&record.redemption_id.to_string())
            && text(object, "venue_id") == Some(&venue.to_string())
            && presented
            && text(object, "offer_id") == offer_id.as_deref()
            && object.get("amount").and_then(Value::as_u64) == Some(record.amount.value());
        if !matches {
            self.violation(position, "the recorded redemption differs from what the venue signed");
        }
        match ygor_crypto::open_voucher(&record.voucher, territory_key) {
            Err(error) => self.violation(position, format!("voucher: {error}")),
            Ok(claims) => {
                let valid = claims.citizen_id == record.citizen_id.as_uuid()
                    && claims.voucher_id == record.voucher_id.as_uuid()
                    && record.amount.value() <= claims.amount_max
                    && at < claims.expires_at
                    && claims.offer_id.is_none_or(|offer| Some(offer) == record.offer_id.map(|id| id.as_uuid()));
                if !valid {
                    self.violation(
                        position,
                        "the redemption does not match its voucher (citizen, id, amount, offer or validity)",
                    );
                }
            }
        }
        // The offer's capacity and dates, re-applied on the venue's offers as they stood.
        if let Some(offer_id) = record.offer_id {
            let available = match self.partners.get(&venue) {
                Some(venue_state) => venue_state.ensure_offer_available(offer_id, at),
                None => Err(ygor_ledger::LedgerError::UnknownOffer(offer_id)),
            };
            if let Err(error) = available {
                self.violation(position, format!("offer: {error}"));
            }
        }
    }
}

/// Verifies the whole log with the territory's public key.
pub async fn verify(log: &EventLog, territory_key: &PublicKey) -> Result<Report, StoreError> {
    let target = log.last_position().await?;
    let safe = log.wait_until_safe(target, std::time::Duration::from_secs(120)).await?;
    let mut verifier = Verifier { balanced: true, ..Verifier::default() };
    if safe < target {
        verifier
            .violation(safe, format!("positions after {safe} up to {target} stayed in flight; they were not verified"));
    }
    // Applying a tampered event may hit an invariant's panic: report it, quietly.
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut after = 0;
    let outcome = loop {
        let page = match log.read_after(after, PAGE).await {
            Ok(page) => page,
            Err(error) => break Err(error),
        };
        for recorded in &page {
            verifier.event(recorded, territory_key);
            after = recorded.position;
        }
        if page.len() < PAGE {
            break Ok(());
        }
    };
    std::panic::set_hook(previous_hook);
    outcome?;
    Ok(verifier.report)
}

/// A draw recomputed from the log by `ygor audit draw`.
#[derive(Debug)]
pub struct DrawReport {
    pub summary: Value,
    pub problems: Vec<String>,
}

/// Recomputes one draw from its events: the seed against the commitment, the entries root and
/// the winners.
pub async fn recompute_draw(log: &EventLog, id: ygor_ledger::DrawId) -> Result<DrawReport, StoreError> {
    use cqrs_es::Aggregate;
    let mut draw = ygor_ledger::Draw::default();
    let mut problems = Vec::new();
    for stored in log.load_stream::<ygor_ledger::Draw>(&id.to_string(), 0).await? {
        let payload = ygor_ledger::codec::Payload::Value(&stored.payload);
        match ygor_ledger::codec::decode(&stored.event_type, &stored.event_version, payload) {
            Ok(event) => draw.apply(event),
            Err(error) => problems.push(format!("sequence {}: the event does not decode: {error}", stored.sequence)),
        }
    }
    let Some(terms) = draw.terms().cloned() else {
        return Ok(DrawReport {
            summary: serde_json::json!({ "draw_id": id.to_string(), "found": false }),
            problems: vec![format!("no draw {id} in the log")],
        });
    };
    let entries: Vec<ygor_audit::DrawEntry> = draw
        .entries()
        .iter()
        .map(|(citizen, tickets)| ygor_audit::DrawEntry { citizen_id: citizen.to_string(), tickets: *tickets })
        .collect();
    let root = ygor_audit::entries_root(&entries).map(hex::encode).unwrap_or_default();
    let mut summary = serde_json::json!({
        "draw_id": id.to_string(),
        "prize": terms.prize,
        "closes_at": terms.closes_at,
        "commitment": terms.commitment,
        "entries": entries.iter().map(|entry| serde_json::json!({ "citizen_id": entry.citizen_id, "tickets": entry.tickets })).collect::<Vec<_>>(),
        "entries_root": root,
    });
    match draw.result() {
        None => problems.push("the draw is not closed yet: nothing to recompute".to_owned()),
        Some(result) => {
            let recorded: Vec<String> = result.winners.iter().map(ToString::to_string).collect();
            summary["seed"] = Value::from(result.seed.clone());
            summary["recorded_winners"] = serde_json::json!(recorded);
            match ygor_audit::decode_hex_32(&result.seed, "seed") {
                Err(_) => problems.push("the revealed seed is not 32 bytes of hex".to_owned()),
                Ok(seed) => {
                    if !ygor_audit::seed_matches_commitment(&seed, &terms.commitment) {
                        problems.push("the revealed seed does not match the commitment".to_owned());
                    }
                    if result.entries_root != root {
                        problems.push(format!(
                            "the recorded entries_root {} differs from the recomputed {root}",
                            result.entries_root
                        ));
                    }
                    match ygor_audit::draw_winners(&seed, &id.to_string(), &entries, terms.winners as usize) {
                        Ok(winners) => {
                            if winners != recorded {
                                problems.push("the recorded winners differ from the ones the seed draws".to_owned());
                            }
                            summary["recomputed_winners"] = serde_json::json!(winners);
                        }
                        Err(error) => problems.push(format!("cannot draw: {error}")),
                    }
                }
            }
        }
    }
    summary["ok"] = Value::from(problems.is_empty());
    Ok(DrawReport { summary, problems })
}
