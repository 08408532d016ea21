//! Performing a guest's HTTP requests off its fiber stack.
//!
//! A guest calls `http.send` as a blocking import, so the host code behind it runs on the
//! instance's fiber stack, and every page it touches there stays resident for the life of the
//! store (wasmtime keeps a store's fiber stack until the store ends). Connecting, TLS and
//! hyper's connection I/O are deep futures: run on the fiber they left ~24 KiB of resident stack
//! behind each user, more than the rest of an idle user's fiber needs.
//!
//! So the import only hands its [`HttpRequest`] to an [`Exchange`] and waits for the outcome;
//! the [`HttpAgent`], which owns the user's [`HttpSession`], resolves its URL (see
//! [`UrlBase`]) and performs it, and parks the user's connections before a long wait. The agent is polled by
//! the user's own task on the task's stack, interleaved with the guest call by [`HttpAgent::serve`]:
//! no other task, no channel, no wake-up between the two. The exchange needs no wakers: the
//! guest only submits while `serve` polls it, and `serve` polls the agent right after; the agent
//! only finishes while `serve` polls it, and `serve` polls the guest right after.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use super::{GuestUrl, HttpOutcome, HttpRequest, HttpSession, UrlBase};

/// What the agent is asked to do.
#[expect(
    clippy::large_enum_variant,
    reason = "a job is moved once, into the slot; boxing would cost an allocation per request"
)]
enum Job {
    /// Resolve a guest's request and perform it.
    Send(HttpRequest<GuestUrl>),
    /// Park the kept-alive connections: the user is about to wait.
    Park,
}

/// Where one job waits for the agent, and its outcome for the caller.
#[derive(Default)]
enum Slot {
    /// Nothing asked.
    #[default]
    Empty,
    /// Submitted, not yet picked up by the agent.
    Submitted(Job),
    /// The agent is performing it.
    InFlight,
    /// A request done, its outcome not yet taken by the caller.
    Sent(Sent),
    /// Parking done, not yet noticed by the caller.
    Parked,
}

impl Slot {
    /// The outcome of a finished request, emptying the slot.
    fn take_sent(&mut self) -> Option<Sent> {
        if !matches!(self, Self::Sent(_)) {
            return None;
        }
        match std::mem::take(self) {
            Self::Sent(outcome) => Some(outcome),
            _ => None,
        }
    }

    /// Whether parking finished, emptying the slot if so.
    fn take_parked(&mut self) -> Option<()> {
        matches!(self, Self::Parked).then(|| *self = Self::Empty)
    }
}

/// What came of a guest's request.
#[derive(Debug)]
pub struct Sent {
    /// The name its statistics go under.
    pub name: String,
    /// The outcome, or why the request could not be sent at all (its URL).
    pub outcome: Result<HttpOutcome, String>,
}

/// The hand-over point between a guest's `send` import and its user's [`HttpAgent`].
#[derive(Default)]
pub struct Exchange {
    // One user's, touched only from that user's task, so never contended.
    slot: Mutex<Slot>,
}

impl Exchange {
    /// A new, empty exchange, shared by an instance's state and its agent.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    fn with_slot<T>(&self, f: impl FnOnce(&mut Slot) -> T) -> T {
        f(&mut self.slot.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Have the agent resolve and perform `request`; resolves to what came of it. Only to be
    /// awaited inside a guest call that [`HttpAgent::serve`] drives.
    pub async fn execute(&self, request: HttpRequest<GuestUrl>) -> Sent {
        self.run(Job::Send(request), Slot::take_sent).await
    }

    /// Submit `job` and wait until `finished` takes its result out of the slot.
    async fn run<T>(&self, job: Job, finished: fn(&mut Slot) -> Option<T>) -> T {
        self.with_slot(|slot| *slot = Slot::Submitted(job));
        std::future::poll_fn(|_| match self.with_slot(finished) {
            Some(result) => Poll::Ready(result),
            None => Poll::Pending,
        })
        .await
    }

    /// The submitted job, if any, marking it in flight.
    fn take_submitted(&self) -> Option<Job> {
        self.with_slot(|slot| match std::mem::replace(slot, Slot::InFlight) {
            Slot::Submitted(request) => Some(request),
            other => {
                *slot = other;
                None
            }
        })
    }

    fn finish(&self, result: Slot) {
        self.with_slot(|slot| *slot = result);
    }

    fn state(&self) -> SlotState {
        self.with_slot(|slot| match slot {
            Slot::Empty | Slot::Sent(_) | Slot::Parked => SlotState::Idle,
            Slot::Submitted(_) => SlotState::Submitted,
            Slot::InFlight => SlotState::InFlight,
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Idle,
    Submitted,
    InFlight,
}

type Work = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Performs the requests submitted to one [`Exchange`], with one user's [`HttpSession`] (its
/// kept-alive connections and cookies), resolving their URLs against the user's [`UrlBase`].
pub struct HttpAgent {
    exchange: Arc<Exchange>,
    work: Work,
}

impl HttpAgent {
    /// An agent serving `exchange` with a fresh session, for a user whose relative URLs go to
    /// `base`, reaching only the hosts `grants` allows and reading response bodies of at most
    /// `max_body` bytes.
    pub fn new(
        exchange: Arc<Exchange>,
        base: UrlBase,
        max_body: usize,
        grants: Arc<crate::grants::Grants>,
    ) -> Self {
        let shared = exchange.clone();
        let work = Box::pin(async move {
            let mut session = HttpSession::new(max_body, grants);
            loop {
                let job = std::future::poll_fn(|_| match shared.take_submitted() {
                    Some(job) => Poll::Ready(job),
                    None => Poll::Pending,
                })
                .await;
                let result = match job {
                    // Boxed per request, so that an idle user's agent is small: the exchange's
                    // future (redirects, timeout, hyper's) is ten times the size of the rest.
                    Job::Send(request) => {
                        let (guest, request) = request.replace_url(());
                        let (url, name) = base.resolve(guest);
                        let outcome = match url {
                            Ok(url) => {
                                let (_, request) = request.replace_url(url);
                                Ok(Box::pin(session.execute(request)).await)
                            }
                            Err(error) => Err(error),
                        };
                        Slot::Sent(Sent { name, outcome })
                    }
                    Job::Park => {
                        session.park();
                        Slot::Parked
                    }
                };
                shared.finish(result);
            }
        });
        Self { exchange, work }
    }

    /// Park the session's kept-alive connections (see [`HttpSession::park`]): for a user that
    /// is about to wait.
    pub async fn park(&mut self) {
        let exchange = self.exchange.clone();
        self.serve(exchange.run(Job::Park, Slot::take_parked)).await;
    }

    /// Drive `call` (a call into the guest) to its end, performing the requests it submits.
    pub fn serve<F: Future>(&mut self, call: F) -> Serve<'_, F> {
        Serve { agent: self, call }
    }
}

pin_project_lite::pin_project! {
    /// Polls a guest call and its agent in turn (see [`HttpAgent::serve`]). A struct rather
    /// than an `async fn`, which would hold the call's future twice (argument and pinned).
    pub struct Serve<'a, F> {
        agent: &'a mut HttpAgent,
        #[pin]
        call: F,
    }
}

impl<F: Future> Future for Serve<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        loop {
            // A request in flight: the guest waits for it, so only the agent has work (resuming
            // the guest's fiber just to find the outcome missing would be wasted).
            if this.agent.exchange.state() != SlotState::Idle {
                let _ = this.agent.work.as_mut().poll(cx);
                if this.agent.exchange.state() != SlotState::Idle {
                    return Poll::Pending;
                }
            }
            if let Poll::Ready(output) = this.call.as_mut().poll(cx) {
                return Poll::Ready(output);
            }
            // The guest waits: on a request it just submitted (start it now), or on something
            // else that will wake the task.
            if this.agent.exchange.state() != SlotState::Submitted {
                return Poll::Pending;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::http::test_server::{Behaviour, TestServer};
    use crate::http::tests::get;

    /// A guest's `GET path`.
    fn guest_get(path: &str) -> HttpRequest<GuestUrl> {
        let guest = GuestUrl {
            url: path.to_owned(),
            query: Vec::new(),
            name: None,
        };
        get("http://unused.invalid/").replace_url(guest).1
    }

    /// An agent serving `exchange` for a user whose host is `base`.
    fn agent_for(base: &str, exchange: &Arc<Exchange>) -> HttpAgent {
        HttpAgent::new(
            exchange.clone(),
            UrlBase::new(Some(base), Arc::from("Tester")),
            crate::http::DEFAULT_MAX_BODY,
            crate::grants::Grants::any(),
        )
    }

    #[tokio::test]
    async fn a_call_gets_the_outcomes_of_the_requests_it_submits() {
        let server = TestServer::start(Behaviour {
            delay: Duration::from_millis(20),
            ..Behaviour::default()
        })
        .await;
        let exchange = Exchange::new();
        let mut agent = agent_for(&server.url, &exchange);
        // Stands for a guest call: two requests in a row, as a task would make them.
        let call = async {
            let first = exchange.execute(guest_get("/a")).await;
            let second = exchange.execute(guest_get("/b?x=1")).await;
            (first, second)
        };
        let (first, second) = tokio::time::timeout(Duration::from_secs(10), agent.serve(call))
            .await
            .expect("the call ends");
        assert_eq!(
            (first.name.as_str(), second.name.as_str()),
            ("/a", "/b?x=1")
        );
        for sent in [first, second] {
            let outcome = sent.outcome.expect("sent");
            assert_eq!(outcome.status, 200, "{:?}", outcome.transport_error);
            assert_eq!(&outcome.body[..], b"ok");
            assert!(outcome.elapsed >= Duration::from_millis(20));
        }
        // Parked between calls, the connection still serves the next one.
        agent.park().await;
        let again = agent.serve(exchange.execute(guest_get("/c"))).await;
        assert_eq!(again.outcome.expect("sent").status, 200);
        let ports = server.ports();
        assert_eq!(ports.len(), 3);
        assert!(ports.iter().all(|port| *port == ports[0]), "{ports:?}");
    }

    #[tokio::test]
    async fn a_url_that_cannot_be_resolved_is_not_sent() {
        let exchange = Exchange::new();
        let mut agent = HttpAgent::new(
            exchange.clone(),
            UrlBase::new(None, Arc::from("Lost")),
            crate::http::DEFAULT_MAX_BODY,
            crate::grants::Grants::any(),
        );
        let sent = agent.serve(exchange.execute(guest_get("/nowhere"))).await;
        assert_eq!(sent.name, "/nowhere");
        assert!(
            sent.outcome
                .expect_err("no host")
                .contains("user class Lost")
        );
    }

    #[tokio::test]
    async fn a_call_without_requests_ends_untouched() {
        let exchange = Exchange::new();
        let mut agent = agent_for("http://127.0.0.1:9/", &exchange);
        let value = agent
            .serve(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                7
            })
            .await;
        assert_eq!(value, 7);
        assert!(exchange.state() == SlotState::Idle);
    }
}
