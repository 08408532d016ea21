//! The small imports: `events` (custom clients' records), `log` (into our log) and `context`
//! (the user's identity). `types` has no functions.

use std::time::Duration;

use super::bindings::{context, events, log, types};
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

impl log::Host for UserState {
    async fn write(&mut self, level: log::Level, message: String) {
        let class = &*self.identity.class;
        let user = self.identity.id;
        match level {
            log::Level::Debug => tracing::debug!(target: "locust.user", class, user, "{message}"),
            log::Level::Info => tracing::info!(target: "locust.user", class, user, "{message}"),
            log::Level::Warning => tracing::warn!(target: "locust.user", class, user, "{message}"),
            log::Level::Error => {
                tracing::error!(target: "locust.user", class, user, "{message}");
                if let Some(panic) = message.strip_prefix("panic: ") {
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
}
