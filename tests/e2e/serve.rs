//! `locust serve`: the shared service, as real processes with real targets — tenants running at
//! once, each scoped to its own runs and grants, quotas refusing before anything starts, and
//! results surviving a restart.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::client::Client;
use crate::harness::{Background, Target, fixture};

/// A tenant of a test service: its name, token and extra lines of its tenants-file entry.
struct TenantSpec<'a> {
    name: &'a str,
    token: &'a str,
    extra: String,
}

fn sha256_hex(text: &str) -> String {
    sha256_hex_bytes(text.as_bytes())
}

/// A `locust serve` process on a free port, with its tenants file and data folder in `dir`.
struct Service {
    process: Background,
    url: String,
}

impl Service {
    async fn start(dir: &Path, tenants: &[TenantSpec<'_>]) -> Self {
        let mut file = String::new();
        for tenant in tenants {
            file.push_str(&format!(
                "[[tenant]]\nname = \"{}\"\ntoken-sha256 = \"{}\"\n{}\n\n",
                tenant.name,
                sha256_hex(tenant.token),
                tenant.extra
            ));
        }
        let path = dir.join("tenants.toml");
        std::fs::write(&path, file).expect("tenants file");
        Self::start_with(dir, &path).await
    }

    async fn start_with(dir: &Path, tenants: &Path) -> Self {
        Self::start_args(dir, tenants, &[]).await
    }

    async fn start_args(dir: &Path, tenants: &Path, extra: &[&str]) -> Self {
        let data = dir.join("data");
        let mut args = vec![
            "serve",
            "--tenants",
            tenants.to_str().expect("utf-8"),
            "--data-dir",
            data.to_str().expect("utf-8"),
            "-P",
            "0",
        ];
        args.extend_from_slice(extra);
        let process = Background::start_with(&args, &[], "tenant(s) at ").await;
        let url = process
            .ready
            .split_whitespace()
            .next()
            .expect("the service's URL")
            .to_owned();
        Self { process, url }
    }

    fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.url)
    }

    /// `method path` with `token`, returning status and JSON body.
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let client = Client::new();
        let url = self.api(path);
        let request = match method {
            "GET" => client.get(url),
            "POST" => client.post(url),
            "DELETE" => client.delete(url),
            other => panic!("method {other}"),
        };
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let response = request.bearer(token).send().await.expect("the API answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON"))
    }

    async fn upload(&self, token: &str, bytes: Vec<u8>) -> (u16, Value) {
        let response = Client::new()
            .post(self.api("/components"))
            .bearer(token)
            .bytes(bytes)
            .send()
            .await
            .expect("the API answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON"))
    }

    /// Wait (up to a minute) until run `id` is over; return its record.
    async fn wait_over(&self, token: &str, id: &str) -> Value {
        for _ in 0..600 {
            let (_, run) = self.call("GET", &format!("/runs/{id}"), token, None).await;
            if !["queued", "running", "stopping"].contains(&run["state"].as_str().unwrap_or("")) {
                return run;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("run {id} did not end within a minute");
    }

    /// Wait until run `id` has users running.
    async fn wait_users(&self, token: &str, id: &str, users: u64) {
        for _ in 0..300 {
            let (_, run) = self.call("GET", &format!("/runs/{id}"), token, None).await;
            if run["user_count"].as_u64() == Some(users) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("run {id} did not reach {users} users");
    }
}

fn fixture_bytes() -> Vec<u8> {
    std::fs::read(fixture()).expect("the fixture component")
}

/// The aggregated request count of a run's statistics.
fn total_requests(stats: &Value) -> u64 {
    stats["stats"]
        .as_array()
        .and_then(|rows| rows.iter().find(|row| row["name"] == "Aggregated"))
        .and_then(|row| row["num_requests"].as_u64())
        .unwrap_or_else(|| panic!("an Aggregated row in {stats}"))
}

fn run_settings(component: &str, users: u64, run_time: &str, host: &str) -> Value {
    json!({
        "component": component,
        "users": users,
        "spawn_rate": 100,
        "run_time": run_time,
        "host": host,
        "classes": ["Lifecycle"],
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn two_tenants_run_at_once_each_seeing_only_its_own() {
    let (target_a, target_b) = (Target::start().await, Target::start().await);
    let dir = tempfile::tempdir().expect("temp dir");
    let service = Service::start(
        dir.path(),
        &[
            TenantSpec {
                name: "team-a",
                token: "token-a",
                extra: format!("allow-hosts = [\"{}\"]", target_a.url),
            },
            TenantSpec {
                name: "team-b",
                token: "token-b",
                extra: format!("allow-hosts = [\"{}\"]", target_b.url),
            },
        ],
    )
    .await;

    // Credentials first: none, or a token that is nobody's, get 401 and one message.
    let (status, body) = service.call("GET", "/runs", "", None).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = service.call("GET", "/runs", "token-c", None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "the token is not a tenant's");

    let (status, component_a) = service.upload("token-a", fixture_bytes()).await;
    assert_eq!(status, 201, "{component_a}");
    let id = component_a["id"].as_str().expect("component id").to_owned();
    assert!(
        component_a["description"]["classes"]
            .as_array()
            .expect("classes")
            .iter()
            .any(|class| class["name"] == "Lifecycle")
    );
    // B has not uploaded it: A's component is not B's to use.
    let settings_b = run_settings(&id, 2, "4s", &target_b.url);
    let (status, body) = service
        .call("POST", "/runs", "token-b", Some(settings_b.clone()))
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = service.upload("token-b", fixture_bytes()).await;
    assert_eq!(status, 201);

    let (status, run_a) = service
        .call(
            "POST",
            "/runs",
            "token-a",
            Some(run_settings(&id, 3, "4s", &target_a.url)),
        )
        .await;
    assert_eq!(status, 201, "{run_a}");
    let (status, run_b) = service
        .call("POST", "/runs", "token-b", Some(settings_b))
        .await;
    assert_eq!(status, 201, "{run_b}");
    let (a, b) = (
        run_a["id"].as_str().expect("id").to_owned(),
        run_b["id"].as_str().expect("id").to_owned(),
    );
    service.wait_users("token-a", &a, 3).await;
    service.wait_users("token-b", &b, 2).await;
    // Both at once, each tenant seeing only its own.
    let (_, list_a) = service.call("GET", "/runs", "token-a", None).await;
    let ids: Vec<&str> = list_a["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|run| run["id"].as_str())
        .collect();
    assert_eq!(ids, [a.as_str()]);
    let (_, run) = service
        .call("GET", &format!("/runs/{b}"), "token-b", None)
        .await;
    assert_eq!(run["state"], "running");
    for path in ["", "/stats", "/exceptions", "/csv/stats"] {
        let (status, body) = service
            .call("GET", &format!("/runs/{a}{path}"), "token-b", None)
            .await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"], format!("no run {a}"));
    }
    let (status, _) = service
        .call("POST", &format!("/runs/{a}/stop"), "token-b", None)
        .await;
    assert_eq!(status, 404, "B cannot stop A's run");

    // A run's page is the web UI of that run, behind the tenant's name and token.
    let page = Client::new()
        .get(format!("{}/runs/{a}/", service.url))
        .basic_auth("team-a", Some("token-a"))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("html").contains("<html"));
    let denied = Client::new()
        .get(format!("{}/runs/{a}/stats/requests", service.url))
        .basic_auth("team-b", Some("token-b"))
        .send()
        .await
        .expect("page");
    assert_eq!(denied.status(), 404);
    // Its form cannot go past the run's quota-checked user count.
    let swarm: Value = Client::new()
        .post(format!("{}/runs/{a}/swarm", service.url))
        .basic_auth("team-a", Some("token-a"))
        .form(&[("user_count", "50"), ("spawn_rate", "1")])
        .send()
        .await
        .expect("swarm")
        .json()
        .await
        .expect("JSON");
    assert_eq!(swarm["success"], false, "{swarm}");

    let (end_a, end_b) = (
        service.wait_over("token-a", &a).await,
        service.wait_over("token-b", &b).await,
    );
    assert_eq!(end_a["state"], "finished", "{end_a}");
    assert_eq!(end_b["state"], "finished", "{end_b}");
    // Each run's statistics are exactly what its own target served.
    for (token, id, target) in [("token-a", &a, &target_a), ("token-b", &b, &target_b)] {
        let (_, stats) = service
            .call("GET", &format!("/runs/{id}/stats"), token, None)
            .await;
        let served = target.hits().len() as u64;
        assert!(served > 0);
        assert_eq!(total_requests(&stats), served, "{stats}");
        let csv = Client::new()
            .get(service.api(&format!("/runs/{id}/csv/stats")))
            .bearer(token)
            .send()
            .await
            .expect("csv")
            .text()
            .await
            .expect("text");
        let aggregated = csv
            .lines()
            .find(|line| line.starts_with(",Aggregated,"))
            .unwrap_or_else(|| panic!("an Aggregated row in {csv}"));
        assert_eq!(
            aggregated.split(',').nth(2),
            Some(served.to_string().as_str())
        );
    }
    service.process.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn quotas_and_grants_refuse_a_run_before_anything_starts() {
    let (granted, other) = (Target::start().await, Target::start().await);
    let dir = tempfile::tempdir().expect("temp dir");
    let service = Service::start(
        dir.path(),
        &[TenantSpec {
            name: "small",
            token: "t",
            extra: format!(
                "allow-hosts = [\"{}\"]\nmax-users = 5\nmax-run-time = \"1m\"\nmax-concurrent-runs = 1\nmax-queued-runs = 1\nmax-component-mib = 1\nmax-user-memory-mib = 32",
                granted.url
            ),
        }],
    )
    .await;
    let (status, body) = service.upload("t", b"\0asm not really".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .expect("message")
            .contains("component"),
        "{body}"
    );
    let (status, body) = service.upload("t", vec![0; 2 << 20]).await;
    assert_eq!(status, 413, "{body}");
    let (_, component) = service.upload("t", fixture_bytes()).await;
    let id = component["id"].as_str().expect("id").to_owned();

    let refusals = [
        (
            json!({"component": id, "users": 6, "host": granted.url}),
            403,
            "over the tenant's max-users of 5",
        ),
        (
            json!({"component": id, "users": 1, "run_time": "2m", "host": granted.url}),
            403,
            "max-run-time",
        ),
        (
            json!({"component": id, "users": 1, "host": other.url}),
            403,
            "is not granted to tenant small",
        ),
        (
            json!({"component": id, "users": 1, "host": granted.url, "user_memory": 64}),
            403,
            "max-user-memory-mib",
        ),
        (
            json!({"component": id, "users": 1, "host": granted.url, "options": {"nope": "1"}}),
            400,
            "declares no option nope",
        ),
        (
            json!({"component": id, "users": 1, "host": granted.url, "classes": ["Ghost"]}),
            400,
            "no user class Ghost",
        ),
        (json!({"component": id, "users": 1}), 400, "has no host"),
        (
            json!({"component": id, "users": 1, "spawn_rate": 0, "host": granted.url}),
            400,
            "spawn_rate",
        ),
        (
            json!({"component": id, "users": 1, "bogus": true}),
            400,
            "unknown field `bogus`",
        ),
        (
            json!({"component": "abc", "users": 1}),
            400,
            "64 hex digits",
        ),
    ];
    for (settings, expected_status, expected) in refusals {
        let (status, body) = service
            .call("POST", "/runs", "t", Some(settings.clone()))
            .await;
        assert_eq!(status, expected_status, "{settings}: {body}");
        let message = body["error"].as_str().expect("a message");
        assert!(message.contains(expected), "{settings}: {message}");
    }
    let (_, runs) = service.call("GET", "/runs", "t", None).await;
    assert_eq!(runs["runs"], json!([]), "nothing was half-started");

    // One slot and one place in the queue.
    let long = json!({"component": id, "users": 1, "run_time": "1m", "host": granted.url, "classes": ["Lifecycle"]});
    let (status, first) = service.call("POST", "/runs", "t", Some(long.clone())).await;
    assert_eq!(status, 201, "{first}");
    let (status, second) = service.call("POST", "/runs", "t", Some(long.clone())).await;
    assert_eq!(status, 202, "{second}");
    assert_eq!(second["state"], "queued");
    let (status, third) = service.call("POST", "/runs", "t", Some(long)).await;
    assert_eq!(status, 429, "{third}");
    assert!(
        third["error"]
            .as_str()
            .expect("message")
            .contains("max-queued-runs")
    );
    let (first, second) = (
        first["id"].as_str().expect("id").to_owned(),
        second["id"].as_str().expect("id").to_owned(),
    );
    // Stopping the running one starts the queued one; stopping that ends it.
    let (status, _) = service
        .call("POST", &format!("/runs/{first}/stop"), "t", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(service.wait_over("t", &first).await["state"], "stopped");
    service.wait_users("t", &second, 1).await;
    service
        .call("POST", &format!("/runs/{second}/stop"), "t", None)
        .await;
    assert_eq!(service.wait_over("t", &second).await["state"], "stopped");
    assert_eq!(
        other.hits().len(),
        0,
        "nothing reached the ungranted target"
    );

    // Every refusal is JSON, unknown routes and methods too.
    let (status, body) = service.call("GET", "/nowhere", "t", None).await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
    let (status, body) = service.call("DELETE", "/runs", "t", None).await;
    assert_eq!(status, 405);
    assert!(body["error"].is_string());
    service.process.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_keeps_finished_runs_and_marks_the_cut_off_one() {
    let target = Target::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let tenants = [TenantSpec {
        name: "keeper",
        token: "k",
        extra: format!(
            "allow-hosts = [\"{}\"]\nmax-concurrent-runs = 2",
            target.url
        ),
    }];
    let service = Service::start(dir.path(), &tenants).await;
    let (_, component) = service.upload("k", fixture_bytes()).await;
    let id = component["id"].as_str().expect("id").to_owned();
    let (_, short) = service
        .call(
            "POST",
            "/runs",
            "k",
            Some(run_settings(&id, 2, "2s", &target.url)),
        )
        .await;
    let short = short["id"].as_str().expect("id").to_owned();
    let finished = service.wait_over("k", &short).await;
    assert_eq!(finished["state"], "finished");
    let served_by_short = target.hits().len() as u64;
    let (_, before) = service
        .call("GET", &format!("/runs/{short}/stats"), "k", None)
        .await;
    assert_eq!(total_requests(&before), served_by_short);

    let (_, long) = service
        .call(
            "POST",
            "/runs",
            "k",
            Some(run_settings(&id, 2, "5m", &target.url)),
        )
        .await;
    let long = long["id"].as_str().expect("id").to_owned();
    service.wait_users("k", &long, 2).await;
    // Let at least one snapshot land, then cut the power.
    tokio::time::sleep(Duration::from_secs(3)).await;
    service.process.kill().await;
    let served_in_total = target.hits().len() as u64;

    let service = Service::start_with(dir.path(), &dir.path().join("tenants.toml")).await;
    let (_, kept) = service
        .call("GET", &format!("/runs/{short}/stats"), "k", None)
        .await;
    assert_eq!(kept, before, "the finished run reads as before");
    let csv = Client::new()
        .get(service.api(&format!("/runs/{short}/csv/stats")))
        .bearer("k")
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status(), 200);
    let (_, cut) = service
        .call("GET", &format!("/runs/{long}"), "k", None)
        .await;
    assert_eq!(cut["state"], "interrupted", "{cut}");
    assert!(
        cut["message"]
            .as_str()
            .expect("why")
            .contains("last snapshot")
    );
    let (_, last) = service
        .call("GET", &format!("/runs/{long}/stats"), "k", None)
        .await;
    let recorded = total_requests(&last);
    assert!(
        recorded > 0 && recorded <= served_in_total - served_by_short,
        "{recorded} of {} served",
        served_in_total - served_by_short
    );
    let history = Client::new()
        .get(service.api(&format!("/runs/{long}/csv/stats_history")))
        .bearer("k")
        .send()
        .await
        .expect("csv");
    assert_eq!(history.status(), 200, "its CSV files were kept too");
    let log = service.process.stop().await;
    assert!(
        log.stderr
            .contains(&format!("run {long} was running when the service stopped")),
        "{}",
        log.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_tenants_file_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tenants.toml");
    std::fs::write(
        &path,
        "[[tenant]]\nname = \"a\"\ntoken-sha256 = \"short\"\n",
    )
    .expect("file");
    let run = crate::harness::locust(&[
        "serve",
        "--tenants",
        path.to_str().expect("utf-8"),
        "--data-dir",
        dir.path().join("data").to_str().expect("utf-8"),
    ])
    .await;
    assert_eq!(run.code, 1);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].contains("token-sha256 must be 64 hex digits"),
        "{}",
        run.stderr
    );
    let run = crate::harness::locust(&["serve", "--data-dir", "x"]).await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("--tenants"), "{}", run.stderr);
}

/// The `GET /l/task` count of a run's statistics, per second of `run_time`.
fn task_rate(stats: &Value, seconds: f64) -> f64 {
    let row = stats["stats"]
        .as_array()
        .and_then(|rows| rows.iter().find(|row| row["name"] == "/l/task"))
        .unwrap_or_else(|| panic!("a /l/task row in {stats}"));
    row["num_requests"].as_u64().expect("count") as f64 / seconds
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_tenant_cannot_disturb_another() {
    let (target_a, target_b) = (Target::start().await, Target::start().await);
    let dir = tempfile::tempdir().expect("temp dir");
    let service = Service::start(
        dir.path(),
        &[
            TenantSpec {
                name: "hostile",
                token: "a",
                extra: format!(
                    "allow-hosts = [\"{}\"]\nmax-users = 4\nmax-user-memory-mib = 16\nmax-fuel-per-second = 50_000_000",
                    target_a.url
                ),
            },
            TenantSpec {
                name: "steady",
                token: "b",
                extra: format!("allow-hosts = [\"{}\"]\nmax-concurrent-runs = 2", target_b.url),
            },
        ],
    )
    .await;
    let pid = service.process.pid();
    let (_, component) = service.upload("a", fixture_bytes()).await;
    let id = component["id"].as_str().expect("id").to_owned();
    service.upload("b", fixture_bytes()).await;

    // B alone, for reference.
    let (_, alone) = service
        .call(
            "POST",
            "/runs",
            "b",
            Some(run_settings(&id, 3, "4s", &target_b.url)),
        )
        .await;
    let alone = alone["id"].as_str().expect("id").to_owned();
    service.wait_over("b", &alone).await;
    let (_, alone_stats) = service
        .call("GET", &format!("/runs/{alone}/stats"), "b", None)
        .await;
    let alone_rate = task_rate(&alone_stats, 4.0);
    let served_alone = target_b.hits().len() as u64;
    assert_eq!(total_requests(&alone_stats), served_alone);

    // B again, while A tries everything.
    let (_, steady) = service
        .call(
            "POST",
            "/runs",
            "b",
            Some(run_settings(&id, 3, "16s", &target_b.url)),
        )
        .await;
    let steady = steady["id"].as_str().expect("id").to_owned();
    service.wait_users("b", &steady, 3).await;
    let (status, body) = service
        .call(
            "POST",
            "/runs",
            "a",
            Some(json!({"component": id, "users": 40, "host": target_a.url})),
        )
        .await;
    assert_eq!(status, 403, "10x the user quota: {body}");
    let (status, _) = service
        .call(
            "POST",
            "/runs",
            "a",
            Some(json!({"component": id, "users": 1, "host": target_b.url})),
        )
        .await;
    assert_eq!(status, 403, "B's target is not A's");
    let mut hostile_runs = Vec::new();
    for (class, options) in [
        ("Looping", json!({})),
        ("Hungry", json!({})),
        ("Failing", json!({})),
        (
            "Fetching",
            json!({"fetch": format!("{}/stolen", target_b.url)}),
        ),
    ] {
        let settings = json!({
            "component": id, "users": 4, "spawn_rate": 100, "run_time": "2s",
            "stop_timeout": "1s", "host": target_a.url, "classes": [class], "options": options,
        });
        let (status, run) = service.call("POST", "/runs", "a", Some(settings)).await;
        assert_eq!(status, 201, "{class}: {run}");
        let run = run["id"].as_str().expect("id").to_owned();
        let end = service.wait_over("a", &run).await;
        assert_eq!(end["state"], "finished", "{class}: {end}");
        let (_, stats) = service
            .call("GET", &format!("/runs/{run}/stats"), "a", None)
            .await;
        hostile_runs.push((class, stats));
    }
    let end = service.wait_over("b", &steady).await;
    assert_eq!(end["state"], "finished");

    // B: exact, error-free, and as fast as alone.
    let (_, stats) = service
        .call("GET", &format!("/runs/{steady}/stats"), "b", None)
        .await;
    assert_eq!(
        total_requests(&stats),
        target_b.hits().len() as u64 - served_alone,
        "B's statistics equal what B's target served"
    );
    assert_eq!(stats["errors"], json!([]), "{stats}");
    let (_, exceptions) = service
        .call("GET", &format!("/runs/{steady}/exceptions"), "b", None)
        .await;
    assert_eq!(exceptions["exceptions"], json!([]), "{exceptions}");
    let rate = task_rate(&stats, 16.0);
    assert!(
        rate >= alone_rate * 0.75,
        "B's throughput held: {rate:.1}/s against {alone_rate:.1}/s alone"
    );
    assert!(
        !target_b.hits().iter().any(|hit| hit.path == "/stolen"),
        "A never reached B's target"
    );

    // A's failures are A's, in the runs that caused them.
    let text = |stats: &Value| stats.to_string();
    let (_, looping) = &hostile_runs[0];
    assert!(
        target_a.hits().iter().any(|hit| hit.path == "/loop/enter"),
        "the looping users ran: {}",
        text(looping)
    );
    let (_, hungry) = &hostile_runs[1];
    let (_, failing) = &hostile_runs[2];
    let (_, fetching) = &hostile_runs[3];
    assert!(
        text(fetching).contains("is not a host this test may reach"),
        "{}",
        text(fetching)
    );
    let hungry_errors = hungry["exceptions"].to_string();
    assert!(hungry_errors.contains("memory"), "{hungry_errors}");
    let failing_errors = failing["exceptions"].to_string();
    assert!(failing_errors.contains("boom"), "{failing_errors}");

    // The service is the same process, and it still answers.
    assert_eq!(service.process.pid(), pid);
    let (status, _) = service.call("GET", "/runs", "b", None).await;
    assert_eq!(status, 200);
    service.process.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_tenants_run_at_once_on_attached_workers() {
    let (target_a, target_b) = (Target::start().await, Target::start().await);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut file = String::new();
    for (name, token, target) in [
        ("team-a", "token-a", &target_a),
        ("team-b", "token-b", &target_b),
    ] {
        file.push_str(&format!(
            "[[tenant]]\nname = \"{name}\"\ntoken-sha256 = \"{}\"\nallow-hosts = [\"{}\"]\n\n",
            sha256_hex(token),
            target.url
        ));
    }
    let tenants = dir.path().join("tenants.toml");
    std::fs::write(&tenants, file).expect("tenants file");
    let service = Service::start_args(
        dir.path(),
        &tenants,
        &[
            "--master-bind-port",
            "0",
            "--master-bind-host",
            "127.0.0.1",
            "--master-token",
            "pool",
        ],
    )
    .await;
    let port = service
        .process
        .early_log
        .split("workers connect to port ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the worker port in the log")
        .to_owned();
    let worker_args = [
        "--worker",
        "--master-host",
        "127.0.0.1",
        "--master-port",
        &port,
        "--master-token",
        "pool",
    ];
    let cache = dir.path().join("worker-cache");
    let cache = cache.to_str().expect("utf-8");
    let workers = [
        Background::start_with(&worker_args, &[("XDG_CACHE_HOME", cache)], "").await,
        Background::start_with(&worker_args, &[("XDG_CACHE_HOME", cache)], "").await,
    ];
    let waiting = |service: &Service| {
        let url = service.api("/service");
        async move {
            let info: Value = Client::new()
                .get(url)
                .bearer("token-a")
                .send()
                .await
                .expect("info")
                .json()
                .await
                .expect("json");
            info["workers_waiting"].as_u64().unwrap_or(0)
        }
    };
    for _ in 0..300 {
        if waiting(&service).await == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(waiting(&service).await, 2, "both workers wait for runs");

    let (_, component) = service.upload("token-a", fixture_bytes()).await;
    let id = component["id"].as_str().expect("id").to_owned();
    service.upload("token-b", fixture_bytes()).await;
    let (status, run_a) = service
        .call(
            "POST",
            "/runs",
            "token-a",
            Some(run_settings(&id, 4, "5s", &target_a.url)),
        )
        .await;
    assert_eq!(status, 201, "{run_a}");
    let a = run_a["id"].as_str().expect("id").to_owned();
    service.wait_users("token-a", &a, 4).await;
    // A's run took both workers; each opened another connection for the next run.
    let (status, run_b) = service
        .call(
            "POST",
            "/runs",
            "token-b",
            Some(run_settings(&id, 2, "4s", &target_b.url)),
        )
        .await;
    assert_eq!(status, 201, "{run_b}");
    let b = run_b["id"].as_str().expect("id").to_owned();
    service.wait_users("token-b", &b, 2).await;
    for (token, id) in [("token-a", &a), ("token-b", &b)] {
        let (_, stats) = service
            .call("GET", &format!("/runs/{id}/stats"), token, None)
            .await;
        assert_eq!(
            stats["worker_count"], 2,
            "{id} runs on both workers: {stats}"
        );
    }
    let (end_a, end_b) = (
        service.wait_over("token-a", &a).await,
        service.wait_over("token-b", &b).await,
    );
    assert_eq!(
        (end_a["state"].as_str(), end_b["state"].as_str()),
        (Some("finished"), Some("finished"))
    );
    for (token, id, target) in [("token-a", &a, &target_a), ("token-b", &b, &target_b)] {
        let (_, stats) = service
            .call("GET", &format!("/runs/{id}/stats"), token, None)
            .await;
        assert_eq!(
            total_requests(&stats),
            target.hits().len() as u64,
            "{stats}"
        );
    }
    // The workers stay, waiting for the next run.
    for _ in 0..100 {
        if waiting(&service).await == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(waiting(&service).await, 2);
    for worker in workers {
        let run = worker.stop().await;
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    service.process.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_built_with_save_component_is_what_the_service_takes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let saved = dir.path().join("user.wasm");
    let crate_dir = crate::harness::root().join("tests/fixtures/guest");
    let run = crate::harness::locust(&[
        "-f",
        crate_dir.to_str().expect("utf-8"),
        "--save-component",
        saved.to_str().expect("utf-8"),
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let bytes = std::fs::read(&saved).expect("the saved component");
    let hash = sha256_hex_bytes(&bytes);
    assert!(run.stdout.contains(&hash), "{}", run.stdout);
    let service = Service::start(
        dir.path(),
        &[TenantSpec {
            name: "builder",
            token: "t",
            extra: String::new(),
        }],
    )
    .await;
    let (status, component) = service.upload("t", bytes).await;
    assert_eq!(status, 201, "{component}");
    assert_eq!(component["id"], hash);
    let (status, again) = service
        .upload("t", std::fs::read(&saved).expect("bytes"))
        .await;
    assert_eq!(
        (status, &again["id"]),
        (201, &component["id"]),
        "the same bytes, the same record"
    );
    let (_, list) = service.call("GET", "/components", "t", None).await;
    assert_eq!(list["components"].as_array().map(Vec::len), Some(1));
    let (status, _) = service
        .call("DELETE", &format!("/components/{hash}"), "t", None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = service
        .call("DELETE", &format!("/components/{hash}"), "t", None)
        .await;
    assert_eq!(status, 404);
    service.process.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_with_its_own_test_plan_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let saved = dir.path().join("k6.wasm");
    let env = crate::javascript::js_env();
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    let run = crate::harness::locust_with_env(
        &[
            "-f",
            "tests/fixtures/js/iterations.ts",
            "--save-component",
            saved.to_str().expect("utf-8"),
        ],
        &env,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let service = Service::start(
        dir.path(),
        &[TenantSpec {
            name: "k6",
            token: "t",
            extra: String::new(),
        }],
    )
    .await;
    let (status, refusal) = service
        .upload("t", std::fs::read(&saved).expect("the saved component"))
        .await;
    assert_eq!(status, 400, "{refusal}");
    let message = refusal.to_string();
    assert!(
        message.contains("declares its own test plan") && message.contains("run request"),
        "{message}"
    );
    let (_, list) = service.call("GET", "/components", "t", None).await;
    assert_eq!(list["components"].as_array().map(Vec::len), Some(0));
    service.process.stop().await;
}

fn sha256_hex_bytes(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
