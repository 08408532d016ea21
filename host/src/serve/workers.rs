//! The shared service's worker port: workers (`locust --worker --master-host SERVICE
//! --master-port PORT`) connect and wait here, kept alive with heartbeats, until a run starts.
//! A starting run adopts every waiting worker (a [`Master`](crate::dist::master::Master) of
//! its own, without a port); each adopted worker opens another connection to wait for the next
//! run, so one worker runs users of several tenants' runs at once, each in its own session
//! with its own component, limits and statistics.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::dist::master::{Adopted, HEARTBEAT_INTERVAL, digest, read_hello, refuse};
use crate::dist::protocol::{Heartbeat, Message};
use crate::dist::transport::{self, Connection, WireFrame};

/// How long a waiting worker's task may take to hand its connection over.
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(2);

type Handover = oneshot::Sender<oneshot::Sender<Adopted>>;

struct Waiting {
    id: String,
    serial: u64,
    handover: Handover,
}

/// Workers waiting for a run.
pub struct WorkerPool {
    waiting: Mutex<Vec<Waiting>>,
    next: Mutex<u64>,
    token: Option<[u8; 32]>,
    address: OnceLock<SocketAddr>,
}

impl WorkerPool {
    /// Listen for workers on `host:port`; with `token`, workers must present it.
    pub async fn listen(host: &str, port: u16, token: Option<&str>) -> anyhow::Result<Arc<Self>> {
        let pool = Arc::new(Self {
            waiting: Mutex::new(Vec::new()),
            next: Mutex::new(0),
            token: token.map(digest),
            address: OnceLock::new(),
        });
        let address =
            transport::listen_for_workers(host, port, None, Arc::downgrade(&pool), Self::greet)
                .await?;
        let _ = pool.address.set(address);
        Ok(pool)
    }

    /// The address workers connect to.
    pub fn address(&self) -> SocketAddr {
        self.address
            .get()
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Workers waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Read a new connection's hello, check its version and token, and keep it waiting.
    async fn greet(self: Arc<Self>, mut connection: Connection) {
        let Some(hello) = read_hello(&mut connection).await else {
            return;
        };
        let peer = connection
            .peer
            .map_or_else(|| "an unknown address".to_owned(), |peer| peer.to_string());
        let who = format!("worker {}", hello.worker_id);
        if let Err(error) = hello.check_version() {
            return refuse(&connection.outbound, &peer, &who, &error.to_string()).await;
        }
        if let Some(expected) = &self.token {
            let given = hello.token.as_deref().map(digest);
            if given.as_ref() != Some(expected) {
                let reason = "wrong or missing master token; start the worker with the service's --master-token";
                return refuse(&connection.outbound, &peer, &who, reason).await;
            }
        }
        if hello.component_hash.is_some() {
            let reason = "a shared service's worker gets each run's component from the service; start it without -f";
            return refuse(&connection.outbound, &peer, &who, reason).await;
        }
        if let Some(admission) = &connection.admission {
            admission.admit();
        }
        let (handover, requests) = oneshot::channel();
        let serial = {
            let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
            *next += 1;
            *next
        };
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Waiting {
                id: hello.worker_id.clone(),
                serial,
                handover,
            });
        tracing::info!(target: "locust.serve", "worker {} is waiting for a run", hello.worker_id);
        tokio::spawn(keep_waiting(
            Arc::downgrade(&self),
            serial,
            Adopted { connection, hello },
            requests,
        ));
    }

    fn forget(&self, serial: u64) {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|waiting| waiting.serial != serial);
    }

    /// Every waiting worker, for a run to adopt.
    pub async fn take_all(&self) -> Vec<Adopted> {
        let waiting: Vec<Waiting> =
            std::mem::take(&mut *self.waiting.lock().unwrap_or_else(PoisonError::into_inner));
        let mut adopted = Vec::new();
        for Waiting { id, handover, .. } in waiting {
            let (reply, answer) = oneshot::channel();
            if handover.send(reply).is_err() {
                continue;
            }
            match tokio::time::timeout(HANDOVER_TIMEOUT, answer).await {
                Ok(Ok(worker)) => adopted.push(worker),
                _ => {
                    tracing::debug!(target: "locust.serve", "worker {id} left before a run took it")
                }
            }
        }
        adopted
    }
}

/// Heartbeats to a waiting worker until a run takes it or it leaves.
async fn keep_waiting(
    pool: Weak<WorkerPool>,
    serial: u64,
    mut worker: Adopted,
    mut requests: oneshot::Receiver<oneshot::Sender<Adopted>>,
) {
    let mut beats = tokio::time::interval(HEARTBEAT_INTERVAL);
    loop {
        tokio::select! {
            request = &mut requests => {
                if let Ok(reply) = request {
                    let _ = reply.send(worker);
                }
                return;
            }
            frame = worker.connection.inbound.message() => {
                if !matches!(frame, Ok(Some(_))) {
                    tracing::info!(target: "locust.serve", "worker {} left", worker.hello.worker_id);
                    if let Some(pool) = pool.upgrade() {
                        pool.forget(serial);
                    }
                    return;
                }
            }
            _ = beats.tick() => {
                let beat = Message::Heartbeat(Heartbeat {
                    state: "waiting".to_owned(),
                    cpu_usage: 0.0,
                    user_count: 0,
                });
                if let Ok(frame) = beat.to_frame() {
                    let _ = worker.connection.outbound.try_send(Ok(WireFrame::from(frame)));
                }
            }
        }
    }
}
