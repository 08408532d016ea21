//! The component's test-wide hooks (`init`, `test_start`, `test_stop`, request listeners,
//! `report_to_master` on workers and `worker_report` on masters),
//! run in one instance of their own by a task that owns it, in the order they are asked for.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::component::{
    ComponentOptions, GuestInstance, HookSet, RequestRecord, TaskError, TestComponent,
    UserIdentity, UserState,
};
use crate::events::{Events, Reporter};
use crate::stats::Stats;

/// A hook that reports success or a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// `init`.
    Init,
    /// `test_start`.
    TestStart,
    /// `test_stop`.
    TestStop,
}

enum Command {
    Call(Hook, oneshot::Sender<Result<(), String>>),
    Request(RequestRecord),
    ReportToMaster(oneshot::Sender<Option<Vec<u8>>>),
    WorkerReport(String, Vec<u8>),
}

/// A handle to the hooks instance; dropping every handle ends its task.
#[derive(Clone)]
pub struct GuestHooks {
    declared: HookSet,
    commands: mpsc::UnboundedSender<Command>,
}

impl GuestHooks {
    /// Start the hooks instance of `component` if it declared any hook. Requests its hooks
    /// make are recorded in `stats` but not passed to request listeners.
    pub async fn start(
        component: Arc<TestComponent>,
        declared: HookSet,
        stats: Stats,
        host: Option<Arc<str>>,
        options: ComponentOptions,
    ) -> Result<Option<Self>, String> {
        if declared == HookSet::empty() {
            return Ok(None);
        }
        let identity = UserIdentity {
            id: 0,
            seed: rand::random(),
            host,
            class: Arc::from("hooks"),
            options,
        };
        let reporter = Reporter {
            stats,
            events: Arc::new(Events::new()),
        };
        let state = UserState::new(identity, reporter, component.limits().memory_bytes);
        let instance = component
            .instantiate(state)
            .await
            .map_err(|error| format!("could not start the hooks instance: {error}"))?;
        let (commands, receiver) = mpsc::unbounded_channel();
        tokio::spawn(serve(instance, receiver));
        Ok(Some(Self { declared, commands }))
    }

    /// Whether the component wants every request.
    pub fn wants_requests(&self) -> bool {
        self.declared.contains(HookSet::REQUEST)
    }

    /// Pass every request recorded through `events` to the component's request listener, if
    /// it declared one.
    pub fn listen(&self, events: &mut Events) {
        if self.wants_requests() {
            let hooks = self.clone();
            events.on_request(move |event| {
                hooks.request(RequestRecord {
                    request_type: event.request_type.to_owned(),
                    name: event.name.to_owned(),
                    response_time_ms: event.response_time.as_secs_f64() * 1000.0,
                    response_length: event.response_length,
                    error: event.error.map(str::to_owned),
                });
            });
        }
    }

    /// Run `hook` if the component declared it; an error names the hook and the guest's message.
    pub async fn call(&self, hook: Hook) -> Result<(), String> {
        let flag = match hook {
            Hook::Init => HookSet::INIT,
            Hook::TestStart => HookSet::TEST_START,
            Hook::TestStop => HookSet::TEST_STOP,
        };
        if !self.declared.contains(flag) {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Call(hook, reply))
            .map_err(|_| "the hooks instance has stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the hooks instance has stopped".to_owned())?
    }

    /// Pass a recorded request to the component's request listener (without waiting).
    pub fn request(&self, record: RequestRecord) {
        let _ = self.commands.send(Command::Request(record));
    }

    /// On a worker: the data the component attaches to a report, if it declared
    /// `report-to-master` and returned some.
    pub async fn report_to_master(&self) -> Option<Vec<u8>> {
        if !self.declared.contains(HookSet::REPORT_TO_MASTER) {
            return None;
        }
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::ReportToMaster(reply)).ok()?;
        answer.await.ok().flatten()
    }

    /// On a master: hand a worker's attached data to the component (without waiting), if it
    /// declared `worker-report`.
    pub fn worker_report(&self, worker_id: &str, data: Vec<u8>) {
        if self.declared.contains(HookSet::WORKER_REPORT) {
            let _ = self
                .commands
                .send(Command::WorkerReport(worker_id.to_owned(), data));
        }
    }
}

async fn serve(mut instance: GuestInstance, mut commands: mpsc::UnboundedReceiver<Command>) {
    let mut broken = false;
    while let Some(command) = commands.recv().await {
        if broken {
            if let Command::Call(hook, reply) = command {
                let _ = reply.send(Err(format!(
                    "{hook:?} hook skipped: the hooks instance trapped earlier"
                )));
            }
            continue;
        }
        match command {
            Command::Call(hook, reply) => {
                let result = match hook {
                    Hook::Init => instance.init().await,
                    Hook::TestStart => instance.test_start().await,
                    Hook::TestStop => instance.test_stop().await,
                };
                let answer = match result {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(TaskError { message, .. })) => {
                        Err(format!("{hook:?} hook failed: {message}"))
                    }
                    Err(error) => {
                        broken = true;
                        Err(format!("{hook:?} hook: {error}"))
                    }
                };
                let _ = reply.send(answer);
            }
            Command::Request(record) => {
                if let Err(error) = instance.on_request(&record).await {
                    tracing::error!(target: "locust.main", "request listener: {error}");
                    broken = true;
                }
            }
            Command::ReportToMaster(reply) => {
                let data = instance.report_to_master().await.unwrap_or_else(|error| {
                    tracing::error!(target: "locust.main", "report_to_master hook: {error}");
                    broken = true;
                    None
                });
                let _ = reply.send(data);
            }
            Command::WorkerReport(worker_id, data) => {
                if let Err(error) = instance.worker_report(&worker_id, &data).await {
                    tracing::error!(target: "locust.main", "worker_report hook: {error}");
                    broken = true;
                }
            }
        }
    }
}
