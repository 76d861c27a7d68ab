//! Venue statements: each venue's redemptions and settlements, for its own screen and for the
//! collectivity's reimbursements.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ygor_ledger::partner::{PartnerEvent, SettlementValue};
use ygor_ledger::{CitizenId, OfferId, PartnerId, RedemptionId, SettlementId, Tokens};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedemptionView {
    pub redemption_id: RedemptionId,
    pub citizen_id: CitizenId,
    pub amount: Tokens,
    pub redeemed_at: DateTime<Utc>,
    pub settlement_id: Option<SettlementId>,
    /// The offer redeemed, when the venue named one.
    pub offer_id: Option<OfferId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementView {
    pub settlement_id: SettlementId,
    pub amount: Tokens,
    /// What it was worth in euros when it happened; `None` when the rules gave tokens no value.
    pub value: Option<SettlementValue>,
    pub redemptions: u64,
    pub settled_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueBook {
    /// In the order they were recorded.
    pub redemptions: Vec<RedemptionView>,
    pub settlements: Vec<SettlementView>,
    /// Indexes in `redemptions` of those not settled yet: a settlement touches only these, not
    /// the venue's whole history.
    unsettled: Vec<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Venues {
    pub venues: BTreeMap<PartnerId, VenueBook>,
}

impl Venues {
    pub fn apply(&mut self, venue_id: PartnerId, event: &PartnerEvent) {
        match event {
            PartnerEvent::RedemptionRecorded { record, redeemed_at } => {
                let book = self.venues.entry(venue_id).or_default();
                book.unsettled.push(book.redemptions.len());
                book.redemptions.push(RedemptionView {
                    redemption_id: record.redemption_id,
                    citizen_id: record.citizen_id,
                    amount: record.amount,
                    redeemed_at: *redeemed_at,
                    settlement_id: None,
                    offer_id: record.offer_id,
                });
            }
            PartnerEvent::VenueSettled { settlement_id, redemption_ids, amount, value, settled_at } => {
                let book = self.venues.entry(venue_id).or_default();
                let settled: BTreeSet<&RedemptionId> = redemption_ids.iter().collect();
                let redemptions = &mut book.redemptions;
                book.unsettled.retain(|index| {
                    let view = &mut redemptions[*index];
                    if settled.contains(&view.redemption_id) {
                        view.settlement_id = Some(*settlement_id);
                        false
                    } else {
                        true
                    }
                });
                book.settlements.push(SettlementView {
                    settlement_id: *settlement_id,
                    amount: *amount,
                    value: *value,
                    redemptions: redemption_ids.len() as u64,
                    settled_at: *settled_at,
                });
            }
            _ => {}
        }
    }
}
