//! Response-time percentiles over the last 10 seconds (Locust's "current" percentiles), for
//! readers that sample the statistics periodically (the history CSV, later the web UI). A
//! reader keeps the cumulative histograms it saw in the window and subtracts the oldest.

use std::collections::{HashMap, VecDeque};

use hdrhistogram::Histogram;

use super::{RequestStats, StatsEntry};

/// Locust's window for current percentiles, seconds.
pub const CURRENT_WINDOW_SECONDS: f64 = 10.0;

type Key = (String, String);

/// Samples of cumulative histograms, oldest first.
#[derive(Default)]
pub struct CurrentWindow {
    samples: VecDeque<(f64, HashMap<Key, Histogram<u64>>)>,
}

fn key(entry: &StatsEntry) -> Key {
    (entry.name.clone(), entry.method.clone())
}

impl CurrentWindow {
    /// An empty window.
    pub fn new() -> Self {
        Self::default()
    }

    /// Remember `stats` as seen at unix time `now`, forgetting samples older than the window
    /// (keeping the newest of those as the baseline).
    pub fn observe(&mut self, stats: &RequestStats, now: f64) {
        let histograms = stats
            .entries
            .values()
            .chain(std::iter::once(&stats.total))
            .map(|entry| (key(entry), entry.histogram().into_owned()))
            .collect();
        self.push(histograms, now);
    }

    /// Like [`observe`](Self::observe) for the aggregated row only (cheap with many entries).
    pub fn observe_total(&mut self, stats: &RequestStats, now: f64) {
        let histograms =
            std::iter::once((key(&stats.total), stats.total.histogram().into_owned())).collect();
        self.push(histograms, now);
    }

    fn push(&mut self, histograms: HashMap<Key, Histogram<u64>>, now: f64) {
        self.samples.push_back((now, histograms));
        while self
            .samples
            .get(1)
            .is_some_and(|(time, _)| now - time >= CURRENT_WINDOW_SECONDS)
        {
            self.samples.pop_front();
        }
    }

    /// The response time (ms) that `fraction` of the requests of `entry` made in the window
    /// finished within, or `None` if there were none.
    pub fn percentile(&self, entry: &StatsEntry, fraction: f64) -> Option<f64> {
        let now = entry.histogram();
        let mut recent = now.clone().into_owned();
        if let Some(baseline) = self
            .samples
            .front()
            .and_then(|(_, map)| map.get(&key(entry)))
        {
            // After a reset the baseline is larger than the present: then count everything.
            if recent.subtract(baseline).is_err() {
                recent = now.into_owned();
            }
        }
        (!recent.is_empty()).then(|| recent.value_at_quantile(fraction) as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stats::Stats;

    #[test]
    fn only_recent_requests_count() {
        let stats = Stats::new();
        let mut window = CurrentWindow::new();
        for _ in 0..100 {
            stats.record("GET", "/", Duration::from_millis(500), 0, None);
        }
        window.observe(&stats.snapshot(), 100.0);
        for _ in 0..100 {
            stats.record("GET", "/", Duration::from_millis(10), 0, None);
        }
        let snapshot = stats.snapshot();
        window.observe(&snapshot, 105.0);
        let entry = &snapshot.entries[&("/".to_owned(), "GET".to_owned())];
        // The slow requests came before the oldest sample still in the window.
        assert_eq!(window.percentile(entry, 1.0).map(f64::round), Some(10.0));
        // All-time, the slow ones are there.
        assert_eq!(entry.percentile(1.0).round(), 500.0);
        // Much later, the 105 s sample is the baseline and nothing new happened.
        window.observe(&snapshot, 120.0);
        assert_eq!(window.percentile(entry, 0.5), None);
    }
}
