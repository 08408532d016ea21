//! Hostile targets and inputs: whatever a target sends or a person types, the load generator
//! survives with bounded memory, says what happened in one line, and keeps the other users
//! going.

use std::time::Duration;

use crate::client::Client;
use crate::harness::{Background, Target, fixture, run_fixture, run_fixture_peak_rss};

/// Peak resident memory a run under attack may reach, MiB. A debug `locust` running a handful
/// of users stays near 100 MiB; the attacks below reach gigabytes when nothing bounds them.
const BOUNDED_RSS_MIB: u64 = 400;

/// Run 2 `Fetching` users requesting `path` of `target` beside 2 well-behaved `Light` users,
/// with responses limited to 8 MiB; returns the run and its peak RSS (MiB).
async fn attacked_by(target: &Target, path: &str) -> (crate::harness::Run, u64) {
    let fetch = format!("--fetch={path}");
    run_fixture_peak_rss(
        target,
        &[
            "Fetching",
            "Light",
            "-u",
            "4",
            "-r",
            "100",
            "-t",
            "4s",
            "--max-response-size",
            "8",
            &fetch,
        ],
    )
    .await
}

/// Under attack by `path`, the attackers' requests fail saying `says`, the others go on, and
/// memory stays bounded.
async fn survives(path: &str, says: &str) {
    let target = Target::start().await;
    let (run, peak) = attacked_by(&target, path).await;
    assert_eq!(run.code, 1, "failures make exit code 1: {}", run.stderr);
    let failures = run.section("Error report").expect("an error report");
    assert!(failures.contains(says), "{failures}");
    assert!(run.requests("GET", path) > 0, "{}", run.stdout);
    assert!(
        target.count("/d/light") > 20,
        "the well-behaved users kept going"
    );
    assert!(peak < BOUNDED_RSS_MIB, "peak RSS {peak} MiB");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_body_fails_at_the_limit_with_memory_bounded() {
    survives(
        "/endless",
        "is larger than the 8 MiB limit (--max-response-size)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gzip_bomb_is_decompressed_only_up_to_the_limit() {
    survives(
        "/bomb",
        "decompresses to more than the 8 MiB limit (--max-response-size)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_test_stop_hook_that_never_returns_is_abandoned_at_its_deadline() {
    let target = Target::start().await;
    let run = run_fixture(
        &target,
        &[
            "Light",
            "-u",
            "1",
            "-t",
            "1s",
            "--hook-timeout",
            "2s",
            "--misbehave",
            "test_stop",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    logged_and_summarised(
        &run,
        "TestStop hook did not return within 2 s (--hook-timeout); abandoned it",
    );
}

/// `run` logged `text` and printed its summary with the `Light` users' requests.
fn logged_and_summarised(run: &crate::harness::Run, text: &str) {
    assert!(run.stderr.contains(text), "{}", run.stderr);
    assert!(
        run.requests("GET", "/d/light") > 0,
        "the summary: {}",
        run.stdout
    );
}

/// The fixture, headless against `target`, with a hook that never returns (`misbehave`) and
/// a deadline far away; returns once `marker` is logged.
async fn stuck_in(target: &Target, misbehave: &str, marker: &str) -> Background {
    let fixture = fixture().to_str().expect("utf-8 path").to_owned();
    Background::start_with(
        &[
            "-f",
            &fixture,
            "--headless",
            "--host",
            &target.url,
            "Light",
            "-u",
            "1",
            "-t",
            "1s",
            "--hook-timeout",
            "10m",
            "--misbehave",
            misbehave,
        ],
        &[],
        marker,
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signal_while_stopping_ends_the_run_at_once_with_its_statistics() {
    let target = Target::start().await;
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let stuck = stuck_in(&target, "test_stop", "Time limit reached").await;
        // Let the stop reach the hook.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let run = stuck.signal_and_wait(signal).await;
        assert_eq!(run.code, code, "{signal}: {}", run.stderr);
        logged_and_summarised(&run, "while stopping: not waiting for users and hooks");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_test_start_hook_that_never_returns_gives_way_to_a_signal() {
    let target = Target::start().await;
    let stuck = stuck_in(&target, "test_start", "Starting Locust").await;
    for _ in 0..100 {
        if target.count("/h/test-start") > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(target.count("/h/test-start"), 1, "test_start began");
    let run = stuck.signal_and_wait("-TERM").await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("Got SIGTERM, stopping Locust."),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_request_listener_drops_what_it_cannot_take_and_the_run_ends_on_time() {
    let target = Target::start().await;
    let run = run_fixture(
        &target,
        &[
            "Light",
            "-u",
            "10",
            "-r",
            "100",
            "-t",
            "3s",
            "--misbehave",
            "listener",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let warning = run
        .stderr
        .lines()
        .find(|line| line.contains("the request listener fell behind"))
        .unwrap_or_else(|| panic!("a warning: {}", run.stderr));
    let dropped: u64 = warning
        .split("behind: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("a count");
    let served = run.requests("GET", "/d/light");
    assert!(dropped > 0 && dropped < served, "{dropped} of {served}");
}

/// Open file descriptors of process `pid`.
fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

#[tokio::test(flavor = "multi_thread")]
async fn strangers_cannot_exhaust_the_master_port() {
    use locust::dist::protocol::Frame;
    use tokio::io::AsyncWriteExt as _;

    let target = Target::start().await;
    let cache = tempfile::tempdir().expect("cache dir");
    let (master, port) = crate::distributed::master(&target, &["Light"], true).await;
    let pid = master.pid();
    let base_files = open_files(pid);

    // 2,000 peers that send half an HTTP/2 preface and wait.
    let _ = rlimit::increase_nofile_limit(10_000);
    let mut half_open = Vec::new();
    for _ in 0..2000 {
        let Ok(mut socket) = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await
        else {
            continue;
        };
        let _ = socket.write_all(b"PRI * HTTP/2.0\r\n").await;
        half_open.push(socket);
    }
    assert!(
        half_open.len() > 1500,
        "{} peers connected",
        half_open.len()
    );
    let held = open_files(pid) - base_files;
    assert!(
        held <= locust::dist::guard::MAX_UNADMITTED + 16,
        "the master holds {held} connections of strangers"
    );

    // The web UI answers meanwhile.
    let client = Client::new();
    let stats = client
        .get(format!("{}/stats/requests", master.url))
        .send()
        .await
        .expect("the web UI answers");
    assert_eq!(stats.status(), 200);

    // The handshake deadline closes the strangers the master did take.
    tokio::time::sleep(locust::dist::guard::HANDSHAKE_DEADLINE + Duration::from_secs(1)).await;
    let held = open_files(pid).saturating_sub(base_files);
    assert!(
        held <= 16,
        "{held} connections of strangers outlived the deadline"
    );

    // A stranger announcing a 200 MiB message is refused before the master buffers it.
    let mut stream = locust::dist::transport::connect(format!("http://127.0.0.1:{port}"), None)
        .await
        .expect("connect");
    let huge = Frame {
        kind: "hello".into(),
        payload: vec![0; 200 << 20],
    };
    let _ = stream.outbound.send(huge.into()).await;
    let answer = tokio::time::timeout(Duration::from_secs(10), stream.inbound.message()).await;
    assert!(
        !matches!(answer, Ok(Ok(Some(_)))),
        "no answer but a closed stream: {answer:?}"
    );
    drop(stream);

    // A real worker joins.
    let (worker, _) = crate::distributed::worker(&port, cache.path(), &[]).await;
    let peak = crate::harness::status_kib(pid, "VmHWM:") / 1024;
    assert!(peak < 200, "the master's peak RSS was {peak} MiB");
    drop(half_open);
    assert_eq!(master.stop().await.code, 0);
    let _ = worker.wait().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn endless_distinct_names_fold_into_one_row_with_one_warning() {
    let target = Target::start().await;
    let (run, peak) = run_fixture_peak_rss(
        &target,
        &[
            "Unique",
            "-u",
            "2",
            "-r",
            "100",
            "-t",
            "4s",
            "--max-request-names",
            "300",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let warnings = run
        .stderr
        .matches("distinct request names or failures")
        .count();
    assert_eq!(warnings, 1, "{}", run.stderr);
    assert!(run.stderr.contains("name="), "the warning names the fix");
    let folded = run.requests("GET", "(other names past --max-request-names)");
    let served = target.user_requests();
    assert!(
        folded > 1000 && folded * 2 > served,
        "{folded} of {served} folded"
    );
    let summary = run
        .stdout
        .rsplit("Response time percentiles")
        .nth(1)
        .expect("a summary");
    let rows = summary
        .rsplit("\n Name ")
        .next()
        .expect("the last table")
        .lines()
        .filter(|line| line.starts_with(" GET "))
        .count();
    assert_eq!(rows, 301, "300 names and the overflow row");
    assert!(peak < BOUNDED_RSS_MIB, "peak RSS {peak} MiB");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_on_stop_cut_off_by_the_stop_deadline_is_reported() {
    let target = Target::start().await;
    let run = run_fixture(
        &target,
        &[
            "Lingering",
            "-u",
            "2",
            "-r",
            "100",
            "-t",
            "1s",
            "--stop-timeout",
            "1",
        ],
    )
    .await;
    assert_eq!(run.code, 1, "user errors make exit code 1: {}", run.stderr);
    let errors = run.stdout.split("Error report").last().unwrap_or_default();
    assert!(
        run.stdout
            .contains("on_stop cut off: it was still running 2 s after --stop-timeout"),
        "{errors}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_can_set_its_own_body_limit() {
    let target = Target::start().await;
    let (run, _) = run_fixture_peak_rss(
        &target,
        &["Fetching", "-u", "1", "-t", "2s", "--fetch-limit", "65536"],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let failures = run.section("Error report").expect("an error report");
    assert!(
        failures.contains("is larger than the 64 KiB limit (the request's max_response_size)"),
        "{failures}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wait_time_that_is_no_number_is_a_user_error_and_the_user_goes_on() {
    let target = Target::start().await;
    let run = run_fixture(&target, &["BadWait", "-u", "1", "-t", "3s"]).await;
    assert_eq!(run.code, 1, "user errors make exit code 1: {}", run.stderr);
    assert!(
        run.stdout
            .contains("wait_time returned NaN, not a number of seconds from 0 to 86400"),
        "{}",
        run.stdout
    );
    // One second's pause after each bad wait: a few requests, not a flood.
    let requests = target.count("/bad-wait");
    assert!((2..=5).contains(&requests), "{requests} requests");
}

#[tokio::test(flavor = "multi_thread")]
async fn what_a_guest_prints_lands_in_the_log_escaped() {
    let target = Target::start().await;
    let run = run_fixture(&target, &["Printing", "-u", "1", "-t", "1s"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let printed = run
        .stderr
        .lines()
        .find(|line| line.contains("hello from user"))
        .unwrap_or_else(|| panic!("the print in the log: {}", run.stderr));
    assert!(
        printed.contains("locust.user") && printed.contains("Printing"),
        "{printed}"
    );
    assert!(
        run.stderr.contains("to stderr\\u{1b}[2J") && !run.stderr.contains('\x1b'),
        "control characters are escaped: {}",
        run.stderr
    );
}
