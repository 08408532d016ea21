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
