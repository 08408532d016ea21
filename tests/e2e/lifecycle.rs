//! A user's life and a test's: on_start/on_stop, test hooks, user errors, runaway guests,
//! wait policies, --run-time and --stop-timeout.

use std::time::Duration;

use crate::harness::{Target, run_fixture};

#[tokio::test(flavor = "multi_thread")]
async fn on_start_and_on_stop_run_once_per_user() {
    let target = Target::start().await;
    let run = run_fixture(
        &target,
        &[
            "Lifecycle",
            "-u",
            "3",
            "-r",
            "10",
            "-t",
            "2s",
            "--stop-timeout",
            "3",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(target.count("/l/start"), 3);
    assert_eq!(target.count("/l/stop"), 3);
    for (user, paths) in target.paths_by_user() {
        assert_eq!(
            paths.first().map(String::as_str),
            Some("/l/start"),
            "user {user}"
        );
        assert_eq!(
            paths.last().map(String::as_str),
            Some("/l/stop"),
            "user {user}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn init_test_start_test_stop_quitting_and_request_hooks() {
    let target = Target::start().await;
    let run = run_fixture(&target, &["Lifecycle", "-u", "4", "-r", "10", "-t", "2s"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(target.count("/h/init"), 1);
    assert_eq!(target.count("/h/test-start"), 1);
    assert_eq!(target.count("/h/test-stop"), 1);
    // The guest's request listener saw every user request.
    let user_requests = target.user_requests();
    let seen = target
        .hits()
        .iter()
        .find_map(|hit| hit.seen)
        .expect("x-seen");
    assert_eq!(seen, user_requests);
    let hits = target.hits();
    let position = |path: &str| hits.iter().position(|hit| hit.path == path).expect(path);
    assert!(position("/h/init") < position("/h/test-start"));
    assert!(position("/h/test-start") < position("/l/task"));
    assert_eq!(
        position("/h/test-stop"),
        hits.len() - 2,
        "test_stop runs after the users stop"
    );
    assert_eq!(target.count("/h/quitting"), 1);
    assert_eq!(
        position("/h/quitting"),
        hits.len() - 1,
        "quitting comes last, once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_task_is_a_user_error_and_the_user_goes_on() {
    let target = Target::start().await;
    let run = run_fixture(&target, &["Failing", "-u", "1", "-r", "1", "-t", "2s"]).await;
    assert_eq!(
        run.code, 1,
        "user errors make the exit code 1\n{}",
        run.stderr
    );
    let before = target.count("/e/before");
    assert!(before >= 3, "the user kept running: {before} tasks");
    let report = run.section("User errors").expect("a user error report");
    let line = report
        .lines()
        .find(|line| line.contains("boom"))
        .expect("boom is reported");
    let count: usize = line
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert!(
        count == before || count + 1 == before,
        "{count} errors for {before} tasks"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_loop_is_stopped_and_reported() {
    let target = Target::start().await;
    let run = run_fixture(
        &target,
        &[
            "Looping",
            "-u",
            "1",
            "-r",
            "1",
            "-t",
            "4s",
            "--guest-fuel",
            "50000000",
        ],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        target.count("/loop/enter") >= 2,
        "the user was restarted after its loop was stopped"
    );
    assert!(run.stdout.contains("endless loop"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_hoarding_responses_is_stopped_and_restarted() {
    let target = Target::start().await;
    let run = run_fixture(&target, &["Hoarding", "-u", "1", "-r", "1", "-t", "4s"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.section("User errors").expect("a user error report");
    assert!(
        report.contains("holds 1000 responses it never dropped"),
        "{report}"
    );
    assert!(
        target.count("/hoard") > 1000,
        "the user was restarted in a fresh instance and went on"
    );
}

fn gaps(target: &Target, path: &str) -> Vec<f64> {
    let times: Vec<Duration> = target
        .hits()
        .iter()
        .filter(|hit| hit.path == path)
        .map(|hit| hit.at)
        .collect();
    times
        .windows(2)
        .map(|pair| (pair[1] - pair[0]).as_secs_f64())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_policies_space_the_tasks() {
    let target = Target::start().await;
    let run = run_fixture(
        &target,
        &[
            "Pacing", "Between", "Custom", "-u", "3", "-r", "10", "-t", "4s",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Generous bounds: only the policy, not the machine's speed, is under test.
    let pacing = gaps(&target, "/p/tick");
    assert!(pacing.len() >= 4, "{pacing:?}");
    assert!(
        pacing.iter().all(|gap| (0.4..0.75).contains(gap)),
        "constant_pacing(0.5): {pacing:?}"
    );
    let between = gaps(&target, "/b/tick");
    assert!(between.len() >= 4, "{between:?}");
    assert!(
        between.iter().all(|gap| (0.28..0.85).contains(gap)),
        "between(0.3, 0.6): {between:?}"
    );
    let custom = gaps(&target, "/custom/tick");
    assert!(custom.len() >= 4, "{custom:?}");
    assert!(
        custom.iter().all(|gap| (0.38..0.65).contains(gap)),
        "custom 0.4: {custom:?}"
    );
    // The guest's wait function really ran (it counts its calls).
    let waits: Vec<u32> = target.hits().iter().filter_map(|hit| hit.waits).collect();
    assert_eq!(waits.iter().take(3).copied().collect::<Vec<_>>(), [0, 1, 2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn run_time_ends_the_test() {
    let tables = |stdout: &str| {
        stdout
            .lines()
            .filter(|line| line.starts_with(" Name "))
            .count()
    };
    let target = Target::start().await;
    let run = run_fixture(&target, &["Lifecycle", "-u", "2", "-r", "10", "-t", "3s"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("Time limit reached"), "{}", run.stderr);
    assert!(
        tables(&run.stdout) >= 2,
        "a table every 2 s, then the summary"
    );
    let tasks: Vec<Duration> = target
        .hits()
        .iter()
        .filter(|hit| hit.path == "/l/task")
        .map(|hit| hit.at)
        .collect();
    let span = *tasks.last().expect("tasks ran") - tasks[0];
    assert!(
        span < Duration::from_secs(5),
        "tasks ran for {span:?} with -t 3s"
    );

    let target = Target::start().await;
    let run = run_fixture(
        &target,
        &[
            "Lifecycle",
            "-u",
            "2",
            "-r",
            "10",
            "-t",
            "2s",
            "--only-summary",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(tables(&run.stdout), 1, "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_timeout_lets_running_tasks_finish() {
    // Each task waits 2 s for /slow; the test stops after 1 s.
    let target = Target::start().await;
    let run = run_fixture(
        &target,
        &[
            "Slow",
            "-u",
            "2",
            "-r",
            "10",
            "-t",
            "1s",
            "--stop-timeout",
            "5",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(target.count("/slow/done"), 2, "both tasks finished");
    assert_eq!(target.count("/slow/stop"), 2, "then on_stop ran");

    let target = Target::start().await;
    let run = run_fixture(&target, &["Slow", "-u", "2", "-r", "10", "-t", "1s"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(target.count("/slow"), 2);
    assert_eq!(
        target.count("/slow/done"),
        0,
        "without a stop timeout, running tasks are dropped"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hatch_rate_paces_spawning() {
    let target = Target::start().await;
    let run = run_fixture(&target, &["Lifecycle", "-u", "4", "-r", "2", "-t", "3s"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let starts: Vec<Duration> = target
        .hits()
        .iter()
        .filter(|hit| hit.path == "/l/start")
        .map(|hit| hit.at)
        .collect();
    assert_eq!(starts.len(), 4);
    for pair in starts.windows(2) {
        let gap = (pair[1] - pair[0]).as_secs_f64();
        assert!(
            (0.3..0.8).contains(&gap),
            "users 0.5 s apart at -r 2: {starts:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_over_its_memory_limit_is_stopped_and_reported() {
    let target = Target::start().await;
    let run = run_fixture(
        &target,
        &[
            "Hungry",
            "-u",
            "1",
            "-r",
            "1",
            "-t",
            "3s",
            "--user-memory",
            "16",
            "--exit-code-on-error",
            "3",
        ],
    )
    .await;
    assert_eq!(
        run.code, 3,
        "--exit-code-on-error sets the code\n{}",
        run.stderr
    );
    assert!(
        target.count("/m/before") >= 2,
        "the user restarted after the trap"
    );
    assert_eq!(
        target
            .hits()
            .iter()
            .filter(|hit| hit.path.starts_with("/m/after"))
            .count(),
        0
    );
    let report = run.section("User errors").expect("a user error report");
    assert!(
        report.contains("the guest needed more than its 16 MiB of memory and was stopped"),
        "{report}"
    );

    // With enough memory the same task succeeds.
    let target = Target::start().await;
    let run = run_fixture(&target, &["Hungry", "-u", "1", "-r", "1", "-t", "1s"]).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(target.count("/m/after/33554432") >= 1);
}
