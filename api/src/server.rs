//! The one serving path of `ygor serve` and of the tests: an HTTP/1.1 accept loop on hyper that
//! bounds what a slow or stalled client can hold.
//!
//! - A connection must send a request's headers within [`ServerLimits::header_read_timeout`]
//!   of the server starting to wait for them (a new connection, or an idle kept-alive one), or
//!   hyper closes it.
//! - A request must be read and answered within [`ServerLimits::request_timeout`], or it is
//!   answered `408 request_timeout` (problem+json). This covers a body sent slowly too, since the
//!   handlers read the body.
//! - At most [`ServerLimits::max_connections`] connections are served at once. The loop takes a
//!   permit before it accepts: when none is left, new connections wait in the kernel's accept
//!   backlog instead of being accepted and starved, and are taken as others close.
//! - When `shutdown` resolves, the listener is closed, idle connections are closed, the requests
//!   in flight get [`ServerLimits::drain`] to finish, and the function returns.
//!
//! Only HTTP/1.1 is served: the header timeout is an HTTP/1 notion, and a cleartext HTTP/2
//! client that stalls inside its preface would not be bounded by it. TLS and HTTP/2 belong to the
//! reverse proxy in front.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// What one client may hold of the server, and how long a stop waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// From the moment the server waits for a request until its headers are all read.
    pub header_read_timeout: Duration,
    /// From the moment a request's headers are read until its answer is ready.
    pub request_timeout: Duration,
    /// Connections served at once; more wait in the accept backlog. At least 1.
    pub max_connections: usize,
    /// How long a stop lets the requests in flight finish.
    pub drain: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            drain: Duration::from_secs(10),
        }
    }
}

/// How long the loop pauses after an accept error that is not about one connection (such as
/// running out of file descriptors), so that it does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then drains (see the
/// module documentation) and returns.
pub async fn serve_until(listener: TcpListener, app: Router, limits: ServerLimits, shutdown: impl Future<Output = ()>) {
    assert!(limits.max_connections > 0, "a server that takes no connection serves nothing");
    let request_timeout = limits.request_timeout;
    let app = app.layer(axum::middleware::from_fn(move |request: Request, next: Next| {
        answer_within(request_timeout, request, next)
    }));
    let service = TowerToHyperService::new(app);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break,
            permit = Arc::clone(&connections).acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let stream = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    tracing::error!(%error, "cannot accept a connection; trying again in a second");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service.clone()));
        tokio::spawn(async move {
            // A client that stalls, resets or times out ends its own connection only.
            if let Err(error) = connection.await {
                tracing::debug!(%error, "a connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown()).await.is_err() {
        tracing::warn!(drain = ?limits.drain, "requests still in flight after the drain bound: stopping without them");
    }
}

/// Runs the rest of the stack, or answers `408 request_timeout` when it takes longer than `limit`.
async fn answer_within(limit: Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(?limit, "a request was not read and answered in time");
            ApiError::request_timeout(limit).into_response()
        }
    }
}

/// Errors of one connection that went away before it was accepted: nothing to wait for.
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind as Kind;
    matches!(error.kind(), Kind::ConnectionRefused | Kind::ConnectionAborted | Kind::ConnectionReset)
}
