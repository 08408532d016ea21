//! A test's own plan (the WIT `test-plan` interface): the load profile and pass/fail criteria a
//! script carries (k6's `options`), the data its `test-start` hook shares with every user (k6's
//! `setup()`), and the shared iteration budget (k6's `iterations`).

pub mod thresholds;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use thresholds::{Threshold, ThresholdError, Verdict};

use crate::component::declared_plan as wit;
use crate::stats::RequestStats;

/// The most bytes a `test-start` hook may share with users.
pub const MAX_SHARED_BYTES: usize = 16 << 20;
/// The most stages a plan may have.
const MAX_STAGES: usize = 1_000;
/// The most thresholds a plan may have.
const MAX_THRESHOLDS: usize = 1_000;

/// One stage of a ramping load.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stage {
    /// How long the stage lasts.
    pub duration: Duration,
    /// Users at its end.
    pub target: u64,
}

/// What a component declared in `user.describe`, checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TestPlan {
    /// Users (or the users a ramp starts from).
    pub users: Option<u64>,
    /// How long the test runs.
    pub run_time: Option<Duration>,
    /// Tasks the users run together before the test ends.
    pub iterations: Option<u64>,
    /// The ramping load.
    pub stages: Vec<Stage>,
    /// The criteria deciding the exit code.
    pub thresholds: Vec<Threshold>,
    /// How long stopping users get to finish their task.
    pub stop_timeout: Option<Duration>,
}

/// Why a declared plan cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    /// A threshold that does not parse.
    #[error(transparent)]
    Threshold(#[from] ThresholdError),
    /// A number out of range.
    #[error("{0}")]
    Value(String),
}

fn seconds(what: &str, value: f64) -> Result<Duration, PlanError> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        PlanError::Value(format!(
            "{what} must be a number of seconds ≥ 0, not {value}"
        ))
    })
}

impl TestPlan {
    /// Check what the guest declared.
    pub fn from_wit(
        plan: wit::Plan,
        declared: &crate::metrics::Declared,
    ) -> Result<Self, PlanError> {
        if plan.stages.len() > MAX_STAGES || plan.thresholds.len() > MAX_THRESHOLDS {
            return Err(PlanError::Value(format!(
                "a plan has at most {MAX_STAGES} stages and {MAX_THRESHOLDS} thresholds"
            )));
        }
        let stages = plan
            .stages
            .iter()
            .map(|stage| {
                Ok(Stage {
                    duration: seconds("a stage's duration", stage.duration)?,
                    target: u64::from(stage.target),
                })
            })
            .collect::<Result<_, PlanError>>()?;
        let thresholds = plan
            .thresholds
            .iter()
            .map(|threshold| {
                Threshold::parse(
                    &threshold.metric,
                    &threshold.conditions,
                    threshold.abort_on_fail,
                    declared,
                )
            })
            .collect::<Result<_, _>>()?;
        if plan.iterations == Some(0) {
            return Err(PlanError::Value("iterations must be at least 1".to_owned()));
        }
        Ok(Self {
            users: plan.users.map(u64::from),
            run_time: plan
                .run_time
                .map(|t| seconds("the duration", t))
                .transpose()?,
            iterations: plan.iterations,
            stages,
            thresholds,
            stop_timeout: plan
                .stop_timeout
                .map(|t| seconds("the stop timeout", t))
                .transpose()?,
        })
    }

    /// Whether the plan asks for nothing the run would otherwise decide (no users, duration,
    /// iterations, stages or thresholds).
    pub fn is_empty(&self) -> bool {
        self.users.is_none()
            && self.run_time.is_none()
            && self.iterations.is_none()
            && self.stages.is_empty()
            && self.thresholds.is_empty()
    }

    /// How long the stages last together.
    pub fn stages_duration(&self) -> Duration {
        self.stages.iter().map(|stage| stage.duration).sum()
    }

    /// The most users the plan runs at once: its users, or a stage's target.
    pub fn peak_users(&self) -> Option<u64> {
        let stages = self.stages.iter().map(|stage| stage.target).max();
        match (self.users, stages) {
            (Some(users), Some(stages)) => Some(users.max(stages)),
            (users, stages) => users.or(stages),
        }
    }

    /// Evaluate every threshold against `stats`, whose requests span `seconds`.
    pub fn evaluate(&self, stats: &RequestStats, seconds: f64) -> Vec<Verdict> {
        self.thresholds
            .iter()
            .flat_map(|threshold| threshold.evaluate(stats, seconds))
            .collect()
    }

    /// Whether a threshold marked `abort-on-fail` fails now.
    pub fn aborts(&self, stats: &RequestStats, seconds: f64) -> Option<Verdict> {
        self.thresholds
            .iter()
            .filter(|threshold| threshold.abort_on_fail)
            .flat_map(|threshold| threshold.evaluate(stats, seconds))
            .find(|verdict| !verdict.passed)
    }
}

/// The users at `elapsed` into a ramp that starts at `start` users and goes through
/// `stages`, linearly within each; `None` after the last stage.
pub fn ramp_target(start: u64, stages: &[Stage], elapsed: Duration) -> Option<u64> {
    let mut from = start;
    let mut begun = Duration::ZERO;
    for stage in stages {
        let end = begun + stage.duration;
        if elapsed < end {
            let progress = (elapsed - begun).as_secs_f64() / stage.duration.as_secs_f64();
            let users = from as f64 + (stage.target as f64 - from as f64) * progress;
            return Some(users.round() as u64);
        }
        from = stage.target;
        begun = end;
    }
    None
}

/// What the users of one session share with its hooks: the `test-start` hook's data, and the
/// runner they all run in.
#[derive(Default)]
pub struct RunShared {
    setup: Mutex<Option<Arc<str>>>,
    control: Mutex<Option<Arc<dyn crate::run::control::RunControl>>>,
}

impl std::fmt::Debug for RunShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunShared")
            .field("setup", &self.setup)
            .finish_non_exhaustive()
    }
}

/// Iterations left in a test; `exhausted` once every one has been handed out.
#[derive(Debug)]
pub struct Budget {
    left: AtomicU64,
    exhausted: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Budget {
    /// A budget of `iterations`.
    pub fn new(iterations: u64) -> Self {
        Self {
            left: AtomicU64::new(iterations),
            exhausted: AtomicBool::new(false),
            notify: tokio::sync::Notify::new(),
        }
    }

    /// Take one iteration; false when none are left.
    pub fn take(&self) -> bool {
        let taken = self
            .left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(1)
            });
        match taken {
            Ok(1) => {
                self.exhausted.store(true, Ordering::Release);
                self.notify.notify_waiters();
                true
            }
            Ok(_) => true,
            Err(_) => false,
        }
    }

    /// Resolves once the last iteration has been taken.
    pub async fn exhausted(&self) {
        loop {
            let notified = self.notify.notified();
            if self.exhausted.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

impl RunShared {
    /// Shared data of a worker's users, as its master's `test-start` hook shared it.
    pub fn with_setup_data(data: Option<Arc<str>>) -> Self {
        Self {
            setup: Mutex::new(data),
            control: Mutex::default(),
        }
    }

    /// The runner the run's instances see (`runner` import), once registered.
    pub fn control(&self) -> Option<Arc<dyn crate::run::control::RunControl>> {
        lock(&self.control).clone()
    }

    /// Register the runner the run's instances see.
    pub fn set_control(&self, control: Arc<dyn crate::run::control::RunControl>) {
        *lock(&self.control) = Some(control);
    }

    /// What the `test-start` hook shared, if anything.
    pub fn setup_data(&self) -> Option<Arc<str>> {
        lock(&self.setup).clone()
    }

    /// Replace the shared data.
    pub fn set_setup_data(&self, data: Option<Arc<str>>) {
        *lock(&self.setup) = data;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(seconds: u64, target: u64) -> Stage {
        Stage {
            duration: Duration::from_secs(seconds),
            target,
        }
    }

    #[test]
    fn ramps_are_linear_within_each_stage() {
        let stages = [stage(10, 10), stage(10, 10), stage(5, 0)];
        let at = |s: f64| ramp_target(0, &stages, Duration::from_secs_f64(s));
        assert_eq!(at(0.0), Some(0));
        assert_eq!(at(5.0), Some(5));
        assert_eq!(at(15.0), Some(10));
        assert_eq!(at(22.5), Some(5));
        assert_eq!(at(25.0), None);
        assert_eq!(
            ramp_target(4, &[stage(2, 0)], Duration::from_secs(1)),
            Some(2)
        );
    }

    #[test]
    fn a_budget_hands_out_exactly_its_iterations() {
        let budget = Budget::new(3);
        let taken = (0..10).filter(|_| budget.take()).count();
        assert_eq!(taken, 3);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), budget.exhausted())
                .await
                .expect("exhausted");
        });
    }

    #[test]
    fn declared_values_are_checked() {
        let plan = |run_time: f64, iterations: Option<u64>| wit::Plan {
            users: Some(2),
            run_time: Some(run_time),
            iterations,
            stages: vec![wit::Stage {
                duration: 3.0,
                target: 7,
            }],
            thresholds: vec![],
            stop_timeout: None,
        };
        let good = TestPlan::from_wit(plan(1.5, Some(4)), &Default::default()).expect("valid");
        assert_eq!(good.run_time, Some(Duration::from_millis(1500)));
        assert_eq!(good.peak_users(), Some(7));
        assert_eq!(good.stages_duration(), Duration::from_secs(3));
        assert!(TestPlan::from_wit(plan(-1.0, None), &Default::default()).is_err());
        assert!(TestPlan::from_wit(plan(1.0, Some(0)), &Default::default()).is_err());
    }
}
