//! The venue's desk pages over real HTTP, as a browser uses them: logged in with the venue's token
//! on `/connexion/jeton`, then with the session cookie alone (no bearer token). The browser's
//! signature is made here in Rust with the venue's key, as `guichet.js` makes it with WebCrypto.

use reqwest::StatusCode;
use serde_json::{Value, json};
use ygor_crypto::SignedKind;

use crate::helpers::{Backend, Partner, TestApp, spawn_app};
use crate::web_client::WebClient;

/// A venue with an offer of 12 tokens, a citizen with 20 tokens and a voucher for that offer, and
/// a browser logged in as the venue.
async fn desk_with_voucher(app: &TestApp) -> (Partner, crate::helpers::Citizen, String, Value, WebClient) {
    let (association, venue, citizen) = app.territory(1_000).await;
    for _ in 0..2 {
        app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    }
    let offer_id = uuid::Uuid::new_v4().to_string();
    let offer = json!({ "offer_id": offer_id, "title": "Entrée à la piscine", "price": 12 });
    app.post("/v1/offers", &venue.token, offer).await.expect(StatusCode::CREATED);
    let voucher =
        app.post("/v1/me/vouchers", &citizen.token, json!({ "offer_id": offer_id })).await.expect(StatusCode::CREATED);
    let mut browser = WebClient::new(app);
    assert_eq!(browser.log_in_with_token(&venue.token).await, "/guichet");
    (venue, citizen, offer_id, voucher, browser)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_looks_a_voucher_up_and_redeems_it_signed_in_the_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    let (venue, citizen, offer_id, voucher, mut browser) = desk_with_voucher(&app).await;
    assert_eq!(app.balance(&citizen).await, 20);

    let desk = browser.get("/guichet").await;
    desk.assert_page();
    assert!(desk.html.contains(r#"data-testid="contremarque""#) && desk.html.contains("autofocus"));
    assert!(desk.html.contains("Contremarque ou QR code du bon"));
    assert!(desk.html.contains(r#"src="/static/js/guichet.js" type="module""#));
    let csrf = desk.csrf();

    // The countermark as typed by hand: lower case, with a hyphen.
    let countermark = voucher["countermark"].as_str().expect("countermark").to_owned();
    let typed = format!("{}-{}", &countermark[..4], &countermark[4..]).to_lowercase();
    let found = browser.post("/guichet", &[("csrf", &csrf), ("code", &typed)]).await;
    found.assert_page();
    assert!(found.html.contains("Entrée à la piscine"), "the offer: {}", found.html);
    assert!(found.html.contains("12 jetons"));
    assert!(found.html.contains(r#"data-testid="valider""#));
    assert!(found.html.contains(&format!(r#"data-countermark="{countermark}""#)));
    assert!(found.html.contains(&format!(r#"data-offer-id="{offer_id}""#)));
    assert!(found.html.contains("<noscript>"));

    // The whole voucher, as a QR scanner types it (with its line end).
    let text = voucher["voucher"].as_str().expect("voucher");
    let scanned = browser.post("/guichet", &[("csrf", &csrf), ("code", &format!("{text}\r\n"))]).await;
    scanned.assert_page();
    assert!(scanned.html.contains("Entrée à la piscine") && scanned.html.contains("data-voucher="));

    // Refusals next to the field.
    let unknown = browser.post("/guichet", &[("csrf", &csrf), ("code", "ZZZZ-ZZZZ")]).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.html.contains("Aucun bon en cours ne correspond à ce code"), "{}", unknown.html);
    assert!(unknown.html.contains(r#"aria-invalid="true" aria-describedby="code-erreur""#));
    assert!(unknown.html.contains(r#"role="alert""#));
    let malformed = browser.post("/guichet", &[("csrf", &csrf), ("code", "12#")]).await;
    assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(malformed.html.contains("ni une contremarque ni un bon"));
    let forged = browser.post("/guichet", &[("csrf", &csrf), ("code", "v1.abc.def")]).await;
    assert_eq!(forged.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(forged.html.contains("pas un bon de ce territoire"));
    let stale = browser.post("/guichet", &[("csrf", "0000"), ("code", &countermark)]).await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);

    // The redemption guichet.js signs and posts.
    let redemption = |id: String| json!({ "redemption_id": id, "venue_id": venue.id, "countermark": countermark, "offer_id": offer_id, "amount": 12 });
    let signed = TestApp::sign(SignedKind::Redemption, redemption(uuid::Uuid::new_v4().to_string()), &venue.key);

    // A wrong CSRF header is refused and changes nothing.
    let (status, answer) = browser.post_json("/guichet/valider", "not-the-csrf", &signed).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["ok"], false);
    assert_eq!(app.balance(&citizen).await, 20);

    let (status, answer) = browser.post_json("/guichet/valider", &csrf, &signed).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["ok"], true);
    assert_eq!(answer["message"], "Bon validé : 12 jetons");
    assert_eq!(app.balance(&citizen).await, 8);

    // Once more with another redemption id: the voucher is used.
    let again = TestApp::sign(SignedKind::Redemption, redemption(uuid::Uuid::new_v4().to_string()), &venue.key);
    let (status, answer) = browser.post_json("/guichet/valider", &csrf, &again).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["code"], "voucher_used");
    assert_eq!(answer["message"], "Ce bon a déjà été utilisé : il ne sert qu'une fois.");

    // A redemption signed with another key is refused in French.
    let other = ygor_crypto::SecretKey::generate();
    let voucher = app.voucher(&citizen, 3).await;
    let body = json!({ "redemption_id": uuid::Uuid::new_v4().to_string(), "venue_id": venue.id, "voucher": voucher, "amount": 3 });
    let (status, answer) =
        browser.post_json("/guichet/valider", &csrf, &TestApp::sign(SignedKind::Redemption, body, &other)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["code"], "invalid_signature");
    assert_eq!(app.balance(&citizen).await, 8);

    // The history and the statement files, with the session cookie alone.
    let history = browser.get("/guichet/historique").await;
    history.assert_page();
    assert!(history.html.contains("Entrée à la piscine") && history.html.contains("12 jetons"), "{}", history.html);
    assert!(history.html.contains("À rembourser"));
    let csv = browser.get("/guichet/historique.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.headers["content-type"].to_str().expect("type").starts_with("text/csv"));
    assert!(csv.html.starts_with("redemption_id,redeemed_at,tokens"), "{}", csv.html);
    let id = signed["redemption_id"].as_str().expect("id");
    assert!(csv.html.contains(&format!("{id},")), "the redemption is in the file: {}", csv.html);
    let xlsx = browser.get("/guichet/historique.xlsx").await;
    assert_eq!(xlsx.status, StatusCode::OK);
    assert_eq!(xlsx.headers["content-type"], ygor_api::export::XLSX_CONTENT_TYPE);

    // The key page names the registered key for cle.js to compare.
    let key = browser.get("/guichet/cle").await;
    key.assert_page();
    assert!(key.html.contains(&format!(r#"data-public-key="{}""#, venue.key.public_key())));
    assert!(key.html.contains("Fichier de clé du lieu") && key.html.contains(r#"type="file""#));
    assert!(!key.html.contains("<form method=\"post\" action=\"/guichet/cle"), "the key file is never posted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offers_page_publishes_and_closes_offers() {
    let app = spawn_app(Backend::Sqlite).await;
    let (_, venue, _) = app.territory(1_000).await;
    let mut browser = WebClient::new(&app);
    assert_eq!(browser.log_in_with_token(&venue.token).await, "/guichet");

    let page = browser.get("/guichet/offres").await;
    page.assert_page();
    let csrf = page.csrf();
    let offer_id = page.html.split(r#"name="offer_id" value=""#).nth(1).and_then(|rest| rest.split('"').next());
    let offer_id = offer_id.expect("an offer id").to_owned();

    // Errors next to each field, and nothing published.
    let refused = browser
        .post(
            "/guichet/offres",
            &[("csrf", &csrf), ("offer_id", &offer_id), ("title", " "), ("price", "douze"), ("capacity_count", "0")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    for id in ["title-erreur", "price-erreur", "capacity-erreur"] {
        assert!(refused.html.contains(&format!(r#"aria-describedby="{id}""#)), "{id}: {}", refused.html);
    }
    assert!(refused.html.contains("Indiquez un prix en jetons"));
    let listed = app.get(&format!("/v1/offers?venue_id={}&all=true", venue.id), &venue.token).await;
    assert_eq!(listed.expect(StatusCode::OK)["offers"].as_array().expect("offers").len(), 0);

    let fields = [
        ("csrf", csrf.as_str()),
        ("offer_id", offer_id.as_str()),
        ("title", "Atelier vélo"),
        ("description", "Réparer son vélo\r\navec un bénévole"),
        ("price", "15"),
        ("capacity_count", "5"),
        ("capacity_per", "week"),
    ];
    let published = browser.post("/guichet/offres", &fields).await;
    assert_eq!(published.status, StatusCode::SEE_OTHER, "{}", published.html);
    assert_eq!(published.location(), "/guichet/offres?publiee=1");
    let page = browser.get("/guichet/offres?publiee=1").await;
    page.assert_page();
    assert!(page.html.contains("Offre publiée"));
    assert!(page.html.contains("Atelier vélo") && page.html.contains("15 jetons"));
    assert!(page.html.contains("5 places restantes sur 5 par semaine"), "{}", page.html);
    let offer = app.get(&format!("/v1/offers/{offer_id}"), &venue.token).await.expect(StatusCode::OK);
    assert_eq!(offer["description"], "Réparer son vélo avec un bénévole");
    assert_eq!(offer["capacity"], json!({ "count": 5, "per": "week" }));

    // The same form again (a double click) publishes nothing more.
    let replayed = browser.post("/guichet/offres", &fields).await;
    assert_eq!(replayed.status, StatusCode::SEE_OTHER);

    let close_path = format!("/guichet/offres/{offer_id}/cloturer");
    assert!(page.html.contains(&format!(r#"action="{close_path}""#)));
    let forged = browser.post(&close_path, &[("csrf", "forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let csrf = page.csrf();
    let closed = browser.post(&close_path, &[("csrf", &csrf)]).await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER, "{}", closed.html);
    assert_eq!(closed.location(), "/guichet/offres?cloturee=1");
    let offer = app.get(&format!("/v1/offers/{offer_id}?min_position={}", app.latest().await), &venue.token).await;
    assert_eq!(offer.expect(StatusCode::OK)["status"], "closed");
    let page = browser.get("/guichet/offres?cloturee=1").await;
    page.assert_page();
    assert!(page.html.contains("Clôturée") && !page.html.contains(&format!(r#"action="{close_path}""#)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_pages_need_a_venue_session() {
    let app = spawn_app(Backend::Sqlite).await;
    let (_, _, citizen) = app.territory(1_000).await;
    let mut browser = WebClient::new(&app);
    for path in ["/guichet", "/guichet/cle", "/guichet/historique", "/guichet/historique.csv", "/guichet/offres"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location(), "/connexion", "{path}");
    }
    let (status, answer) = browser.post_json("/guichet/valider", "x", &json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");

    // A citizen's session is told the page is for venues.
    let login = browser.get("/connexion").await;
    let csrf = login.csrf();
    browser.post("/connexion/jeton", &[("csrf", &csrf), ("token", &citizen.token)]).await;
    let page = browser.get("/guichet").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.html.contains("réservée aux lieux partenaires"), "{}", page.html);
    let (status, _) = browser.post_json("/guichet/valider", "x", &json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The script is served.
    let script = browser.get("/static/js/guichet.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script.html.contains("signObject('redemption'"));
}
