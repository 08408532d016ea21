//! Opening one HTTP/1.1 connection, plain or TLS, for a user's session.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, pki_types::ServerName};

use super::Origin;

/// A connection's request handle.
pub type Sender = SendRequest<Full<Bytes>>;

fn tls_connector() -> TlsConnector {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
            .unwrap_or_else(|_| {
                // The ring provider supports the default protocol versions; this cannot fail.
                std::process::abort()
            });
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    });
    TlsConnector::from(config.clone())
}

/// Connect to `origin` and complete the HTTP/1.1 handshake. The connection is driven by a
/// task of its own, which ends when the returned sender is dropped.
pub async fn connect(origin: &Origin) -> Result<Sender, String> {
    let tcp = TcpStream::connect((origin.host.as_str(), origin.port))
        .await
        .map_err(|error| format!("could not connect to {origin}: {error}"))?;
    let _ = tcp.set_nodelay(true);
    if origin.tls {
        let name = ServerName::try_from(origin.host.clone())
            .map_err(|_| format!("{} is not a valid TLS server name", origin.host))?;
        let stream = tls_connector()
            .connect(name, tcp)
            .await
            .map_err(|error| format!("TLS handshake with {origin} failed: {error}"))?;
        handshake(stream, origin).await
    } else {
        handshake(tcp, origin).await
    }
}

async fn handshake<S>(stream: S, origin: &Origin) -> Result<Sender, String>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| format!("HTTP handshake with {origin} failed: {error}"))?;
    tokio::spawn(async move {
        // Ends when the server closes or the session drops the sender.
        let _ = connection.await;
    });
    Ok(sender)
}
