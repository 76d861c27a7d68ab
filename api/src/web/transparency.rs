//! `/transparence`, the public transparency page (no login): the circulation of tokens with its
//! conservation identity, participation by month and by category (small counts hidden), the gold
//! periods with their commitments and revealed seeds, the closed draws, and the latest signed
//! checkpoint, each with how to recompute it oneself.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use ygor_projections::participation::Dimension;

use crate::AppState;
use crate::extract::{ApiQuery, Consistent};
use crate::routes;
use crate::web::chart::{self, Bar};
use crate::web::citizen::caught_up;
use crate::web::format;
use crate::web::session::Visitor;
use crate::web::{Chrome, PageError, render};

/// Counts under this are shown as « < 5 » on the public page.
pub const PUBLIC_THRESHOLD: u64 = 5;

pub fn router() -> Router<AppState> {
    Router::new().route("/transparence", get(transparency))
}

/// A named figure of the circulation.
pub(crate) struct Figure {
    pub label: &'static str,
    pub value: String,
}

/// A row of a participation table, as shown.
pub(crate) struct Row {
    pub label: String,
    pub actions: String,
    pub citizens: String,
    pub tokens: String,
}

struct Period {
    period: u64,
    dates: String,
    commitment: String,
    seed: Option<String>,
}

struct ClosedDraw {
    draw_id: String,
    prize: String,
    closed: String,
    winners: String,
    tickets: String,
}

#[derive(Template)]
#[template(path = "transparence.html")]
struct TransparencyPage {
    chrome: Chrome,
    minted: String,
    identity: String,
    balanced: bool,
    figures: Vec<Figure>,
    months_chart: String,
    months: Vec<Row>,
    categories_chart: String,
    categories: Vec<Row>,
    periods: Vec<Period>,
    draws: Vec<ClosedDraw>,
    tree_size: String,
    root_hash: String,
    signed_at: String,
    public_key: String,
    threshold: u64,
}

/// « 2026-07 » as « juillet 2026 ».
pub(crate) fn month_label(key: &str) -> String {
    let parsed = chrono::NaiveDate::parse_from_str(&format!("{key}-15"), "%Y-%m-%d");
    match parsed {
        Ok(day) => {
            let date = format::date(day.and_hms_opt(12, 0, 0).map(|at| at.and_utc()).unwrap_or_default());
            date.split_once(' ').map(|(_, rest)| rest.to_owned()).unwrap_or(date)
        }
        Err(_) => key.to_owned(),
    }
}

/// The bars of a chart and the rows of its table; counts under `threshold` hidden (1: none). A
/// row whose actions or citizens are hidden hides its tokens too, and its bar is not drawn, since
/// either would give the hidden count back.
pub(crate) fn rows(
    rows: Vec<ygor_projections::participation::Row>,
    label: impl Fn(&str) -> String,
    threshold: u64,
) -> (Vec<Bar>, Vec<Row>) {
    let hidden = |count: u64| count > 0 && count < threshold;
    let mut bars = Vec::with_capacity(rows.len());
    let mut table = Vec::with_capacity(rows.len());
    for row in rows {
        let masked = hidden(row.actions) || hidden(row.citizens);
        bars.push(Bar {
            label: label(&row.key),
            value: if masked { 0 } else { row.actions },
            shown: chart::public_count(row.actions, threshold),
        });
        table.push(Row {
            label: label(&row.key),
            actions: chart::public_count(row.actions, threshold),
            citizens: chart::public_count(row.citizens, threshold),
            tokens: if masked { "masqué".to_owned() } else { format::number(row.tokens) },
        });
    }
    (bars, table)
}

async fn transparency(State(state): State<AppState>, visitor: Visitor) -> Result<Response, PageError> {
    caught_up(&state).await;
    let labels = crate::web::citizen::category_labels(&state);
    let (circulation, by_month, by_category) = state.projections().read(|models| {
        (
            models.circulation(),
            models.participation(Dimension::Month, None, None),
            models.participation(Dimension::Category, None, None),
        )
    });
    let mut by_month = by_month;
    by_month.sort_by(|a, b| a.key.cmp(&b.key));
    let recent = by_month.len().saturating_sub(12);
    let by_month: Vec<_> = by_month.into_iter().skip(recent).collect();
    let (month_bars, months) = rows(by_month, month_label, PUBLIC_THRESHOLD);
    let (category_bars, categories) =
        rows(by_category, |key| labels.get(key).cloned().unwrap_or_else(|| key.to_owned()), PUBLIC_THRESHOLD);
    let c = &circulation;
    let figures = circulation_figures(c);
    let periods = routes::gold::periods(State(state.clone()))
        .await
        .0
        .into_iter()
        .rev()
        .take(12)
        .map(|period| Period {
            period: period.period,
            dates: format!("du {} au {}", format::date(period.starts_at), format::date(period.ends_at)),
            commitment: period.commitment,
            seed: period.seed,
        })
        .collect();
    let query = routes::gold::DrawsQuery { after: None, limit: Some(100), min_position: None };
    let draws = routes::gold::list(State(state.clone()), None, ApiQuery(query), Consistent)
        .await?
        .0
        .draws
        .into_iter()
        .filter(|draw| draw.status == "closed")
        .map(|draw| ClosedDraw {
            closed: format::date(draw.closes_at),
            winners: format::count(u64::from(draw.winners_count), "gagnant", "gagnants"),
            tickets: format::count(draw.tickets, "ticket", "tickets"),
            draw_id: draw.draw_id,
            prize: draw.prize,
        })
        .collect();
    let checkpoint = routes::audit::checkpoint(State(state.clone()), Consistent).await?.0;
    let signed_at = chrono::DateTime::parse_from_rfc3339(&checkpoint.signed_at)
        .map(|at| format::date_time(at.with_timezone(&chrono::Utc)))
        .unwrap_or_else(|_| checkpoint.signed_at.clone());
    Ok(render(&TransparencyPage {
        chrome: Chrome::new(&visitor, "Transparence", "/transparence"),
        minted: format::tokens(c.minted.value()),
        identity: identity(c),
        balanced: balanced(c),
        figures,
        months_chart: chart::bars("Actions certifiées par mois", &month_bars),
        months,
        categories_chart: chart::bars("Actions certifiées par catégorie", &category_bars),
        categories,
        periods,
        draws,
        tree_size: format::count(checkpoint.tree_size, "événement", "événements"),
        root_hash: checkpoint.root_hash,
        signed_at,
        public_key: checkpoint.public_key,
        threshold: PUBLIC_THRESHOLD,
    }))
}

/// « 1 000 000 = 990 000 + 8 000 + 1 900 + 100 »: minted = treasury + envelopes + wallets + to settle.
pub(crate) fn identity(c: &ygor_ledger::books::Circulation) -> String {
    format!(
        "{} = {} + {} + {} + {}",
        format::number(c.minted.value()),
        format::number(c.treasury.value()),
        format::number(c.envelopes.value()),
        format::number(c.wallets.value()),
        format::number(c.redeemed_unsettled.value())
    )
}

/// Whether the conservation identity holds.
pub(crate) fn balanced(c: &ygor_ledger::books::Circulation) -> bool {
    c.treasury.value() + c.envelopes.value() + c.wallets.value() + c.redeemed_unsettled.value() == c.minted.value()
}

/// The circulation's figures, in the order a reader follows a token.
pub(crate) fn circulation_figures(c: &ygor_ledger::books::Circulation) -> Vec<Figure> {
    vec![
        Figure { label: "En trésorerie de la collectivité", value: format::tokens(c.treasury.value()) },
        Figure { label: "Dans les enveloppes des associations", value: format::tokens(c.envelopes.value()) },
        Figure { label: "Dans les portefeuilles des citoyens", value: format::tokens(c.wallets.value()) },
        Figure { label: "Dépensés, à rembourser aux lieux", value: format::tokens(c.redeemed_unsettled.value()) },
        Figure { label: "Distribués depuis le début", value: format::tokens(c.issued.value()) },
        Figure { label: "Dépensés dans les lieux partenaires", value: format::tokens(c.redeemed.value()) },
        Figure { label: "Expirés et repris", value: format::tokens(c.expired.value()) },
        Figure { label: "Jetons d'or gagnés", value: format::number(c.gold_issued) },
    ]
}
