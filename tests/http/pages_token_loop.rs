//! The two ends of the token loop in a real browser (headless Chromium), once on a PC and once on
//! a phone: a citizen logs in with a one-time link, sees the balance the API reports, takes a
//! voucher for an offer; the venue logs in, imports its key file, types the countermark and
//! validates (signed in the browser with WebCrypto); the citizen's balance drops and the history
//! names the venue and the offer. axe-core checks every page on the way (0 violations), and each
//! page is kept as a screenshot in `target/browser-artifacts/`.

use reqwest::StatusCode;
use serde_json::json;

use crate::browser::{Browser, PC, PHONE};
use crate::helpers::{Backend, Citizen, TestApp, spawn_app};

const OFFER_TITLE: &str = "Entrée piscine";
const PRICE: u64 = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn le_citoyen_prend_un_bon_et_le_guichet_le_valide_sur_un_pc() {
    token_loop(PC).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn le_citoyen_prend_un_bon_et_le_guichet_le_valide_sur_un_telephone() {
    token_loop(PHONE).await;
}

/// Opens a one-time login link for `citizen` in a browser and clicks « Me connecter ».
async fn log_in_by_link(app: &TestApp, browser: &Browser, citizen: &Citizen, check: bool) {
    let path = format!("/v1/citizens/{}/login-link", citizen.id);
    let link = app.post(&path, &app.admin_token, json!({})).await.expect(StatusCode::CREATED);
    let url = link["url"].as_str().expect("url");
    browser.goto(&url[app.address.len()..]).await;
    if check {
        browser.assert_accessible("lien de connexion").await;
        browser.screenshot("lien-de-connexion").await;
    }
    browser.click_button("Me connecter").await;
    browser.wait_until("the wallet", "return location.pathname === '/moi';").await;
}

async fn token_loop(width: u32) {
    let app = spawn_app(Backend::Sqlite).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    for _ in 0..2 {
        app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    }
    let offer_id = uuid::Uuid::new_v4().to_string();
    let offer = json!({ "offer_id": offer_id, "title": OFFER_TITLE, "price": PRICE,
                        "description": "Une entrée au bassin de 25 mètres.",
                        "capacity": { "count": 20, "per": "day" } });
    app.post("/v1/offers", &venue.token, offer).await.expect(StatusCode::CREATED);
    let closes_at = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let draw = json!({ "draw_id": uuid::Uuid::new_v4().to_string(), "prize": "Pass annuel de la piscine",
                       "closes_at": closes_at, "winners": 2 });
    app.post("/v1/draws", &app.admin_token, draw).await.expect(StatusCode::CREATED);
    let balance_before =
        app.get("/v1/me/wallet", &citizen.token).await.expect(StatusCode::OK)["balance"].as_u64().expect("balance");
    assert_eq!(balance_before, 20);

    // The citizen, on their own browser.
    let countermark = {
        let Some(browser) = Browser::open(&app, width).await else { return };
        browser.goto("/connexion").await;
        browser.look_at("connexion").await;
        log_in_by_link(&app, &browser, &citizen, true).await;
        let shown = browser.text("[data-testid=balance]").await;
        assert_eq!(shown, format!("{balance_before} jetons"), "the page shows the API's balance");
        assert!(browser.text("main").await.contains("expirent le"), "the next expiry is said");
        browser.look_at("moi").await;

        for (path, name, heading) in [
            ("/moi/profil", "profil", "Mon profil"),
            ("/moi/missions", "missions", "Je trouve une mission"),
            ("/tirages", "tirages", "Tirages au sort"),
        ] {
            browser.goto(path).await;
            assert_eq!(browser.text("h1").await, heading);
            browser.look_at(name).await;
        }

        app.post("/v1/audit/checkpoints", &app.admin_token, json!({})).await.expect(StatusCode::CREATED);
        browser.goto("/moi/preuves").await;
        browser
            .wait_until(
                "both actions checked in the browser",
                "const all = [...document.querySelectorAll('.proof-status')]; \
                 return all.length === 2 && all.every(p => p.textContent.startsWith('Vérifié'));",
            )
            .await;
        assert!(browser.text("main").await.contains("est bien inscrite au registre public"));
        browser.look_at("preuves").await;

        browser.goto("/offres").await;
        assert!(browser.text("main").await.contains(OFFER_TITLE));
        browser.look_at("offres").await;
        browser.find(&format!("[data-testid='obtenir-{offer_id}']")).await.click().await.expect("click");
        browser.wait_until("the voucher", "return !!document.querySelector('[data-testid=countermark]');").await;
        browser.wait_until("the countdown", "return document.body.innerText.includes('Valable encore');").await;
        browser.look_at("bon").await;
        browser.text("[data-testid=countermark]").await
    };
    assert_eq!(countermark.len(), 8, "{countermark}");

    // The venue, at its desk.
    {
        let Some(browser) = Browser::open(&app, width).await else { return };
        browser.log_in(&venue.token, "/guichet").await;
        browser
            .wait_until(
                "the notice that this browser has no key",
                "return !document.getElementById('sans-cle').hidden;",
            )
            .await;
        browser.look_at("guichet").await;

        let key_dir = tempfile::tempdir().expect("temp dir");
        let key_file = key_dir.path().join("lieu.json");
        ygor_crypto::write_key_file(&key_file, &venue.key).expect("key file");
        browser.goto("/guichet/cle").await;
        browser.look_at("guichet-cle").await;
        browser.import_key_file(&key_file).await;

        browser.goto("/guichet").await;
        browser.fill("code", &countermark.to_lowercase()).await;
        browser.click_button("Chercher le bon").await;
        browser.wait_until("the voucher found", "return !!document.querySelector('[data-testid=valider]');").await;
        assert_eq!(browser.text("[data-testid=bon-offre]").await, OFFER_TITLE);
        assert_eq!(browser.text("[data-testid=bon-montant]").await, format!("{PRICE} jetons"));
        browser.look_at("guichet-bon").await;
        browser.click_button("Valider").await;
        browser
            .wait_until(
                "the redemption's answer",
                "return document.querySelector('[data-testid=resultat]').textContent.includes('Bon validé');",
            )
            .await;
        browser.look_at("guichet-valide").await;

        for (path, name) in [("/guichet/historique", "guichet-historique"), ("/guichet/offres", "guichet-offres")] {
            browser.goto(path).await;
            browser.look_at(name).await;
        }
        assert!(browser.text("main").await.contains(OFFER_TITLE));
    }

    let balance_after =
        app.get("/v1/me/wallet", &citizen.token).await.expect(StatusCode::OK)["balance"].as_u64().expect("balance");
    assert_eq!(balance_after, balance_before - PRICE);

    // The citizen again: the balance dropped and the history names the venue and the offer.
    let Some(browser) = Browser::open(&app, width).await else { return };
    log_in_by_link(&app, &browser, &citizen, false).await;
    assert_eq!(browser.text("[data-testid=balance]").await, format!("{balance_after} jetons"));
    browser.goto("/moi/historique").await;
    let history = browser.text("[data-testid=history]").await;
    assert!(history.contains("venue de test") && history.contains(OFFER_TITLE), "{history}");
    browser.look_at("historique").await;
    assert!(app.audit_verify().0 == 0, "the audit holds after a redemption by countermark in the browser");
}
