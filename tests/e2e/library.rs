//! The host as a Rust library: a run driven through `locust::headless::run`, observed through
//! the event bus.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Parser as _;
use locust::config::Options;
use locust::events::Events;

use crate::harness::{Target, fixture};

#[tokio::test(flavor = "multi_thread")]
async fn event_listeners_see_every_request_and_the_test_boundaries() {
    let target = Target::start().await;
    let fixture = fixture().to_str().expect("path").to_owned();
    let plan = Options::try_parse_from([
        "locust",
        "-f",
        &fixture,
        "--headless",
        "--only-summary",
        "--host",
        &target.url,
        "Lifecycle",
        "-u",
        "2",
        "-r",
        "10",
        "-t",
        "2s",
        "--stop-timeout",
        "2",
    ])
    .expect("options")
    .resolve()
    .expect("plan");
    let requests = Arc::new(AtomicU64::new(0));
    let boundaries = Arc::new(AtomicU64::new(0));
    let mut events = Events::new();
    let seen = requests.clone();
    events.on_request(move |event| {
        assert!(event.error.is_none(), "{event:?}");
        seen.fetch_add(1, Ordering::Relaxed);
    });
    let started = boundaries.clone();
    events.on_test_start(move || {
        started.fetch_add(1, Ordering::Relaxed);
    });
    let stopped = boundaries.clone();
    events.on_test_stop(move || {
        stopped.fetch_add(100, Ordering::Relaxed);
    });
    let code = locust::headless::run(plan, events).await.expect("run");
    assert_eq!(code, 0);
    assert_eq!(
        boundaries.load(Ordering::Relaxed),
        101,
        "one test_start and one test_stop"
    );
    // Every user request the server saw was seen by the listener (the hook instance's
    // test_start/test_stop requests are not user requests).
    let user_hits = target.user_requests();
    assert_eq!(requests.load(Ordering::Relaxed), user_hits);
}
