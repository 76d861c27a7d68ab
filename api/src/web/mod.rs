//! The web pages: server-rendered HTML from the same binary and port as the API (decision 30).
//!
//! Pages read what the JSON API reads and write through the same engine commands, so a page
//! shows what the API reports. Templates are askama's, checked at compile time (`api/templates`);
//! the CSS and the little JavaScript are ours and served from `/static` ([`crate::static_files`]); no page loads
//! anything from another host, and the Content-Security-Policy forbids inline scripts. Every page
//! and form works without JavaScript, except the steps that sign with a partner's key, which
//! happen in the browser so that the server never sees that key.

pub mod association;
pub mod audit;
pub mod chart;
pub mod citizen;
pub mod collectivity;
pub mod draws_admin;
pub mod format;
pub mod key;
pub mod login;
pub mod mail;
pub mod partners;
pub mod rules;
pub mod session;
pub mod transparency;
pub mod venue;

use askama::Template;
use axum::Json;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::web::session::Visitor;
use ygor_ledger::PartnerId;

/// What the pages need to know about where they are served: the public URL for links sent by
/// email, and the SMTP transport that sends them.
#[derive(Clone, Default)]
pub struct WebOptions {
    /// `https://ygor.example.fr`: the start of links sent by email and printed on cards. Without
    /// it, links start with the `Host` the request came to, over http.
    pub public_url: Option<String>,
    /// Sends login links; `None` when `--smtp-url` is not set.
    pub mailer: Option<mail::Mailer>,
}

impl WebOptions {
    /// Cookies are `Secure` when the public URL is https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.as_deref().is_some_and(|url| url.starts_with("https://"))
    }
}

/// The Content-Security-Policy of every page: our own scripts, styles and images only, no
/// inline script, no framing, forms posted to ourselves.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Every route of the pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(login::router())
        .merge(citizen::router())
        .merge(transparency::router())
        .merge(collectivity::router())
        .merge(partners::router())
        .merge(draws_admin::router())
        .merge(venue::router())
        .merge(association::router())
        .merge(rules::router())
        .merge(audit::router())
        .layer(axum::middleware::from_fn(session::ensure_csrf_cookie))
        .layer(axum::middleware::map_response(page_headers))
}

/// Security headers of every page.
async fn page_headers(response: Response) -> Response {
    page_headers_now(response)
}

fn page_headers_now(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A message shown above a page's content: `kind` is `ok`, `alert` or `info` (its CSS class).
pub struct Notice {
    pub kind: &'static str,
    pub text: String,
}

impl Notice {
    /// The notice a page shows after a redirect that says what was done with a query flag
    /// (`?publiee=1`): the text of the first flag of `said` the query carries.
    pub fn of_flags(query: &std::collections::HashMap<String, String>, said: &[(&str, &str)]) -> Option<Notice> {
        said.iter()
            .find(|(flag, _)| query.contains_key(*flag))
            .map(|(_, text)| Notice { kind: "ok", text: (*text).to_owned() })
    }
}

/// A link of the navigation bar.
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// What every page's frame shows: its title, the navigation of the visitor's role, and the
/// logout form's CSRF field.
pub struct Chrome {
    pub title: String,
    pub nav: Vec<NavLink>,
    pub logged_in: bool,
    pub csrf: String,
    /// Scripts of this page, under `/static/js/`.
    pub scripts: Vec<&'static str>,
}

impl Chrome {
    /// The frame of a page at `path` for `visitor`.
    pub fn new(visitor: &Visitor, title: impl Into<String>, path: &str) -> Self {
        let links: &[(&'static str, &'static str)] = match visitor.caller {
            Some(Caller::Citizen(_)) => &[
                ("/moi", "Mon portefeuille"),
                ("/offres", "Offres"),
                ("/moi/missions", "Missions"),
                ("/moi/profil", "Mon profil"),
                ("/moi/historique", "Historique"),
                ("/tirages", "Tirages"),
                ("/moi/preuves", "Preuves"),
            ],
            Some(Caller::Venue(_)) => {
                &[("/guichet", "Guichet"), ("/guichet/historique", "Historique"), ("/guichet/offres", "Mes offres")]
            }
            Some(Caller::Admin) => &[
                ("/collectivite", "Tableau de bord"),
                ("/collectivite/partenaires", "Partenaires"),
                ("/collectivite/cartes", "Cartes citoyennes"),
                ("/collectivite/remboursements", "Remboursements"),
                ("/collectivite/tirages", "Tirages"),
                ("/collectivite/regles", "Règles"),
                ("/collectivite/audit", "Audit"),
                ("/transparence", "Transparence"),
            ],
            Some(Caller::Association(_)) => &[
                ("/association", "Certifier"),
                ("/association/certifications", "Certifications"),
                ("/association/missions", "Missions"),
            ],
            _ => &[("/offres", "Offres"), ("/tirages", "Tirages"), ("/transparence", "Transparence")],
        };
        let nav = links.iter().map(|&(href, label)| NavLink { href, label, current: href == path }).collect();
        Chrome {
            title: title.into(),
            nav,
            logged_in: visitor.caller.is_some(),
            csrf: visitor.csrf.clone(),
            scripts: Vec::new(),
        }
    }

    pub fn with_script(mut self, script: &'static str) -> Self {
        self.scripts.push(script);
        self
    }
}

/// A JSON answer to a page's script: `ok`, the stable `code`, and the French `message` it shows.
pub fn script_answer(status: StatusCode, ok: bool, code: &str, message: String) -> Response {
    (status, Json(serde_json::json!({ "ok": ok, "code": code, "message": message }))).into_response()
}

/// The JSON answer to a page's script of an API refusal, said in French.
pub fn script_refusal(error: &ApiError) -> Response {
    script_answer(error.status, false, error.code, messages::french(error))
}

/// Why a page's script may not write: said to it as [`script_answer`] JSON.
#[derive(Debug)]
pub struct ScriptRefusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl IntoResponse for ScriptRefusal {
    fn into_response(self) -> Response {
        script_answer(self.status, false, self.code, self.message)
    }
}

/// The partner a page's script writes for: the request comes from this site
/// (`Sec-Fetch-Site` is not `cross-site`), carries the page's CSRF value in its `x-csrf` header,
/// and its session is a partner's that `role` accepts (`who`: « d'un lieu partenaire »).
pub fn script_partner(
    visitor: &Visitor,
    headers: &HeaderMap,
    role: fn(Caller) -> Option<PartnerId>,
    who: &str,
) -> Result<PartnerId, ScriptRefusal> {
    let forbidden =
        |message: &str| ScriptRefusal { status: StatusCode::FORBIDDEN, code: "forbidden", message: message.to_owned() };
    if session::refuse_cross_site(headers).is_err() {
        return Err(forbidden("Cette demande ne vient pas de ce site."));
    }
    let Some(partner_id) = visitor.caller.and_then(role) else {
        return Err(ScriptRefusal {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: format!("Votre session a expiré ou n'est pas celle {who}. Connectez-vous à nouveau."),
        });
    };
    let sent = headers.get("x-csrf").and_then(|value| value.to_str().ok());
    if sent != Some(visitor.csrf.as_str()) {
        return Err(forbidden("Cette page a expiré ou ne vient pas de ce site. Rechargez-la et recommencez."));
    }
    Ok(partner_id)
}

/// Renders a template as a page.
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "a page template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "Erreur interne").into_response()
        }
    }
}

/// Why a page could not be shown, rendered as a page (never as problem+json).
#[derive(Debug)]
pub enum PageError {
    /// No session: go to `/connexion`.
    Login,
    /// A session of another role.
    WrongRole(&'static str),
    /// The form's CSRF field is missing or stale.
    Csrf,
    /// The form is larger than [`session::FORM_LIMIT`].
    TooLarge,
    /// The form's fields are not what the page sent.
    BadForm(String),
    /// What the API would have answered.
    Api(ApiError),
}

impl PageError {
    pub fn store(error: ygor_store::StoreError) -> Self {
        PageError::Api(error.into())
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        PageError::Api(error)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    heading: String,
    message: String,
}

/// The French page of a path that leads nowhere.
pub fn not_found_page() -> Response {
    let visitor = Visitor { caller: None, csrf: String::new() };
    let heading = "Page introuvable".to_owned();
    let message = "Cette page n'existe pas. Vérifiez l'adresse, ou repartez de l'accueil.".to_owned();
    let page = ErrorPage { chrome: Chrome::new(&visitor, heading.clone(), ""), heading, message };
    let mut response = page_headers_now(render(&page));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, heading, message) = match self {
            PageError::Login => return Redirect::to("/connexion").into_response(),
            PageError::WrongRole(who) => (
                StatusCode::FORBIDDEN,
                "Page réservée".to_owned(),
                format!("Cette page est réservée aux {who}. Déconnectez-vous puis connectez-vous avec le bon compte."),
            ),
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "Formulaire expiré".to_owned(),
                "Ce formulaire a expiré ou ne vient pas de ce site. Revenez à la page précédente, rechargez-la et \
                 recommencez."
                    .to_owned(),
            ),
            PageError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Formulaire trop long".to_owned(),
                "Ce formulaire dépasse 64 Kio. Raccourcissez les textes et recommencez.".to_owned(),
            ),
            PageError::BadForm(detail) => (
                StatusCode::BAD_REQUEST,
                "Formulaire incomplet".to_owned(),
                format!("Le formulaire reçu est incomplet ou mal formé ({detail}). Rechargez la page et recommencez."),
            ),
            PageError::Api(error) => {
                let message = messages::french(&error);
                (error.status, "Impossible d'afficher cette page".to_owned(), message)
            }
        };
        let visitor = Visitor { caller: None, csrf: String::new() };
        let page = ErrorPage { chrome: Chrome::new(&visitor, heading.clone(), ""), heading, message };
        let mut response = render(&page);
        *response.status_mut() = status;
        response
    }
}

pub mod messages;
