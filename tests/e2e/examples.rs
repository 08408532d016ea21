//! The examples in examples/ build and run against the demo target, as the README says.

use crate::harness::locust;

async fn run_example(name: &str, extra: &[&str]) -> crate::harness::Run {
    let dir = format!("examples/{name}");
    let mut args = vec![
        "-f",
        &dir,
        "--demo",
        "--headless",
        "-u",
        "3",
        "-r",
        "3",
        "-t",
        "3s",
    ];
    args.extend_from_slice(extra);
    locust(&args).await
}

#[tokio::test(flavor = "multi_thread")]
async fn quickstart_logs_in_and_browses() {
    let run = run_example("quickstart", &[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.requests("POST", "/login"), 3, "{}", run.stdout);
    assert!(
        run.requests("GET", "/item") + run.requests("GET", "/hello") > 0,
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tasksets_example_browses_and_checks_out() {
    let run = run_example("tasksets", &["-t", "6s"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.requests("GET", "/item") > 0, "{}", run.stdout);
    let run = run_example("tasksets", &["--tags", "checkout"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.requests("POST", "/login") > 0, "{}", run.stdout);
    assert_eq!(
        run.requests("GET", "/item"),
        0,
        "browse tasks are filtered out"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_client_records_its_own_events() {
    let run = run_example("custom-client", &["--stop-timeout", "5"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let gets = run.requests("kv", "get");
    assert!(gets > 0, "{}", run.stdout);
    assert_eq!(
        gets,
        run.requests("GET", "/item"),
        "one kv get per HTTP request"
    );
    assert!(run.requests("kv", "ping") > 0, "{}", run.stdout);
}
