//! What the instances of a test may ask of the runner they run in (Locust's
//! `environment.runner`): its role, state and users, and ending the test. The session (or a
//! worker's run) registers one [`RunControl`] in the run's [`RunShared`](crate::test_plan::RunShared);
//! the `runner` import reads it.

use super::runner::RunnerState;

/// Which part of a run a process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Runs its users itself.
    Local,
    /// Splits the users over workers.
    Master,
    /// Runs its share of a master's users.
    Worker,
}

/// How a test was asked to end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndRequest {
    /// End the process too (Locust's `runner.quit()`), not only the test.
    pub quit: bool,
    /// Why, for the log.
    pub reason: String,
    /// Whether it ends on an error (a load shape that failed): the exit code says so.
    pub failed: bool,
}

/// The runner as a test's instances see it.
pub trait RunControl: Send + Sync {
    /// This process's part of the run.
    fn role(&self) -> Role;
    /// This worker's index among its master's workers (0 elsewhere).
    fn worker_index(&self) -> u32 {
        0
    }
    /// What the runner is doing.
    fn state(&self) -> RunnerState;
    /// Users alive now.
    fn user_count(&self) -> u64;
    /// Users alive now, per class, in the classes' order.
    fn class_counts(&self) -> Vec<(String, u64)>;
    /// End the test (without waiting for it to stop).
    fn end(&self, request: EndRequest);
}
