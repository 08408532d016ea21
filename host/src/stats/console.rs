//! The console tables, in Locust 1.0's layout: the request table, the percentile table, the
//! failure report, and (our addition) the user-error report. Renderers only read snapshots.

use std::fmt::Write as _;

use super::{RequestStats, StatsEntry};

/// Width of the name column, as in Locust.
const NAME_WIDTH: usize = 60;
/// Width of the type column of the percentile table.
const TYPE_WIDTH: usize = 8;
/// The percentiles Locust reports, as fractions.
pub const PERCENTILES: [f64; 11] = [
    0.50, 0.66, 0.75, 0.80, 0.90, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0,
];

fn rule() -> String {
    "-".repeat(80 + NAME_WIDTH)
}

/// A percentile as Locust labels it: `50%`, `99.9%`, `100%`.
pub fn percentile_label(fraction: f64) -> String {
    let percent = fraction * 100.0;
    let text = format!("{percent:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

fn stats_row(out: &mut String, entry: &StatsEntry, last: f64, current: bool) {
    let name = if entry.method.is_empty() {
        entry.name.clone()
    } else {
        format!("{} {}", entry.method, entry.name)
    };
    let (rps, fail_per_sec) = if current {
        (entry.current_rps(last), entry.current_fail_per_sec(last))
    } else {
        (entry.total_rps(last), entry.total_fail_per_sec(last))
    };
    let failures = format!("{}({:.2}%)", entry.num_failures, entry.fail_ratio() * 100.0);
    let _ = writeln!(
        out,
        " {name:<NAME_WIDTH$} {:>7} {failures:>12}  | {:>7} {:>7} {:>7} {:>7}  | {rps:>7.2} {fail_per_sec:>7.2}",
        entry.num_requests,
        entry.avg_response_time() as u64,
        entry.min_response_time() as u64,
        entry.max_response_time() as u64,
        entry.median_response_time() as u64,
    );
}

/// The request table. `current` shows recent rates (the periodic table); otherwise rates
/// over the whole run (the final summary).
pub fn render_stats(stats: &RequestStats, current: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        " {:<NAME_WIDTH$} {:>7} {:>12}  | {:>7} {:>7} {:>7} {:>7}  | {:>7} {:>7}",
        "Name", "# reqs", "# fails", "Avg", "Min", "Max", "Median", "req/s", "failures/s"
    );
    out.push_str(&rule());
    out.push('\n');
    for entry in stats.entries.values() {
        stats_row(&mut out, entry, stats.last_request(), current);
    }
    out.push_str(&rule());
    out.push('\n');
    stats_row(&mut out, &stats.total, stats.last_request(), current);
    out.push('\n');
    out
}

fn percentile_row(out: &mut String, entry: &StatsEntry) {
    let _ = write!(
        out,
        " {:<TYPE_WIDTH$} {:<NAME_WIDTH$} {:>8}",
        entry.method,
        entry.name,
        entry.percentile(PERCENTILES[0]) as u64
    );
    for fraction in &PERCENTILES[1..] {
        let _ = write!(out, " {:>6}", entry.percentile(*fraction) as u64);
    }
    let _ = writeln!(out, " {:>6}", entry.num_requests);
}

/// The response-time percentile table.
pub fn render_percentiles(stats: &RequestStats) -> String {
    let mut out = String::from("Response time percentiles (approximated)\n");
    let labels: Vec<String> = PERCENTILES.iter().map(|p| percentile_label(*p)).collect();
    let _ = write!(
        out,
        " {:<TYPE_WIDTH$} {:<NAME_WIDTH$} {:>8}",
        "Type", "Name", labels[0]
    );
    for label in &labels[1..] {
        let _ = write!(out, " {label:>6}");
    }
    let _ = writeln!(out, " {:>6}", "# reqs");
    let separator = format!(
        "{}|{}|{}|{}",
        "-".repeat(TYPE_WIDTH),
        "-".repeat(NAME_WIDTH),
        "-".repeat(9),
        "------|".repeat(PERCENTILES.len())
    );
    let _ = writeln!(out, "{separator}");
    for entry in stats.entries.values().filter(|e| e.num_requests > 0) {
        percentile_row(&mut out, entry);
    }
    let _ = writeln!(out, "{separator}");
    if stats.total.num_requests > 0 {
        percentile_row(&mut out, &stats.total);
    }
    out.push('\n');
    out
}

/// The failures table ("Error report"); empty when nothing failed.
pub fn render_error_report(stats: &RequestStats) -> String {
    if stats.errors.is_empty() {
        return String::new();
    }
    let mut out = String::from("Error report\n");
    let _ = writeln!(out, " {:<18} {:<100}", "# occurrences", "Error");
    out.push_str(&rule());
    out.push('\n');
    for (key, occurrences) in &stats.errors {
        let error = format!("{} {}: {}", key.method, key.name, key.error);
        let _ = writeln!(out, " {occurrences:<18} {error:<100}");
    }
    out.push_str(&rule());
    out.push_str("\n\n");
    out
}

/// The user errors (Locust shows these as "Exceptions" in its web UI); empty when none.
pub fn render_user_errors(stats: &RequestStats) -> String {
    if stats.user_errors.is_empty() {
        return String::new();
    }
    let mut out = String::from("User errors (exceptions in tasks)\n");
    let _ = writeln!(out, " {:<18} {:<100}", "# occurrences", "Error");
    out.push_str(&rule());
    out.push('\n');
    for entry in &stats.user_errors {
        let _ = writeln!(out, " {:<18} {:<100}", entry.count, entry.message);
        for line in entry
            .traceback
            .lines()
            .filter(|line| !line.trim().is_empty())
        {
            let _ = writeln!(out, " {:<18}   {line}", "");
        }
    }
    out.push_str(&rule());
    out.push_str("\n\n");
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stats::Stats;

    #[test]
    fn percentile_labels_match_locust() {
        let labels: Vec<String> = PERCENTILES.iter().map(|p| percentile_label(*p)).collect();
        assert_eq!(
            labels,
            [
                "50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"
            ]
        );
    }

    #[test]
    fn tables_have_locust_columns() {
        let stats = Stats::new();
        stats.record("GET", "/hello", Duration::from_millis(12), 5, None);
        stats.record("GET", "/hello", Duration::from_millis(20), 5, Some("boom"));
        let snapshot = stats.snapshot();
        let table = render_stats(&snapshot, false);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with(" Name "));
        assert!(lines[0].ends_with("|   req/s failures/s"));
        assert_eq!(lines[1].len(), 140);
        assert!(lines[2].starts_with(" GET /hello "));
        assert!(lines[2].contains("      2    1(50.00%)  |      16      12      20"));
        assert!(lines[4].starts_with(" Aggregated "));
        let percentiles = render_percentiles(&snapshot);
        assert!(
            percentiles
                .lines()
                .nth(1)
                .is_some_and(|header| header.trim_end().ends_with("99.9% 99.99%   100% # reqs"))
        );
        let report = render_error_report(&snapshot);
        assert!(report.contains(" 1                  GET /hello: boom"));
    }
}
