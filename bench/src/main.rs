//! `locust-bench`: measures the `locust` host against a reference load generator in the same
//! invocation, and prints one table of figures and ratios.
//!
//! Run with `bench/run` from the repository root (it builds everything in release mode).
//!
//! What it measures, with the target server pinned to CPU 1 and load generators to CPU 0 when
//! `taskset` is available:
//! 1. CPU per request: user+sys CPU of the load generator divided by completed requests (less
//!    the CPU `locust` takes once to compile the component, measured with `--list`), for
//!    50 connections/users sending `GET /hello` (200-byte body) with no wait; the reference is
//!    `wrk` if installed, else a minimal hyper client (`locust-bench reference-client`).
//! 2. Throughput of the same runs; and, as the kernel's share of a request grows when the
//!    target idles between requests, wrk's CPU per request at about our throughput (the fewest
//!    connections that reach it). Also the CPU per request of 4,000 users that wait 0.5 s
//!    between requests (their connections parked in between).
//! 3. Memory per idle user: RSS at 1,000, 10,000 and 100,000 users that each made one request
//!    and now wait, and the slope between the smallest and the largest; the same for private
//!    memory (RSS counts the guests' shared copy-on-write image pages once per instance).
//! 4. Spawn rate: users per second from the start of spawning until the target has seen every
//!    user's first request, asked for 100,000 users at 100,000/s. Then both again for 1,000
//!    and 100,000 users that make no request (so they need no connection, and the open-files
//!    limit does not cap them): memory per user, and users started per CPU-second (the start
//!    is CPU-bound on the one core).
//! 5. Accuracy: the 50/90/95/99th response-time percentiles the web API reports for a target
//!    that answers after a random 10–50 ms, against the exact percentiles of the delays the
//!    target itself measured.
//! 6. The web API's `GET /stats/requests` with 500 entries, against the same call with none.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

mod fuzz;
mod isolation;
mod k6;
mod python;
mod redis;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// The body every benchmark response carries: 200 bytes.
const BODY: &[u8; 200] = &[b'x'; 200];
const CONNECTIONS: usize = 50;
/// Loopback addresses the target listens on (127.0.0.1 to 127.0.0.N), so that 100,000 users
/// do not run out of ephemeral ports towards one address.
const TARGET_ADDRESSES: u8 = 8;
/// The most idle users measured.
const MOST_USERS: u64 = 100_000;

/// What the target records: requests served, and the delays it applied to `/delay`.
#[derive(Default)]
struct Served {
    count: AtomicU64,
    delays_us: std::sync::Mutex<Vec<u64>>,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(),
        Some("reference-client") => {
            let url = args.get(1).context("usage: reference-client URL SECONDS")?;
            let seconds: u64 = args.get(2).context("seconds")?.parse()?;
            reference_client(url, Duration::from_secs(seconds))
        }
        Some("isolation") => {
            let seconds = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
            let result = isolation::run(seconds);
            let _ = std::fs::remove_dir_all(cache_home());
            result
        }
        Some("fuzz") => fuzz::run(
            args.get(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(1_000_000),
        ),
        Some("python") => {
            let seconds = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
            let result = run_python(seconds);
            let _ = std::fs::remove_dir_all(cache_home());
            result
        }
        Some("k6") => {
            let seconds = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
            let result = run_k6(seconds);
            let _ = std::fs::remove_dir_all(cache_home());
            result
        }
        Some("redis") => {
            let seconds = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
            let result = run_redis(seconds);
            let _ = std::fs::remove_dir_all(cache_home());
            result
        }
        _ => {
            let seconds = args.first().and_then(|s| s.parse().ok()).unwrap_or(10);
            let result = run_all(seconds);
            let _ = std::fs::remove_dir_all(cache_home());
            result
        }
    }
}

/// Bind the same free port on 127.0.0.1 to 127.0.0.N.
async fn bind_all() -> anyhow::Result<Vec<tokio::net::TcpListener>> {
    for _ in 0..20 {
        let first = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = first.local_addr()?.port();
        let mut listeners = vec![first];
        for last in 2..=TARGET_ADDRESSES {
            match tokio::net::TcpListener::bind(("127.0.0.".to_owned() + &last.to_string(), port))
                .await
            {
                Ok(listener) => listeners.push(listener),
                Err(_) => break,
            }
        }
        if listeners.len() == usize::from(TARGET_ADDRESSES) {
            return Ok(listeners);
        }
    }
    bail!("could not bind one port on 127.0.0.1 to 127.0.0.{TARGET_ADDRESSES}")
}

async fn answer(
    request: Request<hyper::body::Incoming>,
    served: Arc<Served>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    // Asking for the count is not a request of the load.
    if request.uri().path() != "/count" {
        served.count.fetch_add(1, Ordering::Relaxed);
    }
    let body = match request.uri().path() {
        "/delay" => {
            let started = Instant::now();
            let delay = rand::random_range(10_000..=50_000u64);
            tokio::time::sleep(Duration::from_micros(delay)).await;
            let took = started.elapsed().as_micros() as u64;
            served
                .delays_us
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(took);
            Bytes::from_static(BODY)
        }
        "/count" => Bytes::from(served.count.load(Ordering::Relaxed).to_string()),
        "/delays" => {
            let delays = std::mem::take(
                &mut *served
                    .delays_us
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            let text: Vec<String> = delays.iter().map(u64::to_string).collect();
            Bytes::from(text.join("\n"))
        }
        _ => Bytes::from_static(BODY),
    };
    Ok(Response::new(Full::new(body)))
}

/// The target: answers every request with 200 bytes, `/delay` after 10–50 ms; `/count` says
/// how many requests it served and `/delays` hands over the delays it measured (µs).
fn serve() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listeners = bind_all().await?;
        println!("{}", listeners[0].local_addr()?);
        let served = Arc::new(Served::default());
        for listener in listeners {
            let served = served.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let served = served.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            answer(request, served.clone())
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        }
        // Serve until killed.
        std::future::pending::<anyhow::Result<()>>().await
    })
}

/// The fallback reference: 50 keep-alive connections sending GETs as fast as they can.
fn reference_client(url: &str, duration: Duration) -> anyhow::Result<()> {
    let address: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .context("reference-client takes http://IP:PORT")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let done = Arc::new(AtomicU64::new(0));
    runtime.block_on(async {
        let deadline = tokio::time::Instant::now() + duration;
        let mut tasks = Vec::new();
        for _ in 0..CONNECTIONS {
            let done = done.clone();
            tasks.push(tokio::spawn(async move {
                let stream = tokio::net::TcpStream::connect(address).await?;
                let _ = stream.set_nodelay(true);
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(connection);
                while tokio::time::Instant::now() < deadline {
                    let request = Request::get("/hello")
                        .header("host", address.to_string())
                        .body(Empty::<Bytes>::new())?;
                    let response = sender.send_request(request).await?;
                    let _ = response.into_body().collect().await?;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                anyhow::Ok(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        anyhow::Ok(())
    })?;
    println!("{}", done.load(Ordering::Relaxed));
    Ok(())
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A command pinned to `cpu` with taskset when possible.
fn pinned(cpu: u32, program: &Path) -> Command {
    let mut command = if have("taskset") {
        let mut command = Command::new("taskset");
        command.arg("-c").arg(cpu.to_string()).arg(program);
        command
    } else {
        Command::new(program)
    };
    command.env("XDG_CACHE_HOME", cache_home());
    // Users spread their connections over the target's loopback addresses: grant them all.
    if program.file_name().is_some_and(|name| name == "locust") {
        let hosts: Vec<String> = (1..=TARGET_ADDRESSES)
            .map(|last| format!("127.0.0.{last}"))
            .collect();
        command.env("LOCUST_ALLOW_HOST", hosts.join(","));
    }
    command
}

/// The cache folder of every `locust` this benchmark starts: its own, so that the figures do
/// not depend on what the user's cache of compiled components holds.
fn cache_home() -> &'static Path {
    static HOME: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    HOME.get_or_init(|| std::env::temp_dir().join(format!("locust-bench-{}", std::process::id())))
}

/// CPU seconds used by this process's waited-for children so far (/proc/self/stat).
fn children_cpu() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let after_name = stat.rsplit_once(')').context("stat format")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 16 and 17 of stat (cutime, cstime) are at 13 and 14 after the name.
    let ticks: f64 = fields[13].parse::<f64>()? + fields[14].parse::<f64>()?;
    Ok(ticks / clock_ticks()?)
}

/// Clock ticks per second, the unit of /proc's CPU times.
fn clock_ticks() -> anyhow::Result<f64> {
    Ok(
        String::from_utf8(Command::new("getconf").arg("CLK_TCK").output()?.stdout)?
            .trim()
            .parse()
            .unwrap_or(100.0),
    )
}

struct Measured {
    requests: u64,
    cpu_seconds: f64,
    wall_seconds: f64,
}

impl Measured {
    /// The same run without `cpu_seconds` of one-off work.
    fn without(self, cpu_seconds: f64) -> Self {
        Self {
            cpu_seconds: (self.cpu_seconds - cpu_seconds).max(0.0),
            ..self
        }
    }
    fn cpu_per_request_us(&self) -> f64 {
        self.cpu_seconds / self.requests.max(1) as f64 * 1e6
    }
    fn rps(&self) -> f64 {
        self.requests as f64 / self.wall_seconds
    }
}

/// Run `command` to completion and measure its CPU; `count` reads the request count from its
/// standard output.
fn measure(mut command: Command, count: impl Fn(&str) -> Option<u64>) -> anyhow::Result<Measured> {
    let before = children_cpu()?;
    let started = Instant::now();
    let output = command.stderr(Stdio::inherit()).output()?;
    let wall_seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = children_cpu()? - before;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let requests = count(&stdout).with_context(|| format!("no request count in:\n{stdout}"))?;
    Ok(Measured {
        requests,
        cpu_seconds,
        wall_seconds,
    })
}

fn aggregated_requests(summary: &str) -> Option<u64> {
    summary
        .lines()
        .rev()
        .find(|line| line.trim_start().starts_with("Aggregated") && line.contains('|'))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|count| count.parse().ok())
}

fn wrk_requests(output: &str) -> Option<u64> {
    // "  123456 requests in 10.00s, ..."
    output
        .lines()
        .find(|line| line.contains(" requests in "))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|count| count.parse().ok())
}

/// Memory of a process, KiB: resident (RSS, which counts a page shared by several of the
/// process's mappings once per mapping, as the guests' copy-on-write memory images are), and
/// private (the pages only this process maps, each counted once).
#[derive(Clone, Copy)]
struct Memory {
    resident: u64,
    private: u64,
}

/// KiB per user of the memory `of` picks, from its growth between a run of 1,000 users
/// (`small`) and one of `users` (`large`).
fn per_user(small: &Memory, large: &Memory, users: u64, of: fn(&Memory) -> u64) -> f64 {
    of(large).saturating_sub(of(small)) as f64 / (users - 1_000) as f64
}

/// Resident and private memory of process `pid`.
fn memory_kib(pid: u32) -> anyhow::Result<Memory> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = rollup
            .lines()
            .find(|line| line.starts_with(name))
            .with_context(|| format!("{name} in smaps_rollup"))?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .with_context(|| format!("{name} value"))?
            .parse()?)
    };
    Ok(Memory {
        resident: field("Rss:")?,
        private: field("Private_Clean:")? + field("Private_Dirty:")?,
    })
}

/// One plain GET on a fresh connection; the body as text.
fn get_text(url: &str) -> anyhow::Result<String> {
    let output = Command::new("curl")
        .args(["-s", "--max-time", "10", url])
        .output()?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Requests the target has served so far.
fn served_count(url: &str) -> anyhow::Result<u64> {
    Ok(get_text(&format!("{url}/count"))?.trim().parse()?)
}

/// An idle-users run: resident memory once every user made its first request, and users
/// started per second from the start of spawning until then.
struct IdleRun {
    memory: Memory,
    spawn_rate: f64,
}

/// CPU seconds process `pid` has used so far (/proc/PID/stat).
fn process_cpu(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat.rsplit_once(')').context("stat format")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the name.
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / clock_ticks()?)
}

/// A run of users without connections: memory once all have started, and the CPU it took to
/// start them.
struct SleeperRun {
    memory: Memory,
    /// CPU seconds to start the users (loading the component excluded).
    start_cpu: f64,
}

/// Start `users` `Sleeper` users (no request, then an hour's wait) as fast as possible; once
/// the process is quiet, measure its memory and the CPU it took to start them.
fn sleeper_run(
    locust: &Path,
    component: &Path,
    users: u64,
    startup_cpu: f64,
) -> anyhow::Result<SleeperRun> {
    let count = users.to_string();
    let mut child: Child = pinned(0, locust)
        .arg("-f")
        .arg(component)
        .args(["--headless", "--only-summary", "-t", "10m", "Sleeper"])
        .args(["-u", &count, "-r", &count, "--user-memory", "16"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id();
    let result = (|| {
        // Quiet: under 1% of a CPU over half a second.
        let deadline = Instant::now() + Duration::from_secs(600);
        let mut last = process_cpu(pid)?;
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let now = process_cpu(pid)?;
            if now > startup_cpu && now - last < 0.005 {
                break;
            }
            if Instant::now() > deadline {
                bail!("{users} users without connections did not settle within 10 minutes");
            }
            last = now;
        }
        Ok(SleeperRun {
            memory: memory_kib(pid)?,
            start_cpu: process_cpu(pid)? - startup_cpu,
        })
    })();
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let _ = child.wait();
    result
}

/// Start `users` idle users at `rate`; measure resident memory and the spawn rate.
fn idle_run(
    locust: &Path,
    component: &Path,
    url: &str,
    users: u64,
    rate: u64,
) -> anyhow::Result<IdleRun> {
    let before = served_count(url)?;
    let mut child: Child = pinned(0, locust)
        .args(["-f"])
        .arg(component)
        .args([
            "--headless",
            "--only-summary",
            "--host",
            url,
            "-t",
            "10m",
            "Idle",
        ])
        .args([
            "-u",
            &users.to_string(),
            "-r",
            &rate.to_string(),
            "--user-memory",
            "16",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().context("stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let mut started = None;
    for line in lines.by_ref() {
        let line = line?;
        if line.contains("Hatching and swarming") {
            started = Some(Instant::now());
            break;
        }
        if line.contains("error") || line.contains("WARN") {
            eprintln!("{line}");
        }
    }
    let drain = std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if line.contains("ERROR") || line.contains("WARN") {
                eprintln!("{line}");
            }
        }
    });
    let result = (|| {
        let started = started.context("locust did not start spawning")?;
        // Every user's first request has arrived once the count has gone up by `users`.
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            if served_count(url)? >= before + users {
                break;
            }
            if Instant::now() > deadline {
                bail!("{users} users did not all make their first request within 10 minutes");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let spawn_seconds = started.elapsed().as_secs_f64();
        // Let every user settle into its wait.
        std::thread::sleep(Duration::from_secs(2));
        Ok(IdleRun {
            memory: memory_kib(child.id())?,
            spawn_rate: users as f64 / spawn_seconds,
        })
    })();
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let _ = drain.join();
    result
}

/// CPU seconds `locust` takes to load (describe, and load the compiled code of) the
/// component, from `locust --list`. The compiled code is cached, so the first `--list` of each
/// engine configuration the runs use (the default, and `--user-memory 16` of the idle users)
/// compiles it for them, and the second one is measured.
fn startup_cpu(locust: &Path, component: &Path) -> anyhow::Result<f64> {
    let list = |extra: &[&str]| -> anyhow::Result<f64> {
        let before = children_cpu()?;
        let status = pinned(0, locust)
            .arg("-f")
            .arg(component)
            .arg("--list")
            .args(extra)
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("locust --list failed");
        }
        Ok(children_cpu()? - before)
    };
    list(&["--user-memory", "16"])?;
    list(&[])?;
    list(&[])
}

/// Users of the paced run, each waiting [`PACED_WAIT`] between requests.
const PACED_USERS: u64 = 4_000;
/// The `Steady` user's wait, as the table says it.
const PACED_WAIT: &str = "0.5 s";

/// CPU per request of `Steady` users, which wait long enough to park their connections.
fn paced_run(locust: &Path, component: &Path, url: &str, seconds: u64) -> anyhow::Result<Measured> {
    let users = PACED_USERS.to_string();
    let mut command = pinned(0, locust);
    command
        .arg("-f")
        .arg(component)
        .args(["--headless", "--only-summary", "--host", url, "Steady"])
        .args(["-u", &users, "-r", &users, "-t", &format!("{seconds}s")]);
    measure(command, aggregated_requests)
}

/// wrk with the fewest connections that reach `rps` requests/s (3 s runs), and how many.
fn wrk_at_rate(url: &str, rps: f64) -> anyhow::Result<Option<(usize, Measured)>> {
    for connections in 1..=CONNECTIONS {
        let mut command = pinned(0, Path::new("wrk"));
        command.args([
            "-t1",
            &format!("-c{connections}"),
            "-d3s",
            &format!("{url}/hello"),
        ]);
        let run = measure(command, wrk_requests)?;
        if run.rps() >= rps {
            return Ok(Some((connections, run)));
        }
    }
    Ok(None)
}

/// Exact percentile `fraction` of sorted `values` (nearest rank, as HDR histograms report).
fn exact_percentile(sorted: &[u64], fraction: f64) -> f64 {
    let rank = ((fraction * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

/// Percentiles (50, 90, 95, 99) of `/delay` as the web API reports them, and the exact ones
/// of the delays the target measured, in milliseconds.
fn accuracy(
    locust: &Path,
    component: &Path,
    url: &str,
    seconds: u64,
) -> anyhow::Result<Vec<(f64, f64, f64)>> {
    let run = WebRun::start(locust, component, url, "Delayed")?;
    let web = run.web.clone();
    let result = (|| {
        let _ = get_text(&format!("{url}/delays"))?; // forget earlier delays
        let swarm = format!(
            "curl -s -o /dev/null -X POST -d user_count={CONNECTIONS} -d spawn_rate=1000 {web}/swarm"
        );
        Command::new("sh").args(["-c", &swarm]).status()?;
        std::thread::sleep(Duration::from_secs(seconds));
        get_text(&format!("{web}/stop"))?;
        let report: serde_json::Value =
            serde_json::from_str(&get_text(&format!("{web}/stats/requests"))?)?;
        let row = report["stats"]
            .as_array()
            .and_then(|rows| rows.iter().find(|row| row["name"] == "/delay"))
            .context("no /delay row")?;
        let mut delays: Vec<u64> = get_text(&format!("{url}/delays"))?
            .lines()
            .filter_map(|line| line.parse().ok())
            .collect();
        delays.sort_unstable();
        if delays.is_empty() {
            bail!("the target measured no delays");
        }
        let field = |name: &str| row[name].as_f64().unwrap_or(f64::NAN);
        Ok([
            (0.5, "median_response_time"),
            (0.9, "ninetieth_response_time"),
            (0.95, "response_time_percentile_0.95"),
            (0.99, "response_time_percentile_0.99"),
        ]
        .into_iter()
        .map(|(fraction, name)| (fraction, field(name), exact_percentile(&delays, fraction)))
        .collect())
    })();
    run.stop();
    result
}

/// Median time of `rounds` GETs of `path` on one kept-alive connection, milliseconds.
fn median_get_ms(address: SocketAddr, path: &str, rounds: usize) -> anyhow::Result<f64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let stream = tokio::net::TcpStream::connect(address).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let mut times = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let request = Request::get(path)
                .header("host", address.to_string())
                .body(Empty::<Bytes>::new())?;
            let started = Instant::now();
            let response = sender.send_request(request).await?;
            let _ = response.into_body().collect().await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        anyhow::Ok(times[times.len() / 2])
    })
}

/// A `locust` web UI of `class` on a free port, testing `url`.
struct WebRun {
    child: Child,
    /// `http://127.0.0.1:port`.
    web: String,
    drain: std::thread::JoinHandle<()>,
}

impl WebRun {
    fn start(locust: &Path, component: &Path, url: &str, class: &str) -> anyhow::Result<Self> {
        let mut child = pinned(0, locust)
            .arg("-f")
            .arg(component)
            .args(["--host", url, "-P", "0", "--web-host", "127.0.0.1", class])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut lines = BufReader::new(child.stderr.take().context("stderr")?).lines();
        let mut web = None;
        for line in lines.by_ref() {
            let line = line?;
            if let Some((_, address)) = line.split_once("Starting web interface at ") {
                web = Some(address.trim().to_owned());
                break;
            }
        }
        let drain = std::thread::spawn(move || lines.for_each(drop));
        match web {
            Some(web) => Ok(Self { child, web, drain }),
            None => {
                let _ = child.kill();
                bail!("the web UI did not start")
            }
        }
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = self.drain.join();
    }
}

/// `GET /stats/requests` of a web UI session: with only the aggregated row, and with 500
/// entries (the `Names` user), in milliseconds.
fn stats_endpoint(locust: &Path, component: &Path, url: &str) -> anyhow::Result<(f64, f64)> {
    let run = WebRun::start(locust, component, url, "Names")?;
    let address: SocketAddr = run.web.trim_start_matches("http://").parse()?;
    let empty = median_get_ms(address, "/stats/requests", 200)?;
    let swarm = format!(
        "curl -s -o /dev/null -X POST -d user_count=1 -d hatch_rate=1 http://{address}/swarm"
    );
    Command::new("sh").args(["-c", &swarm]).status()?;
    // Wait for the 500 entries.
    for _ in 0..100 {
        let body = Command::new("curl")
            .args(["-s", &format!("http://{address}/stats/requests")])
            .output()?;
        if String::from_utf8_lossy(&body.stdout)
            .matches("\"/name/")
            .count()
            >= 500
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let full = median_get_ms(address, "/stats/requests", 200)?;
    run.stop();
    Ok((empty, full))
}

/// The `locust` binary beside this one, and the repository root.
fn locations() -> anyhow::Result<(PathBuf, PathBuf, PathBuf)> {
    let exe = std::env::current_exe()?;
    let bin_dir = exe.parent().context("binary directory")?;
    let locust = bin_dir.join("locust");
    let root = bin_dir.join("../..");
    Ok((exe, locust, root))
}

/// The benchmark's target, pinned to CPU 1, and its URL.
fn start_target(exe: &Path, seconds: u64) -> anyhow::Result<(Child, String)> {
    let mut target = pinned(1, exe).arg("serve").stdout(Stdio::piped()).spawn()?;
    let mut first = String::new();
    BufReader::new(target.stdout.take().context("target stdout")?).read_line(&mut first)?;
    let url = format!("http://{}", first.trim());
    eprintln!("target on {url}; each run lasts {seconds}s");
    Ok((target, url))
}

/// Only the Redis rows (`locust-bench redis`): the redis plugin against redis-benchmark, and
/// an idle Redis user's memory beside a plain HTTP idle user's.
fn run_redis(seconds: u64) -> anyhow::Result<()> {
    let (exe, locust, root) = locations()?;
    let component: PathBuf = root.join("target/wasm32-wasip2/release/bench_guest.wasm");
    let (mut target, url) = start_target(&exe, seconds)?;
    startup_cpu(&locust, &component)?;
    let plain = (|| -> anyhow::Result<f64> {
        let small = idle_run(&locust, &component, &url, 200, 500)?;
        let large = idle_run(&locust, &component, &url, 1_200, 500)?;
        Ok(large.memory.private.saturating_sub(small.memory.private) as f64 / 1_000.0)
    })();
    let _ = target.kill();
    let rows = redis::rows(&root, &locust, plain.ok(), seconds)?;
    println!("| figure | locust | reference | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

/// Only the Python rows (`locust-bench python`).
fn run_python(seconds: u64) -> anyhow::Result<()> {
    let (exe, locust, root) = locations()?;
    let (mut target, url) = start_target(&exe, seconds)?;
    let rows = python::rows(&root, &locust, &url, seconds);
    let _ = target.kill();
    println!("| figure | locust | Locust | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    for row in rows? {
        println!("{row}");
    }
    Ok(())
}

/// Only the k6 rows (`locust-bench k6`).
fn run_k6(seconds: u64) -> anyhow::Result<()> {
    let (exe, locust, root) = locations()?;
    let (mut target, url) = start_target(&exe, seconds)?;
    let rows = k6::rows(&root, &locust, &url, seconds);
    let _ = target.kill();
    println!("| figure | locust | k6 | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    for row in rows? {
        println!("{row}");
    }
    Ok(())
}

/// Stop a process the benchmark started (SIGTERM) and reap it.
fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

fn run_all(seconds: u64) -> anyhow::Result<()> {
    let (exe, locust, root) = locations()?;
    let component: PathBuf = root.join("target/wasm32-wasip2/release/bench_guest.wasm");
    if !locust.exists() || !component.exists() {
        bail!("build first: run bench/run from the repository root");
    }
    let (mut target, url) = start_target(&exe, seconds)?;

    let (reference_name, reference) = if have("wrk") {
        let mut command = pinned(0, Path::new("wrk"));
        command.args([
            "-t1",
            &format!("-c{CONNECTIONS}"),
            &format!("-d{seconds}s"),
            &format!("{url}/hello"),
        ]);
        ("wrk", measure(command, wrk_requests)?)
    } else {
        let mut command = pinned(0, &exe);
        command.args(["reference-client", &url, &seconds.to_string()]);
        (
            "hyper client",
            measure(command, |out| out.trim().parse().ok())?,
        )
    };
    let mut command = pinned(0, &locust);
    command
        .arg("-f")
        .arg(&component)
        .args(["--headless", "--only-summary", "--host", &url, "Hammer"])
        .args([
            "-u",
            &CONNECTIONS.to_string(),
            "-r",
            "1000",
            "-t",
            &format!("{seconds}s"),
        ]);
    // Loading the component (compiling it) happens once per process, however long the run:
    // take it out of the per-request figures.
    let startup = startup_cpu(&locust, &component)?;
    let ours = measure(command, aggregated_requests)?.without(startup);
    let paced = paced_run(&locust, &component, &url, seconds)?.without(startup);
    // The kernel's share of a request depends on the load: at a lower rate the target sleeps
    // between requests and every request has to wake it. So also find wrk's cost at about our
    // throughput (fewer connections).
    let matched = if reference_name == "wrk" {
        wrk_at_rate(&url, ours.rps())?
    } else {
        None
    };

    let (stats_empty, stats_full) = stats_endpoint(&locust, &component, &url)?;
    let accuracy = accuracy(&locust, &component, &url, seconds)?;
    let small = idle_run(&locust, &component, &url, 1_000, 20_000)?;
    let medium = idle_run(&locust, &component, &url, 10_000, 20_000)?;
    // Without connections, open files do not limit the count.
    let few_sleepers = sleeper_run(&locust, &component, 1_000, startup)?;
    let sleepers = sleeper_run(&locust, &component, MOST_USERS, startup)?;
    // 100,000 connections need that many open files on both sides.
    let large = if rlimit::setrlimit(rlimit::Resource::NOFILE, 300_000, 300_000).is_ok() {
        Some(idle_run(&locust, &component, &url, MOST_USERS, MOST_USERS)?)
    } else {
        let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((0, 0));
        eprintln!(
            "skipping {MOST_USERS} users: they need {} open files (one connection each, on both sides) and this system's hard limit is {hard}; run the benchmark where it can be raised (root with CAP_SYS_RESOURCE)",
            MOST_USERS * 2
        );
        None
    };
    let python_rows = python::rows(&root, &locust, &url, seconds)?;
    let k6_rows = k6::rows(&root, &locust, &url, seconds)?;
    let _ = target.kill();

    let (far_users, far) = match &large {
        Some(large) => (MOST_USERS, large),
        None => (10_000, &medium),
    };
    let slope = |of: fn(&Memory) -> u64| per_user(&small.memory, &far.memory, far_users, of);
    println!("| figure | locust | {reference_name} | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| CPU per request (µs), {CONNECTIONS} users, zero wait | {:.1} | {:.1} | {:.2}× |",
        ours.cpu_per_request_us(),
        reference.cpu_per_request_us(),
        ours.cpu_per_request_us() / reference.cpu_per_request_us()
    );
    println!(
        "| requests/s | {:.0} | {:.0} | {:.2}× |",
        ours.rps(),
        reference.rps(),
        ours.rps() / reference.rps()
    );
    if let Some((connections, wrk)) = &matched {
        println!(
            "| CPU per request (µs), wrk at about locust's throughput ({connections} connections, {:.0} requests/s) | {:.1} | {:.1} | {:.2}× |",
            wrk.rps(),
            ours.cpu_per_request_us(),
            wrk.cpu_per_request_us(),
            ours.cpu_per_request_us() / wrk.cpu_per_request_us()
        );
    }
    println!(
        "| CPU per request (µs), {PACED_USERS} users each waiting {PACED_WAIT} between requests (connections parked) | {:.1} | | |",
        paced.cpu_per_request_us()
    );
    for (label, run) in [
        ("1,000", Some(&small)),
        ("10,000", Some(&medium)),
        ("100,000", large.as_ref()),
    ] {
        match run {
            Some(run) => println!(
                "| resident memory at {label} idle users (MiB) | {:.1} | | |",
                run.memory.resident as f64 / 1024.0
            ),
            None => println!(
                "| resident memory at {label} idle users (MiB) | not measured: open-files hard limit too low | | |"
            ),
        }
    }
    println!(
        "| resident memory per idle user (KiB, slope from 1,000 to {far_users}) | {:.1} | | |",
        slope(|memory| memory.resident)
    );
    println!(
        "| private memory per idle user (KiB, same slope; shared pages counted once) | {:.1} | | |",
        slope(|memory| memory.private)
    );
    println!(
        "| users spawned per second, {far_users} users asked at {}/s (until each made its first request) | {:.0} | | |",
        if large.is_some() { MOST_USERS } else { 20_000 },
        far.spawn_rate
    );
    let sleeper_slope =
        |of: fn(&Memory) -> u64| per_user(&few_sleepers.memory, &sleepers.memory, MOST_USERS, of);
    println!(
        "| resident memory at {MOST_USERS} users without connections (MiB; per user, slope from 1,000: KiB) | {:.1}; {:.1} | | |",
        sleepers.memory.resident as f64 / 1024.0,
        sleeper_slope(|memory| memory.resident)
    );
    println!(
        "| private memory per user without connections (KiB, same slope) | {:.1} | | |",
        sleeper_slope(|memory| memory.private)
    );
    println!(
        "| users started per CPU-second, {MOST_USERS} without connections (instance, on_start, first task) | {:.0} | | |",
        MOST_USERS as f64 / sleepers.start_cpu
    );
    for (fraction, ours, exact) in accuracy {
        println!(
            "| {:.0}th percentile, random 10–50 ms delay (ms): reported vs the target's exact | {ours:.2} | {exact:.2} (exact) | {:.4}× |",
            fraction * 100.0,
            ours / exact
        );
    }
    println!(
        "| web API `GET /stats/requests`, 500 entries vs aggregated only (ms, median) | {stats_full:.2} | {stats_empty:.2} (empty) | {:.1}× |",
        stats_full / stats_empty
    );
    println!("\nPython (the reference column is Locust itself):\n");
    println!("| figure | locust | Locust | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    for row in python_rows {
        println!("{row}");
    }
    println!("\nk6 scripts (the reference column is k6 itself):\n");
    println!("| figure | locust | k6 | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    for row in k6_rows {
        println!("{row}");
    }
    Ok(())
}
