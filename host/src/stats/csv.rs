//! The CSV files of `--csv PREFIX`, with Locust 1.0.2's columns: `PREFIX_stats.csv` (one row
//! per entry, aggregated last), `PREFIX_failures.csv`, and `PREFIX_stats_history.csv` (a row
//! every 2 seconds: current rates and percentiles, cumulative totals). Files are replaced
//! atomically (written to a temporary file, then renamed), so a reader never sees half a file.

use std::io;
use std::path::{Path, PathBuf};

use super::console::percentile_label;
use super::window::CurrentWindow;
use super::{RequestStats, StatsEntry};

/// The percentiles of the CSV files (Locust's console list plus 99.999%).
pub const CSV_PERCENTILES: [f64; 12] = [
    0.50, 0.66, 0.75, 0.80, 0.90, 0.95, 0.98, 0.99, 0.999, 0.9999, 0.99999, 1.0,
];

fn labels() -> impl Iterator<Item = String> {
    CSV_PERCENTILES
        .iter()
        .map(|fraction| percentile_label(*fraction))
}

/// Header of `_stats.csv`.
pub fn stats_header() -> Vec<String> {
    [
        "Type",
        "Name",
        "Request Count",
        "Failure Count",
        "Median Response Time",
        "Average Response Time",
        "Min Response Time",
        "Max Response Time",
        "Average Content Size",
        "Requests/s",
        "Failures/s",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(labels())
    .collect()
}

/// Header of `_stats_history.csv`.
pub fn history_header() -> Vec<String> {
    [
        "Timestamp",
        "User Count",
        "Type",
        "Name",
        "Requests/s",
        "Failures/s",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(labels())
    .chain(
        [
            "Total Request Count",
            "Total Failure Count",
            "Total Median Response Time",
            "Total Average Response Time",
            "Total Min Response Time",
            "Total Max Response Time",
            "Total Average Content Size",
        ]
        .into_iter()
        .map(str::to_owned),
    )
    .collect()
}

/// Header of `_failures.csv`.
pub fn failures_header() -> Vec<String> {
    ["Method", "Name", "Error", "Occurrences"]
        .into_iter()
        .map(str::to_owned)
        .collect()
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.3}")
    }
}

/// Whole milliseconds, truncated like the console's `%d` columns so both agree.
fn whole(value: f64) -> String {
    format!("{}", value as u64)
}

/// The cumulative columns both files share: requests, failures, median, average, min, max
/// response time and average size.
fn totals(entry: &StatsEntry) -> [String; 7] {
    [
        entry.num_requests.to_string(),
        entry.num_failures.to_string(),
        whole(entry.median_response_time()),
        number(entry.avg_response_time()),
        number(entry.min_response_time()),
        number(entry.max_response_time()),
        number(entry.avg_content_length()),
    ]
}

fn rows_of(stats: &RequestStats) -> impl Iterator<Item = &StatsEntry> {
    stats.entries.values().chain(std::iter::once(&stats.total))
}

fn to_csv(header: Vec<String>, rows: Vec<Vec<String>>) -> io::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&header)?;
    for row in rows {
        writer.write_record(&row)?;
    }
    writer
        .into_inner()
        .map_err(|error| io::Error::other(error.to_string()))
}

/// The content of `_stats.csv`.
pub fn render_stats_csv(stats: &RequestStats) -> io::Result<Vec<u8>> {
    let rows = rows_of(stats)
        .map(|entry| {
            let mut row = vec![entry.method.clone(), entry.name.clone()];
            row.extend(totals(entry));
            let last = stats.last_request();
            row.extend([
                number(entry.total_rps(last)),
                number(entry.total_fail_per_sec(last)),
            ]);
            row.extend(CSV_PERCENTILES.iter().map(|fraction| {
                if entry.num_requests == 0 {
                    "N/A".to_owned()
                } else {
                    whole(entry.percentile(*fraction))
                }
            }));
            row
        })
        .collect();
    to_csv(stats_header(), rows)
}

/// The content of `_failures.csv`.
pub fn render_failures_csv(stats: &RequestStats) -> io::Result<Vec<u8>> {
    let rows = stats
        .errors
        .iter()
        .map(|(key, count)| {
            vec![
                key.method.clone(),
                key.name.clone(),
                key.error.clone(),
                count.to_string(),
            ]
        })
        .collect();
    to_csv(failures_header(), rows)
}

/// History rows for one sample: the aggregated row, preceded by every entry's row when
/// `full_history` is set.
pub fn history_rows(
    stats: &RequestStats,
    window: &CurrentWindow,
    timestamp: u64,
    user_count: u64,
    full_history: bool,
) -> Vec<Vec<String>> {
    let entries: Vec<&StatsEntry> = if full_history {
        rows_of(stats).collect()
    } else {
        vec![&stats.total]
    };
    entries
        .into_iter()
        .map(|entry| {
            let mut row = vec![
                timestamp.to_string(),
                user_count.to_string(),
                entry.method.clone(),
                entry.name.clone(),
                number(entry.current_rps(stats.last_request())),
                number(entry.current_fail_per_sec(stats.last_request())),
            ];
            row.extend(CSV_PERCENTILES.iter().map(|fraction| {
                window
                    .percentile(entry, *fraction)
                    .map(whole)
                    .unwrap_or_else(|| "N/A".to_owned())
            }));
            row.extend(totals(entry));
            row
        })
        .collect()
}

/// The content of `_exceptions.csv`: user errors with counts, messages and tracebacks.
pub fn render_exceptions_csv(stats: &RequestStats) -> io::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["Count", "Message", "Traceback", "Nodes"])?;
    for entry in &stats.user_errors {
        writer.write_record([
            entry.count.to_string().as_str(),
            &entry.message,
            &entry.traceback,
            "local",
        ])?;
    }
    writer
        .into_inner()
        .map_err(|error| io::Error::other(error.to_string()))
}

/// Writes the three CSV files of a run.
pub struct CsvWriter {
    prefix: PathBuf,
    full_history: bool,
    window: CurrentWindow,
    history: csv::Writer<Vec<u8>>,
}

impl CsvWriter {
    /// A writer for `prefix`; `full_history` adds every entry to the history.
    pub fn new(prefix: &Path, full_history: bool) -> io::Result<Self> {
        let mut history = csv::Writer::from_writer(Vec::new());
        history.write_record(history_header())?;
        Ok(Self {
            prefix: prefix.to_owned(),
            full_history,
            window: CurrentWindow::new(),
            history,
        })
    }

    fn path(&self, suffix: &str) -> PathBuf {
        let mut name = self.prefix.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }

    /// Write the files for `stats` as of unix time `now`, with `user_count` users running.
    pub fn write(&mut self, stats: &RequestStats, now: f64, user_count: u64) -> io::Result<()> {
        self.window.observe(stats, now);
        for row in history_rows(
            stats,
            &self.window,
            now as u64,
            user_count,
            self.full_history,
        ) {
            self.history.write_record(&row)?;
        }
        self.history.flush()?;
        crate::files::replace(&self.path("_stats.csv"), &render_stats_csv(stats)?)?;
        crate::files::replace(&self.path("_failures.csv"), &render_failures_csv(stats)?)?;
        if !stats.metrics.is_empty() {
            // Checks, groups and custom metrics: only for runs that have them.
            let seconds = (now - stats.total.start_time).max(0.0);
            crate::files::replace(
                &self.path("_metrics.csv"),
                &crate::metrics::render::render_csv(&stats.metrics, seconds),
            )?;
        }
        crate::files::replace(&self.path("_stats_history.csv"), self.history.get_ref())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stats::{PERCENTILES, Stats};

    #[test]
    fn headers_are_locusts() {
        assert_eq!(stats_header().len(), 23);
        assert_eq!(stats_header()[22], "100%");
        assert_eq!(stats_header()[21], "99.999%");
        assert_eq!(history_header().len(), 25);
        assert_eq!(history_header()[18], "Total Request Count");
        let console: Vec<f64> = CSV_PERCENTILES
            .iter()
            .copied()
            .filter(|p| *p != 0.99999)
            .collect();
        assert_eq!(console, PERCENTILES);
    }

    #[test]
    fn errors_with_quotes_and_commas_stay_one_field() {
        let stats = Stats::new();
        stats.record(
            "GET",
            "/a,b",
            Duration::from_millis(3),
            1,
            Some("bad \"quote\", and comma"),
        );
        let bytes = render_failures_csv(&stats.snapshot()).expect("csv");
        let mut reader = csv::Reader::from_reader(&bytes[..]);
        let rows: Vec<csv::StringRecord> = reader.records().map(|row| row.expect("row")).collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(&rows[0][1], "/a,b");
        assert_eq!(&rows[0][2], "bad \"quote\", and comma");
        assert_eq!(&rows[0][3], "1");
    }

    #[test]
    fn files_are_written_and_replaced() {
        let dir = tempfile::tempdir().expect("dir");
        let prefix = dir.path().join("run");
        let stats = Stats::new();
        let mut writer = CsvWriter::new(&prefix, true).expect("writer");
        stats.record("GET", "/", Duration::from_millis(3), 10, None);
        writer.write(&stats.snapshot(), 1000.0, 5).expect("write");
        stats.record("POST", "/login", Duration::from_millis(7), 10, Some("nope"));
        writer.write(&stats.snapshot(), 1002.0, 5).expect("write");
        let read = |suffix: &str| {
            let mut path = prefix.as_os_str().to_owned();
            path.push(suffix);
            let mut reader = csv::Reader::from_path(PathBuf::from(path)).expect("file");
            reader
                .records()
                .map(|row| row.expect("row"))
                .collect::<Vec<_>>()
        };
        let stats_rows = read("_stats.csv");
        assert_eq!(stats_rows.len(), 3);
        assert_eq!(&stats_rows[2][1], "Aggregated");
        assert_eq!(&stats_rows[2][2], "2");
        let history = read("_stats_history.csv");
        // First sample: GET / and Aggregated; second: GET /, POST /login and Aggregated.
        assert_eq!(history.len(), 5);
        assert_eq!(&history[4][1], "5");
        assert_eq!(&history[4][18], "2");
        assert_eq!(read("_failures.csv").len(), 1);
        let leftovers = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".tmp"))
            .count();
        assert_eq!(leftovers, 0);
    }
}
