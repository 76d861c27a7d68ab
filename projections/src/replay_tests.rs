//! Replays, snapshots and the feed against real logs: what a start, a rebuild and a fed event
//! give must be what applying the log event by event gives.

use chrono::TimeZone;
use cqrs_es::{Aggregate, DomainEvent};
use ygor_ledger::books::AnyEvent;
use ygor_ledger::partner::PartnerCommand;
use ygor_ledger::territory::TerritoryCommand;
use ygor_ledger::{Partner, Territory, Tokens};
use ygor_store::testing::fresh_event_log;
use ygor_store::{AppendBatch, Backend, EventLog, NewEvent, SerializedEvent};

use crate::runner::*;
use crate::snapshot::*;
use crate::*;

const RULES: &str = include_str!("../../rules/tests/fixtures/sample_rules.toml");

fn at(second: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + second, 123_456_789).single().expect("valid instant")
}

fn new_event<A: Aggregate>(id: &str, sequence: usize, event: &A::Event, second: i64) -> NewEvent {
    NewEvent::new(
        SerializedEvent::new(
            id.to_owned(),
            sequence,
            A::TYPE.to_owned(),
            event.event_type(),
            event.event_version(),
            serde_json::to_value(event).expect("event serialises"),
            serde_json::json!({}),
        ),
        at(second),
    )
    .expect("serialises")
}

/// The engine feeds its projections the typed events with their canonical payload text; the
/// read models (Merkle tree included) must be those of the same events read back from the log.
#[test]
fn a_fed_event_applies_as_the_same_event_read_back() {
    let rules = ygor_rules::Rules::parse(RULES).expect("sample rules");
    let mut territory = Territory::default();
    let mut typed: Vec<(AnyEvent, NewEvent)> = Vec::new();
    fn record(typed: &mut Vec<(AnyEvent, NewEvent)>, territory: &mut Territory, command: TerritoryCommand) {
        for event in territory.decide(command).expect("decides") {
            let sequence = territory.version() + 1;
            let stored = new_event::<Territory>("territory", sequence, &event, sequence as i64);
            typed.push((AnyEvent::Territory(event.clone()), stored));
            territory.apply_event(event);
        }
    }
    let publish = TerritoryCommand::PublishRules { rules, source: RULES.to_owned(), at: at(0) };
    record(&mut typed, &mut territory, publish);
    record(&mut typed, &mut territory, TerritoryCommand::MintSupply { amount: Tokens::new(1_000), at: at(1) });
    let venue = PartnerId::parse("3f2504e0-4f89-41d3-9a0c-0305e82c3301").expect("an id");
    for event in Partner::default()
        .decide(PartnerCommand::Register {
            kind: PartnerKind::Venue,
            name: "Vélo « Club » ☕ \"quoted\"\n".to_owned(),
            public_key: "k".to_owned(),
            at: at(2),
        })
        .expect("registers")
    {
        let stored = new_event::<Partner>(&venue.to_string(), 1, &event, 2);
        typed.push((AnyEvent::Partner(venue, event), stored));
    }
    let allocate = TerritoryCommand::AllocateEnvelope { partner_id: venue, amount: Tokens::new(10), at: at(3) };
    record(&mut typed, &mut territory, allocate);
    let count = typed.len() as u64;
    let mut fed = ReadModels::default();
    let mut read = ReadModels::default();
    for (index, (event, stored)) in typed.into_iter().enumerate() {
        let position = 2 * index as Position + 1;
        let canonical =
            String::from_utf8(ygor_crypto::canonical_json(&stored.event().payload).expect("canonical")).expect("UTF-8");
        let with_canonical = NewEvent::from_text(stored.head(), stored.recorded_at, canonical, true);
        fed.apply_fed(FedEvent { position, stored: with_canonical, event }).expect("applies fed");
        read.apply_recorded(&ygor_store::RecordedEvent::appended(position, stored)).expect("applies read");
    }
    assert_eq!(fed.audit.size(), count);
    assert!(count >= 4, "rules, mint, registration, envelope");
    assert_eq!(fed, read, "the same read models, Merkle tree included");
}

/// Rules (with a fraction and accented text: the general canonical path), a venue with an
/// accented name, an envelope, then enough mints for several pages and chunks.
async fn log_with_history(backend: Backend) -> (EventLog, impl Sized, usize) {
    let (log, guard) = fresh_event_log(backend).await;
    let rules = ygor_rules::Rules::parse(RULES).expect("sample rules");
    let mut territory = Territory::default();
    let mut events = Vec::new();
    let territory_command = |territory: &mut Territory, command, second| {
        let decided = territory.decide(command).expect("decides");
        decided
            .into_iter()
            .map(|event| {
                let new = new_event::<Territory>("territory", territory.version() + 1, &event, second);
                territory.apply_event(event);
                new
            })
            .collect::<Vec<_>>()
    };
    events.extend(territory_command(
        &mut territory,
        TerritoryCommand::PublishRules { rules, source: RULES.to_owned(), at: at(0) },
        0,
    ));
    events.extend(territory_command(
        &mut territory,
        TerritoryCommand::MintSupply { amount: Tokens::new(1_000_000), at: at(1) },
        1,
    ));
    let venue = PartnerId::parse("3f2504e0-4f89-41d3-9a0c-0305e82c3301").expect("an id");
    let registered = Partner::default()
        .decide(PartnerCommand::Register {
            kind: PartnerKind::Venue,
            name: "Vélo « Club » ☕ \"quoted\"".to_owned(),
            public_key: "k".to_owned(),
            at: at(2),
        })
        .expect("registers");
    events.extend(registered.iter().map(|event| new_event::<Partner>(&venue.to_string(), 1, event, 2)));
    events.extend(territory_command(
        &mut territory,
        TerritoryCommand::AllocateEnvelope { partner_id: venue, amount: Tokens::new(1_000), at: at(3) },
        3,
    ));
    for second in 0..(2 * REPLAY_PAGE as i64 + 700) {
        events.extend(territory_command(
            &mut territory,
            TerritoryCommand::MintSupply { amount: Tokens::new(1), at: at(second) },
            second,
        ));
    }
    let count = events.len();
    for batch in events.chunks(2_000) {
        log.append(&AppendBatch { events: batch.to_vec(), ..AppendBatch::default() }).await.expect("append");
    }
    (log, guard, count)
}

/// The read models as the live runner builds them: `read_after` and `apply_recorded`.
async fn applied_one_by_one(log: &EventLog) -> ReadModels {
    let mut models = ReadModels::default();
    loop {
        let page = log.read_after(models.position, PAGE).await.expect("read_after");
        if page.is_empty() {
            return models;
        }
        for recorded in &page {
            models.apply_recorded(recorded).expect("applies");
        }
    }
}

async fn a_replay_equals_applying_one_by_one(backend: Backend) {
    let (log, _guard, count) = log_with_history(backend).await;
    let rebuilt = rebuild(&log).await.expect("rebuild");
    assert_eq!(rebuilt.audit.size(), count as u64);
    assert_eq!(rebuilt, applied_one_by_one(&log).await, "the same read models, Merkle tree included");
    let mut stored = ReadModels::default();
    for event in log.read_stored_after(0, 100).await.expect("read_stored_after") {
        stored.apply_stored(&event).expect("applies");
    }
    let mut recorded = ReadModels::default();
    for event in log.read_after(0, 100).await.expect("read_after") {
        recorded.apply_recorded(&event).expect("applies");
    }
    assert_eq!(stored, recorded);
}

#[tokio::test]
async fn sqlite_a_replay_equals_applying_one_by_one() {
    a_replay_equals_applying_one_by_one(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_replay_equals_applying_one_by_one() {
    a_replay_equals_applying_one_by_one(Backend::Postgres).await;
}

#[tokio::test]
async fn read_models_serialise_to_their_snapshot_and_to_nothing_else() {
    let (log, _guard, _) = log_with_history(Backend::Sqlite).await;
    let models = rebuild(&log).await.expect("rebuild");
    let section = section_of(&models, 3).expect("a fourth section").expect("serialises");
    let (len, rest) = postcard::take_from_bytes::<u64>(&section).expect("a length");
    let (body, digest) = rest.split_at(rest.len() - DIGEST_LEN);
    assert_eq!(len as usize, body.len());
    assert_eq!(digest, <sha2::Sha256 as sha2::Digest>::digest(body).as_slice());
    let partners: BTreeMap<PartnerId, (PartnerKind, String)> = postcard::from_bytes(body).expect("reads back");
    assert_eq!(partners, models.partners, "the fourth section is the partners");
    assert!(!partners.is_empty());
    assert!(serialises_to(&partners, body));
    let mut changed = body.to_vec();
    let middle = changed.len() / 2;
    changed[middle] ^= 1;
    assert!(!serialises_to(&partners, &changed), "one byte differs");
    assert!(!serialises_to(&partners, &body[..body.len() - 1]), "one byte short");
    let mut longer = body.to_vec();
    longer.push(0);
    assert!(!serialises_to(&partners, &longer), "one byte more");
    assert!(!serialises_to(&BTreeMap::<PartnerId, (PartnerKind, String)>::new(), body), "other models");
    assert!(section_of(&models, SECTIONS).is_none());
}

/// A snapshot is its sections one after the other, whatever the parts they are stored in; a
/// body changed or cut short does not load, and a start then replays the log instead.
#[tokio::test]
async fn a_snapshot_reads_back_section_by_section_and_refuses_a_changed_body() {
    let (log, _guard, _) = log_with_history(Backend::Sqlite).await;
    let models = rebuild(&log).await.expect("rebuild");
    let models = save_snapshot(&log, models).await.expect("saves");
    let stored = log.load_snapshot(SNAPSHOT_NAME).await.expect("loads").expect("a snapshot");
    let sections: Vec<u8> =
        (0..SECTIONS).flat_map(|index| section_of(&models, index).expect("a section").expect("serialises")).collect();
    assert_eq!(stored.body, sections);
    assert_eq!(read_snapshot(&log, true).await.expect("reads").as_ref(), Some(&models));
    let mut tampered = stored.clone();
    let last = tampered.body.len() - 3;
    tampered.body[last] ^= 0x40;
    log.save_snapshot(&tampered).await.expect("saves");
    assert!(read_snapshot(&log, true).await.is_err(), "a changed byte is found");
    assert_eq!(load_snapshot(&log).await.expect("loads"), ReadModels::default(), "and the start replays");
    let mut short = stored.clone();
    short.body.truncate(short.body.len() - 1);
    log.save_snapshot(&short).await.expect("saves");
    assert_eq!(load_snapshot(&log).await.expect("loads"), ReadModels::default());
    let mut longer = stored;
    longer.body.push(0);
    log.save_snapshot(&longer).await.expect("saves");
    assert_eq!(load_snapshot(&log).await.expect("loads"), ReadModels::default());
}

/// A start that replays more than `snapshot_every` events writes a snapshot and takes the read
/// models back from it: they equal a rebuild, and the snapshot holds them.
#[tokio::test]
async fn a_long_start_takes_its_read_models_back_from_the_snapshot_it_wrote() {
    let (log, _guard, _) = log_with_history(Backend::Sqlite).await;
    let last = log.last_position().await.expect("last position");
    let options = RunnerOptions { snapshot_every: 100, ..RunnerOptions::default() };
    let (projections, task) = start(log.clone(), watch::channel(last).1, None, options).await.expect("starts");
    let started = projections.read(ReadModels::clone);
    task.abort();
    assert_eq!(started.position, last);
    assert_eq!(started, rebuild(&log).await.expect("rebuild"));
    assert_eq!(load_snapshot(&log).await.expect("a snapshot"), started);
}

/// A replay stops at the first event that breaks an invariant, every event before it applied.
async fn a_replay_stops_at_the_first_bad_event(backend: Backend) {
    let (log, _guard, count) = log_with_history(backend).await;
    let last = log.last_position().await.expect("last position");
    // An allocation the treasury cannot cover, then an event that does not decode.
    let overdrawn = TerritoryEvent::EnvelopeAllocated {
        partner_id: PartnerId::parse("16fd2706-8baf-433b-82eb-8c7fada847da").expect("an id"),
        amount: Tokens::new(1_000_000_000),
        allocated_at: at(0),
    };
    let bad = new_event::<Territory>("territory", count + 1, &overdrawn, 0);
    let overdrawn_at = log.append(&AppendBatch { events: vec![bad.clone()], ..AppendBatch::default() }).await;
    let overdrawn_at = overdrawn_at.expect("append")[0];
    // Other tests' transactions on the shared server may hold the gap-safe watermark back.
    log.wait_until_safe(overdrawn_at, std::time::Duration::from_secs(30)).await.expect("safe");
    let mut models = ReadModels::default();
    let error = catch_up(&log, &mut models).await.expect_err("conservation breaks");
    assert!(matches!(error, ProjectionError::Conservation { position, .. } if position == overdrawn_at), "{error:?}");
    assert_eq!(models.position, last, "every event before the bad one is applied");

    let (log, _guard, _) = log_with_history(backend).await;
    let mut undecodable = bad.event().into_owned();
    undecodable.payload = serde_json::json!({"NoSuchEvent": {}});
    let bad = NewEvent::new(undecodable, bad.recorded_at).expect("serialises");
    let undecodable_at = log.append(&AppendBatch { events: vec![bad], ..AppendBatch::default() }).await;
    let undecodable_at = undecodable_at.expect("append")[0];
    log.wait_until_safe(undecodable_at, std::time::Duration::from_secs(30)).await.expect("safe");
    let mut models = ReadModels::default();
    let error = catch_up(&log, &mut models).await.expect_err("does not decode");
    assert!(matches!(error, ProjectionError::Decode { position, .. } if position == undecodable_at), "{error:?}");
    assert_eq!(models.position, last);
    assert_eq!(models.audit.size(), count as u64);
}

#[tokio::test]
async fn sqlite_a_replay_stops_at_the_first_bad_event() {
    a_replay_stops_at_the_first_bad_event(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_replay_stops_at_the_first_bad_event() {
    a_replay_stops_at_the_first_bad_event(Backend::Postgres).await;
}
