//! Static files built into the binary (`include_bytes!`) and served from our own host, so that no
//! page of Ygor asks another host for anything: the web pages' CSS, scripts, icon and manifest,
//! and the vendored Scalar API reference of `/docs`. Each file is one row of [`FILES`].
//!
//! Vendored files are answered with a year-long `cache-control`: a page that links one adds
//! `?v=<version>` to its URL when the file changes (the query is ignored here), so that browsers
//! fetch the new one. Our own files change with each release and import each other by plain
//! names (ES modules), so browsers keep them an hour.

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
    pub cache_control: &'static str,
}

pub const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// The `cache-control` of a vendored file: a year, never revalidated.
pub const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// The `cache-control` of our own files: an hour.
pub const OWN_CACHE_CONTROL: &str = "public, max-age=3600";

/// The path of the vendored Scalar API reference (`@scalar/api-reference`, see
/// `api/static/vendor/scalar/README.md`).
pub const SCALAR_JS: &str = "/static/vendor/scalar/standalone.js";

/// One of our own files under `api/static/`.
macro_rules! own {
    ($path:literal, $content_type:expr) => {
        StaticFile {
            path: concat!("/static/", $path),
            bytes: include_bytes!(concat!("../static/", $path)),
            content_type: $content_type,
            cache_control: OWN_CACHE_CONTROL,
        }
    };
}

/// Every static file the app serves.
pub const FILES: &[StaticFile] = &[
    StaticFile {
        path: SCALAR_JS,
        bytes: include_bytes!("../static/vendor/scalar/standalone.js"),
        content_type: JAVASCRIPT,
        cache_control: CACHE_CONTROL,
    },
    own!("css/ygor.css", "text/css; charset=utf-8"),
    own!("js/enhance.js", JAVASCRIPT),
    own!("js/ygor-crypto.js", JAVASCRIPT),
    own!("js/proofs.js", JAVASCRIPT),
    own!("js/partner.js", JAVASCRIPT),
    own!("js/cle.js", JAVASCRIPT),
    own!("js/guichet.js", JAVASCRIPT),
    own!("js/association.js", JAVASCRIPT),
    own!("icon.svg", "image/svg+xml"),
    own!("manifest.webmanifest", "application/manifest+json"),
];

/// A `GET` (and so `HEAD`) route for each row of [`FILES`].
pub fn router() -> Router<AppState> {
    FILES.iter().fold(Router::new(), |router, file| {
        router.route(
            file.path,
            get(move || async move {
                (
                    [
                        (header::CONTENT_TYPE, file.content_type),
                        (header::CACHE_CONTROL, file.cache_control),
                        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                    ],
                    file.bytes,
                )
                    .into_response()
            }),
        )
    })
}
