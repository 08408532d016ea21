//! Python locustfiles: the examples of Locust's documentation under examples/python, built
//! with componentize-py (provisioned by the suite) and run by the real binary against a real
//! target, whose own counts the statistics must equal.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use crate::harness::{Background, Run, Target, locust_in, locust_with_env, root};
use crate::provision;

/// PATH with the suite's componentize-py first.
pub(crate) fn path_with_tool() -> String {
    format!(
        "{}:{}",
        provision::componentize_py().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Run the locustfile `file` headless against `target` for `seconds`, with `args` after.
/// Users finish the task in flight when the time is up, so every request the target served
/// is in the statistics.
async fn python(file: &str, target: &Target, seconds: u32, args: &[&str]) -> Run {
    let time = format!("{seconds}s");
    let mut all = vec![
        "-f",
        file,
        "--headless",
        "--host",
        &target.url,
        "-t",
        &time,
        "--stop-timeout",
        "5",
    ];
    all.extend_from_slice(args);
    locust_with_env(&all, &[("PATH", &path_with_tool())]).await
}

#[test]
fn the_python_sdk_passes_its_unit_tests() {
    let bin = provision::componentize_py();
    let bindings = tempfile::tempdir().expect("bindings folder");
    let root = root();
    let generated = std::process::Command::new(bin.join("componentize-py"))
        .arg("--wit-path")
        .arg(root.join("wit"))
        .args(["--world", "shaped-user-component", "bindings"])
        .arg(bindings.path())
        .output()
        .expect("componentize-py runs");
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let sdk = root.join("guest-sdk/python");
    let path = std::env::join_paths([bindings.path(), &sdk, &sdk.join("tests")]).expect("paths");
    let tests = std::process::Command::new(bin.join("python3"))
        .args(["-B", "-m", "unittest", "discover", "-s"])
        .arg(sdk.join("tests"))
        .arg("-t")
        .arg(sdk.join("tests"))
        .env("PYTHONPATH", path)
        .output()
        .expect("python3 runs");
    let report = String::from_utf8_lossy(&tests.stderr);
    assert!(tests.status.success(), "{report}");
    assert!(report.contains("OK"), "{report}");
}

/// Requests the target served, by path, with queries cut off.
pub(crate) fn served(target: &Target) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for hit in target.hits() {
        let path = hit.path.split('?').next().unwrap_or_default().to_owned();
        *counts.entry(path).or_default() += 1;
    }
    counts
}

pub(crate) fn count(counts: &BTreeMap<String, u64>, path: &str) -> u64 {
    counts.get(path).copied().unwrap_or(0)
}

fn assert_ratio(what: &str, numerator: u64, denominator: u64, low: f64, high: f64) {
    assert!(denominator > 0, "{what}: nothing to compare with");
    let ratio = numerator as f64 / denominator as f64;
    assert!(
        (low..=high).contains(&ratio),
        "{what}: {numerator}/{denominator} = {ratio:.2}, expected {low}..{high}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_quick_start_runs_with_its_module_beside_it() {
    let target = Target::start().await;
    let run = python(
        "examples/python/locustfile.py",
        &target,
        3,
        &["-u", "5", "-r", "10"],
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let served = served(&target);
    // on_start logs every user in through common/auth.py; then each runs one task and waits
    // 5-9 s, longer than the run.
    assert_eq!(count(&served, "/login"), 5, "{served:?}");
    assert_eq!(run.requests("POST", "/login"), 5, "{}", run.stdout);
    let logins = target.hits().into_iter().filter(|hit| hit.path == "/login");
    for login in logins {
        assert_eq!(login.body, "username=foo&password=bar");
    }
    let (hello, world, item) = (
        count(&served, "/hello"),
        count(&served, "/world"),
        count(&served, "/item"),
    );
    assert_eq!(hello, world);
    assert_eq!(hello + item, 5, "one task per user: {served:?}");
    assert_eq!(run.requests("GET", "/hello"), hello);
    assert_eq!(run.requests("GET", "/item"), item, "grouped by name=");
    assert!(run.section("User errors").is_none(), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_f_the_locustfile_py_of_the_folder_is_used() {
    let run = locust_in(
        &root().join("examples/python"),
        &["--list"],
        &[("PATH", &path_with_tool())],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("QuickstartUser"), "{}", run.stdout);
    // -f DIR finds the folder's locustfile.py too.
    let run = locust_with_env(
        &["-f", "examples/python", "--list"],
        &[("PATH", &path_with_tool())],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("QuickstartUser"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn task_and_class_weights_give_locusts_shares() {
    let target = Target::start().await;
    let run = python(
        "examples/python/tasks.py",
        &target,
        3,
        &["-u", "5", "-r", "100"],
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("DictUser: 3, DecoratedUser: 1, InheritingUser: 1"),
        "class weights 3:1:1 and the abstract class left out: {}",
        run.stderr
    );
    let served = served(&target);
    for path in ["/my_task", "/another_task", "/task1", "/task2", "/own_task"] {
        assert_eq!(run.requests("GET", path), count(&served, path), "{path}");
    }
    // DictUser: {my_task: 3, another_task: 1}; DecoratedUser: task1 3, task2 6.
    assert_ratio(
        "task2/task1",
        count(&served, "/task2"),
        count(&served, "/task1"),
        1.5,
        2.6,
    );
    assert!(
        count(&served, "/own_task") > 0,
        "inherited and own tasks both run"
    );
    assert!(count(&served, "/another_task") > 0);
    assert!(count(&served, "/my_task") > 3 * count(&served, "/another_task") / 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn task_sets_nest_interrupt_and_run_their_own_start_and_stop() {
    let target = Target::start().await;
    let run = python(
        "examples/python/tasksets.py",
        &target,
        3,
        &["-u", "3", "-r", "100"],
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.section("User errors").is_none(), "{}", run.stdout);
    let served = served(&target);
    let (enter, leave) = (
        count(&served, "/forum/enter"),
        count(&served, "/forum/leave"),
    );
    assert!(
        enter > 3,
        "the forum set is entered again and again: {served:?}"
    );
    assert_eq!(enter, leave, "on_stop runs for every on_start: {served:?}");
    assert!(count(&served, "/forum/thread") > enter, "{served:?}");
    assert!(
        count(&served, "/") > 0,
        "interrupt hands back to the user: {served:?}"
    );
    assert!(
        count(&served, "/account/settings") > 0,
        "a set nested in a set"
    );
    assert!(count(&served, "/account/leave") > 0);
    assert_eq!(
        run.requests("GET", "/forum/thread"),
        target
            .hits()
            .iter()
            .filter(|hit| hit.path == "/forum/thread" && hit.body.is_empty())
            .count() as u64
    );
    assert!(run.requests("POST", "/forum/thread") > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sequential_task_set_keeps_declaration_order() {
    let target = Target::start().await;
    let run = python(
        "examples/python/sequential.py",
        &target,
        2,
        &["-u", "1", "-r", "1"],
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let order = [
        "/first_task",
        "/function_task",
        "/second_task",
        "/third_task",
    ];
    let paths: Vec<String> = target.hits().into_iter().map(|hit| hit.path).collect();
    assert!(paths.len() >= 8, "{paths:?}");
    for (index, path) in paths.iter().enumerate() {
        assert_eq!(path, order[index % 4], "at {index}: {paths:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_and_exclude_tags_pick_tasks() {
    let target = Target::start().await;
    let cases: [(&[&str], &[&str]); 3] = [
        (&["--tags", "tag1"], &["/task1", "/task2"]),
        (&["--tags", "tag2", "tag3"], &["/task2", "/task3"]),
        (&["--exclude-tags", "tag3"], &["/task1", "/task2", "/task4"]),
    ];
    let mut seen = 0;
    for (filter, expected) in cases {
        let mut args = vec!["-u", "2", "-r", "100"];
        args.extend_from_slice(filter);
        let run = python("examples/python/tags.py", &target, 1, &args).await;
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        let hits = target.hits();
        let paths: std::collections::BTreeSet<&str> =
            hits[seen..].iter().map(|hit| hit.path.as_str()).collect();
        seen = hits.len();
        assert_eq!(
            paths.into_iter().collect::<Vec<_>>(),
            expected,
            "{filter:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locust_2_locustfile_runs_its_rest_markov_and_request_name_as_locust_does() {
    let target = Target::start().await;
    let run = python(
        "tests/fixtures/python/locust-2-api.py",
        &target,
        3,
        &["-u", "2", "-r", "100"],
    )
    .await;
    assert_eq!(run.code, 1, "the wrong-n requests fail: {}", run.stderr);
    let served = served(&target);
    // -H reached the user's __init__.
    assert!(count(&served, "/host-ok") > 0, "{served:?}");
    assert_eq!(count(&served, "/host-wrong"), 0, "{served:?}");
    // rest(): a JSON body parsed, an assert a failure with its message, nothing else lost.
    let right = run.summary_row("POST", "/json").expect("the /json row");
    let wrong = run.summary_row("POST", "wrong n").expect("the wrong-n row");
    assert_eq!(
        right[0].parse::<u64>().expect("count") + wrong[0].parse::<u64>().expect("count"),
        count(&served, "/json")
    );
    assert!(right[1].starts_with("0("), "{right:?}");
    assert_eq!(wrong[1].split('(').next(), Some(wrong[0].as_str()));
    assert!(run.stdout.contains("n is not 1"), "{}", run.stdout);
    // request_name: both items under one row.
    let items = count(&served, "/item/1") + count(&served, "/item/2");
    assert_eq!(run.requests("GET", "/item/[id]"), items);
    // The Markov chain (one walker: -u 2 gives one user of each class) starts at a, then
    // follows the declared transitions by their weights (b → c 3 of 4 times, c → a 2 of 3).
    let walk: Vec<String> = target
        .hits()
        .into_iter()
        .map(|hit| hit.path)
        .filter(|path| path.starts_with("/m/"))
        .collect();
    assert_eq!(walk.first().map(String::as_str), Some("/m/a"), "{walk:?}");
    let mut pairs: BTreeMap<(String, String), u64> = BTreeMap::new();
    for step in walk.windows(2) {
        *pairs.entry((step[0].clone(), step[1].clone())).or_default() += 1;
    }
    let allowed: BTreeSet<(String, String)> =
        [("a", "b"), ("b", "a"), ("b", "c"), ("c", "a"), ("c", "b")]
            .iter()
            .map(|(from, to)| (format!("/m/{from}"), format!("/m/{to}")))
            .collect();
    assert!(pairs.keys().all(|pair| allowed.contains(pair)), "{pairs:?}");
    let share = |from: &str, to: &str, other: &str| {
        let to = pairs
            .get(&(format!("/m/{from}"), format!("/m/{to}")))
            .copied()
            .unwrap_or(0);
        let other = pairs
            .get(&(format!("/m/{from}"), format!("/m/{other}")))
            .copied()
            .unwrap_or(0);
        (to, to + other)
    };
    let (b_to_c, from_b) = share("b", "c", "a");
    assert_ratio("b → c", b_to_c, from_b, 0.68, 0.82);
    let (c_to_a, from_c) = share("c", "a", "b");
    assert_ratio("c → a", c_to_a, from_c, 0.58, 0.75);
    assert_eq!(run.aggregated().0, target.hits().len() as u64);
}

#[tokio::test(flavor = "multi_thread")]
async fn catch_response_and_name_grouping_decide_what_is_recorded() {
    let target = Target::start().await;
    let run = python(
        "examples/python/responses.py",
        &target,
        2,
        &["-u", "2", "-r", "100"],
    )
    .await;
    assert_eq!(run.code, 1, "failures make the exit code 1: {}", run.stderr);
    let served = served(&target);
    let root = run.summary_row("GET", "/").expect("GET / row");
    assert_eq!(root[0], count(&served, "/").to_string());
    assert_eq!(
        root[1].split('(').next(),
        Some(root[0].as_str()),
        "all failed"
    );
    assert!(run.stdout.contains("Got wrong response"), "{}", run.stdout);
    let expected = run.summary_row("GET", "/status/404").expect("404 row");
    assert_eq!(expected[0], count(&served, "/status/404").to_string());
    assert!(
        expected[1].starts_with("0("),
        "success() wins over the status"
    );
    let blogs = count(&served, "/blog");
    assert!(blogs >= 10 && blogs.is_multiple_of(10), "{served:?}");
    assert_eq!(run.requests("GET", "/blog?id=[id]"), blogs);
    assert_eq!(run.requests("POST", "/echo"), count(&served, "/echo"));
    let uploads: Vec<_> = target
        .hits()
        .into_iter()
        .filter(|hit| hit.path == "/upload")
        .collect();
    assert!(!uploads.is_empty());
    assert_eq!(run.requests("POST", "/upload"), uploads.len() as u64);
    for upload in &uploads {
        for part in [
            "Content-Disposition: form-data; name=\"title\"\r\n\r\nQ3\r\n",
            "Content-Disposition: form-data; name=\"report\"; filename=\"report.csv\"\r\n\
             Content-Type: text/csv\r\n\r\na,b\r\n1,2\r\n\r\n--",
        ] {
            assert!(upload.body.contains(part), "{part:?} in {:?}", upload.body);
        }
    }
    assert!(
        run.section("User errors").is_none(),
        "the response checks pass: {}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn listeners_options_print_and_logging_reach_the_host() {
    let target = Target::start().await;
    let run = python(
        "examples/python/events.py",
        &target,
        2,
        &[
            "-u",
            "2",
            "-r",
            "100",
            "--my-argument",
            "hello",
            "--pages",
            "3",
        ],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let served = served(&target);
    for line in [
        "A new test is starting",
        "Custom argument supplied: hello",
        "A new test is ending",
    ] {
        assert!(run.stderr.contains(line), "{line:?} in\n{}", run.stderr);
    }
    let pages: u64 = (0..3)
        .map(|page| count(&served, &format!("/page/{page}")))
        .sum();
    assert_eq!(count(&served, "/page/3"), 0, "--pages 3 reached the users");
    let failures = count(&served, "/status/500");
    assert!(pages > 0 && failures > 0, "{served:?}");
    let expected = format!("listener saw {pages} successes and {failures} failures");
    let quitting = format!("quitting after {} requests", pages + failures);
    assert!(
        run.stderr.contains(&quitting),
        "{quitting:?} in\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&expected),
        "{expected:?} in\n{}",
        run.stderr
    );

    let help = locust_with_env(
        &["-f", "examples/python/events.py", "--help"],
        &[("PATH", &path_with_tool())],
    )
    .await;
    assert_eq!(help.code, 0, "{}", help.stderr);
    assert!(help.stdout.contains("--my-argument") && help.stdout.contains("It's working"));
    assert!(help.stdout.contains("Pages per task"), "{}", help.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_wait_time_constant_pacing_and_sleep_in_a_task() {
    let target = Target::start().await;
    let run = python(
        "examples/python/waits.py",
        &target,
        7,
        &["-u", "2", "-r", "100", "GrowingWaitUser", "PacedUser"],
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let times = |path: &str| -> Vec<f64> {
        target
            .hits()
            .iter()
            .filter(|hit| hit.path == path)
            .map(|hit| hit.at.as_secs_f64())
            .collect()
    };
    let growing = times("/growing");
    let gaps: Vec<f64> = growing.windows(2).map(|pair| pair[1] - pair[0]).collect();
    assert_eq!(gaps.len(), 3, "tasks at 0, 1, 3 and 6 s: {growing:?}");
    for (gap, expected) in gaps.iter().zip([1.0, 2.0, 3.0]) {
        assert!((gap - expected).abs() < 0.4, "waits 1, 2, 3 s: {gaps:?}");
    }
    let paced = times("/paced");
    assert!(paced.len() >= 5, "{paced:?}");
    // As in Locust, the first wait is the whole pacing; from then on a task starts each second.
    for pair in paced[1..].windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            (gap - 1.0).abs() < 0.3,
            "one task a second, sleep included: {paced:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_python_locustfile_runs_from_the_web_ui() {
    let target = Target::start().await;
    // Stopping lets the task in flight finish, so all the target served is recorded.
    let ui = Background::web_ui(
        "examples/python/tasks.py",
        &target,
        &["--stop-timeout", "5"],
        &[("PATH", &path_with_tool())],
    )
    .await;
    let recorded = crate::web::swarm_then_stop(&ui.url, 3).await;
    let served = served(&target);
    assert!(recorded > 0);
    assert_eq!(recorded, served.values().sum::<u64>());
    let run = ui.stop().await;
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_runs_the_python_component_the_master_sends() {
    let target = Target::start().await;
    let tool_path = path_with_tool();
    let (master, port) = crate::distributed::master_of(
        "examples/python/tasks.py",
        &target,
        &[
            "--headless",
            "--expect-workers",
            "1",
            "-u",
            "4",
            "-r",
            "100",
            "-t",
            "3s",
            "--stop-timeout",
            "5",
        ],
        false,
        &[("PATH", &tool_path)],
    )
    .await;
    // The worker has no locustfile and no componentize-py: it gets the built component.
    let (worker, _cache) = crate::distributed::bare_worker(&port).await;
    let run = master.wait().await;
    let worker = worker.wait().await;
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, worker.stderr);
    let served = served(&target);
    for path in ["/my_task", "/task1", "/task2"] {
        assert_eq!(
            run.requests("GET", path),
            count(&served, path),
            "{path}: {}",
            run.stdout
        );
    }
    assert!(count(&served, "/my_task") > 0);
}

/// Let a worker with its own (empty) cache reuse the suite's compiled code, so it does not
/// compile CPython again; the component itself still has to come from the master.
pub(crate) fn share_compiled_code(cache: &Path) {
    let shared = root().join("target/test-cache/locust");
    let own = cache.join("locust");
    std::fs::create_dir_all(&own).expect("cache folder");
    for folder in ["compiled", "functions"] {
        std::fs::create_dir_all(shared.join(folder)).expect("shared folder");
        std::os::unix::fs::symlink(shared.join(folder), own.join(folder)).expect("symlink");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_errors_are_reported_and_the_users_go_on() {
    let target = Target::start().await;
    let file = "tests/fixtures/python/misbehaving.py";
    let run = python(
        file,
        &target,
        2,
        &[
            "-u", "4", "-r", "100", "Raising", "Printing", "Stopping", "BadWait",
        ],
    )
    .await;
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let errors = run.section("User errors").expect("user errors").to_owned();
    assert!(
        errors.contains("ZeroDivisionError: division by zero"),
        "{errors}"
    );
    let source = std::fs::read_to_string(root().join(file)).expect("the fixture");
    let line = 1 + source
        .lines()
        .position(|line| line.trim() == "return 1 / 0")
        .expect("the failing line");
    assert!(
        errors.contains(&format!("misbehaving.py\", line {line}, in divide"))
            && errors.contains("return 1 / 0"),
        "the traceback names the locustfile's line {line} and shows it: {errors}"
    );
    assert!(
        !errors.contains("_runtime.py"),
        "SDK frames are left out: {errors}"
    );
    assert!(errors.contains("wait_time returned"), "{errors}");
    let served = served(&target);
    assert!(
        count(&served, "/raising") > 1,
        "the user went on after the error"
    );
    assert!(run.stderr.contains("printed by Printing"), "{}", run.stderr);
    assert!(
        run.stderr.contains("checkout: logged at warning"),
        "logging goes to the host's log: {}",
        run.stderr
    );
    assert_eq!(
        count(&served, "/stopping"),
        1,
        "StopUser stops the user: {served:?}"
    );
    assert_eq!(
        count(&served, "/stopped"),
        1,
        "on_stop still runs: {served:?}"
    );
    assert!(count(&served, "/badwait") >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_custom_client_records_its_calls_through_the_events() {
    let target = Target::start().await;
    let run = python(
        "tests/fixtures/python/misbehaving.py",
        &target,
        2,
        &["-u", "2", "-r", "10", "CustomClient"],
    )
    .await;
    assert_eq!(run.code, 1, "failures give exit code 1: {}", run.stderr);
    let ping = run.summary_row("custom", "ping").expect("custom ping row");
    let fail = run.summary_row("custom", "fail").expect("custom fail row");
    assert!(ping[0].parse::<u64>().expect("count") > 5, "{}", run.stdout);
    assert_eq!(ping[0], fail[0], "one of each per task");
    assert!(ping[1].starts_with("0("), "successes: {ping:?}");
    assert!(
        fail[1].starts_with(&format!("{}(", fail[0])),
        "all failed: {fail:?}"
    );
    // The reported response time is the guest's own measure of its 10 ms sleep.
    let median: f64 = ping[5].parse().expect("median");
    assert!((10.0..100.0).contains(&median), "{ping:?}");
    assert!(run.stdout.contains("custom fail: no"), "{}", run.stdout);
    assert!(target.hits().is_empty(), "no HTTP at all");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_documentations_xml_rpc_user_runs_over_python_sockets() {
    let server = crate::xmlrpc::XmlRpcServer::start();
    // No --host and no --allow-host: the class's own host is granted.
    let args = [
        "-f",
        "examples/python/xmlrpc_user.py",
        "--headless",
        "-u",
        "3",
        "-r",
        "10",
        "-t",
        "4s",
        // The server answers one call at a time, each after up to a second.
        "--stop-timeout",
        "10",
    ];
    let env = [("PATH", path_with_tool())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = locust_with_env(&args, &env).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let recorded = run.requests("xmlrpc", "get_time") + run.requests("xmlrpc", "get_random_number");
    assert!(recorded > 0, "{}", run.stdout);
    assert_eq!(recorded, server.calls(), "{}", run.stdout);
    assert!(run.section("Error report").is_none(), "{}", run.stdout);

    // A Fault is a failure, recorded under the method's name.
    let before = server.calls();
    let python_path = root().join("examples/python");
    let mut env = env.clone();
    env.push(("PYTHONPATH", python_path.to_str().expect("utf-8 path")));
    let faulty = [
        "-f",
        "tests/fixtures/python/xmlrpc_faults.py",
        "--headless",
        "-u",
        "1",
        "-t",
        "2s",
        // The call in flight at the time limit finishes and is recorded, as the server saw it.
        "--stop-timeout",
        "5",
    ];
    let run = locust_with_env(&faulty, &env).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let row = run.summary_row("xmlrpc", "no_such_method").expect("a row");
    let calls = server.calls() - before;
    assert!(calls > 0);
    assert_eq!(row[0], calls.to_string(), "{row:?}");
    assert!(
        row[1].starts_with(&format!("{calls}(")),
        "all failed: {row:?}"
    );
    let report = run.section("Error report").expect("an error report");
    assert!(report.contains("no_such_method"), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_refuses_threads_greenlets_sockets_and_files() {
    let target = Target::start().await;
    let run = python(
        "tests/fixtures/python/misbehaving.py",
        &target,
        1,
        &["-u", "1", "-r", "1", "Forbidden"],
    )
    .await;
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    for attempt in ["thread", "greenlet", "socket", "lookup", "udp", "file"] {
        assert!(
            run.stdout.contains(&format!("refused {attempt}: ")),
            "{attempt} is refused: {}",
            run.stdout
        );
        assert_eq!(count(&served(&target), &format!("/allowed/{attempt}")), 0);
    }
    assert!(run.stdout.contains("SystemExit: 3"), "{}", run.stdout);
    // Each refusal is logged once, naming the option that grants.
    for refused in [
        "a guest's connection to 127.0.0.1:9 was refused: 127.0.0.1:9 is not a host this test may reach; grant it with --allow-host 127.0.0.1:9",
        "a guest looked up example.org, which is not a host this test may reach; grant it with --allow-host example.org",
    ] {
        assert!(run.stderr.contains(refused), "{refused}: {}", run.stderr);
    }
    // A socket to the granted target works.
    let hits = served(&target);
    assert!(count(&hits, "/raw/socket") > 0, "{hits:?}");
    assert_eq!(
        count(&hits, "/raw/reply/200"),
        count(&hits, "/raw/socket"),
        "{hits:?}"
    );

    let looping = python(
        "tests/fixtures/python/misbehaving.py",
        &target,
        2,
        &["-u", "1", "-r", "1", "Looping", "--guest-fuel", "100000000"],
    )
    .await;
    assert!(
        looping
            .stdout
            .contains("instructions in one call and was stopped"),
        "{}",
        looping.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_locustfile_gets_one_clear_error() {
    let folder = tempfile::tempdir().expect("folder");
    let write = |name: &str, text: &str| {
        let path = folder.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.to_str().expect("utf-8").to_owned()
    };
    let tool = path_with_tool();
    let env = [("PATH", tool.as_str())];
    let broken = write(
        "broken.py",
        "from locust import HttpUser\nclass A(HttpUser:\n    pass\n",
    );
    let run = locust_with_env(&["-f", &broken, "--headless", "-t", "1s"], &env).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("could not be built into a component")
            && run.stderr.contains("SyntaxError")
            && run.stderr.contains("line 2"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);

    let empty = write("empty.py", "import locust\n");
    let run = locust_with_env(&["-f", &empty, "--list"], &env).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("defines no user class"),
        "{}",
        run.stderr
    );

    let named = write("gevent.py", "import locust\n");
    let run = locust_with_env(&["-f", &named, "--list"], &env).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("would hide it; rename it"),
        "{}",
        run.stderr
    );

    // No componentize-py anywhere: the line says how to install the pinned release.
    let run = locust_with_env(
        &["-f", "examples/python/locustfile.py", "--list"],
        &[
            ("PATH", "/nonexistent"),
            ("XDG_CACHE_HOME", folder.path().to_str().expect("utf-8")),
        ],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("python3 -m pip install componentize-py==0.25.1"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.trim().lines().count(),
        1,
        "one line: {}",
        run.stderr
    );
}

/// Users of the target's requests to `path` (by their `x-user` tag), and when the first and
/// the last of those requests arrived.
fn users_of(target: &Target, path: &str) -> (BTreeSet<u64>, Duration, Duration) {
    let hits: Vec<_> = target
        .hits()
        .into_iter()
        .filter(|hit| hit.path == path)
        .collect();
    let users = hits.iter().filter_map(|hit| hit.user).collect();
    let first = hits.iter().map(|hit| hit.at).min().unwrap_or_default();
    let last = hits.iter().map(|hit| hit.at).max().unwrap_or_default();
    (users, first, last)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_load_shape_drives_the_users_phase_by_phase_and_ends_the_test() {
    let target = Target::start().await;
    // -u, -r and -t are the shape's to decide: ignored with a warning, as Locust does.
    let run = python(
        "tests/fixtures/python/shaped.py",
        &target,
        600,
        &["-u", "50", "-r", "1"],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("will be ignored: --run-time, --users, --spawn-rate"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Shape test starting (ThreePhases)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Shape test stopping"), "{}", run.stderr);
    // Phase 1: two browsers. Phase 2: four buyers (the browsers stop). Phase 3: one of each
    // (the oldest buyer stays, one browser is new).
    let (browsers, _, last_browse) = users_of(&target, "/browse");
    let (buyers, first_buy, _) = users_of(&target, "/buy");
    assert_eq!(browsers.len(), 3, "{browsers:?}");
    assert_eq!(buyers.len(), 4, "{buyers:?}");
    let phase_two_browses = target
        .hits()
        .iter()
        .filter(|hit| hit.path == "/browse")
        .filter(|hit| hit.at > first_buy + Duration::from_secs(1))
        .filter(|hit| hit.at < first_buy + Duration::from_millis(1500))
        .count();
    assert_eq!(
        phase_two_browses, 0,
        "browsers ran on into the buying phase"
    );
    assert!(last_browse > first_buy, "no browser in the last phase");
    // The statistics are the target's count.
    let served = served(&target);
    assert_eq!(run.requests("GET", "/browse"), count(&served, "/browse"));
    assert_eq!(run.requests("GET", "/buy"), count(&served, "/buy"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_load_shape_on_the_master_drives_the_workers() {
    let target = Target::start().await;
    let tool_path = path_with_tool();
    let (master, port) = crate::distributed::master_of(
        "tests/fixtures/python/shaped.py",
        &target,
        &["--headless", "--expect-workers", "2", "--stop-timeout", "5"],
        false,
        &[("PATH", &tool_path)],
    )
    .await;
    let mut workers = Vec::new();
    for _ in 0..2 {
        workers.push(crate::distributed::bare_worker(&port).await);
    }
    let run = master.wait().await;
    let mut logs = String::new();
    for (worker, _cache) in workers {
        logs.push_str(&worker.wait().await.stderr);
    }
    assert_eq!(run.code, 0, "{}\n{logs}", run.stderr);
    assert!(run.stderr.contains("Shape test stopping"), "{}", run.stderr);
    // The same phases as in one process, the users split over the workers.
    let (browsers, _, _) = users_of(&target, "/browse");
    let (buyers, _, _) = users_of(&target, "/buy");
    assert_eq!((browsers.len(), buyers.len()), (3, 4), "{logs}");
    let served = served(&target);
    assert_eq!(run.requests("GET", "/browse"), count(&served, "/browse"));
    assert_eq!(run.requests("GET", "/buy"), count(&served, "/buy"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_load_shape_decides_the_users_of_a_test_started_from_the_web_ui() {
    let target = Target::start().await;
    let ui = Background::web_ui(
        "tests/fixtures/python/shaped.py",
        &target,
        &["--stop-timeout", "5"],
        &[("PATH", &path_with_tool())],
    )
    .await;
    let client = crate::client::Client::new();
    let page = client
        .get(&ui.url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains(r#"data-shape="ThreePhases""#), "{page}");
    // The form gives no users: the shape decides.
    let swarm = format!("{}/swarm", ui.url);
    let started = client
        .post(&swarm)
        .form(&[("host", target.url.as_str())])
        .send()
        .await
        .expect("swarm");
    assert_eq!(started.status(), 200);
    // A running shape test is not edited.
    let edit = client
        .post(&swarm)
        .form(&[("user_count", "10"), ("hatch_rate", "1")])
        .send()
        .await
        .expect("edit");
    let refusal = edit.text().await.expect("answer");
    assert!(
        refusal.contains("load shape ThreePhases decides"),
        "{refusal}"
    );
    // The shape ends the test after its phases; the web UI stays up with the results.
    crate::web::poll_until(&client, &ui.url, |report| report["state"] == "stopped").await;
    let (browsers, _, _) = users_of(&target, "/browse");
    let (buyers, _, _) = users_of(&target, "/buy");
    assert_eq!((browsers.len(), buyers.len()), (3, 4));
    let run = ui.stop().await;
    assert!(run.stderr.contains("Shape test stopping"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_runner_api_quits_a_run_on_its_failure_ratio() {
    let target = Target::start().await;
    // Without -t the run would go on for ever: the locustfile ends it.
    let run = locust_with_env(
        &[
            "-f",
            "tests/fixtures/python/quit_on_failures.py",
            "--headless",
            "--host",
            &target.url,
            "-u",
            "1",
        ],
        &[("PATH", &path_with_tool())],
    )
    .await;
    // Guest output goes to the log. test_start fires before the first user spawns, as in
    // Locust.
    assert!(
        run.stderr.contains("runner: local, state ready"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("quitting"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("runner.quit() called by a Failing user"),
        "{}",
        run.stderr
    );
    // The failures decide the exit code, as in Locust.
    assert_eq!(run.code, 1, "{}", run.stderr);
    let served = served(&target);
    let failed = count(&served, "/status/500");
    assert!(failed >= 10, "{served:?}");
    assert_eq!(run.requests("GET", "/status/500"), failed);
    assert_eq!(run.requests("GET", "/fine"), count(&served, "/fine"));
}
