//! k6's end-of-test summary for scripts that carry k6 options: the thresholds with their
//! verdicts, then the totals (checks by group, custom metrics, HTTP, execution, network) in
//! k6's compact layout, computed from the host's own statistics.

use std::fmt::Write as _;

use super::render::{duration, number};
use super::{
    CHECK_TAG, CHECKS, GROUP_DURATION, GROUP_TAG, ITERATION_DURATION, ITERATIONS, MetricKind,
    MetricType, Summary,
};
use crate::stats::{RequestStats, StatsEntry};
use crate::test_plan::Verdict;

/// Width of a metric's name with its dots.
const NAME_WIDTH: usize = 40;

fn line(out: &mut String, name: &str, value: &str) {
    let dots = NAME_WIDTH.saturating_sub(name.chars().count());
    let _ = writeln!(out, "    {name}{}: {value}", ".".repeat(dots));
}

fn rate(count: f64, seconds: f64) -> String {
    let per_second = if seconds > 0.0 { count / seconds } else { 0.0 };
    format!("{}/s", number((per_second * 100.0).round() / 100.0))
}

fn bytes(count: f64) -> String {
    let units = [("GB", 1e9), ("MB", 1e6), ("kB", 1e3)];
    for (unit, size) in units {
        if count >= size {
            return format!("{} {unit}", number((count / size * 10.0).round() / 10.0));
        }
    }
    format!("{} B", number(count))
}

fn trend(kind: MetricKind, summary: &Summary) -> String {
    let show = |value: f64| {
        if kind.is_time {
            duration(value)
        } else {
            number(value)
        }
    };
    format!(
        "avg={} min={} med={} max={} p(90)={} p(95)={}",
        show(summary.avg()),
        show(summary.min()),
        show(summary.percentile(50.0)),
        show(summary.max()),
        show(summary.percentile(90.0)),
        show(summary.percentile(95.0)),
    )
}

fn metric_value(kind: MetricKind, summary: &Summary, seconds: f64) -> String {
    match kind.kind {
        MetricType::Counter => format!("{:<7} {}", number(summary.sum), rate(summary.sum, seconds)),
        MetricType::Gauge => format!(
            "{:<7} min={} max={}",
            number(summary.last),
            number(summary.min()),
            number(summary.max())
        ),
        MetricType::Rate => format!(
            "{:.2}% {} out of {}",
            summary.rate() * 100.0,
            summary.nonzero,
            summary.count
        ),
        MetricType::Trend => trend(kind, summary),
    }
}

fn request_trend(total: &StatsEntry) -> String {
    format!(
        "avg={} min={} med={} max={} p(90)={} p(95)={}",
        duration(total.avg_response_time()),
        duration(total.min_response_time()),
        duration(total.percentile(0.5)),
        duration(total.max_response_time()),
        duration(total.percentile(0.9)),
        duration(total.percentile(0.95)),
    )
}

fn thresholds(out: &mut String, verdicts: &[Verdict]) {
    if verdicts.is_empty() {
        return;
    }
    let _ = writeln!(out, "  █ THRESHOLDS\n");
    let mut metrics: Vec<&str> = Vec::new();
    for verdict in verdicts {
        if !metrics.contains(&verdict.metric.as_str()) {
            metrics.push(&verdict.metric);
        }
    }
    for metric in metrics {
        let _ = writeln!(out, "    {metric}");
        for verdict in verdicts.iter().filter(|v| v.metric == metric) {
            let mark = if verdict.passed { "✓" } else { "✗" };
            let _ = writeln!(out, "    {mark} '{}' {}", verdict.condition, verdict.shown);
        }
        out.push('\n');
    }
}

fn checks(out: &mut String, stats: &RequestStats, seconds: f64) {
    let Some(all) = stats.metrics.select(CHECKS, &[]) else {
        return;
    };
    let failed = all.count - all.nonzero;
    let share = |part: u64| {
        if all.count == 0 {
            0.0
        } else {
            part as f64 / all.count as f64 * 100.0
        }
    };
    line(
        out,
        "checks_total",
        &format!("{:<7} {}", all.count, rate(all.count as f64, seconds)),
    );
    line(
        out,
        "checks_succeeded",
        &format!(
            "{:.2}% {} out of {}",
            share(all.nonzero),
            all.nonzero,
            all.count
        ),
    );
    line(
        out,
        "checks_failed",
        &format!("{:.2}% {failed} out of {}", share(failed), all.count),
    );
    out.push('\n');
    // Each check under its group, groups in the order of their paths.
    let mut by_group: Vec<(String, Vec<(String, Summary)>)> = Vec::new();
    for (key, _, summary) in stats
        .metrics
        .iter()
        .filter(|(key, _, _)| key.metric == CHECKS)
    {
        let group = key.tag(GROUP_TAG).unwrap_or_default().to_owned();
        let check = key.tag(CHECK_TAG).unwrap_or_default().to_owned();
        let slot = match by_group.iter().position(|(known, _)| *known == group) {
            Some(index) => index,
            None => {
                by_group.push((group, Vec::new()));
                by_group.len() - 1
            }
        };
        let checks = &mut by_group[slot].1;
        match checks.iter_mut().find(|(name, _)| *name == check) {
            Some((_, merged)) => merged.merge(summary),
            None => checks.push((check, summary.clone())),
        }
    }
    by_group.sort_by(|a, b| a.0.cmp(&b.0));
    for (group, checks) in by_group {
        let depth = group.matches("::").count();
        let indent = "  ".repeat(depth);
        if let Some(name) = group.rsplit("::").next().filter(|_| depth > 0) {
            let _ = writeln!(out, "    {}█ {name}\n", "  ".repeat(depth - 1));
        }
        for (check, summary) in checks {
            let failed = summary.count - summary.nonzero;
            if failed == 0 {
                let _ = writeln!(out, "    {indent}✓ {check}");
            } else {
                let _ = writeln!(
                    out,
                    "    {indent}✗ {check}\n    {indent}  ↳  {}% — ✓ {} / ✗ {failed}",
                    (summary.rate() * 100.0).round(),
                    summary.nonzero
                );
            }
        }
        out.push('\n');
    }
}

/// k6's compact end-of-test summary: `verdicts` are the thresholds' (empty without any),
/// `seconds` the run's length.
pub fn render(stats: &RequestStats, verdicts: &[Verdict], seconds: f64) -> String {
    let mut out = String::from("\n");
    thresholds(&mut out, verdicts);
    let _ = writeln!(out, "  █ TOTAL RESULTS\n");
    checks(&mut out, stats, seconds);
    let custom: Vec<(&str, MetricKind)> = stats
        .metrics
        .metrics()
        .into_iter()
        .filter(|(name, _)| {
            ![CHECKS, GROUP_DURATION, ITERATIONS, ITERATION_DURATION].contains(name)
        })
        .collect();
    if !custom.is_empty() {
        let _ = writeln!(out, "    CUSTOM");
        for (name, kind) in custom {
            let all = stats.metrics.select(name, &[]).unwrap_or_default();
            line(&mut out, name, &metric_value(kind, &all, seconds));
        }
        out.push('\n');
    }
    let total = &stats.total;
    if total.num_requests > 0 {
        let _ = writeln!(out, "    HTTP");
        line(&mut out, "http_req_duration", &request_trend(total));
        line(
            &mut out,
            "http_req_failed",
            &format!(
                "{:.2}% {} out of {}",
                total.fail_ratio() * 100.0,
                total.num_failures,
                total.num_requests
            ),
        );
        line(
            &mut out,
            "http_reqs",
            &format!(
                "{:<7} {}",
                total.num_requests,
                rate(total.num_requests as f64, seconds)
            ),
        );
        out.push('\n');
    }
    let execution: Vec<(&str, MetricKind)> = stats
        .metrics
        .metrics()
        .into_iter()
        .filter(|(name, _)| [ITERATION_DURATION, ITERATIONS].contains(name))
        .collect();
    if !execution.is_empty() {
        let _ = writeln!(out, "    EXECUTION");
        for (name, kind) in execution {
            let all = stats.metrics.select(name, &[]).unwrap_or_default();
            line(&mut out, name, &metric_value(kind, &all, seconds));
        }
        out.push('\n');
    }
    if total.total_content_length > 0 {
        let _ = writeln!(out, "    NETWORK");
        let received = total.total_content_length as f64;
        line(
            &mut out,
            "data_received",
            &format!(
                "{:<7} {}/s",
                bytes(received),
                bytes(received / seconds.max(1e-9))
            ),
        );
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::builtin;

    use crate::metrics::tags_of as tags;

    #[test]
    fn the_summary_has_k6s_blocks_and_figures() {
        let stats = crate::stats::Stats::new();
        for ms in 1..=10u64 {
            let failed = (ms == 10).then_some("500 Internal Server Error");
            stats.record("GET", "/", Duration::from_millis(ms), 100, failed);
        }
        let checks = builtin(CHECKS).expect("built in");
        for passed in [1.0, 1.0, 0.0] {
            let check = tags(&[(CHECK_TAG, "is 200"), (GROUP_TAG, "::front")]);
            stats.record_metric(CHECKS, checks, check, passed);
        }
        stats.record_metric(CHECKS, checks, tags(&[(CHECK_TAG, "top")]), 1.0);
        let counter = MetricKind {
            kind: MetricType::Counter,
            is_time: false,
        };
        stats.record_metric("orders", counter, Vec::new(), 5.0);
        stats.record_metric(ITERATIONS, counter, Vec::new(), 1.0);
        let snapshot = stats.snapshot();
        let declared = crate::metrics::Declared::default();
        let threshold = crate::test_plan::Threshold::parse(
            "http_req_duration",
            &["p(95)<5".to_owned()],
            false,
            &declared,
        )
        .expect("valid");
        let verdicts = threshold.evaluate(&snapshot, 10.0);
        let text = render(&snapshot, &verdicts, 10.0);
        assert!(
            text.contains("  █ THRESHOLDS\n\n    http_req_duration\n    ✗ 'p(95)<5' p(95)=10"),
            "{text}"
        );
        assert!(text.contains("checks_total"), "{text}");
        assert!(text.contains("75.00% 3 out of 4"), "{text}");
        assert!(text.contains("  █ front\n"), "{text}");
        assert!(
            text.contains("      ✗ is 200\n        ↳  67% — ✓ 2 / ✗ 1"),
            "{text}"
        );
        assert!(text.contains("    ✓ top\n"), "{text}");
        assert!(text.contains("    CUSTOM\n    orders....."), "{text}");
        assert!(text.contains("10.00% 1 out of 10"), "{text}");
        assert!(text.contains("http_reqs"), "{text}");
        assert!(text.contains("    EXECUTION\n    iterations..."), "{text}");
        assert!(text.contains("data_received"), "{text}");
    }

    #[test]
    fn durations_read_as_k6_writes_them() {
        assert_eq!(duration(0.85), "850µs");
        assert_eq!(duration(12.345), "12.35ms");
        assert_eq!(duration(1500.0), "1.5s");
        assert_eq!(duration(123_000.0), "2m3s");
    }
}
