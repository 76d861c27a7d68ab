//! `/collectivite/audit` (admin session): the checkpoints the log records, the one the territory
//! signs now, how to audit the whole log with `ygor audit verify`, and the inclusion proof of any
//! position, checked here the way an outside auditor would (docs/audit.md).

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery, Consistent};
use crate::routes;
use crate::routes::audit::{CheckpointView, ProofQuery};
use crate::web::citizen::caught_up;
use crate::web::session::CollectivityPage;
use crate::web::{Chrome, PageError, format, messages, render};

pub fn router() -> Router<AppState> {
    Router::new().route("/collectivite/audit", get(audit))
}

/// A checkpoint as the page shows it.
struct CheckpointLine {
    tree_size: String,
    root_hash: String,
    signed_at: String,
}

/// `signed_at` (RFC 3339) in French, or as written when it does not parse.
fn signed_at(text: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|at| format::date_time(at.with_timezone(&chrono::Utc)))
        .unwrap_or_else(|_| text.to_owned())
}

/// What the page found about the proof of one position.
struct ProofShown {
    position: i64,
    leaf_index: String,
    tree_size: String,
    event_type: String,
    recorded_at: String,
    event_json: String,
    leaf_hash: String,
    audit_path: Vec<String>,
    root_hash: String,
    /// The checks made here, each with its outcome.
    checks: Vec<(&'static str, bool)>,
}

impl ProofShown {
    fn holds(&self) -> bool {
        self.checks.iter().all(|(_, ok)| *ok)
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    current: CheckpointLine,
    public_key: String,
    recorded: Vec<CheckpointLine>,
    recorded_total: String,
    position_text: String,
    last_position: i64,
    proof: Option<ProofShown>,
    proof_error: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuditQuery {
    position: Option<String>,
}

/// The proof of the event at `position` against `checkpoint`, checked as docs/audit.md says:
/// the leaf hash recomputed from the event, the path walked to the root, the root signed.
async fn proof_of(state: &AppState, position: i64, checkpoint: &CheckpointView) -> Result<ProofShown, ApiError> {
    let query = ProofQuery { tree_size: Some(checkpoint.tree_size), min_position: None };
    let proof =
        routes::audit::proof(State(state.clone()), Caller::Admin, ApiPath(position), ApiQuery(query), Consistent)
            .await?
            .0;
    let recomputed = ygor_audit::event_leaf_hash(&proof.event).map(hex::encode).ok();
    let path: Option<Vec<[u8; 32]>> =
        proof.audit_path.iter().map(|node| ygor_audit::decode_hex_32(node, "audit_path").ok()).collect();
    let leaf = ygor_audit::decode_hex_32(&proof.leaf_hash, "leaf_hash").ok();
    let root = ygor_audit::decode_hex_32(&checkpoint.root_hash, "root_hash").ok();
    let included = match (leaf, path, root) {
        (Some(leaf), Some(path), Some(root)) => {
            ygor_audit::verify_inclusion(&leaf, proof.leaf_index, proof.tree_size, &path, &root)
        }
        _ => false,
    };
    let signed = ygor_audit::SignedCheckpoint {
        tree_size: checkpoint.tree_size,
        root_hash: checkpoint.root_hash.clone(),
        signed_at: checkpoint.signed_at.clone(),
        signature: checkpoint.signature.clone(),
        public_key: checkpoint.public_key.clone(),
    };
    let checks = vec![
        (
            "L'empreinte de la feuille est recalculée à partir de l'événement lui-même",
            recomputed.as_deref() == Some(&proof.leaf_hash),
        ),
        ("Le chemin d'audit mène de cette feuille à la racine du point de contrôle", included),
        ("La racine est signée par la clé du territoire", ygor_audit::verify_checkpoint(&signed).is_ok()),
    ];
    Ok(ProofShown {
        position,
        leaf_index: format::number(proof.leaf_index),
        tree_size: format::number(proof.tree_size),
        event_type: proof.event.event_type.clone(),
        recorded_at: signed_at(&proof.event.recorded_at),
        event_json: serde_json::to_string_pretty(&proof.event).unwrap_or_default(),
        leaf_hash: proof.leaf_hash,
        audit_path: proof.audit_path,
        root_hash: proof.root_hash,
        checks,
    })
}

async fn audit(
    State(state): State<AppState>,
    page: CollectivityPage,
    Query(query): Query<AuditQuery>,
) -> Result<Response, PageError> {
    caught_up(&state).await;
    let checkpoint = routes::audit::checkpoint(State(state.clone()), Consistent).await?.0;
    let (recorded, recorded_total, last_position) = state.projections().read(|models| {
        let recorded: Vec<CheckpointLine> = models
            .directory
            .checkpoints
            .iter()
            .rev()
            .map(|recorded| CheckpointLine {
                tree_size: format::number(recorded.tree_size),
                root_hash: recorded.root_hash.clone(),
                signed_at: signed_at(&recorded.signed_at),
            })
            .collect();
        (recorded, models.directory.checkpoints_recorded, models.position)
    });
    let position_text = query.position.clone().unwrap_or_default();
    let (mut proof, mut proof_error) = (None, None);
    if let Some(text) = query.position.as_deref().map(str::trim).filter(|text| !text.is_empty()) {
        match text.parse::<i64>() {
            Ok(position) if position > 0 => match proof_of(&state, position, &checkpoint).await {
                Ok(shown) => proof = Some(shown),
                Err(error) if error.status.is_client_error() => {
                    proof_error = Some(if error.status == axum::http::StatusCode::NOT_FOUND {
                        format!(
                            "Aucun événement n'occupe la position {position} : le registre va de 1 à {last_position}."
                        )
                    } else {
                        messages::french(&error)
                    });
                }
                Err(error) => return Err(error.into()),
            },
            _ => {
                proof_error = Some(format!(
                    "Indiquez une position en chiffres, de 1 à {}.",
                    format::number(last_position.max(1) as u64)
                ))
            }
        }
    }
    let status =
        if proof_error.is_some() { axum::http::StatusCode::UNPROCESSABLE_ENTITY } else { axum::http::StatusCode::OK };
    let mut response = render(&AuditPage {
        chrome: Chrome::new(&page.visitor, "Audit du registre", "/collectivite/audit"),
        current: CheckpointLine {
            tree_size: format::count(checkpoint.tree_size, "événement", "événements"),
            root_hash: checkpoint.root_hash.clone(),
            signed_at: signed_at(&checkpoint.signed_at),
        },
        public_key: checkpoint.public_key.clone(),
        recorded,
        recorded_total: format::count(recorded_total, "point de contrôle enregistré", "points de contrôle enregistrés"),
        position_text,
        last_position,
        proof,
        proof_error,
    });
    *response.status_mut() = status;
    Ok(response)
}
