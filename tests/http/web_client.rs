//! A browser without a browser, for the pages' tests over real HTTP: a cookie jar kept by hand,
//! redirects not followed (each redirect's `Set-Cookie` is kept and the tests see where it leads),
//! and the forms' CSRF field read from the page.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;

/// A browser's cookie jar and form habits, over reqwest (no redirects followed: tests look at them).
pub struct WebClient {
    client: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
}

/// A page as the server answered it.
pub struct WebPage {
    pub status: StatusCode,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub html: String,
}

impl WebPage {
    /// The `csrf` hidden field of the page's first form.
    pub fn csrf(&self) -> String {
        let start = self.html.find("name=\"csrf\" value=\"").expect("the page has a form with a csrf field") + 19;
        self.html[start..].split('"').next().expect("a csrf value").to_owned()
    }

    /// Where a redirect leads ("" when the answer is not one).
    pub fn location(&self) -> &str {
        self.location.as_deref().unwrap_or("")
    }

    /// A French page with its CSP and one `h1`.
    #[track_caller]
    pub fn assert_page(&self) {
        assert_eq!(self.status, StatusCode::OK, "{}", self.html);
        assert!(self.html.contains(r#"<html lang="fr">"#), "a French page");
        let policy = self.headers.get("content-security-policy").and_then(|value| value.to_str().ok()).unwrap_or("");
        assert!(policy.contains("script-src 'self'"), "the page has its CSP: {policy}");
        assert_eq!(self.html.matches("<h1").count(), 1, "one h1");
    }
}

impl WebClient {
    pub fn new(app: &TestApp) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .expect("client");
        WebClient { client, base: app.address.clone(), cookies: HashMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("; ")
    }

    async fn read(&mut self, response: reqwest::Response) -> WebPage {
        for set in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let pair = set.to_str().expect("ascii cookie").split(';').next().expect("a pair");
            let (name, value) = pair.split_once('=').expect("name=value");
            if value.is_empty() || set.to_str().unwrap_or_default().contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        WebPage {
            status: response.status(),
            location: response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|value| value.to_str().expect("ascii").to_owned()),
            headers: response.headers().clone(),
            // Askama escapes apostrophes; the tests read the French text as a person does.
            html: response.text().await.expect("body").replace("&#39;", "'").replace("&#x27;", "'"),
        }
    }

    pub async fn get(&mut self, path: &str) -> WebPage {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.read(response).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> WebPage {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .form(fields)
            .send()
            .await
            .expect("POST");
        self.read(response).await
    }

    /// Posts a `multipart/form-data` form, as a browser sends one with a file field: `fields` as
    /// text parts, and `file` as (field name, file name, content).
    pub async fn post_multipart(&mut self, path: &str, fields: &[(&str, &str)], file: (&str, &str, &[u8])) -> WebPage {
        const BOUNDARY: &str = "----ygor-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        let (name, file_name, content) = file;
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .header(reqwest::header::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(body)
            .send()
            .await
            .expect("POST");
        self.read(response).await
    }

    /// Logs in on `/connexion` with a pasted token; answers where the server sent the browser.
    pub async fn log_in_with_token(&mut self, token: &str) -> String {
        let csrf = self.get("/connexion").await.csrf();
        let answer = self.post("/connexion/jeton", &[("csrf", &csrf), ("token", token)]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.html);
        answer.location.expect("a redirect")
    }

    /// What a page's script posts as JSON with the page's CSRF value in `x-csrf`.
    pub async fn post_json(&mut self, path: &str, csrf: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .header("x-csrf", csrf)
            .json(body)
            .send()
            .await
            .expect("POST");
        let page = self.read(response).await;
        (page.status, serde_json::from_str(&page.html).expect("JSON"))
    }

    pub fn has_session(&self) -> bool {
        self.cookies.contains_key("ygor_session")
    }
}
