//! The OpenAPI document, generated from the handlers' annotations, and an interactive docs page.

use axum::Router;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_scalar::{Scalar, Servable};

use crate::AppState;
use crate::routes::{association, audit, citizen, collectivity, gold, missions, system, venue};

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
        association::revoke,
        venue::redeem,
        venue::redemptions,
        citizen::wallet,
        citizen::issue_voucher,
    ),
    components(schemas(crate::error::Problem)),
    modifiers(&BearerAuth),
    tags(
        (name = "collectivity", description = "La collectivité (admin token)"),
        (name = "association", description = "Les associations certificatrices"),
        (name = "venue", description = "Les lieux partenaires"),
        (name = "citizen", description = "Les citoyens"),
        (name = "gold", description = "Jetons d'or et tirages au sort vérifiables"),
        (name = "audit", description = "Journal d'audit : export, points de contrôle signés, preuves"),
        (name = "system", description = "Santé et état du service"),
    )
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(|| async { axum::Json(ApiDoc::openapi()) }))
        .merge(Scalar::with_url("/docs", ApiDoc::openapi()))
}
