//! Concurrent requests that collide inside the server: clients only see business outcomes.

use futures::future::join_all;
use reqwest::StatusCode;

use crate::helpers::{Backend, spawn_app};

crate::on_both_backends!(
    two_hundred_racing_certifications_never_overdraw_an_envelope,
    forty_racing_redemptions_never_overspend_a_wallet,
);

async fn two_hundred_racing_certifications_never_overdraw_an_envelope(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, _citizen) = app.territory(1_000).await;
    // 200 citizens so that no monthly cap interferes: only the envelope limits.
    let mut citizens = Vec::new();
    for _ in 0..200 {
        citizens.push(app.register_citizen().await);
    }
    let answers = join_all(citizens.iter().map(|citizen| app.certify(&association, citizen, "ecologie", 1))).await;
    let created = answers.iter().filter(|answer| answer.status == StatusCode::CREATED).count();
    let exhausted = answers
        .iter()
        .filter(|answer| answer.status == StatusCode::CONFLICT && answer.code() == "envelope_exhausted")
        .count();
    let others: Vec<_> = answers
        .iter()
        .filter(|answer| answer.status != StatusCode::CREATED && answer.code() != "envelope_exhausted")
        .collect();
    assert!(others.is_empty(), "only business outcomes: {others:?}");
    assert_eq!((created, exhausted), (100, 100));
    let last = answers.iter().filter_map(|answer| answer.body["position"].as_i64()).max().expect("positions");
    let circulation = app.circulation(last).await;
    assert_eq!((circulation["envelopes"].as_u64(), circulation["wallets"].as_u64()), (Some(0), Some(1_000)));
}

async fn forty_racing_redemptions_never_overspend_a_wallet(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    for _ in 0..10 {
        app.certify(&association, &citizen, "culture", 1).await.expect(StatusCode::CREATED);
    }
    // culture earns 8 per action: 80 tokens; top up to 100 with two velo rides of 10 km.
    app.certify(&association, &citizen, "velo", 10).await.expect(StatusCode::CREATED);
    app.certify(&association, &citizen, "velo", 10).await.expect(StatusCode::CREATED);
    assert_eq!(app.wallet(&citizen, app.latest().await).await["balance"], 100);
    let mut vouchers = Vec::new();
    for _ in 0..40 {
        vouchers.push(app.voucher(&citizen, 10).await);
    }
    let answers = join_all(vouchers.iter().map(|voucher| {
        let body = crate::helpers::TestApp::redemption(&venue, voucher, 10);
        app.redeem_body(&venue, body)
    }))
    .await;
    let created = answers.iter().filter(|answer| answer.status == StatusCode::CREATED).count();
    let refused = answers
        .iter()
        .filter(|answer| answer.status == StatusCode::CONFLICT && answer.code() == "insufficient_balance")
        .count();
    assert_eq!((created, refused), (10, 30), "{answers:?}");
    let last = answers.iter().filter_map(|answer| answer.body["position"].as_i64()).max().expect("positions");
    assert_eq!(app.wallet(&citizen, last).await["balance"], 0);
    assert_eq!(app.circulation(last).await["redeemed_unsettled"], 100);
}

/// Group commit overlaps transactions: while one group commits, the next is already written. A
/// commit that fails must fail its group, the group written behind it and everything queued, and
/// leave nothing in the log or in the server's memory. A deferred constraint trigger makes every
/// COMMIT fail while it is armed (PostgreSQL only: SQLite has no deferred triggers).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commits_that_fail_under_load_leave_no_trace() {
    let app = spawn_app(Backend::Postgres).await;
    let (association, _venue, _citizen) = app.territory(100_000).await;
    let mut citizens = Vec::new();
    for _ in 0..150 {
        citizens.push(app.register_citizen().await);
    }
    let url = app.config.database_url.clone().expect("url");
    let pool = sqlx::PgPool::connect(&url).await.expect("open");
    for statement in [
        "CREATE TABLE fail_commits (armed boolean)",
        "CREATE FUNCTION fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF EXISTS (SELECT 1 FROM fail_commits) THEN RAISE EXCEPTION 'injected commit failure'; END IF;
           RETURN NULL;
         END $$",
        "CREATE CONSTRAINT TRIGGER fail_commit AFTER INSERT ON events DEFERRABLE INITIALLY DEFERRED
         FOR EACH ROW EXECUTE FUNCTION fail_commit()",
    ] {
        sqlx::query(statement).execute(&pool).await.expect("install the failing trigger");
    }

    let before = app.circulation(app.latest().await).await;
    sqlx::query("INSERT INTO fail_commits VALUES (true)").execute(&pool).await.expect("arm");
    let failed = join_all(citizens.iter().map(|citizen| app.certify(&association, citizen, "ecologie", 1))).await;
    let succeeded: Vec<_> = failed.iter().filter(|answer| answer.status.is_success()).collect();
    assert!(succeeded.is_empty(), "no commit can succeed while armed: {:?}", succeeded.first());
    let unexpected: Vec<_> = failed.iter().filter(|answer| !answer.status.is_server_error()).collect();
    assert!(unexpected.is_empty(), "{:?}", unexpected.first());

    sqlx::query("DELETE FROM fail_commits").execute(&pool).await.expect("disarm");
    let answers = join_all(citizens.iter().map(|citizen| app.certify(&association, citizen, "ecologie", 1))).await;
    let refused: Vec<_> = answers.iter().filter(|answer| answer.status != StatusCode::CREATED).collect();
    assert!(refused.is_empty(), "{} of {} refused once disarmed: {:?}", refused.len(), answers.len(), refused.first());
    let last = answers.iter().filter_map(|answer| answer.body["position"].as_i64()).max().expect("positions");
    let earned: u64 = answers.iter().map(|answer| answer.body["tokens"].as_u64().expect("tokens")).sum();
    assert!(earned > 0);
    let after = app.circulation(last).await;
    let count = |value: &serde_json::Value, key: &str| value[key].as_u64().expect(key);
    assert_eq!(count(&after, "wallets"), count(&before, "wallets") + earned, "only the second wave was credited");
    assert_eq!(count(&after, "envelopes"), count(&before, "envelopes") - earned);
    for (citizen, answer) in citizens.iter().zip(&answers) {
        assert_eq!(app.wallet(citizen, last).await["balance"], answer.body["tokens"], "the engine's memory was reset");
    }
    let in_log: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'wallet' AND event_type = 'ActionCertified'",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(in_log, citizens.len() as i64, "the failed wave left nothing in the log");
}
