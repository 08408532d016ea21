//! The command line: one clap definition per option, with its `LOCUST_*` environment variable
//! and default, named as in Locust 1.0. [`Options::resolve`] turns raw options into a
//! [`RunPlan`] once; nothing else reads raw options.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

mod file;

pub use file::{
    ComponentHint, ConfigFileError, OptionsError, Setting, command_with, component_hint,
    parse_config, parse_options, parse_options_with,
};

use crate::component::GuestLimits;
use crate::dist::master::MasterPlan;
use crate::dist::worker::WorkerPlan;
use crate::timespan::parse_timespan;

fn timespan(text: &str) -> Result<Duration, String> {
    parse_timespan(text)
}

fn positive_timespan(text: &str) -> Result<Duration, String> {
    match parse_timespan(text)? {
        span if span.is_zero() => Err(format!("must be longer than 0s (got `{text}`)")),
        span => Ok(span),
    }
}

/// Locust's model and interface with users written as WebAssembly components.
#[derive(Debug, Parser, serde::Serialize)]
#[command(
    name = "locust",
    version,
    about,
    max_term_width = 100,
    args_override_self = true
)]
pub struct Options {
    /// The user component: a .wasm file, or a guest crate directory to build for wasm32-wasip2.
    #[arg(
        short = 'f',
        long = "locustfile",
        env = "LOCUST_LOCUSTFILE",
        default_value = DEFAULT_LOCUSTFILE,
        help_heading = "Common options"
    )]
    pub locustfile: PathBuf,

    /// A protocol plugin to link into the component: a .wasm component or a plugin crate
    /// directory (repeatable; comma-separated in LOCUST_PLUGIN).
    #[arg(
        long = "plugin",
        env = "LOCUST_PLUGIN",
        value_name = "PATH",
        value_delimiter = ',',
        help_heading = "Common options"
    )]
    pub plugin: Vec<PathBuf>,

    /// Config file to read (after ~/.locust.conf and ./locust.conf).
    #[arg(long, env = "LOCUST_CONFIG", help_heading = "Common options")]
    pub config: Option<PathBuf>,

    /// Host to load test, e.g. http://10.21.32.33 (overrides each user class's host).
    #[arg(
        short = 'H',
        long,
        env = "LOCUST_HOST",
        help_heading = "Common options"
    )]
    pub host: Option<String>,

    /// Which of the options a script's own plan may default were given (on the command line,
    /// in the environment or a config file).
    #[arg(skip)]
    #[serde(skip)]
    pub given: Given,

    /// Number of concurrent users.
    #[arg(
        short = 'u',
        long,
        env = "LOCUST_USERS",
        default_value_t = 1,
        help_heading = "Common options"
    )]
    pub users: u64,

    /// Users started per second.
    #[arg(short = 'r', long = "hatch-rate", visible_alias = "spawn-rate", env = "LOCUST_HATCH_RATE",
          default_value = "1", value_parser = crate::run::spawn_rate::parse, help_heading = "Common options")]
    pub hatch_rate: f64,

    /// Stop after this long, e.g. 300s, 20m, 3h, 1h30m (headless only).
    #[arg(short = 't', long = "run-time", env = "LOCUST_RUN_TIME", value_parser = timespan,
          help_heading = "Common options")]
    pub run_time: Option<Duration>,

    /// How long a test-wide hook (init, test_start, test_stop) may run before it is abandoned.
    #[arg(long = "hook-timeout", env = "LOCUST_HOOK_TIMEOUT", default_value = "30s",
          value_parser = positive_timespan, help_heading = "WebAssembly options")]
    pub hook_timeout: Duration,

    /// Run without the web UI; start the test at once.
    #[arg(long, env = "LOCUST_HEADLESS", help_heading = "Common options")]
    pub headless: bool,

    /// Seconds a user may take to finish its current task when the test stops (default: stop at once).
    #[arg(short = 's', long = "stop-timeout", env = "LOCUST_STOP_TIMEOUT", default_value = "0",
          value_parser = timespan, help_heading = "Common options")]
    pub stop_timeout: Duration,

    /// Interface the web UI binds to (default: all).
    #[arg(
        long = "web-host",
        env = "LOCUST_WEB_HOST",
        default_value = "*",
        help_heading = "Web UI options"
    )]
    pub web_host: String,

    /// Port of the web UI.
    #[arg(
        short = 'P',
        long = "web-port",
        env = "LOCUST_WEB_PORT",
        default_value_t = 8089,
        help_heading = "Web UI options"
    )]
    pub web_port: u16,

    /// Basic auth for the web UI, as username:password.
    #[arg(
        long = "web-auth",
        env = "LOCUST_WEB_AUTH",
        help_heading = "Web UI options"
    )]
    pub web_auth: Option<String>,

    /// TLS certificate to serve the web UI over HTTPS.
    #[arg(
        long = "tls-cert",
        env = "LOCUST_TLS_CERT",
        help_heading = "Web UI options"
    )]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key to serve the web UI over HTTPS.
    #[arg(
        long = "tls-key",
        env = "LOCUST_TLS_KEY",
        help_heading = "Web UI options"
    )]
    pub tls_key: Option<PathBuf>,

    /// Run as the master of a distributed test.
    #[arg(long, env = "LOCUST_MODE_MASTER", help_heading = "Master options")]
    pub master: bool,

    /// Interface the master binds to (default: all).
    #[arg(
        long = "master-bind-host",
        env = "LOCUST_MASTER_BIND_HOST",
        default_value = "*",
        help_heading = "Master options"
    )]
    pub master_bind_host: String,

    /// Port the master binds to.
    #[arg(
        long = "master-bind-port",
        env = "LOCUST_MASTER_BIND_PORT",
        default_value_t = 5557,
        help_heading = "Master options"
    )]
    pub master_bind_port: u16,

    /// Workers the master waits for before starting a headless test.
    #[arg(
        long = "expect-workers",
        env = "LOCUST_EXPECT_WORKERS",
        default_value_t = 1,
        help_heading = "Master options"
    )]
    pub expect_workers: u32,

    /// Shared secret between master and workers: the master refuses workers without it.
    #[arg(
        long = "master-token",
        env = "LOCUST_MASTER_TOKEN",
        hide_env_values = true,
        help_heading = "Master options"
    )]
    pub master_token: Option<String>,

    /// TLS certificate (PEM) for the master's worker link.
    #[arg(
        long = "master-tls-cert",
        env = "LOCUST_MASTER_TLS_CERT",
        help_heading = "Master options"
    )]
    pub master_tls_cert: Option<PathBuf>,

    /// TLS private key (PEM) for the master's worker link.
    #[arg(
        long = "master-tls-key",
        env = "LOCUST_MASTER_TLS_KEY",
        help_heading = "Master options"
    )]
    pub master_tls_key: Option<PathBuf>,

    /// Run as a worker of a distributed test.
    #[arg(long, env = "LOCUST_MODE_WORKER", help_heading = "Worker options")]
    pub worker: bool,

    /// Host or IP address of the master.
    #[arg(
        long = "master-host",
        env = "LOCUST_MASTER_NODE_HOST",
        default_value = "127.0.0.1",
        help_heading = "Worker options"
    )]
    pub master_host: String,

    /// Port of the master.
    #[arg(
        long = "master-port",
        env = "LOCUST_MASTER_NODE_PORT",
        default_value_t = 5557,
        help_heading = "Worker options"
    )]
    pub master_port: u16,

    /// CA certificate (PEM) to verify a master that serves TLS; connects over TLS when given.
    #[arg(
        long = "master-tls-ca",
        env = "LOCUST_MASTER_TLS_CA",
        help_heading = "Worker options"
    )]
    pub master_tls_ca: Option<PathBuf>,

    /// Only run tasks with any of these tags.
    #[arg(short = 'T', long, env = "LOCUST_TAGS", num_args = 1.., value_delimiter = ' ',
          help_heading = "Tag options")]
    pub tags: Option<Vec<String>>,

    /// Do not run tasks with any of these tags (wins over --tags).
    #[arg(short = 'E', long = "exclude-tags", env = "LOCUST_EXCLUDE_TAGS", num_args = 1..,
          value_delimiter = ' ', help_heading = "Tag options")]
    pub exclude_tags: Option<Vec<String>>,

    /// Write PREFIX_stats.csv, PREFIX_stats_history.csv and PREFIX_failures.csv every 2 seconds.
    #[arg(
        long = "csv",
        env = "LOCUST_CSV",
        value_name = "CSV_PREFIX",
        help_heading = "Request statistics options"
    )]
    pub csv: Option<PathBuf>,

    /// Add a row per entry (not only the aggregated one) to the history CSV.
    #[arg(
        long = "csv-full-history",
        env = "LOCUST_CSV_FULL_HISTORY",
        help_heading = "Request statistics options"
    )]
    pub csv_full_history: bool,

    /// Print the statistics table every 2 seconds (also with the web UI).
    #[arg(
        long = "print-stats",
        env = "LOCUST_PRINT_STATS",
        help_heading = "Request statistics options"
    )]
    pub print_stats: bool,

    /// Print only the summary at the end, not the table every 2 seconds.
    #[arg(
        long = "only-summary",
        env = "LOCUST_ONLY_SUMMARY",
        help_heading = "Request statistics options"
    )]
    pub only_summary: bool,

    /// Reset the statistics once all users are spawned.
    #[arg(
        long = "reset-stats",
        env = "LOCUST_RESET_STATS",
        help_heading = "Request statistics options"
    )]
    pub reset_stats: bool,

    /// Exit code when the test had failures or user errors.
    #[arg(
        long = "exit-code-on-error",
        env = "LOCUST_EXIT_CODE_ON_ERROR",
        default_value_t = 1,
        help_heading = "Request statistics options"
    )]
    pub exit_code_on_error: u8,

    /// For a script with its own plan (a k6 script): print Locust's tables too, before k6's
    /// end-of-test summary.
    #[arg(
        long = "locust-summary",
        env = "LOCUST_LOCUST_SUMMARY",
        help_heading = "Request statistics options"
    )]
    pub locust_summary: bool,

    /// Log level: DEBUG, INFO, WARNING, ERROR or CRITICAL.
    #[arg(short = 'L', long, env = "LOCUST_LOGLEVEL", default_value = "INFO", value_parser = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "debug", "info", "warning", "error", "critical"],
          help_heading = "Logging options")]
    pub loglevel: String,

    /// Do not set up logging (a Rust program embedding the host sets up its own).
    #[arg(
        long = "skip-log-setup",
        env = "LOCUST_SKIP_LOG_SETUP",
        help_heading = "Logging options"
    )]
    pub skip_log_setup: bool,

    /// Write the log to this file instead of standard error.
    #[arg(long, env = "LOCUST_LOGFILE", help_heading = "Logging options")]
    pub logfile: Option<PathBuf>,

    /// Ramp up in steps of --step-users every --step-time.
    #[arg(
        long = "step-load",
        env = "LOCUST_STEP_LOAD",
        help_heading = "Step load options"
    )]
    pub step_load: bool,

    /// Users added per step.
    #[arg(
        long = "step-users",
        env = "LOCUST_STEP_USERS",
        help_heading = "Step load options"
    )]
    pub step_users: Option<u64>,

    /// Duration of each step, e.g. 300s, 20m, 1h30m.
    #[arg(long = "step-time", env = "LOCUST_STEP_TIME", value_parser = timespan,
          help_heading = "Step load options")]
    pub step_time: Option<Duration>,

    /// Print the task execution ratio of each user class and exit.
    #[arg(long = "show-task-ratio", help_heading = "Other options")]
    pub show_task_ratio: bool,

    /// Print the task execution ratio as JSON and exit.
    #[arg(long = "show-task-ratio-json", help_heading = "Other options")]
    pub show_task_ratio_json: bool,

    /// List the user classes of the component and exit.
    #[arg(short = 'l', long, help_heading = "Other options")]
    pub list: bool,

    /// Write the component -f names (built first if it is a crate or a locustfile, plugins
    /// plugged in) to this file and exit: what `locust serve` takes as an upload.
    #[arg(
        long = "save-component",
        value_name = "FILE",
        help_heading = "WebAssembly options"
    )]
    pub save_component: Option<PathBuf>,

    /// Serve a demo target on 127.0.0.1 (the quick start's routes) and test it, unless --host is given.
    #[arg(long, env = "LOCUST_DEMO", help_heading = "WebAssembly options")]
    pub demo: bool,

    /// Memory limit of each simulated user's instance, in MiB.
    #[arg(long = "user-memory", env = "LOCUST_USER_MEMORY", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=4096), help_heading = "WebAssembly options")]
    pub user_memory: u32,

    /// Most distinct request names (and failures) with rows of their own; the rest share one overflow row.
    #[arg(long = "max-request-names", env = "LOCUST_MAX_REQUEST_NAMES", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..), help_heading = "WebAssembly options")]
    pub max_request_names: u32,

    /// Largest response body a request may read, in MiB, after decompression (default: --user-memory).
    #[arg(long = "max-response-size", env = "LOCUST_MAX_RESPONSE_SIZE",
          value_parser = clap::value_parser!(u32).range(1..=4096), help_heading = "WebAssembly options")]
    pub max_response_size: Option<u32>,

    /// A host guests may reach besides --host and the classes' own hosts: HOST, HOST:PORT,
    /// [IPv6]:PORT, *.DOMAIN, a URL, or * for any (repeatable; comma-separated in LOCUST_ALLOW_HOST).
    #[arg(long = "allow-host", env = "LOCUST_ALLOW_HOST", value_name = "HOST[:PORT]",
          value_delimiter = ',', value_parser = crate::grants::HostRule::parse,
          help_heading = "WebAssembly options")]
    pub allow_host: Vec<crate::grants::HostRule>,

    /// WebAssembly instructions one call into a guest may execute before it is stopped as runaway.
    #[arg(long = "guest-fuel", env = "LOCUST_GUEST_FUEL", default_value_t = 10_000_000_000,
          value_parser = clap::value_parser!(u64).range(1..), help_heading = "WebAssembly options")]
    pub guest_fuel: u64,

    /// Print the options as read from the command line, environment and config files (JSON),
    /// and exit.
    #[arg(long = "dump-options", hide = true)]
    pub dump_options: bool,

    /// User classes to run (all concrete classes if none are given).
    #[arg(value_name = "UserClass")]
    pub user_classes: Vec<String>,
}

/// Users a web UI session can run unless `-u` asks for more.
pub const WEB_CAPACITY: u64 = 10_000;
/// Instances beyond the users: the describe and hooks instances, and a margin.
pub const SPARE_INSTANCES: u64 = 4;

/// Where the users of a run go.
#[derive(Clone, Debug, PartialEq)]
pub enum Role {
    /// In this process.
    Standalone,
    /// On workers, with this process as their master.
    Master(MasterPlan),
    /// This process is a worker of a master.
    Worker(WorkerPlan),
}

/// What the command is asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Run a test.
    Run,
    /// List the user classes (`--list`).
    List,
    /// Print task ratios (`--show-task-ratio`, `--show-task-ratio-json`).
    ShowTaskRatio {
        /// As JSON.
        json: bool,
    },
    /// Write the loaded component to this file (`--save-component`).
    SaveComponent(PathBuf),
}

/// The CSV files of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvPlan {
    /// Files are `{prefix}_stats.csv`, `{prefix}_stats_history.csv`, `{prefix}_failures.csv`.
    pub prefix: PathBuf,
    /// A history row for every entry, not only the aggregated one.
    pub full_history: bool,
}

/// Where and how the web UI is served.
#[derive(Clone, Debug, PartialEq)]
pub struct WebPlan {
    /// Interface (`*` for all).
    pub host: String,
    /// Port (0 picks a free one).
    pub port: u16,
    /// HTTP basic credentials required on every route.
    pub auth: Option<(String, String)>,
    /// Certificate and key files to serve HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Show the step-load fields in the start form.
    pub step_load: bool,
}

/// Which options were set by the person running the test, rather than left at their default:
/// those win over a script's own plan (k6's `options`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Given {
    /// `-u`.
    pub users: bool,
    /// `-t`.
    pub run_time: bool,
    /// `-s`.
    pub stop_timeout: bool,
    /// `-r`.
    pub spawn_rate: bool,
}

/// Step load: add `users` every `time`, up to the total.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepLoad {
    /// Users added per step.
    pub users: u64,
    /// Time per step.
    pub time: Duration,
}

/// A resolved run: what the runner and the console need, and nothing raw.
#[derive(Clone, Debug)]
pub struct RunPlan {
    /// The component.
    pub locustfile: PathBuf,
    /// `--host`.
    pub host: Option<String>,
    /// Users to spawn.
    pub users: u64,
    /// Which of users, run time and stop timeout were given rather than defaulted.
    pub given: Given,
    /// Users per second.
    pub spawn_rate: f64,
    /// Time limit.
    pub run_time: Option<Duration>,
    /// Stop timeout.
    pub stop_timeout: Duration,
    /// How long a test-wide hook may run.
    pub hook_timeout: Duration,
    /// Most distinct request names with rows of their own.
    pub max_request_names: usize,
    /// Tag filter.
    pub tags: Option<Vec<String>>,
    /// Tag exclusions.
    pub exclude_tags: Option<Vec<String>>,
    /// `--allow-host`: the hosts guests may reach besides the run's and the classes' hosts.
    pub allow_hosts: Vec<crate::grants::HostRule>,
    /// `--plugin`: protocol plugins linked into the component.
    pub plugins: Vec<PathBuf>,
    /// Start at once, without the web UI.
    pub headless: bool,
    /// The web UI, when not headless.
    pub web: WebPlan,
    /// Print the table every 2 seconds.
    pub print_stats: bool,
    /// CSV files to write.
    pub csv: Option<CsvPlan>,
    /// Reset the statistics once all users are spawned.
    pub reset_stats: bool,
    /// Ramp up in steps.
    pub step_load: Option<StepLoad>,
    /// Exit code on errors.
    pub exit_code_on_error: u8,
    /// Locust's tables for a script with its own plan, beside k6's summary.
    pub locust_summary: bool,
    /// Serve the demo target.
    pub demo: bool,
    /// What to do.
    pub action: Action,
    /// Classes to run.
    pub user_classes: Vec<String>,
    /// Guest sizes and budgets.
    pub limits: GuestLimits,
    /// Extra CA certificates to trust for HTTPS targets (PEM), from `REQUESTS_CA_BUNDLE` or
    /// `SSL_CERT_FILE`, as Locust's HTTP client honours them.
    pub ca_bundle: Option<PathBuf>,
    /// Values of the options the component declared, by name.
    pub component_options: std::collections::BTreeMap<String, String>,
    /// Standalone, master or worker.
    pub role: Role,
}

impl Options {
    /// Resolve the options into a plan, or say which option is wrong.
    pub fn resolve(self) -> Result<RunPlan, String> {
        let action = if self.show_task_ratio || self.show_task_ratio_json {
            Action::ShowTaskRatio {
                json: self.show_task_ratio_json,
            }
        } else if self.list {
            Action::List
        } else if let Some(path) = &self.save_component {
            Action::SaveComponent(path.clone())
        } else {
            Action::Run
        };
        let auth = match &self.web_auth {
            None => None,
            Some(text) => match text.split_once(':') {
                Some((user, password)) if !user.is_empty() => {
                    Some((user.to_owned(), password.to_owned()))
                }
                _ => {
                    return Err(format!(
                        "--web-auth must be username:password (got \"{text}\")"
                    ));
                }
            },
        };
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key go together".to_owned()),
        };
        let step_load = match (self.step_load, self.step_users, self.step_time) {
            (false, _, _) => None,
            (true, Some(users), Some(time)) if users > 0 && !time.is_zero() => {
                Some(StepLoad { users, time })
            }
            // The web UI asks for the step size and duration in its form.
            (true, _, _) if !self.headless => None,
            (true, _, _) => {
                return Err(
                    "--step-load needs --step-users (a positive number) and --step-time (e.g. 30s)"
                        .to_owned(),
                );
            }
        };
        if let Some(host) = &self.host {
            let parsed = url::Url::parse(host).map_err(|error| {
                format!(
                    "--host must be a URL such as http://127.0.0.1:8080 (got \"{host}\": {error})"
                )
            })?;
            // Any scheme with a host: http(s) for HTTP users, others (redis://) for plugins.
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(format!(
                    "--host must be a URL with a host, such as http://127.0.0.1:8080 (got \"{host}\")"
                ));
            }
        }
        // Headless runs know their user count; from the web UI any count up to the capacity
        // can be asked for, so reserve room for at least WEB_CAPACITY users.
        let capacity = if self.headless {
            self.users
        } else {
            self.users.max(WEB_CAPACITY)
        };
        let max_instances = u32::try_from(capacity.saturating_add(SPARE_INSTANCES))
            .map_err(|_| format!("--users {} is more than this host can run", self.users))?;
        let limits = GuestLimits {
            max_instances,
            memory_bytes: self.user_memory as usize * (1 << 20),
            fuel_per_call: self.guest_fuel,
            max_response_bytes: self.max_response_size.unwrap_or(self.user_memory) as usize
                * (1 << 20),
            fuel_per_second: None,
        };
        let role = self.role(limits)?;
        Ok(RunPlan {
            locustfile: default_locustfile(&self.locustfile),
            host: self.host.map(|host| host.trim_end_matches('/').to_owned()),
            users: self.users,
            given: self.given,
            spawn_rate: self.hatch_rate,
            run_time: self.run_time,
            stop_timeout: self.stop_timeout,
            hook_timeout: self.hook_timeout,
            max_request_names: self.max_request_names as usize,
            tags: self.tags,
            exclude_tags: self.exclude_tags,
            allow_hosts: self.allow_host,
            plugins: self.plugin.clone(),
            headless: self.headless,
            web: WebPlan {
                host: self.web_host.clone(),
                port: self.web_port,
                auth,
                tls,
                step_load: self.step_load,
            },
            print_stats: self.print_stats || (self.headless && !self.only_summary),
            csv: self.csv.map(|prefix| CsvPlan {
                prefix,
                full_history: self.csv_full_history,
            }),
            reset_stats: self.reset_stats,
            step_load,
            exit_code_on_error: self.exit_code_on_error,
            locust_summary: self.locust_summary,
            demo: self.demo,
            action,
            user_classes: self.user_classes,
            limits,
            ca_bundle: ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"]
                .iter()
                .filter_map(std::env::var_os)
                .find(|value| !value.is_empty())
                .map(PathBuf::from),
            component_options: std::collections::BTreeMap::new(),
            role,
        })
    }

    /// Standalone, master or worker, with what each needs.
    fn role(&self, limits: GuestLimits) -> Result<Role, String> {
        let token = self.master_token.clone().filter(|token| !token.is_empty());
        match (self.master, self.worker) {
            (true, true) => Err("--master and --worker exclude each other; pick one".to_owned()),
            (true, false) => {
                let tls = match (&self.master_tls_cert, &self.master_tls_key) {
                    (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
                    (None, None) => None,
                    _ => {
                        return Err("--master-tls-cert and --master-tls-key go together".to_owned());
                    }
                };
                if self.headless && self.expect_workers == 0 {
                    return Err("--expect-workers must be at least 1".to_owned());
                }
                Ok(Role::Master(MasterPlan {
                    bind_host: self.master_bind_host.clone(),
                    bind_port: self.master_bind_port,
                    expect_workers: self.expect_workers,
                    token,
                    tls,
                    worker_limits: limits,
                }))
            }
            (false, true) => {
                // A worker needs no component of its own; one it was given must exist and
                // match the master's.
                let locustfile = if self.locustfile.exists() {
                    Some(self.locustfile.clone())
                } else if self.locustfile != std::path::Path::new(DEFAULT_LOCUSTFILE) {
                    return Err(format!(
                        "{}: no such file or directory; a worker needs no -f (the master sends the component)",
                        self.locustfile.display()
                    ));
                } else {
                    None
                };
                Ok(Role::Worker(WorkerPlan {
                    master_host: self.master_host.clone(),
                    master_port: self.master_port,
                    token,
                    tls_ca: self.master_tls_ca.clone(),
                    locustfile,
                    plugins: self.plugin.clone(),
                    hook_timeout: self.hook_timeout,
                }))
            }
            (false, false) => Ok(Role::Standalone),
        }
    }
}

/// The component `-f` names when it is not given.
pub const DEFAULT_LOCUSTFILE: &str = "locustfile.wasm";
/// What `-f` falls back to when it is not given and `locustfile.wasm` does not exist, as
/// Locust's default `locustfile` finds `locustfile.py`.
pub const DEFAULT_PYTHON_LOCUSTFILE: &str = "locustfile.py";

/// `path`, unless it is the default component and missing while `locustfile.py` is there.
pub fn default_locustfile(path: &std::path::Path) -> PathBuf {
    let python = std::path::Path::new(DEFAULT_PYTHON_LOCUSTFILE);
    if path == std::path::Path::new(DEFAULT_LOCUSTFILE) && !path.exists() && python.is_file() {
        python.to_owned()
    } else {
        path.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, clap::Error> {
        Options::try_parse_from(std::iter::once("locust").chain(args.iter().copied()))
    }

    #[test]
    fn locust_flags_parse() {
        let options = parse(&[
            "-f",
            "x.wasm",
            "--headless",
            "-u",
            "10",
            "-r",
            "2.5",
            "-t",
            "1m30s",
            "--tags",
            "a",
            "b",
            "-E",
            "c",
            "--stop-timeout",
            "5",
            "Web",
            "Mobile",
        ])
        .expect("valid");
        assert_eq!(options.users, 10);
        assert_eq!(options.hatch_rate, 2.5);
        assert_eq!(options.run_time, Some(Duration::from_secs(90)));
        assert_eq!(options.tags, Some(vec!["a".into(), "b".into()]));
        assert_eq!(options.exclude_tags, Some(vec!["c".into()]));
        assert_eq!(options.stop_timeout, Duration::from_secs(5));
        assert_eq!(options.user_classes, ["Web", "Mobile"]);
        assert!(parse(&["--spawn-rate", "3"]).is_ok());
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&["-u", "ten"]).is_err());
        assert!(parse(&["-r", "0"]).is_err());
        assert!(parse(&["-t", "soon"]).is_err());
        // Any scheme is a host (plugins speak redis:// and ws://), but a URL needs a host.
        let plan = parse(&["--headless", "--host", "localhost:8080"])
            .expect("parses")
            .resolve();
        assert!(plan.expect_err("no host").contains("a URL with a host"));
        assert!(
            parse(&["--host", "redis://127.0.0.1:6379"])
                .expect("parses")
                .resolve()
                .is_ok()
        );
        let plan = parse(&["--web-auth", "nocolon"]).expect("parses").resolve();
        assert!(plan.expect_err("bad auth").contains("username:password"));
        let plan = parse(&["--tls-cert", "c.pem"]).expect("parses").resolve();
        assert!(plan.expect_err("half tls").contains("go together"));
    }
}
