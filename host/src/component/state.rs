//! What each guest instance's store holds: its WASI context (no files, environment or
//! arguments; TCP to the run's granted hosts only), its
//! limits, and the simulated user's identity, HTTP session and reporter. The import
//! implementations live in the sibling files, one per WIT interface.

use super::guest_output::GuestOutput;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::responses::HeldResponses;
use crate::events::{Reporter, RequestEvent};
use crate::grants::Grants;
use crate::http::Exchange;

/// Who the user in an instance is.
#[derive(Clone, Debug)]
pub struct UserIdentity {
    /// Unique per user in this process, from 1; 0 for the hooks instance.
    pub id: u64,
    /// Seed for the guest's randomness.
    pub seed: u64,
    /// Target host: `--host`, else the class's.
    pub host: Option<Arc<str>>,
    /// The user class's name, for logs.
    pub class: Arc<str>,
    /// Values of the component's declared options (`context.get-option`).
    pub options: ComponentOptions,
    /// The hosts the instance may reach over HTTP and TCP.
    pub grants: Arc<Grants>,
    /// What the session's users share (the `test-start` hook's data, the iteration budget).
    pub run: Arc<crate::test_plan::RunShared>,
}

impl UserIdentity {
    /// The identity of an instance that only describes itself: no host, options or network.
    pub fn offline(class: &str) -> Self {
        Self {
            id: 0,
            seed: 0,
            host: None,
            class: Arc::from(class),
            options: ComponentOptions::default(),
            grants: Arc::default(),
            run: Arc::default(),
        }
    }
}

/// Values of a component's declared options, by name; shared by all users.
pub type ComponentOptions = Arc<std::collections::BTreeMap<String, String>>;

/// A `catch-response` request waiting for the guest's verdict.
#[derive(Debug)]
pub(super) struct PendingRequest {
    pub id: u64,
    pub method: String,
    pub name: String,
    pub elapsed: Duration,
    pub length: u64,
    pub default_error: Option<String>,
}

/// The data of one guest store.
pub struct UserState {
    wasi: WasiCtx,
    pub(super) table: ResourceTable,
    http_ctx: wasmtime_wasi_http::WasiHttpCtx,
    guest_http: super::wasi_http::GuestHttp,
    pub(super) limits: StoreLimits,
    pub(super) identity: UserIdentity,
    /// Where the `send` import hands requests to the instance's [`crate::http::HttpAgent`].
    pub(super) exchange: Arc<Exchange>,
    pub(super) reporter: Reporter,
    pub(super) pending: Vec<PendingRequest>,
    pub(super) next_response_id: u64,
    /// The responses the guest has not dropped yet.
    pub(super) responses: HeldResponses,
    /// The message of the guest's last panic, to explain the trap that follows it.
    pub(super) last_panic: Option<String>,
    /// The guest's standard output (sharing its writer with standard error).
    pub(super) output: GuestOutput,
    /// The run's CPU share, when it has one (the shared service's tenants).
    pub(super) cpu: Option<Arc<super::cpu_share::CpuShare>>,
    /// What `test-plan.declare` received (kept only in a describing instance).
    pub(super) declared_plan: Option<super::bindings::test_plan::Plan>,
    /// Whether this instance is the one `user.describe` runs in.
    pub(super) describing: bool,
    /// The metrics this instance declared (`metrics.declare`).
    pub(super) declared_metrics: crate::metrics::Declared,
    /// The load shape the component declared while describing (`test-plan.declare-shape`).
    pub(super) declared_shape: Option<String>,
    /// Whether a sample of an undeclared metric was reported already.
    pub(super) undeclared_warned: bool,
}

impl UserState {
    /// State for a user (or the hooks instance) reporting to `reporter`, with at most
    /// `memory_bytes` of linear memory.
    pub fn new(identity: UserIdentity, reporter: Reporter, memory_bytes: usize) -> Self {
        let (stdout, stderr) = GuestOutput::pair(identity.class.clone(), identity.id);
        let stdout_handle = stdout.clone();
        let grants = identity.grants.clone();
        let wasi = WasiCtx::builder()
            // TCP to granted addresses only; name lookups are answered by `lookup` from the
            // grants, never by the system resolver for an ungranted name.
            .allow_tcp(true)
            .socket_addr_check(move |address, usage| {
                let allowed = match usage {
                    SocketAddrUse::TcpBind => Grants::is_implicit_bind(address),
                    SocketAddrUse::TcpConnect => {
                        let granted = grants.allows_address(address);
                        if !granted {
                            super::lookup::refused(address);
                        }
                        granted
                    }
                    _ => false,
                };
                Box::pin(std::future::ready(allowed))
            })
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .stdout(stdout)
            .stderr(stderr)
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            http_ctx: wasmtime_wasi_http::WasiHttpCtx::new(),
            guest_http: super::wasi_http::GuestHttp::new(identity.grants.clone(), reporter.clone()),
            limits: wasmtime::StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
            identity,
            exchange: Exchange::new(),
            reporter,
            pending: Vec::new(),
            next_response_id: 1,
            responses: HeldResponses::new(memory_bytes),
            last_panic: None,
            output: stdout_handle,
            cpu: None,
            declared_plan: None,
            describing: false,
            declared_metrics: crate::metrics::Declared::default(),
            declared_shape: None,
            undeclared_warned: false,
        }
    }

    /// Record every `catch-response` request the guest left unresolved, by status.
    pub fn settle_pending(&mut self) {
        for pending in std::mem::take(&mut self.pending) {
            self.record_pending(pending, None);
        }
    }

    /// Record a pending request; `verdict_error` of `Some(None)` forces success.
    pub(super) fn record_pending(
        &mut self,
        pending: PendingRequest,
        verdict_error: Option<Option<String>>,
    ) {
        let error = verdict_error.unwrap_or(pending.default_error);
        self.reporter.request(&RequestEvent {
            request_type: &pending.method,
            name: &pending.name,
            response_time: pending.elapsed,
            response_length: pending.length,
            error: error.as_deref(),
        });
    }
}

impl wasmtime_wasi_http::WasiHttpView for UserState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            hooks: &mut self.guest_http,
            table: &mut self.table,
            ctx: &mut self.http_ctx,
        }
    }
}

impl WasiView for UserState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
