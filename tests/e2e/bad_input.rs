//! Bad input gets one clear line on stderr and exit code 1, never a panic.

use crate::harness::{Run, Target, locust, run_fixture};

fn assert_one_error_line(run: &Run, expected: &str) {
    assert_eq!(run.code, 1, "{run:?}");
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("error"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains(expected),
        "expected {expected:?} in {:?}",
        errors[0]
    );
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("backtrace"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_file() {
    let run = locust(&["-f", "no/such/file.wasm", "--headless"]).await;
    assert_one_error_line(&run, "no/such/file.wasm: no such file or directory");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_that_is_not_wasm() {
    let run = locust(&["-f", "Cargo.toml", "--headless"]).await;
    assert_one_error_line(
        &run,
        "Cargo.toml is not a user component: it is not a WebAssembly file",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_core_module_and_a_component_of_another_world() {
    let dir = tempfile::tempdir().expect("temp dir");
    let module = dir.path().join("module.wasm");
    std::fs::write(&module, b"\0asm\x01\0\0\0").expect("write");
    let run = locust(&["-f", module.to_str().expect("path"), "--headless"]).await;
    assert_one_error_line(&run, "is a core WebAssembly module, not a component");

    // The empty component: valid, but it exports nothing of our world.
    let component = dir.path().join("empty.wasm");
    std::fs::write(&component, b"\0asm\x0d\0\x01\0").expect("write");
    let run = locust(&["-f", component.to_str().expect("path"), "--headless"]).await;
    assert_one_error_line(
        &run,
        "does not implement locust:runtime/user-component@0.4.0",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_user_class() {
    let target = Target::start().await;
    let run = run_fixture(&target, &["NoSuchUser", "-t", "1s"]).await;
    assert_one_error_line(
        &run,
        "unknown user class NoSuchUser; the component defines: Weighted, Nested",
    );
    assert!(
        !run.stderr.contains("Abstract"),
        "abstract classes are not offered"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_option_values() {
    let run = locust(&["--headless", "-u", "ten"]).await;
    assert_one_error_line(&run, "invalid value 'ten' for '--users <USERS>'");
    let run = locust(&["--headless", "-t", "soon"]).await;
    assert_one_error_line(&run, "invalid time span `soon`");
    let run = locust(&["--headless", "--host", "example.com"]).await;
    assert_one_error_line(&run, "--host must be a URL");
}

#[tokio::test(flavor = "multi_thread")]
async fn spawn_rates_and_time_spans_that_are_no_usable_numbers() {
    for (option, says) in [
        ("--hatch-rate=1e-300", "at least 0.001"),
        ("--hatch-rate=1e-20", "at least 0.001"),
        ("--hatch-rate=NaN", "at least 0.001"),
        ("--hatch-rate=inf", "at least 0.001"),
        ("--hatch-rate=-3", "at least 0.001"),
        ("--run-time=99999999999h", "longer than ten years"),
        ("--run-time=1e300", "invalid time span"),
        (
            "--stop-timeout=18446744073709551615",
            "longer than ten years",
        ),
        ("--step-time=-1s", "invalid time span"),
    ] {
        let run = locust(&["--headless", option]).await;
        assert_one_error_line(&run, says);
    }
}
