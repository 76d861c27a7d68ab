//! Every refusal is problem+json with a stable code, including the ones the HTTP framework used
//! to answer itself: an unknown path, a known path with another method (with `Allow`), path and
//! query parameters that do not parse, a body over the limit on every endpoint, a body that is not
//! JSON or has no content type. The last test walks every route the OpenAPI document lists with a
//! wrong method and with garbage in its path parameters.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode, header};
use serde_json::json;

use crate::helpers::{Answer, Backend, TestApp, spawn_app};

#[tokio::test]
async fn sqlite_every_refusal_of_the_http_layer_is_problem_json() {
    every_refusal_of_the_http_layer_is_problem_json(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_every_refusal_of_the_http_layer_is_problem_json() {
    every_refusal_of_the_http_layer_is_problem_json(Backend::Postgres).await;
}

/// A request with a raw body and content type: (status, `Allow` header, answer).
async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (Option<String>, Answer) {
    let mut request = app.client.request(method, format!("{}{path}", app.address)).body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let response = request.send().await.expect("the server answers");
    let allow = response.headers().get(header::ALLOW).map(|value| value.to_str().expect("text").to_owned());
    (allow, TestApp::answer(response).await)
}

/// The methods an `Allow` header lists.
fn methods(allow: &str) -> BTreeSet<String> {
    allow.split(',').map(|method| method.trim().to_owned()).filter(|method| !method.is_empty()).collect()
}

#[track_caller]
fn assert_names(answer: &Answer, parameter: &str) {
    let detail = answer.body["detail"].as_str().unwrap_or("");
    assert!(detail.contains(&format!("`{parameter}`")), "the detail names `{parameter}`: {}", answer.body);
}

#[track_caller]
fn assert_too_large(answer: Answer) {
    let detail = answer.body["detail"].as_str().unwrap_or("").to_owned();
    answer.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    assert!(detail.contains("larger than"), "the detail says the body is too large: {detail}");
}

async fn every_refusal_of_the_http_layer_is_problem_json(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token.clone();

    // An unknown path, whatever the method.
    for method in [Method::GET, Method::POST, Method::DELETE] {
        let (_, answer) = send_raw(&app, method, "/v1/nothing-here", Some(&admin), None, Vec::new()).await;
        answer.expect_problem(StatusCode::NOT_FOUND, "not_found");
    }

    // A known path with another method: 405 with the methods it takes.
    let (allow, answer) = send_raw(&app, Method::DELETE, "/healthz", None, None, Vec::new()).await;
    answer.expect_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert_eq!(methods(&allow.expect("Allow")), methods("GET,HEAD"));
    let (allow, answer) = send_raw(&app, Method::POST, "/v1/rules", Some(&admin), None, Vec::new()).await;
    answer.expect_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert_eq!(methods(&allow.expect("Allow")), methods("GET,HEAD,PUT"));
    let (allow, answer) = send_raw(&app, Method::PUT, "/v1/missions", Some(&admin), None, Vec::new()).await;
    answer.expect_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert_eq!(methods(&allow.expect("Allow")), methods("GET,HEAD,POST"));

    // A path parameter of the wrong type, or not UTF-8 once decoded, is named.
    let answer = app.get("/v1/audit/proof/x", &admin).await;
    assert_names(&answer, "position");
    answer.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    let answer = app.get("/v1/audit/proof/99999999999999999999999", &admin).await;
    assert_names(&answer, "position");
    answer.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    let answer = app.get("/v1/draws/%FF", &admin).await;
    assert_names(&answer, "draw_id");
    answer.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");

    // A query parameter that is missing or does not parse is named.
    let answer = app.get("/v1/audit/consistency?first=x&second=2", &admin).await;
    assert_names(&answer, "first");
    answer.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    let answer = app.get("/v1/audit/consistency?first=1", &admin).await;
    assert_names(&answer, "second");
    answer.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    let answer = app.get("/v1/audit/events?limit=many", &admin).await;
    assert_names(&answer, "limit");
    answer.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    let answer = app.get("/v1/dashboards/participation", &admin).await;
    assert_names(&answer, "by");
    answer.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    let answer = app.get("/v1/audit/proof/1?tree_size=-3", &admin).await;
    assert_names(&answer, "tree_size");
    answer.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");

    // A body over the limit, JSON or rules, is a 400 and changes nothing.
    let over = ygor_api::BODY_LIMIT + 1;
    let mut rules = b"# padding\n".repeat(over / 10 + 1);
    rules.truncate(over);
    let (_, answer) =
        send_raw(&app, Method::PUT, "/v1/rules", Some(&admin), Some("application/toml"), rules.clone()).await;
    assert_too_large(answer);
    let mut padded = format!(r#"{{"amount": 10, "padding": "{}"}}"#, "x".repeat(over)).into_bytes();
    padded.truncate(over + 100);
    for path in ["/v1/supply", "/v1/partners", "/v1/citizens"] {
        let (_, answer) =
            send_raw(&app, Method::POST, path, Some(&admin), Some("application/json"), padded.clone()).await;
        assert_too_large(answer);
    }
    app.get("/v1/status", &admin).await.expect(StatusCode::OK);
    // The rules over the limit were not published.
    let (_, answer) = send_raw(&app, Method::GET, "/v1/rules", Some(&admin), None, Vec::new()).await;
    answer.expect_problem(StatusCode::NOT_FOUND, "not_found");

    // Malformed JSON, a missing or wrong content type.
    let (_, answer) =
        send_raw(&app, Method::POST, "/v1/supply", Some(&admin), Some("application/json"), b"{\"amount\": ".to_vec())
            .await;
    answer.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    let (_, answer) = send_raw(&app, Method::POST, "/v1/supply", Some(&admin), None, b"{\"amount\": 1}".to_vec()).await;
    answer.expect_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let (_, answer) = send_raw(&app, Method::PUT, "/v1/rules", Some(&admin), None, b"[tokens]\n".to_vec()).await;
    answer.expect_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let answer = app.send(Method::POST, "/v1/supply", Some(&admin), Some(json!([1, 2]))).await;
    answer.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
}

/// The methods the walk tries on every path; `HEAD` answers have no body to check.
const METHODS: [Method; 6] = [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH, Method::OPTIONS];

/// Values no path parameter takes.
const GARBAGE: [&str; 6] = ["x", "%FF", "-1", "99999999999999999999999", "00000000-0000-0000-0000-00000000000z", "%20"];

/// `path` with every `{parameter}` replaced by `value`.
fn fill(path: &str, value: &str) -> String {
    let mut filled = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').expect("a closed parameter") + start;
        filled.push_str(&rest[..start]);
        filled.push_str(value);
        rest = &rest[end + 1..];
    }
    filled.push_str(rest);
    filled
}

#[tokio::test]
async fn every_documented_route_refuses_a_wrong_method_and_garbage_parameters_with_problem_json() {
    let app = spawn_app(Backend::Sqlite).await;
    let admin = app.admin_token.clone();
    let document = app.send(Method::GET, "/openapi.json", None, None).await.expect(StatusCode::OK);
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() > 20, "the document lists the routes: {}", paths.len());
    let mut refused = 0;
    for (path, item) in paths {
        let declared: BTreeSet<String> = item
            .as_object()
            .expect("a path item")
            .keys()
            .filter(|key| METHODS.iter().any(|method| method.as_str().eq_ignore_ascii_case(key)))
            .map(|key| key.to_ascii_uppercase())
            .collect();
        assert!(!declared.is_empty(), "{path} has methods");
        let plausible = fill(path, "00000000-0000-0000-0000-000000000001");
        for method in METHODS.iter().filter(|method| !declared.contains(method.as_str())) {
            for token in [None, Some(admin.as_str())] {
                let (allow, answer) = send_raw(&app, method.clone(), &plausible, token, None, Vec::new()).await;
                let described = format!("{method} {plausible}: {}", answer.body);
                assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{described}");
                assert_eq!(answer.code(), "method_not_allowed", "{described}");
                assert!(answer.content_type.starts_with("application/problem+json"), "{described}");
                let allowed = methods(&allow.unwrap_or_default());
                assert!(declared.is_subset(&allowed), "{described}: Allow {allowed:?} lists {declared:?}");
                refused += 1;
            }
        }
        if !path.contains('{') {
            continue;
        }
        for garbage in GARBAGE {
            let filled = fill(path, garbage);
            for method in &declared {
                let method = Method::from_bytes(method.as_bytes()).expect("a method");
                for token in [None, Some(admin.as_str())] {
                    let (_, answer) =
                        send_raw(&app, method.clone(), &filled, token, Some("application/json"), b"{}".to_vec()).await;
                    let described = format!("{method} {filled}: {} {}", answer.status, answer.body);
                    assert!(answer.status.is_client_error(), "{described}");
                    assert!(answer.content_type.starts_with("application/problem+json"), "{described}");
                    assert!(answer.body["code"].as_str().is_some_and(|code| !code.is_empty()), "{described}");
                    refused += 1;
                }
            }
        }
    }
    assert!(refused > 100, "the walk sent {refused} requests");
}
