//! The small imports: `events` (custom clients' records), `log` (into our log) and `context`
//! (the user's identity). `types` has no functions.

use std::time::Duration;

use super::bindings::{context, events, log, metrics, test_plan, types};
use super::state::UserState;
use crate::events::RequestEvent;

impl types::Host for UserState {}

impl events::Host for UserState {
    async fn request(&mut self, entry: types::RequestRecord) {
        let response_time = Duration::try_from_secs_f64(entry.response_time_ms.max(0.0) / 1000.0)
            .unwrap_or(Duration::MAX);
        self.reporter.request(&RequestEvent {
            request_type: &entry.request_type,
            name: &entry.name,
            response_time,
            response_length: entry.response_length,
            error: entry.error.as_deref(),
        });
    }
}

impl metrics::Host for UserState {
    async fn declare(
        &mut self,
        name: String,
        kind: metrics::MetricType,
        is_time: bool,
    ) -> Result<(), String> {
        let kind = crate::metrics::MetricKind {
            kind: match kind {
                metrics::MetricType::Counter => crate::metrics::MetricType::Counter,
                metrics::MetricType::Gauge => crate::metrics::MetricType::Gauge,
                metrics::MetricType::Rate => crate::metrics::MetricType::Rate,
                metrics::MetricType::Trend => crate::metrics::MetricType::Trend,
            },
            is_time,
        };
        self.declared_metrics
            .declare(&name, kind)
            .map_err(|error| error.to_string())
    }

    async fn add(&mut self, name: String, value: f64, tags: Vec<(String, String)>) {
        let Some(kind) = self.declared_metrics.get(&name) else {
            if !self.undeclared_warned {
                self.undeclared_warned = true;
                let shown: String = name.chars().take(crate::metrics::MAX_NAME).collect();
                tracing::warn!(target: "locust.user", class = &*self.identity.class, "a sample of the undeclared metric {shown:?} was dropped: declare it first (this user's further ones are dropped silently)");
            }
            return;
        };
        if !value.is_finite() {
            return;
        }
        self.reporter
            .stats
            .record_metric(&name, kind, crate::metrics::normalise_tags(tags), value);
    }
}

impl log::Host for UserState {
    async fn write(&mut self, level: log::Level, message: String) {
        let class = &*self.identity.class;
        let user = self.identity.id;
        match level {
            log::Level::Debug => tracing::debug!(target: "locust.user", class, user, "{message}"),
            log::Level::Info => tracing::info!(target: "locust.user", class, user, "{message}"),
            log::Level::Warning => tracing::warn!(target: "locust.user", class, user, "{message}"),
            log::Level::Error => {
                let panic = message.strip_prefix("panic: ");
                // A panic while describing ends the load with the panic's message in its error:
                // logging it too would say it twice.
                if panic.is_some() && self.describing {
                    tracing::debug!(target: "locust.user", class, user, "{message}");
                } else {
                    tracing::error!(target: "locust.user", class, user, "{message}");
                }
                if let Some(panic) = panic {
                    self.output.hush();
                    self.last_panic = Some(panic.to_owned());
                }
            }
        }
    }
}

impl context::Host for UserState {
    async fn host(&mut self) -> Option<String> {
        self.identity.host.as_deref().map(str::to_owned)
    }

    async fn user_id(&mut self) -> u64 {
        self.identity.id
    }

    async fn random_seed(&mut self) -> u64 {
        self.identity.seed
    }

    async fn get_option(&mut self, name: String) -> Option<String> {
        self.identity.options.get(&name).cloned()
    }

    async fn sleep(&mut self, seconds: f64) {
        // At most a day: a pause past that is a mistake, and must not overflow the timer.
        let pause = Duration::try_from_secs_f64(seconds.clamp(0.0, 86_400.0)).unwrap_or_default();
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
}

impl test_plan::Host for UserState {
    async fn declare(&mut self, plan: test_plan::Plan) {
        if self.describing && self.declared_plan.is_none() {
            self.declared_plan = Some(plan);
        }
    }

    async fn share(&mut self, data: String) {
        // Only the hooks instance (id 0 with a run) shares; users read.
        if self.identity.id != 0 {
            tracing::warn!(target: "locust.user", class = &*self.identity.class, "test-plan.share is for the test-start hook; a user's call does nothing");
            return;
        }
        if data.len() > crate::test_plan::MAX_SHARED_BYTES {
            tracing::error!(target: "locust.user", "the data test-start shares is {} bytes, more than {} MiB: users get none", data.len(), crate::test_plan::MAX_SHARED_BYTES >> 20);
            self.identity.run.set_setup_data(None);
            return;
        }
        self.identity.run.set_setup_data(Some(data.into()));
    }

    async fn shared(&mut self) -> Option<String> {
        self.identity.run.setup_data().map(|data| data.to_string())
    }

    async fn declare_shape(&mut self, name: String) {
        if self.describing {
            self.declared_shape = Some(name.chars().take(MAX_SHAPE_NAME).collect());
        }
    }
}

/// Longest load shape name kept (it is only shown).
const MAX_SHAPE_NAME: usize = 200;
