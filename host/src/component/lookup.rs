//! `wasi:sockets/ip-name-lookup`, answered from the run's grants instead of the system
//! resolver: a granted name gets the addresses it had when the run started, an IP address is
//! its own answer (connects are checked anyway), and any other name is refused without a DNS
//! query, which could otherwise carry data out of the sandbox. Only `--allow-host '*'` sends
//! lookups to the resolver.
//!
//! This replaces wasmtime-wasi's definition of the interface in the linker (same names, same
//! version), so a guest cannot tell the difference but for the answers.

use std::collections::HashSet;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource, ResourceType};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddress};
use wasmtime_wasi::p2::{DynPollable, Network, Pollable};

use super::state::UserState;
use crate::grants::Lookup;

/// The interface as wasmtime-wasi 48 defines it; guests importing an older 0.2 version are
/// linked to it by semver.
const INTERFACE: &str = "wasi:sockets/ip-name-lookup@0.2.12";
/// Distinct refusals logged per process; later ones only reach the guest.
const MAX_LOGGED: usize = 100;

type Resolving = Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, ErrorCode>> + Send>>;

/// The `resolve-address-stream` resource: the answer to one lookup.
pub struct AddressStream {
    state: StreamState,
}

enum StreamState {
    Ready(std::vec::IntoIter<IpAddr>),
    Failed(ErrorCode),
    /// Asking the system resolver (under `--allow-host '*'` only).
    Resolving(Resolving),
}

impl AddressStream {
    /// Poll a pending resolution once, without waiting.
    fn poll_resolution(&mut self, context: &mut Context<'_>) -> Poll<()> {
        let StreamState::Resolving(future) = &mut self.state else {
            return Poll::Ready(());
        };
        let Poll::Ready(result) = future.as_mut().poll(context) else {
            return Poll::Pending;
        };
        self.state = match result {
            Ok(addresses) => StreamState::Ready(addresses.into_iter()),
            Err(code) => StreamState::Failed(code),
        };
        Poll::Ready(())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for AddressStream {
    async fn ready(&mut self) {
        std::future::poll_fn(|context| self.poll_resolution(context)).await;
    }
}

/// Log `what` once per process (up to [`MAX_LOGGED`] distinct ones).
fn log_once(what: String, message: impl FnOnce() -> String) {
    static LOGGED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut logged = LOGGED.lock().unwrap_or_else(PoisonError::into_inner);
    let logged = logged.get_or_insert_with(HashSet::new);
    if logged.len() < MAX_LOGGED && logged.insert(what) {
        tracing::warn!(target: "locust.user", "{}", message());
    }
}

/// Note a refused connect (called from the socket check).
pub(super) fn refused(address: SocketAddr) {
    log_once(address.to_string(), || {
        format!(
            "a guest's connection to {address} was refused: {}",
            crate::grants::Grants::refusal(&address.ip().to_string(), address.port())
        )
    });
}

fn resolve(store: &mut UserState, name: &str) -> StreamState {
    match store.identity.grants.lookup_answer(name) {
        Some(Lookup::Known(addresses)) if addresses.is_empty() => {
            StreamState::Failed(ErrorCode::NameUnresolvable)
        }
        Some(Lookup::Known(addresses)) => StreamState::Ready(addresses.into_iter()),
        Some(Lookup::Resolve(name)) => StreamState::Resolving(Box::pin(async move {
            match tokio::net::lookup_host((name.as_str(), 0)).await {
                Ok(addresses) => Ok(addresses
                    .map(|address| address.ip().to_canonical())
                    .collect()),
                Err(_) => Err(ErrorCode::NameUnresolvable),
            }
        })),
        None => {
            log_once(name.to_owned(), || {
                format!(
                    "a guest looked up {name}, which is not a host this test may reach; grant it \
                     with --allow-host {name}"
                )
            });
            StreamState::Failed(ErrorCode::AccessDenied)
        }
    }
}

type Answer<T> = wasmtime::Result<(Result<T, ErrorCode>,)>;

/// Replace wasmtime-wasi's `ip-name-lookup` in `linker` with the grants' answers.
pub(super) fn add_to_linker(linker: &mut Linker<UserState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut instance = linker.instance(INTERFACE)?;
    instance.resource(
        "resolve-address-stream",
        ResourceType::host::<AddressStream>(),
        |mut store, rep| {
            store
                .data_mut()
                .table
                .delete(Resource::<AddressStream>::new_own(rep))?;
            Ok(())
        },
    )?;
    instance.func_wrap(
        "resolve-addresses",
        |mut store: StoreContextMut<'_, UserState>,
         (network, name): (Resource<Network>, String)|
         -> Answer<Resource<AddressStream>> {
            let state = store.data_mut();
            state.table.get(&network)?;
            match resolve(state, &name) {
                StreamState::Failed(code) => Ok((Err(code),)),
                stream => Ok((Ok(state.table.push(AddressStream { state: stream })?),)),
            }
        },
    )?;
    instance.func_wrap(
        "[method]resolve-address-stream.resolve-next-address",
        |mut store: StoreContextMut<'_, UserState>,
         (stream,): (Resource<AddressStream>,)|
         -> Answer<Option<IpAddress>> {
            let stream = store.data_mut().table.get_mut(&stream)?;
            if stream
                .poll_resolution(&mut Context::from_waker(Waker::noop()))
                .is_pending()
            {
                return Ok((Err(ErrorCode::WouldBlock),));
            }
            Ok((match &mut stream.state {
                StreamState::Ready(addresses) => Ok(addresses.next().map(IpAddress::from)),
                StreamState::Failed(code) => Err(*code),
                StreamState::Resolving(_) => Err(ErrorCode::WouldBlock),
            },))
        },
    )?;
    instance.func_wrap(
        "[method]resolve-address-stream.subscribe",
        |mut store: StoreContextMut<'_, UserState>,
         (stream,): (Resource<AddressStream>,)|
         -> wasmtime::Result<(Resource<DynPollable>,)> {
            Ok((wasmtime_wasi::p2::subscribe(
                &mut store.data_mut().table,
                stream,
            )?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
