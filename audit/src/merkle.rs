//! The RFC 9162 Merkle tree over the event log, with inclusion and consistency proofs.
//!
//! Hashing is exactly RFC 9162 §2.1.1 (the same as RFC 6962 §2.1): a leaf is
//! `SHA-256(0x00 ‖ data)`, an interior node `SHA-256(0x01 ‖ left ‖ right)`, the tree over `n > 1`
//! leaves splits at `k`, the largest power of two smaller than `n`, and the empty tree's hash is
//! `SHA-256("")`. The two prefixes keep a leaf from ever being passed off as a node (a second
//! preimage attack), and the split rule makes every tree a prefix of every larger one, which is
//! what consistency proofs rely on.
//!
//! [`MerkleLog`] answers for any past size, not only the current one: an auditor holding an old
//! checkpoint needs that size's root and proofs. It keeps the leaf hashes and the hash of every
//! complete, aligned subtree of 16 leaves or more (level `h` holds the `⌊n / 2^h⌋` subtrees of
//! `2^h` leaves), about 1.13 hashes per leaf; a subtree of 2, 4 or 8 leaves is hashed again from
//! its leaves when a root or a proof needs it (at most 7 hashes). Every subtree that the RFC's
//! recursion visits starts at a multiple of its own largest power of two, so its left part is
//! always one of those complete subtrees: a root costs O(log n) hashes, and a proof O(log² n),
//! whatever the size. The hashes are held in chunks of fixed size, so a long log neither
//! reserves twice the memory it uses nor copies itself as it grows.

use sha2::{Digest as _, Sha256};

/// The hash of the empty tree, `SHA-256("")` (RFC 9162 §2.1.1).
pub const EMPTY_TREE_ROOT: [u8; 32] = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41,
    0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The hash of a leaf: `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    hasher.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The largest power of two strictly smaller than `size` (the RFC's `k`); `size` is at least 2.
fn split(size: usize) -> usize {
    debug_assert!(size >= 2, "only a tree of two leaves or more is split");
    1 << (size - 1).ilog2()
}

/// A tree size or leaf index as an index into memory. A value that does not fit cannot name a
/// leaf that is held, so callers treat `None` as "no such size".
fn to_index(value: u64) -> Option<usize> {
    usize::try_from(value).ok()
}

/// The levels below this one (but the leaves) are not stored: their hashes are recomputed from
/// the leaves, at most `2^SKIPPED_LEVELS - 1` node hashes each.
const SKIPPED_LEVELS: usize = 3;

/// Hashes per chunk of a stored level (512 KiB).
const CHUNK: usize = 1 << 14;

/// A list of hashes held in chunks of [`CHUNK`]: only the first chunk grows by doubling, so a
/// long list reserves at most one partly used chunk beyond what it holds, and growing never moves
/// what is stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Hashes {
    chunks: Vec<Vec<[u8; 32]>>,
    len: usize,
}

impl Hashes {
    fn push(&mut self, hash: [u8; 32]) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(hash),
            _ => {
                let mut chunk = Vec::with_capacity(if self.chunks.is_empty() { 4 } else { CHUNK });
                chunk.push(hash);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    fn get(&self, index: usize) -> Option<[u8; 32]> {
        self.chunks.get(index / CHUNK)?.get(index % CHUNK).copied()
    }

    fn iter(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.chunks.iter().flatten()
    }
}

/// One level of the tree: every subtree hash (stored levels), only the count and the last one
/// (the skipped levels, which keep what the next leaf may need to carry upwards), or, for the
/// leaves of a compact log, the leaves of the last block, which is not complete yet.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Level {
    Stored(Hashes),
    Skipped { count: usize, last: [u8; 32] },
    Tail { count: usize, block: usize, leaves: Vec<[u8; 32]> },
}

impl Level {
    /// The level at `height` of a log whose leaves are kept (`block_height` 0), or of a compact
    /// log that keeps the subtrees of `2^block_height` leaves and more.
    fn at(height: usize, block_height: usize) -> Level {
        let skipped = if block_height == 0 { 1..=SKIPPED_LEVELS } else { 1..=block_height - 1 };
        if height == 0 && block_height > 0 {
            Level::Tail { count: 0, block: 1 << block_height, leaves: Vec::new() }
        } else if skipped.contains(&height) {
            Level::Skipped { count: 0, last: [0; 32] }
        } else {
            Level::Stored(Hashes::default())
        }
    }

    fn len(&self) -> usize {
        match self {
            Level::Stored(hashes) => hashes.len,
            Level::Skipped { count, .. } | Level::Tail { count, .. } => *count,
        }
    }

    fn last(&self) -> Option<[u8; 32]> {
        match self {
            Level::Stored(hashes) => hashes.len.checked_sub(1).and_then(|last| hashes.get(last)),
            Level::Skipped { count, last } => (*count > 0).then_some(*last),
            Level::Tail { leaves, .. } => leaves.last().copied(),
        }
    }

    /// The hash at `index` on this level, if the level holds it.
    fn get(&self, index: usize) -> Option<[u8; 32]> {
        match self {
            Level::Stored(hashes) => hashes.get(index),
            Level::Skipped { .. } => None,
            Level::Tail { count, leaves, .. } => {
                let first = count - leaves.len();
                index.checked_sub(first).and_then(|offset| leaves.get(offset)).copied()
            }
        }
    }

    fn push(&mut self, hash: [u8; 32]) {
        match self {
            Level::Stored(hashes) => hashes.push(hash),
            Level::Skipped { count, last } => {
                *count += 1;
                *last = hash;
            }
            Level::Tail { count, block, leaves } => {
                *count += 1;
                leaves.push(hash);
                if *count % *block == 0 {
                    // The block is complete: its hash is stored a few levels up.
                    leaves.clear();
                }
            }
        }
    }
}

/// Leaves of complete blocks that a compact log no longer holds, supplied by the caller (who
/// recomputed them from the events) for a root or a proof: block index → its `2^block_height`
/// leaf hashes. Check them with [`MerkleLog::check_block`] first.
pub type BlockLeaves = std::collections::BTreeMap<u64, Vec<[u8; 32]>>;

/// The blocks whose leaves a compact log needs for an answer (see [`BlockLeaves`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingBlocks(pub Vec<u64>);

/// An append-only RFC 9162 Merkle tree that answers roots and proofs for every size up to its
/// length.
///
/// It serialises as its leaf hashes only; the levels above are hashed again when it is read back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MerkleLog {
    /// `levels[h]` holds the complete subtrees over leaves `[i·2^h, (i+1)·2^h)`; `levels[0]` holds
    /// the leaf hashes. Levels 1 to [`SKIPPED_LEVELS`] keep only their last hash.
    levels: Vec<Level>,
    /// 0 for a log that keeps every leaf. Otherwise the log is compact: it keeps the complete
    /// subtrees of `2^block_height` leaves ("blocks") and more, and the leaves of the last,
    /// incomplete block only; the leaves of an older block are supplied when an answer needs them.
    block_height: usize,
}

/// How a log is serialised: its leaves, or, for a compact log, its block hashes and the leaves of
/// its last block (the levels in between and above are hashed again when it is read back).
#[derive(serde::Serialize, serde::Deserialize)]
enum Stored {
    Leaves(Vec<[u8; 32]>),
    Compact { block_height: usize, blocks: Vec<[u8; 32]>, tail: Vec<[u8; 32]> },
}

impl serde::Serialize for MerkleLog {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let stored = if self.block_height == 0 {
            Stored::Leaves(self.leaves().iter().copied().collect())
        } else {
            let blocks = match self.levels.get(self.block_height) {
                Some(Level::Stored(hashes)) => hashes.iter().copied().collect(),
                _ => Vec::new(),
            };
            let tail = match self.levels.first() {
                Some(Level::Tail { leaves, .. }) => leaves.clone(),
                _ => Vec::new(),
            };
            Stored::Compact { block_height: self.block_height, blocks, tail }
        };
        stored.serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for MerkleLog {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Stored::deserialize(deserializer)? {
            Stored::Leaves(leaves) => {
                let mut log = MerkleLog::new();
                leaves.into_iter().for_each(|leaf| {
                    log.push_leaf_hash(leaf);
                });
                Ok(log)
            }
            Stored::Compact { block_height, blocks, tail } => {
                if !(1..=MAX_BLOCK_HEIGHT).contains(&block_height) || tail.len() >= 1 << block_height {
                    return Err(serde::de::Error::custom("a compact Merkle log of an impossible shape"));
                }
                let mut log = MerkleLog::compact(block_height);
                blocks.into_iter().for_each(|block| log.push_block(block));
                tail.into_iter().for_each(|leaf| {
                    log.push_leaf_hash(leaf);
                });
                Ok(log)
            }
        }
    }
}

/// The largest block a compact log may forget the leaves of (2^20 leaves, 32 MiB to recompute).
pub const MAX_BLOCK_HEIGHT: usize = 20;

impl MerkleLog {
    /// An empty log that keeps every leaf.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty compact log: it keeps the hash of every complete block of `2^block_height`
    /// leaves, the subtrees above them and the leaves of the last, incomplete block, and forgets
    /// the leaves of a block once it is complete (about 2 hashes per block instead of 1.13 per
    /// leaf). A root or a proof that needs the leaves of an older block asks for them
    /// ([`MissingBlocks`]) and takes them back ([`BlockLeaves`]).
    ///
    /// # Panics
    /// If `block_height` is 0 or above [`MAX_BLOCK_HEIGHT`].
    pub fn compact(block_height: usize) -> Self {
        assert!((1..=MAX_BLOCK_HEIGHT).contains(&block_height), "a block of 2 to 2^20 leaves");
        MerkleLog { levels: Vec::new(), block_height }
    }

    /// The leaves of a block of a compact log (0 for a log that keeps every leaf).
    pub fn block_len(&self) -> u64 {
        if self.block_height == 0 { 0 } else { 1 << self.block_height }
    }

    fn leaves(&self) -> &Hashes {
        static EMPTY: Hashes = Hashes { chunks: Vec::new(), len: 0 };
        match self.levels.first() {
            Some(Level::Stored(leaves)) => leaves,
            _ => &EMPTY,
        }
    }

    /// Appends a complete block given its hash (a compact log read back from its blocks).
    fn push_block(&mut self, block_hash: [u8; 32]) {
        let block = 1usize << self.block_height;
        for height in 0..self.block_height {
            if self.levels.len() == height {
                self.levels.push(Level::at(height, self.block_height));
            }
            match &mut self.levels[height] {
                Level::Skipped { count, .. } | Level::Tail { count, .. } => *count += block >> height,
                Level::Stored(_) => unreachable!("a compact log stores no level below its blocks"),
            }
        }
        self.carry(self.block_height, block_hash);
    }

    /// The root of a complete block from its leaves, to compare with [`MerkleLog::block_root`].
    pub fn root_of_leaves(leaves: &[[u8; 32]]) -> [u8; 32] {
        let mut log = MerkleLog::new();
        leaves.iter().for_each(|leaf| {
            log.push_leaf_hash(*leaf);
        });
        log.root(log.len()).unwrap_or(EMPTY_TREE_ROOT)
    }

    /// The stored hash of complete block `block` of a compact log.
    pub fn block_root(&self, block: u64) -> Option<[u8; 32]> {
        if self.block_height == 0 {
            return None;
        }
        self.levels.get(self.block_height)?.get(to_index(block)?)
    }

    /// Whether `leaves` are the leaves of complete block `block`: their root is the stored one.
    pub fn check_block(&self, block: u64, leaves: &[[u8; 32]]) -> bool {
        leaves.len() as u64 == self.block_len() && self.block_root(block) == Some(Self::root_of_leaves(leaves))
    }

    /// Appends a leaf given its data (hashed as `SHA-256(0x00 ‖ data)`) and returns its index.
    pub fn push(&mut self, leaf_data: &[u8]) -> u64 {
        self.push_leaf_hash(leaf_hash(leaf_data))
    }

    /// Appends a leaf given its leaf hash and returns its index.
    pub fn push_leaf_hash(&mut self, leaf_hash: [u8; 32]) -> u64 {
        let index = self.len();
        self.carry(0, leaf_hash);
        index
    }

    /// Pushes `hash` at `height` and carries upwards.
    fn carry(&mut self, mut height: usize, mut hash: [u8; 32]) {
        // Each new leaf completes one subtree per trailing one bit of its index: carry the new
        // hash upwards while the level now holds an even number of subtrees. The left sibling is
        // always the level's last hash before this one, which every level keeps.
        loop {
            if self.levels.len() == height {
                self.levels.push(Level::at(height, self.block_height));
            }
            let level = &mut self.levels[height];
            let left = level.last();
            level.push(hash);
            if level.len() % 2 == 1 {
                break;
            }
            hash = node_hash(&left.expect("an even count has a left sibling"), &hash);
            height += 1;
        }
        // A block just completed: what its skipped levels kept is of no further use, and a log
        // read back from its blocks, which never had it, must be equal.
        if self.block_height > 0 && height >= self.block_height {
            for level in &mut self.levels[1..self.block_height] {
                if let Level::Skipped { last, .. } = level {
                    *last = [0; 32];
                }
            }
        }
    }

    /// The number of leaves.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, Level::len) as u64
    }

    /// Whether the log has no leaf.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The hash of the leaf at `leaf_index`, if there is one (and, in a compact log, if its
    /// block is the last one).
    pub fn leaf_hash_at(&self, leaf_index: u64) -> Option<[u8; 32]> {
        self.leaf_hash_with(leaf_index, &BlockLeaves::new()).ok().flatten()
    }

    /// [`MerkleLog::leaf_hash_at`], with the leaves of older blocks of a compact log.
    pub fn leaf_hash_with(&self, leaf_index: u64, blocks: &BlockLeaves) -> Result<Option<[u8; 32]>, MissingBlocks> {
        if leaf_index >= self.len() {
            return Ok(None);
        }
        let index = to_index(leaf_index).ok_or(MissingBlocks(Vec::new()))?;
        self.answer(blocks, |tree| tree.subtree_hash(index, 1)).map(Some)
    }

    /// The root (MTH) of the tree over the first `tree_size` leaves, for any `tree_size` up to
    /// [`MerkleLog::len`]; `None` beyond it (or, in a compact log, when it needs the leaves of an
    /// older block: see [`MerkleLog::root_with`]). The root of size 0 is [`EMPTY_TREE_ROOT`].
    pub fn root(&self, tree_size: u64) -> Option<[u8; 32]> {
        self.root_with(tree_size, &BlockLeaves::new()).ok().flatten()
    }

    /// [`MerkleLog::root`], with the leaves of older blocks of a compact log.
    pub fn root_with(&self, tree_size: u64, blocks: &BlockLeaves) -> Result<Option<[u8; 32]>, MissingBlocks> {
        let Some(size) = to_index(tree_size).filter(|&size| size as u64 <= self.len()) else {
            return Ok(None);
        };
        if size == 0 {
            return Ok(Some(EMPTY_TREE_ROOT));
        }
        self.answer(blocks, |tree| tree.subtree_hash(0, size)).map(Some)
    }

    /// The inclusion proof of the leaf at `leaf_index` in the tree of `tree_size` leaves: RFC 9162
    /// §2.1.3.1 `PATH(leaf_index, D[tree_size])`, from the leaf's sibling up to the root's child.
    /// `None` unless `leaf_index < tree_size ≤ len` (and, in a compact log, when it needs older
    /// leaves: see [`MerkleLog::inclusion_proof_with`]).
    pub fn inclusion_proof(&self, leaf_index: u64, tree_size: u64) -> Option<Vec<[u8; 32]>> {
        self.inclusion_proof_with(leaf_index, tree_size, &BlockLeaves::new()).ok().flatten()
    }

    /// [`MerkleLog::inclusion_proof`], with the leaves of older blocks of a compact log.
    pub fn inclusion_proof_with(
        &self,
        leaf_index: u64,
        tree_size: u64,
        blocks: &BlockLeaves,
    ) -> Result<Option<Vec<[u8; 32]>>, MissingBlocks> {
        let (Some(mut index), Some(mut size)) =
            (to_index(leaf_index), to_index(tree_size).filter(|&size| size as u64 <= self.len()))
        else {
            return Ok(None);
        };
        if index >= size {
            return Ok(None);
        }
        self.answer(blocks, |tree| {
            // The RFC's recursion, unrolled from the root down. It appends each sibling after the
            // deeper part of the path, so the siblings found top-down are reversed at the end.
            let mut start = 0;
            let mut path = Vec::new();
            while size > 1 {
                let k = split(size);
                if index < k {
                    path.push(tree.subtree_hash(start + k, size - k));
                    size = k;
                } else {
                    path.push(tree.subtree_hash(start, k));
                    start += k;
                    index -= k;
                    size -= k;
                }
            }
            path.reverse();
            path
        })
        .map(Some)
    }

    /// The consistency proof between the trees of `old_size` and `new_size` leaves: RFC 9162
    /// §2.1.4.1 `PROOF(old_size, D[new_size])`. It is empty when `old_size` is 0 or equal to
    /// `new_size` (there is nothing to prove). `None` unless `old_size ≤ new_size ≤ len` (and, in
    /// a compact log, when it needs older leaves: see [`MerkleLog::consistency_proof_with`]).
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Option<Vec<[u8; 32]>> {
        self.consistency_proof_with(old_size, new_size, &BlockLeaves::new()).ok().flatten()
    }

    /// [`MerkleLog::consistency_proof`], with the leaves of older blocks of a compact log.
    pub fn consistency_proof_with(
        &self,
        old_size: u64,
        new_size: u64,
        blocks: &BlockLeaves,
    ) -> Result<Option<Vec<[u8; 32]>>, MissingBlocks> {
        let (Some(mut old), Some(mut size)) =
            (to_index(old_size), to_index(new_size).filter(|&size| size as u64 <= self.len()))
        else {
            return Ok(None);
        };
        if old > size {
            return Ok(None);
        }
        if old == 0 || old == size {
            return Ok(Some(Vec::new()));
        }
        self.answer(blocks, |tree| {
            // SUBPROOF(m, D[n], b), unrolled like `inclusion_proof`. `complete` is the RFC's `b`:
            // it stays true while the old tree is still a left part of the current subtree, whose
            // root the verifier already knows, so it need not be sent.
            let mut start = 0;
            let mut complete = true;
            let mut proof = Vec::new();
            while old != size {
                let k = split(size);
                if old <= k {
                    proof.push(tree.subtree_hash(start + k, size - k));
                    size = k;
                } else {
                    proof.push(tree.subtree_hash(start, k));
                    start += k;
                    old -= k;
                    size -= k;
                    complete = false;
                }
            }
            if !complete {
                proof.push(tree.subtree_hash(start, size));
            }
            proof.reverse();
            proof
        })
        .map(Some)
    }

    /// Runs `compute` over the log and the supplied blocks; fails with the blocks it lacked.
    fn answer<T>(&self, blocks: &BlockLeaves, compute: impl FnOnce(&Subtrees<'_>) -> T) -> Result<T, MissingBlocks> {
        let tree = Subtrees { log: self, blocks, missing: std::cell::RefCell::new(std::collections::BTreeSet::new()) };
        let answer = compute(&tree);
        let missing = tree.missing.into_inner();
        if missing.is_empty() { Ok(answer) } else { Err(MissingBlocks(missing.into_iter().collect())) }
    }
}

/// A log and the leaves supplied for it, answering subtree hashes and noting the blocks it lacks.
struct Subtrees<'a> {
    log: &'a MerkleLog,
    blocks: &'a BlockLeaves,
    missing: std::cell::RefCell<std::collections::BTreeSet<u64>>,
}

impl Subtrees<'_> {
    /// The leaf at `index`: held by the log, or supplied.
    fn leaf(&self, index: usize) -> Option<[u8; 32]> {
        if let Some(leaf) = self.log.levels.first().and_then(|level| level.get(index)) {
            return Some(leaf);
        }
        let height = self.log.block_height;
        (height > 0).then_some(())?;
        let block = (index >> height) as u64;
        self.blocks.get(&block).and_then(|leaves| leaves.get(index & ((1 << height) - 1))).copied()
    }

    /// MTH of the leaves `[start, start + size)`, for a range that the RFC's recursion visits
    /// (`size ≥ 1`, and `start` a multiple of the largest power of two not above `size`). Such a
    /// range smaller than a block lies within one block. A hash it cannot compute is noted as a
    /// missing block and returned as zeros (the answer is then thrown away).
    fn subtree_hash(&self, start: usize, size: usize) -> [u8; 32] {
        let block_height = self.log.block_height;
        if block_height > 0 && size <= 1 << block_height {
            let block = start >> block_height;
            let in_tail = self.log.levels.first().is_some_and(|level| level.get(start).is_some());
            let supplied = self.blocks.contains_key(&(block as u64));
            let whole_block_stored = size == 1 << block_height && self.stored(start, size).is_some();
            if !(in_tail || supplied || whole_block_stored) {
                self.missing.borrow_mut().insert(block as u64);
                return [0; 32];
            }
        }
        if size.is_power_of_two() {
            if let Some(hash) = self.stored(start, size) {
                return hash;
            }
            if size == 1 {
                return self.leaf(start).unwrap_or_else(|| {
                    self.missing.borrow_mut().insert((start >> block_height.max(1)) as u64);
                    [0; 32]
                });
            }
            // A skipped level: hash its two halves again, down to the leaves.
            let half = size / 2;
            return node_hash(&self.subtree_hash(start, half), &self.subtree_hash(start + half, half));
        }
        let k = split(size);
        node_hash(&self.subtree_hash(start, k), &self.subtree_hash(start + k, size - k))
    }

    /// The stored hash of the complete, aligned subtree `[start, start + size)`, if held.
    fn stored(&self, start: usize, size: usize) -> Option<[u8; 32]> {
        let height = size.trailing_zeros() as usize;
        debug_assert_eq!(start % size, 0, "a complete subtree of the recursion is aligned");
        match self.log.levels.get(height)? {
            level @ (Level::Stored(_) | Level::Tail { .. }) => level.get(start >> height),
            Level::Skipped { .. } => None,
        }
    }
}

/// Verifies an inclusion proof with RFC 9162 §2.1.3.2: that the leaf whose hash is `leaf_hash`
/// sits at `leaf_index` in the tree of `tree_size` leaves whose root is `root`.
pub fn verify_inclusion(
    leaf_hash: &[u8; 32],
    leaf_index: u64,
    tree_size: u64,
    proof: &[[u8; 32]],
    root: &[u8; 32],
) -> bool {
    // Step 1.
    if leaf_index >= tree_size {
        return false;
    }
    // Steps 2 and 3 (`fn` is a keyword in Rust, hence `first_node`).
    let mut first_node = leaf_index;
    let mut last_node = tree_size - 1;
    let mut hash = *leaf_hash;
    // Step 4.
    for sibling in proof {
        if last_node == 0 {
            return false;
        }
        if first_node & 1 == 1 || first_node == last_node {
            hash = node_hash(sibling, &hash);
            if first_node & 1 == 0 {
                while first_node & 1 == 0 && first_node != 0 {
                    first_node >>= 1;
                    last_node >>= 1;
                }
            }
        } else {
            hash = node_hash(&hash, sibling);
        }
        first_node >>= 1;
        last_node >>= 1;
    }
    // Step 5.
    last_node == 0 && hash == *root
}

/// Verifies a consistency proof with RFC 9162 §2.1.4.2: that the tree of `old_size` leaves with
/// root `old_root` is a prefix of the tree of `new_size` leaves with root `new_root`.
///
/// The RFC's algorithm covers `0 < old_size < new_size`. The two cases with nothing to prove
/// follow RFC 9162 §2.1.4.1, where their proof is empty: equal sizes hold when the proof is empty
/// and the roots are equal; an old size of 0 holds when the proof is empty and `old_root` is the
/// empty tree's hash (every tree extends the empty one, so `new_root` is not constrained: check
/// it against its own signed checkpoint). A smaller new size never holds.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &[u8; 32],
    new_root: &[u8; 32],
    proof: &[[u8; 32]],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return proof.is_empty() && *old_root == EMPTY_TREE_ROOT;
    }
    // Step 1.
    if proof.is_empty() {
        return false;
    }
    // Step 2: when the old tree is a complete subtree, the proof leaves out its root, which the
    // verifier already has.
    let prepended = old_size.is_power_of_two().then_some(old_root);
    let mut path = prepended.into_iter().chain(proof);
    // Step 3.
    let mut first_node = old_size - 1;
    let mut last_node = new_size - 1;
    // Step 4.
    while first_node & 1 == 1 {
        first_node >>= 1;
        last_node >>= 1;
    }
    // Step 5.
    let Some(seed) = path.next() else {
        return false;
    };
    let mut old_hash = *seed;
    let mut new_hash = *seed;
    // Step 6.
    for node in path {
        if last_node == 0 {
            return false;
        }
        if first_node & 1 == 1 || first_node == last_node {
            old_hash = node_hash(node, &old_hash);
            new_hash = node_hash(node, &new_hash);
            if first_node & 1 == 0 {
                while first_node & 1 == 0 && first_node != 0 {
                    first_node >>= 1;
                    last_node >>= 1;
                }
            }
        } else {
            new_hash = node_hash(&new_hash, node);
        }
        first_node >>= 1;
        last_node >>= 1;
    }
    // Step 7.
    old_hash == *old_root && new_hash == *new_root && last_node == 0
}
