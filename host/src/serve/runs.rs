//! The runs of the shared service: submission checked against the tenant's quotas and grants,
//! a queue per tenant, each run a [`TestSession`] of its own (its component, limits, grants and
//! statistics), snapshots into the store while it runs and its results when it ends.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::store::{ComponentRecord, RunRecord, RunState, Store, StoreError};
use super::tenants::{Tenant, Tenants};
use crate::component::{GuestLimits, TestComponent};
use crate::config::{SPARE_INSTANCES, WebPlan};
use crate::events::Events;
use crate::run::scenario::Scenario;
use crate::run::session::{SessionParts, TestSession};
use crate::stats::csv::{CsvWriter, render_exceptions_csv};
use crate::stats::unix_now;
use crate::timespan::parse_timespan;
use crate::web::{MountedWebUi, WebUi};

/// How often a live run's statistics are written to its CSV files and the store.
const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(2);
/// Uploaded components compiled at once; more wait, so uploads cannot take every core.
const CONCURRENT_COMPILES: usize = 1;
/// How long a run's users get to finish their task when it stops.
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest stop timeout a run may ask for.
const MAX_STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long workers may take to compile a run's component.
const WORKER_READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long `init`, `test_start` and `test_stop` hooks may take.
const HOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// A request the service refuses: the HTTP status and one line saying why and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 400, 403, 404, 409, 413, 429 or 500.
    pub status: StatusCode,
    /// The message.
    pub message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400: the request is wrong.
    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 403: a quota or grant forbids it.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 404: no such thing for this tenant.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 429: come back later.
    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, message)
    }
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Self {
        tracing::error!(target: "locust.serve", "{error}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the service could not read or write its store; see its log",
        )
    }
}

/// What a tenant submits to start a run (`POST /api/v1/runs`), named as the command line's
/// options are.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    /// The id of an uploaded component (`POST /api/v1/components`).
    pub component: String,
    /// `-u`: users to spawn.
    pub users: u64,
    /// `-r`: users started per second.
    #[serde(default = "one")]
    pub spawn_rate: f64,
    /// `-t`: how long the run lasts, e.g. `90s`, `10m`; the tenant's longest by default.
    #[serde(default)]
    pub run_time: Option<String>,
    /// `-H`: the host users target (it must be granted to the tenant).
    #[serde(default)]
    pub host: Option<String>,
    /// User classes to run (all by default).
    #[serde(default)]
    pub classes: Vec<String>,
    /// `-T`: run only tasks with these tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// `-E`: leave out tasks with these tags.
    #[serde(default)]
    pub exclude_tags: Option<Vec<String>>,
    /// The component's own options, by name without dashes.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// `--user-memory`, MiB (the tenant's most by default).
    #[serde(default)]
    pub user_memory: Option<u32>,
    /// `--stop-timeout`, e.g. `5s`.
    #[serde(default)]
    pub stop_timeout: Option<String>,
}

fn one() -> f64 {
    1.0
}

/// Settings checked against the tenant's quotas and its component.
#[derive(Clone, Debug)]
struct Checked {
    users: u64,
    spawn_rate: f64,
    run_time: Duration,
    stop_timeout: Duration,
    host: Option<String>,
    memory_mib: u32,
}

/// A run in this process: queued, or running with its session.
struct LiveRun {
    id: String,
    tenant: String,
    settings: RunSettings,
    checked: Checked,
    stop: CancellationToken,
    /// The run's web UI, once its session is ready.
    view: OnceLock<MountedWebUi>,
    state: Mutex<RunState>,
}

impl LiveRun {
    fn state(&self) -> RunState {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_state(&self, state: RunState) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }
}

#[derive(Default)]
struct TenantRuns {
    running: Vec<Arc<LiveRun>>,
    queued: VecDeque<Arc<LiveRun>>,
}

/// The service: its tenants, store and live runs.
pub struct Service {
    tenants: Tenants,
    store: Arc<Store>,
    live: Mutex<HashMap<String, TenantRuns>>,
    compiles: Semaphore,
    closing: CancellationToken,
    /// Workers waiting for runs, when the service has a worker port.
    pool: Option<Arc<super::workers::WorkerPool>>,
}

/// What `GET /api/v1/runs/{id}` answers.
#[derive(Serialize)]
pub struct RunView {
    #[serde(flatten)]
    record: RunRecord,
    /// Users alive now (live runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    user_count: Option<u64>,
}

impl RunView {
    /// The run's state.
    pub fn state(&self) -> RunState {
        self.record.state
    }
}

fn new_id() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn is_hex_id(id: &str, length: usize) -> bool {
    id.len() == length
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A component's description as the API shows it.
fn describe_json(
    scenario: &Scenario,
    options: &[crate::component::OptionSpec],
) -> serde_json::Value {
    serde_json::json!({
        "classes": scenario.classes.iter().map(|class| serde_json::json!({
            "name": class.name,
            "weight": class.weight,
            "host": class.host,
            "abstract": class.is_abstract,
        })).collect::<Vec<_>>(),
        "options": options.iter().map(|option| serde_json::json!({
            "name": option.name,
            "default": option.default,
            "help": option.help,
        })).collect::<Vec<_>>(),
    })
}

impl Service {
    /// A service for `tenants` keeping its data in `store`, running runs on the workers of
    /// `pool` when some wait there (else in this process).
    pub fn new(
        tenants: Tenants,
        store: Store,
        pool: Option<Arc<super::workers::WorkerPool>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            tenants,
            store: Arc::new(store),
            live: Mutex::new(HashMap::new()),
            compiles: Semaphore::new(CONCURRENT_COMPILES),
            closing: CancellationToken::new(),
            pool,
        })
    }

    /// Workers waiting for a run (none without a worker port).
    pub fn workers_waiting(&self) -> usize {
        self.pool.as_ref().map_or(0, |pool| pool.waiting())
    }

    /// The tenants.
    pub fn tenants(&self) -> &Tenants {
        &self.tenants
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, TenantRuns>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn find_live(&self, tenant: &str, id: &str) -> Option<Arc<LiveRun>> {
        let live = self.live();
        let runs = live.get(tenant)?;
        runs.running
            .iter()
            .chain(&runs.queued)
            .find(|run| run.id == id)
            .cloned()
    }

    async fn blocking<R: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, Refusal> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|_| {
                Refusal::from(StoreError::File {
                    path: "the store".to_owned(),
                    error: std::io::Error::other("a store operation panicked"),
                })
            })?
            .map_err(Refusal::from)
    }

    /// Check and keep an uploaded component: it must load and describe itself within the
    /// tenant's limits. Uploading the same bytes again returns the same record.
    pub async fn upload(
        &self,
        tenant: &Tenant,
        bytes: Vec<u8>,
    ) -> Result<ComponentRecord, Refusal> {
        let limit = u64::from(tenant.quota.max_component_mib) << 20;
        if bytes.len() as u64 > limit {
            return Err(Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the component is {} MiB, over the tenant's max-component-mib of {}",
                    bytes.len() >> 20,
                    tenant.quota.max_component_mib
                ),
            ));
        }
        let id = crate::component::hash_of(&bytes);
        let name = tenant.name.clone();
        let existing = {
            let (name, id) = (name.clone(), id.clone());
            self.blocking(move |store| {
                Ok((store.component(&name, &id)?, store.components(&name)?.len()))
            })
            .await?
        };
        if let (Some(record), _) = existing {
            return Ok(record);
        }
        if existing.1 >= tenant.quota.max_components {
            return Err(Refusal::forbidden(format!(
                "the tenant keeps {} components, its max-components; delete one with DELETE /api/v1/components/ID first",
                existing.1
            )));
        }
        let _permit = self
            .compiles
            .acquire()
            .await
            .map_err(|_| Refusal::busy("the service is shutting down"))?;
        let limits = GuestLimits {
            max_instances: SPARE_INSTANCES as u32,
            memory_bytes: (tenant.quota.max_user_memory_mib as usize) << 20,
            fuel_per_second: Some(tenant.quota.max_fuel_per_second),
            ..GuestLimits::default()
        };
        let loaded = {
            let bytes = bytes.clone();
            tokio::task::spawn_blocking(move || {
                TestComponent::from_bytes(&bytes, Path::new("the uploaded component"), limits)
            })
            .await
            .map_err(|_| Refusal::bad("the component could not be compiled"))?
            .map_err(|error| Refusal::bad(error.to_string()))?
        };
        let description = loaded
            .describe_with_plan()
            .await
            .and_then(without_plan)
            .map_err(|error| Refusal::bad(format!("the uploaded component: {error}")))?;
        let options = description.options.clone();
        let scenario = Scenario::from_description(description)
            .map_err(|error| Refusal::bad(format!("the uploaded component: {error}")))?;
        let record = ComponentRecord {
            id,
            size: bytes.len() as u64,
            created: unix_now(),
            description: describe_json(&scenario, &options),
        };
        let kept = record.clone();
        self.blocking(move |store| store.insert_component(&name, &kept, &bytes))
            .await?;
        tracing::info!(target: "locust.serve", "tenant {} uploaded component {} ({} bytes)", tenant.name, record.id, record.size);
        Ok(record)
    }

    /// A tenant's components.
    pub async fn components(&self, tenant: &Tenant) -> Result<Vec<ComponentRecord>, Refusal> {
        let name = tenant.name.clone();
        self.blocking(move |store| store.components(&name)).await
    }

    /// Forget one of a tenant's components.
    pub async fn delete_component(&self, tenant: &Tenant, id: &str) -> Result<(), Refusal> {
        let (name, owned) = (tenant.name.clone(), id.to_owned());
        if self
            .blocking(move |store| store.delete_component(&name, &owned))
            .await?
        {
            Ok(())
        } else {
            Err(Refusal::not_found(format!("no component {id}")))
        }
    }

    /// Check `settings` against `tenant`'s quotas and grants and against `component`, as a
    /// submission is checked before anything starts.
    pub fn check_settings(
        tenant: &Tenant,
        settings: &RunSettings,
        component: &ComponentRecord,
    ) -> Result<(), Refusal> {
        Self::check(tenant, settings, component).map(|_| ())
    }

    fn check(
        tenant: &Tenant,
        settings: &RunSettings,
        component: &ComponentRecord,
    ) -> Result<Checked, Refusal> {
        let quota = &tenant.quota;
        if settings.users == 0 {
            return Err(Refusal::bad("users must be at least 1"));
        }
        if settings.users > quota.max_users {
            return Err(Refusal::forbidden(format!(
                "users {} is over the tenant's max-users of {}",
                settings.users, quota.max_users
            )));
        }
        if !(settings.spawn_rate.is_finite() && settings.spawn_rate > 0.0) {
            return Err(Refusal::bad(format!(
                "spawn_rate must be a positive number (got {})",
                settings.spawn_rate
            )));
        }
        let run_time = match &settings.run_time {
            None => quota.max_run_time,
            Some(text) => match parse_timespan(text) {
                Ok(span) if span.is_zero() => {
                    return Err(Refusal::bad("run_time must be longer than 0s"));
                }
                Ok(span) => span,
                Err(message) => return Err(Refusal::bad(format!("run_time: {message}"))),
            },
        };
        if run_time > quota.max_run_time {
            return Err(Refusal::forbidden(format!(
                "run_time {} is over the tenant's max-run-time of {}s",
                settings.run_time.as_deref().unwrap_or_default(),
                quota.max_run_time.as_secs()
            )));
        }
        let stop_timeout = match &settings.stop_timeout {
            None => DEFAULT_STOP_TIMEOUT,
            Some(text) => match parse_timespan(text) {
                Ok(span) if span <= MAX_STOP_TIMEOUT => span,
                Ok(_) => {
                    return Err(Refusal::forbidden(format!(
                        "stop_timeout is at most {}s",
                        MAX_STOP_TIMEOUT.as_secs()
                    )));
                }
                Err(message) => return Err(Refusal::bad(format!("stop_timeout: {message}"))),
            },
        };
        let memory_mib = settings.user_memory.unwrap_or(quota.max_user_memory_mib);
        if memory_mib == 0 || memory_mib > quota.max_user_memory_mib {
            return Err(Refusal::forbidden(format!(
                "user_memory {memory_mib} MiB is outside the tenant's 1..={} MiB (max-user-memory-mib)",
                quota.max_user_memory_mib
            )));
        }
        let host = settings
            .host
            .as_deref()
            .map(str::trim)
            .filter(|host| !host.is_empty())
            .map(|host| host.trim_end_matches('/').to_owned());
        if let Some(host) = &host {
            let valid = url::Url::parse(host)
                .is_ok_and(|url| url.host_str().is_some_and(|h| !h.is_empty()));
            if !valid {
                return Err(Refusal::bad(format!(
                    "host must be a URL such as http://127.0.0.1:8080 (got \"{host}\")"
                )));
            }
            if !tenant.may_reach(host) {
                return Err(Refusal::forbidden(format!(
                    "host {host} is not granted to tenant {}; its operator grants hosts with allow-hosts in the tenants file",
                    tenant.name
                )));
            }
        }
        // Classes: the ones named must exist; without a run host each needs a granted host.
        let classes = component.description["classes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let concrete: Vec<&serde_json::Value> = classes
            .iter()
            .filter(|class| class["abstract"] != serde_json::Value::Bool(true))
            .collect();
        for name in &settings.classes {
            if !concrete.iter().any(|class| class["name"] == name.as_str()) {
                return Err(Refusal::bad(format!(
                    "the component has no user class {name}; it has {}",
                    concrete
                        .iter()
                        .filter_map(|class| class["name"].as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        if host.is_none() {
            for class in concrete.iter().filter(|class| {
                settings.classes.is_empty()
                    || settings
                        .classes
                        .iter()
                        .any(|name| class["name"] == name.as_str())
            }) {
                let name = class["name"].as_str().unwrap_or_default();
                match class["host"].as_str() {
                    None => {
                        return Err(Refusal::bad(format!(
                            "user class {name} has no host: give the run a host"
                        )));
                    }
                    Some(class_host) if !tenant.may_reach(class_host) => {
                        return Err(Refusal::forbidden(format!(
                            "user class {name} targets {class_host}, which is not granted to tenant {}",
                            tenant.name
                        )));
                    }
                    Some(_) => {}
                }
            }
        }
        let declared: Vec<&str> = component.description["options"]
            .as_array()
            .map(|options| options.iter().filter_map(|o| o["name"].as_str()).collect())
            .unwrap_or_default();
        for name in settings.options.keys() {
            if !declared.contains(&name.as_str()) {
                return Err(Refusal::bad(format!(
                    "the component declares no option {name}{}",
                    if declared.is_empty() {
                        String::new()
                    } else {
                        format!("; it declares {}", declared.join(", "))
                    }
                )));
            }
        }
        Ok(Checked {
            users: settings.users,
            spawn_rate: settings.spawn_rate,
            run_time,
            stop_timeout,
            host,
            memory_mib,
        })
    }

    /// Submit a run: refused when over a quota or grant, else started at once or queued.
    pub async fn submit(
        self: &Arc<Self>,
        tenant: &Tenant,
        settings: RunSettings,
    ) -> Result<RunRecord, Refusal> {
        if self.closing.is_cancelled() {
            return Err(Refusal::busy("the service is shutting down"));
        }
        if !is_hex_id(&settings.component, 64) {
            return Err(Refusal::bad(
                "component must be the id (SHA-256, 64 hex digits) POST /api/v1/components returned",
            ));
        }
        let component = {
            let (name, id) = (tenant.name.clone(), settings.component.clone());
            self.blocking(move |store| store.component(&name, &id))
                .await?
        }
        .ok_or_else(|| {
            Refusal::not_found(format!(
                "no component {}; upload it with POST /api/v1/components",
                settings.component
            ))
        })?;
        let checked = Self::check(tenant, &settings, &component)?;
        let run = Arc::new(LiveRun {
            id: new_id(),
            tenant: tenant.name.clone(),
            settings,
            checked,
            stop: CancellationToken::new(),
            view: OnceLock::new(),
            state: Mutex::new(RunState::Queued),
        });
        let record = RunRecord {
            id: run.id.clone(),
            tenant: tenant.name.clone(),
            state: RunState::Queued,
            settings: serde_json::to_value(&run.settings).unwrap_or_default(),
            created: unix_now(),
            started: None,
            ended: None,
            message: None,
        };
        // Decide and record under the lock, so two submissions cannot both take the last slot.
        let start_now = {
            let mut live = self.live();
            let runs = live.entry(tenant.name.clone()).or_default();
            let start_now = runs.running.len() < tenant.quota.max_concurrent_runs;
            if !start_now && runs.queued.len() >= tenant.quota.max_queued_runs {
                return Err(Refusal::busy(format!(
                    "the tenant has {} runs running and {} queued, its max-concurrent-runs and \
                     max-queued-runs; wait for one to end or stop one",
                    runs.running.len(),
                    runs.queued.len()
                )));
            }
            self.store.insert_run(&record)?;
            if start_now {
                run.set_state(RunState::Running);
                runs.running.push(run.clone());
            } else {
                runs.queued.push_back(run.clone());
            }
            start_now
        };
        tracing::info!(target: "locust.serve", "tenant {} submitted run {} ({} users){}", tenant.name, run.id, run.checked.users, if start_now { "" } else { ", queued" });
        if start_now {
            self.launch(run);
        }
        Ok(record)
    }

    fn launch(self: &Arc<Self>, run: Arc<LiveRun>) {
        let service = self.clone();
        tokio::spawn(async move {
            let (state, message) = service.drive(&run).await;
            service.conclude(&run, state, message).await;
        });
    }

    /// Run `run` to its end; returns its final state and why, when it did not finish.
    async fn drive(&self, run: &Arc<LiveRun>) -> (RunState, Option<String>) {
        let session = match self.prepare(run).await {
            Ok(session) => session,
            Err(message) => {
                tracing::warn!(target: "locust.serve", "run {} of tenant {} failed to start: {message}", run.id, run.tenant);
                return (RunState::Failed, Some(message));
            }
        };
        let web = WebUi::new(
            session.clone(),
            WebPlan {
                host: String::new(),
                port: 0,
                auth: None,
                tls: None,
                step_load: false,
            },
        )
        .mount();
        match web {
            Ok(web) => {
                let _ = run.view.set(web);
            }
            Err(message) => return (RunState::Failed, Some(message)),
        }
        let folder = self.store.run_folder(&run.id);
        let writer = std::fs::create_dir_all(&folder)
            .and_then(|()| CsvWriter::new(&folder.join("run"), false));
        let writer = match writer {
            Ok(writer) => Arc::new(Mutex::new(writer)),
            Err(error) => {
                return (
                    RunState::Failed,
                    Some(format!("could not write the run's files: {error}")),
                );
            }
        };
        let started = unix_now();
        if let Err(error) = self.store.mark_started(&run.id, started) {
            tracing::error!(target: "locust.serve", "{error}");
        }
        let snapshots = {
            let (store, run, writer, session) = (
                self.store.clone(),
                run.clone(),
                writer.clone(),
                session.clone(),
            );
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(SNAPSHOT_INTERVAL);
                loop {
                    ticks.tick().await;
                    snapshot(&store, &run, &writer, &session).await;
                }
            })
        };
        let outcome = match session
            .start(run.checked.users, run.checked.spawn_rate, None, None)
            .await
        {
            Err(message) => Some((RunState::Failed, Some(message))),
            Ok(()) => None,
        };
        let (state, message) = match outcome {
            Some(failed) => failed,
            None => {
                tokio::select! {
                    () = tokio::time::sleep(run.checked.run_time) => (RunState::Finished, None),
                    () = run.stop.cancelled() => (RunState::Stopped, None),
                    () = self.closing.cancelled() => (
                        RunState::Interrupted,
                        Some("the service was shut down while this run was running; these are its statistics until then".to_owned()),
                    ),
                }
            }
        };
        run.set_state(RunState::Stopping);
        let _ = self.store.set_state(&run.id, RunState::Stopping);
        session.stop().await;
        session.quit().await;
        if let Some(master) = session.master() {
            // The workers' last reports arrive with their goodbyes.
            master.quit().await;
        }
        snapshots.abort();
        snapshot(&self.store, run, &writer, &session).await;
        (state, message)
    }

    /// Load the run's component with its limits and prepare its session (running `init`).
    async fn prepare(&self, run: &LiveRun) -> Result<Arc<TestSession>, String> {
        let tenant = self
            .tenants
            .get(&run.tenant)
            .ok_or_else(|| "the tenant is gone from the tenants file".to_owned())?;
        let path = self
            .store
            .component_path(&run.tenant, &run.settings.component);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|error| format!("the component is gone ({error}); upload it again"))?;
        let limits = GuestLimits {
            max_instances: u32::try_from(run.checked.users + SPARE_INSTANCES)
                .map_err(|_| "too many users".to_owned())?,
            memory_bytes: (run.checked.memory_mib as usize) << 20,
            max_response_bytes: (run.checked.memory_mib as usize) << 20,
            fuel_per_second: Some(tenant.quota.max_fuel_per_second),
            ..GuestLimits::default()
        };
        let component = tokio::task::spawn_blocking(move || {
            TestComponent::from_bytes(&bytes, Path::new("the run's component"), limits)
        })
        .await
        .map_err(|_| "the component could not be compiled".to_owned())?
        .map_err(|error| error.to_string())?;
        let component = Arc::new(component);
        let description = without_plan(component.describe_with_plan().await?)?;
        let specs = description.options.clone();
        let scenario =
            Scenario::from_description(description).map_err(|error| error.to_string())?;
        let classes = scenario
            .plan(
                &run.settings.classes,
                run.settings.tags.as_deref(),
                run.settings.exclude_tags.as_deref(),
            )
            .map_err(|error| error.to_string())?;
        // The component's described classes were checked at submission; check the hosts again
        // against what this instance of it says, so a component cannot change its story.
        if run.checked.host.is_none() {
            for class in &classes {
                match &class.host {
                    Some(host) if tenant.may_reach(host) => {}
                    _ => {
                        return Err(format!(
                            "user class {} has no granted host; give the run a host",
                            class.name
                        ));
                    }
                }
            }
        }
        let mut options = BTreeMap::new();
        for option in &specs {
            if let Some(default) = &option.default {
                options.insert(option.name.clone(), default.clone());
            }
        }
        options.extend(run.settings.options.clone());
        // On the waiting workers when there are some: each gets the whole run's limits (any of
        // them may end up with every user) and an equal part of its CPU share.
        let adopted = match &self.pool {
            Some(pool) => pool.take_all().await,
            None => Vec::new(),
        };
        let master = (!adopted.is_empty()).then(|| crate::dist::master::MasterPlan {
            bind_host: String::new(),
            bind_port: 0,
            expect_workers: adopted.len() as u32,
            token: None,
            tls: None,
            worker_limits: GuestLimits {
                fuel_per_second: Some(
                    (tenant.quota.max_fuel_per_second / adopted.len() as u64).max(1),
                ),
                ..limits
            },
        });
        let workers = adopted.len();
        if workers > 0 {
            tracing::info!(target: "locust.serve", "run {} of tenant {} runs on {workers} worker(s)", run.id, run.tenant);
        }
        let session = TestSession::prepare(
            SessionParts {
                plan: None,
                shape: None,
                component,
                classes,
                hooks: scenario.hooks,
                options: Arc::new(options),
                host: run.checked.host.clone(),
                stop_timeout: run.checked.stop_timeout,
                hook_timeout: HOOK_TIMEOUT,
                max_request_names: crate::stats::DEFAULT_MAX_NAMES,
                reset_stats: false,
                tags: (run.settings.tags.clone(), run.settings.exclude_tags.clone()),
                allow_hosts: tenant.allow_hosts.clone(),
                fixed_grants: true,
                listeners: Vec::new(),
                master,
                adopted,
            },
            Events::new(),
        )
        .await
        .map_err(|error| error.to_string())?;
        if let Some(master) = session.master() {
            // The workers compile the component, then say they are ready.
            let ready =
                tokio::time::timeout(WORKER_READY_TIMEOUT, master.wait_for_workers(workers)).await;
            if ready.is_err() && master.ready_workers() == 0 {
                master.quit().await;
                return Err(format!(
                    "none of the {workers} worker(s) became ready within {} s; see their logs",
                    WORKER_READY_TIMEOUT.as_secs()
                ));
            }
        }
        Ok(session)
    }

    /// A run is over: store its end, free its slot, start the tenant's next queued run and
    /// prune old runs.
    async fn conclude(
        self: &Arc<Self>,
        run: &Arc<LiveRun>,
        state: RunState,
        message: Option<String>,
    ) {
        run.set_state(state);
        let (id, store) = (run.id.clone(), self.store.clone());
        let finished = tokio::task::spawn_blocking(move || {
            store.finish(&id, state, message.as_deref(), unix_now())
        })
        .await;
        if let Ok(Err(error)) = finished {
            tracing::error!(target: "locust.serve", "{error}");
        }
        tracing::info!(target: "locust.serve", "run {} of tenant {} {}", run.id, run.tenant, state.name());
        let next = {
            let mut live = self.live();
            let runs = live.entry(run.tenant.clone()).or_default();
            runs.running.retain(|other| other.id != run.id);
            let next = if self.closing.is_cancelled() {
                None
            } else {
                runs.queued.pop_front()
            };
            if let Some(next) = &next {
                next.set_state(RunState::Running);
                runs.running.push(next.clone());
            }
            next
        };
        if let Some(next) = next {
            self.launch(next);
        }
        if let Some(tenant) = self.tenants.get(&run.tenant) {
            let (name, keep) = (tenant.name.clone(), tenant.quota.max_stored_runs);
            let _ = self.blocking(move |store| store.prune(&name, keep)).await;
        }
    }

    /// A tenant's runs, newest first.
    pub async fn runs(&self, tenant: &Tenant) -> Result<Vec<RunView>, Refusal> {
        let name = tenant.name.clone();
        let records = self.blocking(move |store| store.runs(&name)).await?;
        Ok(records
            .into_iter()
            .map(|record| self.view_of(tenant, record))
            .collect())
    }

    fn view_of(&self, tenant: &Tenant, mut record: RunRecord) -> RunView {
        let live = self.find_live(&tenant.name, &record.id);
        if let Some(live) = &live {
            record.state = live.state();
        }
        RunView {
            user_count: live
                .as_ref()
                .and_then(|live| live.view.get())
                .map(MountedWebUi::user_count),
            record,
        }
    }

    async fn record(&self, tenant: &Tenant, id: &str) -> Result<RunRecord, Refusal> {
        let (name, owned) = (tenant.name.clone(), id.to_owned());
        self.blocking(move |store| store.run(&name, &owned))
            .await?
            .ok_or_else(|| Refusal::not_found(format!("no run {id}")))
    }

    /// One run.
    pub async fn run(&self, tenant: &Tenant, id: &str) -> Result<RunView, Refusal> {
        let record = self.record(tenant, id).await?;
        Ok(self.view_of(tenant, record))
    }

    /// A run's statistics as `/stats/requests` shows them: live while it runs, else the last
    /// stored.
    pub async fn stats(&self, tenant: &Tenant, id: &str) -> Result<serde_json::Value, Refusal> {
        if let Some(view) = self
            .find_live(&tenant.name, id)
            .and_then(|run| run.view.get().map(stored_report))
        {
            return Ok(view);
        }
        let record = self.record(tenant, id).await?;
        let (name, owned) = (tenant.name.clone(), id.to_owned());
        let summary = self
            .blocking(move |store| store.summary(&name, &owned))
            .await?;
        Ok(summary.unwrap_or_else(|| {
            serde_json::json!({"stats": [], "errors": [], "state": record.state.name(), "user_count": 0})
        }))
    }

    /// A run's user errors as `/exceptions` shows them.
    pub async fn exceptions(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<serde_json::Value, Refusal> {
        if let Some(view) = self
            .find_live(&tenant.name, id)
            .and_then(|run| run.view.get().map(MountedWebUi::exceptions))
        {
            return Ok(view);
        }
        let summary = self.stats(tenant, id).await?;
        Ok(
            serde_json::json!({"exceptions": summary.get("exceptions").cloned().unwrap_or_default()}),
        )
    }

    /// One of a run's CSV files (`stats`, `stats_history`, `failures`, `exceptions`): from its
    /// latest snapshot while it runs, else as stored when it ended.
    pub async fn csv(&self, tenant: &Tenant, id: &str, name: &str) -> Result<Vec<u8>, Refusal> {
        let Some((_, suffix)) = super::store::RUN_FILES
            .iter()
            .find(|(file, _)| *file == name)
        else {
            return Err(Refusal::not_found(format!(
                "no CSV file {name}; there are stats, stats_history, failures and exceptions"
            )));
        };
        self.record(tenant, id).await?;
        if self.find_live(&tenant.name, id).is_some() {
            let path = self.store.run_folder(id).join(format!("run{suffix}"));
            return tokio::fs::read(&path).await.map_err(|_| {
                Refusal::not_found(
                    "the run has not written its files yet; try again in a few seconds",
                )
            });
        }
        let (tenant, owned, file) = (tenant.name.clone(), id.to_owned(), name.to_owned());
        self.blocking(move |store| store.file(&tenant, &owned, &file))
            .await?
            .ok_or_else(|| Refusal::not_found(format!("run {id} has no {name} file")))
    }

    /// Stop a run: a queued one leaves the queue, a running one stops its users.
    pub async fn stop(self: &Arc<Self>, tenant: &Tenant, id: &str) -> Result<RunView, Refusal> {
        let record = self.record(tenant, id).await?;
        let dequeued = {
            let mut live = self.live();
            let runs = live.entry(tenant.name.clone()).or_default();
            let position = runs.queued.iter().position(|run| run.id == id);
            position.and_then(|index| runs.queued.remove(index))
        };
        if let Some(run) = dequeued {
            run.set_state(RunState::Stopped);
            let owned = id.to_owned();
            self.blocking(move |store| {
                store.finish(
                    &owned,
                    RunState::Stopped,
                    Some("stopped before it started"),
                    unix_now(),
                )
            })
            .await?;
        } else if let Some(run) = self.find_live(&tenant.name, id) {
            run.stop.cancel();
        } else if !record.state.is_over() {
            return Err(Refusal::new(
                StatusCode::CONFLICT,
                "the run is between states; try again",
            ));
        }
        self.run(tenant, id).await
    }

    /// The web UI of a live run, to mount under its page's path.
    pub fn page(&self, tenant: &Tenant, id: &str) -> Option<axum::Router> {
        self.find_live(&tenant.name, id)?
            .view
            .get()
            .map(MountedWebUi::router)
    }

    /// Whether `id` is a live run of `tenant` that can still change (for the page's form).
    pub fn is_running(&self, tenant: &Tenant, id: &str) -> bool {
        self.find_live(&tenant.name, id)
            .is_some_and(|run| run.state() == RunState::Running)
    }

    /// Stop every run (they are marked interrupted, with their statistics) and refuse new ones.
    pub async fn shut_down(&self) {
        self.closing.cancel();
        loop {
            let busy = self.live().values().any(|runs| !runs.running.is_empty());
            if !busy {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let queued: Vec<Arc<LiveRun>> = self
            .live()
            .values_mut()
            .flat_map(|runs| runs.queued.drain(..))
            .collect();
        for run in queued {
            let _ = self.store.finish(
                &run.id,
                RunState::Interrupted,
                Some("the service was shut down before this run started; submit it again"),
                unix_now(),
            );
        }
    }
}

/// A run's statistics with its user errors, in the shape the store keeps (so a run reads the
/// same live and after it ended).
fn stored_report(view: &MountedWebUi) -> serde_json::Value {
    let mut summary = view.report();
    summary["exceptions"] = view.exceptions()["exceptions"].clone();
    summary
}

/// Write a live run's CSV files and keep its statistics in the store.
async fn snapshot(
    store: &Arc<Store>,
    run: &Arc<LiveRun>,
    writer: &Arc<Mutex<CsvWriter>>,
    session: &Arc<TestSession>,
) {
    let Some(view) = run.view.get() else {
        return;
    };
    let summary = stored_report(view);
    let stats = session.stats().snapshot();
    let users = session.user_count();
    let (store, id, writer) = (store.clone(), run.id.clone(), writer.clone());
    let written = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let mut writer = writer.lock().unwrap_or_else(PoisonError::into_inner);
        writer
            .write(&stats, unix_now(), users)
            .map_err(|error| error.to_string())?;
        let exceptions = render_exceptions_csv(&stats).map_err(|error| error.to_string())?;
        crate::files::replace(
            &store.run_folder(&id).join("run_exceptions.csv"),
            &exceptions,
        )
        .map_err(|error| error.to_string())?;
        store
            .save_summary(&id, &summary)
            .map_err(|error| error.to_string())
    })
    .await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::error!(target: "locust.serve", "run {}: keeping its statistics failed: {error}", run.id)
        }
        Err(_) => {
            tracing::error!(target: "locust.serve", "run {}: keeping its statistics failed", run.id)
        }
    }
}

/// A component's description, refused when the component declares a test plan of its own
/// (k6's `options`): a service run's users, run time and end come from the run request and
/// the tenant's quota, and a plan must never be silently ignored.
fn without_plan(
    described: crate::component::Described,
) -> Result<crate::component::Description, String> {
    let crate::component::Described {
        description,
        plan,
        shape,
    } = described;
    if let Some(shape) = shape {
        return Err(format!(
            "it has a load shape ({shape}), which service runs do not apply: give the users \
             and run time in the run request, or run it with `locust -f`"
        ));
    }
    match plan {
        Some(plan) if !plan.is_empty() => Err(
            "it declares its own test plan (k6 `options`: vus, duration, iterations, stages or \
             thresholds), which service runs do not apply: remove `export const options` and \
             give the users and run time in the run request, or run the script with `locust -f`"
                .to_owned(),
        ),
        _ => Ok(description),
    }
}
