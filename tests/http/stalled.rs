//! Slow and stalled clients hold nothing for long: thousands of connections that send half a
//! request line and stop do not keep a normal client from being answered at once, and each is
//! closed after the header read timeout; a request whose body stalls is answered
//! `408 request_timeout`; connections over the cap wait in the accept backlog until one closes.
//! The limits are shortened here so that the tests take seconds. These are properties of the
//! HTTP server, not of the storage: they run on SQLite only.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ygor_api::server::ServerLimits;

use crate::helpers::{Backend, TestApp, spawn_app_with};

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
const STALLED: usize = 2_000;

fn limits(max_connections: usize) -> ServerLimits {
    ServerLimits {
        header_read_timeout: HEADER_READ_TIMEOUT,
        request_timeout: REQUEST_TIMEOUT,
        max_connections,
        ..ServerLimits::default()
    }
}

/// `host:port` of the app.
fn socket_address(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// A connection that sent `bytes` and nothing more.
async fn stall(address: &str, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.expect("the server takes the connection");
    stream.write_all(bytes).await.expect("the server reads");
    stream
}

/// Reads `stream` until the server closes it (end of stream or reset), at most until `deadline`;
/// returns what it read, or `None` if it was still open then.
async fn read_until_closed(stream: &mut TcpStream, deadline: tokio::time::Instant) -> Option<Vec<u8>> {
    let mut read = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(read),
            Ok(Ok(count)) => read.extend_from_slice(&buffer[..count]),
        }
    }
}

/// The soft limit on this process's open files, from `/proc/self/limits` (Linux).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// A client that opens a new connection for every request, as a new visitor does.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(15)).build().expect("a client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_stalled_connections_do_not_starve_a_normal_client_and_are_closed_after_the_header_timeout() {
    // Both ends of every connection live in this process, beside the other tests' files.
    if let Some(limit) = open_files_limit() {
        assert!(limit >= 3 * STALLED as u64, "raise the open files limit (`ulimit -n`) to {} at least", 3 * STALLED);
    }
    let app = spawn_app_with(Backend::Sqlite, |config| config.server = limits(10_000)).await;
    let address = socket_address(&app);
    let opened = Instant::now();
    let mut stalled: Vec<TcpStream> = futures::stream::iter(0..STALLED)
        .map(|_| stall(&address, b"GET /healthz HT"))
        .buffer_unordered(200)
        .collect()
        .await;
    assert_eq!(stalled.len(), STALLED);

    // A normal client, on new connections, is answered while the stalled ones are held: a
    // starved one would wait for them to time out.
    let client = fresh_client();
    for _ in 0..5 {
        let started = Instant::now();
        let response = client.get(format!("{}/healthz", app.address)).send().await.expect("answered");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(started.elapsed() < HEADER_READ_TIMEOUT / 2, "answered in {:?}", started.elapsed());
    }
    assert!(
        opened.elapsed() < HEADER_READ_TIMEOUT,
        "the stalled connections are still open: the check means something"
    );

    // One more stalled connection, timed alone: the server closes it after the header timeout,
    // without an answer, and not before.
    let mut timed = stall(&address, b"GET /healthz HT").await;
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + HEADER_READ_TIMEOUT + Duration::from_secs(3);
    let read = read_until_closed(&mut timed, deadline).await.expect("the server closes a stalled connection");
    let lived = started.elapsed();
    assert!(lived >= HEADER_READ_TIMEOUT - Duration::from_millis(200), "closed after {lived:?}");
    assert!(read.is_empty(), "no answer to half a request: {}", String::from_utf8_lossy(&read));

    // And every one of the two thousand is closed too.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let closed = futures::future::join_all(stalled.iter_mut().map(|stream| read_until_closed(stream, deadline))).await;
    let still_open = closed.iter().filter(|read| read.is_none()).count();
    assert_eq!(
        still_open,
        0,
        "{still_open} stalled connections still open {:?} after they were opened",
        opened.elapsed()
    );
}

#[tokio::test]
async fn a_request_whose_body_stalls_is_answered_408_request_timeout() {
    let app = spawn_app_with(Backend::Sqlite, |config| config.server = limits(10_000)).await;
    let head = format!(
        "POST /v1/supply HTTP/1.1\r\nHost: ygor\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"amount\": ",
        app.admin_token
    );
    let started = Instant::now();
    let mut stream = stall(&socket_address(&app), head.as_bytes()).await;
    let deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT + Duration::from_secs(5);
    let read = read_until_closed(&mut stream, deadline).await.expect("the server answers and closes");
    let answer = String::from_utf8_lossy(&read).to_ascii_lowercase();
    assert!(started.elapsed() >= REQUEST_TIMEOUT, "answered after {:?}", started.elapsed());
    assert!(answer.starts_with("http/1.1 408"), "{answer}");
    assert!(answer.contains("content-type: application/problem+json"), "{answer}");
    assert!(answer.contains(r#""code":"request_timeout""#), "{answer}");
    // Nothing was minted.
    let events = app.get("/v1/audit/events", &app.admin_token).await.expect(StatusCode::OK);
    assert!(!events.to_string().contains("SupplyMinted"), "{events}");
}

#[tokio::test]
async fn connections_over_the_cap_wait_in_the_backlog_until_one_closes() {
    let app = spawn_app_with(Backend::Sqlite, |config| config.server = limits(2)).await;
    let address = socket_address(&app);
    let _stalled = [stall(&address, b"GET /he").await, stall(&address, b"GET /he").await];
    let started = Instant::now();
    let response = fresh_client().get(format!("{}/healthz", app.address)).send().await.expect("answered");
    let waited = started.elapsed();
    assert_eq!(response.status(), StatusCode::OK);
    // Taken once the header timeout closed a stalled connection, not refused and not before.
    assert!(waited >= HEADER_READ_TIMEOUT - Duration::from_millis(300), "answered after {waited:?}");
    assert!(waited < HEADER_READ_TIMEOUT + Duration::from_secs(3), "answered after {waited:?}");
}
