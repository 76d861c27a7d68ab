//! Browser sessions and CSRF protection for the pages (decision 30).
//!
//! After a login the browser holds `ygor_session`, a random 256-bit secret in an HttpOnly,
//! SameSite=Strict cookie (Secure when the public URL is https); the server keeps only its
//! SHA-256, the role and the subject, in `web_sessions`. API tokens never travel in a URL and are
//! never put in a cookie: a session is its own secret, ended by logout or after
//! [`SESSION_HOURS`].
//!
//! Every form carries a `csrf` field: a keyed hash of the session secret, or, before login, of
//! `ygor_csrf`, a random HttpOnly cookie set by the first page. Another site can neither read
//! those cookies nor compute the field, and SameSite=Strict keeps the browser from sending them
//! with a request another site started; a POST that says it comes from another site
//! (`Sec-Fetch-Site: cross-site`) is refused as well.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use ygor_ledger::{CitizenId, PartnerId};

use crate::AppState;
use crate::auth::Caller;
use crate::web::PageError;

/// The cookie that names a session.
pub const SESSION_COOKIE: &str = "ygor_session";
/// The cookie that keys the forms shown before login.
pub const CSRF_COOKIE: &str = "ygor_csrf";
/// How long a session lasts after login.
pub const SESSION_HOURS: i64 = 12;
/// Largest form body accepted by the pages, in bytes.
pub const FORM_LIMIT: usize = 64 * 1024;
/// Longest cookie value read; ours are about 50 characters.
const COOKIE_VALUE_MAX: usize = 128;

/// Who is looking at a page: the session's caller if any, and the CSRF field its forms carry.
#[derive(Clone, Debug)]
pub struct Visitor {
    pub caller: Option<Caller>,
    pub csrf: String,
}

/// The value of a cookie of the request, if present and of a sane length.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty() && value.len() <= COOKIE_VALUE_MAX)
        .map(|(_, value)| value)
}

/// The CSRF field that goes with a cookie secret.
fn csrf_for(secret: &str) -> String {
    let digest = ygor_crypto::sha256(format!("ygor/csrf/v1\n{secret}").as_bytes());
    hex::encode(&digest[..16])
}

/// The pre-login CSRF cookie a request carries, or the one [`ensure_csrf_cookie`] just made.
#[derive(Clone)]
struct CsrfSecret(String);

/// Middleware of the pages: a browser without `ygor_csrf` gets one, so that the forms it is shown
/// (the login form first) can be checked when they come back.
pub async fn ensure_csrf_cookie(mut request: Request, next: Next) -> Response {
    if let Some(secret) = cookie(request.headers(), CSRF_COOKIE) {
        let secret = CsrfSecret(secret.to_owned());
        request.extensions_mut().insert(secret);
        return next.run(request).await;
    }
    let secret = ygor_crypto::generate_token("csrf_");
    request.extensions_mut().insert(CsrfSecret(secret.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&format!("{CSRF_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict")) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The live session of a request, with its secret.
async fn session(parts: &Parts, state: &AppState) -> Result<Option<(Caller, String)>, PageError> {
    let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else { return Ok(None) };
    let hash = ygor_crypto::hash_token(secret);
    let Some(credential) = state.log().find_web_session(&hash, Utc::now()).await.map_err(PageError::store)? else {
        return Ok(None);
    };
    let caller = Caller::of(&credential).map_err(PageError::Api)?;
    Ok(Some((caller, secret.to_owned())))
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match session(parts, state).await? {
            Some((caller, secret)) => Ok(Visitor { caller: Some(caller), csrf: csrf_for(&secret) }),
            None => {
                let secret = parts.extensions.get::<CsrfSecret>().map(|secret| secret.0.clone()).unwrap_or_default();
                Ok(Visitor { caller: None, csrf: csrf_for(&secret) })
            }
        }
    }
}

/// The page a role lands on after login.
pub fn home_of(caller: Caller) -> &'static str {
    match caller {
        Caller::Citizen(_) => "/moi",
        Caller::Venue(_) => "/guichet",
        Caller::Association(_) => "/association",
        Caller::Admin => "/collectivite",
    }
}

/// A page of one role. Without a session, the browser is sent to `/connexion` (and back here
/// after); with another role's session, the page says so.
macro_rules! page_role {
    ($name:ident, $field:ident: $type:ty, $pattern:pat => $value:expr, $who:literal) => {
        #[doc = concat!("A page for ", $who, " only.")]
        pub struct $name {
            pub visitor: Visitor,
            pub $field: $type,
        }

        impl FromRequestParts<AppState> for $name {
            type Rejection = PageError;

            async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
                let visitor = Visitor::from_request_parts(parts, state).await?;
                match visitor.caller {
                    Some($pattern) => Ok($name { visitor, $field: $value }),
                    Some(_) => Err(PageError::WrongRole($who)),
                    None => Err(PageError::Login),
                }
            }
        }
    };
}

page_role!(CitizenPage, citizen_id: CitizenId, Caller::Citizen(id) => id, "citoyens");
page_role!(VenuePage, venue_id: PartnerId, Caller::Venue(id) => id, "lieux partenaires");
page_role!(AssociationPage, association_id: PartnerId, Caller::Association(id) => id, "associations");
page_role!(CollectivityPage, admin: crate::auth::Admin, Caller::Admin => crate::auth::Admin, "agents de la collectivité");

/// A form posted by a page, checked for its CSRF field before it is parsed into `T`.
pub struct Form<T> {
    pub visitor: Visitor,
    pub value: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Form<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        refuse_cross_site(&parts.headers)?;
        let visitor = Visitor::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, FORM_LIMIT).await.map_err(|_| PageError::TooLarge)?;
        let fields: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
        let sent = fields.iter().find(|(key, _)| key == "csrf").map(|(_, value)| value.as_str());
        check_csrf(&visitor, sent)?;
        let value = serde_urlencoded::from_bytes(&bytes).map_err(|error| PageError::BadForm(error.to_string()))?;
        Ok(Form { visitor, value })
    }
}

/// The collectivity's agent behind a form: another role's session gets the refusal page, no
/// session the login page.
pub fn admin_of(visitor: &Visitor) -> Result<crate::auth::Admin, PageError> {
    match visitor.caller {
        Some(Caller::Admin) => Ok(crate::auth::Admin),
        Some(_) => Err(PageError::WrongRole("agents de la collectivité")),
        None => Err(PageError::Login),
    }
}

/// Refuses a form another site says it started (`Sec-Fetch-Site: cross-site`).
pub fn refuse_cross_site(headers: &HeaderMap) -> Result<(), PageError> {
    match headers.get("sec-fetch-site") {
        Some(site) if site == "cross-site" => Err(PageError::Csrf),
        _ => Ok(()),
    }
}

/// Refuses a form whose `csrf` field is not the visitor's.
pub fn check_csrf(visitor: &Visitor, sent: Option<&str>) -> Result<(), PageError> {
    if sent == Some(visitor.csrf.as_str()) { Ok(()) } else { Err(PageError::Csrf) }
}

/// The `Set-Cookie` that opens a session.
pub fn session_cookie(secret: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let max_age = SESSION_HOURS * 3600;
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("a generated token is a valid header value")
}

/// The `Set-Cookie` that ends a session in the browser.
pub fn cleared_session_cookie() -> HeaderValue {
    HeaderValue::from_static("ygor_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Opens a session for a credential and answers the redirect to `to` that sets its cookie.
pub async fn log_in(
    state: &AppState,
    credential: &ygor_store::Credential,
    to: &str,
    now: DateTime<Utc>,
) -> Result<Response, PageError> {
    let secret = ygor_crypto::generate_token("ygor_ses_");
    let hash = ygor_crypto::hash_token(&secret);
    let expires_at = now + Duration::hours(SESSION_HOURS);
    state.log().open_web_session(&hash, credential, expires_at, now).await.map_err(PageError::store)?;
    let mut response = Redirect::to(to).into_response();
    response.headers_mut().append(header::SET_COOKIE, session_cookie(&secret, state.web().secure_cookies()));
    Ok(response)
}

/// Ends the request's session, if any, in the store and in the browser.
pub async fn log_out(state: &AppState, headers: &HeaderMap) -> Result<Response, PageError> {
    if let Some(secret) = cookie(headers, SESSION_COOKIE) {
        state.log().close_web_session(&ygor_crypto::hash_token(secret)).await.map_err(PageError::store)?;
    }
    let mut response = Redirect::to("/connexion?sortie=1").into_response();
    response.headers_mut().append(header::SET_COOKIE, cleared_session_cookie());
    Ok(response)
}
