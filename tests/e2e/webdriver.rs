//! Headless Chromium driven through ChromeDriver with the W3C WebDriver protocol (JSON over
//! HTTP, https://www.w3.org/TR/webdriver2/): the few commands the browser tests use.
//!
//! The commands go through the tests' own HTTP client rather than a WebDriver crate: the one
//! maintained Rust client, fantoccini, pins an older `webdriver` crate whose ICU dependencies
//! turn on other `syn` features than the host's, which makes Cargo compile every procedural
//! macro, and everything built with one, a second time for `cargo test` (docs/design.md,
//! "Build time").

use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::client::{Client, Response};
use crate::provision;

/// The key under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// ChromeDriver on a free port, killed when dropped.
pub struct Driver {
    _child: tokio::process::Child,
    url: String,
}

impl Driver {
    /// Start ChromeDriver (installing Chromium first if the machine lacks it).
    pub async fn start() -> Self {
        let chromium = provision::chromium();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = tokio::process::Command::new(&chromium.driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("{} starts: {error}", chromium.driver.display()));
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if Client::new()
                .get(format!("{url}/status"))
                .send()
                .await
                .is_ok()
            {
                return Self { _child: child, url };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not answer on port {port} within 10 s");
    }

    /// A new headless browser session with its profile in `profile`.
    pub async fn open(&self, profile: &std::path::Path) -> Browser {
        let browser = provision::chromium().browser.display().to_string();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": browser,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--window-size=1400,1000",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}});
        let client = Client::new();
        let created = value(
            client
                .post(format!("{}/session", self.url))
                .json(&capabilities),
        )
        .await
        .expect("a browser session");
        let id = created["sessionId"].as_str().expect("a session id");
        Browser {
            client,
            session: format!("{}/session/{id}", self.url),
        }
    }
}

/// Send `request` and return the `value` of WebDriver's answer, or its error message.
async fn value(request: crate::client::Request) -> Result<Value, String> {
    let response: Response = request.send().await?;
    let ok = response.status().is_success();
    let mut answer: Value = response.json().await?;
    let value = answer["value"].take();
    if ok {
        Ok(value)
    } else {
        Err(format!("{}: {}", value["error"], value["message"]))
    }
}

/// One browser session.
pub struct Browser {
    client: Client,
    session: String,
}

impl Browser {
    async fn command(&self, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.session);
        value(self.client.post(url).json(&body)).await
    }

    async fn query(&self, path: &str) -> Result<Value, String> {
        value(self.client.get(format!("{}{path}", self.session))).await
    }

    /// Load `url`.
    pub async fn goto(&self, url: &str) {
        self.command("/url", json!({"url": url}))
            .await
            .unwrap_or_else(|error| panic!("open {url}: {error}"));
    }

    /// The first element matching the CSS `selector`.
    pub async fn find(&self, selector: &str) -> Result<Element<'_>, String> {
        let found = self
            .command(
                "/element",
                json!({"using": "css selector", "value": selector}),
            )
            .await?;
        let id = found[ELEMENT].as_str().ok_or("an element reference")?;
        Ok(Element {
            browser: self,
            path: format!("/element/{id}"),
        })
    }

    /// Run `script` (a function body) in the page and return what it returns.
    pub async fn execute(&self, script: &str) -> Value {
        self.command("/execute/sync", json!({"script": script, "args": []}))
            .await
            .unwrap_or_else(|error| panic!("script: {error}"))
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        let encoded = self.query("/screenshot").await.expect("a screenshot");
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("base64 text"))
            .expect("base64")
    }

    /// End the session (the browser exits).
    pub async fn close(self) {
        value(self.client.delete(&self.session))
            .await
            .expect("close the browser");
    }
}

/// An element of the page.
pub struct Element<'a> {
    browser: &'a Browser,
    path: String,
}

impl Element<'_> {
    /// Click it.
    pub async fn click(&self) -> Result<(), String> {
        let path = format!("{}/click", self.path);
        self.browser.command(&path, json!({})).await.map(drop)
    }

    /// Empty an input.
    pub async fn clear(&self) -> Result<(), String> {
        let path = format!("{}/clear", self.path);
        self.browser.command(&path, json!({})).await.map(drop)
    }

    /// Type `text` into it.
    pub async fn send_keys(&self, text: &str) -> Result<(), String> {
        let path = format!("{}/value", self.path);
        self.browser
            .command(&path, json!({"text": text}))
            .await
            .map(drop)
    }

    /// Its rendered text.
    pub async fn text(&self) -> Result<String, String> {
        let text = self.browser.query(&format!("{}/text", self.path)).await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }
}
