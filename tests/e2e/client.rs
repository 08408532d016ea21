//! A small HTTP/1.1 client for the tests, on the hyper, rustls and tokio the host already
//! builds: one connection per request, plain or TLS, with basic auth, forms and JSON bodies.
//!
//! It exists so that the test build adds no HTTP stack of its own. A client crate such as
//! reqwest turns on other features of hyper-util, tower and sync_wrapper than the host uses,
//! and Cargo then builds those crates and everything above them (axum, tonic, the host) a
//! second time for `cargo test` (docs/design.md, "Build time").

use std::sync::Arc;

use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// Makes requests; plain HTTP, or HTTPS to servers whose certificate it was given.
#[derive(Clone, Default)]
pub struct Client {
    tls: Option<Arc<ClientConfig>>,
}

impl Client {
    /// A client for plain HTTP.
    pub fn new() -> Self {
        Self::default()
    }

    /// A client that also speaks HTTPS to servers presenting the PEM certificate `pem`.
    pub fn trusting(pem: &str) -> Self {
        let mut roots = RootCertStore::empty();
        for certificate in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots
                .add(certificate.expect("a PEM certificate"))
                .expect("a usable certificate");
        }
        let config = ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self {
            tls: Some(Arc::new(config)),
        }
    }

    /// A GET request to `url`.
    pub fn get(&self, url: impl AsRef<str>) -> Request {
        self.request(Method::GET, url)
    }

    /// A POST request to `url`.
    pub fn post(&self, url: impl AsRef<str>) -> Request {
        self.request(Method::POST, url)
    }

    /// A DELETE request to `url`.
    pub fn delete(&self, url: impl AsRef<str>) -> Request {
        self.request(Method::DELETE, url)
    }

    fn request(&self, method: Method, url: impl AsRef<str>) -> Request {
        Request {
            client: self.clone(),
            method,
            url: url.as_ref().to_owned(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }
}

/// A request being built; `send` performs it.
pub struct Request {
    client: Client,
    method: Method,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
}

impl Request {
    /// Send HTTP basic credentials.
    pub fn basic_auth(mut self, user: &str, password: Option<&str>) -> Self {
        let pair = format!("{user}:{}", password.unwrap_or_default());
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        self.headers
            .push(("authorization", format!("Basic {encoded}")));
        self
    }

    /// Send `Authorization: Bearer TOKEN`.
    pub fn bearer(mut self, token: &str) -> Self {
        self.headers
            .push(("authorization", format!("Bearer {token}")));
        self
    }

    /// Send `bytes` as the body.
    pub fn bytes(mut self, bytes: Vec<u8>) -> Self {
        self.body = Bytes::from(bytes);
        self
    }

    /// Send `fields` as an `application/x-www-form-urlencoded` body.
    pub fn form(mut self, fields: &[(&str, &str)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.headers.push((
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        ));
        self.body = Bytes::from(body);
        self
    }

    /// Send `value` as a JSON body.
    pub fn json(mut self, value: &serde_json::Value) -> Self {
        self.headers
            .push(("content-type", "application/json".to_owned()));
        self.body = Bytes::from(value.to_string());
        self
    }

    /// Perform the request on a connection of its own and read the whole response.
    pub async fn send(self) -> Result<Response, String> {
        let uri: Uri = self
            .url
            .parse()
            .map_err(|error| format!("{}: {error}", self.url))?;
        let host = uri.host().ok_or("a URL with a host")?.to_owned();
        let tls = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|error| format!("connect to {host}:{port}: {error}"))?;
        let mut request = hyper::Request::builder()
            .method(self.method)
            .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header("host", format!("{host}:{port}"));
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        let request = request
            .body(Full::new(self.body))
            .map_err(|error| error.to_string())?;
        if tls {
            let config = self
                .client
                .tls
                .ok_or("an https URL needs Client::trusting")?;
            let name = ServerName::try_from(host).map_err(|error| error.to_string())?;
            let stream = TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|error| format!("TLS handshake: {error}"))?;
            exchange(TokioIo::new(stream), request).await
        } else {
            exchange(TokioIo::new(tcp), request).await
        }
    }
}

async fn exchange<T>(io: T, request: hyper::Request<Full<Bytes>>) -> Result<Response, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|error| format!("HTTP handshake: {error}"))?;
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| format!("request: {error}"))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|error| format!("response body: {error}"))?
        .to_bytes();
    Ok(Response {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// A whole response.
pub struct Response {
    status: StatusCode,
    headers: hyper::HeaderMap,
    body: Bytes,
}

impl Response {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &hyper::HeaderMap {
        &self.headers
    }

    /// The body as text (lossy UTF-8).
    pub async fn text(self) -> Result<String, String> {
        Ok(String::from_utf8_lossy(&self.body).into_owned())
    }

    /// The body parsed as JSON.
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, String> {
        serde_json::from_slice(&self.body).map_err(|error| {
            format!(
                "a JSON body ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}
