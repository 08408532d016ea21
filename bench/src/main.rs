//! `locust-bench`: measures the `locust` host against a reference load generator in the same
//! invocation, and prints one table of figures and ratios.
//!
//! Run with `bench/run` from the repository root (it builds everything in release mode).
//!
//! What it measures, with the target server pinned to CPU 1 and load generators to CPU 0 when
//! `taskset` is available:
//! 1. CPU per request: user+sys CPU of the load generator divided by completed requests, for
//!    50 connections/users sending `GET /hello` (200-byte body) with no wait; the reference is
//!    `wrk` if installed, else a minimal hyper client (`locust-bench reference-client`).
//! 2. Throughput of the same runs.
//! 3. Resident memory per idle user: RSS at 1,000 and 10,000 users that each made one request
//!    and now wait, and the slope between the two.
//! 4. The web API's `GET /stats/requests` with 500 entries, against the same call with none.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// The body every benchmark response carries: 200 bytes.
const BODY: &[u8; 200] = &[b'x'; 200];
const CONNECTIONS: usize = 50;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(),
        Some("reference-client") => {
            let url = args.get(1).context("usage: reference-client URL SECONDS")?;
            let seconds: u64 = args.get(2).context("seconds")?.parse()?;
            reference_client(url, Duration::from_secs(seconds))
        }
        _ => {
            let seconds = args.first().and_then(|s| s.parse().ok()).unwrap_or(10);
            run_all(seconds)
        }
    }
}

/// The target: answers every request with 200 bytes.
fn serve() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("{}", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(|_request: Request<hyper::body::Incoming>| async {
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                            Bytes::from_static(BODY),
                        )))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
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
    if have("taskset") {
        let mut command = Command::new("taskset");
        command.arg("-c").arg(cpu.to_string()).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// CPU seconds used by this process's waited-for children so far (/proc/self/stat).
fn children_cpu() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let after_name = stat.rsplit_once(')').context("stat format")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 16 and 17 of stat (cutime, cstime) are at 13 and 14 after the name.
    let ticks: f64 = fields[13].parse::<f64>()? + fields[14].parse::<f64>()?;
    let per_second: f64 =
        String::from_utf8(Command::new("getconf").arg("CLK_TCK").output()?.stdout)?
            .trim()
            .parse()
            .unwrap_or(100.0);
    Ok(ticks / per_second)
}

struct Measured {
    requests: u64,
    cpu_seconds: f64,
    wall_seconds: f64,
}

impl Measured {
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

fn resident_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .context("VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmRSS value")?
        .parse()?)
}

/// Start `users` idle users and return the process's resident memory once all are spawned.
fn idle_resident(locust: &Path, component: &Path, url: &str, users: u64) -> anyhow::Result<u64> {
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
            "20000",
            "--user-memory",
            "16",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().context("stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let mut spawned = false;
    for line in lines.by_ref() {
        let line = line?;
        if line.contains("All users hatched") {
            spawned = true;
            break;
        }
        if line.contains("error") {
            eprintln!("{line}");
        }
    }
    // Let every user finish its first request and settle into its wait.
    std::thread::sleep(Duration::from_secs(3));
    let resident = resident_kib(child.id());
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    lines.for_each(drop);
    let _ = child.wait();
    if !spawned {
        bail!("locust did not spawn {users} users");
    }
    resident
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

/// `GET /stats/requests` of a web UI session: with only the aggregated row, and with 500
/// entries (the `Names` user), in milliseconds.
fn stats_endpoint(locust: &Path, component: &Path, url: &str) -> anyhow::Result<(f64, f64)> {
    let mut child = pinned(0, locust)
        .arg("-f")
        .arg(component)
        .args(["--host", url, "-P", "0", "--web-host", "127.0.0.1", "Names"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(child.stderr.take().context("stderr")?).lines();
    let mut web = None;
    for line in lines.by_ref() {
        let line = line?;
        if let Some((_, address)) = line.split_once("Starting web interface at http://") {
            web = Some(address.trim().parse::<SocketAddr>()?);
            break;
        }
    }
    let drain = std::thread::spawn(move || lines.for_each(drop));
    let address = web.context("the web UI did not start")?;
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
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let _ = drain.join();
    Ok((empty, full))
}

fn run_all(seconds: u64) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let bin_dir = exe.parent().context("binary directory")?;
    let locust = bin_dir.join("locust");
    let root = bin_dir.join("../..");
    let component: PathBuf = root.join("target/wasm32-wasip2/release/bench_guest.wasm");
    if !locust.exists() || !component.exists() {
        bail!("build first: run bench/run from the repository root");
    }

    let mut target = pinned(1, &exe)
        .arg("serve")
        .stdout(Stdio::piped())
        .spawn()?;
    let mut first = String::new();
    BufReader::new(target.stdout.take().context("target stdout")?).read_line(&mut first)?;
    let url = format!("http://{}", first.trim());
    eprintln!("target on {url}; each run lasts {seconds}s");

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
    let ours = measure(command, aggregated_requests)?;

    let (stats_empty, stats_full) = stats_endpoint(&locust, &component, &url)?;
    let small = idle_resident(&locust, &component, &url, 1_000)?;
    let large = idle_resident(&locust, &component, &url, 10_000)?;
    let _ = target.kill();

    let per_user = (large.saturating_sub(small)) as f64 * 1024.0 / 9_000.0;
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
    println!(
        "| web API `GET /stats/requests`, 500 entries vs aggregated only (ms, median) | {stats_full:.2} | {stats_empty:.2} (empty) | {:.1}× |",
        stats_full / stats_empty
    );
    println!(
        "| resident memory at 1,000 idle users (MiB) | {:.1} | | |",
        small as f64 / 1024.0
    );
    println!(
        "| resident memory at 10,000 idle users (MiB) | {:.1} | | |",
        large as f64 / 1024.0
    );
    println!(
        "| resident memory per idle user (KiB, slope) | {:.1} | | |",
        per_user / 1024.0
    );
    Ok(())
}
