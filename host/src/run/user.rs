//! One simulated user's life: instantiate, `on_start`, then pick a task, run it, wait, and
//! again, with Locust's task-set semantics, until told to stop; then the `on_stop`s.
//!
//! Stopping has three signals. `stop`: waiting users stop at once and run their `on_stop`s;
//! users in a task finish it. `abandon`: a task still running is dropped (sent when
//! `--stop-timeout` runs out, or at once when it is 0). `kill`: anything still running in the
//! guest, `on_stop` included, is dropped. A guest that traps is reported as a user error and
//! the user starts over in a fresh instance.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::component::{
    GuestError, GuestInstance, TaskError, TaskOutcome, TestComponent, UserIdentity, UserState,
};
use crate::events::{Reporter, UserErrorEvent};
use crate::run::scenario::UserClassPlan;
use crate::run::wait::{Pacing, WaitDecision, decide, guest_wait};
use crate::signal::{Signal, Signals};

/// How long a user waits before starting over after its guest trapped.
const RESTART_DELAY: Duration = Duration::from_secs(1);
/// A user about to wait at least this long parks its HTTP connections (keeps their sockets,
/// lets go of hyper's buffers, ~25 KiB each). Rebuilding them costs a few microseconds, lost
/// in a wait this long; users that wait less (or not at all) keep them as they are.
const PARK_CONNECTIONS_AFTER: Duration = Duration::from_millis(500);
/// How long a user pauses after its `wait_time` returned something that is no wait.
const INVALID_WAIT_PAUSE: Duration = Duration::from_secs(1);

/// What all users of a run share.
pub struct UserEnvironment {
    /// The component users are instances of.
    pub component: Arc<TestComponent>,
    /// Where they report.
    pub reporter: Reporter,
    /// `--host`, which wins over each class's host.
    pub host_override: Option<Arc<str>>,
    /// Values of the component's declared options.
    pub options: crate::component::ComponentOptions,
    /// The hosts users may reach.
    pub grants: Arc<crate::grants::Grants>,
    /// What the session's users share with its hooks: the `test-start` hook's data.
    pub run: Arc<crate::test_plan::RunShared>,
    /// The test's iteration budget, taken before each task; none: unlimited.
    pub iterations: Option<Arc<crate::test_plan::Budget>>,
    /// Record k6's `iterations` and `iteration_duration` for each task run at the user's top
    /// level (scripts with their own plan): measured here, so no guest call is spent on it.
    pub iteration_metrics: bool,
}

/// k6's execution metrics of a user: the kinds, resolved once.
struct IterationMetrics {
    counter: crate::metrics::MetricKind,
    trend: crate::metrics::MetricKind,
}

impl IterationMetrics {
    fn new() -> Self {
        let kind = |name| crate::metrics::builtin(name).unwrap_or_else(unreachable_builtin);
        Self {
            counter: kind(crate::metrics::ITERATIONS),
            trend: kind(crate::metrics::ITERATION_DURATION),
        }
    }

    /// One iteration that took `took`.
    fn record(&self, reporter: &Reporter, took: std::time::Duration) {
        let stats = &reporter.stats;
        stats.record_metric(crate::metrics::ITERATIONS, self.counter, Vec::new(), 1.0);
        let milliseconds = took.as_secs_f64() * 1000.0;
        stats.record_metric(
            crate::metrics::ITERATION_DURATION,
            self.trend,
            Vec::new(),
            milliseconds,
        );
    }
}

#[cold]
fn unreachable_builtin() -> crate::metrics::MetricKind {
    unreachable!("iterations and iteration_duration are built in")
}

/// Whether the user has been told to stop (at any level).
fn stopping(signals: &Signals) -> bool {
    signals.level() >= Signal::Stop
}

enum Life {
    /// Ended normally (stopped, or the guest asked to stop the user).
    Stopped,
    /// A guest call was dropped by `abandon` or `kill`.
    Killed,
    /// The guest trapped.
    Crashed(GuestError),
}

/// What to do after a task or a task-set entry.
enum After {
    Wait,
    Continue,
    Stop,
}

struct Frame {
    node: u32,
    position: usize,
    pacing: Pacing,
}

/// Run one user of `class` until the signals end it.
pub async fn run_user(
    environment: Arc<UserEnvironment>,
    class: Arc<UserClassPlan>,
    identity: UserIdentity,
    signals: Signals,
) {
    let mut rng = SmallRng::seed_from_u64(identity.seed);
    loop {
        if stopping(&signals) {
            return;
        }
        let state = UserState::new(
            identity.clone(),
            environment.reporter.clone(),
            environment.component.limits().memory_bytes,
        );
        // Boxed, in a statement of its own: instantiating takes a large future, needed once;
        // inline (or as a temporary of the `match` below, which lives as long as the match),
        // it would stay in this future, held for the user's whole life, as dead weight.
        let instantiating = Box::pin(environment.component.instantiate(state));
        let mut instance = match instantiating.await {
            Ok(instance) => instance,
            Err(error) => {
                tracing::error!(target: "locust.runners", "could not start a {} user: {error}", class.name);
                return;
            }
        };
        let life = match signals
            .unless(Signal::Kill, instance.create(class.index))
            .await
        {
            None => Life::Killed,
            Some(Err(error)) => Life::Crashed(error),
            Some(Ok(())) => {
                let reporter = &environment.reporter;
                let budget = environment.iterations.as_deref();
                let iterations = environment.iteration_metrics.then(IterationMetrics::new);
                live(
                    &mut instance,
                    &class,
                    reporter,
                    budget,
                    iterations.as_ref(),
                    &mut rng,
                    &signals,
                )
                .await
            }
        };
        match life {
            Life::Stopped | Life::Killed => return,
            Life::Crashed(error) => {
                report(
                    &environment.reporter,
                    &class.name,
                    &TaskError {
                        message: error.to_string(),
                        traceback: format!(
                            "user class {}; the user restarts in a new instance",
                            class.name
                        ),
                    },
                );
                drop(instance);
                if signals
                    .unless(Signal::Stop, tokio::time::sleep(RESTART_DELAY))
                    .await
                    .is_none()
                {
                    return;
                }
            }
        }
    }
}

fn report(reporter: &Reporter, class: &str, error: &TaskError) {
    reporter.user_error(&UserErrorEvent {
        class,
        message: &error.message,
        traceback: &error.traceback,
    });
}

/// The task loop of one instance.
async fn live(
    instance: &mut GuestInstance,
    class: &UserClassPlan,
    reporter: &Reporter,
    budget: Option<&crate::test_plan::Budget>,
    iterations: Option<&IterationMetrics>,
    rng: &mut SmallRng,
    signals: &Signals,
) -> Life {
    let mut stack: Vec<Frame> = Vec::new();
    let mut user_pacing = Pacing::default();
    let mut root_position = 0usize;

    match signals.unless(Signal::Abandon, instance.on_start()).await {
        None => return Life::Killed,
        Some(Err(error)) => return Life::Crashed(error),
        Some(Ok(Err(error))) => report(reporter, &class.name, &error),
        Some(Ok(Ok(TaskOutcome::StopUser))) => {
            return finish(instance, class, reporter, &stack, signals).await;
        }
        Some(Ok(Ok(_))) => {}
    }

    loop {
        if stopping(signals) {
            break;
        }
        let picked = match stack.last_mut() {
            Some(frame) => class
                .node(frame.node)
                .and_then(|set| set.picker.as_ref())
                .and_then(|picker| picker.pick(rng, &mut frame.position)),
            None => class.root.pick(rng, &mut root_position),
        };
        let Some(node) = picked else {
            // Only an empty set can get here; leave it as if it were interrupted.
            stack.pop();
            continue;
        };
        let is_set = class.node(node).is_some_and(|n| n.is_set());
        let after = if is_set {
            stack.push(Frame {
                node,
                position: 0,
                pacing: Pacing::default(),
            });
            match signals
                .unless(Signal::Abandon, instance.start_task_set(node))
                .await
            {
                None => return Life::Killed,
                Some(Err(error)) => return Life::Crashed(error),
                Some(Ok(Ok(TaskOutcome::Done))) => After::Continue,
                Some(Ok(Ok(TaskOutcome::Interrupt))) => {
                    stack.pop();
                    After::Continue
                }
                Some(Ok(Ok(TaskOutcome::InterruptNoReschedule))) => {
                    stack.pop();
                    After::Wait
                }
                Some(Ok(Ok(TaskOutcome::StopUser))) => After::Stop,
                Some(Ok(Err(error))) => {
                    report(reporter, &class.name, &error);
                    stack.pop();
                    After::Wait
                }
            }
        } else {
            if budget.is_some_and(|budget| !budget.take()) {
                // The test's iterations are all handed out: this user is done.
                break;
            }
            let started = iterations.map(|_| std::time::Instant::now());
            let ran = signals
                .unless(Signal::Abandon, instance.run_task(node))
                .await;
            if let (Some(iterations), Some(started), true, Some(Ok(_))) =
                (iterations, started, stack.is_empty(), &ran)
            {
                iterations.record(reporter, started.elapsed());
            }
            match ran {
                None => return Life::Killed,
                Some(Err(error)) => return Life::Crashed(error),
                Some(Ok(Ok(TaskOutcome::Done))) => After::Wait,
                Some(Ok(Ok(
                    outcome @ (TaskOutcome::Interrupt | TaskOutcome::InterruptNoReschedule),
                ))) => {
                    let reschedule = outcome == TaskOutcome::Interrupt;
                    match stack.pop() {
                        Some(frame) => {
                            match signals
                                .unless(Signal::Kill, instance.stop_task_set(frame.node))
                                .await
                            {
                                None => return Life::Killed,
                                Some(Err(error)) => return Life::Crashed(error),
                                Some(Ok(Err(error))) => report(reporter, &class.name, &error),
                                Some(Ok(Ok(()))) => {}
                            }
                        }
                        None => tracing::debug!(
                            target: "locust.user",
                            "a task of {} interrupted outside any task set; treated as done",
                            class.name
                        ),
                    }
                    if reschedule {
                        After::Continue
                    } else {
                        After::Wait
                    }
                }
                Some(Ok(Ok(TaskOutcome::StopUser))) => After::Stop,
                Some(Ok(Err(error))) => {
                    report(reporter, &class.name, &error);
                    After::Wait
                }
            }
        };
        match after {
            After::Continue => {}
            After::Stop => break,
            After::Wait => {
                // The innermost set's own policy, else the user's (as Locust's TaskSet.wait_time).
                let (policy, pacing, owner) = match stack.last_mut() {
                    Some(frame) => match class.node(frame.node).and_then(|set| set.wait) {
                        Some(policy) => (policy, &mut frame.pacing, Some(frame.node)),
                        None => (class.wait, &mut user_pacing, None),
                    },
                    None => (class.wait, &mut user_pacing, None),
                };
                let pause = match decide(policy, pacing, rng, Instant::now()) {
                    WaitDecision::Sleep(pause) => pause,
                    WaitDecision::AskGuest => {
                        match signals
                            .unless(Signal::Abandon, instance.wait_time(owner))
                            .await
                        {
                            None => return Life::Killed,
                            Some(Err(error)) => return Life::Crashed(error),
                            Some(Ok(value)) => match guest_wait(value) {
                                Ok(pause) => pause,
                                Err(error) => {
                                    // Reported, then a second's pause: a broken wait_time must
                                    // not turn a paced test into a flood.
                                    reporter.user_error(&UserErrorEvent {
                                        class: &class.name,
                                        message: &error,
                                        traceback: "",
                                    });
                                    INVALID_WAIT_PAUSE
                                }
                            },
                        }
                    }
                };
                if pause.is_zero() {
                    // No timer for a zero wait (tokio's timer would round it up to a whole
                    // millisecond); a user that never waits still lets others run.
                    tokio::task::coop::consume_budget().await;
                    continue;
                }
                if pause >= PARK_CONNECTIONS_AFTER {
                    instance.park_http().await;
                }
                if signals
                    .unless(Signal::Stop, tokio::time::sleep(pause))
                    .await
                    .is_none()
                {
                    break;
                }
            }
        }
    }
    finish(instance, class, reporter, &stack, signals).await
}

/// Leave every entered task set (innermost first), then the user's `on_stop`.
async fn finish(
    instance: &mut GuestInstance,
    class: &UserClassPlan,
    reporter: &Reporter,
    stack: &[Frame],
    signals: &Signals,
) -> Life {
    for frame in stack.iter().rev() {
        match signals
            .unless(Signal::Kill, instance.stop_task_set(frame.node))
            .await
        {
            None => return Life::Killed,
            Some(Err(error)) => return Life::Crashed(error),
            Some(Ok(Err(error))) => report(reporter, &class.name, &error),
            Some(Ok(Ok(()))) => {}
        }
    }
    match signals.unless(Signal::Kill, instance.on_stop()).await {
        None => {
            reporter.user_error(&UserErrorEvent {
                class: &class.name,
                message: "on_stop cut off: it was still running 2 s after --stop-timeout ran out",
                traceback: "",
            });
            Life::Killed
        }
        Some(Err(error)) => Life::Crashed(error),
        Some(Ok(Err(error))) => {
            report(reporter, &class.name, &error);
            Life::Stopped
        }
        Some(Ok(Ok(()))) => Life::Stopped,
    }
}
