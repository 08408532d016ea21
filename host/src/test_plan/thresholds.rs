//! k6's thresholds: pass/fail criteria on the test's metrics (`http_req_duration:
//! ['p(95)<500']`), parsed when the component loads and evaluated from the statistics.
//!
//! The metrics are read from what the host records: HTTP requests are every entry that is not
//! a check or a group; `check` entries are k6's checks (a failure is a failed check); `group`
//! entries carry each group's duration.

use std::fmt;

use crate::stats::{RequestStats, StatsEntry};

/// The request type under which the JavaScript SDK records a k6 `check`.
pub const CHECK_TYPE: &str = "check";
/// The request type under which the JavaScript SDK records a k6 `group`'s duration.
pub const GROUP_TYPE: &str = "group";

/// Why a threshold cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ThresholdError {
    /// The metric is not one the host measures.
    #[error(
        "threshold on {0}: that metric is not measured here (supported: http_req_duration, http_req_failed, http_reqs, checks, group_duration)"
    )]
    UnknownMetric(String),
    /// A tag filter the metric cannot be split by.
    #[error(
        "threshold on {metric}: it cannot be filtered by the tag {tag} (supported: {supported})"
    )]
    UnknownTag {
        /// The metric.
        metric: String,
        /// The tag.
        tag: String,
        /// The tags that metric can be filtered by.
        supported: &'static str,
    },
    /// A condition that does not parse or does not fit the metric.
    #[error("threshold {metric}: '{condition}' {reason}")]
    BadCondition {
        /// The metric.
        metric: String,
        /// The condition as written.
        condition: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// What kind of values a metric holds, which decides the aggregations it has.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// Durations: `avg`, `min`, `max`, `med`, `p(N)`.
    Trend,
    /// A share of true values: `rate`.
    Rate,
    /// A count: `count`, `rate` (per second).
    Counter,
}

/// A metric the host measures.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Metric {
    HttpReqDuration,
    HttpReqFailed,
    HttpReqs,
    Checks,
    GroupDuration,
}

impl Metric {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "http_req_duration" => Self::HttpReqDuration,
            "http_req_failed" => Self::HttpReqFailed,
            "http_reqs" => Self::HttpReqs,
            "checks" => Self::Checks,
            "group_duration" => Self::GroupDuration,
            _ => return None,
        })
    }

    fn kind(self) -> Kind {
        match self {
            Self::HttpReqDuration | Self::GroupDuration => Kind::Trend,
            Self::HttpReqFailed | Self::Checks => Kind::Rate,
            Self::HttpReqs => Kind::Counter,
        }
    }

    /// The tags the metric can be filtered by, and what each selects.
    fn tags(self) -> &'static str {
        match self {
            Self::HttpReqDuration | Self::HttpReqFailed | Self::HttpReqs => "name, method",
            Self::Checks => "check",
            Self::GroupDuration => "group",
        }
    }

    /// Whether `entry` is one of the metric's samples.
    fn samples(self, entry: &StatsEntry) -> bool {
        let is_check = entry.method == CHECK_TYPE;
        let is_group = entry.method == GROUP_TYPE;
        match self {
            Self::HttpReqDuration | Self::HttpReqFailed | Self::HttpReqs => !is_check && !is_group,
            Self::Checks => is_check,
            Self::GroupDuration => is_group,
        }
    }
}

/// Which value of the metric a condition compares.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Aggregate {
    Avg,
    Min,
    Max,
    Med,
    /// A percentile, 0–100.
    Percentile(f64),
    Rate,
    Count,
}

impl Aggregate {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "avg" => Self::Avg,
            "min" => Self::Min,
            "max" => Self::Max,
            "med" => Self::Med,
            "rate" => Self::Rate,
            "count" => Self::Count,
            _ => {
                let number = text.strip_prefix("p(")?.strip_suffix(')')?.trim();
                let value: f64 = number.parse().ok()?;
                if !(0.0..=100.0).contains(&value) {
                    return None;
                }
                Self::Percentile(value)
            }
        })
    }

    fn fits(self, kind: Kind) -> bool {
        match self {
            Self::Avg | Self::Min | Self::Max | Self::Med | Self::Percentile(_) => {
                kind == Kind::Trend
            }
            Self::Rate => kind == Kind::Rate || kind == Kind::Counter,
            Self::Count => kind == Kind::Counter,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Operator {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Equal,
    NotEqual,
}

impl Operator {
    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Self::Less => left < right,
            Self::LessOrEqual => left <= right,
            Self::Greater => left > right,
            Self::GreaterOrEqual => left >= right,
            Self::Equal => left == right,
            Self::NotEqual => left != right,
        }
    }
}

/// One condition: `p(95) < 500`.
#[derive(Clone, Debug, PartialEq)]
struct Condition {
    text: String,
    aggregate: Aggregate,
    operator: Operator,
    value: f64,
}

impl Condition {
    fn parse(metric: &str, kind: Kind, text: &str) -> Result<Self, ThresholdError> {
        let bad = |reason: &str| ThresholdError::BadCondition {
            metric: metric.to_owned(),
            condition: text.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = text.trim();
        let at = trimmed
            .find(['<', '>', '=', '!'])
            .ok_or_else(|| bad("has no comparison (write e.g. p(95)<500 or rate<0.01)"))?;
        let (left, rest) = trimmed.split_at(at);
        let (operator, right) = [
            ("<=", Operator::LessOrEqual),
            (">=", Operator::GreaterOrEqual),
            ("===", Operator::Equal),
            ("==", Operator::Equal),
            ("!=", Operator::NotEqual),
            ("<", Operator::Less),
            (">", Operator::Greater),
        ]
        .into_iter()
        .find_map(|(symbol, operator)| rest.strip_prefix(symbol).map(|right| (operator, right)))
        .ok_or_else(|| bad("has an unknown comparison (use <, <=, >, >=, == or !=)"))?;
        let aggregate = Aggregate::parse(left.trim())
            .ok_or_else(|| bad("does not start with avg, min, max, med, p(N), rate or count"))?;
        if !aggregate.fits(kind) {
            let which = match kind {
                Kind::Trend => "avg, min, max, med and p(N)",
                Kind::Rate => "rate",
                Kind::Counter => "count and rate",
            };
            return Err(bad(&format!("does not fit this metric, which has {which}")));
        }
        let value: f64 = right
            .trim()
            .parse()
            .ok()
            .filter(|value: &f64| value.is_finite())
            .ok_or_else(|| bad("does not compare with a number"))?;
        Ok(Self {
            text: trimmed.to_owned(),
            aggregate,
            operator,
            value,
        })
    }
}

/// A threshold: a metric (optionally filtered by one tag) and the conditions on it.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// The metric as written, e.g. `http_req_duration{name:/login}`.
    pub source: String,
    metric: Metric,
    filter: Option<(String, String)>,
    conditions: Vec<Condition>,
    /// Stop the test as soon as it fails.
    pub abort_on_fail: bool,
}

/// One evaluated condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// `http_req_duration: p(95)<500`.
    pub label: String,
    /// The value measured.
    pub measured: f64,
    /// Whether the condition held.
    pub passed: bool,
}

impl fmt::Display for Verdict {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.passed { "✓" } else { "✗" };
        write!(
            out,
            "{mark} {} (measured {})",
            self.label,
            round(self.measured)
        )
    }
}

fn round(value: f64) -> String {
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

impl Threshold {
    /// Parse a threshold on `metric` (with an optional `{tag:value}`) with its conditions.
    pub fn parse(
        metric: &str,
        conditions: &[String],
        abort_on_fail: bool,
    ) -> Result<Self, ThresholdError> {
        let source = metric.trim().to_owned();
        let (name, filter) = match source.split_once('{') {
            Some((name, rest)) => {
                let inner = rest
                    .strip_suffix('}')
                    .ok_or_else(|| ThresholdError::BadCondition {
                        metric: source.clone(),
                        condition: source.clone(),
                        reason: "has a tag filter without its closing }".to_owned(),
                    })?;
                let (tag, value) =
                    inner
                        .split_once(':')
                        .ok_or_else(|| ThresholdError::BadCondition {
                            metric: source.clone(),
                            condition: inner.to_owned(),
                            reason: "is not a tag filter of the form {tag:value}".to_owned(),
                        })?;
                (
                    name.trim(),
                    Some((tag.trim().to_owned(), value.trim().to_owned())),
                )
            }
            None => (source.as_str(), None),
        };
        let parsed =
            Metric::parse(name).ok_or_else(|| ThresholdError::UnknownMetric(name.to_owned()))?;
        if let Some((tag, _)) = &filter
            && !parsed.tags().split(", ").any(|known| known == tag)
        {
            return Err(ThresholdError::UnknownTag {
                metric: name.to_owned(),
                tag: tag.clone(),
                supported: parsed.tags(),
            });
        }
        if conditions.is_empty() {
            return Err(ThresholdError::BadCondition {
                metric: source.clone(),
                condition: String::new(),
                reason: "is empty: give at least one condition".to_owned(),
            });
        }
        let conditions = conditions
            .iter()
            .map(|text| Condition::parse(&source, parsed.kind(), text))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            source,
            metric: parsed,
            filter,
            conditions,
            abort_on_fail,
        })
    }

    fn selects(&self, entry: &StatsEntry) -> bool {
        if !self.metric.samples(entry) {
            return false;
        }
        match &self.filter {
            None => true,
            Some((tag, value)) => match tag.as_str() {
                "method" => entry.method == *value,
                // name, check and group all select by the entry's name.
                _ => entry.name == *value,
            },
        }
    }

    /// Evaluate every condition against `stats`, whose requests span `seconds`.
    pub fn evaluate(&self, stats: &RequestStats, seconds: f64) -> Vec<Verdict> {
        let mut samples = StatsEntry::new("", &self.source, 0.0);
        for entry in stats.entries.values().filter(|entry| self.selects(entry)) {
            samples.extend(entry);
        }
        self.conditions
            .iter()
            .map(|condition| {
                let measured = match condition.aggregate {
                    Aggregate::Avg => samples.avg_response_time(),
                    Aggregate::Min => samples.min_response_time(),
                    Aggregate::Max => samples.max_response_time(),
                    Aggregate::Med => samples.median_response_time(),
                    Aggregate::Percentile(p) => samples.percentile(p / 100.0),
                    Aggregate::Count => samples.num_requests as f64,
                    Aggregate::Rate => match self.metric.kind() {
                        Kind::Counter if seconds > 0.0 => samples.num_requests as f64 / seconds,
                        Kind::Counter => 0.0,
                        // http_req_failed counts failures as true; checks count passes.
                        _ if self.metric == Metric::Checks => {
                            if samples.num_requests == 0 {
                                0.0
                            } else {
                                1.0 - samples.fail_ratio()
                            }
                        }
                        _ => {
                            if samples.num_requests == 0 {
                                0.0
                            } else {
                                samples.fail_ratio()
                            }
                        }
                    },
                };
                Verdict {
                    label: format!("{}: {}", self.source, condition.text),
                    measured,
                    passed: condition.operator.holds(measured, condition.value),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn stats() -> RequestStats {
        let recorder = crate::stats::Stats::new();
        for ms in 1..=100u64 {
            recorder.record("GET", "/", Duration::from_millis(ms), 10, None);
        }
        for _ in 0..5 {
            recorder.record(
                "POST",
                "/login",
                Duration::from_millis(500),
                10,
                Some("500 Internal Server Error"),
            );
        }
        for index in 0..10 {
            let error = (index < 2).then_some("check failed");
            recorder.record(CHECK_TYPE, "status is 200", Duration::ZERO, 0, error);
        }
        recorder.record(GROUP_TYPE, "::login", Duration::from_millis(900), 0, None);
        recorder.snapshot()
    }

    fn verdicts(metric: &str, conditions: &[&str]) -> Vec<Verdict> {
        let conditions: Vec<String> = conditions.iter().map(|c| (*c).to_owned()).collect();
        Threshold::parse(metric, &conditions, false)
            .expect("a valid threshold")
            .evaluate(&stats(), 10.0)
    }

    #[test]
    fn durations_are_over_http_requests_only() {
        let result = verdicts("http_req_duration", &["p(95)<600", "max<=500", "avg<10"]);
        assert!(result[0].passed, "{}", result[0]);
        assert!(result[1].passed, "{}", result[1]);
        assert_eq!(result[1].measured, 500.0);
        assert!(!result[2].passed, "avg is about 72 ms: {}", result[2]);
        assert!(
            result[2]
                .to_string()
                .starts_with("✗ http_req_duration: avg<10 (measured 7")
        );
    }

    #[test]
    fn failure_and_check_rates_count_the_right_way_round() {
        let failed = verdicts("http_req_failed", &["rate<0.01"]);
        assert!(!failed[0].passed);
        assert!((failed[0].measured - 5.0 / 105.0).abs() < 1e-9);
        let checks = verdicts("checks", &["rate>0.7", "rate>0.9"]);
        assert!((checks[0].measured - 0.8).abs() < 1e-9);
        assert!(checks[0].passed && !checks[1].passed);
        let requests = verdicts("http_reqs", &["count==105", "rate>10"]);
        assert!(requests[0].passed && requests[1].passed, "{requests:?}");
    }

    #[test]
    fn tag_filters_select_one_name_or_method() {
        assert!(verdicts("http_req_duration{name:/login}", &["min==500"])[0].passed);
        assert!(verdicts("http_req_failed{method:GET}", &["rate==0"])[0].passed);
        assert!(verdicts("group_duration{group:::login}", &["max>800"])[0].passed);
        assert!(verdicts("checks{check:status is 200}", &["rate==0.8"])[0].passed);
    }

    #[test]
    fn mistakes_are_refused_with_what_to_write() {
        let parse = |metric: &str, condition: &str| {
            Threshold::parse(metric, &[condition.to_owned()], false)
                .expect_err("refused")
                .to_string()
        };
        assert!(parse("vus_max", "value<3").contains("not measured here"));
        assert!(
            parse("http_req_duration{status:200}", "p(95)<1").contains("supported: name, method")
        );
        assert!(parse("http_req_duration", "rate<1").contains("avg, min, max, med and p(N)"));
        assert!(parse("http_req_failed", "p(95)<1").contains("which has rate"));
        assert!(parse("http_req_duration", "p(95)").contains("no comparison"));
        assert!(parse("http_req_duration", "p(95)<fast").contains("number"));
        assert!(parse("http_req_duration", "p(101)<1").contains("does not start with"));
    }
}
