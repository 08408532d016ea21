//! The metric series as people read them: console tables (checks as k6 lists them, then every
//! other metric with the figures its type has), a CSV file and the web UI's JSON.

use std::fmt::Write as _;

use super::{CHECK_TAG, CHECKS, GROUP_TAG, MetricKind, MetricSet, MetricType, SeriesKey, Summary};

/// Width of the name column, as in the request table.
const NAME_WIDTH: usize = 60;

fn rule() -> String {
    "-".repeat(NAME_WIDTH + 40)
}

/// How a check is named in tables: its group path (if any), then its name.
pub fn check_label(key: &SeriesKey) -> String {
    let check = key.tag(CHECK_TAG).unwrap_or_default();
    match key.tag(GROUP_TAG) {
        Some(group) if !group.is_empty() => format!("{group}::{check}"),
        _ => check.to_owned(),
    }
}

/// The checks table (name, passes, fails, pass rate), empty when the run had no checks.
pub fn render_checks(set: &MetricSet) -> String {
    let checks: Vec<(&SeriesKey, &Summary)> = set
        .iter()
        .filter(|(key, _, _)| key.metric == CHECKS)
        .map(|(key, _, summary)| (key, summary))
        .collect();
    if checks.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        " {:<NAME_WIDTH$} {:>10} {:>10} {:>10}",
        "Check", "passes", "fails", "rate"
    );
    let _ = writeln!(out, "{}", rule());
    let mut total = Summary::default();
    for (key, summary) in &checks {
        check_row(&mut out, &check_label(key), summary);
        total.merge(summary);
    }
    let _ = writeln!(out, "{}", rule());
    check_row(&mut out, "All checks", &total);
    out.push('\n');
    out
}

fn check_row(out: &mut String, label: &str, summary: &Summary) {
    let label: String = label.chars().take(NAME_WIDTH).collect();
    let _ = writeln!(
        out,
        " {label:<NAME_WIDTH$} {:>10} {:>10} {:>9.2}%",
        summary.nonzero,
        summary.count - summary.nonzero,
        summary.rate() * 100.0
    );
}

/// A duration in milliseconds as k6 prints it: `850µs`, `12.34ms`, `1.5s`, `2m3s`.
pub fn duration(milliseconds: f64) -> String {
    let trim = |text: String| -> String {
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            text
        }
    };
    if milliseconds < 1.0 {
        format!("{}µs", trim(format!("{:.2}", milliseconds * 1000.0)))
    } else if milliseconds < 1000.0 {
        format!("{}ms", trim(format!("{milliseconds:.2}")))
    } else if milliseconds < 60_000.0 {
        format!("{}s", trim(format!("{:.2}", milliseconds / 1000.0)))
    } else {
        let seconds = (milliseconds / 1000.0).round() as u64;
        format!("{}m{}s", seconds / 60, seconds % 60)
    }
}

/// A number as a table shows it: at most three decimals, no trailing zeros.
pub(crate) fn number(value: f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// A value with its unit when the metric holds times.
fn value(kind: MetricKind, value: f64) -> String {
    if kind.is_time {
        format!("{}ms", number(value))
    } else {
        number(value)
    }
}

/// The figures of one series, as k6's summary names them. `seconds` is the run's length, for
/// a counter's rate.
pub fn figures(kind: MetricKind, summary: &Summary, seconds: f64) -> String {
    match kind.kind {
        MetricType::Counter => {
            let rate = if seconds > 0.0 {
                summary.sum / seconds
            } else {
                0.0
            };
            format!("count={} rate={}/s", number(summary.sum), number(rate))
        }
        MetricType::Gauge => format!(
            "value={} min={} max={}",
            value(kind, summary.last),
            value(kind, summary.min()),
            value(kind, summary.max())
        ),
        MetricType::Rate => format!(
            "rate={:.2}% ({} of {})",
            summary.rate() * 100.0,
            summary.nonzero,
            summary.count
        ),
        MetricType::Trend => format!(
            "avg={} min={} med={} max={} p(90)={} p(95)={}",
            value(kind, summary.avg()),
            value(kind, summary.min()),
            value(kind, summary.percentile(50.0)),
            value(kind, summary.max()),
            value(kind, summary.percentile(90.0)),
            value(kind, summary.percentile(95.0)),
        ),
    }
}

/// A series' tags as k6 writes a sub-metric: `{tag:value,tag:value}`.
pub fn tag_filter(key: &SeriesKey) -> String {
    let tags: Vec<String> = key
        .tags
        .iter()
        .map(|(name, value)| format!("{name}:{value}"))
        .collect();
    format!("{{{}}}", tags.join(","))
}

/// Every metric but the checks: one row per metric (all its series together), then one per
/// tagged series. Empty when there are none.
pub fn render_metrics(set: &MetricSet, seconds: f64) -> String {
    let metrics: Vec<(&str, MetricKind)> = set
        .metrics()
        .into_iter()
        .filter(|(name, _)| *name != CHECKS)
        .collect();
    if metrics.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let _ = writeln!(out, " {:<NAME_WIDTH$} {:<8} Values", "Metric", "Type");
    let _ = writeln!(out, "{}", rule());
    for (name, kind) in metrics {
        let all = set.select(name, &[]).unwrap_or_default();
        let _ = writeln!(
            out,
            " {name:<NAME_WIDTH$} {:<8} {}",
            kind.kind.name(),
            figures(kind, &all, seconds)
        );
        for (key, kind, summary) in set.iter().filter(|(key, _, _)| key.metric == name) {
            if key.tags.is_empty() {
                continue;
            }
            let label: String = format!("  {}", tag_filter(key))
                .chars()
                .take(NAME_WIDTH)
                .collect();
            let _ = writeln!(
                out,
                " {label:<NAME_WIDTH$} {:<8} {}",
                "",
                figures(kind, summary, seconds)
            );
        }
    }
    out.push('\n');
    out
}

/// Every series as one JSON object (`metric`, `type`, `is_time`, `tags`, and the figures of
/// its type), for `/stats/metrics` and JSON output.
pub fn to_json(set: &MetricSet, seconds: f64) -> serde_json::Value {
    let series: Vec<serde_json::Value> = set
        .iter()
        .map(|(key, kind, summary)| {
            let tags: serde_json::Map<String, serde_json::Value> = key
                .tags
                .iter()
                .map(|(name, value)| (name.clone(), serde_json::Value::from(value.clone())))
                .collect();
            let mut entry = serde_json::json!({
                "metric": key.metric,
                "type": kind.kind.name(),
                "is_time": kind.is_time,
                "tags": tags,
                "count": summary.count,
            });
            let figures = match kind.kind {
                MetricType::Counter => serde_json::json!({
                    "sum": summary.sum,
                    "rate": if seconds > 0.0 { summary.sum / seconds } else { 0.0 },
                }),
                MetricType::Gauge => serde_json::json!({
                    "value": summary.last, "min": summary.min(), "max": summary.max(),
                }),
                MetricType::Rate => serde_json::json!({
                    "rate": summary.rate(),
                    "passes": summary.nonzero,
                    "fails": summary.count - summary.nonzero,
                }),
                MetricType::Trend => serde_json::json!({
                    "avg": summary.avg(),
                    "min": summary.min(),
                    "med": summary.percentile(50.0),
                    "max": summary.max(),
                    "p(90)": summary.percentile(90.0),
                    "p(95)": summary.percentile(95.0),
                    "p(99)": summary.percentile(99.0),
                }),
            };
            if let (Some(entry), serde_json::Value::Object(figures)) =
                (entry.as_object_mut(), figures)
            {
                entry.extend(figures);
            }
            entry
        })
        .collect();
    serde_json::Value::Array(series)
}

/// The series as CSV: one row per series, the columns every type shares and those of its
/// own type (empty where they do not apply).
pub fn render_csv(set: &MetricSet, seconds: f64) -> Vec<u8> {
    let mut out =
        String::from("Metric,Type,Tags,Count,Sum,Rate,Value,Average,Min,Median,Max,90%,95%,99%\n");
    let quote = |text: &str| {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    };
    for (key, kind, summary) in set.iter() {
        let tags = if key.tags.is_empty() {
            String::new()
        } else {
            tag_filter(key)
        };
        let (rate, value_column) = match kind.kind {
            MetricType::Counter if seconds > 0.0 => (number(summary.sum / seconds), String::new()),
            MetricType::Counter => ("0".to_owned(), String::new()),
            MetricType::Rate => (number(summary.rate()), String::new()),
            MetricType::Gauge => (String::new(), number(summary.last)),
            MetricType::Trend => (String::new(), String::new()),
        };
        let distribution = match kind.kind {
            MetricType::Trend => [
                number(summary.avg()),
                number(summary.min()),
                number(summary.percentile(50.0)),
                number(summary.max()),
                number(summary.percentile(90.0)),
                number(summary.percentile(95.0)),
                number(summary.percentile(99.0)),
            ]
            .join(","),
            MetricType::Gauge => {
                format!(",{},,{},,,", number(summary.min()), number(summary.max()))
            }
            _ => ",,,,,,".to_owned(),
        };
        let _ = writeln!(
            out,
            "{},{},{},{},{},{rate},{value_column},{distribution}",
            quote(&key.metric),
            kind.kind.name(),
            quote(&tags),
            summary.count,
            number(summary.sum),
        );
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{GROUP_DURATION, builtin};

    use crate::metrics::tags_of as tags;

    fn run() -> MetricSet {
        let mut set = MetricSet::default();
        let checks = builtin(CHECKS).expect("built in");
        for passed in [1.0, 1.0, 0.0] {
            let check = tags(&[(CHECK_TAG, "status is 200"), (GROUP_TAG, "::login")]);
            set.add(CHECKS, checks, check, passed, 0.0);
        }
        let group = builtin(GROUP_DURATION).expect("built in");
        set.add(
            GROUP_DURATION,
            group,
            tags(&[(GROUP_TAG, "::login")]),
            12.5,
            0.0,
        );
        let counter = MetricKind {
            kind: MetricType::Counter,
            is_time: false,
        };
        set.add("orders", counter, Vec::new(), 4.0, 0.0);
        set
    }

    #[test]
    fn checks_are_listed_with_passes_fails_and_rate() {
        let text = render_checks(&run());
        let row = text
            .lines()
            .find(|line| line.contains("::login::status is 200"))
            .expect("the check's row");
        let cells: Vec<&str> = row.split_whitespace().rev().take(3).collect();
        assert_eq!(cells, ["66.67%", "1", "2"], "{text}");
        assert!(text.contains("All checks"));
        assert!(render_checks(&MetricSet::default()).is_empty());
    }

    #[test]
    fn other_metrics_show_their_types_figures() {
        let text = render_metrics(&run(), 2.0);
        assert!(text.contains("count=4 rate=2/s"), "{text}");
        assert!(text.contains("avg=12.5ms"), "{text}");
        assert!(text.contains("{group:::login}"), "{text}");
        assert!(!text.contains("status is 200"), "{text}");
        let json = to_json(&run(), 2.0);
        let orders = json
            .as_array()
            .and_then(|all| all.iter().find(|s| s["metric"] == "orders"))
            .expect("orders");
        assert_eq!(orders["sum"], 4.0);
        assert_eq!(orders["rate"], 2.0);
        let csv = String::from_utf8(render_csv(&run(), 2.0)).expect("utf-8");
        let mut reader = ::csv::Reader::from_reader(csv.as_bytes());
        let rows: Vec<::csv::StringRecord> =
            reader.records().map(|row| row.expect("row")).collect();
        assert_eq!(rows.len(), 3, "{csv}");
        assert!(rows.iter().all(|row| row.len() == 14), "{csv}");
        assert_eq!(&rows[0][2], "{check:status is 200,group:::login}");
    }
}
