//! A run's CPU share: guest instructions (fuel) per second, shared by all its instances, so a
//! tenant whose guests burn CPU is slowed down and the other tenants' runs are not.
//!
//! How it measures without epochs or extra code in the guest: the store yields to the async
//! scheduler every [`YIELD_INTERVAL`](super::YIELD_INTERVAL) units of fuel, and such a yield
//! wakes its own task before returning `Pending`. [`Throttled`] polls the guest call with a
//! waker that notices that, charges one interval per yield to the share and, when the share is
//! spent, sleeps before resuming the guest. When the call returns, the exact fuel it burned is
//! known and the difference is settled; a call that starts while the share is in debt waits
//! first, so short calls are held to the rate too.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::time::Instant;

/// Fuel a share may bank while idle: a tenth of a second's worth.
const BURST_SECONDS: f64 = 0.1;

/// Guest instructions per second for every instance of one run.
#[derive(Debug)]
pub struct CpuShare {
    fuel_per_second: f64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Fuel that may still be burned now; negative when in debt.
    balance: f64,
    updated: Instant,
}

impl CpuShare {
    /// A share of `fuel_per_second` (at least 1).
    pub fn new(fuel_per_second: u64) -> Arc<Self> {
        let rate = fuel_per_second.max(1) as f64;
        Arc::new(Self {
            fuel_per_second: rate,
            bucket: Mutex::new(Bucket {
                balance: rate * BURST_SECONDS,
                updated: Instant::now(),
            }),
        })
    }

    /// The rate.
    pub fn fuel_per_second(&self) -> u64 {
        self.fuel_per_second as u64
    }

    /// Charge `fuel` burned (negative: refund); returns how long to pause before burning more.
    pub fn charge(&self, fuel: i64) -> Option<Duration> {
        let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let refill = now.duration_since(bucket.updated).as_secs_f64() * self.fuel_per_second;
        bucket.balance = (bucket.balance + refill).min(self.fuel_per_second * BURST_SECONDS);
        bucket.updated = now;
        bucket.balance -= fuel as f64;
        (bucket.balance < 0.0)
            .then(|| Duration::from_secs_f64(-bucket.balance / self.fuel_per_second))
    }
}

/// A waker that remembers being woken while the call it was given to was being polled.
struct Noticing {
    woken: AtomicBool,
    inner: Mutex<Waker>,
}

impl Wake for Noticing {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Relaxed);
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .wake_by_ref();
    }
}

pin_project_lite::pin_project! {
    /// A guest call held to a [`CpuShare`]; its output comes with the fuel charged so far.
    pub struct Throttled<F> {
        #[pin]
        call: F,
        share: Option<Arc<CpuShare>>,
        noticing: Option<(Arc<Noticing>, Waker)>,
        #[pin]
        pause: Option<tokio::time::Sleep>,
        started: bool,
        charged: u64,
    }
}

impl<F> Throttled<F> {
    /// `call`, held to `share` (or run as it is without one).
    pub fn new(call: F, share: Option<Arc<CpuShare>>) -> Self {
        Self {
            call,
            share,
            noticing: None,
            pause: None,
            started: false,
            charged: 0,
        }
    }
}

impl<F: Future> Future for Throttled<F> {
    type Output = (F::Output, u64);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(share) = this.share.as_ref() else {
            return this.call.poll(cx).map(|output| (output, 0));
        };
        if !*this.started {
            *this.started = true;
            if let Some(wait) = share.charge(0) {
                this.pause.set(Some(tokio::time::sleep(wait)));
            }
        }
        if let Some(pause) = this.pause.as_mut().as_pin_mut() {
            if pause.poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.pause.set(None);
        }
        let (noticing, waker) = this.noticing.get_or_insert_with(|| {
            let noticing = Arc::new(Noticing {
                woken: AtomicBool::new(false),
                inner: Mutex::new(cx.waker().clone()),
            });
            let waker = Waker::from(noticing.clone());
            (noticing, waker)
        });
        {
            let mut inner = noticing
                .inner
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !inner.will_wake(cx.waker()) {
                *inner = cx.waker().clone();
            }
        }
        noticing.woken.store(false, Ordering::Relaxed);
        let polled = this.call.poll(&mut Context::from_waker(waker));
        match polled {
            Poll::Ready(output) => Poll::Ready((output, *this.charged)),
            // Woken during its own poll: the store yielded after an interval of fuel.
            Poll::Pending if noticing.woken.swap(false, Ordering::Relaxed) => {
                *this.charged += super::YIELD_INTERVAL;
                if let Some(wait) = share.charge(super::YIELD_INTERVAL as i64) {
                    this.pause.set(Some(tokio::time::sleep(wait)));
                    // Register the timer; the task was already woken for the yield.
                    let _ = this.pause.as_mut().as_pin_mut().map(|pause| pause.poll(cx));
                }
                Poll::Pending
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_allows_its_burst_then_asks_for_pauses_at_its_rate() {
        let share = CpuShare::new(1_000_000);
        assert_eq!(share.charge(100_000), None, "a tenth of a second is banked");
        let wait = share.charge(500_000).expect("in debt");
        assert!(
            (0.45..=0.51).contains(&wait.as_secs_f64()),
            "half a second of debt: {wait:?}"
        );
        assert!(share.charge(-500_000).is_none(), "refunds settle the debt");
    }

    /// A call that yields like a store does after each interval of fuel, `yields` times.
    struct Spinning {
        yields: u32,
    }

    impl Future for Spinning {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.yields == 0 {
                return Poll::Ready(());
            }
            self.yields -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_spinning_call_is_held_to_the_rate() {
        // 10 intervals at 20 intervals a second, a tenth of a second banked: 0.4 s at least
        // (a timer never fires early, so only the lower bound is certain).
        let share = CpuShare::new(20 * super::super::YIELD_INTERVAL);
        let started = tokio::time::Instant::now();
        let ((), charged) = Throttled::new(Spinning { yields: 10 }, Some(share)).await;
        assert_eq!(charged, 10 * super::super::YIELD_INTERVAL);
        let took = started.elapsed().as_secs_f64();
        assert!(took >= 0.39, "{took}");
        let ((), charged) = Throttled::new(Spinning { yields: 10 }, None).await;
        assert_eq!(charged, 0, "no share, no charge");
    }
}
