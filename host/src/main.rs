//! The `locust` command: read options (command line, `LOCUST_*` environment, config files, and
//! the options the component declares), set up logging, run, and turn every failure into one
//! line on stderr and a non-zero exit code.

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use locust::config::{OptionsError, component_hint, parse_options_with};
use locust::events::Events;

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(1)
}

/// A clap error as one line: its message and what it lists (missing arguments), without the
/// usage and tips that follow.
fn one_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let message: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|line| !line.is_empty() && !line.starts_with("Usage:"))
        .collect();
    if message.is_empty() {
        "error: invalid arguments".to_owned()
    } else {
        message.join(" ")
    }
}

/// How a command line clap could not take ends: help and version printed (exit 0), a mistake
/// as one line pointing at `{command} --help` (exit 1).
fn clap_exit(error: &clap::Error, command: &str) -> ExitCode {
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    eprintln!("{} (see {command} --help)", one_line(error));
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(format_args!("could not start the async runtime: {error}")),
    };
    let code = run(&runtime);
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

fn run(runtime: &tokio::runtime::Runtime) -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|arg| arg == "serve") {
        return serve(runtime, &args);
    }
    // The component and its plugins may declare options of their own: read them before
    // parsing.
    let specs = runtime.block_on(locust::headless::component_options(&component_hint(&args)));
    let (options, component_options) = match parse_options_with(&args, &specs) {
        Ok(parsed) => parsed,
        Err(OptionsError::Clap(error)) => return clap_exit(&error, "locust"),
        Err(error) => return fail(error),
    };
    if options.dump_options {
        let mut json = match serde_json::to_value(&options) {
            Ok(json) => json,
            Err(error) => return fail(error),
        };
        json["component_options"] = serde_json::json!(component_options);
        println!("{json}");
        return ExitCode::SUCCESS;
    }
    let logging = match options.skip_log_setup {
        true => Ok(()),
        false => locust::logging::init(&options.loglevel, options.logfile.as_deref()),
    };
    if let Err(message) = logging {
        return fail(message);
    }
    let mut plan = match options.resolve() {
        Ok(plan) => plan,
        Err(message) => return fail(message),
    };
    plan.component_options = component_options;
    match runtime.block_on(locust::headless::run(plan, Events::new())) {
        Ok(code) => ExitCode::from(code),
        Err(error) => fail(format_args!("{error:#}")),
    }
}

/// `locust serve ...`: the shared service.
fn serve(runtime: &tokio::runtime::Runtime, args: &[OsString]) -> ExitCode {
    use clap::Parser as _;
    let options = match locust::serve::ServeOptions::try_parse_from(
        std::iter::once(OsString::from("locust serve")).chain(args.iter().skip(2).cloned()),
    ) {
        Ok(options) => options,
        Err(error) => return clap_exit(&error, "locust serve"),
    };
    if let Err(message) = locust::logging::init(&options.loglevel, options.logfile.as_deref()) {
        return fail(message);
    }
    match runtime.block_on(locust::serve::run(options)) {
        Ok(code) => ExitCode::from(code),
        Err(error) => fail(format_args!("{error:#}")),
    }
}
