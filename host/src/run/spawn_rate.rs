//! Spawn rates: checked where people enter them (options, config files, the web form), and
//! turned into a start schedule that cannot overflow or panic whatever number arrives (a
//! master's share of a rate, say).

use std::time::Duration;

use tokio::time::Instant;

/// The slowest spawn rate accepted from people: one user every 1,000 seconds.
pub const MIN_SPAWN_RATE: f64 = 0.001;

/// `rate` if it is a usable number of users per second, else why not.
pub fn check(rate: f64) -> Result<f64, String> {
    if rate.is_finite() && rate >= MIN_SPAWN_RATE {
        Ok(rate)
    } else {
        Err(format!(
            "must be a number of users per second of at least {MIN_SPAWN_RATE} (one user every \
             1000 s), got {rate}"
        ))
    }
}

/// Parse and [`check`] a spawn rate given as text.
pub fn parse(text: &str) -> Result<f64, String> {
    let rate = text.trim().parse::<f64>().map_err(|_| {
        format!("must be a number of users per second, such as 10 or 0.5 (got \"{text}\")")
    })?;
    check(rate).map_err(|message| format!("{message} (\"{text}\")"))
}

/// When the user at `position` of a schedule starting `offset` after `started` at `rate` users
/// per second is due; `None` if that lies beyond any time the clock can represent (never). A
/// rate that is not a positive number starts everyone at once.
pub fn start_time(
    started: Instant,
    offset: Duration,
    rate: f64,
    position: usize,
) -> Option<Instant> {
    let delay = if rate > 0.0 && rate.is_finite() {
        Duration::try_from_secs_f64(position as f64 / rate).ok()?
    } else {
        Duration::ZERO
    };
    started.checked_add(offset.checked_add(delay)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_get_a_clear_refusal_for_unusable_rates() {
        for text in [
            "0", "-1", "1e-300", "1e-20", "0.0009", "NaN", "inf", "-inf", "ten", "",
        ] {
            let refusal = parse(text).expect_err(text);
            assert!(refusal.contains("users per second"), "{text}: {refusal}");
        }
        for (text, rate) in [
            ("0.001", 0.001),
            ("0.5", 0.5),
            ("10", 10.0),
            ("1e300", 1e300),
        ] {
            assert_eq!(parse(text), Ok(rate), "{text}");
        }
    }

    #[test]
    fn schedules_never_overflow() {
        let now = Instant::now();
        assert_eq!(
            start_time(now, Duration::ZERO, 2.0, 3),
            Some(now + Duration::from_millis(1500))
        );
        assert_eq!(start_time(now, Duration::ZERO, f64::NAN, 9), Some(now));
        assert_eq!(start_time(now, Duration::ZERO, -1.0, 9), Some(now));
        assert_eq!(start_time(now, Duration::ZERO, f64::INFINITY, 9), Some(now));
        assert_eq!(start_time(now, Duration::ZERO, 1e300, 9), Some(now));
        assert_eq!(start_time(now, Duration::ZERO, 1e-300, 1), None);
        assert_eq!(start_time(now, Duration::MAX, 1.0, 1), None);
        assert_eq!(start_time(now, Duration::ZERO, 1e-300, 0), Some(now));
    }
}
