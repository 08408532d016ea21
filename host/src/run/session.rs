//! A test session: a loaded component with its classes, statistics, event listeners and hooks,
//! in which tests are started, edited and stopped — once from the command line (headless), or
//! any number of times from the web UI. Each start gets a fresh [`LocalRunner`]; the
//! statistics carry over until reset, as in Locust.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::anyhow;
use tokio::task::JoinHandle;

use crate::component::{ComponentOptions, HookSet, TestComponent};
use crate::config::StepLoad;
use crate::dist::master::{Master, MasterPlan, MasterSetup, WorkerInfo};
use crate::events::{Events, Reporter};
use crate::grants::{Grants, HostRule};
use crate::hooks::{GuestHooks, Hook};
use crate::listeners::Listeners;
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
    async fn start(
        &self,
        users: u64,
        spawn_rate: f64,
        on_spawned: impl FnOnce(&[(String, u64)]) + Send + 'static,
    ) {
        match self {
            Runner::Local(runner) => runner.start(users, spawn_rate, on_spawned),
            Runner::Distributed { master, host } => {
                master
                    .start(users, spawn_rate, host.clone(), on_spawned)
                    .await
            }
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

/// Spawn the users: all at once, or in steps of `--step-users` every `--step-time` (the last
/// step capped at the total).
async fn ramp_up(
    runner: Runner,
    users: u64,
    spawn_rate: f64,
    step_load: Option<StepLoad>,
    spawned: SpawnedHandler,
) {
    let Some(step) = step_load else {
        runner.start(users, spawn_rate, spawned.callback()).await;
        return;
    };
    let mut target = 0;
    loop {
        target = (target + step.users).min(users);
        runner.start(target, spawn_rate, spawned.callback()).await;
        tracing::info!(target: "locust.runners", "Step loading: start hatch job of {target} user.");
        if target >= users {
            tracing::info!(target: "locust.runners", "Step Load is finished.");
            return;
        }
        tokio::time::sleep(step.time).await;
    }
}

/// Ramp through the plan's `stages` from `start` users: the target is recomputed every
/// second and the users it adds start spread over that second; the test stays at the last
/// stage's target once the stages are over (the run time ends it).
async fn ramp_stages(
    runner: Runner,
    start: u64,
    stages: Vec<crate::test_plan::Stage>,
    spawned: SpawnedHandler,
) {
    let began = tokio::time::Instant::now();
    let mut current = None;
    loop {
        let elapsed = began.elapsed();
        let target = crate::test_plan::ramp_target(start, &stages, elapsed)
            .unwrap_or_else(|| stages.last().map_or(start, |stage| stage.target));
        if current != Some(target) {
            let change = target.abs_diff(current.unwrap_or(0)).max(1);
            // spawning_complete (and --reset-stats) once, for the ramp's first step.
            match current {
                None => {
                    runner
                        .start(target, change as f64, spawned.callback())
                        .await
                }
                Some(_) => {
                    runner
                        .start(target, change as f64, |_: &[(String, u64)]| {})
                        .await
                }
            }
            current = Some(target);
        }
        if elapsed >= stages.iter().map(|stage| stage.duration).sum::<Duration>() {
            tracing::info!(target: "locust.runners", "All stages done: {target} users");
            return;
        }
        tokio::time::sleep(STAGE_TICK).await;
    }
}

/// How often a staged ramp recomputes its target.
const STAGE_TICK: Duration = Duration::from_secs(1);

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
        Ok(Arc::new(Self {
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
        }))
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
        if users > capacity {
            return Err(format!(
                "{users} users is more than this locust process was started for ({capacity}); restart it with -u {users}"
            ));
        }
        let mut run = self.run.lock().await;
        let handler = SpawnedHandler {
            events: self.events.clone(),
            stats: self.reset_stats.then(|| self.stats.clone()),
        };
        if let Some(active) = run.as_mut()
            && matches!(
                active.runner.state(),
                RunnerState::Spawning | RunnerState::Running
            )
        {
            active.ramp.abort();
            active.ramp = tokio::spawn(ramp_up(
                active.runner.clone(),
                users,
                spawn_rate,
                step_load,
                handler,
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
        let ramp = if stages.is_empty() {
            tokio::spawn(ramp_up(
                runner.clone(),
                users,
                spawn_rate,
                step_load,
                handler,
            ))
        } else {
            tokio::spawn(ramp_stages(runner.clone(), users, stages, handler))
        };
        *lock(&self.current) = Some(runner.clone());
        *run = Some(ActiveRun { runner, ramp });
        Ok(())
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
