//! The web UI in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`
//! packages, installed by .ci/run) loads the page, starts a test through the form, sees the
//! statistics table fill and the charts draw, and stops it.

use std::process::Stdio;
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

use crate::harness::{Background, Target};

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: tokio::process::Child,
    url: String,
}

impl Driver {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver is installed (Debian packages chromium and chromium-driver; .ci/run installs them)");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

/// A headless Chromium session through `driver`, with its profile in `profile`.
async fn open_browser(driver: &Driver, profile: &tempfile::TempDir) -> fantoccini::Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1000",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

/// Fill the start form with `users` users at `rate` and submit it.
async fn start_from_the_form(browser: &fantoccini::Client, users: &str, rate: &str) {
    let count = browser
        .find(Locator::Css("input[name=user_count]"))
        .await
        .expect("the start form");
    count.clear().await.expect("clear");
    count.send_keys(users).await.expect("type");
    let field = browser
        .find(Locator::Css("input[name=hatch_rate]"))
        .await
        .expect("rate field");
    field.clear().await.expect("clear");
    field.send_keys(rate).await.expect("type");
    click(
        browser,
        Locator::Css("#start-form button[type=submit]"),
        "submit",
    )
    .await;
}

/// Click the element `locator` finds; `what` names it when it is missing.
async fn click(browser: &fantoccini::Client, locator: Locator<'_>, what: &str) {
    browser
        .find(locator)
        .await
        .expect(what)
        .click()
        .await
        .expect("click");
}

/// The text of the element with `id`.
async fn text_of(browser: &fantoccini::Client, id: &str) -> String {
    match browser.find(Locator::Id(id)).await {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_test_is_started_watched_and_stopped_from_the_browser() {
    let target = Target::start().await;
    // A user caught mid-task by the stop finishes it (rather than being dropped without its
    // on_stop), so that every user's on_stop runs whatever the timing.
    let ui = Background::fixture_ui(&target, &["--stop-timeout", "5"]).await;
    let mut driver = Driver::start().await;
    let profile = tempfile::tempdir().expect("profile dir");
    let browser = open_browser(&driver, &profile).await;

    browser.goto(&ui.url).await.expect("open the UI");
    start_from_the_form(&browser, "3", "10").await;
    wait_until("the table shows the task and 3 users", || async {
        let rows = text_of(&browser, "stats-rows").await;
        rows.contains("/l/task")
            && rows.contains("Aggregated")
            && text_of(&browser, "users").await == "3"
    })
    .await;
    assert_eq!(target.count("/l/start"), 3);

    click(&browser, Locator::Css("[data-tab=charts]"), "charts tab").await;
    wait_until("the charts have points and ink", || async {
        let drawn = browser
            .execute(
                "const c = document.getElementById('chart-rps');
                 const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                 let ink = 0; for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) ink++; }
                 return [Number(c.dataset.points || 0), ink];",
                vec![],
            )
            .await
            .expect("script");
        drawn[0].as_u64().unwrap_or(0) >= 2 && drawn[1].as_u64().unwrap_or(0) > 500
    })
    .await;
    let screenshot = browser.screenshot().await.expect("screenshot");
    let shot = std::env::temp_dir().join("locust-web-ui.png");
    std::fs::write(&shot, screenshot).expect("save the screenshot");

    click(&browser, Locator::Id("stop"), "stop button").await;
    wait_until("the state is stopped", || async {
        text_of(&browser, "state").await == "stopped"
    })
    .await;
    assert_eq!(target.count("/l/stop"), 3, "on_stop ran for every user");

    browser.close().await.expect("close the browser");
    let _ = driver.child.kill().await;
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_master_shows_its_workers_in_the_browser() {
    let target = Target::start().await;
    let cache = tempfile::tempdir().expect("cache dir");
    let (master, port) = crate::distributed::master(&target, &["Heavy", "Light"], true).await;
    let mut workers = Vec::new();
    for _ in 0..2 {
        workers.push(crate::distributed::worker(&port, cache.path(), &[]).await);
    }
    let mut driver = Driver::start().await;
    let profile = tempfile::tempdir().expect("profile dir");
    let browser = open_browser(&driver, &profile).await;
    browser.goto(&master.url).await.expect("open the UI");
    start_from_the_form(&browser, "4", "100").await;
    wait_until("the master counts 4 users", || async {
        text_of(&browser, "users").await == "4"
    })
    .await;
    click(
        &browser,
        Locator::Css("[data-tab=workers]"),
        "the Workers tab is shown on a master",
    )
    .await;
    wait_until(
        "both workers are listed as running with their users",
        || async {
            let rows = text_of(&browser, "worker-rows").await;
            workers.iter().all(|(_, id)| rows.contains(id.as_str()))
                && rows.matches("running").count() == 2
        },
    )
    .await;
    let rows = text_of(&browser, "worker-rows").await;
    assert!(rows.contains('%'), "CPU usage column: {rows}");

    browser.close().await.expect("close the browser");
    let _ = driver.child.kill().await;
    assert_eq!(master.stop().await.code, 0);
    for (worker, _) in workers {
        assert_eq!(worker.wait().await.code, 0);
    }
}
