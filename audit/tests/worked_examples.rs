//! The worked examples of `docs/audit.md`, value for value. If one of these changes, the
//! documentation (and every auditor's re-implementation) is wrong: update both together, or
//! better, do not change the procedure.

use serde_json::json;
use ygor_audit::{
    Checkpoint, DrawEntry, EMPTY_TREE_ROOT, ExportedEvent, MerkleLog, checkpoint_signing_message, decode_hex_32,
    draw_entrants, draw_generator_key, draw_stream, draw_winners, entries_root, entry_leaf_data, event_leaf_hash,
    gold_earned, gold_hash, leaf_data, leaf_hash, node_hash, seed_commitment, sign_checkpoint, uniform_below,
    verify_checkpoint, verify_consistency, verify_inclusion,
};
use ygor_crypto::SecretKey;

const CITIZEN: &str = "16fd2706-8baf-433b-82eb-8c7fada847da";

/// Three exported events; positions 3 and 4 are missing (gaps are allowed).
fn example_events() -> Vec<ExportedEvent> {
    vec![
        ExportedEvent {
            position: 1,
            aggregate_type: "territory".to_owned(),
            aggregate_id: "territory".to_owned(),
            sequence: 1,
            event_type: "SupplyMinted".to_owned(),
            event_version: "1".to_owned(),
            payload: json!({"amount": 1000, "minted_at": "2026-11-22T10:00:00.123456Z"}),
            recorded_at: "2026-11-22T10:00:00.123456Z".to_owned(),
        },
        ExportedEvent {
            position: 2,
            aggregate_type: "wallet".to_owned(),
            aggregate_id: CITIZEN.to_owned(),
            sequence: 1,
            event_type: "CitizenRegistered".to_owned(),
            event_version: "1".to_owned(),
            payload: json!({"interests": ["ecologie"], "neighbourhood": "Centre"}),
            recorded_at: "2026-11-22T10:00:01.000000Z".to_owned(),
        },
        ExportedEvent {
            position: 5,
            aggregate_type: "wallet".to_owned(),
            aggregate_id: CITIZEN.to_owned(),
            sequence: 2,
            event_type: "ActionCertified".to_owned(),
            event_version: "1".to_owned(),
            payload: json!({
                "action_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
                "category": "ecologie",
                "gold": false,
                "tokens": 10
            }),
            recorded_at: "2026-11-22T10:00:02.500000Z".to_owned(),
        },
    ]
}

fn hashes(texts: &[&str]) -> Vec<[u8; 32]> {
    texts.iter().map(|text| decode_hex_32(text, "hash").expect("hex")).collect()
}

const LEAF_1: &str = "1aa5c4d2d21f1dee4c5e2366ef4c87e77a5921ef99da2e11a354da784a488573";
const LEAF_2: &str = "c9ccc6ea7ea43bdba884ab92f0129b17e719dd7cc2fec85ed26aaf9e12c4d0eb";
const LEAF_5: &str = "1eec1c390c2e8de9932d0a0197c624081366c8ddac172750d8e403cf0ae3dc52";
const ROOT_2: &str = "51cff8e6da725100756054e4044da8926c82d2ce1715303e508b85ca324587eb";
const ROOT_3: &str = "cd92a4d7e99dd00e9df0a7e0f210feffd706bb95446415ec9635c181fdd31342";

#[test]
fn log_example_leaf_data_hashes_roots_and_proofs() {
    let events = example_events();
    // Leaf data is the JCS text of the exported object.
    assert_eq!(
        String::from_utf8(leaf_data(&events[0]).expect("canonical")).expect("UTF-8"),
        r#"{"aggregate_id":"territory","aggregate_type":"territory","event_type":"SupplyMinted","event_version":"1","payload":{"amount":1000,"minted_at":"2026-11-22T10:00:00.123456Z"},"position":1,"recorded_at":"2026-11-22T10:00:00.123456Z","sequence":1}"#
    );
    assert_eq!(
        String::from_utf8(leaf_data(&events[2]).expect("canonical")).expect("UTF-8"),
        r#"{"aggregate_id":"16fd2706-8baf-433b-82eb-8c7fada847da","aggregate_type":"wallet","event_type":"ActionCertified","event_version":"1","payload":{"action_id":"0f8fad5b-d9cb-469f-a165-70867728950e","category":"ecologie","gold":false,"tokens":10},"position":5,"recorded_at":"2026-11-22T10:00:02.500000Z","sequence":2}"#
    );
    let leaves: Vec<String> = events.iter().map(|event| hex::encode(event_leaf_hash(event).expect("hash"))).collect();
    assert_eq!(leaves, [LEAF_1, LEAF_2, LEAF_5]);

    // Roots of every size: 0 is SHA-256(""), 1 is the leaf itself, 2 is one node, 3 splits at 2.
    let log = MerkleLog::from_events(&events).expect("positions increase");
    let [leaf_1, leaf_2, leaf_5] = [LEAF_1, LEAF_2, LEAF_5].map(|text| decode_hex_32(text, "leaf").expect("hex"));
    assert_eq!(log.root(0), Some(EMPTY_TREE_ROOT));
    assert_eq!(log.root(1), Some(leaf_1));
    assert_eq!(hex::encode(node_hash(&leaf_1, &leaf_2)), ROOT_2);
    assert_eq!(log.root(2).map(hex::encode).as_deref(), Some(ROOT_2));
    let root_2 = decode_hex_32(ROOT_2, "root").expect("hex");
    assert_eq!(hex::encode(node_hash(&root_2, &leaf_5)), ROOT_3);
    assert_eq!(log.root(3).map(hex::encode).as_deref(), Some(ROOT_3));

    // The event at position 5 is leaf index 2: its proof in the tree of size 3 is [root of size 2].
    let root_3 = decode_hex_32(ROOT_3, "root").expect("hex");
    let inclusion = log.inclusion_proof(2, 3).expect("proof");
    assert_eq!(inclusion, hashes(&[ROOT_2]));
    assert!(verify_inclusion(&leaf_5, 2, 3, &inclusion, &root_3));
    // The first event's proof in the same tree is [leaf 2, leaf 5].
    let inclusion = log.inclusion_proof(0, 3).expect("proof");
    assert_eq!(inclusion, hashes(&[LEAF_2, LEAF_5]));
    assert!(verify_inclusion(&leaf_1, 0, 3, &inclusion, &root_3));

    // Consistency 2 -> 3 is [leaf 5] (the old root, a complete subtree, is not sent);
    // 1 -> 3 is [leaf 2, leaf 5].
    let consistency = log.consistency_proof(2, 3).expect("proof");
    assert_eq!(consistency, hashes(&[LEAF_5]));
    assert!(verify_consistency(2, 3, &root_2, &root_3, &consistency));
    let consistency = log.consistency_proof(1, 3).expect("proof");
    assert_eq!(consistency, hashes(&[LEAF_2, LEAF_5]));
    assert!(verify_consistency(1, 3, &leaf_1, &root_3, &consistency));
}

#[test]
fn checkpoint_example_message_key_and_signature() {
    // The ed25519 key whose 32-byte secret seed is 07 07 … 07 (an example key, never a real one).
    let territory_key = SecretKey::from_seed(&[7; 32]);
    let checkpoint =
        Checkpoint { tree_size: 3, root_hash: ROOT_3.to_owned(), signed_at: "2026-11-22T10:05:00Z".to_owned() };
    assert_eq!(
        String::from_utf8(checkpoint_signing_message(&checkpoint).expect("message")).expect("UTF-8"),
        "ygor/checkpoint/v1\n{\"root_hash\":\"cd92a4d7e99dd00e9df0a7e0f210feffd706bb95446415ec9635c181fdd31342\",\"signed_at\":\"2026-11-22T10:05:00Z\",\"tree_size\":3}"
    );
    let signed = sign_checkpoint(&checkpoint, &territory_key).expect("signs");
    assert_eq!(signed.public_key, "6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw");
    assert_eq!(
        signed.signature,
        "qs3z8TWsZwlo4gzX0B3OyHkY5tvABRA0Ui6L8ssAtOOwEgKgB_Ax345E2M1BQdeTf406T2xO_dBFa4DQGdYMBg"
    );
    assert_eq!(verify_checkpoint(&signed), Ok(()));
}

#[test]
fn gold_example_commitment_hashes_and_outcomes() {
    let seed: [u8; 32] = std::array::from_fn(|index| index as u8);
    assert_eq!(hex::encode(seed), "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    assert_eq!(seed_commitment(&seed), "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd");

    // probability 0.05 is the double 0x3FA999999999999A = 0x1999999999999A · 2^-57, so the
    // threshold is 0x1999999999999A · 2^199.
    let threshold = "0ccccccccccccd00000000000000000000000000000000000000000000000000";
    let missed = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let x = hex::encode(gold_hash(&seed, missed));
    assert_eq!(x, "47343cdcfb086eecc3577dfc7d72ba0eca673bd1494acc5d8178b7b16381b799");
    assert!(x.as_str() >= threshold);
    assert!(!gold_earned(&seed, missed, 0.05));

    let earned = "00000000-0000-4000-8000-000000000002";
    let x = hex::encode(gold_hash(&seed, earned));
    assert_eq!(x, "05bf75d16832e39becc552eed830335db5c1095e240e9aa51bcb4d834128a86d");
    assert!(x.as_str() < threshold);
    assert!(gold_earned(&seed, earned, 0.05));
}

fn example_entries() -> Vec<DrawEntry> {
    let entry = |citizen_id: &str, tickets| DrawEntry { citizen_id: citizen_id.to_owned(), tickets };
    vec![
        entry("e5f6a7b8-9c0d-4e1f-8a2b-3c4d5e6f7a8b", 3),
        entry(CITIZEN, 2),
        entry("7c9e6679-7425-40de-944b-e07fc1f90ae7", 5),
        entry(CITIZEN, 1),
        entry("a1b2c3d4-0000-4000-8000-000000000000", 0),
        entry("3f2504e0-4f89-41d3-9a0c-0305e82c3301", 1),
    ]
}

#[test]
fn draw_example_entrants_root_generator_and_winners() {
    let seed: [u8; 32] = std::array::from_fn(|index| 0x20 + index as u8);
    let draw_id = "5b8a7c1e-2f3d-4e6a-9b0c-1d2e3f4a5b6c";
    let entries = example_entries();
    assert_eq!(seed_commitment(&seed), "72dbb7336c76780023f83da4c355f2eeea85733b13d3477697917790c1229084");

    // Entrants: merged, the one without tickets left out, in citizen_id order.
    let entrants = draw_entrants(&entries).expect("entrants");
    let leaves: Vec<(String, String)> = entrants
        .iter()
        .map(|entrant| {
            let data = entry_leaf_data(entrant).expect("leaf data");
            (String::from_utf8(data.clone()).expect("UTF-8"), hex::encode(leaf_hash(&data)))
        })
        .collect();
    let expected = [
        (
            r#"{"citizen_id":"16fd2706-8baf-433b-82eb-8c7fada847da","tickets":3}"#,
            "90beabd5977e56e0f217311d7c507b479cdbff6273db369623286a8823d392da",
        ),
        (
            r#"{"citizen_id":"3f2504e0-4f89-41d3-9a0c-0305e82c3301","tickets":1}"#,
            "fc294fd43a62bde43798eb850e34c6339dbbc6efe85cd1e8f5afde4c251aaf94",
        ),
        (
            r#"{"citizen_id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","tickets":5}"#,
            "213628047f307be1243df85f82f8d63659f9512716023b7dcbe805bd5df73a00",
        ),
        (
            r#"{"citizen_id":"e5f6a7b8-9c0d-4e1f-8a2b-3c4d5e6f7a8b","tickets":3}"#,
            "157806deaaeaa1e2ad6153a02963eeea0707a15f7fce6507f491f9064a6a9da2",
        ),
    ];
    let expected: Vec<(String, String)> =
        expected.iter().map(|(data, hash)| ((*data).to_owned(), (*hash).to_owned())).collect();
    assert_eq!(leaves, expected);

    let root = entries_root(&entries).expect("root");
    assert_eq!(hex::encode(root), "9c221a8f1a44e1f902f92e84f926a0d700946fd491b07b9867b417aec8cf57fe");
    let key = draw_generator_key(&seed, draw_id, &root);
    assert_eq!(hex::encode(key), "0cb53df6560b6cd02aad959860707b3e9445c3abdc5ca396bce8daf06164800a");

    // The stream's first numbers, and each pick: T tickets in the draw, 2^64 mod T rejected
    // values (none of them comes up here), r = u mod T.
    let mut stream = draw_stream(&key);
    let picks: Vec<(u64, u64, u64, u64)> = [12u64, 7, 4, 1]
        .into_iter()
        .map(|total| {
            let mut drawn = 0;
            let ticket = uniform_below(total, &mut || {
                drawn = stream();
                drawn
            });
            (drawn, total, total.wrapping_neg() % total, ticket)
        })
        .collect();
    assert_eq!(
        picks,
        [
            (0xa555aad9d88ca63f, 12, 4, 7),
            (0x6cf667f7c93bbcff, 7, 2, 6),
            (0x8a919cab2117ed88, 4, 0, 0),
            (0x41a85cf367e38d1c, 1, 0, 0),
        ]
    );

    // Two winners, then everyone.
    assert_eq!(
        draw_winners(&seed, draw_id, &entries, 2).expect("draw"),
        ["7c9e6679-7425-40de-944b-e07fc1f90ae7", "e5f6a7b8-9c0d-4e1f-8a2b-3c4d5e6f7a8b"]
    );
    assert_eq!(
        draw_winners(&seed, draw_id, &entries, 10).expect("draw"),
        [
            "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "e5f6a7b8-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
            "16fd2706-8baf-433b-82eb-8c7fada847da",
            "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
        ]
    );
}
