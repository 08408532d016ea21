//! The component's test-wide hooks (`init`, `test_start`, `test_stop`, `quitting`, request listeners,
//! `report_to_master` on workers and `worker_report` on masters),
//! run in one instance of their own by a task that owns it, in the order they are asked for.
//!
//! Nothing a hook does can hold a run up: a call past its deadline (`--hook-timeout`) is
//! abandoned, and later calls are refused at once, since the instance is still busy with it;
//! requests wait for the listener in a bounded queue; those that do not fit, or that it has not
//! reached 2 s after the test stops, are dropped and counted.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::component::{
    ComponentOptions, GuestInstance, HookSet, RequestRecord, ShapeTick, TaskError, TestComponent,
    UserIdentity, UserState,
};
use crate::events::{Events, Reporter};
use crate::stats::Stats;

/// A hook that reports success or a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// `init`.
    Init,
    /// `test_start`.
    TestStart,
    /// `test_stop`.
    TestStop,
    /// `quitting`, once before the process exits.
    Quitting,
}

enum Command {
    Call(Hook, oneshot::Sender<Result<(), String>>),
    Request(RequestRecord),
    ReportToMaster(oneshot::Sender<Option<Vec<u8>>>),
    WorkerReport(String, Vec<u8>),
    ShapeReset(oneshot::Sender<Result<(), String>>),
    ShapeTick(oneshot::Sender<Result<Option<ShapeTick>, String>>),
}

/// How long a hook may run before it is abandoned, unless `--hook-timeout` says otherwise.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests that may wait for a slow request listener; more are dropped and counted.
pub const LISTENER_QUEUE: usize = 10_000;
/// Room in the hooks task's queue beyond the requests: hook calls and worker reports.
const COMMAND_ROOM: usize = 64;
/// How long the listener may go on with the requests still queued when a test stops; those
/// it has not reached by then are dropped, so that `test_stop` and the end come on time.
pub const LISTENER_DRAIN: Duration = Duration::from_secs(2);

/// A hook call being waited for; dropped before its answer (the waiting future was
/// cancelled), it marks the hook abandoned.
struct InFlight<'a> {
    abandoned: &'a Mutex<Option<String>>,
    name: Option<&'a str>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(name) = self.name {
            *self
                .abandoned
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(name.to_owned());
        }
    }
}

/// The requests on their way to the listener.
#[derive(Default)]
struct ListenerQueue {
    /// Sent to the hooks task and not yet taken by it.
    waiting: AtomicUsize,
    /// Dropped: the queue was full, or the test stopped before the listener got to them.
    dropped: AtomicU64,
    /// Set while no test runs: requests are dropped rather than queued.
    closed: AtomicBool,
    /// Once closed: until when queued requests still go to the listener.
    drain_until: Mutex<Option<tokio::time::Instant>>,
}

impl ListenerQueue {
    /// Whether a queued request taken now is to be dropped rather than passed on.
    fn past_drain(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
            && self
                .drain_until
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_none_or(|until| tokio::time::Instant::now() > until)
    }
}

/// A handle to the hooks instance; dropping every handle ends its task.
#[derive(Clone)]
pub struct GuestHooks {
    declared: HookSet,
    /// Whether the component has a load shape, ticked in this instance.
    shaped: bool,
    commands: mpsc::Sender<Command>,
    deadline: Duration,
    /// The hook abandoned past its deadline, which the instance may still be running.
    abandoned: Arc<Mutex<Option<String>>>,
    queue: Arc<ListenerQueue>,
    run: Arc<crate::test_plan::RunShared>,
}

impl GuestHooks {
    /// What the hooks share with the session's users (the `test-start` hook's data).
    pub fn run_shared(&self) -> &Arc<crate::test_plan::RunShared> {
        &self.run
    }

    /// Start the hooks instance of `component` if it declared any hook or a load shape
    /// (`shaped`); each call to a hook may take up to `deadline`. Requests its hooks make are
    /// recorded in `stats` but not passed to request listeners.
    #[allow(clippy::too_many_arguments)] // each is one fact of the hooks instance
    pub async fn start(
        component: Arc<TestComponent>,
        declared: HookSet,
        shaped: bool,
        stats: Stats,
        host: Option<Arc<str>>,
        options: ComponentOptions,
        grants: Arc<crate::grants::Grants>,
        run: Arc<crate::test_plan::RunShared>,
        deadline: Duration,
    ) -> Result<Option<Self>, String> {
        if declared == HookSet::empty() && !shaped {
            return Ok(None);
        }
        let identity = UserIdentity {
            id: 0,
            seed: rand::random(),
            host,
            class: Arc::from("hooks"),
            options,
            grants,
            run: run.clone(),
        };
        let reporter = Reporter {
            stats,
            events: Arc::new(Events::new()),
        };
        let state = UserState::new(identity, reporter, component.limits().memory_bytes);
        let instance = component
            .instantiate(state)
            .await
            .map_err(|error| format!("could not start the hooks instance: {error}"))?;
        // Requests are capped at LISTENER_QUEUE by their own count; the rest of the room is for
        // hook calls and worker reports, so nothing queues without bound.
        let (commands, receiver) = mpsc::channel(LISTENER_QUEUE + COMMAND_ROOM);
        let queue = Arc::new(ListenerQueue::default());
        tokio::spawn(serve(instance, receiver, queue.clone()));
        Ok(Some(Self {
            declared,
            shaped,
            commands,
            deadline,
            abandoned: Arc::default(),
            queue,
            run,
        }))
    }

    /// Whether the component wants every request.
    pub fn wants_requests(&self) -> bool {
        self.declared.contains(HookSet::REQUEST)
    }

    /// Pass every request recorded through `events` to the component's request listener, if
    /// it declared one.
    pub fn listen(&self, events: &mut Events) {
        if self.wants_requests() {
            let hooks = self.clone();
            events.on_request(move |event| {
                hooks.request(RequestRecord {
                    request_type: event.request_type.to_owned(),
                    name: event.name.to_owned(),
                    response_time_ms: event.response_time.as_secs_f64() * 1000.0,
                    response_length: event.response_length,
                    error: event.error.map(str::to_owned),
                });
            });
        }
    }

    /// Run `hook` if the component declared it; an error names the hook and the guest's message.
    pub async fn call(&self, hook: Hook) -> Result<(), String> {
        let flag = match hook {
            Hook::Init => HookSet::INIT,
            Hook::TestStart => HookSet::TEST_START,
            Hook::TestStop => HookSet::TEST_STOP,
            Hook::Quitting => HookSet::QUITTING,
        };
        if !self.declared.contains(flag) {
            return Ok(());
        }
        self.ask(&format!("{hook:?}"), |reply| Command::Call(hook, reply))
            .await?
    }

    fn is_abandoned(&self) -> bool {
        self.abandoned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Send the command `make` builds to the hooks task and wait, up to the deadline, for its
    /// answer; `name` names the hook in errors. Past the deadline the hook is abandoned, and
    /// every later call is refused at once (the instance is still inside that hook).
    async fn ask<T>(
        &self,
        name: &str,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, String> {
        let abandoned = || {
            self.abandoned
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if let Some(stuck) = abandoned().as_deref() {
            return Err(format!(
                "{name} hook skipped: the hooks instance is still in the {stuck} hook, \
                 abandoned earlier"
            ));
        }
        let (reply, answer) = oneshot::channel();
        let queued = tokio::time::timeout(self.deadline, self.commands.send(make(reply))).await;
        match queued {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err("the hooks instance has stopped".to_owned()),
            Err(_) => {
                return Err(format!(
                    "{name} hook skipped: the hooks instance's queue stayed full for {} s",
                    self.deadline.as_secs_f64()
                ));
            }
        }
        // If the caller gives up waiting (a signal while a hook runs), the instance is still in
        // the hook: later calls must not queue behind it.
        let mut in_flight = InFlight {
            abandoned: &self.abandoned,
            name: Some(name),
        };
        let answered = tokio::time::timeout(self.deadline, answer).await;
        in_flight.name = None;
        match answered {
            Ok(answer) => answer.map_err(|_| "the hooks instance has stopped".to_owned()),
            Err(_) => {
                *abandoned() = Some(name.to_owned());
                Err(format!(
                    "{name} hook did not return within {} s (--hook-timeout); abandoned it, \
                     and the test goes on without it",
                    self.deadline.as_secs_f64()
                ))
            }
        }
    }

    /// Pass a recorded request to the component's request listener (without waiting); if
    /// [`LISTENER_QUEUE`] requests already wait for it, or no test runs, the request is
    /// dropped and counted instead.
    pub fn request(&self, record: RequestRecord) {
        let queue = &self.queue;
        if queue.closed.load(Ordering::Relaxed) {
            queue.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if queue.waiting.fetch_add(1, Ordering::Relaxed) >= LISTENER_QUEUE {
            queue.waiting.fetch_sub(1, Ordering::Relaxed);
            queue.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.commands.try_send(Command::Request(record)).is_err() {
            queue.waiting.fetch_sub(1, Ordering::Relaxed);
            queue.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A test starts: requests go to the listener again.
    pub fn open_listener(&self) {
        self.queue.closed.store(false, Ordering::Relaxed);
    }

    /// The test stopped: requests recorded from now on are dropped, and those still queued
    /// go to the listener for at most [`LISTENER_DRAIN`] more (then they are dropped too, so
    /// that `test_stop`, queued behind them, runs on time).
    pub fn close_listener(&self) {
        let until = tokio::time::Instant::now() + LISTENER_DRAIN;
        *self
            .queue
            .drain_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(until);
        self.queue.closed.store(true, Ordering::Relaxed);
    }

    /// How many requests were dropped since the last call (for the log).
    pub fn take_dropped_requests(&self) -> u64 {
        self.queue.dropped.swap(0, Ordering::Relaxed)
    }

    /// On a worker: the data the component attaches to a report, if it declared
    /// `report-to-master` and returned some.
    pub async fn report_to_master(&self) -> Option<Vec<u8>> {
        if !self.declared.contains(HookSet::REPORT_TO_MASTER) {
            return None;
        }
        let skipped_before = self.is_abandoned();
        match self.ask("ReportToMaster", Command::ReportToMaster).await {
            Ok(data) => data,
            Err(error) => {
                // Said once, not at every report.
                if !skipped_before {
                    tracing::error!(target: "locust.main", "{error}");
                }
                None
            }
        }
    }

    /// Whether the component has a load shape.
    pub fn shaped(&self) -> bool {
        self.shaped
    }

    /// A test with a load shape starts: `load-shape.reset`.
    pub async fn shape_reset(&self) -> Result<(), String> {
        self.ask("load shape reset", Command::ShapeReset).await?
    }

    /// The load the shape asks for now (`None` ends the test).
    pub async fn shape_tick(&self) -> Result<Option<ShapeTick>, String> {
        self.ask("load shape tick", Command::ShapeTick).await?
    }

    /// On a master: hand a worker's attached data to the component (without waiting), if it
    /// declared `worker-report`.
    pub fn worker_report(&self, worker_id: &str, data: Vec<u8>) {
        if self.declared.contains(HookSet::WORKER_REPORT)
            && self
                .commands
                .try_send(Command::WorkerReport(worker_id.to_owned(), data))
                .is_err()
        {
            tracing::warn!(target: "locust.main", "worker_report hook is behind; dropped the report of {worker_id}");
        }
    }
}

async fn serve(
    mut instance: GuestInstance,
    mut commands: mpsc::Receiver<Command>,
    queue: Arc<ListenerQueue>,
) {
    let mut broken = false;
    while let Some(command) = commands.recv().await {
        if let Command::Request(_) = &command {
            queue.waiting.fetch_sub(1, Ordering::Relaxed);
            if queue.past_drain() {
                queue.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        }
        if broken {
            let refused = "skipped: the hooks instance trapped earlier";
            match command {
                Command::Call(hook, reply) => {
                    let _ = reply.send(Err(format!("{hook:?} hook {refused}")));
                }
                Command::ShapeReset(reply) => {
                    let _ = reply.send(Err(format!("load shape reset {refused}")));
                }
                Command::ShapeTick(reply) => {
                    let _ = reply.send(Err(format!("load shape tick {refused}")));
                }
                _ => {}
            }
            continue;
        }
        match command {
            Command::Call(hook, reply) => {
                let result = match hook {
                    Hook::Init => instance.init().await,
                    Hook::TestStart => instance.test_start().await,
                    Hook::TestStop => instance.test_stop().await,
                    Hook::Quitting => instance.quitting().await,
                };
                let answer = match result {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(TaskError { message, .. })) => {
                        Err(format!("{hook:?} hook failed: {message}"))
                    }
                    Err(error) => {
                        broken = true;
                        Err(format!("{hook:?} hook: {error}"))
                    }
                };
                let _ = reply.send(answer);
            }
            Command::Request(record) => {
                if let Err(error) = instance.on_request(&record).await {
                    tracing::error!(target: "locust.main", "request listener: {error}");
                    broken = true;
                }
            }
            Command::ReportToMaster(reply) => {
                let data = instance.report_to_master().await.unwrap_or_else(|error| {
                    tracing::error!(target: "locust.main", "report_to_master hook: {error}");
                    broken = true;
                    None
                });
                let _ = reply.send(data);
            }
            Command::WorkerReport(worker_id, data) => {
                if let Err(error) = instance.worker_report(&worker_id, &data).await {
                    tracing::error!(target: "locust.main", "worker_report hook: {error}");
                    broken = true;
                }
            }
            Command::ShapeReset(reply) => {
                let answer = match instance.shape_reset().await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(error)) => Err(shape_failure("reset_time", &error)),
                    Err(error) => {
                        broken = true;
                        Err(format!("the load shape's reset_time: {error}"))
                    }
                };
                let _ = reply.send(answer);
            }
            Command::ShapeTick(reply) => {
                let answer = match instance.shape_tick().await {
                    Ok(Ok(tick)) => Ok(tick),
                    Ok(Err(error)) => Err(shape_failure("tick", &error)),
                    Err(error) => {
                        broken = true;
                        Err(format!("the load shape's tick: {error}"))
                    }
                };
                let _ = reply.send(answer);
            }
        }
    }
}

/// A load shape's exception, for the log: the message and the guest's traceback.
fn shape_failure(method: &str, error: &TaskError) -> String {
    if error.traceback.trim().is_empty() {
        format!("the load shape's {method} failed: {}", error.message)
    } else {
        format!(
            "the load shape's {method} failed: {}\n{}",
            error.message,
            error.traceback.trim_end()
        )
    }
}
