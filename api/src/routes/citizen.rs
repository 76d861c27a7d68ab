//! The citizen's endpoints: wallet, profile and interests (vouchers are with the offers); and the
//! lookup of a citizen by the code they read out at a partner's desk.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, put};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use ygor_ledger::wallet::Holdings;
use ygor_projections::profiles::Measure;

use super::now;
use crate::AppState;
use crate::auth::{Caller, Citizen};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, Consistent};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/me/wallet", get(wallet))
        .route("/v1/me/profile", get(profile))
        .route("/v1/me/interests", put(set_interests))
        .route("/v1/citizens/lookup", get(lookup))
        .merge(super::history::router())
}

#[derive(Serialize, ToSchema)]
pub struct LotView {
    pub lot_id: String,
    pub amount: u64,
    pub remaining: u64,
    /// `standard` (gold tokens are counted in `gold`).
    pub kind: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub action_id: String,
    /// Past `expires_at`: no longer spendable, whether or not the sweep has run.
    pub expired: bool,
}

#[derive(Serialize, ToSchema)]
pub struct WalletView {
    pub citizen_id: String,
    /// Tokens in lots not yet expired.
    pub balance: u64,
    pub gold: u64,
    /// Lots in the order they will be spent (earliest expiry first).
    pub lots: Vec<LotView>,
    /// The log position this view includes.
    pub position: i64,
}

/// The citizen's wallet: balance, gold and lots with their expiry.
#[utoipa::path(get, path = "/v1/me/wallet", tag = "citizen", params(("min_position" = Option<i64>, Query)),
    responses((status = 200, body = WalletView)), security(("bearer" = [])))]
pub async fn wallet(
    State(state): State<AppState>,
    Citizen(citizen_id): Citizen,
    _consistent: Consistent,
) -> Result<axum::Json<WalletView>, ApiError> {
    let at = now();
    let view = state.projections().read(|models| {
        let wallet = models.wallets.get(&citizen_id);
        let mut lots: Vec<LotView> = wallet
            .map(|wallet| {
                wallet
                    .lots()
                    .iter()
                    .filter(|lot| !lot.swept)
                    .map(|lot| LotView {
                        lot_id: lot.lot_id.to_string(),
                        amount: lot.amount.value(),
                        remaining: lot.remaining.value(),
                        kind: "standard".to_owned(),
                        issued_at: lot.issued_at,
                        expires_at: lot.expires_at,
                        action_id: lot.action_id.to_string(),
                        expired: lot.expires_at <= at,
                    })
                    .collect()
            })
            .unwrap_or_default();
        lots.sort_by(|a, b| (a.expires_at, a.issued_at, &a.lot_id).cmp(&(b.expires_at, b.issued_at, &b.lot_id)));
        WalletView {
            citizen_id: citizen_id.to_string(),
            balance: wallet.map(|wallet| wallet.spendable(at).value()).unwrap_or(0),
            gold: wallet.map(Holdings::gold).unwrap_or(0),
            lots,
            position: models.position,
        }
    });
    Ok(axum::Json(view))
}

#[derive(Serialize, ToSchema)]
pub struct ProfileActionView {
    pub action_id: String,
    pub category: String,
    pub occurred_at: DateTime<Utc>,
    pub association_id: String,
    pub association: Option<String>,
    pub quantity: u64,
    pub tokens: u64,
}

#[derive(Serialize, ToSchema)]
pub struct BadgeView {
    pub id: String,
    pub label: String,
    pub category: String,
    /// 1 for the first badge of its category, 2 for the next threshold, ...
    pub level: u32,
    pub awarded_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct LevelView {
    pub category: String,
    pub level: u32,
    pub badge_id: String,
}

/// A badge still to earn and how far the citizen is from it ("32 / 50 km").
#[derive(Serialize, ToSchema)]
pub struct ChallengeView {
    pub badge_id: String,
    pub label: String,
    pub category: String,
    /// Counted actions, or the sum of their quantities, within the window.
    pub progress: u64,
    pub target: u64,
    /// `actions`, or the category's unit for a quantity (`unités` when it has none).
    pub unit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
}

/// What a quantity is counted in when its category names no unit.
pub const DEFAULT_UNIT: &str = "unités";

#[derive(Serialize, ToSchema)]
pub struct ProfileView {
    pub citizen_id: String,
    /// 8 characters of Crockford's base32 the citizen reads out at a partner's desk.
    pub citizen_code: String,
    /// Every certified action of general interest (revoked ones excluded), most recent first.
    pub actions: Vec<ProfileActionView>,
    pub badges: Vec<BadgeView>,
    /// The level reached in each category with badges.
    pub levels: Vec<LevelView>,
    /// The badges of the rules in force still to earn, closest to done first.
    pub challenges: Vec<ChallengeView>,
    pub interests: Vec<String>,
    pub position: i64,
}

/// The citizen's registry of actions, badges, levels and interests.
#[utoipa::path(get, path = "/v1/me/profile", tag = "citizen", params(("min_position" = Option<i64>, Query)),
    responses((status = 200, body = ProfileView)), security(("bearer" = [])))]
pub async fn profile(
    State(state): State<AppState>,
    Citizen(citizen_id): Citizen,
    _consistent: Consistent,
) -> Result<axum::Json<ProfileView>, ApiError> {
    let at = now();
    let citizen_code = state.engine().citizen_code(citizen_id, ygor_crypto::random_short_code).await?;
    let view = state.projections().read(|models| {
        let names = models.association_names();
        let empty = ygor_projections::profiles::Profile::default();
        let profile = models.profiles.profiles.get(&citizen_id).unwrap_or(&empty);
        let mut actions: Vec<ProfileActionView> = profile
            .counted()
            .map(|action| ProfileActionView {
                action_id: action.action_id.to_string(),
                category: models.profiles.category(action).to_string(),
                occurred_at: action.occurred_at,
                association_id: models.profiles.association(action).to_string(),
                association: names.get(&models.profiles.association(action)).cloned(),
                quantity: action.quantity,
                tokens: action.tokens.value(),
            })
            .collect();
        actions.sort_by(|a, b| b.occurred_at.cmp(&a.occurred_at).then_with(|| a.action_id.cmp(&b.action_id)));
        ProfileView {
            citizen_id: citizen_id.to_string(),
            citizen_code,
            actions,
            badges: profile
                .badges
                .iter()
                .map(|badge| BadgeView {
                    id: badge.id.clone(),
                    label: badge.label.clone(),
                    category: badge.category.clone(),
                    level: badge.level,
                    awarded_at: badge.awarded_at,
                })
                .collect(),
            levels: profile
                .levels()
                .into_iter()
                .map(|(category, level, badge_id)| LevelView { category, level, badge_id })
                .collect(),
            challenges: models
                .rules
                .as_ref()
                .map(|rules| models.profiles.challenges(profile, rules, at))
                .unwrap_or_default()
                .into_iter()
                .map(|challenge| ChallengeView {
                    badge_id: challenge.badge.id.clone(),
                    label: challenge.badge.label.clone(),
                    category: challenge.badge.category.clone(),
                    progress: challenge.progress,
                    target: challenge.target,
                    unit: match challenge.measure {
                        Measure::Actions => "actions",
                        Measure::Quantity { unit } => unit.unwrap_or(DEFAULT_UNIT),
                    }
                    .to_owned(),
                    from: challenge.badge.from,
                    to: challenge.badge.to,
                })
                .collect(),
            interests: profile.interests.iter().map(ToString::to_string).collect(),
            position: models.position,
        }
    });
    Ok(axum::Json(view))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InterestsRequest {
    /// Category ids (at most 32).
    pub interests: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct InterestsAnswer {
    pub interests: Vec<String>,
    pub position: i64,
}

/// Replaces the citizen's interests (used to match missions).
#[utoipa::path(put, path = "/v1/me/interests", tag = "citizen", request_body = InterestsRequest,
    responses((status = 200, body = InterestsAnswer)), security(("bearer" = [])))]
pub async fn set_interests(
    State(state): State<AppState>,
    Citizen(citizen_id): Citizen,
    ApiJson(request): ApiJson<InterestsRequest>,
) -> Result<axum::Json<InterestsAnswer>, ApiError> {
    let interests = super::missions::categories(&request.interests, 32)?;
    let committed = state.engine().set_interests(citizen_id, interests.clone(), now()).await?;
    Ok(axum::Json(InterestsAnswer {
        interests: interests.iter().map(ToString::to_string).collect(),
        position: committed.position,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct LookupQuery {
    /// The citizen's code as typed: 8 characters of Crockford's base32; lower case, hyphens,
    /// spaces and the look-alikes I, L (for 1) and O (for 0) are accepted.
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct CitizenFound {
    pub citizen_id: String,
}

/// The citizen a code names, for a partner's desk (association, venue or admin token).
#[utoipa::path(get, path = "/v1/citizens/lookup", tag = "citizen", params(LookupQuery),
    responses((status = 200, body = CitizenFound), (status = 404, description = "not_found: no citizen has this code", body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn lookup(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<LookupQuery>,
) -> Result<axum::Json<CitizenFound>, ApiError> {
    if let Caller::Citizen(_) = caller {
        return Err(ApiError::forbidden(
            "this needs a partner's or the admin token: a citizen reads their own code in their profile",
        ));
    }
    let code = ygor_crypto::read_short_code(&query.code).ok_or_else(|| {
        ApiError::validation(
            "code must be 8 characters of the citizen code's alphabet (digits and letters but U), such as 7K3F-Q9RD",
        )
    })?;
    let citizen_id = state
        .log()
        .citizen_with_code(&code)
        .await?
        .ok_or_else(|| ApiError::not_found("no citizen has this code: check it with the citizen"))?;
    Ok(axum::Json(CitizenFound { citizen_id }))
}
