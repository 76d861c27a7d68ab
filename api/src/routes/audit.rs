//! The audit log: the export of events, signed checkpoints, inclusion and consistency proofs
//! (RFC 9162; see docs/audit.md).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use ygor_audit::SignedCheckpoint;

use super::now;
use crate::AppState;
use crate::auth::{Admin, Caller};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Consistent};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/audit/events", get(events))
        .route("/v1/audit/checkpoint", get(checkpoint))
        .route("/v1/audit/checkpoints", post(record_checkpoint))
        .route("/v1/audit/proof/{position}", get(proof))
        .route("/v1/audit/consistency", get(consistency))
}

#[derive(Deserialize, IntoParams)]
pub struct EventsQuery {
    /// Events after this position (default 0).
    pub after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct EventsPage {
    /// In position order; each is the exact object whose JCS form is its Merkle leaf.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<ygor_audit::ExportedEvent>,
}

/// Exports events in position order (admin).
#[utoipa::path(get, path = "/v1/audit/events", tag = "audit", params(EventsQuery),
    responses((status = 200, body = EventsPage)), security(("bearer" = [])))]
pub async fn events(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<axum::Json<EventsPage>, ApiError> {
    let after = query.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::validation("after must be ≥ 0"));
    }
    let limit = super::page_limit(query.limit)?;
    let page = state.log().read_after(after, limit).await?;
    Ok(axum::Json(EventsPage { events: page.iter().map(ygor_projections::audit::exported).collect() }))
}

/// Signs a checkpoint over the tree the read models have applied.
fn sign_current(state: &AppState) -> Result<SignedCheckpoint, ApiError> {
    ygor_engine::jobs::current_checkpoint(state.projections(), state.territory_key(), now()).map_err(|error| {
        tracing::error!(%error, "could not sign a checkpoint");
        ApiError::internal()
    })
}

#[derive(Serialize, ToSchema)]
pub struct CheckpointView {
    pub tree_size: u64,
    /// Hex SHA-256 root of the RFC 9162 tree over the first `tree_size` events.
    pub root_hash: String,
    pub signed_at: String,
    /// ed25519 over `"ygor/checkpoint/v1\n" + JCS({tree_size, root_hash, signed_at})`.
    pub signature: String,
    pub public_key: String,
}

impl From<SignedCheckpoint> for CheckpointView {
    fn from(signed: SignedCheckpoint) -> Self {
        CheckpointView {
            tree_size: signed.tree_size,
            root_hash: signed.root_hash,
            signed_at: signed.signed_at,
            signature: signed.signature,
            public_key: signed.public_key,
        }
    }
}

/// A checkpoint signed now by the territory over the current tree (anyone).
#[utoipa::path(get, path = "/v1/audit/checkpoint", tag = "audit", params(("min_position" = Option<i64>, Query)),
    responses((status = 200, body = CheckpointView)))]
pub async fn checkpoint(
    State(state): State<AppState>,
    _consistent: Consistent,
) -> Result<axum::Json<CheckpointView>, ApiError> {
    Ok(axum::Json(sign_current(&state)?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRequest {}

#[derive(Serialize, ToSchema)]
pub struct RecordedCheckpoint {
    pub checkpoint: CheckpointView,
    pub position: i64,
}

/// Signs a checkpoint over the current tree and records it in the log (admin); the server also
/// records one periodically.
#[utoipa::path(post, path = "/v1/audit/checkpoints", tag = "audit", request_body = RecordRequest,
    responses((status = 201, body = RecordedCheckpoint)), security(("bearer" = [])))]
pub async fn record_checkpoint(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(_request): ApiJson<RecordRequest>,
) -> Result<Response, ApiError> {
    let latest = state.log().last_position().await?;
    state.projections().wait_for(latest, crate::extract::READ_WAIT).await;
    let signed = sign_current(&state)?;
    let committed = state.engine().record_checkpoint(ygor_engine::jobs::checkpoint_record(&signed), now()).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(RecordedCheckpoint { checkpoint: signed.into(), position: committed.position }),
    )
        .into_response())
}

#[derive(Deserialize, IntoParams)]
pub struct ProofQuery {
    /// The tree size the proof is for (default: the current size).
    pub tree_size: Option<u64>,
    pub min_position: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// RFC 9162 inclusion proof, hex, from the leaf up.
    pub audit_path: Vec<String>,
    /// The root of the tree of `tree_size` leaves.
    pub root_hash: String,
    /// `SHA-256(0x00 ‖ JCS(exported event))`.
    pub leaf_hash: String,
    /// The exported event itself (as `GET /v1/audit/events` gives it), so that its reader can
    /// recompute `leaf_hash` instead of trusting it.
    #[schema(value_type = Object)]
    pub event: ygor_audit::ExportedEvent,
}

/// Whether an event concerns a citizen: an event of their wallet, or a partner's record of them
/// (read through the codec, as every reader of the log does; an event it cannot read concerns
/// nobody but the admin).
fn concerns(event: &ygor_store::RecordedEvent, citizen: ygor_ledger::CitizenId) -> bool {
    use ygor_ledger::books::AnyEvent;
    use ygor_ledger::partner::PartnerEvent;
    match ygor_ledger::codec::decode_serialized(&event.event) {
        Ok(AnyEvent::Wallet(id, _)) => id == citizen,
        Ok(AnyEvent::Partner(_, PartnerEvent::CertificationRecorded { record, .. })) => record.citizen_id == citizen,
        Ok(AnyEvent::Partner(_, PartnerEvent::RedemptionRecorded { record, .. })) => record.citizen_id == citizen,
        _ => false,
    }
}

/// The inclusion proof of the event at `position` (admin, or the citizen the event concerns).
#[utoipa::path(get, path = "/v1/audit/proof/{position}", tag = "audit", params(("position" = i64, Path), ProofQuery),
    responses((status = 200, body = InclusionProof), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn proof(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(position): ApiPath<i64>,
    ApiQuery(query): ApiQuery<ProofQuery>,
    _consistent: Consistent,
) -> Result<axum::Json<InclusionProof>, ApiError> {
    let missing = || ApiError::not_found("no event has this position (yet)");
    if position <= 0 {
        return Err(missing());
    }
    let event = state
        .log()
        .read_after(position - 1, 1)
        .await?
        .into_iter()
        .next()
        .filter(|event| event.position == position)
        .ok_or_else(missing)?;
    match caller {
        Caller::Admin => {}
        Caller::Citizen(citizen) if concerns(&event, citizen) => {}
        _ => return Err(ApiError::forbidden("a proof is for the admin or the citizen the event concerns")),
    }
    state.projections().wait_for(position, crate::extract::READ_WAIT).await;
    let exported = ygor_projections::audit::exported(&event);
    let answer = from_tree(&state, |trail, blocks| {
        let mut missing = Missing::default();
        let Some(leaf_index) = trail.leaf_index(position) else {
            return Ok(None);
        };
        let tree_size = query.tree_size.unwrap_or(trail.size());
        let path = missing.take(trail.tree.inclusion_proof_with(leaf_index, tree_size, blocks));
        let root = missing.take(trail.tree.root_with(tree_size, blocks));
        let leaf = missing.take(trail.tree.leaf_hash_with(leaf_index, blocks));
        missing.into_result()?;
        Ok((|| {
            Some(InclusionProof {
                leaf_index,
                tree_size,
                audit_path: path?.iter().map(hex::encode).collect(),
                root_hash: hex::encode(root?),
                leaf_hash: hex::encode(leaf?),
                event: exported.clone(),
            })
        })())
    })
    .await?;
    answer
        .ok_or_else(|| ApiError::validation("tree_size must include the event and not exceed the current tree"))
        .map(axum::Json)
}

/// The blocks of the compact Merkle tree an answer lacked, gathered over its parts.
#[derive(Default)]
struct Missing(std::collections::BTreeSet<u64>);

impl Missing {
    fn take<T>(&mut self, part: Result<Option<T>, ygor_audit::MissingBlocks>) -> Option<T> {
        part.unwrap_or_else(|missing| {
            self.0.extend(missing.0);
            None
        })
    }

    fn into_result(self) -> Result<(), ygor_audit::MissingBlocks> {
        if self.0.is_empty() { Ok(()) } else { Err(ygor_audit::MissingBlocks(self.0.into_iter().collect())) }
    }
}

/// Answers from the read models' Merkle tree. The tree keeps the hash of each complete block of
/// leaves, not the leaves: when `answer` needs older leaves, they are read back from the log,
/// hashed again, checked against the tree, and `answer` runs again with them.
async fn from_tree<T>(
    state: &AppState,
    answer: impl Fn(
        &ygor_projections::audit::AuditTrail,
        &ygor_audit::BlockLeaves,
    ) -> Result<Option<T>, ygor_audit::MissingBlocks>,
) -> Result<Option<T>, ApiError> {
    let first = state.projections().read(|models| match answer(&models.audit, &ygor_audit::BlockLeaves::new()) {
        Ok(found) => Ok(found),
        Err(missing) => Err(models.audit.blocks_to_read(&missing)),
    });
    let wanted = match first {
        Ok(found) => return Ok(found),
        Err(wanted) => wanted,
    };
    let blocks = ygor_projections::audit::read_blocks(state.log(), &wanted).await.map_err(|error| {
        tracing::error!(%error, "cannot give back the leaves of a Merkle block");
        ApiError::internal()
    })?;
    state.projections().read(|models| answer(&models.audit, &blocks)).map_err(|missing| {
        tracing::error!(?missing, "the Merkle tree still lacks blocks it was given");
        ApiError::internal()
    })
}

#[derive(Deserialize, IntoParams)]
pub struct ConsistencyQuery {
    pub first: u64,
    pub second: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ConsistencyProof {
    pub first: u64,
    pub second: u64,
    pub first_root: String,
    pub second_root: String,
    /// RFC 9162 consistency proof, hex.
    pub proof: Vec<String>,
}

/// The consistency proof between two tree sizes (anyone).
#[utoipa::path(get, path = "/v1/audit/consistency", tag = "audit", params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyProof)))]
pub async fn consistency(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ConsistencyQuery>,
) -> Result<axum::Json<ConsistencyProof>, ApiError> {
    let answer = from_tree(&state, |trail, blocks| {
        let mut missing = Missing::default();
        let proof = missing.take(trail.tree.consistency_proof_with(query.first, query.second, blocks));
        let first_root = missing.take(trail.tree.root_with(query.first, blocks));
        let second_root = missing.take(trail.tree.root_with(query.second, blocks));
        missing.into_result()?;
        Ok((|| {
            Some(ConsistencyProof {
                first: query.first,
                second: query.second,
                first_root: hex::encode(first_root?),
                second_root: hex::encode(second_root?),
                proof: proof?.iter().map(hex::encode).collect(),
            })
        })())
    })
    .await?;
    answer.ok_or_else(|| ApiError::validation("need 0 ≤ first ≤ second ≤ the current tree size")).map(axum::Json)
}
