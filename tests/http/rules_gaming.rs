//! Rules that cannot be gamed: backdating is bounded, gold comes only with tokens and goes back
//! with a revocation, every category and neighbourhood named is one the rules define, and the
//! same rules published again are no new version.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, Citizen, Partner, RULES, TestApp, spawn_app};

crate::on_both_backends!(
    an_action_older_than_backdate_max_is_refused_and_nothing_is_written,
    a_retried_certification_is_a_replay_even_once_older_than_backdate_max,
    an_action_over_the_monthly_cap_earns_no_gold,
    revoking_an_action_takes_back_its_unspent_gold_token,
    revoking_an_action_whose_gold_was_entered_in_a_draw_keeps_the_ticket,
    interests_and_mission_categories_must_be_categories_of_the_rules,
    neighbourhoods_must_be_declared_ones_when_the_rules_declare_some,
    publishing_the_rules_in_force_again_creates_no_new_version
);

/// [`RULES`] with gold tokens for every action (probability 1).
fn rules_with_gold_for_every_action() -> String {
    format!("{RULES}\n[gold]\nprobability = 1\nperiod = \"P1D\"\n")
}

const NEIGHBOURHOODS: &str = "
[[neighbourhoods]]
id = \"plaisance\"
label = \"Plaisance\"

[[neighbourhoods]]
id = \"gare\"
label = \"Gare\"
";

fn days_ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339()
}

/// A certification of one `ecologie` action that occurred at `occurred_at`.
fn occurred_at_body(association: &Partner, citizen: &Citizen, occurred_at: &str) -> Value {
    let mut body = TestApp::certification(association, citizen, "ecologie", 1);
    body["occurred_at"] = json!(occurred_at);
    body
}

async fn revoke(app: &TestApp, association: &Partner, action_id: &Value) -> Value {
    let path = format!("/v1/certifications/{}/revoke", action_id.as_str().expect("an action id"));
    app.post(&path, &association.token, json!({ "reason": "erreur de saisie" })).await.expect(StatusCode::OK)
}

async fn an_action_older_than_backdate_max_is_refused_and_nothing_is_written(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    let before = app.latest().await;
    // The default backdate_max is 30 days: 31 days ago, and the first day of the calendar, are
    // too long ago; each past month would otherwise have its own cap.
    for occurred_at in [days_ago(31), "0001-01-01T00:00:00Z".to_owned()] {
        let body = occurred_at_body(&association, &citizen, &occurred_at);
        app.certify_body(&association, body)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "occurred_too_long_ago");
    }
    assert_eq!(app.latest().await, before, "nothing was written");
    let wallet = app.wallet(&citizen, before).await;
    assert_eq!((wallet["balance"].as_u64(), wallet["lots"].as_array().map(Vec::len)), (Some(0), Some(0)));
    // Within 30 days it is certified as before.
    let body = occurred_at_body(&association, &citizen, &days_ago(29));
    let accepted = app.certify_body(&association, body).await.expect(StatusCode::CREATED);
    assert_eq!(accepted["tokens"], 10);
    // Rules with a longer backdate_max accept older actions.
    app.put_rules(&crate::helpers::rules_with_backdate_max("P60D")).await.expect(StatusCode::OK);
    let body = occurred_at_body(&association, &citizen, &days_ago(45));
    assert_eq!(app.certify_body(&association, body).await.expect(StatusCode::CREATED)["tokens"], 10);
    let body = occurred_at_body(&association, &citizen, &days_ago(61));
    app.certify_body(&association, body)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "occurred_too_long_ago");
    assert_eq!(app.audit_verify().0, 0, "the audit still holds");
}

async fn a_retried_certification_is_a_replay_even_once_older_than_backdate_max(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    app.put_rules(&crate::helpers::rules_with_backdate_max("PT2S")).await.expect(StatusCode::OK);
    let occurred_at = chrono::Utc::now().to_rfc3339();
    let body = occurred_at_body(&association, &citizen, &occurred_at);
    let first = app.certify_body(&association, body.clone()).await.expect(StatusCode::CREATED);
    tokio::time::sleep(std::time::Duration::from_millis(3_000)).await;
    let before = app.latest().await;
    // The same signed certification again: answered as it was, although it is now too old.
    let again = app.certify_body(&association, body.clone()).await.expect(StatusCode::OK);
    assert_eq!(again, first);
    // Another action of the same moment is too old now.
    let other = occurred_at_body(&association, &citizen, &occurred_at);
    app.certify_body(&association, other)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "occurred_too_long_ago");
    // The same id with another body is still a conflict, not a question of age.
    let mut changed = body;
    changed["quantity"] = json!(2);
    app.certify_body(&association, changed).await.expect_problem(StatusCode::CONFLICT, "id_conflict");
    assert_eq!(app.latest().await, before, "nothing was written");
}

async fn an_action_over_the_monthly_cap_earns_no_gold(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    app.put_rules(&rules_with_gold_for_every_action()).await.expect(StatusCode::OK);
    // velo: one token per km, 30 a month.
    let first = app.certify(&association, &citizen, "velo", 30).await.expect(StatusCode::CREATED);
    assert_eq!((first["tokens"].as_u64(), first["gold"].as_bool()), (Some(30), Some(true)));
    let over = app.certify(&association, &citizen, "velo", 10).await.expect(StatusCode::CREATED);
    assert_eq!((over["tokens"].as_u64(), over["gold"].as_bool()), (Some(0), Some(false)));
    assert!(over["lot_id"].is_null());
    // Another category still earns both.
    let culture = app.certify(&association, &citizen, "culture", 1).await.expect(StatusCode::CREATED);
    assert_eq!((culture["tokens"].as_u64(), culture["gold"].as_bool()), (Some(8), Some(true)));
    let latest = culture["position"].as_i64().expect("position");
    assert_eq!(app.wallet(&citizen, latest).await["gold"], 2);
    let circulation = app.circulation(latest).await;
    assert_eq!((circulation["gold_issued"].as_u64(), circulation["gold_outstanding"].as_u64()), (Some(2), Some(2)));
    assert_eq!(app.audit_verify().0, 0, "the audit agrees that an action without tokens earns no gold");
}

async fn revoking_an_action_takes_back_its_unspent_gold_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    app.put_rules(&rules_with_gold_for_every_action()).await.expect(StatusCode::OK);
    let golden = app.certify(&association, &citizen, "culture", 1).await.expect(StatusCode::CREATED);
    assert_eq!(golden["gold"], true);
    let revoked = revoke(&app, &association, &golden["action_id"]).await;
    assert_eq!((revoked["returned"].as_u64(), revoked["gold_taken_back"].as_bool()), (Some(8), Some(true)));
    // The retry answers the same.
    assert_eq!(revoke(&app, &association, &golden["action_id"]).await, revoked);
    let latest = revoked["position"].as_i64().expect("position");
    let wallet = app.wallet(&citizen, latest).await;
    assert_eq!((wallet["balance"].as_u64(), wallet["gold"].as_u64()), (Some(0), Some(0)));
    let circulation = app.circulation(latest).await;
    let gold = |name: &str| circulation[name].as_u64();
    assert_eq!(
        (gold("gold_issued"), gold("gold_taken_back"), gold("gold_entered"), gold("gold_outstanding")),
        (Some(1), Some(1), Some(0), Some(0))
    );
    // An action that earned no gold takes none back.
    app.put_rules(RULES).await.expect(StatusCode::OK);
    let plain = app.certify(&association, &citizen, "culture", 1).await.expect(StatusCode::CREATED);
    assert_eq!(plain["gold"], false);
    assert_eq!(revoke(&app, &association, &plain["action_id"]).await["gold_taken_back"], false);
    assert_eq!(app.audit_verify().0, 0, "the audit follows the gold taken back");
}

async fn revoking_an_action_whose_gold_was_entered_in_a_draw_keeps_the_ticket(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    app.put_rules(&rules_with_gold_for_every_action()).await.expect(StatusCode::OK);
    let golden = app.certify(&association, &citizen, "culture", 1).await.expect(StatusCode::CREATED);
    let draw_id = uuid::Uuid::new_v4().to_string();
    let closes_at = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let draw = json!({ "draw_id": draw_id, "prize": "Pass piscine", "closes_at": closes_at, "winners": 1 });
    app.post("/v1/draws", &app.admin_token, draw).await.expect(StatusCode::CREATED);
    let entries = format!("/v1/me/draws/{draw_id}/entries");
    app.post(&entries, &citizen.token, json!({ "gold": 1 })).await.expect(StatusCode::CREATED);

    let revoked = revoke(&app, &association, &golden["action_id"]).await;
    assert_eq!((revoked["returned"].as_u64(), revoked["gold_taken_back"].as_bool()), (Some(8), Some(false)));
    let latest = revoked["position"].as_i64().expect("position");
    let shown = app.get(&format!("/v1/draws/{draw_id}?min_position={latest}"), &app.admin_token).await;
    let shown = shown.expect(StatusCode::OK);
    assert_eq!(shown["entries"], json!([{ "citizen_id": citizen.id, "tickets": 1 }]), "the ticket stays");
    assert_eq!(app.wallet(&citizen, latest).await["gold"], 0);
    let circulation = app.circulation(latest).await;
    let gold = |name: &str| circulation[name].as_u64();
    assert_eq!(
        (gold("gold_issued"), gold("gold_taken_back"), gold("gold_entered"), gold("gold_outstanding")),
        (Some(1), Some(0), Some(1), Some(0))
    );
    assert_eq!(app.audit_verify().0, 0);
}

async fn interests_and_mission_categories_must_be_categories_of_the_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    let before = app.latest().await;
    app.post("/v1/citizens", &app.admin_token, json!({ "interests": ["ecologie", "sport"] }))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_category");
    app.send(Method::PUT, "/v1/me/interests", Some(&citizen.token), Some(json!({ "interests": ["sport"] })))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_category");
    let starts = chrono::Utc::now() + chrono::Duration::days(1);
    let mission = |categories: &[&str]| {
        json!({
            "mission_id": uuid::Uuid::new_v4().to_string(),
            "title": "Nettoyage des berges",
            "categories": categories,
            "starts_at": starts.to_rfc3339(),
            "ends_at": (starts + chrono::Duration::days(1)).to_rfc3339(),
        })
    };
    app.post("/v1/missions", &association.token, mission(&["ecologie", "solidarite"]))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_category");
    assert_eq!(app.latest().await, before, "nothing was written");
    // Known categories pass everywhere.
    app.post("/v1/citizens", &app.admin_token, json!({ "interests": ["velo"] })).await.expect(StatusCode::CREATED);
    let interests = json!({ "interests": ["culture"] });
    app.send(Method::PUT, "/v1/me/interests", Some(&citizen.token), Some(interests)).await.expect(StatusCode::OK);
    let published = mission(&["ecologie", "culture"]);
    app.post("/v1/missions", &association.token, published.clone()).await.expect(StatusCode::CREATED);
    // Rules without `culture`: the published mission's retry is answered as it was.
    app.put_rules(&RULES.replace("id = \"culture\"", "id = \"culture-2\"")).await.expect(StatusCode::OK);
    app.post("/v1/missions", &association.token, published).await.expect(StatusCode::OK);
    app.post("/v1/missions", &association.token, mission(&["culture"]))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_category");
}

async fn neighbourhoods_must_be_declared_ones_when_the_rules_declare_some(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, _citizen) = app.territory(1_000).await;
    // Rules without [[neighbourhoods]] take any neighbourhood, as the helper's "Plaisance" shows.
    app.post("/v1/citizens", &app.admin_token, json!({ "neighbourhood": "Quartier libre" }))
        .await
        .expect(StatusCode::CREATED);
    app.put_rules(&format!("{RULES}{NEIGHBOURHOODS}")).await.expect(StatusCode::OK);
    let before = app.latest().await;
    for neighbourhood in ["Quartier libre", "Plaisance"] {
        app.post(
            "/v1/citizens",
            &app.admin_token,
            json!({ "neighbourhood": neighbourhood, "interests": ["ecologie"] }),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_neighbourhood");
    }
    let starts = chrono::Utc::now() + chrono::Duration::days(1);
    let mission = |neighbourhood: &str| {
        json!({
            "mission_id": uuid::Uuid::new_v4().to_string(),
            "title": "Nettoyage des berges",
            "categories": ["ecologie"],
            "neighbourhood": neighbourhood,
            "starts_at": starts.to_rfc3339(),
            "ends_at": (starts + chrono::Duration::days(1)).to_rfc3339(),
        })
    };
    app.post("/v1/missions", &association.token, mission("Centre"))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_neighbourhood");
    assert_eq!(app.latest().await, before, "nothing was written");
    app.post("/v1/citizens", &app.admin_token, json!({ "neighbourhood": "plaisance" }))
        .await
        .expect(StatusCode::CREATED);
    app.post("/v1/citizens", &app.admin_token, json!({})).await.expect(StatusCode::CREATED);
    app.post("/v1/missions", &association.token, mission("gare")).await.expect(StatusCode::CREATED);
}

async fn publishing_the_rules_in_force_again_creates_no_new_version(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.put_rules(RULES).await.expect(StatusCode::OK);
    assert_eq!((first["version"].as_u64(), first["published"].as_bool()), (Some(1), Some(true)));
    let again = app.put_rules(RULES).await.expect(StatusCode::OK);
    assert_eq!((again["version"].as_u64(), again["published"].as_bool()), (Some(1), Some(false)));
    assert_eq!(again["position"], first["position"], "the answer names the version in force");
    // The same rules in another layout, with a comment, are the same rules.
    let reworded =
        format!("# Règles du territoire\n{}", RULES.replace("lifetime = \"P6M\"", "lifetime = \"P6M\" # six mois"));
    let same = app.put_rules(&reworded).await.expect(StatusCode::OK);
    assert_eq!((same["version"].as_u64(), same["published"].as_bool()), (Some(1), Some(false)));
    // Nothing was written: the log holds one publication. (The server's own jobs may record a
    // checkpoint meanwhile, so the log's length is not the measure.)
    let events = app.get("/v1/audit/events?limit=1000", &app.admin_token).await.expect(StatusCode::OK);
    let publications = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|event| event["event_type"].as_str().is_some_and(|kind| kind.starts_with("RulesPublished")))
        .count();
    assert_eq!(publications, 1, "nothing was written: {events}");
    // Other rules are a new version, and the first ones again are a third.
    let changed = app.put_rules(&RULES.replace("P6M", "P1Y")).await.expect(StatusCode::OK);
    assert_eq!((changed["version"].as_u64(), changed["published"].as_bool()), (Some(2), Some(true)));
    let back = app.put_rules(RULES).await.expect(StatusCode::OK);
    assert_eq!((back["version"].as_u64(), back["published"].as_bool()), (Some(3), Some(true)));
}
