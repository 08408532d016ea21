//! A run from start to summary: load the component, prepare the session (hooks, CSV files,
//! the console table every 2 seconds), then either start at once and stop on the time limit
//! or a signal (`--headless`), or serve the web UI until a signal; print the summary.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, anyhow};

use crate::component::{
    ComponentOptions, Description, GuestLimits, ListenerPlugin, OptionSpec, TestComponent,
};
use crate::config::{Action, ComponentHint, CsvPlan, Role, RunPlan};
use crate::events::Events;
use crate::run::scenario::Scenario;
use crate::run::session::{SessionParts, TestSession};
use crate::stats;
use crate::stats::csv::CsvWriter;
use crate::test_plan::TestPlan;

/// How often the console table is printed.
const CONSOLE_INTERVAL: Duration = Duration::from_secs(2);
/// How often the CSV files are written.
const CSV_INTERVAL: Duration = Duration::from_secs(2);

/// A component loaded with its plugins.
pub struct Loaded {
    /// The user component, protocol plugins plugged in.
    pub component: Arc<TestComponent>,
    /// Its description, with the plugins' options added.
    pub description: Description,
    /// The listener plugins.
    pub listeners: Vec<ListenerPlugin>,
    /// The test plan the component declared (k6's `options`), checked.
    pub plan: Option<TestPlan>,
    /// The component's load shape (Locust's `LoadTestShape`), by name.
    pub shape: Option<String>,
}

/// Load a component with its plugins and read its description.
pub async fn load(path: &Path, plugins: &[PathBuf], limits: GuestLimits) -> anyhow::Result<Loaded> {
    let crate::component::Assembled {
        bytes,
        plugins: infos,
        listeners,
    } = crate::component::assemble(path, plugins).await?;
    let owned = path.to_owned();
    let component =
        tokio::task::spawn_blocking(move || TestComponent::from_bytes(&bytes, &owned, limits))
            .await
            .context("loading the component")??;
    let component = Arc::new(component);
    let crate::component::Described {
        mut description,
        plan,
        shape,
    } = component
        .describe_with_plan()
        .await
        .map_err(|error| anyhow!("{}: {error}", path.display()))?;
    for info in infos {
        tracing::debug!(target: "locust.main", "plugin {} {} plugged in", info.name, info.version);
        for option in info.options {
            if description
                .options
                .iter()
                .any(|own| own.name == option.name)
            {
                return Err(anyhow!(
                    "plugin {} and {} both declare option --{}; rename one",
                    info.name,
                    path.display(),
                    option.name
                ));
            }
            description.options.push(option);
        }
    }
    Ok(Loaded {
        component,
        description,
        listeners,
        plan,
        shape,
    })
}

/// The extra options a component and its plugins declare, for `--help` and option parsing;
/// empty when the component cannot be loaded (the run reports why).
pub async fn component_options(hint: &ComponentHint) -> Vec<OptionSpec> {
    if !hint.locustfile.exists() {
        return Vec::new();
    }
    let limits = GuestLimits {
        max_instances: 1,
        ..GuestLimits::default()
    };
    match load(&hint.locustfile, &hint.plugins, limits).await {
        Ok(loaded) => loaded.description.options,
        Err(_) => Vec::new(),
    }
}

fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

pub(crate) async fn shutdown_signal() -> &'static str {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return "SIGINT";
                }
            };
        tokio::select! {
            _ = interrupt => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
        "SIGINT"
    }
}

/// The CSV files of a run: written every 2 seconds and once more at the end.
pub(crate) struct CsvOutput {
    writer: Arc<Mutex<CsvWriter>>,
    session: Arc<TestSession>,
    task: tokio::task::JoinHandle<()>,
}

impl CsvOutput {
    pub(crate) fn start(plan: &CsvPlan, session: Arc<TestSession>) -> anyhow::Result<Self> {
        let stats = session.stats().clone();
        let writer = CsvWriter::new(&plan.prefix, plan.full_history)
            .and_then(|mut writer| {
                writer.write(&stats.snapshot(), stats::unix_now(), 0)?;
                Ok(writer)
            })
            .with_context(|| {
                format!(
                    "could not write the CSV files of --csv {}",
                    plan.prefix.display()
                )
            })?;
        let writer = Arc::new(Mutex::new(writer));
        let task = {
            let (writer, session) = (writer.clone(), session.clone());
            tokio::spawn(async move {
                // The files were just written once; the next write is one interval later.
                let first = tokio::time::Instant::now() + CSV_INTERVAL;
                let mut ticks = tokio::time::interval_at(first, CSV_INTERVAL);
                loop {
                    ticks.tick().await;
                    Self::write(&writer, &session).await;
                }
            })
        };
        Ok(Self {
            writer,
            session,
            task,
        })
    }

    async fn write(writer: &Arc<Mutex<CsvWriter>>, session: &TestSession) {
        let snapshot = session.stats().snapshot();
        let users = session.user_count();
        let writer = writer.clone();
        let result = tokio::task::spawn_blocking(move || {
            writer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .write(&snapshot, stats::unix_now(), users)
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::error!(target: "locust.main", "writing the CSV files failed: {error}")
            }
            Err(error) => {
                tracing::error!(target: "locust.main", "writing the CSV files failed: {error}")
            }
        }
    }

    pub(crate) async fn finish(self) {
        self.task.abort();
        Self::write(&self.writer, &self.session).await;
    }
}

/// The most a test of iterations runs when nothing else bounds it (k6's `maxDuration`).
const ITERATIONS_MAX_DURATION: Duration = Duration::from_secs(600);
/// How often thresholds marked abort-on-fail are evaluated while the test runs.
const ABORT_CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// The exit code of a test whose thresholds failed (k6's).
pub const THRESHOLDS_FAILED_EXIT: u8 = 99;

/// Merge the component's own plan into the run's: what the command line, environment or
/// config file gave wins; the rest comes from the plan. Returns the plan the session runs.
fn apply_plan(run: &mut RunPlan, mut own: TestPlan) -> TestPlan {
    if !run.given.users
        && let Some(users) = own.users
    {
        run.users = users;
    }
    if !run.given.stop_timeout
        && let Some(timeout) = own.stop_timeout
    {
        run.stop_timeout = timeout;
    }
    if run.given.run_time {
        // A duration on the command line replaces the script's ramp and iterations, as k6's
        // --duration does.
        own.stages.clear();
        own.iterations = None;
    } else {
        let bounded = own.run_time.is_some() || !own.stages.is_empty();
        if run.headless && !bounded && own.iterations.is_none() {
            // Nothing says how long: one iteration, as k6 runs a script without options.
            own.iterations = Some(1);
        }
        run.run_time = own.run_time.or_else(|| {
            if !own.stages.is_empty() {
                Some(own.stages_duration())
            } else if own.iterations.is_some() {
                Some(ITERATIONS_MAX_DURATION)
            } else {
                None
            }
        });
    }
    if run.given.users {
        own.stages.clear();
    }
    if !run.given.spawn_rate && own.stages.is_empty() {
        // k6's `vus` (with `duration` or `iterations`) is its constant-vus executor: every VU
        // from the start, not one a second.
        run.spawn_rate = run.users.max(1) as f64;
    }
    own
}

/// The exit code after a load shape failed, as Locust's after an unhandled exception.
const SHAPE_FAILED_EXIT: u8 = 2;

/// A load shape decides users, spawn rate and run time: warn that `-u`, `-r` and `-t` are
/// ignored (as Locust does) and drop the run time.
fn ignore_common_options(run: &mut RunPlan) {
    let given = [
        (run.given.run_time, "--run-time"),
        (run.given.users, "--users"),
        (run.given.spawn_rate, "--spawn-rate"),
    ];
    let ignored: Vec<&str> = given
        .iter()
        .filter(|(given, _)| *given)
        .map(|(_, name)| *name)
        .collect();
    if !ignored.is_empty() {
        tracing::warn!(
            target: "locust.main",
            "--run-time, --users or --spawn-rate have no impact on LoadShapes: the shape decides the users and when the test ends"
        );
        tracing::warn!(target: "locust.main", "The following option(s) will be ignored: {}", ignored.join(", "));
    }
    run.run_time = None;
}

/// The exit code `verdicts` decide (0, or 99 when one failed), logging the failed ones.
fn judge(verdicts: &[crate::test_plan::Verdict]) -> u8 {
    let failed: Vec<&str> = verdicts
        .iter()
        .filter(|verdict| !verdict.passed)
        .map(|verdict| verdict.label.as_str())
        .collect();
    if failed.is_empty() {
        return 0;
    }
    tracing::error!(target: "locust.main", "thresholds failed: {}", failed.join("; "));
    THRESHOLDS_FAILED_EXIT
}

/// Resolves when the running test's iterations are all handed out, or a threshold marked
/// abort-on-fail fails; never without a plan.
async fn plan_ends(session: &TestSession, began: std::time::Instant) -> String {
    let Some(plan) = session.plan().cloned() else {
        return std::future::pending().await;
    };
    let budget = session.iteration_budget();
    let iterations = async {
        match &budget {
            Some(budget) => budget.exhausted().await,
            None => std::future::pending().await,
        }
    };
    let aborts = async {
        if !plan
            .thresholds
            .iter()
            .any(|threshold| threshold.abort_on_fail)
        {
            return std::future::pending().await;
        }
        let mut ticks = tokio::time::interval(ABORT_CHECK_INTERVAL);
        loop {
            ticks.tick().await;
            let snapshot = session.stats().snapshot();
            if let Some(verdict) = plan.aborts(&snapshot, began.elapsed().as_secs_f64()) {
                return verdict;
            }
        }
    };
    tokio::select! {
        () = iterations => format!(
            "All {} iterations started. Stopping Locust.",
            plan.iterations.unwrap_or_default()
        ),
        verdict = aborts => format!("Threshold failed ({verdict}), aborting the test."),
    }
}

/// Run `plan` headless; returns the process exit code.
pub async fn run(mut plan: RunPlan, events: Events) -> anyhow::Result<u8> {
    if let Some(bundle) = &plan.ca_bundle {
        let added = crate::http::trust_certificates(bundle).map_err(|error| anyhow!(error))?;
        tracing::debug!(target: "locust.main", "trusting {added} CA certificate(s) from {}", bundle.display());
    }
    if let Role::Worker(worker) = &plan.role {
        if plan.action != Action::Run {
            return Err(anyhow!(
                "--list and --show-task-ratio describe a component; run them without --worker"
            ));
        }
        if !plan.allow_hosts.is_empty() {
            tracing::warn!(target: "locust.main", "--allow-host is ignored on a worker: its users reach the hosts the master grants; pass --allow-host to the master");
        }
        return crate::dist::worker::run(worker.clone(), events).await;
    }
    if plan.demo && plan.host.is_none() {
        let address = crate::demo::serve()
            .await
            .context("starting the demo target")?;
        tracing::info!(target: "locust.main", "demo target listening on http://{address}");
        plan.host = Some(format!("http://{address}"));
    }
    let mut master = match &plan.role {
        Role::Master(master) => Some(master.clone()),
        _ => None,
    };
    // A master runs no users: its instances are the describe and hooks ones.
    let limits = match master {
        Some(_) => crate::component::GuestLimits {
            max_instances: crate::config::SPARE_INSTANCES as u32,
            ..plan.limits
        },
        None => plan.limits,
    };
    let Loaded {
        mut component,
        description,
        listeners,
        plan: own_plan,
        shape,
    } = load(&plan.locustfile, &plan.plugins, limits).await?;
    let own_plan = own_plan.map(|own| apply_plan(&mut plan, own));
    if shape.is_some() {
        ignore_common_options(&mut plan);
    }
    if let (Some(_), Some(master)) = (&shape, master.as_mut()) {
        // The workers are sized for what the shape may ask: as many as the web UI allows.
        let wanted = plan.users.max(crate::config::WEB_CAPACITY) + crate::config::SPARE_INSTANCES;
        master.worker_limits.max_instances = master
            .worker_limits
            .max_instances
            .max(u32::try_from(wanted).unwrap_or(u32::MAX));
    }
    // A shape may ask for any number of users: room for as many as the web UI allows.
    let peak = match &shape {
        Some(_) => Some(plan.users.max(crate::config::WEB_CAPACITY)),
        None => own_plan.as_ref().and_then(TestPlan::peak_users),
    };
    if master.is_none()
        && let Some(peak) = peak
    {
        // The pool was sized from the command line; the script asks for more at its peak.
        let wanted = u32::try_from(peak.saturating_add(crate::config::SPARE_INSTANCES))
            .map_err(|_| anyhow!("{peak} users is more than this host can run"))?;
        if wanted > limits.max_instances {
            let limits = GuestLimits {
                max_instances: wanted,
                ..limits
            };
            let bytes = component.bytes().to_vec();
            let owned = plan.locustfile.clone();
            component = Arc::new(
                tokio::task::spawn_blocking(move || {
                    TestComponent::from_bytes(&bytes, &owned, limits)
                })
                .await
                .context("loading the component")??,
            );
        }
    }
    let scenario = Scenario::from_description(description)
        .map_err(|error| anyhow!("{}: {error}", plan.locustfile.display()))?;
    let options: ComponentOptions = Arc::new(plan.component_options.clone());
    match &plan.action {
        Action::Run => {}
        Action::SaveComponent(path) => {
            let bytes = component.bytes();
            crate::files::replace(path, bytes)
                .with_context(|| format!("could not write --save-component {}", path.display()))?;
            print(&format!(
                "Saved {} ({} bytes, sha256 {}): upload it with POST /api/v1/components\n",
                path.display(),
                bytes.len(),
                component.hash()
            ));
            return Ok(0);
        }
        Action::List => {
            print("Available Users:\n");
            for name in scenario.concrete_names() {
                print(&format!("    {name}\n"));
            }
            return Ok(0);
        }
        Action::ShowTaskRatio { json } => {
            let classes = scenario.plan(
                &plan.user_classes,
                plan.tags.as_deref(),
                plan.exclude_tags.as_deref(),
            )?;
            let ratios = crate::ratio::TaskRatios::of(&classes);
            print(&if *json {
                ratios.to_json()
            } else {
                ratios.to_table()
            });
            return Ok(0);
        }
    }
    let classes = scenario.plan(
        &plan.user_classes,
        plan.tags.as_deref(),
        plan.exclude_tags.as_deref(),
    )?;
    if master.is_none() {
        crate::limits::raise_open_files_limit(plan.users);
    }
    tracing::info!(target: "locust.main", "Starting Locust {}", env!("CARGO_PKG_VERSION"));
    let session = TestSession::prepare(
        SessionParts {
            component,
            classes,
            hooks: scenario.hooks,
            options,
            host: plan.host.clone(),
            stop_timeout: plan.stop_timeout,
            hook_timeout: plan.hook_timeout,
            max_request_names: plan.max_request_names,
            reset_stats: plan.reset_stats,
            tags: (plan.tags.clone(), plan.exclude_tags.clone()),
            allow_hosts: plan.allow_hosts.clone(),
            fixed_grants: false,
            listeners,
            master: master.clone(),
            adopted: Vec::new(),
            plan: own_plan.clone().map(Arc::new),
            shape,
        },
        events,
    )
    .await?;
    let csv = match &plan.csv {
        Some(csv) => Some(CsvOutput::start(csv, session.clone())?),
        None => None,
    };
    let printer = plan.print_stats.then(|| {
        let stats = session.stats().clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(CONSOLE_INTERVAL);
            loop {
                ticks.tick().await;
                print(&stats::render_stats(&stats.snapshot(), true));
            }
        })
    });
    let mut began = std::time::Instant::now();
    // A load shape that failed (or another end from inside on an error) decides the exit code.
    let mut failed_inside = false;
    if plan.headless {
        if let (Some(master), Some(expected)) = (session.master(), &master) {
            let wanted = expected.expect_workers as usize;
            tokio::select! {
                _ = master.wait_for_workers(wanted) => {}
                signal = shutdown_signal() => {
                    tracing::info!(target: "locust.main", "Got {signal}, stopping Locust.");
                    master.quit().await;
                    return Ok(0);
                }
            }
        }
        // Starting runs the test_start hook, which a signal may cut short.
        began = std::time::Instant::now();
        let start = session.start(plan.users, plan.spawn_rate, None, plan.step_load);
        let started = tokio::select! {
            started = start => {
                started.map_err(|error| anyhow!(error))?;
                true
            }
            signal = shutdown_signal() => {
                tracing::info!(target: "locust.main", "Got {signal}, stopping Locust.");
                false
            }
        };
        if started {
            if let Some(limit) = plan.run_time {
                tracing::info!(target: "locust.main", "Run time limit set to {} seconds", limit.as_secs());
            }
            let time_limit = async {
                match plan.run_time {
                    Some(limit) => tokio::time::sleep(limit).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = time_limit => tracing::info!(target: "locust.main", "Time limit reached. Stopping Locust."),
                message = plan_ends(&session, began) => tracing::info!(target: "locust.main", "{message}"),
                end = session.ended() => failed_inside = end.failed,
                signal = shutdown_signal() => tracing::info!(target: "locust.main", "Got {signal}, stopping Locust."),
            }
        }
    } else {
        let web = crate::web::WebUi::new(session.clone(), plan.web.clone())
            .serve()
            .await
            .context("starting the web UI")?;
        tracing::info!(target: "locust.main", "Starting web interface at {}", web.url());
        let mut ends = session.end_requests();
        let quit = ends.wait_for(|end| end.as_ref().is_some_and(|end| end.quit));
        tokio::select! {
            signal = shutdown_signal() => tracing::info!(target: "locust.main", "Got {signal}, stopping Locust."),
            _ = quit => tracing::info!(target: "locust.main", "runner.quit() was called: stopping Locust."),
        }
    }
    // Stopping waits for users (--stop-timeout) and hooks (--hook-timeout); a signal while
    // it does ends the wait at once, with what statistics there are.
    let stopping = async {
        session.stop().await;
        session.quit().await;
        if let Some(master) = session.master() {
            master.quit().await;
        }
    };
    let cut_short = tokio::select! {
        () = stopping => None,
        signal = shutdown_signal() => {
            tracing::warn!(
                target: "locust.main",
                "Got {signal} while stopping: not waiting for users and hooks any longer."
            );
            Some(signal)
        }
    };
    if let Some(printer) = printer {
        printer.abort();
    }
    if let Some(csv) = csv {
        csv.finish().await;
    }
    let stats = session.stats().clone();
    let events = session.events().clone();

    let summary = stats.snapshot();
    let elapsed = began.elapsed().as_secs_f64();
    // A script with its own plan (k6's options) ends with k6's summary; Locust's tables on
    // request (--locust-summary). Every other test ends with Locust's.
    if own_plan.is_none() || plan.locust_summary {
        print(&stats::render_stats(&summary, false));
        print(&stats::render_percentiles(&summary));
        print(&stats::render_error_report(&summary));
        print(&stats::render_user_errors(&summary));
        print(&crate::metrics::render::render_checks(&summary.metrics));
        print(&crate::metrics::render::render_metrics(
            &summary.metrics,
            elapsed,
        ));
    }
    let judged = own_plan.as_ref().map(|own| {
        let verdicts = own.evaluate(&summary, elapsed);
        print(&crate::metrics::k6_summary::render(
            &summary, &verdicts, elapsed,
        ));
        if !plan.locust_summary {
            // k6's summary has no room for task errors: say where they are.
            print(&stats::render_user_errors(&summary));
        }
        judge(&verdicts)
    });
    let code = match (cut_short, judged) {
        // As shells report a process ended by the signal: 128 + its number.
        (Some("SIGTERM"), _) => 143,
        (Some(_), _) => 130,
        // A script with its own plan is judged by its thresholds, as k6 judges it.
        (None, Some(code)) => code,
        // As Locust exits after an unhandled exception in a greenlet.
        (None, None) if failed_inside => SHAPE_FAILED_EXIT,
        (None, None) if summary.error_count() > 0 => plan.exit_code_on_error,
        (None, None) => 0,
    };
    tracing::info!(target: "locust.main", "Shutting down (exit code {code}), bye.");
    events.fire_quitting();
    Ok(code)
}
