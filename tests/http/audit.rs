//! The audit log over HTTP, and `ygor audit verify` catching rows changed, deleted or reordered
//! directly in the database.

use reqwest::{Method, StatusCode};
use serde_json::json;
use ygor_audit::{ExportedEvent, MerkleLog, SignedCheckpoint};

use crate::helpers::{Backend, TestApp, spawn_app};

crate::on_both_backends!(
    checkpoints_and_proofs_can_be_checked_from_the_export,
    proofs_about_older_blocks_read_their_events_back_and_refuse_a_changed_one,
    verify_passes_on_an_untouched_log,
    verify_catches_a_changed_row,
    verify_catches_a_deleted_row,
    verify_catches_reordered_rows,
);

async fn exported(app: &TestApp) -> Vec<ExportedEvent> {
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page =
            app.get(&format!("/v1/audit/events?after={after}&limit=7"), &app.admin_token).await.expect(StatusCode::OK);
        let batch: Vec<ExportedEvent> = serde_json::from_value(page["events"].clone()).expect("exported events");
        if batch.is_empty() {
            return events;
        }
        after = batch.last().expect("non-empty").position;
        events.extend(batch);
    }
}

async fn workload(app: &TestApp) -> (crate::helpers::Partner, crate::helpers::Partner, crate::helpers::Citizen) {
    let (association, venue, citizen) = app.territory(1_000).await;
    for _ in 0..3 {
        app.certify(&association, &citizen, "culture", 1).await.expect(StatusCode::CREATED);
    }
    app.redeem(&venue, &citizen, 5).await.expect(StatusCode::CREATED);
    (association, venue, citizen)
}

fn hex32(text: &str) -> [u8; 32] {
    hex::decode(text).expect("hex").try_into().expect("32 bytes")
}

async fn checkpoints_and_proofs_can_be_checked_from_the_export(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_association, _venue, citizen) = workload(&app).await;
    let latest = app.latest().await;
    let checkpoint = app
        .send(Method::GET, &format!("/v1/audit/checkpoint?min_position={latest}"), None, None)
        .await
        .expect(StatusCode::OK);
    let signed: SignedCheckpoint = serde_json::from_value(checkpoint.clone()).expect("checkpoint shape");
    ygor_audit::verify_checkpoint_from(&signed, &app.territory_key().public_key()).expect("signed by the territory");
    // An outsider rebuilds the tree from the export alone and finds the same root.
    let events = exported(&app).await;
    assert_eq!(events.len() as u64, signed.tree_size);
    let tree = MerkleLog::from_events(&events).expect("tree");
    assert_eq!(hex::encode(tree.root(signed.tree_size).expect("root")), signed.root_hash);

    // The citizen gets the proof that their redemption is in the log.
    let redemption = events.iter().rev().find(|event| event.event_type == "TokensRedeemed").expect("redemption");
    let proof = app
        .get(&format!("/v1/audit/proof/{}?tree_size={}", redemption.position, signed.tree_size), &citizen.token)
        .await
        .expect(StatusCode::OK);
    let path: Vec<[u8; 32]> =
        proof["audit_path"].as_array().expect("path").iter().map(|hash| hex32(hash.as_str().expect("hex"))).collect();
    let leaf = ygor_audit::event_leaf_hash(redemption).expect("leaf");
    assert!(ygor_audit::verify_inclusion(
        &leaf,
        proof["leaf_index"].as_u64().expect("index"),
        signed.tree_size,
        &path,
        &hex32(&signed.root_hash)
    ));
    // Not for another citizen; an admin may; the export is the admin's.
    let other = app.register_citizen().await;
    app.get(&format!("/v1/audit/proof/{}", redemption.position), &other.token)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.get(&format!("/v1/audit/proof/{}", redemption.position), &app.admin_token).await.expect(StatusCode::OK);
    app.get("/v1/audit/proof/999999", &app.admin_token).await.expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.get("/v1/audit/events", &citizen.token).await.expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.get("/v1/audit/events?limit=5000", &app.admin_token)
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");

    // A recorded checkpoint, then more events: the two trees are consistent.
    let recorded = app.post("/v1/audit/checkpoints", &app.admin_token, json!({})).await.expect(StatusCode::CREATED);
    let first = recorded["checkpoint"]["tree_size"].as_u64().expect("size");
    app.redeem(&_venue, &citizen, 1).await.expect(StatusCode::CREATED);
    let latest = app.latest().await;
    let second = app
        .send(Method::GET, &format!("/v1/audit/checkpoint?min_position={latest}"), None, None)
        .await
        .expect(StatusCode::OK);
    let second_size = second["tree_size"].as_u64().expect("size");
    let consistency = app
        .send(Method::GET, &format!("/v1/audit/consistency?first={first}&second={second_size}"), None, None)
        .await
        .expect(StatusCode::OK);
    let proof: Vec<[u8; 32]> =
        consistency["proof"].as_array().expect("proof").iter().map(|hash| hex32(hash.as_str().expect("hex"))).collect();
    assert!(ygor_audit::verify_consistency(
        first,
        second_size,
        &hex32(recorded["checkpoint"]["root_hash"].as_str().expect("root")),
        &hex32(second["root_hash"].as_str().expect("root")),
        &proof
    ));
}

/// The read models' Merkle tree keeps a hash per block of 1,024 leaves, not the leaves: proofs
/// about older blocks read the block's events back from the log, hash them again and check them
/// against the tree, which refuses a block that was changed behind the server's back.
async fn proofs_about_older_blocks_read_their_events_back_and_refuse_a_changed_one(backend: Backend) {
    use futures::StreamExt;
    let app = spawn_app(backend).await;
    let (_association, _venue, _citizen) = workload(&app).await;
    let mint =
        |_| async { app.post("/v1/supply", &app.admin_token, json!({ "amount": 1 })).await.expect(StatusCode::OK) };
    futures::stream::iter(0..400).map(mint).buffer_unordered(8).collect::<Vec<_>>().await;
    let recorded = app.post("/v1/audit/checkpoints", &app.admin_token, json!({})).await.expect(StatusCode::CREATED);
    let first = recorded["checkpoint"]["tree_size"].as_u64().expect("size");
    futures::stream::iter(0..1_800).map(mint).buffer_unordered(8).collect::<Vec<_>>().await;
    let latest = app.latest().await;
    let checkpoint = app
        .send(Method::GET, &format!("/v1/audit/checkpoint?min_position={latest}"), None, None)
        .await
        .expect(StatusCode::OK);
    let size = checkpoint["tree_size"].as_u64().expect("size");
    assert!(size > 2 * 1_024, "more than two complete blocks: {size}");
    let events = exported(&app).await;
    let tree = MerkleLog::from_events(&events).expect("tree");
    assert_eq!(hex::encode(tree.root(size).expect("root")), checkpoint["root_hash"].as_str().expect("root"));

    // Events of the first block, of the second and of the last: proofs in the current tree and
    // in the tree of the first checkpoint, which ends inside the first block.
    for (index, tree_size) in [(0, size), (5, first), (first - 1, first), (1_500, size), (size - 1, size)] {
        let event = &events[index as usize];
        let proof = app
            .get(&format!("/v1/audit/proof/{}?tree_size={tree_size}", event.position), &app.admin_token)
            .await
            .expect(StatusCode::OK);
        assert_eq!(proof["leaf_index"].as_u64(), Some(index));
        assert_eq!(proof["root_hash"].as_str(), Some(hex::encode(tree.root(tree_size).expect("root")).as_str()));
        let path: Vec<[u8; 32]> = proof["audit_path"]
            .as_array()
            .expect("path")
            .iter()
            .map(|hash| hex32(hash.as_str().expect("hex")))
            .collect();
        assert_eq!(Some(path.clone()), tree.inclusion_proof(index, tree_size), "leaf {index} in {tree_size}");
        let leaf = ygor_audit::event_leaf_hash(event).expect("leaf");
        assert!(ygor_audit::verify_inclusion(&leaf, index, tree_size, &path, &tree.root(tree_size).expect("root")));
    }
    let consistency = app
        .send(Method::GET, &format!("/v1/audit/consistency?first={first}&second={size}"), None, None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(consistency["first_root"].as_str(), recorded["checkpoint"]["root_hash"].as_str());
    let proof: Vec<[u8; 32]> =
        consistency["proof"].as_array().expect("proof").iter().map(|hash| hex32(hash.as_str().expect("hex"))).collect();
    assert_eq!(Some(proof), tree.consistency_proof(first, size));

    // A mint of the first block made larger in the database: its block no longer hashes to the
    // tree's root for it, and a proof that needs it is refused; the last block still answers.
    let changed = events.iter().find(|event| event.event_type == "SupplyMinted").expect("a mint");
    assert!(changed.position < events[1_023].position, "in the first block");
    let raw = Raw::open(&app).await;
    raw.execute(
        "UPDATE events SET payload = replace(payload, '\"amount\":', '\"amount\":9') WHERE position = ?1",
        "UPDATE events SET payload = replace(payload::text, '\"amount\":', '\"amount\":9')::json WHERE position = $1",
        changed.position,
    )
    .await;
    app.get(&format!("/v1/audit/proof/{}", events[3].position), &app.admin_token)
        .await
        .expect_problem(StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
    app.get(&format!("/v1/audit/proof/{}", events[size as usize - 1].position), &app.admin_token)
        .await
        .expect(StatusCode::OK);
}

/// Runs `ygor audit verify` on the app's storage: (exit code, stdout).
fn verify(app: &TestApp) -> (i32, String) {
    app.audit_verify()
}

/// A workload, then a checkpoint recorded in the log, then a few more events.
async fn audited(backend: Backend) -> TestApp {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = workload(&app).await;
    app.post("/v1/audit/checkpoints", &app.admin_token, json!({})).await.expect(StatusCode::CREATED);
    app.certify(&association, &citizen, "culture", 1).await.expect(StatusCode::CREATED);
    app.redeem(&venue, &citizen, 2).await.expect(StatusCode::CREATED);
    app.post("/v1/audit/checkpoints", &app.admin_token, json!({})).await.expect(StatusCode::CREATED);
    app
}

async fn verify_passes_on_an_untouched_log(backend: Backend) {
    let app = audited(backend).await;
    let (code, output) = verify(&app);
    assert_eq!(code, 0, "{output}");
    assert!(output.starts_with("ok:"), "{output}");
}

/// Direct access to the database, behind the server's back.
pub(crate) enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    pub(crate) async fn open(app: &TestApp) -> Raw {
        match &app.config.database_url {
            None => Raw::Sqlite(
                sqlx::SqlitePool::connect(&format!("sqlite://{}", app.config.data_dir.join("ygor.db").display()))
                    .await
                    .expect("open"),
            ),
            Some(url) => Raw::Postgres(sqlx::PgPool::connect(url).await.expect("open")),
        }
    }

    pub(crate) async fn execute(&self, sqlite: &str, postgres: &str, position: i64) {
        match self {
            Raw::Sqlite(pool) => {
                sqlx::query(sqlite).bind(position).execute(pool).await.expect("sqlite");
            }
            Raw::Postgres(pool) => {
                sqlx::query(postgres).bind(position).execute(pool).await.expect("postgres");
            }
        }
    }

    pub(crate) async fn position_of(&self, event_type: &str) -> i64 {
        let query = "SELECT position FROM events WHERE event_type = $1 ORDER BY position LIMIT 1";
        match self {
            Raw::Sqlite(pool) => {
                sqlx::query_scalar(&query.replace("$1", "?1")).bind(event_type).fetch_one(pool).await.expect("sqlite")
            }
            Raw::Postgres(pool) => sqlx::query_scalar(query).bind(event_type).fetch_one(pool).await.expect("postgres"),
        }
    }
}

pub(crate) fn names(output: &str, position: i64) -> bool {
    output.lines().any(|line| line.starts_with(&format!("position {position}:")))
}

async fn verify_catches_a_changed_row(backend: Backend) {
    let app = audited(backend).await;
    let raw = Raw::open(&app).await;
    // A redemption quietly made smaller: the wallet would keep tokens it spent.
    let position = raw.position_of("TokensRedeemed").await;
    raw.execute(
        "UPDATE events SET payload = replace(payload, '\"amount\":5', '\"amount\":4') WHERE position = ?1",
        "UPDATE events SET payload = jsonb_set(payload::jsonb, '{TokensRedeemed,amount}', '4')::json WHERE position = $1",
        position,
    )
    .await;
    let (code, output) = verify(&app);
    assert_eq!(code, 1, "{output}");
    assert!(names(&output, position), "names the changed position {position}: {output}");
    assert!(output.contains("checkpoint"), "the checkpoint's root no longer matches: {output}");
}

async fn verify_catches_a_deleted_row(backend: Backend) {
    let app = audited(backend).await;
    let raw = Raw::open(&app).await;
    let position = raw.position_of("ActionCertified").await;
    raw.execute("DELETE FROM events WHERE position = ?1", "DELETE FROM events WHERE position = $1", position).await;
    let (code, output) = verify(&app);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("sequence") && output.contains("checkpoint"), "{output}");
}

async fn verify_catches_reordered_rows(backend: Backend) {
    let app = audited(backend).await;
    let raw = Raw::open(&app).await;
    // Swap the positions of two rows (on PostgreSQL the tamperer first lifts the identity's guard).
    let first = raw.position_of("ActionCertified").await;
    let second = raw.position_of("CertificationRecorded").await;
    if let Raw::Postgres(pool) = &raw {
        sqlx::query("ALTER TABLE events ALTER COLUMN position SET GENERATED BY DEFAULT")
            .execute(pool)
            .await
            .expect("alter");
    }
    for (from, to) in [(first, -1), (second, first), (-1, second)] {
        match &raw {
            Raw::Sqlite(pool) => {
                sqlx::query("UPDATE events SET position = ?2 WHERE position = ?1")
                    .bind(from)
                    .bind(to)
                    .execute(pool)
                    .await
                    .expect("swap");
            }
            Raw::Postgres(pool) => {
                sqlx::query("UPDATE events SET position = $2 WHERE position = $1")
                    .bind(from)
                    .bind(to)
                    .execute(pool)
                    .await
                    .expect("swap");
            }
        }
    }
    let (code, output) = verify(&app);
    assert_eq!(code, 1, "{output}");
    assert!(names(&output, first) || names(&output, second), "{output}");
    assert!(output.contains("checkpoint"), "{output}");
}
