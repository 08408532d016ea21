//! The host's HTTP client as users see it: cookies per user, `name` grouping,
//! `catch_response`, and status 0 for a refused connection.

use std::collections::{BTreeMap, BTreeSet};

use crate::harness::{Target, run_fixture};

#[tokio::test(flavor = "multi_thread")]
async fn each_user_keeps_its_own_cookies() {
    let target = Target::start().await;
    let run = run_fixture(&target, &["Cookies", "-u", "3", "-r", "10", "-t", "2s"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut cookie_of: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for hit in target.hits().iter().filter(|hit| hit.path == "/c/check") {
        let user = hit.user.expect("x-user header");
        let cookie = hit.cookie.clone().expect("the login cookie is sent back");
        cookie_of.entry(user).or_default().insert(cookie);
    }
    assert_eq!(cookie_of.len(), 3, "{cookie_of:?}");
    for (user, cookies) in &cookie_of {
        assert_eq!(
            cookies.len(),
            1,
            "user {user} sent several sessions: {cookies:?}"
        );
    }
    let distinct: BTreeSet<_> = cookie_of.values().flatten().collect();
    assert_eq!(
        distinct.len(),
        3,
        "users shared a cookie jar: {cookie_of:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn names_group_urls_in_the_statistics() {
    let target = Target::start().await;
    let run = run_fixture(
        &target,
        &[
            "Named",
            "-u",
            "1",
            "-r",
            "1",
            "-t",
            "2s",
            "--stop-timeout",
            "5",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let served = target
        .hits()
        .iter()
        .filter(|hit| hit.path.starts_with("/item?id="))
        .count();
    assert!(served >= 3);
    assert!(
        target.count("/item?id=2") > 0,
        "the query reached the server"
    );
    assert_eq!(run.requests("GET", "/item"), served as u64);
    assert!(!run.stdout.contains("/item?id="), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn catch_response_lets_the_task_decide() {
    let target = Target::start().await;
    let run = run_fixture(
        &target,
        &[
            "Catch",
            "-u",
            "1",
            "-r",
            "1",
            "-t",
            "2s",
            "--stop-timeout",
            "5",
        ],
    )
    .await;
    assert_eq!(run.code, 1, "failures make the exit code 1\n{}", run.stderr);
    let report = run.section("Error report").expect("an error report");
    assert!(
        report.contains("GET /status/200: custom failure"),
        "{report}"
    );
    assert!(
        report.contains("GET /status/404: 404 Client Error: Not Found for url: /status/404"),
        "{report}"
    );
    assert!(
        !report.contains("/status/500"),
        "a 500 marked success is not a failure: {report}"
    );
    let row = run.summary_row("GET", "/status/500").expect("500 row");
    assert!(
        row[1].starts_with("0("),
        "no failures for /status/500: {row:?}"
    );
    let requests = run.requests("GET", "/status/200");
    assert_eq!(requests, target.count("/status/200") as u64);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_is_a_failure_with_status_zero() {
    let target = Target::start().await;
    // Granted, so the request is made and the connection refused by the closed port.
    let run = run_fixture(
        &target,
        &[
            "Refused",
            "--allow-host",
            "127.0.0.1:1",
            "-u",
            "1",
            "-r",
            "1",
            "-t",
            "2s",
        ],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    // The guest checked status 0 itself: had it not, a user error would be reported.
    assert!(!run.stdout.contains("expected status 0"), "{}", run.stdout);
    assert!(
        target.count("/r/after") > 0,
        "the task went on after the failure"
    );
    let report = run.section("Error report").expect("an error report");
    assert!(
        report.contains("GET /refused: could not connect to 127.0.0.1:1"),
        "{report}"
    );
    // A task stopped at the end may have made its first request but not its second.
    let (refused, after) = (
        run.requests("GET", "/refused"),
        target.count("/r/after") as u64,
    );
    assert!(
        refused == after || refused == after + 1,
        "{refused} refused, {after} after"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_gzip_basic_auth_timeouts_and_json() {
    let target = Target::start().await;
    let run = run_fixture(&target, &["Http", "-u", "1", "-r", "1", "-t", "2s"]).await;
    // The task fails itself (a user error) if any feature misbehaves.
    assert!(!run.stdout.contains("User errors"), "{}", run.stdout);
    assert!(target.count("/r/landed") >= 1);
    assert!(target.count("/echo") >= 1, "the task ran to its end");
    // Only the deliberate timeouts failed.
    let report = run
        .section("Error report")
        .expect("the timeouts are failures");
    assert!(
        report.contains("GET /slow: timed out after 0.200s"),
        "{report}"
    );
    assert_eq!(
        report.lines().filter(|line| line.contains(": ")).count(),
        1,
        "{report}"
    );
    assert_eq!(run.code, 1);
}
