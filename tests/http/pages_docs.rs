//! `/docs` in a real browser: the Scalar API reference renders from our own host alone (its script
//! is vendored, its web fonts and telemetry off), on a PC and on a phone.

use reqwest::StatusCode;

use crate::browser::{Browser, PC, PHONE};
use crate::helpers::{Backend, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_render_from_our_host_alone() {
    let app = spawn_app(Backend::Sqlite).await;
    let document = app.get("/openapi.json", &app.admin_token).await.expect(StatusCode::OK);
    let title = document["info"]["title"].as_str().expect("the API's title").to_owned();
    let tag = document["tags"][0]["name"].as_str().expect("a tag").to_owned();

    for width in [PC, PHONE] {
        let Some(browser) = Browser::open(&app, width).await else { return };
        browser.goto("/docs").await;
        let rendered = format!(
            "return [...document.querySelectorAll('h1')].some(h => h.textContent.includes({}));",
            serde_json::to_string(&title).expect("title")
        );
        browser.wait_until(&format!("the API reference with the title {title:?}"), &rendered).await;
        // And the document's groups of operations, in the side bar.
        let groups = format!("document.body.innerText.includes({})", serde_json::to_string(&tag).expect("tag"));
        browser.wait_until(&format!("the group {tag:?} of operations"), &groups).await;
        let urls = browser.loaded_urls().await;
        assert!(
            urls.iter().any(|url| url.contains("/static/vendor/scalar/standalone.js")),
            "the page loads the vendored Scalar: {urls:#?}"
        );
        browser.assert_only_own_host().await;
        browser.screenshot("docs").await;
    }
}

/// The vendored Scalar is served as JavaScript, cached for long, and the page names no CDN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_load_the_vendored_scalar() {
    let app = spawn_app(Backend::Sqlite).await;
    let page = app.client.get(format!("{}/docs", app.address)).send().await.expect("docs");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains(r#"src="/static/vendor/scalar/standalone.js?v="#), "{html:.600}");
    assert!(!html.contains("cdn.") && !html.contains("https://"), "no other host in the page: {html:.600}");

    let script =
        app.client.get(format!("{}/static/vendor/scalar/standalone.js?v=1", app.address)).send().await.expect("script");
    assert_eq!(script.status(), StatusCode::OK);
    let header = |name: &str| script.headers().get(name).and_then(|value| value.to_str().ok()).unwrap_or("").to_owned();
    assert_eq!(header("content-type"), "text/javascript; charset=utf-8");
    assert!(header("cache-control").contains("max-age=31536000"), "{}", header("cache-control"));
    assert_eq!(header("x-content-type-options"), "nosniff");
    let body = script.bytes().await.expect("body");
    assert!(body.len() > 1_000_000, "the whole standalone build ({} bytes)", body.len());
}
