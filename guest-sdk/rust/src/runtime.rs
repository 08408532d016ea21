//! The per-instance state behind the component's exports: which scenario was built, and the
//! one user this instance holds. Called only through [`export_users!`](crate::export_users).

use std::cell::RefCell;

use crate::bindings::locust::runtime::types::{Description, RequestRecord, TaskError, TaskOutcome};
use crate::exit::{TaskResult, to_wire, to_wire_unit};
use crate::scenario::{LiveUser, Scenario};

thread_local! {
    static USER: RefCell<Option<Box<dyn LiveUser>>> = const { RefCell::new(None) };
    static HOOKS: RefCell<Option<Scenario>> = const { RefCell::new(None) };
}

fn no_user() -> TaskError {
    TaskError {
        message: "the host called the user before creating it".to_owned(),
        traceback: String::new(),
    }
}

fn with_user<T>(call: impl FnOnce(&mut dyn LiveUser) -> T) -> Result<T, TaskError> {
    USER.with_borrow_mut(|slot| match slot {
        Some(user) => Ok(call(user.as_mut())),
        None => Err(no_user()),
    })
}

/// Report panics through the host's log before the instance traps, so the message is not lost.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        crate::log::error(format!("panic: {info}"));
    }));
}

/// `user.describe`.
pub fn describe(build: fn() -> Scenario) -> Description {
    build().description()
}

/// `user.create`: build the scenario and make this instance's user.
pub fn create(build: fn() -> Scenario, class: u32) {
    install_panic_hook();
    fastrand::seed(crate::random_seed());
    let scenario = build();
    if let Some(class) = scenario.classes.get(class as usize) {
        let user = class.clone().instantiate();
        USER.with_borrow_mut(|slot| *slot = Some(user));
    }
}

/// `user.on-start`.
pub fn on_start() -> Result<TaskOutcome, TaskError> {
    with_user(|user| user.on_start()).and_then(to_wire)
}

/// `user.on-stop`.
pub fn on_stop() -> Result<(), TaskError> {
    with_user(|user| user.on_stop()).and_then(to_wire_unit)
}

/// `user.run-task`.
pub fn run_task(node: u32) -> Result<TaskOutcome, TaskError> {
    with_user(|user| user.run_task(node)).and_then(to_wire)
}

/// `user.start-task-set`.
pub fn start_task_set(node: u32) -> Result<TaskOutcome, TaskError> {
    with_user(|user| user.start_task_set(node)).and_then(to_wire)
}

/// `user.stop-task-set`.
pub fn stop_task_set(node: u32) -> Result<(), TaskError> {
    with_user(|user| user.stop_task_set(node)).and_then(to_wire_unit)
}

/// `user.wait-time`.
pub fn wait_time(node: Option<u32>) -> f64 {
    with_user(|user| user.wait_time(node)).unwrap_or(0.0)
}

fn with_hooks<T>(build: fn() -> Scenario, call: impl FnOnce(&Scenario) -> T) -> T {
    HOOKS.with_borrow_mut(|slot| {
        let scenario = slot.get_or_insert_with(|| {
            install_panic_hook();
            build()
        });
        call(scenario)
    })
}

fn run_hook(hook: Option<&dyn Fn() -> TaskResult>) -> Result<(), TaskError> {
    match hook {
        Some(hook) => to_wire_unit(hook()),
        None => Ok(()),
    }
}

/// `hooks.init`.
pub fn hook_init(build: fn() -> Scenario) -> Result<(), TaskError> {
    with_hooks(build, |scenario| run_hook(scenario.init.as_deref()))
}

/// `hooks.test-start`.
pub fn hook_test_start(build: fn() -> Scenario) -> Result<(), TaskError> {
    with_hooks(build, |scenario| run_hook(scenario.test_start.as_deref()))
}

/// `hooks.test-stop`.
pub fn hook_test_stop(build: fn() -> Scenario) -> Result<(), TaskError> {
    with_hooks(build, |scenario| run_hook(scenario.test_stop.as_deref()))
}

#[doc(hidden)]
pub fn hook_quitting(build: fn() -> Scenario) -> Result<(), TaskError> {
    with_hooks(build, |scenario| run_hook(scenario.quitting.as_deref()))
}

/// `hooks.report-to-master`.
pub fn hook_report_to_master(build: fn() -> Scenario) -> Option<Vec<u8>> {
    with_hooks(build, |scenario| {
        scenario
            .report_to_master
            .as_ref()
            .and_then(|source| source())
    })
}

/// `hooks.worker-report`.
pub fn hook_worker_report(build: fn() -> Scenario, worker_id: String, data: Vec<u8>) {
    with_hooks(build, |scenario| {
        if let Some(sink) = &scenario.worker_report {
            sink(&worker_id, &data);
        }
    });
}

/// `hooks.on-request`.
pub fn hook_on_request(build: fn() -> Scenario, record: RequestRecord) {
    with_hooks(build, |scenario| {
        if let Some(listener) = &scenario.on_request {
            listener(&record);
        }
    });
}
