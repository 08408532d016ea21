//! k6's thresholds: pass/fail criteria on the test's metrics (`http_req_duration:
//! ['p(95)<500']`), parsed when the component loads and evaluated from the statistics.
//!
//! `http_req_duration`, `http_req_failed` and `http_reqs` are read from the request table
//! (every HTTP and plugin request); `checks`, `group_duration` and the script's custom metrics
//! from the run's metric series (`crate::metrics`), which never count as requests.

use std::fmt;

use crate::metrics::{Declared, MetricType, Tags};
use crate::stats::{RequestStats, StatsEntry};

/// Why a threshold cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ThresholdError {
    /// The metric is neither measured by the host nor declared by the script.
    #[error(
        "threshold on {0}: no such metric (the host measures http_req_duration, http_req_failed, http_reqs, checks and group_duration; others must be declared by the script, e.g. new Trend('{0}') from k6/metrics)"
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
    /// A distribution: `avg`, `min`, `max`, `med`, `p(N)`.
    Trend,
    /// A share of true values: `rate`.
    Rate,
    /// A count: `count`, `rate` (per second).
    Counter,
    /// The latest value: `value`.
    Gauge,
}

impl From<MetricType> for Kind {
    fn from(kind: MetricType) -> Self {
        match kind {
            MetricType::Counter => Self::Counter,
            MetricType::Gauge => Self::Gauge,
            MetricType::Rate => Self::Rate,
            MetricType::Trend => Self::Trend,
        }
    }
}

/// Where a metric's samples are read from.
#[derive(Clone, Debug, PartialEq)]
enum Metric {
    HttpReqDuration,
    HttpReqFailed,
    HttpReqs,
    /// A series of the run's metric set: checks, group durations, custom metrics.
    Series(String, Kind),
}

/// The tags the request metrics can be filtered by.
const REQUEST_TAGS: &str = "name, method";

impl Metric {
    fn parse(name: &str, declared: &Declared) -> Option<Self> {
        Some(match name {
            "http_req_duration" => Self::HttpReqDuration,
            "http_req_failed" => Self::HttpReqFailed,
            "http_reqs" => Self::HttpReqs,
            _ => {
                let kind = declared.get(name)?;
                Self::Series(name.to_owned(), kind.kind.into())
            }
        })
    }

    fn kind(&self) -> Kind {
        match self {
            Self::HttpReqDuration => Kind::Trend,
            Self::HttpReqFailed => Kind::Rate,
            Self::HttpReqs => Kind::Counter,
            Self::Series(_, kind) => *kind,
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
    /// A gauge's latest value.
    Value,
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
            "value" => Self::Value,
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
            Self::Value => kind == Kind::Gauge,
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
    /// What it measures, as written: `p(95)`, `rate`.
    subject: String,
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
        let aggregate = Aggregate::parse(left.trim()).ok_or_else(|| {
            bad("does not start with avg, min, max, med, p(N), rate, count or value")
        })?;
        if !aggregate.fits(kind) {
            let which = match kind {
                Kind::Trend => "avg, min, max, med and p(N)",
                Kind::Rate => "rate",
                Kind::Counter => "count and rate",
                Kind::Gauge => "value",
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
            subject: left.trim().to_owned(),
            aggregate,
            operator,
            value,
        })
    }
}

/// A threshold: a metric (optionally filtered by tags) and the conditions on it.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// The metric as written, e.g. `http_req_duration{name:/login}`.
    pub source: String,
    metric: Metric,
    /// Tags a sample must carry, sorted by name.
    filter: Vec<(String, String)>,
    conditions: Vec<Condition>,
    /// Stop the test as soon as it fails.
    pub abort_on_fail: bool,
    /// Whether the metric's values are milliseconds.
    is_time: bool,
}

/// One evaluated condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// `http_req_duration: p(95)<500`.
    pub label: String,
    /// The metric as written, with its filter: `http_req_duration{name:/login}`.
    pub metric: String,
    /// The condition as written: `p(95)<500`.
    pub condition: String,
    /// The measured value as k6's summary shows it: `p(95)=6.2ms`, `rate=99.50%`.
    pub shown: String,
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

/// Split `metric{tag:value,tag:value}` into the name and its filter.
fn split_filter(source: &str) -> Result<(&str, Tags), ThresholdError> {
    let bad = |condition: &str, reason: &str| ThresholdError::BadCondition {
        metric: source.to_owned(),
        condition: condition.to_owned(),
        reason: reason.to_owned(),
    };
    let Some((name, rest)) = source.split_once('{') else {
        return Ok((source, Vec::new()));
    };
    let inner = rest
        .strip_suffix('}')
        .ok_or_else(|| bad(source, "has a tag filter without its closing }"))?;
    let mut filter = Vec::new();
    for pair in inner.split(',') {
        let (tag, value) = pair
            .split_once(':')
            .ok_or_else(|| bad(inner, "is not a tag filter of the form {tag:value}"))?;
        let value = value.trim();
        // k6 accepts quoted values: {name:"/login"}.
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        filter.push((tag.trim().to_owned(), value.to_owned()));
    }
    Ok((name.trim(), crate::metrics::normalise_tags(filter)))
}

impl Threshold {
    /// Parse a threshold on `metric` (with an optional `{tag:value,...}` filter) with its
    /// conditions; metrics other than the request ones must be built in or in `declared`.
    pub fn parse(
        metric: &str,
        conditions: &[String],
        abort_on_fail: bool,
        declared: &Declared,
    ) -> Result<Self, ThresholdError> {
        let source = metric.trim().to_owned();
        let (name, filter) = split_filter(&source)?;
        let parsed = Metric::parse(name, declared)
            .ok_or_else(|| ThresholdError::UnknownMetric(name.to_owned()))?;
        let is_time = declared.get(name).is_some_and(|kind| kind.is_time);
        if !matches!(parsed, Metric::Series(..))
            && let Some((tag, _)) = filter
                .iter()
                .find(|(tag, _)| !REQUEST_TAGS.split(", ").any(|known| known == tag))
        {
            return Err(ThresholdError::UnknownTag {
                metric: name.to_owned(),
                tag: tag.clone(),
                supported: REQUEST_TAGS,
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
            is_time,
        })
    }

    /// Whether a request entry is one of a request metric's samples.
    fn selects(&self, entry: &StatsEntry) -> bool {
        self.filter.iter().all(|(tag, value)| match tag.as_str() {
            "method" => entry.method == *value,
            _ => entry.name == *value,
        })
    }

    /// Evaluate every condition against `stats`, whose requests span `seconds`.
    pub fn evaluate(&self, stats: &RequestStats, seconds: f64) -> Vec<Verdict> {
        let measure: Box<dyn Fn(Aggregate) -> f64> = match &self.metric {
            Metric::Series(name, kind) => {
                let summary = stats.metrics.select(name, &self.filter).unwrap_or_default();
                let kind = *kind;
                Box::new(move |aggregate| match aggregate {
                    Aggregate::Avg => summary.avg(),
                    Aggregate::Min => summary.min(),
                    Aggregate::Max => summary.max(),
                    Aggregate::Med => summary.percentile(50.0),
                    Aggregate::Percentile(p) => summary.percentile(p),
                    Aggregate::Count => summary.sum,
                    Aggregate::Value => summary.last,
                    Aggregate::Rate if kind == Kind::Counter => {
                        if seconds > 0.0 {
                            summary.sum / seconds
                        } else {
                            0.0
                        }
                    }
                    Aggregate::Rate => summary.rate(),
                })
            }
            request => {
                let mut samples = StatsEntry::new("", &self.source, 0.0);
                for entry in stats.entries.values().filter(|entry| self.selects(entry)) {
                    samples.extend(entry);
                }
                let failed = *request == Metric::HttpReqFailed;
                Box::new(move |aggregate| match aggregate {
                    Aggregate::Avg => samples.avg_response_time(),
                    Aggregate::Min => samples.min_response_time(),
                    Aggregate::Max => samples.max_response_time(),
                    Aggregate::Med => samples.median_response_time(),
                    Aggregate::Percentile(p) => samples.percentile(p / 100.0),
                    Aggregate::Count => samples.num_requests as f64,
                    Aggregate::Value => 0.0,
                    Aggregate::Rate if failed => {
                        if samples.num_requests == 0 {
                            0.0
                        } else {
                            samples.fail_ratio()
                        }
                    }
                    Aggregate::Rate if seconds > 0.0 => samples.num_requests as f64 / seconds,
                    Aggregate::Rate => 0.0,
                })
            }
        };
        self.conditions
            .iter()
            .map(|condition| {
                let measured = measure(condition.aggregate);
                let time = match &self.metric {
                    Metric::HttpReqDuration => true,
                    Metric::Series(_, Kind::Trend) => self.is_time,
                    _ => false,
                };
                let value = match condition.aggregate {
                    Aggregate::Rate if self.metric.kind() == Kind::Rate => {
                        format!("{:.2}%", measured * 100.0)
                    }
                    Aggregate::Rate => format!("{}/s", round(measured)),
                    _ if time => crate::metrics::render::duration(measured),
                    _ => round(measured),
                };
                Verdict {
                    label: format!("{}: {}", self.source, condition.text),
                    metric: self.source.clone(),
                    condition: condition.text.clone(),
                    shown: format!("{}={value}", condition.subject),
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
        let tags = crate::metrics::tags_of;
        let declared = declared();
        for index in 0..10 {
            let passed = if index < 2 { 0.0 } else { 1.0 };
            let check = [("check", "status is 200"), ("group", "")];
            recorder.record_metric("checks", checks_kind(), tags(&check), passed);
        }
        let group = declared.get("group_duration").expect("built in");
        recorder.record_metric(
            "group_duration",
            group,
            tags(&[("group", "::login")]),
            900.0,
        );
        let waiting = declared.get("waiting").expect("declared");
        for (value, kind) in [(10.0, "html"), (30.0, "html"), (50.0, "json")] {
            recorder.record_metric("waiting", waiting, tags(&[("kind", kind)]), value);
        }
        let errors = declared.get("errors").expect("declared");
        recorder.record_metric("errors", errors, Vec::new(), 3.0);
        recorder.record_metric("errors", errors, Vec::new(), 4.0);
        let level = declared.get("level").expect("declared");
        recorder.record_metric("level", level, Vec::new(), 9.0);
        recorder.record_metric("level", level, Vec::new(), 2.0);
        recorder.snapshot()
    }

    fn checks_kind() -> crate::metrics::MetricKind {
        crate::metrics::builtin("checks").expect("built in")
    }

    fn declared() -> Declared {
        let mut declared = Declared::default();
        for (name, kind) in [
            ("waiting", MetricType::Trend),
            ("errors", MetricType::Counter),
            ("level", MetricType::Gauge),
        ] {
            let kind = crate::metrics::MetricKind {
                kind,
                is_time: false,
            };
            declared.declare(name, kind).expect("valid");
        }
        declared
    }

    fn verdicts(metric: &str, conditions: &[&str]) -> Vec<Verdict> {
        let conditions: Vec<String> = conditions.iter().map(|c| (*c).to_owned()).collect();
        Threshold::parse(metric, &conditions, false, &declared())
            .expect("a valid threshold")
            .evaluate(&stats(), 10.0)
    }

    #[test]
    fn checks_and_groups_are_not_requests() {
        let requests = verdicts("http_reqs", &["count==105"]);
        assert!(requests[0].passed, "{requests:?}");
    }

    #[test]
    fn custom_metrics_answer_by_their_type() {
        assert!(
            verdicts("waiting", &["avg==30", "max==50", "med>=30", "med<30.1"])
                .iter()
                .all(|v| v.passed)
        );
        assert!(
            verdicts("waiting{kind:html}", &["max==30", "min==10"])
                .iter()
                .all(|v| v.passed)
        );
        let counter = verdicts("errors", &["count==7", "rate==0.7"]);
        assert!(counter.iter().all(|v| v.passed), "{counter:?}");
        assert!(verdicts("level", &["value==2"])[0].passed);
        let parse = |metric: &str, condition: &str| {
            Threshold::parse(metric, &[condition.to_owned()], false, &declared())
                .expect_err("refused")
                .to_string()
        };
        assert!(parse("level", "avg<3").contains("which has value"));
        assert!(parse("undeclared_thing", "count<3").contains("no such metric"));
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
            Threshold::parse(metric, &[condition.to_owned()], false, &declared())
                .expect_err("refused")
                .to_string()
        };
        assert!(parse("vus_max", "value<3").contains("no such metric"));
        assert!(
            parse("http_req_duration{status:200}", "p(95)<1").contains("supported: name, method")
        );
        assert!(parse("http_req_duration", "rate<1").contains("avg, min, max, med and p(N)"));
        assert!(parse("http_req_failed", "p(95)<1").contains("which has rate"));
        assert!(parse("http_req_duration", "p(95)").contains("no comparison"));
        assert!(parse("http_req_duration", "p(95)<fast").contains("number"));
        assert!(parse("http_req_duration", "p(101)<1").contains("does not start with"));
        assert!(parse("http_reqs{name:/a", "count<1").contains("closing }"));
    }
}
