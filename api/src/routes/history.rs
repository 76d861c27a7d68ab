//! The citizen's history: everything that happened to their wallet, newest first, page by page.
//!
//! The wallet's own events are read from the log, newest first, a page at a time
//! (`EventLog::stream_newest_first`), so that a long history is never held in memory; the names
//! they show (associations, venues, draws' prizes) come from the read models. A won draw is not
//! an event of the winner's wallet: it is shown where it happened, between the wallet's events
//! whose log positions surround the event that closed the draw (`ReadModels::draws_won`), and on
//! the `tickets_entered` items of that draw.
//!
//! The cursor is the wallet's own event sequence: the `next` of a page is the sequence of its
//! last wallet event, and the next page holds the events before it, so that events recorded
//! between two requests never shift a page.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use ygor_ledger::codec::Versioned;
use ygor_ledger::wallet::WalletEvent;
use ygor_ledger::{AnyEvent, CitizenId, PartnerId};
use ygor_projections::ReadModels;
use ygor_store::{Position, RecordedEvent};

use crate::AppState;
use crate::auth::Citizen;
use crate::error::ApiError;
use crate::extract::{ApiQuery, Consistent};

/// Most wallet events one page holds, and how many it holds unless told.
pub const HISTORY_LIMIT_MAX: usize = 200;
pub const HISTORY_LIMIT_DEFAULT: usize = 50;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/me/history", get(history))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct HistoryQuery {
    /// The `next` of the previous page; the first page without it.
    pub after: Option<u64>,
    /// Wallet events on the page, 1 to 200 (default 50).
    pub limit: Option<usize>,
    pub min_position: Option<i64>,
}

/// One thing that happened to the wallet. `kind` is a stable code (the pages translate it);
/// `tokens` always counts tokens that moved, in or out as `kind` says.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HistoryItem {
    /// The citizen was registered: the oldest item.
    Registered { at: DateTime<Utc> },
    /// A certified action credited the wallet (`tokens` may be 0 over a monthly cap).
    Earned {
        at: DateTime<Utc>,
        action_id: String,
        category: String,
        association_id: String,
        association: Option<String>,
        tokens: u64,
        /// When the lot these tokens are in expires; absent when the action earned none.
        #[serde(skip_serializing_if = "Option::is_none")]
        expires_at: Option<DateTime<Utc>>,
        /// Whether the action also earned a gold token.
        gold: bool,
    },
    /// Tokens redeemed at a venue.
    Spent {
        at: DateTime<Utc>,
        redemption_id: String,
        venue_id: String,
        venue: Option<String>,
        tokens: u64,
        /// The offer redeemed, when the venue named one, and its title.
        #[serde(skip_serializing_if = "Option::is_none")]
        offer_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        offer: Option<String>,
    },
    /// Tokens past their lot's expiry, taken back by the sweep.
    Expired { at: DateTime<Utc>, tokens: u64 },
    /// A certification withdrawn by its association: its unspent tokens went back.
    Revoked {
        at: DateTime<Utc>,
        action_id: String,
        association_id: String,
        association: Option<String>,
        /// The tokens returned to the association.
        tokens: u64,
        /// Whether the gold token the action had earned was taken back.
        gold: bool,
        reason: String,
    },
    /// Gold tokens spent as tickets in a draw.
    TicketsEntered {
        at: DateTime<Utc>,
        draw_id: String,
        prize: Option<String>,
        tickets: u64,
        /// Once the draw is closed: whether the citizen is among its winners.
        #[serde(skip_serializing_if = "Option::is_none")]
        won: Option<bool>,
    },
    /// The citizen won a draw (`at`: when it was closed).
    DrawWon { at: DateTime<Utc>, draw_id: String, prize: String },
}

#[derive(Serialize, ToSchema)]
pub struct HistoryView {
    /// Newest first.
    pub history: Vec<HistoryItem>,
    /// The cursor of the next page (`?after=`), absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
    /// The position of the read models the names come from.
    pub position: i64,
}

/// Everything that happened to the citizen's wallet, newest first, page by page.
#[utoipa::path(get, path = "/v1/me/history", tag = "citizen", params(HistoryQuery),
    responses((status = 200, body = HistoryView)), security(("bearer" = [])))]
pub async fn history(
    State(state): State<AppState>,
    Citizen(citizen_id): Citizen,
    ApiQuery(query): ApiQuery<HistoryQuery>,
    _consistent: Consistent,
) -> Result<axum::Json<HistoryView>, ApiError> {
    let limit = query.limit.unwrap_or(HISTORY_LIMIT_DEFAULT);
    if !(1..=HISTORY_LIMIT_MAX).contains(&limit) {
        return Err(ApiError::validation(format!("limit must be from 1 to {HISTORY_LIMIT_MAX}")));
    }
    let after = match query.after {
        None => None,
        Some(0) => return Err(ApiError::validation("after must be the `next` of a page, a whole number ≥ 1")),
        Some(after) => Some(usize::try_from(after).map_err(|_| ApiError::validation("after is too large"))?),
    };
    let page = read_page(&state, citizen_id, after, limit).await?;
    let view = state.projections().read(|models| HistoryView {
        history: page.items(citizen_id, models),
        next: page.next.map(|sequence| sequence as u64),
        position: models.position,
    });
    Ok(axum::Json(view))
}

/// The wallet events of one page, newest first, decoded.
struct Page {
    /// Each with its log position.
    events: Vec<(Position, WalletEvent)>,
    /// The log position of the wallet event just newer than the page's first (the previous
    /// page's last), if there is one: the won draws above the first event stop there.
    newer: Option<Position>,
    /// The sequence to read on from, when older events remain.
    next: Option<usize>,
}

/// Reads up to `limit` wallet events that are history items, with a sequence below `after`.
async fn read_page(
    state: &AppState,
    citizen_id: CitizenId,
    after: Option<usize>,
    limit: usize,
) -> Result<Page, ApiError> {
    let stream = citizen_id.to_string();
    let mut page = Page { events: Vec::with_capacity(limit), newer: None, next: None };
    // The cursor's own event comes first, for its position.
    let mut before = after.map(|after| after + 1);
    loop {
        let recorded = state.log().stream_newest_first(WalletEvent::AGGREGATE_TYPE, &stream, before, limit + 1).await?;
        for event in &recorded {
            let sequence = event.event.sequence;
            before = Some(sequence);
            if Some(sequence) == after {
                page.newer = Some(event.position);
                continue;
            }
            let wallet_event = decode(event)?;
            if shown(&wallet_event) {
                page.events.push((event.position, wallet_event));
                if page.events.len() == limit {
                    // The registration, sequence 1, is always shown: a page that stops above it
                    // has a next one.
                    page.next = (sequence > 1).then_some(sequence);
                    return Ok(page);
                }
            }
        }
        if recorded.len() < limit + 1 {
            // The stream's first event was read: no page after this one.
            return Ok(page);
        }
    }
}

/// A page of the wallet's events (interests left out), newest first, each with its log position,
/// and the cursor of the next page: what the proofs page lists.
pub(crate) async fn wallet_events(
    state: &AppState,
    citizen_id: CitizenId,
    after: Option<usize>,
    limit: usize,
) -> Result<(Vec<(Position, WalletEvent)>, Option<usize>), ApiError> {
    let page = read_page(state, citizen_id, after, limit).await?;
    Ok((page.events, page.next))
}

fn decode(recorded: &RecordedEvent) -> Result<WalletEvent, ApiError> {
    match ygor_ledger::codec::decode_serialized(&recorded.event) {
        Ok(AnyEvent::Wallet(_, event)) => Ok(event),
        Ok(other) => {
            tracing::error!(position = recorded.position, ?other, "a wallet stream holds another aggregate's event");
            Err(ApiError::internal())
        }
        Err(error) => {
            tracing::error!(position = recorded.position, %error, "a wallet event does not decode");
            Err(ApiError::internal())
        }
    }
}

/// Whether an event of the wallet is part of its history: changes of interests are not.
fn shown(event: &WalletEvent) -> bool {
    !matches!(event, WalletEvent::InterestsChanged { .. })
}

impl Page {
    /// The page's items, newest first: each wallet event, preceded by the draws the citizen won
    /// between it and the wallet event just newer.
    fn items(&self, citizen_id: CitizenId, models: &ReadModels) -> Vec<HistoryItem> {
        let wins = models.draws_won.get(&citizen_id);
        let mut items = Vec::with_capacity(self.events.len());
        let mut newer = self.newer;
        for (position, event) in &self.events {
            for (_, draw_id) in wins
                .into_iter()
                .flatten()
                .rev()
                .filter(|(closed, _)| closed > position && newer.is_none_or(|newer| *closed < newer))
            {
                let draw = models.draws.get(draw_id);
                if let (Some(terms), Some(result)) =
                    (draw.and_then(|draw| draw.terms()), draw.and_then(|draw| draw.result()))
                {
                    items.push(HistoryItem::DrawWon {
                        at: result.closed_at,
                        draw_id: draw_id.to_string(),
                        prize: terms.prize.clone(),
                    });
                }
            }
            newer = Some(*position);
            if let Some(item) = item(citizen_id, event, models) {
                items.push(item);
            }
        }
        items
    }
}

/// The history item of one wallet event, named from the read models.
fn item(citizen_id: CitizenId, event: &WalletEvent, models: &ReadModels) -> Option<HistoryItem> {
    let name = |partner: &PartnerId| models.partners.get(partner).map(|(_, name)| name.clone());
    Some(match event {
        WalletEvent::CitizenRegistered { registered_at, .. } => HistoryItem::Registered { at: *registered_at },
        WalletEvent::InterestsChanged { .. } => return None,
        WalletEvent::ActionCertified {
            action_id, association_id, category, tokens, lot, gold, certified_at, ..
        } => HistoryItem::Earned {
            at: *certified_at,
            action_id: action_id.to_string(),
            category: category.to_string(),
            association_id: association_id.to_string(),
            association: name(association_id),
            tokens: tokens.value(),
            expires_at: lot.as_ref().map(|lot| lot.expires_at),
            gold: *gold,
        },
        WalletEvent::TokensRedeemed { redemption_id, venue_id, amount, redeemed_at, .. } => {
            // The offer is in the venue's record of the redemption, not in the wallet's event;
            // recent redemptions are at the end of the venue's list.
            let offer_id = models.venues.venues.get(venue_id).and_then(|book| {
                book.redemptions.iter().rev().find(|view| view.redemption_id == *redemption_id)?.offer_id
            });
            HistoryItem::Spent {
                at: *redeemed_at,
                redemption_id: redemption_id.to_string(),
                venue_id: venue_id.to_string(),
                venue: name(venue_id),
                tokens: amount.value(),
                offer_id: offer_id.map(|offer_id| offer_id.to_string()),
                offer: offer_id
                    .and_then(|offer_id| models.offers.offers.get(&offer_id))
                    .map(|offer| offer.terms.title.clone()),
            }
        }
        WalletEvent::TokensExpired { amount, swept_at, .. } => {
            HistoryItem::Expired { at: *swept_at, tokens: amount.value() }
        }
        WalletEvent::CertificationRevoked {
            action_id,
            association_id,
            returned,
            gold_taken_back,
            reason,
            revoked_at,
            ..
        } => HistoryItem::Revoked {
            at: *revoked_at,
            action_id: action_id.to_string(),
            association_id: association_id.to_string(),
            association: name(association_id),
            tokens: returned.value(),
            gold: *gold_taken_back,
            reason: reason.clone(),
        },
        WalletEvent::GoldSpent { draw_id, tickets, spent_at } => {
            let draw = models.draws.get(draw_id);
            HistoryItem::TicketsEntered {
                at: *spent_at,
                draw_id: draw_id.to_string(),
                prize: draw.and_then(|draw| draw.terms()).map(|terms| terms.prize.clone()),
                tickets: *tickets,
                won: draw.and_then(|draw| draw.result()).map(|result| result.winners.contains(&citizen_id)),
            }
        }
    })
}
