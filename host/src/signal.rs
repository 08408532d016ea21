//! One user's stop signal: a level only ever raised (run → stop → abandon → kill) and the
//! waker of the one task that watches it. Checking it in a guest call costs an atomic load
//! and a waker registration; there is no waiter list and no lock (a `watch` channel costs a
//! mutex-guarded waiter list entry per guest call and ~0.9 KiB in every future awaiting it).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;

/// How far a user has been told to stop; each level includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Signal {
    /// Keep going.
    Run,
    /// Stop after the current task.
    Stop,
    /// Drop the current task.
    Abandon,
    /// Drop everything.
    Kill,
}

impl Signal {
    fn from_u8(level: u8) -> Self {
        match level {
            0 => Self::Run,
            1 => Self::Stop,
            2 => Self::Abandon,
            _ => Self::Kill,
        }
    }
}

struct Shared {
    level: AtomicU8,
    waker: AtomicWaker,
}

/// The runner's end: raises the level. Dropping it raises `Kill`, so a user never outlives
/// the handle that could stop it.
pub struct SignalSender(Arc<Shared>);

/// The user's end: reads the level and waits for it.
pub struct Signals(Arc<Shared>);

/// A new signal at `Run`.
pub fn signal() -> (SignalSender, Signals) {
    let shared = Arc::new(Shared {
        level: AtomicU8::new(Signal::Run as u8),
        waker: AtomicWaker::new(),
    });
    (SignalSender(shared.clone()), Signals(shared))
}

impl SignalSender {
    /// Raise the level to `level` (never lower it) and wake the user.
    pub fn raise(&self, level: Signal) {
        let previous = self.0.level.fetch_max(level as u8, Ordering::AcqRel);
        if previous < level as u8 {
            self.0.waker.wake();
        }
    }
}

impl Drop for SignalSender {
    fn drop(&mut self) {
        self.raise(Signal::Kill);
    }
}

impl Signals {
    /// The current level.
    pub fn level(&self) -> Signal {
        Signal::from_u8(self.0.level.load(Ordering::Acquire))
    }

    /// Run `call` unless the level reaches `level` first (then `None`, and `call` is
    /// dropped). A level already reached wins before `call` is polled.
    pub fn unless<F: Future>(&self, level: Signal, call: F) -> Unless<'_, F> {
        Unless {
            signals: self,
            level,
            call,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Signals::unless`]. A struct rather than an `async fn`: an `async fn`
    /// would hold `call` twice (as its argument and pinned), hundreds of bytes more in every
    /// user's future for its whole life.
    pub struct Unless<'a, F> {
        signals: &'a Signals,
        level: Signal,
        #[pin]
        call: F,
    }
}

impl<F: Future> Future for Unless<'_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // Register first, then read: a raise after the read wakes this registration.
        this.signals.0.waker.register(context.waker());
        if this.signals.level() >= *this.level {
            return Poll::Ready(None);
        }
        this.call.poll(context).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn levels_only_rise() {
        let (sender, signals) = signal();
        assert_eq!(signals.level(), Signal::Run);
        sender.raise(Signal::Abandon);
        sender.raise(Signal::Stop);
        assert_eq!(signals.level(), Signal::Abandon);
        drop(sender);
        assert_eq!(signals.level(), Signal::Kill, "a dropped sender kills");
    }

    #[tokio::test]
    async fn a_raise_ends_a_pending_call_and_lower_levels_do_not() {
        let (sender, signals) = signal();
        let raiser = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            sender.raise(Signal::Stop); // below the level waited for
            tokio::time::sleep(Duration::from_millis(20)).await;
            sender.raise(Signal::Abandon);
            sender
        });
        let outcome = signals
            .unless(Signal::Abandon, std::future::pending::<()>())
            .await;
        assert_eq!(outcome, None);
        assert_eq!(signals.level(), Signal::Abandon);
        let _sender = raiser.await.expect("raiser");
        assert_eq!(signals.unless(Signal::Kill, async { 7 }).await, Some(7));
        assert_eq!(signals.unless(Signal::Stop, async { 7 }).await, None);
    }
}
