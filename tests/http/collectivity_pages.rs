//! The collectivity's partners, settlements and draws pages over real HTTP, as a browser uses
//! them: logged in with the admin token on `/connexion/jeton`, then with the session cookie
//! alone. Every write is checked through the JSON API, and every refusal is checked to have
//! changed nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, RULES, TestApp, spawn_app};
use crate::web_client::{WebClient, WebPage};

/// A browser logged in as the collectivity.
async fn clerk(app: &TestApp) -> WebClient {
    let mut browser = WebClient::new(app);
    assert_eq!(browser.log_in_with_token(&app.admin_token).await, "/collectivite");
    browser
}

/// Every partner as the API lists it once it has applied every write so far.
async fn partners(app: &TestApp) -> Vec<Value> {
    let latest = app.latest().await;
    let listed = app.get(&format!("/v1/partners?min_position={latest}"), &app.admin_token).await.expect(StatusCode::OK);
    listed["partners"].as_array().expect("partners").clone()
}

/// One partner as the API lists it.
async fn partner(app: &TestApp, id: &str) -> Value {
    partners(app).await.into_iter().find(|partner| partner["partner_id"] == id).expect("the partner is listed")
}

/// The text that starts the element marked `data-testid="{id}"` (the first one), inside any tags
/// that open it.
fn testid<'a>(page: &'a WebPage, id: &str) -> &'a str {
    let marker = format!(r#"data-testid="{id}""#);
    let start = page.html.find(&marker).unwrap_or_else(|| panic!("no {marker} in {}", page.html));
    let mut rest = &page.html[start..];
    rest = &rest[rest.find('>').expect("the tag ends") + 1..];
    while rest.starts_with('<') {
        rest = &rest[rest.find('>').expect("the tag ends") + 1..];
    }
    &rest[..rest.find('<').expect("a closing tag")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clerk_registers_an_association_whose_token_is_shown_once_and_logs_in() {
    let app = spawn_app(Backend::Sqlite).await;
    app.put_rules(RULES).await.expect(StatusCode::OK);
    app.mint(10_000).await.expect(StatusCode::OK);
    let mut browser = clerk(&app).await;

    let page = browser.get("/collectivite/partenaires").await;
    page.assert_page();
    assert!(page.html.contains(r#"href="/collectivite/partenaires" aria-current="page""#), "the admin's navigation");
    assert!(page.html.contains(r#"href="/collectivite/remboursements""#));
    assert!(page.html.contains(r#"href="/collectivite/tirages""#));
    assert_eq!(testid(&page, "reserve"), "10\u{202f}000 jetons");
    assert!(page.html.contains("Aucune association n'est inscrite"));
    assert!(page.html.contains("ygor keys generate"), "the hint says where the public key comes from");
    let csrf = page.csrf();

    // A bad public key: said next to the field, the values kept, nothing written.
    let refused = browser
        .post(
            "/collectivite/partenaires",
            &[
                ("csrf", &csrf),
                ("kind", "association"),
                ("name", "Les Jardins partagés"),
                ("public_key", "pas-une-cle"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.html);
    assert!(refused.html.contains("Cette clé publique n'est pas valable"), "{}", refused.html);
    assert!(refused.html.contains(r#"aria-invalid="true" aria-describedby="public_key-erreur""#));
    assert!(refused.html.contains(r#"value="Les Jardins partagés""#), "the name is kept");
    assert!(refused.html.contains(r#"value="pas-une-cle""#), "the key is kept");
    assert!(refused.html.contains(r#"role="alert""#));
    // A missing name and kind are said too.
    let empty = browser.post("/collectivite/partenaires", &[("csrf", &csrf), ("name", " "), ("public_key", "")]).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.html.contains("Indiquez le nom du partenaire") && empty.html.contains("Choisissez s'il s'agit"));
    assert!(partners(&app).await.is_empty(), "nothing was registered");

    // Without the CSRF field: refused, nothing written.
    let key = ygor_crypto::SecretKey::generate();
    let public_key = key.public_key().to_string();
    let fields = [("kind", "association"), ("name", "Les Jardins partagés"), ("public_key", public_key.as_str())];
    let forged = browser.post("/collectivite/partenaires", &fields).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(partners(&app).await.is_empty());

    // Registered: the token, once.
    let mut with_csrf = fields.to_vec();
    with_csrf.push(("csrf", &csrf));
    let created = browser.post("/collectivite/partenaires", &with_csrf).await;
    created.assert_page();
    assert!(created.html.contains("Ce jeton ne sera plus jamais affiché"), "{}", created.html);
    assert!(created.html.contains(r#"href="/connexion""#), "how the partner logs in");
    let token = testid(&created, "jeton").trim().to_owned();
    assert!(token.starts_with("ygor_asso_"), "{token}");
    assert_eq!(created.headers["cache-control"], "no-store", "the token is not kept in a cache");
    let listed = partners(&app).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (&listed[0]["name"], &listed[0]["kind"], &listed[0]["status"]),
        (&json!("Les Jardins partagés"), &json!("association"), &json!("active"))
    );
    let list = browser.get("/collectivite/partenaires").await;
    list.assert_page();
    assert!(list.html.contains("Les Jardins partagés") && list.html.contains(">active<"));
    assert!(!list.html.contains(&token), "the token is never shown again");

    // The token logs the association in; its session is refused the collectivity's pages.
    let mut association = WebClient::new(&app);
    assert_eq!(association.log_in_with_token(&token).await, "/association");
    let refusal = association.get("/collectivite/partenaires").await;
    assert_eq!(refusal.status, StatusCode::FORBIDDEN);
    assert!(refusal.html.contains("Page réservée") && refusal.html.contains("agents de la collectivité"));
    for path in ["/collectivite/remboursements", "/collectivite/tirages"] {
        assert_eq!(association.get(path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    let id = listed[0]["partner_id"].as_str().expect("id");
    let own_csrf = association.get("/association").await.csrf();
    let suspend =
        association.post(&format!("/collectivite/partenaires/{id}/suspendre"), &[("csrf", own_csrf.as_str())]).await;
    assert_eq!(suspend.status, StatusCode::FORBIDDEN);
    assert_eq!(partner(&app, id).await["status"], "active", "the association cannot suspend itself");
    // Without a session: to the login page.
    let mut nobody = WebClient::new(&app);
    assert_eq!(nobody.get("/collectivite/partenaires").await.location(), "/connexion");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clerk_allocates_an_envelope_then_suspends_and_reinstates_partners() {
    let app = spawn_app(Backend::Sqlite).await;
    let (association, venue, _) = app.territory(1_000).await;
    let mut browser = clerk(&app).await;
    let page = browser.get("/collectivite/partenaires").await;
    page.assert_page();
    assert_eq!(testid(&page, "reserve"), "999\u{202f}000 jetons");
    assert_eq!(testid(&page, "enveloppe"), "1\u{202f}000 jetons");
    let csrf = page.csrf();
    let allocate = format!("/collectivite/partenaires/{}/enveloppe", association.id);
    let envelope = |listed: Value| listed["envelope"].as_u64().expect("an association's envelope");

    let done = browser.post(&allocate, &[("csrf", &csrf), ("amount", "500")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert!(done.location().starts_with("/collectivite/partenaires?alloue=500"), "{}", done.location());
    let after = browser.get(done.location()).await;
    after.assert_page();
    assert_eq!(testid(&after, "notice"), "500 jetons alloués à association de test.", "{}", after.html);
    assert_eq!(envelope(partner(&app, &association.id).await), 1_500);

    // Refusals: a 422 page saying why, next to the field, and nothing allocated.
    for (amount, says) in [
        ("douze", "Indiquez un nombre entier de jetons"),
        ("0", "supérieur à 0"),
        ("998501", "La réserve de la collectivité ne suffit pas"),
    ] {
        let refused = browser.post(&allocate, &[("csrf", &csrf), ("amount", amount)]).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{amount}: {}", refused.html);
        assert!(refused.html.contains(says), "{amount}: {}", refused.html);
        assert!(refused.html.contains(&format!(r#"value="{amount}""#)), "the amount is kept");
        assert!(refused.html.contains(&format!(r#"aria-describedby="montant-{}-erreur""#, association.id)));
        assert!(refused.html.contains("<details class=\"revoke\" open>"), "the form is open on its error");
        assert_eq!(envelope(partner(&app, &association.id).await), 1_500, "{amount}: nothing allocated");
    }
    let circulation = app.circulation(app.latest().await).await;
    assert_eq!(circulation["treasury"], 998_500);
    // Without the CSRF field: refused.
    assert_eq!(browser.post(&allocate, &[("amount", "5")]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(envelope(partner(&app, &association.id).await), 1_500);

    // Suspension and reinstatement, of the association and of the venue.
    for (partner_id, name) in [(&association.id, "association de test"), (&venue.id, "venue de test")] {
        let suspended =
            browser.post(&format!("/collectivite/partenaires/{partner_id}/suspendre"), &[("csrf", &csrf)]).await;
        assert_eq!(suspended.status, StatusCode::SEE_OTHER, "{}", suspended.html);
        let shown = browser.get(suspended.location()).await;
        assert!(testid(&shown, "notice").starts_with(&format!("{name} : partenaire suspendu")), "{}", shown.html);
        assert!(shown.html.contains(r#"data-testid="reactiver""#));
        assert_eq!(partner(&app, partner_id).await["status"], "suspended");
        assert_eq!(
            browser.post(&format!("/collectivite/partenaires/{partner_id}/reactiver"), &[]).await.status,
            StatusCode::FORBIDDEN,
            "no CSRF field"
        );
        assert_eq!(partner(&app, partner_id).await["status"], "suspended");
        let reinstated =
            browser.post(&format!("/collectivite/partenaires/{partner_id}/reactiver"), &[("csrf", &csrf)]).await;
        assert_eq!(reinstated.status, StatusCode::SEE_OTHER);
        let shown = browser.get(reinstated.location()).await;
        assert!(testid(&shown, "notice").starts_with(&format!("{name} : partenaire réactivé")), "{}", shown.html);
        assert_eq!(partner(&app, partner_id).await["status"], "active");
    }
    // A partner that does not exist.
    let nobody = uuid::Uuid::new_v4();
    let unknown = browser.post(&format!("/collectivite/partenaires/{nobody}/suspendre"), &[("csrf", &csrf)]).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.html.contains("Le partenaire n'est pas suspendu"), "{}", unknown.html);
}

/// A venue's statement as the API gives it once it has applied every write so far.
async fn statement(app: &TestApp, venue_id: &str) -> Value {
    let latest = app.latest().await;
    let path = format!("/v1/venues/{venue_id}/statements?min_position={latest}");
    app.get(&path, &app.admin_token).await.expect(StatusCode::OK)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settlements_page_shows_what_a_venue_awaits_and_settles_it() {
    let app = spawn_app(Backend::Sqlite).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    // Half a euro a token.
    app.put_rules(&format!("{RULES}\n[settlement]\ntoken_value_cents = 50\n")).await.expect(StatusCode::OK);
    for _ in 0..2 {
        app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    }
    app.redeem(&venue, &citizen, 12).await.expect(StatusCode::CREATED);
    let mut browser = clerk(&app).await;

    let page = browser.get("/collectivite/remboursements").await;
    page.assert_page();
    assert_eq!(testid(&page, "a-rembourser"), "12 jetons", "{}", page.html);
    assert_eq!(testid(&page, "a-rembourser-euros"), "6,00\u{a0}€");
    assert_eq!(testid(&page, "rembourse"), "0 jeton");
    assert!(page.html.contains(r#"data-testid="total""#));
    let csrf = page.csrf();

    // Without the CSRF field: refused, nothing settled.
    let forged = browser.post("/collectivite/remboursements", &[("venue_id", &venue.id)]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(statement(&app, &venue.id).await["unsettled_tokens"], 12);

    let settled = browser.post("/collectivite/remboursements", &[("csrf", &csrf), ("venue_id", &venue.id)]).await;
    assert_eq!(settled.status, StatusCode::SEE_OTHER, "{}", settled.html);
    let after = browser.get(settled.location()).await;
    after.assert_page();
    assert_eq!(testid(&after, "notice"), "Remboursement de venue de test : 12 jetons, 6,00\u{a0}€.", "{}", after.html);
    assert_eq!(testid(&after, "a-rembourser"), "0 jeton");
    assert_eq!(testid(&after, "rembourse"), "12 jetons");
    assert_eq!(testid(&after, "rembourse-euros"), "6,00\u{a0}€");
    assert!(!after.html.contains(r#"data-testid="rembourser""#), "nothing left to settle");
    let statement = statement(&app, &venue.id).await;
    assert_eq!((statement["settled_tokens"].as_u64(), statement["unsettled_tokens"].as_u64()), (Some(12), Some(0)));
    assert_eq!(statement["settled_amount_cents"], 600);

    // A venue id that names nobody.
    let refused = browser.post("/collectivite/remboursements", &[("csrf", &csrf), ("venue_id", "pas-un-lieu")]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.html.contains("Rien n'est remboursé"), "{}", refused.html);
}

/// Every draw as the API lists it once it has applied every write so far.
async fn draws(app: &TestApp) -> Vec<Value> {
    let latest = app.latest().await;
    let listed = app.get(&format!("/v1/draws?min_position={latest}"), &app.admin_token).await;
    listed.expect(StatusCode::OK)["draws"].as_array().expect("draws").clone()
}

/// The draw id the page's form carries in its hidden field.
fn draw_id_of(page: &WebPage) -> String {
    let rest = page.html.split(r#"name="draw_id" value=""#).nth(1).expect("a draw id field");
    rest.split('"').next().expect("a value").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clerk_creates_a_draw_and_closes_it_once_its_time_has_passed() {
    let app = spawn_app(Backend::Sqlite).await;
    let (association, _, citizen) = app.territory(1_000).await;
    // Probability 1: every certification earns one gold token.
    app.put_rules(&format!("{RULES}\n[gold]\nprobability = 1\nperiod = \"P1D\"\n")).await.expect(StatusCode::OK);
    for _ in 0..2 {
        app.certify(&association, &citizen, "culture", 1).await.expect(StatusCode::CREATED);
    }
    let mut browser = clerk(&app).await;
    let page = browser.get("/collectivite/tirages").await;
    page.assert_page();
    assert!(page.html.contains("Aucun tirage pour l'instant"));
    let csrf = page.csrf();
    let draw_id = draw_id_of(&page);

    // Refusals next to their fields, nothing written.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%d").to_string();
    let refused = browser
        .post(
            "/collectivite/tirages",
            &[
                ("csrf", &csrf),
                ("draw_id", &draw_id),
                ("prize", " "),
                ("day", &yesterday),
                ("time", "18:00"),
                ("winners", "zéro"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.html);
    assert!(refused.html.contains("Indiquez le lot à gagner"));
    assert!(refused.html.contains("La clôture doit être dans le futur"));
    assert!(refused.html.contains("Indiquez un nombre entier de gagnants"));
    assert!(refused.html.contains(r#"aria-describedby="closes-erreur""#));
    assert_eq!(draw_id_of(&refused), draw_id, "the same draw id, so that a retry creates one draw");
    assert!(draws(&app).await.is_empty());

    // A draw that closes in 3 seconds (the form takes seconds too), typed in Paris time.
    let closes_at = chrono::Utc::now() + chrono::Duration::seconds(3);
    let local = closes_at.with_timezone(&ygor_api::web::format::TIME_ZONE);
    let day = local.format("%Y-%m-%d").to_string();
    let time = local.format("%H:%M:%S").to_string();
    let fields = [
        ("csrf", csrf.as_str()),
        ("draw_id", draw_id.as_str()),
        ("prize", "Pass annuel piscine"),
        ("day", day.as_str()),
        ("time", time.as_str()),
        ("winners", "1"),
    ];
    assert_eq!(browser.post("/collectivite/tirages", &fields[1..]).await.status, StatusCode::FORBIDDEN, "no CSRF");
    assert!(draws(&app).await.is_empty());
    let created = browser.post("/collectivite/tirages", &fields).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.html);
    let again = browser.post("/collectivite/tirages", &fields).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "the same form twice is one draw");
    let listed = draws(&app).await;
    assert_eq!(listed.len(), 1);
    assert_eq!((&listed[0]["draw_id"], &listed[0]["status"]), (&json!(draw_id), &json!("open")));
    assert_eq!(
        listed[0]["closes_at"].as_str().map(|at| at.starts_with(&closes_at.format("%Y-%m-%dT%H:%M:%S").to_string())),
        Some(true)
    );
    let shown = browser.get(created.location()).await;
    shown.assert_page();
    assert!(shown.html.contains("Tirage créé") && shown.html.contains("Pass annuel piscine"));
    assert_eq!(testid(&shown, "statut"), "ouvert");

    app.post(&format!("/v1/me/draws/{draw_id}/entries"), &citizen.token, json!({ "gold": 2 }))
        .await
        .expect(StatusCode::CREATED);
    // Too early: the engine refuses, the page says so.
    let close = format!("/collectivite/tirages/{draw_id}/clore");
    let early = browser.post(&close, &[("csrf", &csrf)]).await;
    assert_eq!(early.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", early.html);
    assert!(early.html.contains("Ce tirage est encore ouvert"));

    let wait = (closes_at - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + std::time::Duration::from_millis(1_100)).await;
    let due = browser.get("/collectivite/tirages").await;
    assert_eq!(testid(&due, "statut"), "à clore", "{}", due.html);
    assert!(due.html.contains(r#"data-testid="clore""#));
    assert_eq!(browser.post(&close, &[]).await.status, StatusCode::FORBIDDEN, "no CSRF");
    let closed = browser.post(&close, &[("csrf", &csrf)]).await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER, "{}", closed.html);
    let latest = app.latest().await;
    let public = app.get(&format!("/v1/draws/{draw_id}?min_position={latest}"), &app.admin_token).await;
    let public = public.expect(StatusCode::OK);
    assert_eq!(public["closed"], true);
    assert_eq!(public["winners"], json!([citizen.id]));

    let result = browser.get(closed.location()).await;
    result.assert_page();
    assert!(result.html.contains("Tirage clos"));
    assert_eq!(testid(&result, "statut"), "clos");
    let code = app.citizen_code(&citizen).await;
    assert!(result.html.contains(&format!("<code>{code}</code>")), "the winner's code: {}", result.html);
    assert!(result.html.contains(public["seed"].as_str().expect("seed")));
    assert!(result.html.contains(public["commitment"].as_str().expect("commitment")));
    assert!(result.html.contains(&format!(r#"href="/v1/draws/{draw_id}""#)));
}
