//! A small territory and certifications for tests and benchmarks (the engine's own, and
//! `benches/restart.rs`), on the logs of `ygor_store::testing`. Part of the public API as that
//! module is; certifications made here carry no real signature (the engine does not check them).

use chrono::Utc;
use ygor_ledger::operations::Certify;
use ygor_ledger::partner::SignedRequest;
use ygor_ledger::wallet::Demographics;
use ygor_ledger::{ActionId, CategoryId, CitizenId, LotId, PartnerId, PartnerKind, Tokens};
use ygor_store::{Backend, CitizenDetails};

use crate::{Engine, EngineOptions, Seeds};

pub const RULES: &str =
    "[tokens]\nlifetime = \"P6M\"\n\n[[categories]]\nid = \"ecologie\"\nlabel = \"Écologie\"\ntokens_per_action = 10\n";

/// An engine with `options` on a fresh log of `backend`, with rules, supply, an association
/// holding 100,000 tokens and a citizen.
pub async fn territory(
    backend: Backend,
    options: EngineOptions,
) -> (Engine, PartnerId, CitizenId, Option<tempfile::TempDir>) {
    let (log, guard) = ygor_store::testing::fresh_event_log(backend).await;
    let seeds = Seeds::new(ygor_crypto::SecretKey::generate());
    let engine = Engine::open_with(log, seeds, options).await.expect("opens");
    let association = fund_association(&engine, RULES, Tokens::new(100_000)).await;
    let citizen = register_citizen(&engine).await;
    (engine, association, citizen, guard)
}

/// Publishes `rules`, mints `envelope` and gives it all to a new association, whose id it returns.
pub async fn fund_association(engine: &Engine, rules: &str, envelope: Tokens) -> PartnerId {
    let at = Utc::now();
    let parsed = ygor_rules::Rules::parse(rules).expect("rules");
    engine.publish_rules(parsed, rules.to_owned(), at).await.expect("rules published");
    engine.mint(envelope, at).await.expect("minted");
    let association = PartnerId::from_uuid(uuid::Uuid::new_v4());
    let name = "Les Amis du Parc".to_owned();
    engine
        .register_partner(association, PartnerKind::Association, name, "key".to_owned(), [1; 32], at)
        .await
        .expect("registered");
    engine.allocate_envelope(association, envelope, at).await.expect("allocated");
    association
}

/// A newly registered citizen.
pub async fn register_citizen(engine: &Engine) -> CitizenId {
    let citizen = CitizenId::from_uuid(uuid::Uuid::new_v4());
    let details =
        CitizenDetails { citizen_id: citizen.to_string(), neighbourhood: None, birth_year: None, email: None };
    engine
        .register_citizen(
            citizen,
            Demographics::default(),
            vec![],
            details,
            token_hash(),
            ygor_crypto::random_short_code,
            Utc::now(),
        )
        .await
        .expect("registered");
    citizen
}

/// A token hash no other test credential has.
fn token_hash() -> [u8; 32] {
    let mut hash = [0; 32];
    hash[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    hash[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    hash
}

/// A new certification of one `ecologie` action (10 tokens) by `association` for `citizen`.
pub fn certification(association: PartnerId, citizen: CitizenId) -> Certify {
    Certify {
        action_id: ActionId::from_uuid(uuid::Uuid::new_v4()),
        association_id: association,
        citizen_id: citizen,
        category: CategoryId::parse("ecologie").expect("a category"),
        quantity: 1,
        occurred_at: Utc::now(),
        signature: "c2ln".to_owned(),
        request: SignedRequest::none(),
        fingerprint: uuid::Uuid::new_v4().to_string(),
        gold: false,
        gold_period: None,
        lot_id: LotId::from_uuid(uuid::Uuid::new_v4()),
        at: Utc::now(),
    }
}
