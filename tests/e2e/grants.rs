//! The sandbox's network: guests reach the run's host, the classes' hosts and what
//! `--allow-host` grants, nothing else; a refusal is a recorded failure naming the option.

use crate::distributed::{master, worker};
use crate::harness::{Target, fixture, locust_in, locust_with_env, run_fixture};

/// The refusal a request to `authority` gets.
fn refusal(authority: &str) -> String {
    format!("{authority} is not a host this test may reach; grant it with --allow-host {authority}")
}

fn authority(url: &str) -> &str {
    url.trim_start_matches("http://")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_to_an_ungranted_host_is_a_failure_naming_allow_host() {
    let target = Target::start().await;
    let run = run_fixture(&target, &["Refused", "-u", "1", "-r", "1", "-t", "2s"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let report = run.section("Error report").expect("an error report");
    assert!(
        report.contains(&format!("GET /refused: {}", refusal("127.0.0.1:1"))),
        "{report}"
    );
    // The guest saw status 0 with an error, and went on.
    assert!(!run.stdout.contains("expected status 0"), "{}", run.stdout);
    assert!(target.count("/r/after") > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_to_ungranted_hosts_are_refused_and_allow_host_grants_them() {
    let (target, other) = (Target::start().await, Target::start().await);
    target.redirect_away_to(&other.url);
    let away = authority(&other.url);
    let run = run_fixture(&target, &["Away", "-u", "1", "-r", "1", "-t", "2s"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.section("Error report").expect("an error report");
    assert!(
        report.contains(&format!("GET /away: {}", refusal(away))),
        "{report}"
    );
    assert!(target.count("/away") > 0 && target.count("/r/after-away") > 0);
    assert_eq!(
        other.count("/landed-away"),
        0,
        "nothing reached the other host"
    );

    // Granted on the command line, in the environment (comma-separated) and in a config file.
    let file = fixture().to_str().expect("utf-8 path").to_owned();
    let base = [
        "-f",
        file.as_str(),
        "--headless",
        "--host",
        target.url.as_str(),
        "Away",
        "-u",
        "1",
        "-r",
        "1",
        "-t",
        "2s",
    ];
    let mut landed = 0;
    let mut check = |run: crate::harness::Run, how: &str| {
        assert_eq!(run.code, 0, "granted {how}: {}{}", run.stdout, run.stderr);
        let now = other.count("/landed-away");
        assert!(now > landed, "granted {how}: the redirect was followed");
        landed = now;
    };
    let mut cli = base.to_vec();
    cli.extend(["--allow-host", away]);
    check(crate::harness::locust(&cli).await, "with --allow-host");
    let listed = format!("example.com,{away}");
    check(
        locust_with_env(&base, &[("LOCUST_ALLOW_HOST", &listed)]).await,
        "with LOCUST_ALLOW_HOST",
    );
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("locust.conf"),
        format!("allow-host = example.com {away}\n"),
    )
    .expect("config");
    check(locust_in(dir.path(), &base, &[]).await, "in locust.conf");
    assert_eq!(
        other.count("/landed-away"),
        other.hits().len(),
        "only redirected requests reached the other host"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_allow_host_is_one_clear_error() {
    let run = crate::harness::locust(&["--allow-host", "host:http", "--list"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("\"host:http\" is not a host")
            && run.stderr.contains("port `http` is not a number"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_enforce_the_masters_grants_not_their_own() {
    let (target, other) = (Target::start().await, Target::start().await);
    target.redirect_away_to(&other.url);
    let away = authority(&other.url);
    let cache = tempfile::tempdir().expect("cache");
    let args = [
        "--headless",
        "--expect-workers",
        "1",
        "-u",
        "1",
        "-r",
        "10",
        "-t",
        "2s",
        // The request in flight at the time limit finishes and is reported, as the target saw it.
        "--stop-timeout",
        "5",
        "Away",
    ];
    // A worker's own --allow-host grants nothing: the master's grants rule.
    let (refusing, port) = master(&target, &args, false).await;
    let (worker_run, _) = worker(&port, cache.path(), &["--allow-host", away]).await;
    let run = refusing.wait().await;
    let _ = worker_run.wait().await;
    assert!(
        run.stdout.contains(&refusal(away)),
        "{}{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(other.count("/landed-away"), 0);
    let before = target.count("/away") as u64;

    let mut granted_args = args.to_vec();
    granted_args.extend(["--allow-host", away]);
    let (granting, port) = master(&target, &granted_args, false).await;
    let (worker_run, _) = worker(&port, cache.path(), &[]).await;
    let run = granting.wait().await;
    let _ = worker_run.wait().await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let landed = other.count("/landed-away") as u64;
    assert!(landed > 0);
    assert_eq!(
        run.requests("GET", "/away"),
        target.count("/away") as u64 - before
    );
}
