//! How a task ends when it does not simply finish: interrupt, stop the user, or fail.

use crate::bindings::locust::runtime::types::{TaskError, TaskOutcome};

/// What a task (or `on_start`, or a hook) returns: `Ok(())` when it finished normally.
pub type TaskResult = Result<(), TaskExit>;

/// A task's early exit. Any error type converts into [`TaskExit::Error`] with `?`, which the
/// host counts as a user error (Locust's "exceptions") while the user keeps running.
#[derive(Debug)]
pub enum TaskExit {
    /// Leave the current task set (`self.interrupt(reschedule)`): with `reschedule` the parent
    /// picks its next task at once, without it the parent waits first.
    Interrupt {
        /// Pick the parent's next task immediately instead of waiting first.
        reschedule: bool,
    },
    /// Stop this user for good; its `on_stop` still runs.
    StopUser,
    /// The task failed.
    Error {
        /// One line saying what went wrong.
        message: String,
        /// More context, such as the error's debug form.
        traceback: String,
    },
}

impl<E: std::error::Error> From<E> for TaskExit {
    fn from(error: E) -> Self {
        TaskExit::Error {
            message: error.to_string(),
            traceback: format!("{error:?}"),
        }
    }
}

/// Leave the current task set (see [`TaskExit::Interrupt`]): `return interrupt(true);`.
pub fn interrupt(reschedule: bool) -> TaskResult {
    Err(TaskExit::Interrupt { reschedule })
}

/// Stop this user: `return stop_user();`.
pub fn stop_user() -> TaskResult {
    Err(TaskExit::StopUser)
}

/// Fail the task with a message: `return fail("cart was empty");`.
pub fn fail(message: impl Into<String>) -> TaskResult {
    Err(TaskExit::Error {
        message: message.into(),
        traceback: String::new(),
    })
}

/// Convert a task's result into what crosses the component boundary.
pub(crate) fn to_wire(result: TaskResult) -> Result<TaskOutcome, TaskError> {
    match result {
        Ok(()) => Ok(TaskOutcome::Done),
        Err(TaskExit::Interrupt { reschedule: true }) => Ok(TaskOutcome::Interrupt),
        Err(TaskExit::Interrupt { reschedule: false }) => Ok(TaskOutcome::InterruptNoReschedule),
        Err(TaskExit::StopUser) => Ok(TaskOutcome::StopUser),
        Err(TaskExit::Error { message, traceback }) => Err(TaskError { message, traceback }),
    }
}

/// Like [`to_wire`] for calls that have no outcome (hooks, `on_stop`): interrupts are ignored.
pub(crate) fn to_wire_unit(result: TaskResult) -> Result<(), TaskError> {
    to_wire(result).map(|_| ())
}
