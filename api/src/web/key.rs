//! The page where a partner imports its key file into the browser, the same for a venue
//! (`/guichet/cle`) and an association (`/association/cle`): `cle.js` reads the file here, checks
//! that its public key is the one registered for the partner, and keeps it in IndexedDB. The key
//! is never sent to the server.

use askama::Template;
use axum::response::Response;
use ygor_ledger::PartnerId;

use crate::AppState;
use crate::error::ApiError;
use crate::web::session::Visitor;
use crate::web::{Chrome, PageError, render};

/// What the key page says of one role.
pub struct KeyRole {
    /// « Clé du lieu »: the page's title and heading.
    pub title: &'static str,
    /// « du lieu »: whose key it is.
    pub of: &'static str,
    /// « valider les bons »: what the browser does with it.
    pub to: &'static str,
    /// The path of this page, for the navigation.
    pub path: &'static str,
    /// The page the key is for, linked at the bottom: (path, « Retour au guichet »).
    pub back: (&'static str, &'static str),
}

/// The venue's key page.
pub const VENUE: KeyRole = KeyRole {
    title: "Clé du lieu",
    of: "du lieu",
    to: "valider les bons",
    path: "/guichet/cle",
    back: ("/guichet", "Retour au guichet"),
};

/// The association's key page.
pub const ASSOCIATION: KeyRole = KeyRole {
    title: "Clé de l'association",
    of: "de l'association",
    to: "certifier les actions",
    path: "/association/cle",
    back: ("/association", "Retour à la certification des actions"),
};

#[derive(Template)]
#[template(path = "cle.html")]
struct KeyPage {
    chrome: Chrome,
    role: &'static KeyRole,
    partner_id: String,
    public_key: String,
}

/// The key page of `partner_id` for `visitor`.
pub async fn page(
    state: &AppState,
    visitor: &Visitor,
    partner_id: PartnerId,
    role: &'static KeyRole,
) -> Result<Response, PageError> {
    let info = state.engine().partner_info(partner_id).await.map_err(ApiError::from)?;
    let public_key = info.map(|info| info.public_key.clone()).unwrap_or_default();
    Ok(render(&KeyPage {
        chrome: Chrome::new(visitor, role.title, role.path).with_script("cle.js"),
        role,
        partner_id: partner_id.to_string(),
        public_key,
    }))
}
