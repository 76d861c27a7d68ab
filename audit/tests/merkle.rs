//! The Merkle log against the RFC 6962/9162 reference vectors used by certificate-transparency
//! implementations, against a naive transcription of the RFC's recursive definitions, and under
//! property tests.

use proptest::prelude::*;
use ygor_audit::{
    BlockLeaves, EMPTY_TREE_ROOT, MerkleLog, MissingBlocks, leaf_hash, node_hash, verify_consistency, verify_inclusion,
};

fn hash(text: &str) -> [u8; 32] {
    let bytes = hex::decode(text).expect("test vector is hex");
    bytes.try_into().expect("test vector is 32 bytes")
}

/// The eight leaves of the reference tree.
fn reference_leaves() -> Vec<Vec<u8>> {
    ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
        .iter()
        .map(|text| hex::decode(text).expect("hex"))
        .collect()
}

/// The reference roots of the trees of 1 to 8 leaves.
const REFERENCE_ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn reference_log() -> MerkleLog {
    let mut log = MerkleLog::new();
    for leaf in reference_leaves() {
        log.push(&leaf);
    }
    log
}

fn reference_root(size: u64) -> [u8; 32] {
    hash(REFERENCE_ROOTS[size as usize - 1])
}

// --- Naive transcriptions of RFC 9162 §2.1, used as the reference for every size. ---

fn largest_power_of_two_below(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn naive_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => EMPTY_TREE_ROOT,
        1 => leaves[0],
        n => {
            let k = largest_power_of_two_below(n);
            node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
        }
    }
}

fn naive_path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = largest_power_of_two_below(n);
    if m < k {
        let mut path = naive_path(m, &leaves[..k]);
        path.push(naive_root(&leaves[k..]));
        path
    } else {
        let mut path = naive_path(m - k, &leaves[k..]);
        path.push(naive_root(&leaves[..k]));
        path
    }
}

fn naive_subproof(m: usize, leaves: &[[u8; 32]], complete: bool) -> Vec<[u8; 32]> {
    let n = leaves.len();
    if m == n {
        return if complete { Vec::new() } else { vec![naive_root(leaves)] };
    }
    let k = largest_power_of_two_below(n);
    if m <= k {
        let mut proof = naive_subproof(m, &leaves[..k], complete);
        proof.push(naive_root(&leaves[k..]));
        proof
    } else {
        let mut proof = naive_subproof(m - k, &leaves[k..], false);
        proof.push(naive_root(&leaves[..k]));
        proof
    }
}

fn synthetic_leaves(count: usize) -> Vec<[u8; 32]> {
    (0..count).map(|index| leaf_hash(&(index as u64).to_be_bytes())).collect()
}

fn log_of(leaves: &[[u8; 32]]) -> MerkleLog {
    let mut log = MerkleLog::new();
    for leaf in leaves {
        log.push_leaf_hash(*leaf);
    }
    log
}

fn flip_bit(mut hash: [u8; 32]) -> [u8; 32] {
    hash[0] ^= 0x10;
    hash
}

// --- Reference vectors. ---

#[test]
fn empty_tree_root_is_the_sha256_of_the_empty_string() {
    assert_eq!(hex::encode(EMPTY_TREE_ROOT), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(MerkleLog::new().root(0), Some(EMPTY_TREE_ROOT));
}

#[test]
fn roots_of_every_past_size_match_the_reference_vectors() {
    // Given the eight reference leaves in one log
    let log = reference_log();
    // Then the root of each size from 1 to 8 is the reference root
    for size in 1..=8 {
        assert_eq!(log.root(size), Some(reference_root(size)), "size {size}");
    }
    assert_eq!(log.root(0), Some(EMPTY_TREE_ROOT));
    assert_eq!(log.root(9), None);
}

#[test]
fn inclusion_proofs_match_the_reference_vectors() {
    let log = reference_log();
    let vectors: [(u64, u64, &[&str]); 5] = [
        (0, 1, &[]),
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (leaf_index, tree_size, expected) in vectors {
        let expected: Vec<[u8; 32]> = expected.iter().map(|text| hash(text)).collect();
        // When the log builds the proof
        let proof = log.inclusion_proof(leaf_index, tree_size).expect("proof exists");
        // Then it is the reference proof, and it verifies against the reference root
        assert_eq!(proof, expected, "leaf {leaf_index} in size {tree_size}");
        let leaf = log.leaf_hash_at(leaf_index).expect("leaf exists");
        assert!(verify_inclusion(&leaf, leaf_index, tree_size, &proof, &reference_root(tree_size)));
    }
}

#[test]
fn consistency_proofs_match_the_reference_vectors() {
    let log = reference_log();
    let vectors: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    for (old_size, new_size, expected) in vectors {
        let expected: Vec<[u8; 32]> = expected.iter().map(|text| hash(text)).collect();
        let proof = log.consistency_proof(old_size, new_size).expect("proof exists");
        assert_eq!(proof, expected, "{old_size} -> {new_size}");
        assert!(verify_consistency(old_size, new_size, &reference_root(old_size), &reference_root(new_size), &proof));
    }
}

#[test]
fn proofs_beyond_the_log_or_out_of_range_do_not_exist() {
    let log = reference_log();
    assert_eq!(log.inclusion_proof(0, 0), None);
    assert_eq!(log.inclusion_proof(3, 3), None);
    assert_eq!(log.inclusion_proof(0, 9), None);
    assert_eq!(log.consistency_proof(5, 4), None);
    assert_eq!(log.consistency_proof(1, 9), None);
    assert_eq!(log.consistency_proof(0, 8), Some(Vec::new()));
    assert_eq!(log.consistency_proof(8, 8), Some(Vec::new()));
    assert_eq!(log.leaf_hash_at(8), None);
}

// --- Edge cases of verification that the RFC's loop alone does not cover. ---

#[test]
fn consistency_with_nothing_to_prove_holds_only_for_an_empty_proof_and_matching_roots() {
    let root = reference_root(3);
    let other = reference_root(4);
    // Equal sizes: the roots must be equal and the proof empty.
    assert!(verify_consistency(3, 3, &root, &root, &[]));
    assert!(!verify_consistency(3, 3, &root, &other, &[]));
    assert!(!verify_consistency(3, 3, &root, &root, &[root]));
    // From the empty tree: its root must be SHA-256("") and the proof empty.
    assert!(verify_consistency(0, 4, &EMPTY_TREE_ROOT, &other, &[]));
    assert!(!verify_consistency(0, 4, &root, &other, &[]));
    assert!(!verify_consistency(0, 4, &EMPTY_TREE_ROOT, &other, &[EMPTY_TREE_ROOT]));
    // Going back in time never holds, and a non-trivial step needs a proof.
    assert!(!verify_consistency(4, 3, &other, &root, &[]));
    assert!(!verify_consistency(3, 4, &root, &other, &[]));
}

#[test]
fn inclusion_in_a_tree_of_one_leaf_has_an_empty_proof_whose_root_is_the_leaf_hash() {
    let leaf = leaf_hash(b"data");
    assert!(verify_inclusion(&leaf, 0, 1, &[], &leaf));
    assert!(!verify_inclusion(&leaf, 0, 1, &[], &EMPTY_TREE_ROOT));
    assert!(!verify_inclusion(&leaf, 1, 1, &[], &leaf));
    assert!(!verify_inclusion(&leaf, 0, 0, &[], &leaf));
}

#[test]
fn corrupted_reference_proofs_fail() {
    let log = reference_log();
    let (index, size) = (5, 8);
    let proof = log.inclusion_proof(index, size).expect("proof");
    let leaf = log.leaf_hash_at(index).expect("leaf");
    let root = reference_root(size);
    let mut longer = proof.clone();
    longer.push(root);
    let mut shorter = proof.clone();
    shorter.pop();
    for (leaf_index, tree_size, candidate, description) in [
        (index - 1, size, &proof, "index - 1"),
        (index + 1, size, &proof, "index + 1"),
        (index ^ 2, size, &proof, "index ^ 2"),
        (index, size * 2, &proof, "size * 2"),
        (index, size / 2 + 1, &proof, "size / 2 + 1"),
        (index, size, &longer, "trailing root"),
        (index, size, &shorter, "removed component"),
    ] {
        assert!(!verify_inclusion(&leaf, leaf_index, tree_size, candidate, &root), "{description}");
    }

    let (old_size, new_size) = (6, 8);
    let proof = log.consistency_proof(old_size, new_size).expect("proof");
    let (old_root, new_root) = (reference_root(old_size), reference_root(new_size));
    assert!(!verify_consistency(old_size - 1, new_size, &old_root, &new_root, &proof));
    assert!(!verify_consistency(old_size + 1, new_size, &old_root, &new_root, &proof));
    assert!(!verify_consistency(old_size, new_size * 2, &old_root, &new_root, &proof));
    assert!(!verify_consistency(old_size, new_size, &new_root, &old_root, &proof));
    let mut preceded = vec![proof[0]];
    preceded.extend_from_slice(&proof);
    assert!(!verify_consistency(old_size, new_size, &old_root, &new_root, &preceded));
}

// --- Every size, exhaustively for small trees. ---

#[test]
fn every_root_and_proof_of_small_trees_matches_the_naive_definition_and_verifies() {
    let leaves = synthetic_leaves(40);
    let log = log_of(&leaves);
    for size in 0..=leaves.len() {
        let tree = &leaves[..size];
        let root = naive_root(tree);
        assert_eq!(log.root(size as u64), Some(root), "root of size {size}");
        for (index, leaf) in tree.iter().enumerate() {
            let proof = log.inclusion_proof(index as u64, size as u64).expect("inclusion proof");
            assert_eq!(proof, naive_path(index, tree), "path of {index} in {size}");
            assert!(verify_inclusion(leaf, index as u64, size as u64, &proof, &root));
        }
        for old in 1..=size {
            let proof = log.consistency_proof(old as u64, size as u64).expect("consistency proof");
            let expected = if old == size { Vec::new() } else { naive_subproof(old, tree, true) };
            assert_eq!(proof, expected, "proof {old} -> {size}");
            assert!(verify_consistency(old as u64, size as u64, &naive_root(&leaves[..old]), &root, &proof));
        }
    }
}

#[test]
fn a_million_leaves_answer_roots_and_proofs_for_old_sizes() {
    // Given a log of a little over a million leaves
    let count: u64 = (1 << 20) + 12_345;
    let mut log = MerkleLog::new();
    for index in 0..count {
        let mut leaf = [0u8; 32];
        leaf[..8].copy_from_slice(&index.to_be_bytes());
        log.push_leaf_hash(leaf);
    }
    // When roots and proofs are asked for several past sizes
    for (old_size, new_size, leaf_index) in [(1, count, 0), (999_999, count, 123_456), (524_289, 1_000_000, 524_288)] {
        let old_root = log.root(old_size).expect("old root");
        let new_root = log.root(new_size).expect("new root");
        // Then they verify
        let inclusion = log.inclusion_proof(leaf_index, old_size).expect("inclusion proof");
        let leaf = log.leaf_hash_at(leaf_index).expect("leaf");
        assert!(verify_inclusion(&leaf, leaf_index, old_size, &inclusion, &old_root));
        let consistency = log.consistency_proof(old_size, new_size).expect("consistency proof");
        assert!(consistency.len() <= 2 * 21, "a proof is logarithmic in the size");
        assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &consistency));
    }
}

#[test]
fn a_log_read_back_from_its_serialised_leaves_is_the_same_log() {
    // Given logs of sizes around the skipped levels and across more than one chunk of hashes
    for size in [0, 1, 7, 8, 9, 16, 17, 40, 40_000] {
        let log = log_of(&synthetic_leaves(size));
        // When it is serialised and read back
        let text = serde_json::to_string(&log).expect("serialise");
        let read: MerkleLog = serde_json::from_str(&text).expect("deserialise");
        // Then it is the same log, with the same roots and proofs
        assert_eq!(read, log, "size {size}");
        let size = size as u64;
        assert_eq!(read.root(size), log.root(size));
        if size > 1 {
            assert_eq!(read.inclusion_proof(size / 2, size), log.inclusion_proof(size / 2, size));
            assert_eq!(read.consistency_proof(size / 3, size), log.consistency_proof(size / 3, size));
        }
    }
    // And anything but a list of 32-byte hashes is refused
    assert!(serde_json::from_str::<MerkleLog>("[[1, 2, 3]]").is_err());
    assert!(serde_json::from_str::<MerkleLog>("{}").is_err());
}

// --- Compact logs. ---

fn compact_log_of(leaves: &[[u8; 32]], block_height: usize) -> MerkleLog {
    let mut log = MerkleLog::compact(block_height);
    for leaf in leaves {
        log.push_leaf_hash(*leaf);
    }
    log
}

/// Answers `ask` from a compact log: first with no block, then with exactly the blocks it asked
/// for (checked against the log's own block hashes), which must then suffice.
fn with_blocks<T: std::fmt::Debug>(
    log: &MerkleLog,
    leaves: &[[u8; 32]],
    ask: impl Fn(&BlockLeaves) -> Result<T, MissingBlocks>,
) -> (T, Vec<u64>) {
    match ask(&BlockLeaves::new()) {
        Ok(answer) => (answer, Vec::new()),
        Err(MissingBlocks(missing)) => {
            assert!(!missing.is_empty());
            let block = log.block_len() as usize;
            let supplied: BlockLeaves = missing
                .iter()
                .map(|&index| (index, leaves[index as usize * block..(index as usize + 1) * block].to_vec()))
                .collect();
            for (index, block_leaves) in &supplied {
                assert!(log.check_block(*index, block_leaves), "block {index} checks against its stored root");
            }
            (ask(&supplied).expect("the blocks it asked for suffice"), missing)
        }
    }
}

#[test]
fn a_compact_log_answers_every_root_and_proof_as_a_full_log_given_the_blocks_it_asks_for() {
    let leaves = synthetic_leaves(70);
    let full = log_of(&leaves);
    for block_height in [1, 2, 3, 5] {
        let compact = compact_log_of(&leaves, block_height);
        let block = compact.block_len() as usize;
        let complete_blocks = leaves.len() / block;
        for size in 0..=leaves.len() as u64 {
            let (root, _) = with_blocks(&compact, &leaves, |blocks| compact.root_with(size, blocks));
            assert_eq!(root, full.root(size), "root of {size}, blocks of {block}");
            for index in 0..size {
                let (proof, missing) =
                    with_blocks(&compact, &leaves, |blocks| compact.inclusion_proof_with(index, size, blocks));
                assert_eq!(proof, full.inclusion_proof(index, size), "path of {index} in {size}");
                assert!(missing.len() <= 2, "at most the leaf's block and the last one: {missing:?}");
                assert!(missing.iter().all(|&block| (block as usize) < complete_blocks), "only complete blocks");
                let (leaf, _) = with_blocks(&compact, &leaves, |blocks| compact.leaf_hash_with(index, blocks));
                assert_eq!(leaf, Some(leaves[index as usize]));
            }
            for old in 0..=size {
                let (proof, _) =
                    with_blocks(&compact, &leaves, |blocks| compact.consistency_proof_with(old, size, blocks));
                assert_eq!(proof, full.consistency_proof(old, size), "proof {old} -> {size}");
            }
        }
        // The current root needs nothing from outside, nor do the proofs of the last block while
        // it is incomplete.
        let size = leaves.len() as u64;
        assert_eq!(compact.root(size), full.root(size));
        if !size.is_multiple_of(block as u64) {
            assert_eq!(compact.inclusion_proof(size - 1, size), full.inclusion_proof(size - 1, size));
        }
        // Beyond the log there is nothing, as for a full log.
        assert_eq!(compact.root_with(size + 1, &BlockLeaves::new()), Ok(None));
        assert_eq!(compact.inclusion_proof_with(size, size, &BlockLeaves::new()), Ok(None));
    }
}

#[test]
fn a_compact_log_refuses_leaves_that_are_not_its_blocks() {
    let leaves = synthetic_leaves(64);
    let compact = compact_log_of(&leaves, 4);
    assert!(compact.check_block(1, &leaves[16..32]));
    let mut changed = leaves[16..32].to_vec();
    changed[3] = flip_bit(changed[3]);
    assert!(!compact.check_block(1, &changed), "a changed leaf");
    assert!(!compact.check_block(1, &leaves[0..16]), "another block's leaves");
    assert!(!compact.check_block(1, &leaves[16..31]), "too few leaves");
    assert!(!compact.check_block(4, &leaves[48..64]), "a block the log does not have");
}

#[test]
fn a_compact_log_holds_its_blocks_not_its_leaves_and_reads_back_the_same() {
    for size in [0, 1, 15, 16, 17, 40_000] {
        let leaves = synthetic_leaves(size);
        let compact = compact_log_of(&leaves, 4);
        let text = serde_json::to_string(&compact).expect("serialise");
        let read: MerkleLog = serde_json::from_str(&text).expect("deserialise");
        assert_eq!(read, compact, "size {size}");
        assert_eq!(read.root(size as u64), log_of(&leaves).root(size as u64));
        // About one hash per block (and the last block's leaves), not one per leaf.
        let hashes = text.matches('[').count();
        assert!(hashes <= size / 16 + 16 + 3, "{hashes} hashes serialised for {size} leaves");
    }
    assert!(serde_json::from_str::<MerkleLog>(r#"{"Compact":{"block_height":0,"blocks":[],"tail":[]}}"#).is_err());
}

// --- Property tests. ---

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_inclusion_proof_verifies_and_a_changed_leaf_or_root_fails(
        count in 1usize..400,
        size_fraction in 0.0f64..1.0,
        index_fraction in 0.0f64..1.0,
    ) {
        let leaves = synthetic_leaves(count);
        let log = log_of(&leaves);
        let size = 1 + ((count - 1) as f64 * size_fraction) as usize;
        let index = ((size - 1) as f64 * index_fraction) as usize;
        let root = log.root(size as u64).expect("root");
        prop_assert_eq!(root, naive_root(&leaves[..size]));

        let proof = log.inclusion_proof(index as u64, size as u64).expect("proof");
        prop_assert!(verify_inclusion(&leaves[index], index as u64, size as u64, &proof, &root));
        // A changed leaf, a wrong root or a changed proof element fails.
        prop_assert!(!verify_inclusion(&flip_bit(leaves[index]), index as u64, size as u64, &proof, &root));
        prop_assert!(!verify_inclusion(&leaves[index], index as u64, size as u64, &proof, &flip_bit(root)));
        for position in 0..proof.len() {
            let mut tampered = proof.clone();
            tampered[position] = flip_bit(tampered[position]);
            prop_assert!(!verify_inclusion(&leaves[index], index as u64, size as u64, &tampered, &root));
        }
        // So does the proof of another leaf, unless that leaf's hash happens to be the same.
        if size > 1 {
            let other = (index + 1) % size;
            prop_assert!(!verify_inclusion(&leaves[other], index as u64, size as u64, &proof, &root));
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_a_changed_leaf_or_root_fails(
        count in 1usize..400,
        new_fraction in 0.0f64..1.0,
        old_fraction in 0.0f64..1.0,
    ) {
        let leaves = synthetic_leaves(count);
        let log = log_of(&leaves);
        let new_size = 1 + ((count - 1) as f64 * new_fraction) as usize;
        let old_size = 1 + ((new_size - 1) as f64 * old_fraction) as usize;
        let old_root = log.root(old_size as u64).expect("old root");
        let new_root = log.root(new_size as u64).expect("new root");

        let proof = log.consistency_proof(old_size as u64, new_size as u64).expect("proof");
        prop_assert!(verify_consistency(old_size as u64, new_size as u64, &old_root, &new_root, &proof));
        prop_assert!(!verify_consistency(old_size as u64, new_size as u64, &flip_bit(old_root), &new_root, &proof));
        prop_assert!(!verify_consistency(old_size as u64, new_size as u64, &old_root, &flip_bit(new_root), &proof));
        for position in 0..proof.len() {
            let mut tampered = proof.clone();
            tampered[position] = flip_bit(tampered[position]);
            prop_assert!(!verify_consistency(old_size as u64, new_size as u64, &old_root, &new_root, &tampered));
        }
        // A log whose history was rewritten (one old leaf changed) is not consistent with the
        // old root any more.
        let mut rewritten = leaves.clone();
        let changed = (old_size - 1) / 2;
        rewritten[changed] = flip_bit(rewritten[changed]);
        let rewritten_log = log_of(&rewritten);
        let rewritten_root = rewritten_log.root(new_size as u64).expect("root");
        let rewritten_proof = rewritten_log.consistency_proof(old_size as u64, new_size as u64).expect("proof");
        prop_assert!(!verify_consistency(old_size as u64, new_size as u64, &old_root, &rewritten_root, &rewritten_proof));
    }
}
