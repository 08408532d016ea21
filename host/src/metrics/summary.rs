//! What one series of a metric has seen: counts, sums and extremes for every kind, the last
//! value for gauges and, for trends, the values on the same HDR histograms requests use.
//!
//! A summary merges exactly with another (a worker's report into the master's), so every
//! figure of the merged summary equals what one summary fed every sample would give.

use crate::stats::latencies::Latencies;

use super::MetricType;

/// Trend values are kept in thousandths on the histogram (microseconds for times in
/// milliseconds), as request times are.
const SCALE: f64 = 1000.0;

/// The samples of one series.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Samples added.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest (`+inf` before the first).
    pub min: f64,
    /// The largest (`-inf` before the first).
    pub max: f64,
    /// Samples that were not zero: a rate's passes.
    pub nonzero: u64,
    /// The most recent value: a gauge's value.
    pub last: f64,
    /// Unix time of the most recent sample, which decides `last` when summaries merge.
    pub last_at: f64,
    /// Trend values (thousandths; negative ones as 0), for percentiles.
    #[serde(with = "crate::stats::latencies::wire")]
    values: Latencies,
}

impl Default for Summary {
    fn default() -> Self {
        Self {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            nonzero: 0,
            last: 0.0,
            last_at: 0.0,
            values: Latencies::default(),
        }
    }
}

impl Summary {
    /// Add one sample of a metric of type `kind`, taken at unix time `now`.
    pub fn add(&mut self, kind: MetricType, value: f64, now: f64) {
        self.count += 1;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if value != 0.0 {
            self.nonzero += 1;
        }
        if now >= self.last_at {
            self.last = value;
            self.last_at = now;
        }
        if kind == MetricType::Trend {
            // Saturating: a value past u64's range lands in the top bucket.
            self.values.record_n((value.max(0.0) * SCALE) as u64, 1);
        }
    }

    /// Add everything `other` holds.
    pub fn merge(&mut self, other: &Summary) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.nonzero += other.nonzero;
        if other.count > 0 && other.last_at >= self.last_at {
            self.last = other.last;
            self.last_at = other.last_at;
        }
        self.values.add(&other.values);
    }

    /// The mean, 0 without samples.
    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    /// The share of samples that were not zero (a rate's value), 0 without samples.
    pub fn rate(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.nonzero as f64 / self.count as f64
        }
    }

    /// The smallest sample, 0 without samples.
    pub fn min(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.min }
    }

    /// The largest sample, 0 without samples.
    pub fn max(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.max }
    }

    /// A trend's value at `percent` (0–100), within the histogram's 0.1%; the exact minimum
    /// and maximum at 0 and 100. 0 without samples.
    pub fn percentile(&self, percent: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        if percent <= 0.0 {
            return self.min;
        }
        if percent >= 100.0 {
            return self.max;
        }
        let value = self.values.value_at_quantile(percent / 100.0) as f64 / SCALE;
        // The histogram answers with its bucket's highest value: never past the real extremes.
        value.clamp(self.min, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_figure_is_what_its_kind_reports() {
        let mut trend = Summary::default();
        for value in 1..=100 {
            trend.add(MetricType::Trend, f64::from(value), f64::from(value));
        }
        assert_eq!(trend.count, 100);
        assert_eq!(trend.avg(), 50.5);
        assert_eq!((trend.min(), trend.max()), (1.0, 100.0));
        assert!((trend.percentile(50.0) - 50.0).abs() < 0.1);
        assert!((trend.percentile(95.0) - 95.0).abs() < 0.1);
        assert_eq!(trend.percentile(100.0), 100.0);
        let mut rate = Summary::default();
        for pass in [1.0, 0.0, 1.0, 1.0] {
            rate.add(MetricType::Rate, pass, 0.0);
        }
        assert_eq!(rate.rate(), 0.75);
        let mut gauge = Summary::default();
        gauge.add(MetricType::Gauge, 7.0, 1.0);
        gauge.add(MetricType::Gauge, 3.0, 2.0);
        assert_eq!((gauge.last, gauge.min(), gauge.max()), (3.0, 3.0, 7.0));
        assert_eq!(Summary::default().percentile(90.0), 0.0);
    }

    #[test]
    fn merged_summaries_equal_one_fed_every_sample() {
        let mut whole = Summary::default();
        let mut parts = [Summary::default(), Summary::default(), Summary::default()];
        for sample in 0..300u32 {
            let value = f64::from(sample * 7 % 113) + 0.25;
            whole.add(MetricType::Trend, value, f64::from(sample));
            parts[sample as usize % 3].add(MetricType::Trend, value, f64::from(sample));
        }
        let mut merged = Summary::default();
        for part in &parts {
            let wire = rmp_serde::to_vec_named(part).expect("encode");
            let part: Summary = rmp_serde::from_slice(&wire).expect("decode");
            merged.merge(&part);
        }
        assert_eq!(merged, whole);
        assert_eq!(merged.percentile(90.0), whole.percentile(90.0));
        assert_eq!(merged.last, whole.last);
    }
}
