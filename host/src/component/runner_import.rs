//! The `runner` import: Locust's `environment.runner` for guest code — the run's role, state
//! and users from the [`RunControl`](crate::run::control::RunControl) the session registered,
//! the statistics from the instance's own reporter (on a worker: the worker's), and ending
//! the test.

use super::bindings::runner;
use super::state::UserState;
use crate::run::control::{EndRequest, Role};
use crate::run::runner::RunnerState;
use crate::stats::StatsEntry;

/// The row `name`/`method` names: the Aggregated row when both are `None`, else the entry
/// with that name (and method, when given).
fn find_row<'a>(
    stats: &'a crate::stats::RequestStats,
    name: Option<&str>,
    method: Option<&str>,
) -> Option<&'a StatsEntry> {
    match (name, method) {
        (None, None) => Some(&stats.total),
        (name, method) => stats.entries.values().find(|entry| {
            name.is_none_or(|name| entry.name == name)
                && method.is_none_or(|method| entry.method.eq_ignore_ascii_case(method))
        }),
    }
}

fn totals_of(entry: &StatsEntry, last: f64) -> runner::RowTotals {
    runner::RowTotals {
        requests: entry.num_requests,
        failures: entry.num_failures,
        avg_response_time: entry.avg_response_time(),
        min_response_time: entry.min_response_time(),
        max_response_time: entry.max_response_time(),
        avg_content_length: entry.avg_content_length(),
        total_content_length: entry.total_content_length,
        total_rps: entry.total_rps(last),
        current_rps: entry.current_rps(last),
        current_fail_per_sec: entry.current_fail_per_sec(last),
        start_time: entry.start_time,
        last_request_timestamp: (entry.num_requests > 0).then_some(entry.last_request_timestamp),
    }
}

impl runner::Host for UserState {
    async fn role(&mut self) -> runner::ProcessRole {
        match self.identity.run.control().map(|control| control.role()) {
            Some(Role::Master) => runner::ProcessRole::Master,
            Some(Role::Worker) => runner::ProcessRole::Worker,
            Some(Role::Local) | None => runner::ProcessRole::Local,
        }
    }

    async fn worker_index(&mut self) -> u32 {
        self.identity
            .run
            .control()
            .map_or(0, |control| control.worker_index())
    }

    async fn state(&mut self) -> runner::RunnerState {
        let state = self
            .identity
            .run
            .control()
            .map_or(RunnerState::Ready, |control| control.state());
        match state {
            RunnerState::Ready => runner::RunnerState::Ready,
            RunnerState::Spawning => runner::RunnerState::Spawning,
            RunnerState::Running => runner::RunnerState::Running,
            RunnerState::Stopping => runner::RunnerState::Stopping,
            RunnerState::Stopped => runner::RunnerState::Stopped,
        }
    }

    async fn user_count(&mut self) -> u64 {
        self.identity
            .run
            .control()
            .map_or(0, |control| control.user_count())
    }

    async fn user_classes_count(&mut self) -> Vec<(String, u64)> {
        self.identity
            .run
            .control()
            .map_or_else(Vec::new, |control| control.class_counts())
    }

    async fn totals(
        &mut self,
        name: Option<String>,
        method: Option<String>,
    ) -> Option<runner::RowTotals> {
        self.reporter.stats.read(|stats| {
            find_row(stats, name.as_deref(), method.as_deref())
                .map(|entry| totals_of(entry, stats.last_request()))
        })
    }

    async fn percentile(
        &mut self,
        name: Option<String>,
        method: Option<String>,
        fraction: f64,
    ) -> f64 {
        let fraction = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.reporter.stats.read(|stats| {
            find_row(stats, name.as_deref(), method.as_deref())
                .filter(|entry| entry.num_requests > 0)
                .map_or(0.0, |entry| entry.percentile(fraction))
        })
    }

    async fn stop(&mut self) {
        self.end_test(false);
    }

    async fn quit(&mut self) {
        self.end_test(true);
    }
}

impl UserState {
    fn end_test(&mut self, quit: bool) {
        let call = if quit { "quit" } else { "stop" };
        let Some(control) = self.identity.run.control() else {
            tracing::warn!(target: "locust.runners", "runner.{call}() outside a test does nothing");
            return;
        };
        let who = if self.identity.id == 0 {
            "a hook".to_owned()
        } else {
            format!("a {} user", self.identity.class)
        };
        control.end(EndRequest {
            quit,
            reason: format!("runner.{call}() called by {who}"),
            failed: false,
        });
    }
}
