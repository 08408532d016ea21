//! The command line: one clap definition per option, with its `LOCUST_*` environment variable
//! and default, named as in Locust 1.0. [`Options::resolve`] turns raw options into a
//! [`RunPlan`] once; nothing else reads raw options.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::component::GuestLimits;
use crate::timespan::parse_timespan;

fn timespan(text: &str) -> Result<Duration, String> {
    parse_timespan(text)
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(rate),
        _ => Err(format!(
            "must be a positive number of users per second (got \"{text}\")"
        )),
    }
}

/// Locust's model and interface with users written as WebAssembly components.
#[derive(Debug, Parser)]
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
        default_value = "locustfile.wasm",
        help_heading = "Common options"
    )]
    pub locustfile: PathBuf,

    /// Host to load test, e.g. http://10.21.32.33 (overrides each user class's host).
    #[arg(
        short = 'H',
        long,
        env = "LOCUST_HOST",
        help_heading = "Common options"
    )]
    pub host: Option<String>,

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
          default_value = "1", value_parser = positive_rate, help_heading = "Common options")]
    pub hatch_rate: f64,

    /// Stop after this long, e.g. 300s, 20m, 3h, 1h30m (headless only).
    #[arg(short = 't', long = "run-time", env = "LOCUST_RUN_TIME", value_parser = timespan,
          help_heading = "Common options")]
    pub run_time: Option<Duration>,

    /// Run without the web UI; start the test at once.
    #[arg(long, env = "LOCUST_HEADLESS", help_heading = "Common options")]
    pub headless: bool,

    /// Seconds a user may take to finish its current task when the test stops (default: stop at once).
    #[arg(short = 's', long = "stop-timeout", env = "LOCUST_STOP_TIMEOUT", default_value = "0",
          value_parser = timespan, help_heading = "Common options")]
    pub stop_timeout: Duration,

    /// Only run tasks with any of these tags.
    #[arg(short = 'T', long, env = "LOCUST_TAGS", num_args = 1.., value_delimiter = ' ',
          help_heading = "Tag options")]
    pub tags: Option<Vec<String>>,

    /// Do not run tasks with any of these tags (wins over --tags).
    #[arg(short = 'E', long = "exclude-tags", env = "LOCUST_EXCLUDE_TAGS", num_args = 1..,
          value_delimiter = ' ', help_heading = "Tag options")]
    pub exclude_tags: Option<Vec<String>>,

    /// Print only the summary at the end, not the table every 2 seconds.
    #[arg(
        long = "only-summary",
        env = "LOCUST_ONLY_SUMMARY",
        help_heading = "Request statistics options"
    )]
    pub only_summary: bool,

    /// Exit code when the test had failures or user errors.
    #[arg(
        long = "exit-code-on-error",
        env = "LOCUST_EXIT_CODE_ON_ERROR",
        default_value_t = 1,
        help_heading = "Request statistics options"
    )]
    pub exit_code_on_error: u8,

    /// Log level: DEBUG, INFO, WARNING, ERROR or CRITICAL.
    #[arg(short = 'L', long, env = "LOCUST_LOGLEVEL", default_value = "INFO", value_parser = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "debug", "info", "warning", "error", "critical"],
          help_heading = "Logging options")]
    pub loglevel: String,

    /// List the user classes of the component and exit.
    #[arg(short = 'l', long, help_heading = "Other options")]
    pub list: bool,

    /// Serve a demo target on 127.0.0.1 (the quick start's routes) and test it, unless --host is given.
    #[arg(long, env = "LOCUST_DEMO", help_heading = "WebAssembly options")]
    pub demo: bool,

    /// Memory limit of each simulated user's instance, in MiB.
    #[arg(long = "user-memory", env = "LOCUST_USER_MEMORY", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=4096), help_heading = "WebAssembly options")]
    pub user_memory: u32,

    /// WebAssembly instructions one call into a guest may execute before it is stopped as runaway.
    #[arg(long = "guest-fuel", env = "LOCUST_GUEST_FUEL", default_value_t = 10_000_000_000,
          value_parser = clap::value_parser!(u64).range(1..), help_heading = "WebAssembly options")]
    pub guest_fuel: u64,

    /// User classes to run (all concrete classes if none are given).
    #[arg(value_name = "UserClass")]
    pub user_classes: Vec<String>,
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
    /// Users per second.
    pub spawn_rate: f64,
    /// Time limit.
    pub run_time: Option<Duration>,
    /// Stop timeout.
    pub stop_timeout: Duration,
    /// Tag filter.
    pub tags: Option<Vec<String>>,
    /// Tag exclusions.
    pub exclude_tags: Option<Vec<String>>,
    /// Print only the end summary.
    pub only_summary: bool,
    /// Exit code on errors.
    pub exit_code_on_error: u8,
    /// Serve the demo target.
    pub demo: bool,
    /// Only list classes.
    pub list: bool,
    /// Classes to run.
    pub user_classes: Vec<String>,
    /// Guest sizes and budgets.
    pub limits: GuestLimits,
    /// Extra CA certificates to trust for HTTPS targets (PEM), from `REQUESTS_CA_BUNDLE` or
    /// `SSL_CERT_FILE`, as Locust's HTTP client honours them.
    pub ca_bundle: Option<PathBuf>,
}

impl Options {
    /// Resolve the options into a plan, or say which option is wrong.
    pub fn resolve(self) -> Result<RunPlan, String> {
        if !self.headless && !self.list {
            return Err(
                "the web UI is not available in this version yet; add --headless (with -u, -r and -t) to run from the command line"
                    .to_owned(),
            );
        }
        if let Some(host) = &self.host {
            let parsed = url::Url::parse(host).map_err(|error| {
                format!(
                    "--host must be a URL such as http://127.0.0.1:8080 (got \"{host}\": {error})"
                )
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(format!(
                    "--host must start with http:// or https:// (got \"{host}\")"
                ));
            }
        }
        let max_instances = u32::try_from(self.users.saturating_add(4))
            .map_err(|_| format!("--users {} is more than this host can run", self.users))?;
        Ok(RunPlan {
            locustfile: self.locustfile,
            host: self.host.map(|host| host.trim_end_matches('/').to_owned()),
            users: self.users,
            spawn_rate: self.hatch_rate,
            run_time: self.run_time,
            stop_timeout: self.stop_timeout,
            tags: self.tags,
            exclude_tags: self.exclude_tags,
            only_summary: self.only_summary,
            exit_code_on_error: self.exit_code_on_error,
            demo: self.demo,
            list: self.list,
            user_classes: self.user_classes,
            limits: GuestLimits {
                max_instances,
                memory_bytes: self.user_memory as usize * (1 << 20),
                fuel_per_call: self.guest_fuel,
            },
            ca_bundle: ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"]
                .iter()
                .filter_map(std::env::var_os)
                .find(|value| !value.is_empty())
                .map(PathBuf::from),
        })
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
        let plan = parse(&["--headless", "--host", "ftp://x"])
            .expect("parses")
            .resolve();
        assert!(plan.is_err());
        let plan = parse(&["-u", "1"]).expect("parses").resolve();
        assert!(plan.expect_err("needs headless").contains("--headless"));
    }
}
