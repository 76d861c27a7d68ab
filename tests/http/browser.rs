//! The real-browser harness: headless Chromium, driven through its WebDriver (chromedriver) with
//! `fantoccini`, on a server of `spawn_app`, for the page journeys.
//!
//! ```ignore
//! let app = spawn_app(Backend::Sqlite).await;
//! let Some(browser) = Browser::open(&app, PHONE).await else { return };
//! browser.goto("/").await;
//! browser.fill("Numéro de carte", "1234").await;
//! browser.click_button("Valider").await;
//! assert!(browser.text("h1").await.contains("Mon porte-monnaie"));
//! browser.assert_accessible("accueil").await;
//! browser.screenshot("accueil").await;
//! ```
//!
//! Chromium and chromedriver are Debian's (`scripts/ensure-browser.sh` installs them), found
//! through `YGOR_CHROMIUM` and `YGOR_CHROMEDRIVER` or at `/usr/bin/chromium` and
//! `/usr/bin/chromedriver`. Without them a browser test fails, telling to run that script; it is
//! skipped (`Browser::open` gives `None`) only when `YGOR_SKIP_BROWSER=1` says so.
//!
//! Each [`Browser`] starts its own chromedriver (in a process group of its own: when the `Browser`
//! is dropped, even by a panic, its session is ended, then the group is killed) with a fresh profile, and holds the
//! one permit of a global semaphore meanwhile: on the 2 cores of our machines, the browser tests
//! run one at a time while the other tests go on.
//!
//! Accessibility is checked with axe-core, vendored in `tests/http/vendor/axe-core/` and injected
//! into the page under test (the app never serves it), on the WCAG 2.0/2.1 A and AA and RGAA 4
//! rules. Screenshots go to `target/browser-artifacts/<name>-<width>.png`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::helpers::TestApp;

/// The viewport width of a PC.
pub const PC: u32 = 1280;
/// The viewport width of a phone.
pub const PHONE: u32 = 360;

/// One browser at a time in the whole test binary.
static BROWSERS: Semaphore = Semaphore::const_new(1);

const AXE: &str = include_str!("vendor/axe-core/axe.min.js");
/// The axe-core tags run by [`Browser::axe`]: WCAG 2.0 and 2.1, levels A and AA, and RGAA 4.
pub const AXE_TAGS: [&str; 5] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "RGAAv4"];

/// The tallest screenshot, in pixels of window: longer pages are cut there.
const MAX_SCREENSHOT_HEIGHT: u64 = 4_000;

/// How long to wait for chromedriver to answer, an element to appear, a page to load.
const WAIT: Duration = Duration::from_secs(30);

/// An axe-core violation: a rule that fails, and where.
#[derive(Debug, Clone)]
pub struct Violation {
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: Option<String>,
    pub help: String,
    pub help_url: String,
    /// The CSS selectors of the failing nodes.
    pub targets: Vec<String>,
}

/// A headless Chromium on a page of a [`TestApp`], `width` pixels of viewport wide.
pub struct Browser {
    client: Client,
    base: String,
    width: u32,
    driver: Child,
    driver_port: u16,
    session: Option<String>,
    _profile: tempfile::TempDir,
    _permit: SemaphorePermit<'static>,
}

fn browser_paths() -> Option<(PathBuf, PathBuf)> {
    let from_env = |name: &str, default: &str| -> PathBuf {
        std::env::var_os(name).filter(|value| !value.is_empty()).map_or_else(|| PathBuf::from(default), PathBuf::from)
    };
    let driver = from_env("YGOR_CHROMEDRIVER", "/usr/bin/chromedriver");
    let chromium = from_env("YGOR_CHROMIUM", "/usr/bin/chromium");
    if driver.is_file() && chromium.is_file() {
        return Some((driver, chromium));
    }
    if std::env::var("YGOR_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("SKIPPED: browser test, because YGOR_SKIP_BROWSER=1 and there is no Chromium");
        return None;
    }
    panic!(
        "the browser tests need Chromium and chromedriver, and {} or {} is missing: run \
         scripts/ensure-browser.sh (it installs Debian's chromium and chromium-driver), or set \
         YGOR_CHROMEDRIVER and YGOR_CHROMIUM to them; YGOR_SKIP_BROWSER=1 skips these tests",
        driver.display(),
        chromium.display()
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port").local_addr().expect("port").port()
}

/// Waits until the chromedriver at `url` says it is ready, or says why not.
async fn wait_until_ready(url: &str, driver: &mut Child) -> Result<(), String> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("client");
    let start = Instant::now();
    loop {
        if let Some(status) = driver.try_wait().map_err(|error| format!("cannot be waited for: {error}"))? {
            return Err(format!("exited at start ({status})"));
        }
        if let Ok(answer) = client.get(format!("{url}/status")).send().await
            && let Ok(body) = answer.json::<Value>().await
            && body["value"]["ready"] == Value::Bool(true)
        {
            return Ok(());
        }
        if start.elapsed() > WAIT {
            return Err(format!("did not answer within {WAIT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Kills a process group: chromedriver and every Chromium process it started.
fn kill_group(driver: &mut Child) {
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", driver.id())]).stderr(Stdio::null()).status();
    let _ = driver.kill();
    let _ = driver.wait();
}

/// Ends a WebDriver session synchronously (`Drop` cannot wait for the async client): chromedriver
/// then quits Chromium and reaps its processes.
fn end_session(port: u16, session: &str) {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2))
    else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return;
    }
    // Until the whole answer is in: chromedriver keeps the connection open after it.
    let mut answer = Vec::new();
    let mut chunk = [0; 4096];
    while let Ok(read @ 1..) = stream.read(&mut chunk) {
        answer.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:")?.trim().parse().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return;
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(session) = &self.session {
            end_session(self.driver_port, session);
        }
        kill_group(&mut self.driver);
    }
}

/// The XPath literal of `text` (XPath 1.0 has no escapes: quotes go through `concat`).
fn xpath_literal(text: &str) -> String {
    if !text.contains('"') {
        format!("\"{text}\"")
    } else if !text.contains('\'') {
        format!("'{text}'")
    } else {
        let parts: Vec<String> = text.split('"').map(|part| format!("\"{part}\"")).collect();
        format!("concat({})", parts.join(", '\"', "))
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium whose viewport is `width` pixels wide ([`PC`],
    /// [`PHONE`]) on `app`. `None` only when the browser is missing and `YGOR_SKIP_BROWSER=1`.
    pub async fn open(app: &TestApp, width: u32) -> Option<Browser> {
        let (driver_path, chromium) = browser_paths()?;
        let permit = BROWSERS.acquire().await.expect("the browser semaphore is never closed");
        let profile = tempfile::tempdir().expect("a temp dir for the browser profile");
        let log_path = profile.path().join("chromedriver.log");
        let port = free_port();
        let log = std::fs::File::create(&log_path).expect("chromedriver log");
        let mut driver = {
            use std::os::unix::process::CommandExt;
            Command::new(&driver_path)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .process_group(0)
                .spawn()
                .unwrap_or_else(|error| panic!("cannot start {}: {error}", driver_path.display()))
        };
        let url = format!("http://127.0.0.1:{port}");
        if let Err(why) = wait_until_ready(&url, &mut driver).await {
            kill_group(&mut driver);
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("chromedriver at {url} {why}; its log:\n{log}");
        }
        let height = if width < 600 { 800 } else { 900 };
        let user_data = profile.path().join("profile");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    format!("--user-data-dir={}", user_data.display()),
                    format!("--window-size={width},{height}"),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = match ClientBuilder::new(connector).capabilities(capabilities).connect(&url).await {
            Ok(client) => client,
            Err(error) => {
                kill_group(&mut driver);
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("chromedriver could not start {}: {error}; its log:\n{log}", chromium.display());
            }
        };
        let session = client.session_id().await.ok().flatten();
        let browser = Browser {
            client,
            base: app.address.clone(),
            width,
            driver,
            driver_port: port,
            session,
            _profile: profile,
            _permit: permit,
        };
        browser
            .client
            .update_timeouts(TimeoutConfiguration::new(Some(Duration::from_secs(60)), Some(WAIT), None))
            .await
            .expect("set the timeouts");
        browser.fit_viewport(height).await;
        Some(browser)
    }

    /// Resizes the window until the viewport (`window.innerWidth`) is `self.width` wide.
    async fn fit_viewport(&self, height: u32) {
        let mut window = self.width;
        for _ in 0..3 {
            let inner = self.execute("return window.innerWidth;").await.as_u64().expect("innerWidth");
            if inner == u64::from(self.width) {
                return;
            }
            window = (i64::from(window) + i64::from(self.width) - inner as i64).max(1) as u32;
            self.client.set_window_size(window, height).await.expect("set the window size");
        }
        let inner = self.execute("return window.innerWidth;").await;
        panic!("the viewport is {inner} pixels wide, not {}, whatever the window's size", self.width);
    }

    /// The fantoccini client, for what the helpers here do not do.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The app's base URL (`http://127.0.0.1:PORT`).
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    /// Opens `path` of the app and waits until it has loaded.
    pub async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.client.goto(&url).await.unwrap_or_else(|error| panic!("open {url}: {error}"));
    }

    /// Runs `script` in the page (`arguments` is empty) and gives what it returns.
    pub async fn execute(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|error| panic!("run {script:?}: {error}"))
    }

    /// Waits until `script` (a JavaScript expression, or a body with `return`) is truthy; panics
    /// after 30 s, naming `what`.
    pub async fn wait_until(&self, what: &str, script: &str) {
        let body = if script.contains("return") { script.to_owned() } else { format!("return !!({script});") };
        let start = Instant::now();
        loop {
            if self.execute(&body).await.as_bool() == Some(true) {
                return;
            }
            if start.elapsed() > WAIT {
                let shot = self.screenshot("timeout").await;
                let text = self.execute("return document.body ? document.body.innerText : '';").await;
                let text: String = text.as_str().unwrap_or("").chars().take(2000).collect();
                panic!(
                    "waited {WAIT:?} for {what}, at {} (screenshot {}); the page reads:\n{text}",
                    self.current_url().await,
                    shot.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until an element matching the CSS `selector` is there and gives it.
    pub async fn find(&self, selector: &str) -> Element {
        let locator = Locator::Css(selector);
        let start = Instant::now();
        loop {
            match self.client.find(locator).await {
                Ok(element) => return element,
                Err(_) if start.elapsed() < WAIT => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(error) => panic!("no {selector} at {}: {error}", self.current_url().await),
            }
        }
    }

    /// The text of the first element matching the CSS `selector`, as shown (waits for it).
    pub async fn text(&self, selector: &str) -> String {
        self.find(selector).await.text().await.unwrap_or_else(|error| panic!("the text of {selector}: {error}"))
    }

    pub async fn current_url(&self) -> String {
        self.client.current_url().await.map(|url| url.to_string()).unwrap_or_else(|error| format!("<{error}>"))
    }

    /// The form field whose `id` is `label_or_id`, or that the `<label>` with that text names
    /// (by its `for`, or by holding it).
    pub async fn field(&self, label_or_id: &str) -> Element {
        if let Ok(element) = self.client.find(Locator::Id(label_or_id)).await {
            return element;
        }
        let text = xpath_literal(label_or_id);
        let labels = self
            .client
            .find_all(Locator::XPath(&format!("//label[normalize-space(.)={text}]")))
            .await
            .expect("find labels");
        let [label] = labels.as_slice() else {
            panic!("{} labels read {label_or_id:?} and no field has that id", labels.len());
        };
        match label.attr("for").await.expect("label's for") {
            Some(id) => {
                self.client.find(Locator::Id(&id)).await.unwrap_or_else(|error| {
                    panic!("the label {label_or_id:?} is for #{id}, which is not there: {error}")
                })
            }
            None => label
                .find(Locator::XPath(".//input|.//select|.//textarea"))
                .await
                .unwrap_or_else(|_| panic!("the label {label_or_id:?} has no for and holds no field")),
        }
    }

    /// Types `value` into the field of [`Browser::field`], after clearing it.
    pub async fn fill(&self, label_or_id: &str, value: &str) {
        let field = self.field(label_or_id).await;
        field.clear().await.unwrap_or_else(|error| panic!("clear {label_or_id:?}: {error}"));
        field.send_keys(value).await.unwrap_or_else(|error| panic!("type into {label_or_id:?}: {error}"));
    }

    /// Chooses the option shown as `option` in the `<select>` of [`Browser::field`].
    pub async fn select(&self, label_or_id: &str, option: &str) {
        let field = self.field(label_or_id).await;
        field
            .select_by_label(option)
            .await
            .unwrap_or_else(|error| panic!("choose {option:?} in {label_or_id:?}: {error}"));
    }

    /// Clicks the one visible button (`<button>`, `<input type=submit|button>`, `role=button`)
    /// whose text is `text`.
    pub async fn click_button(&self, text: &str) {
        let literal = xpath_literal(text);
        let xpath = format!(
            "//button[normalize-space(.)={literal}] | //*[@role='button'][normalize-space(.)={literal}] \
             | //input[@type='submit' or @type='button'][@value={literal}]"
        );
        let mut visible = Vec::new();
        for button in self.client.find_all(Locator::XPath(&xpath)).await.expect("find buttons") {
            if button.is_displayed().await.unwrap_or(false) {
                visible.push(button);
            }
        }
        match visible.as_slice() {
            [button] => button.click().await.unwrap_or_else(|error| panic!("click {text:?}: {error}")),
            [] => {
                let shown = self
                    .execute(
                        "return [...document.querySelectorAll('button, [role=button], input[type=submit], \
                         input[type=button]')].map(b => (b.innerText || b.value || '').trim());",
                    )
                    .await;
                panic!("no visible button {text:?} at {}; the buttons: {shown}", self.current_url().await)
            }
            _ => panic!("{} visible buttons read {text:?}", visible.len()),
        }
    }

    /// Runs axe-core's WCAG 2.0/2.1 A and AA and RGAA 4 rules ([`AXE_TAGS`]) on the page and gives
    /// its violations.
    pub async fn axe(&self) -> Vec<Violation> {
        if self.execute("return typeof window.axe === 'object';").await != Value::Bool(true) {
            self.client.execute(AXE, vec![]).await.expect("inject axe-core");
        }
        let script = r#"
            const [tags, done] = arguments;
            axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] })
                .then(results => done({ violations: results.violations.map(v => ({
                    id: v.id,
                    impact: v.impact,
                    help: v.help,
                    helpUrl: v.helpUrl,
                    targets: v.nodes.map(n => n.target.map(t => typeof t === 'string' ? t : JSON.stringify(t)).join(' ')),
                })) }))
                .catch(error => done({ error: String(error) }));
        "#;
        let answer = self.client.execute_async(script, vec![json!(AXE_TAGS)]).await.expect("run axe-core");
        if let Some(error) = answer.get("error") {
            panic!("axe-core failed: {error}");
        }
        let text = |value: &Value, key: &str| value[key].as_str().map(str::to_owned);
        let violations = answer["violations"].as_array().unwrap_or_else(|| panic!("axe-core answered {answer}"));
        violations
            .iter()
            .map(|violation| Violation {
                id: text(violation, "id").unwrap_or_default(),
                impact: text(violation, "impact"),
                help: text(violation, "help").unwrap_or_default(),
                help_url: text(violation, "helpUrl").unwrap_or_default(),
                targets: serde_json::from_value(violation["targets"].clone()).expect("targets"),
            })
            .collect()
    }

    /// Panics, listing every violation, unless axe-core finds none on the page.
    pub async fn assert_accessible(&self, page_name: &str) {
        let violations = self.axe().await;
        if violations.is_empty() {
            return;
        }
        let mut report = format!(
            "{page_name} ({}, {} px wide) breaks {} accessibility rule(s) (axe-core, {}):\n",
            self.current_url().await,
            self.width,
            violations.len(),
            AXE_TAGS.join(", ")
        );
        for violation in &violations {
            report.push_str(&format!(
                "  - [{}] {}: {} ({})\n",
                violation.impact.as_deref().unwrap_or("?"),
                violation.id,
                violation.help,
                violation.help_url
            ));
            for target in &violation.targets {
                report.push_str(&format!("      at {target}\n"));
            }
        }
        panic!("{report}");
    }

    /// Looks at the page as the journeys do: it fits the screen's width (wide tables scroll in
    /// their own region), axe-core finds nothing, it loaded nothing from another host; and keeps
    /// its picture as `name`.
    pub async fn look_at(&self, name: &str) {
        let overflow =
            self.execute("return document.documentElement.scrollWidth - document.documentElement.clientWidth;").await;
        assert_eq!(overflow.as_i64(), Some(0), "{name} is wider than the {} px screen", self.width);
        self.assert_accessible(name).await;
        self.assert_only_own_host().await;
        self.screenshot(name).await;
    }

    /// Logs in on `/connexion` with a pasted token and waits for the role's `home` page.
    pub async fn log_in(&self, token: &str, home: &str) {
        self.goto("/connexion").await;
        self.fill("token", token).await;
        self.click_button("Se connecter").await;
        self.wait_until(home, &format!("return location.pathname === {home:?};")).await;
    }

    /// On a partner's key page (`/guichet/cle`, `/association/cle`) already open: chooses the key
    /// file through the file field once the page's script has read what this browser keeps,
    /// imports it, and waits until the page says so.
    pub async fn import_key_file(&self, key_file: &Path) {
        self.wait_until("the key page ready", "return document.getElementById('cle-etat').textContent !== '';").await;
        let path = key_file.to_str().expect("a UTF-8 path");
        self.field("fichier").await.send_keys(path).await.expect("choose the key file");
        self.click_button("Importer la clé").await;
        self.wait_until(
            "the key imported",
            "return document.getElementById('cle-etat').textContent.includes('importée');",
        )
        .await;
    }

    /// Saves a PNG of the whole page (the viewport's width, the page's height up to 4,000 px) to
    /// `target/browser-artifacts/<name>-<width>.png` and gives its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("browser-artifacts");
        std::fs::create_dir_all(&directory).expect("create target/browser-artifacts");
        let (window_width, window_height) = self.client.get_window_size().await.expect("window size");
        let inner_height = self.execute("return window.innerHeight;").await.as_u64().expect("innerHeight");
        let page_height = self
            .execute("return Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0);")
            .await
            .as_u64()
            .expect("page height");
        let resized = page_height > inner_height;
        if resized {
            let tall = (window_height + page_height - inner_height).min(MAX_SCREENSHOT_HEIGHT);
            self.client.set_window_size(window_width as u32, tall as u32).await.expect("resize for the screenshot");
        }
        let png = self.client.screenshot().await.expect("screenshot");
        if resized {
            self.client.set_window_size(window_width as u32, window_height as u32).await.expect("resize back");
        }
        let path = directory.join(format!("{name}-{}.png", self.width));
        std::fs::write(&path, png).unwrap_or_else(|error| panic!("write {}: {error}", path.display()));
        path
    }

    /// The URLs the page has loaded so far: itself and each resource (Resource Timing). Panics
    /// if the buffer of resource entries is full, which would hide some.
    pub async fn loaded_urls(&self) -> Vec<String> {
        let answer = self
            .execute(
                "return { \
                   navigation: performance.getEntriesByType('navigation').map(e => e.name), \
                   resources: performance.getEntriesByType('resource').map(e => e.name) \
                 };",
            )
            .await;
        let names = |key: &str| -> Vec<String> {
            serde_json::from_value(answer[key].clone()).unwrap_or_else(|_| panic!("{key} in {answer}"))
        };
        let resources = names("resources");
        // Chromium keeps 250 resource entries by default and drops the rest.
        assert!(resources.len() < 250, "{} resource entries: the buffer may have dropped some", resources.len());
        let mut urls = names("navigation");
        urls.extend(resources);
        urls
    }

    /// Panics unless every URL the page has loaded is on the app's own host.
    pub async fn assert_only_own_host(&self) {
        let own = format!("{}/", self.base);
        let urls = self.loaded_urls().await;
        let foreign: Vec<&String> = urls.iter().filter(|url| !url.starts_with(&own)).collect();
        assert!(foreign.is_empty(), "the page asked other hosts than {own}: {foreign:#?}\n(all: {urls:#?})");
    }
}

mod tests {
    use super::*;
    use crate::helpers::{Backend, spawn_app};

    /// The harness can fail: on a page with an image without `alt`, a field without a label and
    /// no `lang`, axe-core reports them, and `assert_accessible` panics naming them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn axe_reports_an_inaccessible_page() {
        let app = spawn_app(Backend::Sqlite).await;
        let Some(browser) = Browser::open(&app, PC).await else { return };
        assert_eq!(browser.execute("return window.innerWidth;").await, json!(PC));
        browser.goto("/healthz").await;
        browser
            .execute(
                "document.documentElement.removeAttribute('lang'); \
                 document.title = 'Page inaccessible'; \
                 document.body.innerHTML = '<main><h1>Essai</h1>\
                   <img id=\"sans-alt\" src=\"data:image/gif;base64,R0lGODlhAQABAAAAACw=\">\
                   <input id=\"sans-label\" type=\"text\"></main>';",
            )
            .await;
        let violations = browser.axe().await;
        let ids: Vec<&str> = violations.iter().map(|violation| violation.id.as_str()).collect();
        for expected in ["image-alt", "label", "html-has-lang"] {
            assert!(ids.contains(&expected), "axe-core reports {expected}: {violations:#?}");
        }
        let image_alt = violations.iter().find(|violation| violation.id == "image-alt").expect("image-alt");
        assert_eq!(image_alt.targets, ["#sans-alt"]);
        assert_eq!(image_alt.impact.as_deref(), Some("critical"));

        eprintln!("(the panic of assert_accessible below is expected)");
        let failure = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
            browser.assert_accessible("page inaccessible"),
        ))
        .await
        .expect_err("assert_accessible panics on violations");
        let message = failure.downcast_ref::<String>().expect("a message");
        assert!(message.contains("image-alt") && message.contains("at #sans-alt"), "{message}");

        // And an accessible page passes.
        browser
            .execute(
                "document.documentElement.setAttribute('lang', 'fr'); \
                 document.body.innerHTML = '<main><h1>Essai</h1>\
                   <img src=\"data:image/gif;base64,R0lGODlhAQABAAAAACw=\" alt=\"Un point\">\
                   <label for=\"nom\">Nom</label><input id=\"nom\" type=\"text\"></main>';",
            )
            .await;
        browser.assert_accessible("page accessible").await;
    }

    /// `assert_only_own_host` sees a resource from another host, loaded or failed: here
    /// `localhost` (the same server under another name) and a closed port of 127.0.0.2.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_own_host_sees_other_hosts() {
        let app = spawn_app(Backend::Sqlite).await;
        let Some(browser) = Browser::open(&app, PC).await else { return };
        browser.goto("/healthz").await;
        browser.assert_only_own_host().await;
        let other = app.address.replace("127.0.0.1", "localhost");
        let script = format!(
            "for (const src of ['{other}/healthz?img', 'http://127.0.0.2:9/refused.png']) {{ \
               const img = document.createElement('img'); img.src = src; document.body.append(img); }}"
        );
        browser.execute(&script).await;
        browser.wait_until("both images tried", "performance.getEntriesByType('resource').length >= 2").await;
        let urls = browser.loaded_urls().await;
        assert!(urls.contains(&format!("{other}/healthz?img")), "{urls:#?}");
        assert!(urls.contains(&"http://127.0.0.2:9/refused.png".to_owned()), "a failed request too: {urls:#?}");
        eprintln!("(the panic of assert_only_own_host below is expected)");
        let failure = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(browser.assert_only_own_host()))
            .await
            .expect_err("assert_only_own_host panics on another host");
        let message = failure.downcast_ref::<String>().expect("a message");
        assert!(message.contains("refused.png") && message.contains("localhost"), "{message}");
    }

    /// The form helpers on a small form: a field by its label (`for`, or held) or id, a choice in a
    /// `<select>`, a button by its text, the text of an element.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn helpers_fill_choose_click_and_read() {
        let app = spawn_app(Backend::Sqlite).await;
        let Some(browser) = Browser::open(&app, PHONE).await else { return };
        assert_eq!((browser.width(), browser.base()), (PHONE, app.address.as_str()));
        assert_eq!(browser.execute("return window.innerWidth;").await, json!(PHONE), "the viewport of a phone");
        browser.goto("/healthz").await;
        browser
            .execute(
                "document.body.innerHTML = '<form onsubmit=\"event.preventDefault(); \
                   document.getElementById(\\'sortie\\').textContent = \
                   [nom.value, prenom.value, commune.value].join(\\' / \\');\">\
                   <label for=\"nom\">Nom</label><input id=\"nom\">\
                   <label>Prénom <input id=\"prenom\"></label>\
                   <label for=\"commune\">Commune</label>\
                   <select id=\"commune\"><option value=\"a\">Arles</option><option value=\"b\">Brest</option></select>\
                   <button type=\"button\" hidden>Envoyer</button><button>Envoyer</button></form>\
                   <p id=\"sortie\"></p>';",
            )
            .await;
        browser.fill("Nom", "Lovelace").await;
        browser.fill("Prénom", "Ada").await;
        browser.fill("nom", "Byron").await;
        browser.select("Commune", "Brest").await;
        browser.click_button("Envoyer").await;
        assert_eq!(browser.text("#sortie").await, "Byron / Ada / b");
        let url = browser.client().current_url().await.expect("current url");
        assert_eq!(url.as_str(), format!("{}/healthz", app.address), "the form handles its submit in the page");
        assert_eq!(xpath_literal(r#"l'"a""#), r#"concat("l'", '"', "a", '"', "")"#);
    }
}
