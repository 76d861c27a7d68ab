//! `/transparence` in a real browser, without logging in: the circulation with its conservation
//! identity, participation charts with their tables (small counts hidden), the gold periods, the
//! closed draws and the latest signed checkpoint; axe-core finds nothing on a PC or a phone.

use reqwest::StatusCode;
use serde_json::json;

use crate::browser::{Browser, PC, PHONE};
use crate::helpers::{Backend, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn la_page_de_transparence_montre_la_circulation_la_participation_et_le_registre() {
    let app = spawn_app(Backend::Sqlite).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    let mut others = Vec::new();
    for _ in 0..5 {
        others.push(app.register_citizen().await);
    }
    for other in &others {
        app.certify(&association, other, "ecologie", 1).await.expect(StatusCode::CREATED);
    }
    app.certify(&association, &citizen, "velo", 12).await.expect(StatusCode::CREATED);
    let draw_id = uuid::Uuid::new_v4().to_string();
    let closes_at = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let draw = json!({ "draw_id": draw_id, "prize": "Places au stade", "closes_at": closes_at, "winners": 1 });
    app.post("/v1/draws", &app.admin_token, draw).await.expect(StatusCode::CREATED);
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    app.post(&format!("/v1/draws/{draw_id}/close"), &app.admin_token, json!({})).await.expect(StatusCode::OK);
    let circulation = app.get("/v1/dashboards/circulation", &app.admin_token).await.expect(StatusCode::OK);
    let checkpoint = app.get("/v1/audit/checkpoint", &app.admin_token).await.expect(StatusCode::OK);

    for width in [PC, PHONE] {
        let Some(browser) = Browser::open(&app, width).await else { return };
        browser.goto("/transparence").await;
        assert_eq!(browser.text("h1").await, "Transparence");
        let minted = circulation["minted"].as_u64().expect("minted");
        assert_eq!(browser.text("[data-testid=minted]").await, "1\u{202F}000\u{202F}000 jetons");
        assert!(browser.text("[data-testid=identity]").await.starts_with(&"1\u{202F}000\u{202F}000 =".to_string()));
        assert_eq!(minted, 1_000_000);
        assert!(browser.text("main").await.contains("équilibré"));
        let categories = browser.text("[data-testid=par-categorie]").await;
        assert!(categories.contains("Écologie") && categories.contains("5"), "{categories}");
        assert!(categories.contains("< 5"), "the single bike action is hidden: {categories}");
        let bike = browser
            .execute("return [...document.querySelectorAll('[data-testid=par-categorie] tbody tr')].map((row) => row.textContent).find((text) => text.includes('Vélo'));")
            .await;
        assert!(
            bike.as_str().is_some_and(|row| row.contains("masqué")),
            "its tokens would give the count back: {bike}"
        );
        assert!(browser.text("main").await.contains("Places au stade"), "the closed draw");
        let shown = browser.text("[data-testid=checkpoint]").await;
        assert!(shown.contains(checkpoint["public_key"].as_str().expect("key")), "{shown}");
        browser.look_at("transparence").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn la_collectivite_voit_la_circulation_et_la_participation_et_les_telecharge() {
    let app = spawn_app(Backend::Sqlite).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    app.certify(&association, &citizen, "velo", 12).await.expect(StatusCode::CREATED);

    for width in [PC, PHONE] {
        let Some(browser) = Browser::open(&app, width).await else { return };
        browser.log_in(&app.admin_token, "/collectivite").await;
        assert!(browser.text("[data-testid=identity]").await.starts_with("1\u{202F}000\u{202F}000 ="));
        assert!(browser.text("[data-testid=participation]").await.contains("décembre 2026") || width == PHONE);
        browser.look_at("collectivite").await;
        browser.select("par", "Catégorie").await;
        browser.click_button("Afficher").await;
        browser.wait_until("by category", "return location.search.includes('par=category');").await;
        let table = browser.text("[data-testid=participation]").await;
        assert!(table.contains("Écologie") && table.contains("Vélo (par km)"), "{table}");
        browser.assert_accessible("collectivite-categories").await;
        browser.screenshot("collectivite-categories").await;

        browser.goto("/collectivite/cartes").await;
        browser.assert_accessible("cartes").await;
        browser.screenshot("cartes").await;
        browser.fill("birth_year", "1990").await;
        browser.click_button("Inscrire et imprimer sa carte").await;
        browser.wait_until("the card", "return !!document.querySelector('[data-testid=carte] svg');").await;
        let code = browser.text("[data-testid=code]").await;
        let found = app.get(&format!("/v1/citizens/lookup?code={code}"), &app.admin_token).await.expect(StatusCode::OK);
        assert!(found["citizen_id"].is_string(), "the card's code is a registered citizen's");
        browser.look_at("carte").await;
    }

    // The download links work with the session cookie alone; a bad period is said, not a 400.
    let mut clerk = crate::web_client::WebClient::new(&app);
    assert_eq!(clerk.log_in_with_token(&app.admin_token).await, "/collectivite");
    let csv = clerk.get("/collectivite/participation.csv?par=category").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.html.starts_with("key,actions,citizens,tokens") && csv.html.contains("ecologie,1,1,10"),
        "{}",
        csv.html
    );
    let xlsx = clerk.get("/collectivite/participation.xlsx?par=month").await;
    assert_eq!(xlsx.status, StatusCode::OK);
    // The offers' reach behind the under-consumed services, as files too.
    let offers = clerk.get("/collectivite/offres.csv?du=2020-01-01").await;
    assert_eq!(offers.status, StatusCode::OK);
    assert!(offers.html.starts_with("venue_id,venue,offer_id,offer,public,key,uses,tokens"), "{}", offers.html);
    let offers = clerk.get("/collectivite/offres.xlsx").await;
    assert_eq!(offers.status, StatusCode::OK);
    assert!(offers.headers["content-type"].to_str().unwrap_or_default().contains("spreadsheetml"));
    let wrong = clerk.get("/collectivite?par=month&du=2026-12-31&au=2026-01-01").await;
    wrong.assert_page();
    assert!(wrong.html.contains("id=\"periode-erreur\""));
    let cards = clerk.get("/collectivite/cartes").await;
    let profile = app.get("/v1/me/profile", &citizen.token).await.expect(StatusCode::OK);
    let code = profile["citizen_code"].as_str().expect("code").to_owned();
    let card = clerk.post("/collectivite/cartes", &[("csrf", &cards.csrf()), ("codes", &code.to_lowercase())]).await;
    card.assert_page();
    assert!(card.html.contains(&code) && card.html.contains("<svg"), "a card for an existing citizen");
    let unknown = clerk.post("/collectivite/cartes", &[("csrf", &cards.csrf()), ("codes", "ZZZZZZZZ")]).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.html.contains("Aucun citoyen n'a ce code"));
    let fields = [
        ("csrf", cards.csrf()),
        ("neighbourhood", String::new()),
        ("birth_year", "vers 1990".to_owned()),
        ("email", String::new()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let bad_year = clerk.post("/collectivite/citoyens", &fields).await;
    assert_eq!(bad_year.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_year.html.contains("L'année de naissance s'écrit en chiffres"));
    let mut citizen_browser = crate::web_client::WebClient::new(&app);
    citizen_browser.log_in_with_token(&citizen.token).await;
    assert_eq!(citizen_browser.get("/collectivite").await.status, StatusCode::FORBIDDEN);
}
