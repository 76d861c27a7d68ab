//! Micro-benchmarks of the hot path, one piece at a time (criterion):
//!
//! ```text
//! cargo bench --bench micro                  # everything, about a minute and a half
//! cargo bench --bench micro -- crypto/       # a filter, as criterion takes it
//! ```
//!
//! * the ledger's decision and apply of the two hot commands (certify, redeem), and the JSON
//!   serialisation of their events (what the engine does before appending);
//! * RFC 8785 canonical JSON, the signed message, ed25519 verification one by one and in a batch,
//!   signing (the client's side), and the voucher check;
//! * the Merkle append and the leaf hash of an exported event;
//! * the projections' apply of one stored event (decode + Merkle leaf + read models), from the
//!   payload `Value` (the live runner) and from the payload text (a replay), and of a decoded one;
//!   the typed decode and the leaf hash from the text alone.
//!
//! `cargo test --all-targets` runs this binary without `--bench`: criterion then runs each body
//! once, as a test. See docs/performance.md for the figures measured on the project's machine.

/// mimalloc instead of glibc malloc: the server, the replay and the benchmarks allocate many small,
/// short-lived objects per request and per event, where glibc's allocator costs up to half the CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::persist::SerializedEvent;
use cqrs_es::{Aggregate, DomainEvent};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Map, Value, json};
use ygor_crypto::{PublicKey, SecretKey, Signature, SignedKind, VoucherClaims};
use ygor_ledger::books::AnyEvent;
use ygor_ledger::operations::{self, Certify, Changes, Decided, Redeem};
use ygor_ledger::partner::{PartnerCommand, SignedRequest};
use ygor_ledger::territory::{RulesVersion, TerritoryCommand};
use ygor_ledger::wallet::{Demographics, VerifiedVoucher, WalletCommand};
use ygor_ledger::{
    ActionId, CategoryId, CitizenId, LotId, Partner, PartnerId, PartnerKind, RedemptionId, Territory, Tokens,
    VoucherId, Wallet,
};
use ygor_projections::ReadModels;
use ygor_store::{RecordedEvent, StoredEvent};

/// Rules as the load benchmark uses them: no monthly cap, so that caps never limit a run.
/// The rules both benchmarks run under (no caps, so only envelopes and balances limit).
const RULES: &str = include_str!("bench_rules.toml");

/// How many citizens the simulated territory has, and how many certifications its association
/// already recorded before the benchmarks run (its state grows with them).
const CITIZENS: usize = 1_000;
const PRIOR_CERTIFICATIONS: usize = 2_000;
/// Stored events the projection benchmarks cycle through.
const POOL_CERTIFICATIONS: usize = 10_000;

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).single().expect("valid time")
}

/// The ledger's states, built through its own decisions, and every event they produced, stored
/// as the engine stores them (serialised, with a position).
struct Sim {
    territory: Territory,
    association: (PartnerId, Partner),
    venue: (PartnerId, Partner),
    citizens: Vec<(CitizenId, Wallet)>,
    association_key: SecretKey,
    venue_key: SecretKey,
    territory_key: SecretKey,
    recorded: Vec<RecordedEvent>,
    now: DateTime<Utc>,
}

fn stored<A: Aggregate>(
    id: &str,
    first: usize,
    events: &[A::Event],
    position: i64,
    at: DateTime<Utc>,
) -> Vec<RecordedEvent> {
    events
        .iter()
        .enumerate()
        .map(|(index, event)| RecordedEvent {
            position: position + index as i64,
            recorded_at: at,
            event: SerializedEvent::new(
                id.to_owned(),
                first + index,
                A::TYPE.to_owned(),
                event.event_type(),
                event.event_version(),
                serde_json::to_value(event).expect("event serialises"),
                json!({}),
            ),
        })
        .collect()
}

impl Sim {
    fn new() -> Self {
        let mut sim = Sim {
            territory: Territory::default(),
            association: (PartnerId::from_uuid(uuid::Uuid::new_v4()), Partner::default()),
            venue: (PartnerId::from_uuid(uuid::Uuid::new_v4()), Partner::default()),
            citizens: Vec::new(),
            association_key: SecretKey::from_seed(&[1; 32]),
            venue_key: SecretKey::from_seed(&[2; 32]),
            territory_key: SecretKey::from_seed(&[3; 32]),
            recorded: Vec::new(),
            now: start_time(),
        };
        let rules = ygor_rules::Rules::parse(RULES).expect("rules");
        sim.territory_command(TerritoryCommand::PublishRules { rules, source: RULES.to_owned(), at: sim.now });
        sim.territory_command(TerritoryCommand::MintSupply { amount: Tokens::new(1_000_000_000_000), at: sim.now });
        for (kind, key) in
            [(PartnerKind::Association, sim.association_key.clone()), (PartnerKind::Venue, sim.venue_key.clone())]
        {
            let command = PartnerCommand::Register {
                kind,
                name: format!("{kind:?} du banc d'essai"),
                public_key: key.public_key().to_string(),
                at: sim.now,
            };
            let events = Partner::default().decide(command).expect("register");
            let id = if kind == PartnerKind::Association { sim.association.0 } else { sim.venue.0 };
            sim.apply(Changes { partners: vec![(id, events)], ..Changes::default() });
        }
        let decided = operations::allocate_envelope(
            &sim.territory,
            &sim.association.1,
            sim.association.0,
            Tokens::new(10_000_000_000),
            sim.now,
        )
        .expect("allocate");
        sim.apply_decided(decided);
        for index in 0..CITIZENS {
            let id = CitizenId::from_uuid(uuid::Uuid::new_v4());
            let demographics =
                Demographics { neighbourhood: Some("Centre".to_owned()), birth_year: Some(1950 + (index % 60) as i32) };
            let interests = vec![CategoryId::parse("ecologie").expect("category")];
            let events = Wallet::default()
                .decide(WalletCommand::Register { demographics, interests, at: sim.now })
                .expect("register");
            sim.citizens.push((id, Wallet::default()));
            sim.apply(Changes { wallets: vec![(id, events)], ..Changes::default() });
        }
        sim
    }

    fn rules(&self) -> RulesVersion {
        self.territory.rules_in_force().cloned().expect("rules published")
    }

    fn next_position(&self) -> i64 {
        self.recorded.len() as i64 + 1
    }

    fn territory_command(&mut self, command: TerritoryCommand) {
        let events = self.territory.decide(command).expect("territory command");
        self.apply(Changes { territory: events, ..Changes::default() });
    }

    fn apply_decided<T>(&mut self, decided: Decided<T>) {
        if let Decided::Apply { changes, .. } = decided {
            self.apply(changes);
        }
    }

    /// Applies the changes to the states and records their events, in the engine's order
    /// (wallets, partners, territory).
    fn apply(&mut self, changes: Changes) {
        let at = self.now;
        for (id, events) in changes.wallets {
            let wallet = &mut self.citizens.iter_mut().find(|(key, _)| *key == id).expect("citizen").1;
            let records =
                stored::<Wallet>(&id.to_string(), wallet.version() + 1, &events, self.recorded.len() as i64 + 1, at);
            self.recorded.extend(records);
            events.into_iter().for_each(|event| wallet.apply_event(event));
        }
        for (id, events) in changes.partners {
            let partner = if id == self.association.0 { &mut self.association.1 } else { &mut self.venue.1 };
            let records =
                stored::<Partner>(&id.to_string(), partner.version() + 1, &events, self.recorded.len() as i64 + 1, at);
            self.recorded.extend(records);
            events.into_iter().for_each(|event| partner.apply_event(event));
        }
        let first = self.territory.version() + 1;
        let records = stored::<Territory>("territory", first, &changes.territory, self.next_position(), at);
        self.recorded.extend(records);
        changes.territory.into_iter().for_each(|event| self.territory.apply_event(event));
    }

    /// A certification as the association signs it: the object, its signature, its fingerprint.
    fn signed_certification(&self, action_id: ActionId, citizen: usize, quantity: u64) -> (Map<String, Value>, String) {
        let Value::Object(object) = json!({
            "action_id": action_id.to_string(),
            "association_id": self.association.0.to_string(),
            "citizen_id": self.citizens[citizen].0.to_string(),
            "category": if quantity > 1 { "velo" } else { "ecologie" },
            "quantity": quantity,
            "occurred_at": (self.now - chrono::Duration::hours(1)).to_rfc3339(),
        }) else {
            unreachable!("an object")
        };
        let signed = ygor_crypto::sign_object(SignedKind::Certification, object, &self.association_key).expect("sign");
        let message = ygor_crypto::signing_message(SignedKind::Certification, &signed).expect("message");
        (signed, ygor_crypto::sha256_hex(&message))
    }

    /// The command the engine decides for a certification (as the route builds it).
    fn certify_command(&self, citizen: usize, quantity: u64, signed: (Map<String, Value>, String)) -> Certify {
        let (object, fingerprint) = signed;
        let action_id = ActionId::parse(object["action_id"].as_str().expect("action_id")).expect("uuid");
        Certify {
            action_id,
            association_id: self.association.0,
            citizen_id: self.citizens[citizen].0,
            category: CategoryId::parse(object["category"].as_str().expect("category")).expect("category"),
            quantity,
            occurred_at: self.now - chrono::Duration::hours(1),
            signature: object["signature"].as_str().expect("signature").to_owned(),
            request: SignedRequest::of(object),
            fingerprint,
            gold: false,
            gold_period: None,
            lot_id: LotId::from_uuid(uuid::Uuid::new_v4()),
            at: self.now,
        }
    }

    fn certify(&mut self, command: Certify) {
        let citizen = self.citizens.iter().position(|(id, _)| *id == command.citizen_id).expect("citizen");
        let rules = self.rules();
        let wallet = self.citizens[citizen].1.crediting(command.action_id, &command.category, command.occurred_at);
        let decided = operations::certify(Some(&rules), &self.association.1, None, &wallet, command).expect("certify");
        self.apply_decided(decided);
    }

    fn voucher(&self, citizen: usize, amount: u64) -> String {
        let claims = VoucherClaims {
            voucher_id: uuid::Uuid::new_v4(),
            citizen_id: self.citizens[citizen].0.as_uuid(),
            amount_max: amount,
            issued_at: self.now,
            expires_at: self.now + chrono::Duration::minutes(10),
            offer_id: None,
        };
        ygor_crypto::issue_voucher(&claims, &self.territory_key).expect("voucher")
    }

    /// A redemption as the venue signs it, and the command the engine decides for it.
    fn redeem_command(&self, citizen: usize, amount: u64) -> Redeem {
        let voucher = self.voucher(citizen, amount);
        let claims = ygor_crypto::open_voucher(&voucher, &self.territory_key.public_key()).expect("voucher opens");
        let redemption_id = RedemptionId::from_uuid(uuid::Uuid::new_v4());
        let Value::Object(object) = json!({
            "redemption_id": redemption_id.to_string(),
            "venue_id": self.venue.0.to_string(),
            "voucher": voucher,
            "amount": amount,
        }) else {
            unreachable!("an object")
        };
        let signed = ygor_crypto::sign_object(SignedKind::Redemption, object, &self.venue_key).expect("sign");
        let message = ygor_crypto::signing_message(SignedKind::Redemption, &signed).expect("message");
        Redeem {
            redemption_id,
            venue_id: self.venue.0,
            citizen_id: self.citizens[citizen].0,
            voucher: VerifiedVoucher {
                voucher_id: VoucherId::from_uuid(claims.voucher_id),
                amount_max: Tokens::new(claims.amount_max),
                expires_at: claims.expires_at,
                offer_id: None,
            },
            voucher_text: voucher,
            amount: Tokens::new(amount),
            offer_id: None,
            signature: signed["signature"].as_str().expect("signature").to_owned(),
            request: SignedRequest::of(signed.clone()),
            fingerprint: ygor_crypto::sha256_hex(&message),
            at: self.now,
        }
    }
}

/// The simulated territory after some history: every citizen certified twice (once with a
/// large `velo` quantity, so that wallets can pay), the association with
/// [`PRIOR_CERTIFICATIONS`] recorded, and some redemptions at the venue.
fn territory_with_history() -> Sim {
    let mut sim = Sim::new();
    for index in 0..PRIOR_CERTIFICATIONS {
        sim.now += chrono::Duration::seconds(1);
        let citizen = index % CITIZENS;
        let quantity = if index < CITIZENS { 1 } else { 500 };
        let signed = sim.signed_certification(ActionId::from_uuid(uuid::Uuid::new_v4()), citizen, quantity);
        let command = sim.certify_command(citizen, quantity, signed);
        sim.certify(command);
    }
    for index in 0..200 {
        let command = sim.redeem_command(index % CITIZENS, 3);
        let decided = operations::redeem(&sim.venue.1, &sim.citizens[index % CITIZENS].1, command).expect("redeem");
        sim.apply_decided(decided);
    }
    sim
}

fn ledger(criterion: &mut Criterion) {
    let sim = territory_with_history();
    let rules = sim.rules();
    let citizen = 7;
    let signed = sim.signed_certification(ActionId::from_uuid(uuid::Uuid::new_v4()), citizen, 1);
    let certify = sim.certify_command(citizen, 1, signed);
    let redeem = sim.redeem_command(citizen, 5);
    let wallet = &sim.citizens[citizen].1;

    let mut group = criterion.benchmark_group("ledger");
    group.bench_function("certify/decide", |bench| {
        bench.iter(|| {
            let crediting = wallet.crediting(certify.action_id, &certify.category, certify.occurred_at);
            operations::certify(Some(&rules), &sim.association.1, None, &crediting, black_box(certify.clone()))
                .expect("ok")
        })
    });
    let crediting = wallet.crediting(certify.action_id, &certify.category, certify.occurred_at);
    let Decided::Apply { changes: certified, .. } =
        operations::certify(Some(&rules), &sim.association.1, None, &crediting, certify.clone()).expect("certify")
    else {
        unreachable!("a new action is applied")
    };
    // Applying to the association with its history would need a clone of it per iteration; a
    // fresh association and citizen show the cost of the event itself (the maps then grow by one).
    let fresh = Sim::new();
    let (fresh_association, fresh_wallet) = (fresh.association.1.clone(), fresh.citizens[0].1.clone());
    group.bench_function("certify/apply", |bench| {
        bench.iter_batched(
            || (fresh_association.clone(), fresh_wallet.clone(), certified.clone()),
            |(partner, wallet, changes)| apply_changes(partner, wallet, changes),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("certify/serialize_events", |bench| {
        bench.iter(|| {
            let wallet_events: Vec<Value> =
                certified.wallets[0].1.iter().map(|event| serde_json::to_value(event).expect("json")).collect();
            let partner_events: Vec<Value> =
                certified.partners[0].1.iter().map(|event| serde_json::to_value(event).expect("json")).collect();
            (wallet_events, partner_events)
        })
    });

    group.bench_function("redeem/decide", |bench| {
        bench.iter(|| operations::redeem(&sim.venue.1, wallet, black_box(redeem.clone())).expect("ok"))
    });
    let Decided::Apply { changes: redeemed, .. } =
        operations::redeem(&sim.venue.1, wallet, redeem.clone()).expect("redeem")
    else {
        unreachable!("a new redemption is applied")
    };
    // The wallet must hold the lots the redemption spends: the citizen's own wallet (a few lots).
    let venue = fresh.venue.1.clone();
    group.bench_function("redeem/apply", |bench| {
        bench.iter_batched(
            || (venue.clone(), wallet.clone(), redeemed.clone()),
            |(partner, wallet, changes)| apply_changes(partner, wallet, changes),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn crypto(criterion: &mut Criterion) {
    let sim = Sim::new();
    let (signed, _) = sim.signed_certification(ActionId::from_uuid(uuid::Uuid::new_v4()), 3, 1);
    let mut unsigned = signed.clone();
    unsigned.remove("signature");
    let unsigned_value = Value::Object(unsigned.clone());
    let key = sim.association_key.public_key();
    let message = ygor_crypto::signing_message(SignedKind::Certification, &signed).expect("message");
    let signature = Signature::parse(signed["signature"].as_str().expect("signature")).expect("signature");

    let mut group = criterion.benchmark_group("crypto");
    group.throughput(Throughput::Elements(1));
    group.bench_function("jcs/certification", |bench| {
        bench.iter(|| ygor_crypto::canonical_json(black_box(&unsigned_value)).expect("jcs"))
    });
    group.bench_function("signing_message/certification", |bench| {
        bench.iter(|| ygor_crypto::signing_message(SignedKind::Certification, black_box(&signed)).expect("message"))
    });
    group.bench_function("verify/ed25519_only", |bench| {
        bench.iter(|| key.verify(black_box(&message), &signature).expect("valid"))
    });
    group.bench_function("verify_object/certification", |bench| {
        bench.iter(|| ygor_crypto::verify_object(SignedKind::Certification, black_box(&signed), &key).expect("valid"))
    });
    group.bench_function("sign_object/certification (client side)", |bench| {
        bench.iter(|| {
            ygor_crypto::sign_object(SignedKind::Certification, black_box(unsigned.clone()), &sim.association_key)
                .expect("sign")
        })
    });

    // A batch of 64 signatures by 16 keys over distinct messages, as the audit re-checks a log.
    let keys: Vec<SecretKey> = (0..16u8).map(|index| SecretKey::from_seed(&[index + 10; 32])).collect();
    let items: Vec<(Vec<u8>, Signature, PublicKey)> = (0..64)
        .map(|index| {
            let mut object = unsigned.clone();
            object.insert("action_id".to_owned(), Value::String(uuid::Uuid::new_v4().to_string()));
            let key = &keys[index % keys.len()];
            let signed = ygor_crypto::sign_object(SignedKind::Certification, object, key).expect("sign");
            let message = ygor_crypto::signing_message(SignedKind::Certification, &signed).expect("message");
            let signature = Signature::parse(signed["signature"].as_str().expect("sig")).expect("sig");
            (message, signature, key.public_key())
        })
        .collect();
    group.throughput(Throughput::Elements(items.len() as u64));
    group.bench_function("verify_batch/64", |bench| {
        bench.iter(|| ygor_crypto::verify_batch(black_box(&items)).expect("valid"))
    });
    group.bench_function("verify_one_by_one/64", |bench| {
        bench.iter(|| {
            for (message, signature, key) in black_box(&items) {
                key.verify(message, signature).expect("valid");
            }
        })
    });

    group.throughput(Throughput::Elements(1));
    let voucher = sim.voucher(3, 25);
    let territory = sim.territory_key.public_key();
    group.bench_function("open_voucher", |bench| {
        bench.iter(|| ygor_crypto::open_voucher(black_box(&voucher), &territory).expect("valid"))
    });
    group.bench_function("hash_token (auth)", |bench| {
        bench.iter(|| ygor_crypto::hash_token(black_box("ygor_association_0123456789abcdef0123456789abcdef0123")))
    });
    group.finish();
}

fn audit(criterion: &mut Criterion) {
    let sim = territory_with_history();
    // The last certification's partner event: the largest event of the hot path (~1.3 KB).
    let recorded = sim
        .recorded
        .iter()
        .rev()
        .find(|recorded| recorded.event.event_type == "CertificationRecorded")
        .expect("a certification")
        .clone();
    let exported = ygor_projections::audit::exported(&recorded);
    let leaf = ygor_audit::leaf_data(&exported).expect("leaf data");

    let mut group = criterion.benchmark_group("audit");
    group.throughput(Throughput::Elements(1));
    group.bench_function("event_leaf_hash (JCS + SHA-256)", |bench| {
        bench.iter(|| ygor_audit::event_leaf_hash(black_box(&exported)).expect("hash"))
    });
    // A fresh tree per sample, so that memory stays bounded; pushes are amortised O(1).
    group.bench_function(format!("merkle_push ({} B leaf)", leaf.len()), |bench| {
        bench.iter_custom(|iters| {
            let mut log = ygor_audit::MerkleLog::new();
            let started = Instant::now();
            for _ in 0..iters {
                log.push(black_box(&leaf));
            }
            let elapsed = started.elapsed();
            drop(black_box(log));
            elapsed
        })
    });
    let hash = ygor_audit::leaf_hash(&leaf);
    group.bench_function("merkle_push_leaf_hash", |bench| {
        bench.iter_custom(|iters| {
            let mut log = ygor_audit::MerkleLog::new();
            let started = Instant::now();
            for _ in 0..iters {
                log.push_leaf_hash(black_box(hash));
            }
            started.elapsed()
        })
    });
    group.finish();
}

fn projections(criterion: &mut Criterion) {
    // The base: the territory after its set-up and some history; the pool: further
    // certifications (two events each) that are applied one after the other.
    let mut sim = territory_with_history();
    let base_len = sim.recorded.len();
    let template = sim.signed_certification(ActionId::from_uuid(uuid::Uuid::new_v4()), 0, 1);
    for index in 0..POOL_CERTIFICATIONS {
        sim.now += chrono::Duration::seconds(1);
        let mut command = sim.certify_command(index % CITIZENS, 1, template.clone());
        // A fresh action id per certification; the signed request is the template's (the
        // projections never verify it, and its size is the real one).
        command.action_id = ActionId::from_uuid(uuid::Uuid::new_v4());
        command.citizen_id = sim.citizens[index % CITIZENS].0;
        sim.certify(command);
    }
    let (base_events, pool) = sim.recorded.split_at(base_len);
    let mut base = ReadModels::default();
    for recorded in base_events {
        base.apply_recorded(recorded).expect("base applies");
    }
    let decoded: Vec<(i64, AnyEvent)> = pool
        .iter()
        .map(|recorded| (recorded.position, ygor_ledger::codec::decode_serialized(&recorded.event).expect("decodes")))
        .collect();
    // The same events as a replay reads them (`read_stored_after`): the payload as SQLite stores it.
    let stored: Vec<StoredEvent> = pool
        .iter()
        .map(|recorded| StoredEvent {
            position: recorded.position,
            recorded_at: recorded.recorded_at,
            aggregate_type: recorded.event.aggregate_type.clone(),
            aggregate_id: recorded.event.aggregate_id.clone(),
            sequence: recorded.event.sequence,
            event_type: recorded.event.event_type.clone(),
            event_version: recorded.event.event_version.clone(),
            payload: serde_json::to_string(&recorded.event.payload).expect("payload text"),
        })
        .collect();

    let mut group = criterion.benchmark_group("projections");
    group.throughput(Throughput::Elements(1));
    group.bench_function("apply_recorded (decode + Merkle leaf + read models)", |bench| {
        bench.iter_custom(|iters| replay(iters, &base, pool, |models, event| models.apply_recorded(event)))
    });
    group.bench_function("apply_stored (decode from text + Merkle leaf + read models)", |bench| {
        bench.iter_custom(|iters| replay(iters, &base, &stored, |models, event| models.apply_stored(event)))
    });
    group.bench_function("apply (decoded event, read models only)", |bench| {
        bench.iter_custom(|iters| {
            let mut models = base.clone();
            let mut events = decoded.clone().into_iter();
            let mut elapsed = Duration::ZERO;
            let mut started = Instant::now();
            for _ in 0..iters {
                let (position, event) = match events.next() {
                    Some(item) => item,
                    None => {
                        elapsed += started.elapsed();
                        models = base.clone();
                        events = decoded.clone().into_iter();
                        started = Instant::now();
                        events.next().expect("a pool")
                    }
                };
                models.apply(position, black_box(event)).expect("applies");
            }
            elapsed + started.elapsed()
        })
    });
    group.bench_function("decode (codec::decode_serialized)", |bench| {
        let mut next = 0;
        bench.iter(|| {
            next = (next + 1) % pool.len();
            ygor_ledger::codec::decode_serialized(black_box(&pool[next].event)).expect("decodes")
        })
    });
    group.bench_function("decode_json (codec::decode_any, from the payload text)", |bench| {
        let mut next = 0;
        bench.iter(|| {
            next = (next + 1) % stored.len();
            let event = black_box(&stored[next]);
            ygor_ledger::codec::decode_any(
                &event.aggregate_type,
                &event.aggregate_id,
                &event.event_type,
                &event.event_version,
                ygor_ledger::codec::Payload::Text(&event.payload),
            )
            .expect("decodes")
        })
    });
    group.bench_function("stored_leaf_hash (JCS from the payload text + SHA-256)", |bench| {
        let mut next = 0;
        bench.iter(|| {
            next = (next + 1) % stored.len();
            ygor_projections::audit::stored_leaf_hash(black_box(&stored[next])).expect("hash")
        })
    });
    group.finish();
}

/// Applies what an operation decided to the partner and the wallet it touched.
fn apply_changes(mut partner: Partner, mut wallet: Wallet, changes: Changes) -> (Partner, Wallet) {
    for (_, events) in changes.wallets {
        events.into_iter().for_each(|event| wallet.apply_event(event));
    }
    for (_, events) in changes.partners {
        events.into_iter().for_each(|event| partner.apply_event(event));
    }
    (partner, wallet)
}

/// Applies `iters` events from `events` to copies of `base`, starting again from `base` whenever
/// the events run out; the time of the copies is left out.
fn replay<E>(
    iters: u64,
    base: &ReadModels,
    events: &[E],
    mut apply: impl FnMut(&mut ReadModels, &E) -> Result<(), ygor_projections::ProjectionError>,
) -> Duration {
    let mut models = base.clone();
    let mut next = 0;
    let mut elapsed = Duration::ZERO;
    let mut started = Instant::now();
    for _ in 0..iters {
        if next == events.len() {
            elapsed += started.elapsed();
            models = base.clone();
            next = 0;
            started = Instant::now();
        }
        apply(&mut models, black_box(&events[next])).expect("applies");
        next += 1;
    }
    elapsed + started.elapsed()
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = ledger, crypto, audit, projections
}
criterion_main!(benches);
