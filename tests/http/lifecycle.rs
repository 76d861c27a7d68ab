//! The token lifecycle as the four kinds of users live it.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, RULES, TestApp, spawn_app, spawn_app_with, start_on};

crate::on_both_backends!(
    tokens_flow_from_treasury_to_wallet_to_venue_and_back,
    a_retried_certification_has_one_effect_and_the_same_answer,
    action_ids_with_the_same_fingerprint_are_certified_retried_and_revoked_apart,
    an_action_over_the_monthly_cap_earns_what_is_left_then_nothing,
    revocation_returns_unspent_tokens_and_frees_the_cap,
    lots_that_expire_first_are_spent_first,
    an_expired_lot_is_not_spendable_and_the_sweep_returns_it,
    expired_lots_are_swept_by_themselves,
    a_restarted_server_answers_retries_from_the_log,
    the_same_redemption_retried_is_answered_without_spending_twice,
    read_your_writes_waits_and_refuses_a_position_past_the_log,
    service_documents_and_health_are_served,
);

async fn tokens_flow_from_treasury_to_wallet_to_venue_and_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;

    let certified = app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    assert_eq!(certified["tokens"], 10);
    assert_eq!(certified["gold"], false);
    assert!(certified["lot_id"].is_string() && certified["expires_at"].is_string());
    let position = certified["position"].as_i64().expect("position");

    let wallet = app.wallet(&citizen, position).await;
    assert_eq!(wallet["balance"], 10);
    assert_eq!(wallet["lots"][0]["remaining"], 10);
    assert_eq!(wallet["lots"][0]["action_id"], certified["action_id"]);

    let circulation = app.circulation(position).await;
    assert_eq!(
        (circulation["minted"].as_u64(), circulation["envelopes"].as_u64(), circulation["wallets"].as_u64()),
        (Some(1_000_000), Some(990), Some(10))
    );

    let redeemed = app.redeem(&venue, &citizen, 7).await.expect(StatusCode::CREATED);
    assert_eq!(redeemed["amount"], 7);
    let position = redeemed["position"].as_i64().expect("position");
    assert_eq!(app.wallet(&citizen, position).await["balance"], 3);

    let list = app
        .get(&format!("/v1/venues/{}/redemptions?min_position={position}", venue.id), &venue.token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(list["redemptions"][0]["amount"], 7);
    assert_eq!(list["redemptions"][0]["citizen_id"], citizen.id.as_str());
    assert_eq!(list["redemptions"][0]["settled"], false);
    let circulation = app.circulation(position).await;
    assert_eq!(circulation["redeemed_unsettled"], 7);

    let settled =
        app.post("/v1/settlements", &app.admin_token, json!({ "venue_id": venue.id })).await.expect(StatusCode::OK);
    assert_eq!(settled["tokens"], 7);
    let position = settled["position"].as_i64().expect("position");
    let circulation = app.circulation(position).await;
    assert_eq!(circulation["redeemed_unsettled"], 0);
    assert_eq!(circulation["recovered"], 7);
    assert_eq!(circulation["treasury"], 1_000_000 - 1_000 + 7);
    let list = app
        .get(&format!("/v1/venues/{}/redemptions?min_position={position}", venue.id), &app.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(list["redemptions"][0]["settled"], true);

    // Nothing left to settle: zero, and nothing written.
    let again =
        app.post("/v1/settlements", &app.admin_token, json!({ "venue_id": venue.id })).await.expect(StatusCode::OK);
    assert_eq!(again["tokens"], 0);
}

async fn a_retried_certification_has_one_effect_and_the_same_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    let body = TestApp::certification(&association, &citizen, "ecologie", 1);
    let first = app.certify_body(&association, body.clone()).await.expect(StatusCode::CREATED);
    let second = app.certify_body(&association, body.clone()).await.expect(StatusCode::OK);
    assert_eq!(first, second, "a retry gets the same answer, position included");
    let wallet = app.wallet(&citizen, first["position"].as_i64().expect("position")).await;
    assert_eq!(wallet["balance"], 10);
    assert_eq!(wallet["lots"].as_array().map(Vec::len), Some(1));

    let mut changed = body.clone();
    changed["quantity"] = json!(2);
    app.certify_body(&association, changed).await.expect_problem(StatusCode::CONFLICT, "id_conflict");

    // Another association reusing the action id is a conflict too, not a second credit.
    let other = app.register_partner("association").await;
    app.allocate(&other, 100).await.expect(StatusCode::OK);
    let mut stolen = body;
    stolen["association_id"] = json!(other.id);
    app.certify_body(&other, stolen).await.expect_problem(StatusCode::CONFLICT, "id_conflict");
    let circulation = app.circulation(app.latest().await).await;
    assert_eq!(circulation["issued"], 10);
}

/// `action_id` with the same bits flipped in two of its four 32-bit words: another id with the
/// same fingerprint, which is all the engine's cached association and wallet keep of an action.
fn twin(action_id: &str, byte: usize) -> String {
    let mut bytes = *uuid::Uuid::parse_str(action_id).expect("a UUID").as_bytes();
    bytes[byte] ^= 0x5a;
    bytes[byte + 4] ^= 0x5a;
    uuid::Uuid::from_bytes(bytes).to_string()
}

async fn action_ids_with_the_same_fingerprint_are_certified_retried_and_revoked_apart(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    let first_body = TestApp::certification(&association, &citizen, "ecologie", 1);
    let first_id = first_body["action_id"].as_str().expect("id").to_owned();
    let first = app.certify_body(&association, first_body.clone()).await.expect(StatusCode::CREATED);
    // For the same citizen: the wallet tells them apart too.
    let mut second_body = TestApp::certification(&association, &citizen, "ecologie", 1);
    second_body["action_id"] = json!(twin(&first_id, 0));
    let second = app.certify_body(&association, second_body.clone()).await.expect(StatusCode::CREATED);
    assert_eq!(second["tokens"], 10);
    assert_ne!(second["lot_id"], first["lot_id"]);
    assert_eq!(app.certify_body(&association, second_body.clone()).await.expect(StatusCode::OK), second);
    assert_eq!(app.certify_body(&association, first_body).await.expect(StatusCode::OK), first);
    let mut changed = second_body;
    changed["quantity"] = json!(2);
    app.certify_body(&association, changed).await.expect_problem(StatusCode::CONFLICT, "id_conflict");

    let revoke = |action_id: String| (format!("/v1/certifications/{action_id}/revoke"), json!({ "reason": "erreur" }));
    let (path, body) = revoke(twin(&first_id, 1));
    app.post(&path, &association.token, body).await.expect_problem(StatusCode::NOT_FOUND, "not_found");
    let (path, body) = revoke(twin(&first_id, 0));
    let revoked = app.post(&path, &association.token, body).await.expect(StatusCode::OK);
    assert_eq!(revoked["returned"], 10);
    let wallet = app.wallet(&citizen, revoked["position"].as_i64().expect("position")).await;
    assert_eq!(wallet["balance"], 10, "the first action's tokens stay");
    let circulation = app.circulation(app.latest().await).await;
    assert_eq!(circulation["issued"], 20);
    assert_eq!(circulation["envelopes"], 1_000 - 10);
}

async fn an_action_over_the_monthly_cap_earns_what_is_left_then_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    // velo: 1 token per km, cap 30 per month.
    let first = app.certify(&association, &citizen, "velo", 25).await.expect(StatusCode::CREATED);
    assert_eq!(first["tokens"], 25);
    let second = app.certify(&association, &citizen, "velo", 25).await.expect(StatusCode::CREATED);
    assert_eq!(second["tokens"], 5, "what is left of the cap");
    let third = app.certify(&association, &citizen, "velo", 10).await.expect(StatusCode::CREATED);
    assert_eq!(third["tokens"], 0);
    assert!(third["lot_id"].is_null() && third["expires_at"].is_null());
    // Another month has its own cap (actions of 40 days ago are certified under these rules).
    app.put_rules(&crate::helpers::rules_with_backdate_max("P60D")).await.expect(StatusCode::OK);
    let mut last_month = TestApp::certification(&association, &citizen, "velo", 10);
    last_month["occurred_at"] = json!((chrono::Utc::now() - chrono::Duration::days(40)).to_rfc3339());
    let earlier = app.certify_body(&association, last_month).await.expect(StatusCode::CREATED);
    assert_eq!(earlier["tokens"], 10);
    let wallet = app.wallet(&citizen, earlier["position"].as_i64().expect("position")).await;
    assert_eq!(wallet["balance"], 40);
}

async fn revocation_returns_unspent_tokens_and_frees_the_cap(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    let first = app.certify(&association, &citizen, "velo", 30).await.expect(StatusCode::CREATED);
    app.redeem(&venue, &citizen, 12).await.expect(StatusCode::CREATED);
    let path = format!("/v1/certifications/{}/revoke", first["action_id"].as_str().expect("id"));
    let revoked =
        app.post(&path, &association.token, json!({ "reason": "erreur de saisie" })).await.expect(StatusCode::OK);
    assert_eq!(revoked["returned"], 18, "only the unspent part comes back");
    let again =
        app.post(&path, &association.token, json!({ "reason": "erreur de saisie" })).await.expect(StatusCode::OK);
    assert_eq!(again, revoked, "a retried revocation is answered the same");
    app.post(&path, &association.token, json!({ "reason": "autre raison" }))
        .await
        .expect_problem(StatusCode::CONFLICT, "id_conflict");

    let circulation = app.circulation(revoked["position"].as_i64().expect("position")).await;
    assert_eq!(circulation["envelopes"], 1_000 - 30 + 18);
    assert_eq!(circulation["wallets"], 0);
    // The revoked action no longer counts in the cap: a new ride earns in full.
    let next = app.certify(&association, &citizen, "velo", 30).await.expect(StatusCode::CREATED);
    assert_eq!(next["tokens"], 30);

    let other = app.register_partner("association").await;
    app.post(&path, &other.token, json!({ "reason": "pas à moi" }))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let unknown = format!("/v1/certifications/{}/revoke", uuid::Uuid::new_v4());
    app.post(&unknown, &association.token, json!({ "reason": "x" }))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn lots_that_expire_first_are_spent_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    let older = app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    // New rules with a longer lifetime: the second lot expires later although issued later.
    app.put_rules(&RULES.replace("P6M", "P1Y")).await.expect(StatusCode::OK);
    let longer = app.certify(&association, &citizen, "culture", 1).await.expect(StatusCode::CREATED);
    // And a third lot under short rules expires first of all.
    app.put_rules(&RULES.replace("P6M", "P1M")).await.expect(StatusCode::OK);
    let shortest = app.certify(&association, &citizen, "culture", 1).await.expect(StatusCode::CREATED);

    let redeemed = app.redeem(&venue, &citizen, 12).await.expect(StatusCode::CREATED);
    let wallet = app.wallet(&citizen, redeemed["position"].as_i64().expect("position")).await;
    let remaining = |lot: &serde_json::Value| {
        wallet["lots"].as_array().expect("lots").iter().find(|item| item["lot_id"] == *lot).expect("lot")["remaining"]
            .as_u64()
    };
    assert_eq!(remaining(&shortest["lot_id"]), Some(0), "8 from the lot expiring first");
    assert_eq!(remaining(&older["lot_id"]), Some(6), "then 4 of the 10 expiring next");
    assert_eq!(remaining(&longer["lot_id"]), Some(8), "the lot expiring last is untouched");
    assert_eq!(wallet["balance"], 14);
}

async fn an_expired_lot_is_not_spendable_and_the_sweep_returns_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    app.put_rules(&RULES.replace("P6M", "PT2S")).await.expect(StatusCode::OK);
    let certified = app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;

    // Past expiry but before the sweep: not spendable, not in the balance, still in `wallets`.
    let wallet = app.wallet(&citizen, certified["position"].as_i64().expect("position")).await;
    assert_eq!(wallet["balance"], 0);
    assert_eq!(wallet["lots"][0]["expired"], true);
    app.redeem(&venue, &citizen, 1).await.expect_problem(StatusCode::CONFLICT, "insufficient_balance");
    assert_eq!(app.circulation(app.latest().await).await["wallets"], 10);

    let swept = app.post("/v1/expiry/sweep", &app.admin_token, json!({})).await.expect(StatusCode::OK);
    assert_eq!((swept["expired_lots"].as_u64(), swept["expired_tokens"].as_u64()), (Some(1), Some(10)));
    let circulation = app.circulation(swept["position"].as_i64().expect("position")).await;
    assert_eq!((circulation["wallets"].as_u64(), circulation["expired"].as_u64()), (Some(0), Some(10)));
    assert_eq!(circulation["treasury"], 1_000_000 - 1_000 + 10);
    let again = app.post("/v1/expiry/sweep", &app.admin_token, json!({})).await.expect(StatusCode::OK);
    assert_eq!(again["expired_tokens"], 0, "a lot is swept once");
}

async fn expired_lots_are_swept_by_themselves(backend: Backend) {
    let every = std::time::Duration::from_secs(1);
    let app = spawn_app_with(backend, |config| config.schedule.expiry_every = every).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    app.put_rules(&RULES.replace("P6M", "PT2S")).await.expect(StatusCode::OK);
    app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    // Nobody calls the sweep: the server's own job writes the expiry off within a second or so
    // of the lot's end.
    let started = std::time::Instant::now();
    let circulation = loop {
        let circulation = app.circulation(app.latest().await).await;
        if circulation["expired"] == 10 || started.elapsed() > std::time::Duration::from_secs(15) {
            break circulation;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(
        (circulation["expired"].as_u64(), circulation["wallets"].as_u64()),
        (Some(10), Some(0)),
        "{circulation}"
    );
    assert_eq!(circulation["treasury"], 1_000_000 - 1_000 + 10);
}

async fn a_restarted_server_answers_retries_from_the_log(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    let body = TestApp::certification(&association, &citizen, "ecologie", 1);
    let first = app.certify_body(&association, body.clone()).await.expect(StatusCode::CREATED);
    // The process dies; a new one starts on the same storage and the client retries.
    app.stop().await;
    let data_dir = app.keep_data_dir();
    let restarted = start_on(app.config.clone()).await;
    let retried = restarted.certify_body(&association, body).await.expect(StatusCode::OK);
    assert_eq!(first, retried);
    let wallet = restarted.wallet(&citizen, retried["position"].as_i64().expect("position")).await;
    assert_eq!(wallet["balance"], 10, "credited exactly once");
    assert_eq!(restarted.circulation(restarted.latest().await).await["envelopes"], 990, "debited exactly once");
    drop(data_dir);
}

async fn the_same_redemption_retried_is_answered_without_spending_twice(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    let voucher = app.voucher(&citizen, 5).await;
    let body = TestApp::redemption(&venue, &voucher, 5);
    let first = app.redeem_body(&venue, body.clone()).await.expect(StatusCode::CREATED);
    let second = app.redeem_body(&venue, body.clone()).await.expect(StatusCode::OK);
    assert_eq!(first, second);
    let mut changed = body;
    changed["amount"] = json!(4);
    app.redeem_body(&venue, changed).await.expect_problem(StatusCode::CONFLICT, "id_conflict");
    assert_eq!(app.wallet(&citizen, first["position"].as_i64().expect("position")).await["balance"], 5);
}

async fn read_your_writes_waits_and_refuses_a_position_past_the_log(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    let certified = app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    let position = certified["position"].as_i64().expect("position");
    assert_eq!(app.wallet(&citizen, position).await["balance"], 10);
    // A position no write answered: refused at once rather than waited for.
    let far = app.get(&format!("/v1/me/wallet?min_position={}", position + 1_000_000), &citizen.token).await;
    far.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    app.get("/v1/me/wallet?min_position=-3", &citizen.token)
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
}

async fn service_documents_and_health_are_served(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app.send(reqwest::Method::GET, "/healthz", None, None).await.expect(StatusCode::OK);
    assert_eq!(health["status"], "ok");
    let document = app.send(reqwest::Method::GET, "/openapi.json", None, None).await.expect(StatusCode::OK);
    for path in [
        "/v1/rules",
        "/v1/supply",
        "/v1/partners",
        "/v1/partners/{partner_id}/envelope",
        "/v1/partners/{partner_id}/suspend",
        "/v1/citizens",
        "/v1/expiry/sweep",
        "/v1/dashboards/circulation",
        "/v1/settlements",
        "/v1/certifications",
        "/v1/certifications/{action_id}/revoke",
        "/v1/redemptions",
        "/v1/venues/{venue_id}/redemptions",
        "/v1/me/wallet",
        "/v1/me/vouchers",
        "/healthz",
    ] {
        assert!(document["paths"][path].is_object(), "{path} is documented");
    }
    let docs = app.client.get(format!("{}/docs", app.address)).send().await.expect("docs");
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.expect("html").contains("openapi"), "the docs page loads the document");
    let status = app.get("/v1/status", &app.admin_token).await.expect(StatusCode::OK);
    assert!(status["projection_lag_events"].as_i64().is_some());
}
