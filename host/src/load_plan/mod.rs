//! How many users a test wants over time, whoever plans it: `--users`/`--spawn-rate` (one
//! target), Locust 1.0's `--step-load`, k6's `stages`, or a load shape in the component
//! (Locust's `LoadTestShape`). Each is a [`Source`]; one [`driver`] applies any of them to the
//! runner: it asks the source for the load now, applies it when it changed, asks again when
//! the source says, and ends the test when the source says so.

pub mod driver;

use std::time::Duration;

use crate::config::StepLoad;
use crate::hooks::GuestHooks;
use crate::test_plan::Stage;

/// The load a test should have now.
#[derive(Clone, Debug, PartialEq)]
pub struct Load {
    /// Users in total.
    pub users: u64,
    /// Users started (or stopped) per second on the way there.
    pub spawn_rate: f64,
    /// Only these user classes (by name, with their weights between them); `None`: all.
    pub classes: Option<Vec<String>>,
}

impl Load {
    fn all(users: u64, spawn_rate: f64) -> Self {
        Self {
            users,
            spawn_rate,
            classes: None,
        }
    }
}

/// Where a test's load comes from.
#[derive(Clone)]
pub enum Source {
    /// One target: `--users` at `--spawn-rate`.
    Fixed {
        /// Users.
        users: u64,
        /// Users started per second.
        spawn_rate: f64,
    },
    /// Locust 1.0's step load: `step.users` more every `step.time`, up to `users`.
    Steps {
        /// Users at the end.
        users: u64,
        /// Users started per second within a step.
        spawn_rate: f64,
        /// The step.
        step: StepLoad,
    },
    /// k6's stages: from `start` users, linearly to each stage's target over its duration,
    /// recomputed every second; the last target holds once the stages are over.
    Stages {
        /// Users before the first stage.
        start: u64,
        /// The stages.
        stages: Vec<Stage>,
    },
    /// A load shape in the component, ticked about once a second on its hooks instance.
    Shape {
        /// The hooks instance the shape lives in.
        hooks: GuestHooks,
        /// The shape's name, for the log.
        name: String,
    },
}

/// What a source says at one moment.
#[derive(Clone, Debug, PartialEq)]
pub enum Next {
    /// The load now, and how long until the source is to be asked again (`None`: it holds
    /// this load from now on).
    Load(Load, Option<Duration>),
    /// End the test, for this reason; `failed` when the source broke.
    End {
        /// For the log.
        reason: String,
        /// Whether the source failed (a shape that raised).
        failed: bool,
    },
}

/// How often stages and shapes are asked for the load.
pub const TICK: Duration = Duration::from_secs(1);

impl Source {
    /// Whether each change of load fires `spawning_complete` (and `--reset-stats`) once its
    /// users are spawned, as Locust does for every `start`; a k6 ramp announces only its first
    /// step, since it changes every second.
    pub fn announces_each_load(&self) -> bool {
        !matches!(self, Source::Stages { .. })
    }

    /// Whether a load shape decides the load.
    pub fn is_shape(&self) -> bool {
        matches!(self, Source::Shape { .. })
    }
}

/// A step load at `elapsed`: the load, and the time until the next step (`None` once the
/// last step is reached).
pub fn step_at(users: u64, spawn_rate: f64, step: StepLoad, elapsed: Duration) -> Next {
    let steps_done = (elapsed.as_secs_f64() / step.time.as_secs_f64()).floor() as u64;
    let target = step.users.saturating_mul(steps_done + 1).min(users);
    let next = (target < users).then(|| {
        step.time
            .saturating_mul(u32::try_from(steps_done + 1).unwrap_or(u32::MAX))
            .saturating_sub(elapsed)
    });
    Next::Load(Load::all(target, spawn_rate), next)
}

/// k6's stages at `elapsed`, from `start` users, `current` users being the last target: the
/// users it adds (or removes) start spread over the next second.
pub fn stages_at(start: u64, stages: &[Stage], current: Option<u64>, elapsed: Duration) -> Next {
    let target = crate::test_plan::ramp_target(start, stages, elapsed)
        .unwrap_or_else(|| stages.last().map_or(start, |stage| stage.target));
    let change = target.abs_diff(current.unwrap_or(0)).max(1);
    let total: Duration = stages.iter().map(|stage| stage.duration).sum();
    let next = (elapsed < total).then_some(TICK);
    Next::Load(Load::all(target, change as f64), next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_of(next: &Next) -> (u64, Option<Duration>) {
        match next {
            Next::Load(load, next) => (load.users, *next),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn steps_add_users_each_step_up_to_the_total() {
        let step = StepLoad {
            users: 10,
            time: Duration::from_secs(30),
        };
        let at = |s| load_of(&step_at(25, 5.0, step, Duration::from_secs(s)));
        assert_eq!(at(0), (10, Some(Duration::from_secs(30))));
        assert_eq!(at(29), (10, Some(Duration::from_secs(1))));
        assert_eq!(at(30), (20, Some(Duration::from_secs(30))));
        assert_eq!(at(61), (25, None)); // capped at the total, and done
    }

    #[test]
    fn stages_ramp_linearly_and_hold_the_last_target() {
        let stages = [
            Stage {
                duration: Duration::from_secs(10),
                target: 10,
            },
            Stage {
                duration: Duration::from_secs(10),
                target: 0,
            },
        ];
        let at = |s, current| stages_at(0, &stages, current, Duration::from_secs(s));
        assert_eq!(load_of(&at(5, None)), (5, Some(TICK)));
        let Next::Load(load, _) = at(6, Some(5)) else {
            panic!()
        };
        assert_eq!((load.users, load.spawn_rate), (6, 1.0));
        assert_eq!(load_of(&at(15, Some(6))), (5, Some(TICK)));
        assert_eq!(load_of(&at(20, Some(5))), (0, None));
    }
}
