//! The bound on distinct statistics rows: a run records at most so many distinct (method,
//! name) entries and as many distinct failures; past that, new names are counted under one
//! overflow row per method and new failures under one overflow failure, with a single warning
//! saying how to group them. Without it a guest naming every request differently (a unique
//! URL each time) grows the statistics without bound.
//!
//! Only a thread's first record of a name asks here (under a lock); later ones find the name
//! in the thread's own shard.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

/// The most distinct request names a run records, unless `--max-request-names` says otherwise.
pub const DEFAULT_MAX_NAMES: usize = 1_000;
/// The name requests past the limit are counted under.
pub const OVERFLOW_NAME: &str = "(other names past --max-request-names)";
/// The message failures past the limit are counted under.
pub const OVERFLOW_ERROR: &str = "(other failures past --max-request-names)";

/// The names and failures admitted so far.
#[derive(Debug)]
pub struct NameRegistry {
    limit: usize,
    /// By name, its methods: lookups borrow the caller's strings.
    names: HashMap<String, Vec<String>>,
    name_count: usize,
    /// (method, name, message) of failures, hashed together.
    failures: HashSet<(String, String, String)>,
    warned: AtomicBool,
}

impl NameRegistry {
    /// A registry admitting `limit` names (and `limit` failures).
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            names: HashMap::new(),
            name_count: 0,
            failures: HashSet::new(),
            warned: AtomicBool::new(false),
        }
    }

    /// The name to record `method name` under: itself if admitted (or admissible), else
    /// [`OVERFLOW_NAME`].
    pub fn admit<'a>(&mut self, method: &str, name: &'a str) -> &'a str {
        if name == OVERFLOW_NAME {
            return name;
        }
        if let Some(methods) = self.names.get(name)
            && methods.iter().any(|known| known == method)
        {
            return name;
        }
        if self.name_count >= self.limit {
            self.warn();
            return OVERFLOW_NAME;
        }
        self.name_count += 1;
        self.names
            .entry(name.to_owned())
            .or_default()
            .push(method.to_owned());
        name
    }

    /// Whether the failure `(method, name, error)` gets a row of its own; if not, it is to be
    /// counted as ([`OVERFLOW_NAME`], [`OVERFLOW_ERROR`]).
    pub fn admit_failure(&mut self, method: &str, name: &str, error: &str) -> bool {
        let key = (method.to_owned(), name.to_owned(), error.to_owned());
        if self.failures.contains(&key) {
            return true;
        }
        if self.failures.len() >= self.limit {
            self.warn();
            return false;
        }
        self.failures.insert(key);
        true
    }

    /// Forget every admission (the statistics were reset).
    pub fn clear(&mut self) {
        self.names.clear();
        self.name_count = 0;
        self.failures.clear();
    }

    fn warn(&self) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: "locust.stats",
                "more than {} distinct request names or failures: the rest are counted under \
                 \"{OVERFLOW_NAME}\". Group requests whose URLs differ (ids, tokens) under one \
                 name with name= (e.g. name=\"/item?id=[id]\"), or raise --max-request-names",
                self.limit
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_past_the_limit_fold_into_one_row_per_method() {
        let mut registry = NameRegistry::new(2);
        assert_eq!(registry.admit("GET", "/a"), "/a");
        assert_eq!(registry.admit("POST", "/a"), "/a");
        assert_eq!(registry.admit("GET", "/b"), OVERFLOW_NAME);
        assert_eq!(registry.admit("GET", "/a"), "/a", "admitted names stay");
        assert_eq!(registry.admit("GET", OVERFLOW_NAME), OVERFLOW_NAME);
        registry.clear();
        assert_eq!(registry.admit("GET", "/b"), "/b", "a reset admits again");
    }

    #[test]
    fn failures_past_the_limit_are_refused() {
        let mut registry = NameRegistry::new(1);
        assert!(registry.admit_failure("GET", "/a", "boom"));
        assert!(registry.admit_failure("GET", "/a", "boom"));
        assert!(!registry.admit_failure("GET", "/a", "bang"));
    }
}
