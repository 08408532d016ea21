//! The response times of one statistics entry, sized to what they hold: the first few are
//! kept as they are, and only an entry with more gets an HDR histogram (3 significant
//! digits, microseconds, at least 16 KiB). A run with many rarely used names then costs a few
//! hundred bytes per name instead of a histogram each.
//!
//! Either way every answer (percentiles, the wire form, equality) is the one a histogram fed
//! the same samples would give, so entries merge and compare exactly whatever their form.

use std::borrow::Cow;
use std::sync::LazyLock;

use hdrhistogram::Histogram;

/// Samples kept as they are before a histogram is made.
const FEW: usize = 32;

/// Response times in microseconds (each at least 1).
#[derive(Clone, Debug)]
pub enum Latencies {
    /// Up to [`FEW`] samples, as recorded.
    Few(Vec<u64>),
    /// More, in a histogram.
    Many(Box<Histogram<u64>>),
}

impl Default for Latencies {
    fn default() -> Self {
        Self::Few(Vec::new())
    }
}

/// An empty histogram of the kind entries use: 3 significant digits (0.1%), growing with the
/// largest value seen.
pub fn new_histogram() -> Histogram<u64> {
    let mut histogram = Histogram::new(3).unwrap_or_else(|_| unreachable_histogram());
    histogram.auto(true);
    histogram
}

#[cold]
fn unreachable_histogram() -> Histogram<u64> {
    // `Histogram::new(3)` only fails for more than 5 significant digits.
    Histogram::new_with_bounds(1, u64::MAX / 2, 2).unwrap_or_else(|_| std::process::abort())
}

/// An empty histogram, for its bucket arithmetic (which does not depend on what it holds).
static BUCKETS: LazyLock<Histogram<u64>> = LazyLock::new(new_histogram);

impl Latencies {
    /// Record `micros` (at least 1) `count` times.
    pub fn record_n(&mut self, micros: u64, count: u64) {
        let micros = micros.max(1);
        match self {
            Self::Few(samples) if samples.len() as u64 + count <= FEW as u64 => {
                samples.extend(std::iter::repeat_n(micros, count as usize));
            }
            Self::Few(samples) => {
                let mut histogram = new_histogram();
                for &sample in samples.iter() {
                    let _ = histogram.record(sample);
                }
                // Saturates rather than fails for absurd values.
                let _ = histogram.record_n(micros, count);
                *self = Self::Many(Box::new(histogram));
            }
            Self::Many(histogram) => {
                let _ = histogram.record_n(micros, count);
            }
        }
    }

    /// Add everything `other` holds.
    pub fn add(&mut self, other: &Latencies) {
        match other {
            Self::Few(samples) => {
                for &sample in samples {
                    self.record_n(sample, 1);
                }
            }
            Self::Many(theirs) => match self {
                Self::Many(ours) => {
                    let _ = ours.add(theirs.as_ref());
                }
                Self::Few(samples) => {
                    let mut histogram = theirs.as_ref().clone();
                    for &sample in samples.iter() {
                        let _ = histogram.record(sample);
                    }
                    *self = Self::Many(Box::new(histogram));
                }
            },
        }
    }

    /// Forget everything, returning the memory.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// How many samples are held.
    pub fn count(&self) -> u64 {
        match self {
            Self::Few(samples) => samples.len() as u64,
            Self::Many(histogram) => histogram.len(),
        }
    }

    /// The samples as a histogram (built on the spot for a few).
    pub fn histogram(&self) -> Cow<'_, Histogram<u64>> {
        match self {
            Self::Many(histogram) => Cow::Borrowed(histogram.as_ref()),
            Self::Few(samples) => {
                let mut histogram = new_histogram();
                for &sample in samples {
                    let _ = histogram.record(sample);
                }
                Cow::Owned(histogram)
            }
        }
    }

    /// The value at `quantile` (0.0–1.0), as [`Histogram::value_at_quantile`] gives it.
    pub fn value_at_quantile(&self, quantile: f64) -> u64 {
        let samples = match self {
            Self::Many(histogram) => return histogram.value_at_quantile(quantile),
            Self::Few(samples) if samples.is_empty() => return 0,
            Self::Few(samples) => samples,
        };
        // hdrhistogram's rule: the first value whose cumulative count reaches
        // ceil(quantile × total) (at least 1), as the highest value of its bucket (the
        // lowest for quantile 0).
        let quantile = quantile.min(1.0);
        let wanted = ((quantile * samples.len() as f64).ceil() as usize).max(1);
        let mut sorted = samples.clone();
        sorted.sort_unstable();
        let value = sorted[wanted.min(sorted.len()) - 1];
        if quantile == 0.0 {
            BUCKETS.lowest_equivalent(value)
        } else {
            BUCKETS.highest_equivalent(value)
        }
    }

    /// The held samples as (bucket value, count) pairs, ascending: the wire form, which
    /// re-records into the same buckets.
    pub fn pairs(&self) -> Vec<(u64, u64)> {
        match self {
            Self::Many(histogram) => histogram
                .iter_recorded()
                .map(|bucket| (bucket.value_iterated_to(), bucket.count_at_value()))
                .collect(),
            Self::Few(samples) => {
                let mut values: Vec<u64> = samples
                    .iter()
                    .map(|&sample| BUCKETS.highest_equivalent(sample))
                    .collect();
                values.sort_unstable();
                let mut pairs: Vec<(u64, u64)> = Vec::new();
                for value in values {
                    match pairs.last_mut() {
                        Some((last, count)) if *last == value => *count += 1,
                        _ => pairs.push((value, 1)),
                    }
                }
                pairs
            }
        }
    }
}

impl PartialEq for Latencies {
    /// Equal when a histogram of each would hold the same counts in the same buckets.
    fn eq(&self, other: &Self) -> bool {
        self.count() == other.count() && self.pairs() == other.pairs()
    }
}

/// A histogram on the wire: its recorded buckets as (value, count) pairs.
pub mod wire {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Latencies;

    /// Write the held samples as (bucket value, count) pairs.
    pub fn serialize<S: Serializer>(latencies: &Latencies, out: S) -> Result<S::Ok, S::Error> {
        out.collect_seq(latencies.pairs())
    }

    /// Read (bucket value, count) pairs back into samples.
    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Latencies, D::Error> {
        let mut latencies = Latencies::default();
        for (value, count) in Vec::<(u64, u64)>::deserialize(input)? {
            latencies.record_n(value, count);
        }
        Ok(latencies)
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn a_few_samples_answer_as_a_histogram_would() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
        for round in 0..200 {
            let count = rng.random_range(1..=FEW);
            let mut few = Latencies::default();
            let mut histogram = new_histogram();
            for _ in 0..count {
                let micros = match round % 3 {
                    0 => rng.random_range(1..3000),
                    1 => rng.random_range(1..5_000_000),
                    _ => rng.random_range(1..50),
                };
                few.record_n(micros, 1);
                let _ = histogram.record(micros);
            }
            assert!(matches!(few, Latencies::Few(_)));
            for quantile in [0.0, 0.01, 0.5, 0.66, 0.9, 0.95, 0.99, 0.999, 1.0, 1.5] {
                assert_eq!(
                    few.value_at_quantile(quantile),
                    histogram.value_at_quantile(quantile),
                    "round {round}, quantile {quantile}"
                );
            }
            let expected: Vec<(u64, u64)> = histogram
                .iter_recorded()
                .map(|bucket| (bucket.value_iterated_to(), bucket.count_at_value()))
                .collect();
            assert_eq!(few.pairs(), expected, "round {round}");
            assert_eq!(*few.histogram(), histogram);
        }
    }

    #[test]
    fn entries_grow_into_a_histogram_and_merge_exactly_in_any_form() {
        let mut many = Latencies::default();
        for micros in 1..=100 {
            many.record_n(micros * 37, 1);
        }
        assert!(matches!(many, Latencies::Many(_)));
        let mut few = Latencies::default();
        few.record_n(5, 2);
        let mut one_way = few.clone();
        one_way.add(&many);
        let mut other_way = many.clone();
        other_way.add(&few);
        assert_eq!(one_way, other_way);
        assert_eq!(one_way.count(), 102);
        assert_eq!(
            one_way.value_at_quantile(0.5),
            other_way.value_at_quantile(0.5)
        );
        one_way.reset();
        assert!(one_way.count() == 0 && matches!(one_way, Latencies::Few(_)));
    }
}
