//! Wait policies, run by the host: Locust's `constant`, `between`, `constant_pacing`, and
//! `custom` (which asks the guest).

use std::time::{Duration, Instant};

use rand::Rng;

/// How long to wait after a task.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Wait {
    /// Always this many seconds.
    Constant(f64),
    /// Uniformly random in `[min, max]` seconds.
    Between(f64, f64),
    /// Aim for one task start every this many seconds.
    ConstantPacing(f64),
    /// Ask the guest.
    Custom,
}

impl Wait {
    /// Check the numbers a guest gave: finite, not negative, `min <= max`.
    pub fn validate(self) -> Result<Self, String> {
        let ok = |seconds: f64| seconds.is_finite() && seconds >= 0.0;
        match self {
            Wait::Constant(s) | Wait::ConstantPacing(s) if !ok(s) => Err(format!(
                "wait time {s} is not a non-negative number of seconds"
            )),
            Wait::Between(min, max) if !ok(min) || !ok(max) || min > max => {
                Err(format!("between({min}, {max}) needs 0 <= min <= max"))
            }
            valid => Ok(valid),
        }
    }
}

/// The memory `constant_pacing` needs: when the owner's last wait started and how long it was.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pacing {
    last: Option<(Instant, f64)>,
}

/// What the user loop should do to wait.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WaitDecision {
    /// Sleep this long.
    Sleep(Duration),
    /// Ask the guest for the number of seconds.
    AskGuest,
}

/// Seconds as a duration, clamping nonsense (negative, NaN, huge) to something sleepable.
pub fn seconds(value: f64) -> Duration {
    if value.is_finite() && value > 0.0 {
        Duration::try_from_secs_f64(value).unwrap_or(Duration::MAX)
    } else {
        Duration::ZERO
    }
}

/// Decide the wait after a task under `policy`, at time `now`.
pub fn decide(policy: Wait, pacing: &mut Pacing, rng: &mut impl Rng, now: Instant) -> WaitDecision {
    match policy {
        Wait::Constant(s) => WaitDecision::Sleep(seconds(s)),
        Wait::Between(min, max) if max > min => {
            WaitDecision::Sleep(seconds(rng.random_range(min..=max)))
        }
        Wait::Between(min, _) => WaitDecision::Sleep(seconds(min)),
        Wait::ConstantPacing(period) => {
            // Locust's formula: the task's run time is the time since the last wait began,
            // minus that wait; wait out the rest of the period.
            let wait = match pacing.last {
                None => period,
                Some((started, last_wait)) => {
                    let run_time = now.duration_since(started).as_secs_f64() - last_wait;
                    (period - run_time).max(0.0)
                }
            };
            pacing.last = Some((now, wait));
            WaitDecision::Sleep(seconds(wait))
        }
        Wait::Custom => WaitDecision::AskGuest,
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;

    #[test]
    fn between_stays_in_bounds() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut pacing = Pacing::default();
        for _ in 0..1000 {
            let WaitDecision::Sleep(wait) = decide(
                Wait::Between(0.5, 1.5),
                &mut pacing,
                &mut rng,
                Instant::now(),
            ) else {
                panic!("between asks nobody");
            };
            assert!((0.5..=1.5).contains(&wait.as_secs_f64()));
        }
    }

    #[test]
    fn constant_pacing_subtracts_the_task_time() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut pacing = Pacing::default();
        let start = Instant::now();
        let first = decide(Wait::ConstantPacing(10.0), &mut pacing, &mut rng, start);
        assert_eq!(first, WaitDecision::Sleep(Duration::from_secs(10)));
        // The wait (10 s) plus a 3 s task later, 7 s remain of the next period.
        let later = start + Duration::from_secs(13);
        let second = decide(Wait::ConstantPacing(10.0), &mut pacing, &mut rng, later);
        assert_eq!(second, WaitDecision::Sleep(Duration::from_secs(7)));
        // A task longer than the period means no wait at all.
        let much_later = later + Duration::from_secs(7 + 12);
        let third = decide(
            Wait::ConstantPacing(10.0),
            &mut pacing,
            &mut rng,
            much_later,
        );
        assert_eq!(third, WaitDecision::Sleep(Duration::ZERO));
    }

    #[test]
    fn invalid_policies_are_refused() {
        assert!(Wait::Between(2.0, 1.0).validate().is_err());
        assert!(Wait::Constant(-1.0).validate().is_err());
        assert!(Wait::ConstantPacing(f64::NAN).validate().is_err());
        assert!(Wait::Between(1.0, 1.0).validate().is_ok());
    }
}
