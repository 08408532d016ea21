//! Every option of Locust 1.0.2's table (section 3.1.4 of its documentation) is accepted from
//! the command line, the environment and a config file, with the precedence command line >
//! environment > config file. Config file mistakes name the file, the line and the key.

use serde_json::Value;

use crate::harness::locust_in;

/// How an option's values look.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Integer,
    Float,
    Seconds,
    Flag,
    List,
    Level,
}

/// The documented table: command line, environment variable, config file key.
const TABLE: &[(&str, &str, &str, Kind)] = &[
    (
        "--locustfile",
        "LOCUST_LOCUSTFILE",
        "locustfile",
        Kind::Text,
    ),
    ("--host", "LOCUST_HOST", "host", Kind::Text),
    ("--users", "LOCUST_USERS", "users", Kind::Integer),
    (
        "--hatch-rate",
        "LOCUST_HATCH_RATE",
        "hatch-rate",
        Kind::Float,
    ),
    ("--run-time", "LOCUST_RUN_TIME", "run-time", Kind::Seconds),
    ("--web-host", "LOCUST_WEB_HOST", "web-host", Kind::Text),
    ("--web-port", "LOCUST_WEB_PORT", "web-port", Kind::Integer),
    ("--headless", "LOCUST_HEADLESS", "headless", Kind::Flag),
    ("--web-auth", "LOCUST_WEB_AUTH", "web-auth", Kind::Text),
    ("--tls-cert", "LOCUST_TLS_CERT", "tls-cert", Kind::Text),
    ("--tls-key", "LOCUST_TLS_KEY", "tls-key", Kind::Text),
    ("--master", "LOCUST_MODE_MASTER", "master", Kind::Flag),
    (
        "--master-bind-host",
        "LOCUST_MASTER_BIND_HOST",
        "master-bind-host",
        Kind::Text,
    ),
    (
        "--master-bind-port",
        "LOCUST_MASTER_BIND_PORT",
        "master-bind-port",
        Kind::Integer,
    ),
    (
        "--expect-workers",
        "LOCUST_EXPECT_WORKERS",
        "expect-workers",
        Kind::Integer,
    ),
    ("--worker", "LOCUST_MODE_WORKER", "worker", Kind::Flag),
    (
        "--master-host",
        "LOCUST_MASTER_NODE_HOST",
        "master-host",
        Kind::Text,
    ),
    (
        "--master-port",
        "LOCUST_MASTER_NODE_PORT",
        "master-port",
        Kind::Integer,
    ),
    ("--tags", "LOCUST_TAGS", "tags", Kind::List),
    (
        "--exclude-tags",
        "LOCUST_EXCLUDE_TAGS",
        "exclude-tags",
        Kind::List,
    ),
    ("--csv", "LOCUST_CSV", "csv", Kind::Text),
    (
        "--csv-full-history",
        "LOCUST_CSV_FULL_HISTORY",
        "csv-full-history",
        Kind::Flag,
    ),
    (
        "--print-stats",
        "LOCUST_PRINT_STATS",
        "print-stats",
        Kind::Flag,
    ),
    (
        "--only-summary",
        "LOCUST_ONLY_SUMMARY",
        "only-summary",
        Kind::Flag,
    ),
    (
        "--reset-stats",
        "LOCUST_RESET_STATS",
        "reset-stats",
        Kind::Flag,
    ),
    (
        "--skip-log-setup",
        "LOCUST_SKIP_LOG_SETUP",
        "skip-log-setup",
        Kind::Flag,
    ),
    ("--loglevel", "LOCUST_LOGLEVEL", "loglevel", Kind::Level),
    ("--logfile", "LOCUST_LOGFILE", "logfile", Kind::Text),
    ("--step-load", "LOCUST_STEP_LOAD", "step-load", Kind::Flag),
    (
        "--step-users",
        "LOCUST_STEP_USERS",
        "step-users",
        Kind::Integer,
    ),
    (
        "--step-time",
        "LOCUST_STEP_TIME",
        "step-time",
        Kind::Seconds,
    ),
    (
        "--exit-code-on-error",
        "LOCUST_EXIT_CODE_ON_ERROR",
        "exit-code-on-error",
        Kind::Integer,
    ),
    (
        "--stop-timeout",
        "LOCUST_STOP_TIMEOUT",
        "stop-timeout",
        Kind::Seconds,
    ),
];

/// Which source a value comes from: 0 config file, 1 environment, 2 command line.
fn sample(kind: Kind, source: usize) -> (String, Value) {
    let n = source as u64 + 1;
    match kind {
        Kind::Text => (format!("value{n}"), Value::from(format!("value{n}"))),
        Kind::Integer => (format!("{}", n + 10), Value::from(n + 10)),
        Kind::Float => (format!("{n}.5"), Value::from(n as f64 + 0.5)),
        Kind::Seconds => (
            format!("{n}m"),
            serde_json::json!({"secs": n * 60, "nanos": 0}),
        ),
        // A flag can only be switched on from the command line; the environment says false.
        Kind::Flag => match source {
            1 => ("false".to_owned(), Value::from(false)),
            _ => ("true".to_owned(), Value::from(true)),
        },
        Kind::List => (
            format!("t{n} u{n}"),
            serde_json::json!([format!("t{n}"), format!("u{n}")]),
        ),
        Kind::Level => {
            let level = ["DEBUG", "WARNING", "ERROR"][source];
            (level.to_owned(), Value::from(level))
        }
    }
}

fn field(key: &str) -> String {
    key.replace('-', "_")
}

fn config_text(source: usize) -> String {
    TABLE
        .iter()
        .map(|(_, _, key, kind)| format!("{key} = {}\n", sample(*kind, source).0))
        .collect()
}

fn env_pairs() -> Vec<(String, String)> {
    TABLE
        .iter()
        .map(|(_, env, _, kind)| (env.to_string(), sample(*kind, 1).0))
        .collect()
}

fn cli_args() -> Vec<String> {
    let mut args = Vec::new();
    for (flag, _, _, kind) in TABLE {
        let (value, _) = sample(*kind, 2);
        match kind {
            Kind::Flag => args.push(flag.to_string()),
            Kind::List => {
                args.push(flag.to_string());
                args.extend(value.split(' ').map(str::to_owned));
            }
            _ => {
                args.push(flag.to_string());
                args.push(value);
            }
        }
    }
    args
}

async fn dump(dir: &std::path::Path, args: &[String], env: &[(String, String)]) -> Value {
    let mut all: Vec<&str> = vec!["--dump-options"];
    all.extend(args.iter().map(String::as_str));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = locust_in(dir, &all, &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {}", run.stdout))
}

fn check(options: &Value, source: usize) {
    for (flag, _, key, kind) in TABLE {
        let (_, expected) = sample(*kind, source);
        assert_eq!(options[field(key)], expected, "{flag} from source {source}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_option_from_every_source_with_locust_precedence() {
    let dir = tempfile::tempdir().expect("dir");
    let home = [(
        "HOME".to_owned(),
        dir.path().join("home").to_string_lossy().into_owned(),
    )];
    std::fs::write(dir.path().join("locust.conf"), config_text(0)).expect("config");

    // Config file alone.
    check(&dump(dir.path(), &[], &home).await, 0);
    // The environment wins over the file.
    let mut env = env_pairs();
    env.extend(home.iter().cloned());
    check(&dump(dir.path(), &[], &env).await, 1);
    // The command line wins over both.
    check(&dump(dir.path(), &cli_args(), &env).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn config_files_stack_home_then_local_then_explicit() {
    let dir = tempfile::tempdir().expect("dir");
    let home = dir.path().join("home");
    std::fs::create_dir(&home).expect("home");
    std::fs::write(
        home.join(".locust.conf"),
        "users = 1\nhost = http://home\nrun-time = 1m\n",
    )
    .expect("home conf");
    std::fs::write(
        dir.path().join("locust.conf"),
        "users = 2\nhost = http://local\n",
    )
    .expect("local conf");
    std::fs::write(dir.path().join("other.conf"), "# explicit\nusers = 3\n")
        .expect("explicit conf");
    let env = [("HOME".to_owned(), home.to_string_lossy().into_owned())];
    let options = dump(dir.path(), &["--config".into(), "other.conf".into()], &env).await;
    assert_eq!(options["users"], 3);
    assert_eq!(options["host"], "http://local");
    assert_eq!(options["run_time"]["secs"], 60);
}

#[tokio::test(flavor = "multi_thread")]
async fn config_file_mistakes_name_file_line_and_key() {
    let dir = tempfile::tempdir().expect("dir");
    let home = [("HOME", dir.path().to_str().expect("path"))];
    for (text, expected) in [
        (
            "users = 2\nuserz = 3\n",
            "locust.conf:2: unknown option userz",
        ),
        (
            "\n\nusers = many\n",
            "locust.conf:3: users: invalid value 'many' for '--users <USERS>'",
        ),
        (
            "headless = maybe\n",
            "locust.conf:1: headless must be true or false (got \"maybe\")",
        ),
        (
            "run-time = soon\n",
            "locust.conf:1: run-time: invalid value 'soon'",
        ),
        ("just some words\n", "locust.conf:1: expected `key = value`"),
    ] {
        std::fs::write(dir.path().join("locust.conf"), text).expect("config");
        let run = locust_in(dir.path(), &["--list"], &home).await;
        assert_eq!(run.code, 1, "{text}");
        assert!(
            run.stderr.starts_with(&format!("error: {expected}")),
            "{text}: {}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
    std::fs::remove_file(dir.path().join("locust.conf")).expect("remove");
    let run = locust_in(dir.path(), &["--config", "missing.conf"], &home).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("missing.conf:0: could not read the config file"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_readme_documents_every_option() {
    use clap::CommandFactory as _;
    let readme = std::fs::read_to_string(crate::harness::root().join("README.md")).expect("README");
    let table = readme
        .split("## Command-line options")
        .nth(1)
        .expect("the options section");
    for arg in locust::config::Options::command().get_arguments() {
        if arg.is_hide_set() {
            continue;
        }
        let Some(long) = arg.get_long() else { continue };
        if matches!(long, "help") {
            continue;
        }
        assert!(
            table.contains(&format!("`--{long}`")),
            "README lacks --{long}"
        );
        if let Some(env) = arg.get_env() {
            let env = env.to_string_lossy();
            assert!(table.contains(&format!("`{env}`")), "README lacks {env}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn component_options_show_in_help_and_reach_the_guest() {
    let fixture = crate::harness::fixture().to_str().expect("path").to_owned();
    let dir = tempfile::tempdir().expect("dir");
    let home = dir.path().to_str().expect("path").to_owned();

    let help = locust_in(dir.path(), &["-f", &fixture, "--help"], &[("HOME", &home)]).await;
    assert_eq!(help.code, 0, "{}", help.stderr);
    let section = help
        .stdout
        .split("Component options:")
        .nth(1)
        .expect("a component section");
    assert!(section.contains("--greeting <GREETING>"), "{section}");
    assert!(
        section.contains("What the Configured user says"),
        "{section}"
    );
    assert!(section.contains("[env: LOCUST_GREETING=]"), "{section}");

    let paths = |args: &'static [&'static str], env: &'static [(&'static str, &'static str)]| {
        opt_paths(&fixture, dir.path(), &home, args, env)
    };
    assert_eq!(paths(&[], &[]).await, ["/opt/hello/none"], "the default");
    std::fs::write(dir.path().join("locust.conf"), "greeting = from-file\n").expect("config");
    assert_eq!(
        paths(&[], &[]).await,
        ["/opt/from-file/none"],
        "config file"
    );
    assert_eq!(
        paths(&[], &[("LOCUST_GREETING", "from-env")]).await,
        ["/opt/from-env/none"]
    );
    assert_eq!(
        paths(
            &["--greeting", "from-cli", "--unset", "set"],
            &[("LOCUST_GREETING", "from-env")]
        )
        .await,
        ["/opt/from-cli/set"],
        "the command line wins"
    );
}

/// Run the Configured user for a second and return the distinct option paths it requested.
async fn opt_paths(
    fixture: &str,
    dir: &std::path::Path,
    home: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Vec<String> {
    let target = crate::harness::Target::start().await;
    let mut all = vec![
        "-f",
        fixture,
        "--headless",
        "--host",
        target.url.as_str(),
        "Configured",
    ];
    all.extend(["-u", "1", "-t", "1s"]);
    all.extend(args);
    let mut env = env.to_vec();
    env.push(("HOME", home));
    let run = locust_in(dir, &all, &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut paths: Vec<String> = target
        .hits()
        .into_iter()
        .map(|hit| hit.path)
        .filter(|path| path.starts_with("/opt/"))
        .collect();
    paths.dedup();
    paths
}
