//! The association's pages over real HTTP, as a browser uses them: logged in with the
//! association's token on `/connexion/jeton`, then with the session cookie alone. The browser's
//! signatures are made here in Rust with the association's key, as `association.js` makes them
//! with WebCrypto.

use reqwest::StatusCode;
use serde_json::{Value, json};
use ygor_crypto::SignedKind;

use crate::helpers::{Backend, Citizen, Partner, TestApp, spawn_app};
use crate::web_client::WebClient;

/// What `association.js` signs for a citizen the page's look-up found.
fn signed(association: &Partner, citizen_id: &str, category: &str, quantity: u64) -> Value {
    let body = json!({
        "action_id": uuid::Uuid::new_v4().to_string(),
        "association_id": association.id,
        "citizen_id": citizen_id,
        "category": category,
        "quantity": quantity,
        "occurred_at": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    });
    TestApp::sign(SignedKind::Certification, body, &association.key)
}

/// An association with 1,000 tokens in its envelope and a browser logged in as it.
async fn association_browser(app: &TestApp) -> (Partner, Citizen, WebClient) {
    let (association, _, citizen) = app.territory(1_000).await;
    let mut browser = WebClient::new(app);
    assert_eq!(browser.log_in_with_token(&association.token).await, "/association");
    (association, citizen, browser)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_association_certifies_an_action_signed_in_the_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    let (association, citizen, mut browser) = association_browser(&app).await;
    let code = app.citizen_code(&citizen).await;

    let desk = browser.get("/association").await;
    desk.assert_page();
    assert!(
        desk.html.contains("data-testid=\"solde-enveloppe\" data-figure=\"balance\">1\u{202f}000 jetons"),
        "{}",
        desk.html
    );
    assert!(
        desk.html.contains(r#"data-testid="emis-ce-mois" data-figure="issued_this_month">0 jeton"#),
        "{}",
        desk.html
    );
    assert!(desk.html.contains(r#"<option value="velo">Vélo (par km)</option>"#) || desk.html.contains("velo"));
    assert!(desk.html.contains(r#"src="/static/js/association.js" type="module""#));
    assert!(desk.html.contains(r#"href="/association/certifications""#), "the association's navigation");
    assert!(desk.html.contains(r#"type="date""#) && desk.html.contains("<noscript>"));
    let csrf = desk.csrf();

    // The code as typed by hand: lower case, with a hyphen; and one that names nobody.
    let typed = format!("{}-{}", &code[..4], &code[4..]).to_lowercase();
    let (status, found) =
        browser.post_json("/association/citoyens", &csrf, &json!({ "codes": [typed, "ZZZZ-ZZZZ", "12#"] })).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["citizens"][0]["citizen_id"], citizen.id.as_str());
    assert!(found["citizens"][1]["message"].as_str().expect("message").contains("Aucun citoyen n'a ce code"));
    assert!(found["citizens"][2]["message"].as_str().expect("message").contains("n'est pas un code de citoyen"));

    // A wrong CSRF header is refused and changes nothing.
    let certification = signed(&association, &citizen.id, "ecologie", 1);
    let (status, answer) = browser.post_json("/association/certifier", "not-the-csrf", &certification).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(app.balance(&citizen).await, 0);

    let (status, answer) = browser.post_json("/association/certifier", &csrf, &certification).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["ok"], true);
    assert_eq!(answer["tokens"], 10);
    let message = answer["message"].as_str().expect("message");
    assert!(message.starts_with("Action certifiée : 10 jetons"), "{message}");
    assert_eq!(message.contains("jeton d'or"), answer["gold"] == true);
    assert_eq!(app.balance(&citizen).await, 10);

    // The same certification again is an identical retry: no more tokens.
    let (status, answer) = browser.post_json("/association/certifier", &csrf, &certification).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(app.balance(&citizen).await, 10);

    // Refusals in French.
    let unknown = signed(&association, &citizen.id, "peche", 1);
    let (status, answer) = browser.post_json("/association/certifier", &csrf, &unknown).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["code"], "unknown_category");
    assert_eq!(answer["message"], "Cette catégorie d'action n'existe pas dans les règles en vigueur.");
    let other = ygor_crypto::SecretKey::generate();
    let mut forged = TestApp::certification(&association, &citizen, "ecologie", 1);
    forged = TestApp::sign(SignedKind::Certification, forged, &other);
    let (status, answer) = browser.post_json("/association/certifier", &csrf, &forged).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["code"], "invalid_signature");
    assert_eq!(app.balance(&citizen).await, 10);

    // The desk now counts what was given this month.
    let desk = browser.get("/association").await;
    assert!(desk.html.contains(r#"data-testid="solde-enveloppe" data-figure="balance">990 jetons"#), "{}", desk.html);
    assert!(
        desk.html.contains(r#"data-testid="emis-ce-mois" data-figure="issued_this_month">10 jetons"#),
        "{}",
        desk.html
    );
    assert!(desk.html.contains("1 action certifiée"));

    // The key page names the registered key for cle.js to compare, and never posts the file.
    let key = browser.get("/association/cle").await;
    key.assert_page();
    assert!(key.html.contains(&format!(r#"data-public-key="{}""#, association.key.public_key())));
    assert!(key.html.contains("Fichier de clé de l'association") && key.html.contains(r#"type="file""#));
    assert!(key.html.contains(r#"src="/static/js/cle.js" type="module""#));
    assert!(!key.html.contains("<form method=\"post\" action=\"/association/cle"), "the key file is never posted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_association_certifies_a_batch_after_an_event() {
    let app = spawn_app(Backend::Sqlite).await;
    let (association, first, mut browser) = association_browser(&app).await;
    let second = app.register_citizen().await;
    let csrf = browser.get("/association").await.csrf();

    let batch = json!({ "certifications": [
        signed(&association, &first.id, "velo", 12),
        signed(&association, &second.id, "velo", 7),
        signed(&association, &second.id, "inconnue", 1),
    ] });
    let (status, answer) = browser.post_json("/association/lot", "x", &batch).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, answer) = browser.post_json("/association/lot", &csrf, &batch).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["ok"], true);
    assert_eq!(results[0]["tokens"], 12);
    assert!(results[0]["message"].as_str().expect("message").starts_with("12 jetons"));
    assert_eq!(results[1]["tokens"], 7);
    assert_eq!(results[2]["ok"], false);
    assert_eq!(results[2]["code"], "unknown_category");
    assert_eq!(results[2]["message"], "Cette catégorie d'action n'existe pas dans les règles en vigueur.");
    assert_eq!(answer["message"], "2 actions certifiées sur 3.");
    assert_eq!(app.balance(&first).await, 12);
    assert_eq!(app.balance(&second).await, 7);

    // A batch larger than the pages' usual body limit, as after a big event.
    let many: Vec<Value> = (0..300).map(|_| signed(&association, &first.id, "culture", 1)).collect();
    let (status, answer) = browser.post_json("/association/lot", &csrf, &json!({ "certifications": many })).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["results"].as_array().map(Vec::len), Some(300));
    // 8 tokens each from what is left of 1,000: the envelope runs out at the 123rd.
    assert_eq!(answer["results"][121]["ok"], true);
    assert_eq!(answer["results"][122]["code"], "envelope_exhausted");
    assert!(answer["results"][299]["message"].as_str().expect("message").starts_with("L'enveloppe de l'association"));

    // The unit the rules give a category is said where the quantity is typed.
    let with_unit = crate::helpers::RULES.replace("tokens_per_unit = 1", "tokens_per_unit = 1\nunit = \"km\"");
    app.put_rules(&with_unit).await.expect(StatusCode::OK);
    let desk = browser.get("/association").await;
    assert!(desk.html.contains(r#"<option value="velo">Vélo (par km) (quantité en km)</option>"#), "{}", desk.html);
    assert!(desk.html.contains("124 actions certifiées"), "this month's: {}", desk.html);
    // 124 certifications, 100 a page: the bike rides are on the last page, with their km.
    let mut path = "/association/certifications".to_owned();
    let mut pages = 0;
    let last = loop {
        let list = browser.get(&path).await;
        list.assert_page();
        pages += 1;
        let Some(next) = list.html.split(r#"href="/association/certifications?apres="#).nth(1) else { break list };
        path = format!("/association/certifications?apres={}", next.split('"').next().expect("a position"));
        assert!(pages < 10, "the pages end");
    };
    assert_eq!(pages, 2);
    assert!(last.html.contains("Vélo (par km) (12 km)"), "{}", last.html);

    let (status, answer) = browser.post_json("/association/lot", &csrf, &json!({ "certifications": [] })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["ok"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_association_lists_and_revokes_its_certifications() {
    let app = spawn_app(Backend::Sqlite).await;
    let (association, citizen, mut browser) = association_browser(&app).await;
    let answer = app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    let action_id = answer["action_id"].as_str().expect("action id").to_owned();
    app.certify(&association, &citizen, "velo", 5).await.expect(StatusCode::CREATED);

    let list = browser.get("/association/certifications").await;
    list.assert_page();
    assert_eq!(list.html.matches(r#"data-testid="certification""#).count(), 2);
    assert!(list.html.contains("Vélo (par km) (5 km)") || list.html.contains("Vélo (par km)"), "{}", list.html);
    let velo = list.html.find("Vélo").expect("velo");
    let ecologie = list.html.find("Écologie").expect("ecologie");
    assert!(velo < ecologie, "newest first");
    let code = app.citizen_code(&citizen).await;
    assert!(list.html.contains(&format!(r#"<code data-testid="code-citoyen">{code}</code>"#)), "the citizen's code");
    assert!(!list.html.contains(&citizen.id), "not their id");
    let csrf = list.csrf();
    let path = format!("/association/certifications/{action_id}/revoquer");
    assert!(list.html.contains(&format!(r#"action="{path}""#)));

    // The reason is required, said next to its field.
    let refused = browser.post(&path, &[("csrf", &csrf), ("reason", "  ")]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.html);
    assert!(refused.html.contains("Indiquez le motif de la révocation."));
    assert!(refused.html.contains(&format!(r#"aria-invalid="true" aria-describedby="motif-{action_id}-erreur""#)));
    assert_eq!(app.balance(&citizen).await, 15);

    let stale = browser.post(&path, &[("csrf", "0000"), ("reason", "Erreur de saisie")]).await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);

    let revoked = browser.post(&path, &[("csrf", &csrf), ("reason", "Erreur de saisie")]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.html);
    assert_eq!(revoked.location(), "/association/certifications?revoquee=1");
    assert_eq!(app.balance(&citizen).await, 5);
    let list = browser.get("/association/certifications?revoquee=1").await;
    list.assert_page();
    assert!(list.html.contains("Certification révoquée"));
    assert_eq!(list.html.matches(r#"data-testid="revoquee""#).count(), 1);
    assert!(!list.html.contains(&format!(r#"action="{path}""#)), "no revoke form on a revoked certification");

    // Revoked twice: the API's refusal, in French.
    let again = browser.post(&path, &[("csrf", &csrf), ("reason", "Encore")]).await;
    assert!(again.status.is_client_error(), "{}", again.html);
    assert!(again.html.contains("La certification n'est pas révoquée"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_association_publishes_and_closes_missions() {
    let app = spawn_app(Backend::Sqlite).await;
    let (association, _, mut browser) = association_browser(&app).await;
    let page = browser.get("/association/missions").await;
    page.assert_page();
    assert!(page.html.contains("aucune mission"));
    let csrf = page.csrf();
    let mission_id = page.html.split(r#"name="mission_id" value=""#).nth(1).and_then(|rest| rest.split('"').next());
    let mission_id = mission_id.expect("a mission id").to_owned();

    // Errors next to each field, and nothing published.
    let refused = browser
        .post("/association/missions", &[("csrf", &csrf), ("mission_id", &mission_id), ("title", ""), ("starts", "")])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.html);
    assert!(refused.html.contains(r#"aria-describedby="title-erreur""#));
    assert!(refused.html.contains("Cochez au moins une catégorie d'action."));
    assert!(refused.html.contains("Indiquez le premier et le dernier jour de la mission."));

    let today = chrono::Utc::now().date_naive();
    let starts = today.format("%Y-%m-%d").to_string();
    let ends = (today + chrono::Duration::days(10)).format("%Y-%m-%d").to_string();
    let fields = [
        ("csrf", csrf.as_str()),
        ("mission_id", &mission_id),
        ("title", "Nettoyage des berges"),
        ("categories", "ecologie"),
        ("categories", "culture"),
        ("starts", &starts),
        ("ends", &ends),
        ("neighbourhood", ""),
    ];
    let published = browser.post("/association/missions", &fields).await;
    assert_eq!(published.status, StatusCode::SEE_OTHER, "{}", published.html);
    assert_eq!(published.location(), "/association/missions?publiee=1");
    let latest = app.latest().await;
    let list = app.get(&format!("/v1/missions?min_position={latest}"), &association.token).await.expect(StatusCode::OK);
    assert_eq!(list["missions"][0]["mission_id"], mission_id.as_str());
    assert_eq!(list["missions"][0]["categories"], json!(["ecologie", "culture"]));

    let page = browser.get("/association/missions?publiee=1").await;
    page.assert_page();
    assert!(page.html.contains("Mission publiée") && page.html.contains("Nettoyage des berges"));
    assert!(page.html.contains("Écologie, Culture"), "{}", page.html);
    let last_day = (today + chrono::Duration::days(10)).and_hms_opt(12, 0, 0).expect("noon").and_utc();
    let dates = format!("au {}", ygor_api::web::format::date(last_day));
    assert!(page.html.contains(&dates), "the last day, not the day after: {dates} in {}", page.html);
    let close_path = format!("/association/missions/{mission_id}/cloturer");
    assert!(page.html.contains(&format!(r#"action="{close_path}""#)));
    let closed = browser.post(&close_path, &[("csrf", &csrf)]).await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER, "{}", closed.html);
    assert_eq!(closed.location(), "/association/missions?cloturee=1");
    let page = browser.get("/association/missions?cloturee=1").await;
    assert!(page.html.contains("Mission clôturée") && !page.html.contains(&format!(r#"action="{close_path}""#)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_association_pages_need_an_association_session() {
    let app = spawn_app(Backend::Sqlite).await;
    let (_, venue, _) = app.territory(1_000).await;
    let mut browser = WebClient::new(&app);
    let paths = ["/association", "/association/cle", "/association/certifications", "/association/missions"];
    for path in paths {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location(), "/connexion", "{path}");
    }
    for path in ["/association/certifier", "/association/lot", "/association/citoyens"] {
        let (status, answer) = browser.post_json(path, "x", &json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {answer}");
    }

    // A venue's session is told the pages are for associations.
    assert_eq!(browser.log_in_with_token(&venue.token).await, "/guichet");
    for path in paths {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(page.html.contains("réservée aux associations"), "{}", page.html);
    }
    let (status, _) = browser.post_json("/association/certifier", "x", &json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The scripts are served.
    let script = browser.get("/static/js/association.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script.html.contains("signObject('certification'"));
    let script = browser.get("/static/js/cle.js").await;
    assert_eq!(script.status, StatusCode::OK);
}
