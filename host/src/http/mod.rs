//! The HTTP client of one simulated user, on hyper: a keep-alive connection per origin, a
//! cookie jar, redirects, gzip/deflate, basic auth, timeouts and TLS, like a `requests.Session`
//! in Locust's `HttpUser`. Every exchange is timed to the end of the body.
//!
//! Failures never escape as errors: a refused connection or a timeout is an outcome with status
//! 0, as Locust's client reports it.

mod agent;
mod connect;
mod target;
#[cfg(test)]
mod test_server;

use std::fmt;
use std::io::Read as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use cookie_store::{CookieStore, RawCookie};
use http_body_util::{BodyExt, Full};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};
use url::{Position, Url};

pub use agent::{Exchange, HttpAgent, Sent};
use connect::{Connection, Live, connect, drive};
pub use connect::{Io, open as open_connection, trust_certificates};
pub use target::{GuestUrl, UrlBase};

use crate::grants::Grants;

/// How many redirects are followed before giving up, as in `requests`.
const MAX_REDIRECTS: usize = 30;
/// The User-Agent sent unless the request sets one.
const USER_AGENT: &str = concat!("locust-wasm/", env!("CARGO_PKG_VERSION"));

/// Scheme, host and port: the key of a kept-alive connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    tls: bool,
    host: String,
    port: u16,
}

impl Origin {
    /// The origin of `url` (http or https).
    pub fn of_url(url: &Url) -> Result<Self, String> {
        Self::of(url)
    }

    /// The host, without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Origin {
    /// Whether `url` is served by this origin (compared without allocating).
    fn serves(&self, url: &Url) -> bool {
        let tls = url.scheme() == "https";
        self.tls == tls
            && url
                .host_str()
                .is_some_and(|host| host.trim_start_matches('[').trim_end_matches(']') == self.host)
            && url
                .port_or_known_default()
                .unwrap_or(if tls { 443 } else { 80 })
                == self.port
    }

    fn of(url: &Url) -> Result<Self, String> {
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            other => return Err(format!("unsupported URL scheme `{other}` in {url}")),
        };
        let host = url
            .host_str()
            .ok_or_else(|| format!("no host in URL {url}"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        Ok(Self { tls, host, port })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// One request as the session performs it; `U` is its URL: absolute, or as a guest gave it
/// ([`GuestUrl`]) before the user's agent resolves it.
#[derive(Debug)]
pub struct HttpRequest<U = Url> {
    /// The method.
    pub method: Method,
    /// The URL.
    pub url: U,
    /// Extra headers, overriding the defaults.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
    /// HTTP basic credentials.
    pub basic_auth: Option<(String, String)>,
    /// Limit for the whole exchange, redirects included.
    pub timeout: Option<Duration>,
    /// Follow 3xx responses.
    pub allow_redirects: bool,
    /// This request's own limit on the response body, bytes, instead of the session's.
    pub max_body: Option<usize>,
}

impl<U> HttpRequest<U> {
    /// The same request to `url`, and the URL it had.
    pub fn replace_url<V>(self, url: V) -> (U, HttpRequest<V>) {
        let HttpRequest {
            method,
            url: previous,
            headers,
            body,
            basic_auth,
            timeout,
            allow_redirects,
            max_body,
        } = self;
        let request = HttpRequest {
            method,
            url,
            headers,
            body,
            basic_auth,
            timeout,
            allow_redirects,
            max_body,
        };
        (previous, request)
    }
}

/// What came of a request.
#[derive(Debug)]
pub struct HttpOutcome {
    /// Status of the final response, 0 if none arrived.
    pub status: u16,
    /// Reason phrase of the status (`Not Found`), empty if none arrived.
    pub reason: &'static str,
    /// URL of the final response.
    pub url: Url,
    /// Headers of the final response.
    pub headers: HeaderMap,
    /// Decompressed body of the final response.
    pub body: Bytes,
    /// From sending to the end of the last body.
    pub elapsed: Duration,
    /// Why no response arrived, if that is what happened.
    pub transport_error: Option<String>,
}

/// The largest response body a session reads unless told otherwise: 64 MiB, the default
/// `--user-memory`.
pub const DEFAULT_MAX_BODY: usize = 64 << 20;

/// A simulated user's HTTP state: its connections and cookies.
pub struct HttpSession {
    connections: Vec<(Origin, Connection)>,
    cookies: CookieStore,
    max_body: usize,
    /// The hosts it may connect to.
    grants: Arc<Grants>,
}

impl HttpSession {
    /// A session with no connections and an empty cookie jar, which connects only to the
    /// hosts `grants` allows and reads response bodies of at most `max_body` bytes (after
    /// decompression; `--max-response-size`).
    pub fn new(max_body: usize, grants: Arc<Grants>) -> Self {
        Self {
            connections: Vec::new(),
            cookies: CookieStore::default(),
            max_body,
            grants,
        }
    }

    /// Perform `request`, following redirects if asked, within its timeout.
    pub async fn execute(&mut self, mut request: HttpRequest) -> HttpOutcome {
        let started = Instant::now();
        let result = match request.timeout {
            Some(limit) => tokio::time::timeout(limit, self.follow(&mut request))
                .await
                .unwrap_or_else(|_| Err(format!("timed out after {:.3}s", limit.as_secs_f64()))),
            None => self.follow(&mut request).await,
        };
        let elapsed = started.elapsed();
        // The URL of the last request made: the final one after redirects.
        let url = request.url;
        match result {
            Ok(response) => HttpOutcome {
                status: response.status.as_u16(),
                reason: response.status.canonical_reason().unwrap_or(""),
                url,
                headers: response.headers,
                body: response.body,
                elapsed,
                transport_error: None,
            },
            Err(error) => HttpOutcome {
                status: 0,
                reason: "",
                url,
                headers: HeaderMap::new(),
                body: Bytes::new(),
                elapsed,
                transport_error: Some(error),
            },
        }
    }

    async fn follow(&mut self, request: &mut HttpRequest) -> Result<Received, String> {
        for _ in 0..=MAX_REDIRECTS {
            let response = self.exchange(request).await?;
            let location = response
                .headers
                .get(header::LOCATION)
                .and_then(|value| value.to_str().ok());
            let Some(location) =
                location.filter(|_| request.allow_redirects && response.status.is_redirection())
            else {
                return Ok(response);
            };
            let next = request
                .url
                .join(location)
                .map_err(|error| format!("bad redirect location `{location}`: {error}"))?;
            let status = response.status;
            // As browsers and `requests` do: 303 always, and 301/302 for POST, become GET.
            if status == StatusCode::SEE_OTHER
                || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                    && request.method == Method::POST)
            {
                if request.method != Method::HEAD {
                    request.method = Method::GET;
                }
                request.body = Bytes::new();
                request
                    .headers
                    .retain(|(name, _)| !name.eq_ignore_ascii_case("content-type"));
            }
            if Origin::of(&next).ok() != Origin::of(&request.url).ok() {
                request.basic_auth = None; // never leak credentials to another host
            }
            request.url = next;
        }
        Err(format!("more than {MAX_REDIRECTS} redirects"))
    }

    /// One request/response on a kept-alive connection, retried once on a fresh connection if
    /// the kept one turned out to be closed by the server.
    async fn exchange(&mut self, request: &HttpRequest) -> Result<Received, String> {
        let (origin, reused) = match self.take_connection(&request.url) {
            Some((origin, connection)) => (origin, Some(connection)),
            None => {
                let origin = Origin::of(&request.url)?;
                // Checked before every new connection, so redirects are checked too; a kept
                // connection is always to a granted origin.
                if !self.grants.allows(&origin.host, origin.port) {
                    return Err(Grants::refusal(&origin.host, origin.port));
                }
                (origin, None)
            }
        };
        let fresh = reused.is_none();
        let mut connection = match reused {
            Some(connection) => connection.into_live(&origin).await?,
            // Boxed: connecting is rare, and its future is large.
            None => Box::pin(connect(&origin)).await?,
        };
        let limit = match request.max_body {
            Some(bytes) => BodyLimit {
                bytes,
                set_by: "the request's max_response_size",
            },
            None => BodyLimit {
                bytes: self.max_body,
                set_by: "--max-response-size",
            },
        };
        let result = match Self::send_on(&mut connection, request, &self.cookies, limit).await {
            Err(SendError::Stale) if !fresh => {
                connection = Box::pin(connect(&origin)).await?;
                Self::send_on(&mut connection, request, &self.cookies, limit).await
            }
            other => other,
        };
        let response = result.map_err(|error| match error {
            SendError::Stale => format!("connection to {origin} closed before the response"),
            SendError::Other(message) => message,
        })?;
        self.store_cookies(&response, &request.url);
        if response.keep_alive && !connection.is_closed() {
            self.connections
                .push((origin, Connection::Live(connection)));
        }
        Ok(response)
    }

    /// A kept-alive, still open connection to the origin of `url`, with that origin.
    fn take_connection(&mut self, url: &Url) -> Option<(Origin, Connection)> {
        while let Some(index) = self
            .connections
            .iter()
            .position(|(origin, _)| origin.serves(url))
        {
            let (origin, connection) = self.connections.swap_remove(index);
            if !connection.is_closed() {
                return Some((origin, connection));
            }
        }
        None
    }

    /// One exchange on `connection`, reading at most `limit` bytes of body. A body past the
    /// limit fails the request; the connection, stopped mid-body, is then dropped by the caller.
    async fn send_on(
        connection: &mut Live,
        request: &HttpRequest,
        cookies: &CookieStore,
        limit: BodyLimit,
    ) -> Result<Received, SendError> {
        let BodyLimit {
            bytes: limit,
            set_by,
        } = limit;
        let Live { sender, io: driver } = connection;
        drive(driver, sender.ready())
            .await
            .map_err(|_| SendError::Stale)?;
        let built = build_request(request, cookies).map_err(SendError::Other)?;
        let sent = drive(driver, sender.send_request(built)).await;
        let response = sent.map_err(|error| {
            if error.is_canceled() || error.is_closed() || error.is_incomplete_message() {
                SendError::Stale
            } else {
                SendError::Other(format!(
                    "request to {} failed: {}",
                    request.url,
                    with_causes(&error)
                ))
            }
        })?;
        let status = response.status();
        let keep_alive = !response
            .headers()
            .get(header::CONNECTION)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"close"));
        let (parts, body) = response.into_parts();
        let too_large = |what: &str| {
            SendError::Other(format!(
                "the response body from {} {what} the {} limit ({set_by}); raise the limit, \
                 or request less",
                request.url,
                size_in_words(limit),
            ))
        };
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(too_large("is declared larger than"));
        }
        // Counted as it streams: past the limit the read fails, having buffered no more.
        let limited = http_body_util::Limited::new(body, limit);
        let body = drive(driver, limited.collect())
            .await
            .map_err(|error| {
                if error.is::<http_body_util::LengthLimitError>() {
                    too_large("is larger than")
                } else {
                    SendError::Other(format!(
                        "reading the body from {} failed: {}",
                        request.url,
                        with_causes(error.as_ref())
                    ))
                }
            })?
            .to_bytes();
        let body = decode(&parts.headers, body, limit).map_err(|error| match error {
            DecodeError::TooLarge => too_large("decompresses to more than"),
            DecodeError::Invalid(message) => SendError::Other(message),
        })?;
        Ok(Received {
            status,
            headers: parts.headers,
            body,
            keep_alive,
        })
    }

    /// Park every kept-alive connection: keep its socket, drop hyper's buffers and request
    /// channel until the next request on it. For a user about to wait.
    pub fn park(&mut self) {
        let connections = std::mem::take(&mut self.connections);
        self.connections = connections
            .into_iter()
            .filter_map(|(origin, connection)| Some((origin, connection.park()?)))
            .collect();
    }

    fn store_cookies(&mut self, response: &Received, url: &Url) {
        let cookies = response
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|text| RawCookie::parse(text.to_owned()).ok());
        self.cookies.store_response_cookies(cookies, url);
    }
}

/// The most body bytes an exchange reads, and who set that.
#[derive(Clone, Copy)]
struct BodyLimit {
    bytes: usize,
    set_by: &'static str,
}

enum SendError {
    /// The kept-alive connection was closed under us; a new one may succeed.
    Stale,
    Other(String),
}

struct Received {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    keep_alive: bool,
}

fn build_request(
    request: &HttpRequest,
    cookies: &CookieStore,
) -> Result<Request<Full<Bytes>>, String> {
    let url = &request.url;
    // Slices of the URL's serialization: the path and query, and the host with its port (the
    // `url` crate leaves a scheme's default port out, as the Host header should).
    let path = &url[Position::BeforePath..Position::AfterQuery];
    let mut builder = Request::builder().method(request.method.clone()).uri(path);
    let headers = builder
        .headers_mut()
        .ok_or_else(|| format!("invalid request to {url}"))?;
    headers.reserve(8);
    insert(
        headers,
        header::HOST,
        &url[Position::BeforeHost..Position::AfterPort],
    )?;
    headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("gzip, deflate"),
    );
    let cookie = cookies
        .get_request_values(url)
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ");
    if !cookie.is_empty() {
        insert(headers, header::COOKIE, &cookie)?;
    }
    if let Some((user, password)) = &request.basic_auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        insert(headers, header::AUTHORIZATION, &format!("Basic {token}"))?;
    }
    if !request.body.is_empty()
        || matches!(request.method, Method::POST | Method::PUT | Method::PATCH)
    {
        insert(
            headers,
            header::CONTENT_LENGTH,
            &request.body.len().to_string(),
        )?;
    }
    for (name, value) in &request.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name `{name}`"))?;
        insert(headers, name, value)?;
    }
    builder
        .body(Full::new(request.body.clone()))
        .map_err(|error| format!("invalid request to {url}: {error}"))
}

fn insert(headers: &mut HeaderMap, name: HeaderName, value: &str) -> Result<(), String> {
    let value = HeaderValue::from_str(value)
        .map_err(|_| format!("invalid value for header `{name}`: {value:?}"))?;
    headers.insert(name, value);
    Ok(())
}

/// An error with the chain of its causes: `connection error: connection reset by peer`
/// rather than only the outermost `connection error`.
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}

/// `limit` bytes in words: `64 MiB`, `1.5 KiB`, `100 bytes`.
fn size_in_words(limit: usize) -> String {
    const MIB: usize = 1 << 20;
    const KIB: usize = 1 << 10;
    if limit >= MIB && limit.is_multiple_of(MIB) {
        format!("{} MiB", limit / MIB)
    } else if limit >= KIB && limit.is_multiple_of(KIB) {
        format!("{} KiB", limit / KIB)
    } else {
        format!("{limit}-byte")
    }
}

enum DecodeError {
    TooLarge,
    Invalid(String),
}

/// Undo `content-encoding: gzip` or `deflate`, producing at most `limit` bytes; other
/// encodings are passed through.
fn decode(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, DecodeError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.trim().to_ascii_lowercase());
    // One byte past the limit tells a body that fits from one that does not.
    let cap = limit as u64 + 1;
    let mut out = Vec::new();
    let result = match encoding.as_deref() {
        Some("gzip") | Some("x-gzip") => flate2::read::MultiGzDecoder::new(&body[..])
            .take(cap)
            .read_to_end(&mut out),
        Some("deflate") => {
            // Servers send zlib-wrapped deflate, some send it raw.
            let zlib = flate2::read::ZlibDecoder::new(&body[..])
                .take(cap)
                .read_to_end(&mut out);
            if zlib.is_err() {
                out.clear();
                flate2::read::DeflateDecoder::new(&body[..])
                    .take(cap)
                    .read_to_end(&mut out)
            } else {
                zlib
            }
        }
        _ => return Ok(body),
    };
    match result {
        Ok(_) if out.len() > limit => Err(DecodeError::TooLarge),
        Ok(_) => Ok(Bytes::from(out)),
        Err(error) => Err(DecodeError::Invalid(format!(
            "could not decompress the response body: {error}"
        ))),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write as _;

    use super::test_server::{Behaviour, TestServer};
    use super::*;

    #[test]
    fn requests_carry_path_query_and_host_with_a_non_default_port() {
        let cookies = CookieStore::default();
        let built =
            build_request(&get("http://example.com:8080/a/b?x=1&y=2"), &cookies).expect("request");
        assert_eq!(built.uri(), "/a/b?x=1&y=2");
        assert_eq!(built.headers()[header::HOST], "example.com:8080");
        let built = build_request(&get("https://example.com:443/"), &cookies).expect("request");
        assert_eq!(built.uri(), "/");
        assert_eq!(built.headers()[header::HOST], "example.com");
        let built = build_request(&get("http://[::1]:81/p"), &cookies).expect("request");
        assert_eq!(built.headers()[header::HOST], "[::1]:81");
    }

    /// A plain `GET url`.
    pub(crate) fn get(url: &str) -> HttpRequest {
        HttpRequest {
            method: Method::GET,
            url: Url::parse(url).expect("url"),
            headers: Vec::new(),
            body: Bytes::new(),
            basic_auth: None,
            timeout: None,
            allow_redirects: true,
            max_body: None,
        }
    }

    #[tokio::test]
    async fn a_parked_connection_carries_the_next_request() {
        let server = TestServer::start(Behaviour::default()).await;
        let mut session = HttpSession::new(DEFAULT_MAX_BODY, Grants::any());
        for _ in 0..3 {
            let outcome = session.execute(get(&server.url)).await;
            assert_eq!(outcome.status, 200, "{:?}", outcome.transport_error);
            session.park();
            assert!(matches!(
                session.connections.as_slice(),
                [(_, Connection::Parked(_))]
            ));
        }
        let ports = server.ports();
        assert_eq!(ports.len(), 3);
        assert!(ports.iter().all(|port| *port == ports[0]), "{ports:?}");
    }

    #[tokio::test]
    async fn a_parked_connection_the_server_closed_is_replaced() {
        let server = TestServer::start(Behaviour {
            close_after_answer: true,
            ..Behaviour::default()
        })
        .await;
        let mut session = HttpSession::new(DEFAULT_MAX_BODY, Grants::any());
        for _ in 0..3 {
            let outcome = session.execute(get(&server.url)).await;
            assert_eq!(outcome.status, 200, "{:?}", outcome.transport_error);
            session.park();
            // Let the server's close arrive.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let ports = server.ports();
        assert_eq!(ports.len(), 3, "each request answered once");
        let distinct: std::collections::BTreeSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), 3, "a new connection each time: {ports:?}");
    }

    #[tokio::test]
    async fn an_ungranted_origin_is_refused_before_connecting() {
        let server = TestServer::start(Behaviour::default()).await;
        let granted = crate::grants::HostRule::parse("127.0.0.1:1").expect("rule");
        let mut session = HttpSession::new(
            DEFAULT_MAX_BODY,
            Grants::resolve(&[granted], ["http://localhost:2"]).await,
        );
        let outcome = session.execute(get(&server.url)).await;
        assert_eq!(outcome.status, 0);
        let port = server.url.rsplit(':').next().expect("port");
        assert_eq!(
            outcome.transport_error.as_deref(),
            Some(
                format!(
                    "127.0.0.1:{port} is not a host this test may reach; grant it with \
                     --allow-host 127.0.0.1:{port}"
                )
                .as_str()
            )
        );
        assert!(server.ports().is_empty(), "nothing reached the server");
    }

    #[test]
    fn origins_know_default_ports() {
        let url = Url::parse("https://example.com/a").expect("url");
        assert_eq!(
            Origin::of(&url),
            Ok(Origin {
                tls: true,
                host: "example.com".into(),
                port: 443
            })
        );
        assert!(Origin::of(&Url::parse("ftp://x/").expect("url")).is_err());
    }

    #[test]
    fn gzip_bodies_are_decoded() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"hello world").expect("write");
        let compressed = encoder.finish().expect("finish");
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        let body = decode(&headers, Bytes::from(compressed.clone()), 64)
            .unwrap_or_else(|_| panic!("decodes"));
        assert_eq!(&body[..], b"hello world");
        let refused = decode(&headers, Bytes::from(compressed), 10);
        assert!(
            matches!(refused, Err(DecodeError::TooLarge)),
            "past the limit"
        );
    }
}
