//! A test session: a loaded component with its classes, statistics, event listeners and hooks,
//! in which tests are started, edited and stopped — once from the command line (headless), or
//! any number of times from the web UI. Each start gets a fresh [`LocalRunner`]; the
//! statistics carry over until reset, as in Locust.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use anyhow::anyhow;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::component::{ComponentOptions, HookSet, TestComponent};
use crate::config::StepLoad;
use crate::dist::master::{Master, MasterPlan, MasterSetup, WorkerInfo};
use crate::events::{Events, Reporter};
use crate::grants::{Grants, HostRule};
use crate::hooks::{GuestHooks, Hook};
use crate::listeners::Listeners;
use crate::load_plan::driver::LoadTarget;
use crate::load_plan::{Load, Source};
use crate::run::control::{EndRequest, Role, RunControl};
use crate::run::runner::{LocalRunner, RunnerState};
use crate::run::scenario::UserClassPlan;
use crate::run::user::UserEnvironment;
use crate::stats::Stats;

/// What a session is made of.
pub struct SessionParts {
    /// The loaded component.
    pub component: Arc<TestComponent>,
    /// The classes to spawn (selected and tag-filtered).
    pub classes: Vec<UserClassPlan>,
    /// The hooks the component declared.
    pub hooks: HookSet,
    /// Values of the component's options.
    pub options: ComponentOptions,
    /// `--host`.
    pub host: Option<String>,
    /// `--stop-timeout`.
    pub stop_timeout: Duration,
    /// `--hook-timeout`.
    pub hook_timeout: Duration,
    /// `--max-request-names`.
    pub max_request_names: usize,
    /// `--reset-stats`.
    pub reset_stats: bool,
    /// `--tags` and `--exclude-tags` (the classes are filtered already; workers need them).
    pub tags: (Option<Vec<String>>, Option<Vec<String>>),
    /// `--allow-host`.
    pub allow_hosts: Vec<HostRule>,
    /// Refuse hosts outside `allow_hosts` instead of granting them (`--host` and class hosts
    /// are granted on the command line; in the shared service a tenant's grants are its
    /// operator's, and a run page's form must not widen them).
    pub fixed_grants: bool,
    /// Listener plugins, one instance each in this process.
    pub listeners: Vec<crate::component::ListenerPlugin>,
    /// Split the users across workers as their master, instead of running them here.
    pub master: Option<MasterPlan>,
    /// Workers handed over by the shared service: with `master`, the master adopts these
    /// instead of listening for workers.
    pub adopted: Vec<crate::dist::master::Adopted>,
    /// The component's own plan (k6's `options`): each test ramps through its stages and
    /// ends when its iterations are done.
    pub plan: Option<Arc<crate::test_plan::TestPlan>>,
    /// The component's load shape, by name: it decides each test's users instead of the
    /// users and spawn rate a start asks for.
    pub shape: Option<String>,
}

/// What runs the users of one test: a local runner, or the master of the workers.
#[derive(Clone)]
enum Runner {
    Local(Arc<LocalRunner>),
    Distributed {
        master: Arc<Master>,
        host: Option<String>,
    },
}

impl Runner {
    /// Bring the test to `load` (only its classes, with their weights between them).
    async fn start(
        &self,
        load: &Load,
        on_spawned: impl FnOnce(&[(String, u64)]) + Send + 'static,
    ) -> Result<(), String> {
        match self {
            Runner::Local(runner) => runner.start_classes(
                load.users,
                load.spawn_rate,
                load.classes.as_deref(),
                on_spawned,
            ),
            Runner::Distributed { master, host } => {
                master
                    .start(
                        load.users,
                        load.spawn_rate,
                        load.classes.as_deref(),
                        host.clone(),
                        on_spawned,
                    )
                    .await
            }
        }
    }

    fn class_counts(&self) -> Vec<(String, u64)> {
        match self {
            Runner::Local(runner) => runner.class_counts(),
            Runner::Distributed { master, .. } => master.class_counts(),
        }
    }

    async fn stop(&self) {
        match self {
            Runner::Local(runner) => runner.stop().await,
            Runner::Distributed { master, .. } => master.stop().await,
        }
    }

    fn state(&self) -> RunnerState {
        match self {
            Runner::Local(runner) => runner.state(),
            Runner::Distributed { master, .. } => master.state(),
        }
    }

    fn user_count(&self) -> u64 {
        match self {
            Runner::Local(runner) => runner.user_count(),
            Runner::Distributed { master, .. } => master.user_count(),
        }
    }
}

struct ActiveRun {
    runner: Runner,
    ramp: JoinHandle<()>,
}

/// A loaded test that can be started and stopped.
pub struct TestSession {
    component: Arc<TestComponent>,
    classes: Vec<UserClassPlan>,
    stats: Stats,
    events: Arc<Events>,
    hooks: Option<GuestHooks>,
    options: ComponentOptions,
    host: Mutex<Option<String>>,
    allow_hosts: Vec<HostRule>,
    fixed_grants: bool,
    listeners: Listeners,
    stop_timeout: Duration,
    reset_stats: bool,
    run: tokio::sync::Mutex<Option<ActiveRun>>,
    /// The runner of the test in progress, for readers that must not wait for a start or a
    /// stop to finish (the web UI's state and user count).
    current: Mutex<Option<Runner>>,
    /// The workers' master, in a distributed run.
    master: Option<Arc<Master>>,
    finished: Mutex<RunnerState>,
    /// What the users share with the hooks: the `test-start` data.
    run_shared: Arc<crate::test_plan::RunShared>,
    /// The running test's iteration budget, when the plan has iterations.
    budget: Mutex<Option<Arc<crate::test_plan::Budget>>>,
    /// The component's own plan (k6's `options`): its stages and iterations.
    plan: Option<Arc<crate::test_plan::TestPlan>>,
    /// The component's load shape, by name.
    shape: Option<String>,
    /// How the latest test was asked to end from inside (its plan, a shape, `runner.quit()`),
    /// until the next starts.
    ended: watch::Sender<Option<EndRequest>>,
    /// The session itself, for the tasks it starts.
    me: Weak<TestSession>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `rules` for a message: `a, b`, or `none`.
fn grant_list(rules: &[HostRule]) -> String {
    if rules.is_empty() {
        return "none".to_owned();
    }
    rules
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What happens each time a ramp step has spawned its users: the `spawning_complete` event,
/// and `--reset-stats`.
#[derive(Clone)]
struct SpawnedHandler {
    events: Arc<Events>,
    stats: Option<Stats>,
}

impl SpawnedHandler {
    fn callback(&self) -> impl FnOnce(&[(String, u64)]) + Send + 'static {
        let handler = self.clone();
        move |per_class| {
            handler
                .events
                .fire_spawning_complete(per_class.iter().map(|(_, count)| count).sum());
            if let Some(stats) = &handler.stats {
                tracing::info!(target: "locust.runners", "Resetting stats");
                stats.reset();
            }
        }
    }
}

/// The load a start asks for: `users` at `spawn_rate`, in steps with `--step-load`.
fn given_load(users: u64, spawn_rate: f64, step_load: Option<StepLoad>) -> Source {
    match step_load {
        Some(step) => Source::Steps {
            users,
            spawn_rate,
            step,
        },
        None => Source::Fixed { users, spawn_rate },
    }
}

/// The session's runner as a load plan's driver sees it.
struct RampTarget {
    runner: Runner,
    spawned: SpawnedHandler,
    session: Weak<TestSession>,
    /// How large a test this session can run.
    capacity: u64,
}

impl LoadTarget for RampTarget {
    async fn apply(&self, load: &Load, announce: bool) -> Result<(), String> {
        if load.users > self.capacity {
            return Err(format!(
                "the test asks for {} users, more than this locust process was started for ({}); \
                 restart it with -u {}",
                load.users, self.capacity, load.users
            ));
        }
        if announce {
            self.runner.start(load, self.spawned.callback()).await
        } else {
            self.runner.start(load, |_: &[(String, u64)]| {}).await
        }
    }

    fn end(&self, request: EndRequest) {
        if let Some(session) = self.session.upgrade() {
            session.end_test(request);
        }
    }
}

/// The session as its instances see their runner (the `runner` import).
struct SessionControl(Weak<TestSession>);

impl RunControl for SessionControl {
    fn role(&self) -> Role {
        match self.0.upgrade() {
            Some(session) if session.master.is_some() => Role::Master,
            _ => Role::Local,
        }
    }

    fn state(&self) -> RunnerState {
        self.0
            .upgrade()
            .map_or(RunnerState::Stopped, |session| session.state())
    }

    fn user_count(&self) -> u64 {
        self.0.upgrade().map_or(0, |session| session.user_count())
    }

    fn class_counts(&self) -> Vec<(String, u64)> {
        let Some(session) = self.0.upgrade() else {
            return Vec::new();
        };
        let current = lock(&session.current).clone();
        match current {
            Some(runner) => runner.class_counts(),
            None => session
                .classes
                .iter()
                .map(|class| (class.name.clone(), 0))
                .collect(),
        }
    }

    fn end(&self, request: EndRequest) {
        if let Some(session) = self.0.upgrade() {
            session.end_test(request);
        }
    }
}

impl TestSession {
    /// Start the component's hooks (running `init`) and make a session ready to start tests.
    pub async fn prepare(mut parts: SessionParts, events: Events) -> anyhow::Result<Arc<Self>> {
        let stats = Stats::with_name_limit(parts.max_request_names);
        let classes = parts.classes;
        let run = Arc::new(crate::test_plan::RunShared::default());
        let grants = Grants::for_run(&parts.allow_hosts, parts.host.as_deref(), &classes).await;
        let hooks = GuestHooks::start(
            parts.component.clone(),
            parts.hooks,
            parts.shape.is_some(),
            stats.clone(),
            parts.host.as_deref().map(Arc::from),
            parts.options.clone(),
            grants,
            run.clone(),
            parts.hook_timeout,
        )
        .await
        .map_err(|error| anyhow!(error))?;
        let listeners = Listeners::start(
            &parts.listeners,
            Grants::for_run(&parts.allow_hosts, parts.host.as_deref(), &classes).await,
            parts.host.as_deref().map(Arc::from),
            parts.options.clone(),
        )
        .await
        .map_err(|error| anyhow!(error))?;
        let mut events = events;
        if let Some(hooks) = &hooks {
            hooks.listen(&mut events);
        }
        listeners.listen(&mut events);
        if let Some(hooks) = &hooks {
            hooks
                .call(Hook::Init)
                .await
                .map_err(|error| anyhow!(error))?;
        }
        let master = match &parts.master {
            None => None,
            Some(plan) => {
                let (tags, exclude_tags) = parts.tags;
                let setup = MasterSetup {
                    component: parts.component.clone(),
                    classes: classes
                        .iter()
                        .map(|class| (class.name.clone(), class.weight))
                        .collect(),
                    tags,
                    exclude_tags,
                    options: parts.options.clone(),
                    stop_timeout: parts.stop_timeout,
                    host: parts.host.clone(),
                    allow_hosts: parts.allow_hosts.clone(),
                    listeners: parts
                        .listeners
                        .iter()
                        .map(|listener| listener.bytes.clone())
                        .collect(),
                };
                let adopted = std::mem::take(&mut parts.adopted);
                Some(if adopted.is_empty() {
                    Master::listen(plan, setup, stats.clone(), hooks.clone()).await?
                } else {
                    Master::adopt(plan, setup, stats.clone(), hooks.clone(), adopted)
                })
            }
        };
        let session = Arc::new_cyclic(|me| Self {
            component: parts.component,
            classes,
            stats,
            events: Arc::new(events),
            hooks,
            options: parts.options,
            host: Mutex::new(parts.host),
            allow_hosts: parts.allow_hosts,
            fixed_grants: parts.fixed_grants,
            listeners,
            stop_timeout: parts.stop_timeout,
            reset_stats: parts.reset_stats,
            run: tokio::sync::Mutex::new(None),
            current: Mutex::new(None),
            master,
            finished: Mutex::new(RunnerState::Ready),
            run_shared: run,
            budget: Mutex::new(None),
            plan: parts.plan,
            shape: parts.shape,
            ended: watch::Sender::new(None),
            me: me.clone(),
        });
        session
            .run_shared
            .set_control(Arc::new(SessionControl(Arc::downgrade(&session))));
        Ok(session)
    }

    /// The component's load shape, by name, when it has one: it decides the users.
    pub fn shape(&self) -> Option<&str> {
        self.shape.as_deref()
    }

    /// How the latest test was asked to end from inside (by its plan, its load shape or
    /// `runner.stop()`/`quit()`), if it was; `None` again once another test starts.
    pub fn end_requests(&self) -> watch::Receiver<Option<EndRequest>> {
        self.ended.subscribe()
    }

    /// Resolves once the running test is asked to end from inside.
    pub async fn ended(&self) -> EndRequest {
        let mut requests = self.ended.subscribe();
        loop {
            if let Some(request) = requests.borrow_and_update().clone() {
                return request;
            }
            if requests.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// End the running test from inside: say so, and stop it (without waiting).
    pub fn end_test(&self, request: EndRequest) {
        if request.failed {
            tracing::error!(target: "locust.runners", "{}", request.reason);
        } else {
            tracing::info!(target: "locust.runners", "{}", request.reason);
        }
        self.ended.send_replace(Some(request));
        if let Some(session) = self.me.upgrade() {
            tokio::spawn(async move { session.stop().await });
        }
    }

    /// The iteration budget of the running test, when the component's plan has one.
    pub fn iteration_budget(&self) -> Option<Arc<crate::test_plan::Budget>> {
        lock(&self.budget).clone()
    }

    /// The component's own plan, if it declared one.
    pub fn plan(&self) -> Option<&Arc<crate::test_plan::TestPlan>> {
        self.plan.as_ref()
    }

    /// The workers' master, in a distributed run.
    pub fn master(&self) -> Option<&Arc<Master>> {
        self.master.as_ref()
    }

    /// The workers of a distributed run (empty otherwise).
    pub fn workers(&self) -> Vec<WorkerInfo> {
        self.master
            .as_ref()
            .map_or_else(Vec::new, |master| master.workers())
    }

    /// The session's statistics.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The session's listeners.
    pub fn events(&self) -> &Arc<Events> {
        &self.events
    }

    /// The host users target (`--host`, or the last one given to [`start`](Self::start)).
    pub fn host(&self) -> Option<String> {
        lock(&self.host).clone()
    }

    /// What the current (or last) test is doing.
    pub fn state(&self) -> RunnerState {
        match lock(&self.current).as_ref() {
            Some(runner) => runner.state(),
            None => *lock(&self.finished),
        }
    }

    /// Users alive now (also while a test is stopping).
    pub fn user_count(&self) -> u64 {
        lock(&self.current)
            .as_ref()
            .map_or(0, |runner| runner.user_count())
    }

    /// The most users this session can run at once (the instance pool's size).
    pub fn capacity(&self) -> u64 {
        match &self.master {
            Some(master) => master.capacity(),
            None => u64::from(self.component.limits().max_instances)
                .saturating_sub(crate::config::SPARE_INSTANCES),
        }
    }

    /// Start a test with `users` users at `spawn_rate`, or, while one runs, change its user
    /// count and spawn rate. `host` replaces the target host of a new test. Refuses more users
    /// than the session's capacity.
    pub async fn start(
        &self,
        users: u64,
        spawn_rate: f64,
        host: Option<String>,
        step_load: Option<StepLoad>,
    ) -> Result<(), String> {
        if let Some(master) = &self.master
            && master.ready_workers() == 0
        {
            return Err(
                "no workers are connected; start workers with `locust --worker --master-host <this host>` first"
                    .to_owned(),
            );
        }
        if let (Some(_), Some(plan)) = (&self.master, &self.plan)
            && plan.iterations.is_some()
        {
            return Err(
                "the script's iterations are counted in one process: run it without --master, or give it a duration instead"
                    .to_owned(),
            );
        }
        let capacity = self.capacity();
        if self.shape.is_none() && users > capacity {
            return Err(format!(
                "{users} users is more than this locust process was started for ({capacity}); restart it with -u {users}"
            ));
        }
        let mut run = self.run.lock().await;
        let handler = SpawnedHandler {
            events: self.events.clone(),
            stats: self.reset_stats.then(|| self.stats.clone()),
        };
        if let (Some(_), Some(shape)) = (run.as_ref(), &self.shape) {
            return Err(format!(
                "the load shape {shape} decides the users of the running test: stop it to start another"
            ));
        }
        if let Some(active) = run.as_mut()
            && matches!(
                active.runner.state(),
                RunnerState::Spawning | RunnerState::Running
            )
        {
            active.ramp.abort();
            let target = self.ramp_target(active.runner.clone(), handler);
            active.ramp = tokio::spawn(crate::load_plan::driver::drive(
                given_load(users, spawn_rate, step_load),
                target,
            ));
            return Ok(());
        }
        if let Some(host) = host.filter(|host| !host.trim().is_empty()) {
            if self.fixed_grants && !crate::grants::covers(&self.allow_hosts, &host) {
                return Err(format!(
                    "{} is not a host this test may reach (granted: {})",
                    host.trim(),
                    grant_list(&self.allow_hosts)
                ));
            }
            *lock(&self.host) = Some(host.trim().trim_end_matches('/').to_owned());
        }
        let host = self.host();
        if host.is_none() {
            for class in self.classes.iter().filter(|class| class.host.is_none()) {
                tracing::warn!(
                    target: "locust.main",
                    "user class {} has no host and none is set: requests to relative URLs will fail",
                    class.name
                );
            }
        }
        let plan = self.plan.as_deref();
        let budget = plan
            .and_then(|plan| plan.iterations)
            .map(|iterations| Arc::new(crate::test_plan::Budget::new(iterations)));
        *lock(&self.budget) = budget.clone();
        let runner = match &self.master {
            Some(master) => Runner::Distributed {
                master: master.clone(),
                host,
            },
            None => {
                let environment = Arc::new(UserEnvironment {
                    component: self.component.clone(),
                    reporter: Reporter {
                        stats: self.stats.clone(),
                        events: self.events.clone(),
                    },
                    host_override: host.as_deref().map(Arc::from),
                    options: self.options.clone(),
                    grants: Grants::for_run(&self.allow_hosts, host.as_deref(), &self.classes)
                        .await,
                    run: self.run_shared.clone(),
                    iterations: budget,
                    iteration_metrics: plan.is_some(),
                });
                Runner::Local(Arc::new(LocalRunner::new(
                    environment,
                    self.classes.clone(),
                    self.stop_timeout,
                )))
            }
        };
        self.events.fire_test_start();
        self.listeners.test_start();
        if let Some(hooks) = &self.hooks {
            hooks.open_listener();
        }
        self.call_logged(Hook::TestStart).await;
        let stages = plan.map(|plan| plan.stages.clone()).unwrap_or_default();
        let source = match (&self.shape, &self.hooks) {
            (Some(name), Some(hooks)) => Source::Shape {
                hooks: hooks.clone(),
                name: name.clone(),
            },
            _ if !stages.is_empty() => Source::Stages {
                start: users,
                stages,
            },
            _ => given_load(users, spawn_rate, step_load),
        };
        self.ended.send_replace(None);
        *lock(&self.current) = Some(runner.clone());
        let ramp = tokio::spawn(crate::load_plan::driver::drive(
            source,
            self.ramp_target(runner.clone(), handler),
        ));
        *run = Some(ActiveRun { runner, ramp });
        Ok(())
    }

    fn ramp_target(&self, runner: Runner, spawned: SpawnedHandler) -> RampTarget {
        RampTarget {
            runner,
            spawned,
            session: self.me.clone(),
            capacity: self.capacity(),
        }
    }

    /// Stop the running test (if any): users stop as `--stop-timeout` allows, then the
    /// `test_stop` hooks run.
    pub async fn stop(&self) {
        let mut run = self.run.lock().await;
        let Some(active) = run.take() else {
            return;
        };
        active.ramp.abort();
        active.runner.stop().await;
        if let Some(hooks) = &self.hooks {
            hooks.close_listener();
        }
        self.call_logged(Hook::TestStop).await;
        if let Some(hooks) = &self.hooks {
            let dropped = hooks.take_dropped_requests();
            if dropped > 0 && hooks.wants_requests() {
                tracing::warn!(
                    target: "locust.main",
                    "the request listener fell behind: {dropped} requests were not passed to it \
                     (at most {} wait for it, and it gets {} s after the stop for those)",
                    crate::hooks::LISTENER_QUEUE,
                    crate::hooks::LISTENER_DRAIN.as_secs()
                );
            }
        }
        self.events.fire_test_stop();
        self.listeners.test_stop();
        *lock(&self.finished) = RunnerState::Stopped;
        *lock(&self.current) = None;
    }

    /// The process is about to exit: the component's `quitting` hook.
    pub async fn quit(&self) {
        self.call_logged(Hook::Quitting).await;
        self.listeners.finish().await;
    }

    /// Run a test-wide hook; its failure is logged, and the test goes on (as in Locust).
    async fn call_logged(&self, hook: Hook) {
        if let Some(hooks) = &self.hooks
            && let Err(error) = hooks.call(hook).await
        {
            tracing::error!(target: "locust.main", "{error}");
        }
    }
}
