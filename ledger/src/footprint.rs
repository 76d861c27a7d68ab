//! Estimates of the memory an aggregate holds, for the engine's cache budget.
//!
//! Exact figures would need an allocator hook on every allocation; these are sums of
//! `size_of` over the collections' entries, with the slack each collection usually carries,
//! good to a few tens of % (docs/performance.md compares them with the server's RSS). They are
//! cheap: a handful of lengths per aggregate, no walk over the entries.

use std::mem::size_of;

/// The bytes an aggregate holds, its own struct included.
pub trait Footprint {
    fn footprint(&self) -> usize;
}

/// A `BTreeMap` of `len` entries of `K` and `V`: its nodes are about two-thirds full, and each
/// node adds a header and (inner nodes) child pointers.
pub(crate) fn btree<K, V>(len: usize) -> usize {
    len * (size_of::<K>() + size_of::<V>()) * 3 / 2
}

/// A `HashMap` with room for `capacity` entries of `K` and `V` (hashbrown: one control byte
/// per bucket, buckets a power of two above capacity × 8/7).
pub(crate) fn hash_map<K, V>(capacity: usize) -> usize {
    let buckets = if capacity == 0 { 0 } else { (capacity * 8 / 7).next_power_of_two() };
    buckets * (size_of::<K>() + size_of::<V>() + 1)
}

/// A `Vec` with room for `capacity` elements of `T`.
pub(crate) fn vec<T>(capacity: usize) -> usize {
    capacity * size_of::<T>()
}

/// A heap-allocated text of `len` bytes: the allocator rounds small sizes up to 16 bytes.
pub(crate) fn text(len: usize) -> usize {
    if len == 0 { 0 } else { len.max(16) }
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
