//! Partner tooling: `ygor keys generate` and `ygor sign`, used as a partner would, end to end.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, spawn_app};

crate::on_both_backends!(a_certification_signed_with_the_cli_is_accepted);

/// Runs the real `ygor` binary with `input` on its standard input; returns whether it succeeded,
/// its standard output and its standard error. The storage variables of the environment are
/// left out, so that only the arguments say where it reads and writes.
pub(crate) fn ygor(arguments: &[&str], input: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ygor"))
        .args(arguments)
        .env_remove("DATABASE_URL")
        .env_remove("YGOR_DATA_DIR")
        .env_remove("YGOR_ADMIN_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ygor");
    if let Some(input) = input {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    }
    drop(child.stdin.take());
    let output = child.wait_with_output().expect("ygor finishes");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn a_certification_signed_with_the_cli_is_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    let directory = tempfile::tempdir().expect("temp dir");
    let key_path = directory.path().join("association.json");
    let key_file = key_path.to_str().expect("utf-8 path");
    let (ok, public_key, stderr) = ygor(&["keys", "generate", "--out", key_file], None);
    assert!(ok, "keys generate failed: {stderr}");
    let public_key = public_key.trim().to_owned();
    let (again, _, stderr) = ygor(&["keys", "generate", "--out", key_file], None);
    assert!(!again, "an existing key file is never overwritten");
    assert!(!stderr.is_empty(), "and the refusal says why");

    app.put_rules(crate::helpers::RULES).await.expect(StatusCode::OK);
    app.mint(1_000).await.expect(StatusCode::OK);
    let registered = app
        .post(
            "/v1/partners",
            &app.admin_token,
            json!({ "kind": "association", "name": "MJC", "public_key": public_key }),
        )
        .await
        .expect(StatusCode::CREATED);
    let association_id = registered["partner_id"].as_str().expect("id").to_owned();
    let token = registered["token"].as_str().expect("token").to_owned();
    app.post(&format!("/v1/partners/{association_id}/envelope"), &app.admin_token, json!({ "amount": 100 }))
        .await
        .expect(StatusCode::OK);
    let citizen = app.register_citizen().await;

    let unsigned = json!({
        "action_id": uuid::Uuid::new_v4().to_string(),
        "association_id": association_id,
        "citizen_id": citizen.id,
        "category": "ecologie",
        "quantity": 1,
        "occurred_at": (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    });
    let (ok, signed, stderr) = ygor(&["sign", "certification", "--key", key_file], Some(&unsigned.to_string()));
    assert!(ok, "sign failed: {stderr}");
    let signed: Value = serde_json::from_str(&signed).expect("signed JSON");
    assert!(signed["signature"].is_string());
    let answer = app.post("/v1/certifications", &token, signed).await.expect(StatusCode::CREATED);
    assert_eq!(answer["tokens"], 10);

    // The CLI refuses what is not a JSON object, with a message.
    let (ok, _, stderr) = ygor(&["sign", "redemption", "--key", key_file], Some("[1, 2]"));
    assert!(!ok && !stderr.is_empty());
}
