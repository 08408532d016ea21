//! Distributed runs with real processes: one master and several workers on 127.0.0.1, the
//! component shipped by the master, statistics merged exactly, workers lost and rejoining,
//! and peers that must be refused.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use locust::dist::protocol::{Frame, Hello, Message, PROTOCOL_VERSION};
use locust::dist::transport;
use locust::stats::StatsEntry;

use crate::client::Client;
use crate::harness::{Background, Run, Target, fixture};

/// A master of the fixture testing `target`, listening for workers on a free port of
/// 127.0.0.1; returns it with that port. `web` waits for the web UI instead of the workers'
/// port only.
pub(crate) async fn master(target: &Target, extra: &[&str], web: bool) -> (Background, String) {
    let fixture = fixture().to_str().expect("utf-8 path").to_owned();
    master_of(&fixture, target, extra, web, &[]).await
}

/// [`master`] of the component or locustfile `file`, with environment variables `env`.
pub(crate) async fn master_of(
    file: &str,
    target: &Target,
    extra: &[&str],
    web: bool,
    env: &[(&str, &str)],
) -> (Background, String) {
    let mut args = vec![
        "-f",
        file,
        "--master",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        "0",
        "--host",
        &target.url,
    ];
    args.extend_from_slice(extra);
    let mut master = if web {
        args.extend_from_slice(&["-P", "0", "--web-host", "127.0.0.1"]);
        Background::start_web(&args, env).await
    } else {
        Background::start_with(&args, env, "Waiting for workers on ").await
    };
    let log = format!("{}{}", master.early_log, master.ready);
    let port = log
        .split("Waiting for workers on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|address| address.rsplit(':').next())
        .expect("the master logs its workers' port")
        .to_owned();
    if !web {
        master.ready.clear();
    }
    (master, port)
}

/// A worker of the master on `port`, with its own component cache in `cache`; returns once it
/// is connected and ready, with its id.
pub(crate) async fn worker(port: &str, cache: &Path, extra: &[&str]) -> (Background, String) {
    let mut args = vec!["--worker", "--master-port", port];
    args.extend_from_slice(extra);
    let cache = cache.to_str().expect("utf-8 path");
    let worker = Background::start_with(
        &args,
        &[("XDG_CACHE_HOME", cache)],
        "Connected to the master as ",
    )
    .await;
    let id = worker
        .ready
        .split(';')
        .next()
        .expect("an id")
        .trim()
        .to_owned();
    (worker, id)
}

/// A worker of the master on `port` with nothing of its own: an empty component cache (the
/// suite's compiled code shared, so that it does not compile again) and nothing on PATH, so it
/// must get the component from the master. Returns it once connected, with its cache folder.
pub(crate) async fn bare_worker(port: &str) -> (Background, tempfile::TempDir) {
    let cache = tempfile::tempdir().expect("cache");
    crate::python::share_compiled_code(cache.path());
    let worker = Background::start_with(
        &["--worker", "--master-port", port],
        &[
            ("XDG_CACHE_HOME", cache.path().to_str().expect("utf-8")),
            ("PATH", "/nonexistent"),
        ],
        "Connected to the master as ",
    )
    .await;
    (worker, cache)
}

/// The users per class a worker (or master) logged when all were spawned.
fn hatched(run: &Run) -> BTreeMap<String, u64> {
    let line = run
        .stderr
        .lines()
        .rfind(|line| line.contains("All users hatched: "))
        .unwrap_or_else(|| panic!("no hatch line in:\n{}", run.stderr));
    let list = line.split("All users hatched: ").nth(1).expect("list");
    let list = list.split(" (").next().expect("list");
    list.split(", ")
        .map(|pair| {
            let (name, count) = pair.split_once(": ").expect("name: count");
            (name.to_owned(), count.parse().expect("count"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_split_the_classes_and_the_master_merges_exactly() {
    let target = Target::start().await;
    let cache = tempfile::tempdir().expect("cache dir");
    let out = tempfile::tempdir().expect("csv dir");
    let prefix = out.path().join("dist");
    let prefix = prefix.to_str().expect("utf-8 path");
    let (master, port) = master(
        &target,
        &[
            "--headless",
            "--expect-workers",
            "3",
            "-u",
            "8",
            "-r",
            "100",
            "-t",
            "4s",
            // Users finish the request in flight when the test stops, so that every request
            // the target served is also recorded (shipped to the workers with the spawn).
            "--stop-timeout",
            "5",
            "--csv",
            prefix,
            "Heavy",
            "Light",
        ],
        false,
    )
    .await;
    let mut workers = Vec::new();
    for _ in 0..3 {
        workers.push(worker(&port, cache.path(), &[]).await.0);
    }
    let run = master.wait().await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut worker_runs = Vec::new();
    for worker in workers {
        let worker_run = worker.wait().await;
        assert_eq!(worker_run.code, 0, "{}", worker_run.stderr);
        assert!(
            worker_run.stderr.contains("The master says to quit"),
            "{}",
            worker_run.stderr
        );
        worker_runs.push(worker_run);
    }

    // Users per class follow the weights (3:1 of 8), split evenly across the workers.
    let total = hatched(&run);
    assert_eq!(total["Heavy"], 6, "{}", run.stderr);
    assert_eq!(total["Light"], 2, "{}", run.stderr);
    let shares: Vec<BTreeMap<String, u64>> = worker_runs.iter().map(hatched).collect();
    for share in &shares {
        assert_eq!(share["Heavy"], 2, "{shares:?}");
        assert!(share["Light"] <= 1, "{shares:?}");
    }
    assert_eq!(shares.iter().map(|share| share["Light"]).sum::<u64>(), 2);

    // Every request the target served is in the master's statistics, once.
    let heavy = target.count("/d/heavy") as u64;
    let light = target.count("/d/light") as u64;
    assert!(heavy > 0 && light > 0);
    assert_eq!(run.requests("GET", "/d/heavy"), heavy, "{}", run.stdout);
    assert_eq!(run.requests("GET", "/d/light"), light, "{}", run.stdout);

    // Hooks: init in every process, test_start and test_stop on the master only; what the
    // workers' request listeners saw reached the master through report_to_master.
    assert_eq!(target.count("/h/init"), 4);
    assert_eq!(target.count("/h/test-start"), 1);
    let stops: Vec<_> = target
        .hits()
        .into_iter()
        .filter(|hit| hit.path == "/h/test-stop")
        .collect();
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].seen, Some(target.user_requests()));

    // The master's percentiles equal those of all the raw samples together.
    let samples = target
        .hits()
        .into_iter()
        .find(|hit| hit.path == "/h/samples")
        .expect("the master's hooks sent the raw samples")
        .body;
    let mut exact: BTreeMap<String, StatsEntry> = BTreeMap::new();
    for line in samples.lines() {
        let (name, micros) = line.split_once(',').expect("name,us");
        exact
            .entry(name.to_owned())
            .or_insert_with(|| StatsEntry::new("GET", name, 0.0))
            .record(
                Duration::from_micros(micros.parse().expect("micros")),
                0,
                false,
                0.0,
            );
    }
    let mut reader = csv::Reader::from_path(format!("{prefix}_stats.csv")).expect("stats csv");
    let headers = reader.headers().expect("headers").clone();
    let mut compared = 0;
    for row in reader.records() {
        let row = row.expect("row");
        let Some(entry) = exact.get(&row[1]) else {
            continue;
        };
        assert_eq!(row[2].parse::<u64>().expect("count"), entry.num_requests);
        for (header, value) in headers.iter().zip(row.iter()) {
            if let Some(percent) = header.strip_suffix('%') {
                let fraction = percent.parse::<f64>().expect("percent") / 100.0;
                let expected = format!("{}", entry.percentile(fraction) as u64);
                assert_eq!(value, expected, "{} at {header}", &row[1]);
                compared += 1;
            }
        }
    }
    assert!(compared >= 20, "{compared} percentiles compared");
}

/// Workers as the web UI lists them: id → (state, users).
type Workers = BTreeMap<String, (String, u64)>;

/// Users on workers that are not missing.
fn live_users(workers: &Workers) -> u64 {
    workers
        .values()
        .filter(|(state, _)| state != "missing")
        .map(|(_, users)| users)
        .sum()
}

/// Poll the master's web UI until `accept` holds for its workers (for up to 15 seconds).
async fn poll_workers(
    client: &Client,
    url: &str,
    description: &str,
    accept: impl Fn(&Workers) -> bool,
) -> Workers {
    let mut last = Workers::new();
    for _ in 0..150 {
        let json: serde_json::Value = client
            .get(format!("{url}/stats/requests"))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json");
        last = json["workers"]
            .as_array()
            .expect("workers")
            .iter()
            .map(|worker| {
                let id = worker["id"].as_str().expect("id").to_owned();
                let state = worker["state"].as_str().expect("state").to_owned();
                (id, (state, worker["user_count"].as_u64().expect("users")))
            })
            .collect();
        if accept(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{description}: workers are {last:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_worker_is_marked_missing_its_users_move_and_a_new_one_joins() {
    let target = Target::start().await;
    let cache = tempfile::tempdir().expect("cache dir");
    let (master, port) = master(&target, &["Heavy", "Light"], true).await;
    let mut workers = Vec::new();
    for _ in 0..3 {
        workers.push(worker(&port, cache.path(), &[]).await);
    }
    let client = Client::new();
    let swarm = client
        .post(format!("{}/swarm", master.url))
        .form(&[("user_count", "6"), ("spawn_rate", "100")])
        .send()
        .await
        .expect("swarm");
    assert!(swarm.status().is_success());

    let running = poll_workers(
        &client,
        &master.url,
        "all three workers run two users each",
        |workers| {
            workers.len() == 3
                && workers
                    .values()
                    .all(|(state, users)| state == "running" && *users == 2)
        },
    )
    .await;
    assert_eq!(live_users(&running), 6);

    let (killed, killed_id) = workers.remove(0);
    let killed_run = killed.kill().await;
    assert_ne!(killed_run.code, 0);
    let after_kill = poll_workers(
        &client,
        &master.url,
        "the killed worker is missing and its users moved",
        |workers| {
            workers
                .get(&killed_id)
                .is_some_and(|(state, _)| state == "missing")
                && workers
                    .iter()
                    .filter(|(_, (state, _))| state != "missing")
                    .all(|(_, (state, users))| state == "running" && *users == 3)
        },
    )
    .await;
    assert_eq!(live_users(&after_kill), 6);

    let (joined, joined_id) = worker(&port, cache.path(), &[]).await;
    let after_join = poll_workers(
        &client,
        &master.url,
        "the new worker takes its share",
        |workers| {
            workers
                .get(&joined_id)
                .is_some_and(|(state, users)| state == "running" && *users == 2)
                && workers
                    .values()
                    .filter(|(state, _)| state != "missing")
                    .all(|(_, users)| *users == 2)
        },
    )
    .await;
    assert_eq!(live_users(&after_join), 6);
    // The test kept running: requests still arrive.
    let before = target.user_requests();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(target.user_requests() > before);

    let stop = client
        .get(format!("{}/stop", master.url))
        .send()
        .await
        .expect("stop");
    assert!(stop.status().is_success());
    let master_run = master.stop().await;
    assert_eq!(master_run.code, 0, "{}", master_run.stderr);
    assert!(
        master_run
            .stderr
            .contains("disconnected, setting state to missing"),
        "{}",
        master_run.stderr
    );
    assert!(
        master_run
            .stderr
            .contains(&format!("Worker {joined_id} connected")),
        "{}",
        master_run.stderr
    );
    for (worker, _) in workers.into_iter().chain([(joined, joined_id)]) {
        let run = worker.wait().await;
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
}

/// Send `frame` as the first frame of a new stream to the master on `port`; return its answer.
async fn first_answer(port: &str, frame: Frame) -> Option<Message> {
    let mut stream = transport::connect(format!("http://127.0.0.1:{port}"), None)
        .await
        .expect("connect");
    stream.outbound.send(frame.into()).await.expect("send");
    let reply = tokio::time::timeout(Duration::from_secs(10), stream.inbound.message())
        .await
        .expect("an answer within 10 s")
        .ok()
        .flatten()?;
    Message::from_frame(&reply.into()).ok()
}

fn hello(version: u32, token: Option<&str>) -> Frame {
    Message::Hello(Hello {
        version,
        worker_id: "raw-peer".into(),
        component_hash: None,
        cached: Vec::new(),
        token: token.map(str::to_owned),
    })
    .to_frame()
    .expect("encode")
}

fn refusal(answer: Option<Message>) -> String {
    match answer {
        Some(Message::Refused(reason)) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_peers_are_refused_and_the_master_goes_on() {
    let target = Target::start().await;
    let cache = tempfile::tempdir().expect("cache dir");
    let (master, port) = master(
        &target,
        &[
            "--headless",
            "--expect-workers",
            "1",
            "-u",
            "2",
            "-r",
            "100",
            "-t",
            "2s",
            "--master-token",
            "s3cret",
            "Heavy",
        ],
        false,
    )
    .await;

    // A malformed frame, another protocol version, a missing token: refused, with reasons.
    let garbage = Frame {
        kind: "hello".into(),
        payload: vec![0xc1, 0xff, 0x13],
    };
    assert!(refusal(first_answer(&port, garbage).await).contains("malformed hello"));
    let version = refusal(first_answer(&port, hello(PROTOCOL_VERSION + 1, Some("s3cret"))).await);
    assert!(
        version.contains(&format!("version {PROTOCOL_VERSION}"))
            && version.contains(&format!("version {}", PROTOCOL_VERSION + 1)),
        "{version}"
    );
    assert!(refusal(first_answer(&port, hello(PROTOCOL_VERSION, None)).await).contains("token"));

    // Real workers: a wrong token, and another component, end with one clear line.
    let port_arg = port.as_str();
    let wrong_token = crate::harness::locust(&[
        "--worker",
        "--master-port",
        port_arg,
        "--master-token",
        "guess",
    ])
    .await;
    assert_eq!(wrong_token.code, 1);
    assert!(
        wrong_token
            .stderr
            .contains("error: the master refused this worker: wrong or missing master token"),
        "{}",
        wrong_token.stderr
    );
    let other = cache.path().join("other.wasm");
    let mut bytes = std::fs::read(fixture()).expect("fixture");
    // A custom section (id 0) named "x": the same program, another hash.
    bytes.extend_from_slice(&[0, 2, 1, b'x']);
    std::fs::write(&other, bytes).expect("write");
    let other = other.to_str().expect("utf-8 path");
    let other_component = crate::harness::locust(&[
        "--worker",
        "--master-port",
        port_arg,
        "--master-token",
        "s3cret",
        "-f",
        other,
    ])
    .await;
    assert_eq!(other_component.code, 1, "{}", other_component.stderr);
    assert!(
        other_component.stderr.contains("differs from the master's"),
        "{}",
        other_component.stderr
    );

    // The master survived all that: a good worker (with the same component) runs the test.
    let fixture = fixture().to_str().expect("utf-8 path");
    let (good, _) = worker(
        &port,
        cache.path(),
        &["--master-token", "s3cret", "-f", fixture],
    )
    .await;
    let run = master.wait().await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.requests("GET", "/d/heavy") > 0, "{}", run.stdout);
    for expected in [
        "malformed hello",
        "protocol version mismatch",
        "token",
        "differs",
    ] {
        assert!(
            run.stderr
                .lines()
                .any(|line| line.contains("Refused") && line.contains(expected)),
            "no refusal naming {expected}:\n{}",
            run.stderr
        );
    }
    assert_eq!(good.wait().await.code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_worker_link_runs_over_tls() {
    let target = Target::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).expect("cert");
    std::fs::write(&key, certified.key_pair.serialize_pem()).expect("key");
    let (cert, key) = (
        cert.to_str().expect("utf-8").to_owned(),
        key.to_str().expect("utf-8").to_owned(),
    );
    let (master, port) = master(
        &target,
        &[
            "--headless",
            "-u",
            "1",
            "-t",
            "1s",
            "--master-tls-cert",
            &cert,
            "--master-tls-key",
            &key,
            "Light",
        ],
        false,
    )
    .await;
    // A worker that speaks plain text cannot join: it keeps trying until stopped.
    let plain = Background::start_with(
        &["--worker", "--master-port", &port],
        &[],
        "Waiting for the master",
    )
    .await;
    assert_eq!(plain.stop().await.code, 0);
    let (worker_run, _) = worker(&port, dir.path(), &["--master-tls-ca", &cert]).await;
    let run = master.wait().await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.requests("GET", "/d/light") > 0, "{}", run.stdout);
    assert_eq!(worker_run.wait().await.code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_reconnect_to_a_restarted_master() {
    let target = Target::start().await;
    let cache = tempfile::tempdir().expect("cache dir");
    // A port both master processes use, one after the other.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
        probe.local_addr().expect("address").port().to_string()
    };
    let fixture = fixture().to_str().expect("utf-8 path").to_owned();
    let start_master = |extra: &'static [&'static str]| {
        let mut args = vec![
            "-f".to_owned(),
            fixture.clone(),
            "--master".to_owned(),
            "--master-bind-host".to_owned(),
            "127.0.0.1".to_owned(),
            "--master-bind-port".to_owned(),
            port.clone(),
            "--host".to_owned(),
            target.url.clone(),
        ];
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Background::start_with(&args, &[], "Waiting for workers on ").await
        }
    };
    let first = start_master(&["-P", "0", "--web-host", "127.0.0.1"]).await;
    let (worker, _) = worker(&port, cache.path(), &[]).await;
    // The master dies without a word; the worker keeps trying until a master is back.
    assert_ne!(first.kill().await.code, 0);
    let second = start_master(&["--headless", "-u", "2", "-r", "100", "-t", "2s", "Light"]).await;
    let run = second.wait().await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.requests("GET", "/d/light") > 0, "{}", run.stdout);
    let worker_run = worker.wait().await;
    assert_eq!(worker_run.code, 0, "{}", worker_run.stderr);
    assert!(
        worker_run
            .stderr
            .contains("Lost the connection to the master"),
        "{}",
        worker_run.stderr
    );
    assert_eq!(
        worker_run
            .stderr
            .matches("Connected to the master as")
            .count(),
        2
    );
}
