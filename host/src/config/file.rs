//! Config files (`~/.locust.conf`, `./locust.conf`, `--config FILE`) in Locust's `key = value`
//! format. Keys are the long option names; booleans are `true`/`false`; lists are
//! space-separated. Settings become command-line arguments placed *before* the real ones, and
//! only for options that neither the command line nor the environment set, which gives
//! Locust's precedence: command line > environment > config file (later files win).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use std::collections::BTreeMap;

use clap::{Arg, ArgAction, Command, CommandFactory, FromArgMatches};

use crate::component::OptionSpec;

use super::Options;

/// A config file problem, naming the file, the line and the key.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{file}:{line}: {message}")]
pub struct ConfigFileError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line number (0 when the file itself could not be read).
    pub line: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// One `key = value` line.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    /// Where it came from.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// The option's long name.
    pub key: String,
    /// The raw value.
    pub value: String,
}

/// Parse the text of a config file.
pub fn parse_config(file: &Path, text: &str) -> Result<Vec<Setting>, ConfigFileError> {
    let mut settings = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with(';')
            || line.starts_with('[')
        {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(ConfigFileError {
                file: file.to_owned(),
                line: index + 1,
                message: format!("expected `key = value`, got `{line}`"),
            });
        };
        settings.push(Setting {
            file: file.to_owned(),
            line: index + 1,
            key: key.trim().trim_start_matches("--").to_owned(),
            value: value.trim().trim_matches('"').to_owned(),
        });
    }
    Ok(settings)
}

/// The config files that apply, in increasing priority, with their settings.
fn read_files(explicit: Option<&Path>) -> Result<Vec<Setting>, ConfigFileError> {
    let mut files: Vec<(PathBuf, bool)> = Vec::new();
    if let Some(home) = std::env::var_os("HOME") {
        files.push((Path::new(&home).join(".locust.conf"), false));
    }
    files.push((PathBuf::from("locust.conf"), false));
    if let Some(path) = explicit {
        files.push((path.to_owned(), true));
    }
    let mut settings = Vec::new();
    for (file, required) in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => settings.extend(parse_config(&file, &text)?),
            Err(error) if required || error.kind() != std::io::ErrorKind::NotFound => {
                return Err(ConfigFileError {
                    file,
                    line: 0,
                    message: format!("could not read the config file: {error}"),
                });
            }
            Err(_) => {}
        }
    }
    Ok(settings)
}

/// Turn settings into arguments for the options the command line and environment left unset.
fn settings_to_args(
    settings: &[Setting],
    matches: &clap::ArgMatches,
    command: &Command,
) -> Result<Vec<OsString>, ConfigFileError> {
    let mut args: Vec<OsString> = Vec::new();
    for setting in settings {
        let error = |message: String| ConfigFileError {
            file: setting.file.clone(),
            line: setting.line,
            message,
        };
        let Some(arg) = command
            .get_arguments()
            .find(|arg| arg.get_long() == Some(setting.key.as_str()))
            .filter(|arg| !matches!(arg.get_long(), Some("config" | "help" | "version")))
        else {
            return Err(error(format!(
                "unknown option {} (keys are long option names, see locust --help)",
                setting.key
            )));
        };
        if matches!(
            matches.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let flag = format!("--{}", setting.key);
        let mut these: Vec<OsString> = Vec::new();
        match arg.get_action() {
            ArgAction::SetTrue => match setting.value.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => these.push(flag.into()),
                "false" | "no" | "0" => {}
                _ => {
                    return Err(error(format!(
                        "{} must be true or false (got \"{}\")",
                        setting.key, setting.value
                    )));
                }
            },
            _ if arg
                .get_num_args()
                .is_some_and(|range| range.max_values() > 1) =>
            {
                these.push(flag.into());
                these.extend(setting.value.split_whitespace().map(OsString::from));
            }
            // A repeatable option: one value per word or comma.
            ArgAction::Append => {
                for value in setting
                    .value
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|value| !value.is_empty())
                {
                    these.push(flag.clone().into());
                    these.push(value.into());
                }
            }
            // A component's flag takes its value after `=` only.
            _ if arg.is_require_equals_set() => {
                these.push(format!("{flag}={}", setting.value).into());
            }
            _ => {
                these.push(flag.into());
                these.push(setting.value.clone().into());
            }
        }
        // Check the value on its own so that the error names this line.
        let mut alone: Vec<OsString> = vec!["locust".into()];
        alone.extend(these.iter().cloned());
        if let Err(clap_error) = command.clone().try_get_matches_from(alone) {
            let rendered = clap_error.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid value");
            return Err(error(format!(
                "{}: {}",
                setting.key,
                first.trim_start_matches("error: ")
            )));
        }
        args.extend(these);
    }
    Ok(args)
}

/// Why the options could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// The command line or environment is wrong (or help/version was asked for).
    #[error(transparent)]
    Clap(#[from] clap::Error),
    /// A config file is wrong.
    #[error(transparent)]
    File(#[from] ConfigFileError),
    /// The component declares an unusable option.
    #[error("{0}")]
    Component(String),
}

/// The clap id of a component option.
fn component_id(name: &str) -> String {
    format!("component:{name}")
}

/// The command line: our options plus the component's, under their own heading.
pub fn command_with(specs: &[OptionSpec]) -> Result<Command, String> {
    let mut command = Options::command();
    for spec in specs {
        if !crate::component::is_kebab_case(&spec.name) {
            return Err(format!(
                "the component declares an option named \"{}\"; option names are lower-case letters, digits and dashes",
                spec.name
            ));
        }
        if command
            .get_arguments()
            .any(|arg| arg.get_long() == Some(spec.name.as_str()))
        {
            return Err(format!(
                "the component declares --{}, which is already a locust option; rename it",
                spec.name
            ));
        }
        let env = format!(
            "LOCUST_{}",
            spec.name.to_ascii_uppercase().replace('-', "_")
        );
        let mut arg = Arg::new(component_id(&spec.name))
            .long(spec.name.clone())
            .value_name(spec.name.to_ascii_uppercase().replace('-', "_"))
            .env(env)
            .help(spec.help.clone())
            .help_heading("Component options")
            .action(ArgAction::Set);
        if let Some(default) = &spec.default {
            arg = arg.default_value(default.clone());
        }
        // An option whose default is `true` or `false` is a flag, as Locust's `store_true`:
        // `--x` alone is true, `--x=false` says so; `--x false` would take `false` for a class.
        if matches!(spec.default.as_deref(), Some("true" | "false")) {
            arg = arg
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("true")
                .value_parser(["true", "false"]);
        }
        command = command.arg(arg);
    }
    Ok(command)
}

/// The component and plugins the command line, environment or config files name (`-f`,
/// `--plugin`), looked up before the options are parsed so that their own options can be added.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ComponentHint {
    /// The component.
    pub locustfile: PathBuf,
    /// The plugins to link into it.
    pub plugins: Vec<PathBuf>,
}

/// The [`ComponentHint`] of `args` (program name first), with Locust's precedence: the
/// command line, then `LOCUST_*`, then the config files.
pub fn component_hint(args: &[OsString]) -> ComponentHint {
    let text: Vec<String> = args
        .iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let mut found = None;
    let mut config = None;
    let mut plugins = Vec::new();
    for (index, arg) in text.iter().enumerate() {
        let next = || text.get(index + 1).cloned();
        if arg == "-f" || arg == "--locustfile" {
            found = next().or(found);
        } else if let Some(value) = arg.strip_prefix("--locustfile=") {
            found = Some(value.to_owned());
        } else if let Some(value) = arg.strip_prefix("-f").filter(|value| !value.is_empty()) {
            found = Some(value.to_owned());
        } else if arg == "--config" {
            config = next().or(config);
        } else if let Some(value) = arg.strip_prefix("--config=") {
            config = Some(value.to_owned());
        } else if arg == "--plugin" {
            plugins.extend(next());
        } else if let Some(value) = arg.strip_prefix("--plugin=") {
            plugins.push(value.to_owned());
        }
    }
    let config = config
        .or_else(|| std::env::var("LOCUST_CONFIG").ok())
        .map(PathBuf::from);
    let settings = || read_files(config.as_deref()).unwrap_or_default();
    let listed = |text: &str| -> Vec<PathBuf> {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|path| !path.is_empty())
            .map(PathBuf::from)
            .collect()
    };
    let plugins = if !plugins.is_empty() {
        plugins.iter().flat_map(|value| listed(value)).collect()
    } else if let Ok(value) = std::env::var("LOCUST_PLUGIN") {
        listed(&value)
    } else {
        settings()
            .into_iter()
            .filter(|setting| setting.key == "plugin")
            .flat_map(|setting| listed(&setting.value))
            .collect()
    };
    let locustfile = match found.or_else(|| std::env::var("LOCUST_LOCUSTFILE").ok()) {
        Some(path) => PathBuf::from(path),
        None => settings()
            .into_iter()
            .rev()
            .find(|setting| setting.key == "locustfile")
            .map(|setting| PathBuf::from(setting.value))
            .unwrap_or_else(|| super::default_locustfile(Path::new(super::DEFAULT_LOCUSTFILE))),
    };
    ComponentHint {
        locustfile,
        plugins,
    }
}

/// Parse options from `args` (program name first), the `LOCUST_*` environment and the config
/// files, with Locust's precedence.
pub fn parse_options<I, T>(args: I) -> Result<Options, OptionsError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    parse_options_with(&args, &[]).map(|(options, _)| options)
}

/// [`parse_options`] with the options a component declared; returns their values too.
pub fn parse_options_with(
    args: &[OsString],
    specs: &[OptionSpec],
) -> Result<(Options, BTreeMap<String, String>), OptionsError> {
    let command = command_with(specs).map_err(OptionsError::Component)?;
    let matches = command.clone().try_get_matches_from(args)?;
    let explicit: Option<PathBuf> = matches.get_one::<PathBuf>("config").cloned();
    let settings = read_files(explicit.as_deref())?;
    let matches = if settings.is_empty() {
        matches
    } else {
        let mut merged: Vec<OsString> =
            vec![args.first().cloned().unwrap_or_else(|| "locust".into())];
        merged.extend(settings_to_args(&settings, &matches, &command)?);
        merged.extend(args.iter().skip(1).cloned());
        command.try_get_matches_from(merged)?
    };
    let values = specs
        .iter()
        .filter_map(|spec| {
            matches
                .get_one::<String>(&component_id(&spec.name))
                .map(|value| (spec.name.clone(), value.clone()))
        })
        .collect();
    let mut options = Options::from_arg_matches(&matches)?;
    let given = |id: &str| {
        !matches!(
            matches.value_source(id),
            None | Some(ValueSource::DefaultValue)
        )
    };
    options.given = super::Given {
        users: given("users"),
        run_time: given("run_time"),
        stop_timeout: given("stop_timeout"),
        spawn_rate: given("hatch_rate"),
    };
    Ok((options, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_options_defaulting_to_a_boolean_are_flags() {
        let specs = [
            OptionSpec {
                name: "verbose".to_owned(),
                default: Some("false".to_owned()),
                help: String::new(),
            },
            OptionSpec {
                name: "pages".to_owned(),
                default: Some("2".to_owned()),
                help: String::new(),
            },
        ];
        let parse = |args: &[&str]| {
            let args: Vec<OsString> = args.iter().map(OsString::from).collect();
            parse_options_with(&args, &specs)
                .map(|(options, values)| (options.user_classes, values))
        };
        let (classes, values) = parse(&["locust", "--verbose", "Web"]).expect("parses");
        assert_eq!(
            (classes, values["verbose"].as_str()),
            (vec!["Web".to_owned()], "true")
        );
        let (_, values) = parse(&["locust", "--verbose=false"]).expect("parses");
        assert_eq!(values["verbose"], "false");
        let (_, values) = parse(&["locust"]).expect("parses");
        assert_eq!(
            (values["verbose"].as_str(), values["pages"].as_str()),
            ("false", "2")
        );
        assert!(parse(&["locust", "--verbose=maybe"]).is_err());
        let (_, values) = parse(&["locust", "--pages", "5"]).expect("parses");
        assert_eq!(values["pages"], "5");
        // From a config file, the flag's value goes after `=`.
        let command = command_with(&specs).expect("command");
        let matches = command
            .clone()
            .try_get_matches_from(["locust"])
            .expect("parses");
        let settings = [Setting {
            file: PathBuf::from("locust.conf"),
            line: 1,
            key: "verbose".to_owned(),
            value: "true".to_owned(),
        }];
        let args = settings_to_args(&settings, &matches, &command).expect("valid");
        assert_eq!(args, [OsString::from("--verbose=true")]);
    }

    #[test]
    fn parses_key_value_lines() {
        let text =
            "# comment\n[locust]\nusers = 10\n hatch-rate=2\n\ntags = a b\nheadless = true\n";
        let settings = parse_config(Path::new("x.conf"), text).expect("valid");
        let pairs: Vec<(&str, &str, usize)> = settings
            .iter()
            .map(|s| (s.key.as_str(), s.value.as_str(), s.line))
            .collect();
        assert_eq!(
            pairs,
            [
                ("users", "10", 3),
                ("hatch-rate", "2", 4),
                ("tags", "a b", 6),
                ("headless", "true", 7)
            ]
        );
        let error = parse_config(Path::new("x.conf"), "users 10").expect_err("no =");
        assert_eq!(
            error.to_string(),
            "x.conf:1: expected `key = value`, got `users 10`"
        );
    }
}
