//! Concurrent requests that collide inside the server: clients only see business outcomes.

use futures::future::join_all;
use reqwest::StatusCode;

use crate::helpers::{Backend, spawn_app};

crate::on_both_backends!(
    two_hundred_racing_certifications_never_overdraw_an_envelope,
    forty_racing_redemptions_never_overspend_a_wallet,
);

async fn two_hundred_racing_certifications_never_overdraw_an_envelope(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, _venue, _citizen) = app.territory(1_000).await;
    // 200 citizens so that no monthly cap interferes: only the envelope limits.
    let mut citizens = Vec::new();
    for _ in 0..200 {
        citizens.push(app.register_citizen().await);
    }
    let answers = join_all(citizens.iter().map(|citizen| app.certify(&association, citizen, "ecologie", 1))).await;
    let created = answers.iter().filter(|answer| answer.status == StatusCode::CREATED).count();
    let exhausted = answers
        .iter()
        .filter(|answer| answer.status == StatusCode::CONFLICT && answer.code() == "envelope_exhausted")
        .count();
    let others: Vec<_> = answers
        .iter()
        .filter(|answer| answer.status != StatusCode::CREATED && answer.code() != "envelope_exhausted")
        .collect();
    assert!(others.is_empty(), "only business outcomes: {others:?}");
    assert_eq!((created, exhausted), (100, 100));
    let last = answers.iter().filter_map(|answer| answer.body["position"].as_i64()).max().expect("positions");
    let circulation = app.circulation(last).await;
    assert_eq!((circulation["envelopes"].as_u64(), circulation["wallets"].as_u64()), (Some(0), Some(1_000)));
}

async fn forty_racing_redemptions_never_overspend_a_wallet(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    for _ in 0..10 {
        app.certify(&association, &citizen, "culture", 1).await.expect(StatusCode::CREATED);
    }
    // culture earns 8 per action: 80 tokens; top up to 100 with two velo rides of 10 km.
    app.certify(&association, &citizen, "velo", 10).await.expect(StatusCode::CREATED);
    app.certify(&association, &citizen, "velo", 10).await.expect(StatusCode::CREATED);
    assert_eq!(app.wallet(&citizen, app.latest().await).await["balance"], 100);
    let mut vouchers = Vec::new();
    for _ in 0..40 {
        vouchers.push(app.voucher(&citizen, 10).await);
    }
    let answers = join_all(vouchers.iter().map(|voucher| {
        let body = crate::helpers::TestApp::redemption(&venue, voucher, 10);
        app.redeem_body(&venue, body)
    }))
    .await;
    let created = answers.iter().filter(|answer| answer.status == StatusCode::CREATED).count();
    let refused = answers
        .iter()
        .filter(|answer| answer.status == StatusCode::CONFLICT && answer.code() == "insufficient_balance")
        .count();
    assert_eq!((created, refused), (10, 30), "{answers:?}");
    let last = answers.iter().filter_map(|answer| answer.body["position"].as_i64()).max().expect("positions");
    assert_eq!(app.wallet(&citizen, last).await["balance"], 0);
    assert_eq!(app.circulation(last).await["redeemed_unsettled"], 100);
}
