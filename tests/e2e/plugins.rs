//! Protocol plugins against real servers: the redis plugin linked into the Redis example
//! user swarms a real `redis-server` (provisioned by the suite), and what we recorded equals
//! the server's own `INFO commandstats`, alone and distributed; plus the plugin errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::distributed::{master_of, worker};
use crate::harness::{KillOnDrop, Run, Target, fixture, locust, root};
use crate::provision;

const USER: &str = "examples/redis-user";
const PLUGIN: &str = "plugins/redis";

/// A `redis-server` on a free port of 127.0.0.1, without persistence; killed when dropped.
struct RedisServer {
    _child: KillOnDrop,
    port: u16,
}

impl RedisServer {
    fn start() -> Self {
        let redis = provision::redis();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&redis.server)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let server = Self {
            _child: KillOnDrop(child),
            port,
        };
        for _ in 0..100 {
            if server.cli(&["PING"]).trim() == "PONG" {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not answer on port {port}");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(&provision::redis().cli)
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Calls per command (upper case), as the server counted them.
    fn calls(&self) -> BTreeMap<String, u64> {
        self.cli(&["INFO", "commandstats"])
            .lines()
            .filter_map(|line| {
                let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = stats.split(',').next()?.strip_prefix("calls=")?;
                Some((name.to_ascii_uppercase(), calls.trim().parse().ok()?))
            })
            .filter(|(name, _)| name != "INFO" && name != "PING")
            .collect()
    }
}

/// What a run recorded under type `redis`, per name, from its summary.
fn recorded(run: &Run, names: &[&str]) -> BTreeMap<String, u64> {
    names
        .iter()
        .map(|name| (name.to_string(), run.requests("redis", name)))
        .filter(|(_, count)| *count > 0)
        .collect()
}

const COMMANDS: [&str; 4] = ["GET", "SET", "INCR", "SELECT"];

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_user_swarms_a_real_server_and_the_counts_are_the_servers() {
    let server = RedisServer::start();
    let url = server.url();
    let run = locust(&[
        "-f",
        USER,
        "--plugin",
        PLUGIN,
        "--host",
        &url,
        "--headless",
        "-u",
        "6",
        "-r",
        "20",
        "-t",
        "3s",
        // Users finish the command in flight, so the server saw no more than was recorded.
        "--stop-timeout",
        "5",
        // A plugin's own option reaches it: every connection selects database 3.
        "--redis-database",
        "3",
    ])
    .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let calls = server.calls();
    assert_eq!(recorded(&run, &COMMANDS), calls, "{}", run.stdout);
    assert_eq!(calls.get("SELECT"), Some(&6), "one SELECT per user");
    assert!(
        calls["GET"] > calls["SET"],
        "reads weigh 3, writes 1: {calls:?}"
    );
    assert_eq!(run.requests("redis", "connect"), 6);
    // The keys landed in database 3: every user wrote its own.
    let keys = server.cli(&["-n", "3", "KEYS", "user:*"]);
    assert_eq!(keys.lines().count(), 6, "{keys}");
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_runs_the_composed_component_the_master_sends() {
    let server = RedisServer::start();
    let url = server.url();
    let cache = tempfile::tempdir().expect("cache");
    // The master's --host is the Redis URL; Target is only there for the harness's signature.
    let unused = Target::start().await;
    let (master, port) = master_of(
        USER,
        &unused,
        &[
            "--plugin",
            PLUGIN,
            "--host",
            &url,
            "--headless",
            "--expect-workers",
            "2",
            "-u",
            "4",
            "-r",
            "20",
            "-t",
            "3s",
            "--stop-timeout",
            "5",
        ],
        false,
        &[],
    )
    .await;
    // Workers need neither the user, nor the plugin, nor a toolchain.
    let (first, _) = worker(&port, cache.path(), &[]).await;
    let (second, _) = worker(&port, cache.path(), &[]).await;
    let run = master.wait().await;
    for worker in [first, second] {
        let worker_run = worker.wait().await;
        assert_eq!(worker_run.code, 0, "{}", worker_run.stderr);
    }
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let calls = server.calls();
    assert!(calls.get("GET").copied().unwrap_or(0) > 0, "{calls:?}");
    assert_eq!(recorded(&run, &COMMANDS), calls, "{}", run.stdout);
    assert!(unused.hits().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_reaches_only_granted_hosts() {
    let server = RedisServer::start();
    let cache = server.url();
    let authority = cache.trim_start_matches("redis://").to_owned();
    let args = |grant: bool| {
        let mut args = vec![
            "-f".to_owned(),
            USER.to_owned(),
            "--plugin".to_owned(),
            PLUGIN.to_owned(),
            "--host".to_owned(),
            "http://127.0.0.1:1".to_owned(),
            "--cache".to_owned(),
            cache.clone(),
            "--headless".to_owned(),
            "-u".to_owned(),
            "2".to_owned(),
            "-r".to_owned(),
            "10".to_owned(),
            "-t".to_owned(),
            "2s".to_owned(),
            "--stop-timeout".to_owned(),
            "5".to_owned(),
        ];
        if grant {
            args.extend(["--allow-host".to_owned(), authority.clone()]);
        }
        args
    };
    let refused = args(false);
    let refused: Vec<&str> = refused.iter().map(String::as_str).collect();
    let run = locust(&refused).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let report = run.section("Error report").expect("failures");
    assert!(
        report.contains(&format!(
            "connect: could not connect to {authority}: it is not a host this test may reach; \
             grant it with --allow-host {authority}"
        )),
        "{report}"
    );
    assert!(server.calls().is_empty(), "nothing reached the server");
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);

    let granted = args(true);
    let granted: Vec<&str> = granted.iter().map(String::as_str).collect();
    let run = locust(&granted).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(recorded(&run, &COMMANDS), server.calls());
}

/// The one `error:` line of a run that cannot start.
fn error_line(run: &Run) -> &str {
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("error"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    errors[0]
}

#[tokio::test(flavor = "multi_thread")]
async fn plugin_mistakes_get_one_clear_line() {
    // The user imports the client interface, and no plugin provides it.
    let run = locust(&["-f", USER, "--list"]).await;
    assert!(
        error_line(&run).contains(
            "it imports locust:redis/client@0.1.0, which no plugin provides: pass --plugin with \
             a plugin that exports it (plugins/redis for locust:redis)"
        ),
        "{}",
        run.stderr
    );
    // Not WebAssembly at all.
    let run = locust(&["-f", USER, "--plugin", "README.md", "--list"]).await;
    assert!(
        error_line(&run).contains("README.md: not a plugin: it is not a WebAssembly file"),
        "{}",
        run.stderr
    );
    // A component, but a user, not a plugin.
    let user = fixture().to_str().expect("utf-8 path").to_owned();
    let run = locust(&["-f", USER, "--plugin", &user, "--list"]).await;
    assert!(
        error_line(&run).contains("not a plugin:")
            && run
                .stderr
                .contains("a plugin exports locust:runtime/plugin@0.4.0"),
        "{}",
        run.stderr
    );
    // The same plugin twice.
    let run = locust(&["-f", USER, "--plugin", PLUGIN, "--plugin", PLUGIN, "--list"]).await;
    assert!(
        error_line(&run).contains("are both plugin redis: pass it once"),
        "{}",
        run.stderr
    );
    // A plugin's options are in --help, with the component's own.
    let run = locust(&["-f", USER, "--plugin", PLUGIN, "--help"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("--redis-database <REDIS_DATABASE>")
            && run.stdout.contains("--cache <CACHE>"),
        "{}",
        run.stdout
    );
    // A plugin nobody needs is a warning, and the run goes on.
    let fixture = fixture().to_str().expect("utf-8 path").to_owned();
    let run = locust(&["-f", &fixture, "--plugin", PLUGIN, "--list"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("is not used"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn composing_twice_gives_the_same_bytes() {
    let user = root().join(USER);
    let plugins: Vec<PathBuf> = vec![root().join(PLUGIN)];
    let compose = |user: &Path| {
        let user = user.to_owned();
        let plugins = plugins.clone();
        async move {
            locust::component::assemble(&user, &plugins)
                .await
                .expect("composes")
                .bytes
        }
    };
    let first = compose(&user).await;
    let second = compose(&user).await;
    assert!(first.len() > 1000);
    assert_eq!(
        locust::component::hash_of(&first),
        locust::component::hash_of(&second)
    );
    assert_eq!(first, second);
}

/// The webhook plugin's posts the target received: (events in order, requests, dropped).
fn webhook_posts(target: &Target) -> (Vec<String>, u64, u64) {
    let mut events = Vec::new();
    let (mut requests, mut dropped) = (0, 0);
    for hit in target
        .hits()
        .into_iter()
        .filter(|hit| hit.path == "/webhook")
    {
        let body: serde_json::Value = serde_json::from_str(&hit.body).expect("JSON");
        let event = body["event"].as_str().expect("event").to_owned();
        if event == "requests" {
            requests += body["requests"].as_array().expect("requests").len() as u64;
            dropped += body["dropped"].as_u64().expect("dropped");
            for record in body["requests"].as_array().expect("requests") {
                assert_eq!(record["type"], "GET", "{record}");
                assert_eq!(record["name"], "/d/heavy", "{record}");
            }
        }
        if events.last() != Some(&event) {
            events.push(event);
        }
    }
    (events, requests, dropped)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listener_plugin_gets_the_events_and_every_request_in_batches() {
    let target = Target::start().await;
    let fixture = fixture().to_str().expect("utf-8 path").to_owned();
    let hook = format!("{}/webhook", target.url);
    let run = locust(&[
        "-f",
        &fixture,
        "--plugin",
        "plugins/webhook",
        "--webhook-url",
        &hook,
        "--host",
        &target.url,
        "--headless",
        "-u",
        "2",
        "-r",
        "10",
        "-t",
        "3s",
        // Users finish the request in flight: every request served is recorded.
        "--stop-timeout",
        "5",
        "Heavy",
    ])
    .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let (events, requests, dropped) = webhook_posts(&target);
    assert_eq!(
        events,
        ["test_start", "requests", "test_stop"],
        "{events:?}"
    );
    let served = target.count("/d/heavy") as u64;
    assert!(served > 10);
    assert_eq!((requests, dropped), (served, 0));
    // The listener's own posts are not in the statistics.
    assert_eq!(run.requests("GET", "/d/heavy"), served);
    assert_eq!(run.requests("POST", "/webhook"), 0, "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_run_the_masters_listener_plugins_on_their_own_requests() {
    let target = Target::start().await;
    let fixture = fixture().to_str().expect("utf-8 path").to_owned();
    let hook = format!("{}/webhook", target.url);
    let cache = tempfile::tempdir().expect("cache");
    let (master, port) = master_of(
        &fixture,
        &target,
        &[
            "--plugin",
            "plugins/webhook",
            "--webhook-url",
            &hook,
            "--headless",
            "--expect-workers",
            "1",
            "-u",
            "2",
            "-r",
            "10",
            "-t",
            "3s",
            "--stop-timeout",
            "5",
            "Heavy",
        ],
        false,
        &[],
    )
    .await;
    let (worker_process, _) = worker(&port, cache.path(), &[]).await;
    let run = master.wait().await;
    let worker_run = worker_process.wait().await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(worker_run.code, 0, "{}", worker_run.stderr);
    let (events, requests, dropped) = webhook_posts(&target);
    // test_start and test_stop from the master; the requests from the worker's listener.
    assert!(events.contains(&"test_start".to_owned()), "{events:?}");
    assert!(events.contains(&"test_stop".to_owned()), "{events:?}");
    let served = target.count("/d/heavy") as u64;
    assert!(served > 10);
    assert_eq!((requests, dropped), (served, 0));
    assert_eq!(run.requests("GET", "/d/heavy"), served);
}

/// The WebSocket echo server (tests/fixtures/websocket_echo.py) on a free port; its output
/// has a line per echoed message.
struct EchoServer {
    _child: KillOnDrop,
    port: u16,
    echoed: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl EchoServer {
    fn start() -> Self {
        use std::io::BufRead as _;
        let mut child = Command::new(provision::python_with_websockets())
            .arg(root().join("tests/fixtures/websocket_echo.py"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the echo server starts");
        let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let port = first
            .strip_prefix("port ")
            .and_then(|port| port.trim().parse().ok())
            .unwrap_or_else(|| panic!("the echo server said {first:?}"));
        let echoed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = echoed.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if line == "echo" {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        });
        Self {
            _child: KillOnDrop(child),
            port,
            echoed,
        }
    }

    fn echoed(&self) -> u64 {
        // The last lines may still be in the pipe.
        std::thread::sleep(Duration::from_millis(300));
        self.echoed.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_user_talks_to_a_real_echo_server() {
    let server = EchoServer::start();
    let url = format!("ws://127.0.0.1:{}/chat", server.port);
    let run = locust(&[
        "-f",
        "examples/websocket-user",
        "--plugin",
        "plugins/websocket",
        "--host",
        &url,
        "--headless",
        "-u",
        "4",
        "-r",
        "20",
        "-t",
        "3s",
        "--stop-timeout",
        "5",
    ])
    .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let echoes = run.requests("websocket", "echo");
    assert!(echoes > 20, "{}", run.stdout);
    assert_eq!(echoes, server.echoed(), "{}", run.stdout);
    assert_eq!(run.requests("websocket", "connect"), 4);
    assert!(run.section("Error report").is_none(), "{}", run.stdout);

    // A server that is not there: the connect is a recorded failure, and the run goes on.
    let run = locust(&[
        "-f",
        "examples/websocket-user",
        "--plugin",
        "plugins/websocket",
        "--host",
        "ws://127.0.0.1:1",
        "--headless",
        "-u",
        "1",
        "-t",
        "1s",
    ])
    .await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let report = run.section("Error report").expect("failures");
    assert!(
        report.contains("websocket connect: could not connect to 127.0.0.1:1"),
        "{report}"
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_python_locustfile_uses_the_redis_plugin() {
    let server = RedisServer::start();
    let url = server.url();
    let path = crate::python::path_with_tool();
    let run = crate::harness::locust_with_env(
        &[
            "-f",
            "examples/python/redis_user.py",
            "--plugin",
            PLUGIN,
            "--host",
            &url,
            "--headless",
            "-u",
            "3",
            "-r",
            "10",
            "-t",
            "3s",
            "--stop-timeout",
            "5",
        ],
        &[("PATH", &path)],
    )
    .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let calls = server.calls();
    let mut recorded = recorded(&run, &["GET", "SET"]);
    recorded.insert("INCR".to_owned(), run.requests("redis", "INCR visits"));
    assert!(calls.get("GET").copied().unwrap_or(0) > 10, "{calls:?}");
    assert_eq!(recorded, calls, "{}", run.stdout);
    assert!(!run.stdout.contains("User errors"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn plugins_come_from_the_environment_and_config_files_too() {
    let user = root().join(USER);
    let plugin = root().join(PLUGIN);
    let (user, plugin) = (
        user.to_str().expect("utf-8 path"),
        plugin.to_str().expect("utf-8 path"),
    );
    // The user imports the redis client: listing it works only with the plugin linked.
    let run =
        crate::harness::locust_with_env(&["-f", user, "--list"], &[("LOCUST_PLUGIN", plugin)])
            .await;
    assert_eq!(run.code, 0, "LOCUST_PLUGIN: {}", run.stderr);
    assert!(run.stdout.contains("RedisUser"), "{}", run.stdout);
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("locust.conf"),
        format!("plugin = {plugin}\n"),
    )
    .expect("config");
    let run = crate::harness::locust_in(dir.path(), &["-f", user, "--list"], &[]).await;
    assert_eq!(run.code, 0, "plugin = in locust.conf: {}", run.stderr);
    assert!(run.stdout.contains("RedisUser"), "{}", run.stdout);
}
