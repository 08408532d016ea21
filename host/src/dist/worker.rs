//! A worker of a distributed run: connects to the master (and reconnects when the link
//! breaks), receives the component (cached by hash), runs the users the master assigns with
//! a [`LocalRunner`], and sends statistics every 2 seconds and heartbeats every second.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::cpu::CpuMeter;
use super::master::HEARTBEAT_INTERVAL;
use super::protocol::{
    Frame, Heartbeat, Hello, Message, PROTOCOL_VERSION, Report, Spawn, SpawnDone, Welcome,
};
use super::transport::{self, WireFrame, WorkerStream};
use crate::component::{GuestLimits, TestComponent, hash_of};
use crate::events::{Events, Reporter};
use crate::grants::{Grants, HostRule};
use crate::hooks::{GuestHooks, Hook};
use crate::listeners::Listeners;
use crate::run::runner::{LocalRunner, RunnerState};
use crate::run::scenario::Scenario;
use crate::run::user::UserEnvironment;
use crate::stats::Stats;

/// How often a worker reports its statistics.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(2);
/// A master silent for this long is taken as gone; the worker reconnects.
const MASTER_SILENCE: Duration = Duration::from_secs(10);
/// Pause between attempts to reach the master.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// How long a leaving worker waits for the master to read its goodbye.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the master may take to answer a hello.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(60);

/// How a worker reaches its master.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerPlan {
    /// `--master-host`.
    pub master_host: String,
    /// `--master-port`.
    pub master_port: u16,
    /// `--master-token`.
    pub token: Option<String>,
    /// CA certificate (PEM) to trust for a master serving TLS; TLS is used when given.
    pub tls_ca: Option<PathBuf>,
    /// The worker's own component (`-f`), which must match the master's.
    pub locustfile: Option<PathBuf>,
    /// `--plugin`s linked into the worker's own component.
    pub plugins: Vec<PathBuf>,
    /// `--hook-timeout`, for the worker's hooks instance.
    pub hook_timeout: std::time::Duration,
}

impl WorkerPlan {
    fn url(&self) -> String {
        let scheme = if self.tls_ca.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}:{}", self.master_host, self.master_port)
    }
}

/// Components received from masters, by hash: in memory, and on disk under the user's cache
/// directory (`$XDG_CACHE_HOME/locust/components` or `~/.cache/locust/components`) so that a
/// restarted worker need not download them again.
struct ComponentCache {
    dir: Option<PathBuf>,
    memory: BTreeMap<String, Arc<[u8]>>,
}

impl ComponentCache {
    fn open() -> Self {
        Self {
            dir: crate::files::cache_folder("components"),
            memory: BTreeMap::new(),
        }
    }

    fn hashes(&self) -> Vec<String> {
        let mut hashes: Vec<String> = self.memory.keys().cloned().collect();
        if let Some(entries) = self
            .dir
            .as_ref()
            .and_then(|dir| std::fs::read_dir(dir).ok())
        {
            hashes.extend(entries.filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                let hash = name.strip_suffix(".wasm")?;
                (hash.len() == 64).then(|| hash.to_owned())
            }));
        }
        hashes.sort();
        hashes.dedup();
        hashes
    }

    fn get(&mut self, hash: &str) -> Option<Arc<[u8]>> {
        if let Some(bytes) = self.memory.get(hash) {
            return Some(bytes.clone());
        }
        let path = self.dir.as_ref()?.join(format!("{hash}.wasm"));
        let bytes: Arc<[u8]> = std::fs::read(path).ok()?.into();
        // A damaged cache file is as good as none.
        (hash_of(&bytes) == hash).then(|| {
            self.memory.insert(hash.to_owned(), bytes.clone());
            bytes
        })
    }

    fn put(&mut self, hash: &str, bytes: Arc<[u8]>) {
        self.memory.insert(hash.to_owned(), bytes.clone());
        let Some(dir) = &self.dir else { return };
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| crate::files::replace(&dir.join(format!("{hash}.wasm")), &bytes));
        if let Err(error) = written {
            tracing::debug!(target: "locust.runners", "not caching the component in {}: {error}", dir.display());
        }
    }
}

/// A component loaded for the users and hooks of this worker.
struct Loaded {
    /// The welcome it was loaded for (without the bytes).
    welcome: Welcome,
    /// The master's `--allow-host`, parsed.
    allow_hosts: Vec<HostRule>,
    /// The master's listener plugins, running here.
    listeners: Listeners,
    component: Arc<TestComponent>,
    scenario: Scenario,
    hooks: Option<GuestHooks>,
    events: Arc<Events>,
    /// Whether the component declares its own plan (a k6 script): its users record k6's
    /// iteration metrics.
    has_plan: bool,
}

/// How a session with the master ended.
enum End {
    /// The master said to quit, or the process was interrupted.
    Quit,
    /// The link broke: connect again.
    Lost,
    /// The master refused this worker, or the component cannot run: exit with this error.
    Fatal(String),
}

/// What the worker's own tasks tell its session loop.
enum Internal {
    SpawnDone(SpawnDone),
    Stopped,
}

/// An id for this worker process, kept across reconnections: host name, process id and a
/// random part (containers on one host may share both).
fn worker_id() -> String {
    let uname = rustix::system::uname();
    let host = uname.nodename().to_string_lossy().into_owned();
    format!(
        "{host}_{}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

fn client_tls(plan: &WorkerPlan) -> anyhow::Result<Option<tonic::transport::ClientTlsConfig>> {
    let Some(ca) = &plan.tls_ca else {
        return Ok(None);
    };
    let pem = std::fs::read(ca)
        .with_context(|| format!("could not read --master-tls-ca {}", ca.display()))?;
    Ok(Some(
        tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(pem))
            .domain_name(plan.master_host.clone()),
    ))
}

/// Run as a worker until the master says to quit or the process is interrupted; returns the
/// exit code.
pub async fn run(plan: WorkerPlan, events: Events) -> anyhow::Result<u8> {
    let own = match &plan.locustfile {
        Some(path) => {
            let assembled = crate::component::assemble(path, &plan.plugins)
                .await
                .context("reading the component")?;
            Some(hash_of(&assembled.bytes))
        }
        None => None,
    };
    let tls = client_tls(&plan)?;
    let (interrupted, interrupt) = watch::channel(false);
    tokio::spawn(async move {
        let signal = crate::headless::shutdown_signal().await;
        tracing::info!(target: "locust.main", "Got {signal}, shutting down the worker.");
        let _ = interrupted.send(true);
    });
    let id = worker_id();
    let cache = ComponentCache::open();
    let (more, mut wanted) = mpsc::unbounded_channel::<()>();
    let new_slot = |worker_number: usize| Slot {
        worker: Worker {
            // One id per connection: a shared service may give two of them the same run.
            id: if worker_number == 0 {
                id.clone()
            } else {
                format!("{id}_{worker_number}")
            },
            plan: plan.clone(),
            own: own.clone(),
            cache: ComponentCache {
                dir: cache.dir.clone(),
                memory: BTreeMap::new(),
            },
            base_events: events.clone(),
            stats: Stats::new(),
            loaded: None,
            interrupt: interrupt.clone(),
            pooled: false,
            more: more.clone(),
        },
        tls: tls.clone(),
    };
    tracing::info!(target: "locust.runners", "Connecting to the master at {} as {id}", plan.url());
    let mut slots = tokio::task::JoinSet::new();
    let mut opened = 0usize;
    slots.spawn(new_slot(opened).run());
    let mut result = Ok(0);
    loop {
        tokio::select! {
            Some(()) = wanted.recv(), if !*interrupt.borrow() => {
                opened += 1;
                slots.spawn(new_slot(opened).run());
            }
            done = slots.join_next() => match done {
                None => return result,
                Some(Ok(SlotEnd::RunOver)) => {}
                Some(Ok(SlotEnd::Exit(code))) => {
                    // Let the other slots (a shared service's other runs) finish on the
                    // interrupt too; a fatal error of this one decides the exit.
                    if code.is_err() || slots.is_empty() {
                        slots.abort_all();
                        return code;
                    }
                    result = code;
                }
                Some(Err(error)) => return Err(anyhow!("a worker session failed: {error}")),
            },
        }
    }
}

/// Resolves once the process is interrupted (without holding the watch's lock, so the
/// futures waiting on it stay `Send`).
async fn interrupted(interrupt: &mut watch::Receiver<bool>) {
    let _ = interrupt.wait_for(|stop| *stop).await;
}

/// How one connection slot of a worker ended.
enum SlotEnd {
    /// The process is done: this exit code (or error).
    Exit(anyhow::Result<u8>),
    /// A shared service's run ended; the slot that waits for the next run lives on.
    RunOver,
}

/// One connection to the master, reconnected while the link breaks; a worker of a shared
/// service has one slot per run it serves plus one waiting for the next.
struct Slot {
    worker: Worker,
    tls: Option<tonic::transport::ClientTlsConfig>,
}

impl Slot {
    async fn run(mut self) -> SlotEnd {
        let url = self.worker.plan.url();
        let mut interrupt = self.worker.interrupt.clone();
        let mut attempts = 0u64;
        loop {
            let connect = transport::connect(url.clone(), self.tls.clone());
            let stream = tokio::select! {
                stream = connect => stream,
                _ = interrupted(&mut interrupt) => return SlotEnd::Exit(Ok(0)),
            };
            let stream = match stream {
                Ok(stream) => stream,
                Err(error) => {
                    if attempts.is_multiple_of(10) {
                        tracing::info!(target: "locust.runners", "Waiting for the master: {error}");
                    }
                    attempts += 1;
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY_INTERVAL) => continue,
                        _ = interrupted(&mut interrupt) => return SlotEnd::Exit(Ok(0)),
                    }
                }
            };
            attempts = 0;
            let end = self.worker.session(stream).await;
            let stopping = *interrupt.borrow();
            match end {
                _ if stopping => return SlotEnd::Exit(Ok(0)),
                // A shared service's run is over however it ended: another slot waits for
                // the next one, so this one leaves (reconnecting would double the worker).
                End::Fatal(reason) if self.worker.pooled => {
                    tracing::error!(target: "locust.runners", "A run of the shared service could not run here: {reason}");
                    return SlotEnd::RunOver;
                }
                _ if self.worker.pooled => return SlotEnd::RunOver,
                End::Quit => return SlotEnd::Exit(Ok(0)),
                End::Fatal(reason) => return SlotEnd::Exit(Err(anyhow!(reason))),
                End::Lost => {
                    tracing::warn!(
                        target: "locust.runners",
                        "Lost the connection to the master at {url}; reconnecting"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY_INTERVAL) => {}
                        _ = interrupted(&mut interrupt) => return SlotEnd::Exit(Ok(0)),
                    }
                }
            }
        }
    }
}

struct Worker {
    id: String,
    plan: WorkerPlan,
    own: Option<String>,
    cache: ComponentCache,
    base_events: Events,
    stats: Stats,
    loaded: Option<Loaded>,
    interrupt: watch::Receiver<bool>,
    /// The master is a shared service and gave this connection a run.
    pooled: bool,
    /// Asks for another connection slot (a shared service's next run).
    more: mpsc::UnboundedSender<()>,
}

/// Frames to the master.
struct Link(mpsc::Sender<WireFrame>);

impl Link {
    /// Send a message; false once the link is gone, or when the master has not made room for
    /// it within [`MASTER_SILENCE`] (a master that stopped reading is as good as gone).
    async fn send(&self, message: Message) -> bool {
        match message.to_frame() {
            Ok(frame) => {
                let sent =
                    tokio::time::timeout(MASTER_SILENCE, self.0.send(WireFrame::from(frame)));
                matches!(sent.await, Ok(Ok(())))
            }
            Err(error) => {
                tracing::error!(target: "locust.runners", "{error}");
                true
            }
        }
    }
}

impl Worker {
    async fn session(&mut self, stream: WorkerStream) -> End {
        let WorkerStream {
            outbound,
            mut inbound,
        } = stream;
        let link = Link(outbound);
        let hello = Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            worker_id: self.id.clone(),
            component_hash: self.own.clone(),
            cached: self.cache.hashes(),
            token: self.plan.token.clone(),
        });
        if !link.send(hello).await {
            return End::Lost;
        }
        // A shared service keeps the connection waiting for a run, with heartbeats.
        let mut interrupt = self.interrupt.clone();
        let welcome = loop {
            let next = tokio::select! {
                next = tokio::time::timeout(WELCOME_TIMEOUT, inbound.message()) => next,
                () = interrupted(&mut interrupt) => return End::Quit,
            };
            match next {
                Ok(Ok(Some(frame))) => match Message::from_frame(&Frame::from(frame)) {
                    Ok(Message::Heartbeat(_)) => continue,
                    Ok(Message::Welcome(welcome)) => break welcome,
                    Ok(Message::Refused(reason)) => {
                        return End::Fatal(format!("the master refused this worker: {reason}"));
                    }
                    Ok(other) => {
                        tracing::warn!(target: "locust.runners", "The master sent {} instead of welcome", other.kind());
                        return End::Lost;
                    }
                    Err(error) => {
                        return End::Fatal(format!(
                            "the master's answer could not be read ({error}); run the same locust version on master and workers"
                        ));
                    }
                },
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return End::Lost,
            }
        };
        if welcome.pooled && !self.pooled {
            self.pooled = true;
            let _ = self.more.send(());
        }
        if let Err(reason) = self.load(welcome).await {
            let _ = link.send(Message::Quit).await;
            return End::Fatal(reason);
        }
        if !link.send(Message::Ready).await {
            return End::Lost;
        }
        tracing::info!(target: "locust.runners", "Connected to the master as {}; ready", self.id);
        self.serve(&link, &mut inbound).await
    }

    /// Make the welcome's component the loaded one (compiling it unless it already is).
    async fn load(&mut self, mut welcome: Welcome) -> Result<(), String> {
        let component = welcome.component.take();
        if self
            .loaded
            .as_ref()
            .is_some_and(|loaded| loaded.welcome == welcome)
        {
            return Ok(());
        }
        self.loaded = None;
        let hash = welcome.component_hash.clone();
        let (max_users, memory_bytes, fuel_per_call) = (
            welcome.max_users,
            welcome.memory_bytes,
            welcome.fuel_per_call,
        );
        let max_response_bytes = welcome.max_response_bytes.unwrap_or(memory_bytes);
        let bytes: Arc<[u8]> = match component {
            Some(bytes) => {
                if hash_of(&bytes) != hash {
                    return Err("the component received from the master does not match its hash; check the network path between them".to_owned());
                }
                let bytes: Arc<[u8]> = bytes.into();
                self.cache.put(&hash, bytes.clone());
                bytes
            }
            None => match self.cache.get(&hash) {
                Some(bytes) => bytes,
                None if self.own.as_deref() == Some(hash.as_str()) => {
                    let path = self.plan.locustfile.clone().unwrap_or_default();
                    let assembled = crate::component::assemble(&path, &self.plan.plugins)
                        .await
                        .map_err(|error| error.to_string())?;
                    assembled.bytes.into()
                }
                None => {
                    return Err(format!(
                        "the master did not send component {hash} and it is not cached here"
                    ));
                }
            },
        };
        crate::limits::raise_open_files_limit(max_users);
        let limits = GuestLimits {
            max_instances: u32::try_from(max_users.saturating_add(crate::config::SPARE_INSTANCES))
                .unwrap_or(u32::MAX),
            memory_bytes: usize::try_from(memory_bytes).unwrap_or(usize::MAX),
            fuel_per_call,
            max_response_bytes: usize::try_from(max_response_bytes).unwrap_or(usize::MAX),
            fuel_per_second: welcome.fuel_per_second,
        };
        let name = PathBuf::from(format!("component {}", &hash[..hash.len().min(12)]));
        let compile = {
            let (bytes, name) = (bytes.clone(), name.clone());
            tokio::task::spawn_blocking(move || TestComponent::from_bytes(&bytes, &name, limits))
        };
        let component = Arc::new(
            compile
                .await
                .map_err(|error| error.to_string())?
                .map_err(|error| error.to_string())?,
        );
        let crate::component::Described {
            description, plan, ..
        } = component
            .describe_with_plan()
            .await
            .map_err(|error| format!("{}: {error}", name.display()))?;
        let scenario = Scenario::from_description(description)
            .map_err(|error| format!("{}: {error}", name.display()))?;
        let allow_hosts = welcome
            .allow_hosts
            .iter()
            .map(|rule| HostRule::parse(rule))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| format!("the master's --allow-host {error}"))?;
        let grants = Grants::for_run(
            &allow_hosts,
            welcome.host.as_deref(),
            &scenario.plan(&[], None, None).unwrap_or_default(),
        )
        .await;
        let grants_for_listeners = grants.clone();
        let hooks = GuestHooks::start(
            component.clone(),
            scenario.hooks,
            false,
            self.stats.clone(),
            welcome.host.as_deref().map(Arc::from),
            Arc::new(welcome.options.iter().cloned().collect()),
            grants,
            Arc::default(),
            self.plan.hook_timeout,
        )
        .await?;
        let mut plugins = Vec::new();
        for (index, bytes) in welcome.listeners.iter().enumerate() {
            let name = PathBuf::from(format!("the master's listener plugin {}", index + 1));
            let loaded = crate::component::plugin_from_bytes(bytes.clone(), &name)
                .await
                .map_err(|error| error.to_string())?;
            plugins.extend(loaded.listener);
        }
        let listeners = Listeners::start(
            &plugins,
            grants_for_listeners,
            welcome.host.as_deref().map(Arc::from),
            Arc::new(welcome.options.iter().cloned().collect()),
        )
        .await?;
        let mut events = self.base_events.clone();
        listeners.listen(&mut events);
        if let Some(hooks) = &hooks {
            hooks.listen(&mut events);
            if let Err(error) = hooks.call(Hook::Init).await {
                tracing::error!(target: "locust.main", "{error}");
            }
        }
        self.loaded = Some(Loaded {
            welcome,
            listeners,
            allow_hosts,
            component,
            scenario,
            hooks,
            events: Arc::new(events),
            has_plan: plan.is_some(),
        });
        Ok(())
    }

    /// Build the runner a spawn asks for.
    async fn runner_for(&self, spawn: &Spawn) -> Result<LocalRunner, String> {
        let loaded = self
            .loaded
            .as_ref()
            .ok_or_else(|| "no component is loaded".to_owned())?;
        let names: Vec<String> = spawn.users.iter().map(|(name, _)| name.clone()).collect();
        let classes = loaded
            .scenario
            .plan(&names, spawn.tags.as_deref(), spawn.exclude_tags.as_deref())
            .map_err(|error| error.to_string())?;
        let options: BTreeMap<String, String> = spawn.options.iter().cloned().collect();
        let grants = Grants::for_run(&loaded.allow_hosts, spawn.host.as_deref(), &classes).await;
        let environment = Arc::new(UserEnvironment {
            component: loaded.component.clone(),
            reporter: Reporter {
                stats: self.stats.clone(),
                events: loaded.events.clone(),
            },
            host_override: spawn.host.as_deref().map(Arc::from),
            options: Arc::new(options),
            grants,
            run: Arc::new(crate::test_plan::RunShared::with_setup_data(
                spawn.shared_data.as_deref().map(Arc::from),
            )),
            // A master refuses plans with iterations.
            iterations: None,
            iteration_metrics: loaded.has_plan,
        });
        Ok(LocalRunner::new(
            environment,
            classes,
            Duration::from_millis(spawn.stop_timeout_ms),
        ))
    }

    async fn report(&self, runner: Option<&Arc<LocalRunner>>) -> Message {
        let taken = self.stats.take();
        // Moved, not copied: the taken statistics are this report's.
        let entries = taken.entries.into_values().collect();
        let custom = match self
            .loaded
            .as_ref()
            .and_then(|loaded| loaded.hooks.as_ref())
        {
            Some(hooks) => hooks.report_to_master().await,
            None => None,
        };
        Message::Report(Report {
            entries,
            errors: taken.errors.into_iter().collect(),
            user_errors: taken.user_errors,
            user_count: runner.map_or(0, |runner| runner.user_count()),
            metrics: taken.metrics.to_series(),
            custom,
        })
    }

    /// The session after the handshake: spawns, stops, reports and heartbeats.
    async fn serve(&mut self, link: &Link, inbound: &mut tonic::Streaming<WireFrame>) -> End {
        let (internal, mut internal_events) = mpsc::unbounded_channel::<Internal>();
        let mut runner: Option<Arc<LocalRunner>> = None;
        let mut stopping: Option<Arc<LocalRunner>> = None;
        let mut heartbeat = tokio::time::interval(HEARTBEAT_INTERVAL);
        let first_report = Instant::now() + REPORT_INTERVAL;
        let mut reports = tokio::time::interval_at(first_report, REPORT_INTERVAL);
        let mut cpu = CpuMeter::new();
        let mut master_seen = Instant::now();
        let mut interrupt = self.interrupt.clone();
        let end = loop {
            tokio::select! {
                frame = inbound.message() => {
                    let frame = match frame {
                        Ok(Some(frame)) => Frame::from(frame),
                        Ok(None) | Err(_) => break End::Lost,
                    };
                    master_seen = Instant::now();
                    let message = match Message::from_frame(&frame) {
                        Ok(message) => message,
                        Err(error) => {
                            tracing::warn!(target: "locust.runners", "Rejected a frame from the master: {error}");
                            continue;
                        }
                    };
                    match message {
                        Message::Spawn(spawn) => {
                            if runner.is_none() {
                                match self.runner_for(&spawn).await {
                                    Ok(new) => runner = Some(Arc::new(new)),
                                    Err(error) => {
                                        tracing::error!(target: "locust.runners", "Cannot spawn: {error}");
                                        continue;
                                    }
                                }
                            }
                            let Some(active) = &runner else { continue };
                            let wanted: BTreeMap<&str, u64> =
                                spawn.users.iter().map(|(name, count)| (name.as_str(), *count)).collect();
                            let counts: Vec<u64> = active
                                .class_names()
                                .map(|name| wanted.get(name).copied().unwrap_or(0))
                                .collect();
                            if !link.send(Message::Spawning).await {
                                break End::Lost;
                            }
                            let (internal, sequence, counter) = (internal.clone(), spawn.sequence, active.clone());
                            let offset = Duration::from_millis(spawn.spawn_offset_ms);
                            active.start_counts(&counts, spawn.spawn_rate, offset, move |_| {
                                let _ = internal.send(Internal::SpawnDone(SpawnDone {
                                    sequence,
                                    user_count: counter.user_count(),
                                }));
                            });
                        }
                        Message::Stop => match runner.take() {
                            Some(active) => {
                                stopping = Some(active.clone());
                                let internal = internal.clone();
                                tokio::spawn(async move {
                                    active.stop().await;
                                    let _ = internal.send(Internal::Stopped);
                                });
                            }
                            None if stopping.is_none() => {
                                let report = self.report(None).await;
                                if !link.send(report).await || !link.send(Message::Stopped).await {
                                    break End::Lost;
                                }
                            }
                            None => {}
                        },
                        Message::Quit => {
                            tracing::info!(target: "locust.runners", "The master says to quit");
                            break End::Quit;
                        }
                        Message::Heartbeat(_) => {}
                        other => tracing::debug!(target: "locust.runners", "ignoring {} from the master", other.kind()),
                    }
                }
                Some(event) = internal_events.recv() => match event {
                    Internal::SpawnDone(done) => {
                        if !link.send(Message::SpawningComplete(done)).await {
                            break End::Lost;
                        }
                    }
                    Internal::Stopped => {
                        let report = self.report(stopping.as_ref()).await;
                        stopping = None;
                        if !link.send(report).await || !link.send(Message::Stopped).await {
                            break End::Lost;
                        }
                    }
                },
                _ = heartbeat.tick() => {
                    if master_seen.elapsed() > MASTER_SILENCE {
                        break End::Lost;
                    }
                    let active = runner.as_ref().or(stopping.as_ref());
                    let state = match active {
                        Some(active) => active.state(),
                        None => RunnerState::Ready,
                    };
                    let message = Message::Heartbeat(Heartbeat {
                        state: state.name().to_owned(),
                        cpu_usage: cpu.sample(),
                        user_count: active.map_or(0, |active| active.user_count()),
                    });
                    if !link.send(message).await {
                        break End::Lost;
                    }
                }
                _ = reports.tick() => {
                    let report = self.report(runner.as_ref().or(stopping.as_ref())).await;
                    if !link.send(report).await {
                        break End::Lost;
                    }
                }
                _ = interrupted(&mut interrupt) => break End::Quit,
            }
        };
        // Users of a test that ended (or whose master is gone) stop; what they recorded goes
        // to the master if it can still hear us.
        let active = runner.or(stopping);
        if let Some(active) = &active {
            active.stop().await;
        }
        if matches!(end, End::Quit) {
            // Locust fires `quitting` on every process, workers included.
            if let Some(hooks) = self
                .loaded
                .as_ref()
                .and_then(|loaded| loaded.hooks.as_ref())
                && let Err(error) = hooks.call(Hook::Quitting).await
            {
                tracing::error!(target: "locust.main", "{error}");
            }
            if let Some(loaded) = &self.loaded {
                loaded.listeners.finish().await;
            }
            let report = self.report(None).await;
            if link.send(report).await && link.send(Message::Quit).await {
                // The master closes the stream once it has read the goodbye: wait for that,
                // so that the last frames leave before the process ends.
                let _ = tokio::time::timeout(GOODBYE_TIMEOUT, async {
                    while let Ok(Some(_)) = inbound.message().await {}
                })
                .await;
            }
        }
        end
    }
}
