//! `wasi:http/outgoing-handler` for guests, sent by this host: so that guests and plugins
//! written with ordinary WASI HTTP libraries (Rust `wstd`, JavaScript `fetch`, Python on
//! `wasi:http`) work unchanged, within the run's grants, with this host's TLS roots, and
//! recorded in the statistics like `http.send` requests: type = the method, name = the
//! `x-locust-name` header (removed before sending) or the path.
//!
//! wasmtime-wasi-http implements the interface; its hook `send_request` is ours. Each request
//! gets a connection of its own (wasi:http hands bodies over as streams between tasks, which
//! the native `http.send` avoids): this is the compatible path, `http.send` the fast one. A
//! request is recorded when its response body ends (or is dropped): the time covers the body,
//! as for `http.send`; an error status (400 and up) or a broken body is a failure.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::events::{Reporter, RequestEvent};
use crate::grants::Grants;

/// The header a guest names its request with (removed before sending).
pub const NAME_HEADER: &str = "x-locust-name";
/// Connect and first-byte limit when the guest sets none (wasmtime's own default is 600 s).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What a user's wasi:http requests need: its grants and where it records.
pub struct GuestHttp {
    grants: Arc<Grants>,
    reporter: Reporter,
}

impl GuestHttp {
    /// For a user reaching `grants` and recording through `reporter`.
    pub fn new(grants: Arc<Grants>, reporter: Reporter) -> Self {
        Self { grants, reporter }
    }
}

type ResponseOutcome = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for GuestHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _body_error: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = ResponseOutcome> + Send> {
        let grants = self.grants.clone();
        let reporter = self.reporter.clone();
        Box::new(send(request, options, grants, reporter))
    }
}

/// One record's facts, until the response body ends.
struct Pending {
    reporter: Reporter,
    method: String,
    name: String,
    started: Instant,
    length: u64,
    error: Option<String>,
    recorded: bool,
}

impl Pending {
    fn record(&mut self) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        self.reporter.request(&RequestEvent {
            request_type: &self.method,
            name: &self.name,
            response_time: self.started.elapsed(),
            response_length: self.length,
            error: self.error.as_deref(),
        });
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.record();
    }
}

/// A response body that records its request when it ends.
struct RecordedBody {
    inner: hyper::body::Incoming,
    pending: Pending,
}

impl Body for RecordedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(context) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.pending.length += data.len() as u64;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                this.pending.error = Some(format!("reading the body failed: {error}"));
                this.pending.record();
                Poll::Ready(Some(Err(HttpError::from(error))))
            }
            Poll::Ready(None) => {
                this.pending.record();
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

async fn send(
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    grants: Arc<Grants>,
    reporter: Reporter,
) -> ResponseOutcome {
    let method = request.method().as_str().to_owned();
    let name = match request.headers_mut().remove(NAME_HEADER) {
        Some(value) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
        None => request
            .uri()
            .path_and_query()
            .map_or("/", |path| path.as_str())
            .to_owned(),
    };
    let mut pending = Pending {
        reporter,
        method,
        name,
        started: Instant::now(),
        length: 0,
        error: None,
        recorded: false,
    };
    let failed = |pending: &mut Pending, message: String, error: HttpError| {
        pending.error = Some(message);
        pending.record();
        Err(error)
    };
    let url = match url::Url::parse(&request.uri().to_string()) {
        Ok(url) => url,
        Err(error) => {
            let message = format!("invalid URL {}: {error}", request.uri());
            return failed(&mut pending, message, HttpError::HttpRequestUriInvalid);
        }
    };
    let origin = match crate::http::Origin::of_url(&url) {
        Ok(origin) => origin,
        Err(message) => return failed(&mut pending, message, HttpError::HttpProtocolError),
    };
    if !grants.allows(origin.host(), origin.port()) {
        let message = Grants::refusal(origin.host(), origin.port());
        return failed(&mut pending, message, HttpError::HttpRequestDenied);
    }
    let connect_timeout = options
        .and_then(|options| options.connect_timeout)
        .unwrap_or(DEFAULT_TIMEOUT);
    let first_byte_timeout = options
        .and_then(|options| options.first_byte_timeout)
        .unwrap_or(DEFAULT_TIMEOUT);
    let io =
        match tokio::time::timeout(connect_timeout, crate::http::open_connection(&origin)).await {
            Ok(Ok(io)) => io,
            Ok(Err(message)) => return failed(&mut pending, message, HttpError::ConnectionRefused),
            Err(_) => {
                let message = format!("connecting to {origin} timed out");
                return failed(&mut pending, message, HttpError::ConnectionTimeout);
            }
        };
    let (mut sender, connection) = match hyper::client::conn::http1::handshake(io).await {
        Ok(pair) => pair,
        Err(error) => {
            let message = format!("HTTP handshake with {origin} failed: {error}");
            return failed(&mut pending, message, HttpError::from(error));
        }
    };
    // The request line carries the path only; `host` is set by wasmtime-wasi-http.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |path| path.as_str())
        .to_owned();
    *request.uri_mut() = match http::Uri::builder().path_and_query(path).build() {
        Ok(uri) => uri,
        Err(error) => {
            let message = format!("invalid path: {error}");
            return failed(&mut pending, message, HttpError::HttpRequestUriInvalid);
        }
    };
    let driver = tokio::spawn(connection);
    let response =
        match tokio::time::timeout(first_byte_timeout, sender.send_request(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => {
                let message = format!("request to {url} failed: {error}");
                return failed(&mut pending, message, HttpError::from(error));
            }
            Err(_) => {
                let message = format!("no response from {url} within {first_byte_timeout:?}");
                return failed(&mut pending, message, HttpError::ConnectionReadTimeout);
            }
        };
    let status = response.status();
    if status.as_u16() >= 400 {
        let kind = if status.is_client_error() {
            "Client Error"
        } else {
            "Server Error"
        };
        pending.error = Some(format!(
            "{} {kind}: {} for url: {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            pending.name
        ));
    }
    let response = response.map(|inner| RecordedBody { inner, pending }.boxed_unsync());
    let io = async move {
        match driver.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(HttpError::from(error)),
            Err(_) => Err(HttpError::ConnectionTerminated),
        }
    };
    Ok((response, Box::new(io)))
}
