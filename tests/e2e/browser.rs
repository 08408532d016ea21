//! The web UI in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`
//! packages, installed by the suite when missing) loads the page, starts a test through the form, sees the
//! statistics table fill and the charts draw, and stops it.

use std::time::Duration;

use crate::harness::{Background, Target};
use crate::webdriver::{Browser, Driver};

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

/// Fill the start form with `users` users at `rate` and submit it.
async fn start_from_the_form(browser: &Browser, users: &str, rate: &str) {
    let count = browser
        .find("input[name=user_count]")
        .await
        .expect("the start form");
    count.clear().await.expect("clear");
    count.send_keys(users).await.expect("type");
    let field = browser
        .find("input[name=hatch_rate]")
        .await
        .expect("rate field");
    field.clear().await.expect("clear");
    field.send_keys(rate).await.expect("type");
    click(browser, "#start-form button[type=submit]", "submit").await;
}

/// Click the element the CSS `selector` finds; `what` names it when it is missing.
async fn click(browser: &Browser, selector: &str, what: &str) {
    browser
        .find(selector)
        .await
        .expect(what)
        .click()
        .await
        .expect("click");
}

/// The text of the element with `id`.
async fn text_of(browser: &Browser, id: &str) -> String {
    match browser.find(&format!("#{id}")).await {
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
    let driver = Driver::start().await;
    let profile = tempfile::tempdir().expect("profile dir");
    let browser = driver.open(profile.path()).await;

    browser.goto(&ui.url).await;
    start_from_the_form(&browser, "3", "10").await;
    wait_until("the table shows the task and 3 users", || async {
        let rows = text_of(&browser, "stats-rows").await;
        rows.contains("/l/task")
            && rows.contains("Aggregated")
            && text_of(&browser, "users").await == "3"
    })
    .await;
    assert_eq!(target.count("/l/start"), 3);

    click(&browser, "[data-tab=charts]", "charts tab").await;
    wait_until("the charts have points and ink", || async {
        let drawn = browser
            .execute(
                "const c = document.getElementById('chart-rps');
                 const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                 let ink = 0; for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) ink++; }
                 return [Number(c.dataset.points || 0), ink];",
            )
            .await;
        drawn[0].as_u64().unwrap_or(0) >= 2 && drawn[1].as_u64().unwrap_or(0) > 500
    })
    .await;
    let screenshot = browser.screenshot().await;
    let shot = std::env::temp_dir().join("locust-web-ui.png");
    std::fs::write(&shot, screenshot).expect("save the screenshot");

    click(&browser, "#stop", "stop button").await;
    wait_until("the state is stopped", || async {
        text_of(&browser, "state").await == "stopped"
    })
    .await;
    assert_eq!(target.count("/l/stop"), 3, "on_stop ran for every user");

    browser.close().await;
    drop(driver);
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
    let driver = Driver::start().await;
    let profile = tempfile::tempdir().expect("profile dir");
    let browser = driver.open(profile.path()).await;
    browser.goto(&master.url).await;
    start_from_the_form(&browser, "4", "100").await;
    wait_until("the master counts 4 users", || async {
        text_of(&browser, "users").await == "4"
    })
    .await;
    click(
        &browser,
        "[data-tab=workers]",
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

    browser.close().await;
    drop(driver);
    assert_eq!(master.stop().await.code, 0);
    for (worker, _) in workers {
        assert_eq!(worker.wait().await.code, 0);
    }
}
