//! What a run leaves behind: CSV files with Locust's columns whose numbers agree with the
//! console summary, the history of a step-load ramp, `--reset-stats`, `--logfile`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::harness::{Run, Target, run_fixture};

fn read_csv(path: &Path) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut reader =
        csv::Reader::from_path(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|record| {
            let record = record.expect("a well-formed row");
            header
                .iter()
                .cloned()
                .zip(record.iter().map(str::to_owned))
                .collect()
        })
        .collect();
    (header, rows)
}

fn columns(names: &str) -> Vec<String> {
    names.split(", ").map(str::to_owned).collect()
}

const PERCENTILE_COLUMNS: &str =
    "50%, 66%, 75%, 80%, 90%, 95%, 98%, 99%, 99.9%, 99.99%, 99.999%, 100%";

/// The summary row of `name` as (requests, failures, avg, min, max, median).
fn console_row(run: &Run, method: &str, name: &str) -> Vec<u64> {
    let row = run
        .summary_row(method, name)
        .unwrap_or_else(|| panic!("{method} {name} in\n{}", run.stdout));
    // "12  1(8.33%)  |  avg min max median  |  rps fails/s"
    let failures: u64 = row[1]
        .split('(')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("failures");
    vec![
        row[0].parse().expect("requests"),
        failures,
        row[3].parse().expect("avg"),
        row[4].parse().expect("min"),
        row[5].parse().expect("max"),
        row[6].parse().expect("median"),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_files_have_locust_columns_and_agree_with_the_console() {
    let target = Target::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let prefix = dir.path().join("run");
    let prefix_text = prefix.to_str().expect("path");
    let run = run_fixture(
        &target,
        &[
            "Catch",
            "-u",
            "2",
            "-r",
            "10",
            "-t",
            "3s",
            "--stop-timeout",
            "5",
            "--csv",
            prefix_text,
        ],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);

    let (header, stats) = read_csv(&dir.path().join("run_stats.csv"));
    let mut expected = columns(
        "Type, Name, Request Count, Failure Count, Median Response Time, Average Response Time, \
         Min Response Time, Max Response Time, Average Content Size, Requests/s, Failures/s",
    );
    expected.extend(columns(PERCENTILE_COLUMNS));
    assert_eq!(header, expected);
    assert_eq!(stats.last().expect("rows")["Name"], "Aggregated");
    for row in &stats {
        let (method, name) = (row["Type"].as_str(), row["Name"].as_str());
        let console = if name == "Aggregated" {
            let line = run
                .stdout
                .rsplit("Response time percentiles")
                .nth(1)
                .expect("summary");
            let line = line
                .lines()
                .rev()
                .find(|l| l.starts_with(" Aggregated "))
                .expect("aggregated");
            let cells: Vec<&str> = line.split_whitespace().skip(1).collect();
            let failures: u64 = cells[1]
                .split('(')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("failures");
            vec![
                cells[0].parse().expect("n"),
                failures,
                cells[3].parse().expect("avg"),
                cells[4].parse().expect("min"),
                cells[5].parse().expect("max"),
                cells[6].parse().expect("median"),
            ]
        } else {
            console_row(&run, method, name)
        };
        let number = |column: &str| {
            row[column]
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("{column}: {row:?}"))
        };
        assert_eq!(number("Request Count") as u64, console[0], "{name}");
        assert_eq!(number("Failure Count") as u64, console[1], "{name}");
        assert_eq!(number("Average Response Time") as u64, console[2], "{name}");
        assert_eq!(number("Min Response Time") as u64, console[3], "{name}");
        assert_eq!(number("Max Response Time") as u64, console[4], "{name}");
        assert_eq!(number("Median Response Time") as u64, console[5], "{name}");
    }

    let (header, failures) = read_csv(&dir.path().join("run_failures.csv"));
    assert_eq!(header, columns("Method, Name, Error, Occurrences"));
    let custom = failures
        .iter()
        .find(|row| row["Error"] == "custom failure")
        .expect("custom failure");
    assert_eq!(custom["Name"], "/status/200");
    assert_eq!(
        custom["Occurrences"].parse::<u64>().expect("n"),
        console_row(&run, "GET", "/status/200")[1]
    );

    let (header, history) = read_csv(&dir.path().join("run_stats_history.csv"));
    let mut expected = columns("Timestamp, User Count, Type, Name, Requests/s, Failures/s");
    expected.extend(columns(PERCENTILE_COLUMNS));
    expected.extend(columns(
        "Total Request Count, Total Failure Count, Total Median Response Time, \
         Total Average Response Time, Total Min Response Time, Total Max Response Time, \
         Total Average Content Size",
    ));
    assert_eq!(header, expected);
    assert!(history.len() >= 2, "a row every 2 seconds and at the end");
    assert!(
        history.iter().all(|row| row["Name"] == "Aggregated"),
        "only aggregated rows without --csv-full-history"
    );
    let last = history.last().expect("rows");
    assert_eq!(
        last["Total Request Count"],
        stats.last().expect("rows")["Request Count"]
    );
    assert!(!dir.path().join("run_stats.csv.tmp").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn step_load_reaches_each_step_on_time() {
    let target = Target::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let prefix = dir.path().join("steps");
    let run = run_fixture(
        &target,
        &[
            "Lifecycle",
            "-u",
            "5",
            "-r",
            "100",
            "-t",
            "9s",
            "--step-load",
            "--step-users",
            "2",
            "--step-time",
            "3s",
            "--csv",
            prefix.to_str().expect("path"),
            "--csv-full-history",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("Step Load is finished."),
        "{}",
        run.stderr
    );
    let (_, history) = read_csv(&dir.path().join("steps_stats_history.csv"));
    let rows: Vec<(u64, u64)> = history
        .iter()
        .filter(|row| row["Name"] == "Aggregated")
        .map(|row| {
            (
                row["Timestamp"].parse().expect("ts"),
                row["User Count"].parse().expect("users"),
            )
        })
        .collect();
    let start = rows[0].0;
    // Steps of 2 every 3 s, the last one capped at -u 5: 2 users during [0, 3), 4 during
    // [3, 6), 5 from 6 s on. Rows are written every 2 s; allow a second either side.
    for &(timestamp, users) in &rows[..rows.len() - 1] {
        let second = timestamp - start;
        let expected: &[u64] = match second {
            0 => &[0, 2],
            1 => &[2],
            2 | 3 => &[2, 4],
            4 | 5 => &[4],
            6 => &[4, 5],
            _ => &[5],
        };
        assert!(
            expected.contains(&users),
            "{users} users at {second} s: {rows:?}"
        );
    }
    // --csv-full-history adds the entries' rows.
    assert!(history.iter().any(|row| row["Name"] == "/l/task"));
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_stats_forgets_the_ramp() {
    let target = Target::start().await;
    let run = run_fixture(
        &target,
        &[
            "Lifecycle",
            "-u",
            "3",
            "-r",
            "2",
            "-t",
            "3s",
            "--stop-timeout",
            "5",
            "--reset-stats",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("Resetting stats"), "{}", run.stderr);
    // Users start at 0, 0.5 and 1 s; the reset comes when the third is spawned, so the first
    // two users' on_start requests and early tasks are forgotten.
    assert_eq!(target.count("/l/start"), 3);
    assert!(run.requests("GET", "/l/start") <= 1, "{}", run.stdout);
    assert!(run.requests("GET", "/l/task") + 5 < target.count("/l/task") as u64);
    // on_stop came after the reset.
    assert_eq!(run.requests("GET", "/l/stop"), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn logfile_gets_the_log_but_not_the_tables() {
    let target = Target::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let logfile = dir.path().join("locust.log");
    let run = run_fixture(
        &target,
        &[
            "Lifecycle",
            "-u",
            "1",
            "-t",
            "3s",
            "--logfile",
            logfile.to_str().expect("path"),
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let log = std::fs::read_to_string(&logfile).expect("the log file");
    assert!(
        log.contains("/INFO/locust.main: Run time limit set to 3 seconds"),
        "{log}"
    );
    assert!(
        log.contains("/INFO/locust.runners: All users hatched: Lifecycle: 1"),
        "{log}"
    );
    assert!(!log.contains("# reqs"), "tables stay on the console: {log}");
    assert!(run.stdout.contains("# reqs"));
    assert!(
        !run.stderr.contains("locust.main"),
        "the log went to the file: {}",
        run.stderr
    );
    // Guest log calls land in the same log, with their user class.
    assert!(
        log.contains("/INFO/locust.user: lifecycle user starting class=\"Lifecycle\""),
        "{log}"
    );

    // --skip-log-setup: no log at all (an embedding program sets up its own).
    let run = run_fixture(
        &target,
        &["Lifecycle", "-u", "1", "-t", "1s", "--skip-log-setup"],
    )
    .await;
    assert_eq!(run.code, 0);
    assert!(run.stderr.trim().is_empty(), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn task_ratios_in_both_shapes() {
    let fixture = crate::harness::fixture().to_str().expect("path").to_owned();
    let run = crate::harness::locust(&[
        "-f",
        &fixture,
        "--show-task-ratio-json",
        "Nested",
        "Weighted",
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(json["per_class"]["Nested"]["ratio"], 0.5);
    assert_eq!(
        json["per_class"]["Nested"]["tasks"]["Forum"]["tasks"]["read"]["ratio"],
        0.75
    );
    assert_eq!(
        json["total"]["Nested"]["tasks"]["Forum"]["tasks"]["read"]["ratio"],
        0.1875
    );
    assert_eq!(json["total"]["Weighted"]["tasks"]["b"]["ratio"], 0.375);
    let run = crate::harness::locust(&["-f", &fixture, "--show-task-ratio", "Weighted"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(" Task ratio per User class"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("   75.0       b"), "{}", run.stdout);
}
