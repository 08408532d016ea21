//! The Redis rows (`bench/run redis`): the redis plugin against Debian's `redis-benchmark` on
//! the same `redis-server`, and the memory of an idle user holding a Redis connection beside a
//! plain HTTP idle user.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::bail;

use super::{
    Measured, Memory, aggregated_requests, children_cpu, have, measure, memory_kib, pinned,
};

/// Connections of the throughput runs, as the issue's comparison asks.
const CONNECTIONS: u64 = 50;
/// Idle users of the small and the large memory runs.
const IDLE: (u64, u64) = (200, 1_200);

/// A `redis-server` pinned to CPU 1 on a free port.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start() -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = pinned(1, Path::new("redis-server"))
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--maxclients", "4000"])
            .stdout(Stdio::null())
            .spawn()?;
        let server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.cli(&["PING"]).trim() != "PONG" {
            if Instant::now() > deadline {
                bail!("redis-server did not start");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        server.cli(&["SET", "bench", "a value of some twenty bytes"]);
        Ok(server)
    }

    fn cli(&self, args: &[&str]) -> String {
        Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
            .unwrap_or_default()
    }

    fn clients(&self) -> u64 {
        self.cli(&["INFO", "clients"])
            .lines()
            .find_map(|line| line.strip_prefix("connected_clients:"))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `locust` running the benchmark's Redis users with the plugin.
fn locust_redis(locust: &Path, root: &Path, server: &Server, class: &str) -> Command {
    let mut command = pinned(0, locust);
    // Built by bench/run: a crate directory would cost a cargo run in every measurement.
    let built = root.join("target/wasm32-wasip2/release");
    command
        .arg("-f")
        .arg(built.join("bench_redis_guest.wasm"))
        .arg("--plugin")
        .arg(built.join("locust_redis_plugin.wasm"))
        .args(["--host", &format!("redis://127.0.0.1:{}", server.port)])
        .args(["--headless", "--only-summary", class]);
    command
}

/// Private memory once `users` idle users hold their connections.
fn idle_memory(locust: &Path, root: &Path, server: &Server, users: u64) -> anyhow::Result<Memory> {
    let before = server.clients();
    let count = users.to_string();
    let mut child = locust_redis(locust, root, server, "RedisIdle")
        .args([
            "-u",
            &count,
            "-r",
            "500",
            "-t",
            "10m",
            "--user-memory",
            "16",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let result = (|| {
        let deadline = Instant::now() + Duration::from_secs(300);
        while server.clients() < before + users {
            if Instant::now() > deadline {
                bail!("{users} Redis users did not all connect within 5 minutes");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_secs(2));
        memory_kib(child.id())
    })();
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    result
}

/// The Redis rows of the table, or why they cannot be measured here.
pub fn rows(
    root: &Path,
    locust: &Path,
    plain_idle_kib: Option<f64>,
    seconds: u64,
) -> anyhow::Result<Vec<String>> {
    for program in ["redis-server", "redis-cli", "redis-benchmark"] {
        if !have(program) {
            bail!(
                "{program} is missing: install Debian's redis-server (apt-get install redis-server)"
            );
        }
    }
    let server = Server::start()?;
    // Compile once, so that the measured runs load cached code; the second `--list` is what
    // loading (composing, describing, loading the code) costs, taken out of the run's CPU.
    let list = || -> anyhow::Result<f64> {
        let before = children_cpu()?;
        let status = locust_redis(locust, root, &server, "RedisHammer")
            .arg("--list")
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("locust --list of the Redis bench user failed (run bench/run, which builds it)");
        }
        Ok(children_cpu()? - before)
    };
    list()?;
    let startup = list()?;
    let reference = {
        let mut command = pinned(0, Path::new("redis-benchmark"));
        command
            .args([
                "-p",
                &server.port.to_string(),
                "-c",
                &CONNECTIONS.to_string(),
            ])
            .args([
                "-n",
                &(40_000 * seconds).to_string(),
                "-t",
                "get",
                "-q",
                "--csv",
            ]);
        measure(command, |_| Some(40_000 * seconds))?
    };
    let ours: Measured = {
        let mut command = locust_redis(locust, root, &server, "RedisHammer");
        command.args([
            "-u",
            &CONNECTIONS.to_string(),
            "-r",
            "1000",
            "-t",
            &format!("{seconds}s"),
        ]);
        measure(command, aggregated_requests)?.without(startup)
    };
    let (small, large) = (
        idle_memory(locust, root, &server, IDLE.0)?,
        idle_memory(locust, root, &server, IDLE.1)?,
    );
    let per_user = (large.private.saturating_sub(small.private)) as f64 / (IDLE.1 - IDLE.0) as f64;
    let mut rows = vec![
        format!(
            "| CPU per Redis GET, {CONNECTIONS} connections, no wait | {:.1} µs | {:.1} µs | {:.2}× |",
            ours.cpu_per_request_us(),
            reference.cpu_per_request_us(),
            ours.cpu_per_request_us() / reference.cpu_per_request_us()
        ),
        format!(
            "| Redis GETs per second (one core each) | {:.0} | {:.0} | {:.2}× |",
            ours.rps(),
            reference.rps(),
            ours.rps() / reference.rps()
        ),
    ];
    match plain_idle_kib {
        Some(plain) => rows.push(format!(
            "| private memory per idle user with one connection | {per_user:.1} KiB (redis plugin) | {plain:.1} KiB (plain HTTP user) | {:.2}× |",
            per_user / plain
        )),
        None => rows.push(format!(
            "| private memory per idle user with one Redis connection | {per_user:.1} KiB | | |"
        )),
    }
    Ok(rows)
}
