//! The pages' sessions over real HTTP, without a browser: logging in with a token, with a
//! one-time link (made by the admin, or sent by email through a local SMTP sink), CSRF refusals,
//! logout, and the security headers. The journeys in a real browser are in `pages_*.rs`.

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::helpers::{Backend, spawn_app, spawn_app_with};
use crate::web_client::WebClient;

#[tokio::test]
async fn a_pasted_token_opens_a_session_for_its_role_and_logout_ends_it() {
    let app = spawn_app(Backend::Sqlite).await;
    let (_association, venue, citizen) = app.territory(100).await;
    let mut browser = WebClient::new(&app);

    let private = browser.get("/moi").await;
    assert_eq!((private.status, private.location.as_deref()), (StatusCode::SEE_OTHER, Some("/connexion")));

    assert_eq!(browser.log_in_with_token(&citizen.token).await, "/moi");
    assert!(browser.has_session());
    let wallet = browser.get("/moi").await;
    assert_eq!(wallet.status, StatusCode::OK);
    assert!(wallet.html.contains("<html lang=\"fr\">") && wallet.html.contains("Mon portefeuille"));
    let venue_page = browser.get("/guichet").await;
    assert!(matches!(venue_page.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{}", venue_page.status);

    let csrf = wallet.csrf();
    let out = browser.post("/deconnexion", &[("csrf", &csrf)]).await;
    assert_eq!(out.location.as_deref(), Some("/connexion?sortie=1"));
    assert!(!browser.has_session());
    assert_eq!(browser.get("/moi").await.status, StatusCode::SEE_OTHER);

    let mut desk = WebClient::new(&app);
    assert_eq!(desk.log_in_with_token(&venue.token).await, "/guichet");
    let mut admin = WebClient::new(&app);
    assert_eq!(admin.log_in_with_token(&app.admin_token).await, "/collectivite");
}

#[tokio::test]
async fn a_wrong_token_is_said_next_to_its_field_and_opens_nothing() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut browser = WebClient::new(&app);
    let csrf = browser.get("/connexion").await.csrf();
    let answer = browser.post("/connexion/jeton", &[("csrf", &csrf), ("token", "ygor_cit_pas-le-bon")]).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.html.contains("aria-invalid=\"true\"") && answer.html.contains("id=\"token-erreur\""));
    assert!(answer.html.contains("Ce jeton n'est pas reconnu"));
    assert!(!browser.has_session());
}

#[tokio::test]
async fn a_form_without_its_csrf_field_or_from_another_site_is_refused_and_changes_nothing() {
    let app = spawn_app(Backend::Sqlite).await;
    let (_association, _venue, citizen) = app.territory(100).await;
    let mut browser = WebClient::new(&app);
    browser.get("/connexion").await;
    let forged = browser.post("/connexion/jeton", &[("csrf", "0123456789abcdef"), ("token", &citizen.token)]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.html.contains("Formulaire expiré"));
    assert!(!browser.has_session());

    // A logged-in citizen: a form posted with the pre-login field, or none, changes nothing.
    browser.log_in_with_token(&citizen.token).await;
    let before = browser.get("/moi/profil").await;
    let missing = browser.post("/moi/profil", &[("interet", "velo")]).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let after = app.get("/v1/me/profile", &citizen.token).await.expect(StatusCode::OK);
    assert_eq!(after["interests"], json!(["ecologie"]));

    let cross_site = app
        .client
        .post(format!("{}/moi/profil", app.address))
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf", before.csrf().as_str()), ("interet", "velo")])
        .send()
        .await
        .expect("POST");
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);

    let saved = browser.post("/moi/profil", &[("csrf", &before.csrf()), ("interet", "velo")]).await;
    assert_eq!(saved.location.as_deref(), Some("/moi/profil?enregistre=1"));
    let after = app.get("/v1/me/profile", &citizen.token).await.expect(StatusCode::OK);
    assert_eq!(after["interests"], json!(["velo"]));
}

#[tokio::test]
async fn pages_carry_a_content_security_policy_without_inline_scripts_and_never_cache_a_session() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut browser = WebClient::new(&app);
    let page = browser.get("/offres").await;
    let policy = page.headers["content-security-policy"].to_str().expect("ascii");
    assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    assert!(page.html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"));
    assert!(page.html.contains("rel=\"manifest\""));
    assert!(!page.html.contains("<script>") && !page.html.contains("style=\""), "no inline script or style");
    let cookie = page.headers["set-cookie"].to_str().expect("ascii");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let manifest = app.client.get(format!("{}/static/manifest.webmanifest", app.address)).send().await.expect("GET");
    assert_eq!(manifest.headers()["content-type"], "application/manifest+json");
    let manifest: serde_json::Value = manifest.json().await.expect("json");
    assert_eq!(manifest["lang"], "fr");

    // A path that leads nowhere: a French page for a browser, problem+json for the API.
    let lost = app.client.get(format!("{}/nulle-part", app.address)).header("accept", "text/html").send().await;
    let lost = lost.expect("GET");
    assert_eq!(lost.status(), StatusCode::NOT_FOUND);
    assert!(lost.headers().contains_key("content-security-policy"));
    assert!(lost.text().await.expect("html").contains("Page introuvable"));
    let api = app.client.get(format!("{}/v1/nulle-part", app.address)).header("accept", "text/html").send().await;
    let api = api.expect("GET");
    assert_eq!(api.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn an_admin_login_link_works_once_and_not_after_it_expires() {
    let app = spawn_app(Backend::Sqlite).await;
    let citizen = app.register_citizen().await;
    let path = format!("/v1/citizens/{}/login-link", citizen.id);
    let link = app.post(&path, &app.admin_token, json!({})).await.expect(StatusCode::CREATED);
    let url = link["url"].as_str().expect("url");
    assert!(url.starts_with(&format!("{}/connexion/lien/", app.address)), "{url}");
    let expires_at: chrono::DateTime<chrono::Utc> = link["expires_at"].as_str().expect("expiry").parse().expect("time");
    let minutes = (expires_at - chrono::Utc::now()).num_minutes();
    assert!((14..=15).contains(&minutes), "15 minutes by default, not {minutes}");

    let secret_path = &url[app.address.len()..];
    let mut browser = WebClient::new(&app);
    let confirm = browser.get(secret_path).await;
    assert_eq!(confirm.status, StatusCode::OK, "opening the link uses nothing up");
    let secret = secret_path.rsplit('/').next().expect("secret");
    let csrf = confirm.csrf();
    let used = browser.post("/connexion/lien", &[("csrf", &csrf), ("link", secret)]).await;
    assert_eq!(used.location.as_deref(), Some("/moi"));
    assert!(browser.has_session());
    assert_eq!(browser.get("/moi").await.status, StatusCode::OK);

    let mut other = WebClient::new(&app);
    let csrf = other.get(secret_path).await.csrf();
    let again = other.post("/connexion/lien", &[("csrf", &csrf), ("link", secret)]).await;
    assert_eq!(again.location.as_deref(), Some("/connexion?lien=perime"), "a link works once");
    assert!(!other.has_session());
    assert!(other.get("/connexion?lien=perime").await.html.contains("a déjà servi ou a expiré"));

    // Refusals of the API: another role, a citizen nobody registered, a validity out of range.
    app.post(&path, &citizen.token, json!({})).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let nobody = format!("/v1/citizens/{}/login-link", uuid::Uuid::new_v4());
    app.post(&nobody, &app.admin_token, json!({})).await.expect_problem(StatusCode::NOT_FOUND, "not_found");
    for minutes in [0, 44_641] {
        app.post(&path, &app.admin_token, json!({ "valid_minutes": minutes }))
            .await
            .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    }
    let card = app.post(&path, &app.admin_token, json!({ "valid_minutes": 44_640 })).await.expect(StatusCode::CREATED);
    let expires_at: chrono::DateTime<chrono::Utc> = card["expires_at"].as_str().expect("expiry").parse().expect("time");
    assert_eq!((expires_at - chrono::Utc::now()).num_days(), 30, "a card's link may last 31 days");
}

#[tokio::test]
async fn an_expired_link_opens_nothing() {
    let app = spawn_app(Backend::Sqlite).await;
    let citizen = app.register_citizen().await;
    let secret = "lien_expire_pour_le_test";
    let now = chrono::Utc::now();
    let hash = ygor_crypto::hash_token(secret);
    app.state.log().put_login_link(&hash, &citizen.id, now - chrono::Duration::seconds(1), now).await.expect("stored");
    let mut browser = WebClient::new(&app);
    let csrf = browser.get("/connexion").await.csrf();
    let answer = browser.post("/connexion/lien", &[("csrf", &csrf), ("link", secret)]).await;
    assert_eq!(answer.location.as_deref(), Some("/connexion?lien=perime"));
    assert!(!browser.has_session());
}

/// A local SMTP server that accepts every message and hands each one's text to the test.
async fn smtp_sink() -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sender = sender.clone();
            tokio::spawn(async move {
                let (reader, mut writer) = stream.into_split();
                let mut lines = BufReader::new(reader).lines();
                writer.write_all(b"220 sink ESMTP\r\n").await.ok();
                let mut message = String::new();
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            in_data = false;
                            sender.send(std::mem::take(&mut message)).ok();
                            writer.write_all(b"250 queued\r\n").await.ok();
                        } else {
                            message.push_str(&line);
                            message.push('\n');
                        }
                        continue;
                    }
                    let verb = line.split(' ').next().unwrap_or_default().to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "DATA" => {
                            in_data = true;
                            b"354 go on\r\n"
                        }
                        "QUIT" => {
                            writer.write_all(b"221 bye\r\n").await.ok();
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    writer.write_all(reply).await.ok();
                }
            });
        }
    });
    (port, receiver)
}

#[tokio::test]
async fn connexion_sends_a_login_link_by_email_to_a_known_address_and_says_the_same_to_an_unknown_one() {
    let (port, mut inbox) = smtp_sink().await;
    let app = spawn_app_with(Backend::Sqlite, |config| {
        config.web.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        config.web.public_url = Some("https://ygor.example.fr".to_owned());
    })
    .await;
    let registered = app
        .post("/v1/citizens", &app.admin_token, json!({ "email": " Camille@Example.fr ", "birth_year": 2001 }))
        .await
        .expect(StatusCode::CREATED);
    app.post("/v1/citizens", &app.admin_token, json!({ "email": "pas une adresse" }))
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");

    let mut browser = WebClient::new(&app);
    let page = browser.get("/connexion").await;
    assert!(page.html.contains("Recevoir mon lien"));
    let sent = browser.post("/connexion", &[("csrf", &page.csrf()), ("email", "camille@example.FR")]).await;
    assert_eq!(sent.status, StatusCode::OK);
    assert!(sent.html.contains("un lien de connexion vient d'y être envoyé"));
    let message =
        tokio::time::timeout(std::time::Duration::from_secs(10), inbox.recv()).await.expect("a mail").expect("text");
    // The body may be quoted-printable: long lines are cut with a soft break `=`.
    let message = message.replace("=\n", "").replace("=3D", "=");
    assert!(message.contains("To: camille@example.FR") || message.to_lowercase().contains("to: camille@example.fr"));
    let start = message.find("https://ygor.example.fr/connexion/lien/").expect("the link is in the mail");
    let secret = message[start..].split_whitespace().next().expect("link").rsplit('/').next().expect("secret");
    let secret = secret.trim().to_owned();

    let unknown = browser.post("/connexion", &[("csrf", &page.csrf()), ("email", "personne@example.fr")]).await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert!(unknown.html.contains("un lien de connexion vient d'y être envoyé"), "the same answer");
    assert!(tokio::time::timeout(std::time::Duration::from_millis(500), inbox.recv()).await.is_err(), "no mail");

    let malformed = browser.post("/connexion", &[("csrf", &page.csrf()), ("email", "camille")]).await;
    assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(malformed.html.contains("id=\"email-erreur\""));

    let used = browser.post("/connexion/lien", &[("csrf", &page.csrf()), ("link", &secret)]).await;
    assert_eq!(used.location.as_deref(), Some("/moi"));
    let wallet = browser.get("/moi").await;
    assert_eq!(wallet.status, StatusCode::OK);
    let set_cookie = used.headers["set-cookie"].to_str().expect("ascii");
    assert!(set_cookie.contains("Secure"), "https public URL: Secure cookies ({set_cookie})");
    assert!(registered["citizen_id"].is_string());
}
