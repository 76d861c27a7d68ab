//! One writer per database: a second server on the same database refuses to start, saying why;
//! a server whose PostgreSQL writer lock is lost takes no write (`503 not_writer`) while another
//! process holds it, and when it holds it again it decides on what the log says now, not on what
//! it had in memory.

use reqwest::StatusCode;
use ygor_api::setup::{self, SetupError};

use crate::helpers::{Backend, RULES, TestApp, spawn_app};

crate::on_both_backends!(a_second_server_on_the_same_database_refuses_to_start);

async fn a_second_server_on_the_same_database_refuses_to_start(backend: Backend) {
    let app = spawn_app(backend).await;
    app.put_rules(RULES).await.expect(StatusCode::OK);
    let refused = setup::start(&app.config).await.err().expect("a second server does not start");
    let SetupError::NotWriter(message) = refused else { panic!("another refusal: {refused}") };
    assert!(message.contains("another ygor process") && message.contains("stop it first"), "{message}");
    // The first still writes; once it stops, another may start.
    app.mint(10).await.expect(StatusCode::OK);
    app.stop().await;
    let next = setup::start(&app.config).await.expect("the next server starts once the first stopped");
    assert_eq!(next.state.engine().writer_state(), Some(ygor_store::WriterState::Held));
}

/// The server's readiness, as it answers it.
async fn writer(app: &TestApp) -> String {
    let answer = app.send(reqwest::Method::GET, "/readyz", None, None).await;
    answer.body["writer"].as_str().unwrap_or("").to_owned()
}

async fn wait_for_writer(app: &TestApp, state: &str) {
    let started = std::time::Instant::now();
    while writer(app).await != state {
        assert!(started.elapsed() < std::time::Duration::from_secs(15), "the writer lock is never {state}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_lost_writer_lock_stops_writes_and_the_next_holder_decides_on_the_log() {
    use sqlx::Connection as _;
    let app = spawn_app(Backend::Postgres).await;
    let (association, _venue, citizen) = app.territory(1_000).await;
    assert_eq!(app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED)["tokens"], 10);

    // The lock's connection dies (a database restart would do the same), and another process
    // takes the lock before this server can take it again.
    let url = app.config.database_url.clone().expect("PostgreSQL");
    let mut other = sqlx::PgConnection::connect(&url).await.expect("connects");
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ygor-writer' AND datname = current_database()")
        .execute(&mut other)
        .await
        .expect("terminates the lock's connection");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(ygor_store::WRITER_LOCK_KEY)
        .execute(&mut other)
        .await
        .expect("locks");
    wait_for_writer(&app, "taken").await;
    let refused = app.certify(&association, &citizen, "ecologie", 1).await;
    refused.expect_problem(StatusCode::SERVICE_UNAVAILABLE, "not_writer");
    let ready = app.send(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!((ready.status, ready.body["status"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")));

    // Meanwhile the other process writes: rules that give 20 tokens an action.
    let seeds = ygor_engine::Seeds::new(app.state.territory_key().clone());
    let elsewhere = ygor_engine::Engine::open(app.state.log().clone(), seeds).await.expect("another engine");
    let doubled = RULES.replace("tokens_per_action = 10", "tokens_per_action = 20");
    let rules = ygor_rules::Rules::parse(&doubled).expect("rules");
    elsewhere.publish_rules(rules, doubled, chrono::Utc::now()).await.expect("published elsewhere");

    // The other process stops; this server holds the lock again and decides on the log.
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(ygor_store::WRITER_LOCK_KEY)
        .execute(&mut other)
        .await
        .expect("unlocks");
    wait_for_writer(&app, "held").await;
    let certified = app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    assert_eq!(certified["tokens"], 20, "the rules in force now, not those the server had in memory");
    let (code, output) = app.audit_verify();
    assert_eq!(code, 0, "{output}");
}
