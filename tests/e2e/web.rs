//! The web UI's API over real HTTP, as scripts and dashboards use it with Locust: start,
//! change the user count, stop, reset, CSV downloads, basic auth, HTTPS.

use std::time::Duration;

use serde_json::Value;

use crate::client::Client;
use crate::harness::{Background, Target, fixture};

async fn get_json(client: &Client, url: &str) -> Value {
    let response = client.get(url).send().await.expect("request");
    response.json().await.expect("a JSON body")
}

async fn get_text(client: &Client, url: &str) -> String {
    let response = client.get(url).send().await.expect("request");
    response.text().await.expect("a text body")
}

/// From the web UI at `url`: swarm `users`, wait until all run and requests flow, stop the
/// test, and return the requests its statistics recorded (every row but the aggregate).
pub(crate) async fn swarm_then_stop(url: &str, users: u64) -> u64 {
    let client = Client::new();
    let count = users.to_string();
    let started = client
        .post(format!("{url}/swarm"))
        .form(&[("user_count", count.as_str()), ("hatch_rate", "100")])
        .send()
        .await
        .expect("swarm");
    assert_eq!(started.status(), 200);
    poll_until(&client, url, |report| {
        report["user_count"] == users && report["total_rps"].as_f64().unwrap_or(0.0) > 0.0
    })
    .await;
    let stopped = client
        .get(format!("{url}/stop"))
        .send()
        .await
        .expect("stop");
    assert_eq!(stopped.status(), 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let report = get_json(&client, &format!("{url}/stats/requests")).await;
    report["stats"]
        .as_array()
        .expect("stats rows")
        .iter()
        .filter(|row| row["name"] != "Aggregated")
        .map(|row| row["num_requests"].as_u64().unwrap_or(0))
        .sum()
}

/// Poll `/stats/requests` every 100 ms until `done` holds (for at most 30 s).
pub(crate) async fn poll_until(client: &Client, url: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let report: Value = get_json(client, &format!("{url}/stats/requests")).await;
        if done(&report) {
            return report;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the condition never held");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_starts_edits_stops_and_resets_a_test() {
    let target = Target::start().await;
    let ui = Background::fixture_ui(&target, &[]).await;
    let client = Client::new();
    let url = ui.url.clone();

    let page = client.get(&url).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("html");
    assert!(
        page.contains("Start new load test")
            && page.contains(&format!("data-host=\"{}\"", target.url))
    );
    let script = client
        .get(format!("{url}/static/app.js"))
        .send()
        .await
        .expect("js");
    assert_eq!(script.status(), 200);

    let report: Value = get_json(&client, &format!("{url}/stats/requests")).await;
    assert_eq!(report["state"], "ready");
    assert_eq!(report["user_count"], 0);

    // Invalid input: 400 with a message.
    let refused = client
        .post(format!("{url}/swarm"))
        .form(&[("user_count", "many"), ("hatch_rate", "1")])
        .send()
        .await
        .expect("swarm");
    assert_eq!(refused.status(), 400);
    let refused: Value = refused.json().await.expect("json");
    assert_eq!(refused["success"], false);
    assert!(
        refused["message"]
            .as_str()
            .expect("message")
            .contains("user_count")
    );

    // Spawn rates no schedule can use (a Duration panic once): 400, and the UI goes on.
    for rate in ["1e-300", "1e-20", "NaN", "inf", "-1", "0"] {
        let refused = client
            .post(format!("{url}/swarm"))
            .form(&[("user_count", "1"), ("hatch_rate", rate)])
            .send()
            .await
            .expect("swarm");
        assert_eq!(refused.status(), 400, "hatch_rate {rate}");
        let refused: Value = refused.json().await.expect("json");
        let message = refused["message"].as_str().expect("message");
        assert!(message.contains("at least 0.001"), "{rate}: {message}");
    }

    // More users than the process can hold: refused with the fix.
    let refused = client
        .post(format!("{url}/swarm"))
        .form(&[("user_count", "20000"), ("hatch_rate", "1")])
        .send()
        .await
        .expect("swarm");
    assert_eq!(refused.status(), 400);
    let refused: Value = refused.json().await.expect("json");
    assert!(
        refused["message"]
            .as_str()
            .expect("message")
            .contains("restart it with -u 20000"),
        "{refused}"
    );

    // Start: spawn_rate is accepted as an alias of hatch_rate.
    let started: Value = client
        .post(format!("{url}/swarm"))
        .form(&[("user_count", "2"), ("spawn_rate", "20")])
        .send()
        .await
        .expect("swarm")
        .json()
        .await
        .expect("json");
    assert_eq!(
        started,
        serde_json::json!({"success": true, "message": "Swarming started", "host": target.url})
    );
    let report = poll_until(&client, &url, |r| {
        r["state"] == "running" && r["user_count"] == 2
    })
    .await;
    assert!(
        report["stats"]
            .as_array()
            .expect("rows")
            .last()
            .expect("aggregated")["name"]
            == "Aggregated"
    );

    // Posting again while running changes the user count.
    let edited = client
        .post(format!("{url}/swarm"))
        .form(&[("user_count", "4"), ("hatch_rate", "20")])
        .send()
        .await
        .expect("swarm");
    assert_eq!(edited.status(), 200);
    let report = poll_until(&client, &url, |r| {
        r["user_count"] == 4 && r["state"] == "running"
    })
    .await;
    let task_row = report["stats"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["name"] == "/l/task")
        .cloned()
        .expect("task row");
    for key in [
        "method",
        "name",
        "safe_name",
        "num_requests",
        "num_failures",
        "avg_response_time",
        "min_response_time",
        "max_response_time",
        "current_rps",
        "current_fail_per_sec",
        "median_response_time",
        "ninetieth_response_time",
        "avg_content_length",
        "response_time_percentile_0.95",
        "response_time_percentile_0.99",
    ] {
        assert!(task_row.get(key).is_some(), "{key} missing from {task_row}");
    }
    for key in [
        "errors",
        "total_rps",
        "fail_ratio",
        "current_response_time_percentile_50",
        "current_response_time_percentile_95",
    ] {
        assert!(report.get(key).is_some(), "{key} missing");
    }
    assert_eq!(target.count("/l/start"), 4, "two more users started");

    // And lowering it stops the newest users, who run their on_stop.
    let lowered = client
        .post(format!("{url}/swarm"))
        .form(&[("user_count", "1"), ("hatch_rate", "20")])
        .send()
        .await
        .expect("swarm");
    assert_eq!(lowered.status(), 200);
    poll_until(&client, &url, |r| r["user_count"] == 1).await;
    assert_eq!(
        target.count("/l/stop"),
        3,
        "the three retired users ran on_stop"
    );

    // Stop.
    let stopped: Value = get_json(&client, &format!("{url}/stop")).await;
    assert_eq!(
        stopped,
        serde_json::json!({"success": true, "message": "Test stopped"})
    );
    let report: Value = get_json(&client, &format!("{url}/stats/requests")).await;
    assert_eq!(report["state"], "stopped");
    assert_eq!(report["user_count"], 0);
    let served = target.count("/l/task") as u64;
    let counted = report["stats"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["name"] == "/l/task")
        .expect("row")["num_requests"]
        .as_u64()
        .expect("n");
    assert!(
        counted <= served && counted + 1 >= served,
        "{counted} counted, {served} served"
    );

    // CSV downloads: the same content as the files.
    let csv = client
        .get(format!("{url}/stats/requests/csv"))
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.headers()["content-type"], "text/csv");
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .expect("header")
            .starts_with("attachment; filename=")
    );
    let text = csv.text().await.expect("text");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(&reader.headers().expect("header")[2], "Request Count");
    let rows: Vec<csv::StringRecord> = reader.records().map(|row| row.expect("row")).collect();
    assert_eq!(&rows.last().expect("rows")[1], "Aggregated");
    let failures = get_text(&client, &format!("{url}/stats/failures/csv")).await;
    assert!(failures.starts_with("Method,Name,Error,Occurrences"));
    let exceptions: Value = get_json(&client, &format!("{url}/exceptions")).await;
    assert!(exceptions["exceptions"].is_array());
    let exceptions_csv = get_text(&client, &format!("{url}/exceptions/csv")).await;
    assert!(exceptions_csv.starts_with("Count,Message,Traceback,Nodes"));

    // Reset.
    let reset = get_text(&client, &format!("{url}/stats/reset")).await;
    assert_eq!(reset, "ok");
    let report: Value = get_json(&client, &format!("{url}/stats/requests")).await;
    assert_eq!(
        report["stats"].as_array().expect("rows").len(),
        1,
        "only the aggregated row: {report}"
    );

    // A new test can be started after a stop.
    client
        .post(format!("{url}/swarm"))
        .form(&[("user_count", "1"), ("hatch_rate", "5")])
        .send()
        .await
        .expect("swarm");
    poll_until(&client, &url, |r| {
        r["state"] == "running" && r["user_count"] == 1
    })
    .await;

    let run = ui.stop().await;
    assert!(run.stderr.contains("Shutting down"), "{}", run.stderr);
    assert!(
        run.stdout.contains("Response time percentiles"),
        "the summary is printed on exit"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn web_auth_is_required_on_every_route() {
    let fixture = fixture().to_str().expect("path").to_owned();
    let ui = Background::start(&[
        "-f",
        &fixture,
        "--demo",
        "-P",
        "0",
        "--web-host",
        "127.0.0.1",
        "--web-auth",
        "admin:s3cret",
    ])
    .await;
    let client = Client::new();
    for path in [
        "/",
        "/stats/requests",
        "/stop",
        "/static/app.js",
        "/exceptions",
    ] {
        let refused = client
            .get(format!("{}{path}", ui.url))
            .send()
            .await
            .expect("request");
        assert_eq!(refused.status(), 401, "{path}");
        assert!(refused.headers().contains_key("www-authenticate"));
        let wrong = client
            .get(format!("{}{path}", ui.url))
            .basic_auth("admin", Some("nope"))
            .send()
            .await
            .expect("request");
        assert_eq!(wrong.status(), 401, "{path}");
    }
    let accepted = client
        .get(format!("{}/stats/requests", ui.url))
        .basic_auth("admin", Some("s3cret"))
        .send()
        .await
        .expect("request");
    assert_eq!(accepted.status(), 200);
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_web_ui_is_served_over_tls() {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).expect("cert");
    std::fs::write(&key, certified.key_pair.serialize_pem()).expect("key");
    let fixture = fixture().to_str().expect("path").to_owned();
    let ui = Background::start(&[
        "-f",
        &fixture,
        "--demo",
        "-P",
        "0",
        "--web-host",
        "127.0.0.1",
        "--tls-cert",
        cert.to_str().expect("path"),
        "--tls-key",
        key.to_str().expect("path"),
    ])
    .await;
    assert!(ui.url.starts_with("https://"), "{}", ui.url);
    let client = Client::trusting(&certified.cert.pem());
    let report: Value = client
        .get(format!("{}/stats/requests", ui.url))
        .send()
        .await
        .expect("https")
        .json()
        .await
        .expect("json");
    assert_eq!(report["state"], "ready");
    let plain = Client::new()
        .get(ui.url.replace("https://", "http://"))
        .send()
        .await;
    assert!(
        plain.is_err() || plain.is_ok_and(|r| !r.status().is_success()),
        "plain HTTP is not served"
    );
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn step_load_from_the_web_ui() {
    let target = Target::start().await;
    let ui = Background::fixture_ui(&target, &["--step-load"]).await;
    let client = Client::new();
    let page = client
        .get(&ui.url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains(r#"data-step-load="true""#),
        "the form shows the step fields"
    );
    let missing = client
        .post(format!("{}/swarm", ui.url))
        .form(&[("user_count", "4"), ("hatch_rate", "50")])
        .send()
        .await
        .expect("swarm");
    assert_eq!(
        missing.status(),
        400,
        "step fields are required in step-load mode"
    );
    let started = client
        .post(format!("{}/swarm", ui.url))
        .form(&[
            ("user_count", "4"),
            ("hatch_rate", "50"),
            ("step_user_count", "2"),
            ("step_duration", "2s"),
        ])
        .send()
        .await
        .expect("swarm");
    assert_eq!(started.status(), 200);
    let first = poll_until(&client, &ui.url, |r| r["user_count"] == 2).await;
    assert_eq!(first["state"], "running");
    // The second step comes 2 s later.
    poll_until(&client, &ui.url, |r| r["user_count"] == 4).await;
    let run = ui.stop().await;
    assert!(
        run.stderr.contains("Step Load is finished."),
        "{}",
        run.stderr
    );
}
