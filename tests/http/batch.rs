//! An association certifies many actions in one request, `POST /v1/certifications/batch`: each
//! certification is answered as it would be alone, in order, and the batch ends where sending
//! them one by one ends.

use reqwest::StatusCode;
use serde_json::{Value, json};
use ygor_crypto::{SecretKey, SignedKind};

use crate::helpers::{Answer, Backend, Citizen, Partner, RULES, TestApp, spawn_app, spawn_app_with};
use crate::throwaway_postgres::Cluster;

crate::on_both_backends!(
    a_mixed_batch_answers_each_certification_as_if_sent_alone_and_ends_where_one_by_one_ends,
    a_batch_sent_again_is_answered_from_the_log_for_every_certification_it_recorded,
    a_batch_holds_one_to_a_thousand_certifications_within_its_body_limit,
    a_batch_needs_the_token_of_an_active_association,
    a_batch_the_write_queue_cannot_take_whole_is_refused_whole,
    the_audit_verifies_certifications_recorded_by_batches,
);

const BATCH: &str = "/v1/certifications/batch";

async fn send_batch(app: &TestApp, association: &Partner, certifications: &[Value]) -> Answer {
    app.post(BATCH, &association.token, json!({ "certifications": certifications })).await
}

fn signed(association: &Partner, body: Value) -> Value {
    TestApp::sign(SignedKind::Certification, body, &association.key)
}

/// One certification of the mixed batch, described apart from the ids of the app it goes to.
#[derive(Debug, Clone, Copy)]
enum Item {
    /// A new certification for citizen `n` (0 to 2).
    New(usize, &'static str, u64),
    /// The same signed certification as item `n` of the batch.
    Again(usize),
    /// Item `n`'s action id with another quantity.
    Reused(usize),
    /// The certification recorded before the batch, again.
    Earlier,
    UnknownCitizen,
    WrongKey,
    OtherAssociation,
    UnknownField,
    NotAnObject,
    InFuture,
}

/// What the mixed batch expects of each item: status, code, tokens.
const MIXED: [(Item, u16, &str, u64); 16] = [
    (Item::New(0, "ecologie", 1), 201, "", 10),
    (Item::New(0, "velo", 25), 201, "", 25),
    // The second ride of the month for citizen 0 reaches the cap of 30: what is left of it.
    (Item::New(0, "velo", 25), 201, "", 5),
    (Item::Earlier, 200, "", 8),
    (Item::Reused(0), 409, "id_conflict", 0),
    (Item::UnknownCitizen, 422, "unknown_citizen", 0),
    (Item::WrongKey, 422, "invalid_signature", 0),
    (Item::OtherAssociation, 403, "forbidden", 0),
    (Item::UnknownField, 400, "validation_failed", 0),
    (Item::NotAnObject, 400, "validation_failed", 0),
    (Item::InFuture, 422, "occurred_in_future", 0),
    (Item::New(1, "ecologie", 1), 201, "", 10),
    (Item::Again(11), 200, "", 10),
    // 5 tokens left in the envelope of 63: not enough for 8...
    (Item::New(1, "culture", 1), 409, "envelope_exhausted", 0),
    // ...enough for 3, then 2.
    (Item::New(2, "velo", 3), 201, "", 3),
    (Item::New(2, "velo", 2), 201, "", 2),
];

/// A territory for the mixed batch: an association with 63 tokens, another one, three citizens,
/// and one certification (8 tokens for citizen 1) recorded before the batch.
struct World {
    association: Partner,
    other: Partner,
    citizens: Vec<Citizen>,
    earlier: Value,
}

async fn world(app: &TestApp) -> World {
    let (association, _venue, first) = app.territory(63).await;
    let other = app.register_partner("association").await;
    let citizens = vec![first, app.register_citizen().await, app.register_citizen().await];
    let earlier = signed(&association, TestApp::certification(&association, &citizens[1], "culture", 1));
    app.post("/v1/certifications", &association.token, earlier.clone()).await.expect(StatusCode::CREATED);
    World { association, other, citizens, earlier }
}

/// The mixed batch's bodies for the app `world` lives in.
fn mixed_bodies(world: &World) -> Vec<Value> {
    let association = &world.association;
    let mut bodies: Vec<Value> = Vec::new();
    for (item, ..) in MIXED {
        let body = match item {
            Item::New(citizen, category, quantity) => {
                signed(association, TestApp::certification(association, &world.citizens[citizen], category, quantity))
            }
            Item::Again(index) => bodies[index].clone(),
            Item::Reused(index) => {
                let mut body = bodies[index].clone();
                body.as_object_mut().expect("an object").remove("signature");
                body["quantity"] = json!(body["quantity"].as_u64().expect("a quantity") + 1);
                signed(association, body)
            }
            Item::Earlier => world.earlier.clone(),
            Item::UnknownCitizen => {
                let mut body = TestApp::certification(association, &world.citizens[0], "ecologie", 1);
                body["citizen_id"] = json!(uuid::Uuid::new_v4().to_string());
                signed(association, body)
            }
            Item::WrongKey => TestApp::sign(
                SignedKind::Certification,
                TestApp::certification(association, &world.citizens[0], "ecologie", 1),
                &SecretKey::generate(),
            ),
            Item::OtherAssociation => {
                let mut body = TestApp::certification(association, &world.citizens[0], "ecologie", 1);
                body["association_id"] = json!(world.other.id);
                signed(association, body)
            }
            Item::UnknownField => {
                let mut body = TestApp::certification(association, &world.citizens[0], "ecologie", 1);
                body["note"] = json!("fête de quartier");
                signed(association, body)
            }
            Item::NotAnObject => json!(42),
            Item::InFuture => {
                let mut body = TestApp::certification(association, &world.citizens[1], "ecologie", 1);
                body["occurred_at"] = json!((chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339());
                signed(association, body)
            }
        };
        bodies.push(body);
    }
    bodies
}

/// What a request or a batch item answered, to compare one with the other.
#[derive(Debug, PartialEq)]
struct Outcome {
    status: u16,
    code: String,
    tokens: Option<u64>,
    gold: Option<bool>,
    has_lot: bool,
}

impl Outcome {
    fn of(status: u16, body: &Value) -> Outcome {
        Outcome {
            status,
            code: body["code"].as_str().unwrap_or("").to_owned(),
            tokens: body["tokens"].as_u64(),
            gold: body["gold"].as_bool(),
            has_lot: body["lot_id"].is_string() && body["expires_at"].is_string(),
        }
    }
}

/// The wallet and partner events written after `after`, as (stream, event, sequence): the same
/// effects in the same order, whatever the ids.
async fn effects_after(app: &TestApp, after: i64) -> Vec<(String, String, u64)> {
    let page =
        app.get(&format!("/v1/audit/events?after={after}&limit=1000"), &app.admin_token).await.expect(StatusCode::OK);
    page["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|event| event["aggregate_type"] != "territory")
        .map(|event| {
            (
                event["aggregate_type"].as_str().expect("a stream").to_owned(),
                event["event_type"].as_str().expect("an event").to_owned(),
                event["sequence"].as_u64().expect("a sequence"),
            )
        })
        .collect()
}

/// Balances and figures a batch and its items sent one by one must leave alike.
async fn state_of(app: &TestApp, world: &World, position: i64) -> Vec<Value> {
    let mut state = Vec::new();
    for citizen in &world.citizens {
        let wallet = app.wallet(citizen, position).await;
        // The lots of a batch are issued at the same time, the request's: their order is their ids'.
        let mut lots: Vec<(u64, u64)> = wallet["lots"]
            .as_array()
            .expect("lots")
            .iter()
            .map(|lot| (lot["amount"].as_u64().expect("an amount"), lot["remaining"].as_u64().expect("remaining")))
            .collect();
        lots.sort_unstable();
        state.push(json!({ "balance": wallet["balance"], "gold": wallet["gold"], "lots": lots }));
    }
    let circulation = app.circulation(position).await;
    for figure in ["treasury", "envelopes", "wallets", "issued", "gold_issued"] {
        state.push(json!({ figure: circulation[figure] }));
    }
    state
}

async fn a_mixed_batch_answers_each_certification_as_if_sent_alone_and_ends_where_one_by_one_ends(backend: Backend) {
    let batched = spawn_app(backend).await;
    let one_by_one = spawn_app(backend).await;
    let (batch_world, single_world) = (world(&batched).await, world(&one_by_one).await);
    let (batch_start, single_start) = (batched.latest().await, one_by_one.latest().await);

    let bodies = mixed_bodies(&batch_world);
    let answer = send_batch(&batched, &batch_world.association, &bodies).await.expect(StatusCode::OK);
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), MIXED.len());
    let mut singles = Vec::new();
    for body in mixed_bodies(&single_world) {
        let single = one_by_one.post("/v1/certifications", &single_world.association.token, body).await;
        singles.push(Outcome::of(single.status.as_u16(), &single.body));
    }

    for (index, ((item, status, code, tokens), result)) in MIXED.iter().zip(results).enumerate() {
        let outcome = Outcome::of(result["status"].as_u64().expect("a status") as u16, result);
        assert_eq!(outcome, singles[index], "item {index} ({item:?}): {result}");
        assert_eq!((outcome.status, outcome.code.as_str()), (*status, *code), "item {index} ({item:?}): {result}");
        if *status < 300 {
            assert_eq!(outcome.tokens, Some(*tokens), "item {index} ({item:?}): {result}");
            assert!(result.get("detail").is_none() && result.get("code").is_none(), "{result}");
        } else {
            assert!(result["detail"].as_str().is_some_and(|detail| !detail.is_empty()), "{result}");
            assert!(result.get("tokens").is_none(), "a refusal earns nothing: {result}");
        }
        match item {
            Item::NotAnObject => assert!(result["action_id"].is_null(), "{result}"),
            _ => assert_eq!(result["action_id"], bodies[index]["action_id"], "item {index}"),
        }
    }
    // The retry of the earlier certification is answered as it was.
    let earlier = &results[3];
    let again = batched.post("/v1/certifications", &batch_world.association.token, batch_world.earlier.clone()).await;
    assert_eq!(earlier["lot_id"], again.body["lot_id"]);

    let position = answer["position"].as_i64().expect("a position");
    assert_eq!(position, batched.latest().await, "the batch's position is its last event's");
    let batch_state = state_of(&batched, &batch_world, position).await;
    let single_state = state_of(&one_by_one, &single_world, one_by_one.latest().await).await;
    assert_eq!(batch_state, single_state);
    assert_eq!(batch_state[0]["balance"], 40);
    assert_eq!(batch_state[3], json!({ "treasury": 1_000_000 - 63 }));
    assert_eq!(batch_state[4], json!({ "envelopes": 0 }));
    assert_eq!(effects_after(&batched, batch_start).await, effects_after(&one_by_one, single_start).await);
}

async fn a_batch_sent_again_is_answered_from_the_log_for_every_certification_it_recorded(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    let mut bodies: Vec<Value> = (0..5)
        .map(|quantity| signed(&association, TestApp::certification(&association, &citizen, "velo", quantity + 1)))
        .collect();
    let unknown = TestApp::certification(&association, &citizen, "peche", 1);
    bodies.insert(2, signed(&association, unknown));
    let first = send_batch(&app, &association, &bodies).await.expect(StatusCode::OK);
    let statuses: Vec<u64> =
        first["results"].as_array().expect("results").iter().map(|r| r["status"].as_u64().expect("a status")).collect();
    assert_eq!(statuses, [201, 201, 422, 201, 201, 201]);
    assert_eq!(first["results"][2]["code"], "unknown_category");
    let issued = app.circulation(first["position"].as_i64().expect("a position")).await["issued"].clone();
    assert_eq!(issued, 15);

    let again = send_batch(&app, &association, &bodies).await.expect(StatusCode::OK);
    for (first, again) in
        first["results"].as_array().expect("results").iter().zip(again["results"].as_array().expect("results"))
    {
        let mut expected = first.clone();
        if expected["status"] == 201 {
            expected["status"] = json!(200);
        }
        assert_eq!(again, &expected, "the same answer, as a retry");
    }
    assert_eq!(again["position"], first["position"], "nothing written: the same position");
    assert_eq!(app.circulation(app.latest().await).await["issued"], issued);
    // Each certification of the batch sent alone is a retry too.
    let single = app.post("/v1/certifications", &association.token, bodies[0].clone()).await.expect(StatusCode::OK);
    assert_eq!(single["lot_id"], first["results"][0]["lot_id"]);
}

async fn a_batch_holds_one_to_a_thousand_certifications_within_its_body_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(10_000).await;
    let one = signed(&association, TestApp::certification(&association, &citizen, "culture", 1));

    let refused = |answer: Answer, about: &str| {
        let detail = answer.body["detail"].as_str().unwrap_or("").to_owned();
        answer.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
        assert!(detail.contains(about), "{detail}");
    };
    refused(send_batch(&app, &association, &[]).await, "1 to 1000");
    refused(send_batch(&app, &association, &vec![one.clone(); 1_001]).await, "holds 1001");
    refused(app.post(BATCH, &association.token, json!({ "certifications": one })).await, "invalid JSON body");
    refused(app.post(BATCH, &association.token, json!({ "certifications": [], "dry_run": true })).await, "dry_run");
    refused(app.post(BATCH, &association.token, json!([one])).await, "invalid JSON body");
    let over = ygor_api::routes::association::BATCH_BODY_LIMIT + 1;
    let padding = json!({ "certifications": [one], "padding": "x".repeat(over) });
    refused(app.post(BATCH, &association.token, padding).await, &format!("{} bytes", over - 1));
    let response = app
        .client
        .post(format!("{}{BATCH}", app.address))
        .bearer_auth(&association.token)
        .body(json!({ "certifications": [one] }).to_string())
        .send()
        .await
        .expect("an answer");
    TestApp::answer(response).await.expect_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    assert_eq!(app.circulation(app.latest().await).await["issued"], 0, "nothing was written");

    // A key repeated in one certification is that certification's refusal, as it would be alone.
    let text = one.to_string();
    let repeated = text.replacen("\"quantity\":1", "\"quantity\":1,\"quantity\":2", 1);
    assert_ne!(repeated, text);
    let other = signed(&association, TestApp::certification(&association, &citizen, "culture", 1));
    let response = app
        .client
        .post(format!("{}{BATCH}", app.address))
        .bearer_auth(&association.token)
        .header("content-type", "application/json")
        .body(format!("{{\"certifications\": [{repeated}, {other}]}}"))
        .send()
        .await
        .expect("an answer");
    let answer = TestApp::answer(response).await.expect(StatusCode::OK);
    assert_eq!(
        (answer["results"][0]["status"].as_u64(), answer["results"][0]["code"].as_str()),
        (Some(400), Some("validation_failed"))
    );
    assert!(answer["results"][0]["detail"].as_str().is_some_and(|detail| detail.contains("twice")), "{answer}");
    assert_eq!(answer["results"][0]["action_id"], one["action_id"]);
    assert_eq!(answer["results"][1]["status"], 201);

    // 1,000 certifications of the longest shape fit in the body limit, with room.
    let mut longest = TestApp::certification(&association, &citizen, &"c".repeat(64), 1_000_000);
    longest["occurred_at"] = json!("2026-07-14T10:00:00.123456789+02:00");
    let longest = signed(&association, longest).to_string().len() + 1;
    assert!(1_000 * longest + 100 < ygor_api::routes::association::BATCH_BODY_LIMIT, "{longest} bytes each");

    // And 1,000 certifications are answered, each on its own.
    let occurred_at = (chrono::Utc::now() - chrono::Duration::minutes(5))
        .with_timezone(&chrono::FixedOffset::east_opt(7_200).expect("an offset"));
    let bodies: Vec<Value> = (0..1_000)
        .map(|_| {
            let mut body = TestApp::certification(&association, &citizen, "culture", 1);
            body["occurred_at"] = json!(occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, false));
            signed(&association, body)
        })
        .collect();
    let answer = send_batch(&app, &association, &bodies).await.expect(StatusCode::OK);
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), 1_000);
    assert!(results.iter().all(|result| result["status"] == 201 && result["tokens"] == 8), "{}", results[0]);
    let wallet = app.wallet(&citizen, answer["position"].as_i64().expect("a position")).await;
    assert_eq!(wallet["balance"], 8 + 8_000);
}

async fn a_batch_needs_the_token_of_an_active_association(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(100).await;
    let bodies = [signed(&association, TestApp::certification(&association, &citizen, "ecologie", 1))];
    for token in [venue.token.as_str(), citizen.token.as_str(), app.admin_token.as_str()] {
        app.post(BATCH, token, json!({ "certifications": bodies }))
            .await
            .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    }
    app.send(reqwest::Method::POST, BATCH, None, Some(json!({ "certifications": bodies })))
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    app.post(&format!("/v1/partners/{}/suspend", association.id), &app.admin_token, json!({}))
        .await
        .expect(StatusCode::OK);
    send_batch(&app, &association, &bodies).await.expect_problem(StatusCode::FORBIDDEN, "partner_suspended");
    assert_eq!(app.circulation(app.latest().await).await["issued"], 0, "nothing was written");

    let document = app.send(reqwest::Method::GET, "/openapi.json", None, None).await.expect(StatusCode::OK);
    assert!(document["paths"][BATCH]["post"].is_object(), "the batch is in the OpenAPI document");
}

async fn a_batch_the_write_queue_cannot_take_whole_is_refused_whole(backend: Backend) {
    // A queue of one place: a batch of two certifications cannot have both queued at once.
    let app = spawn_app_with(backend, |config| config.engine.queue_capacity = 1).await;
    let (association, _venue, citizen) = app.territory(100).await;
    let bodies: Vec<Value> =
        (0..2).map(|_| signed(&association, TestApp::certification(&association, &citizen, "ecologie", 1))).collect();
    let response = app
        .client
        .post(format!("{}{BATCH}", app.address))
        .bearer_auth(&association.token)
        .json(&json!({ "certifications": bodies }))
        .send()
        .await
        .expect("an answer");
    assert!(response.headers().contains_key("retry-after"), "a 503 says when to retry");
    TestApp::answer(response).await.expect_problem(StatusCode::SERVICE_UNAVAILABLE, "overloaded");
    assert_eq!(app.circulation(app.latest().await).await["issued"], 0, "nothing was written");
    let answer = send_batch(&app, &association, &bodies[..1]).await.expect(StatusCode::OK);
    assert_eq!(answer["results"][0]["status"], 201);
}

async fn the_audit_verifies_certifications_recorded_by_batches(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(10_000).await;
    // Gold on half of the actions: the audit recomputes each outcome from the period's seed.
    app.put_rules(&format!("{RULES}\n[gold]\nprobability = 0.5\nperiod = \"P1M\"\n")).await.expect(StatusCode::OK);
    let other = app.register_citizen().await;
    for round in 0..3 {
        let mut bodies: Vec<Value> = (0..40)
            .map(|index| {
                let citizen = if index % 2 == 0 { &citizen } else { &other };
                signed(&association, TestApp::certification(&association, citizen, "culture", round))
            })
            .collect();
        // A retry and a refusal among them.
        bodies.push(bodies[0].clone());
        bodies.push(TestApp::sign(
            SignedKind::Certification,
            TestApp::certification(&association, &citizen, "culture", 1),
            &SecretKey::generate(),
        ));
        let answer = send_batch(&app, &association, &bodies).await.expect(StatusCode::OK);
        assert_eq!(answer["results"][40]["status"], 200);
        assert_eq!(answer["results"][41]["code"], "invalid_signature");
    }
    let gold = app.circulation(app.latest().await).await["gold_issued"].as_u64().expect("gold");
    assert!(gold > 0, "some actions earned gold");
    let (code, output) = app.audit_verify();
    assert_eq!(code, 0, "{output}");
}

/// PostgreSQL goes away while batches are being certified: a batch is answered `200`, or `503`
/// with `storage_unavailable` or `outcome_unknown`, never anything else; once the database is
/// back, each batch sent again is answered from the log for what was recorded and written for the
/// rest, and every certification is recorded exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_batch_cut_short_by_an_outage_is_safe_to_send_again() {
    let cluster = Cluster::start();
    let url = cluster.url.clone();
    let app = spawn_app_with(Backend::Postgres, move |config| config.database_url = Some(url)).await;
    let (association, _venue, citizen) = app.territory(1_000_000).await;
    let app = std::sync::Arc::new(app);
    let association = std::sync::Arc::new(association);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let bodies = |association: &Partner| -> Vec<Value> {
        (0..100).map(|_| signed(association, TestApp::certification(association, &citizen, "culture", 1))).collect()
    };
    let batches: Vec<Vec<Value>> = (0..40).map(|_| bodies(&association)).collect();
    let batches = std::sync::Arc::new(batches);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let senders: Vec<_> = (0..2)
        .map(|_| {
            let (app, association, stop, batches, next) =
                (app.clone(), association.clone(), stop.clone(), batches.clone(), next.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(batch) = batches.get(index) else { break };
                    let answer = send_batch(&app, &association, batch).await;
                    answers.push((index, answer.status, answer.code().to_owned()));
                    if answer.status != StatusCode::OK {
                        break;
                    }
                }
                answers
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    cluster.crash();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut sent = Vec::new();
    for sender in senders {
        sent.extend(sender.await.expect("a sender"));
    }
    for (index, status, code) in &sent {
        match (*status, code.as_str()) {
            (StatusCode::OK, _) | (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable" | "outcome_unknown") => {}
            other => panic!("batch {index} answered {other:?}"),
        }
    }
    assert!(sent.iter().any(|(_, status, _)| *status != StatusCode::OK), "some batches met the outage: {sent:?}");

    cluster.restart();
    let started = std::time::Instant::now();
    let mut recorded = 0;
    for (index, status, code) in &sent {
        let answer = loop {
            let answer = send_batch(&app, &association, &batches[*index]).await;
            if answer.status == StatusCode::OK || started.elapsed() > std::time::Duration::from_secs(30) {
                break answer.expect(StatusCode::OK);
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        for result in answer["results"].as_array().expect("results") {
            match result["status"].as_u64() {
                // A batch answered 200 before the outage is answered from the log now; one
                // refused as storage_unavailable had nothing written.
                Some(200) => assert_ne!(code, "storage_unavailable", "batch {index} was written: {result}"),
                Some(201) => assert_ne!(*status, StatusCode::OK, "batch {index} was recorded, yet written again"),
                other => panic!("batch {index}: {other:?} {result}"),
            }
        }
        recorded += 100;
    }
    let circulation = app.circulation(app.latest().await).await;
    assert_eq!(circulation["issued"].as_u64(), Some(8 * recorded), "every certification recorded once");
    eprintln!(
        "outage: {} batches sent, {} answered 200, {} storage_unavailable, {} outcome_unknown",
        sent.len(),
        sent.iter().filter(|(_, status, _)| *status == StatusCode::OK).count(),
        sent.iter().filter(|(_, _, code)| code == "storage_unavailable").count(),
        sent.iter().filter(|(_, _, code)| code == "outcome_unknown").count(),
    );
    let (code, output) = app.audit_verify();
    assert_eq!(code, 0, "{output}");
}
