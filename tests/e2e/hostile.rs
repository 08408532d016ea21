//! Hostile targets and inputs: whatever a target sends or a person types, the load generator
//! survives with bounded memory, says what happened in one line, and keeps the other users
//! going.

use crate::harness::{Target, run_fixture_peak_rss};

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

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_body_fails_at_the_limit_with_memory_bounded() {
    let target = Target::start().await;
    let (run, peak) = attacked_by(&target, "/endless").await;
    assert_eq!(run.code, 1, "failures make exit code 1: {}", run.stderr);
    let failures = run.section("Error report").expect("an error report");
    assert!(
        failures.contains("is larger than the 8 MiB limit (--max-response-size)"),
        "{failures}"
    );
    assert!(run.requests("GET", "/endless") > 0, "{}", run.stdout);
    assert!(
        target.count("/d/light") > 20,
        "the well-behaved users kept going"
    );
    assert!(peak < BOUNDED_RSS_MIB, "peak RSS {peak} MiB");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gzip_bomb_is_decompressed_only_up_to_the_limit() {
    let target = Target::start().await;
    let (run, peak) = attacked_by(&target, "/bomb").await;
    assert_eq!(run.code, 1, "failures make exit code 1: {}", run.stderr);
    let failures = run.section("Error report").expect("an error report");
    assert!(
        failures.contains("decompresses to more than the 8 MiB limit (--max-response-size)"),
        "{failures}"
    );
    assert!(target.count("/d/light") > 20, "the others kept going");
    assert!(peak < BOUNDED_RSS_MIB, "peak RSS {peak} MiB");
}
