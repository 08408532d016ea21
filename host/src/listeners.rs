//! Listener plugins at run time: one instance of each per process, fed the test's start and
//! stop and, in batches, the requests recorded in this process.
//!
//! A listener never holds a test up. Requests reach it through a bounded queue
//! ([`QUEUE`] records); what does not fit is dropped and counted, and the count travels with
//! the next batch. Batches go out about once a second, or as soon as [`BATCH`] records wait.
//! A listener that traps, or runs out of fuel, is stopped for the rest of the process (with one
//! error in the log); the test goes on.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::component::{ComponentOptions, ListenerInstance, ListenerPlugin, RequestRecord};
use crate::events::Events;
use crate::grants::Grants;

/// Records that may wait for a listener; more are dropped and counted.
pub const QUEUE: usize = 10_000;
/// Most records in one batch.
pub const BATCH: usize = 10_000;
/// How often a partial batch goes out.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// How long the last batch may take at the end of the process.
pub const FINISH: Duration = Duration::from_secs(2);

enum Control {
    TestStart,
    TestStop,
    /// Send what is queued, then answer.
    Finish(oneshot::Sender<()>),
}

struct Handle {
    name: String,
    records: mpsc::Sender<RequestRecord>,
    control: mpsc::Sender<Control>,
    dropped: Arc<AtomicU64>,
}

/// The listener plugins of this process.
#[derive(Clone, Default)]
pub struct Listeners {
    handles: Arc<Vec<Handle>>,
}

impl Listeners {
    /// Start an instance of each of `plugins`, reaching the hosts `grants` allows.
    pub async fn start(
        plugins: &[ListenerPlugin],
        grants: Arc<Grants>,
        host: Option<Arc<str>>,
        options: ComponentOptions,
    ) -> Result<Self, String> {
        let mut handles = Vec::new();
        for plugin in plugins {
            let instance = plugin
                .instantiate(grants.clone(), host.clone(), options.clone())
                .await
                .map_err(|error| format!("listener plugin {}: {error}", plugin.name))?;
            let (records, records_in) = mpsc::channel(QUEUE);
            let (control, control_in) = mpsc::channel(16);
            let dropped = Arc::new(AtomicU64::new(0));
            tokio::spawn(serve(
                plugin.name.clone(),
                instance,
                records_in,
                control_in,
                dropped.clone(),
            ));
            handles.push(Handle {
                name: plugin.name.clone(),
                records,
                control,
                dropped,
            });
        }
        Ok(Self {
            handles: Arc::new(handles),
        })
    }

    /// Whether there is no listener.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Pass every request recorded through `events` to the listeners.
    pub fn listen(&self, events: &mut Events) {
        if self.is_empty() {
            return;
        }
        let listeners = self.clone();
        events.on_request(move |event| {
            for handle in listeners.handles.iter() {
                let record = RequestRecord {
                    request_type: event.request_type.to_owned(),
                    name: event.name.to_owned(),
                    response_time_ms: event.response_time.as_secs_f64() * 1000.0,
                    response_length: event.response_length,
                    error: event.error.map(str::to_owned),
                };
                if handle.records.try_send(record).is_err() {
                    handle.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }

    fn tell(&self, make: impl Fn() -> Control) {
        for handle in self.handles.iter() {
            if handle.control.try_send(make()).is_err() {
                tracing::warn!(target: "locust.main", "listener plugin {} is behind; it misses a test event", handle.name);
            }
        }
    }

    /// A test started.
    pub fn test_start(&self) {
        self.tell(|| Control::TestStart);
    }

    /// A test stopped.
    pub fn test_stop(&self) {
        self.tell(|| Control::TestStop);
    }

    /// Let the listeners send what they hold, for at most [`FINISH`].
    pub async fn finish(&self) {
        let mut answers = Vec::new();
        for handle in self.handles.iter() {
            let (reply, answer) = oneshot::channel();
            if handle.control.try_send(Control::Finish(reply)).is_ok() {
                answers.push((handle.name.as_str(), answer));
            }
        }
        for (name, answer) in answers {
            if tokio::time::timeout(FINISH, answer).await.is_err() {
                tracing::warn!(target: "locust.main", "listener plugin {name} did not finish within {} s; exiting without its last batch", FINISH.as_secs());
            }
        }
    }
}

/// The task that owns one listener instance.
async fn serve(
    name: String,
    mut instance: ListenerInstance,
    mut records: mpsc::Receiver<RequestRecord>,
    mut control: mpsc::Receiver<Control>,
    dropped: Arc<AtomicU64>,
) {
    let mut batch: Vec<RequestRecord> = Vec::new();
    let mut broken = false;
    let mut ticks = tokio::time::interval(INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Calls into the guest; after a trap, nothing more is sent, and records are dropped.
    macro_rules! call {
        ($what:literal, $call:expr) => {
            if !broken {
                if let Err(error) = $call.await {
                    tracing::error!(target: "locust.main", "listener plugin {name} {}: {error}; it gets no more events", $what);
                    broken = true;
                }
            }
        };
    }
    macro_rules! flush {
        () => {{
            let lost = dropped.swap(0, Ordering::Relaxed);
            if !batch.is_empty() || lost > 0 {
                let sent = std::mem::take(&mut batch);
                call!("on-requests", instance.on_requests(&sent, lost));
            }
        }};
    }
    loop {
        tokio::select! {
            biased;
            command = control.recv() => {
                // What was recorded before the event goes first.
                while let Ok(record) = records.try_recv() {
                    batch.push(record);
                }
                flush!();
                match command {
                    Some(Control::TestStart) => call!("test-start", instance.test_start()),
                    Some(Control::TestStop) => call!("test-stop", instance.test_stop()),
                    Some(Control::Finish(reply)) => {
                        let _ = reply.send(());
                    }
                    None => return,
                }
            }
            record = records.recv() => match record {
                Some(record) => {
                    batch.push(record);
                    if batch.len() >= BATCH {
                        flush!();
                    }
                }
                None => return,
            },
            _ = ticks.tick() => flush!(),
        }
    }
}
