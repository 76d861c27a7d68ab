//! PostgreSQL goes away under load (`pg_ctl stop -m immediate`, on a throwaway cluster of the
//! test's own) and comes back. Every write is answered within seconds: acknowledged and then in
//! the log, or `503 storage_unavailable` (and then not in the log), or `503 outcome_unknown`;
//! never a 500, never an acknowledged write lost. `/readyz` says 503 while writes cannot succeed,
//! and writes resume by themselves.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, Partner, TestApp, spawn_app_with};
use crate::throwaway_postgres::Cluster;

/// One write and what became of it.
struct Write {
    action_id: String,
    status: StatusCode,
    code: String,
    retry_after: bool,
    took: Duration,
}

async fn certify_timed(app: &TestApp, association: &Partner, citizen: &crate::helpers::Citizen) -> Write {
    let body = TestApp::certification(association, citizen, "culture", 1);
    let action_id = body["action_id"].as_str().expect("an id").to_owned();
    let signed = TestApp::sign(ygor_crypto::SignedKind::Certification, body, &association.key);
    let started = Instant::now();
    let response = app
        .client
        .post(format!("{}/v1/certifications", app.address))
        .bearer_auth(&association.token)
        .json(&signed)
        .send()
        .await
        .expect("the server answers");
    let retry_after = response.headers().contains_key("retry-after");
    let answer = TestApp::answer(response).await;
    Write { action_id, status: answer.status, code: answer.code().to_owned(), retry_after, took: started.elapsed() }
}

async fn ready(app: &TestApp) -> (StatusCode, Value) {
    let answer = app.send(reqwest::Method::GET, "/readyz", None, None).await;
    (answer.status, answer.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writes_answer_within_seconds_when_the_database_goes_away_and_lose_nothing() {
    let cluster = Cluster::start();
    let url = cluster.url.clone();
    let app = spawn_app_with(Backend::Postgres, move |config| config.database_url = Some(url)).await;
    let (association, _venue, citizen) = app.territory(1_000_000).await;
    assert_eq!(ready(&app).await.0, StatusCode::OK);

    // Writers keep certifying while the database crashes under them.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let app = std::sync::Arc::new(app);
    let (association, citizen) = (std::sync::Arc::new(association), std::sync::Arc::new(citizen));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (app, association, citizen, stop) = (app.clone(), association.clone(), citizen.clone(), stop.clone());
            tokio::spawn(async move {
                let mut writes = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    writes.push(certify_timed(&app, &association, &citizen).await);
                }
                writes
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    cluster.crash();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (status, body) = ready(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "not ready while the database is down: {body}");
    assert_eq!(body["storage"], "unreachable", "{body}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut writes = Vec::new();
    for writer in writers {
        writes.extend(writer.await.expect("a writer"));
    }

    // Every answer came within seconds, and said what became of the write.
    for write in &writes {
        assert!(write.took < Duration::from_secs(5), "{} answered after {:?}", write.action_id, write.took);
        match (write.status, write.code.as_str()) {
            (StatusCode::CREATED, _) => {}
            (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable" | "outcome_unknown") => {
                assert!(write.retry_after, "a 503 says when to retry")
            }
            (status, code) => panic!("{} answered {status} {code}", write.action_id),
        }
    }
    let refused = writes.iter().filter(|write| write.code == "storage_unavailable").count();
    assert!(refused > 0, "some writes met the outage");

    // The database comes back; writes resume by themselves.
    cluster.restart();
    let started = Instant::now();
    while ready(&app).await.0 != StatusCode::OK {
        assert!(started.elapsed() < Duration::from_secs(20), "ready again within 20 s: {:?}", ready(&app).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let resumed = loop {
        let write = certify_timed(&app, &association, &citizen).await;
        if write.status == StatusCode::CREATED || started.elapsed() > Duration::from_secs(20) {
            break write;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(resumed.status, StatusCode::CREATED, "writes resume: {}", resumed.code);

    // What was acknowledged is in the log; what was refused as unavailable is not.
    use sqlx::Connection as _;
    let mut connection =
        sqlx::PgConnection::connect(app.config.database_url.as_deref().expect("a URL")).await.expect("connects");
    let payloads: Vec<String> =
        sqlx::query_scalar("SELECT payload::text FROM events WHERE event_type = 'CertificationRecorded'")
            .fetch_all(&mut connection)
            .await
            .expect("reads the log");
    let logged = |action_id: &str| payloads.iter().any(|payload| payload.contains(action_id));
    for write in &writes {
        match write.status {
            StatusCode::CREATED => assert!(logged(&write.action_id), "acknowledged {} is lost", write.action_id),
            _ if write.code == "storage_unavailable" => {
                assert!(
                    !logged(&write.action_id),
                    "{} was refused as not written, yet it is in the log",
                    write.action_id
                )
            }
            _ => {}
        }
    }
    let (code, output) = app.audit_verify();
    assert_eq!(code, 0, "{output}");
    eprintln!(
        "outage: {} writes, {} acknowledged, {refused} storage_unavailable, {} outcome_unknown, slowest answer {:?}",
        writes.len(),
        writes.iter().filter(|write| write.status == StatusCode::CREATED).count(),
        writes.iter().filter(|write| write.code == "outcome_unknown").count(),
        writes.iter().map(|write| write.took).max().unwrap_or_default()
    );
}
