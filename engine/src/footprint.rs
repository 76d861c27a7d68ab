//! Estimates of the memory a cached aggregate holds, for the cache's budget.
//!
//! Exact figures would need an allocator hook on every allocation; these are sums of `size_of`
//! over the collections' entries, with the slack each collection usually carries, good to a few
//! tens of % (docs/performance.md compares them with the server's RSS). They are cheap: a handful
//! of lengths per aggregate, no walk over the entries.

use std::mem::size_of;

use ygor_ledger::draw::Draw;
use ygor_ledger::mission::Mission;
use ygor_ledger::offer::OfferState;
use ygor_ledger::partner::{RedemptionState, Refund};
use ygor_ledger::wallet::{ActionEntry, Lot, Revocation, WalletEvent};
use ygor_ledger::{ActionId, CategoryId, CitizenId, OfferId, RedemptionId, VoucherId, Wallet};

use crate::compact::{CachedPartner, CachedWallet, WalletSummary};

/// The bytes a cached aggregate holds, its own struct included.
pub trait Footprint {
    fn footprint(&self) -> usize;
}

/// A `BTreeMap` of `len` entries of `K` and `V`: its nodes are about two-thirds full, and each
/// node adds a header and (inner nodes) child pointers.
fn btree<K, V>(len: usize) -> usize {
    len * (size_of::<K>() + size_of::<V>()) * 3 / 2
}

/// A `HashMap` with room for `capacity` entries of `K` and `V` (hashbrown: one control byte per
/// bucket, buckets a power of two above capacity × 8/7).
fn hash_map<K, V>(capacity: usize) -> usize {
    let buckets = if capacity == 0 { 0 } else { (capacity * 8 / 7).next_power_of_two() };
    buckets * (size_of::<K>() + size_of::<V>() + 1)
}

/// A `Vec` with room for `capacity` elements of `T`.
fn vec<T>(capacity: usize) -> usize {
    capacity * size_of::<T>()
}

/// A heap-allocated text of `len` bytes: the allocator rounds small sizes up to 16 bytes.
fn text(len: usize) -> usize {
    if len == 0 { 0 } else { len.max(16) }
}

impl Footprint for CachedPartner {
    fn footprint(&self) -> usize {
        let partner = &self.partner;
        let (first, others) = self.certifications.capacities();
        size_of::<Self>()
            + partner
                .registration()
                .map_or(0, |registration| text(registration.name.capacity()) + text(registration.public_key.capacity()))
            + hash_map::<u32, u32>(first)
            + hash_map::<ActionId, usize>(others)
            + hash_map::<ActionId, Refund>(partner.refunds().len())
            + hash_map::<RedemptionId, RedemptionState>(partner.redemptions().len())
            + vec::<RedemptionId>(partner.unsettled().len())
            // An offer's texts (title, description, audience) at a typical size.
            + btree::<OfferId, OfferState>(partner.offers().len())
            + partner.offers().len() * 256
    }
}

/// Leaves out revocation reasons (few): no walk over the actions.
fn whole_wallet(wallet: &Wallet) -> usize {
    let holdings = wallet.holdings();
    let (months, month_keys) = wallet.monthly_earnings().sizes();
    size_of::<Wallet>()
        + vec::<Lot>(holdings.lots().len())
        + vec::<CategoryId>(holdings.interests().len())
        + holdings.interests().iter().map(|interest| text(interest.as_str().len())).sum::<usize>()
        + text(holdings.demographics().neighbourhood.as_ref().map_or(0, String::len))
        + hash_map::<ActionId, ActionEntry>(wallet.actions().capacity())
        + hash_map::<ActionId, Revocation>(wallet.revocation_count())
        + months * 32
        + text(month_keys)
        + btree::<VoucherId, ()>(wallet.used_vouchers().len())
}

/// Certifications applied since the summary are counted at a typical size (they go at the next
/// trim).
fn summary(summary: &WalletSummary) -> usize {
    let (since, fingerprints, (months, month_keys)) = summary.sizes();
    size_of::<WalletSummary>()
        + vec::<WalletEvent>(since)
        + since * 64
        + vec::<u32>(fingerprints)
        + months * 32
        + text(month_keys)
}

impl Footprint for CachedWallet {
    fn footprint(&self) -> usize {
        match self {
            CachedWallet::Whole(wallet) => whole_wallet(wallet),
            CachedWallet::Summary(summarised) => summary(summarised),
        }
    }
}

impl Footprint for Draw {
    fn footprint(&self) -> usize {
        size_of::<Self>()
            + self.terms().map_or(0, |terms| text(terms.prize.capacity()) + text(terms.commitment.capacity()))
            + btree::<CitizenId, u64>(self.entries().len())
            + self.result().map_or(0, |result| {
                text(result.seed.capacity())
                    + text(result.entries_root.capacity())
                    + vec::<CitizenId>(result.winners.capacity())
            })
    }
}

impl Footprint for Mission {
    fn footprint(&self) -> usize {
        size_of::<Self>()
            + self.details().map_or(0, |details| {
                text(details.title.capacity())
                    + vec::<CategoryId>(details.categories.capacity())
                    + details.categories.iter().map(|category| text(category.as_str().len())).sum::<usize>()
                    + text(details.neighbourhood.as_ref().map_or(0, String::capacity))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_map_counts_the_buckets_hashbrown_allocates() {
        assert_eq!(hash_map::<u64, u64>(0), 0);
        // Room for 7 entries takes 8 buckets; for 8 entries, 16.
        assert_eq!(hash_map::<u64, u64>(7), 8 * 17);
        assert_eq!(hash_map::<u64, u64>(8), 16 * 17);
        let map: std::collections::HashMap<u64, u64> = (0..1000).map(|n| (n, n)).collect();
        let buckets = hash_map::<u64, u64>(map.capacity()) / 17;
        assert!(buckets.is_power_of_two() && buckets * 7 / 8 >= map.capacity(), "{buckets} buckets");
    }

    #[test]
    fn small_texts_take_at_least_an_allocation_class() {
        assert_eq!(text(0), 0);
        assert_eq!(text(3), 16);
        assert_eq!(text(100), 100);
    }
}
