//! `bench/run isolation [SECONDS]`: tenant B's steady run in a `locust serve`, alone and then
//! beside tenant A's hostile runs (users in an endless loop, a memory bomb, a trapping guest,
//! all at once, plus refused submissions), on the same service in one invocation. Reports B's
//! median response time and throughput in both, their ratio, and whether B's statistics equal
//! what B's target served.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::{locations, pinned, served_count, start_target};

/// B's users: the fixture's `Lifecycle` class (a GET every 0.1 s).
const B_USERS: u64 = 20;
/// A's CPU share, instructions per second for each of its runs.
const A_FUEL_PER_SECOND: u64 = 100_000_000;

fn sha256_hex(text: &str) -> String {
    let output = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    output
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// `curl` with a tenant's token: method, URL, optional body (`@file` for a file).
fn call(token: &str, method: &str, url: &str, body: Option<&str>) -> anyhow::Result<(u16, Value)> {
    let mut command = Command::new("curl");
    command
        .args([
            "-s",
            "--max-time",
            "60",
            "-X",
            method,
            "-w",
            "\n%{http_code}",
        ])
        .args(["-H", &format!("Authorization: Bearer {token}")]);
    if let Some(body) = body {
        command.args(["--data-binary", body]);
    }
    let output = command.arg(url).output()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').context("curl's answer")?;
    Ok((
        status.trim().parse()?,
        serde_json::from_str(body).unwrap_or(Value::Null),
    ))
}

struct Service {
    child: Child,
    api: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_service(locust: &Path, dir: &Path, tenants: &str) -> anyhow::Result<Service> {
    std::fs::write(dir.join("tenants.toml"), tenants)?;
    let mut child = pinned(0, locust)
        .args(["serve", "--tenants"])
        .arg(dir.join("tenants.toml"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["-P", "0"])
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().context("service stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines
            .next()
            .context("the service exited before it listened")??;
        if let Some((_, rest)) = line.split_once("tenant(s) at ") {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
        }
    };
    // Keep reading its log so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(Service {
        child,
        api: format!("{url}/api/v1"),
    })
}

fn submit(service: &Service, token: &str, settings: Value) -> anyhow::Result<String> {
    let (status, run) = call(
        token,
        "POST",
        &format!("{}/runs", service.api),
        Some(&settings.to_string()),
    )?;
    if status != 201 {
        bail!("submitting {settings}: {status} {run}");
    }
    Ok(run["id"].as_str().context("run id")?.to_owned())
}

fn wait_over(service: &Service, token: &str, id: &str) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        let (_, run) = call(token, "GET", &format!("{}/runs/{id}", service.api), None)?;
        if !["queued", "running", "stopping"].contains(&run["state"].as_str().unwrap_or("")) {
            return Ok(run);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("run {id} did not end")
}

/// (median ms, requests per second, recorded requests) of B's run.
fn b_figures(service: &Service, id: &str, seconds: u64) -> anyhow::Result<(f64, f64, u64)> {
    let (_, stats) = call(
        "b",
        "GET",
        &format!("{}/runs/{id}/stats", service.api),
        None,
    )?;
    let total = stats["stats"]
        .as_array()
        .and_then(|rows| rows.iter().find(|row| row["name"] == "Aggregated"))
        .context("an Aggregated row")?;
    let requests = total["num_requests"].as_u64().unwrap_or(0);
    Ok((
        total["median_response_time"].as_f64().unwrap_or(0.0),
        requests as f64 / seconds as f64,
        requests,
    ))
}

/// The isolation rows.
pub fn run(seconds: u64) -> anyhow::Result<()> {
    let (exe, locust, root) = locations()?;
    let component = root.join("target/wasm32-wasip2/release/fixture_guest.wasm");
    if !component.exists() {
        bail!("build first: run bench/run isolation from the repository root");
    }
    let (mut target_b, url_b) = start_target(&exe, seconds)?;
    let (mut target_a, url_a) = start_target(&exe, seconds)?;
    let dir = std::env::temp_dir().join(format!("locust-isolation-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let tenants = format!(
        "[[tenant]]\nname = \"a\"\ntoken-sha256 = \"{}\"\nallow-hosts = [\"{url_a}\"]\nmax-users = 8\nmax-concurrent-runs = 3\nmax-user-memory-mib = 16\nmax-fuel-per-second = {A_FUEL_PER_SECOND}\n\n\
         [[tenant]]\nname = \"c\"\ntoken-sha256 = \"{}\"\nallow-hosts = [\"{url_a}\"]\nmax-users = 8\nmax-concurrent-runs = 3\nmax-user-memory-mib = 16\nmax-fuel-per-second = 1_000_000_000_000\n\n\
         [[tenant]]\nname = \"b\"\ntoken-sha256 = \"{}\"\nallow-hosts = [\"{url_b}\"]\nmax-users = {B_USERS}\n",
        sha256_hex("a"),
        sha256_hex("c"),
        sha256_hex("b"),
    );
    let result = (|| -> anyhow::Result<()> {
        let service = start_service(&locust, &dir, &tenants)?;
        let upload = format!("@{}", component.display());
        let (status, uploaded) = call(
            "b",
            "POST",
            &format!("{}/components", service.api),
            Some(&upload),
        )?;
        if status != 201 {
            bail!("upload: {status} {uploaded}");
        }
        for tenant in ["a", "c"] {
            call(
                tenant,
                "POST",
                &format!("{}/components", service.api),
                Some(&upload),
            )?;
        }
        let id = uploaded["id"].as_str().context("component id")?.to_owned();
        let steady = json!({
            "component": id, "users": B_USERS, "spawn_rate": 100, "run_time": format!("{seconds}s"),
            "host": url_b, "classes": ["Lifecycle"],
        });

        let alone = submit(&service, "b", steady.clone())?;
        wait_over(&service, "b", &alone)?;
        let served_alone = served_count(&url_b)?;
        let (median_alone, rate_alone, recorded_alone) = b_figures(&service, &alone, seconds)?;

        let hostile = |class: &str| {
            json!({
                "component": id, "users": 4, "spawn_rate": 100, "run_time": format!("{seconds}s"),
                "stop_timeout": "1s", "host": url_a, "classes": [class],
            })
        };
        // B again, beside `tenant`'s hostile runs: median, rate, recorded, served.
        let mut served_before = served_alone;
        let mut beside = |tenant: &str| -> anyhow::Result<(f64, f64, u64, u64)> {
            let run = submit(&service, "b", steady.clone())?;
            let mut runs = Vec::new();
            for class in ["Looping", "Hungry", "Failing"] {
                runs.push(submit(&service, tenant, hostile(class))?);
            }
            wait_over(&service, "b", &run)?;
            for other in &runs {
                wait_over(&service, tenant, other)?;
            }
            let served = served_count(&url_b)?;
            let delta = served - served_before;
            served_before = served;
            let (median, rate, recorded) = b_figures(&service, &run, seconds)?;
            Ok((median, rate, recorded, delta))
        };
        let capped = beside("a")?;
        let uncapped = beside("c")?;
        let refused = |users: u64, host: &str| -> anyhow::Result<u16> {
            let settings = json!({"component": id, "users": users, "host": host}).to_string();
            Ok(call(
                "a",
                "POST",
                &format!("{}/runs", service.api),
                Some(&settings),
            )?
            .0)
        };
        let (over_quota, to_b) = (refused(80, &url_a)?, refused(1, &url_b)?);
        println!(
            "| tenant B, {B_USERS} users, {seconds} s | alone | beside A (CPU share {A_FUEL_PER_SECOND}/s) | ratio | beside A without a CPU share | ratio |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: |");
        println!(
            "| median response time | {median_alone:.2} ms | {:.2} ms | {:.2} | {:.2} ms | {:.2} |",
            capped.0,
            capped.0 / median_alone.max(0.001),
            uncapped.0,
            uncapped.0 / median_alone.max(0.001)
        );
        println!(
            "| throughput | {rate_alone:.1} req/s | {:.1} req/s | {:.2} | {:.1} req/s | {:.2} |",
            capped.1,
            capped.1 / rate_alone.max(0.001),
            uncapped.1,
            uncapped.1 / rate_alone.max(0.001)
        );
        println!(
            "| recorded / served by B's target | {recorded_alone} / {served_alone} | {} / {} | | {} / {} | |",
            capped.2, capped.3, uncapped.2, uncapped.3
        );
        println!(
            "A's runs: 4 looping, 4 memory-bombing and 4 trapping users at once; 10x its user quota answered {over_quota}, B's host answered {to_b}"
        );
        if recorded_alone != served_alone || capped.2 != capped.3 || uncapped.2 != uncapped.3 {
            bail!("B's statistics differ from what its target served");
        }
        Ok(())
    })();
    let _ = target_a.kill();
    let _ = target_b.kill();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
