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

/// The longest wait a guest may ask for: one day.
pub const MAX_WAIT_SECONDS: f64 = 86_400.0;

fn usable(seconds: f64) -> bool {
    seconds.is_finite() && (0.0..=MAX_WAIT_SECONDS).contains(&seconds)
}

impl Wait {
    /// Check the numbers a guest gave: finite, from 0 to a day, `min <= max`.
    pub fn validate(self) -> Result<Self, String> {
        match self {
            Wait::Constant(s) | Wait::ConstantPacing(s) if !usable(s) => Err(format!(
                "wait time {s} is not a number of seconds from 0 to {MAX_WAIT_SECONDS} (a day)"
            )),
            Wait::Between(min, max) if !usable(min) || !usable(max) || min > max => Err(format!(
                "between({min}, {max}) needs 0 <= min <= max <= {MAX_WAIT_SECONDS} (a day)"
            )),
            valid => Ok(valid),
        }
    }
}

/// The wait a guest's `wait_time` returned, or why it is not one.
pub fn guest_wait(value: f64) -> Result<Duration, String> {
    if usable(value) {
        Ok(seconds(value))
    } else {
        Err(format!(
            "wait_time returned {value}, not a number of seconds from 0 to {MAX_WAIT_SECONDS} (a day)"
        ))
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
    fn guest_numbers_that_are_no_wait_are_refused() {
        for bad in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.0,
            -1e-300,
            1e300,
            86_401.0,
        ] {
            assert!(guest_wait(bad).is_err(), "{bad}");
            assert!(Wait::Constant(bad).validate().is_err(), "{bad}");
            assert!(Wait::ConstantPacing(bad).validate().is_err(), "{bad}");
            assert!(Wait::Between(0.0, bad).validate().is_err(), "{bad}");
            assert!(Wait::Between(bad, 1.0).validate().is_err(), "{bad}");
        }
        assert_eq!(guest_wait(1e-300), Ok(Duration::ZERO));
        assert_eq!(guest_wait(0.25), Ok(Duration::from_millis(250)));
        assert!(Wait::Between(2.0, 1.0).validate().is_err());
        assert_eq!(
            Wait::Between(0.0, 1e-300).validate(),
            Ok(Wait::Between(0.0, 1e-300))
        );
    }

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
