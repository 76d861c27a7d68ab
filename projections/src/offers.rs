//! The catalogue of offers: every offer venues published, with how many uses its current capacity
//! period took, for the public list, for vouchers issued for an offer, and for the dashboard of
//! under-consumed services (which reads the uses themselves from the venues' redemptions).
//!
//! Offer ids are chosen by venues. The first venue to publish an id owns it here; a later
//! publication of the same id by another venue (refused by the server, which checks this
//! catalogue first) would be ignored, so the catalogue never mixes two venues' offers.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ygor_ledger::offer::{Availability, OfferTerms, PeriodUses};
use ygor_ledger::partner::PartnerEvent;
use ygor_ledger::{OfferId, PartnerId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferView {
    pub venue_id: PartnerId,
    pub terms: OfferTerms,
    pub published_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Uses in the capacity period of the latest use.
    pub uses: PeriodUses,
    /// Every use since it was published.
    pub total_uses: u64,
}

impl OfferView {
    /// As the venue's aggregate decides on it: open, closed (or not running), or full at `at`.
    pub fn availability(&self, at: DateTime<Utc>) -> Availability {
        ygor_ledger::offer::availability(&self.terms, self.closed_at, &self.uses, at)
    }

    /// Uses left in the capacity period of `at`; `None` when the offer has no capacity.
    pub fn remaining(&self, at: DateTime<Utc>) -> Option<u32> {
        self.terms.capacity.as_ref().map(|capacity| capacity.count.saturating_sub(self.uses.at(capacity, at)))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offers {
    pub offers: BTreeMap<OfferId, OfferView>,
}

impl Offers {
    pub fn apply(&mut self, venue_id: PartnerId, event: &PartnerEvent) {
        match event {
            PartnerEvent::OfferPublished { offer_id, terms, published_at } => {
                self.offers.entry(*offer_id).or_insert_with(|| OfferView {
                    venue_id,
                    terms: terms.clone(),
                    published_at: *published_at,
                    closed_at: None,
                    uses: PeriodUses::default(),
                    total_uses: 0,
                });
            }
            PartnerEvent::OfferClosed { offer_id, closed_at } => {
                if let Some(offer) = self.owned(*offer_id, venue_id) {
                    offer.closed_at = Some(*closed_at);
                }
            }
            PartnerEvent::RedemptionRecorded { record, redeemed_at } => {
                if let Some(offer) = record.offer_id.and_then(|offer_id| self.owned(offer_id, venue_id)) {
                    offer.uses.record(offer.terms.capacity.as_ref(), *redeemed_at);
                    offer.total_uses += 1;
                }
            }
            _ => {}
        }
    }

    fn owned(&mut self, offer_id: OfferId, venue_id: PartnerId) -> Option<&mut OfferView> {
        self.offers.get_mut(&offer_id).filter(|offer| offer.venue_id == venue_id)
    }
}
