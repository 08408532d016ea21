//! The event bus: Locust's events (`test_start`, `test_stop`, `request`, `user_error`,
//! `spawning_complete`, `quitting`) for Rust library users and for guest hooks. Listeners are
//! added while setting up a run; the bus is then shared read-only, so firing takes no lock.

use std::sync::Arc;
use std::time::Duration;

use crate::stats::Stats;

/// One recorded request, as listeners see it.
#[derive(Clone, Copy, Debug)]
pub struct RequestEvent<'a> {
    /// HTTP method or custom request type.
    pub request_type: &'a str,
    /// The name it is grouped under.
    pub name: &'a str,
    /// Response time.
    pub response_time: Duration,
    /// Response size in bytes.
    pub response_length: u64,
    /// The failure, if it failed.
    pub error: Option<&'a str>,
}

/// A task that failed in a user.
#[derive(Clone, Copy, Debug)]
pub struct UserErrorEvent<'a> {
    /// The user's class.
    pub class: &'a str,
    /// One-line message.
    pub message: &'a str,
    /// Context from the guest.
    pub traceback: &'a str,
}

type Listener<E> = Arc<dyn Fn(&E) + Send + Sync>;
type RequestListener = Arc<dyn for<'a> Fn(&RequestEvent<'a>) + Send + Sync>;
type UserErrorListener = Arc<dyn for<'a> Fn(&UserErrorEvent<'a>) + Send + Sync>;

/// Listeners by event. Build it, then share it as `Arc<Events>`; a clone shares the listeners
/// added so far and can take more of its own.
#[derive(Clone, Default)]
pub struct Events {
    request: Vec<RequestListener>,
    user_error: Vec<UserErrorListener>,
    test_start: Vec<Listener<()>>,
    test_stop: Vec<Listener<()>>,
    spawning_complete: Vec<Listener<u64>>,
    quitting: Vec<Listener<()>>,
}

impl Events {
    /// No listeners.
    pub fn new() -> Self {
        Self::default()
    }

    /// Call `listener` for every recorded request (success or failure).
    pub fn on_request(&mut self, listener: impl Fn(&RequestEvent<'_>) + Send + Sync + 'static) {
        self.request.push(Arc::new(listener));
    }

    /// Call `listener` when a task fails.
    pub fn on_user_error(
        &mut self,
        listener: impl Fn(&UserErrorEvent<'_>) + Send + Sync + 'static,
    ) {
        self.user_error.push(Arc::new(listener));
    }

    /// Call `listener` when a test starts.
    pub fn on_test_start(&mut self, listener: impl Fn() + Send + Sync + 'static) {
        self.test_start.push(Arc::new(move |_| listener()));
    }

    /// Call `listener` when a test stops.
    pub fn on_test_stop(&mut self, listener: impl Fn() + Send + Sync + 'static) {
        self.test_stop.push(Arc::new(move |_| listener()));
    }

    /// Call `listener` with the user count once all users are spawned.
    pub fn on_spawning_complete(&mut self, listener: impl Fn(u64) + Send + Sync + 'static) {
        self.spawning_complete
            .push(Arc::new(move |count| listener(*count)));
    }

    /// Call `listener` when the process is about to exit.
    pub fn on_quitting(&mut self, listener: impl Fn() + Send + Sync + 'static) {
        self.quitting.push(Arc::new(move |_| listener()));
    }

    /// Whether anyone listens to requests (skips building events otherwise).
    pub fn has_request_listeners(&self) -> bool {
        !self.request.is_empty()
    }

    pub(crate) fn fire_request(&self, event: &RequestEvent<'_>) {
        for listener in &self.request {
            listener(event);
        }
    }

    pub(crate) fn fire_user_error(&self, event: &UserErrorEvent<'_>) {
        for listener in &self.user_error {
            listener(event);
        }
    }

    pub(crate) fn fire_test_start(&self) {
        self.test_start.iter().for_each(|listener| listener(&()));
    }

    pub(crate) fn fire_test_stop(&self) {
        self.test_stop.iter().for_each(|listener| listener(&()));
    }

    pub(crate) fn fire_spawning_complete(&self, count: u64) {
        self.spawning_complete
            .iter()
            .for_each(|listener| listener(&count));
    }

    pub(crate) fn fire_quitting(&self) {
        self.quitting.iter().for_each(|listener| listener(&()));
    }
}

/// Where users report what happened: statistics plus the event bus.
#[derive(Clone)]
pub struct Reporter {
    /// The run's statistics.
    pub stats: Stats,
    /// The run's listeners.
    pub events: Arc<Events>,
}

impl Reporter {
    /// Record a request in the statistics and tell the listeners.
    pub fn request(&self, event: &RequestEvent<'_>) {
        self.stats.record(
            event.request_type,
            event.name,
            event.response_time,
            event.response_length,
            event.error,
        );
        if self.events.has_request_listeners() {
            self.events.fire_request(event);
        }
    }

    /// Record a failed task.
    pub fn user_error(&self, event: &UserErrorEvent<'_>) {
        tracing::error!(target: "locust.user", class = event.class, "{}", event.message);
        self.stats.record_user_error(event.message, event.traceback);
        self.events.fire_user_error(event);
    }
}
