//! The Python rows: `bench/python/locustfile.py` run by this host (built with componentize-py)
//! and by Locust itself (installed by `bench/run` into `target/tools/locust`), side by side
//! against the same target, each pinned to CPU 0.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{
    CONNECTIONS, Memory, aggregated_requests, children_cpu, have, memory_kib, pinned, served_count,
    stop,
};

/// Users of the two memory runs; the slope between them is the memory per user.
const FEW: u64 = 200;
const MANY: u64 = 1_000;
/// Python users that must fit in one process.
const CROWD: u64 = 5_000;

/// Every Python row of the table (figure, this host, Locust, ratio).
pub fn rows(root: &Path, locust: &Path, url: &str, seconds: u64) -> anyhow::Result<Vec<String>> {
    let file = root.join("bench/python/locustfile.py");
    if !have("componentize-py") {
        return Ok(vec![
            "| Python rows | not measured: componentize-py is not on PATH (bench/run installs it) | | |".to_owned(),
        ]);
    }
    let reference = root.join("target/tools/locust/bin/locust");
    let reference = reference.exists().then_some(reference);
    let mut rows = Vec::new();

    // Cold: nothing cached (this benchmark has its own, empty cache folder).
    let (cold_wall, cold_cpu) = list(locust, &file)?;
    let (_, warm_cpu) = list(locust, &file)?;
    rows.push(format!(
        "| Python: build and compile a cold locustfile (s, wall; CPU) | {cold_wall:.1}; {cold_cpu:.1} | | |"
    ));
    let first = first_request(locust, &file, url)?;
    rows.push(format!(
        "| Python: warm start (cached) to the first request (s) | {first:.2} | | |"
    ));

    let ours = hammered(hammer(locust, &file, url, seconds))?.without(warm_cpu);
    match &reference {
        Some(reference) => {
            let (_, startup) = list(reference, &file)?;
            let theirs = hammered(hammer(reference, &file, url, seconds))?.without(startup);
            rows.push(format!(
                "| Python: CPU per request (µs), {CONNECTIONS} FastHttpUsers, zero wait | {:.1} | {:.1} | {:.2}× |",
                ours.cpu_per_request_us(),
                theirs.cpu_per_request_us(),
                ours.cpu_per_request_us() / theirs.cpu_per_request_us()
            ));
            rows.push(format!(
                "| Python: requests/s | {:.0} | {:.0} | {:.2}× |",
                ours.rps(),
                theirs.rps(),
                ours.rps() / theirs.rps()
            ));
        }
        None => rows.push(format!(
            "| Python: CPU per request (µs), {CONNECTIONS} FastHttpUsers, zero wait | {:.1} | not measured (no target/tools/locust) | |",
            ours.cpu_per_request_us()
        )),
    }

    let few = settled(locust, &file, url, FEW)?;
    let many = settled(locust, &file, url, MANY)?;
    let slope = |of: fn(&Memory) -> u64| {
        of(&many).saturating_sub(of(&few)) as f64 / (MANY - FEW) as f64 / 1024.0
    };
    let (their_private, their_resident) = match &reference {
        Some(reference) => {
            let few = settled(reference, &file, url, FEW)?;
            let many = settled(reference, &file, url, MANY)?;
            let per = |of: fn(&Memory) -> u64| {
                of(&many).saturating_sub(of(&few)) as f64 / (MANY - FEW) as f64 / 1024.0
            };
            (
                format!("{:.2}", per(|memory| memory.private)),
                format!("{:.2}", per(|memory| memory.resident)),
            )
        }
        None => (String::new(), String::new()),
    };
    rows.push(format!(
        "| Python: private memory per idle user after on_start and 100 tasks (MiB, slope {FEW} → {MANY}) | {:.2} | {their_private} | |",
        slope(|memory| memory.private)
    ));
    rows.push(format!(
        "| Python: resident memory per idle user, same runs (MiB; counts shared image pages once per user) | {:.2} | {their_resident} | |",
        slope(|memory| memory.resident)
    ));
    rows.push(format!(
        "| Python: users started per second, {MANY} users asked at 100,000/s (until each made its first request) | {:.0} | | |",
        start_rate(locust, &file, url, MANY)?
    ));
    // Only where the machine holds them: the slope says how much they need.
    let needed_kib = slope(|memory| memory.private) * 1024.0 * CROWD as f64;
    if needed_kib < available_kib()? * 0.7 {
        let crowd = settled_class(locust, &file, url, CROWD, "Starter", 1)?;
        rows.push(format!(
            "| Python: {CROWD} users in one process, each after its first request (private GiB) | {:.1} | | |",
            crowd.private as f64 / (1 << 20) as f64
        ));
    } else {
        rows.push(format!(
            "| Python: {CROWD} idle users in one process | not run: they need ~{:.1} GiB, more than 70% of this machine's available memory | | |",
            needed_kib / (1 << 20) as f64
        ));
    }
    Ok(rows)
}

/// Wall and CPU seconds of `locust -f FILE --list` (build and compile when nothing is cached).
fn list(program: &Path, file: &Path) -> anyhow::Result<(f64, f64)> {
    let before = children_cpu()?;
    let started = Instant::now();
    let output = pinned(0, program)
        .arg("-f")
        .arg(file)
        .arg("--list")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    if !output.status.success() {
        bail!(
            "{} -f {} --list failed:\n{}",
            program.display(),
            file.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok((started.elapsed().as_secs_f64(), children_cpu()? - before))
}

/// The `Hammer` run of `program` (this host or Locust: the same options).
fn hammer(program: &Path, file: &Path, url: &str, seconds: u64) -> Command {
    let mut command = pinned(0, program);
    command
        .arg("-f")
        .arg(file)
        .args(["--headless", "--only-summary", "--host", url, "Hammer"])
        .args(["-u", &CONNECTIONS.to_string(), "-r", "1000"])
        .args(["-t", &format!("{seconds}s")]);
    command
}

/// Run a `Hammer` command and measure it; Locust prints its summary on standard error, this
/// host on standard output, so both are read.
fn hammered(mut command: Command) -> anyhow::Result<super::Measured> {
    let before = children_cpu()?;
    let started = Instant::now();
    let output = command.stderr(Stdio::piped()).output()?;
    let wall_seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = children_cpu()? - before;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    let requests =
        aggregated_requests(&text).with_context(|| format!("no request count in:\n{text}"))?;
    Ok(super::Measured {
        requests,
        cpu_seconds,
        wall_seconds,
    })
}

/// Seconds from starting `locust` (with everything cached) to the target's first request.
fn first_request(locust: &Path, file: &Path, url: &str) -> anyhow::Result<f64> {
    let before = served_count(url)?;
    let started = Instant::now();
    let child = users(locust, file, url, 1, "Starter")?;
    let result = wait_for(url, before + 1, Duration::from_secs(60)).map(|()| started.elapsed());
    stop(child);
    Ok(result?.as_secs_f64())
}

/// A run of `count` users of `class` at 100,000/s, left running.
fn users(program: &Path, file: &Path, url: &str, count: u64, class: &str) -> anyhow::Result<Child> {
    let count = count.to_string();
    Ok(pinned(0, program)
        .arg("-f")
        .arg(file)
        .args([
            "--headless",
            "--only-summary",
            "--host",
            url,
            "-t",
            "30m",
            class,
        ])
        .args(["-u", &count, "-r", "100000"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?)
}

/// Wait until the target has served `count` requests in all.
fn wait_for(url: &str, count: u64, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while served_count(url)? < count {
        if Instant::now() > deadline {
            bail!("the target did not see {count} requests within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// `count` `Idle` users once each has made its 100 requests and waits.
fn settled(program: &Path, file: &Path, url: &str, count: u64) -> anyhow::Result<Memory> {
    settled_class(program, file, url, count, "Idle", 100)
}

/// `count` users of `class` once each has made `requests` requests and waits.
fn settled_class(
    program: &Path,
    file: &Path,
    url: &str,
    count: u64,
    class: &str,
    requests: u64,
) -> anyhow::Result<Memory> {
    let before = served_count(url)?;
    let child = users(program, file, url, count, class)?;
    let result = (|| {
        wait_for(url, before + count * requests, Duration::from_secs(900))?;
        std::thread::sleep(Duration::from_secs(2));
        memory_kib(child.id())
    })();
    stop(child);
    result
}

/// Users started per second: from the spawn log line until each user's first request.
fn start_rate(locust: &Path, file: &Path, url: &str, count: u64) -> anyhow::Result<f64> {
    let before = served_count(url)?;
    let mut child = users(locust, file, url, count, "Starter")?;
    let stderr = child.stderr.take().context("stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let mut started = None;
    for line in lines.by_ref() {
        if line?.contains("Hatching and swarming") {
            started = Some(Instant::now());
            break;
        }
    }
    let drain = std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    let result = started
        .context("locust did not start spawning")
        .and_then(|started| {
            wait_for(url, before + count, Duration::from_secs(600))?;
            Ok(count as f64 / started.elapsed().as_secs_f64())
        });
    stop(child);
    let _ = drain.join();
    result
}

/// Memory the kernel says is available, KiB.
fn available_kib() -> anyhow::Result<f64> {
    let info = std::fs::read_to_string("/proc/meminfo")?;
    let line = info
        .lines()
        .find(|line| line.starts_with("MemAvailable:"))
        .context("MemAvailable in /proc/meminfo")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("MemAvailable value")?
        .parse()?)
}
