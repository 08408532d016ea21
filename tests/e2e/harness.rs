//! What every end-to-end test needs: the fixture component (built once), a real HTTP target
//! on 127.0.0.1 that logs every request it serves, and a way to run the real `locust` binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The fixture component (tests/fixtures/guest), built once per test run.
pub fn fixture() -> &'static Path {
    static FIXTURE: OnceLock<PathBuf> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        locust::component::build_guest_crate(&root().join("tests/fixtures/guest"))
            .expect("the fixture component builds")
    })
}

/// One request the target served.
#[derive(Clone, Debug)]
pub struct Hit {
    /// Path and query.
    pub path: String,
    /// The `x-user` header, if sent.
    pub user: Option<u64>,
    /// The `cookie` header, if sent.
    pub cookie: Option<String>,
    /// The `x-waits` header, if sent.
    pub waits: Option<u32>,
    /// The `x-seen` header, if sent.
    pub seen: Option<u64>,
    /// The `authorization` header, if sent.
    pub authorization: Option<String>,
    /// The request body, as text.
    pub body: String,
    /// When it arrived, since the target started.
    pub at: Duration,
}

#[derive(Clone)]
struct TargetState {
    started: Instant,
    hits: Arc<Mutex<Vec<Hit>>>,
    sessions: Arc<AtomicU64>,
    /// Where `/away` redirects.
    away: Arc<Mutex<Option<String>>>,
}

/// A test HTTP server on 127.0.0.1.
pub struct Target {
    /// `http://127.0.0.1:port`.
    pub url: String,
    state: TargetState,
}

async fn serve(State(state): State<TargetState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let request = Request::from_parts(parts, ());
    let headers = request.headers();
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let hit = Hit {
        path: path.clone(),
        user: text("x-user").and_then(|v| v.parse().ok()),
        cookie: text("cookie"),
        waits: text("x-waits").and_then(|v| v.parse().ok()),
        seen: text("x-seen").and_then(|v| v.parse().ok()),
        authorization: text("authorization"),
        body: String::from_utf8_lossy(&body).into_owned(),
        at: state.started.elapsed(),
    };
    state.hits.lock().expect("hits").push(hit);
    let mut response = Response::builder().status(StatusCode::OK);
    if path == "/c/login" {
        let session = state.sessions.fetch_add(1, Ordering::Relaxed);
        response = response.header(header::SET_COOKIE, format!("session={session}; Path=/"));
    } else if let Some(code) = path.strip_prefix("/status/") {
        response = response.status(code.parse::<u16>().unwrap_or(500));
    } else if path == "/slow" {
        tokio::time::sleep(Duration::from_secs(2)).await;
    } else if path == "/redirect" {
        response = response.status(302).header(header::LOCATION, "/r/landed");
    } else if path == "/away" {
        let away = state.away.lock().expect("away").clone().unwrap_or_default();
        response = response
            .status(302)
            .header(header::LOCATION, format!("{away}/landed-away"));
    } else if path == "/gzip" {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"hello gzip").expect("gzip");
        let body = encoder.finish().expect("gzip");
        return response
            .header(header::CONTENT_ENCODING, "gzip")
            .body(Body::from(body))
            .expect("response");
    } else if path == "/endless" {
        // A body that never ends, as fast as the client reads it.
        let chunk = bytes::Bytes::from(vec![b'x'; 256 << 10]);
        let chunks =
            std::iter::repeat_with(move || Ok::<_, std::convert::Infallible>(chunk.clone()));
        return response
            .body(Body::from_stream(tokio_stream::iter(chunks)))
            .expect("response");
    } else if path == "/bomb" {
        return response
            .header(header::CONTENT_ENCODING, "gzip")
            .body(Body::from(gzip_bomb()))
            .expect("response");
    } else if path == "/auth" {
        // "alice:secret" in base64.
        let expected = "Basic YWxpY2U6c2VjcmV0";
        if text("authorization").as_deref() != Some(expected) {
            response = response.status(401);
        }
    } else if path == "/json" {
        // The request's body back as JSON (for JSON API helpers such as rest()).
        return response
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .expect("response");
    } else if path == "/echo" {
        let content_type = text("content-type").unwrap_or_default();
        let echoed = format!("{content_type} {}", String::from_utf8_lossy(&body));
        return response.body(Body::from(echoed)).expect("response");
    }
    response.body(Body::from("ok")).expect("response")
}

/// A gzip body of about 2 MB that decompresses to 2 GiB of zeros: one 16 MiB gzip member,
/// repeated (gzip allows concatenated members). Built once.
fn gzip_bomb() -> bytes::Bytes {
    static BOMB: OnceLock<bytes::Bytes> = OnceLock::new();
    BOMB.get_or_init(|| {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![0u8; 16 << 20]).expect("gzip");
        let member = encoder.finish().expect("gzip");
        bytes::Bytes::from(member.repeat(128))
    })
    .clone()
}

impl Target {
    /// Start a target that answers everything with 200 `ok`, except `/status/N` (status N),
    /// `/slow` (after 2 s), `/c/login` (sets a new `session` cookie each time), `/redirect`
    /// (302 to `/r/landed`), `/away` (302 to another server, see [`Target::redirect_away_to`]), `/gzip` (a gzip-encoded body), `/auth` (401 unless alice:secret),
    /// `/echo` (answers with the content type and body it got), and two hostile ones:
    /// `/endless` (a body that never ends) and `/bomb` (gzip of 2 GiB of zeros).
    pub async fn start() -> Self {
        let state = TargetState {
            started: Instant::now(),
            hits: Arc::default(),
            sessions: Arc::new(AtomicU64::new(1)),
            away: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the target");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let app = Router::new().fallback(serve).with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, state }
    }

    /// Make `/away` redirect to `{url}/landed-away`.
    pub fn redirect_away_to(&self, url: &str) {
        *self.state.away.lock().expect("away") = Some(url.to_owned());
    }

    /// Everything served so far.
    pub fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().expect("hits").clone()
    }

    /// How many requests had exactly this path.
    pub fn count(&self, path: &str) -> usize {
        self.hits().iter().filter(|hit| hit.path == path).count()
    }

    /// Requests made by simulated users (those with an `x-user` header; hooks send none).
    pub fn user_requests(&self) -> u64 {
        self.hits().iter().filter(|hit| hit.user.is_some()).count() as u64
    }

    /// Paths served, per user, in arrival order.
    pub fn paths_by_user(&self) -> BTreeMap<u64, Vec<String>> {
        let mut by_user: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for hit in self.hits() {
            if let Some(user) = hit.user {
                by_user.entry(user).or_default().push(hit.path);
            }
        }
        by_user
    }
}

/// A finished `locust` process.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output (the tables).
    pub stdout: String,
    /// Standard error (the log).
    pub stderr: String,
}

impl Run {
    /// The line of the final summary table for `method name`, split into columns.
    pub fn summary_row(&self, method: &str, name: &str) -> Option<Vec<String>> {
        let prefix = format!(" {method} {name} ");
        // The final table: after the last header before the percentile table.
        let before = self.stdout.rsplit("Response time percentiles").nth(1)?;
        let summary = before.rsplit("\n Name ").next()?;
        summary
            .lines()
            .find(|line| line.starts_with(&prefix))
            .map(|line| {
                line[prefix.len()..]
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect()
            })
    }

    /// The standard output after `heading` (e.g. `Error report`), if it is there.
    pub fn section(&self, heading: &str) -> Option<&str> {
        self.stdout.split(heading).nth(1)
    }

    /// The final summary's Aggregated row: (requests, failures).
    pub fn aggregated(&self) -> (u64, u64) {
        let before = self.stdout.rsplit("Response time percentiles").nth(1);
        let row = before
            .and_then(|before| before.rsplit("\n Name ").next())
            .and_then(|summary| {
                summary
                    .lines()
                    .find(|line| line.starts_with(" Aggregated "))
            })
            .unwrap_or_else(|| panic!("no Aggregated row:\n{}", self.stdout));
        let cells: Vec<&str> = row.split_whitespace().collect();
        let failures = cells[2].split('(').next().and_then(|n| n.parse().ok());
        (
            cells[1].parse().expect("a request count"),
            failures.expect("a failure count"),
        )
    }

    /// The final checks table's row for `label` (`::group::check`, or the check's name
    /// outside groups): (passes, fails).
    pub fn check(&self, label: &str) -> Option<(u64, u64)> {
        let table = self.stdout.rsplit("\n Check ").next()?;
        let line = table
            .lines()
            .find(|line| line.starts_with(&format!(" {label} ")))?;
        let cells: Vec<&str> = line.split_whitespace().rev().take(3).collect();
        Some((cells[2].parse().ok()?, cells[1].parse().ok()?))
    }

    /// The final metrics table's line for `metric` (its first row, all series together).
    pub fn metric(&self, metric: &str) -> Option<&str> {
        let table = self.stdout.rsplit("\n Metric ").next()?;
        table
            .lines()
            .find(|line| line.starts_with(&format!(" {metric} ")))
    }

    /// Requests counted in the final summary for `method name` (0 if absent).
    pub fn requests(&self, method: &str, name: &str) -> u64 {
        self.summary_row(method, name)
            .and_then(|row| row.first().and_then(|count| count.parse().ok()))
            .unwrap_or(0)
    }
}

/// How long a `locust` process may take to exit (or get ready): generous, because the first
/// run of a Python locustfile on a new machine builds and compiles it while other tests run.
const PROCESS_LIMIT: Duration = Duration::from_secs(300);

/// Run the real `locust` binary with `args`; it must exit by itself within [`PROCESS_LIMIT`].
pub async fn locust(args: &[&str]) -> Run {
    locust_with_env(args, &[]).await
}

/// [`locust`] with extra environment variables.
pub async fn locust_with_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    locust_in(&root(), args, env).await
}

/// The `locust` binary with `args`, run in `dir`, with the given environment variables and no
/// others that could change its behaviour (`LOCUST_*`, `RUST_LOG`, CA bundles).
fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_locust"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("LOCUST_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        // Compiled components are cached for the suite in target/, not in the user's home.
        .env("XDG_CACHE_HOME", root().join("target").join("test-cache"))
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("SSL_CERT_FILE")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Read a child's stream to its end in the background.
fn read_all(
    mut stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut text = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut text).await;
        text
    })
}

/// [`locust`] in directory `dir` (where `./locust.conf` is looked for) with extra environment
/// variables; every other `LOCUST_*` variable is removed.
pub async fn locust_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut child = command(dir, args, env).spawn().expect("start locust");
    let stdout = read_all(child.stdout.take().expect("stdout"));
    let stderr = read_all(child.stderr.take().expect("stderr"));
    let status = tokio::time::timeout(PROCESS_LIMIT, child.wait())
        .await
        .expect("locust exits by itself")
        .expect("wait for locust");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: stdout.await.expect("stdout"),
        stderr: stderr.await.expect("stderr"),
    }
}

/// A server process a test started, killed (and reaped) when dropped.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run the fixture headless against `target` with extra `args`.
pub async fn run_fixture(target: &Target, args: &[&str]) -> Run {
    let fixture = fixture().to_str().expect("utf-8 path").to_owned();
    let mut all = vec!["-f", &fixture, "--headless", "--host", &target.url];
    all.extend_from_slice(args);
    locust(&all).await
}

/// [`run_fixture`], sampling the process's peak resident memory as it runs; returns the run
/// and that peak in MiB (the kernel's high-water mark, `VmHWM`, read every 50 ms).
pub async fn run_fixture_peak_rss(target: &Target, args: &[&str]) -> (Run, u64) {
    let fixture = fixture().to_str().expect("utf-8 path").to_owned();
    let mut all = vec!["-f", &fixture, "--headless", "--host", &target.url];
    all.extend_from_slice(args);
    let mut child = command(&root(), &all, &[]).spawn().expect("start locust");
    let pid = child.id().expect("a running process");
    let stdout = read_all(child.stdout.take().expect("stdout"));
    let stderr = read_all(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut peak_kib = 0;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.expect("wait for locust"),
            _ = tokio::time::sleep(Duration::from_millis(50)) => {
                peak_kib = peak_kib.max(status_kib(pid, "VmHWM:"));
                assert!(Instant::now() < deadline, "locust exits by itself within two minutes");
            }
        }
    };
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: stdout.await.expect("stdout"),
        stderr: stderr.await.expect("stderr"),
    };
    (run, peak_kib / 1024)
}

/// A `kB` field of `/proc/PID/status` (0 once the process is gone).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with(field))?;
            line[field.len()..]
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// A `locust` process left running (a web UI, a master or a worker).
pub struct Background {
    child: tokio::process::Child,
    /// The web UI's URL, from its "Starting web interface at" log line (empty if it has none).
    pub url: String,
    /// The rest of the log line that said the process is ready.
    pub ready: String,
    /// Everything it logged up to that line.
    pub early_log: String,
    stdout: tokio::task::JoinHandle<String>,
    stderr: tokio::task::JoinHandle<String>,
}

/// The log line of a web UI that listens.
const WEB_READY: &str = "Starting web interface at ";

impl Background {
    /// Start `locust` with `args` and wait until its web UI listens.
    pub async fn start(args: &[&str]) -> Self {
        Self::start_web(args, &[]).await
    }

    /// [`Background::start`] with extra environment variables.
    pub async fn start_web(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut started = Self::start_with(args, env, WEB_READY).await;
        started.url = started.ready.trim().replace("0.0.0.0", "127.0.0.1");
        started
    }

    /// Start `locust` with `args` and extra environment variables, and wait until it logs a
    /// line containing `marker`.
    pub async fn start_with(args: &[&str], env: &[(&str, &str)], marker: &str) -> Self {
        use tokio::io::AsyncBufReadExt as _;
        let mut child = command(&root(), args, env).spawn().expect("start locust");
        let stdout = read_all(child.stdout.take().expect("stdout"));
        let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
        let mut seen = String::new();
        let ready = tokio::time::timeout(PROCESS_LIMIT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                seen.push_str(&line);
                seen.push('\n');
                if let Some((_, rest)) = line.split_once(marker) {
                    return rest.to_owned();
                }
            }
            panic!("locust exited before logging \"{marker}\":\n{seen}");
        })
        .await
        .unwrap_or_else(|_| panic!("locust logs \"{marker}\" within {PROCESS_LIMIT:?}"));
        let early_log = seen.clone();
        let stderr = tokio::spawn(async move {
            let mut text = seen;
            while let Ok(Some(line)) = lines.next_line().await {
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        Self {
            child,
            url: String::new(),
            ready,
            early_log,
            stdout,
            stderr,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// The fixture's web UI on a free port of 127.0.0.1, testing `target` with the `Lifecycle`
    /// class, with `extra` options.
    pub async fn fixture_ui(target: &Target, extra: &[&str]) -> Self {
        let fixture = fixture().to_str().expect("utf-8 path").to_owned();
        let mut args = vec!["Lifecycle"];
        args.extend_from_slice(extra);
        Self::web_ui(&fixture, target, &args, &[]).await
    }

    /// The web UI of the component or locustfile `file` on a free port of 127.0.0.1, testing
    /// `target`, with `extra` options and environment variables `env`.
    pub async fn web_ui(file: &str, target: &Target, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut args = vec![
            "-f",
            file,
            "--host",
            &target.url,
            "-P",
            "0",
            "--web-host",
            "127.0.0.1",
        ];
        args.extend_from_slice(extra);
        Self::start_web(&args, env).await
    }

    /// SIGTERM, then collect the output.
    pub async fn stop(self) -> Run {
        self.signal("-TERM");
        self.wait().await
    }

    /// SIGKILL (nothing is cleaned up), then collect the output.
    pub async fn kill(self) -> Run {
        self.signal("-KILL");
        self.wait().await
    }

    /// Send `signal` (`-INT`, `-TERM`), then collect the output once it exits.
    pub async fn signal_and_wait(self, signal: &str) -> Run {
        self.signal(signal);
        self.wait().await
    }

    fn signal(&self, signal: &str) {
        let _ = std::process::Command::new("kill")
            .arg(signal)
            .arg(self.pid().to_string())
            .status();
    }

    /// Wait (up to a minute) for the process to exit by itself and collect its output.
    pub async fn wait(mut self) -> Run {
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("locust exits within a minute")
            .expect("wait");
        Run {
            code: status.code().unwrap_or(-1),
            stdout: self.stdout.await.expect("stdout"),
            stderr: self.stderr.await.expect("stderr"),
        }
    }
}
