//! `ygor demo` as a person uses it: build the sample territory with the real binary, serve it, and
//! paste the examples it prints. Every printed command must work, the signed certification too.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::Value;
use ygor_api::setup::Config;

use crate::cli::ygor;
use crate::helpers::start_on;

/// The address the printed examples speak to (`ygor serve`'s default).
const PRINTED_ADDRESS: &str = "http://127.0.0.1:8080";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_the_demo_prints_works_when_pasted() {
    let directory = tempfile::tempdir().expect("temp dir");
    let data_dir = directory.path().join("demo-data");
    let data_dir_text = data_dir.to_str().expect("utf-8 path");
    let (ok, printed, stderr) = ygor(&["demo", "--data-dir", data_dir_text, "--citizens", "200", "--seed", "3"], None);
    assert!(ok, "ygor demo failed: {stderr}");
    let examples = Examples::read(&printed);

    let config = Config { admin_token: Some(examples.variables["ADMIN"].clone()), ..Config::new(data_dir, None) };
    let app = start_on(config).await;
    let address = |url: &str| url.replacen(PRINTED_ADDRESS, &app.address, 1);
    assert!(examples.reads.len() >= 8, "dashboards, a citizen's pages and a venue's: {:?}", examples.reads);
    assert!(examples.reads.iter().any(|(variable, _)| variable.is_none()), "a read open to anyone is shown");
    for (variable, url) in &examples.reads {
        let mut request = app.client.get(address(url));
        if let Some(variable) = variable {
            request = request.bearer_auth(&examples.variables[variable]);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        assert!(status.is_success(), "{url} as {variable:?}: {status} {}", response.text().await.unwrap_or_default());
    }

    // The certification, signed by `ygor sign` with the key file the example names, as the pipe does.
    let certification = examples.certification.expect("a certification example is printed");
    let (ok, signed, stderr) =
        ygor(&["sign", "certification", "--key", &certification.key_file], Some(&certification.body));
    assert!(ok, "ygor sign failed: {stderr}");
    let response = app
        .client
        .post(address(&certification.url))
        .bearer_auth(&examples.variables[&certification.variable])
        .header("content-type", "application/json")
        .body(signed)
        .send()
        .await
        .expect("the server answers");
    let answer = crate::helpers::TestApp::answer(response).await;
    let body = answer.expect(StatusCode::CREATED);
    assert_eq!(body["action_id"], serde_json::from_str::<Value>(&certification.body).expect("JSON")["action_id"]);
}

/// The examples of the English half of what `ygor demo` prints.
pub(crate) struct Examples {
    /// `export NAME='value' …`
    pub(crate) variables: HashMap<String, String>,
    /// `curl -s [-H "Authorization: Bearer $NAME"] URL`: the variable (none for a read open to
    /// anyone) and the URL.
    reads: Vec<(Option<String>, String)>,
    certification: Option<Certification>,
}

/// `echo 'BODY' | ygor sign certification --key FILE | curl … -X POST URL -H "…Bearer $NAME" …`
struct Certification {
    body: String,
    key_file: String,
    url: String,
    variable: String,
}

impl Examples {
    pub(crate) fn read(printed: &str) -> Self {
        let (_, english) = printed.split_once("\nExamples:\n").expect("the English examples");
        let mut examples = Examples { variables: HashMap::new(), reads: Vec::new(), certification: None };
        let mut lines = english.lines().map(str::trim);
        while let Some(line) = lines.next() {
            if let Some(exports) = line.strip_prefix("export ") {
                for assignment in exports.split(' ') {
                    let (name, value) = assignment.split_once('=').expect("NAME='value'");
                    examples.variables.insert(name.to_owned(), value.trim_matches('\'').to_owned());
                }
            } else if let Some(body) = line.strip_prefix("echo '") {
                let body = body.strip_suffix("' \\").expect("echo 'BODY' \\").to_owned();
                let sign = lines.next().expect("the signing line");
                let key_file = sign
                    .strip_prefix("| ygor sign certification --key ")
                    .and_then(|rest| rest.strip_suffix(" \\"))
                    .expect("| ygor sign certification --key FILE \\")
                    .to_owned();
                let post = lines.next().expect("the posting line");
                let url = words(post).find(|word| word.starts_with("http://")).expect("a URL").to_owned();
                assert!(post.contains("-X POST") && post.ends_with("--data-binary @-"), "{post}");
                let variable = bearer(post);
                examples.certification = Some(Certification { body, key_file, url, variable });
            } else if line.starts_with("curl ") {
                let url = words(line).find(|word| word.starts_with("http://")).expect("a URL").to_owned();
                let variable = line.contains("Bearer $").then(|| bearer(line));
                examples.reads.push((variable, url));
            } else {
                assert!(line.is_empty() || line.starts_with('#'), "an example this test does not know: {line}");
            }
        }
        examples
    }
}

/// The words of a command line, quotes taken off.
fn words(line: &str) -> impl Iterator<Item = &str> {
    line.split(' ').map(|word| word.trim_matches('\''))
}

/// The variable in `-H "Authorization: Bearer $NAME"`.
fn bearer(line: &str) -> String {
    let (_, rest) = line.split_once("Bearer $").expect("an Authorization header");
    rest.split('"').next().expect("a variable name").to_owned()
}
