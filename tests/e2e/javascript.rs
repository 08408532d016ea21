//! JavaScript users: the Locust-style example under examples/js and k6 scripts (examples/k6,
//! tests/fixtures/js), built with esbuild and componentize-js (provisioned by the suite) and
//! run by the real binary against a real target, whose own counts the statistics must equal.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::harness::{Background, Run, Target, locust_with_env};
use crate::provision;
use crate::python::{count, served};

/// The environment a JavaScript build needs: the suite's Node.js first on PATH and its tools.
pub(crate) fn js_env() -> [(&'static str, String); 2] {
    let tools = provision::js_tools();
    [
        (
            "PATH",
            format!(
                "{}:{}",
                tools.node_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        ),
        ("LOCUST_JS_TOOLS", tools.modules.display().to_string()),
    ]
}

/// Run `locust` with `args` and the JavaScript tools.
async fn run_js(args: &[&str]) -> Run {
    let env = js_env();
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    locust_with_env(args, &env).await
}

#[test]
fn the_javascript_sdk_passes_its_unit_tests() {
    let node = provision::js_tools().node_dir.join("node");
    // The SDK's own tests, against a fake host.
    let sdk = crate::harness::root().join("guest-sdk/js");
    let tests = std::process::Command::new(node)
        .args([
            "--import",
            "./test/register.mjs",
            "--test",
            "test/sdk.test.mjs",
        ])
        .current_dir(&sdk)
        .output()
        .expect("node runs");
    let report = String::from_utf8_lossy(&tests.stdout);
    assert!(
        tests.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&tests.stderr)
    );
    assert!(report.contains("# fail 0"), "{report}");
    // The types accept the API as documented, and a TypeScript k6 script.
    let tools = provision::js_tools();
    let typecheck = std::process::Command::new(tools.node_dir.join("node"))
        .arg(tools.modules.join("typescript/bin/tsc"))
        .args(["-p", "test/types"])
        .current_dir(&sdk)
        .output()
        .expect("tsc runs");
    assert!(
        typecheck.status.success(),
        "{}",
        String::from_utf8_lossy(&typecheck.stdout)
    );
}

/// The failures column of a summary row (`3(100.00%)` → 3).
fn failures(run: &Run, method: &str, name: &str) -> u64 {
    run.summary_row(method, name)
        .and_then(|row| row.get(1).cloned())
        .and_then(|cell| cell.split('(').next().and_then(|n| n.parse().ok()))
        .unwrap_or_else(|| panic!("no row for {method} {name}:\n{}", run.stdout))
}

fn assert_clean(run: &Run) {
    for marker in ["panicked at", "RUST_BACKTRACE", "wasm backtrace"] {
        assert!(!run.stderr.contains(marker), "{marker}:\n{}", run.stderr);
    }
}

/// The Locust-style example headless against `target` for 3 s, with `args` after.
async fn shop(target: &Target, args: &[&str]) -> Run {
    let mut all = vec![
        "-f",
        "examples/js/locustfile.js",
        "--headless",
        "--host",
        &target.url,
        "-u",
        "4",
        "-r",
        "100",
        "-t",
        "3s",
        "--stop-timeout",
        "5",
    ];
    all.extend_from_slice(args);
    run_js(&all).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locust_style_javascript_user_runs_its_task_sets_and_verdicts() {
    let target = Target::start().await;
    let run = shop(&target, &["--shop-items", "3", "--exit-code-on-error", "0"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_clean(&run);
    let served = served(&target);
    // Class weights 3:1: three shoppers and an admin. onStart logs every shopper in, through
    // common/auth.js, with a form post; onStop logs each out when the test stops.
    assert_eq!(count(&served, "/login"), 3, "{served:?}");
    assert_eq!(run.requests("POST", "/login"), 3, "{}", run.stdout);
    assert_eq!(count(&served, "/logout"), 3, "{served:?}");
    assert_eq!(run.requests("POST", "/logout"), 3, "{}", run.stdout);
    // The admin's basic auth reached the target: no 401s.
    assert!(count(&served, "/auth") > 0, "{served:?}");
    assert_eq!(run.requests("GET", "/admin"), count(&served, "/auth"));
    assert_eq!(failures(&run, "GET", "/admin"), 0, "{}", run.stdout);
    for login in target.hits().into_iter().filter(|hit| hit.path == "/login") {
        assert_eq!(login.body, "username=foo&password=bar");
    }
    // Every request the target saw is in the statistics, under its name.
    for (method, name, path) in [
        ("GET", "/", "/"),
        ("GET", "/item", "/item"),
        ("POST", "/cart", "/cart"),
        ("POST", "/pay", "/status/402"),
        ("GET", "/search", "/search"),
    ] {
        assert!(count(&served, path) > 0, "{path} never served: {served:?}");
        assert_eq!(
            run.requests(method, name),
            count(&served, path),
            "{method} {name}: {}",
            run.stdout
        );
    }
    // The custom option reached the task set: items 1..=3 only.
    let items: BTreeSet<String> = target
        .hits()
        .into_iter()
        .filter_map(|hit| hit.path.strip_prefix("/item?id=").map(str::to_owned))
        .collect();
    assert!(
        items
            .iter()
            .all(|id| ["1", "2", "3"].contains(&id.as_str())),
        "{items:?}"
    );
    // The checkout runs in order: a cart before each payment, with JSON.
    let (carts, payments) = (count(&served, "/cart"), count(&served, "/status/402"));
    assert!(
        carts >= payments && carts - payments <= 4,
        "{carts} {payments}"
    );
    let cart = target.hits().into_iter().find(|hit| hit.path == "/cart");
    assert_eq!(cart.expect("a cart").body, r#"{"item":1,"quantity":2}"#);
    // Weights: index 4 to checkout 1 (each checkout pays once).
    let ratio = count(&served, "/") as f64 / carts as f64;
    assert!((2.0..=8.0).contains(&ratio), "/ to /cart is {ratio:.2}");
    // catchResponse: the expected 402 is a success, the page without results a failure.
    assert_eq!(failures(&run, "POST", "/pay"), 0, "{}", run.stdout);
    assert_eq!(
        failures(&run, "GET", "/search"),
        count(&served, "/search"),
        "{}",
        run.stdout
    );
    let errors = run.section("Error report").expect("an error report");
    assert!(errors.contains("no results"), "{errors}");
    // events.testStart's listener logged through the host.
    assert!(run.stderr.contains("the shop opens"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_choose_the_tasks_of_a_javascript_user() {
    let target = Target::start().await;
    let run = shop(&target, &["--exclude-tags", "checkout", "search"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let served = served(&target);
    for path in ["/cart", "/status/402", "/search"] {
        assert_eq!(count(&served, path), 0, "{path}: {served:?}");
    }
    assert!(
        count(&served, "/") > 0 && count(&served, "/item") > 0,
        "{served:?}"
    );
    assert_eq!(run.requests("GET", "/"), count(&served, "/"));
}

/// The k6 example against `base` (the target's URL, or a path below it).
async fn k6_example(target: &Target, base: &str, args: &[&str]) -> Run {
    k6_script("examples/k6/script.js", target, base, args).await
}

/// The k6 script `file` against `base`, with `--host` granting the target.
async fn k6_script(file: &str, target: &Target, base: &str, args: &[&str]) -> Run {
    let env = format!("BASE_URL={base}");
    let mut all = vec![
        "-f",
        file,
        "--headless",
        "--host",
        &target.url,
        "--env",
        &env,
        // Locust's tables too, which the tests read beside k6's summary.
        "--locust-summary",
    ];
    all.extend_from_slice(args);
    run_js(&all).await
}

/// Each threshold condition of k6's summary: (metric, passed).
fn threshold_marks(run: &Run) -> Vec<(String, bool)> {
    let block = run
        .section("█ THRESHOLDS")
        .and_then(|rest| rest.split("█ TOTAL RESULTS").next())
        .unwrap_or_else(|| panic!("no THRESHOLDS block:\n{}", run.stdout));
    let mut metric = String::new();
    let mut marks = Vec::new();
    for line in block.lines().map(str::trim).filter(|line| !line.is_empty()) {
        if let Some(rest) = line.strip_prefix('✓') {
            assert!(rest.starts_with(" '"), "{line}");
            marks.push((metric.clone(), true));
        } else if line.starts_with('✗') {
            marks.push((metric.clone(), false));
        } else {
            metric = line.to_owned();
        }
    }
    marks
}

/// The first figure of a metric's line in k6's summary (`http_reqs......: 534  105.8/s`).
fn k6_value(run: &Run, metric: &str) -> String {
    let summary = run.section("█ TOTAL RESULTS").expect("k6's summary");
    let line = summary
        .lines()
        .find(|line| line.trim_start().starts_with(&format!("{metric}.")))
        .unwrap_or_else(|| panic!("no {metric} in:\n{summary}"));
    line.split(": ")
        .nth(1)
        .and_then(|value| value.split_whitespace().next())
        .unwrap_or_default()
        .to_owned()
}

/// `__VU` → the `__ITER` values it requested `/item` with, in order.
fn iterations_by_vu(target: &Target) -> BTreeMap<u64, Vec<u64>> {
    let mut by_vu: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for hit in target.hits() {
        let Some(id) = hit.path.strip_prefix("/item?id=") else {
            continue;
        };
        let (vu, iteration) = id.split_once('-').expect("VU-ITER");
        by_vu
            .entry(vu.parse().expect("VU"))
            .or_default()
            .push(iteration.parse().expect("ITER"));
    }
    by_vu
}

/// The example's `setup()` ran once (one `/login`, one `/logout` with its data) and every
/// VU's front-page request carried the token it returned.
fn assert_setup_data_in_every_request(target: &Target) {
    let served = served(target);
    assert_eq!(count(&served, "/login"), 1, "{served:?}");
    assert_eq!(count(&served, "/logout"), 1, "{served:?}");
    let logout = target.hits().into_iter().find(|hit| hit.path == "/logout");
    assert_eq!(logout.expect("logout").body, "token=token-200");
    let fronts: Vec<_> = target
        .hits()
        .into_iter()
        .filter(|hit| hit.path == "/")
        .collect();
    assert!(!fronts.is_empty(), "{served:?}");
    assert!(
        fronts
            .iter()
            .all(|hit| hit.authorization.as_deref() == Some("Bearer token-200")),
        "a VU ran without the setup data"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_k6_script_ramps_through_its_stages_and_passes_its_thresholds() {
    let target = Target::start().await;
    // No -u, -t: the script's stages decide the users and the duration.
    let run = k6_example(&target, &target.url, &[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_clean(&run);
    let served = served(&target);
    // setup() once, its data in every VU's requests; teardown() once, with the same data.
    assert_setup_data_in_every_request(&target);
    // Statistics equal the target's counts; checks, groups and custom metrics are not
    // requests: the Aggregated row is exactly what the target served.
    let front = count(&served, "/");
    let items = count(&served, "/item");
    assert_eq!(run.requests("GET", "/"), front, "{}", run.stdout);
    assert_eq!(run.requests("GET", "item"), items);
    assert_eq!(
        run.aggregated(),
        (target.hits().len() as u64, 0),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.requests("check", "status is 200"),
        0,
        "checks are not requests"
    );
    assert_eq!(
        run.check("::front page::status is 200"),
        Some((front, 0)),
        "{}",
        run.stdout
    );
    assert_eq!(run.check("::front page::body is ok"), Some((front, 0)));
    let groups = run.metric("group_duration").expect("group durations");
    assert!(
        groups.contains("trend") && groups.contains("ms"),
        "{groups}"
    );
    let viewed = run.metric("items_viewed").expect("the custom counter");
    assert!(viewed.contains(&format!("count={items} ")), "{viewed}");
    assert!(run.metric("front_page_time").is_some(), "{}", run.stdout);
    // The stages ramp to 4 VUs, one after another: __VU is 1..=4, each iterating from 0.
    let by_vu = iterations_by_vu(&target);
    assert_eq!(
        by_vu.keys().copied().collect::<Vec<_>>(),
        vec![1, 2, 3, 4],
        "{by_vu:?}"
    );
    for (vu, iterations) in &by_vu {
        let expected: Vec<u64> = (0..iterations.len() as u64).collect();
        assert_eq!(iterations, &expected, "VU {vu}");
    }
    let first = |vu: u64| {
        target
            .hits()
            .into_iter()
            .find(|hit| hit.path.starts_with(&format!("/item?id={vu}-")))
            .expect("a request")
            .at
    };
    assert!(
        first(4) >= first(1) + Duration::from_millis(500),
        "VU 4 started with VU 1: no ramp"
    );
    // k6's summary: every threshold as it was met, the checks under their group, the
    // custom, HTTP and execution metrics, with the same counts as the target's.
    let marks = threshold_marks(&run);
    for metric in [
        "http_req_duration",
        "http_req_failed",
        "checks",
        "http_req_duration{name:item}",
        "items_viewed",
        "front_page_time{page:front}",
    ] {
        assert!(
            marks.iter().any(|(name, passed)| name == metric && *passed),
            "{metric}: {marks:?}\n{}",
            run.stdout
        );
    }
    let summary = run.section("█ TOTAL RESULTS").expect("k6's summary");
    assert!(summary.contains("█ front page"), "{summary}");
    assert!(summary.contains("✓ status is 200"), "{summary}");
    assert!(
        summary.contains("checks_succeeded.")
            && summary.contains(&format!("{} out of {}", 2 * front, 2 * front)),
        "{summary}"
    );
    assert_eq!(k6_value(&run, "http_reqs"), target.hits().len().to_string());
    assert_eq!(k6_value(&run, "items_viewed"), items.to_string());
    assert!(summary.contains("iteration_duration"), "{summary}");
}

#[tokio::test(flavor = "multi_thread")]
async fn k6_vus_with_a_duration_start_every_vu_at_once() {
    let target = Target::start().await;
    // As a k6 user runs it: k6's summary alone, no Locust tables.
    let env = format!("BASE_URL={}", target.url);
    let run = run_js(&[
        "-f",
        "tests/fixtures/js/constant-vus.js",
        "--headless",
        "--host",
        &target.url,
        "--env",
        &env,
    ])
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    // Each VU iterates once a second for 3 s. Started one a second (Locust's default spawn
    // rate), VU 5 would begin after the test ended; all at once, each makes 3 or 4.
    let by_vu = iterations_by_vu(&target);
    assert_eq!(
        by_vu.keys().copied().collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5],
        "{by_vu:?}"
    );
    for (vu, iterations) in &by_vu {
        assert!(iterations.len() >= 2, "VU {vu} started late: {by_vu:?}");
    }
    assert!(
        !run.stdout.contains("Response time percentiles"),
        "{}",
        run.stdout
    );
    let served = target.hits().len().to_string();
    assert_eq!(k6_value(&run, "http_reqs"), served, "{}", run.stdout);
    assert_eq!(
        k6_value(&run, "iterations"),
        served,
        "one request an iteration"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn k6_encoding_and_execution_modules_work_in_a_vu() {
    use base64::Engine as _;
    let target = Target::start().await;
    let run = k6_script("tests/fixtures/js/modules.js", &target, &target.url, &[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let hits = target.hits();
    assert_eq!(hits.len(), 6, "{hits:?}");
    for hit in &hits {
        let (token, plain) = hit
            .path
            .strip_prefix("/enc/")
            .and_then(|rest| rest.split_once("?plain="))
            .expect("/enc/TOKEN?plain=TEXT");
        let plain = plain.replace("%3F", "?");
        // The VU's own numbers, in the unpadded URL-safe alphabet k6 calls rawurl.
        assert!(plain.starts_with("vu") && plain.ends_with('?'), "{plain}");
        assert_eq!(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&plain),
            token,
            "{plain}"
        );
    }
    assert_eq!(run.requests("GET", "enc"), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_k6_threshold_exits_99_and_names_the_threshold() {
    let target = Target::start().await;
    // The same script, named by its folder (package.json's main), against a broken service:
    // every request answers 500.
    let base = format!("{}/status/500", target.url);
    let run = k6_script("examples/k6", &target, &base, &[]).await;
    assert_eq!(run.code, 99, "{}\n{}", run.stdout, run.stderr);
    assert_clean(&run);
    let marks = threshold_marks(&run);
    for metric in ["http_req_failed", "checks"] {
        assert!(
            marks
                .iter()
                .any(|(name, passed)| name == metric && !*passed),
            "{metric}: {marks:?}"
        );
    }
    assert!(
        run.stderr.contains("http_req_failed") && run.stderr.contains("rate<0.01"),
        "the log names the failed threshold:\n{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn k6_iterations_run_exactly_and_typescript_imports_are_bundled() {
    let target = Target::start().await;
    let env = format!("BASE_URL={}", target.url);
    let args = [
        "-f",
        "tests/fixtures/js/iterations.ts",
        "--headless",
        "--host",
        &target.url,
        "--env",
        &env,
        "--locust-summary",
    ];
    // Built once (or found built), then found in the cache by its hash.
    let first = run_js(&["-f", "tests/fixtures/js/iterations.ts", "--list"]).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    let run = run_js(&args).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        !run.stderr.contains("into a component"),
        "an unchanged script was built again:\n{}",
        run.stderr
    );
    let pages: Vec<String> = target
        .hits()
        .into_iter()
        .map(|hit| hit.path)
        .filter(|path| path.starts_with("/vu/"))
        .collect();
    assert_eq!(pages.len(), 20, "{pages:?}");
    assert_eq!(run.requests("GET", "vu page"), 20, "{}", run.stdout);
    assert_eq!(run.check("served"), Some((20, 0)), "{}", run.stdout);
    assert_eq!(run.aggregated(), (20, 0), "{}", run.stdout);
    // The iteration that threw is a user error whose traceback names the script's line.
    let errors = run.section("User errors").expect("a user error report");
    assert!(
        errors.contains("Error: the first iteration of VU 1 fails")
            && errors.contains("@iterations.ts:21")
            && !errors.contains("bundle.js"),
        "{errors}"
    );
    // Each VU's iterations count from 0.
    let mut by_vu: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for page in &pages {
        let (vu, iteration) = page
            .trim_start_matches("/vu/")
            .split_once("?iter=")
            .expect("/vu/N?iter=I");
        by_vu
            .entry(vu)
            .or_default()
            .push(iteration.parse().expect("ITER"));
    }
    assert!(by_vu.len() <= 3, "{by_vu:?}");
    for (vu, iterations) in &by_vu {
        let expected: Vec<u64> = (0..iterations.len() as u64).collect();
        assert_eq!(iterations, &expected, "VU {vu}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unsupported_k6_modules_and_options_fail_at_load_naming_them() {
    let module = run_js(&[
        "-f",
        "tests/fixtures/js/unsupported-module.js",
        "--headless",
        "-t",
        "1s",
    ])
    .await;
    assert_eq!(module.code, 1, "{}", module.stderr);
    assert_clean(&module);
    assert!(
        module.stderr.contains("unsupported-module.js:2:")
            && module.stderr.contains("\"k6/ws\" is not supported"),
        "{}",
        module.stderr
    );
    let option = run_js(&[
        "-f",
        "tests/fixtures/js/unsupported-option.js",
        "--headless",
        "-t",
        "1s",
    ])
    .await;
    assert_eq!(option.code, 1, "{}", option.stderr);
    assert_clean(&option);
    assert!(
        option
            .stderr
            .contains("the k6 options scenarios, noConnectionReuse are not supported"),
        "{}",
        option.stderr
    );
    // One readable line: no "describe() failed: the guest panicked" around the script's words.
    assert!(
        !option.stderr.contains("panicked") && !option.stderr.contains("describe() failed"),
        "{}",
        option.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_javascript_tools_are_named_with_the_fix() {
    let script = "examples/js/locustfile.js";
    let no_node = locust_with_env(
        &["-f", script, "--headless", "-t", "1s"],
        &[("PATH", "/nonexistent")],
    )
    .await;
    assert_eq!(no_node.code, 1, "{}", no_node.stderr);
    assert_clean(&no_node);
    assert!(
        no_node.stderr.contains("needs Node.js") && no_node.stderr.contains("no `node` on PATH"),
        "{}",
        no_node.stderr
    );
    let empty = tempfile::tempdir().expect("empty folder");
    let node_dir = provision::js_tools().node_dir.display().to_string();
    let no_tools = locust_with_env(
        &["-f", script, "--headless", "-t", "1s"],
        &[
            ("PATH", &node_dir),
            ("LOCUST_JS_TOOLS", empty.path().to_str().expect("utf-8")),
        ],
    )
    .await;
    assert_eq!(no_tools.code, 1, "{}", no_tools.stderr);
    assert!(
        no_tools
            .stderr
            .contains("needs esbuild and componentize-js")
            && no_tools.stderr.contains("npm install"),
        "{}",
        no_tools.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_javascript_user_runs_from_the_web_ui() {
    let target = Target::start().await;
    let env = js_env();
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    let ui = Background::web_ui(
        "examples/js/locustfile.js",
        &target,
        &["--stop-timeout", "5"],
        &env,
    )
    .await;
    let recorded = crate::web::swarm_then_stop(&ui.url, 3).await;
    assert!(recorded > 0);
    assert_eq!(recorded, target.hits().len() as u64);
    let run = ui.stop().await;
    assert_clean(&run);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_k6_script_runs_distributed_with_its_setup_data_on_every_worker() {
    let target = Target::start().await;
    let env = js_env();
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    let base = format!("BASE_URL={}", target.url);
    let (master, port) = crate::distributed::master_of(
        "examples/k6/script.js",
        &target,
        &[
            "--headless",
            "--expect-workers",
            "2",
            "--env",
            &base,
            "--locust-summary",
        ],
        false,
        &env,
    )
    .await;
    // The workers have no script and no Node.js: the master sends the built component.
    let mut workers = Vec::new();
    for _ in 0..2 {
        workers.push(crate::distributed::bare_worker(&port).await);
    }
    let run = master.wait().await;
    let mut logs = String::new();
    for (worker, _cache) in workers {
        let worker = worker.wait().await;
        assert_clean(&worker);
        logs.push_str(&worker.stderr);
    }
    assert_eq!(run.code, 0, "{}\n{}\n{logs}", run.stdout, run.stderr);
    assert_setup_data_in_every_request(&target);
    let served = served(&target);
    assert_eq!(
        run.requests("GET", "/"),
        count(&served, "/"),
        "{}",
        run.stdout
    );
    // Checks and custom metrics recorded on the workers are merged exactly on the master.
    let front = count(&served, "/");
    assert_eq!(
        run.check("::front page::status is 200"),
        Some((front, 0)),
        "{}",
        run.stdout
    );
    let items = count(&served, "/item");
    let viewed = run.metric("items_viewed").expect("the custom counter");
    assert!(viewed.contains(&format!("count={items} ")), "{viewed}");
    assert_eq!(
        run.aggregated().0,
        target.hits().len() as u64,
        "{}",
        run.stdout
    );
    let marks = threshold_marks(&run);
    assert!(
        !marks.is_empty() && marks.iter().all(|(_, passed)| *passed),
        "{marks:?}"
    );
}
