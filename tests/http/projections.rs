//! What citizens, associations, venues and the collectivity see: profiles, badges, missions,
//! dashboards and statements, all projections of the log; and a rebuild equals the live state.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, Citizen, RULES, TestApp, spawn_app};

crate::on_both_backends!(
    a_profile_lists_actions_badges_and_levels,
    missions_match_interests_then_neighbourhood_then_start,
    participation_is_counted_by_every_dimension_and_as_csv,
    a_venue_statement_covers_a_period,
    projection_lag_is_reported,
    a_rebuild_equals_the_live_read_models,
    a_restart_resumes_from_the_snapshot_and_equals_a_rebuild,
);

const BADGES: &str = r#"
[[badges]]
id = "ecologie-1"
label = "Écologie — niveau 1"
category = "ecologie"
actions_min = 2

[[badges]]
id = "ecologie-2"
label = "Écologie — niveau 2"
category = "ecologie"
actions_min = 3

[[badges]]
id = "velo-mars"
label = "20 km à vélo"
category = "velo"
quantity_min = 20
"#;

fn at_days_ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339()
}

async fn certify_on(
    app: &TestApp,
    association: &crate::helpers::Partner,
    citizen: &Citizen,
    category: &str,
    quantity: u64,
    days_ago: i64,
) -> Value {
    let mut body = TestApp::certification(association, citizen, category, quantity);
    body["occurred_at"] = json!(at_days_ago(days_ago));
    app.certify_body(association, body).await.expect(StatusCode::CREATED)
}

async fn a_profile_lists_actions_badges_and_levels(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    app.put_rules(&format!("{RULES}{BADGES}")).await.expect(StatusCode::OK);
    let first = certify_on(&app, &association, &citizen, "ecologie", 1, 3).await;
    let second = certify_on(&app, &association, &citizen, "ecologie", 1, 2).await;
    let third = certify_on(&app, &association, &citizen, "ecologie", 1, 1).await;
    let position = third["position"].as_i64().expect("position");
    let profile =
        app.get(&format!("/v1/me/profile?min_position={position}"), &citizen.token).await.expect(StatusCode::OK);
    assert_eq!(profile["actions"].as_array().map(Vec::len), Some(3));
    assert_eq!(profile["actions"][0]["action_id"], third["action_id"], "most recent first");
    assert_eq!(profile["actions"][0]["association_id"], association.id.as_str());
    assert_eq!(profile["actions"][0]["tokens"], 10);
    let badges = profile["badges"].as_array().expect("badges");
    assert_eq!(badges.len(), 2);
    assert_eq!(badges[0]["id"], "ecologie-1");
    assert_eq!(badges[1]["id"], "ecologie-2");
    assert_eq!((badges[0]["level"].as_u64(), badges[1]["level"].as_u64()), (Some(1), Some(2)));
    // Awarded at the time of the action that crossed the threshold.
    let occurred = |answer: &Value| answer["action_id"].clone();
    let action_time = |id: Value| {
        profile["actions"].as_array().expect("actions").iter().find(|action| action["action_id"] == id).expect("action")
            ["occurred_at"]
            .clone()
    };
    assert_eq!(badges[0]["awarded_at"], action_time(occurred(&second)));
    assert_eq!(badges[1]["awarded_at"], action_time(occurred(&third)));
    assert_eq!(profile["levels"][0]["category"], "ecologie");
    assert_eq!(profile["levels"][0]["level"], 2);
    assert_eq!(profile["interests"], json!(["ecologie"]));

    // A revoked action leaves the registry and the progress, a badge already awarded stays.
    let path = format!("/v1/certifications/{}/revoke", first["action_id"].as_str().expect("id"));
    let revoked = app.post(&path, &association.token, json!({ "reason": "doublon" })).await.expect(StatusCode::OK);
    let profile = app
        .get(&format!("/v1/me/profile?min_position={}", revoked["position"]), &citizen.token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(profile["actions"].as_array().map(Vec::len), Some(2));
    assert_eq!(profile["badges"].as_array().map(Vec::len), Some(2));

    // Quantity badges: 12 + 9 km cross 20 km on the second ride.
    certify_on(&app, &association, &citizen, "velo", 12, 1).await;
    let ride = certify_on(&app, &association, &citizen, "velo", 9, 0).await;
    let profile = app
        .get(&format!("/v1/me/profile?min_position={}", ride["position"]), &citizen.token)
        .await
        .expect(StatusCode::OK);
    assert!(profile["badges"].as_array().expect("badges").iter().any(|badge| badge["id"] == "velo-mars"));
    // Another citizen's profile is theirs alone.
    let other = app.register_citizen().await;
    let empty = app.get("/v1/me/profile", &other.token).await.expect(StatusCode::OK);
    assert_eq!(empty["actions"], json!([]));
    app.get("/v1/me/profile", &association.token).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");
}

fn mission(title: &str, categories: &[&str], neighbourhood: Option<&str>, starts_in_days: i64) -> Value {
    let starts = chrono::Utc::now() + chrono::Duration::days(starts_in_days);
    json!({
        "mission_id": uuid::Uuid::new_v4().to_string(),
        "title": title,
        "categories": categories,
        "neighbourhood": neighbourhood,
        "starts_at": starts.to_rfc3339(),
        "ends_at": (starts + chrono::Duration::days(2)).to_rfc3339(),
    })
}

async fn missions_match_interests_then_neighbourhood_then_start(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    // The citizen lives in Plaisance with interest `ecologie`; add `culture`.
    let changed = app
        .send(
            Method::PUT,
            "/v1/me/interests",
            Some(&citizen.token),
            Some(json!({ "interests": ["ecologie", "culture"] })),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(changed["interests"], json!(["ecologie", "culture"]));
    let both = mission("Festival : stands et nettoyage", &["ecologie", "culture"], Some("Centre"), 20);
    let near = mission("Nettoyage des berges", &["ecologie"], Some("Plaisance"), 10);
    let far_early = mission("Atelier compost", &["ecologie"], Some("Gare"), 3);
    let far_late = mission("Atelier d'écriture", &["culture"], None, 5);
    let unrelated = mission("Sortie vélo", &["velo"], Some("Plaisance"), 1);
    let closed = mission("Ancienne mission", &["ecologie"], Some("Plaisance"), 1);
    for body in [&both, &near, &far_early, &far_late, &unrelated, &closed] {
        app.post("/v1/missions", &association.token, body.clone()).await.expect(StatusCode::CREATED);
    }
    app.post("/v1/missions", &association.token, near.clone()).await.expect(StatusCode::OK);
    let mut changed_body = near.clone();
    changed_body["title"] = json!("Autre titre");
    app.post("/v1/missions", &association.token, changed_body)
        .await
        .expect_problem(StatusCode::CONFLICT, "id_conflict");
    app.post("/v1/missions", &venue.token, mission("x", &["ecologie"], None, 1))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let mut backwards = mission("x", &["ecologie"], None, 1);
    backwards["ends_at"] = json!(at_days_ago(1));
    app.post("/v1/missions", &association.token, backwards)
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    let closing = format!("/v1/missions/{}/close", closed["mission_id"].as_str().expect("id"));
    let other = app.register_partner("association").await;
    app.post(&closing, &other.token, json!({})).await.expect_problem(StatusCode::NOT_FOUND, "not_found");
    let closed_answer = app.post(&closing, &association.token, json!({})).await.expect(StatusCode::OK);

    let position = closed_answer["position"].as_i64().expect("position");
    let matches =
        app.get(&format!("/v1/me/missions?min_position={position}"), &citizen.token).await.expect(StatusCode::OK);
    let titles: Vec<&str> =
        matches["missions"].as_array().expect("missions").iter().map(|m| m["title"].as_str().unwrap_or("")).collect();
    assert_eq!(
        titles,
        ["Festival : stands et nettoyage", "Nettoyage des berges", "Atelier compost", "Atelier d'écriture"]
    );
    let why = matches["missions"][1]["why"].as_str().expect("why");
    assert!(why.contains("Écologie") && why.contains("Plaisance"), "says why: {why}");
    assert_eq!(matches["missions"][0]["shared_interests"], json!(["ecologie", "culture"]));
    let all = app.get(&format!("/v1/missions?min_position={position}"), &venue.token).await.expect(StatusCode::OK);
    assert_eq!(all["missions"].as_array().map(Vec::len), Some(5), "closed missions are not listed");
    app.send(Method::PUT, "/v1/me/interests", Some(&citizen.token), Some(json!({ "interests": ["Pas Valide"] })))
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
}

async fn participation_is_counted_by_every_dimension_and_as_csv(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    let young = app
        .post("/v1/citizens", &app.admin_token, json!({ "neighbourhood": "Gare", "birth_year": 2006 }))
        .await
        .expect(StatusCode::CREATED);
    let young = Citizen {
        id: young["citizen_id"].as_str().expect("id").to_owned(),
        token: young["token"].as_str().expect("token").to_owned(),
    };
    app.put_rules(&crate::helpers::rules_with_backdate_max("P60D")).await.expect(StatusCode::OK);
    certify_on(&app, &association, &citizen, "ecologie", 1, 40).await;
    certify_on(&app, &association, &citizen, "culture", 1, 1).await;
    let revoked = certify_on(&app, &association, &young, "culture", 1, 1).await;
    let last = certify_on(&app, &association, &young, "ecologie", 1, 1).await;
    let path = format!("/v1/certifications/{}/revoke", revoked["action_id"].as_str().expect("id"));
    app.post(&path, &association.token, json!({ "reason": "erreur" })).await.expect(StatusCode::OK);
    let position = app.latest().await.max(last["position"].as_i64().expect("position"));
    let rows = |body: &Value| -> Vec<(String, u64, u64, u64)> {
        body["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|row| {
                (
                    row["key"].as_str().unwrap_or("").to_owned(),
                    row["actions"].as_u64().unwrap_or(0),
                    row["citizens"].as_u64().unwrap_or(0),
                    row["tokens"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    };
    let by = |dimension: &str| format!("/v1/dashboards/participation?by={dimension}&min_position={position}");
    let category = app.get(&by("category"), &app.admin_token).await.expect(StatusCode::OK);
    assert_eq!(rows(&category), vec![("culture".to_owned(), 1, 1, 8), ("ecologie".to_owned(), 2, 2, 20)]);
    let neighbourhood = app.get(&by("neighbourhood"), &app.admin_token).await.expect(StatusCode::OK);
    assert_eq!(rows(&neighbourhood), vec![("Gare".to_owned(), 1, 1, 10), ("Plaisance".to_owned(), 2, 1, 18)]);
    let age = app.get(&by("age_band"), &app.admin_token).await.expect(StatusCode::OK);
    let bands: Vec<String> = rows(&age).into_iter().map(|row| row.0).collect();
    assert!(
        bands.contains(&"15-24".to_owned()) && bands.contains(&"25-34".to_owned())
            || bands.contains(&"35-49".to_owned()),
        "{bands:?}"
    );
    let month = app.get(&by("month"), &app.admin_token).await.expect(StatusCode::OK);
    assert_eq!(rows(&month).iter().map(|row| row.1).sum::<u64>(), 3);
    let association_rows = app.get(&by("association"), &app.admin_token).await.expect(StatusCode::OK);
    assert_eq!(rows(&association_rows).len(), 1);
    assert!(rows(&association_rows)[0].0.contains(&association.id));
    // A period: only the last days.
    let from = (chrono::Utc::now() - chrono::Duration::days(5)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let recent = app.get(&format!("{}&from={from}", by("category")), &app.admin_token).await.expect(StatusCode::OK);
    assert_eq!(rows(&recent), vec![("culture".to_owned(), 1, 1, 8), ("ecologie".to_owned(), 1, 1, 10)]);
    let csv = app
        .client
        .get(format!("{}{}&format=csv", app.address, by("category")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"].to_str().unwrap_or("").starts_with("text/csv"));
    assert_eq!(csv.text().await.expect("text"), "key,actions,citizens,tokens\r\nculture,1,1,8\r\necologie,2,2,20\r\n");
    app.get("/v1/dashboards/participation?by=planet", &app.admin_token)
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    app.get("/v1/dashboards/participation?by=category&from=yesterday", &app.admin_token)
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    app.get("/v1/dashboards/participation?by=category", &citizen.token)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
}

async fn a_venue_statement_covers_a_period(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    certify_on(&app, &association, &citizen, "ecologie", 1, 1).await;
    app.redeem(&venue, &citizen, 3).await.expect(StatusCode::CREATED);
    app.post("/v1/settlements", &app.admin_token, json!({ "venue_id": venue.id })).await.expect(StatusCode::OK);
    let last = app.redeem(&venue, &citizen, 2).await.expect(StatusCode::CREATED);
    let position = last["position"].as_i64().expect("position");
    let statement = app
        .get(&format!("/v1/venues/{}/statements?min_position={position}", venue.id), &venue.token)
        .await
        .expect(StatusCode::OK);
    assert_eq!((statement["redemptions"].as_u64(), statement["redeemed_tokens"].as_u64()), (Some(2), Some(5)));
    assert_eq!((statement["settled_tokens"].as_u64(), statement["unsettled_tokens"].as_u64()), (Some(3), Some(2)));
    assert_eq!(statement["settlements"][0]["tokens"], 3);
    let future = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let empty = app
        .get(&format!("/v1/venues/{}/statements?from={future}", venue.id), &app.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(empty["redemptions"], 0);
    let other = app.register_partner("venue").await;
    app.get(&format!("/v1/venues/{}/statements", venue.id), &other.token)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
}

async fn projection_lag_is_reported(backend: Backend) {
    let app = spawn_app(backend).await;
    app.territory(100).await;
    let latest = app.latest().await;
    app.circulation(latest).await;
    let status = app.get("/v1/status", &app.admin_token).await.expect(StatusCode::OK);
    assert!(status["projection_position"].as_i64().expect("position") >= latest);
    let metrics = app.client.get(format!("{}/metrics", app.address)).send().await.expect("metrics");
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.expect("text");
    assert!(text.contains("ygor_projection_lag_events "), "{text}");
    assert!(text.contains(&format!("ygor_log_position {latest}")) || text.contains("ygor_log_position "), "{text}");
    // A position no write answered is refused at once, not waited for.
    let started = std::time::Instant::now();
    let past = format!("/v1/dashboards/circulation?min_position={}", latest + 1_000);
    let answer = app.get(&past, &app.admin_token).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "validation_failed"), "{:?}", answer.body);
    assert!(answer.body["detail"].as_str().is_some_and(|detail| detail.contains("past the end of the log")));
    assert!(started.elapsed() < Duration::from_secs(2), "answered at once");
}

/// A random workload through HTTP, then the live read models must equal a replay of the log.
async fn a_rebuild_equals_the_live_read_models(backend: Backend) {
    use rand::{RngExt, SeedableRng};
    let app = spawn_app(backend).await;
    let (association, venue, _citizen) = app.territory(5_000).await;
    // Actions of the last 60 days, so that several months and their caps are exercised.
    let rules = crate::helpers::rules_with_backdate_max("P60D");
    app.put_rules(&format!("{}{BADGES}", rules.replace("P6M", "PT2S"))).await.expect(StatusCode::OK);
    let mut random = rand::rngs::StdRng::seed_from_u64(7);
    let mut citizens = Vec::new();
    for _ in 0..6 {
        citizens.push(app.register_citizen().await);
    }
    let mut certified = Vec::new();
    for round in 0..60 {
        let citizen = &citizens[random.random_range(0..citizens.len())];
        match random.random_range(0..10) {
            0..=4 => {
                let category = ["ecologie", "velo", "culture"][random.random_range(0..3)];
                let answer = certify_on(
                    &app,
                    &association,
                    citizen,
                    category,
                    random.random_range(1..15),
                    random.random_range(0..60),
                )
                .await;
                certified.push(answer["action_id"].as_str().expect("id").to_owned());
            }
            5 => {
                if let Some(action) = certified.pop() {
                    let path = format!("/v1/certifications/{action}/revoke");
                    app.post(&path, &association.token, json!({ "reason": "test" })).await.expect(StatusCode::OK);
                }
            }
            6 | 7 => {
                let answer = app.redeem(&venue, citizen, random.random_range(1..6)).await;
                assert!(
                    answer.status == StatusCode::CREATED || answer.code() == "insufficient_balance",
                    "{:?}",
                    answer
                );
            }
            8 => {
                app.post("/v1/settlements", &app.admin_token, json!({ "venue_id": venue.id }))
                    .await
                    .expect(StatusCode::OK);
            }
            _ => {
                if round % 3 == 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
                    app.post("/v1/expiry/sweep", &app.admin_token, json!({})).await.expect(StatusCode::OK);
                } else {
                    let lifetime = ["PT2S", "P1M", "P6M"][random.random_range(0..3)];
                    app.put_rules(&format!("{}{BADGES}", rules.replace("P6M", lifetime))).await.expect(StatusCode::OK);
                }
            }
        }
    }
    let latest = app.latest().await;
    app.circulation(latest).await;
    let live = app.state.projections().read(|models| models.clone());
    let rebuilt = ygor_projections::rebuild(app.state.log()).await.expect("rebuild");
    assert!(live.position >= latest);
    assert!(
        live.circulation().issued.value() > 0 && live.circulation().redeemed.value() > 0,
        "the workload did something"
    );
    assert_eq!(
        serde_json::to_value(&live).expect("json"),
        serde_json::to_value(&rebuilt).expect("json"),
        "a rebuild from position 0 equals the live read models"
    );
    assert_eq!(live, rebuilt);

    // The engine's own states, cached or loaded again after they were dropped, are the states a
    // fresh engine loads from the log.
    let seeds = ygor_engine::Seeds::new(app.state.territory_key().clone());
    let fresh = ygor_engine::Engine::open(app.state.log().clone(), seeds).await.expect("a second engine");
    for citizen in &citizens {
        let id = ygor_ledger::CitizenId::parse(&citizen.id).expect("an id");
        let kept = app.state.engine().wallet(id).await.expect("the live wallet");
        assert_eq!(kept, fresh.wallet(id).await.expect("the wallet from the log"));
    }
    let evicted = app.metric("ygor_aggregate_cache_evictions_total").await;
    if backend == Backend::SqliteUncached {
        assert!(evicted > 0.0, "a one-byte budget drops aggregates");
        assert!(app.metric("ygor_aggregate_cache_entries").await < 8.0);
    } else {
        if backend == Backend::SqliteForgetting {
            assert!(
                app.metric("ygor_aggregate_cache_histories_forgotten_total").await > 0.0,
                "idle wallets forget their history"
            );
            assert!(app.metric("ygor_aggregate_cache_histories_restored_total").await > 0.0, "and read it back");
        }
        assert_eq!(evicted, 0.0, "the default budget holds a small territory");
        assert!(app.metric("ygor_aggregate_cache_entries").await >= citizens.len() as f64);
    }
}

async fn a_restart_resumes_from_the_snapshot_and_equals_a_rebuild(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    for _ in 0..20 {
        certify_on(&app, &association, &citizen, "culture", 1, 1).await;
    }
    app.redeem(&venue, &citizen, 5).await.expect(StatusCode::CREATED);
    let latest = app.latest().await;
    app.circulation(latest).await;
    let snapshot = app
        .state
        .log()
        .load_snapshot(ygor_projections::SNAPSHOT_NAME)
        .await
        .expect("load")
        .expect("a snapshot was written");
    assert!(snapshot.position > 0 && snapshot.position <= latest);
    app.stop().await;
    let data_dir = app.keep_data_dir();
    let restarted = crate::helpers::start_on(app.config.clone()).await;
    // The server records a checkpoint at start when the log grew since the last one (the test's
    // stop is a crash, which records none): compare once the read models applied the whole log,
    // again if that checkpoint landed between the two reads.
    let mut attempts = 0;
    let (live, rebuilt) = loop {
        let end = restarted.state.log().last_position().await.expect("a position");
        assert!(restarted.state.projections().wait_for(end, Duration::from_secs(10)).await, "caught up");
        let live = restarted.state.projections().read(|models| models.clone());
        let rebuilt = ygor_projections::rebuild(restarted.state.log()).await.expect("rebuild");
        attempts += 1;
        if live.position == rebuilt.position || attempts == 5 {
            break (live, rebuilt);
        }
    };
    assert!(live.position >= latest, "caught up after the snapshot");
    assert_eq!(live, rebuilt, "snapshot + replay equals a replay from position 0");
    assert_eq!(restarted.wallet(&citizen, latest).await["balance"], 8 * 20 - 5);
    drop(data_dir);
}
