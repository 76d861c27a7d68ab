//! The OpenAPI document, generated from the handlers' annotations, and an interactive docs page.

use axum::Router;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_scalar::{Scalar, Servable};

use crate::AppState;
use crate::routes::{
    association, audit, citizen, collectivity, directory, gold, history, missions, offers, system, venue,
};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The refusals every operation may answer, declared once for all of them (each as problem+json,
/// docs/api.md's table of codes says when): `400` for an operation with parameters or a body,
/// `401`/`403` for one that takes a token, `404` for a path with parameters, `408` and `415` for
/// one with a body, `409` and `422` for a write, and `503` for a write or a read that takes
/// `min_position`.
struct ProblemResponses;

impl ProblemResponses {
    fn response(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
            )
            .build()
            .into()
    }

    fn declare(path: &str, write: bool, operation: &mut utoipa::openapi::path::Operation) {
        let parameters = operation.parameters.as_deref().unwrap_or_default();
        let has_body = operation.request_body.is_some();
        let min_position = parameters.iter().any(|parameter| parameter.name == "min_position");
        let secured = operation.security.as_ref().is_some_and(|security| !security.is_empty());
        let mut refusals: Vec<(&str, &str)> = Vec::new();
        if !parameters.is_empty() || has_body || path.contains('{') {
            refusals.push(("400", "validation_failed: a parameter or the body is malformed or over its limit"));
        }
        if secured {
            refusals.push(("401", "unauthorized: no token, or an unknown one"));
            refusals.push(("403", "forbidden: a token of another role"));
        }
        if path.contains('{') {
            refusals.push(("404", "not_found: the id in the path names nothing"));
        }
        if has_body {
            refusals.push(("408", "request_timeout: the body did not arrive in time"));
            refusals.push(("415", "unsupported_media_type: the Content-Type is missing or another"));
        }
        if write {
            refusals.push(("409", "id_conflict or another conflict with the state: see the table of codes"));
            refusals.push(("422", "a request the rules or the registry refuse: see the table of codes"));
        }
        if write || min_position {
            refusals.push((
                "503",
                "overloaded, contention, storage_unavailable, outcome_unknown, not_writer or projection_lagging: \
                 retry after Retry-After",
            ));
        }
        for (status, description) in refusals {
            operation.responses.responses.entry(status.to_owned()).or_insert_with(|| Self::response(description));
        }
    }
}

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (write, operation) in [
                (false, item.get.as_mut()),
                (true, item.put.as_mut()),
                (true, item.post.as_mut()),
                (true, item.delete.as_mut()),
                (true, item.patch.as_mut()),
            ] {
                if let Some(operation) = operation {
                    Self::declare(path, write, operation);
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Ygor", description = "Registre de jetons citoyens — citizen token ledger. Errors are RFC 9457 problem+json with a stable `code`."),
    paths(
        system::healthz,
        system::readyz,
        system::status,
        collectivity::publish_rules,
        collectivity::mint_supply,
        collectivity::register_partner,
        collectivity::allocate_envelope,
        collectivity::suspend_partner,
        collectivity::register_citizen,
        crate::web::login::create_login_link,
        collectivity::sweep_expired,
        collectivity::settle_venue,
        collectivity::circulation,
        collectivity::participation,
        missions::publish,
        missions::close,
        missions::list,
        missions::matching,
        citizen::profile,
        citizen::set_interests,
        venue::statement,
        system::metrics,
        audit::events,
        gold::periods,
        gold::create,
        gold::enter,
        gold::close,
        gold::show,
        audit::checkpoint,
        audit::record_checkpoint,
        audit::proof,
        audit::consistency,
        association::certify,
        association::certify_batch,
        association::revoke,
        venue::redeem,
        venue::redemptions,
        citizen::wallet,
        offers::issue_voucher,
        offers::publish,
        offers::close,
        offers::list,
        offers::show,
        offers::dashboard,
        directory::rules,
        directory::rules_versions,
        directory::venues,
        directory::associations,
        collectivity::list_partners,
        collectivity::reinstate_partner,
        gold::list,
        association::envelope,
        association::certifications,
        citizen::lookup,
        history::history,
    ),
    components(schemas(crate::error::Problem)),
    modifiers(&BearerAuth, &ProblemResponses),
    tags(
        (name = "collectivity", description = "La collectivité (admin token)"),
        (name = "association", description = "Les associations certificatrices"),
        (name = "venue", description = "Les lieux partenaires"),
        (name = "citizen", description = "Les citoyens"),
        (name = "offers", description = "Les offres des lieux partenaires"),
        (name = "gold", description = "Jetons d'or et tirages au sort vérifiables"),
        (name = "audit", description = "Journal d'audit : export, points de contrôle signés, preuves"),
        (name = "system", description = "Santé et état du service"),
    )
)]
pub struct ApiDoc;

/// The `/docs` page: utoipa-scalar's page, with the Scalar API reference loaded from our own host
/// (the vendored copy of `crate::static_files`, its version in the query so that a new one is
/// fetched past the long cache) instead of a CDN, and Scalar's web fonts and telemetry off, so that
/// the page asks no other host for anything and works offline. `$spec` is the OpenAPI document.
const DOCS_HTML: &str = r#"<!doctype html>
<html>
<head>
    <title>Ygor — API</title>
    <meta charset="utf-8"/>
    <meta name="viewport" content="width=device-width, initial-scale=1"/>
</head>
<body>
<script id="api-reference" type="application/json"
        data-configuration='{"withDefaultFonts":false,"telemetry":false}'>
    $spec
</script>
<script src="/static/vendor/scalar/standalone.js?v=1.76.4"></script>
</body>
</html>
"#;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(|| async { axum::Json(ApiDoc::openapi()) }))
        .merge(Scalar::with_url("/docs", ApiDoc::openapi()).custom_html(DOCS_HTML))
}
