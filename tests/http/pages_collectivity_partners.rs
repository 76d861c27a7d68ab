//! The collectivity's partners pages in a real browser (headless Chromium), once on a PC and once
//! on a phone: the clerk logs in with the admin token, registers an association through the form
//! (a bad public key first, said next to its field), reads its token on the page, allocates 500
//! tokens to it, suspends and reinstates it; then looks at the settlements and draws pages. The
//! API shows every change; axe-core checks every page on the way (0 violations), and each page is
//! kept as a screenshot in `target/browser-artifacts/`.

use reqwest::StatusCode;
use serde_json::json;

use crate::browser::{Browser, PC, PHONE};
use crate::helpers::{RULES, TestApp, spawn_app};
use crate::web_client::WebClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn la_collectivite_inscrit_et_gere_un_partenaire_sur_un_pc() {
    partners_journey(PC).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn la_collectivite_inscrit_et_gere_un_partenaire_sur_un_telephone() {
    partners_journey(PHONE).await;
}

/// The partner named `name` as the API lists it.
async fn listed(app: &TestApp, name: &str) -> serde_json::Value {
    let latest = app.latest().await;
    let partners = app.get(&format!("/v1/partners?min_position={latest}"), &app.admin_token).await;
    let partners = partners.expect(StatusCode::OK)["partners"].as_array().expect("partners").clone();
    partners.into_iter().find(|partner| partner["name"] == name).expect("the partner is listed")
}

async fn partners_journey(width: u32) {
    let app = spawn_app(crate::helpers::Backend::Sqlite).await;
    // A territory with a venue that has something to settle, and a draw, for the other pages.
    let (association, venue, citizen) = app.territory(1_000).await;
    app.put_rules(&format!("{RULES}\n[settlement]\ntoken_value_cents = 50\n")).await.expect(StatusCode::OK);
    app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    app.redeem(&venue, &citizen, 8).await.expect(StatusCode::CREATED);
    let closes_at = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let draw = json!({ "draw_id": uuid::Uuid::new_v4().to_string(), "prize": "Pass annuel piscine", "closes_at": closes_at, "winners": 2 });
    app.post("/v1/draws", &app.admin_token, draw).await.expect(StatusCode::CREATED);

    let Some(browser) = Browser::open(&app, width).await else { return };
    browser.log_in(&app.admin_token, "/collectivite").await;

    browser.goto("/collectivite/partenaires").await;
    assert_eq!(browser.text("h1").await, "Partenaires");
    assert_eq!(browser.text("[data-testid=reserve]").await, "999\u{202f}000 jetons");
    browser.look_at("collectivite-partenaires").await;

    // A public key that is not one: said next to the field, nothing registered.
    let name = "Les Jardins partagés";
    browser.fill("name", name).await;
    browser.fill("public_key", "pas-une-cle").await;
    browser.click_button("Inscrire le partenaire").await;
    browser
        .wait_until(
            "the key refused",
            "return document.getElementById('public_key').getAttribute('aria-invalid') === 'true';",
        )
        .await;
    assert!(browser.text("#public_key-erreur").await.contains("Cette clé publique n'est pas valable"));
    browser.look_at("collectivite-partenaire-refuse").await;

    // The right key: the token, shown once.
    let key = ygor_crypto::SecretKey::generate();
    browser.fill("public_key", &key.public_key().to_string()).await;
    browser.click_button("Inscrire le partenaire").await;
    browser
        .wait_until(
            "the partner registered",
            "return document.querySelector('h1').textContent === 'Partenaire inscrit';",
        )
        .await;
    let token = browser.text("[data-testid=jeton]").await;
    assert!(token.starts_with("ygor_asso_"), "{token}");
    browser.look_at("collectivite-partenaire-inscrit").await;
    let mut partner_browser = WebClient::new(&app);
    assert_eq!(partner_browser.log_in_with_token(&token).await, "/association", "the token logs the association in");
    let id = listed(&app, name).await["partner_id"].as_str().expect("id").to_owned();

    // 500 tokens for it.
    browser.goto("/collectivite/partenaires").await;
    let row = format!("tr[data-partner-id='{id}']");
    browser.find(&format!("{row} details > summary")).await.click().await.expect("open the allocation form");
    browser.fill(&format!("montant-{id}"), "500").await;
    browser.find(&format!("{row} [data-testid=allouer]")).await.click().await.expect("click « Allouer »");
    browser
        .wait_until(
            "the allocation",
            "return (document.querySelector('[data-testid=notice]') || {}).textContent === '500 jetons alloués à Les Jardins partagés.';",
        )
        .await;
    assert_eq!(browser.text(&format!("{row} [data-testid=enveloppe]")).await, "500 jetons");
    browser.look_at("collectivite-partenaire-alloue").await;
    assert_eq!(listed(&app, name).await["envelope"], 500, "the API shows the envelope");

    // Suspended, then reinstated.
    browser.find(&format!("{row} [data-testid=suspendre]")).await.click().await.expect("click « Suspendre »");
    browser.wait_until("the suspension", "return document.body.innerText.includes('partenaire suspendu');").await;
    browser.look_at("collectivite-partenaire-suspendu").await;
    assert_eq!(listed(&app, name).await["status"], "suspended");
    browser.find(&format!("{row} [data-testid=reactiver]")).await.click().await.expect("click « Réactiver »");
    browser.wait_until("the reinstatement", "return document.body.innerText.includes('partenaire réactivé');").await;
    assert_eq!(listed(&app, name).await["status"], "active");

    // The settlements and the draws.
    browser.goto("/collectivite/remboursements").await;
    assert_eq!(browser.text("[data-testid=a-rembourser]").await, "8 jetons");
    browser.look_at("collectivite-remboursements").await;
    browser.find("[data-testid=rembourser]").await.click().await.expect("click « Rembourser »");
    browser
        .wait_until(
            "the settlement",
            "return document.body.innerText.includes('Remboursement de venue de test : 8 jetons');",
        )
        .await;
    browser.look_at("collectivite-rembourse").await;
    browser.goto("/collectivite/tirages").await;
    assert_eq!(browser.text("[data-testid=statut]").await, "ouvert");
    browser.look_at("collectivite-tirages").await;
}
