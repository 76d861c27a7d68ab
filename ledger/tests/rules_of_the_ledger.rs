//! Given/when/then tests, one per rule and per error of the ledger.

mod support;

use chrono::{DateTime, Utc};
use cqrs_es::test::TestFramework;
use support::{RULES, World, at};
use ygor_ledger::mission::Publication;
use ygor_ledger::offer::{Capacity, CapacityPeriod, OfferTerms};
use ygor_ledger::operations::{self, Certify, Changes, Decided, Redeem, SettlementOutcome};
use ygor_ledger::partner::{CertificationOutcome, PartnerCommand, PartnerEvent, SettlementValue, TokenValue};
use ygor_ledger::territory::{TerritoryCommand, TerritoryEvent};
use ygor_ledger::wallet::{VerifiedVoucher, WalletEvent};
use ygor_ledger::{
    ActionId, CategoryId, CitizenId, LedgerError, LotId, OfferId, Partner, PartnerId, PartnerKind, RedemptionId,
    Territory, Tokens, VoucherId,
};

/// A certification of one action on day `occurred_day` of March, with fresh ids, on the 20th.
fn certify_command(
    association: PartnerId,
    citizen: CitizenId,
    category: &str,
    quantity: u64,
    occurred_day: u32,
) -> Certify {
    Certify {
        action_id: ActionId::from_uuid(uuid::Uuid::new_v4()),
        association_id: association,
        citizen_id: citizen,
        category: CategoryId::parse(category).expect("category"),
        quantity,
        occurred_at: at(occurred_day, 9),
        signature: "sig".to_owned(),
        request: ygor_ledger::partner::SignedRequest::none(),
        fingerprint: uuid::Uuid::new_v4().to_string(),
        gold: false,
        gold_period: None,
        lot_id: LotId::from_uuid(uuid::Uuid::new_v4()),
        at: at(20, 12),
    }
}

fn certify(
    world: &World,
    association: PartnerId,
    citizen: CitizenId,
    category: &str,
    quantity: u64,
    occurred_day: u32,
) -> Result<Decided<CertificationOutcome>, LedgerError> {
    world.certify(certify_command(association, citizen, category, quantity, occurred_day))
}

fn redeem_command(venue: PartnerId, citizen: CitizenId, amount: u64, now_day: u32) -> Redeem {
    Redeem {
        redemption_id: RedemptionId::from_uuid(uuid::Uuid::new_v4()),
        venue_id: venue,
        citizen_id: citizen,
        voucher: VerifiedVoucher {
            voucher_id: VoucherId::from_uuid(uuid::Uuid::new_v4()),
            amount_max: Tokens::new(amount),
            expires_at: at(now_day, 23),
            offer_id: None,
        },
        voucher_text: "voucher".to_owned(),
        amount: Tokens::new(amount),
        offer_id: None,
        signature: "sig".to_owned(),
        request: ygor_ledger::partner::SignedRequest::none(),
        fingerprint: uuid::Uuid::new_v4().to_string(),
        at: at(now_day, 12),
    }
}

/// A territory with rules, 1,000 minted, an association holding `envelope`, a venue, a citizen.
fn world(envelope: u64) -> (World, PartnerId, PartnerId, CitizenId) {
    let mut world = World::default();
    world.publish(RULES, at(1, 8));
    world.mint(1_000);
    let association = world.register_partner(PartnerKind::Association);
    let venue = world.register_partner(PartnerKind::Venue);
    let citizen = world.register_citizen();
    let decided = operations::allocate_envelope(
        &world.territory,
        &world.partner(association),
        association,
        Tokens::new(envelope),
        at(1, 9),
    )
    .expect("allocate");
    world.apply(decided);
    (world, association, venue, citizen)
}

#[test]
fn minting_adds_to_the_treasury() {
    TestFramework::<Territory>::with(())
        .given_no_previous_events()
        .when(TerritoryCommand::MintSupply { amount: Tokens::new(100), at: at(1, 8) })
        .then_expect_events(vec![TerritoryEvent::SupplyMinted { amount: Tokens::new(100), minted_at: at(1, 8) }]);
}

#[test]
fn allocating_more_than_the_treasury_holds_is_refused() {
    let partner_id = PartnerId::from_uuid(uuid::Uuid::new_v4());
    TestFramework::<Territory>::with(())
        .given(vec![TerritoryEvent::SupplyMinted { amount: Tokens::new(100), minted_at: at(1, 8) }])
        .when(TerritoryCommand::AllocateEnvelope { partner_id, amount: Tokens::new(101), at: at(1, 9) })
        .then_expect_error(LedgerError::TreasuryExhausted { available: Tokens::new(100), requested: Tokens::new(101) });
}

#[test]
fn registering_a_partner_twice_is_refused() {
    let registered = venue_registered();
    TestFramework::<Partner>::with(())
        .given(vec![registered])
        .when(PartnerCommand::Register {
            kind: PartnerKind::Venue,
            name: "Piscine".to_owned(),
            public_key: "k".to_owned(),
            at: at(2, 8),
        })
        .then_expect_error(LedgerError::AlreadyRegistered("this partner".to_owned()));
}

/// A venue's registration on the 1st.
fn venue_registered() -> PartnerEvent {
    PartnerEvent::PartnerRegistered {
        kind: PartnerKind::Venue,
        name: "Piscine".to_owned(),
        public_key: "k".to_owned(),
        registered_at: at(1, 8),
    }
}

#[test]
fn suspending_twice_writes_nothing_more() {
    let registered = venue_registered();
    TestFramework::<Partner>::with(())
        .given(vec![registered, PartnerEvent::PartnerSuspended { suspended_at: at(2, 8) }])
        .when(PartnerCommand::Suspend { at: at(3, 8) })
        .then_expect_events(vec![]);
}

#[test]
fn reinstating_a_suspended_partner_lifts_the_suspension() {
    let registered = venue_registered();
    TestFramework::<Partner>::with(())
        .given(vec![registered, PartnerEvent::PartnerSuspended { suspended_at: at(2, 8) }])
        .when(PartnerCommand::Reinstate { at: at(3, 8) })
        .then_expect_events(vec![PartnerEvent::PartnerReinstated { reinstated_at: at(3, 8) }]);
}

#[test]
fn reinstating_an_active_partner_writes_nothing() {
    let registered = venue_registered();
    let suspended = PartnerEvent::PartnerSuspended { suspended_at: at(2, 8) };
    let reinstated = PartnerEvent::PartnerReinstated { reinstated_at: at(3, 8) };
    TestFramework::<Partner>::with(())
        .given(vec![registered.clone()])
        .when(PartnerCommand::Reinstate { at: at(3, 8) })
        .then_expect_events(vec![]);
    TestFramework::<Partner>::with(())
        .given(vec![registered, suspended, reinstated])
        .when(PartnerCommand::Reinstate { at: at(4, 8) })
        .then_expect_events(vec![]);
}

#[test]
fn a_certification_moves_tokens_from_the_envelope_to_a_new_lot() {
    let (mut world, association, _, citizen) = world(100);
    let outcome = world.apply(certify(&world, association, citizen, "ecologie", 1, 10).expect("certify"));
    assert_eq!(outcome.tokens, Tokens::new(10));
    let wallet = world.wallet(citizen);
    let lot = &wallet.holdings().lots()[0];
    assert_eq!((lot.amount, lot.remaining, Some(lot.lot_id)), (Tokens::new(10), Tokens::new(10), outcome.lot_id));
    assert_eq!(
        lot.expires_at,
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 9, 20, 12, 0, 0).single().expect("time"),
        "six months after issue"
    );
    assert_eq!(world.partner(association).envelope(), Tokens::new(90));
    world.assert_consistent();
}

#[test]
fn a_certification_the_envelope_cannot_cover_is_refused() {
    let (world, association, _, citizen) = world(5);
    assert_eq!(
        certify(&world, association, citizen, "ecologie", 1, 10).unwrap_err(),
        LedgerError::EnvelopeExhausted { available: Tokens::new(5), requested: Tokens::new(10) }
    );
}

#[test]
fn an_action_over_the_monthly_cap_earns_what_is_left() {
    let (mut world, association, _, citizen) = world(1_000);
    for _ in 0..3 {
        world.apply(certify(&world, association, citizen, "ecologie", 1, 10).expect("certify"));
    }
    let over = world.apply(certify(&world, association, citizen, "ecologie", 1, 11).expect("certify"));
    assert_eq!((over.tokens, over.lot_id), (Tokens::ZERO, None), "cap of 30 reached: counted, no lot");
    // Another calendar month of occurred_at has its own cap (day 0 of the helper is refused, so
    // use the month before, within the 30 days of backdating, through a direct command).
    let command = Certify {
        occurred_at: at(1, 9) - chrono::Duration::days(1),
        ..certify_command(association, citizen, "ecologie", 1, 10)
    };
    let february = world.apply(world.certify(command).expect("certify"));
    assert_eq!(february.tokens, Tokens::new(10));
    world.assert_consistent();
}

#[test]
fn an_action_older_than_backdate_max_is_refused() {
    let (world, association, _, citizen) = world(1_000);
    // Arrival on 20 March at noon; 30 days back is 18 February at noon, still accepted.
    let thirty_days = Certify {
        occurred_at: at(20, 12) - chrono::Duration::days(30),
        ..certify_command(association, citizen, "ecologie", 1, 10)
    };
    assert!(world.certify(thirty_days).is_ok());
    for occurred_at in
        [at(20, 12) - chrono::Duration::days(30) - chrono::Duration::seconds(1), DateTime::<Utc>::MIN_UTC]
    {
        let command = Certify { occurred_at, ..certify_command(association, citizen, "ecologie", 1, 10) };
        assert_eq!(
            world.certify(command).unwrap_err(),
            LedgerError::OccurredTooLongAgo { backdate_max: "P30D".to_owned() }
        );
    }
}

#[test]
fn a_retried_certification_is_answered_even_once_older_than_backdate_max() {
    let (mut world, association, _, citizen) = world(1_000);
    let original = certify_command(association, citizen, "ecologie", 1, 10);
    let outcome = world.apply(world.certify(original.clone()).expect("certify"));
    // The same request arrives again two months later.
    let retry = Certify { at: original.at + chrono::Duration::days(60), ..original };
    match world.certify(retry).expect("a replay") {
        Decided::Replay { outcome: replayed, .. } => assert_eq!(replayed, outcome),
        other => panic!("a retry is a replay, not {other:?}"),
    }
}

#[test]
fn an_action_over_the_monthly_cap_earns_no_gold() {
    let (mut world, association, _, citizen) = world(1_000);
    let golden =
        |day| Certify { gold: true, gold_period: Some(0), ..certify_command(association, citizen, "ecologie", 1, day) };
    for day in [10, 11, 12] {
        assert!(
            world.apply(world.certify(golden(day)).expect("certify")).gold,
            "an action that earns tokens earns gold"
        );
    }
    let over = world.apply(world.certify(golden(13)).expect("certify"));
    assert_eq!((over.tokens, over.gold), (Tokens::ZERO, false));
    assert_eq!(world.wallet(citizen).holdings().gold(), 3);
    world.assert_consistent();
}

#[test]
fn an_action_in_the_future_is_refused() {
    let (world, association, _, citizen) = world(100);
    assert_eq!(certify(&world, association, citizen, "ecologie", 1, 21).unwrap_err(), LedgerError::OccurredInFuture);
}

#[test]
fn an_unknown_category_is_refused() {
    let (world, association, _, citizen) = world(100);
    assert_eq!(
        certify(&world, association, citizen, "astronomie", 1, 10).unwrap_err(),
        LedgerError::UnknownCategory(CategoryId::parse("astronomie").expect("id"))
    );
}

#[test]
fn certifying_for_an_unregistered_citizen_is_refused() {
    let (world, association, _, _) = world(100);
    let stranger = CitizenId::from_uuid(uuid::Uuid::new_v4());
    assert_eq!(
        certify(&world, association, stranger, "ecologie", 1, 10).unwrap_err(),
        LedgerError::UnknownCitizen(stranger)
    );
}

#[test]
fn a_venue_cannot_certify_and_an_association_cannot_redeem() {
    let (world, association, venue, citizen) = world(100);
    assert_eq!(certify(&world, venue, citizen, "ecologie", 1, 10).unwrap_err(), LedgerError::NotAnAssociation(venue));
    let command = redeem_command(association, citizen, 1, 20);
    assert_eq!(
        operations::redeem(&world.partner(association), &world.wallet(citizen), command).unwrap_err(),
        LedgerError::NotAVenue(association)
    );
}

#[test]
fn a_suspended_association_cannot_certify() {
    let (mut world, association, _, citizen) = world(100);
    let events = world.partner(association).decide(PartnerCommand::Suspend { at: at(2, 8) }).expect("suspend");
    world.apply_changes(ygor_ledger::operations::Changes {
        partners: vec![(association, events)],
        ..Default::default()
    });
    assert_eq!(
        certify(&world, association, citizen, "ecologie", 1, 10).unwrap_err(),
        LedgerError::PartnerSuspended(association)
    );
}

#[test]
fn a_reinstated_association_certifies_again() {
    let (mut world, association, _, citizen) = world(100);
    for command in [PartnerCommand::Suspend { at: at(2, 8) }, PartnerCommand::Reinstate { at: at(3, 8) }] {
        let events = world.partner(association).decide(command).expect("accepted");
        world.apply_changes(ygor_ledger::operations::Changes {
            partners: vec![(association, events)],
            ..Default::default()
        });
    }
    let outcome =
        world.apply(certify(&world, association, citizen, "ecologie", 1, 10).expect("certified once reinstated"));
    assert_eq!(outcome.tokens, Tokens::new(10));
}

#[test]
fn the_same_certification_again_is_a_replay_and_a_changed_one_a_conflict() {
    let (mut world, association, _, citizen) = world(100);
    let mut command = certify_command(association, citizen, "ecologie", 1, 10);
    let first = world.apply(world.certify(command.clone()).expect("first"));
    let again = world.certify(command.clone()).expect("again");
    assert!(matches!(&again, Decided::Replay { outcome, .. } if *outcome == first));
    command.fingerprint = "f2".to_owned();
    assert!(matches!(world.certify(command), Err(LedgerError::IdConflict { .. })));
}

#[test]
fn an_action_id_the_wallet_already_holds_is_a_conflict_even_from_another_association() {
    let (mut world, association, _, citizen) = world(100);
    let other = world.register_partner(PartnerKind::Association);
    let allocated =
        operations::allocate_envelope(&world.territory, &world.partner(other), other, Tokens::new(50), at(1, 9))
            .expect("allocate");
    world.apply(allocated);
    let first = certify_command(association, citizen, "ecologie", 1, 10);
    world.apply(world.certify(first.clone()).expect("first"));
    let again = Certify { association_id: other, ..certify_command(other, citizen, "ecologie", 1, 10) };
    let again = Certify { action_id: first.action_id, ..again };
    assert!(matches!(world.certify(again), Err(LedgerError::IdConflict { .. })));
    assert_eq!(world.partner(other).envelope(), Tokens::new(50), "nothing taken from the other envelope");
}

/// One certification, with the association and wallet after it.
fn certified_once() -> (World, PartnerId, CitizenId, Partner, ygor_ledger::Wallet, CertificationOutcome) {
    let (mut world, association, _, citizen) = world(100);
    let certified = world.apply(certify(&world, association, citizen, "ecologie", 1, 10).expect("certify"));
    let (partner, wallet) = (world.partner(association), world.wallet(citizen));
    (world, association, citizen, partner, wallet, certified)
}

#[test]
fn a_retry_is_answered_from_the_certification_the_stream_records() {
    let (world, association, citizen, partner, wallet, certified) = certified_once();
    let recorded = world.recorded_certification(association, certified.action_id).expect("recorded");
    assert_eq!(recorded.outcome, certified);
    let retry = Certify { action_id: certified.action_id, ..certify_command(association, citizen, "ecologie", 1, 10) };
    let rules = world.territory.rules_in_force();
    let crediting = wallet.crediting(retry.action_id, &retry.category, retry.occurred_at);
    // Another request under the same id is a conflict; the same one again a replay of the first.
    let conflict = operations::certify(rules, &partner, Some(&recorded), &crediting, retry.clone()).unwrap_err();
    assert!(matches!(conflict, LedgerError::IdConflict { .. }), "{conflict:?}");
    let digest = ygor_ledger::partner::RequestDigest::of(&retry.fingerprint);
    let same = ygor_ledger::partner::RecordedCertification { digest, ..recorded.clone() };
    let replay = operations::certify(rules, &partner, Some(&same), &crediting, retry).expect("a replay");
    assert!(
        matches!(replay, Decided::Replay { outcome, original } if outcome == certified && original.sequence == recorded.sequence)
    );
    // Without a record, there is nothing to revoke.
    let revoke = |recorded| {
        operations::revoke(&partner, &wallet, recorded, association, certified.action_id, "x".to_owned(), at(20, 14))
    };
    assert_eq!(revoke(None).unwrap_err(), LedgerError::UnknownAction(certified.action_id));
    assert!(matches!(revoke(Some(&recorded)), Ok(Decided::Apply { .. })));
}

#[test]
fn a_revocation_cannot_refund_more_than_the_certification_gave() {
    let (world, association, _, partner, wallet, certified) = certified_once();
    let mut recorded = world.recorded_certification(association, certified.action_id).expect("recorded");
    // A record that says fewer tokens than the wallet holds for the action: the books would not
    // balance, so the revocation is refused rather than refunding the difference.
    recorded.outcome.tokens = Tokens::new(3);
    assert_eq!(
        operations::revoke(
            &partner,
            &wallet,
            Some(&recorded),
            association,
            certified.action_id,
            "x".to_owned(),
            at(20, 14)
        )
        .unwrap_err(),
        LedgerError::Overflow
    );
}

#[test]
fn a_redemption_spends_the_lots_that_expire_first() {
    let (mut world, association, venue, citizen) = world(1_000);
    world.apply(certify(&world, association, citizen, "velo", 20, 10).expect("certify"));
    // Rules with a shorter lifetime: the later lot expires first.
    world.publish(&RULES.replace("P6M", "P1M"), at(12, 8));
    let short = world.apply(certify(&world, association, citizen, "velo", 5, 10).expect("certify"));
    let decided =
        operations::redeem(&world.partner(venue), &world.wallet(citizen), redeem_command(venue, citizen, 8, 20))
            .expect("redeem");
    match &decided {
        Decided::Apply { changes, .. } => match &changes.wallets[0].1[0] {
            WalletEvent::TokensRedeemed { spent, .. } => {
                assert_eq!(spent[0].lot_id, short.lot_id.expect("lot"));
                assert_eq!((spent[0].amount, spent[1].amount), (Tokens::new(5), Tokens::new(3)));
            }
            other => panic!("unexpected {other:?}"),
        },
        Decided::Replay { .. } => panic!("not a replay"),
    }
    world.apply(decided);
    assert_eq!(world.wallet(citizen).holdings().spendable(at(20, 13)), Tokens::new(17));
    world.assert_consistent();
}

#[test]
fn an_expired_lot_is_not_spendable_before_the_sweep() {
    let (mut world, association, venue, citizen) = world(1_000);
    world.publish(&RULES.replace("P6M", "P1D"), at(12, 8));
    world.apply(certify(&world, association, citizen, "ecologie", 1, 10).expect("certify"));
    // Issued on the 20th at noon, expired on the 21st at noon.
    let command = redeem_command(venue, citizen, 1, 22);
    assert_eq!(
        operations::redeem(&world.partner(venue), &world.wallet(citizen), command).unwrap_err(),
        LedgerError::InsufficientBalance { available: Tokens::ZERO, requested: Tokens::new(1) }
    );
    assert_eq!(world.wallet(citizen).holdings().held(), Tokens::new(10), "still in the wallet until swept");
}

#[test]
fn the_sweep_returns_expired_tokens_to_the_treasury_once() {
    let (mut world, association, _, citizen) = world(1_000);
    world.publish(&RULES.replace("P6M", "P1D"), at(12, 8));
    world.apply(certify(&world, association, citizen, "ecologie", 1, 10).expect("certify"));
    let treasury = world.territory.treasury();
    let wallet = world.wallet(citizen);
    let outcome =
        world.apply(operations::sweep_expired(&world.territory, &[(citizen, &wallet)], at(22, 0)).expect("sweep"));
    assert_eq!((outcome.expired_lots, outcome.expired_tokens), (1, Tokens::new(10)));
    assert_eq!(world.territory.treasury(), treasury.checked_add(Tokens::new(10)).expect("sum"));
    let wallet = world.wallet(citizen);
    let again =
        world.apply(operations::sweep_expired(&world.territory, &[(citizen, &wallet)], at(23, 0)).expect("sweep"));
    assert_eq!(again.expired_tokens, Tokens::ZERO);
    world.assert_consistent();
}

#[test]
fn a_redemption_beyond_the_balance_or_the_voucher_is_refused() {
    let (mut world, association, venue, citizen) = world(1_000);
    world.apply(certify(&world, association, citizen, "ecologie", 1, 10).expect("certify"));
    let command = redeem_command(venue, citizen, 11, 20);
    assert_eq!(
        operations::redeem(&world.partner(venue), &world.wallet(citizen), command).unwrap_err(),
        LedgerError::InsufficientBalance { available: Tokens::new(10), requested: Tokens::new(11) }
    );
    let mut command = redeem_command(venue, citizen, 5, 20);
    command.voucher.amount_max = Tokens::new(4);
    assert_eq!(
        operations::redeem(&world.partner(venue), &world.wallet(citizen), command).unwrap_err(),
        LedgerError::VoucherAmountExceeded { allowed: Tokens::new(4), requested: Tokens::new(5) }
    );
    let mut command = redeem_command(venue, citizen, 5, 20);
    command.voucher.expires_at = at(20, 11);
    assert_eq!(
        operations::redeem(&world.partner(venue), &world.wallet(citizen), command).unwrap_err(),
        LedgerError::VoucherExpired
    );
}

#[test]
fn a_voucher_is_single_use() {
    let (mut world, association, venue, citizen) = world(1_000);
    world.apply(certify(&world, association, citizen, "ecologie", 1, 10).expect("certify"));
    let first = redeem_command(venue, citizen, 2, 20);
    let mut second = redeem_command(venue, citizen, 2, 20);
    second.voucher = first.voucher.clone();
    world.apply(operations::redeem(&world.partner(venue), &world.wallet(citizen), first).expect("first"));
    assert_eq!(
        operations::redeem(&world.partner(venue), &world.wallet(citizen), second).unwrap_err(),
        LedgerError::VoucherUsed
    );
}

#[test]
fn revocation_returns_the_unspent_part_to_the_envelope_and_frees_the_cap() {
    let (mut world, association, venue, citizen) = world(1_000);
    let certified = world.apply(certify(&world, association, citizen, "ecologie", 1, 10).expect("certify"));
    // Spend 4 while the first lot is the only one, then reach the monthly cap of 30.
    world.apply(
        operations::redeem(&world.partner(venue), &world.wallet(citizen), redeem_command(venue, citizen, 4, 20))
            .expect("redeem"),
    );
    world.apply(certify(&world, association, citizen, "ecologie", 1, 10).expect("certify"));
    world.apply(certify(&world, association, citizen, "ecologie", 1, 10).expect("certify"));
    let capped = certify(&world, association, citizen, "ecologie", 1, 10).expect("certify");
    assert!(matches!(&capped, Decided::Apply { outcome, .. } if outcome.tokens.is_zero()), "the cap is reached");
    let envelope = world.partner(association).envelope();
    let revoked =
        world.apply(world.revoke(association, citizen, certified.action_id, "erreur", at(20, 14)).expect("revoke"));
    assert_eq!(revoked.returned, Tokens::new(6), "4 of the first lot were spent");
    assert_eq!(world.partner(association).envelope(), envelope.checked_add(Tokens::new(6)).expect("sum"));
    let freed = world.apply(certify(&world, association, citizen, "ecologie", 1, 10).expect("certify"));
    assert_eq!(freed.tokens, Tokens::new(10), "the revoked action no longer counts in the cap");
    world.assert_consistent();
}

#[test]
fn only_the_certifying_association_can_revoke() {
    let (mut world, association, _, citizen) = world(1_000);
    let other = world.register_partner(PartnerKind::Association);
    let certified = world.apply(certify(&world, association, citizen, "ecologie", 1, 10).expect("certify"));
    assert_eq!(
        world.revoke(other, citizen, certified.action_id, "x", at(20, 14)).unwrap_err(),
        LedgerError::UnknownAction(certified.action_id)
    );
}

#[test]
fn settlement_moves_redeemed_tokens_back_to_the_treasury() {
    let (mut world, association, venue, citizen) = world(1_000);
    world.apply(certify(&world, association, citizen, "ecologie", 1, 10).expect("certify"));
    world.apply(
        operations::redeem(&world.partner(venue), &world.wallet(citizen), redeem_command(venue, citizen, 7, 20))
            .expect("redeem"),
    );
    let treasury = world.territory.treasury();
    let settlement_id = ygor_ledger::SettlementId::from_uuid(uuid::Uuid::new_v4());
    let settled = world.apply(
        operations::settle(&world.territory, &world.partner(venue), venue, settlement_id, at(21, 8)).expect("settle"),
    );
    assert_eq!(settled, SettlementOutcome { amount: Tokens::new(7), amount_cents: None }, "the rules give no euros");
    assert_eq!(world.partner(venue).redeemed_unsettled(), Tokens::ZERO);
    assert_eq!(world.territory.treasury(), treasury.checked_add(Tokens::new(7)).expect("sum"));
    let nothing = world.apply(
        operations::settle(&world.territory, &world.partner(venue), venue, settlement_id, at(21, 9)).expect("settle"),
    );
    assert_eq!(nothing, SettlementOutcome { amount: Tokens::ZERO, amount_cents: None });
    world.assert_consistent();
}

#[test]
fn a_settlement_is_valued_in_euros_at_the_rules_in_force_when_it_happens() {
    let (mut world, association, venue, citizen) = world(1_000);
    world.apply(certify(&world, association, citizen, "ecologie", 1, 10).expect("certify"));
    world.publish(&format!("{RULES}\n[settlement]\ntoken_value_cents = 50\n"), at(20, 13));
    world.apply(
        operations::redeem(&world.partner(venue), &world.wallet(citizen), redeem_command(venue, citizen, 7, 20))
            .expect("redeem"),
    );
    let settlement_id = ygor_ledger::SettlementId::from_uuid(uuid::Uuid::new_v4());
    let decided =
        operations::settle(&world.territory, &world.partner(venue), venue, settlement_id, at(21, 8)).expect("settle");
    let Decided::Apply { changes, outcome } = &decided else { panic!("a settlement applies") };
    assert_eq!(*outcome, SettlementOutcome { amount: Tokens::new(7), amount_cents: Some(350) });
    let [(settled_venue, events)] = changes.partners.as_slice() else { panic!("one venue settled: {changes:?}") };
    let [PartnerEvent::VenueSettled { value, .. }] = events.as_slice() else { panic!("one settlement: {events:?}") };
    assert_eq!(*settled_venue, venue);
    assert_eq!(*value, Some(SettlementValue { rules_version: 2, token_value_cents: 50, amount_cents: 350 }));
    world.apply(decided);
    // Rules that change the value later do not change what was settled; nothing left is worth 0 €.
    world.publish(&format!("{RULES}\n[settlement]\ntoken_value_cents = 80\n"), at(21, 9));
    let nothing = world.apply(
        operations::settle(&world.territory, &world.partner(venue), venue, settlement_id, at(21, 10)).expect("settle"),
    );
    assert_eq!(nothing, SettlementOutcome { amount: Tokens::ZERO, amount_cents: Some(0) });
    world.assert_consistent();
}

#[test]
fn a_settlement_whose_euros_overflow_is_refused() {
    let mut partner = Partner::default();
    partner.apply_event(PartnerEvent::PartnerRegistered {
        kind: PartnerKind::Venue,
        name: "Piscine".to_owned(),
        public_key: "key".to_owned(),
        registered_at: at(1, 8),
    });
    let record = ygor_ledger::partner::RedemptionRecord {
        redemption_id: RedemptionId::from_uuid(uuid::Uuid::new_v4()),
        citizen_id: CitizenId::from_uuid(uuid::Uuid::new_v4()),
        voucher_id: VoucherId::from_uuid(uuid::Uuid::new_v4()),
        amount: Tokens::new(u64::MAX / 2),
        signature: "sig".to_owned(),
        request: ygor_ledger::partner::SignedRequest::none(),
        fingerprint: "f".to_owned(),
        voucher: "voucher".to_owned(),
        offer_id: None,
    };
    partner.apply_event(PartnerEvent::RedemptionRecorded { record, redeemed_at: at(2, 8) });
    let price = TokenValue { rules_version: 1, settlement: ygor_rules::SettlementRules { token_value_cents: 3 } };
    let settle = PartnerCommand::Settle {
        settlement_id: ygor_ledger::SettlementId::from_uuid(uuid::Uuid::new_v4()),
        price: Some(price),
        at: at(3, 8),
    };
    assert_eq!(partner.decide(settle), Err(LedgerError::Overflow));
}

#[test]
fn a_version_1_settlement_was_worth_no_euros() {
    let stored = serde_json::json!({"VenueSettled": {
        "settlement_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "redemption_ids": [], "amount": 7,
        "settled_at": "2026-05-28T20:26:40Z"
    }});
    let event: PartnerEvent =
        ygor_ledger::codec::decode("VenueSettled", "1", ygor_ledger::codec::Payload::Value(&stored)).expect("upcast");
    assert!(matches!(event, PartnerEvent::VenueSettled { value: None, .. }), "{event:?}");
    let encoded = ygor_ledger::codec::encode(&event).expect("encodes");
    assert_eq!(encoded.event_version, "2");
    assert!(encoded.payload.contains(r#""value":null"#), "{}", encoded.payload);
}

#[test]
fn rules_are_versioned_and_certifications_record_the_version_in_force() {
    let (mut world, association, _, citizen) = world(1_000);
    world.publish(&RULES.replace("tokens_per_action = 10", "tokens_per_action = 20"), at(15, 8));
    assert_eq!(world.territory.rules_versions().len(), 2);
    match certify(&world, association, citizen, "ecologie", 1, 10).expect("certify") {
        Decided::Apply { changes, outcome } => {
            assert_eq!(outcome.tokens, Tokens::new(20));
            match &changes.partners[0].1[0] {
                PartnerEvent::CertificationRecorded { record, .. } => assert_eq!(record.rules_version, 2),
                other => panic!("unexpected {other:?}"),
            }
        }
        Decided::Replay { .. } => panic!("not a replay"),
    }
}

/// An offer of `price` tokens, `count` uses a day, published by `venue` on the 1st.
fn publish_offer(world: &mut World, venue: PartnerId, price: u64, count: u32) -> OfferId {
    let offer_id = OfferId::from_uuid(uuid::Uuid::new_v4());
    let terms = OfferTerms {
        title: "Entrée piscine".to_owned(),
        description: None,
        category: None,
        price: Tokens::new(price),
        capacity: Some(Capacity { count, per: CapacityPeriod::Day }),
        audience: None,
        starts_at: None,
        ends_at: None,
    };
    let events = world
        .partner(venue)
        .decide(PartnerCommand::PublishOffer { offer_id, terms: terms.clone(), at: at(1, 10) })
        .expect("publish");
    world.apply_changes(Changes::partner(venue, events));
    assert_eq!(world.partner(venue).offer_publication(offer_id, &terms), Ok(Publication::AlreadyPublished));
    let other = OfferTerms { price: Tokens::new(price + 1), ..terms };
    assert_eq!(
        world.partner(venue).offer_publication(offer_id, &other).unwrap_err(),
        LedgerError::IdConflict { what: format!("offer_id {offer_id}") }
    );
    offer_id
}

fn redeem_offer(venue: PartnerId, citizen: CitizenId, offer_id: OfferId, for_offer: Option<OfferId>) -> Redeem {
    let mut command = redeem_command(venue, citizen, 5, 20);
    command.offer_id = for_offer;
    command.voucher.offer_id = Some(offer_id);
    command
}

#[test]
fn an_offer_takes_as_many_redemptions_a_day_as_its_capacity() {
    let (mut world, association, venue, citizen) = world(1_000);
    world.apply(certify(&world, association, citizen, "velo", 30, 10).expect("certify"));
    let offer_id = publish_offer(&mut world, venue, 5, 1);
    let first = operations::redeem(
        &world.partner(venue),
        &world.wallet(citizen),
        redeem_offer(venue, citizen, offer_id, Some(offer_id)),
    );
    world.apply(first.expect("the first use of the day"));
    let second = operations::redeem(
        &world.partner(venue),
        &world.wallet(citizen),
        redeem_offer(venue, citizen, offer_id, Some(offer_id)),
    );
    assert_eq!(second.unwrap_err(), LedgerError::OfferFull(offer_id));
    // The next day the capacity starts again.
    let mut next_day = redeem_offer(venue, citizen, offer_id, Some(offer_id));
    (next_day.at, next_day.voucher.expires_at) = (at(21, 9), at(21, 10));
    world.apply(operations::redeem(&world.partner(venue), &world.wallet(citizen), next_day).expect("a new day"));
    world.assert_consistent();
}

#[test]
fn a_voucher_for_an_offer_redeems_that_offer_only_and_a_closed_offer_none() {
    let (mut world, association, venue, citizen) = world(1_000);
    world.apply(certify(&world, association, citizen, "velo", 30, 10).expect("certify"));
    let offer_id = publish_offer(&mut world, venue, 5, 10);
    let other = publish_offer(&mut world, venue, 5, 10);
    let redeem = |world: &World, command| operations::redeem(&world.partner(venue), &world.wallet(citizen), command);
    assert_eq!(
        redeem(&world, redeem_offer(venue, citizen, offer_id, None)).unwrap_err(),
        LedgerError::VoucherForOffer(offer_id)
    );
    assert_eq!(
        redeem(&world, redeem_offer(venue, citizen, offer_id, Some(other))).unwrap_err(),
        LedgerError::VoucherForOffer(offer_id)
    );
    let unknown = OfferId::from_uuid(uuid::Uuid::new_v4());
    let mut plain = redeem_command(venue, citizen, 5, 20);
    plain.offer_id = Some(unknown);
    assert_eq!(redeem(&world, plain).unwrap_err(), LedgerError::UnknownOffer(unknown));
    let events = world.partner(venue).decide(PartnerCommand::CloseOffer { offer_id, at: at(15, 9) }).expect("close");
    world.apply_changes(Changes::partner(venue, events));
    assert_eq!(
        world.partner(venue).decide(PartnerCommand::CloseOffer { offer_id, at: at(16, 9) }),
        Ok(vec![]),
        "closing again decides nothing"
    );
    assert_eq!(
        redeem(&world, redeem_offer(venue, citizen, offer_id, Some(offer_id))).unwrap_err(),
        LedgerError::OfferClosed(offer_id)
    );
}
