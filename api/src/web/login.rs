//! Logging in and out: a one-time link sent by email (or printed on the carte citoyenne), or a
//! pasted API token; both open a browser session ([`super::session`]).
//!
//! A login link is `/connexion/lien/<secret>`: opening it shows a button that posts the secret
//! back, so that a mail scanner that follows links does not use it up. It works once, within its
//! validity (15 minutes by email; what the admin asks for a card).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use ygor_ledger::CitizenId;

use crate::AppState;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::web::session::{Form, Visitor, home_of, log_in, log_out};
use crate::web::{Chrome, Notice, PageError, render};

/// How long a link sent by email stays valid.
pub const EMAIL_LINK_MINUTES: i64 = 15;
/// The longest validity an admin may give a link (a card handed out within the month).
pub const LINK_MINUTES_MAX: i64 = 60 * 24 * 31;
/// Longest pasted token or link secret read.
const SECRET_MAX: usize = 256;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/connexion", get(login_page).post(send_link))
        .route("/connexion/jeton", post(login_with_token))
        .route("/connexion/lien/{link}", get(link_page))
        .route("/connexion/lien", post(login_with_link))
        .route("/deconnexion", post(logout))
}

/// Routes of the JSON API that serve the pages.
pub fn api_router() -> Router<AppState> {
    Router::new().route("/v1/citizens/{id}/login-link", post(create_login_link))
}

async fn root(visitor: Visitor) -> Redirect {
    Redirect::to(visitor.caller.map(home_of).unwrap_or("/offres"))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    notice: Option<Notice>,
    mail_enabled: bool,
    email: String,
    email_error: Option<String>,
    token_error: Option<String>,
}

impl LoginPage {
    fn new(state: &AppState, visitor: &Visitor, notice: Option<Notice>) -> Self {
        LoginPage {
            chrome: Chrome::new(visitor, "Se connecter", "/connexion"),
            notice,
            mail_enabled: state.web().mailer.is_some(),
            email: String::new(),
            email_error: None,
            token_error: None,
        }
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    sortie: Option<String>,
    lien: Option<String>,
}

async fn login_page(
    State(state): State<AppState>,
    visitor: Visitor,
    axum::extract::Query(query): axum::extract::Query<LoginQuery>,
) -> Response {
    let notice = if query.sortie.is_some() {
        Some(Notice { kind: "ok", text: "Vous êtes déconnecté·e.".to_owned() })
    } else if query.lien.is_some() {
        Some(Notice {
            kind: "alert",
            text: "Ce lien de connexion a déjà servi ou a expiré. Demandez-en un nouveau ci-dessous.".to_owned(),
        })
    } else {
        None
    };
    render(&LoginPage::new(&state, &visitor, notice))
}

#[derive(Deserialize)]
struct EmailForm {
    email: String,
}

/// Sends a link to every citizen registered with this email (at most a few). The answer is the
/// same whether the address is known or not, so the form tells nobody who is registered.
async fn send_link(State(state): State<AppState>, form: Form<EmailForm>) -> Result<Response, PageError> {
    let visitor = form.visitor;
    let mut page = LoginPage::new(&state, &visitor, None);
    let Some(mailer) = state.web().mailer.clone() else {
        return Ok(render(&page));
    };
    let email = match super::mail::checked_email(&form.value.email) {
        Ok(email) => email,
        Err(_) => {
            page.email = form.value.email.chars().take(254).collect();
            page.email_error =
                Some("Saisissez une adresse électronique valable, par exemple nom@exemple.fr.".to_owned());
            let mut response = render(&page);
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(response);
        }
    };
    let now = Utc::now();
    for citizen in state.log().citizens_by_email(&email).await.map_err(PageError::store)? {
        let (url, _) = new_link(&state, &citizen, None, Duration::minutes(EMAIL_LINK_MINUTES), now).await?;
        if let Err(error) = mailer.send_login_link(&email, &url, EMAIL_LINK_MINUTES).await {
            tracing::error!(%error, "a login link could not be sent");
            page.notice = Some(Notice {
                kind: "alert",
                text: "Le courriel n'a pas pu partir. Réessayez dans quelques minutes.".to_owned(),
            });
            return Ok(render(&page));
        }
    }
    page.notice = Some(Notice {
        kind: "ok",
        text: format!(
            "Si cette adresse est celle d'un compte, un lien de connexion vient d'y être envoyé. Il est valable \
             {EMAIL_LINK_MINUTES} minutes."
        ),
    });
    Ok(render(&page))
}

#[derive(Deserialize)]
struct TokenForm {
    token: String,
}

async fn login_with_token(State(state): State<AppState>, form: Form<TokenForm>) -> Result<Response, PageError> {
    let token = form.value.token.trim();
    let credential = if token.is_empty() || token.len() > SECRET_MAX {
        None
    } else {
        state.log().find_credential(&ygor_crypto::hash_token(token)).await.map_err(PageError::store)?
    };
    let Some(credential) = credential else {
        let mut page = LoginPage::new(&state, &form.visitor, None);
        page.token_error = Some(if token.is_empty() {
            "Collez votre jeton d'accès.".to_owned()
        } else {
            "Ce jeton n'est pas reconnu. Vérifiez que vous l'avez copié en entier.".to_owned()
        });
        let mut response = render(&page);
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(response);
    };
    let caller = crate::auth::Caller::of(&credential)?;
    log_in(&state, &credential, home_of(caller), Utc::now()).await
}

#[derive(Template)]
#[template(path = "login_link.html")]
struct LinkPage {
    chrome: Chrome,
    link: String,
}

async fn link_page(visitor: Visitor, Path(link): Path<String>) -> Response {
    let link = link.chars().take(SECRET_MAX).collect();
    render(&LinkPage { chrome: Chrome::new(&visitor, "Se connecter", ""), link })
}

#[derive(Deserialize)]
struct LinkForm {
    link: String,
}

async fn login_with_link(State(state): State<AppState>, form: Form<LinkForm>) -> Result<Response, PageError> {
    let link = form.value.link.trim();
    let now = Utc::now();
    let citizen = if link.is_empty() || link.len() > SECRET_MAX {
        None
    } else {
        state.log().use_login_link(&ygor_crypto::hash_token(link), now).await.map_err(PageError::store)?
    };
    let Some(citizen) = citizen else {
        return Ok(Redirect::to("/connexion?lien=perime").into_response());
    };
    let credential = ygor_store::Credential { role: "citizen".to_owned(), subject_id: citizen };
    log_in(&state, &credential, "/moi", now).await
}

async fn logout(State(state): State<AppState>, headers: HeaderMap, _form: Form<Empty>) -> Result<Response, PageError> {
    log_out(&state, &headers).await
}

#[derive(Deserialize)]
struct Empty {}

/// Makes a one-time login link for a citizen; answers its URL and expiry.
pub(crate) async fn new_link(
    state: &AppState,
    citizen: &str,
    headers: Option<&HeaderMap>,
    validity: Duration,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), ApiError> {
    let secret = ygor_crypto::generate_token("lien_");
    let expires_at = now + validity;
    state.log().put_login_link(&ygor_crypto::hash_token(&secret), citizen, expires_at, now).await?;
    Ok((format!("{}/connexion/lien/{secret}", public_url(state, headers)), expires_at))
}

/// The start of absolute links: `--public-url`, or the request's `Host` over http.
fn public_url(state: &AppState, headers: Option<&HeaderMap>) -> String {
    if let Some(url) = &state.web().public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .and_then(|headers| headers.get(header::HOST))
        .and_then(|host| host.to_str().ok())
        .filter(|host| host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)))
        .unwrap_or("localhost");
    format!("http://{host}")
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct LoginLinkRequest {
    /// How long the link stays valid, in minutes: 1 to 44,640 (31 days); 15 when absent.
    pub valid_minutes: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct LoginLink {
    /// Opening it in a browser logs the citizen in, once.
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// A one-time login link for a citizen, to print on the carte citoyenne as a QR code or to hand
/// over; it works once, until `expires_at`.
#[utoipa::path(post, path = "/v1/citizens/{id}/login-link", tag = "collectivity", request_body = LoginLinkRequest,
    params(("id" = String, Path, description = "The citizen's id")),
    responses((status = 201, body = LoginLink)), security(("bearer" = [])))]
pub async fn create_login_link(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<LoginLinkRequest>,
) -> Result<Response, ApiError> {
    let citizen_id = CitizenId::parse(&id).map_err(|_| ApiError::not_found("no citizen has this id"))?;
    let minutes = request.valid_minutes.unwrap_or(EMAIL_LINK_MINUTES);
    if !(1..=LINK_MINUTES_MAX).contains(&minutes) {
        return Err(ApiError::validation(format!("valid_minutes must be between 1 and {LINK_MINUTES_MAX}")));
    }
    if state.log().citizen_details(&citizen_id.to_string()).await?.is_none() {
        return Err(ApiError::not_found("no citizen has this id"));
    }
    let (url, expires_at) =
        new_link(&state, &citizen_id.to_string(), Some(&headers), Duration::minutes(minutes), Utc::now()).await?;
    Ok((StatusCode::CREATED, Json(LoginLink { url, expires_at })).into_response())
}
