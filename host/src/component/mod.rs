//! Loading a user component and running guest code safely.
//!
//! A component is compiled once; each simulated user gets its own store and instance from a
//! pre-linked `UserComponentPre` (an `InstancePre`), drawn from wasmtime's pooling
//! allocator sized for the run's user count. Guests get no files, environment or arguments,
//! and reach only the run's granted hosts (see [`crate::grants`]); their memory is capped per user; and each call into a guest gets a fuel budget
//! (a count of WebAssembly instructions), so a guest stuck in a loop is stopped and reported
//! without freezing a runtime thread: execution yields to the scheduler every so often while
//! it runs.
//!
//! Why fuel rather than epochs: fuel counts only instructions the guest executes, so a task
//! that spends minutes waiting for HTTP responses never looks like a runaway, and the limit
//! is the same on a loaded or idle machine.

mod bindings;
mod build;
mod compiled;
pub mod cpu_share;
pub mod footprint;
mod function_cache;
mod guest_imports;
mod guest_output;
mod http_import;
pub mod javascript;
mod lookup;
pub mod plugins;
pub mod python;
mod responses;
mod runner_import;
mod source_cache;
mod state;
mod wasi_http;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

pub use bindings::PluginInfo;
/// The WIT `test-plan` types, as a guest declares them.
pub use bindings::test_plan as declared_plan;
pub use bindings::types::{
    Description, HookSet, NodeKind, OptionSpec, RequestRecord, TaskError, TaskNode, TaskOutcome,
    UserClass as ClassDescription, WaitPolicy,
};
pub use build::{GUEST_TARGET, build_guest_crate, ensure_guest_target};
pub use state::{ComponentOptions, UserIdentity, UserState};

use crate::http::{HttpAgent, UrlBase};
use bindings::{UserComponent, UserComponentIndices, load_shape};
use footprint::Footprint;

/// The world a user component must implement, with its version.
pub const WORLD: &str = "locust:runtime/user-component@0.4.0";

/// Instructions a guest may run between two yields to the scheduler.
const YIELD_INTERVAL: u64 = 1_000_000;
/// Guard region after each linear memory; small so that many instances fit the address space.
const GUARD_BYTES: u64 = 64 << 10;

/// Sizes and budgets for the guest instances of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestLimits {
    /// Most instances alive at once (users plus the describe and hooks instances).
    pub max_instances: u32,
    /// Linear memory per instance, bytes.
    pub memory_bytes: usize,
    /// Instructions one call into a guest may execute before it is stopped.
    pub fuel_per_call: u64,
    /// Largest response body a user's request reads, bytes, after decompression
    /// (`--max-response-size`; by default the same as `memory_bytes`).
    pub max_response_bytes: usize,
    /// Instructions per second all instances of the component may execute together (a
    /// shared-service tenant's CPU share); none: no limit but `fuel_per_call`.
    pub fuel_per_second: Option<u64>,
}

impl Default for GuestLimits {
    fn default() -> Self {
        Self {
            max_instances: 1000,
            memory_bytes: 64 << 20,
            fuel_per_call: 10_000_000_000,
            max_response_bytes: crate::http::DEFAULT_MAX_BODY,
            fuel_per_second: None,
        }
    }
}

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The path does not exist.
    #[error(
        "{0}: no such file or directory; -f takes a .wasm component or a guest crate directory"
    )]
    Missing(PathBuf),
    /// The file is not a usable WebAssembly component.
    #[error("{path} is not a user component: {reason}")]
    NotAComponent {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The component is built against another contract.
    #[error("{path} does not implement {WORLD}: {reason}")]
    WrongWorld {
        /// The file.
        path: PathBuf,
        /// The mismatch, as wasmtime reports it.
        reason: String,
    },
    /// rustup or cargo could not be run.
    #[error("{0}")]
    Toolchain(String),
    /// Cargo failed to build the guest crate.
    #[error("building the guest crate in {0} failed; cargo's errors are above")]
    Build(PathBuf),
    /// Importing a Python locustfile failed while it was built into a component.
    #[error("{path} could not be built into a component; importing it failed:\n{error}")]
    Python {
        /// The locustfile.
        path: PathBuf,
        /// The Python traceback.
        error: String,
    },
    /// A JavaScript script could not be bundled or built into a component.
    #[error("{path} could not be built into a component:\n{error}")]
    Script {
        /// The script.
        path: PathBuf,
        /// What esbuild or componentize-js said.
        error: String,
    },
    /// A `--plugin` could not be used.
    #[error("{0}")]
    Plugin(String),
    /// The engine could not be configured or the file could not be read.
    #[error("{0}")]
    Setup(String),
}

/// How a call into a guest went wrong. The instance cannot be used again afterwards.
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    /// The guest exceeded its per-call instruction budget.
    #[error(
        "the guest ran more than {0} instructions in one call and was stopped (an endless loop?)"
    )]
    OutOfFuel(u64),
    /// The guest tried to grow its memory beyond the per-user limit.
    #[error(
        "the guest needed more than its {0} MiB of memory and was stopped (raise --user-memory if that is expected)"
    )]
    OutOfMemory(usize),
    /// The guest panicked.
    #[error("the guest panicked: {0}")]
    Panic(String),
    /// The guest trapped for another reason (out of memory, unreachable, bad access).
    #[error("the guest trapped: {0}")]
    Trap(String),
}

/// A compiled user component, ready to instantiate users.
pub struct TestComponent {
    engine: Engine,
    pre: wasmtime::component::InstancePre<UserState>,
    indices: UserComponentIndices,
    /// Where `load-shape` is, when the component exports it.
    shape: Option<load_shape::GuestIndices>,
    limits: GuestLimits,
    hash: String,
    bytes: std::sync::Arc<[u8]>,
    cpu: Option<std::sync::Arc<cpu_share::CpuShare>>,
}

/// An engine whose pool holds `limits.max_instances` instances of a component with
/// `footprint`.
fn engine_for(limits: &GuestLimits, footprint: Footprint) -> Result<Engine, LoadError> {
    // Every pool slot takes memory mappings up front.
    crate::limits::raise_map_count_limit(u64::from(limits.max_instances));
    let mut pool = PoolingAllocationConfig::default();
    let instances = limits.max_instances.max(4);
    let per_component = |count: u32| count.max(1);
    let (cores, memories, tables) = (
        per_component(footprint.core_instances),
        per_component(footprint.memories),
        per_component(footprint.tables),
    );
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(cores))
        .max_core_instances_per_component(cores)
        .total_memories(instances.saturating_mul(memories))
        .max_memories_per_component(memories)
        .total_tables(instances.saturating_mul(tables))
        .max_tables_per_component(tables)
        .total_stacks(instances)
        .max_memory_size(limits.memory_bytes);
    let mut config = Config::new();
    // A store keeps its fiber stack for its whole life; when it ends, the stack is wiped
    // (decommitted) before another user's store gets it: no guest sees another's data.
    config.async_stack_zeroing(true);
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .memory_reservation(limits.memory_bytes as u64)
        .memory_guard_size(GUARD_BYTES)
        .memory_reservation_for_growth(0)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    if let Some(cache) = function_cache::FunctionCache::open() {
        config
            .enable_incremental_compilation(std::sync::Arc::new(cache))
            .map_err(|error| {
                LoadError::Setup(format!("could not set up the compiler cache: {error:#}"))
            })?;
    }
    Engine::new(&config).map_err(|error| {
        LoadError::Setup(format!(
            "could not set up the WebAssembly engine: {error:#}"
        ))
    })
}

/// Check that `bytes` are a component, and compile them with an engine for `limits`.
fn compile_checked(
    bytes: &[u8],
    path: &Path,
    limits: &GuestLimits,
) -> Result<(Engine, wasmtime::component::Component), LoadError> {
    let not_a_component = |reason: &str| LoadError::NotAComponent {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if !bytes.starts_with(b"\0asm") {
        return Err(not_a_component(
            "it is not a WebAssembly file (build a guest crate for wasm32-wasip2, or pass its directory)",
        ));
    }
    // Bytes 4..8 hold the version and layer: 1 for a core module, 0x1000d for a component.
    if bytes.get(4..8) == Some(&[1, 0, 0, 0]) {
        return Err(not_a_component(
            "it is a core WebAssembly module, not a component; build it for wasm32-wasip2",
        ));
    }
    let footprint = footprint::of(bytes)
        .map_err(|error| not_a_component(&format!("it does not parse: {error}")))?;
    let engine = engine_for(limits, footprint)?;
    let component = compiled::compile(&engine, bytes, &hash_of(bytes))
        .map_err(|error| not_a_component(&format!("{error:#}")))?;
    Ok((engine, component))
}

/// The state of an instance that is no simulated user (describing a component or a plugin, a
/// listener plugin): what it records goes nowhere.
fn unrecorded_state(identity: UserIdentity, memory_bytes: usize) -> UserState {
    let reporter = crate::events::Reporter {
        stats: crate::stats::Stats::new(),
        events: std::sync::Arc::new(crate::events::Events::new()),
    };
    UserState::new(identity, reporter, memory_bytes)
}

/// A store for one guest instance holding `state`, with its limits and first fuel budget.
fn new_store(
    engine: &Engine,
    state: UserState,
    limits: &GuestLimits,
) -> Result<Store<UserState>, GuestError> {
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limits);
    store
        .fuel_async_yield_interval(Some(YIELD_INTERVAL))
        .map_err(|error| GuestError::Trap(format!("{error:#}")))?;
    store
        .set_fuel(limits.fuel_per_call)
        .map_err(|error| GuestError::Trap(format!("{error:#}")))?;
    Ok(store)
}

/// A plugin read from its `--plugin` path and described.
pub struct LoadedPlugin {
    /// The bytes to plug in.
    pub component: plugins::PluginBytes,
    /// What the plugin says of itself.
    pub info: PluginInfo,
    /// Set for a listener plugin (it exports [`plugins::LISTENER_INTERFACE`]), which runs in
    /// an instance of its own instead of being plugged into users.
    pub listener: Option<ListenerPlugin>,
    /// The interfaces it exports for users (its client), without the one it describes itself
    /// with.
    pub interfaces: Vec<String>,
}

/// A compiled listener plugin, ready to instantiate once per process.
#[derive(Clone)]
pub struct ListenerPlugin {
    engine: Engine,
    pre: bindings::listener_world::ListenerPluginPre<UserState>,
    limits: GuestLimits,
    /// Its name (from `describe`).
    pub name: String,
    /// Its component, for workers.
    pub bytes: std::sync::Arc<[u8]>,
}

impl ListenerPlugin {
    /// Its instance, reaching the hosts `grants` allows (relative URLs go to `host`) and
    /// reading `options`. Its own requests are not recorded.
    pub async fn instantiate(
        &self,
        grants: std::sync::Arc<crate::grants::Grants>,
        host: Option<std::sync::Arc<str>>,
        options: ComponentOptions,
    ) -> Result<ListenerInstance, GuestError> {
        let class: std::sync::Arc<str> = std::sync::Arc::from(format!("listener {}", self.name));
        let identity = UserIdentity {
            id: 0,
            seed: rand::random(),
            host: host.clone(),
            class: class.clone(),
            options,
            grants: grants.clone(),
            run: std::sync::Arc::default(),
        };
        let state = unrecorded_state(identity, self.limits.memory_bytes);
        let mut store = new_store(&self.engine, state, &self.limits)?;
        let bindings = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|error| classify(error, &mut store, &self.limits))?;
        Ok(ListenerInstance {
            agent: HttpAgent::new(
                store.data().exchange.clone(),
                UrlBase::new(host.as_deref(), class),
                self.limits.max_response_bytes,
                grants,
            ),
            store,
            bindings,
            limits: self.limits,
        })
    }
}

/// The instance of a listener plugin.
pub struct ListenerInstance {
    agent: HttpAgent,
    store: Store<UserState>,
    bindings: bindings::listener_world::ListenerPlugin,
    limits: GuestLimits,
}

/// Read the plugin at `path` (a `.wasm` component, or a plugin crate directory, built first)
/// and have it describe itself in an instance of its own.
pub async fn load_plugin(path: &Path) -> Result<LoadedPlugin, LoadError> {
    let owned = path.to_owned();
    let bytes = tokio::task::spawn_blocking(move || read_component(&owned))
        .await
        .map_err(|error| LoadError::Setup(error.to_string()))??;
    plugin_from_bytes(bytes, path).await
}

/// The plugin component `bytes` (named `path` in messages), described.
pub async fn plugin_from_bytes(bytes: Vec<u8>, path: &Path) -> Result<LoadedPlugin, LoadError> {
    let limits = GuestLimits {
        max_instances: 1,
        ..GuestLimits::default()
    };
    let compiled = {
        let (bytes, path) = (bytes.clone(), path.to_owned());
        tokio::task::spawn_blocking(move || compile_checked(&bytes, &path, &limits))
    };
    let not_a_plugin = |reason: String| LoadError::Plugin(format!("{}: {reason}", path.display()));
    let (engine, component) = compiled
        .await
        .map_err(|error| LoadError::Setup(error.to_string()))?
        .map_err(|error| match error {
            LoadError::NotAComponent { reason, .. } => {
                not_a_plugin(format!("not a plugin: {reason}"))
            }
            other => other,
        })?;
    let linker = host_linker(&engine)?;
    let pre = linker
        .instantiate_pre(&component)
        .and_then(bindings::plugin_world::ProtocolPluginPre::new)
        .map_err(|error| {
            not_a_plugin(format!(
                "not a plugin: {error:#}; a plugin exports {} (build it against the \
                 protocol-plugin world of wit/locust.wit)",
                plugins::DESCRIBE_INTERFACE
            ))
        })?;
    let state = unrecorded_state(UserIdentity::offline("plugin"), limits.memory_bytes);
    let described = async {
        let mut store = new_store(&engine, state, &limits)?;
        let plugin = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|error| classify(error, &mut store, &limits))?;
        plugin
            .locust_runtime_plugin()
            .call_describe(&mut store)
            .await
            .map_err(|error| classify(error, &mut store, &limits))
    };
    let info = described
        .await
        .map_err(|error| not_a_plugin(format!("describe() failed: {error}")))?;
    check_plugin_info(&info).map_err(not_a_plugin)?;
    let exports: Vec<String> = component
        .component_type()
        .exports(&engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let is_listener = exports
        .iter()
        .any(|name| plugins::is_listener_interface(name));
    let interfaces = exports
        .into_iter()
        .filter(|name| !name.starts_with("locust:runtime/"))
        .collect();
    let listener = if is_listener {
        let pre = linker
            .instantiate_pre(&component)
            .and_then(bindings::listener_world::ListenerPluginPre::new)
            .map_err(|error| not_a_plugin(format!("not a listener plugin: {error:#}")))?;
        Some(ListenerPlugin {
            engine,
            pre,
            limits,
            name: info.name.clone(),
            bytes: bytes.as_slice().into(),
        })
    } else {
        None
    };
    Ok(LoadedPlugin {
        component: plugins::PluginBytes {
            path: path.to_owned(),
            bytes,
        },
        info,
        listener,
        interfaces,
    })
}

/// Whether `name` is a plugin or option name: lower-case ASCII letters, digits and dashes.
pub fn is_kebab_case(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A plugin's name is kebab-case, and its options start with it.
fn check_plugin_info(info: &PluginInfo) -> Result<(), String> {
    if !is_kebab_case(&info.name) {
        return Err(format!(
            "the plugin's name {:?} is not kebab-case (lower-case letters, digits and -)",
            info.name
        ));
    }
    let prefix = format!("{}-", info.name);
    match info
        .options
        .iter()
        .find(|option| !option.name.starts_with(&prefix))
    {
        Some(option) => Err(format!(
            "plugin {} declares option `{}`; a plugin's options start with `{prefix}`",
            info.name, option.name
        )),
        None => Ok(()),
    }
}

/// A user component with its protocol plugins plugged in, and the listener plugins beside it.
pub struct Assembled {
    /// The component to run users of.
    pub bytes: Vec<u8>,
    /// What every plugin said of itself.
    pub plugins: Vec<PluginInfo>,
    /// The listener plugins.
    pub listeners: Vec<ListenerPlugin>,
}

/// The component at `path` with the plugins at `plugin_paths`: protocol plugins plugged in,
/// listener plugins compiled beside it.
pub async fn assemble(path: &Path, plugin_paths: &[PathBuf]) -> Result<Assembled, LoadError> {
    let mut loaded = Vec::new();
    for plugin_path in plugin_paths {
        loaded.push(load_plugin(plugin_path).await?);
    }
    // A Python locustfile is built against its plugins' interfaces, read from their WIT.
    let imports = if python::is_python(path) {
        loaded
            .iter()
            .filter(|plugin| plugin.listener.is_none())
            .map(plugin_import)
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    let owned = path.to_owned();
    let user = tokio::task::spawn_blocking(move || {
        if imports.is_empty() {
            read_component(&owned)
        } else {
            let built = python::build_locustfile_with(&owned, &imports)?;
            std::fs::read(&built).map_err(|error| {
                LoadError::Setup(format!("could not read {}: {error}", built.display()))
            })
        }
    })
    .await
    .map_err(|error| LoadError::Setup(error.to_string()))??;
    for (index, plugin) in loaded.iter().enumerate() {
        if let Some(other) = loaded[..index]
            .iter()
            .find(|other| other.info.name == plugin.info.name)
        {
            return Err(LoadError::Plugin(format!(
                "{} and {} are both plugin {}: pass it once",
                other.component.path.display(),
                plugin.component.path.display(),
                plugin.info.name
            )));
        }
    }
    let mut components = Vec::new();
    let mut infos = Vec::new();
    let mut listeners = Vec::new();
    for plugin in loaded {
        match plugin.listener {
            Some(listener) => listeners.push(listener),
            None => components.push(plugin.component),
        }
        infos.push(plugin.info);
    }
    let owned = path.to_owned();
    let bytes = tokio::task::spawn_blocking(move || plugins::compose(user, &owned, &components))
        .await
        .map_err(|error| LoadError::Setup(error.to_string()))??;
    Ok(Assembled {
        bytes,
        plugins: infos,
        listeners,
    })
}

/// What a Python locustfile needs to import `plugin`'s interfaces: the WIT files in its crate
/// directory's `wit/`.
fn plugin_import(plugin: &LoadedPlugin) -> Result<python::PluginImport, LoadError> {
    let path = &plugin.component.path;
    let folder = path.join("wit");
    let unreadable = || {
        LoadError::Plugin(format!(
            "{}: a Python locustfile is built against its plugins' WIT: pass the plugin's crate \
             directory (with its wit/ folder), not a .wasm file",
            path.display()
        ))
    };
    let entries = std::fs::read_dir(&folder).map_err(|_| unreadable())?;
    let mut wit = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".wit") {
            let text = std::fs::read_to_string(entry.path()).map_err(|_| unreadable())?;
            wit.push((name, text));
        }
    }
    if wit.is_empty() {
        return Err(unreadable());
    }
    wit.sort();
    Ok(python::PluginImport {
        wit,
        interfaces: plugin.interfaces.clone(),
    })
}

/// The linker every guest is instantiated with: WASI (name lookups answered from the grants)
/// and the host API.
fn host_linker(engine: &Engine) -> Result<Linker<UserState>, LoadError> {
    let mut linker = Linker::<UserState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .map_err(|error| LoadError::Setup(format!("linking WASI failed: {error:#}")))?;
    lookup::add_to_linker(&mut linker)
        .map_err(|error| LoadError::Setup(format!("linking the name lookups failed: {error:#}")))?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(|error| LoadError::Setup(format!("linking wasi:http failed: {error:#}")))?;
    UserComponent::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
        .map_err(|error| LoadError::Setup(format!("linking the host API failed: {error:#}")))?;
    Ok(linker)
}

/// The import a linking error says the linker lacks.
fn missing_import(error: &wasmtime::Error) -> Option<String> {
    let message = format!("{error:#}");
    let (_, rest) = message.split_once("imports instance `")?;
    let (name, _) = rest.split_once('`')?;
    Some(name.to_owned())
}

/// The bytes of the component at `path`: a `.wasm` file, or a guest crate directory that is
/// built first.
pub fn read_component(path: &Path) -> Result<Vec<u8>, LoadError> {
    if !path.exists() {
        return Err(LoadError::Missing(path.to_owned()));
    }
    let wasm = if python::is_python(path) {
        python::build_locustfile(path)?
    } else if javascript::is_javascript(path) {
        javascript::build_script(path)?
    } else if path.is_dir() {
        build::build_guest_crate(path)?
    } else {
        path.to_owned()
    };
    std::fs::read(&wasm)
        .map_err(|error| LoadError::Setup(format!("could not read {}: {error}", wasm.display())))
}

/// SHA-256 of component bytes, hex: how master and workers name a component.
pub fn hash_of(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

impl TestComponent {
    /// Compile and link component `bytes`; `path` is only used in messages.
    pub fn from_bytes(bytes: &[u8], path: &Path, limits: GuestLimits) -> Result<Self, LoadError> {
        let (engine, component) = compile_checked(bytes, path, &limits)?;
        let hash = hash_of(bytes);
        let linker = host_linker(&engine)?;
        let wrong_world = |error: wasmtime::Error| {
            if let Some(name) =
                missing_import(&error).filter(|name| !plugins::provided_by_host(name))
            {
                return LoadError::NotAComponent {
                    path: path.to_owned(),
                    reason: plugins::unprovided(&name),
                };
            }
            let exports: Vec<String> = component
                .component_type()
                .exports(&engine)
                .map(|(name, _)| name.to_owned())
                .collect();
            LoadError::WrongWorld {
                path: path.to_owned(),
                reason: format!(
                    "{error}; it exports [{}]. Rebuild it against this version of the SDK",
                    exports.join(", ")
                ),
            }
        };
        let pre = linker.instantiate_pre(&component).map_err(wrong_world)?;
        let indices = UserComponentIndices::new(&pre).map_err(wrong_world)?;
        let shape = load_shape::GuestIndices::new(&pre).ok();
        Ok(Self {
            engine,
            pre,
            indices,
            shape,
            limits,
            hash,
            bytes: bytes.into(),
            cpu: limits.fuel_per_second.map(cpu_share::CpuShare::new),
        })
    }

    /// The component's bytes, as loaded (what a master ships to its workers).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// SHA-256 of the component's bytes, hex.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The limits the component was loaded with.
    pub fn limits(&self) -> GuestLimits {
        self.limits
    }

    /// Read the component's description, in an instance of its own.
    pub async fn describe(&self) -> Result<Description, String> {
        self.describe_with_plan()
            .await
            .map(|described| described.description)
    }

    /// Whether the component exports `load-shape`.
    pub fn has_shape_export(&self) -> bool {
        self.shape.is_some()
    }

    /// Read the component's description, the test plan it declares while describing itself
    /// (k6's `options`), checked, and its load shape.
    pub async fn describe_with_plan(&self) -> Result<Described, String> {
        let mut state =
            unrecorded_state(UserIdentity::offline("describe"), self.limits.memory_bytes);
        state.describing = true;
        let mut instance = self
            .instantiate(state)
            .await
            .map_err(|error| error.to_string())?;
        let description = instance.describe().await.map_err(|error| match error {
            // A panic while describing is the script refusing itself (an unsupported
            // option, a bad metric): its message is the whole error.
            GuestError::Panic(message) => message,
            other => format!("describe() failed: {other}"),
        })?;
        let state = instance.store.data_mut();
        let declared = std::mem::take(&mut state.declared_metrics);
        let plan = state
            .declared_plan
            .take()
            .map(|plan| crate::test_plan::TestPlan::from_wit(plan, &declared))
            .transpose()
            .map_err(|error| error.to_string())?;
        let shape = state.declared_shape.take();
        if let Some(name) = &shape
            && self.shape.is_none()
        {
            return Err(format!(
                "it declares the load shape {name} but does not export locust:runtime/load-shape \
                 (world shaped-user-component of wit/locust.wit); rebuild it with this SDK"
            ));
        }
        if shape.is_some() && plan.as_ref().is_some_and(|plan| !plan.stages.is_empty()) {
            return Err(
                "it has both a load shape and stages: one plan decides the users; remove one"
                    .to_owned(),
            );
        }
        Ok(Described {
            description,
            plan,
            shape,
        })
    }

    /// A fresh instance whose store holds `state`.
    pub async fn instantiate(&self, mut state: UserState) -> Result<GuestInstance, GuestError> {
        state.cpu = self.cpu.clone();
        let mut store = new_store(&self.engine, state, &self.limits)?;
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|error| classify(error, &mut store, &self.limits))?;
        let bindings = self
            .indices
            .load(&mut store, &instance)
            .map_err(|error| classify(error, &mut store, &self.limits))?;
        let identity = &store.data().identity;
        let base = UrlBase::new(identity.host.as_deref(), identity.class.clone());
        Ok(GuestInstance {
            agent: HttpAgent::new(
                store.data().exchange.clone(),
                base,
                self.limits.max_response_bytes,
                identity.grants.clone(),
            ),
            store,
            bindings,
            instance,
            shape_indices: self.shape.clone(),
            shape: None,
            limits: self.limits,
        })
    }
}

/// What a component says about itself: its description, its own test plan (k6's `options`)
/// and its load shape's name.
pub struct Described {
    /// Classes, hooks and options.
    pub description: Description,
    /// The plan it declared (k6's `options`), checked.
    pub plan: Option<crate::test_plan::TestPlan>,
    /// Its load shape (Locust's `LoadTestShape`), by name.
    pub shape: Option<String>,
}

/// The load a component's shape asks for.
pub use load_shape::ShapeTick;

fn classify(
    error: wasmtime::Error,
    store: &mut Store<UserState>,
    limits: &GuestLimits,
) -> GuestError {
    if error.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
        return GuestError::OutOfFuel(limits.fuel_per_call);
    }
    if error
        .chain()
        .any(|cause| cause.to_string().contains("growing memory"))
    {
        return GuestError::OutOfMemory(limits.memory_bytes >> 20);
    }
    if let Some(panic) = store.data_mut().last_panic.take() {
        return GuestError::Panic(panic);
    }
    match error.downcast_ref::<Trap>() {
        Some(trap) => GuestError::Trap(trap.to_string()),
        None => GuestError::Trap(error.root_cause().to_string()),
    }
}

/// One live guest instance: a user, or the hooks of a test.
pub struct GuestInstance {
    /// Performs the requests the guest sends, off the guest's fiber stack.
    agent: HttpAgent,
    store: Store<UserState>,
    bindings: UserComponent,
    instance: wasmtime::component::Instance,
    shape_indices: Option<load_shape::GuestIndices>,
    /// `load-shape`, once looked up.
    shape: Option<load_shape::Guest>,
    limits: GuestLimits,
}

/// Run one export with a fresh fuel budget while its agent serves the HTTP requests it makes,
/// turning traps into [`GuestError`]s and settling the `catch-response` requests the guest
/// left open.
macro_rules! guest_call {
    ($self:ident, $interface:ident . $method:ident ( $($arg:expr),* )) => {
        guest_call!(@on $self, $self.bindings.$interface(), $method($($arg),*))
    };
    (@on $self:ident, $guest:expr, $method:ident ( $($arg:expr),* )) => {{
        let _ = $self.store.set_fuel($self.limits.fuel_per_call);
        let share = $self.store.data().cpu.clone();
        let call = $guest.$method(&mut $self.store $(, $arg)*);
        let (result, charged) = $self
            .agent
            .serve(cpu_share::Throttled::new(call, share.clone()))
            .await;
        if let Some(share) = share {
            // Settle what the call really burned against what its yields were charged.
            let left = $self.store.get_fuel().unwrap_or(0);
            let burned = $self.limits.fuel_per_call.saturating_sub(left);
            share.charge(burned as i64 - charged as i64);
        }
        $self.store.data_mut().settle_pending();
        result.map_err(|error| classify(error, &mut $self.store, &$self.limits))
    }};
}

impl ListenerInstance {
    /// `listener.test-start`.
    pub async fn test_start(&mut self) -> Result<(), GuestError> {
        guest_call!(self, locust_runtime_listener.call_test_start())
    }

    /// `listener.test-stop`.
    pub async fn test_stop(&mut self) -> Result<(), GuestError> {
        guest_call!(self, locust_runtime_listener.call_test_stop())
    }

    /// `listener.on-requests`.
    pub async fn on_requests(
        &mut self,
        batch: &[RequestRecord],
        dropped: u64,
    ) -> Result<(), GuestError> {
        guest_call!(
            self,
            locust_runtime_listener.call_on_requests(batch, dropped)
        )
    }
}

impl GuestInstance {
    /// The store's data.
    pub fn state(&self) -> &UserState {
        self.store.data()
    }

    /// Let go of what the user's kept-alive HTTP connections hold besides their sockets (see
    /// [`HttpAgent::park`]), before a long wait.
    pub async fn park_http(&mut self) {
        self.agent.park().await;
    }

    /// `user.describe`.
    pub async fn describe(&mut self) -> Result<Description, GuestError> {
        guest_call!(self, locust_runtime_user.call_describe())
    }

    /// `user.create`.
    pub async fn create(&mut self, class: u32) -> Result<(), GuestError> {
        guest_call!(self, locust_runtime_user.call_create(class))
    }

    /// `user.on-start`.
    pub async fn on_start(&mut self) -> Result<Result<TaskOutcome, TaskError>, GuestError> {
        guest_call!(self, locust_runtime_user.call_on_start())
    }

    /// `user.on-stop`.
    pub async fn on_stop(&mut self) -> Result<Result<(), TaskError>, GuestError> {
        guest_call!(self, locust_runtime_user.call_on_stop())
    }

    /// `user.run-task`.
    pub async fn run_task(
        &mut self,
        node: u32,
    ) -> Result<Result<TaskOutcome, TaskError>, GuestError> {
        guest_call!(self, locust_runtime_user.call_run_task(node))
    }

    /// `user.start-task-set`.
    pub async fn start_task_set(
        &mut self,
        node: u32,
    ) -> Result<Result<TaskOutcome, TaskError>, GuestError> {
        guest_call!(self, locust_runtime_user.call_start_task_set(node))
    }

    /// `user.stop-task-set`.
    pub async fn stop_task_set(&mut self, node: u32) -> Result<Result<(), TaskError>, GuestError> {
        guest_call!(self, locust_runtime_user.call_stop_task_set(node))
    }

    /// `user.wait-time`, seconds.
    pub async fn wait_time(&mut self, node: Option<u32>) -> Result<f64, GuestError> {
        guest_call!(self, locust_runtime_user.call_wait_time(node))
    }

    /// `hooks.init`.
    pub async fn init(&mut self) -> Result<Result<(), TaskError>, GuestError> {
        guest_call!(self, locust_runtime_hooks.call_init())
    }

    /// `hooks.test-start`.
    pub async fn test_start(&mut self) -> Result<Result<(), TaskError>, GuestError> {
        guest_call!(self, locust_runtime_hooks.call_test_start())
    }

    /// `hooks.test-stop`.
    pub async fn test_stop(&mut self) -> Result<Result<(), TaskError>, GuestError> {
        guest_call!(self, locust_runtime_hooks.call_test_stop())
    }

    /// `hooks.quitting`.
    pub async fn quitting(&mut self) -> Result<Result<(), TaskError>, GuestError> {
        guest_call!(self, locust_runtime_hooks.call_quitting())
    }

    /// `hooks.on-request`.
    pub async fn on_request(&mut self, record: &RequestRecord) -> Result<(), GuestError> {
        guest_call!(self, locust_runtime_hooks.call_on_request(record))
    }

    /// `load-shape`, looked up on first use; `None` when the component does not export it.
    fn shape(&mut self) -> Result<Option<load_shape::Guest>, GuestError> {
        if self.shape.is_none()
            && let Some(indices) = &self.shape_indices
        {
            let guest = indices
                .load(&mut self.store, &self.instance)
                .map_err(|error| GuestError::Trap(error.to_string()))?;
            self.shape = Some(guest);
        }
        Ok(self.shape.clone())
    }

    /// `load-shape.reset`; `Ok(Ok(()))` without a shape.
    pub async fn shape_reset(&mut self) -> Result<Result<(), TaskError>, GuestError> {
        let Some(shape) = self.shape()? else {
            return Ok(Ok(()));
        };
        guest_call!(@on self, shape, call_reset())
    }

    /// `load-shape.tick`; `Ok(Ok(None))` without a shape.
    pub async fn shape_tick(&mut self) -> Result<Result<Option<ShapeTick>, TaskError>, GuestError> {
        let Some(shape) = self.shape()? else {
            return Ok(Ok(None));
        };
        guest_call!(@on self, shape, call_tick())
    }

    /// `hooks.report-to-master`.
    pub async fn report_to_master(&mut self) -> Result<Option<Vec<u8>>, GuestError> {
        guest_call!(self, locust_runtime_hooks.call_report_to_master())
    }

    /// `hooks.worker-report`.
    pub async fn worker_report(&mut self, worker_id: &str, data: &[u8]) -> Result<(), GuestError> {
        guest_call!(
            self,
            locust_runtime_hooks.call_worker_report(worker_id, data)
        )
    }
}
