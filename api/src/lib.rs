//! The HTTP face of Ygor: the axum application (routes per resource, one error mapping, typed
//! role extractors, signature checks at the edge) over the engine (`ygor-engine`), and the
//! start-up that opens storage, keys, the engine, its jobs and the projections. `main` stays
//! thin; tests build the same app.

pub mod auth;
pub mod error;
pub mod export;
pub mod extract;
pub mod json;
pub mod openapi;
pub mod routes;
pub mod server;
pub mod setup;
pub mod static_files;
pub mod web;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use ygor_crypto::{PublicKey, SecretKey};
use ygor_projections::Projections;
use ygor_store::EventLog;

use ygor_engine::Engine;

/// Largest request body accepted, in bytes (a rules file is at most 64 KiB).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

struct StateInner {
    engine: Engine,
    projections: Projections,
    territory_key: SecretKey,
    territory_public_key: PublicKey,
    web: web::WebOptions,
}

impl AppState {
    pub fn new(engine: Engine, projections: Projections, territory_key: SecretKey, web: web::WebOptions) -> Self {
        let territory_public_key = territory_key.public_key();
        Self { inner: Arc::new(StateInner { engine, projections, territory_key, territory_public_key, web }) }
    }

    /// How the pages are served and their links sent.
    pub fn web(&self) -> &web::WebOptions {
        &self.inner.web
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn log(&self) -> &EventLog {
        self.inner.engine.log()
    }

    pub fn projections(&self) -> &Projections {
        &self.inner.projections
    }

    pub fn territory_key(&self) -> &SecretKey {
        &self.inner.territory_key
    }

    pub fn territory_public_key(&self) -> &PublicKey {
        &self.inner.territory_public_key
    }
}

/// The whole application: every route, the body limit, the OpenAPI document and docs page, and the
/// static files they load.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(routes::system::router())
        .merge(routes::collectivity::router())
        .merge(routes::association::router())
        .merge(routes::venue::router())
        .merge(routes::citizen::router())
        .merge(routes::missions::router())
        .merge(routes::audit::router())
        .merge(routes::gold::router())
        .merge(routes::offers::router())
        .merge(routes::directory::router())
        .merge(web::login::api_router())
        .merge(openapi::router())
        .merge(web::router())
        .merge(static_files::router())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .fallback(routes::system::not_found)
        // After every route: a known path with another method answers problem+json, with the
        // `Allow` header axum adds to a method fallback's answer.
        .method_not_allowed_fallback(routes::system::method_not_allowed)
        .with_state(state)
}
