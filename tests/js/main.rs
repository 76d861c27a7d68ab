//! The browser's cryptography (`api/static/js/ygor-crypto.js`) agrees byte for byte with the Rust
//! crates: this test makes keys, signed objects, canonical forms, Merkle trees with inclusion
//! proofs and checkpoints with `ygor_crypto` and `ygor_audit`, writes them to a JSON fixture, runs
//! `node api/static/js/test/ygor-crypto.test.mjs FIXTURE` (Node 20 or later, on PATH), and
//! verifies in Rust the signatures the JS made.

use std::path::Path;
use std::process::Command;

use serde_json::{Map, Value, json};
use ygor_audit::{Checkpoint, ExportedEvent, MerkleLog, event_leaf_hash, leaf_data, sign_checkpoint};
use ygor_crypto::{SecretKey, SignedKind, canonical_json, sign_object, signing_message, verify_object, write_key_file};

const SCRIPT: &str = "api/static/js/test/ygor-crypto.test.mjs";

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn kind_name(kind: SignedKind) -> &'static str {
    match kind {
        SignedKind::Certification => "certification",
        SignedKind::Redemption => "redemption",
        SignedKind::Checkpoint => "checkpoint",
        SignedKind::Voucher => "voucher",
    }
}

/// JCS cases: values (as they reach the JS through JSON text) and their canonical bytes.
fn jcs_cases() -> Vec<Value> {
    let parsed = |text: &str| serde_json::from_str::<Value>(text).expect("valid JSON");
    let mut values = vec![
        (
            "RFC 8785 §3.2.2 example",
            parsed(
                r#"{
            "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]
        }"#,
            ),
        ),
        (
            "RFC 8785 §3.2.3 member order (UTF-16 code units)",
            parsed(
                r#"{
            "\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#,
            ),
        ),
        (
            "non-ASCII member names, nested",
            json!({"clé": {"été": [1, {"ß": "x", "z": null, "a": "é😀"}]}, "b": {}, "a": []}),
        ),
        ("nested objects and arrays", json!({"b": {"z": 1, "a": [{"y": 2, "x": 3}, [], {}]}, "a": null, "c": [[[]]]})),
        (
            "numbers",
            json!([
                0,
                -0.0,
                1,
                -1,
                4.5,
                0.1,
                0.5,
                1e21,
                1e-7,
                1e-6,
                123.0,
                100,
                -12,
                9007199254740991i64,
                -9007199254740991i64,
                1e23,
                5e-324,
                -5e-324,
                1.7976931348623157e308,
                2.5e-8,
                1e22,
                295147905179352830000.0,
                1e30,
                2.718281828459045e-10
            ]),
        ),
        ("strings with escapes", json!("\u{0}\u{8}\t\n\u{b}\u{c}\r\u{1f}\"\\/\u{7f}\u{2028}é😀")),
        ("empty object", json!({})),
        ("a lone number", json!(42)),
        (
            "a certification",
            json!({"action_id": "0f8fad5b-d9cb-469f-a165-70867728950e", "association_id":
                "7c9e6679-7425-40de-944b-e07fc1f90ae7", "citizen_id": "16fd2706-8baf-433b-82eb-8c7fada847da",
                "category": "écologie", "quantity": 3, "occurred_at": "2026-07-14T09:30:00Z"}),
        ),
    ];
    // RFC 8785 appendix B: every double of the table (but ±2^53, which the JS refuses on purpose).
    for bits in [
        0x0000000000000000u64,
        0x8000000000000000,
        0x0000000000000001,
        0x8000000000000001,
        0x7fefffffffffffff,
        0xffefffffffffffff,
        0x4430000000000000,
        0x44b52d02c7e14af5,
        0x44b52d02c7e14af6,
        0x44b52d02c7e14af7,
        0x444b1ae4d6e2ef4e,
        0x444b1ae4d6e2ef4f,
        0x444b1ae4d6e2ef50,
        0x3eb0c6f7a0b5ed8c,
        0x3eb0c6f7a0b5ed8d,
        0x41b3de4355555553,
        0x41b3de4355555554,
        0x41b3de4355555555,
        0x41b3de4355555556,
        0x41b3de4355555557,
        0xbecbf647612f3696,
        0x43143ff3c1cb0959,
    ] {
        values.push(("RFC 8785 appendix B", json!([f64::from_bits(bits)])));
    }
    values
        .into_iter()
        .map(|(name, value)| {
            let canonical = canonical_json(&value).expect("canonical");
            json!({"name": name, "value": value, "canonical_hex": hex::encode(canonical)})
        })
        .collect()
}

fn certification() -> Map<String, Value> {
    object(json!({
        "action_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "association_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "citizen_id": "16fd2706-8baf-433b-82eb-8c7fada847da",
        "category": "écologie",
        "quantity": 3,
        "occurred_at": "2026-07-14T09:30:00Z"
    }))
}

fn redemptions() -> Vec<Map<String, Value>> {
    vec![
        object(json!({
            "redemption_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
            "venue_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "voucher": "v1.eyJhIjoxfQ.c2lnbmF0dXJl",
            "offer_id": "9b2e5f0a-1c3d-4e5f-8a7b-6c5d4e3f2a1b",
            "amount": 12
        })),
        object(json!({
            "redemption_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3302",
            "venue_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "countermark": "K7Q-2MX",
            "amount": 9007199254740991i64
        })),
    ]
}

fn messages() -> Vec<Value> {
    let with_stale = |mut object: Map<String, Value>| {
        object.insert("signature".to_owned(), json!("stale"));
        object
    };
    let checkpoint = object(json!({
        "tree_size": 3, "root_hash": "cd92a4d7e99dd00e9df0a7e0f210feffd706bb95446415ec9635c181fdd31342",
        "signed_at": "2026-11-22T10:05:00Z", "signature": "x", "public_key": "y"
    }));
    let voucher = object(
        json!({"citizen_id": "16fd2706-8baf-433b-82eb-8c7fada847da", "expires_at": 1_700_000_000, "nonce": "n"}),
    );
    let mut cases = vec![
        (SignedKind::Certification, with_stale(certification())),
        (SignedKind::Checkpoint, checkpoint.clone()),
        // For another kind, "public_key" is an ordinary member.
        (SignedKind::Redemption, checkpoint),
        (SignedKind::Voucher, voucher),
        (SignedKind::Certification, object(json!({"note": "vélo \"cargo\"\n", "clé": 1.5, "ü": [{"b": 1, "a": 2}]}))),
    ];
    cases.extend(redemptions().into_iter().map(|redemption| (SignedKind::Redemption, with_stale(redemption))));
    cases
        .into_iter()
        .map(|(kind, object)| {
            let message = signing_message(kind, &object).expect("message");
            json!({"kind": kind_name(kind), "object": object, "message_hex": hex::encode(message)})
        })
        .collect()
}

/// The events of the log: the three of docs/audit.md §1.5, then varied ones, with gaps in the
/// positions.
fn events(count: usize) -> Vec<ExportedEvent> {
    let documented: Vec<ExportedEvent> = serde_json::from_value(json!([
        {"position": 1, "aggregate_type": "territory", "aggregate_id": "territory", "sequence": 1,
         "event_type": "SupplyMinted", "event_version": "1",
         "payload": {"amount": 1000, "minted_at": "2026-11-22T10:00:00.123456Z"},
         "recorded_at": "2026-11-22T10:00:00.123456Z"},
        {"position": 2, "aggregate_type": "wallet", "aggregate_id": "16fd2706-8baf-433b-82eb-8c7fada847da",
         "sequence": 1, "event_type": "CitizenRegistered", "event_version": "1",
         "payload": {"interests": ["ecologie"], "neighbourhood": "Centre"},
         "recorded_at": "2026-11-22T10:00:01.000000Z"},
        {"position": 5, "aggregate_type": "wallet", "aggregate_id": "16fd2706-8baf-433b-82eb-8c7fada847da",
         "sequence": 2, "event_type": "ActionCertified", "event_version": "1",
         "payload": {"action_id": "0f8fad5b-d9cb-469f-a165-70867728950e", "category": "ecologie", "gold": false, "tokens": 10},
         "recorded_at": "2026-11-22T10:00:02.500000Z"}
    ]))
    .expect("the documented events");
    let varied = (documented.len()..count).map(|index| {
        let payload = match index % 5 {
            0 => json!({"TokensRedeemed": {"amount": index, "spent": [{"lot_id": format!("lot-{index}"), "amount": index}], "venue_id": "v"}}),
            1 => json!({"CertificationRecorded": {"record": {"request": {"quantity": 4.5, "note": "vélo \"cargo\"\n😀"}, "outcome": {"tokens": 10, "gold": index % 2 == 0, "lot_id": null}}}}),
            2 => json!({"RulesPublished": {"rules": {"gold": {"probability": 0.05}}, "clé": -(index as i64), "€": [1e21, 1e-7]}}),
            3 => json!({"WalletRegistered": {"interests": [], "demographics": {}, "max": 9007199254740991i64}}),
            _ => json!({}),
        };
        ExportedEvent {
            position: (index as i64) * 3 + 7,
            aggregate_type: "wallet".to_owned(),
            aggregate_id: format!("16fd2706-8baf-433b-82eb-{index:012}"),
            sequence: (index as i64) / 5 + 1,
            event_type: ["TokensRedeemed", "CertificationRecorded", "RulesPublished", "WalletRegistered", "Noop"][index % 5]
                .to_owned(),
            event_version: "1".to_owned(),
            payload,
            recorded_at: format!("2026-11-22T10:{:02}:{:02}.{:06}Z", index / 60 % 60, index % 60, index * 37 % 1_000_000),
        }
    });
    documented.into_iter().chain(varied).collect()
}

/// A Merkle tree over the first `size` events, with the inclusion proof of each leaf.
fn tree(events: &[ExportedEvent], size: usize) -> Value {
    let log = MerkleLog::from_events(&events[..size]).expect("positions increase");
    let tree_size = size as u64;
    let root = log.root(tree_size).expect("root");
    let proofs: Vec<Value> = (0..tree_size)
        .map(|leaf_index| {
            let event = &events[leaf_index as usize];
            let leaf = event_leaf_hash(event).expect("leaf hash");
            assert_eq!(log.leaf_hash_at(leaf_index), Some(leaf));
            let path = log.inclusion_proof(leaf_index, tree_size).expect("proof");
            assert!(ygor_audit::verify_inclusion(&leaf, leaf_index, tree_size, &path, &root));
            // Every proof of a small tree is tampered with; a sample of the large one.
            let tamper = size <= 7 || [0, 1, 2, 511, 512, 513, 1000, 1023, 1024].contains(&leaf_index);
            json!({
                "event": event,
                "leaf_data_hex": hex::encode(leaf_data(event).expect("leaf data")),
                "leaf_hash": hex::encode(leaf),
                "leaf_index": leaf_index,
                "tree_size": tree_size,
                "audit_path": path.iter().map(hex::encode).collect::<Vec<_>>(),
                "root_hash": hex::encode(root),
                "tamper": tamper,
            })
        })
        .collect();
    json!({"size": size, "proofs": proofs})
}

fn run_node(fixture: &Path) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCRIPT);
    match Command::new("node").arg(&script).arg(fixture).output() {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
            "the program `node` (Node.js 20 or later) is not on PATH: it runs {SCRIPT}, which checks the browser's \
             cryptography against the Rust code ({error})"
        ),
        Err(error) => panic!("cannot run `node {}`: {error}", script.display()),
    }
}

#[test]
fn browser_cryptography_agrees_with_the_rust_crates_byte_for_byte() {
    let directory = tempfile::tempdir().expect("temporary directory");

    // A partner key file, as `ygor keys generate` writes it.
    let partner = SecretKey::generate();
    let key_path = directory.path().join("partner.key");
    write_key_file(&key_path, &partner).expect("key file");
    let key_file_text = std::fs::read_to_string(&key_path).expect("readable");
    let other = SecretKey::generate();
    let bad_key_files = json!([
        {"text": json!({"public_key": other.public_key().to_string(), "secret_key": partner.to_text()}).to_string(),
         "expect": "ne correspond pas à sa clé secrète"},
        {"text": "{\"public_key\": \"abc\"", "expect": "pas du JSON"},
        {"text": "[1, 2]", "expect": "n'est pas un fichier de clé"},
        {"text": json!({"public_key": partner.public_key().to_string()}).to_string(), "expect": "n'est pas un fichier de clé"},
        {"text": json!({"public_key": partner.public_key().to_string(), "secret_key": partner.to_text(), "x": 1}).to_string(),
         "expect": "n'est pas un fichier de clé"},
        {"text": json!({"public_key": partner.public_key().to_string(), "secret_key": format!("{}=", partner.to_text())}).to_string(),
         "expect": "clé secrète n'est pas"},
        {"text": json!({"public_key": "not a key", "secret_key": partner.to_text()}).to_string(), "expect": "clé publique n'est pas"},
        {"text": " ".repeat(5000), "expect": "n'est pas un fichier de clé"},
    ]);

    // Objects signed by the partner in Rust; the JS signs the same ones.
    let mut to_sign = vec![(SignedKind::Certification, certification())];
    to_sign.extend(redemptions().into_iter().map(|redemption| (SignedKind::Redemption, redemption)));
    let signed: Vec<Value> = to_sign
        .iter()
        .map(|(kind, unsigned)| {
            let rust_signed = sign_object(*kind, unsigned.clone(), &partner).expect("signs");
            json!({"kind": kind_name(*kind), "unsigned": unsigned, "rust_signed": rust_signed})
        })
        .collect();

    // Merkle trees of several sizes, and a checkpoint of the largest.
    let events = events(1025);
    let trees: Vec<Value> = [1, 2, 3, 7, 1025].into_iter().map(|size| tree(&events, size)).collect();
    let documented_root = "cd92a4d7e99dd00e9df0a7e0f210feffd706bb95446415ec9635c181fdd31342";
    assert_eq!(trees[2]["proofs"][0]["root_hash"], json!(documented_root), "docs/audit.md §1.5");
    let territory = SecretKey::generate();
    let head = Checkpoint {
        tree_size: 1025,
        root_hash: trees[4]["proofs"][0]["root_hash"].as_str().expect("hex").to_owned(),
        signed_at: "2026-11-22T10:05:00.123456Z".to_owned(),
    };
    let checkpoint = sign_checkpoint(&head, &territory).expect("signs");
    let foreign = sign_checkpoint(&head, &SecretKey::generate()).expect("signs");
    let worked_example = sign_checkpoint(
        &Checkpoint {
            tree_size: 3,
            root_hash: documented_root.to_owned(),
            signed_at: "2026-11-22T10:05:00Z".to_owned(),
        },
        &SecretKey::from_seed(&[7; 32]),
    )
    .expect("signs");

    let output = directory.path().join("js-signed.json");
    let fixture = json!({
        "output": output,
        "jcs": jcs_cases(),
        // Rust refuses these integers; so must the JS.
        "jcs_refused": ["9007199254740992", "-9007199254740992", "{\"a\": [18446744073709551615]}", "-9223372036854775808"],
        // Rust reads these as doubles and accepts them; JSON.parse cannot tell them from refused
        // integers, so the JS refuses them too (Ygor never writes such numbers).
        "jcs_refused_by_js_only": ["9007199254740992.0", "-9007199254740992.0", "1e19"],
        "messages": messages(),
        "key_file": {"text": key_file_text, "public_key": partner.public_key().to_string()},
        "bad_key_files": bad_key_files,
        "signed": signed,
        "trees": trees,
        "checkpoint": {
            "territory_public_key": territory.public_key().to_string(),
            "signed": checkpoint,
            "signed_by_another_key": foreign,
            "worked_example": {"checkpoint": worked_example, "public_key": SecretKey::from_seed(&[7; 32]).public_key().to_string()},
        },
    });
    for text in ["9007199254740992.0", "1e19"] {
        let value: Value = serde_json::from_str(text).expect("JSON");
        assert!(canonical_json(&value).is_ok(), "Rust accepts the double {text}");
    }
    for text in fixture["jcs_refused"].as_array().expect("list") {
        let value: Value = serde_json::from_str(text.as_str().expect("text")).expect("JSON");
        assert!(canonical_json(&value).is_err(), "Rust refuses {text}");
    }
    let fixture_path = directory.path().join("fixture.json");
    std::fs::write(&fixture_path, serde_json::to_vec(&fixture).expect("serialises")).expect("fixture written");

    let run = run_node(&fixture_path);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "node {SCRIPT} failed ({}):\n{stdout}\n{stderr}", run.status);
    println!("{stdout}");

    // The signatures the JS made verify in Rust, and are the ones Rust makes.
    let written: Value =
        serde_json::from_slice(&std::fs::read(&output).expect("the JS wrote its signatures")).expect("JSON");
    let js_signed = written["signed"].as_array().expect("a list");
    assert_eq!(js_signed.len(), to_sign.len(), "one JS signature per object:\n{stdout}\n{stderr}");
    for ((kind, unsigned), item) in to_sign.iter().zip(js_signed) {
        assert_eq!(item["kind"], json!(kind_name(*kind)));
        let object = object(item["object"].clone());
        verify_object(*kind, &object, &partner.public_key())
            .unwrap_or_else(|error| panic!("a {} signed in JS does not verify in Rust: {error}", kind_name(*kind)));
        let rust = sign_object(*kind, unsigned.clone(), &partner).expect("signs");
        assert_eq!(object, rust, "the JS signed the same object with the same signature");
    }
}
