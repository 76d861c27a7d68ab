//! Every listed error code, and that a refused request changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;
use ygor_crypto::{SignedKind, VoucherClaims};

use crate::helpers::{Backend, TestApp, spawn_app};

crate::on_both_backends!(
    requests_without_a_valid_token_are_unauthorized,
    a_token_of_one_role_never_works_for_another,
    malformed_bodies_are_validation_failures_that_change_nothing,
    bad_rules_are_refused_with_their_line,
    certification_refusals_name_the_problem,
    envelope_and_treasury_cannot_be_overdrawn,
    a_suspended_partner_cannot_write,
    voucher_refusals_name_the_problem,
    unknown_paths_and_ids_are_not_found,
    a_broken_database_gives_a_bare_internal_error,
);

async fn requests_without_a_valid_token_are_unauthorized(backend: Backend) {
    let app = spawn_app(backend).await;
    app.send(Method::POST, "/v1/supply", None, Some(json!({ "amount": 5 })))
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    app.send(Method::POST, "/v1/supply", Some("ygor_admin_not-a-real-token"), Some(json!({ "amount": 5 })))
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    app.send(Method::GET, "/v1/me/wallet", Some(""), None)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn a_token_of_one_role_never_works_for_another(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(100).await;
    for token in [&association.token, &venue.token, &citizen.token] {
        app.post("/v1/supply", token, json!({ "amount": 5 })).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");
        app.get("/v1/dashboards/circulation", token).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");
    }
    app.get("/v1/me/wallet", &association.token).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.get("/v1/me/wallet", &app.admin_token).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");
    // A venue cannot certify, an association cannot redeem, even with well-signed bodies.
    let body = TestApp::sign(
        SignedKind::Certification,
        TestApp::certification(&association, &citizen, "ecologie", 1),
        &association.key,
    );
    app.post("/v1/certifications", &venue.token, body.clone()).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.post("/v1/certifications", &citizen.token, body).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let voucher = app.voucher(&citizen, 1).await;
    let redemption = TestApp::sign(SignedKind::Redemption, TestApp::redemption(&venue, &voucher, 1), &venue.key);
    app.post("/v1/redemptions", &association.token, redemption)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    // Another partner of the right role is still another partner.
    let other = app.register_partner("association").await;
    let body = TestApp::certification(&association, &citizen, "ecologie", 1);
    let signed = TestApp::sign(SignedKind::Certification, body, &other.key);
    app.post("/v1/certifications", &other.token, signed).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let other_venue = app.register_partner("venue").await;
    app.get(&format!("/v1/venues/{}/redemptions", venue.id), &other_venue.token)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    // The role is checked before the body is read: a wrong role with a malformed body is 403.
    app.post("/v1/supply", &citizen.token, json!({ "amount": "five" }))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.post("/v1/certifications", &venue.token, json!({ "no": "fields" }))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
}

async fn malformed_bodies_are_validation_failures_that_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(100).await;
    let before = app.circulation(app.latest().await).await;
    for body in [
        json!({ "amount": 0 }),
        json!({ "amount": -5 }),
        json!({ "amount": "5" }),
        json!({ "amount": 5, "extra": 1 }),
        json!({}),
    ] {
        app.post("/v1/supply", &app.admin_token, body)
            .await
            .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    }
    let raw = app
        .client
        .post(format!("{}/v1/supply", app.address))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/json")
        .body("{\"amount\": ")
        .send()
        .await
        .expect("answer");
    TestApp::answer(raw).await.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    let huge = json!({ "reason": "x".repeat(70 * 1024) });
    app.post(&format!("/v1/certifications/{}/revoke", uuid::Uuid::new_v4()), &association.token, huge)
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    // A signed certification with an unknown field is refused before anything else.
    let mut body = TestApp::certification(&association, &citizen, "ecologie", 1);
    body["bonus"] = json!(100);
    app.certify_body(&association, body).await.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    let mut body = TestApp::certification(&association, &citizen, "ecologie", 1);
    body["occurred_at"] = json!("hier");
    app.certify_body(&association, body).await.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    for bad in [
        json!({ "kind": "museum", "name": "x", "public_key": "AAAA" }),
        json!({ "kind": "venue", "name": "", "public_key": association.key.public_key().to_string() }),
        json!({ "kind": "venue", "name": "Piscine", "public_key": "not-a-key" }),
    ] {
        app.post("/v1/partners", &app.admin_token, bad)
            .await
            .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    }
    app.post("/v1/citizens", &app.admin_token, json!({ "birth_year": 1066 }))
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    app.post("/v1/citizens", &app.admin_token, json!({ "interests": ["Pas Une Catégorie"] }))
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    app.post("/v1/me/vouchers", &citizen.token, json!({ "amount": 0 }))
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(app.circulation(app.latest().await).await, before, "refused requests changed nothing");
}

async fn bad_rules_are_refused_with_their_line(backend: Backend) {
    let app = spawn_app(backend).await;
    let typo = "[tokens]\nlifetime = \"P6M\"\n\n[[categories]]\nid = \"ecologie\"\nlabel = \"Écologie\"\ntokens_per_acton = 10\n";
    let answer = app.put_rules(typo).await;
    assert!(answer.body["detail"].as_str().unwrap_or("").contains("line 7"), "names the line: {}", answer.body);
    answer.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_rules");
    app.put_rules("[tokens]\nlifetime = \"six mois\"\n")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_rules");
    let association = app.register_partner("association").await;
    let citizen = app.register_citizen().await;
    app.certify(&association, &citizen, "ecologie", 1)
        .await
        .expect_problem(StatusCode::CONFLICT, "rules_not_published");
    let first = app.put_rules(crate::helpers::RULES).await.expect(StatusCode::OK);
    assert_eq!(first["version"], 1);
}

async fn certification_refusals_name_the_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(100).await;
    app.certify(&association, &citizen, "astronomie", 1)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_category");
    let stranger = crate::helpers::Citizen { id: uuid::Uuid::new_v4().to_string(), token: String::new() };
    app.certify(&association, &stranger, "ecologie", 1)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_citizen");
    let mut future = TestApp::certification(&association, &citizen, "ecologie", 1);
    future["occurred_at"] = json!((chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339());
    app.certify_body(&association, future).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "occurred_in_future");
    // Signed with another key, or altered after signing.
    let intruder = ygor_crypto::SecretKey::generate();
    let forged = TestApp::sign(
        SignedKind::Certification,
        TestApp::certification(&association, &citizen, "ecologie", 1),
        &intruder,
    );
    app.post("/v1/certifications", &association.token, forged)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_signature");
    let mut altered = TestApp::sign(
        SignedKind::Certification,
        TestApp::certification(&association, &citizen, "ecologie", 1),
        &association.key,
    );
    altered["quantity"] = json!(50);
    app.post("/v1/certifications", &association.token, altered)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_signature");
    let as_redemption = TestApp::sign(
        SignedKind::Redemption,
        TestApp::certification(&association, &citizen, "ecologie", 1),
        &association.key,
    );
    app.post("/v1/certifications", &association.token, as_redemption)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_signature");
    let unsigned = TestApp::certification(&association, &citizen, "ecologie", 1);
    app.post("/v1/certifications", &association.token, unsigned)
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    let circulation = app.circulation(app.latest().await).await;
    assert_eq!(circulation["issued"], 0, "no refused certification issued anything");
}

async fn envelope_and_treasury_cannot_be_overdrawn(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_rules(crate::helpers::RULES).await.expect(StatusCode::OK);
    app.mint(50).await.expect(StatusCode::OK);
    let association = app.register_partner("association").await;
    app.allocate(&association, 51).await.expect_problem(StatusCode::CONFLICT, "treasury_exhausted");
    app.allocate(&association, 15).await.expect(StatusCode::OK);
    let citizen = app.register_citizen().await;
    app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    app.certify(&association, &citizen, "ecologie", 1).await.expect_problem(StatusCode::CONFLICT, "envelope_exhausted");
    let venue = app.register_partner("venue").await;
    app.allocate(&venue, 5).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_partner");
    let circulation = app.circulation(app.latest().await).await;
    assert_eq!(
        (circulation["treasury"].as_u64(), circulation["envelopes"].as_u64(), circulation["wallets"].as_u64()),
        (Some(35), Some(5), Some(10))
    );
}

async fn a_suspended_partner_cannot_write(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(100).await;
    let certified = app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    for partner in [&association, &venue] {
        app.post(&format!("/v1/partners/{}/suspend", partner.id), &app.admin_token, json!({}))
            .await
            .expect(StatusCode::OK);
    }
    app.certify(&association, &citizen, "ecologie", 1).await.expect_problem(StatusCode::FORBIDDEN, "partner_suspended");
    let path = format!("/v1/certifications/{}/revoke", certified["action_id"].as_str().expect("id"));
    app.post(&path, &association.token, json!({ "reason": "x" }))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "partner_suspended");
    app.redeem(&venue, &citizen, 1).await.expect_problem(StatusCode::FORBIDDEN, "partner_suspended");
    assert_eq!(app.circulation(app.latest().await).await["issued"], 10);
}

async fn voucher_refusals_name_the_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(100).await;
    app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    app.redeem(&venue, &citizen, 11).await.expect_problem(StatusCode::CONFLICT, "insufficient_balance");
    let voucher = app.voucher(&citizen, 3).await;
    app.redeem_body(&venue, TestApp::redemption(&venue, &voucher, 3)).await.expect(StatusCode::CREATED);
    app.redeem_body(&venue, TestApp::redemption(&venue, &voucher, 3))
        .await
        .expect_problem(StatusCode::CONFLICT, "voucher_used");
    let voucher = app.voucher(&citizen, 3).await;
    app.redeem_body(&venue, TestApp::redemption(&venue, &voucher, 4))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_voucher");
    let mut tampered = voucher.clone();
    tampered.pop();
    tampered.push(if voucher.ends_with('A') { 'B' } else { 'A' });
    app.redeem_body(&venue, TestApp::redemption(&venue, &tampered, 1))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_voucher");
    // A voucher signed by the territory, but expired.
    let now = chrono::Utc::now();
    let claims = VoucherClaims {
        voucher_id: uuid::Uuid::new_v4(),
        citizen_id: uuid::Uuid::parse_str(&citizen.id).expect("uuid"),
        amount_max: 1,
        issued_at: now - chrono::Duration::minutes(20),
        expires_at: now - chrono::Duration::minutes(10),
        offer_id: None,
    };
    let expired = ygor_crypto::issue_voucher(&claims, &app.territory_key()).expect("voucher");
    app.redeem_body(&venue, TestApp::redemption(&venue, &expired, 1))
        .await
        .expect_problem(StatusCode::GONE, "voucher_expired");
    // A voucher of a stranger.
    let claims =
        VoucherClaims { citizen_id: uuid::Uuid::new_v4(), expires_at: now + chrono::Duration::minutes(5), ..claims };
    let stranger = ygor_crypto::issue_voucher(&claims, &app.territory_key()).expect("voucher");
    app.redeem_body(&venue, TestApp::redemption(&venue, &stranger, 1))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_citizen");
    assert_eq!(app.wallet(&citizen, app.latest().await).await["balance"], 7);
}

async fn unknown_paths_and_ids_are_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    app.get("/v1/nothing-here", &app.admin_token).await.expect_problem(StatusCode::NOT_FOUND, "not_found");
    let missing = uuid::Uuid::new_v4();
    app.post(&format!("/v1/partners/{missing}/envelope"), &app.admin_token, json!({ "amount": 1 }))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.post(&format!("/v1/partners/{missing}/suspend"), &app.admin_token, json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.post("/v1/partners/not-an-id/suspend", &app.admin_token, json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.get(&format!("/v1/venues/{missing}/redemptions"), &app.admin_token)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.post("/v1/settlements", &app.admin_token, json!({ "venue_id": missing.to_string() }))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_partner");
}

async fn a_broken_database_gives_a_bare_internal_error(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_rules(crate::helpers::RULES).await.expect(StatusCode::OK);
    // Break the event table behind the server's back.
    match backend {
        Backend::Sqlite | Backend::SqliteUncached | Backend::SqliteForgetting => {
            let path = app.config.data_dir.join("ygor.db");
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.expect("open");
            sqlx::query("ALTER TABLE events RENAME TO events_broken").execute(&pool).await.expect("break");
        }
        Backend::Postgres => {
            let url = app.config.database_url.clone().expect("url");
            let pool = sqlx::PgPool::connect(&url).await.expect("open");
            sqlx::query("ALTER TABLE events RENAME TO events_broken").execute(&pool).await.expect("break");
        }
    }
    let answer = app.mint(10).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", answer.body);
    assert_eq!(answer.code(), "internal_error");
    let detail = answer.body["detail"].as_str().unwrap_or("");
    assert!(!detail.contains("events") && !detail.to_lowercase().contains("sql"), "leaks nothing: {detail}");

    // Let the projections hit the broken table too (they poll every 500 ms): they must keep going.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    // Repair the table: the failed write left no trace, in the log or in the server's memory.
    match backend {
        Backend::Sqlite | Backend::SqliteUncached | Backend::SqliteForgetting => {
            let path = app.config.data_dir.join("ygor.db");
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.expect("open");
            sqlx::query("ALTER TABLE events_broken RENAME TO events").execute(&pool).await.expect("repair");
        }
        Backend::Postgres => {
            let url = app.config.database_url.clone().expect("url");
            let pool = sqlx::PgPool::connect(&url).await.expect("open");
            sqlx::query("ALTER TABLE events_broken RENAME TO events").execute(&pool).await.expect("repair");
        }
    }
    let minted = app.mint(10).await.expect(StatusCode::OK);
    let circulation = app.circulation(minted["position"].as_i64().expect("position")).await;
    assert_eq!(circulation["minted"], 10, "only the write that was answered 200 counts");
}
