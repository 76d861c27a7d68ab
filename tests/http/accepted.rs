//! Whatever the API accepts, the audit verifies: for signed certifications and redemptions in many
//! spellings (ids in other cases, times with offsets and fractions, numbers written otherwise,
//! escaped strings, repeated or unknown keys, retries and reused ids), every request answered
//! `200` or `201` leaves a log on which `ygor audit verify` exits 0, and every other is refused
//! with a problem that changes nothing.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use ygor_crypto::SignedKind;

use crate::helpers::{Backend, Partner, TestApp, spawn_app};

crate::on_both_backends!(whatever_the_api_accepts_the_audit_verifies);

/// How many signed requests of each kind one run sends.
const CERTIFICATIONS: usize = 120;
const REDEMPTIONS: usize = 40;

/// How an id is written.
#[derive(Debug, Clone, Copy)]
enum Case {
    Lower,
    Upper,
    Mixed,
}

fn case() -> impl Strategy<Value = Case> {
    prop_oneof![18 => Just(Case::Lower), 1 => Just(Case::Upper), 1 => Just(Case::Mixed)]
}

fn spelled(id: &str, case: Case) -> String {
    match case {
        Case::Lower => id.to_owned(),
        Case::Upper => id.to_uppercase(),
        Case::Mixed => {
            id.chars().enumerate().map(|(at, c)| if at % 2 == 0 { c.to_ascii_uppercase() } else { c }).collect()
        }
    }
}

/// The text of a JSON string, with one of its characters written as a `\u` escape if asked.
fn string(text: &str, escaped: bool) -> String {
    if !escaped || text.is_empty() {
        return serde_json::to_string(text).expect("a string");
    }
    let mut chars = text.chars();
    let first = chars.next().expect("not empty");
    format!("\"\\u{:04x}{}\"", first as u32, chars.as_str())
}

#[derive(Debug, Clone)]
struct CertificationVariant {
    action: Case,
    association: Case,
    citizen: Case,
    /// The id of an earlier request again: a retry (same body) or a conflict (another).
    reuse: Option<(usize, bool)>,
    /// Minutes of offset in the written time, the digits of its fraction, and a lowercase `z`/`t`.
    offset_minutes: i32,
    fraction_digits: usize,
    lowercase_time: bool,
    /// Hours before now the action happened (negative: in the future).
    hours_ago: i64,
    quantity: Value,
    category: &'static str,
    escaped_category: bool,
    /// An unknown key, or a key written twice.
    unknown_key: bool,
    repeated_key: bool,
    pretty: bool,
}

fn certification_variant() -> impl Strategy<Value = CertificationVariant> {
    let quantity = prop_oneof![
        16 => (0u64..4).prop_map(Value::from),
        1 => Just(json!(1.0)),
        1 => Just(json!(-1)),
        1 => Just(json!("1")),
        1 => Just(json!(1_000_001)),
    ];
    let category = prop_oneof![12 => Just("ecologie"), 4 => Just("velo"), 1 => Just("Ecologie"), 1 => Just("sport")];
    (
        (case(), case(), case(), proptest::option::weighted(0.15, (0usize..1000, any::<bool>()))),
        (prop_oneof![Just(0), Just(120), Just(-300)], 0usize..10, proptest::bool::weighted(0.1), -2i64..72),
        (quantity, category, any::<bool>()),
        (proptest::bool::weighted(0.05), proptest::bool::weighted(0.05), any::<bool>()),
    )
        .prop_map(|(ids, time, what, shape)| CertificationVariant {
            action: ids.0,
            association: ids.1,
            citizen: ids.2,
            reuse: ids.3,
            offset_minutes: time.0,
            fraction_digits: time.1,
            lowercase_time: time.2,
            hours_ago: time.3,
            quantity: what.0,
            category: what.1,
            escaped_category: what.2,
            unknown_key: shape.0,
            repeated_key: shape.1,
            pretty: shape.2,
        })
}

/// `at` written as RFC 3339 in the variant's offset, fraction and case.
fn time_text(at: chrono::DateTime<chrono::Utc>, variant: &CertificationVariant) -> String {
    let offset = chrono::FixedOffset::east_opt(variant.offset_minutes * 60).expect("an offset");
    let local = at.with_timezone(&offset);
    let mut text = local.format("%Y-%m-%dT%H:%M:%S").to_string();
    if variant.fraction_digits > 0 {
        let nanos = format!("{:09}", local.timestamp_subsec_nanos());
        text.push('.');
        text.push_str(&nanos[..variant.fraction_digits.min(9)]);
    }
    text.push_str(&if variant.offset_minutes == 0 { "Z".to_owned() } else { local.format("%:z").to_string() });
    if variant.lowercase_time { text.to_lowercase() } else { text }
}

/// A signed body as text: `fields` (key, JSON text of the value) in that order, the signature of
/// the object they make (as the server reads it) appended, and `repeated` written twice.
fn signed_text(
    kind: SignedKind,
    fields: &[(&str, String)],
    repeated: Option<&str>,
    pretty: bool,
    partner: &Partner,
) -> String {
    let object_text = |fields: &[(&str, String)]| {
        let members: Vec<String> = fields
            .iter()
            .map(|(key, value)| format!("{}: {value}", serde_json::to_string(key).expect("a key")))
            .collect();
        if pretty { format!("{{\n  {}\n}}", members.join(",\n  ")) } else { format!("{{{}}}", members.join(",")) }
    };
    let parsed: Map<String, Value> = serde_json::from_str(&object_text(fields)).expect("the fields make an object");
    let signed = ygor_crypto::sign_object(kind, parsed, &partner.key).expect("sign");
    let mut all = fields.to_vec();
    all.push(("signature", serde_json::to_string(&signed["signature"]).expect("a signature")));
    if let Some(key) = repeated {
        let again = all.iter().find(|(name, _)| *name == key).expect("a field to repeat").clone();
        all.push(again);
    }
    object_text(&all)
}

#[derive(Debug, Clone)]
struct RedemptionVariant {
    redemption: Case,
    venue: Case,
    amount: Value,
    reuse: Option<(usize, bool)>,
    repeated_key: bool,
}

fn redemption_variant() -> impl Strategy<Value = RedemptionVariant> {
    let amount = prop_oneof![6 => (1u64..3).prop_map(Value::from), 1 => Just(json!(0)), 1 => Just(json!(1.0)), 1 => Just(json!(99))];
    (
        case(),
        case(),
        amount,
        proptest::option::weighted(0.15, (0usize..1000, any::<bool>())),
        proptest::bool::weighted(0.05),
    )
        .prop_map(|(redemption, venue, amount, reuse, repeated_key)| RedemptionVariant {
            redemption,
            venue,
            amount,
            reuse,
            repeated_key,
        })
}

fn sample<S: Strategy>(strategy: &S, runner: &mut TestRunner) -> S::Value {
    strategy.new_tree(runner).expect("a value").current()
}

/// A request and its answer, kept to report what broke the audit.
struct Sent {
    text: String,
    status: StatusCode,
    body: Value,
}

async fn post_text(app: &TestApp, path: &str, token: &str, text: String) -> Sent {
    let response = app
        .client
        .post(format!("{}{path}", app.address))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(text.clone())
        .send()
        .await
        .expect("the server answers");
    let answer = TestApp::answer(response).await;
    Sent { text, status: answer.status, body: answer.body }
}

async fn whatever_the_api_accepts_the_audit_verifies(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000_000).await;
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let mut sent: Vec<Sent> = Vec::new();
    let mut actions: Vec<(String, String)> = Vec::new();
    let now = chrono::Utc::now();
    let certifications = certification_variant();
    for _ in 0..CERTIFICATIONS {
        let variant = sample(&certifications, &mut runner);
        let reused = variant
            .reuse
            .and_then(|(index, same)| actions.get(index % actions.len().max(1)).map(|a| (a.clone(), same)));
        if let Some(((_, text), true)) = &reused {
            // A retry: the very same text again.
            sent.push(post_text(&app, "/v1/certifications", &association.token, text.clone()).await);
            continue;
        }
        let action_id = match &reused {
            Some(((id, _), _)) => id.clone(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        let occurred_at = now - chrono::Duration::minutes(variant.hours_ago * 60 + 7);
        let mut fields = vec![
            ("action_id", string(&spelled(&action_id, variant.action), false)),
            ("association_id", string(&spelled(&association.id, variant.association), false)),
            ("citizen_id", string(&spelled(&citizen.id, variant.citizen), false)),
            ("category", string(variant.category, variant.escaped_category)),
            ("quantity", variant.quantity.to_string()),
            ("occurred_at", string(&time_text(occurred_at, &variant), false)),
        ];
        if variant.unknown_key {
            fields.push(("note", string("apporté des gants", false)));
        }
        let repeated = variant.repeated_key.then_some("quantity");
        let text = signed_text(SignedKind::Certification, &fields, repeated, variant.pretty, &association);
        let answer = post_text(&app, "/v1/certifications", &association.token, text.clone()).await;
        // Ids in another spelling and repeated keys are refused, naming what is wrong.
        let misspelled: Vec<&str> =
            [("action_id", variant.action), ("association_id", variant.association), ("citizen_id", variant.citizen)]
                .into_iter()
                .filter(|(_, case)| !matches!(case, Case::Lower))
                .map(|(field, _)| field)
                .collect();
        if variant.repeated_key {
            assert_eq!(
                (answer.status, answer.body["code"].as_str()),
                (StatusCode::BAD_REQUEST, Some("validation_failed")),
                "{text}"
            );
        } else if !misspelled.is_empty() {
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{text}: {}", answer.body);
            // One of them is named, unless the body fails its shape first (a quantity that is
            // not a whole number, an unknown key).
            let shaped = variant.quantity.as_u64().is_some() && !variant.unknown_key;
            let detail = answer.body["detail"].as_str().unwrap_or("");
            assert!(misspelled.iter().any(|field| detail.contains(field)) || !shaped, "{text}: {}", answer.body);
        }
        if answer.status == StatusCode::CREATED {
            actions.push((action_id, text));
        }
        sent.push(answer);
    }
    let redemptions = redemption_variant();
    let mut redeemed: Vec<(String, String)> = Vec::new();
    for _ in 0..REDEMPTIONS {
        let variant = sample(&redemptions, &mut runner);
        let reused = variant
            .reuse
            .and_then(|(index, same)| redeemed.get(index % redeemed.len().max(1)).map(|r| (r.clone(), same)));
        if let Some(((_, text), true)) = &reused {
            sent.push(post_text(&app, "/v1/redemptions", &venue.token, text.clone()).await);
            continue;
        }
        let redemption_id = match &reused {
            Some(((id, _), _)) => id.clone(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        let voucher = app.voucher(&citizen, 2).await;
        let fields = vec![
            ("redemption_id", string(&spelled(&redemption_id, variant.redemption), false)),
            ("venue_id", string(&spelled(&venue.id, variant.venue), false)),
            ("voucher", string(&voucher, false)),
            ("amount", variant.amount.to_string()),
        ];
        let repeated = variant.repeated_key.then_some("amount");
        let text = signed_text(SignedKind::Redemption, &fields, repeated, false, &venue);
        let answer = post_text(&app, "/v1/redemptions", &venue.token, text.clone()).await;
        if answer.status == StatusCode::CREATED {
            redeemed.push((redemption_id, text));
        }
        sent.push(answer);
    }
    // Every answer is an acceptance or a problem; and both happened.
    for request in &sent {
        let accepted = request.status == StatusCode::OK || request.status == StatusCode::CREATED;
        let refused = request.status.is_client_error() && request.body["code"].is_string();
        assert!(
            accepted || refused,
            "neither accepted nor refused with a problem: {} → {} {}",
            request.text,
            request.status,
            request.body
        );
    }
    let accepted = sent.iter().filter(|request| request.status.is_success()).count();
    assert!(accepted > sent.len() / 4 && accepted < sent.len(), "{accepted} of {} accepted", sent.len());
    let (code, output) = app.audit_verify();
    if code != 0 {
        let accepted: Vec<&str> =
            sent.iter().filter(|request| request.status.is_success()).map(|request| request.text.as_str()).collect();
        panic!("audit verify exits {code}:\n{output}\naccepted requests:\n{}", accepted.join("\n"));
    }
}
