//! Standard `wasi:http` from a guest (wstd's client, not the SDK's): sent by the host within
//! the grants and recorded like any request.

use std::sync::OnceLock;

use crate::harness::{Target, locust, root};

/// The fixture component that uses wstd (tests/fixtures/wasi-http), built once.
fn component() -> &'static str {
    static BUILT: OnceLock<String> = OnceLock::new();
    BUILT.get_or_init(|| {
        let path = locust::component::build_guest_crate(&root().join("tests/fixtures/wasi-http"))
            .expect("the wasi-http fixture builds");
        path.to_str().expect("utf-8 path").to_owned()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn wasi_http_requests_are_sent_within_the_grants_and_recorded() {
    let target = Target::start().await;
    let run = locust(&[
        "-f",
        component(),
        "--host",
        &target.url,
        "--headless",
        "-u",
        "2",
        "-r",
        "10",
        "-t",
        "2s",
        "--stop-timeout",
        "5",
    ])
    .await;
    assert_eq!(run.code, 1, "failures: {}{}", run.stdout, run.stderr);
    // The guest saw what it expected (200, 200, 404, an error) in every task.
    assert!(
        !run.stdout.contains("unexpected outcomes"),
        "{}",
        run.stdout
    );
    let plain = target.count("/wasi/plain?x=1") as u64;
    assert!(plain > 5, "{}", run.stdout);
    assert_eq!(run.requests("GET", "/wasi/plain?x=1"), plain);
    // Named by its x-locust-name header.
    assert_eq!(
        run.requests("GET", "/wasi/item/[id]"),
        target.count("/wasi/item/7") as u64
    );
    assert!(target.hits().iter().all(|hit| hit.path != "/wasi/refused"));
    let report = run.section("Error report").expect("failures");
    assert!(
        report.contains("GET /status/404: 404 Client Error: Not Found for url: /status/404"),
        "{report}"
    );
    assert!(
        report.contains(
            "GET /wasi/refused: 127.0.0.1:1 is not a host this test may reach; grant it with \
             --allow-host 127.0.0.1:1"
        ),
        "{report}"
    );
    assert_eq!(run.requests("GET", "/wasi/refused"), plain);
}
