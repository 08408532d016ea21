//! Request statistics: recording (cheap, per thread, no global lock) apart from reading
//! (merged snapshots for the console, CSV, web UI and workers).
//!
//! Each runtime thread records into its own shard; [`Stats::snapshot`] drains every shard into
//! the merged [`RequestStats`] and returns a copy. Histograms merge exactly, so percentiles of
//! the merged data equal those of all the raw samples.

mod console;
pub mod csv;
mod entry;
pub(crate) mod latencies;
pub mod names;
pub mod window;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::metrics::{MetricKind, MetricSet, Series};
pub use console::{
    PERCENTILES, percentile_label, render_error_report, render_percentiles, render_stats,
    render_user_errors,
};
pub use entry::StatsEntry;
use names::NameRegistry;
pub use names::{DEFAULT_MAX_NAMES, OVERFLOW_ERROR, OVERFLOW_NAME};

/// The name of the aggregated row.
pub const AGGREGATED: &str = "Aggregated";

/// Unix time in seconds.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs_f64())
        .unwrap_or(0.0)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a stats lock cannot leave counters half-updated in a way that
    // matters more than losing them, so keep going with the data.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A failure kind: how often `(method, name)` failed with `error`.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct ErrorKey {
    /// Request type.
    pub method: String,
    /// Request name.
    pub name: String,
    /// The failure's message.
    pub error: String,
}

/// A user error (Locust's "exception"): a task that failed, with how often it happened.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserErrorEntry {
    /// The error's one-line message.
    pub message: String,
    /// Longer context from the guest.
    pub traceback: String,
    /// How many times it happened.
    pub count: u64,
}

/// All statistics of a run: one entry per (name, method), the aggregated row, the failures
/// table and the user errors.
#[derive(Clone, Debug)]
pub struct RequestStats {
    /// Entries sorted by (name, method), as Locust prints them.
    pub entries: BTreeMap<(String, String), StatsEntry>,
    /// Every request together.
    pub total: StatsEntry,
    /// Failure occurrences by (method, name, error).
    pub errors: BTreeMap<ErrorKey, u64>,
    /// User errors in the order first seen.
    pub user_errors: Vec<UserErrorEntry>,
    /// Checks, group durations and custom metrics: never requests.
    pub metrics: MetricSet,
}

impl RequestStats {
    fn new(now: f64) -> Self {
        Self {
            entries: BTreeMap::new(),
            total: StatsEntry::new("", AGGREGATED, now),
            errors: BTreeMap::new(),
            user_errors: Vec::new(),
            metrics: MetricSet::default(),
        }
    }

    /// Unix time of the latest request of any entry: the reference of every rate.
    pub fn last_request(&self) -> f64 {
        self.total.last_request_timestamp
    }

    /// Total number of failed requests plus user errors; non-zero means the run had errors.
    pub fn error_count(&self) -> u64 {
        self.total.num_failures
            + self
                .user_errors
                .iter()
                .map(|entry| entry.count)
                .sum::<u64>()
    }

    /// Move everything `shard` recorded into the merged table. The shard's entries are dropped,
    /// not kept for reuse: each holds a histogram, and a name seen once must not cost one per
    /// thread for the rest of the run (a name still in use gets a new entry at its next record,
    /// an allocation per name, thread and merge).
    fn absorb(&mut self, shard: &mut Shard) {
        for (name, by_method) in shard.entries.drain() {
            for delta in by_method.iter().filter(|delta| delta.num_requests > 0) {
                let start = self.total.start_time;
                self.entries
                    .entry((name.clone(), delta.method.clone()))
                    .or_insert_with(|| StatsEntry::new(&delta.method, &name, start))
                    .extend(delta);
                self.total.extend(delta);
            }
        }
        for (key, count) in shard.errors.drain() {
            *self.errors.entry(key).or_insert(0) += count;
        }
        self.metrics.absorb(&mut shard.metrics);
    }

    fn reset(&mut self, now: f64) {
        *self = Self::new(now);
    }
}

/// What one thread has recorded since the last merge.
#[derive(Default)]
struct Shard {
    /// By name, then a short list of methods: lookups borrow the caller's strings.
    entries: HashMap<String, Vec<StatsEntry>>,
    errors: HashMap<ErrorKey, u64>,
    metrics: MetricSet,
}

impl Shard {
    /// The entry of `method name`, if this shard has one.
    fn known(&mut self, method: &str, name: &str) -> Option<&mut StatsEntry> {
        self.entries
            .get_mut(name)?
            .iter_mut()
            .find(|entry| entry.method == method)
    }

    fn entry(&mut self, method: &str, name: &str) -> &mut StatsEntry {
        if !self.entries.contains_key(name) {
            self.entries.insert(name.to_owned(), Vec::new());
        }
        let by_method = self
            .entries
            .get_mut(name)
            .unwrap_or_else(|| unreachable_shard());
        match by_method.iter().position(|entry| entry.method == method) {
            Some(index) => &mut by_method[index],
            None => {
                by_method.push(StatsEntry::new(method, name, 0.0));
                let last = by_method.len() - 1;
                &mut by_method[last]
            }
        }
    }
}

#[cold]
fn unreachable_shard() -> ! {
    unreachable!("the entry was inserted just above")
}

struct StatsInner {
    id: usize,
    shards: Mutex<Vec<Arc<Mutex<Shard>>>>,
    merged: Mutex<RequestStats>,
    /// Taken last, after a shard's or the merged lock, never the other way round.
    names: Mutex<NameRegistry>,
}

/// The statistics of one run; cheap to clone, shared by every user and reader.
#[derive(Clone)]
pub struct Stats {
    inner: Arc<StatsInner>,
}

static NEXT_STATS_ID: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    /// This thread's shard of each `Stats` it has recorded into.
    static SHARDS: std::cell::RefCell<Vec<(usize, Arc<Mutex<Shard>>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    /// Empty statistics starting now, with rows for at most [`DEFAULT_MAX_NAMES`] names.
    pub fn new() -> Self {
        Self::with_name_limit(DEFAULT_MAX_NAMES)
    }

    /// Empty statistics starting now, with rows for at most `limit` distinct (method, name)
    /// pairs and `limit` distinct failures; the rest are counted under [`OVERFLOW_NAME`].
    pub fn with_name_limit(limit: usize) -> Self {
        Self {
            inner: Arc::new(StatsInner {
                id: NEXT_STATS_ID.fetch_add(1, Ordering::Relaxed),
                shards: Mutex::new(Vec::new()),
                merged: Mutex::new(RequestStats::new(unix_now())),
                names: Mutex::new(NameRegistry::new(limit)),
            }),
        }
    }

    /// The failure `(method, name, error)` as it is to be counted: itself, or the overflow
    /// failure once the limit of distinct failures is reached.
    fn failure_key(&self, method: &str, name: &str, error: &str) -> ErrorKey {
        if lock(&self.inner.names).admit_failure(method, name, error) {
            ErrorKey {
                method: method.to_owned(),
                name: name.to_owned(),
                error: error.to_owned(),
            }
        } else {
            ErrorKey {
                method: method.to_owned(),
                name: OVERFLOW_NAME.to_owned(),
                error: OVERFLOW_ERROR.to_owned(),
            }
        }
    }

    fn with_shard<R>(&self, record: impl FnOnce(&mut Shard) -> R) -> R {
        let shard = SHARDS.with_borrow_mut(|shards| {
            if let Some((_, shard)) = shards.iter().find(|(id, _)| *id == self.inner.id) {
                return shard.clone();
            }
            let shard = Arc::new(Mutex::new(Shard::default()));
            lock(&self.inner.shards).push(shard.clone());
            shards.push((self.inner.id, shard.clone()));
            shard
        });
        // Only the merger ever contends for this lock, about once a second.
        let mut guard = lock(&shard);
        record(&mut guard)
    }

    /// Record one request (or request-like operation). `error` is `Some` for a failure.
    pub fn record(
        &self,
        method: &str,
        name: &str,
        response_time: Duration,
        length: u64,
        error: Option<&str>,
    ) {
        let now = unix_now();
        self.with_shard(|shard| {
            // One lookup for a name the thread has seen; the registry only for a new one.
            let failed = error.is_some();
            let name = match shard.known(method, name) {
                Some(entry) => {
                    entry.record(response_time, length, failed, now);
                    name
                }
                None => {
                    let name = lock(&self.inner.names).admit(method, name);
                    shard
                        .entry(method, name)
                        .record(response_time, length, failed, now);
                    name
                }
            };
            if let Some(error) = error {
                let key = ErrorKey {
                    method: method.to_owned(),
                    name: name.to_owned(),
                    error: error.to_owned(),
                };
                let key = if shard.errors.contains_key(&key) {
                    key
                } else {
                    self.failure_key(method, name, error)
                };
                *shard.errors.entry(key).or_insert(0) += 1;
            }
        });
    }

    /// Record one sample of a metric that is not a request (a check, a group's duration, a
    /// custom metric); `tags` in series form ([`crate::metrics::normalise_tags`]).
    pub fn record_metric(
        &self,
        metric: &str,
        kind: MetricKind,
        tags: Vec<(String, String)>,
        value: f64,
    ) {
        let now = unix_now();
        self.with_shard(|shard| shard.metrics.add(metric, kind, tags, value, now));
    }

    /// Record a user error (a task that failed); identical errors are counted together.
    pub fn record_user_error(&self, message: &str, traceback: &str) {
        let mut merged = lock(&self.inner.merged);
        match merged
            .user_errors
            .iter_mut()
            .find(|entry| entry.message == message && entry.traceback == traceback)
        {
            Some(entry) => entry.count += 1,
            None => merged.user_errors.push(UserErrorEntry {
                message: message.to_owned(),
                traceback: traceback.to_owned(),
                count: 1,
            }),
        }
    }

    fn drain_into(&self, merged: &mut RequestStats) {
        let shards = lock(&self.inner.shards).clone();
        for shard in shards {
            merged.absorb(&mut lock(&shard));
        }
    }

    /// Merge what every thread recorded and return a copy of the whole.
    pub fn snapshot(&self) -> RequestStats {
        let mut merged = lock(&self.inner.merged);
        self.drain_into(&mut merged);
        merged.clone()
    }

    /// Merge what every thread recorded and let `read` look at the whole, without copying it.
    /// Recording goes on meanwhile (into the threads' shards).
    pub fn read<R>(&self, read: impl FnOnce(&RequestStats) -> R) -> R {
        let mut merged = lock(&self.inner.merged);
        self.drain_into(&mut merged);
        read(&merged)
    }

    /// Merge what every thread recorded, hand the whole over and start afresh: what a worker
    /// ships to its master. Nothing recorded meanwhile is lost; it goes to the next take.
    pub fn take(&self) -> RequestStats {
        let mut merged = lock(&self.inner.merged);
        self.drain_into(&mut merged);
        std::mem::replace(&mut *merged, RequestStats::new(unix_now()))
    }

    /// Add statistics recorded elsewhere (a worker's report): entries with their histograms,
    /// failures, user errors and metric series. Merging is exact.
    pub fn absorb(
        &self,
        entries: &[StatsEntry],
        errors: &[(ErrorKey, u64)],
        user_errors: &[UserErrorEntry],
        metrics: &[Series],
    ) {
        let mut merged = lock(&self.inner.merged);
        merged.metrics.absorb_series(metrics);
        let start = merged.total.start_time;
        for entry in entries.iter().filter(|entry| entry.num_requests > 0) {
            let name = lock(&self.inner.names)
                .admit(&entry.method, &entry.name)
                .to_owned();
            merged
                .entries
                .entry((name.clone(), entry.method.clone()))
                .or_insert_with(|| StatsEntry::new(&entry.method, &name, start))
                .extend(entry);
            merged.total.extend(entry);
        }
        for (key, count) in errors {
            let key = if merged.errors.contains_key(key) {
                key.clone()
            } else {
                self.failure_key(&key.method, &key.name, &key.error)
            };
            *merged.errors.entry(key).or_insert(0) += count;
        }
        for error in user_errors {
            match merged
                .user_errors
                .iter_mut()
                .find(|entry| entry.message == error.message && entry.traceback == error.traceback)
            {
                Some(entry) => entry.count += error.count,
                None => merged.user_errors.push(error.clone()),
            }
        }
    }

    /// Forget everything recorded so far (`--reset-stats`, the web UI's reset).
    pub fn reset(&self) {
        let mut merged = lock(&self.inner.merged);
        self.drain_into(&mut merged);
        merged.reset(unix_now());
        lock(&self.inner.names).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_from_many_threads_merge_into_one_table() {
        let stats = Stats::new();
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let stats = stats.clone();
                std::thread::spawn(move || {
                    for i in 0..250u64 {
                        let error = (i % 10 == 0).then_some("500 Server Error");
                        let name = if thread % 2 == 0 { "/a" } else { "/b" };
                        stats.record("GET", name, Duration::from_millis(i), 10, error);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("recording thread");
        }
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.total.num_requests, 1000);
        assert_eq!(snapshot.total.num_failures, 100);
        assert_eq!(snapshot.entries.len(), 2);
        assert_eq!(
            snapshot.entries[&("/a".into(), "GET".into())].num_requests,
            500
        );
        let failures: u64 = snapshot.errors.values().sum();
        assert_eq!(failures, 100);
        // A second snapshot sees the same totals: draining is not double counting.
        assert_eq!(stats.snapshot().total.num_requests, 1000);
    }

    #[test]
    fn user_errors_are_counted_by_message_and_traceback() {
        let stats = Stats::new();
        stats.record_user_error("boom", "at task a");
        stats.record_user_error("boom", "at task a");
        stats.record_user_error("boom", "at task b");
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.user_errors.len(), 2);
        assert_eq!(snapshot.user_errors[0].count, 2);
        assert_eq!(snapshot.error_count(), 3);
    }

    #[test]
    fn taking_and_absorbing_loses_and_doubles_nothing() {
        let worker = Stats::new();
        let master = Stats::new();
        for round in 0..3u64 {
            for i in 0..100u64 {
                let error = (i % 25 == 0).then_some("boom");
                worker.record("GET", "/x", Duration::from_millis(i + round), 5, error);
            }
            worker.record_user_error("trap", "in task");
            let taken = worker.take();
            let entries: Vec<StatsEntry> = taken.entries.into_values().collect();
            let errors: Vec<(ErrorKey, u64)> = taken.errors.into_iter().collect();
            master.absorb(
                &entries,
                &errors,
                &taken.user_errors,
                &taken.metrics.to_series(),
            );
        }
        assert_eq!(worker.snapshot().total.num_requests, 0);
        let merged = master.snapshot();
        assert_eq!(merged.total.num_requests, 300);
        assert_eq!(merged.total.num_failures, 12);
        assert_eq!(merged.errors.values().sum::<u64>(), 12);
        assert_eq!(merged.user_errors[0].count, 3);
        assert_eq!(merged.entries.len(), 1);
    }

    #[test]
    fn reset_clears_pending_and_merged_data() {
        let stats = Stats::new();
        stats.record("GET", "/", Duration::from_millis(1), 0, Some("x"));
        stats.reset();
        stats.record("GET", "/", Duration::from_millis(1), 0, None);
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.total.num_requests, 1);
        assert!(snapshot.errors.is_empty());
    }
}
