//! Logging on `tracing`, in Locust's format (`[time] host/LEVEL/locust.main: message`), to
//! standard error or `--logfile`. Targets are named as Locust's loggers: `locust.main`,
//! `locust.runners`, `locust.user` (guest `log` calls, with the user class). The statistics
//! tables are printed, not logged, so they never land in the log file.

use std::fmt;
use std::fs::OpenOptions;
use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::Mutex;

use time::macros::format_description;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, UtcTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

type Timer = UtcTime<&'static [time::format_description::FormatItem<'static>]>;

/// Locust's log line layout.
struct LocustFormat {
    timer: Timer,
    hostname: String,
}

impl<S, N> FormatEvent<S, N> for LocustFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "[")?;
        self.timer.format_time(&mut writer)?;
        let metadata = event.metadata();
        let level = match *metadata.level() {
            Level::ERROR => "ERROR",
            Level::WARN => "WARNING",
            Level::INFO => "INFO",
            Level::DEBUG | Level::TRACE => "DEBUG",
        };
        write!(
            writer,
            "] {}/{level}/{}: ",
            self.hostname,
            metadata.target()
        )?;
        context
            .field_format()
            .format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The filter for Locust's level names: our targets at `level`, dependencies only when they warn.
fn filter(level: &str) -> EnvFilter {
    let level = match level.to_ascii_uppercase().as_str() {
        "DEBUG" => "debug",
        "WARNING" => "warn",
        "ERROR" | "CRITICAL" => "error",
        _ => "info",
    };
    EnvFilter::new(format!("warn,locust={level}"))
}

/// Install the global subscriber: `level` is a Locust level name; `logfile` replaces stderr.
pub fn init(level: &str, logfile: Option<&Path>) -> Result<(), String> {
    let format = LocustFormat {
        timer: UtcTime::new(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second],[subsecond digits:3]"
        )),
        hostname: hostname(),
    };
    let layer = tracing_subscriber::fmt::layer().event_format(format);
    let registry = tracing_subscriber::registry().with(filter(level));
    let result = match logfile {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|error| {
                    format!("could not open the log file {}: {error}", path.display())
                })?;
            registry
                .with(layer.with_writer(Mutex::new(file)).with_ansi(false))
                .try_init()
        }
        None => registry
            .with(
                layer
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::stderr().is_terminal()),
            )
            .try_init(),
    };
    result.map_err(|error| format!("could not set up logging: {error}"))
}
