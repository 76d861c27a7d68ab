//! Offers, vouchers for an offer, countermarks: a venue publishes what it sells, anyone finds it,
//! a citizen takes a voucher and the venue redeems it by its short code.

use chrono::Datelike;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, Citizen, Partner, TestApp, spawn_app};

fn offer(title: &str, price: u64) -> Value {
    json!({
        "offer_id": uuid::Uuid::new_v4().to_string(),
        "title": title,
        "description": "Une entrée, bassin sportif et ludique",
        "category": "culture",
        "price": price,
    })
}

async fn publish(app: &TestApp, venue: &Partner, body: &Value) -> Value {
    app.post("/v1/offers", &venue.token, body.clone()).await.expect(StatusCode::CREATED)
}

async fn public(app: &TestApp, path: &str) -> Value {
    app.send(reqwest::Method::GET, path, None, None).await.expect(StatusCode::OK)
}

/// A citizen holding `tokens` tokens (earned by certified "culture" actions of 8 tokens).
async fn citizen_with_tokens(app: &TestApp, association: &Partner, citizen: &Citizen, actions: usize) {
    for _ in 0..actions {
        app.certify(association, citizen, "culture", 0).await.expect(StatusCode::CREATED);
    }
}

async fn register_citizen_born(app: &TestApp, birth_year: i32, neighbourhood: &str) -> Citizen {
    let body = json!({ "birth_year": birth_year, "neighbourhood": neighbourhood });
    let answer = app.post("/v1/citizens", &app.admin_token, body).await.expect(StatusCode::CREATED);
    Citizen {
        id: answer["citizen_id"].as_str().expect("citizen_id").to_owned(),
        token: answer["token"].as_str().expect("token").to_owned(),
    }
}

async fn voucher_for(app: &TestApp, citizen: &Citizen, offer_id: &str) -> crate::helpers::Answer {
    app.post("/v1/me/vouchers", &citizen.token, json!({ "offer_id": offer_id })).await
}

fn by_countermark(venue: &Partner, countermark: &str, offer_id: Option<&str>, amount: u64) -> Value {
    let mut body = json!({
        "redemption_id": uuid::Uuid::new_v4().to_string(),
        "venue_id": venue.id,
        "countermark": countermark,
        "amount": amount,
    });
    if let Some(offer_id) = offer_id {
        body["offer_id"] = json!(offer_id);
    }
    body
}

async fn a_venue_publishes_an_offer_that_anyone_finds(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_association, venue, _citizen) = app.territory(1_000).await;
    let other_venue = app.register_partner("venue").await;
    let mut body = offer("Entrée piscine", 5);
    body["capacity"] = json!({ "count": 20, "per": "day" });
    body["audience"] = json!({ "age_min": 15, "age_max": 24 });
    let offer_id = body["offer_id"].as_str().expect("offer_id").to_owned();

    let published = publish(&app, &venue, &body).await;
    assert_eq!(published["offer_id"], offer_id.as_str());
    // The same offer again is a retry; other terms under its id, or its id by another venue, a conflict.
    let again = app.post("/v1/offers", &venue.token, body.clone()).await.expect(StatusCode::OK);
    assert_eq!(again["position"], published["position"]);
    let mut changed = body.clone();
    changed["price"] = json!(6);
    app.post("/v1/offers", &venue.token, changed).await.expect_problem(StatusCode::CONFLICT, "id_conflict");
    app.post("/v1/offers", &other_venue.token, body.clone()).await.expect_problem(StatusCode::CONFLICT, "id_conflict");
    publish(&app, &other_venue, &offer("Place de théâtre", 12)).await;

    // Anyone reads the catalogue, without a token.
    let position = app.latest().await;
    let list = public(&app, &format!("/v1/offers?min_position={position}")).await;
    let offers = list["offers"].as_array().expect("offers");
    assert_eq!(offers.len(), 2);
    let pool = offers.iter().find(|item| item["offer_id"] == offer_id.as_str()).expect("the pool's offer");
    assert_eq!(pool["venue_id"], venue.id.as_str());
    assert_eq!(pool["venue"], "venue de test");
    assert_eq!(pool["price"], 5);
    assert_eq!(pool["remaining"], 20);
    assert_eq!(pool["capacity"], json!({ "count": 20, "per": "day" }));
    assert_eq!(pool["audience"], json!({ "age_min": 15, "age_max": 24 }));
    assert_eq!(pool["status"], "open");
    let only_venue = public(&app, &format!("/v1/offers?venue_id={}", other_venue.id)).await;
    assert_eq!(only_venue["offers"].as_array().expect("offers").len(), 1);
    assert_eq!(only_venue["offers"][0]["title"], "Place de théâtre");
    let for_forty = public(&app, "/v1/offers?age=40").await;
    assert_eq!(for_forty["offers"].as_array().expect("offers").len(), 1, "the pool's offer is for 15-24");
    assert_eq!(public(&app, "/v1/offers?age=18").await["offers"].as_array().expect("offers").len(), 2);
    assert_eq!(public(&app, "/v1/offers?category=ecologie").await["offers"], json!([]));
    assert_eq!(public(&app, &format!("/v1/offers/{offer_id}")).await["title"], "Entrée piscine");
    assert!(pool.get("price_cents").is_none(), "tokens have no value in euros yet");
    // Once the rules say what a token is worth, prices are also given in euro cents.
    let rules = format!("{}\n[settlement]\ntoken_value_cents = 10\n", crate::helpers::RULES);
    let published = app.put_rules(&rules).await.expect(StatusCode::OK);
    let position = published["position"].as_i64().expect("position");
    let priced = public(&app, &format!("/v1/offers/{offer_id}?min_position={position}")).await;
    assert_eq!(priced["price_cents"], 50);

    // Closing is for its venue; a closed offer leaves the catalogue but is still readable.
    let closing = format!("/v1/offers/{offer_id}/close");
    app.post(&closing, &other_venue.token, json!({})).await.expect_problem(StatusCode::NOT_FOUND, "not_found");
    let closed = app.post(&closing, &venue.token, json!({})).await.expect(StatusCode::OK);
    let closed_again = app.post(&closing, &venue.token, json!({})).await.expect(StatusCode::OK);
    assert_eq!(closed_again["position"], closed["position"], "closing again writes nothing");
    let position = closed["position"].as_i64().expect("position");
    let list = public(&app, &format!("/v1/offers?min_position={position}")).await;
    assert_eq!(list["offers"].as_array().expect("offers").len(), 1);
    let everything = public(&app, "/v1/offers?all=true").await;
    assert_eq!(everything["offers"].as_array().expect("offers").len(), 2);
    assert_eq!(public(&app, &format!("/v1/offers/{offer_id}")).await["status"], "closed");
    let unknown = uuid::Uuid::new_v4();
    app.send(reqwest::Method::GET, &format!("/v1/offers/{unknown}"), None, None)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.post(&format!("/v1/offers/{unknown}/close"), &venue.token, json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn an_offer_that_does_not_hold_is_refused_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    let before = app.latest().await;
    let refused = |change: Value| {
        let mut body = offer("Entrée musée", 4);
        for (key, value) in change.as_object().expect("an object") {
            body[key] = value.clone();
        }
        body
    };
    for change in [
        json!({ "price": 0 }),
        json!({ "price": 1_000_001 }),
        json!({ "title": "  " }),
        json!({ "title": "x".repeat(201) }),
        json!({ "offer_id": "not-an-id" }),
        json!({ "offer_id": uuid::Uuid::new_v4().to_string().to_uppercase() }),
        json!({ "capacity": { "count": 0, "per": "day" } }),
        json!({ "capacity": { "count": 3, "per": "year" } }),
        json!({ "audience": { "age_min": 30, "age_max": 20 } }),
        json!({ "audience": { "age_max": 151 } }),
        json!({ "starts_at": "2026-09-01T00:00:00Z", "ends_at": "2026-08-01T00:00:00Z" }),
        json!({ "category": "Pas une catégorie" }),
        json!({ "surprise": true }),
    ] {
        app.post("/v1/offers", &venue.token, refused(change.clone()))
            .await
            .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    }
    app.post("/v1/offers", &venue.token, refused(json!({ "category": "sport" })))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_category");
    for token in [&association.token, &citizen.token] {
        app.post("/v1/offers", token, offer("Entrée musée", 4))
            .await
            .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    }
    assert_eq!(app.latest().await, before, "refused offers wrote nothing");
    app.post(&format!("/v1/partners/{}/suspend", venue.id), &app.admin_token, json!({})).await.expect(StatusCode::OK);
    app.post("/v1/offers", &venue.token, offer("Entrée musée", 4))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "partner_suspended");
    app.send(reqwest::Method::GET, "/v1/offers?age=200", None, None)
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    app.send(reqwest::Method::GET, "/v1/offers?venue_id=nope", None, None)
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
}

async fn a_voucher_for_an_offer_is_redeemed_by_its_countermark(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    citizen_with_tokens(&app, &association, &citizen, 2).await;
    let mut body = offer("Entrée piscine", 5);
    body["capacity"] = json!({ "count": 3, "per": "week" });
    let offer_id = body["offer_id"].as_str().expect("offer_id").to_owned();
    publish(&app, &venue, &body).await;

    let issued = voucher_for(&app, &citizen, &offer_id).await.expect(StatusCode::CREATED);
    assert_eq!(issued["amount_max"], 5, "a voucher for an offer is for its price");
    assert_eq!(issued["offer_id"], offer_id.as_str());
    let countermark = issued["countermark"].as_str().expect("countermark").to_owned();
    assert_eq!(countermark.len(), 8);
    assert!(
        countermark.chars().all(|character| character.is_ascii_digit() || "ABCDEFGHJKMNPQRSTVWXYZ".contains(character))
    );
    let svg = issued["qr_svg"].as_str().expect("qr_svg");
    assert!(svg.contains("<svg") && svg.contains("</svg>"), "an SVG QR code: {}", &svg[..80.min(svg.len())]);

    // The venue types the code as the citizen reads it: lower case, with a hyphen.
    let typed = format!("{}-{}", &countermark[..4], &countermark[4..]).to_lowercase();
    let redemption = by_countermark(&venue, &typed, Some(&offer_id), 5);
    let redeemed = app.redeem_body(&venue, redemption.clone()).await.expect(StatusCode::CREATED);
    assert_eq!(redeemed["amount"], 5);
    let retried = app.redeem_body(&venue, redemption.clone()).await.expect(StatusCode::OK);
    assert_eq!(retried["position"], redeemed["position"]);
    let position = redeemed["position"].as_i64().expect("position");
    assert_eq!(app.wallet(&citizen, position).await["balance"], 11);
    let listed = public(&app, &format!("/v1/offers/{offer_id}?min_position={position}")).await;
    assert_eq!(listed["remaining"], 2, "the redemption used the offer once this week");
    // The citizen's history says where the tokens went: the venue and the offer.
    let history = app.get("/v1/me/history?limit=1", &citizen.token).await.expect(StatusCode::OK);
    let spent = &history["history"][0];
    assert_eq!((spent["kind"].as_str(), spent["tokens"].as_u64()), (Some("spent"), Some(5)));
    assert_eq!(
        (spent["offer_id"].as_str(), spent["offer"].as_str()),
        (Some(offer_id.as_str()), Some("Entrée piscine"))
    );
    // The same countermark again is the same voucher: used.
    app.redeem_body(&venue, by_countermark(&venue, &countermark, Some(&offer_id), 5))
        .await
        .expect_problem(StatusCode::CONFLICT, "voucher_used");

    // A voucher for an offer redeems that offer, named.
    let second = voucher_for(&app, &citizen, &offer_id).await.expect(StatusCode::CREATED);
    let second_mark = second["countermark"].as_str().expect("countermark");
    app.redeem_body(&venue, by_countermark(&venue, second_mark, None, 5))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_voucher");
    let other_offer = offer("Autre entrée", 5);
    publish(&app, &venue, &other_offer).await;
    let other_id = other_offer["offer_id"].as_str().expect("offer_id");
    app.redeem_body(&venue, by_countermark(&venue, second_mark, Some(other_id), 5))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_voucher");
    // Unknown, malformed, or both a voucher and a countermark.
    app.redeem_body(&venue, by_countermark(&venue, "0000-0000", Some(&offer_id), 5))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_countermark");
    for bad in ["0000-000", "UUUUUUUU", "0000-0000-0"] {
        app.redeem_body(&venue, by_countermark(&venue, bad, Some(&offer_id), 5))
            .await
            .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    }
    let mut both = by_countermark(&venue, second_mark, Some(&offer_id), 5);
    both["voucher"] = second["voucher"].clone();
    app.redeem_body(&venue, both).await.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    let mut neither = by_countermark(&venue, second_mark, Some(&offer_id), 5);
    neither.as_object_mut().expect("an object").remove("countermark");
    app.redeem_body(&venue, neither).await.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    // Another venue's redemption of this offer: the offer is not one of its own.
    let other_venue = app.register_partner("venue").await;
    app.redeem_body(&other_venue, by_countermark(&other_venue, second_mark, Some(&offer_id), 5))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_offer");
    // The plain voucher text still works, with the offer named.
    let mut plain = TestApp::redemption(&venue, second["voucher"].as_str().expect("voucher"), 5);
    plain["offer_id"] = json!(offer_id);
    app.redeem_body(&venue, plain).await.expect(StatusCode::CREATED);

    let (code, output) = app.audit_verify();
    assert_eq!(code, 0, "the audit re-checks countermarks and offers: {output}");
}

async fn an_offer_at_capacity_takes_no_more_vouchers_nor_redemptions(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    citizen_with_tokens(&app, &association, &citizen, 3).await;
    let mut body = offer("Atelier réparation vélo", 4);
    body["capacity"] = json!({ "count": 1, "per": "day" });
    let offer_id = body["offer_id"].as_str().expect("offer_id").to_owned();
    publish(&app, &venue, &body).await;
    // Two vouchers taken while a place is left: only the first redemption gets it.
    let first = voucher_for(&app, &citizen, &offer_id).await.expect(StatusCode::CREATED);
    let second = voucher_for(&app, &citizen, &offer_id).await.expect(StatusCode::CREATED);
    let redeem = |voucher: &Value| {
        let mut body = TestApp::redemption(&venue, voucher["voucher"].as_str().expect("voucher"), 4);
        body["offer_id"] = json!(offer_id);
        app.redeem_body(&venue, body)
    };
    let redeemed = redeem(&first).await.expect(StatusCode::CREATED);
    redeem(&second).await.expect_problem(StatusCode::CONFLICT, "offer_full");
    let position = redeemed["position"].as_i64().expect("position");
    let listed = public(&app, &format!("/v1/offers/{offer_id}?min_position={position}")).await;
    assert_eq!((listed["remaining"].clone(), listed["status"].clone()), (json!(0), json!("full")));
    voucher_for(&app, &citizen, &offer_id).await.expect_problem(StatusCode::CONFLICT, "offer_full");
    assert_eq!(app.wallet(&citizen, position).await["balance"], 20, "the refused redemption spent nothing");

    // A closed offer, an unknown one, a voucher asking for too much or for both.
    app.post(&format!("/v1/offers/{offer_id}/close"), &venue.token, json!({})).await.expect(StatusCode::OK);
    voucher_for(&app, &citizen, &offer_id).await.expect_problem(StatusCode::CONFLICT, "offer_closed");
    voucher_for(&app, &citizen, &uuid::Uuid::new_v4().to_string())
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_offer");
    let expensive = offer("Abonnement annuel", 500);
    publish(&app, &venue, &expensive).await;
    voucher_for(&app, &citizen, expensive["offer_id"].as_str().expect("offer_id"))
        .await
        .expect_problem(StatusCode::CONFLICT, "insufficient_balance");
    for body in [json!({ "amount": 5, "offer_id": offer_id }), json!({})] {
        app.post("/v1/me/vouchers", &citizen.token, body)
            .await
            .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    }
    let (code, output) = app.audit_verify();
    assert_eq!(code, 0, "{output}");
}

async fn an_offer_for_a_public_is_not_for_everyone(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, adult) = app.territory(1_000).await;
    let this_year = chrono::Utc::now().year();
    let young = register_citizen_born(&app, this_year - 18, "Plaisance").await;
    let young_elsewhere = register_citizen_born(&app, this_year - 18, "Montaudran").await;
    for citizen in [&adult, &young, &young_elsewhere] {
        citizen_with_tokens(&app, &association, citizen, 1).await;
    }
    let mut body = offer("Pass culture jeunes", 3);
    body["audience"] = json!({ "age_min": 15, "age_max": 24, "neighbourhoods": ["plaisance"] });
    let offer_id = body["offer_id"].as_str().expect("offer_id").to_owned();
    publish(&app, &venue, &body).await;
    voucher_for(&app, &young, &offer_id).await.expect(StatusCode::CREATED);
    voucher_for(&app, &adult, &offer_id).await.expect_problem(StatusCode::FORBIDDEN, "offer_not_for_you");
    voucher_for(&app, &young_elsewhere, &offer_id).await.expect_problem(StatusCode::FORBIDDEN, "offer_not_for_you");
    // A plain voucher for an amount is still issued, with its countermark.
    let plain = app.post("/v1/me/vouchers", &adult.token, json!({ "amount": 3 })).await.expect(StatusCode::CREATED);
    assert_eq!(plain["amount_max"], 3);
    assert!(plain.get("offer_id").is_none());
    let redeemed = app
        .redeem_body(&venue, by_countermark(&venue, plain["countermark"].as_str().expect("countermark"), None, 3))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(redeemed["amount"], 3);
}

async fn the_offers_dashboard_shows_which_publics_an_offer_reaches(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, _citizen) = app.territory(10_000).await;
    let this_year = chrono::Utc::now().year();
    let mut young = Vec::new();
    for _ in 0..4 {
        young.push(register_citizen_born(&app, this_year - 18, "Plaisance").await);
    }
    let mut adults = Vec::new();
    for _ in 0..5 {
        adults.push(register_citizen_born(&app, this_year - 40, "Bellefontaine").await);
    }
    let mut pool = offer("Entrée piscine", 2);
    pool["capacity"] = json!({ "count": 10, "per": "day" });
    let pool_id = pool["offer_id"].as_str().expect("offer_id").to_owned();
    publish(&app, &venue, &pool).await;
    let theatre = offer("Place de théâtre", 8);
    publish(&app, &venue, &theatre).await;
    // One young citizen and four adults use the pool; one adult twice. Nobody goes to the theatre.
    let users: Vec<&Citizen> = young.iter().take(1).chain(adults.iter().take(4)).chain(adults.iter().take(1)).collect();
    for citizen in &users {
        citizen_with_tokens(&app, &association, citizen, 1).await;
        let issued = voucher_for(&app, citizen, &pool_id).await.expect(StatusCode::CREATED);
        let body = by_countermark(&venue, issued["countermark"].as_str().expect("countermark"), Some(&pool_id), 2);
        app.redeem_body(&venue, body).await.expect(StatusCode::CREATED);
    }
    let position = app.latest().await;
    let dashboard = app.get(&format!("/v1/dashboards/offers?min_position={position}"), &app.admin_token).await;
    let dashboard = dashboard.expect(StatusCode::OK);
    assert_eq!(dashboard["by"], "offer");
    let rows = dashboard["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "an offer nobody used has its row: {dashboard}");
    let pool_row = rows.iter().find(|row| row["offer_id"] == pool_id.as_str()).expect("the pool's row");
    assert_eq!(
        (pool_row["uses"].clone(), pool_row["citizens"].clone(), pool_row["tokens"].clone()),
        (json!(6), json!(5), json!(12))
    );
    assert_eq!(pool_row["offer"], "Entrée piscine");
    assert_eq!(pool_row["places"], 10, "one day of a capacity of 10");
    assert_eq!(pool_row["capacity_used_percent"], 60.0);
    let band = |row: &Value, key: &str| {
        row["by_age_band"].as_array().expect("bands").iter().find(|band| band["key"] == key).cloned().expect("band")
    };
    // 1 of 4 young citizens against 4 of 6 citizens aged 35-49 (the territory's own citizen is 36).
    assert_eq!(
        band(pool_row, "15-24"),
        json!({ "key": "15-24", "uses": 1, "citizens": 1, "registered": 4, "reach_percent": 25.0 })
    );
    assert_eq!(band(pool_row, "35-49")["reach_percent"], 66.7);
    let theatre_row = rows.iter().find(|row| row["offer"] == "Place de théâtre").expect("the theatre's row");
    assert_eq!(theatre_row["uses"], 0);
    assert_eq!(
        band(theatre_row, "15-24"),
        json!({ "key": "15-24", "uses": 0, "citizens": 0, "registered": 4, "reach_percent": 0.0 })
    );
    let neighbourhoods = pool_row["by_neighbourhood"].as_array().expect("neighbourhoods");
    let plaisance = neighbourhoods.iter().find(|row| row["key"] == "Plaisance").expect("Plaisance");
    // Four young citizens and the territory's own live in Plaisance; one of them used the pool.
    assert_eq!((plaisance["citizens"].clone(), plaisance["registered"].clone()), (json!(1), json!(5)));

    assert!(pool_row["amount_cents"].is_null(), "the rules give tokens no value in euros");
    // The same figures as a file: a total line per offer, then a line per public.
    let csv = app.client.get(format!("{}/v1/dashboards/offers?format=csv", app.address)).bearer_auth(&app.admin_token);
    let csv = csv.send().await.expect("answers");
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(csv.headers()["content-disposition"].to_str().expect("ASCII").contains("offres-offer.csv"));
    let csv = csv.text().await.expect("text");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "venue_id,venue,offer_id,offer,public,key,uses,tokens,amount_cents,citizens,registered,reach_percent,places,capacity_used_percent"
        )
    );
    let total = format!("{},venue de test,{pool_id},Entrée piscine,total,,6,12,,5,,,10,60.0", venue.id);
    assert!(csv.lines().any(|line| line == total), "{total} in\n{csv}");
    let young = format!("{},venue de test,{pool_id},Entrée piscine,age_band,15-24,1,,,1,4,25.0,,", venue.id);
    assert!(csv.lines().any(|line| line == young), "{young} in\n{csv}");
    let xlsx =
        app.client.get(format!("{}/v1/dashboards/offers?format=xlsx", app.address)).bearer_auth(&app.admin_token);
    let xlsx = xlsx.send().await.expect("answers");
    assert_eq!(xlsx.status(), StatusCode::OK);
    assert!(xlsx.bytes().await.expect("bytes").starts_with(b"PK"), "an XLSX file is a zip archive");

    let by_venue = app.get("/v1/dashboards/offers?by=venue", &app.admin_token).await.expect(StatusCode::OK);
    let venue_rows = by_venue["rows"].as_array().expect("rows");
    assert_eq!(venue_rows.len(), 1);
    assert_eq!((venue_rows[0]["uses"].clone(), venue_rows[0]["venue_id"].clone()), (json!(6), json!(venue.id)));
    assert!(venue_rows[0].get("offer_id").is_none());
    let empty = app.get("/v1/dashboards/offers?to=2020-01-01T00:00:00Z", &app.admin_token).await.expect(StatusCode::OK);
    assert_eq!(empty["rows"], json!([]), "no offer was published before then");

    for query in ["by=age", "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from=yesterday", "format=pdf"] {
        app.get(&format!("/v1/dashboards/offers?{query}"), &app.admin_token)
            .await
            .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    }
    app.get("/v1/dashboards/offers", &venue.token).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");
}

async fn the_audit_finds_a_redemption_moved_to_a_closed_offer(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    citizen_with_tokens(&app, &association, &citizen, 1).await;
    let (open, closed) = (offer("Entrée piscine", 5), offer("Nocturne", 5));
    publish(&app, &venue, &open).await;
    publish(&app, &venue, &closed).await;
    let (open_id, closed_id) = (open["offer_id"].as_str().expect("id"), closed["offer_id"].as_str().expect("id"));
    app.post(&format!("/v1/offers/{closed_id}/close"), &venue.token, json!({})).await.expect(StatusCode::OK);
    let issued = voucher_for(&app, &citizen, open_id).await.expect(StatusCode::CREATED);
    let body = by_countermark(&venue, issued["countermark"].as_str().expect("countermark"), Some(open_id), 5);
    app.redeem_body(&venue, body).await.expect(StatusCode::CREATED);
    assert_eq!(app.audit_verify().0, 0);
    // Behind the server's back, the redemption is moved to the closed offer.
    let raw = crate::audit::Raw::open(&app).await;
    let position = raw.position_of("RedemptionRecorded").await;
    raw.execute(
        &format!("UPDATE events SET payload = replace(payload, '{open_id}', '{closed_id}') WHERE position = ?1"),
        &format!(
            "UPDATE events SET payload = replace(payload::text, '{open_id}', '{closed_id}')::json WHERE position = $1"
        ),
        position,
    )
    .await;
    let (code, output) = app.audit_verify();
    assert_eq!(code, 1, "{output}");
    assert!(crate::audit::names(&output, position), "names the redemption at {position}: {output}");
    assert!(output.contains(&format!("offer: offer {closed_id} is closed")), "{output}");
}

crate::on_both_backends!(
    a_venue_publishes_an_offer_that_anyone_finds,
    an_offer_that_does_not_hold_is_refused_and_changes_nothing,
    a_voucher_for_an_offer_is_redeemed_by_its_countermark,
    an_offer_at_capacity_takes_no_more_vouchers_nor_redemptions,
    an_offer_for_a_public_is_not_for_everyone,
    the_offers_dashboard_shows_which_publics_an_offer_reaches,
    the_audit_finds_a_redemption_moved_to_a_closed_offer,
);
