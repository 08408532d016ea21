//! Wait policies between tasks: Locust's `constant`, `between`, `constant_pacing` and a custom
//! function. The host runs the first three itself; `custom` calls back into the guest.

use crate::bindings::locust::runtime::types::{WaitPolicy, WaitRange};

/// How long a user (or a task set) waits after each task.
pub enum Wait<U> {
    /// Always this many seconds.
    Constant(f64),
    /// Uniformly random between the two bounds, seconds.
    Between(f64, f64),
    /// Aim for one task start every this many seconds.
    ConstantPacing(f64),
    /// Ask the user each time.
    Custom(Box<dyn Fn(&mut U) -> f64>),
}

/// Always wait `seconds` (`constant(0.0)` for no wait).
pub fn constant<U>(seconds: f64) -> Wait<U> {
    Wait::Constant(seconds)
}

/// Wait a uniformly random time between `min` and `max` seconds.
pub fn between<U>(min: f64, max: f64) -> Wait<U> {
    Wait::Between(min, max)
}

/// Wait so that a task starts every `seconds`, whatever the task took.
pub fn constant_pacing<U>(seconds: f64) -> Wait<U> {
    Wait::ConstantPacing(seconds)
}

/// Let the user decide each time, like a `wait_time` method in Locust.
pub fn custom<U>(wait: impl Fn(&mut U) -> f64 + 'static) -> Wait<U> {
    Wait::Custom(Box::new(wait))
}

impl<U> Wait<U> {
    /// What the host is told about this policy.
    pub(crate) fn policy(&self) -> WaitPolicy {
        match *self {
            Wait::Constant(seconds) => WaitPolicy::Constant(seconds),
            Wait::Between(min, max) => WaitPolicy::Between(WaitRange { min, max }),
            Wait::ConstantPacing(seconds) => WaitPolicy::ConstantPacing(seconds),
            Wait::Custom(_) => WaitPolicy::Custom,
        }
    }

    /// The guest-side answer for a custom policy; the other policies never get asked.
    pub(crate) fn custom_seconds(&self, user: &mut U) -> f64 {
        match self {
            Wait::Custom(wait) => wait(user),
            Wait::Constant(seconds) | Wait::ConstantPacing(seconds) => *seconds,
            Wait::Between(min, _) => *min,
        }
    }
}
