//! When the database does not keep up, the server refuses new writes at once with `503
//! overloaded` and `Retry-After`, rather than queueing them without bound; a refused write changes
//! nothing, and the writes it accepted still complete.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_full_write_queue_answers_overloaded_with_retry_after() {
    a_full_write_queue_answers_overloaded_with_retry_after(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_full_write_queue_answers_overloaded_with_retry_after() {
    a_full_write_queue_answers_overloaded_with_retry_after(Backend::Postgres).await;
}

/// Another client of the database holding its write lock: the server's committer waits for it.
enum Stall {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Stall {
    async fn start(app: &TestApp, backend: Backend) -> Stall {
        use sqlx::Connection;
        match backend {
            Backend::Postgres => {
                let url = app.config.database_url.clone().expect("a database URL");
                let mut connection = sqlx::PgConnection::connect(&url).await.expect("connects");
                sqlx::query("BEGIN").execute(&mut connection).await.expect("begins");
                // Writes wait; reads (the projections, the credentials) go on.
                sqlx::query("LOCK TABLE events IN EXCLUSIVE MODE").execute(&mut connection).await.expect("locks");
                Stall::Postgres(connection)
            }
            _ => {
                let path = app.config.data_dir.join("ygor.db");
                let mut connection =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.expect("connects");
                sqlx::query("BEGIN IMMEDIATE").execute(&mut connection).await.expect("takes the write lock");
                Stall::Sqlite(connection)
            }
        }
    }

    async fn release(self) {
        match self {
            Stall::Sqlite(mut connection) => {
                sqlx::query("ROLLBACK").execute(&mut connection).await.expect("releases");
            }
            Stall::Postgres(mut connection) => {
                sqlx::query("ROLLBACK").execute(&mut connection).await.expect("releases");
            }
        }
    }
}

async fn a_full_write_queue_answers_overloaded_with_retry_after(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.engine.queue_capacity = 1).await;
    let stall = Stall::start(&app, backend).await;
    const WRITES: usize = 8;
    /// How long the database stays locked once the writes are sent.
    const STALL: Duration = Duration::from_secs(2);
    let started = Instant::now();
    let writes: Vec<_> = (0..WRITES)
        .map(|_| {
            let request = app
                .client
                .post(format!("{}/v1/supply", app.address))
                .bearer_auth(&app.admin_token)
                .json(&json!({"amount": 10}));
            tokio::spawn(async move {
                let response = request.send().await.expect("the server answers");
                let answered = started.elapsed();
                let retry_after =
                    response.headers().get("retry-after").map(|value| value.to_str().expect("text").to_owned());
                (TestApp::answer(response).await, retry_after, answered)
            })
        })
        .collect();
    // The committer takes a group and waits for the lock; the queue holds one more operation. The
    // others are refused at once, while the lock is still held.
    tokio::time::sleep(STALL).await;
    stall.release().await;
    let released = started.elapsed();
    let mut accepted = 0;
    let mut refused = 0;
    let mut latest = 0;
    for write in writes {
        let (answer, retry_after, answered) = write.await.expect("the request ran");
        if answer.status == StatusCode::OK {
            assert!(answered >= STALL, "an accepted write is answered once the database is back ({answered:?})");
            accepted += 1;
            latest = latest.max(answer.body["position"].as_i64().expect("a position"));
            continue;
        }
        assert_eq!(retry_after.as_deref(), Some("1"), "a refusal says when to retry: {}", answer.body);
        answer.expect_problem(StatusCode::SERVICE_UNAVAILABLE, "overloaded");
        assert!(answered < released, "a refusal comes at once, not after the wait ({answered:?})");
        refused += 1;
    }
    assert!(refused >= WRITES - 4, "at most four writes fit while the database is locked ({refused} refused)");
    assert!(accepted >= 1, "the writes the queue took complete once the database is back");
    let circulation = app.circulation(latest).await;
    assert_eq!(circulation["minted"], 10 * accepted as u64, "a refused write changed nothing");
    // And the server takes writes again.
    app.mint(5).await.expect(StatusCode::OK);
}
