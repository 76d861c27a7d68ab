//! The citizen's pages, made for a phone: the wallet, the profile, missions, the history, draws
//! and the proofs. Each reads what the JSON API answers the citizen (the same handler functions),
//! after waiting for the read models to include this server's writes.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

use crate::AppState;
use crate::auth::Citizen;
use crate::extract::Consistent;
use crate::routes;
use crate::web::format;
use crate::web::session::CitizenPage;
use crate::web::{Chrome, PageError, render};

pub fn router() -> Router<AppState> {
    Router::new().route("/moi", get(wallet))
}

/// Waits (at most 2 s) until the read models include every write this server committed, so that
/// a page shown after a form sees what the form did.
pub async fn caught_up(state: &AppState) {
    let committed = *state.engine().committed().borrow();
    let _ = state.projections().wait_for(committed, std::time::Duration::from_secs(2)).await;
}

struct LotLine {
    remaining: String,
    amount: String,
    partly_spent: bool,
    issued: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "wallet.html")]
struct WalletPage {
    chrome: Chrome,
    balance: String,
    gold: String,
    next_expiry: Option<String>,
    lots: Vec<LotLine>,
}

async fn wallet(State(state): State<AppState>, page: CitizenPage) -> Result<Response, PageError> {
    caught_up(&state).await;
    let view = routes::citizen::wallet(State(state.clone()), Citizen(page.citizen_id), Consistent).await?.0;
    let live: Vec<_> = view.lots.iter().filter(|lot| !lot.expired && lot.remaining > 0).collect();
    let next_expiry = live.first().map(|lot| {
        let count = format::tokens(lot.remaining);
        let verb = if lot.remaining > 1 { "expirent" } else { "expire" };
        format!("{count} {verb} le {}", format::date(lot.expires_at))
    });
    let lots = live
        .iter()
        .map(|lot| LotLine {
            remaining: format::tokens(lot.remaining),
            amount: format::number(lot.amount),
            partly_spent: lot.remaining < lot.amount,
            issued: format::date(lot.issued_at),
            expires: format::date(lot.expires_at),
        })
        .collect();
    Ok(render(&WalletPage {
        chrome: Chrome::new(&page.visitor, "Mon portefeuille", "/moi"),
        balance: format::tokens(view.balance),
        gold: format::count(view.gold, "jeton d'or", "jetons d'or"),
        next_expiry,
        lots,
    }))
}
