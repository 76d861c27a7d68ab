//! What a citizen needs to find: how far they are from each challenge, everything that happened
//! to their wallet, and the short code a partner's desk finds them by.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, Citizen, Partner, RULES, TestApp, spawn_app};

crate::on_both_backends!(
    a_citizen_sees_how_far_they_are_from_each_badge_still_to_earn,
    registration_gives_a_citizen_code_that_a_partners_desk_looks_up,
    a_code_typed_by_hand_is_found_and_a_wrong_one_is_refused,
    a_citizen_registered_before_codes_is_given_one_on_first_read_and_keeps_it,
    the_history_lists_what_happened_to_the_wallet_newest_first,
    the_history_comes_in_pages_that_add_up_to_the_whole,
    a_history_request_out_of_its_limits_is_refused,
);

/// The helpers' rules, `velo` counted in km, with these badges.
fn rules_with_badges(badges: &str) -> String {
    let velo_in_km = RULES.replace("cap_per_citizen_per_month = 30", "cap_per_citizen_per_month = 30\nunit = \"km\"");
    format!("{velo_in_km}\n{badges}")
}

async fn profile(app: &TestApp, citizen: &Citizen) -> Value {
    let position = app.latest().await;
    app.get(&format!("/v1/me/profile?min_position={position}"), &citizen.token).await.expect(StatusCode::OK)
}

async fn a_citizen_sees_how_far_they_are_from_each_badge_still_to_earn(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    let now = chrono::Utc::now();
    let (from, to) = ((now - chrono::Duration::days(10)).to_rfc3339(), (now + chrono::Duration::days(10)).to_rfc3339());
    let ended = (now - chrono::Duration::days(20)).to_rfc3339();
    let badges = format!(
        r#"
[[badges]]
id = "velo-50"
label = "50 km à vélo ce mois-ci"
category = "velo"
quantity_min = 50
from = "{from}"
to = "{to}"

[[badges]]
id = "culture-lectures"
label = "Dix pages lues"
category = "culture"
quantity_min = 10

[[badges]]
id = "ecologie-1"
label = "Écologie 1"
category = "ecologie"
actions_min = 1

[[badges]]
id = "ecologie-4"
label = "Écologie 4"
category = "ecologie"
actions_min = 4

[[badges]]
id = "velo-passe"
label = "Un défi terminé"
category = "velo"
quantity_min = 5
to = "{ended}"

[[badges]]
id = "jardin-1"
label = "Jardinier"
category = "jardin"
actions_min = 1
"#
    );
    app.put_rules(&rules_with_badges(&badges)).await.expect(StatusCode::OK);

    let fresh = profile(&app, &citizen).await;
    let ids: Vec<&str> = fresh["challenges"]
        .as_array()
        .expect("challenges")
        .iter()
        .map(|c| c["badge_id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        ["velo-50", "culture-lectures", "ecologie-1", "ecologie-4"],
        "equally far, in the order of the rules; neither an ended window nor a category the rules lack"
    );

    for quantity in [20, 12] {
        app.certify(&association, &citizen, "velo", quantity).await.expect(StatusCode::CREATED);
    }
    app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    app.certify(&association, &citizen, "culture", 3).await.expect(StatusCode::CREATED);

    let seen = profile(&app, &citizen).await;
    let challenges = seen["challenges"].as_array().expect("challenges");
    let mut velo = challenges[0].clone();
    let bounds = velo.as_object_mut().map(|velo| (velo.remove("from"), velo.remove("to")));
    assert!(matches!(bounds, Some((Some(_), Some(_)))), "{}", challenges[0]);
    assert_eq!(
        velo,
        json!({"badge_id": "velo-50", "label": "50 km à vélo ce mois-ci", "category": "velo",
               "progress": 32, "target": 50, "unit": "km"}),
        "32 / 50 km, closest to done"
    );
    let window_bound = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(challenges[0][field].as_str().expect("a bound")).expect("RFC 3339")
    };
    assert_eq!(window_bound("from"), chrono::DateTime::parse_from_rfc3339(&from).expect("from"));
    assert_eq!(window_bound("to"), chrono::DateTime::parse_from_rfc3339(&to).expect("to"));
    assert_eq!(
        challenges[1],
        json!({"badge_id": "culture-lectures", "label": "Dix pages lues", "category": "culture",
               "progress": 3, "target": 10, "unit": "unités"}),
        "a category without a unit counts in unités; a badge without a window has no bounds"
    );
    assert_eq!(
        challenges[2],
        json!({"badge_id": "ecologie-4", "label": "Écologie 4", "category": "ecologie",
               "progress": 1, "target": 4, "unit": "actions"})
    );
    assert_eq!(challenges.len(), 3, "the earned badge is no longer a challenge: {challenges:?}");
    assert_eq!(seen["badges"][0]["id"], "ecologie-1");
}

async fn registration_gives_a_citizen_code_that_a_partners_desk_looks_up(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, _citizen) = app.territory(1_000).await;
    let registered = app.post("/v1/citizens", &app.admin_token, json!({})).await.expect(StatusCode::CREATED);
    let code = registered["citizen_code"].as_str().expect("a citizen code").to_owned();
    assert_eq!(ygor_crypto::read_short_code(&code).as_deref(), Some(code.as_str()), "8 characters of the alphabet");
    let citizen = Citizen {
        id: registered["citizen_id"].as_str().expect("id").to_owned(),
        token: registered["token"].as_str().expect("token").to_owned(),
    };
    assert_eq!(profile(&app, &citizen).await["citizen_code"], code.as_str());
    let other = app.register_citizen().await;
    assert_ne!(profile(&app, &other).await["citizen_code"], code.as_str());

    let lookup = format!("/v1/citizens/lookup?code={code}");
    for token in [&association.token, &venue.token, &app.admin_token] {
        let found = app.get(&lookup, token).await.expect(StatusCode::OK);
        assert_eq!(found, json!({ "citizen_id": citizen.id }));
    }
    app.get(&lookup, &citizen.token).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let anonymous = app.send(Method::GET, &lookup, None, None).await;
    anonymous.expect_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

/// `code` as a person might type it: lower case, a hyphen in the middle, `o` for 0 and `l` for 1.
fn typed_by_hand(code: &str) -> String {
    let lower: String = code.to_lowercase().replace('0', "o").replace('1', "l");
    format!("{}-{}", &lower[..4], &lower[4..])
}

async fn a_code_typed_by_hand_is_found_and_a_wrong_one_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    let code = profile(&app, &citizen).await["citizen_code"].as_str().expect("code").to_owned();
    let typed = typed_by_hand(&code);
    let found = app.get(&format!("/v1/citizens/lookup?code={typed}"), &association.token).await;
    assert_eq!(found.expect(StatusCode::OK)["citizen_id"], citizen.id.as_str(), "{typed} reads as {code}");
    let spaced = format!("{}%20{}", &code[..4], &code[4..]);
    let found = app.get(&format!("/v1/citizens/lookup?code={spaced}"), &association.token).await;
    assert_eq!(found.expect(StatusCode::OK)["citizen_id"], citizen.id.as_str());

    let unknown = loop {
        let drawn = ygor_crypto::random_short_code();
        if drawn != code {
            break drawn;
        }
    };
    app.get(&format!("/v1/citizens/lookup?code={unknown}"), &association.token)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let too_long = "7".repeat(40);
    for malformed in ["7K3FQ9R", "7K3FQ9RDX", "7K3FQ9RU", "7K3F%2BQ9R", "", too_long.as_str()] {
        app.get(&format!("/v1/citizens/lookup?code={malformed}"), &association.token)
            .await
            .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    }
    app.get("/v1/citizens/lookup", &association.token)
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
}

/// Forgets a citizen's code, as for a citizen registered before codes existed.
async fn forget_code(app: &TestApp, citizen: &Citizen) {
    let statement = "DELETE FROM citizen_codes WHERE citizen_id = $1";
    let deleted = match (app.state.log().sqlite_pool(), app.state.log().postgres_pool()) {
        (Some(pool), _) => {
            sqlx::query(statement).bind(&citizen.id).execute(pool).await.map(|done| done.rows_affected())
        }
        (_, Some(pool)) => {
            sqlx::query(statement).bind(&citizen.id).execute(pool).await.map(|done| done.rows_affected())
        }
        (None, None) => panic!("a log on one of the two backends"),
    };
    assert_eq!(deleted.expect("deleted"), 1);
}

async fn a_citizen_registered_before_codes_is_given_one_on_first_read_and_keeps_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, _citizen) = app.territory(1_000).await;
    let registered = app.post("/v1/citizens", &app.admin_token, json!({})).await.expect(StatusCode::CREATED);
    let first = registered["citizen_code"].as_str().expect("code").to_owned();
    let citizen = Citizen {
        id: registered["citizen_id"].as_str().expect("id").to_owned(),
        token: registered["token"].as_str().expect("token").to_owned(),
    };
    forget_code(&app, &citizen).await;
    app.get(&format!("/v1/citizens/lookup?code={first}"), &association.token)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");

    // Several reads at once: one code is given, and every read shows it.
    let reads = (0..8).map(|_| app.get("/v1/me/profile", &citizen.token));
    let codes: Vec<String> = futures::future::join_all(reads)
        .await
        .into_iter()
        .map(|answer| answer.expect(StatusCode::OK)["citizen_code"].as_str().expect("code").to_owned())
        .collect();
    assert!(codes.iter().all(|code| *code == codes[0]), "one code for all: {codes:?}");
    assert_eq!(profile(&app, &citizen).await["citizen_code"], codes[0].as_str(), "and it is kept");
    let found = app.get(&format!("/v1/citizens/lookup?code={}", codes[0]), &association.token).await;
    assert_eq!(found.expect(StatusCode::OK)["citizen_id"], citizen.id.as_str());
}

fn gold_rules(lifetime: &str) -> String {
    let rules = RULES.replace("lifetime = \"P6M\"", &format!("lifetime = \"{lifetime}\""));
    format!("{rules}\n[gold]\nprobability = 1\nperiod = \"P1D\"\n")
}

/// A citizen's wallet lives through every kind of history item; returns the kinds expected,
/// newest first, and the action ids certified (in order).
async fn eventful_wallet(app: &TestApp) -> (Partner, Partner, Citizen, Vec<String>) {
    let (association, venue, citizen) = app.territory(1_000).await;
    // Every certification earns a gold token.
    app.put_rules(&gold_rules("P6M")).await.expect(StatusCode::OK);
    let mut actions = Vec::new();
    for category in ["ecologie", "culture"] {
        let certified = app.certify(&association, &citizen, category, 1).await.expect(StatusCode::CREATED);
        assert_eq!(certified["gold"], true);
        actions.push(certified["action_id"].as_str().expect("id").to_owned());
    }
    app.redeem(&venue, &citizen, 5).await.expect(StatusCode::CREATED);
    let revoke = format!("/v1/certifications/{}/revoke", actions[1]);
    app.post(&revoke, &association.token, json!({ "reason": "atelier annulé" })).await.expect(StatusCode::OK);

    let draw_id = uuid::Uuid::new_v4().to_string();
    let closes_at = chrono::Utc::now() + chrono::Duration::seconds(3);
    let draw = json!({ "draw_id": draw_id, "prize": "Deux places au théâtre", "closes_at": closes_at.to_rfc3339(), "winners": 1 });
    app.post("/v1/draws", &app.admin_token, draw).await.expect(StatusCode::CREATED);
    let entry = format!("/v1/me/draws/{draw_id}/entries");
    app.post(&entry, &citizen.token, json!({ "gold": 1 })).await.expect(StatusCode::CREATED);
    // Not a history item.
    app.send(Method::PUT, "/v1/me/interests", Some(&citizen.token), Some(json!({ "interests": ["culture"] })))
        .await
        .expect(StatusCode::OK);

    // A lot that lives one second, swept once it has expired.
    app.put_rules(&gold_rules("PT1S")).await.expect(StatusCode::OK);
    let short = app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    actions.push(short["action_id"].as_str().expect("id").to_owned());
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let swept = app.post("/v1/expiry/sweep", &app.admin_token, json!({})).await.expect(StatusCode::OK);
    assert_eq!(swept["expired_tokens"], 10);

    let wait = (closes_at - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(100);
    tokio::time::sleep(wait).await;
    let closed = app.post(&format!("/v1/draws/{draw_id}/close"), &app.admin_token, json!({})).await;
    assert_eq!(closed.expect(StatusCode::OK)["winners"], json!([citizen.id]));
    app.put_rules(&gold_rules("P6M")).await.expect(StatusCode::OK);
    let last = app.certify(&association, &citizen, "culture", 1).await.expect(StatusCode::CREATED);
    actions.push(last["action_id"].as_str().expect("id").to_owned());
    (association, venue, citizen, actions)
}

async fn history(app: &TestApp, citizen: &Citizen, query: &str) -> Value {
    let position = app.latest().await;
    app.get(&format!("/v1/me/history?min_position={position}{query}"), &citizen.token).await.expect(StatusCode::OK)
}

fn kinds(items: &[Value]) -> Vec<&str> {
    items.iter().map(|item| item["kind"].as_str().expect("kind")).collect()
}

async fn the_history_lists_what_happened_to_the_wallet_newest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen, actions) = eventful_wallet(&app).await;
    let answer = history(&app, &citizen, "").await;
    assert!(answer.get("next").is_none(), "one page holds it all: {answer}");
    assert!(answer["position"].as_i64().is_some());
    let items = answer["history"].as_array().expect("history");
    assert_eq!(
        kinds(items),
        [
            "earned",
            "draw_won",
            "expired",
            "earned",
            "tickets_entered",
            "revoked",
            "spent",
            "earned",
            "earned",
            "registered"
        ],
        "the won draw sits where it was closed: {items:#?}"
    );
    let times: Vec<chrono::DateTime<chrono::FixedOffset>> = items
        .iter()
        .map(|item| chrono::DateTime::parse_from_rfc3339(item["at"].as_str().expect("at")).expect("RFC 3339"))
        .collect();
    assert!(times.windows(2).all(|pair| pair[0] >= pair[1]), "newest first: {times:?}");

    let association_name = "association de test";
    let earned = |item: &Value, action: &str, category: &str, tokens: u64| {
        assert_eq!(item["action_id"], action);
        assert_eq!(item["category"], category);
        assert_eq!(
            (item["association_id"].as_str(), item["association"].as_str()),
            (Some(association.id.as_str()), Some(association_name))
        );
        assert_eq!(item["tokens"], tokens);
        assert_eq!(item["gold"], true);
        assert!(item["expires_at"].is_string(), "{item}");
    };
    earned(&items[0], &actions[3], "culture", 8);
    assert_eq!(items[1]["prize"], "Deux places au théâtre");
    assert_eq!(items[1]["draw_id"], items[4]["draw_id"]);
    assert_eq!(items[2]["tokens"], 10);
    earned(&items[3], &actions[2], "ecologie", 10);
    assert_eq!(
        (items[4]["tickets"].as_u64(), items[4]["prize"].as_str(), items[4]["won"].as_bool()),
        (Some(1), Some("Deux places au théâtre"), Some(true))
    );
    assert_eq!(items[5]["action_id"], actions[1].as_str());
    assert_eq!(
        (items[5]["tokens"].as_u64(), items[5]["gold"].as_bool(), items[5]["reason"].as_str()),
        (Some(8), Some(true), Some("atelier annulé")),
        "the unspent tokens and the gold token went back"
    );
    assert_eq!(items[5]["association"], association_name);
    assert_eq!(
        (items[6]["venue_id"].as_str(), items[6]["venue"].as_str(), items[6]["tokens"].as_u64()),
        (Some(venue.id.as_str()), Some("venue de test"), Some(5))
    );
    assert!(items[6]["redemption_id"].is_string());
    earned(&items[7], &actions[1], "culture", 8);
    earned(&items[8], &actions[0], "ecologie", 10);
    assert_eq!(items[9].as_object().map(|item| item.len()), Some(2), "kind and at: {}", items[9]);

    // Nobody else sees it.
    let other = app.register_citizen().await;
    let theirs = history(&app, &other, "").await;
    assert_eq!(kinds(theirs["history"].as_array().expect("history")), ["registered"]);
}

async fn the_history_comes_in_pages_that_add_up_to_the_whole(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen, _actions) = eventful_wallet(&app).await;
    let whole = history(&app, &citizen, "&limit=200").await["history"].clone();

    let first = history(&app, &citizen, "&limit=3").await;
    assert_eq!(kinds(first["history"].as_array().expect("history")), ["earned", "draw_won", "expired", "earned"]);
    let next = first["next"].as_u64().expect("a next page");
    let second = history(&app, &citizen, &format!("&limit=3&after={next}")).await;
    assert_eq!(kinds(second["history"].as_array().expect("history")), ["tickets_entered", "revoked", "spent"]);
    let next = second["next"].as_u64().expect("a next page");
    // Written between two pages: on the first page, never on the later ones.
    app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    let third = history(&app, &citizen, &format!("&limit=3&after={next}")).await;
    assert_eq!(kinds(third["history"].as_array().expect("history")), ["earned", "earned", "registered"]);
    assert!(third.get("next").is_none(), "the last page: {third}");

    let pages: Vec<Value> =
        [first, second, third].iter().flat_map(|page| page["history"].as_array().expect("history").clone()).collect();
    assert_eq!(Value::Array(pages), whole);
    let past_the_start = history(&app, &citizen, "&after=1").await;
    assert_eq!(past_the_start["history"], json!([]));
    assert!(past_the_start.get("next").is_none());
}

async fn a_history_request_out_of_its_limits_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    for query in ["limit=0", "limit=201", "limit=many", "after=0", "after=-3", "min_position=-1"] {
        app.get(&format!("/v1/me/history?{query}"), &citizen.token)
            .await
            .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    }
    let page = app.get("/v1/me/history?limit=200", &citizen.token).await.expect(StatusCode::OK);
    assert_eq!(kinds(page["history"].as_array().expect("history")), ["registered"]);
    for token in [&association.token, &app.admin_token] {
        app.get("/v1/me/history", token).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");
    }
    app.send(Method::GET, "/v1/me/history", None, None).await.expect_problem(StatusCode::UNAUTHORIZED, "unauthorized");

    let document = app.send(Method::GET, "/openapi.json", None, None).await.expect(StatusCode::OK);
    for path in ["/v1/me/history", "/v1/citizens/lookup"] {
        assert!(document["paths"][path]["get"].is_object(), "{path} is documented");
    }
}
