//! The citizen's pages, made for a phone: the wallet, the profile, missions, the history, draws
//! and the proofs. Each reads what the JSON API answers the citizen (the same handler functions),
//! after waiting for the read models to include this server's writes.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::AppState;
use crate::auth::{Caller, Citizen};
use crate::extract::{ApiQuery, Consistent};
use crate::routes;
use crate::routes::history::HistoryItem;
use crate::web::format;
use crate::web::session::{CitizenPage, Form, Visitor};
use crate::web::{Chrome, Notice, PageError, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/moi", get(wallet))
        .route("/moi/profil", get(profile).post(save_interests))
        .route("/moi/missions", get(missions))
        .route("/moi/historique", get(history))
        .route("/moi/preuves", get(proofs))
        .route("/moi/preuves/preuve", get(proof))
        .route("/offres", get(offers))
        .route("/offres/{offer_id}/bon", post(take_voucher))
        .route("/tirages", get(draws))
        .route("/tirages/{draw_id}", post(enter_draw))
}

/// The pages wait for the read models as the API's vouchers do.
pub(crate) use crate::routes::offers::caught_up;

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

struct OfferLine {
    offer_id: String,
    title: String,
    venue: String,
    category: Option<String>,
    description: Option<String>,
    price: String,
    euros: Option<String>,
    remaining: Option<String>,
    full: bool,
}

#[derive(Template)]
#[template(path = "offers.html")]
struct OffersPage {
    chrome: Chrome,
    offers: Vec<OfferLine>,
    can_take: bool,
}

/// The public catalogue of offers; a citizen gets an « Obtenir un bon » button on each.
async fn offers(State(state): State<AppState>, visitor: Visitor) -> Result<Response, PageError> {
    caught_up(&state).await;
    let query =
        routes::offers::OffersQuery { venue_id: None, category: None, age: None, all: None, min_position: None };
    let list = routes::offers::list(State(state.clone()), ApiQuery(query), Consistent).await?.0;
    let labels = category_labels(&state);
    let offers = list
        .offers
        .into_iter()
        .map(|offer| OfferLine {
            category: offer.category.as_ref().map(|id| labels.get(id).cloned().unwrap_or_else(|| id.clone())),
            price: format::tokens(offer.price),
            euros: offer.price_cents.map(format::euros),
            full: offer.remaining == Some(0),
            remaining: offer.remaining.map(|left| match left {
                0 => "complet pour cette période".to_owned(),
                1 => "1 place restante".to_owned(),
                left => format!("{} places restantes", format::number(u64::from(left))),
            }),
            offer_id: offer.offer_id,
            title: offer.title,
            venue: offer.venue,
            description: offer.description,
        })
        .collect();
    let can_take = matches!(visitor.caller, Some(Caller::Citizen(_)));
    Ok(render(&OffersPage { chrome: Chrome::new(&visitor, "Offres", "/offres"), offers, can_take }))
}

/// The labels of the categories of the rules in force, by id.
pub(crate) fn category_labels(state: &AppState) -> std::collections::HashMap<String, String> {
    state.projections().read(|models| {
        models
            .rules
            .as_ref()
            .map(|rules| {
                rules.categories.iter().map(|category| (category.id.clone(), category.label.clone())).collect()
            })
            .unwrap_or_default()
    })
}

#[derive(Template)]
#[template(path = "voucher.html")]
struct VoucherPage {
    chrome: Chrome,
    title: String,
    qr_svg: String,
    countermark: String,
    amount: String,
    expires: String,
    expires_at: String,
}

#[derive(Deserialize)]
struct NoFields {}

/// « Obtenir un bon »: a voucher for the offer, shown with its QR code and its countermark.
async fn take_voucher(
    State(state): State<AppState>,
    Path(offer_id): Path<String>,
    form: Form<NoFields>,
) -> Result<Response, PageError> {
    let Some(Caller::Citizen(citizen_id)) = form.visitor.caller else { return Err(PageError::Login) };
    let request = routes::offers::VoucherRequest { amount: None, offer_id: Some(offer_id.clone()) };
    let voucher = routes::offers::voucher_for(&state, citizen_id, &request).await?;
    let title = state.projections().read(|models| {
        ygor_ledger::OfferId::parse(&offer_id)
            .ok()
            .and_then(|id| models.offers.offers.get(&id).map(|offer| offer.terms.title.clone()))
            .unwrap_or_else(|| "bon".to_owned())
    });
    Ok(render(&VoucherPage {
        chrome: Chrome::new(&form.visitor, format!("Mon bon : {title}"), ""),
        title,
        qr_svg: voucher.qr_svg,
        countermark: voucher.countermark,
        amount: format::tokens(voucher.amount_max),
        expires: format::date_time(voucher.expires_at),
        expires_at: voucher.expires_at.to_rfc3339(),
    }))
}

struct HistoryLine {
    title: String,
    date: String,
    detail: Option<String>,
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    chrome: Chrome,
    items: Vec<HistoryLine>,
    next: Option<u64>,
}

#[derive(Deserialize)]
struct HistoryPageQuery {
    apres: Option<u64>,
}

async fn history(
    State(state): State<AppState>,
    page: CitizenPage,
    Query(query): Query<HistoryPageQuery>,
) -> Result<Response, PageError> {
    caught_up(&state).await;
    let api_query = routes::history::HistoryQuery { after: query.apres, limit: Some(50), min_position: None };
    let view =
        routes::history::history(State(state.clone()), Citizen(page.citizen_id), ApiQuery(api_query), Consistent)
            .await?
            .0;
    let labels = category_labels(&state);
    let items = view.history.iter().map(|item| history_line(item, &labels)).collect();
    Ok(render(&HistoryPage {
        chrome: Chrome::new(&page.visitor, "Mon historique", "/moi/historique"),
        items,
        next: view.next,
    }))
}

/// One item of the wallet's history, in French.
fn history_line(item: &HistoryItem, labels: &std::collections::HashMap<String, String>) -> HistoryLine {
    let someone = |name: &Option<String>, fallback: &str| name.clone().unwrap_or_else(|| fallback.to_owned());
    let (title, at, detail) = match item {
        HistoryItem::Registered { at } => ("Inscription au portefeuille citoyen".to_owned(), at, None),
        HistoryItem::Earned { at, category, association, tokens, gold, expires_at, .. } => {
            let label = labels.get(category).cloned().unwrap_or_else(|| category.clone());
            let gold = if *gold { " + 1 jeton d'or" } else { "" };
            let expiry = expires_at.map(|at| format!(", expirent le {}", format::date(at))).unwrap_or_default();
            (
                format!("+ {}{gold} · {label}", format::tokens(*tokens)),
                at,
                Some(format!("Certifié par {}{expiry}", someone(association, "une association"))),
            )
        }
        HistoryItem::Spent { at, venue, tokens, offer, .. } => {
            (format!("− {} · {}", format::tokens(*tokens), someone(venue, "un lieu partenaire")), at, offer.clone())
        }
        HistoryItem::Expired { at, tokens } => {
            (format!("− {} expirés", format::tokens(*tokens)), at, Some("Rendus à la collectivité".to_owned()))
        }
        HistoryItem::Revoked { at, association, tokens, reason, .. } => (
            format!("Certification retirée par {}", someone(association, "une association")),
            at,
            Some(format!("{} repris · motif : {reason}", format::tokens(*tokens))),
        ),
        HistoryItem::TicketsEntered { at, prize, tickets, won, .. } => (
            format!(
                "{} au tirage « {} »",
                format::count(*tickets, "ticket joué", "tickets joués"),
                someone(prize, "tirage")
            ),
            at,
            won.map(|won| if won { "Gagné !".to_owned() } else { "Pas gagné cette fois".to_owned() }),
        ),
        HistoryItem::DrawWon { at, prize, .. } => (format!("Gagné : {prize}"), at, None),
    };
    HistoryLine { title, date: format::date(*at), detail }
}

struct BadgeLine {
    label: String,
    level: u32,
    category: String,
    date: String,
}

struct ChallengeLine {
    label: String,
    progress: u64,
    target: u64,
    text: String,
}

struct InterestLine {
    id: String,
    label: String,
    chosen: bool,
    actions: String,
}

struct ActionLine {
    date: String,
    category: String,
    association: String,
    tokens: String,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    chrome: Chrome,
    saved: bool,
    citizen_code: String,
    badges: Vec<BadgeLine>,
    challenges: Vec<ChallengeLine>,
    interests: Vec<InterestLine>,
    actions: Vec<ActionLine>,
}

#[derive(Deserialize)]
struct ProfileQuery {
    enregistre: Option<String>,
}

async fn profile(
    State(state): State<AppState>,
    page: CitizenPage,
    Query(query): Query<ProfileQuery>,
) -> Result<Response, PageError> {
    caught_up(&state).await;
    let view = routes::citizen::profile(State(state.clone()), Citizen(page.citizen_id), Consistent).await?.0;
    let labels = category_labels(&state);
    let label = |id: &str| labels.get(id).cloned().unwrap_or_else(|| id.to_owned());
    let mut interests: Vec<InterestLine> = state.projections().read(|models| {
        models
            .rules
            .as_ref()
            .map(|rules| {
                rules
                    .categories
                    .iter()
                    .map(|category| InterestLine {
                        id: category.id.clone(),
                        label: category.label.clone(),
                        chosen: view.interests.contains(&category.id),
                        actions: String::new(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    });
    for interest in &mut interests {
        let done = view.actions.iter().filter(|action| action.category == interest.id).count() as u64;
        interest.actions = format::count(done, "action", "actions");
    }
    Ok(render(&ProfilePage {
        chrome: Chrome::new(&page.visitor, "Mon profil", "/moi/profil"),
        saved: query.enregistre.is_some(),
        citizen_code: view.citizen_code.clone(),
        badges: view
            .badges
            .iter()
            .map(|badge| BadgeLine {
                label: badge.label.clone(),
                level: badge.level,
                category: label(&badge.category),
                date: format::date(badge.awarded_at),
            })
            .collect(),
        challenges: view
            .challenges
            .iter()
            .map(|challenge| {
                let unit = if challenge.unit == "actions" { "actions".to_owned() } else { challenge.unit.clone() };
                let window = match (challenge.from, challenge.to) {
                    (Some(from), Some(to)) => format!(" · du {} au {}", format::date(from), format::date(to)),
                    (None, Some(to)) => format!(" · jusqu'au {}", format::date(to)),
                    _ => String::new(),
                };
                ChallengeLine {
                    label: challenge.label.clone(),
                    progress: challenge.progress.min(challenge.target),
                    target: challenge.target,
                    text: format!(
                        "{} / {} {unit}{window}",
                        format::number(challenge.progress),
                        format::number(challenge.target)
                    ),
                }
            })
            .collect(),
        interests,
        actions: view
            .actions
            .iter()
            .map(|action| ActionLine {
                date: format::date(action.occurred_at),
                category: label(&action.category),
                association: action.association.clone().unwrap_or_else(|| action.association_id.clone()),
                tokens: format::number(action.tokens),
            })
            .collect(),
    }))
}

/// The interests form: every checked box is one `interet` field.
async fn save_interests(
    State(state): State<AppState>,
    form: Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let Some(Caller::Citizen(citizen_id)) = form.visitor.caller else { return Err(PageError::Login) };
    let interests: Vec<String> =
        form.value.into_iter().filter(|(key, _)| key == "interet").map(|(_, value)| value).collect();
    let request = routes::citizen::InterestsRequest { interests };
    let _saved =
        routes::citizen::set_interests(State(state), Citizen(citizen_id), crate::extract::ApiJson(request)).await?;
    Ok(Redirect::to("/moi/profil?enregistre=1").into_response())
}

struct MissionLine {
    title: String,
    association: String,
    starts: String,
    ends: String,
    neighbourhood: Option<String>,
    why: Option<String>,
}

#[derive(Template)]
#[template(path = "missions.html")]
struct MissionsPage {
    chrome: Chrome,
    missions: Vec<MissionLine>,
}

async fn missions(State(state): State<AppState>, page: CitizenPage) -> Result<Response, PageError> {
    caught_up(&state).await;
    let list = routes::missions::matching(State(state.clone()), Citizen(page.citizen_id), Consistent).await?.0;
    let missions = list
        .missions
        .into_iter()
        .map(|mission| MissionLine {
            title: mission.title,
            association: mission.association.unwrap_or(mission.association_id),
            starts: format::date(mission.starts_at),
            ends: format::date(mission.ends_at),
            neighbourhood: mission.neighbourhood,
            why: mission.why,
        })
        .collect();
    Ok(render(&MissionsPage { chrome: Chrome::new(&page.visitor, "Missions", "/moi/missions"), missions }))
}

struct DrawLine {
    draw_id: String,
    prize: String,
    status: String,
    closed: bool,
    when: String,
    participation: String,
    mine: Option<String>,
    can_enter: bool,
    gold_max: u64,
}

#[derive(Template)]
#[template(path = "draws.html")]
struct DrawsPage {
    chrome: Chrome,
    notice: Option<Notice>,
    gold: Option<String>,
    draws: Vec<DrawLine>,
}

#[derive(Deserialize)]
struct DrawsPageQuery {
    inscrit: Option<u64>,
    /// The error code of a refused entry, said above the draws.
    refus: Option<String>,
}

/// Every draw, with the citizen's tickets and a form to enter the open ones with gold tokens.
async fn draws(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<DrawsPageQuery>,
) -> Result<Response, PageError> {
    caught_up(&state).await;
    let api_query = routes::gold::DrawsQuery { after: None, limit: Some(100), min_position: None };
    let list = routes::gold::list(State(state.clone()), visitor.caller, ApiQuery(api_query), Consistent).await?.0;
    let gold = match visitor.caller {
        Some(Caller::Citizen(citizen_id)) => {
            Some(routes::citizen::wallet(State(state.clone()), Citizen(citizen_id), Consistent).await?.0.gold)
        }
        _ => None,
    };
    let draws = list
        .draws
        .into_iter()
        .map(|draw| {
            let closed = draw.status == "closed";
            DrawLine {
                status: match draw.status.as_str() {
                    "open" => "Ouvert",
                    "closing" => "Clôture en cours",
                    _ => "Clos",
                }
                .to_owned(),
                when: if closed {
                    format!("clos depuis le {}", format::date(draw.closes_at))
                } else {
                    format!("jusqu'au {}", format::date_time(draw.closes_at))
                },
                participation: format!(
                    "{} · {} · {}",
                    format::count(draw.entrants, "participant", "participants"),
                    format::count(draw.tickets, "ticket", "tickets"),
                    format::count(u64::from(draw.winners_count), "gagnant", "gagnants")
                ),
                mine: match (draw.my_tickets, draw.won) {
                    (_, Some(true)) => Some("Vous avez gagné !".to_owned()),
                    (Some(0) | None, _) => None,
                    (Some(tickets), _) => Some(format!("Vous jouez {}", format::count(tickets, "ticket", "tickets"))),
                },
                can_enter: draw.status == "open" && gold.is_some_and(|gold| gold > 0),
                gold_max: gold.unwrap_or(0),
                closed,
                draw_id: draw.draw_id,
                prize: draw.prize,
            }
        })
        .collect();
    let notice = match (query.inscrit, query.refus) {
        (_, Some(code)) => Some(Notice {
            kind: "alert",
            text: format!("Participation refusée : {}", crate::web::messages::french_for_code(&code)),
        }),
        (Some(tickets), None) => Some(Notice {
            kind: "ok",
            text: format!("C'est noté : {} pour ce tirage.", format::count(tickets, "ticket joué", "tickets joués")),
        }),
        (None, None) => None,
    };
    Ok(render(&DrawsPage {
        chrome: Chrome::new(&visitor, "Tirages au sort", "/tirages"),
        notice,
        gold: gold.map(|gold| format::count(gold, "jeton d'or", "jetons d'or")),
        draws,
    }))
}

#[derive(Deserialize)]
struct EntryForm {
    /// Text, so that an empty or malformed number is said on the page rather than refused as a form.
    tickets: String,
}

async fn enter_draw(
    State(state): State<AppState>,
    Path(draw_id): Path<String>,
    form: Form<EntryForm>,
) -> Result<Response, PageError> {
    let Some(Caller::Citizen(citizen_id)) = form.visitor.caller else { return Err(PageError::Login) };
    let Ok(tickets) = form.value.tickets.trim().parse::<u64>() else {
        return Ok(Redirect::to("/tirages?refus=validation_failed").into_response());
    };
    let request = routes::gold::EntryRequest { gold: tickets };
    let entered = routes::gold::enter(
        State(state),
        Citizen(citizen_id),
        crate::extract::ApiPath(draw_id),
        crate::extract::ApiJson(request),
    )
    .await;
    Ok(match entered {
        Ok(_) => Redirect::to(&format!("/tirages?inscrit={tickets}")).into_response(),
        Err(error) if error.status.is_client_error() => {
            Redirect::to(&format!("/tirages?refus={}", error.code)).into_response()
        }
        Err(error) => return Err(error.into()),
    })
}

struct ProofLine {
    position: i64,
    label: String,
    date: String,
}

#[derive(Template)]
#[template(path = "proofs.html")]
struct ProofsPage {
    chrome: Chrome,
    citizen_id: String,
    public_key: String,
    actions: Vec<ProofLine>,
    next: Option<usize>,
}

#[derive(Deserialize)]
struct ProofsQuery {
    apres: Option<usize>,
}

/// The citizen's certified actions, each checked in the browser against the latest checkpoint
/// (`proofs.js`).
async fn proofs(
    State(state): State<AppState>,
    page: CitizenPage,
    Query(query): Query<ProofsQuery>,
) -> Result<Response, PageError> {
    let (events, next) = routes::history::wallet_events(&state, page.citizen_id, query.apres, 50).await?;
    let labels = category_labels(&state);
    let actions = events
        .iter()
        .filter_map(|(position, event)| match event {
            ygor_ledger::wallet::WalletEvent::ActionCertified { category, occurred_at, .. } => Some(ProofLine {
                position: *position,
                label: labels.get(category.as_str()).cloned().unwrap_or_else(|| category.to_string()),
                date: format::date(*occurred_at),
            }),
            _ => None,
        })
        .collect();
    let chrome = Chrome::new(&page.visitor, "Mes preuves", "/moi/preuves").with_script("proofs.js");
    Ok(render(&ProofsPage {
        chrome,
        citizen_id: page.citizen_id.to_string(),
        public_key: state.territory_public_key().to_string(),
        actions,
        next,
    }))
}

#[derive(Deserialize)]
struct ProofQuery {
    position: i64,
    taille: Option<u64>,
}

/// The inclusion proof of one of the citizen's events, for `proofs.js` (the session's citizen
/// only, as `GET /v1/audit/proof` with the citizen's token).
async fn proof(
    State(state): State<AppState>,
    page: CitizenPage,
    Query(query): Query<ProofQuery>,
) -> Result<Response, crate::error::ApiError> {
    let api_query = routes::audit::ProofQuery { tree_size: query.taille, min_position: None };
    let answer = routes::audit::proof(
        State(state),
        Caller::Citizen(page.citizen_id),
        crate::extract::ApiPath(query.position),
        ApiQuery(api_query),
        Consistent,
    )
    .await?;
    Ok(answer.into_response())
}
