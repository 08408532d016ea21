//! Task choice as Locust makes it: weights, nested sets with interrupt, sequential sets, tags,
//! class weights.

use std::collections::BTreeSet;

use crate::harness::{Target, run_fixture};

#[tokio::test(flavor = "multi_thread")]
async fn task_weights_set_the_mix() {
    let target = Target::start().await;
    let run = run_fixture(
        &target,
        &[
            "Weighted",
            "-u",
            "2",
            "-r",
            "2",
            "-t",
            "3s",
            "--stop-timeout",
            "5",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (a, b) = (target.count("/w/a") as f64, target.count("/w/b") as f64);
    assert!(a + b > 200.0, "too few requests to judge: {a} + {b}");
    let ratio = b / a;
    assert!(
        (2.4..3.7).contains(&ratio),
        "b/a = {ratio} (a {a}, b {b}), expected about 3"
    );
    // With a stop timeout every task completes, so the summary counts what the server saw.
    assert_eq!(
        run.requests("GET", "/w/a") + run.requests("GET", "/w/b"),
        (a + b) as u64
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nested_sets_run_until_interrupted() {
    let target = Target::start().await;
    let run = run_fixture(&target, &["Nested", "-u", "2", "-r", "2", "-t", "3s"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut entered = 0;
    for (user, paths) in target.paths_by_user() {
        let mut inside = false;
        for (index, path) in paths.iter().enumerate() {
            match path.as_str() {
                "/n/forum-start" => {
                    assert!(!inside, "user {user} entered the set twice: {paths:?}");
                    inside = true;
                    entered += 1;
                }
                "/n/read" | "/n/leave" => assert!(inside, "user {user}: {path} outside the set"),
                "/n/forum-stop" => {
                    assert!(inside, "user {user} left a set it was not in");
                    // on_stop runs after the interrupting task, or when the test ends.
                    let last = index + 1 == paths.len();
                    assert!(
                        last || paths[index - 1] == "/n/leave",
                        "user {user}: {paths:?}"
                    );
                    inside = false;
                }
                "/n/top" => assert!(!inside, "user {user}: a user-level task ran inside the set"),
                other => panic!("unexpected path {other}"),
            }
        }
    }
    assert!(entered >= 4, "the set was entered only {entered} times");
    assert!(target.count("/n/top") > 0 && target.count("/n/read") > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn sequential_sets_keep_their_order() {
    let target = Target::start().await;
    let run = run_fixture(&target, &["Sequence", "-u", "2", "-r", "2", "-t", "2s"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let expected = ["/s/1", "/s/2", "/s/2", "/s/3"];
    let by_user = target.paths_by_user();
    assert_eq!(by_user.len(), 2);
    for (user, paths) in by_user {
        assert!(paths.len() >= 8, "user {user} ran too little: {paths:?}");
        for (index, path) in paths.iter().enumerate() {
            assert_eq!(
                path,
                expected[index % 4],
                "user {user} at {index}: {paths:?}"
            );
        }
    }
}

async fn tagged_paths(args: &[&str]) -> BTreeSet<String> {
    let target = Target::start().await;
    let mut all = vec!["Tagged", "-u", "1", "-r", "1", "-t", "2s"];
    all.extend_from_slice(args);
    let run = run_fixture(&target, &all).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    target
        .hits()
        .into_iter()
        .map(|hit| hit.path)
        .filter(|path| path.starts_with("/t/"))
        .collect()
}

fn set(paths: &[&str]) -> BTreeSet<String> {
    paths.iter().map(|path| path.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_select_tasks_and_exclusion_wins() {
    // A tagged task in an untagged set still runs.
    assert_eq!(
        tagged_paths(&["--tags", "alpha"]).await,
        set(&["/t/alpha", "/t/alpha-in-plain"])
    );
    // Tags on a set apply to its tasks.
    assert_eq!(
        tagged_paths(&["--tags", "beta"]).await,
        set(&["/t/beta", "/t/beta-set"])
    );
    // Exclusion wins over inclusion.
    assert_eq!(
        tagged_paths(&["--tags", "alpha", "beta", "--exclude-tags", "beta"]).await,
        set(&["/t/alpha", "/t/alpha-in-plain"])
    );
    assert_eq!(
        tagged_paths(&["--exclude-tags", "alpha"]).await,
        set(&["/t/beta", "/t/none", "/t/beta-set", "/t/plain"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn users_are_split_across_classes() {
    let target = Target::start().await;
    let run = run_fixture(
        &target,
        &["Weighted", "Sequence", "-u", "4", "-r", "10", "-t", "2s"],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let users_of = |prefix: &str| {
        target
            .hits()
            .iter()
            .filter(|hit| hit.path.starts_with(prefix))
            .filter_map(|hit| hit.user)
            .collect::<BTreeSet<_>>()
            .len()
    };
    assert_eq!(users_of("/w/"), 2);
    assert_eq!(users_of("/s/"), 2);
    assert!(
        run.stderr
            .contains("All users hatched: Weighted: 2, Sequence: 2"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn host_option_wins_over_the_class_host() {
    let target = Target::start().await;
    let run = run_fixture(&target, &["Hosted", "-u", "1", "-r", "1", "-t", "1s"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(target.count("/hosted") > 0, "--host was used");

    // Without --host, the class's own host (a closed port here) is used.
    let fixture = crate::harness::fixture().to_str().expect("path").to_owned();
    let run = crate::harness::locust(&["-f", &fixture, "--headless", "Hosted", "-t", "1s"]).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .contains("GET /hosted: could not connect to 127.0.0.1:1"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn list_shows_concrete_classes() {
    let fixture = crate::harness::fixture().to_str().expect("path").to_owned();
    let run = crate::harness::locust(&["-f", &fixture, "--list"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("Available Users:\n    Weighted\n    Nested\n"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("Abstract"));
}
