//! Locust's time spans: `300s`, `20m`, `3h`, `1h30m`, `1h30m15s`, or bare seconds.

use std::time::Duration;

/// The longest time span accepted: ten years (87600h). Longer ones are mistakes, and a deadline
/// that far out could overflow the clock.
pub const MAX_TIMESPAN: Duration = Duration::from_secs(87_600 * 3600);

/// Parse a time span; the error says which forms are accepted.
pub fn parse_timespan(text: &str) -> Result<Duration, String> {
    let span = parse_unbounded(text.trim())?;
    if span > MAX_TIMESPAN {
        return Err(format!(
            "time span `{}` is longer than ten years (87600h), the most accepted",
            text.trim()
        ));
    }
    Ok(span)
}

fn parse_unbounded(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!("invalid time span `{text}`: use e.g. 300s, 20m, 3h, 1h30m or a number of seconds")
    };
    if text.is_empty() {
        return Err(invalid());
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = 0u64;
    let mut number = String::new();
    let mut last_unit = 0u8; // h=3, m=2, s=1: units must come in that order, once each
    for character in text.chars() {
        if character.is_ascii_digit() {
            number.push(character);
            continue;
        }
        let (rank, factor) = match character {
            'h' => (3, 3600),
            'm' => (2, 60),
            's' => (1, 1),
            _ => return Err(invalid()),
        };
        if number.is_empty() || (last_unit != 0 && rank >= last_unit) {
            return Err(invalid());
        }
        let value: u64 = number.parse().map_err(|_| invalid())?;
        total = value
            .checked_mul(factor)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(invalid)?;
        number.clear();
        last_unit = rank;
    }
    if !number.is_empty() {
        return Err(invalid());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_locust_forms() {
        for (text, seconds) in [
            ("300s", 300),
            ("20m", 1200),
            ("3h", 10800),
            ("1h30m", 5400),
            ("1h30m15s", 5415),
            ("2m5s", 125),
            ("45", 45),
            ("0", 0),
            ("87600h", 87_600 * 3600),
        ] {
            assert_eq!(
                parse_timespan(text),
                Ok(Duration::from_secs(seconds)),
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_the_rest() {
        for text in [
            "",
            "abc",
            "10x",
            "5m1h",
            "1h1h",
            "h",
            "10s5",
            "-5",
            "1.5s",
            "1e300",
            "NaN",
            "inf",
            "87601h",
            "18446744073709551615",
            "99999999999999999999h",
        ] {
            assert!(parse_timespan(text).is_err(), "{text}");
        }
    }
}
