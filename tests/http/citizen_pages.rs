//! The citizen's pages over real HTTP, for what the browser journeys do not reach: refusals said
//! in French on the page they concern, and a form that changes nothing when refused.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, spawn_app};
use crate::web_client::WebClient;

#[tokio::test]
async fn a_refused_draw_entry_is_said_on_the_draws_page_and_spends_nothing() {
    let app = spawn_app(Backend::Sqlite).await;
    let (_association, _venue, citizen) = app.territory(100).await;
    let draw_id = uuid::Uuid::new_v4().to_string();
    let closes_at = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let draw = json!({ "draw_id": draw_id, "prize": "Deux places au théâtre", "closes_at": closes_at, "winners": 1 });
    app.post("/v1/draws", &app.admin_token, draw).await.expect(StatusCode::CREATED);
    let mut browser = WebClient::new(&app);
    browser.log_in_with_token(&citizen.token).await;

    let page = browser.get("/tirages").await;
    page.assert_page();
    assert!(page.html.contains("Deux places au théâtre") && page.html.contains("0 jeton d'or"));
    assert!(!page.html.contains("Tickets à jouer"), "no gold, no entry form");

    let path = format!("/tirages/{draw_id}");
    let refused = browser.post(&path, &[("csrf", &page.csrf()), ("tickets", "1")]).await;
    assert_eq!(refused.location(), "/tirages?refus=insufficient_gold");
    let said = browser.get(refused.location()).await;
    assert!(said.html.contains("Participation refusée : Vous n'avez pas assez de jetons d'or"), "{}", said.html);
    let malformed = browser.post(&path, &[("csrf", &page.csrf()), ("tickets", "beaucoup")]).await;
    assert_eq!(malformed.location(), "/tirages?refus=validation_failed");
    let listed = app.get("/v1/draws", &citizen.token).await.expect(StatusCode::OK);
    assert_eq!(listed["draws"][0]["tickets"], 0, "nothing was entered");
}

#[tokio::test]
async fn a_voucher_refused_is_a_french_page_and_a_voucher_taken_shows_its_countermark() {
    let app = spawn_app(Backend::Sqlite).await;
    let (association, venue, citizen) = app.territory(100).await;
    app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    let cheap = uuid::Uuid::new_v4().to_string();
    let dear = uuid::Uuid::new_v4().to_string();
    for (offer_id, title, price) in [(&cheap, "Boisson", 3), (&dear, "Concert", 50)] {
        let offer = json!({ "offer_id": offer_id, "title": title, "price": price });
        app.post("/v1/offers", &venue.token, offer).await.expect(StatusCode::CREATED);
    }
    let mut browser = WebClient::new(&app);
    browser.log_in_with_token(&citizen.token).await;
    let catalogue = browser.get("/offres").await;
    catalogue.assert_page();
    assert!(catalogue.html.contains(&format!("data-testid=\"obtenir-{dear}\"")));

    let too_dear = browser.post(&format!("/offres/{dear}/bon"), &[("csrf", &catalogue.csrf())]).await;
    assert_eq!(too_dear.status, StatusCode::CONFLICT);
    assert!(too_dear.html.contains("Votre solde ne suffit pas pour ce bon"), "{}", too_dear.html);
    let unknown = uuid::Uuid::new_v4();
    let missing = browser.post(&format!("/offres/{unknown}/bon"), &[("csrf", &catalogue.csrf())]).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(missing.html.contains("Cette offre n'existe pas ou plus."));

    let voucher = browser.post(&format!("/offres/{cheap}/bon"), &[("csrf", &catalogue.csrf())]).await;
    voucher.assert_page();
    let start = voucher.html.find("data-testid=\"countermark\">").expect("a countermark") + 26;
    let countermark = &voucher.html[start..start + 8];
    assert!(countermark.chars().all(|c| c.is_ascii_alphanumeric()), "{countermark}");
    assert!(voucher.html.contains("<svg") && voucher.html.contains("3 jetons"));

    // Without a session, the catalogue is public and has no button.
    let mut stranger = WebClient::new(&app);
    let public = stranger.get("/offres").await;
    public.assert_page();
    assert!(public.html.contains("Concert") && !public.html.contains("Obtenir un bon"));
    let csrf = stranger.get("/connexion").await.csrf();
    let forbidden = stranger.post(&format!("/offres/{cheap}/bon"), &[("csrf", &csrf)]).await;
    assert_eq!(forbidden.location(), "/connexion");
}
