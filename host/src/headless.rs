//! A headless run from start to summary: load the component, start the hooks and the users,
//! print the table every 2 seconds, stop on the time limit or a signal, print the summary.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, anyhow};

use crate::component::{
    ComponentOptions, Description, GuestLimits, OptionSpec, RequestRecord, TestComponent,
    UserIdentity, UserState,
};
use crate::config::{Action, CsvPlan, RunPlan, StepLoad};
use crate::events::{Events, Reporter};
use crate::hooks::{GuestHooks, Hook};
use crate::runner::LocalRunner;
use crate::scenario::Scenario;
use crate::stats::csv::CsvWriter;
use crate::stats::{self, Stats};
use crate::user::UserEnvironment;

/// How often the console table is printed.
const CONSOLE_INTERVAL: Duration = Duration::from_secs(2);
/// How often the CSV files are written.
const CSV_INTERVAL: Duration = Duration::from_secs(2);

/// Load a component and read its description.
pub async fn load(
    path: &Path,
    limits: GuestLimits,
) -> anyhow::Result<(Arc<TestComponent>, Description)> {
    let owned = path.to_owned();
    let component = tokio::task::spawn_blocking(move || TestComponent::load(&owned, limits))
        .await
        .context("loading the component")??;
    let component = Arc::new(component);
    let identity = UserIdentity {
        id: 0,
        seed: 0,
        host: None,
        class: Arc::from("describe"),
        options: ComponentOptions::default(),
    };
    let reporter = Reporter {
        stats: Stats::new(),
        events: Arc::new(Events::new()),
    };
    let state = UserState::new(identity, reporter, limits.memory_bytes);
    let mut instance = component
        .instantiate(state)
        .await
        .map_err(|error| anyhow!("{}: {error}", path.display()))?;
    let description = instance
        .describe()
        .await
        .map_err(|error| anyhow!("{}: describe() failed: {error}", path.display()))?;
    Ok((component, description))
}

/// The extra options a component declares, for `--help` and option parsing; empty when the
/// component cannot be loaded (the run reports why).
pub async fn component_options(path: &Path) -> Vec<OptionSpec> {
    if !path.exists() {
        return Vec::new();
    }
    let limits = GuestLimits {
        max_instances: 1,
        ..GuestLimits::default()
    };
    match load(path, limits).await {
        Ok((_, description)) => description.options,
        Err(_) => Vec::new(),
    }
}

fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

async fn shutdown_signal() -> &'static str {
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
    runner: Arc<LocalRunner>,
    users: u64,
    spawn_rate: f64,
    step_load: Option<StepLoad>,
    spawned: SpawnedHandler,
) {
    let Some(step) = step_load else {
        runner.start(users, spawn_rate, spawned.callback());
        return;
    };
    let mut target = 0;
    loop {
        target = (target + step.users).min(users);
        runner.start(target, spawn_rate, spawned.callback());
        tracing::info!(target: "locust.runners", "Step loading: start hatch job of {target} user.");
        if target >= users {
            tracing::info!(target: "locust.runners", "Step Load is finished.");
            return;
        }
        tokio::time::sleep(step.time).await;
    }
}

/// The CSV files of a run: written every 2 seconds and once more at the end.
struct CsvOutput {
    writer: Arc<Mutex<CsvWriter>>,
    stats: Stats,
    runner: Arc<LocalRunner>,
    task: tokio::task::JoinHandle<()>,
}

impl CsvOutput {
    fn start(plan: &CsvPlan, stats: Stats, runner: Arc<LocalRunner>) -> anyhow::Result<Self> {
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
            let (writer, stats, runner) = (writer.clone(), stats.clone(), runner.clone());
            tokio::spawn(async move {
                // The files were just written once; the next write is one interval later.
                let first = tokio::time::Instant::now() + CSV_INTERVAL;
                let mut ticks = tokio::time::interval_at(first, CSV_INTERVAL);
                loop {
                    ticks.tick().await;
                    Self::write(&writer, &stats, &runner).await;
                }
            })
        };
        Ok(Self {
            writer,
            stats,
            runner,
            task,
        })
    }

    async fn write(writer: &Arc<Mutex<CsvWriter>>, stats: &Stats, runner: &LocalRunner) {
        let snapshot = stats.snapshot();
        let users = runner.user_count();
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

    async fn finish(self) {
        self.task.abort();
        Self::write(&self.writer, &self.stats, &self.runner).await;
    }
}

/// Run a test-wide hook; its failure is logged, and the test goes on (as in Locust).
async fn call_logged(hooks: Option<&GuestHooks>, hook: Hook) {
    if let Some(Err(error)) = match hooks {
        Some(hooks) => Some(hooks.call(hook).await),
        None => None,
    } {
        tracing::error!(target: "locust.main", "{error}");
    }
}

/// Run `plan` headless; returns the process exit code.
pub async fn run(mut plan: RunPlan, events: Events) -> anyhow::Result<u8> {
    if let Some(bundle) = &plan.ca_bundle {
        let added = crate::http::trust_certificates(bundle).map_err(|error| anyhow!(error))?;
        tracing::debug!(target: "locust.main", "trusting {added} CA certificate(s) from {}", bundle.display());
    }
    if plan.demo && plan.host.is_none() {
        let address = crate::demo::serve()
            .await
            .context("starting the demo target")?;
        tracing::info!(target: "locust.main", "demo target listening on http://{address}");
        plan.host = Some(format!("http://{address}"));
    }
    let (component, description) = load(&plan.locustfile, plan.limits).await?;
    let scenario = Scenario::from_description(description)
        .map_err(|error| anyhow!("{}: {error}", plan.locustfile.display()))?;
    let options: ComponentOptions = Arc::new(plan.component_options.clone());
    match plan.action {
        Action::Run => {}
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
            print(&if json {
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
    crate::limits::raise_open_files_limit(plan.users);
    if plan.host.is_none() {
        for class in classes.iter().filter(|class| class.host.is_none()) {
            tracing::warn!(
                target: "locust.main",
                "user class {} has no host and --host is not set: requests to relative URLs will fail",
                class.name
            );
        }
    }
    let stats = Stats::new();
    let host_override: Option<Arc<str>> = plan.host.as_deref().map(Arc::from);
    let hooks = GuestHooks::start(
        component.clone(),
        scenario.hooks,
        stats.clone(),
        host_override.clone(),
        options.clone(),
    )
    .await
    .map_err(|error| anyhow!(error))?;
    let mut events = events;
    if let Some(hooks) = hooks.clone().filter(GuestHooks::wants_requests) {
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
    let events = Arc::new(events);
    if let Some(hooks) = &hooks {
        hooks
            .call(Hook::Init)
            .await
            .map_err(|error| anyhow!(error))?;
    }
    let environment = Arc::new(UserEnvironment {
        component,
        reporter: Reporter {
            stats: stats.clone(),
            events: events.clone(),
        },
        host_override,
        options,
    });
    let runner = Arc::new(LocalRunner::new(environment, classes, plan.stop_timeout));

    events.fire_test_start();
    call_logged(hooks.as_ref(), Hook::TestStart).await;
    let ramp = tokio::spawn(ramp_up(
        runner.clone(),
        plan.users,
        plan.spawn_rate,
        plan.step_load,
        SpawnedHandler {
            events: events.clone(),
            stats: plan.reset_stats.then(|| stats.clone()),
        },
    ));
    if let Some(limit) = plan.run_time {
        tracing::info!(target: "locust.main", "Run time limit set to {} seconds", limit.as_secs());
    }

    let printer = plan.print_stats.then(|| {
        let stats = stats.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(CONSOLE_INTERVAL);
            loop {
                ticks.tick().await;
                print(&stats::render_stats(&stats.snapshot(), true));
            }
        })
    });
    let csv = match &plan.csv {
        Some(csv) => Some(CsvOutput::start(csv, stats.clone(), runner.clone())?),
        None => None,
    };

    let time_limit = async {
        match plan.run_time {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = time_limit => tracing::info!(target: "locust.main", "Time limit reached. Stopping Locust."),
        signal = shutdown_signal() => tracing::info!(target: "locust.main", "Got {signal}, stopping Locust."),
    }
    ramp.abort();
    runner.stop().await;
    call_logged(hooks.as_ref(), Hook::TestStop).await;
    events.fire_test_stop();
    if let Some(printer) = printer {
        printer.abort();
    }
    if let Some(csv) = csv {
        csv.finish().await;
    }

    let summary = stats.snapshot();
    print(&stats::render_stats(&summary, false));
    print(&stats::render_percentiles(&summary));
    print(&stats::render_error_report(&summary));
    print(&stats::render_user_errors(&summary));
    let code = if summary.error_count() > 0 {
        plan.exit_code_on_error
    } else {
        0
    };
    tracing::info!(target: "locust.main", "Shutting down (exit code {code}), bye.");
    events.fire_quitting();
    Ok(code)
}
