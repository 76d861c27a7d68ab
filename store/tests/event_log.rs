//! The public API of the event log, on a real SQLite file and a real PostgreSQL database.
//!
//! Every scenario below runs on both backends (the `sqlite` and `postgres` modules at the end);
//! PostgreSQL-only gap-safety tests live next to the watermark in `src/postgres.rs`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use cqrs_es::persist::PersistedEventRepository;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use serde_json::json;
use ygor_store::testing::{fresh_event_log, fresh_postgres_url, fresh_sqlite_dir};
use ygor_store::{
    AggregateSnapshot, AppendBatch, Backend, CitizenCode, CitizenDetails, Credential, EventLog, MAX_BATCH_LEN,
    NewCredential, NewEvent, Position, RecordedEvent, SNAPSHOT_PART_BYTES, SerializedEvent, Snapshot, StoreError,
};

/// Other tests share the PostgreSQL server, and their open transactions hold the gap-safe
/// watermark back for a while; a reader that wants everything polls until then.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

// Two minimal aggregates: `load_stream` only needs their type names.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum TestEvent {
    Happened,
}

impl DomainEvent for TestEvent {
    fn event_type(&self) -> String {
        "Happened".to_owned()
    }
    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("refused")]
struct Refused;

macro_rules! test_aggregate {
    ($name:ident, $type_name:literal) => {
        #[derive(Debug, Default, Serialize, Deserialize)]
        struct $name;

        impl Aggregate for $name {
            const TYPE: &'static str = $type_name;
            type Command = ();
            type Event = TestEvent;
            type Error = Refused;
            type Services = ();

            async fn handle(
                &mut self,
                _command: Self::Command,
                _services: &Self::Services,
                _sink: &cqrs_es::event_sink::EventSink<Self>,
            ) -> Result<(), Self::Error> {
                Err(Refused)
            }

            fn apply(&mut self, _event: Self::Event) {}
        }
    };
}

test_aggregate!(Wallet, "Wallet");
test_aggregate!(Partner, "Partner");

fn at(seconds: i64, nanoseconds: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, nanoseconds).single().expect("valid instant")
}

fn serialized(aggregate_type: &str, aggregate_id: &str, sequence: usize) -> SerializedEvent {
    SerializedEvent::new(
        aggregate_id.to_owned(),
        sequence,
        aggregate_type.to_owned(),
        "Happened".to_owned(),
        "1".to_owned(),
        json!({
            "amount": 5,
            "ratio": 2.5,
            "big": u64::MAX,
            "note": "café ☕ \"quoted\"",
            "nested": { "list": [1, null, true], "empty": {} },
            "sequence": sequence,
        }),
        json!({ "correlation_id": format!("{aggregate_id}-{sequence}") }),
    )
}

fn new_event(aggregate_type: &str, aggregate_id: &str, sequence: usize) -> NewEvent {
    NewEvent::new(serialized(aggregate_type, aggregate_id, sequence), at(sequence as i64, 0)).expect("serialises")
}

fn events(events: Vec<NewEvent>) -> AppendBatch {
    AppendBatch { events, ..AppendBatch::default() }
}

fn credential(byte: u8, role: &str, subject_id: &str) -> NewCredential {
    NewCredential { token_hash: [byte; 32], role: role.to_owned(), subject_id: subject_id.to_owned() }
}

fn positions(events: &[RecordedEvent]) -> Vec<Position> {
    events.iter().map(|event| event.position).collect()
}

/// Every event after `after`, reading in pages of `page` until `expected` were read (or
/// [`SETTLE_TIMEOUT`] passed), as a projection runner would.
async fn read_all(log: &EventLog, after: Position, page: usize, expected: usize) -> Vec<RecordedEvent> {
    let started = Instant::now();
    let mut read = Vec::new();
    let mut checkpoint = after;
    while read.len() < expected && started.elapsed() < SETTLE_TIMEOUT {
        let batch = log.read_after(checkpoint, page).await.expect("read_after");
        match batch.last() {
            Some(last) => checkpoint = last.position,
            None => tokio::time::sleep(Duration::from_millis(20)).await,
        }
        read.extend(batch);
    }
    read
}

async fn append_then_load_stream_round_trips_through_the_stock_repository(backend: Backend) {
    let (log, _guard) = fresh_event_log(backend).await;
    let written: Vec<NewEvent> = (1..=3).map(|sequence| new_event("Wallet", "w-1", sequence)).collect();
    log.append(&events(written.clone())).await.expect("append");
    log.append(&events(vec![new_event("Wallet", "w-2", 1)])).await.expect("append another wallet");

    let loaded = log.load_stream::<Wallet>("w-1", 0).await.expect("load");
    let expected: Vec<SerializedEvent> = written.iter().map(|new| new.event().into_owned()).collect();
    assert_eq!(loaded, expected);

    let tail = log.load_stream::<Wallet>("w-1", 1).await.expect("load tail");
    assert_eq!(tail, expected[1..]);
    assert!(log.load_stream::<Wallet>("w-1", 3).await.expect("load none").is_empty());
    assert!(log.load_stream::<Partner>("w-1", 0).await.expect("other type").is_empty());

    // The start of the stream, read without its rest; the other wallet's events are not in it.
    assert_eq!(log.load_stream_through::<Wallet>("w-1", 2).await.expect("load start"), expected[..2]);
    assert_eq!(log.load_stream_through::<Wallet>("w-1", 3).await.expect("load all"), expected);
    assert_eq!(log.load_stream_through::<Wallet>("w-1", usize::MAX).await.expect("load past the end"), expected);
    assert!(log.load_stream_through::<Wallet>("w-1", 0).await.expect("load nothing").is_empty());
    assert!(log.load_stream_through::<Partner>("w-1", 3).await.expect("other type").is_empty());

    // Newest first, page by page: each page continues below the last sequence of the one before.
    let sequences = |events: Vec<RecordedEvent>| events.iter().map(|event| event.event.sequence).collect::<Vec<_>>();
    let type_name = written[0].event().aggregate_type.clone();
    let first_page = log.stream_newest_first(&type_name, "w-1", None, 2).await.expect("first page");
    assert_eq!(sequences(first_page), vec![3, 2]);
    let second_page = log.stream_newest_first(&type_name, "w-1", Some(2), 2).await.expect("second page");
    assert_eq!(sequences(second_page), vec![1]);
    assert!(log.stream_newest_first(&type_name, "w-1", Some(1), 2).await.expect("past the start").is_empty());
    assert!(log.stream_newest_first(&type_name, "w-9", None, 2).await.expect("unknown stream").is_empty());
}

async fn batch_spanning_two_aggregate_types_is_atomic(backend: Backend) {
    let (log, _guard) = fresh_event_log(backend).await;
    log.append(&events(vec![new_event("Wallet", "w-1", 1)])).await.expect("first append");

    let conflicting = AppendBatch {
        events: vec![new_event("Partner", "p-1", 1), new_event("Wallet", "w-1", 1)],
        credentials: vec![credential(7, "association", "p-1")],
        citizen_details: vec![CitizenDetails {
            citizen_id: "c-1".to_owned(),
            neighbourhood: Some("Croix-Rousse".to_owned()),
            birth_year: Some(1990),
            email: None,
        }],
        citizen_codes: vec![CitizenCode { citizen_id: "c-1".to_owned(), code: "7K3FQ9RD".to_owned() }],
    };
    match log.append(&conflicting).await {
        Err(StoreError::Conflict { aggregate_type, aggregate_id, sequence }) => {
            assert_eq!((aggregate_type.as_str(), aggregate_id.as_str(), sequence), ("Wallet", "w-1", 1))
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(log.event_count().await.expect("count"), 1);
    assert!(log.load_stream::<Partner>("p-1", 0).await.expect("load").is_empty());
    assert_eq!(log.find_credential(&[7; 32]).await.expect("credential"), None);
    assert_eq!(log.citizen_details("c-1").await.expect("details"), None);
    assert_eq!(log.citizen_code("c-1").await.expect("code"), None);

    // The same batch without the conflicting event commits as a whole.
    let mut accepted = conflicting.clone();
    accepted.events[1] = new_event("Wallet", "w-1", 2);
    let written = log.append(&accepted).await.expect("append");
    assert_eq!(written.len(), 2);
    assert_eq!(log.load_stream::<Partner>("p-1", 0).await.expect("load").len(), 1);
    assert_eq!(log.load_stream::<Wallet>("w-1", 0).await.expect("load").len(), 2);
    assert!(log.find_credential(&[7; 32]).await.expect("credential").is_some());
    assert_eq!(log.citizen_details("c-1").await.expect("details"), Some(accepted.citizen_details[0].clone()));
    assert_eq!(log.citizen_code("c-1").await.expect("code").as_deref(), Some("7K3FQ9RD"));
}

async fn duplicate_sequence_is_a_conflict(backend: Backend) {
    let (log, _guard) = fresh_event_log(backend).await;
    log.append(&events(vec![new_event("Wallet", "w-1", 1)])).await.expect("first append");
    let again = log.append(&events(vec![new_event("Wallet", "w-1", 1)])).await;
    assert!(matches!(again, Err(StoreError::Conflict { sequence: 1, .. })), "{again:?}");

    // A batch that holds the same sequence twice conflicts with itself.
    let twice = log.append(&events(vec![new_event("Wallet", "w-2", 1), new_event("Wallet", "w-2", 1)])).await;
    assert!(matches!(twice, Err(StoreError::Conflict { .. })), "{twice:?}");
    assert_eq!(log.event_count().await.expect("count"), 1);

    // The same sequence of another aggregate, or of another type with the same id, is no conflict.
    log.append(&events(vec![new_event("Wallet", "w-2", 1), new_event("Partner", "w-1", 1)]))
        .await
        .expect("distinct streams");
}

async fn one_event_reads_back_by_its_place_in_its_stream(backend: Backend) {
    let (log, _guard) = fresh_event_log(backend).await;
    let written: Vec<NewEvent> = (1..=3).map(|sequence| new_event("Partner", "p-1", sequence)).collect();
    let positions = log.append(&events(written.clone())).await.expect("append");
    log.append(&events(vec![new_event("Wallet", "p-1", 2)])).await.expect("same id, other type");

    let second = log.event_at("Partner", "p-1", 2).await.expect("read").expect("stored");
    assert_eq!(second.event, written[1].event().into_owned());
    assert_eq!(second.position, positions[1]);
    assert_eq!(Some(second.position), log.position_of("Partner", "p-1", 2).await.expect("position"));
    let other_type = log.event_at("Wallet", "p-1", 2).await.expect("read").expect("stored");
    assert_eq!(other_type.event.aggregate_type, "Wallet");
    for (aggregate_type, aggregate_id, sequence) in
        [("Partner", "p-1", 4), ("Partner", "p-1", 0), ("Partner", "p-2", 1), ("Partner", "p-1", usize::MAX)]
    {
        assert_eq!(log.event_at(aggregate_type, aggregate_id, sequence).await.expect("read"), None);
    }
}

async fn positions_strictly_increase_and_recorded_at_is_stored(backend: Backend) {
    let (log, _guard) = fresh_event_log(backend).await;
    assert_eq!(log.last_position().await.expect("last"), 0);
    assert_eq!(log.safe_position().await.expect("safe"), 0);
    assert_eq!(log.event_count().await.expect("count"), 0);

    let mut appended: Vec<(Position, NewEvent)> = Vec::new();
    for round in 1..=4 {
        let mut batch = vec![new_event("Wallet", "w-1", round), new_event("Partner", &format!("p-{round}"), 1)];
        // Nanoseconds are cut to microseconds, the precision PostgreSQL keeps.
        batch[0].recorded_at = at(round as i64, 123_456_789);
        let written = log.append(&events(batch.clone())).await.expect("append");
        appended.extend(written.into_iter().zip(batch));
    }
    let written: Vec<Position> = appended.iter().map(|(position, _)| *position).collect();
    assert!(written[0] > 0);
    assert!(written.windows(2).all(|pair| pair[0] < pair[1]), "positions {written:?}");

    let read = read_all(&log, 0, 3, appended.len()).await;
    assert_eq!(positions(&read), written);
    for (recorded, (position, new)) in read.iter().zip(&appended) {
        assert_eq!(recorded.position, *position);
        assert_eq!(recorded.event, *new.event());
        let expected_time =
            new.recorded_at - TimeDelta::nanoseconds(i64::from(new.recorded_at.timestamp_subsec_nanos() % 1_000));
        assert_eq!(recorded.recorded_at, expected_time);
    }
    assert_eq!(read[0].recorded_at, at(1, 123_456_000));

    let last = *written.last().expect("positions");
    assert_eq!(log.last_position().await.expect("last"), last);
    assert_eq!(log.safe_position().await.expect("safe"), last);
    assert_eq!(log.event_count().await.expect("count"), 8);
    assert!(log.read_after(last, 10).await.expect("read past the end").is_empty());
    assert!(log.read_after(0, 0).await.expect("read nothing").is_empty());
    assert_eq!(positions(&log.read_after(written[1], 2).await.expect("page")), written[2..4]);
}

/// A group commit appends hundreds of events at once: one multi-row statement on PostgreSQL,
/// chunks of powers of two on SQLite. Positions follow the batch's order, each event reads back as
/// `RecordedEvent::appended` says (what the engine feeds its projections), and a conflict deep in
/// a large batch names the event that conflicted and writes nothing.
async fn large_batches_keep_their_order_and_read_back_as_appended(backend: Backend) {
    let (log, _guard) = fresh_event_log(backend).await;
    let batch: Vec<NewEvent> = (0..701)
        .map(|index| {
            let mut event = new_event(
                if index % 3 == 0 { "Partner" } else { "Wallet" },
                &format!("a-{}", index % 97),
                index / 97 + 1,
            );
            event.recorded_at = at(index as i64, 987_654_321);
            event
        })
        .collect();
    let written = log.append(&events(batch.clone())).await.expect("append");
    assert_eq!(written.len(), batch.len());
    assert!(written.windows(2).all(|pair| pair[0] < pair[1]), "positions follow the batch's order");
    let read = read_all(&log, 0, 1_000, batch.len()).await;
    let expected: Vec<RecordedEvent> =
        written.iter().zip(batch).map(|(position, new)| RecordedEvent::appended(*position, new)).collect();
    assert_eq!(read, expected);

    let mut conflicting: Vec<NewEvent> =
        (0..300).map(|index| new_event("Wallet", &format!("fresh-{index}"), 1)).collect();
    conflicting.push(new_event("Partner", "a-0", 1));
    conflicting.extend((0..40).map(|index| new_event("Wallet", &format!("late-{index}"), 1)));
    match log.append(&events(conflicting)).await {
        Err(StoreError::Conflict { aggregate_type, aggregate_id, sequence }) => {
            assert_eq!((aggregate_type.as_str(), aggregate_id.as_str(), sequence), ("Partner", "a-0", 1))
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(log.event_count().await.expect("count"), 701);
}

async fn credentials_are_found_by_token_hash(backend: Backend) {
    let (log, _guard) = fresh_event_log(backend).await;
    let batch = AppendBatch {
        credentials: vec![credential(1, "admin", "ops"), credential(2, "venue", "pool-nord")],
        ..AppendBatch::default()
    };
    assert!(log.append(&batch).await.expect("append").is_empty());
    assert_eq!(
        log.find_credential(&[2; 32]).await.expect("find"),
        Some(Credential { role: "venue".to_owned(), subject_id: "pool-nord".to_owned() })
    );
    assert_eq!(log.find_credential(&[3; 32]).await.expect("find"), None);

    // A token hash is single-use, and the whole batch fails with it.
    let reused = AppendBatch {
        events: vec![new_event("Partner", "p-1", 1)],
        credentials: vec![credential(1, "citizen", "c-9")],
        ..AppendBatch::default()
    };
    let error = log.append(&reused).await;
    assert!(matches!(error, Err(StoreError::DuplicateCredential)), "{error:?}");
    assert_eq!(log.event_count().await.expect("count"), 0);

    let unknown_role = AppendBatch { credentials: vec![credential(4, "mayor", "m-1")], ..AppendBatch::default() };
    let error = log.append(&unknown_role).await;
    assert!(matches!(&error, Err(StoreError::InvalidRole { role }) if role == "mayor"), "{error:?}");
}

async fn citizen_details_are_replaced_by_a_later_write(backend: Backend) {
    let (log, _guard) = fresh_event_log(backend).await;
    let mut details =
        CitizenDetails { citizen_id: "c-1".to_owned(), neighbourhood: None, birth_year: Some(2001), email: None };
    let batch = AppendBatch { citizen_details: vec![details.clone()], ..AppendBatch::default() };
    log.append(&batch).await.expect("append");
    assert_eq!(log.citizen_details("c-1").await.expect("read"), Some(details.clone()));

    details.neighbourhood = Some("Vaise".to_owned());
    details.birth_year = None;
    let batch = AppendBatch { citizen_details: vec![details.clone()], ..AppendBatch::default() };
    log.append(&batch).await.expect("append again");
    assert_eq!(log.citizen_details("c-1").await.expect("read"), Some(details));
    assert_eq!(log.citizen_details("c-2").await.expect("read"), None);
}

async fn a_citizen_keeps_one_code_and_a_code_names_one_citizen(backend: Backend) {
    let (log, _guard) = fresh_event_log(backend).await;
    let code = |citizen_id: &str, code: &str| CitizenCode { citizen_id: citizen_id.to_owned(), code: code.to_owned() };
    let batch = AppendBatch {
        events: vec![new_event("Wallet", "c-1", 1)],
        citizen_codes: vec![code("c-1", "7K3FQ9RD")],
        ..AppendBatch::default()
    };
    log.append(&batch).await.expect("append");
    assert_eq!(log.citizen_with_code("7K3FQ9RD").await.expect("read").as_deref(), Some("c-1"));
    assert_eq!(log.citizen_with_code("7K3FQ9RE").await.expect("read"), None);

    // A batch giving another citizen a taken code fails whole.
    let taken = AppendBatch {
        events: vec![new_event("Wallet", "c-2", 1)],
        citizen_codes: vec![code("c-2", "7K3FQ9RD")],
        ..AppendBatch::default()
    };
    let error = log.append(&taken).await;
    assert!(matches!(error, Err(StoreError::CitizenCodeTaken)), "{error:?}");
    assert_eq!(log.event_count().await.expect("count"), 1);
    assert_eq!(log.citizen_code("c-2").await.expect("read"), None);

    // Assigning: a citizen with a code keeps it; a taken code is refused; a free one is written.
    assert_eq!(log.assign_citizen_code("c-1", "AAAAAAAA").await.expect("assign"), "7K3FQ9RD");
    let error = log.assign_citizen_code("c-2", "7K3FQ9RD").await;
    assert!(matches!(error, Err(StoreError::CitizenCodeTaken)), "{error:?}");
    assert_eq!(log.assign_citizen_code("c-2", "AAAAAAAA").await.expect("assign"), "AAAAAAAA");
    assert_eq!(log.assign_citizen_code("c-2", "BBBBBBBB").await.expect("assign again"), "AAAAAAAA");
    assert_eq!(log.citizen_with_code("AAAAAAAA").await.expect("read").as_deref(), Some("c-2"));
}

async fn migrate_is_idempotent(backend: Backend) {
    let (log, _guard) = fresh_event_log(backend).await;
    log.append(&events(vec![new_event("Wallet", "w-1", 1)])).await.expect("append");
    log.migrate().await.expect("second migration");
    log.migrate().await.expect("third migration");
    assert_eq!(log.event_count().await.expect("count"), 1);
}

async fn invalid_batches_are_refused_before_writing(backend: Backend) {
    let (log, _guard) = fresh_event_log(backend).await;
    let zero = log.append(&events(vec![new_event("Wallet", "w-1", 0)])).await;
    assert!(matches!(zero, Err(StoreError::InvalidSequence { sequence: 0, .. })), "{zero:?}");

    let too_many: Vec<NewEvent> =
        (1..=MAX_BATCH_LEN + 1).map(|sequence| new_event("Wallet", "w-1", sequence)).collect();
    let error = log.append(&events(too_many)).await;
    assert!(matches!(error, Err(StoreError::BatchTooLarge { list: "events", .. })), "{error:?}");
    assert_eq!(log.event_count().await.expect("count"), 0);
}

/// The stock repositories' `persist` draws positions without the gap-safety protocol; the schema
/// makes it fail rather than let it write.
async fn writes_that_bypass_append_are_refused(backend: Backend) {
    let (log, _guard) = fresh_event_log(backend).await;
    let event = [serialized("Wallet", "w-1", 1)];
    let result = match backend {
        Backend::Sqlite => {
            let pool = log.sqlite_pool().expect("SQLite pool").clone();
            sqlite_es::SqliteEventRepository::new(pool).persist::<Wallet>(&event, None).await
        }
        Backend::Postgres => {
            let pool = log.postgres_pool().expect("PostgreSQL pool").clone();
            postgres_es::PostgresEventRepository::new(pool).persist::<Wallet>(&event, None).await
        }
    };
    assert!(result.is_err(), "a stock persist was accepted");
    assert_eq!(log.event_count().await.expect("count"), 0);
}

async fn concurrent_appends_from_sixteen_tasks_all_land_in_order(backend: Backend) {
    const TASKS: usize = 16;
    const APPENDS_PER_TASK: usize = 10;
    let (log, _guard) = fresh_event_log(backend).await;

    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut written = Vec::new();
            for sequence in 1..=APPENDS_PER_TASK {
                let event = new_event("Wallet", &format!("w-{task}"), sequence);
                written.extend(log.append(&events(vec![event])).await.expect("append"));
            }
            written
        }));
    }
    let mut written = Vec::new();
    for task in tasks {
        written.extend(task.await.expect("task"));
    }
    let unique: HashSet<Position> = written.iter().copied().collect();
    assert_eq!(unique.len(), TASKS * APPENDS_PER_TASK, "positions were reused");

    let read = read_all(&log, 0, 37, written.len()).await;
    let read_positions = positions(&read);
    assert!(read_positions.windows(2).all(|pair| pair[0] < pair[1]), "read out of order");
    written.sort_unstable();
    assert_eq!(read_positions, written);
    // Each stream is complete and in sequence order.
    for task in 0..TASKS {
        let stream = log.load_stream::<Wallet>(&format!("w-{task}"), 0).await.expect("load");
        let sequences: Vec<usize> = stream.iter().map(|event| event.sequence).collect();
        assert_eq!(sequences, (1..=APPENDS_PER_TASK).collect::<Vec<_>>());
    }
}

/// Runs one statement on the log's own database, behind its back.
async fn execute(log: &EventLog, statement: &str) {
    if let Some(pool) = log.sqlite_pool() {
        sqlx::query(statement).execute(pool).await.expect("statement");
    } else {
        let pool = log.postgres_pool().expect("a pool");
        sqlx::query(statement).execute(pool).await.expect("statement");
    }
}

/// `bytes` as a blob literal of the backend's SQL.
fn blob_literal(backend: Backend, bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    if backend == Backend::Sqlite { format!("X'{hex}'") } else { format!("'\\x{hex}'::bytea") }
}

/// Bytes that differ from part to part, so that a part out of place shows.
fn snapshot_body(len: usize) -> Vec<u8> {
    (0..len).map(|index| (index.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

async fn a_snapshot_larger_than_a_part_reads_back_whole(backend: Backend) {
    let (log, _guard) = fresh_event_log(backend).await;
    let large = Snapshot {
        name: "read-models".to_owned(),
        position: 41,
        format: 3,
        body: snapshot_body(SNAPSHOT_PART_BYTES * 2 + 12_345),
    };
    log.save_snapshot(&large).await.expect("saves");
    assert_eq!(log.load_snapshot("read-models").await.expect("loads"), Some(large));
    // A smaller one replaces it, parts and all.
    let small = Snapshot { name: "read-models".to_owned(), position: 42, format: 3, body: snapshot_body(100) };
    log.save_snapshot(&small).await.expect("saves");
    assert_eq!(log.load_snapshot("read-models").await.expect("loads"), Some(small));
    assert_eq!(log.load_snapshot("other").await.expect("loads"), None);
    log.delete_snapshots().await.expect("deletes");
    assert_eq!(log.load_snapshot("read-models").await.expect("loads"), None);
}

async fn a_snapshot_written_before_parts_keeps_its_body_inline(backend: Backend) {
    let (log, _guard) = fresh_event_log(backend).await;
    let literal = blob_literal(backend, &[1, 2, 255]);
    execute(
        &log,
        &format!(
            "INSERT INTO projection_snapshots (name, position, format, body) VALUES ('read-models', 7, 2, {literal})"
        ),
    )
    .await;
    let snapshot = log.load_snapshot("read-models").await.expect("loads").expect("a snapshot");
    assert_eq!((snapshot.position, snapshot.format, snapshot.body), (7, 2, vec![1, 2, 255]));
}

async fn a_snapshot_missing_a_part_does_not_load(backend: Backend) {
    let (log, _guard) = fresh_event_log(backend).await;
    let snapshot = Snapshot {
        name: "read-models".to_owned(),
        position: 9,
        format: 1,
        body: snapshot_body(SNAPSHOT_PART_BYTES * 3),
    };
    log.save_snapshot(&snapshot).await.expect("saves");
    execute(&log, "DELETE FROM projection_snapshot_parts WHERE part = 1").await;
    match log.load_snapshot("read-models").await {
        Err(StoreError::Serialization(message)) => assert!(message.contains("1 of its 3 parts"), "{message}"),
        other => panic!("a snapshot with a hole loaded: {:?}", other.map(|found| found.map(|s| s.body.len()))),
    }
}

/// How many part rows the table holds, for every snapshot.
async fn stored_parts(log: &EventLog) -> i64 {
    let statement = "SELECT count(*) FROM projection_snapshot_parts";
    if let Some(pool) = log.sqlite_pool() {
        sqlx::query_scalar(statement).fetch_one(pool).await.expect("count")
    } else {
        sqlx::query_scalar(statement).fetch_one(log.postgres_pool().expect("a pool")).await.expect("count")
    }
}

/// A body written in pieces of any size reads back whole; until it is finished, and if its writer
/// is dropped instead, readers see the previous snapshot, and the next snapshot removes what the
/// abandoned one stored.
async fn a_snapshot_written_in_pieces_appears_only_once_finished(backend: Backend) {
    let (log, _guard) = fresh_event_log(backend).await;
    let first = Snapshot { name: "read-models".to_owned(), position: 5, format: 4, body: snapshot_body(1_000) };
    log.save_snapshot(&first).await.expect("saves");
    let body = snapshot_body(SNAPSHOT_PART_BYTES * 2 + 777);
    let mut writer = log.snapshot_writer("read-models", 9, 4).await.expect("a writer");
    for piece in body.chunks(SNAPSHOT_PART_BYTES / 3 + 11) {
        writer.write(piece).await.expect("writes");
    }
    assert_eq!(log.load_snapshot("read-models").await.expect("loads"), Some(first.clone()), "not finished yet");
    drop(writer);
    assert_eq!(log.load_snapshot("read-models").await.expect("loads"), Some(first.clone()), "abandoned");
    assert_eq!(stored_parts(&log).await, 1 + 2, "the abandoned parts are still there");
    let mut writer = log.snapshot_writer("read-models", 10, 4).await.expect("a writer");
    for piece in body.chunks(SNAPSHOT_PART_BYTES / 3 + 11) {
        writer.write(piece).await.expect("writes");
    }
    writer.finish().await.expect("finishes");
    let second = Snapshot { name: "read-models".to_owned(), position: 10, format: 4, body };
    assert_eq!(log.load_snapshot("read-models").await.expect("loads"), Some(second));
    assert_eq!(stored_parts(&log).await, 3, "only the last snapshot's parts are kept");
}

/// Two writers of one snapshot name: the one that finishes first removes the other's parts, and
/// the other then refuses to finish rather than point readers at a body with holes.
async fn a_snapshot_whose_parts_another_writer_removed_does_not_finish(backend: Backend) {
    let (log, _guard) = fresh_event_log(backend).await;
    let mut late = log.snapshot_writer("read-models", 20, 4).await.expect("a writer");
    late.write(&snapshot_body(SNAPSHOT_PART_BYTES + 5)).await.expect("writes");
    let early = Snapshot { name: "read-models".to_owned(), position: 21, format: 4, body: snapshot_body(300) };
    log.save_snapshot(&early).await.expect("saves");
    match late.finish().await {
        Err(StoreError::Serialization(message)) => {
            assert!(message.contains("1 of its 2 parts are stored"), "{message}")
        }
        other => panic!("finished over the removed parts: {other:?}"),
    }
    assert_eq!(log.load_snapshot("read-models").await.expect("loads"), Some(early));
}

/// A snapshot written after parts but before their keys (parts under its name) still reads, and
/// is replaced like any other.
async fn a_snapshot_with_parts_under_its_name_reads_back(backend: Backend) {
    let (log, _guard) = fresh_event_log(backend).await;
    let literal = blob_literal(backend, &[1, 2, 255]);
    execute(
        &log,
        &format!("INSERT INTO projection_snapshot_parts (name, part, body) VALUES ('read-models', 0, {literal})"),
    )
    .await;
    let empty = blob_literal(backend, &[]);
    execute(
        &log,
        &format!(
            "INSERT INTO projection_snapshots (name, position, format, body, parts) VALUES ('read-models', 7, 2, {empty}, 1)"
        ),
    )
    .await;
    let snapshot = log.load_snapshot("read-models").await.expect("loads").expect("a snapshot");
    assert_eq!((snapshot.position, snapshot.format, snapshot.body), (7, 2, vec![1, 2, 255]));
    let next = Snapshot { name: "read-models".to_owned(), position: 8, format: 2, body: snapshot_body(10) };
    log.save_snapshot(&next).await.expect("saves");
    assert_eq!(log.load_snapshot("read-models").await.expect("loads"), Some(next));
    assert_eq!(stored_parts(&log).await, 1);
}

fn aggregate_snapshot(sequence: usize, position: Position, format: i32) -> AggregateSnapshot {
    AggregateSnapshot {
        aggregate_type: "Partner".to_owned(),
        aggregate_id: "p-1".to_owned(),
        sequence,
        position,
        format,
        body: vec![sequence as u8; 3 * sequence],
    }
}

async fn an_aggregate_snapshot_is_replaced_only_by_a_later_one_and_must_match_the_log(backend: Backend) {
    let (log, _guard) = fresh_event_log(backend).await;
    let positions = log
        .append(&events((1..=3).map(|sequence| new_event("Partner", "p-1", sequence)).collect()))
        .await
        .expect("append");
    assert_eq!(log.aggregate_snapshot("Partner", "p-1").await.expect("reads"), None);

    let second = aggregate_snapshot(2, positions[1], 1);
    assert!(log.save_aggregate_snapshot(&second).await.expect("saves"));
    assert_eq!(log.aggregate_snapshot("Partner", "p-1").await.expect("reads"), Some(second.clone()));
    assert_eq!(log.aggregate_snapshot("Partner", "p-2").await.expect("reads"), None, "another aggregate's");
    assert_eq!(log.aggregate_snapshot("Wallet", "p-1").await.expect("reads"), None, "another type's");

    // An earlier or equal sequence of the same format does not replace it; a later one does.
    assert!(!log.save_aggregate_snapshot(&aggregate_snapshot(1, positions[0], 1)).await.expect("saves"));
    assert!(!log.save_aggregate_snapshot(&aggregate_snapshot(2, positions[1], 1)).await.expect("saves"));
    assert_eq!(log.aggregate_snapshot("Partner", "p-1").await.expect("reads"), Some(second));
    let third = aggregate_snapshot(3, positions[2], 1);
    assert!(log.save_aggregate_snapshot(&third).await.expect("saves"));
    assert_eq!(log.aggregate_snapshot("Partner", "p-1").await.expect("reads"), Some(third));
    // Another format replaces it whatever its sequence (an engine of another version).
    let other_format = aggregate_snapshot(1, positions[0], 2);
    assert!(log.save_aggregate_snapshot(&other_format).await.expect("saves"));
    assert_eq!(log.aggregate_snapshot("Partner", "p-1").await.expect("reads"), Some(other_format));

    // A snapshot whose event is not at its position (a log restored from another copy) is not
    // returned, and is deleted.
    let wrong = aggregate_snapshot(3, positions[2] + 100, 2);
    assert!(log.save_aggregate_snapshot(&wrong).await.expect("saves"));
    assert_eq!(log.aggregate_snapshot("Partner", "p-1").await.expect("reads"), None);
    let beyond = aggregate_snapshot(9, positions[2], 2);
    assert!(log.save_aggregate_snapshot(&beyond).await.expect("saves"));
    assert_eq!(log.aggregate_snapshot("Partner", "p-1").await.expect("reads"), None, "no event 9");
    assert!(log.save_aggregate_snapshot(&aggregate_snapshot(1, positions[0], 2)).await.expect("saves"), "deleted");

    let mut huge = aggregate_snapshot(3, positions[2], 2);
    huge.body = vec![0; ygor_store::MAX_AGGREGATE_SNAPSHOT_BYTES + 1];
    assert!(matches!(log.save_aggregate_snapshot(&huge).await, Err(StoreError::Serialization(_))));
}

async fn a_countermark_stands_for_one_live_voucher_and_is_forgotten_after_it(backend: Backend) {
    let (log, _guard) = fresh_event_log(backend).await;
    let now = chrono::DateTime::parse_from_rfc3339("2026-07-15T10:00:00Z").expect("a time").with_timezone(&Utc);
    let day = chrono::Duration::days(1);
    assert!(log.put_countermark("7K3FQ9RD", "v1.first", now + day, now).await.expect("put"));
    // Writing it again for the same voucher is harmless; for another voucher it is refused.
    assert!(log.put_countermark("7K3FQ9RD", "v1.first", now + day, now).await.expect("put again"));
    assert!(!log.put_countermark("7K3FQ9RD", "v1.other", now + day, now).await.expect("collision"));
    assert_eq!(log.find_countermark("7K3FQ9RD", now).await.expect("find").as_deref(), Some("v1.first"));
    assert_eq!(log.find_countermark("0000AAAA", now).await.expect("find unknown"), None);
    // Past its keeping time it is unknown, and the next write deletes it: the code is free again.
    let later = now + day + chrono::Duration::seconds(1);
    assert_eq!(log.find_countermark("7K3FQ9RD", later).await.expect("find late"), None);
    assert!(log.put_countermark("7K3FQ9RD", "v1.other", later + day, later).await.expect("reuse"));
    assert_eq!(log.find_countermark("7K3FQ9RD", later).await.expect("find reused").as_deref(), Some("v1.other"));
}

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    super::$scenario(ygor_store::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    super::$scenario(ygor_store::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both_backends!(
    a_countermark_stands_for_one_live_voucher_and_is_forgotten_after_it,
    a_snapshot_larger_than_a_part_reads_back_whole,
    an_aggregate_snapshot_is_replaced_only_by_a_later_one_and_must_match_the_log,
    a_snapshot_written_before_parts_keeps_its_body_inline,
    a_snapshot_missing_a_part_does_not_load,
    a_snapshot_written_in_pieces_appears_only_once_finished,
    a_snapshot_whose_parts_another_writer_removed_does_not_finish,
    a_snapshot_with_parts_under_its_name_reads_back,
    append_then_load_stream_round_trips_through_the_stock_repository,
    batch_spanning_two_aggregate_types_is_atomic,
    duplicate_sequence_is_a_conflict,
    one_event_reads_back_by_its_place_in_its_stream,
    positions_strictly_increase_and_recorded_at_is_stored,
    large_batches_keep_their_order_and_read_back_as_appended,
    credentials_are_found_by_token_hash,
    citizen_details_are_replaced_by_a_later_write,
    a_citizen_keeps_one_code_and_a_code_names_one_citizen,
    migrate_is_idempotent,
    invalid_batches_are_refused_before_writing,
    writes_that_bypass_append_are_refused,
    concurrent_appends_from_sixteen_tasks_all_land_in_order,
);

#[tokio::test]
async fn open_without_url_creates_the_sqlite_file_in_the_data_directory() {
    let directory = fresh_sqlite_dir();
    let data_dir = directory.path().join("nested").join("data");
    let log = EventLog::open(None, &data_dir).await.expect("open");
    assert_eq!(log.backend(), Backend::Sqlite);
    assert!(data_dir.join("ygor.db").exists());

    // WAL, synchronous=FULL and foreign keys, as the module promises.
    let pool = log.sqlite_pool().expect("SQLite pool");
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(pool).await.expect("journal_mode");
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(pool).await.expect("synchronous");
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(pool).await.expect("foreign_keys");
    assert_eq!((journal.as_str(), synchronous, foreign_keys), ("wal", 2, 1));
}

/// Commits never checkpoint the WAL themselves (a checkpoint inside a commit stalled every request
/// queued behind it); a background task copies it into the database file instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wal_is_checkpointed_in_the_background() {
    let (log, directory) = fresh_event_log(Backend::Sqlite).await;
    let directory = directory.expect("SQLite directory");
    let pool = log.sqlite_pool().expect("SQLite pool");
    let automatic: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint").fetch_one(pool).await.expect("pragma");
    assert_eq!(automatic, 0, "no checkpoint inside a commit");
    let database = directory.path().join(ygor_store::DEFAULT_SQLITE_FILE);
    let before = std::fs::metadata(&database).expect("database file").len();
    for round in 0..20 {
        let batch = (1..=100).map(|index| new_event("Wallet", &format!("w-{round}-{index}"), 1)).collect();
        log.append(&events(batch)).await.expect("append");
    }
    let started = Instant::now();
    while std::fs::metadata(&database).expect("database file").len() < before + 500_000 {
        assert!(started.elapsed() < Duration::from_secs(10), "the events never reached the database file");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn open_dispatches_on_the_url_scheme() {
    let directory = fresh_sqlite_dir();
    let path = directory.path().join("elsewhere.db");
    let url = format!("sqlite:{}", path.display());
    let log = EventLog::open(Some(&url), directory.path()).await.expect("open sqlite");
    assert_eq!(log.backend(), Backend::Sqlite);
    log.migrate().await.expect("migrate");
    assert!(path.exists());

    let postgres_url = fresh_postgres_url().await;
    let log = EventLog::open(Some(&postgres_url), directory.path()).await.expect("open postgres");
    assert_eq!(log.backend(), Backend::Postgres);
    let postgresql_url = postgres_url.replacen("postgres://", "postgresql://", 1);
    let log = EventLog::open(Some(&postgresql_url), directory.path()).await.expect("open postgresql");
    assert_eq!(log.backend(), Backend::Postgres);

    let error =
        EventLog::open(Some("mysql://root:hunter2@db/ygor"), directory.path()).await.expect_err("mysql is refused");
    let message = error.to_string();
    for accepted in ["sqlite:<path>", "postgres://", "postgresql://", "`mysql`"] {
        assert!(message.contains(accepted), "{message}");
    }
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn unreachable_postgres_is_an_error() {
    // Port 1 is never a PostgreSQL server.
    let result = EventLog::open_postgres("postgres://postgres@127.0.0.1:1/postgres").await;
    assert!(matches!(result, Err(StoreError::Database(_))), "{result:?}");
}

/// The pool checks a connection only after it idled a while (`checked_after_idle`): the
/// connections a PostgreSQL server dropped while they idled (a restart, an idle timeout) are
/// replaced before anyone uses them.
#[tokio::test]
async fn connections_the_server_dropped_while_idle_are_replaced_unseen() {
    let url = fresh_postgres_url().await;
    let log = EventLog::open_postgres(&url).await.expect("open");
    log.migrate().await.expect("migrate");
    // Several connections in the pool, all busy at once.
    let appends = (0..4).map(|task| {
        let log = log.clone();
        async move { log.append(&events(vec![new_event("Wallet", &format!("w-{task}"), 1)])).await.expect("append") }
    });
    futures::future::join_all(appends).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.expect("connect");
    let dropped: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()) AS terminated",
    )
    .fetch_one(&mut admin)
    .await
    .expect("terminate");
    assert!(dropped >= 1, "the log's connections were open");
    // Every read and append after that goes through, on new connections.
    for task in 0..4 {
        log.append(&events(vec![new_event("Wallet", &format!("w-{task}"), 2)])).await.expect("append after the drop");
    }
    let read = read_all(&log, 0, 100, 8).await;
    assert_eq!(read.len(), 8);
}
