//! One row of statistics: the requests of one (method, name), or all of them aggregated.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::latencies::Latencies;

/// Seconds of per-second counters kept for the current rates.
const RATE_SECONDS: usize = 20;
/// Locust averages the current rate over the seconds `[last - 12, last - 2)`.
const RATE_WINDOW: (u64, u64) = (12, 2);

/// Counters and a response-time histogram for one kind of request. Recording is a few
/// arithmetic operations; merging two entries is exact (histograms add).
///
/// It travels between processes as it is (serde): the histogram as (value, count) pairs, which
/// re-record into the same buckets, and the per-second counts as (second, requests, failures),
/// so an entry merged on the master equals one that saw every sample.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatsEntry {
    /// Request type, e.g. `GET`; empty for the aggregated row.
    pub method: String,
    /// Name the requests are grouped under; `Aggregated` for the total.
    pub name: String,
    /// Requests recorded, failures included.
    pub num_requests: u64,
    /// Failed requests.
    pub num_failures: u64,
    /// Sum of response times, microseconds.
    pub total_response_time_us: u64,
    /// Shortest response time, microseconds (`u64::MAX` before the first request).
    pub min_response_time_us: u64,
    /// Longest response time, microseconds.
    pub max_response_time_us: u64,
    /// Sum of response sizes, bytes.
    pub total_content_length: u64,
    /// Unix time (seconds) of the first request, or of the last reset.
    pub start_time: f64,
    /// Unix time (seconds, fractional) of the most recent request.
    pub last_request_timestamp: f64,
    #[serde(with = "super::latencies::wire")]
    histogram: Latencies,
    #[serde(with = "second_counts")]
    rates: [SecondCount; RATE_SECONDS],
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct SecondCount {
    second: u64,
    requests: u64,
    failures: u64,
}

impl StatsEntry {
    /// An empty entry for `method` and `name`, started at `start_time` (unix seconds).
    pub fn new(method: &str, name: &str, start_time: f64) -> Self {
        Self {
            method: method.to_owned(),
            name: name.to_owned(),
            num_requests: 0,
            num_failures: 0,
            total_response_time_us: 0,
            min_response_time_us: u64::MAX,
            max_response_time_us: 0,
            total_content_length: 0,
            start_time,
            last_request_timestamp: 0.0,
            histogram: Latencies::default(),
            rates: [SecondCount::default(); RATE_SECONDS],
        }
    }

    /// Record one request that ended at unix time `now` (seconds).
    pub fn record(&mut self, response_time: Duration, length: u64, failed: bool, now: f64) {
        let micros = u64::try_from(response_time.as_micros()).unwrap_or(u64::MAX);
        self.num_requests += 1;
        self.num_failures += u64::from(failed);
        self.total_response_time_us = self.total_response_time_us.saturating_add(micros);
        self.min_response_time_us = self.min_response_time_us.min(micros);
        self.max_response_time_us = self.max_response_time_us.max(micros);
        self.total_content_length = self.total_content_length.saturating_add(length);
        self.last_request_timestamp = self.last_request_timestamp.max(now);
        // Saturate rather than fail for absurd values; auto-resize makes this infallible
        // otherwise.
        self.histogram.record_n(micros, 1);
        self.count_second(now as u64, 1, u64::from(failed));
    }

    fn count_second(&mut self, second: u64, requests: u64, failures: u64) {
        add_second(&mut self.rates, second, requests, failures);
    }

    /// Add everything `other` recorded into this entry.
    pub fn extend(&mut self, other: &StatsEntry) {
        if other.num_requests == 0 {
            return;
        }
        self.num_requests += other.num_requests;
        self.num_failures += other.num_failures;
        self.total_response_time_us = self
            .total_response_time_us
            .saturating_add(other.total_response_time_us);
        self.min_response_time_us = self.min_response_time_us.min(other.min_response_time_us);
        self.max_response_time_us = self.max_response_time_us.max(other.max_response_time_us);
        self.total_content_length = self
            .total_content_length
            .saturating_add(other.total_content_length);
        self.last_request_timestamp = self
            .last_request_timestamp
            .max(other.last_request_timestamp);
        self.histogram.add(&other.histogram);
        for slot in other.rates {
            if slot.requests > 0 {
                self.count_second(slot.second, slot.requests, slot.failures);
            }
        }
    }

    /// Forget everything recorded (returning the histogram's memory); the entry restarts at
    /// `now`.
    pub fn reset(&mut self, now: f64) {
        self.num_requests = 0;
        self.num_failures = 0;
        self.total_response_time_us = 0;
        self.min_response_time_us = u64::MAX;
        self.max_response_time_us = 0;
        self.total_content_length = 0;
        self.start_time = now;
        self.last_request_timestamp = 0.0;
        self.histogram.reset();
        self.rates = [SecondCount::default(); RATE_SECONDS];
    }

    /// The response-time histogram, microseconds (built on the spot for an entry with few
    /// requests).
    pub fn histogram(&self) -> std::borrow::Cow<'_, Histogram<u64>> {
        self.histogram.histogram()
    }

    /// Failures as a fraction of requests (1.0 if there are failures but no requests).
    pub fn fail_ratio(&self) -> f64 {
        if self.num_requests == 0 {
            if self.num_failures > 0 { 1.0 } else { 0.0 }
        } else {
            self.num_failures as f64 / self.num_requests as f64
        }
    }

    /// Mean response time, milliseconds.
    pub fn avg_response_time(&self) -> f64 {
        if self.num_requests == 0 {
            0.0
        } else {
            self.total_response_time_us as f64 / self.num_requests as f64 / 1000.0
        }
    }

    /// Shortest response time, milliseconds (0 before the first request).
    pub fn min_response_time(&self) -> f64 {
        if self.num_requests == 0 {
            0.0
        } else {
            self.min_response_time_us as f64 / 1000.0
        }
    }

    /// Longest response time, milliseconds.
    pub fn max_response_time(&self) -> f64 {
        self.max_response_time_us as f64 / 1000.0
    }

    /// Mean response size, bytes.
    pub fn avg_content_length(&self) -> f64 {
        if self.num_requests == 0 {
            0.0
        } else {
            self.total_content_length as f64 / self.num_requests as f64
        }
    }

    /// The response time (milliseconds) that `fraction` (0.0–1.0) of requests finished within.
    pub fn percentile(&self, fraction: f64) -> f64 {
        if self.num_requests == 0 {
            return 0.0;
        }
        self.histogram.value_at_quantile(fraction) as f64 / 1000.0
    }

    /// Median response time, milliseconds.
    pub fn median_response_time(&self) -> f64 {
        self.percentile(0.5)
    }

    /// Requests per second over the whole run (Locust's `total_rps`): from the start of the
    /// statistics to `last`, the latest request of *any* entry (as Locust divides by the
    /// run's span, not the entry's).
    pub fn total_rps(&self, last: f64) -> f64 {
        if self.num_requests == 0 {
            0.0
        } else {
            self.num_requests as f64 / (last - self.start_time).max(1.0)
        }
    }

    /// Failures per second over the whole run, like [`total_rps`](Self::total_rps).
    pub fn total_fail_per_sec(&self, last: f64) -> f64 {
        if self.num_failures == 0 {
            0.0
        } else {
            self.num_failures as f64 / (last - self.start_time).max(1.0)
        }
    }

    /// Requests per second lately: the mean over the seconds from 12 to 2 seconds before
    /// `last`, the latest request of any entry, as Locust computes `current_rps` (so an entry
    /// that stopped receiving requests decays to 0 while others go on).
    pub fn current_rps(&self, last: f64) -> f64 {
        self.current_rate(last, |slot| slot.requests)
    }

    /// Failures per second lately, over the same window as [`current_rps`](Self::current_rps).
    pub fn current_fail_per_sec(&self, last: f64) -> f64 {
        self.current_rate(last, |slot| slot.failures)
    }

    fn current_rate(&self, last: f64, count: impl Fn(&SecondCount) -> u64) -> f64 {
        if self.num_requests == 0 {
            return 0.0;
        }
        let last = last as u64;
        let start = last
            .saturating_sub(RATE_WINDOW.0)
            .max(self.start_time as u64);
        let end = last.saturating_sub(RATE_WINDOW.1);
        if end <= start {
            return 0.0;
        }
        let total: u64 = self
            .rates
            .iter()
            .filter(|slot| slot.second >= start && slot.second < end)
            .map(&count)
            .sum();
        total as f64 / (end - start) as f64
    }
}

/// Count `requests` and `failures` in the slot of `second` (a slot holding an older second is
/// taken over; a newer one keeps its count: older seconds only count in the totals).
fn add_second(rates: &mut [SecondCount; RATE_SECONDS], second: u64, requests: u64, failures: u64) {
    let slot = &mut rates[second as usize % RATE_SECONDS];
    if slot.second != second {
        if slot.second > second {
            return;
        }
        *slot = SecondCount {
            second,
            requests: 0,
            failures: 0,
        };
    }
    slot.requests += requests;
    slot.failures += failures;
}

/// Per-second counts on the wire: the seconds that saw requests, as (second, requests,
/// failures).
mod second_counts {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{RATE_SECONDS, SecondCount, add_second};

    pub fn serialize<S: Serializer>(
        rates: &[SecondCount; RATE_SECONDS],
        out: S,
    ) -> Result<S::Ok, S::Error> {
        out.collect_seq(
            rates
                .iter()
                .filter(|slot| slot.requests > 0)
                .map(|slot| (slot.second, slot.requests, slot.failures)),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        input: D,
    ) -> Result<[SecondCount; RATE_SECONDS], D::Error> {
        let mut rates = [SecondCount::default(); RATE_SECONDS];
        for (second, requests, failures) in Vec::<(u64, u64, u64)>::deserialize(input)? {
            add_second(&mut rates, second, requests, failures);
        }
        Ok(rates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    #[test]
    fn records_counts_extremes_and_sizes() {
        let mut entry = StatsEntry::new("GET", "/", 1000.0);
        entry.record(ms(10), 100, false, 1000.5);
        entry.record(ms(30), 300, true, 1001.5);
        assert_eq!(entry.num_requests, 2);
        assert_eq!(entry.num_failures, 1);
        assert_eq!(entry.min_response_time(), 10.0);
        assert_eq!(entry.max_response_time(), 30.0);
        assert_eq!(entry.avg_response_time(), 20.0);
        assert_eq!(entry.avg_content_length(), 200.0);
        assert_eq!(entry.fail_ratio(), 0.5);
    }

    #[test]
    fn percentiles_follow_the_recorded_distribution() {
        let mut entry = StatsEntry::new("GET", "/", 0.0);
        for value in 1..=1000 {
            entry.record(ms(value), 0, false, 1.0);
        }
        let median = entry.median_response_time();
        assert!((499.0..=501.0).contains(&median), "median {median}");
        let p99 = entry.percentile(0.99);
        assert!((989.0..=991.0).contains(&p99), "p99 {p99}");
        assert_eq!(entry.percentile(1.0).round(), 1000.0);
    }

    #[test]
    fn merging_equals_recording_everything_in_one_place() {
        let mut one = StatsEntry::new("GET", "/", 0.0);
        let mut left = StatsEntry::new("GET", "/", 0.0);
        let mut right = StatsEntry::new("GET", "/", 0.0);
        for value in 1..200u64 {
            one.record(ms(value), value, value % 7 == 0, 5.0);
            let side = if value % 2 == 0 {
                &mut left
            } else {
                &mut right
            };
            side.record(ms(value), value, value % 7 == 0, 5.0);
        }
        left.extend(&right);
        assert_eq!(left.num_requests, one.num_requests);
        assert_eq!(left.num_failures, one.num_failures);
        assert_eq!(left.total_content_length, one.total_content_length);
        for fraction in [0.5, 0.9, 0.95, 0.99, 1.0] {
            assert_eq!(left.percentile(fraction), one.percentile(fraction));
        }
    }

    #[test]
    fn current_rate_averages_the_locust_window() {
        let mut entry = StatsEntry::new("GET", "/", 100.0);
        // 10 requests a second for seconds 100..=120.
        for second in 100..=120u64 {
            for _ in 0..10 {
                entry.record(ms(1), 0, second % 2 == 0, second as f64 + 0.5);
            }
        }
        let last = entry.last_request_timestamp;
        assert_eq!(entry.current_rps(last), 10.0);
        assert_eq!(entry.current_fail_per_sec(last), 5.0);
        assert_eq!(entry.total_rps(last), 210.0 / 20.5);
        // Ten seconds later (other entries' traffic), this entry's current rate has decayed.
        assert_eq!(entry.current_rps(last + 12.0), 1.0);
        assert_eq!(entry.current_rps(last + 20.0), 0.0);
    }

    #[test]
    fn entries_round_trip_the_wire_with_exact_percentiles() {
        let mut entry = StatsEntry::new("GET", "/", 10.0);
        for value in 1..5000u64 {
            entry.record(
                Duration::from_micros(value * 37),
                value,
                value % 11 == 0,
                12.5,
            );
        }
        let wire = rmp_serde::to_vec_named(&entry).expect("encode");
        let copy: StatsEntry = rmp_serde::from_slice(&wire).expect("decode");
        assert_eq!(copy.num_requests, entry.num_requests);
        assert_eq!(copy.num_failures, entry.num_failures);
        assert_eq!(copy.total_content_length, entry.total_content_length);
        for fraction in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(
                copy.percentile(fraction),
                entry.percentile(fraction),
                "{fraction}"
            );
        }
        assert_eq!(copy.current_rps(20.0), entry.current_rps(20.0));
    }

    #[test]
    fn reset_forgets_everything() {
        let mut entry = StatsEntry::new("GET", "/", 0.0);
        entry.record(ms(5), 1, true, 1.0);
        entry.reset(2.0);
        assert_eq!(entry.num_requests, 0);
        assert_eq!(entry.min_response_time(), 0.0);
        assert_eq!(entry.current_rps(2.0), 0.0);
        assert_eq!(entry.start_time, 2.0);
    }
}
