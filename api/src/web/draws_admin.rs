//! The collectivity's draws page (admin session): every draw with its status, entrants and
//! tickets; a form that creates a draw committed to its seed; closing a draw once its closing
//! time has passed (the engine refuses it before, `draw_open`); and, for a closed draw, its
//! winners with what lets anyone check them: the revealed seed, its commitment, the entries'
//! root and the public JSON of `/v1/draws/{id}`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use serde::Deserialize;

use crate::AppState;
use crate::auth::Caller;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Consistent};
use crate::routes;
use crate::routes::gold::{CloseRequest, DrawRequest, DrawsQuery, WINNERS_MAX};
use crate::web::citizen::caught_up;
use crate::web::messages::french;
use crate::web::session::admin_of;
use crate::web::session::{CollectivityPage, Form, Visitor};
use crate::web::{Chrome, Notice, PageError, format, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/collectivite/tirages", get(draws).post(create))
        .route("/collectivite/tirages/{draw_id}/clore", post(close))
}

/// Longest prize description, as the API accepts it.
const PRIZE_MAX: usize = 200;
/// Draws shown on one page.
const PAGE_LEN: usize = 50;
/// Winners named on the page for one draw; the public JSON names them all.
const WINNERS_SHOWN: usize = 100;

/// A draw as the table shows it.
struct DrawLine {
    draw_id: String,
    prize: String,
    /// « ouvert », « à clore » (past its closing time) or « clos ».
    status: &'static str,
    status_tag: &'static str,
    closes: String,
    entrants: String,
    tickets: String,
    winners_count: String,
    /// Past its closing time and not drawn yet: the line has a « Clore le tirage » button.
    closable: bool,
}

/// A closed draw's result, with what lets anyone check it.
struct DrawResult {
    draw_id: String,
    prize: String,
    /// Each winner's citizen code, or their id when they have no code (the first
    /// [`WINNERS_SHOWN`]).
    winners: Vec<String>,
    /// Winners left out of `winners`.
    more_winners: usize,
    seed: String,
    commitment: String,
    entries_root: String,
}

/// The creation form's values and what is wrong with each.
struct DrawDraft {
    draw_id: String,
    prize: String,
    day: String,
    time: String,
    winners: String,
    prize_error: Option<String>,
    closes_error: Option<String>,
    winners_error: Option<String>,
}

impl DrawDraft {
    /// An empty form with a new draw id, so that sending it twice creates one draw.
    fn new() -> Self {
        DrawDraft {
            draw_id: uuid::Uuid::new_v4().to_string(),
            prize: String::new(),
            day: String::new(),
            time: "18:00".to_owned(),
            winners: "1".to_owned(),
            prize_error: None,
            closes_error: None,
            winners_error: None,
        }
    }
}

#[derive(Template)]
#[template(path = "tirages_admin.html")]
struct DrawsPage {
    chrome: Chrome,
    notice: Option<Notice>,
    lines: Vec<DrawLine>,
    results: Vec<DrawResult>,
    next: Option<usize>,
    draft: DrawDraft,
    /// Today in the pages' time zone, the earliest closing day the date field offers.
    today: String,
}

async fn draws_page(
    state: &AppState,
    visitor: &Visitor,
    after: Option<usize>,
    notice: Option<Notice>,
    draft: DrawDraft,
) -> Result<Response, PageError> {
    caught_up(state).await;
    let query = DrawsQuery { after, limit: Some(PAGE_LEN), min_position: None };
    let listed = routes::gold::list(State(state.clone()), Some(Caller::Admin), ApiQuery(query), Consistent).await?.0;
    let mut lines = Vec::new();
    let mut results = Vec::new();
    for draw in listed.draws {
        let (status, status_tag) = match draw.status.as_str() {
            "closed" => ("clos", "tag--muted"),
            "closing" => ("à clore", "tag--gold"),
            _ => ("ouvert", ""),
        };
        if draw.status == "closed" {
            let shown = routes::gold::show(State(state.clone()), ApiPath(draw.draw_id.clone()), Consistent).await?.0;
            let all = shown.winners.unwrap_or_default();
            let more_winners = all.len().saturating_sub(WINNERS_SHOWN);
            let mut winners = Vec::new();
            for winner in all.into_iter().take(WINNERS_SHOWN) {
                let code = state.log().citizen_code(&winner).await.map_err(PageError::store)?;
                winners.push(code.unwrap_or(winner));
            }
            results.push(DrawResult {
                draw_id: draw.draw_id.clone(),
                prize: draw.prize.clone(),
                winners,
                more_winners,
                seed: shown.seed.unwrap_or_default(),
                commitment: shown.commitment,
                entries_root: shown.entries_root.unwrap_or_default(),
            });
        }
        lines.push(DrawLine {
            closable: draw.status == "closing",
            status,
            status_tag,
            closes: format::date_time(draw.closes_at),
            entrants: format::number(draw.entrants),
            tickets: format::number(draw.tickets),
            winners_count: format::number(u64::from(draw.winners_count)),
            draw_id: draw.draw_id,
            prize: draw.prize,
        });
    }
    let today = Utc::now().with_timezone(&format::TIME_ZONE).date_naive().format("%Y-%m-%d").to_string();
    Ok(render(&DrawsPage {
        chrome: Chrome::new(visitor, "Tirages", "/collectivite/tirages"),
        notice,
        lines,
        results,
        next: listed.next,
        draft,
        today,
    }))
}

/// The page again with `notice` above it, as `status`.
async fn refused_page(
    state: &AppState,
    visitor: &Visitor,
    text: String,
    draft: DrawDraft,
    status: StatusCode,
) -> Result<Response, PageError> {
    let notice = Some(Notice { kind: "alert", text });
    let mut response = draws_page(state, visitor, None, notice, draft).await?;
    *response.status_mut() = status;
    Ok(response)
}

#[derive(Deserialize, Default)]
struct DrawsPageQuery {
    apres: Option<usize>,
    cree: Option<String>,
    clos: Option<String>,
}

async fn draws(
    State(state): State<AppState>,
    page: CollectivityPage,
    Query(query): Query<DrawsPageQuery>,
) -> Result<Response, PageError> {
    let notice = if query.cree.is_some() {
        Some(Notice {
            kind: "ok",
            text: "Tirage créé : son engagement est publié, les citoyens peuvent y participer avec leurs jetons d'or."
                .to_owned(),
        })
    } else if query.clos.is_some() {
        Some(Notice {
            kind: "ok",
            text: "Tirage clos : les gagnants sont tirés au sort et la graine est révélée.".to_owned(),
        })
    } else {
        None
    };
    draws_page(&state, &page.visitor, query.apres, notice, DrawDraft::new()).await
}

#[derive(Deserialize)]
struct DrawForm {
    #[serde(default)]
    draw_id: String,
    #[serde(default)]
    prize: String,
    #[serde(default)]
    day: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    winners: String,
}

/// A day (`2026-07-12`) and a time (`18:00` or `18:00:30`) typed in the form, in the pages' time
/// zone.
fn closing_time(day: &str, time: &str) -> Option<DateTime<Utc>> {
    let day = NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d").ok()?;
    let time = time.trim();
    let time =
        NaiveTime::parse_from_str(time, "%H:%M:%S").or_else(|_| NaiveTime::parse_from_str(time, "%H:%M")).ok()?;
    format::TIME_ZONE.from_local_datetime(&day.and_time(time)).earliest().map(|at| at.with_timezone(&Utc))
}

/// The form's values checked field by field, in French; the API checks them again.
fn checked_draw(form: &DrawForm, now: DateTime<Utc>) -> (DrawDraft, Option<DrawRequest>) {
    let mut draft = DrawDraft {
        draw_id: form.draw_id.clone(),
        prize: form.prize.clone(),
        day: form.day.clone(),
        time: form.time.clone(),
        winners: form.winners.clone(),
        prize_error: None,
        closes_error: None,
        winners_error: None,
    };
    if ygor_ledger::DrawId::parse(&draft.draw_id).is_err() {
        // The hidden field was not the one the page sent: start again with a new one.
        draft.draw_id = uuid::Uuid::new_v4().to_string();
    }
    let prize = draft.prize.trim();
    if prize.is_empty() {
        draft.prize_error = Some("Indiquez le lot à gagner.".to_owned());
    } else if prize.chars().count() > PRIZE_MAX {
        draft.prize_error = Some(format!("Le lot se décrit en {PRIZE_MAX} caractères au plus."));
    } else if prize.chars().any(char::is_control) {
        draft.prize_error = Some("Le lot ne peut pas contenir de caractères de contrôle.".to_owned());
    }
    let closes_at = closing_time(&draft.day, &draft.time);
    match closes_at {
        None => {
            draft.closes_error =
                Some("Indiquez le jour et l'heure de clôture, par exemple 31/12/2026 à 18:00.".to_owned())
        }
        Some(at) if at <= now => {
            draft.closes_error =
                Some("La clôture doit être dans le futur : les citoyens participent jusqu'à elle.".to_owned())
        }
        Some(_) => {}
    }
    let winners = match draft.winners.trim().parse::<u32>() {
        Ok(count) if (1..=WINNERS_MAX).contains(&count) => Some(count),
        _ => {
            draft.winners_error =
                Some(format!("Indiquez un nombre entier de gagnants, de 1 à {}.", format::number(WINNERS_MAX.into())));
            None
        }
    };
    let request = match (closes_at, winners) {
        (Some(closes_at), Some(winners)) if draft.prize_error.is_none() && draft.closes_error.is_none() => {
            Some(DrawRequest { draw_id: draft.draw_id.clone(), prize: prize.to_owned(), closes_at, winners })
        }
        _ => None,
    };
    (draft, request)
}

async fn create(State(state): State<AppState>, form: Form<DrawForm>) -> Result<Response, PageError> {
    let admin = admin_of(&form.visitor)?;
    let (draft, request) = checked_draw(&form.value, Utc::now());
    let Some(request) = request else {
        let text = "Le tirage n'est pas créé : corrigez les champs signalés.".to_owned();
        return refused_page(&state, &form.visitor, text, draft, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    match routes::gold::draw_created(&state, admin, request).await {
        Ok(_) => Ok(Redirect::to("/collectivite/tirages?cree=1").into_response()),
        Err(error) if error.status.is_client_error() => {
            let text = format!("Le tirage n'est pas créé. {}", french(&error));
            refused_page(&state, &form.visitor, text, draft, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(error) => Err(error.into()),
    }
}

async fn close(
    State(state): State<AppState>,
    Path(draw_id): Path<String>,
    form: Form<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let admin = admin_of(&form.visitor)?;
    let path = ApiPath(draw_id.clone());
    match routes::gold::close(State(state.clone()), admin, path, ApiJson(CloseRequest {})).await {
        Ok(_) => Ok(Redirect::to(&format!("/collectivite/tirages?clos={draw_id}")).into_response()),
        Err(error) if error.status.is_client_error() => {
            let detail = match error.code {
                "draw_open" => " Il pourra être clos une fois passée sa date de clôture.".to_owned(),
                _ => String::new(),
            };
            let text = format!("Le tirage n'est pas clos. {}{detail}", french(&error));
            refused_page(&state, &form.visitor, text, DrawDraft::new(), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(error) => Err(error.into()),
    }
}
