//! The host as a Rust library: a run driven through `locust::headless::run`, observed through
//! the event bus.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Parser as _;
use locust::config::Options;
use locust::events::Events;

use crate::client::Client;
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

#[tokio::test(flavor = "multi_thread")]
async fn a_rust_program_adds_its_own_web_routes() {
    use locust::component::{ComponentOptions, GuestLimits};
    use locust::config::WebPlan;
    use locust::run::scenario::Scenario;
    use locust::run::session::{SessionParts, TestSession};
    use locust::web::WebUi;

    let limits = GuestLimits {
        max_instances: 8,
        ..GuestLimits::default()
    };
    let locust::headless::Loaded {
        component,
        description,
        ..
    } = locust::headless::load(fixture(), &[], limits)
        .await
        .expect("load");
    let scenario = Scenario::from_description(description).expect("scenario");
    let classes = scenario
        .plan(&["Lifecycle".to_owned()], None, None)
        .expect("classes");
    let session = TestSession::prepare(
        SessionParts {
            component,
            classes,
            hooks: scenario.hooks,
            options: ComponentOptions::default(),
            host: None,
            stop_timeout: std::time::Duration::ZERO,
            hook_timeout: locust::hooks::DEFAULT_HOOK_TIMEOUT,
            max_request_names: locust::stats::DEFAULT_MAX_NAMES,
            reset_stats: false,
            tags: (None, None),
            allow_hosts: Vec::new(),
            fixed_grants: false,
            listeners: Vec::new(),
            master: None,
            adopted: Vec::new(),
            plan: None,
            shape: None,
        },
        Events::new(),
    )
    .await
    .expect("session");
    let plan = WebPlan {
        host: "127.0.0.1".to_owned(),
        port: 0,
        auth: Some(("me".to_owned(), "pw".to_owned())),
        tls: None,
        step_load: false,
    };
    let extension =
        axum::Router::new().route("/extension", axum::routing::get(|| async { "extended" }));
    let served = WebUi::new(session, plan)
        .with_routes(extension)
        .serve()
        .await
        .expect("serve");
    let client = Client::new();
    let url = format!("{}/extension", served.url());
    assert_eq!(
        client.get(&url).send().await.expect("get").status(),
        401,
        "extensions get the same auth"
    );
    let answer = client
        .get(&url)
        .basic_auth("me", Some("pw"))
        .send()
        .await
        .expect("get");
    assert_eq!(answer.text().await.expect("text"), "extended");
}

#[test]
fn the_pool_is_sized_from_the_components_own_structure() {
    let bytes = std::fs::read(fixture()).expect("the fixture");
    let footprint = locust::component::footprint::of(&bytes).expect("it parses");
    // A Rust guest for wasm32-wasip2: its module, the WASI adapter and the shims that link
    // them; one memory of its own. Every other test loads it into a pool of exactly this size.
    assert!((2..=8).contains(&footprint.core_instances), "{footprint:?}");
    assert!(
        footprint.memories >= 1 && footprint.tables >= 1,
        "{footprint:?}"
    );
}
