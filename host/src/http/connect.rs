//! Opening one HTTP/1.1 connection, plain or TLS, for a user's session.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use super::Origin;

/// A kept-alive HTTP/1.1 connection: its request handle, and the future that does its I/O.
/// The user's own task drives that future while it waits for a response (see [`drive`]), so a
/// request costs no hand-over to another task; while idle, nothing polls it.
pub struct Connection {
    /// Where requests are sent.
    pub sender: SendRequest<Full<Bytes>>,
    /// The connection's I/O; `None` once it has ended.
    pub driver: Option<Driver>,
}

/// The I/O future of a connection.
pub type Driver = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

impl Connection {
    /// Whether the connection can no longer carry requests.
    pub fn is_closed(&self) -> bool {
        self.driver.is_none() || self.sender.is_closed()
    }
}

/// Await `work` while driving the connection's I/O.
pub async fn drive<F: Future>(driver: &mut Option<Driver>, work: F) -> F::Output {
    let mut work = std::pin::pin!(work);
    if let Some(io) = driver.as_mut() {
        tokio::select! {
            biased;
            out = &mut work => return out,
            () = io => *driver = None,
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
pub async fn connect(origin: &Origin) -> Result<Connection, String> {
    let tcp = TcpStream::connect((origin.host.as_str(), origin.port))
        .await
        .map_err(|error| format!("could not connect to {origin}: {error}"))?;
    let _ = tcp.set_nodelay(true);
    if origin.tls {
        let name = ServerName::try_from(origin.host.clone())
            .map_err(|_| format!("{} is not a valid TLS server name", origin.host))?;
        let stream = tls_connector()?
            .connect(name, tcp)
            .await
            .map_err(|error| format!("TLS handshake with {origin} failed: {error}"))?;
        handshake(stream, origin).await
    } else {
        handshake(tcp, origin).await
    }
}

async fn handshake<S>(stream: S, origin: &Origin) -> Result<Connection, String>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = http1::Builder::new()
        // One buffer and one write per request.
        .writev(false)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|error| format!("HTTP handshake with {origin} failed: {error}"))?;
    // Ends when the server closes or the session drops the sender.
    let driver: Driver = Box::pin(async move {
        let _ = connection.await;
    });
    Ok(Connection {
        sender,
        driver: Some(driver),
    })
}
