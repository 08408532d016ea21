//! Drives a test through its [`Source`]: asks for the load, applies changes to the runner,
//! waits as long as the source says, and ends the test when the source ends it.

use std::future::Future;

use tokio::time::Instant;

use super::{Load, Next, Source, TICK, stages_at, step_at};
use crate::run::control::EndRequest;

/// What a driver applies loads to: the session's runner.
pub trait LoadTarget: Send + Sync + 'static {
    /// Bring the test to `load`; with `announce`, `spawning_complete` fires once its users
    /// are spawned. An error says why the load cannot be had (a user class the test lacks).
    fn apply(&self, load: &Load, announce: bool)
    -> impl Future<Output = Result<(), String>> + Send;
    /// End the test (without waiting for it to stop); the target logs why.
    fn end(&self, request: EndRequest);
}

/// Ask `source` for the load now.
async fn ask(source: &Source, began: Instant, last: Option<&Load>) -> Next {
    let elapsed = began.elapsed();
    match source {
        Source::Fixed { users, spawn_rate } => Next::Load(
            Load {
                users: *users,
                spawn_rate: *spawn_rate,
                classes: None,
            },
            None,
        ),
        Source::Steps {
            users,
            spawn_rate,
            step,
        } => step_at(*users, *spawn_rate, *step, elapsed),
        Source::Stages { start, stages } => {
            stages_at(*start, stages, last.map(|load| load.users), elapsed)
        }
        Source::Shape { hooks, .. } => match hooks.shape_tick().await {
            Ok(Some(tick)) => {
                if !tick.spawn_rate.is_finite() || tick.spawn_rate <= 0.0 {
                    return Next::End {
                        reason: format!(
                            "the load shape's tick returned a spawn rate of {}: it must be a \
                             number above 0",
                            tick.spawn_rate
                        ),
                        failed: true,
                    };
                }
                Next::Load(
                    Load {
                        users: tick.users,
                        spawn_rate: tick.spawn_rate,
                        classes: tick.user_classes,
                    },
                    Some(TICK),
                )
            }
            Ok(None) => Next::End {
                reason: "Shape test stopping".to_owned(),
                failed: false,
            },
            Err(error) => Next::End {
                reason: error,
                failed: true,
            },
        },
    }
}

/// Say in the log what the new load is, as Locust says it.
fn announce(source: &Source, load: &Load) {
    match source {
        Source::Fixed { .. } => {}
        Source::Steps { .. } => tracing::info!(
            target: "locust.runners",
            "Step loading: start hatch job of {} user.",
            load.users
        ),
        Source::Stages { .. } => tracing::debug!(
            target: "locust.runners",
            "Ramping to {} users",
            load.users
        ),
        Source::Shape { .. } => tracing::info!(
            target: "locust.runners",
            "Shape test updating to {} users at {:.2} spawn rate{}",
            load.users,
            load.spawn_rate,
            load.classes
                .as_ref()
                .map(|classes| format!(" ({})", classes.join(", ")))
                .unwrap_or_default()
        ),
    }
}

/// Drive a test through `source` until the source holds its load for good (then return) or
/// ends the test (then ask `target` to end it, and return).
pub async fn drive(source: Source, target: impl LoadTarget) {
    let began = Instant::now();
    if let Source::Shape { hooks, name } = &source {
        tracing::info!(target: "locust.runners", "Shape test starting ({name}).");
        if let Err(error) = hooks.shape_reset().await {
            target.end(EndRequest {
                quit: false,
                reason: error,
                failed: true,
            });
            return;
        }
    }
    let mut last: Option<Load> = None;
    loop {
        let asked = Instant::now();
        match ask(&source, began, last.as_ref()).await {
            Next::End { reason, failed } => {
                target.end(EndRequest {
                    quit: false,
                    reason,
                    failed,
                });
                return;
            }
            Next::Load(load, again) => {
                if last.as_ref() != Some(&load) {
                    announce(&source, &load);
                    let first = last.is_none();
                    if let Err(error) = target
                        .apply(&load, first || source.announces_each_load())
                        .await
                    {
                        target.end(EndRequest {
                            quit: false,
                            reason: error,
                            failed: true,
                        });
                        return;
                    }
                    last = Some(load);
                }
                let Some(wait) = again else {
                    match &source {
                        Source::Steps { .. } => {
                            tracing::info!(target: "locust.runners", "Step Load is finished.");
                        }
                        Source::Stages { .. } => tracing::info!(
                            target: "locust.runners",
                            "All stages done: {} users",
                            last.as_ref().map_or(0, |load| load.users)
                        ),
                        _ => {}
                    }
                    return;
                };
                tokio::time::sleep_until(asked + wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::config::StepLoad;

    /// Records what the driver does.
    #[derive(Clone, Default)]
    struct Recorder {
        applied: Arc<Mutex<Vec<(u64, bool)>>>,
        ended: Arc<Mutex<Vec<EndRequest>>>,
    }

    impl LoadTarget for Recorder {
        async fn apply(&self, load: &Load, announce: bool) -> Result<(), String> {
            self.applied
                .lock()
                .expect("recorder")
                .push((load.users, announce));
            Ok(())
        }

        fn end(&self, request: EndRequest) {
            self.ended.lock().expect("recorder").push(request);
        }
    }

    #[tokio::test]
    async fn steps_are_applied_in_order_and_each_announced() {
        let recorder = Recorder::default();
        let source = Source::Steps {
            users: 25,
            spawn_rate: 100.0,
            step: StepLoad {
                users: 10,
                time: Duration::from_millis(20),
            },
        };
        drive(source, recorder.clone()).await;
        assert_eq!(
            *recorder.applied.lock().expect("recorder"),
            [(10, true), (20, true), (25, true)]
        );
        assert!(recorder.ended.lock().expect("recorder").is_empty());
    }

    #[tokio::test]
    async fn a_fixed_load_is_applied_once() {
        let recorder = Recorder::default();
        drive(
            Source::Fixed {
                users: 7,
                spawn_rate: 1.0,
            },
            recorder.clone(),
        )
        .await;
        assert_eq!(*recorder.applied.lock().expect("recorder"), [(7, true)]);
    }

    #[tokio::test]
    async fn stages_announce_only_their_first_load() {
        let recorder = Recorder::default();
        // One second (the stages' tick): the start, then the target.
        let stages = vec![crate::test_plan::Stage {
            duration: Duration::from_secs(1),
            target: 3,
        }];
        drive(Source::Stages { start: 0, stages }, recorder.clone()).await;
        assert_eq!(
            *recorder.applied.lock().expect("recorder"),
            [(0, true), (3, false)]
        );
    }
}
