//! Draws: winners picked without replacement, weighted by tickets, from a committed seed.
//!
//! When a draw is created the territory publishes `commitment = SHA-256(seed)`; when it closes it
//! reveals `seed`, the entries' Merkle root and the winners. Anyone can then recompute:
//!
//! 1. the entrants: one per citizen, tickets of the same citizen added up, citizens with no
//!    ticket left out, sorted by the bytes of `citizen_id`;
//! 2. `entries_root`: the RFC 9162 Merkle root over the entrants in that order, each leaf's data
//!    being the JCS text `{"citizen_id":"…","tickets":N}`;
//! 3. the generator: ChaCha20 keyed with `SHA-256(seed ‖ draw_id ‖ entries_root)`, whose
//!    keystream is read as consecutive little-endian 64-bit numbers;
//! 4. the winners: for each, a ticket number `r` uniform in `[0, T)` by rejection sampling (`T`
//!    the tickets still in the draw), and the first remaining entrant whose running total of
//!    tickets exceeds `r` wins and leaves the draw.
//!
//! Binding the generator to `entries_root` means the seed, fixed before anyone entered, cannot be
//! paired with a hand-picked list of entries: changing any entry changes every draw.

use std::collections::BTreeMap;

use chacha20::ChaCha20Rng;
use chacha20::rand_core::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use ygor_crypto::MAX_SAFE_INTEGER;

use crate::{AuditError, MerkleLog};

/// A citizen's tickets in a draw, as `GET /v1/draws/{draw_id}` lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrawEntry {
    /// The citizen, as a 36-character lowercase UUID.
    pub citizen_id: String,
    /// The gold tokens spent as tickets.
    pub tickets: u64,
}

/// The draw's entrants: one entry per citizen with the sum of their tickets, entries with no
/// ticket left out, sorted by the bytes of `citizen_id` (for lowercase UUIDs, their text order).
///
/// Refuses entries whose tickets add up to more than 2^53 − 1 ([`AuditError::TooManyTickets`]):
/// beyond that a count has no exact JSON form, so no leaf could be written for it.
pub fn draw_entrants(entries: &[DrawEntry]) -> Result<Vec<DrawEntry>, AuditError> {
    let mut tickets_by_citizen: BTreeMap<&str, u64> = BTreeMap::new();
    let mut total: u64 = 0;
    for entry in entries {
        total = total
            .checked_add(entry.tickets)
            .filter(|&total| total <= MAX_SAFE_INTEGER)
            .ok_or(AuditError::TooManyTickets)?;
        *tickets_by_citizen.entry(&entry.citizen_id).or_default() += entry.tickets;
    }
    Ok(tickets_by_citizen
        .into_iter()
        .filter(|&(_, tickets)| tickets > 0)
        .map(|(citizen_id, tickets)| DrawEntry { citizen_id: citizen_id.to_owned(), tickets })
        .collect())
}

/// The leaf data of an entrant: the JCS text `{"citizen_id":"…","tickets":N}`.
pub fn entry_leaf_data(entry: &DrawEntry) -> Result<Vec<u8>, AuditError> {
    let value = serde_json::json!({"citizen_id": entry.citizen_id, "tickets": entry.tickets});
    Ok(ygor_crypto::canonical_json(&value)?)
}

/// The RFC 9162 Merkle root over the draw's entrants (see [`draw_entrants`]), one leaf per
/// citizen in `citizen_id` order, with [`entry_leaf_data`] as leaf data. With no entrant it is
/// the empty tree's hash, `SHA-256("")`.
pub fn entries_root(entries: &[DrawEntry]) -> Result<[u8; 32], AuditError> {
    let mut log = MerkleLog::new();
    for entrant in draw_entrants(entries)? {
        log.push(&entry_leaf_data(&entrant)?);
    }
    // The root of the log's own length always exists.
    Ok(log.root(log.len()).unwrap_or(crate::EMPTY_TREE_ROOT))
}

/// The 32-byte key of the draw's generator: `SHA-256(seed ‖ draw_id ‖ entries_root)`, i.e. the
/// seed's 32 bytes, the UTF-8 bytes of the draw id's text (36-character lowercase UUID), and the
/// root's 32 bytes.
pub fn draw_generator_key(seed: &[u8; 32], draw_id: &str, entries_root: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(seed);
    hasher.update(draw_id.as_bytes());
    hasher.update(entries_root);
    hasher.finalize().into()
}

/// The draw's stream of 64-bit numbers: the ChaCha20 (20 rounds) keystream under `key`, with a
/// zero nonce and the block counter starting at 0, cut into 8-byte little-endian numbers.
///
/// This is `ChaCha20Rng::from_seed(key)` from RustCrypto's `chacha20` crate (also `rand`'s
/// ChaCha), whose `next_u64` joins two consecutive 32-bit little-endian words, low word first:
/// the same as reading 8 keystream bytes as a little-endian integer. For the first 2^32 blocks
/// (256 GiB) this keystream equals RFC 8439's ChaCha20 with a 12-byte zero nonce and initial
/// counter 0, which every ChaCha20 library provides.
pub fn draw_stream(key: &[u8; 32]) -> impl FnMut() -> u64 + use<> {
    let mut generator = ChaCha20Rng::from_seed(*key);
    move || generator.next_u64()
}

/// A number uniform in `[0, bound)` from a stream of uniform 64-bit numbers, by rejection.
///
/// A value `u` is rejected when `u > 2^64 − 1 − (2^64 mod bound)`, i.e. when it is one of the
/// `2^64 mod bound` largest values, and the next one is read; otherwise the result is
/// `u mod bound`. The accepted values are then a whole number of copies of `[0, bound)`, so every
/// result is equally likely. `bound` must not be 0.
pub fn uniform_below(bound: u64, next_u64: &mut impl FnMut() -> u64) -> u64 {
    assert!(bound > 0, "a uniform number below 0 does not exist");
    // 2^64 mod bound, computed in 64 bits as (2^64 − bound) mod bound.
    let rejected = bound.wrapping_neg() % bound;
    loop {
        let value = next_u64();
        if value <= u64::MAX - rejected {
            return value % bound;
        }
    }
}

/// Draws up to `winners` distinct winners and returns their citizen ids in draw order.
///
/// The procedure is the module's, steps 1 to 4; it stops when `winners` are drawn or no entrant
/// is left. Errors are [`draw_entrants`]'s. `draw_id` is hashed as given: pass the 36-character
/// lowercase text, as Ygor exports it.
pub fn draw_winners(
    seed: &[u8; 32],
    draw_id: &str,
    entries: &[DrawEntry],
    winners: usize,
) -> Result<Vec<String>, AuditError> {
    let entrants = draw_entrants(entries)?;
    let root = entries_root(&entrants)?;
    let mut stream = draw_stream(&draw_generator_key(seed, draw_id, &root));
    Ok(draw_from_stream(entrants, winners, &mut stream))
}

/// Step 4 of the procedure on sorted entrants with a given stream of numbers.
///
/// Walking the remaining entrants for every winner costs O(entrants) each, too slow for a large
/// draw with many winners. A Fenwick tree over the entrants in their order, with a winner's
/// weight set to 0, gives the same winner in O(log entrants): an entrant of weight 0 never makes
/// the running total exceed `r` first, exactly as if it had been removed.
pub(crate) fn draw_from_stream(
    entrants: Vec<DrawEntry>,
    winners: usize,
    next_u64: &mut impl FnMut() -> u64,
) -> Vec<String> {
    let mut weights = TicketTree::new(entrants.iter().map(|entrant| entrant.tickets));
    let mut total: u64 = entrants.iter().map(|entrant| entrant.tickets).sum();
    let mut drawn = Vec::with_capacity(winners.min(entrants.len()));
    while drawn.len() < winners && total > 0 {
        let ticket = uniform_below(total, next_u64);
        let index = weights.first_exceeding(ticket);
        let winner = &entrants[index];
        weights.remove(index, winner.tickets);
        total -= winner.tickets;
        drawn.push(winner.citizen_id.clone());
    }
    drawn
}

/// A Fenwick (binary indexed) tree of ticket counts.
struct TicketTree {
    /// `sums[i]` (1-based) holds the tickets of entrants `(i − lowbit(i), i]`.
    sums: Vec<u64>,
}

impl TicketTree {
    fn new(tickets: impl Iterator<Item = u64>) -> Self {
        let mut sums = vec![0];
        sums.extend(tickets);
        let length = sums.len();
        for index in 1..length {
            let parent = index + (index & index.wrapping_neg());
            if parent < length {
                sums[parent] += sums[index];
            }
        }
        Self { sums }
    }

    /// Takes `tickets` away from the entrant at `index` (0-based).
    fn remove(&mut self, index: usize, tickets: u64) {
        let mut node = index + 1;
        while node < self.sums.len() {
            self.sums[node] -= tickets;
            node += node & node.wrapping_neg();
        }
    }

    /// The first entrant (0-based) whose running total of tickets exceeds `ticket`; `ticket` is
    /// below the total.
    fn first_exceeding(&self, ticket: u64) -> usize {
        let count = self.sums.len() - 1;
        let mut position = 0;
        let mut below = ticket;
        let mut step = if count == 0 { 0 } else { 1 << count.ilog2() };
        // Binary lifting: find the longest prefix whose total is at most `ticket`; the entrant
        // right after it is the first whose running total exceeds it.
        while step > 0 {
            let next = position + step;
            if next <= count && self.sums[next] <= below {
                position = next;
                below -= self.sums[next];
            }
            step >>= 1;
        }
        debug_assert!(position < count, "the ticket is below the total, so some entrant exceeds it");
        position
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{HashSet, VecDeque};

    fn entry(citizen_id: &str, tickets: u64) -> DrawEntry {
        DrawEntry { citizen_id: citizen_id.to_owned(), tickets }
    }

    /// A citizen id in canonical form for a small number.
    fn citizen(number: usize) -> String {
        format!("00000000-0000-4000-8000-{number:012x}")
    }

    /// A stream that hands out the given values in order.
    fn scripted(values: &[u64]) -> impl FnMut() -> u64 + use<> {
        let mut values: VecDeque<u64> = values.iter().copied().collect();
        move || values.pop_front().expect("the test scripted enough values")
    }

    /// Step 4 exactly as documented: walk the remaining entrants for every winner.
    fn naive_draw(mut remaining: Vec<DrawEntry>, winners: usize, next_u64: &mut impl FnMut() -> u64) -> Vec<String> {
        let mut drawn = Vec::new();
        while drawn.len() < winners && !remaining.is_empty() {
            let total: u64 = remaining.iter().map(|entrant| entrant.tickets).sum();
            let ticket = uniform_below(total, next_u64);
            let mut running = 0;
            let index = remaining
                .iter()
                .position(|entrant| {
                    running += entrant.tickets;
                    running > ticket
                })
                .expect("the ticket is below the total");
            drawn.push(remaining.remove(index).citizen_id);
        }
        drawn
    }

    #[test]
    fn the_stream_is_the_chacha20_keystream_read_as_little_endian_numbers() {
        // RFC 8439 §A.1, test vector 1: key and nonce all zero, block counter 0. Its keystream
        // starts 76 b8 e0 ad a0 f1 3d 90 | 40 5d 6a e5 53 86 bd 28 …
        let mut stream = draw_stream(&[0; 32]);
        assert_eq!(stream(), u64::from_le_bytes([0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90]));
        assert_eq!(stream(), u64::from_le_bytes([0x40, 0x5d, 0x6a, 0xe5, 0x53, 0x86, 0xbd, 0x28]));
        // Test vector 2 is block counter 1, i.e. the stream's numbers 8 to 15: it starts
        // 9f 07 e7 be 55 51 38 7a …
        let mut stream = draw_stream(&[0; 32]);
        let ninth = (0..9).map(|_| stream()).last();
        assert_eq!(ninth, Some(u64::from_le_bytes([0x9f, 0x07, 0xe7, 0xbe, 0x55, 0x51, 0x38, 0x7a])));
    }

    #[test]
    fn rejection_refuses_exactly_the_top_two_to_the_64_mod_bound_values() {
        // 2^64 mod 3 = 1: only u64::MAX is rejected.
        assert_eq!(uniform_below(3, &mut scripted(&[u64::MAX, 5])), 2);
        assert_eq!(uniform_below(3, &mut scripted(&[u64::MAX - 1])), (u64::MAX - 1) % 3);
        // 2^64 mod 12 = 4: the four largest values are rejected, the fifth largest is kept.
        assert_eq!(uniform_below(12, &mut scripted(&[u64::MAX, u64::MAX - 3, u64::MAX - 4])), (u64::MAX - 4) % 12);
        // A power of two divides 2^64: nothing is rejected.
        assert_eq!(uniform_below(8, &mut scripted(&[u64::MAX])), 7);
        assert_eq!(uniform_below(1, &mut scripted(&[u64::MAX])), 0);
        // The largest bound below 2^63 + 1 rejects almost half of the values.
        let bound = (1u64 << 63) + 1;
        assert_eq!(uniform_below(bound, &mut scripted(&[bound, bound - 1])), bound - 1);
    }

    #[test]
    fn entrants_are_merged_per_citizen_sorted_and_without_zero_tickets() {
        let entries = [entry("b", 2), entry("a", 0), entry("c", 1), entry("b", 3), entry("d", 0), entry("d", 0)];
        assert_eq!(draw_entrants(&entries), Ok(vec![entry("b", 5), entry("c", 1)]));
    }

    #[test]
    fn tickets_beyond_exact_json_integers_are_refused() {
        let max = ygor_crypto::MAX_SAFE_INTEGER;
        assert!(draw_entrants(&[entry("a", max)]).is_ok());
        assert_eq!(draw_entrants(&[entry("a", max), entry("b", 1)]), Err(AuditError::TooManyTickets));
        assert_eq!(draw_entrants(&[entry("a", u64::MAX), entry("a", u64::MAX)]), Err(AuditError::TooManyTickets));
        assert_eq!(draw_winners(&[0; 32], "d", &[entry("a", max + 1)], 1), Err(AuditError::TooManyTickets));
    }

    #[test]
    fn a_draw_without_tickets_has_the_empty_root_and_no_winner() {
        for entries in [vec![], vec![entry("a", 0)]] {
            assert_eq!(entries_root(&entries), Ok(crate::EMPTY_TREE_ROOT));
            assert_eq!(draw_winners(&[1; 32], "d", &entries, 3), Ok(vec![]));
        }
    }

    #[test]
    fn asking_for_no_winner_draws_nothing() {
        assert_eq!(draw_winners(&[1; 32], "d", &[entry("a", 1)], 0), Ok(vec![]));
    }

    #[test]
    fn the_root_commits_to_every_entry_but_not_to_their_listing_order() {
        let entries = [entry(&citizen(1), 2), entry(&citizen(2), 1), entry(&citizen(3), 4)];
        let root = entries_root(&entries).expect("root");
        let mut reordered = entries.to_vec();
        reordered.reverse();
        assert_eq!(entries_root(&reordered), Ok(root));
        let split = [entry(&citizen(1), 1), entry(&citizen(2), 1), entry(&citizen(1), 1), entry(&citizen(3), 4)];
        assert_eq!(entries_root(&split), Ok(root));
        let changed = [entry(&citizen(1), 2), entry(&citizen(2), 2), entry(&citizen(3), 4)];
        assert_ne!(entries_root(&changed), Ok(root));
    }

    #[test]
    fn winners_are_weighted_by_tickets() {
        // Given a citizen with 3 tickets against one with 1, over 2000 different seeds
        let entries = [entry(&citizen(1), 1), entry(&citizen(2), 3)];
        let wins = (0..2000u32)
            .filter(|number| {
                let mut seed = [0u8; 32];
                seed[..4].copy_from_slice(&number.to_be_bytes());
                draw_winners(&seed, "d", &entries, 1).expect("draw") == [citizen(2)]
            })
            .count();
        // Then the 3-ticket citizen wins about three times in four (1500 ± 5 standard deviations)
        assert!((1403..=1597).contains(&wins), "{wins} wins out of 2000");
    }

    proptest! {
        #[test]
        fn winners_are_distinct_entrants_never_more_than_asked_and_always_the_same(
            tickets in proptest::collection::vec(0u64..20, 0..30),
            winners in 0usize..40,
            seed in any::<[u8; 32]>(),
        ) {
            let entries: Vec<DrawEntry> =
                tickets.iter().enumerate().map(|(number, &tickets)| entry(&citizen(number % 17), tickets)).collect();
            let entrants = draw_entrants(&entries).expect("entrants");
            let drawn = draw_winners(&seed, "5b8a7c1e-2f3d-4e6a-9b0c-1d2e3f4a5b6c", &entries, winners).expect("draw");

            prop_assert_eq!(drawn.len(), winners.min(entrants.len()));
            let distinct: HashSet<&String> = drawn.iter().collect();
            prop_assert_eq!(distinct.len(), drawn.len());
            for winner in &drawn {
                prop_assert!(entrants.iter().any(|entrant| &entrant.citizen_id == winner && entrant.tickets > 0));
            }
            // Deterministic, and independent of the order the entries are listed in.
            let mut reversed = entries.clone();
            reversed.reverse();
            prop_assert_eq!(&draw_winners(&seed, "5b8a7c1e-2f3d-4e6a-9b0c-1d2e3f4a5b6c", &reversed, winners).expect("draw"), &drawn);
        }

        #[test]
        fn the_fenwick_walk_picks_what_the_documented_walk_picks(
            tickets in proptest::collection::vec(1u64..1_000, 1..60),
            winners in 0usize..70,
            key in any::<[u8; 32]>(),
        ) {
            let entrants: Vec<DrawEntry> =
                tickets.iter().enumerate().map(|(number, &tickets)| entry(&citizen(number), tickets)).collect();
            let fast = draw_from_stream(entrants.clone(), winners, &mut draw_stream(&key));
            let naive = naive_draw(entrants, winners, &mut draw_stream(&key));
            prop_assert_eq!(fast, naive);
        }

        #[test]
        fn uniform_below_stays_below_its_bound(bound in 1u64.., values in any::<[u64; 4]>()) {
            // 0 is never rejected, so the stream ends with it and never runs dry.
            let mut stream = scripted(&[values[0], values[1], values[2], values[3], 0]);
            prop_assert!(uniform_below(bound, &mut stream) < bound);
        }
    }
}
