//! The local runner: spawns users at the spawn rate, split across classes by weight, and
//! stops them with Locust's stop-timeout semantics. Spawn plans are pure functions below.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::component::UserIdentity;
use crate::run::scenario::UserClassPlan;
use crate::run::user::{UserEnvironment, run_user};
use crate::signal::{Signal, SignalSender};

/// Extra time users get for their `on_stop` after the stop timeout.
const ON_STOP_GRACE: Duration = Duration::from_secs(2);

/// Split `total` users across classes in proportion to `weights`, rounding so that the sum is
/// exactly `total` and each count is as close to its exact share as integers allow (largest
/// remainder).
pub fn apportion(total: u64, weights: &[u32]) -> Vec<u64> {
    let sum: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut counts: Vec<u64> = weights
        .iter()
        .map(|&w| total * u64::from(w) / sum)
        .collect();
    let mut remainders: Vec<(u64, usize)> = weights
        .iter()
        .enumerate()
        .map(|(index, &w)| ((total * u64::from(w)) % sum, index))
        .collect();
    // Largest remainder first; ties go to the earlier class.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let missing = total - counts.iter().sum::<u64>();
    for &(_, index) in remainders.iter().take(missing as usize) {
        counts[index] += 1;
    }
    counts
}

/// The weights of `classes` (name, weight) when only those named in `only` run (all when
/// `None`): the others weigh 0. Refuses a name that is not one of `classes`, or a list that
/// leaves every class out.
pub fn weights_of(classes: &[(&str, u32)], only: Option<&[String]>) -> Result<Vec<u32>, String> {
    let Some(only) = only else {
        return Ok(classes.iter().map(|(_, weight)| *weight).collect());
    };
    if let Some(unknown) = only
        .iter()
        .find(|name| !classes.iter().any(|(class, _)| class == name))
    {
        let names: Vec<&str> = classes.iter().map(|(name, _)| *name).collect();
        return Err(format!(
            "the load asks for user class {unknown}, which this test does not run (it runs: {})",
            names.join(", ")
        ));
    }
    if only.is_empty() {
        return Err("the load names no user class: give at least one, or None for all".to_owned());
    }
    Ok(classes
        .iter()
        .map(|(name, weight)| {
            if only.iter().any(|wanted| wanted == name) {
                (*weight).max(1)
            } else {
                0
            }
        })
        .collect())
}

/// The order in which to spawn `counts[i]` users of each class so that at every point of the
/// ramp the mix is as close as possible to the final one (smooth weighted round robin).
pub fn spawn_order(counts: &[u64]) -> Vec<usize> {
    let total: u64 = counts.iter().sum();
    let mut credit = vec![0i128; counts.len()];
    let mut left = counts.to_vec();
    let mut order = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (index, count) in counts.iter().enumerate() {
            credit[index] += i128::from(*count);
        }
        let Some(best) = (0..counts.len())
            .filter(|&index| left[index] > 0)
            .max_by(|&a, &b| credit[a].cmp(&credit[b]).then(b.cmp(&a)))
        else {
            break;
        };
        credit[best] -= i128::from(total);
        left[best] -= 1;
        order.push(best);
    }
    order
}

/// What the runner is doing, with Locust's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunnerState {
    /// Nothing started yet.
    Ready,
    /// Spawning users.
    Spawning,
    /// All users spawned.
    Running,
    /// Stopping users.
    Stopping,
    /// Stopped.
    Stopped,
}

impl RunnerState {
    /// The lower-case name Locust uses (`hatching` for spawning, as in 1.0).
    pub fn name(self) -> &'static str {
        match self {
            RunnerState::Ready => "ready",
            RunnerState::Spawning => "hatching",
            RunnerState::Running => "running",
            RunnerState::Stopping => "stopping",
            RunnerState::Stopped => "stopped",
        }
    }
}

struct Shared {
    state: Mutex<RunnerState>,
    user_count: AtomicU64,
    /// Users spawned so far, per class.
    spawned: Mutex<Vec<u64>>,
    /// Live users, per class, oldest first.
    users: Mutex<Vec<Vec<UserHandle>>>,
    /// Users told to stop because the user count went down, still finishing.
    retiring: Mutex<Vec<UserHandle>>,
}

/// One user's task and its own signal (so that single users can be retired, and so that no
/// channel is shared by all users).
struct UserHandle {
    signal: SignalSender,
    task: JoinHandle<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs users in this process. Cheap to share: every method takes `&self`.
pub struct LocalRunner {
    environment: Arc<UserEnvironment>,
    classes: Vec<Arc<UserClassPlan>>,
    stop_timeout: Duration,
    shared: Arc<Shared>,
    spawner: Mutex<Option<JoinHandle<()>>>,
    spawning_done: watch::Sender<bool>,
}

/// Keeps the live user count true however a user ends.
struct CountGuard(Arc<Shared>);

impl Drop for CountGuard {
    fn drop(&mut self) {
        self.0.user_count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a spawner needs, detached from the runner.
struct Spawner {
    environment: Arc<UserEnvironment>,
    classes: Vec<Arc<UserClassPlan>>,
    shared: Arc<Shared>,
}

impl Spawner {
    fn spawn_user(&self, class_index: usize) {
        static NEXT_USER_ID: AtomicU64 = AtomicU64::new(1);
        let class = self.classes[class_index].clone();
        let identity = UserIdentity {
            id: NEXT_USER_ID.fetch_add(1, Ordering::Relaxed),
            seed: rand::random(),
            host: self
                .environment
                .host_override
                .clone()
                .or_else(|| class.host.as_deref().map(Arc::from)),
            class: Arc::from(class.name.as_str()),
            options: self.environment.options.clone(),
            grants: self.environment.grants.clone(),
            run: self.environment.run.clone(),
        };
        self.shared.user_count.fetch_add(1, Ordering::Relaxed);
        lock(&self.shared.spawned)[class_index] += 1;
        let guard = CountGuard(self.shared.clone());
        let (signal, signals) = crate::signal::signal();
        // Boxed, so that the task (which would otherwise hold the future twice over: once as
        // captured, once as awaited) stays small for the user's whole life.
        let user = Box::pin(run_user(self.environment.clone(), class, identity, signals));
        let task = tokio::spawn(async move {
            let _guard = guard;
            user.await;
        });
        lock(&self.shared.users)[class_index].push(UserHandle { signal, task });
    }
}

impl LocalRunner {
    /// A runner for `classes` (already filtered and non-empty).
    pub fn new(
        environment: Arc<UserEnvironment>,
        classes: Vec<UserClassPlan>,
        stop_timeout: Duration,
    ) -> Self {
        let (spawning_done, _) = watch::channel(false);
        let class_count = classes.len();
        Self {
            environment,
            classes: classes.into_iter().map(Arc::new).collect(),
            stop_timeout,
            shared: Arc::new(Shared {
                state: Mutex::new(RunnerState::Ready),
                user_count: AtomicU64::new(0),
                spawned: Mutex::new(vec![0; class_count]),
                users: Mutex::new((0..class_count).map(|_| Vec::new()).collect()),
                retiring: Mutex::new(Vec::new()),
            }),
            spawner: Mutex::new(None),
            spawning_done,
        }
    }

    /// The names of the runner's classes, in the order [`start_counts`](Self::start_counts)
    /// takes their counts.
    pub fn class_names(&self) -> impl Iterator<Item = &str> {
        self.classes.iter().map(|class| class.name.as_str())
    }

    /// Users alive now.
    pub fn user_count(&self) -> u64 {
        self.shared.user_count.load(Ordering::Relaxed)
    }

    /// The runner's state.
    pub fn state(&self) -> RunnerState {
        *lock(&self.shared.state)
    }

    fn set_state(shared: &Shared, state: RunnerState) {
        *lock(&shared.state) = state;
    }

    /// Bring the run to `user_count` users, split across classes by weight: new users start at
    /// `spawn_rate` users per second; surplus users (the newest of each class) stop as they
    /// would at the end of a test. Calling it again while spawning re-plans from the users
    /// spawned so far. `on_spawned` runs once all are started, with the count per class.
    pub fn start(
        &self,
        user_count: u64,
        spawn_rate: f64,
        on_spawned: impl FnOnce(&[(String, u64)]) + Send + 'static,
    ) {
        let weights: Vec<u32> = self.classes.iter().map(|class| class.weight).collect();
        self.start_counts(
            &apportion(user_count, &weights),
            spawn_rate,
            Duration::ZERO,
            on_spawned,
        );
    }

    /// [`start`](Self::start) with only the classes named in `only` (all when `None`), with
    /// their weights between them: the users of the other classes stop. Refuses a name that
    /// is not one of the runner's classes.
    pub fn start_classes(
        &self,
        user_count: u64,
        spawn_rate: f64,
        only: Option<&[String]>,
        on_spawned: impl FnOnce(&[(String, u64)]) + Send + 'static,
    ) -> Result<(), String> {
        let classes: Vec<(&str, u32)> = self
            .classes
            .iter()
            .map(|class| (class.name.as_str(), class.weight))
            .collect();
        let weights = weights_of(&classes, only)?;
        self.start_counts(
            &apportion(user_count, &weights),
            spawn_rate,
            Duration::ZERO,
            on_spawned,
        );
        Ok(())
    }

    /// Users alive now, per class, in the runner's class order.
    pub fn class_counts(&self) -> Vec<(String, u64)> {
        let users = lock(&self.shared.users);
        self.classes
            .iter()
            .zip(users.iter())
            .map(|(class, users)| (class.name.clone(), users.len() as u64))
            .collect()
    }

    /// Like [`start`](Self::start) with the users of each class given (`wanted[i]` users of
    /// the runner's class `i`), the first new user starting after `offset`: what a worker does
    /// with its share of a distributed test.
    pub fn start_counts(
        &self,
        wanted: &[u64],
        spawn_rate: f64,
        offset: Duration,
        on_spawned: impl FnOnce(&[(String, u64)]) + Send + 'static,
    ) {
        if let Some(previous) = lock(&self.spawner).take() {
            previous.abort();
        }
        self.retire_surplus(wanted);
        let spawned = lock(&self.shared.spawned).clone();
        let already: u64 = spawned.iter().sum();
        let missing: Vec<u64> = wanted
            .iter()
            .zip(&spawned)
            .map(|(want, have)| want.saturating_sub(*have))
            .collect();
        let order = spawn_order(&missing);
        tracing::info!(
            target: "locust.runners",
            "Hatching and swarming {} users at the rate {spawn_rate} users/s ({already} users already running)...",
            order.len()
        );
        Self::set_state(&self.shared, RunnerState::Spawning);
        let _ = self.spawning_done.send(false);
        let done = self.spawning_done.clone();
        let spawner = Spawner {
            environment: self.environment.clone(),
            classes: self.classes.clone(),
            shared: self.shared.clone(),
        };
        let handle = tokio::spawn(async move {
            let started = Instant::now();
            for (position, class_index) in order.into_iter().enumerate() {
                // Absolute schedule: no drift however long spawning takes.
                match crate::run::spawn_rate::start_time(started, offset, spawn_rate, position) {
                    Some(due) => tokio::time::sleep_until(due).await,
                    // Not within any representable time: the rest never start.
                    None => std::future::pending().await,
                }
                spawner.spawn_user(class_index);
            }
            Self::set_state(&spawner.shared, RunnerState::Running);
            let per_class: Vec<(String, u64)> = spawner
                .classes
                .iter()
                .zip(lock(&spawner.shared.spawned).iter())
                .map(|(class, count)| (class.name.clone(), *count))
                .collect();
            let summary = per_class
                .iter()
                .map(|(name, count)| format!("{name}: {count}"))
                .collect::<Vec<_>>()
                .join(", ");
            tracing::info!(target: "locust.runners", "All users hatched: {summary} ({already} already running)");
            on_spawned(&per_class);
            let _ = done.send(true);
        });
        *lock(&self.spawner) = Some(handle);
    }

    /// Tell the newest users of each class above `wanted` to stop.
    fn retire_surplus(&self, wanted: &[u64]) {
        let mut users = lock(&self.shared.users);
        let mut spawned = lock(&self.shared.spawned);
        let mut retiring = lock(&self.shared.retiring);
        let mut retired = 0;
        for (class, want) in wanted.iter().enumerate() {
            while users[class].len() as u64 > *want {
                if let Some(user) = users[class].pop() {
                    user.signal.raise(Signal::Stop);
                    retiring.push(user);
                    retired += 1;
                }
            }
            spawned[class] = spawned[class].min(*want);
        }
        retiring.retain(|user| !user.task.is_finished());
        if retired > 0 {
            tracing::info!(target: "locust.runners", "Stopping {retired} users");
        }
    }

    /// Resolves once the latest `start` has spawned all its users.
    pub async fn spawning_complete(&self) {
        let mut done = self.spawning_done.subscribe();
        let _ = done.wait_for(|done| *done).await;
    }

    /// Stop all users: waiting users at once, users in a task after it (within the stop
    /// timeout), then their `on_stop`s; whatever remains after that is dropped.
    pub async fn stop(&self) {
        if let Some(spawner) = lock(&self.spawner).take() {
            spawner.abort();
        }
        Self::set_state(&self.shared, RunnerState::Stopping);
        let mut users: Vec<UserHandle> = std::mem::take(&mut *lock(&self.shared.retiring));
        for class in lock(&self.shared.users).iter_mut() {
            users.append(class);
        }
        // The senders live until every user has ended: a user whose sender is gone would take
        // it as the strongest signal.
        let (signals, tasks): (Vec<_>, Vec<_>) = users
            .into_iter()
            .map(|user| (user.signal, user.task))
            .unzip();
        let raise_all = |level| {
            signals
                .iter()
                .for_each(|signal: &SignalSender| signal.raise(level))
        };
        raise_all(if self.stop_timeout.is_zero() {
            Signal::Abandon
        } else {
            Signal::Stop
        });
        let mut all = futures_join(tasks);
        let deadline = Instant::now() + self.stop_timeout;
        let kill_at = deadline + ON_STOP_GRACE;
        tokio::select! {
            _ = &mut all => {}
            _ = tokio::time::sleep_until(deadline) => {
                raise_all(Signal::Abandon);
                tokio::select! {
                    _ = &mut all => {}
                    _ = tokio::time::sleep_until(kill_at) => {
                        raise_all(Signal::Kill);
                        all.await;
                    }
                }
            }
        }
        Self::set_state(&self.shared, RunnerState::Stopped);
    }
}

/// Await every handle (a user that panicked is already logged by its own task).
fn futures_join(
    handles: Vec<JoinHandle<()>>,
) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        for handle in handles {
            let _ = handle.await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_matches_weights_exactly_when_it_can() {
        assert_eq!(apportion(10, &[1, 3]), [3, 7]); // 2.5/7.5 → tie goes to the earlier
        assert_eq!(apportion(100, &[1, 1, 2]), [25, 25, 50]);
        assert_eq!(apportion(7, &[1, 1, 1]), [3, 2, 2]);
        assert_eq!(apportion(0, &[5, 1]), [0, 0]);
        for total in 0..200u64 {
            let counts = apportion(total, &[3, 5, 11]);
            assert_eq!(counts.iter().sum::<u64>(), total);
            for (count, weight) in counts.iter().zip([3.0, 5.0, 11.0]) {
                let exact = total as f64 * weight / 19.0;
                assert!((*count as f64 - exact).abs() < 1.0, "{total}: {counts:?}");
            }
        }
    }

    #[test]
    fn weights_keep_only_the_named_classes() {
        let classes = [("A", 1), ("B", 3), ("C", 0)];
        assert_eq!(weights_of(&classes, None), Ok(vec![1, 3, 0]));
        let only = |names: &[&str]| {
            names
                .iter()
                .map(|name| name.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(weights_of(&classes, Some(&only(&["B"]))), Ok(vec![0, 3, 0]));
        // A weight-0 class that a shape names still gets users.
        assert_eq!(
            weights_of(&classes, Some(&only(&["A", "C"]))),
            Ok(vec![1, 0, 1])
        );
        let unknown = weights_of(&classes, Some(&only(&["D"]))).expect_err("D is unknown");
        assert!(
            unknown.contains("user class D") && unknown.contains("A, B, C"),
            "{unknown}"
        );
        assert!(weights_of(&classes, Some(&[])).is_err());
    }

    #[test]
    fn spawn_order_interleaves_classes() {
        let order = spawn_order(&[2, 6]);
        assert_eq!(order.len(), 8);
        assert_eq!(order.iter().filter(|&&class| class == 0).count(), 2);
        // The rarer class is not bunched at either end.
        let first = order.iter().position(|&class| class == 0).expect("class 0");
        assert!((1..=3).contains(&first), "{order:?}");
        assert_eq!(spawn_order(&[0, 3]), [1, 1, 1]);
    }
}
