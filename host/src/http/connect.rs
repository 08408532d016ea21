//! Opening one HTTP/1.1 connection, plain or TLS, for a user's session.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};

use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_util::either::Either;

use super::Origin;

/// The byte stream under a connection: TCP, or TLS over TCP (boxed: it is large).
/// A connection's byte stream: plain TCP, or TLS over it.
pub type Io = TokioIo<Either<TcpStream, Box<TlsStream<TcpStream>>>>;

/// hyper's side of a connection: the future that does its I/O.
type Exchanger = http1::Connection<Io, Full<Bytes>>;

/// A kept-alive HTTP/1.1 connection.
///
/// While its user waits between tasks a connection can be [parked](Connection::park): hyper's
/// state (its read and write buffers and request channel, ~25 KiB) is dropped and only the
/// socket is kept; the next request builds that state again over the same socket.
pub enum Connection {
    /// Ready for requests.
    Live(Box<Live>),
    /// Only the open socket.
    Parked(Io),
}

/// A connection with hyper's state: its request handle, and the future that does its I/O.
/// The user's own agent drives that future while it waits for a response (see [`drive`]), so
/// a request costs no hand-over to another task; while idle, nothing polls it.
pub struct Live {
    /// Where requests are sent.
    pub sender: SendRequest<Full<Bytes>>,
    /// The connection's I/O; `None` once it has ended.
    pub io: Option<Exchanger>,
}

impl Live {
    /// Whether the connection can no longer carry requests.
    pub fn is_closed(&self) -> bool {
        self.io.is_none() || self.sender.is_closed()
    }
}

impl Connection {
    /// Whether the connection is known to be unable to carry requests (a parked one is only
    /// found closed when next used).
    pub fn is_closed(&self) -> bool {
        match self {
            Self::Live(live) => live.is_closed(),
            Self::Parked(_) => false,
        }
    }

    /// Drop hyper's state and keep the socket, if the connection is idle and clean; `None`
    /// (and the socket closed) otherwise.
    pub fn park(self) -> Option<Self> {
        let live = match self {
            Self::Live(live) => live,
            parked @ Self::Parked(_) => return Some(parked),
        };
        let Live { sender, io } = *live;
        // With its request handle gone, an idle connection is done at once.
        drop(sender);
        let mut io = io?;
        let mut cx = Context::from_waker(Waker::noop());
        match io.poll_without_shutdown(&mut cx) {
            Poll::Ready(Ok(())) => {
                let parts = io.into_parts();
                // Bytes nobody asked for: the connection is not in a known state.
                parts.read_buf.is_empty().then_some(Self::Parked(parts.io))
            }
            Poll::Ready(Err(_)) | Poll::Pending => None,
        }
    }

    /// The connection, ready for requests.
    pub async fn into_live(self, origin: &Origin) -> Result<Box<Live>, String> {
        match self {
            Self::Live(live) => Ok(live),
            Self::Parked(io) => handshake(io, origin).await,
        }
    }
}

/// Await `work` while driving the connection's I/O.
pub async fn drive<F: Future>(io: &mut Option<Exchanger>, work: F) -> F::Output {
    let mut work = std::pin::pin!(work);
    if let Some(exchanger) = io.as_mut() {
        tokio::select! {
            biased;
            out = &mut work => return out,
            _ = exchanger => *io = None,
        }
    }
    work.await
}

static TLS_CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();

fn client_config(roots: RootCertStore) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS setup failed: {error}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn public_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// Trust the certificates in the PEM file `path` as well as the public roots (for targets
/// with an internal CA). Call before the first HTTPS request; returns how many were added.
pub fn trust_certificates(path: &Path) -> Result<usize, String> {
    let unreadable = |error: &dyn std::fmt::Display| {
        format!(
            "could not read CA certificates from {}: {error}",
            path.display()
        )
    };
    let mut roots = public_roots();
    let mut added = 0;
    for certificate in CertificateDer::pem_file_iter(path).map_err(|error| unreadable(&error))? {
        let certificate = certificate.map_err(|error| unreadable(&error))?;
        roots.add(certificate).map_err(|error| unreadable(&error))?;
        added += 1;
    }
    if added == 0 {
        return Err(unreadable(&"the file holds no PEM certificate"));
    }
    TLS_CONFIG
        .set(client_config(roots)?)
        .map_err(|_| "CA certificates must be set before the first HTTPS request".to_owned())?;
    Ok(added)
}

fn tls_connector() -> Result<TlsConnector, String> {
    let config = match TLS_CONFIG.get() {
        Some(config) => config.clone(),
        None => {
            let config = client_config(public_roots())?;
            TLS_CONFIG.get_or_init(|| config).clone()
        }
    };
    Ok(TlsConnector::from(config))
}

/// Connect to `origin` and complete the HTTP/1.1 handshake.
pub async fn connect(origin: &Origin) -> Result<Box<Live>, String> {
    handshake(open(origin).await?, origin).await
}

/// A TCP connection to `origin`, with TLS (this host's roots) for `https`.
pub async fn open(origin: &Origin) -> Result<Io, String> {
    let tcp = TcpStream::connect((origin.host.as_str(), origin.port))
        .await
        .map_err(|error| format!("could not connect to {origin}: {error}"))?;
    let _ = tcp.set_nodelay(true);
    let stream = if origin.tls {
        let name = ServerName::try_from(origin.host.clone())
            .map_err(|_| format!("{} is not a valid TLS server name", origin.host))?;
        let stream = tls_connector()?
            .connect(name, tcp)
            .await
            .map_err(|error| format!("TLS handshake with {origin} failed: {error}"))?;
        Either::Right(Box::new(stream))
    } else {
        Either::Left(tcp)
    };
    Ok(TokioIo::new(stream))
}

async fn handshake(io: Io, origin: &Origin) -> Result<Box<Live>, String> {
    let (sender, exchanger) = http1::Builder::new()
        // One buffer and one write per request.
        .writev(false)
        .handshake(io)
        .await
        .map_err(|error| {
            format!(
                "HTTP handshake with {origin} failed: {}",
                super::with_causes(&error)
            )
        })?;
    Ok(Box::new(Live {
        sender,
        io: Some(exchanger),
    }))
}
