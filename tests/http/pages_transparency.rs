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
        assert!(browser.text("main").await.contains("Places au stade"), "the closed draw");
        let shown = browser.text("[data-testid=checkpoint]").await;
        assert!(shown.contains(checkpoint["public_key"].as_str().expect("key")), "{shown}");
        browser.assert_accessible("transparence").await;
        browser.assert_only_own_host().await;
        browser.screenshot("transparence").await;
    }
}
