//! Everyone finds what concerns them: the rules in force, the partners, the draws, and an
//! association's envelope and certifications, without knowing an id in advance.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use ygor_crypto::SecretKey;

use crate::helpers::{Backend, Citizen, Partner, RULES, TestApp, spawn_app};

crate::on_both_backends!(
    the_rules_in_force_are_read_by_anyone_as_json_or_as_the_published_text,
    anyone_lists_the_active_venues_and_associations_by_name,
    the_collectivity_lists_every_partner_with_its_status_and_envelope,
    a_reinstated_partner_writes_again_and_the_log_still_verifies,
    draws_are_listed_newest_first_page_by_page_with_the_callers_tickets,
    an_association_reads_its_envelope_and_its_balance_adds_up,
    an_association_pages_through_its_certifications_newest_first,
);

/// A read without a token.
async fn public(app: &TestApp, path: &str) -> crate::helpers::Answer {
    app.send(Method::GET, path, None, None).await
}

async fn register_named(app: &TestApp, kind: &str, name: &str) -> Partner {
    let key = SecretKey::generate();
    let body = json!({ "kind": kind, "name": name, "public_key": key.public_key().to_string() });
    let answer = app.post("/v1/partners", &app.admin_token, body).await.expect(StatusCode::CREATED);
    Partner {
        id: answer["partner_id"].as_str().expect("partner_id").to_owned(),
        token: answer["token"].as_str().expect("token").to_owned(),
        key,
    }
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list[key].as_array().expect("a list").iter().map(|entry| entry["name"].as_str().expect("name").to_owned()).collect()
}

fn position(answer: &Value) -> i64 {
    answer["position"].as_i64().expect("position")
}

async fn the_rules_in_force_are_read_by_anyone_as_json_or_as_the_published_text(backend: Backend) {
    let app = spawn_app(backend).await;
    public(&app, "/v1/rules").await.expect_problem(StatusCode::NOT_FOUND, "not_found");
    public(&app, "/v1/rules?format=toml").await.expect_problem(StatusCode::NOT_FOUND, "not_found");
    let versions = public(&app, "/v1/rules/versions").await.expect(StatusCode::OK);
    assert_eq!(versions["versions"], json!([]));

    let first = app.put_rules(RULES).await.expect(StatusCode::OK);
    let rules = public(&app, &format!("/v1/rules?min_position={}", position(&first))).await.expect(StatusCode::OK);
    assert_eq!(rules["version"], 1);
    assert!(rules["published_at"].is_string());
    assert_eq!(rules["rules"]["lifetime"], "P6M");
    assert_eq!(rules["rules"]["backdate_max"], "P30D", "defaults are filled in");
    let categories: Vec<&str> =
        rules["rules"]["categories"].as_array().expect("categories").iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(categories, ["ecologie", "velo", "culture"]);
    assert_eq!(rules["rules"]["categories"][1]["tokens_per_unit"], 1);
    assert_eq!(rules["position"], position(&first));

    let text = public(&app, "/v1/rules?format=toml").await;
    assert_eq!(text.status, StatusCode::OK);
    assert_eq!(text.content_type, "application/toml; charset=utf-8");
    assert_eq!(text.body, Value::String(RULES.to_owned()), "the text exactly as published");

    let second_text = RULES.replace("tokens_per_action = 8", "tokens_per_action = 9");
    let second = app.put_rules(&second_text).await.expect(StatusCode::OK);
    let at = position(&second);
    let rules = public(&app, &format!("/v1/rules?min_position={at}")).await.expect(StatusCode::OK);
    assert_eq!(
        (rules["version"].as_u64(), rules["rules"]["categories"][2]["tokens_per_action"].as_u64()),
        (Some(2), Some(9))
    );
    assert_eq!(public(&app, "/v1/rules?format=toml").await.body, Value::String(second_text));
    let versions = public(&app, &format!("/v1/rules/versions?min_position={at}")).await.expect(StatusCode::OK);
    let listed: Vec<u64> =
        versions["versions"].as_array().expect("versions").iter().filter_map(|v| v["version"].as_u64()).collect();
    assert_eq!(listed, [1, 2], "oldest first");
    assert!(versions["versions"][0]["published_at"].as_str() <= versions["versions"][1]["published_at"].as_str());
    assert_eq!(versions["versions"][1]["published_at"], rules["published_at"]);

    public(&app, "/v1/rules?format=yaml").await.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    app.get("/v1/rules", "not-a-token").await.expect_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    // Any valid token may read them too (and the helper publishes the first text again: version 3).
    let (_, _, citizen) = app.territory(100).await;
    let at = app.latest().await;
    assert_eq!(
        app.get(&format!("/v1/rules?min_position={at}"), &citizen.token).await.expect(StatusCode::OK)["version"],
        3
    );
    app.get("/v1/rules/versions", "not-a-token").await.expect_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn anyone_lists_the_active_venues_and_associations_by_name(backend: Backend) {
    let app = spawn_app(backend).await;
    let venues = public(&app, "/v1/venues").await.expect(StatusCode::OK);
    assert_eq!(venues["venues"], json!([]));
    assert_eq!(public(&app, "/v1/associations").await.expect(StatusCode::OK)["associations"], json!([]));

    let pool = register_named(&app, "venue", "Piscine municipale").await;
    register_named(&app, "venue", "théâtre du Capitole").await;
    register_named(&app, "venue", "Aquarium").await;
    let amap = register_named(&app, "association", "AMAP des Minimes").await;
    register_named(&app, "association", "atelier vélo").await;

    let venues = public(&app, &format!("/v1/venues?min_position={}", app.latest().await)).await.expect(StatusCode::OK);
    assert_eq!(names(&venues, "venues"), ["Aquarium", "Piscine municipale", "théâtre du Capitole"]);
    let pool_entry = venues["venues"].as_array().expect("venues").iter().find(|v| v["name"] == "Piscine municipale");
    assert_eq!(pool_entry.expect("listed")["partner_id"], pool.id.as_str());
    let associations = public(&app, "/v1/associations").await.expect(StatusCode::OK);
    assert_eq!(names(&associations, "associations"), ["AMAP des Minimes", "atelier vélo"], "case does not order");

    let suspended = app
        .post(&format!("/v1/partners/{}/suspend", pool.id), &app.admin_token, json!({}))
        .await
        .expect(StatusCode::OK);
    let venues =
        public(&app, &format!("/v1/venues?min_position={}", position(&suspended))).await.expect(StatusCode::OK);
    assert_eq!(names(&venues, "venues"), ["Aquarium", "théâtre du Capitole"], "a suspended venue is not listed");
    let reinstated = app
        .post(&format!("/v1/partners/{}/reinstate", pool.id), &app.admin_token, json!({}))
        .await
        .expect(StatusCode::OK);
    let venues =
        public(&app, &format!("/v1/venues?min_position={}", position(&reinstated))).await.expect(StatusCode::OK);
    assert_eq!(names(&venues, "venues").len(), 3, "listed again once reinstated");
    // An association's token reads them as well.
    assert_eq!(names(&app.get("/v1/venues", &amap.token).await.expect(StatusCode::OK), "venues").len(), 3);
    app.get("/v1/associations", "not-a-token").await.expect_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    public(&app, "/v1/venues?min_position=-1").await.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
}

async fn the_collectivity_lists_every_partner_with_its_status_and_envelope(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/v1/partners", &app.admin_token).await.expect(StatusCode::OK)["partners"], json!([]));
    let (association, venue, citizen) = app.territory(1_000).await;
    app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    let other = register_named(&app, "association", "Zèbres solidaires").await;
    let suspended = app
        .post(&format!("/v1/partners/{}/suspend", venue.id), &app.admin_token, json!({}))
        .await
        .expect(StatusCode::OK);

    let all = app
        .get(&format!("/v1/partners?min_position={}", position(&suspended)), &app.admin_token)
        .await
        .expect(StatusCode::OK);
    let partners = all["partners"].as_array().expect("partners");
    assert_eq!(partners.len(), 3);
    let find = |id: &str| partners.iter().find(|partner| partner["partner_id"] == id).expect("listed").clone();
    let listed = find(&association.id);
    assert_eq!((listed["kind"].as_str(), listed["status"].as_str()), (Some("association"), Some("active")));
    assert_eq!(listed["envelope"], 990, "1,000 allocated, 10 issued");
    assert!(listed["registered_at"].is_string());
    assert_eq!(listed["name"], "association de test");
    let listed = find(&venue.id);
    assert_eq!((listed["kind"].as_str(), listed["status"].as_str()), (Some("venue"), Some("suspended")));
    assert!(listed.get("envelope").is_none(), "a venue has no envelope: {listed}");
    assert_eq!(find(&other.id)["envelope"], 0);
    assert_eq!(names(&all, "partners"), ["association de test", "venue de test", "Zèbres solidaires"]);

    let ids = |answer: Value| -> Vec<String> {
        answer["partners"]
            .as_array()
            .expect("partners")
            .iter()
            .map(|p| p["partner_id"].as_str().expect("id").to_owned())
            .collect()
    };
    let venues = app.get("/v1/partners?kind=venue", &app.admin_token).await.expect(StatusCode::OK);
    assert_eq!(ids(venues), [venue.id.as_str()]);
    let suspended = app.get("/v1/partners?status=suspended", &app.admin_token).await.expect(StatusCode::OK);
    assert_eq!(ids(suspended), [venue.id.as_str()]);
    let active = app.get("/v1/partners?kind=association&status=active", &app.admin_token).await.expect(StatusCode::OK);
    assert_eq!(ids(active), [association.id.as_str(), other.id.as_str()]);
    let none = app.get("/v1/partners?kind=venue&status=active", &app.admin_token).await.expect(StatusCode::OK);
    assert!(ids(none).is_empty());

    for query in ["kind=museum", "status=closed", "kind=", "min_position=x"] {
        app.get(&format!("/v1/partners?{query}"), &app.admin_token)
            .await
            .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    }
    app.get("/v1/partners", &association.token).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.get("/v1/partners", &citizen.token).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");
    public(&app, "/v1/partners").await.expect_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn a_reinstated_partner_writes_again_and_the_log_still_verifies(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    let reinstate = |id: &str| format!("/v1/partners/{id}/reinstate");
    let suspend = |id: &str| format!("/v1/partners/{id}/suspend");

    // Reinstating an active partner writes nothing and answers the same.
    let before = app.latest().await;
    let answer = app.post(&reinstate(&association.id), &app.admin_token, json!({})).await.expect(StatusCode::OK);
    assert_eq!(answer, json!({ "partner_id": association.id, "suspended": false, "position": before }));
    assert_eq!(app.latest().await, before, "nothing was written");

    for partner in [&association, &venue] {
        app.post(&suspend(&partner.id), &app.admin_token, json!({})).await.expect(StatusCode::OK);
    }
    app.certify(&association, &citizen, "ecologie", 1).await.expect_problem(StatusCode::FORBIDDEN, "partner_suspended");
    app.redeem(&venue, &citizen, 1).await.expect_problem(StatusCode::FORBIDDEN, "partner_suspended");

    let reinstated = app.post(&reinstate(&association.id), &app.admin_token, json!({})).await.expect(StatusCode::OK);
    assert_eq!(reinstated["suspended"], false);
    assert!(position(&reinstated) > before);
    let again = app.post(&reinstate(&association.id), &app.admin_token, json!({})).await.expect(StatusCode::OK);
    assert_eq!(position(&again), position(&reinstated), "the second time finds nothing to do");
    app.post(&reinstate(&venue.id), &app.admin_token, json!({})).await.expect(StatusCode::OK);
    app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    app.redeem(&venue, &citizen, 5).await.expect(StatusCode::CREATED);
    let wallet = app.wallet(&citizen, app.latest().await).await;
    assert_eq!(wallet["balance"], 15);

    // Refusals change nothing.
    let unknown = uuid::Uuid::new_v4().to_string();
    app.post(&reinstate(&unknown), &app.admin_token, json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.post(&reinstate("not-an-id"), &app.admin_token, json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.post(&reinstate(&venue.id), &association.token, json!({}))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.post(&reinstate(&venue.id), &app.admin_token, json!({ "now": true }))
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    app.send(Method::POST, &reinstate(&venue.id), None, Some(json!({})))
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "unauthorized");

    let (code, report) = app.audit_verify();
    assert_eq!(code, 0, "the log verifies with suspensions lifted: {report}");
}

async fn create_draw(app: &TestApp, prize: &str, closes_at: chrono::DateTime<chrono::Utc>) -> String {
    let draw_id = uuid::Uuid::new_v4().to_string();
    let body = json!({ "draw_id": draw_id, "prize": prize, "closes_at": closes_at.to_rfc3339(), "winners": 1 });
    app.post("/v1/draws", &app.admin_token, body).await.expect(StatusCode::CREATED);
    draw_id
}

async fn enter(app: &TestApp, citizen: &Citizen, draw_id: &str, gold: u64) {
    app.post(&format!("/v1/me/draws/{draw_id}/entries"), &citizen.token, json!({ "gold": gold }))
        .await
        .expect(StatusCode::CREATED);
}

fn prizes(page: &Value) -> Vec<String> {
    page["draws"]
        .as_array()
        .expect("draws")
        .iter()
        .map(|draw| draw["prize"].as_str().expect("prize").to_owned())
        .collect()
}

async fn draws_are_listed_newest_first_page_by_page_with_the_callers_tickets(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(public(&app, "/v1/draws").await.expect(StatusCode::OK)["draws"], json!([]));
    let (association, _venue, citizen) = app.territory(10_000).await;
    app.put_rules(&format!("{RULES}\n[gold]\nprobability = 1\nperiod = \"P1D\"\n")).await.expect(StatusCode::OK);
    let other = app.register_citizen().await;
    for holder in [&citizen, &citizen, &citizen, &other] {
        assert_eq!(app.certify(&association, holder, "culture", 1).await.expect(StatusCode::CREATED)["gold"], true);
    }
    let closes_soon = chrono::Utc::now() + chrono::Duration::seconds(4);
    let next_week = chrono::Utc::now() + chrono::Duration::days(7);
    let soon = create_draw(&app, "Vélo électrique", closes_soon).await;
    create_draw(&app, "Pass piscine", next_week).await;
    let theatre = create_draw(&app, "Saison au théâtre", next_week).await;
    enter(&app, &citizen, &soon, 2).await;
    enter(&app, &other, &soon, 1).await;
    enter(&app, &citizen, &theatre, 1).await;

    let at = app.latest().await;
    let page = public(&app, &format!("/v1/draws?min_position={at}")).await.expect(StatusCode::OK);
    assert_eq!(prizes(&page), ["Saison au théâtre", "Pass piscine", "Vélo électrique"], "newest first");
    assert!(page.get("next").is_none(), "one page holds them all: {page}");
    let listed = &page["draws"][2];
    assert_eq!(listed["draw_id"], soon.as_str());
    assert_eq!((listed["entrants"].as_u64(), listed["tickets"].as_u64()), (Some(2), Some(3)));
    assert_eq!((listed["winners_count"].as_u64(), listed["status"].as_str()), (Some(1), Some("open")));
    assert!(listed["closes_at"].is_string() && listed["created_at"].is_string());
    assert!(listed.get("my_tickets").is_none() && listed.get("won").is_none(), "no caller, no tickets: {listed}");

    let mine = app.get("/v1/draws", &citizen.token).await.expect(StatusCode::OK);
    let tickets: Vec<u64> =
        mine["draws"].as_array().expect("draws").iter().filter_map(|d| d["my_tickets"].as_u64()).collect();
    assert_eq!(tickets, [1, 0, 2], "the citizen's own tickets in each draw");
    assert!(mine["draws"][2].get("won").is_none(), "not drawn yet");
    let admin = app.get("/v1/draws", &app.admin_token).await.expect(StatusCode::OK);
    assert!(admin["draws"][0].get("my_tickets").is_none(), "only a citizen has tickets");
    app.get("/v1/draws", "not-a-token").await.expect_problem(StatusCode::UNAUTHORIZED, "unauthorized");

    // Page by page: `next` until the last page.
    let first = public(&app, "/v1/draws?limit=2").await.expect(StatusCode::OK);
    assert_eq!(prizes(&first), ["Saison au théâtre", "Pass piscine"]);
    let next = first["next"].as_u64().expect("a next page");
    let second = public(&app, &format!("/v1/draws?limit=2&after={next}")).await.expect(StatusCode::OK);
    assert_eq!(prizes(&second), ["Vélo électrique"]);
    assert!(second.get("next").is_none());
    let exact = public(&app, "/v1/draws?limit=3").await.expect(StatusCode::OK);
    assert!(exact.get("next").is_none(), "no empty last page: {exact}");
    for query in ["limit=0", "limit=1001", "limit=x", "after=-1"] {
        public(&app, &format!("/v1/draws?{query}")).await.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    }

    // Past closes_at: closing, then closed once drawn, with the winner told.
    let wait = (closes_soon - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + std::time::Duration::from_millis(100)).await;
    let closing = public(&app, "/v1/draws").await.expect(StatusCode::OK);
    assert_eq!(closing["draws"][2]["status"], "closing");
    assert_eq!(closing["draws"][0]["status"], "open");
    let closed = app.post(&format!("/v1/draws/{soon}/close"), &app.admin_token, json!({})).await.expect(StatusCode::OK);
    let winner = closed["winners"][0].as_str().expect("a winner").to_owned();
    let at = position(&closed);
    for (who, token) in [(&citizen, &citizen.token), (&other, &other.token)] {
        let page = app.get(&format!("/v1/draws?min_position={at}"), token).await.expect(StatusCode::OK);
        assert_eq!(page["draws"][2]["status"], "closed");
        assert_eq!(page["draws"][2]["won"], json!(who.id == winner));
        assert!(page["draws"][0].get("won").is_none(), "an open draw has no winner yet");
    }
}

async fn envelope(app: &TestApp, association: &Partner, at: i64) -> Value {
    app.get(&format!("/v1/me/envelope?min_position={at}"), &association.token).await.expect(StatusCode::OK)
}

fn field(body: &Value, name: &str) -> u64 {
    body[name].as_u64().unwrap_or_else(|| panic!("{name} in {body}"))
}

async fn an_association_reads_its_envelope_and_its_balance_adds_up(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    let start = envelope(&app, &association, app.latest().await).await;
    assert_eq!(
        (field(&start, "balance"), field(&start, "allocated"), field(&start, "issued"), field(&start, "returned")),
        (1_000, 1_000, 0, 0)
    );

    app.allocate(&association, 500).await.expect(StatusCode::OK);
    app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    app.certify(&association, &citizen, "velo", 12).await.expect(StatusCode::CREATED);
    let revoked = app.certify(&association, &citizen, "culture", 1).await.expect(StatusCode::CREATED);
    // Spend some tokens, so that the revocation gives back only what is left of its lot.
    app.redeem(&venue, &citizen, 25).await.expect(StatusCode::CREATED);
    let revocation = app
        .post(
            &format!("/v1/certifications/{}/revoke", revoked["action_id"].as_str().expect("id")),
            &association.token,
            json!({ "reason": "saisie en double" }),
        )
        .await
        .expect(StatusCode::OK);
    let returned = field(&revocation, "returned");

    let view = envelope(&app, &association, position(&revocation)).await;
    assert_eq!(field(&view, "allocated"), 1_500);
    assert_eq!(field(&view, "issued"), 10 + 12 + 8);
    assert_eq!(field(&view, "returned"), returned);
    assert_eq!(
        field(&view, "balance"),
        field(&view, "allocated") - field(&view, "issued") + field(&view, "returned"),
        "balance = allocated − issued + returned: {view}"
    );
    let circulation = app.circulation(position(&revocation)).await;
    assert_eq!(field(&view, "balance"), field(&circulation, "envelopes"), "the only association holds every envelope");
    assert_eq!(field(&view, "position"), position(&revocation) as u64);

    // Another association's envelope is its own.
    let other = app.register_partner("association").await;
    let empty = envelope(&app, &other, app.latest().await).await;
    assert_eq!((field(&empty, "balance"), field(&empty, "allocated")), (0, 0));

    app.get("/v1/me/envelope", &venue.token).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.get("/v1/me/envelope", &citizen.token).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.get("/v1/me/envelope", &app.admin_token).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");
    public(&app, "/v1/me/envelope").await.expect_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    app.get("/v1/me/envelope?min_position=999999", &association.token)
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
}

async fn an_association_pages_through_its_certifications_newest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    let path = "/v1/me/certifications";
    let empty = app.get(path, &association.token).await.expect(StatusCode::OK);
    assert_eq!(empty["certifications"], json!([]));
    assert!(empty.get("next").is_none());

    let other = app.register_citizen().await;
    // Allocations and a revocation between the certifications: the association's stream holds
    // more than certifications, and the pages skip what is not one.
    let mut bodies = Vec::new();
    for (index, (holder, category, quantity)) in [
        (&citizen, "ecologie", 1),
        (&other, "velo", 7),
        (&citizen, "culture", 2),
        (&other, "ecologie", 3),
        (&citizen, "velo", 4),
    ]
    .into_iter()
    .enumerate()
    {
        let body = TestApp::certification(&association, holder, category, quantity);
        app.certify_body(&association, body.clone()).await.expect(StatusCode::CREATED);
        bodies.push(body);
        if index % 2 == 0 {
            app.allocate(&association, 10).await.expect(StatusCode::OK);
        }
    }
    let revoked_id = bodies[1]["action_id"].as_str().expect("id").to_owned();
    let revocation = app
        .post(&format!("/v1/certifications/{revoked_id}/revoke"), &association.token, json!({ "reason": "erreur" }))
        .await
        .expect(StatusCode::OK);
    let at = position(&revocation);

    let all = app.get(&format!("{path}?min_position={at}"), &association.token).await.expect(StatusCode::OK);
    let listed = all["certifications"].as_array().expect("certifications");
    let ids: Vec<&str> = listed.iter().filter_map(|c| c["action_id"].as_str()).collect();
    let expected: Vec<&str> = bodies.iter().rev().filter_map(|b| b["action_id"].as_str()).collect();
    assert_eq!(ids, expected, "newest first");
    assert!(all.get("next").is_none());
    let newest = &listed[0];
    assert_eq!(newest["citizen_id"], citizen.id.as_str());
    assert_eq!((newest["category"].as_str(), newest["quantity"].as_u64()), (Some("velo"), Some(4)));
    assert_eq!(
        (newest["tokens"].as_u64(), newest["gold"].as_bool(), newest["revoked"].as_bool()),
        (Some(4), Some(false), Some(false))
    );
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(newest["occurred_at"].as_str().expect("occurred_at")).expect("a time"),
        chrono::DateTime::parse_from_rfc3339(bodies[4]["occurred_at"].as_str().expect("sent")).expect("a time")
    );
    assert!(newest["certified_at"].as_str() > newest["occurred_at"].as_str());
    let revoked: Vec<bool> = listed.iter().filter_map(|c| c["revoked"].as_bool()).collect();
    assert_eq!(revoked, [false, false, false, true, false]);
    assert_eq!(all["position"], at);

    // Two by two: 2, 2, 1, and `next` only while more follow.
    let mut seen = Vec::new();
    let mut after: Option<u64> = None;
    let mut pages = 0;
    loop {
        let query = after.map_or("limit=2".to_owned(), |after| format!("limit=2&after={after}"));
        let page = app.get(&format!("{path}?{query}"), &association.token).await.expect(StatusCode::OK);
        pages += 1;
        let certifications = page["certifications"].as_array().expect("certifications");
        assert!(!certifications.is_empty(), "no empty page: {page}");
        seen.extend(certifications.iter().filter_map(|c| c["action_id"].as_str().map(str::to_owned)));
        match page.get("next") {
            Some(next) => after = Some(next.as_u64().expect("a number")),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected);

    // Only its own certifications.
    let another = app.register_partner("association").await;
    assert_eq!(app.get(path, &another.token).await.expect(StatusCode::OK)["certifications"], json!([]));
    for query in ["limit=0", "limit=1001", "after=-1", "after=x"] {
        app.get(&format!("{path}?{query}"), &association.token)
            .await
            .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    }
    app.get(path, &venue.token).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.get(path, &citizen.token).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");
    public(&app, path).await.expect_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}
