//! The `locust` command: read options (command line, `LOCUST_*` environment, config files),
//! set up logging, run, and turn every failure into one line on stderr and a non-zero exit
//! code.

use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use locust::config::{OptionsError, parse_options};
use locust::events::Events;

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let options = match parse_options(std::env::args_os()) {
        Ok(options) => options,
        Err(OptionsError::Clap(error))
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(OptionsError::Clap(error)) => {
            let rendered = error.render().to_string();
            let line = rendered
                .lines()
                .next()
                .unwrap_or("error: invalid arguments");
            eprintln!("{line} (see locust --help)");
            return ExitCode::from(1);
        }
        Err(OptionsError::File(error)) => return fail(error),
    };
    if options.dump_options {
        return match serde_json::to_string(&options) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(error) => fail(error),
        };
    }
    let logging = match options.skip_log_setup {
        true => Ok(()),
        false => locust::logging::init(&options.loglevel, options.logfile.as_deref()),
    };
    if let Err(message) = logging {
        return fail(message);
    }
    let plan = match options.resolve() {
        Ok(plan) => plan,
        Err(message) => return fail(message),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(format_args!("could not start the async runtime: {error}")),
    };
    let result = runtime.block_on(locust::headless::run(plan, Events::new()));
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => fail(format_args!("{error:#}")),
    }
}
