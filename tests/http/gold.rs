//! Gold tokens by commit–reveal, and draws anyone can re-draw.

use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, Citizen, RULES, TestApp, spawn_app};

crate::on_both_backends!(
    gold_follows_the_committed_seeds_of_its_periods,
    draws_take_gold_tickets_and_draw_verifiable_winners
);

fn gold_rules(probability: &str, period: &str) -> String {
    format!("{RULES}\n[gold]\nprobability = {probability}\nperiod = \"{period}\"\n")
}

async fn periods(app: &TestApp) -> Vec<Value> {
    app.send(Method::GET, "/v1/gold/periods", None, None)
        .await
        .expect(StatusCode::OK)
        .as_array()
        .expect("periods")
        .clone()
}

fn seed_bytes(period: &Value) -> [u8; 32] {
    hex::decode(period["seed"].as_str().expect("seed")).expect("hex").try_into().expect("32 bytes")
}

async fn gold_follows_the_committed_seeds_of_its_periods(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(10_000).await;
    app.put_rules(&gold_rules("0.5", "PT2S")).await.expect(StatusCode::OK);
    let committed = periods(&app).await;
    assert!(committed.len() >= 2, "the current and the next period are committed: {committed:?}");
    assert!(committed[0]["seed"].is_null() && committed[0]["commitment"].as_str().is_some_and(|c| c.len() == 64));
    let mut outcomes = Vec::new();
    for _ in 0..12 {
        let answer = app.certify(&association, &citizen, "culture", 1).await.expect(StatusCode::CREATED);
        outcomes.push(answer);
    }
    // Wait for the periods of these certifications to end and their seeds to be revealed.
    tokio::time::sleep(std::time::Duration::from_millis(4_500)).await;
    let revealed = periods(&app).await;
    let mut gold = 0;
    for answer in &outcomes {
        let action_id = answer["action_id"].as_str().expect("id");
        let number = answer["gold_period"].as_u64().expect("the answer names its gold period");
        let period = revealed.iter().find(|period| period["period"] == number).expect("a revealed period");
        let seed = seed_bytes(period);
        assert_eq!(
            ygor_audit::seed_commitment(&seed),
            period["commitment"].as_str().expect("commitment"),
            "the seed matches its commitment"
        );
        assert_eq!(
            answer["gold"].as_bool(),
            Some(ygor_audit::gold_earned(&seed, action_id, 0.5)),
            "gold is exactly the formula of docs/api.md"
        );
        gold += u64::from(answer["gold"] == true);
    }
    let latest = app.latest().await;
    assert_eq!(app.wallet(&citizen, latest).await["gold"], gold);
    let circulation = app.circulation(latest).await;
    assert_eq!(
        (circulation["gold_issued"].as_u64(), circulation["gold_outstanding"].as_u64()),
        (Some(gold), Some(gold))
    );
    // Periods follow each other back to back from 0.
    for (index, pair) in revealed.windows(2).enumerate() {
        assert_eq!(pair[0]["period"], index as u64);
        assert_eq!(pair[0]["ends_at"], pair[1]["starts_at"]);
    }
}

async fn enter(app: &TestApp, citizen: &Citizen, draw_id: &str, gold: u64) -> crate::helpers::Answer {
    app.post(&format!("/v1/me/draws/{draw_id}/entries"), &citizen.token, json!({ "gold": gold })).await
}

async fn draws_take_gold_tickets_and_draw_verifiable_winners(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, first) = app.territory(10_000).await;
    // Probability 1: every certification earns one gold token.
    app.put_rules(&gold_rules("1", "P1D")).await.expect(StatusCode::OK);
    let second = app.register_citizen().await;
    let third = app.register_citizen().await;
    for (citizen, actions) in [(&first, 3), (&second, 2), (&third, 1)] {
        for _ in 0..actions {
            let answer = app.certify(&association, citizen, "culture", 1).await.expect(StatusCode::CREATED);
            assert_eq!(answer["gold"], true);
        }
    }
    let draw_id = uuid::Uuid::new_v4().to_string();
    let closes_at = chrono::Utc::now() + chrono::Duration::seconds(3);
    let body = json!({ "draw_id": draw_id, "prize": "Pass annuel piscine", "closes_at": closes_at.to_rfc3339(), "winners": 2 });
    let created = app.post("/v1/draws", &app.admin_token, body.clone()).await.expect(StatusCode::CREATED);
    assert_eq!(app.post("/v1/draws", &app.admin_token, body.clone()).await.expect(StatusCode::OK), created);
    let mut changed = body.clone();
    changed["winners"] = json!(3);
    app.post("/v1/draws", &app.admin_token, changed).await.expect_problem(StatusCode::CONFLICT, "id_conflict");
    app.post("/v1/draws", &first.token, body).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");

    assert_eq!(enter(&app, &first, &draw_id, 2).await.expect(StatusCode::CREATED)["tickets"], 2);
    assert_eq!(enter(&app, &first, &draw_id, 1).await.expect(StatusCode::CREATED)["tickets"], 3);
    // Entering again with gold already spent.
    enter(&app, &first, &draw_id, 1).await.expect_problem(StatusCode::CONFLICT, "insufficient_gold");
    enter(&app, &second, &draw_id, 3).await.expect_problem(StatusCode::CONFLICT, "insufficient_gold");
    enter(&app, &second, &draw_id, 2).await.expect(StatusCode::CREATED);
    enter(&app, &third, &draw_id, 1).await.expect(StatusCode::CREATED);
    enter(&app, &third, &draw_id, 0).await.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    enter(&app, &third, &uuid::Uuid::new_v4().to_string(), 1).await.expect_problem(StatusCode::NOT_FOUND, "not_found");
    let close = format!("/v1/draws/{draw_id}/close");
    app.post(&close, &app.admin_token, json!({})).await.expect_problem(StatusCode::CONFLICT, "draw_open");

    tokio::time::sleep(
        (closes_at - chrono::Utc::now()).to_std().unwrap_or_default() + std::time::Duration::from_millis(100),
    )
    .await;
    let latecomer = app.register_citizen().await;
    app.certify(&association, &latecomer, "culture", 1).await.expect(StatusCode::CREATED);
    enter(&app, &latecomer, &draw_id, 1).await.expect_problem(StatusCode::CONFLICT, "draw_closed");
    let closed = app.post(&close, &app.admin_token, json!({})).await.expect(StatusCode::OK);
    assert_eq!(
        app.post(&close, &app.admin_token, json!({})).await.expect(StatusCode::OK),
        closed,
        "closing again answers the same"
    );
    let winners: Vec<String> = serde_json::from_value(closed["winners"].clone()).expect("winners");
    assert_eq!(winners.len(), 2);
    assert_ne!(winners[0], winners[1], "without replacement");

    // Anyone re-draws it from the public data.
    let position = closed["position"].as_i64().expect("position");
    let public = app
        .send(Method::GET, &format!("/v1/draws/{draw_id}?min_position={position}"), None, None)
        .await
        .expect(StatusCode::OK);
    let seed: [u8; 32] =
        hex::decode(public["seed"].as_str().expect("seed")).expect("hex").try_into().expect("32 bytes");
    assert_eq!(ygor_audit::seed_commitment(&seed), created["commitment"].as_str().expect("commitment"));
    let entries: Vec<ygor_audit::DrawEntry> = public["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| ygor_audit::DrawEntry {
            citizen_id: entry["citizen_id"].as_str().expect("id").to_owned(),
            tickets: entry["tickets"].as_u64().expect("tickets"),
        })
        .collect();
    assert_eq!(entries.iter().map(|entry| entry.tickets).sum::<u64>(), 6);
    assert_eq!(
        hex::encode(ygor_audit::entries_root(&entries).expect("root")),
        public["entries_root"].as_str().expect("root")
    );
    assert_eq!(ygor_audit::draw_winners(&seed, &draw_id, &entries, 2).expect("draw"), winners);
    assert_eq!(public["winners"], json!(winners));
    let circulation = app.circulation(position).await;
    assert_eq!(
        (
            circulation["gold_issued"].as_u64(),
            circulation["gold_entered"].as_u64(),
            circulation["gold_outstanding"].as_u64()
        ),
        (Some(7), Some(6), Some(1))
    );

    // The command-line audit recomputes it, and the whole log verifies.
    let mut command = Command::new(env!("CARGO_BIN_EXE_ygor"));
    command.args(["audit", "draw", &draw_id, "--data-dir"]).arg(&app.config.data_dir);
    if let Some(url) = &app.config.database_url {
        command.args(["--database-url", url]);
    }
    let output = command.env_remove("DATABASE_URL").output().expect("ygor audit draw");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("json report");
    assert_eq!(report["ok"], true);
    let mut command = Command::new(env!("CARGO_BIN_EXE_ygor"));
    command.args(["audit", "verify", "--data-dir"]).arg(&app.config.data_dir);
    if let Some(url) = &app.config.database_url {
        command.args(["--database-url", url]);
    }
    let output = command.env_remove("DATABASE_URL").output().expect("ygor audit verify");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
}
