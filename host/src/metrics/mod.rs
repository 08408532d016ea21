//! Metrics other than requests: k6's checks and group durations, and the custom metrics a
//! script declares (`k6/metrics`: `Counter`, `Gauge`, `Rate`, `Trend`), each split into series
//! by its tags.
//!
//! Requests keep their own table (`crate::stats`); nothing here counts as a request, so a check
//! or a group never changes the Aggregated row, requests/s or the failure ratio. Series are
//! recorded in the same per-thread shards as requests, merged with them, shipped by workers in
//! the same report and merged exactly on the master.

pub mod k6_summary;
pub mod render;
mod summary;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

pub use summary::Summary;

/// k6's built-in rate of checks: one sample per check, 1 when it passed.
pub const CHECKS: &str = "checks";
/// k6's built-in trend of group durations, milliseconds, tagged with the group's path.
pub const GROUP_DURATION: &str = "group_duration";
/// k6's count of iterations (a top-level task run of a script with its own plan), recorded
/// by the host.
pub const ITERATIONS: &str = "iterations";
/// k6's trend of iteration durations, milliseconds, recorded by the host.
pub const ITERATION_DURATION: &str = "iteration_duration";
/// The tag naming a check.
pub const CHECK_TAG: &str = "check";
/// The tag naming a group path (`::outer::inner`).
pub const GROUP_TAG: &str = "group";
/// The tag set samples past the series limit are counted under.
pub const OVERFLOW_TAG: (&str, &str) = ("series", "(other tag sets past the limit)");

/// The most distinct series a run records (and the most metrics an instance declares).
pub const MAX_SERIES: usize = 1_000;
/// The longest metric name, as k6 allows.
pub const MAX_NAME: usize = 128;
/// The most tags one sample carries.
pub const MAX_TAGS: usize = 32;
/// The longest tag name or value, bytes.
pub const MAX_TAG_BYTES: usize = 1_024;

/// What kind of values a metric holds, which decides how it is summarised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum MetricType {
    /// A sum (k6's `Counter`): `count`, `rate` per second.
    Counter,
    /// The latest value (k6's `Gauge`), with its minimum and maximum.
    Gauge,
    /// The share of non-zero samples (k6's `Rate`).
    Rate,
    /// A distribution (k6's `Trend`): avg, min, med, max, percentiles.
    Trend,
}

impl MetricType {
    /// k6's lower-case name of the type.
    pub fn name(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Rate => "rate",
            Self::Trend => "trend",
        }
    }
}

/// A metric's identity beyond its name: its type and whether its values are milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MetricKind {
    /// The type.
    pub kind: MetricType,
    /// Whether values are durations in milliseconds (k6's `isTime`).
    pub is_time: bool,
}

/// The metrics built into every run.
pub fn builtin(name: &str) -> Option<MetricKind> {
    match name {
        CHECKS => Some(MetricKind {
            kind: MetricType::Rate,
            is_time: false,
        }),
        GROUP_DURATION | ITERATION_DURATION => Some(MetricKind {
            kind: MetricType::Trend,
            is_time: true,
        }),
        ITERATIONS => Some(MetricKind {
            kind: MetricType::Counter,
            is_time: false,
        }),
        _ => None,
    }
}

/// Why a metric cannot be declared or a sample not recorded.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MetricError {
    /// Not a name k6 would accept.
    #[error(
        "invalid metric name '{0}': use letters, digits and underscores, at most {MAX_NAME} characters, not starting with a digit"
    )]
    BadName(String),
    /// The name is taken by a metric of another type.
    #[error("metric '{name}' is already a {existing}; it cannot also be a {wanted}")]
    Conflict {
        /// The metric.
        name: String,
        /// Its type so far.
        existing: &'static str,
        /// The type asked for.
        wanted: &'static str,
    },
    /// Too many metrics in one instance.
    #[error("too many metrics: at most {MAX_SERIES} may be declared")]
    TooMany,
}

/// Whether `name` is a valid metric name (k6's rule).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(first) if first.is_ascii_alphabetic() || first == '_')
        && name.len() <= MAX_NAME
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The metrics one instance has declared (plus the built-in ones), by name.
#[derive(Clone, Debug, Default)]
pub struct Declared {
    metrics: BTreeMap<String, MetricKind>,
}

impl Declared {
    /// Declare `name` as `kind`; declaring it again the same way does nothing.
    pub fn declare(&mut self, name: &str, kind: MetricKind) -> Result<(), MetricError> {
        if !valid_name(name) {
            return Err(MetricError::BadName(name.chars().take(MAX_NAME).collect()));
        }
        let existing = builtin(name).or_else(|| self.metrics.get(name).copied());
        match existing {
            Some(existing) if existing.kind != kind.kind => Err(MetricError::Conflict {
                name: name.to_owned(),
                existing: existing.kind.name(),
                wanted: kind.kind.name(),
            }),
            Some(_) => Ok(()),
            None if self.metrics.len() >= MAX_SERIES => Err(MetricError::TooMany),
            None => {
                self.metrics.insert(name.to_owned(), kind);
                Ok(())
            }
        }
    }

    /// The kind of `name`, if it is built in or declared.
    pub fn get(&self, name: &str) -> Option<MetricKind> {
        builtin(name).or_else(|| self.metrics.get(name).copied())
    }

    /// The declared (not built-in) metrics.
    pub fn iter(&self) -> impl Iterator<Item = (&str, MetricKind)> {
        self.metrics
            .iter()
            .map(|(name, kind)| (name.as_str(), *kind))
    }
}

/// A series' tags: (name, value) pairs, sorted by name, each name once.
pub type Tags = Vec<(String, String)>;

/// A metric's name and tags (sorted by tag name): one series.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// The metric.
    pub metric: String,
    /// Its tags, sorted by name, each name once.
    pub tags: Vec<(String, String)>,
}

impl SeriesKey {
    /// The value of `tag`, if the series has it.
    pub fn tag(&self, tag: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(name, _)| name == tag)
            .map(|(_, value)| value.as_str())
    }
}

/// One series: its kind and its samples.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Series {
    /// The metric's name.
    pub metric: String,
    /// The series' tags, sorted by name.
    pub tags: Vec<(String, String)>,
    /// The metric's kind.
    pub kind: MetricKind,
    /// Its samples.
    pub summary: Summary,
}

/// Put tags in a series' form: bounded, sorted by name, each name once (the last value wins,
/// as in a JavaScript object).
pub fn normalise_tags(tags: Tags) -> Tags {
    let cut = |mut text: String| -> String {
        let mut end = text.len().min(MAX_TAG_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text
    };
    let mut sorted: Tags = Vec::with_capacity(tags.len().min(MAX_TAGS));
    for (name, value) in tags.into_iter().take(MAX_TAGS) {
        let name = cut(name);
        match sorted.iter_mut().find(|(known, _)| *known == name) {
            Some(slot) => slot.1 = cut(value),
            None => sorted.push((name, cut(value))),
        }
    }
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted
}

/// Tags in series form from string pairs (for tests).
#[cfg(test)]
pub(crate) fn tags_of(pairs: &[(&str, &str)]) -> Tags {
    let pairs: Tags = pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    normalise_tags(pairs)
}

/// Every series of a run (or of one thread's shard), bounded to [`MAX_SERIES`] distinct tag
/// sets; samples of further tag sets are counted in one overflow series per metric.
#[derive(Clone, Debug, Default)]
pub struct MetricSet {
    series: BTreeMap<SeriesKey, (MetricKind, Summary)>,
}

static OVERFLOW_WARNED: AtomicBool = AtomicBool::new(false);

impl MetricSet {
    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    fn slot(&mut self, key: SeriesKey, kind: MetricKind) -> &mut Summary {
        let key = if self.series.contains_key(&key) || self.series.len() < MAX_SERIES {
            key
        } else {
            if !OVERFLOW_WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(target: "locust.main", "more than {MAX_SERIES} metric series (distinct tag sets): further ones are counted under the tag {}={:?}; use fewer distinct tag values", OVERFLOW_TAG.0, OVERFLOW_TAG.1);
            }
            SeriesKey {
                metric: key.metric,
                tags: vec![(OVERFLOW_TAG.0.to_owned(), OVERFLOW_TAG.1.to_owned())],
            }
        };
        let (existing, summary) = self.series.entry(key).or_insert((kind, Summary::default()));
        // A series keeps the kind it was first seen with; a conflicting one cannot reach here
        // from one component, and a peer's is merged as the first said.
        let _ = existing;
        summary
    }

    /// Add one sample with tags already in series form ([`normalise_tags`]).
    pub fn add(
        &mut self,
        metric: &str,
        kind: MetricKind,
        tags: Vec<(String, String)>,
        value: f64,
        now: f64,
    ) {
        let key = SeriesKey {
            metric: metric.to_owned(),
            tags,
        };
        self.slot(key, kind).add(kind.kind, value, now);
    }

    /// Add everything `other` holds, emptying it.
    pub fn absorb(&mut self, other: &mut MetricSet) {
        for (key, (kind, summary)) in std::mem::take(&mut other.series) {
            self.slot(key, kind).merge(&summary);
        }
    }

    /// Add series shipped from elsewhere (a worker's report).
    pub fn absorb_series(&mut self, series: &[Series]) {
        for one in series {
            if !valid_name(&one.metric) {
                continue;
            }
            let key = SeriesKey {
                metric: one.metric.clone(),
                tags: normalise_tags(one.tags.clone()),
            };
            self.slot(key, one.kind).merge(&one.summary);
        }
    }

    /// Every series, for shipping.
    pub fn to_series(&self) -> Vec<Series> {
        self.series
            .iter()
            .map(|(key, (kind, summary))| Series {
                metric: key.metric.clone(),
                tags: key.tags.clone(),
                kind: *kind,
                summary: summary.clone(),
            })
            .collect()
    }

    /// Every series, sorted by metric and tags.
    pub fn iter(&self) -> impl Iterator<Item = (&SeriesKey, MetricKind, &Summary)> {
        self.series
            .iter()
            .map(|(key, (kind, summary))| (key, *kind, summary))
    }

    /// The metrics recorded, with their kinds, sorted by name.
    pub fn metrics(&self) -> Vec<(&str, MetricKind)> {
        let mut names: Vec<(&str, MetricKind)> = Vec::new();
        for (key, (kind, _)) in &self.series {
            if names.last().map(|(name, _)| *name) != Some(key.metric.as_str()) {
                names.push((key.metric.as_str(), *kind));
            }
        }
        names
    }

    /// The samples of every series of `metric` whose tags include each of `filter`, merged;
    /// `None` when the metric has no series at all.
    pub fn select(&self, metric: &str, filter: &[(String, String)]) -> Option<Summary> {
        let mut merged: Option<Summary> = None;
        for (key, (_, summary)) in self.series.range(
            SeriesKey {
                metric: metric.to_owned(),
                tags: Vec::new(),
            }..,
        ) {
            if key.metric != metric {
                break;
            }
            let matches = filter
                .iter()
                .all(|(tag, value)| key.tag(tag) == Some(value.as_str()));
            let all = merged.get_or_insert_with(Summary::default);
            if matches {
                all.merge(summary);
            }
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::tags_of as tags;

    const RATE: MetricKind = MetricKind {
        kind: MetricType::Rate,
        is_time: false,
    };

    #[test]
    fn declaring_checks_names_and_types() {
        let mut declared = Declared::default();
        let counter = MetricKind {
            kind: MetricType::Counter,
            is_time: false,
        };
        declared.declare("my_counter", counter).expect("valid");
        declared
            .declare("my_counter", counter)
            .expect("again, same type");
        assert_eq!(
            declared
                .declare("my_counter", RATE)
                .expect_err("conflict")
                .to_string(),
            "metric 'my_counter' is already a counter; it cannot also be a rate"
        );
        assert!(declared.declare("checks", counter).is_err());
        assert!(declared.declare("checks", RATE).is_ok());
        assert!(matches!(
            declared.declare("9lives", counter),
            Err(MetricError::BadName(_))
        ));
        assert!(declared.declare("has space", counter).is_err());
        assert_eq!(
            declared.get("group_duration").map(|k| k.is_time),
            Some(true)
        );
    }

    #[test]
    fn tags_are_sorted_bounded_and_unique() {
        assert_eq!(
            tags(&[("b", "1"), ("a", "2"), ("b", "3")]),
            vec![("a".into(), "2".into()), ("b".into(), "3".into())]
        );
        let long = "é".repeat(MAX_TAG_BYTES);
        let cut = tags(&[("k", &long)]);
        assert!(cut[0].1.len() <= MAX_TAG_BYTES);
    }

    #[test]
    fn selecting_merges_the_series_a_filter_matches() {
        let mut set = MetricSet::default();
        for (check, passed) in [("a", 1.0), ("a", 0.0), ("b", 1.0), ("b", 1.0)] {
            set.add(
                CHECKS,
                RATE,
                tags(&[(CHECK_TAG, check), (GROUP_TAG, "")]),
                passed,
                0.0,
            );
        }
        assert_eq!(set.select(CHECKS, &[]).expect("checks").rate(), 0.75);
        let only_a = set
            .select(CHECKS, &tags(&[(CHECK_TAG, "a")]))
            .expect("checks");
        assert_eq!((only_a.count, only_a.rate()), (2, 0.5));
        let none = set
            .select(CHECKS, &tags(&[(CHECK_TAG, "c")]))
            .expect("the metric exists");
        assert_eq!(none.count, 0);
        assert!(set.select("other", &[]).is_none());
    }

    #[test]
    fn series_past_the_limit_share_one_overflow_series() {
        let mut set = MetricSet::default();
        for index in 0..MAX_SERIES + 10 {
            set.add("m", RATE, tags(&[("id", &index.to_string())]), 1.0, 0.0);
        }
        assert_eq!(set.iter().count(), MAX_SERIES + 1);
        let overflow = set.select("m", &tags(&[OVERFLOW_TAG])).expect("overflow");
        assert_eq!(overflow.count, 10);
        let mut shipped = MetricSet::default();
        shipped.absorb_series(&set.to_series());
        assert_eq!(
            shipped.select("m", &[]).map(|s| s.count),
            Some(MAX_SERIES as u64 + 10)
        );
    }
}
