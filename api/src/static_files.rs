//! Static files built into the binary (`include_bytes!`) and served from our own host, so that no
//! page of Ygor asks another host for anything: the vendored Scalar API reference of `/docs`
//! today, the web pages' CSS and JavaScript later. Each file is one row of [`FILES`].
//!
//! They are answered with a year-long `cache-control`: a page that links one adds
//! `?v=<version>` to its URL when the file changes (the query is ignored here), so that browsers
//! fetch the new one.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::AppState;

/// One file: where it is served, its bytes and its `content-type`.
pub struct StaticFile {
    pub path: &'static str,
    pub bytes: &'static [u8],
    pub content_type: &'static str,
}

pub const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// The `cache-control` of every static file: a year, never revalidated.
pub const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// The path of the vendored Scalar API reference (`@scalar/api-reference`, see
/// `api/static/vendor/scalar/README.md`).
pub const SCALAR_JS: &str = "/static/vendor/scalar/standalone.js";

/// Every static file the app serves.
pub const FILES: &[StaticFile] = &[StaticFile {
    path: SCALAR_JS,
    bytes: include_bytes!("../static/vendor/scalar/standalone.js"),
    content_type: JAVASCRIPT,
}];

/// A `GET` (and so `HEAD`) route for each row of [`FILES`].
pub fn router() -> Router<AppState> {
    FILES.iter().fold(Router::new(), |router, file| {
        router.route(
            file.path,
            get(move || async move {
                (
                    [
                        (header::CONTENT_TYPE, file.content_type),
                        (header::CACHE_CONTROL, CACHE_CONTROL),
                        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                    ],
                    file.bytes,
                )
                    .into_response()
            }),
        )
    })
}
