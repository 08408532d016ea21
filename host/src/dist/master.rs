//! The master of a distributed run: accepts workers (checking version, token and component),
//! ships them the component, splits each test across them, merges their reports into the
//! run's statistics, and watches that they stay alive, moving the users of a missing worker
//! to the others.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::time::Instant;

use super::cpu::{CPU_WARNING_PERCENT, CpuMeter};
use super::plan::{spawn_offsets, split_rate, split_users};
use super::protocol::{
    Frame, Heartbeat, Hello, Message, Report, Spawn, SpawnDone, Welcome, check_version,
};
use super::transport::{self, Connection, Outbound, WireFrame};
use crate::component::{ComponentOptions, GuestLimits, TestComponent};
use crate::hooks::GuestHooks;
use crate::run::runner::RunnerState;
use crate::stats::Stats;

/// How often both sides send heartbeats.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// A worker silent for this long is marked missing.
pub const HEARTBEAT_LIVENESS: Duration = Duration::from_secs(3);
/// How long a connecting worker may take to say hello.
const HELLO_TIMEOUT: Duration = crate::dist::guard::HANDSHAKE_DEADLINE;
/// How long a worker may take to compile the component and say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a message may wait for room in a worker's queue.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a quitting master waits for its workers' goodbyes.
const QUIT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time workers get beyond the stop timeout (and their `on_stop` grace) to report they stopped.
const STOP_MARGIN: Duration = Duration::from_secs(7);

/// Where and how the master listens for workers.
#[derive(Clone, Debug, PartialEq)]
pub struct MasterPlan {
    /// Interface to bind (`*` for all).
    pub bind_host: String,
    /// Port to bind (0 picks a free one).
    pub bind_port: u16,
    /// Workers a headless master waits for before starting.
    pub expect_workers: u32,
    /// Token workers must present, if any.
    pub token: Option<String>,
    /// Certificate and key to serve the worker link over TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Sizes and budgets each worker loads the component with.
    pub worker_limits: GuestLimits,
}

/// What the master knows of the test it splits.
pub struct MasterSetup {
    /// The component workers run.
    pub component: Arc<TestComponent>,
    /// The classes to spawn, with their weights, in plan order.
    pub classes: Vec<(String, u32)>,
    /// `--tags`.
    pub tags: Option<Vec<String>>,
    /// `--exclude-tags`.
    pub exclude_tags: Option<Vec<String>>,
    /// Values of the component's options.
    pub options: ComponentOptions,
    /// `--stop-timeout`.
    pub stop_timeout: Duration,
    /// `--host`, for the workers' hooks.
    pub host: Option<String>,
    /// `--allow-host`, which workers enforce.
    pub allow_hosts: Vec<crate::grants::HostRule>,
    /// The listener plugins' components, which every worker runs too.
    pub listeners: Vec<Arc<[u8]>>,
}

/// A worker as the web UI and logs show it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct WorkerInfo {
    /// The worker's id.
    pub id: String,
    /// `ready`, `hatching`, `running`, `stopped` or `missing`.
    pub state: &'static str,
    /// Users running on it.
    pub user_count: u64,
    /// Its CPU usage, percent of one core.
    pub cpu_usage: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WorkerState {
    Ready,
    Spawning,
    Running,
    Stopped,
    Missing,
}

impl WorkerState {
    fn name(self) -> &'static str {
        match self {
            WorkerState::Ready => "ready",
            WorkerState::Spawning => "hatching",
            WorkerState::Running => "running",
            WorkerState::Stopped => "stopped",
            WorkerState::Missing => "missing",
        }
    }
}

struct WorkerEntry {
    state: WorkerState,
    user_count: u64,
    cpu_usage: f64,
    cpu_warned: bool,
    last_seen: Instant,
    outbound: Outbound,
    /// The connection serving this worker now (a rejoining worker gets a new one).
    connection: u64,
    /// The spawn it has not confirmed yet.
    pending: Option<u64>,
    /// Users per class it was last asked to run.
    assigned: Vec<u64>,
}

impl WorkerEntry {
    fn live(&self) -> bool {
        self.state != WorkerState::Missing
    }
}

/// The test being run: what every rebalance aims for.
struct Target {
    users: u64,
    spawn_rate: f64,
    /// The classes' weights for this target (0 for classes a load shape left out).
    weights: Vec<u32>,
    host: Option<String>,
}

type SpawnedCallback = Box<dyn FnOnce(&[(String, u64)]) + Send>;

struct Inner {
    workers: BTreeMap<String, WorkerEntry>,
    target: Option<Target>,
    state: RunnerState,
    sequence: u64,
    on_spawned: Option<SpawnedCallback>,
    next_connection: u64,
}

/// Messages to send once the lock is released.
type Outgoing = Vec<(Outbound, Message)>;

fn lock(mutex: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// SHA-256 of a token, as masters and the service's worker port compare them.
pub fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The master: cheap to share, every method takes `&self`.
pub struct Master {
    setup: MasterSetup,
    limits: GuestLimits,
    token_digest: Option<[u8; 32]>,
    stats: Stats,
    hooks: Option<GuestHooks>,
    inner: Mutex<Inner>,
    changes: watch::Sender<()>,
    /// Where it listens, once bound (unset for a master adopted by the shared service).
    address: std::sync::OnceLock<SocketAddr>,
    /// Adopted from a shared service's worker pool instead of listening.
    pooled: bool,
}

/// A worker connection whose hello was read and accepted elsewhere (the shared service's
/// worker pool), to hand to a [`Master`].
pub struct Adopted {
    /// The connection.
    pub connection: Connection,
    /// Its hello.
    pub hello: Hello,
}

async fn send_all(outgoing: Outgoing) {
    for (outbound, message) in outgoing {
        send(&outbound, &message).await;
    }
}

/// Send a message to a worker. A worker that stopped reading cannot hold the master up: a
/// heartbeat that does not fit its queue is dropped, and any other message waits at most
/// [`SEND_TIMEOUT`].
async fn send(outbound: &Outbound, message: &Message) {
    let frame = match message.to_frame() {
        Ok(frame) => Ok(WireFrame::from(frame)),
        Err(error) => {
            tracing::error!(target: "locust.runners", "{error}");
            return;
        }
    };
    if matches!(message, Message::Heartbeat(_)) {
        let _ = outbound.try_send(frame);
    } else if tokio::time::timeout(SEND_TIMEOUT, outbound.send(frame))
        .await
        .is_err()
    {
        tracing::warn!(
            target: "locust.runners",
            "A worker is not reading its messages; a {} message to it was dropped",
            message.kind()
        );
    }
}

fn tls_config(cert: &PathBuf, key: &PathBuf) -> anyhow::Result<tonic::transport::ServerTlsConfig> {
    let read = |path: &PathBuf| {
        std::fs::read(path).with_context(|| format!("could not read {}", path.display()))
    };
    let identity = tonic::transport::Identity::from_pem(read(cert)?, read(key)?);
    Ok(tonic::transport::ServerTlsConfig::new().identity(identity))
}

impl Master {
    /// Listen for workers as `plan` says and start watching them.
    pub async fn listen(
        plan: &MasterPlan,
        setup: MasterSetup,
        stats: Stats,
        hooks: Option<GuestHooks>,
    ) -> anyhow::Result<Arc<Self>> {
        let tls = match &plan.tls {
            Some((cert, key)) => Some(tls_config(cert, key)?),
            None => None,
        };
        // The listener hands connections to the master, so the master comes first.
        let master = Self::new(plan, setup, stats, hooks, false);
        let address = transport::listen_for_workers(
            &plan.bind_host,
            plan.bind_port,
            tls,
            Arc::downgrade(&master),
            Self::serve_connection,
        )
        .await?;
        let _ = master.address.set(address);
        tokio::spawn(Self::watch_liveness(Arc::downgrade(&master)));
        tracing::info!(target: "locust.main", "Waiting for workers on {address}");
        Ok(master)
    }

    fn new(
        plan: &MasterPlan,
        setup: MasterSetup,
        stats: Stats,
        hooks: Option<GuestHooks>,
        pooled: bool,
    ) -> Arc<Self> {
        let (changes, _) = watch::channel(());
        Arc::new(Self {
            setup,
            limits: plan.worker_limits,
            token_digest: plan.token.as_deref().map(digest),
            stats,
            hooks,
            inner: Mutex::new(Inner {
                workers: BTreeMap::new(),
                target: None,
                state: RunnerState::Ready,
                sequence: 0,
                on_spawned: None,
                next_connection: 0,
            }),
            changes,
            address: std::sync::OnceLock::new(),
            pooled,
        })
    }

    /// A master for one run of the shared service, over `workers` taken from its pool (their
    /// hellos already accepted); it listens on no port of its own.
    pub fn adopt(
        plan: &MasterPlan,
        setup: MasterSetup,
        stats: Stats,
        hooks: Option<GuestHooks>,
        workers: Vec<Adopted>,
    ) -> Arc<Self> {
        let master = Self::new(plan, setup, stats, hooks, true);
        for Adopted { connection, hello } in workers {
            tokio::spawn(master.clone().serve_hello(connection, hello));
        }
        tokio::spawn(Self::watch_liveness(Arc::downgrade(&master)));
        master
    }

    /// The address workers connect to.
    pub fn address(&self) -> SocketAddr {
        self.address
            .get()
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Workers connected and not missing.
    pub fn ready_workers(&self) -> usize {
        lock(&self.inner)
            .workers
            .values()
            .filter(|w| w.live())
            .count()
    }

    /// Every worker seen, missing ones included, by id.
    pub fn workers(&self) -> Vec<WorkerInfo> {
        lock(&self.inner)
            .workers
            .iter()
            .map(|(id, worker)| WorkerInfo {
                id: id.clone(),
                state: worker.state.name(),
                user_count: worker.user_count,
                cpu_usage: worker.cpu_usage,
            })
            .collect()
    }

    /// Most users one test may have: each worker is sized to hold all of them.
    pub fn capacity(&self) -> u64 {
        u64::from(self.limits.max_instances).saturating_sub(crate::config::SPARE_INSTANCES)
    }

    /// What the distributed test is doing.
    pub fn state(&self) -> RunnerState {
        lock(&self.inner).state
    }

    /// Users running on live workers, as they last reported.
    pub fn user_count(&self) -> u64 {
        lock(&self.inner)
            .workers
            .values()
            .filter(|w| w.live())
            .map(|w| w.user_count)
            .sum()
    }

    fn changed(&self) {
        self.changes.send_replace(());
    }

    /// Resolve once `count` workers are connected, logging progress each second.
    pub async fn wait_for_workers(&self, count: usize) {
        let mut changes = self.changes.subscribe();
        let mut log = tokio::time::interval(Duration::from_secs(1));
        loop {
            let ready = self.ready_workers();
            if ready >= count {
                return;
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = log.tick() => tracing::info!(
                    target: "locust.main",
                    "Waiting for workers to be ready, {ready} of {count} connected"
                ),
            }
        }
    }

    /// Start a test of `users` users at `spawn_rate`, or change the running one: the users
    /// are split across the live workers. `on_spawned` runs once every worker has spawned its
    /// share, with the users per class.
    pub async fn start(
        &self,
        users: u64,
        spawn_rate: f64,
        only: Option<&[String]>,
        host: Option<String>,
        on_spawned: impl FnOnce(&[(String, u64)]) + Send + 'static,
    ) -> Result<(), String> {
        let classes: Vec<(&str, u32)> = self
            .setup
            .classes
            .iter()
            .map(|(name, weight)| (name.as_str(), *weight))
            .collect();
        let weights = crate::run::runner::weights_of(&classes, only)?;
        let outgoing = {
            let mut inner = lock(&self.inner);
            inner.target = Some(Target {
                users,
                spawn_rate,
                weights,
                host,
            });
            inner.on_spawned = Some(Box::new(on_spawned));
            self.rebalance(&mut inner)
        };
        self.changed();
        send_all(outgoing).await;
        Ok(())
    }

    /// Users per class the live workers were last told to run.
    pub fn class_counts(&self) -> Vec<(String, u64)> {
        let inner = lock(&self.inner);
        self.setup
            .classes
            .iter()
            .enumerate()
            .map(|(index, (name, _))| {
                let count = inner
                    .workers
                    .values()
                    .filter(|worker| worker.live())
                    .filter_map(|worker| worker.assigned.get(index))
                    .sum();
                (name.clone(), count)
            })
            .collect()
    }

    /// The component's option values, as the protocol carries them.
    fn option_list(&self) -> Vec<(String, String)> {
        self.setup
            .options
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    }

    /// Split the target across the live workers and tell each its share.
    fn rebalance(&self, inner: &mut Inner) -> Outgoing {
        let Some(target) = &inner.target else {
            return Vec::new();
        };
        let weights = target.weights.clone();
        let live: Vec<String> = inner
            .workers
            .iter()
            .filter(|(_, w)| w.live())
            .map(|(id, _)| id.clone())
            .collect();
        if live.is_empty() {
            tracing::warn!(
                target: "locust.runners",
                "No workers are connected: the test goes on once one joins"
            );
            inner.state = RunnerState::Spawning;
            return Vec::new();
        }
        let split = split_users(target.users, &weights, live.len());
        let totals: Vec<u64> = split.iter().map(|counts| counts.iter().sum()).collect();
        let rates = split_rate(target.spawn_rate, &totals);
        let offsets = spawn_offsets(target.spawn_rate, live.len());
        inner.sequence += 1;
        let sequence = inner.sequence;
        let spawn = |counts: &[u64], rate: f64, offset: Duration| Spawn {
            sequence,
            spawn_offset_ms: u64::try_from(offset.as_millis()).unwrap_or(u64::MAX),
            users: self
                .setup
                .classes
                .iter()
                .map(|(name, _)| name.clone())
                .zip(counts.iter().copied())
                .collect(),
            spawn_rate: rate,
            host: target.host.clone(),
            shared_data: self
                .hooks
                .as_ref()
                .and_then(|hooks| hooks.run_shared().setup_data())
                .map(|data| data.to_string()),
            stop_timeout_ms: u64::try_from(self.setup.stop_timeout.as_millis()).unwrap_or(u64::MAX),
            tags: self.setup.tags.clone(),
            exclude_tags: self.setup.exclude_tags.clone(),
            options: self.option_list(),
        };
        let mut outgoing = Vec::new();
        for (((id, counts), rate), offset) in live.iter().zip(&split).zip(&rates).zip(offsets) {
            let message = Message::Spawn(spawn(counts, *rate, offset));
            if let Some(worker) = inner.workers.get_mut(id) {
                worker.pending = Some(sequence);
                worker.state = WorkerState::Spawning;
                worker.assigned = counts.clone();
                outgoing.push((worker.outbound.clone(), message));
            }
        }
        tracing::info!(
            target: "locust.runners",
            "Sending spawn jobs of {} users at {} users/s to {} ready workers",
            target.users,
            target.spawn_rate,
            live.len()
        );
        inner.state = RunnerState::Spawning;
        outgoing
    }

    /// Stop the test: every worker stops its users and sends its last report; resolves once
    /// all have said they stopped (or the stop timeout has long passed).
    pub async fn stop(&self) {
        let (outgoing, waiting) = {
            let mut inner = lock(&self.inner);
            if inner.target.is_none() && inner.state != RunnerState::Spawning {
                return;
            }
            inner.target = None;
            inner.on_spawned = None;
            inner.state = RunnerState::Stopping;
            let mut outgoing = Vec::new();
            let mut waiting = Vec::new();
            for (id, worker) in inner.workers.iter_mut().filter(|(_, w)| w.live()) {
                worker.pending = None;
                outgoing.push((worker.outbound.clone(), Message::Stop));
                waiting.push((id.clone(), worker.connection));
            }
            (outgoing, waiting)
        };
        self.changed();
        send_all(outgoing).await;
        let deadline = Instant::now() + self.setup.stop_timeout + STOP_MARGIN;
        let mut changes = self.changes.subscribe();
        loop {
            let left: Vec<String> = {
                let inner = lock(&self.inner);
                waiting
                    .iter()
                    .filter(|(id, connection)| {
                        inner.workers.get(id).is_some_and(|w| {
                            w.connection == *connection
                                && w.live()
                                && w.state != WorkerState::Stopped
                        })
                    })
                    .map(|(id, _)| id.clone())
                    .collect()
            };
            if left.is_empty() {
                break;
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(
                        target: "locust.runners",
                        "Workers {} did not report stopping in time; their last statistics may be missing",
                        left.join(", ")
                    );
                    break;
                }
            }
        }
        lock(&self.inner).state = RunnerState::Stopped;
        self.changed();
    }

    /// Tell every worker to exit.
    pub async fn quit(&self) {
        let outgoing: Outgoing = lock(&self.inner)
            .workers
            .values()
            .filter(|w| w.live())
            .map(|w| (w.outbound.clone(), Message::Quit))
            .collect();
        send_all(outgoing).await;
        // Workers answer with their last report and a goodbye; wait for those (briefly).
        let deadline = Instant::now() + QUIT_TIMEOUT;
        let mut changes = self.changes.subscribe();
        while self.ready_workers() > 0 {
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
    }

    /// Mark workers silent for too long as missing, move their users, send heartbeats, and
    /// watch this process's CPU.
    async fn watch_liveness(master: std::sync::Weak<Self>) {
        let mut ticks = tokio::time::interval(HEARTBEAT_INTERVAL);
        let mut cpu = CpuMeter::new();
        let mut cpu_warned = false;
        loop {
            ticks.tick().await;
            let Some(master) = master.upgrade() else {
                return;
            };
            let usage = cpu.sample();
            if usage > CPU_WARNING_PERCENT && !cpu_warned {
                cpu_warned = true;
                tracing::warn!(
                    target: "locust.runners",
                    "CPU usage above {CPU_WARNING_PERCENT}%! This may constrain your throughput and may even give inconsistent response time measurements!"
                );
            }
            let outgoing = {
                let mut inner = lock(&master.inner);
                let now = Instant::now();
                let mut lost = false;
                for (id, worker) in inner.workers.iter_mut() {
                    if worker.live() && now.duration_since(worker.last_seen) > HEARTBEAT_LIVENESS {
                        tracing::warn!(
                            target: "locust.runners",
                            "Worker {id} failed to send heartbeat, setting state to missing."
                        );
                        worker.state = WorkerState::Missing;
                        worker.user_count = 0;
                        lost = true;
                    }
                }
                let mut outgoing = if lost {
                    master.rebalance(&mut inner)
                } else {
                    Vec::new()
                };
                let heartbeat = Message::Heartbeat(Heartbeat {
                    state: inner.state.name().to_owned(),
                    cpu_usage: usage,
                    user_count: 0,
                });
                outgoing.extend(
                    inner
                        .workers
                        .values()
                        .filter(|w| w.live())
                        .map(|w| (w.outbound.clone(), heartbeat.clone())),
                );
                if lost {
                    master.changed();
                }
                outgoing
            };
            send_all(outgoing).await;
        }
    }

    /// Check a worker's hello; the reason it is refused, if it is.
    fn admit(&self, hello: &Hello) -> Result<(), String> {
        hello.check_version().map_err(|error| error.to_string())?;
        if let Some(expected) = &self.token_digest {
            let given = hello.token.as_deref().map(digest);
            if given.as_ref() != Some(expected) {
                return Err(
                    "wrong or missing master token; start the worker with the master's --master-token"
                        .to_owned(),
                );
            }
        }
        let ours = self.setup.component.hash();
        match &hello.component_hash {
            Some(theirs) if theirs != ours => Err(format!(
                "the worker's component (-f, sha256 {}) differs from the master's (sha256 {}); start the worker without -f to receive the master's, or with the same file",
                short(theirs),
                short(ours)
            )),
            _ => Ok(()),
        }
    }

    /// One worker's stream, from hello to its end.
    async fn serve_connection(self: Arc<Self>, mut connection: Connection) {
        if let Some(hello) = read_hello(&mut connection).await {
            self.serve_hello(connection, hello).await;
        }
    }

    /// One worker's stream after its hello, to its end.
    async fn serve_hello(self: Arc<Self>, connection: Connection, hello: Hello) {
        let peer = connection
            .peer
            .map_or_else(|| "an unknown address".to_owned(), |peer| peer.to_string());
        let Connection {
            mut inbound,
            outbound,
            admission,
            ..
        } = connection;
        let id = hello.worker_id.clone();
        if let Err(reason) = self.admit(&hello) {
            return refuse(&outbound, &peer, &format!("worker {id}"), &reason).await;
        }
        if let Some(admission) = &admission {
            admission.admit();
        }
        let ours = self.setup.component.hash().to_owned();
        let has_it =
            hello.component_hash.as_deref() == Some(ours.as_str()) || hello.cached.contains(&ours);
        let welcome = Message::Welcome(Welcome {
            component_hash: ours,
            component: (!has_it).then(|| self.setup.component.bytes().to_vec()),
            max_users: self.capacity(),
            memory_bytes: self.limits.memory_bytes as u64,
            fuel_per_call: self.limits.fuel_per_call,
            max_response_bytes: Some(self.limits.max_response_bytes as u64),
            host: self.setup.host.clone(),
            options: self.option_list(),
            allow_hosts: self
                .setup
                .allow_hosts
                .iter()
                .map(ToString::to_string)
                .collect(),
            listeners: self
                .setup
                .listeners
                .iter()
                .map(|bytes| bytes.to_vec())
                .collect(),
            pooled: self.pooled,
            fuel_per_second: self.limits.fuel_per_second,
        });
        send(&outbound, &welcome).await;
        // The worker compiles the component, then says it is ready.
        let ready = tokio::time::timeout(READY_TIMEOUT, async {
            loop {
                match inbound.message().await {
                    Ok(Some(frame)) => match Message::from_frame(&Frame::from(frame)) {
                        Ok(Message::Ready) => return true,
                        Ok(Message::Quit) => return false,
                        Ok(_) => {}
                        Err(error) => tracing::warn!(
                            target: "locust.runners",
                            "Rejected a frame from worker {id}: {error}"
                        ),
                    },
                    Ok(None) | Err(_) => return false,
                }
            }
        })
        .await;
        if ready != Ok(true) {
            tracing::warn!(target: "locust.runners", "Worker {id} left before it was ready");
            return;
        }
        let connection = self.register(&id, outbound).await;
        loop {
            let frame = match inbound.message().await {
                Ok(Some(frame)) => Frame::from(frame),
                Ok(None) | Err(_) => break,
            };
            match Message::from_frame(&frame) {
                Ok(Message::Quit) => {
                    self.remove(&id, connection).await;
                    return;
                }
                Ok(message) => self.handle(&id, connection, message).await,
                Err(error) => tracing::warn!(
                    target: "locust.runners",
                    "Rejected a frame from worker {id}: {error}"
                ),
            }
        }
        self.lose(&id, connection).await;
    }

    /// Add a ready worker (or take back a rejoining one) and give it its share of a test in
    /// progress.
    async fn register(&self, id: &str, outbound: Outbound) -> u64 {
        let (connection, outgoing) = {
            let mut inner = lock(&self.inner);
            inner.next_connection += 1;
            let connection = inner.next_connection;
            let rejoining = inner.workers.contains_key(id);
            inner.workers.insert(
                id.to_owned(),
                WorkerEntry {
                    state: WorkerState::Ready,
                    user_count: 0,
                    cpu_usage: 0.0,
                    cpu_warned: false,
                    last_seen: Instant::now(),
                    outbound,
                    connection,
                    pending: None,
                    assigned: Vec::new(),
                },
            );
            let count = inner.workers.values().filter(|w| w.live()).count();
            tracing::info!(
                target: "locust.runners",
                "Worker {id} {} (now {count} connected).",
                if rejoining { "rejoined" } else { "connected" }
            );
            (connection, self.rebalance(&mut inner))
        };
        self.changed();
        send_all(outgoing).await;
        connection
    }

    /// A worker left on purpose.
    async fn remove(&self, id: &str, connection: u64) {
        let outgoing = {
            let mut inner = lock(&self.inner);
            if inner.workers.get(id).map(|w| w.connection) != Some(connection) {
                return;
            }
            inner.workers.remove(id);
            tracing::info!(target: "locust.runners", "Worker {id} quit.");
            self.rebalance(&mut inner)
        };
        self.changed();
        send_all(outgoing).await;
    }

    /// A worker's stream ended without a goodbye: it is missing, and its users move.
    async fn lose(&self, id: &str, connection: u64) {
        let outgoing = {
            let mut inner = lock(&self.inner);
            let Some(worker) = inner.workers.get_mut(id) else {
                return;
            };
            if worker.connection != connection || !worker.live() {
                return;
            }
            worker.state = WorkerState::Missing;
            worker.user_count = 0;
            tracing::warn!(
                target: "locust.runners",
                "Worker {id} disconnected, setting state to missing."
            );
            self.rebalance(&mut inner)
        };
        self.changed();
        send_all(outgoing).await;
    }

    async fn handle(&self, id: &str, connection: u64, message: Message) {
        let mut spawned: Option<(SpawnedCallback, Vec<(String, u64)>)> = None;
        let mut outgoing = Vec::new();
        let mut custom = None;
        let mut report = None;
        {
            let mut inner = lock(&self.inner);
            let Some(worker) = inner.workers.get_mut(id) else {
                return;
            };
            if worker.connection != connection {
                return;
            }
            worker.last_seen = Instant::now();
            let back = worker.state == WorkerState::Missing;
            if back {
                tracing::info!(target: "locust.runners", "Worker {id} is back.");
                worker.state = WorkerState::Ready;
            }
            match message {
                Message::Heartbeat(heartbeat) => {
                    worker.cpu_usage = heartbeat.cpu_usage;
                    worker.user_count = heartbeat.user_count;
                    if heartbeat.cpu_usage > CPU_WARNING_PERCENT && !worker.cpu_warned {
                        worker.cpu_warned = true;
                        tracing::warn!(
                            target: "locust.runners",
                            "Worker {id} exceeded cpu threshold (will only log this once per worker)"
                        );
                    }
                }
                Message::Report(Report {
                    entries,
                    errors,
                    user_errors,
                    user_count,
                    metrics,
                    custom: data,
                }) => {
                    worker.user_count = user_count;
                    report = Some((entries, errors, user_errors, metrics));
                    custom = data;
                }
                Message::Spawning => worker.state = WorkerState::Spawning,
                Message::SpawningComplete(SpawnDone {
                    sequence,
                    user_count,
                }) => {
                    worker.user_count = user_count;
                    if worker.pending == Some(sequence) {
                        worker.pending = None;
                        worker.state = WorkerState::Running;
                    }
                }
                Message::Stopped => {
                    worker.state = WorkerState::Stopped;
                    worker.user_count = 0;
                    worker.pending = None;
                }
                other => tracing::warn!(
                    target: "locust.runners",
                    "Worker {id} sent an unexpected {} message; ignored",
                    other.kind()
                ),
            }
            if back {
                outgoing = self.rebalance(&mut inner);
            }
            let all_spawned = inner
                .workers
                .values()
                .filter(|w| w.live())
                .all(|w| w.pending.is_none());
            if inner.state == RunnerState::Spawning && inner.target.is_some() && all_spawned {
                inner.state = RunnerState::Running;
                if let Some(callback) = inner.on_spawned.take() {
                    let per_class = self
                        .setup
                        .classes
                        .iter()
                        .enumerate()
                        .map(|(class, (name, _))| {
                            let count = inner
                                .workers
                                .values()
                                .filter(|w| w.live())
                                .filter_map(|w| w.assigned.get(class))
                                .sum();
                            (name.clone(), count)
                        })
                        .collect();
                    spawned = Some((callback, per_class));
                }
            }
        }
        // Outside the lock: readers of the statistics may ask for the workers meanwhile.
        if let Some((entries, errors, user_errors, metrics)) = report {
            self.stats.absorb(&entries, &errors, &user_errors, &metrics);
        }
        self.changed();
        send_all(outgoing).await;
        if let Some((callback, per_class)) = spawned {
            let summary: Vec<String> = per_class
                .iter()
                .map(|(name, count)| format!("{name}: {count}"))
                .collect();
            tracing::info!(target: "locust.runners", "All users hatched: {}", summary.join(", "));
            callback(&per_class);
        }
        if let (Some(data), Some(hooks)) = (custom, &self.hooks) {
            hooks.worker_report(id, data);
        }
    }
}

/// The first 12 hex digits of a hash, enough to tell components apart in a message.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Refuse a peer: log why and tell it.
/// A connection's hello, read within [`HELLO_TIMEOUT`]; a peer that sends something else (or
/// nothing) is refused with the reason, and none is returned.
pub async fn read_hello(connection: &mut Connection) -> Option<Hello> {
    let peer = connection
        .peer
        .map_or_else(|| "an unknown address".to_owned(), |peer| peer.to_string());
    let reason = match tokio::time::timeout(HELLO_TIMEOUT, connection.inbound.message()).await {
        Ok(Ok(Some(frame))) => {
            let frame = Frame::from(frame);
            match Message::from_frame(&frame) {
                Ok(Message::Hello(hello)) => return Some(hello),
                Ok(other) => format!("expected hello first, got {}", other.kind()),
                // Another version may shape its hello differently: name the versions.
                Err(error) => match Hello::version_of(&frame).map(check_version) {
                    Some(Err(mismatch)) => mismatch.to_string(),
                    _ => error.to_string(),
                },
            }
        }
        Ok(Ok(None)) | Ok(Err(_)) => return None,
        Err(_) => format!("no hello within {} seconds", HELLO_TIMEOUT.as_secs()),
    };
    refuse(&connection.outbound, &peer, "a peer", &reason).await;
    None
}

/// Tell a peer why it is refused, and log it.
pub async fn refuse(outbound: &Outbound, peer: &str, who: &str, reason: &str) {
    tracing::warn!(target: "locust.runners", "Refused {who} at {peer}: {reason}");
    send(outbound, &Message::Refused(reason.to_owned())).await;
}
